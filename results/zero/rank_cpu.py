#!/usr/bin/env python3
"""Runs one MPI rank's command and writes what it cost in CPU (issue 30, cpu_ab.sh).

Usage (under mpirun): rank_cpu.py OUT_PREFIX COMMAND...  ->  OUT_PREFIX-RANK.json

total_s: the child's user + system CPU from wait4 (exact: every thread, to its end).
threads: per thread name, the CPU seen in /proc/PID/task/TID/schedstat (ns on a CPU),
sampled every 10 ms, the last sample kept per thread: a thread's last <10 ms may be
missed, the same in every run, so differences of two run lengths cancel it.
"""
import json, os, subprocess, sys, time

prefix, cmd = sys.argv[1], sys.argv[2:]
rank = os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0"))
t0 = time.monotonic()
child = subprocess.Popen(cmd)
seen = {}  # tid -> (name, ns)
status = None
while status is None:
    try:
        for tid in os.listdir(f"/proc/{child.pid}/task"):
            try:
                with open(f"/proc/{child.pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
                with open(f"/proc/{child.pid}/task/{tid}/schedstat") as f:
                    ns = int(f.read().split()[0])
                seen[tid] = (name, ns)
            except OSError:
                pass
    except OSError:
        pass
    pid, st, use = os.wait4(child.pid, os.WNOHANG)
    if pid != 0:
        status = (st, use)
    else:
        time.sleep(0.01)
st, use = status
threads = {}
for name, ns in seen.values():
    threads[name] = threads.get(name, 0.0) + ns * 1e-9
out = {"rank": int(rank), "wall_s": time.monotonic() - t0, "user_s": use.ru_utime, "sys_s": use.ru_stime,
       "total_s": use.ru_utime + use.ru_stime, "voluntary_switches": use.ru_nvcsw,
       "involuntary_switches": use.ru_nivcsw, "threads": threads}
with open(f"{prefix}-{rank}.json", "w") as f:
    json.dump(out, f)
sys.exit(os.waitstatus_to_exitcode(st))
