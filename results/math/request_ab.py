#!/usr/bin/python3
"""One request at a time, alternated between servers: the cost of a request.

    request_ab.py PNG OUT_JSON NAME=URL NAME=URL ... [--rounds 200] [--path /transcribe]

Each round POSTs PNG once to each server in turn (A B A B ...; the first 10
rounds are a warm-up, not counted), one connection per server, and records
the server's own "milliseconds" (decode, segmentation, preprocessing, the
forward pass) and the client's wall time. Prints the medians per server and
their ratio to the first one, with the load average before and after: on a
shared machine the absolute numbers move with the load, the alternated
ratio much less.
"""
import argparse
import http.client
import json
import os
import statistics
import time
from urllib.parse import urlparse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("png")
    ap.add_argument("out")
    ap.add_argument("servers", nargs="+", help="NAME=URL")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--path", default="/transcribe")
    a = ap.parse_args()
    body = open(a.png, "rb").read()
    servers = []
    for s in a.servers:
        name, url = s.split("=", 1)
        u = urlparse(url)
        servers.append({"name": name, "conn": http.client.HTTPConnection(u.hostname, u.port, timeout=30),
                        "server_ms": [], "client_ms": [], "latex": None})
    load_before = os.getloadavg()
    for r in range(a.warmup + a.rounds):
        for s in servers:
            t0 = time.perf_counter()
            s["conn"].request("POST", a.path, body=body, headers={"Content-Type": "image/png"})
            resp = s["conn"].getresponse()
            data = resp.read()
            t1 = time.perf_counter()
            if resp.status != 200:
                raise SystemExit(f"{s['name']}: HTTP {resp.status}: {data[:200]!r}")
            j = json.loads(data)
            s["latex"] = j.get("latex")
            if r >= a.warmup:
                s["server_ms"].append(j["milliseconds"])
                s["client_ms"].append(1000.0 * (t1 - t0))
    load_after = os.getloadavg()
    base = statistics.median(servers[0]["server_ms"])
    result = {"png": a.png, "rounds": a.rounds, "load_average_before": load_before, "load_average_after": load_after,
              "servers": []}
    lines = [f"{a.rounds} alternated rounds, load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"]
    for s in servers:
        med, cmed = statistics.median(s["server_ms"]), statistics.median(s["client_ms"])
        q = statistics.quantiles(s["server_ms"], n=10)
        result["servers"].append({"name": s["name"], "server_ms_median": med, "server_ms_p10": q[0],
                                  "server_ms_p90": q[-1], "client_ms_median": cmed, "ratio_to_first": med / base,
                                  "latex": s["latex"]})
        lines.append(f"  {s['name']:>8}: server {med:6.2f} ms median (p10 {q[0]:.2f}, p90 {q[-1]:.2f}), "
                     f"client {cmed:6.2f} ms, x{med / base:.2f} of {servers[0]['name']}  | {s['latex']}")
    json.dump(result, open(a.out, "w"), indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
