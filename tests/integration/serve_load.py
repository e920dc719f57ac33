#!/usr/bin/env python3
"""Load on hpcnn serve: N requests from C concurrent clients on localhost.

Each client thread keeps one HTTP/1.1 connection (reconnecting when the
server closes it) and POSTs the same PNG to /predict (or --path, e.g.
/transcribe for an expression).
Prints and writes (JSON) the error count, wall time, requests/s and latency
percentiles; exits 1 on any error or when the deadline passes. Latencies are
reported, not asserted: they depend on the machine.

    serve_load.py URL PNG OUT_JSON [--requests 1000] [--clients 8] [--deadline 120] [--path /predict]
"""
import argparse
import http.client
import json
import threading
import time
from urllib.parse import urlparse


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("png")
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--deadline", type=float, default=120.0)
    ap.add_argument("--path", default="/predict")
    a = ap.parse_args()
    u = urlparse(a.url)
    body = open(a.png, "rb").read()
    headers = {"Content-Type": "image/png"}
    lock = threading.Lock()
    remaining = [a.requests]
    latencies, errors = [], []
    classes = set()
    t_end = time.monotonic() + a.deadline

    def client():
        conn = None
        while True:
            with lock:
                if remaining[0] == 0 or time.monotonic() > t_end:
                    break
                remaining[0] -= 1
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                conn.request("POST", a.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                dt = time.perf_counter() - t0
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {data[:200]!r}")
                answer = json.loads(data)
                cls = answer["class"] if "class" in answer else answer["latex"]  # /predict or /transcribe
                if r.will_close:
                    conn.close()
                    conn = None
                with lock:
                    latencies.append(dt)
                    classes.add(cls)
            except Exception as e:  # noqa: BLE001 - every failure counts as an error
                with lock:
                    errors.append(repr(e))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.deadline + 60)
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    result = {
        "requests": a.requests, "clients": a.clients, "completed": len(lat), "errors": len(errors),
        "wall_seconds": round(wall, 3), "requests_per_second": round(len(lat) / wall, 1) if wall > 0 else None,
        "latency_ms": {q: round(1000 * percentile(lat, float(q[1:])), 2) for q in ("p50", "p90", "p99")},
        "latency_ms_max": round(1000 * lat[-1], 2) if lat else None,
        "distinct_answers": len(classes), "first_errors": errors[:5], "body_bytes": len(body),
    }
    result["latency_ms"]["mean"] = round(1000 * sum(lat) / len(lat), 2) if lat else None
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"{len(lat)}/{a.requests} requests from {a.clients} clients in {wall:.2f} s "
          f"({result['requests_per_second']} req/s), {len(errors)} errors; latency ms: "
          f"p50 {result['latency_ms']['p50']}, p90 {result['latency_ms']['p90']}, p99 {result['latency_ms']['p99']}, "
          f"max {result['latency_ms_max']}")
    ok = not errors and len(lat) == a.requests and len(classes) == 1
    if not ok:
        print("FAIL:", json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
