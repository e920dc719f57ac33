#!/usr/bin/env python3
"""Writes a SimGrid platform (XML) and an smpirun hostfile from a few numbers.

  tools/sim/platform.py --config tools/sim/platforms/fattree-100g.conf --nodes 64 --out DIR
  tools/sim/platform.py --topology torus --nodes 27 --ranks-per-node 2 --link 25Gbps --latency 2us --out DIR

A config file holds the same numbers, one `key = value` a line (# comments):
topology (fattree, dragonfly, torus or flat), nodes, ranks_per_node, link
(bandwidth of every link, SimGrid units: 1Gbps, 100Gbps, 12.5GBps), latency
(per link: 50us), speed (flop/s of a host core, e.g. 100Gf), memory_bw and
memory_latency (a node's loopback: ranks of one node talk through it). Command
line values override the file. Prints the two paths, platform then hostfile.

The switch layout follows from `nodes`:
  fattree:   2 levels, k = ceil(sqrt(nodes)) nodes per leaf switch, as many
             spine switches as a leaf has nodes (full bisection), SimGrid FAT_TREE;
  dragonfly: 4 nodes per router, 4 routers per chassis, 2 chassis per group,
             as many groups as needed, SimGrid DRAGONFLY; above 128 nodes
             (4 groups) more routers per chassis, as many as the groups
             (SimGrid 3.32 joins groups through chassis 0's routers only:
             at most as many groups as routers per chassis);
  torus:     3-D, sides as near equal as possible, SimGrid TORUS;
  flat:      every node on one switch through its own link (the lab of tools/cluster/).
Hosts are rounded up to fill the topology; the hostfile lists only `nodes` of them.
"""
import argparse
import math
import os
import sys

DEFAULTS = {
    "topology": "fattree",
    "nodes": "16",
    "ranks_per_node": "1",
    "link": "100Gbps",
    "latency": "1us",
    "speed": "100Gf",
    "memory_bw": "20GBps",
    "memory_latency": "0.1us",
}


def read_config(path):
    values = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if "=" not in line:
                sys.exit(f"{path}:{number}: expected 'key = value', got '{line}'")
            key, value = (s.strip() for s in line.split("=", 1))
            if key not in DEFAULTS:
                sys.exit(f"{path}:{number}: unknown key '{key}' (known: {', '.join(DEFAULTS)})")
            values[key] = value
    return values


def check_dragonfly(groups, routers):
    """Refuses a dragonfly SimGrid 3.32 cannot route (DragonflyZone.hpp, LIMITATIONS)."""
    if groups > routers:
        sys.exit(
            f"dragonfly of {groups} groups and {routers} routers a chassis: SimGrid 3.32 attaches the links"
            " between groups to chassis 0's routers only, so it allows at most as many groups as routers a chassis"
        )


def layout(topology, nodes):
    """(hosts, SimGrid topology name, topo_parameters) for `nodes` nodes."""
    if topology == "fattree":
        k = max(1, math.ceil(math.sqrt(nodes)))
        leaves = math.ceil(nodes / k)
        # levels; down-ports per level; parents per switch/node; links per parent
        return k * leaves, "FAT_TREE", f"2;{k},{leaves};1,{k};1,1"
    if topology == "dragonfly":
        per_router, routers, chassis = 4, 4, 2
        groups = max(1, math.ceil(nodes / (per_router * routers * chassis)))
        # SimGrid 3.32's DragonflyZone links group i to group j through router
        # j of group i's chassis 0 and routes there through green link j of a
        # chassis of `routers`: with more groups than routers a chassis, the
        # routes to group >= routers read past that vector and smpirun
        # crashes at start-up (192 and 256 nodes: 6 and 8 groups of 4 routers
        # a chassis). So add routers a chassis (the same 4 nodes a router,
        # the cost model's nodes_per_switch) until the groups fit.
        while groups > routers:
            routers += 1
            groups = math.ceil(nodes / (per_router * routers * chassis))
        check_dragonfly(groups, routers)
        # groups,links between groups; chassis,links; routers,links; nodes per router
        return groups * chassis * routers * per_router, "DRAGONFLY", f"{groups},1;{chassis},1;{routers},1;{per_router}"
    if topology == "torus":
        x = max(1, round(nodes ** (1 / 3)))
        while x > 1 and x ** 3 > nodes * 1.5:
            x -= 1
        y = max(1, math.ceil(math.sqrt(nodes / x)))
        z = max(1, math.ceil(nodes / (x * y)))
        return x * y * z, "TORUS", f"{x},{y},{z}"
    if topology == "flat":
        return nodes, "FLAT", ""
    sys.exit(f"unknown topology '{topology}' (fattree, dragonfly, torus or flat)")


