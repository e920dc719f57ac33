#!/usr/bin/env python3
"""Runs one rank (argv[2:]) and writes where its CPU time went into argv[1]-RANK.json.

Used by cpu.sh under mpirun: `cpu_wrap.py OUT_PREFIX hpcnn train ...`. The
process total (user, system, context switches) is exact, from getrusage of the
child once it has exited. Per thread, /proc/PID/task/TID/stat (utime, stime in
clock ticks of 10 ms) and .../status (voluntary and involuntary context
switches) are sampled every 50 ms and the last sample kept: exact for threads
idle at the end (the communication thread, 'hpcnn-comm', is: no exchange after
the last step), within 50 ms for the others. The compute thread is the main
thread (--threads 1); its figure is the total minus the other threads. The
communication thread itself writes argv[1]-comm-RANK.json as it ends
(HPCNN_COMM_COUNTERS).
"""
import json
import os
import resource
import subprocess
import sys
import threading

prefix, cmd = sys.argv[1], sys.argv[2:]
tick = os.sysconf("SC_CLK_TCK")
# The communication thread's own counters (src/comm/gradient_reducer.cpp, write_counters):
# exact CPU (RUSAGE_THREAD), wake-ups, tests, sleeps, Open MPI's socket reads and writes.
child = subprocess.Popen(cmd, env=dict(os.environ, HPCNN_COMM_COUNTERS=f"{prefix}-comm"))
threads = {}  # tid -> last sample
stop = threading.Event()


def sample():
    task_dir = f"/proc/{child.pid}/task"
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return
    for tid in tids:
        try:
            stat = open(f"{task_dir}/{tid}/stat").read()
            status = open(f"{task_dir}/{tid}/status").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ctx = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line}
        threads[tid] = {
            "name": stat[stat.index("(") + 1:stat.rindex(")")],
            "main": tid == str(child.pid),
            "user_s": int(fields[11]) / tick,
            "sys_s": int(fields[12]) / tick,
            "vcsw": ctx.get("voluntary_ctxt_switches", 0),
            "ivcsw": ctx.get("nonvoluntary_ctxt_switches", 0),
        }


def sampler():
    while not stop.wait(0.05):
        sample()


t = threading.Thread(target=sampler, daemon=True)
t.start()
rc = child.wait()
stop.set()
t.join()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rank = os.environ.get("OMPI_COMM_WORLD_RANK", "0")
with open(f"{prefix}-{rank}.json", "w") as f:
    json.dump({"rc": rc, "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "vcsw": ru.ru_nvcsw, "ivcsw": ru.ru_nivcsw,
               "threads": list(threads.values())}, f)
sys.exit(rc)
