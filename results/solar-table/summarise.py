#!/usr/bin/python3
"""results/solar-table/results.md from results.csv and baselines-*.json (stdout)."""
import csv
import json
import os
import sys

d = sys.argv[1]
base = {w: json.load(open(os.path.join(d, f"baselines-{w}.json"))) for w in ("any", "prevailing")}
rows = list(csv.DictReader(open(os.path.join(d, "results.csv"))))
cpu = open(os.path.join(d, "cpu.txt")).read().split("\n")
print("# Solar table: test MSE of MLPs beside honest baselines, any wind vs a prevailing wind\n")
print(f"CPU: {cpu[0].split(':', 1)[-1].strip()}, {cpu[1].strip()} cores. "
      f"{base['any']['train_rows']:,} training rows (10% held out for validation), "
      f"{base['any']['test_rows']:,} test rows; MLPs: {rows[0]['epochs']} epochs, batch 100, Adam 1e-3.\n")
print("| predictor | any wind: test MSE | vs linear | prevailing wind (+-30 deg): test MSE | vs linear |")
print("| --- | ---: | ---: | ---: | ---: |")
lin = {w: base[w]["mse_linear_least_squares"] for w in base}
def line(name, a, b, bold=False):
    f = (lambda x: f"**{x:.5f}**") if bold else (lambda x: f"{x:.5f}")
    print(f"| {name} | {f(a)} | {a / lin['any']:.3f} | {f(b)} | {b / lin['prevailing']:.3f} |")
line("variance of the test target", base["any"]["test_target_variance"], base["prevailing"]["test_target_variance"])
for key, name in (("mse_train_mean", "predict the training mean"), ("mse_persistence", "persistence (sensor 0 now)"),
                  ("mse_sensor_mean", "mean of the 50 sensors now"),
                  ("mse_linear_least_squares", "least-squares linear fit of the 50 readings")):
    line(name, base["any"][key], base["prevailing"][key], key == "mse_linear_least_squares")
by = {}
for r in rows:
    by.setdefault(r["model"], {})[r["wind"]] = float(r["test_mse"])
for model, v in by.items():
    if "any" in v and "prevailing" in v:
        line(f"`{model}`", v["any"], v["prevailing"])
best = {w: min((v[w], m) for m, v in by.items() if w in v) for w in ("any", "prevailing")}
print()
for w in ("any", "prevailing"):
    mse, m = best[w]
    def versus(ref):
        d = 100 * (1 - mse / ref)
        return f"{abs(d):.1f}% {'better' if d >= 0 else 'worse'} than"
    print(f"- {w} wind: best MLP `{m}` {mse:.5f}, {versus(lin[w])} the linear fit, "
          f"{versus(base[w]['mse_sensor_mean'])} the 50-sensor mean, "
          f"explains {100 * (1 - mse / base[w]['test_target_variance']):.0f}% of the target's variance.")
