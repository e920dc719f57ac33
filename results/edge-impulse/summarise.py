#!/usr/bin/env python3
"""Tables for results/edge-impulse/ from what run.sh left in raw/ and the logs.

Writes table.md (beside the seed's numbers) and results.json.
"""
import argparse
import glob
import json
import os
import re
import statistics

SEED = {"float32": 96.7, "int8": 86.7}


def accuracy(path):
    text = open(path).read()
    m = re.search(r"on (\S+): (\d+) samples, loss ([0-9.]+), accuracy ([0-9.]+)", text)
    if not m:
        raise SystemExit(f"summarise: no accuracy line in {path}")
    return {"split": m.group(1), "samples": int(m.group(2)), "loss": float(m.group(3)),
            "accuracy": 100.0 * float(m.group(4)), "weight_bytes": weight_bytes(text)}


def weight_bytes(text):
    m = re.search(r"(\d+) weight bytes", text)
    return int(m.group(1)) if m else None


def latencies(out, kind):
    """batch -> median over the alternated runs of each run's median ms."""
    per = {}
    for path in sorted(glob.glob(os.path.join(out, "raw", f"latency-{kind}-*.txt"))):
        for line in open(path):
            f = line.split()
            if len(f) == 4 and f[0].isdigit():
                per.setdefault(int(f[0]), []).append(float(f[1]))
    return {b: statistics.median(v) for b, v in sorted(per.items())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    raw = os.path.join(a.out, "raw")
    res = {"seed": SEED, "runs": {}}
    for run in ("frozen", "finetune"):
        r = {}
        for kind in ("checkpoint", "fp32", "int8"):
            for split in ("test", "extra"):
                r[f"{kind}-{split}"] = accuracy(os.path.join(raw, f"{run}-{kind}-{split}.txt"))
        m = json.load(open(os.path.join(a.out, f"transfer-{run}-metrics.json")))
        r["epochs"] = len(m["epochs"])
        r["train_accuracy_last_epoch"] = 100.0 * m["epochs"][-1]["accuracy"]
        res["runs"][run] = r
    pre = json.load(open(os.path.join(a.out, "pretrain-metrics.json")))
    res["pretrain"] = {"test_accuracy": 100.0 * pre["test"]["accuracy"], "epochs": len(pre["epochs"]),
                       "samples_per_epoch": pre["epochs"][0]["samples"],
                       "samples_per_second": statistics.median(e["samples_per_second"] for e in pre["epochs"])}
    res["latency_ms"] = {k: latencies(a.out, k) for k in ("checkpoint", "fp32", "int8")}
    cpu = open(os.path.join(a.out, "cpu.txt")).read().strip().splitlines()
    res["cpu"] = cpu

    fr, ft = res["runs"]["frozen"], res["runs"]["finetune"]
    lat = res["latency_ms"]

    def pts(run, split):
        return run[f"int8-{split}"]["accuracy"] - run[f"fp32-{split}"]["accuracy"]

    lines = [
        "# Edge Impulse seed: MobileNetV2 0.35, 96x96, transfer learning, int8",
        "",
        f"CPU: {cpu[0].split(':', 1)[1].strip()}; {cpu[-1].strip()} cores; 2 threads. "
        f"Pretraining: Fashion-MNIST as 96x96 RGB, {res['pretrain']['samples_per_epoch']} images x "
        f"{res['pretrain']['epochs']} epochs, test accuracy {res['pretrain']['test_accuracy']:.1f}% "
        f"({res['pretrain']['samples_per_second']:.0f} samples/s).",
        "",
        "| | seed (Edge Impulse) | hpcnn, backbone frozen (seed's recipe) | hpcnn, all layers fine-tuned |",
        "| --- | ---: | ---: | ---: |",
        f"| float32 accuracy, 30 test images | {SEED['float32']:.1f}% | {fr['fp32-test']['accuracy']:.1f}% | "
        f"{ft['fp32-test']['accuracy']:.1f}% |",
        f"| int8 accuracy, 30 test images | {SEED['int8']:.1f}% | {fr['int8-test']['accuracy']:.1f}% | "
        f"{ft['int8-test']['accuracy']:.1f}% |",
        f"| int8 - float32, 30 test images | {SEED['int8'] - SEED['float32']:+.1f} pts | {pts(fr, 'test'):+.1f} pts | "
        f"{pts(ft, 'test'):+.1f} pts |",
        f"| float32 / int8 accuracy, 600 more images | - | {fr['fp32-extra']['accuracy']:.1f}% / "
        f"{fr['int8-extra']['accuracy']:.1f}% ({pts(fr, 'extra'):+.1f} pts) | {ft['fp32-extra']['accuracy']:.1f}% / "
        f"{ft['int8-extra']['accuracy']:.1f}% ({pts(ft, 'extra'):+.1f} pts) |",
        f"| training checkpoint accuracy (test / extra) | - | {fr['checkpoint-test']['accuracy']:.1f}% / "
        f"{fr['checkpoint-extra']['accuracy']:.1f}% | {ft['checkpoint-test']['accuracy']:.1f}% / "
        f"{ft['checkpoint-extra']['accuracy']:.1f}% |",
        f"| weights float32 / int8 (bytes) | - | {fr['fp32-test']['weight_bytes']:,} / "
        f"{fr['int8-test']['weight_bytes']:,} ({fr['fp32-test']['weight_bytes'] / fr['int8-test']['weight_bytes']:.2f}x) "
        f"| same |",
        "",
        "Latency of the frozen run's model, median ms per batch (median of 3 alternated runs, each the median of "
        "its repeats):",
        "",
        "| batch | training checkpoint (fp32) | folded fp32 | int8 | int8 speed-up vs folded fp32 | vs checkpoint |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for b in sorted(lat["int8"]):
        c, f, q = lat["checkpoint"].get(b), lat["fp32"].get(b), lat["int8"][b]
        lines.append(f"| {b} | {c:.2f} | {f:.2f} | {q:.2f} | {f / q:.2f}x | {c / q:.2f}x |")
    lines += ["", "Commands: `bash results/edge-impulse/run.sh` (see its header); raw outputs in raw/."]
    open(os.path.join(a.out, "table.md"), "w").write("\n".join(lines) + "\n")
    json.dump(res, open(os.path.join(a.out, "results.json"), "w"), indent=1, sort_keys=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
