#!/usr/bin/env python3
"""Why the cost model's Rabenseifner is 8 % short on the 128-node torus (brief b-simmpi item 2).

A fluid re-enactment of one 16 MiB Rabenseifner all-reduce on the torus tools/sim/platform.py builds
for p nodes (p a power of two, one rank a node): SimGrid's TorusZone routes (dimension order, the
shorter way round decided on the source's coordinates, one SPLITDUPLEX link a hop, as step_load in
src/comm/cost_model.cpp), each rank's sendrecv of a step starting when it and its partner finished the
step before, flows sharing links by max-min fairness. With --weighted (SMPI's network model) a flow's
share is inversely proportional to its sharing penalty, latency + weight-S / bandwidth per link
(network/weight-S 8775 under network/model:SMPI), i.e. to the links it crosses: long routes get less.
Prints, per p and partner order (near: the library's, distance 1 first; far: hpcnn's rhd, far first):
the cost model's bound (the busiest link of each step, summed: what cost_terms counts), and the fluid
run's mean and last rank's completion, in us at 12.5 GB/s (latency left out).

  python3 async_fluid.py 32:near 64:near 128:near 256:near 32:far 128:far   # about 1.5 min of CPU
"""
import collections
import math
import sys


def dims_for(n):
    x = max(1, round(n ** (1 / 3)))
    while x > 1 and x ** 3 > n * 1.5:
        x -= 1
    y = max(1, math.ceil(math.sqrt(n / x)))
    return [x, y, max(1, -(-n // (x * y)))]


def route(src, dst, dims):
    links, cur = [], src
    while cur != dst:
        prod = 1
        for j in range(3):
            d = dims[j]
            here, there, mine = (cur // prod) % d, (dst // prod) % d, (src // prod) % d
            if here != there:
                up = (mine < there <= mine + d // 2) or (mine > d // 2 and (mine + d // 2) % d >= there)
                if up:
                    nxt = cur + prod - prod * d if here == d - 1 else cur + prod
                    links.append((j, cur, 1))
                else:
                    nxt = cur - prod + prod * d if here == 0 else cur - prod
                    links.append((j, nxt, 0))
                cur = nxt
                break
            prod *= d
    return links


def maxmin(flows, w):
    users = collections.defaultdict(list)
    for i, ls in flows.items():
        for l in ls:
            users[l].append(i)
    rate, unfrozen, used = {}, set(flows), collections.defaultdict(float)
    while unfrozen:
        level, link = min(((1.0 - used[l]) / ws, l) for l, us in users.items()
                          if (ws := sum(w[i] for i in us if i in unfrozen)) > 0)
        for i in users[link]:
            if i in unfrozen:
                rate[i] = w[i] * level
                unfrozen.discard(i)
                for l2 in flows[i]:
                    used[l2] += rate[i]
    return rate


def steps_of(p, order):
    k = p.bit_length() - 1
    dists = [1 << i for i in range(k)]
    if order == "far":
        dists.reverse()
    halves = list(zip(dists, [0.5 ** (i + 1) for i in range(k)]))
    return halves + halves[::-1]  # reduce-scatter, then the allgather backwards


def bound(p, order, dims):
    total = 0.0
    for d, part in steps_of(p, order)[: p.bit_length() - 1]:
        load = collections.Counter(l for r in range(p) for l in route(r, r ^ d, dims))
        total += 2 * part * max(load.values())
    return total


def fluid(p, order, dims, weighted):
    steps = steps_of(p, order)
    step, pending, done = [0] * p, [0] * p, [0.0] * p
    flows, rem, w, ends, started, t, fid = {}, {}, {}, {}, set(), 0.0, 0

    def try_start(r):
        nonlocal fid
        if step[r] >= len(steps):
            return
        d, part = steps[step[r]]
        q = r ^ d
        if step[q] != step[r] or (r, step[r]) in started or pending[q] or pending[r]:
            return
        started.update({(r, step[r]), (q, step[q])})
        for a, b in ((r, q), (q, r)):
            flows[fid] = route(a, b, dims)
            rem[fid], w[fid], ends[fid] = part, (1.0 / len(flows[fid]) if weighted else 1.0), (a, b)
            pending[a] += 1
            pending[b] += 1
            fid += 1

    for r in range(p):
        try_start(r)
    while flows:
        rate = maxmin(flows, w)
        dt = min(rem[i] / rate[i] for i in flows)
        t += dt
        for i in list(flows):
            rem[i] -= rate[i] * dt
            if rem[i] <= 1e-12:
                del flows[i]
                for r in ends[i]:
                    pending[r] -= 1
                    if pending[r] == 0:
                        step[r] += 1
                        done[r] = t
        for r in range(p):
            try_start(r)
    return sum(done) / p, max(done)


def main():
    scale = (16 << 20) / 12.5e9 * 1e6  # 16 MiB at 100 Gbit/s, in us
    print(f"{'p':>5} {'order':>5} {'dims':>9} {'model bound':>12} {'fluid mean':>11} {'fluid last':>11} "
          f"{'weighted mean':>14} {'weighted last':>14}")
    for arg in sys.argv[1:] or ["32:near", "64:near", "128:near", "256:near"]:
        p, order = int(arg.split(":")[0]), arg.split(":")[1]
        dims = dims_for(p)
        plain, fair = fluid(p, order, dims, False), fluid(p, order, dims, True)
        print(f"{p:>5} {order:>5} {'x'.join(map(str, dims)):>9} {bound(p, order, dims) * scale:>12.0f} "
              f"{plain[0] * scale:>11.0f} {plain[1] * scale:>11.0f} {fair[0] * scale:>14.0f} {fair[1] * scale:>14.0f}")


if __name__ == "__main__":
    main()