def self_test():
    """The dragonfly's layout: unchanged up to 128 nodes, within SimGrid's limit above (ctest label sim)."""
    for nodes in range(1, 4097):
        hosts, topo, params = layout("dragonfly", nodes)
        blue, black, green, per_router = params.split(";")
        groups, routers = int(blue.split(",")[0]), int(green.split(",")[0])
        chassis = int(black.split(",")[0])
        assert topo == "DRAGONFLY" and per_router == "4" and chassis == 2, (nodes, params)
        assert groups <= routers, f"{nodes} nodes: {groups} groups, {routers} routers a chassis"
        assert hosts == groups * chassis * routers * 4 and hosts >= nodes, (nodes, hosts, params)
        if nodes <= 128:  # the platforms every recorded dragonfly result ran on
            assert params == f"{math.ceil(nodes / 32)},1;2,1;4,1;4", (nodes, params)
        else:  # no more routers than the groups need: one fewer would not fit them
            fewer = routers - 1
            assert fewer < 4 or math.ceil(nodes / (8 * fewer)) > fewer, (nodes, params)
    assert layout("dragonfly", 256)[2] == "6,1;2,1;6,1;4"
    assert layout("dragonfly", 1024)[2] == "11,1;2,1;12,1;4"
    try:
        check_dragonfly(6, 4)
        raise AssertionError("6 groups of 4 routers a chassis accepted")
    except SystemExit as e:
        assert "at most as many groups as routers a chassis" in str(e.code), e.code
    print("platform.py self-test: ok (dragonfly 1-4096 nodes)")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config")
    for key in DEFAULTS:
        parser.add_argument("--" + key.replace("_", "-"), dest=key)
    parser.add_argument("--name", help="file name stem (default: the config's or the topology's)")
    parser.add_argument("--out", required=True, help="directory for NAME.xml and NAME.hosts")
    args = parser.parse_args()
    values = dict(DEFAULTS)
    if args.config:
        values.update(read_config(args.config))
    for key in DEFAULTS:
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    nodes, per_node = int(values["nodes"]), int(values["ranks_per_node"])
    if nodes < 1 or per_node < 1:
        sys.exit("nodes and ranks_per_node must be at least 1")
    hosts, topo, params = layout(values["topology"], nodes)
    stem = args.name or (os.path.splitext(os.path.basename(args.config))[0] if args.config else values["topology"])
    stem = f"{stem}-{nodes}x{per_node}"
    os.makedirs(args.out, exist_ok=True)
    xml = os.path.join(args.out, stem + ".xml")
    hostfile = os.path.join(args.out, stem + ".hosts")
    topo_attrs = f' topology="{topo}" topo_parameters="{params}"' if topo != "FLAT" else ""
    # sharing_policy SPLITDUPLEX: a link carries its rate in each direction at
    # once, as Ethernet and InfiniBand do (the ring sends and receives together).
    with open(xml, "w") as f:
        f.write(
            "<?xml version='1.0'?>\n"
            '<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">\n'
            f"<!-- generated by tools/sim/platform.py: {values['topology']}, {nodes} node(s) of {per_node} rank(s),"
            f" links {values['link']} / {values['latency']} -->\n"
            '<platform version="4.1">\n'
            f'  <cluster id="cluster" prefix="node-" suffix="" radical="0-{hosts - 1}" speed="{values["speed"]}"'
            f' core="{per_node}" bw="{values["link"]}" lat="{values["latency"]}" sharing_policy="SPLITDUPLEX"'
            f' loopback_bw="{values["memory_bw"]}" loopback_lat="{values["memory_latency"]}"{topo_attrs}/>\n'
            "</platform>\n"
        )
    with open(hostfile, "w") as f:
        for h in range(nodes):
            f.write(f"node-{h}:{per_node}\n")
    print(xml)
    print(hostfile)


if __name__ == "__main__":
    main()
