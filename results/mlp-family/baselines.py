#!/usr/bin/python3
"""Honest baselines for the solar-table study: test MSE of predicting the
training targets' mean, of persistence (the target sensor's current
reading), and of the mean of the 50 sensors' current readings; also the best
least-squares linear model of the 50 readings, fitted on train. h5py and
NumPy only. Usage: baselines.py DATASET_DIR OUT.json"""
import json
import os
import sys

import h5py
import numpy as np


def load(ds, split, manifest):
    xs, ys = [], []
    for s in manifest["splits"][split]["shards"]:
        with h5py.File(os.path.join(ds, s["file"]), "r") as f:
            xs.append(f["samples"][...].reshape(len(f["samples"]), -1).astype(np.float64))
            ys.append(f["targets"][...].reshape(-1).astype(np.float64))
    return np.concatenate(xs), np.concatenate(ys)


def main():
    ds, out = sys.argv[1:3]
    m = json.load(open(os.path.join(ds, "manifest.json")))
    sensor = m["generator"]["target_sensor"]
    x_tr, y_tr = load(ds, "train", m)
    x_te, y_te = load(ds, "test", m)
    a = np.c_[x_tr, np.ones(len(x_tr))]
    w, *_ = np.linalg.lstsq(a, y_tr, rcond=None)
    res = {
        "dataset": os.path.abspath(ds), "train_rows": len(y_tr), "test_rows": len(y_te),
        "target_sensor": sensor, "horizon_s": m["generator"]["horizon_s"],
        "test_target_variance": float(y_te.var()),
        "mse_train_mean": float(((y_te - y_tr.mean()) ** 2).mean()),
        "mse_persistence": float(((y_te - x_te[:, sensor]) ** 2).mean()),
        "mse_sensor_mean": float(((y_te - x_te.mean(axis=1)) ** 2).mean()),
        "mse_linear_least_squares": float(((y_te - np.c_[x_te, np.ones(len(x_te))] @ w) ** 2).mean()),
    }
    json.dump(res, open(out, "w"), indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
