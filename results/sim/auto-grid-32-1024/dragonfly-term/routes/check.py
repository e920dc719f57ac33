#!/usr/bin/env python3
"""Checks the cost model's dragonfly routes against SimGrid 3.32's own (Host::route_to) on the platforms
tools/sim/platform.py builds: for every step of rhd (far-first), the library's Rabenseifner (near-first),
the ring and the tree's parent flows, the most flows on one directed link and the longest route.

  python3 check.py ROUTE_BIN LOADS_BIN PLATFORM_DIR P [P ...]
"""
import collections
import subprocess
import sys

route_bin, loads_bin, pdir = sys.argv[1:4]
bad = 0
for p in map(int, sys.argv[4:]):
    steps = {}
    d = p // 2
    while d >= 1:
        steps[f"xor{d}"] = [r ^ d for r in range(p)]
        d //= 2
    steps["ring"] = [(r + 1) % p for r in range(p)]
    steps["tree"] = [-1] + [(r - 1) // 2 for r in range(1, p)]
    steps["central"] = [-1] + [0] * (p - 1)
    pairs = sorted({(r, t) for s in steps.values() for r, t in enumerate(s) if t >= 0 and t != r})
    out = subprocess.run([route_bin, f"{pdir}/dragonfly-{p}x1.xml"], input="".join(f"{a} {b}\n" for a, b in pairs),
                         capture_output=True, text=True, check=True).stdout
    route = {}
    for line in out.splitlines():
        f = line.split()
        route[(int(f[0]), int(f[1]))] = f[2:]
    model = subprocess.run([loads_bin, str(p)], input="".join(f"{n} {' '.join(map(str, s))}\n" for n, s in steps.items()),
                           capture_output=True, text=True, check=True).stdout.split("\n")
    model = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in model if l}
    for name, s in steps.items():
        load = collections.Counter()
        longest = 0
        for r, t in enumerate(s):
            if t < 0 or t == r:
                continue
            load.update(route[(r, t)])
            longest = max(longest, len(route[(r, t)]))
        sim = (max(load.values()), longest)
        ok = sim == model[name]
        bad += not ok
        print(f"p={p:4d} {name:8s} SimGrid flows {sim[0]:3d} links {sim[1]} | model flows {model[name][0]:3d} links {model[name][1]}{'' if ok else '  DIFFERENT'}")
print("all equal" if bad == 0 else f"{bad} different")
sys.exit(1 if bad else 0)
