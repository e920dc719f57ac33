"""The step timelines that results/zero's scripts read (a run's timing/rank-RRRRR.csv, docs/formats.md):
per step, the slower rank's seconds in one phase, and their median over the steps after the warm-up.
Imported by run.sh, gather_ab.sh and cpu_ab.sh (PYTHONPATH=results/zero)."""
import csv
import statistics

WARMUP = 5  # steps left out at the start of every run: start-up, first allocations


def slower_rank_per_step(run_dir, phase, ranks=2):
    """The slower rank's seconds in `phase`, one value per step that has the phase, in step order."""
    per = {}
    for r in range(ranks):
        with open(f"{run_dir}/timing/rank-{r:05d}.csv") as f:
            for row in csv.DictReader(f):
                if row["phase"] == phase:
                    k = (int(row["epoch"]), int(row["step"]))
                    per[k] = max(per.get(k, 0.0), float(row["seconds"]))
    return [v for _, v in sorted(per.items())]


def phase_median(run_dir, phase, ranks=2, empty=None):
    """Median over the steps after WARMUP of the slower rank's seconds in `phase`; `empty` when the run has
    no such step (with empty=None that is an error, as a missing phase usually means a wrong run)."""
    xs = slower_rank_per_step(run_dir, phase, ranks)[WARMUP:]
    if not xs:
        if empty is None:
            raise ValueError(f"{run_dir}: no '{phase}' rows after the first {WARMUP} steps")
        return empty
    return statistics.median(xs)
