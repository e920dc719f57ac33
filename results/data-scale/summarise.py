#!/usr/bin/env python3
"""Markdown tables from results/data-scale/*.csv (run.sh writes them): summary.md."""
import csv
import os
import statistics
import sys

here = os.path.dirname(os.path.abspath(__file__))


def rows(name):
    with open(os.path.join(here, name)) as f:
        return list(csv.DictReader(f))


out = []
machine = open(os.path.join(here, "machine.txt")).read().strip().splitlines()
out.append(f"Machine: {machine[0].lstrip('# ')}. Dataset generation: {machine[1] if len(machine) > 1 else 'n/a'}.\n")

out.append("## 1. Out of core: solar-cnn, 2 ranks x 1 thread, global batch 128, 1 GiB per rank\n")
out.append("The job ran inside a memory cgroup of 2 GiB (page cache included) over a "
           f"{rows('out_of_core.csv')[0]['dataset_gb']} GB synthetic solar-maps set (16 shards), "
           "its pages dropped from the page cache first.\n")
out.append("| run | steps | step ms (median) | data time / step time | steps that waited | peak RSS (max rank) | "
           "cgroup peak | MB read by read calls | MB from storage | samples/s |")
out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows("out_of_core.csv"):
    if r["samples_per_s"].startswith("killed"):
        out.append(f"| {r['out_of_core_run']} | {r['steps']} | {r['samples_per_s']} by the memory limit | | | | "
                   f"{r['cgroup_peak_mb']} MB | | | |")
        continue
    out.append(f"| {r['out_of_core_run']} | {r['steps']} | {r['step_ms_median']} | {r['data_time_pct']} % | "
               f"{r['steps_waited_pct']} % | {r['peak_rss_mb_max_rank']} MB | {r['cgroup_peak_mb']} MB | "
               f"{r['read_call_mb']} | {r['storage_read_mb']} | {r['samples_per_s']} |")

out.append("\n## 2. local vs global sampling, 1/2/4 ranks (40,000 maps, 400 MB, 8 shards, one epoch)\n")
out.append("Each rank preloads what it reads (--cache-mb 1024). Medians of the rounds. MB read per rank: by its "
           "read calls (/proc/self/io rchar: the preload, the test split and metadata).\n")
out.append("| sampling | ranks | MB read per rank | peak RSS (max rank) | step ms (median) | "
           "steps that waited | train loss | test MSE |")
out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
lg = rows("local_vs_global.csv")
for sampling in ("global", "local"):
    for ranks in ("1", "2", "4"):
        sel = [r for r in lg if r["sampling"] == sampling and r["ranks"] == ranks]
        if not sel:
            continue
        med = lambda k: statistics.median(float(r[k]) for r in sel)
        out.append(f"| {sampling} | {ranks} | {med('mb_read_calls_per_rank'):.1f} | "
                   f"{med('peak_rss_mb_max_rank'):.0f} MB | {med('step_ms_median'):.2f} | "
                   f"{med('steps_waited_pct'):.1f} % | {med('train_loss'):.5f} | {med('test_mse'):.5f} |")

out.append("\n## 3. Read paths: one 600 MB file (60,000 maps), every rank its block of rows, reads of 1024 rows\n")
out.append("Page cache warm (an untimed pass first); medians of 3 alternated passes; MB/s = 10^6 bytes/s.\n")
out.append("| ranks | serial (HDF5 per rank) | MPI-IO independent | MPI-IO collective | read(2) ceiling |")
out.append("| ---: | ---: | ---: | ---: | ---: |")
rp = rows("read_paths.csv")
for ranks in ("1", "2", "4"):
    by = {r["mode"]: float(r["mb_per_s_total"]) for r in rp if r["ranks"] == ranks}
    if by:
        out.append(f"| {ranks} | {by.get('serial', 0):.0f} | {by.get('mpio-independent', 0):.0f} | "
                   f"{by.get('mpio-collective', 0):.0f} | {by.get('posix', 0):.0f} |")

text = "\n".join(out) + "\n"
open(os.path.join(here, "summary.md"), "w").write(text)
sys.stdout.write(text)
