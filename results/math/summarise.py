#!/usr/bin/python3
"""Per-class accuracy and confusion matrices of the math-symbols model.

  summarise.py OUT_DIR NAME=PREDICTIONS.csv[+PREDICTIONS.csv...]...   (hpcnn infer --predictions)

Several files joined by + are an ensemble: their probabilities are averaged,
as `hpcnn predict/serve --ensemble` does.

Writes OUT_DIR/per_class.md (a table: one column per test set), per_class.json
and OUT_DIR/confusion-NAME.png (rows: true class, columns: predicted; counts).
"""
import csv
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

NAMES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "-", "\\times", "\\div", "=", "(", ")", ".", "x", "y"]


def main():
    out = sys.argv[1]
    sets = [a.split("=", 1) for a in sys.argv[2:]]
    table, doc = {}, {}
    for name, path in sets:
        prob = None
        for part in path.split("+"):
            rows = list(csv.DictReader(open(part)))
            q = np.array([[float(r[f"p_{k}"]) for k in range(20)] for r in rows])
            prob = q if prob is None else prob + q
        y = np.array([int(r["label"]) for r in rows])
        p = prob.argmax(axis=1)
        cm = np.zeros((20, 20), int)
        np.add.at(cm, (y, p), 1)
        per = {NAMES[c]: {"n": int((y == c).sum()), "accuracy": float((p[y == c] == c).mean())} for c in range(20)}
        digits, symbols = y < 10, y >= 10
        doc[name] = {"samples": len(y), "accuracy": float((p == y).mean()),
                     "digits_accuracy": float((p[digits] == y[digits]).mean()),
                     "symbols_accuracy": float((p[symbols] == y[symbols]).mean()),
                     "per_class": per, "confusion": cm.tolist()}
        table[name] = per
        fig, ax = plt.subplots(figsize=(8, 7))
        ax.imshow(np.log1p(cm), cmap="Blues")
        labels = [f"${n}$" if n.startswith("\\") else n for n in NAMES]
        ax.set_xticks(range(20), labels)
        ax.set_yticks(range(20), labels)
        for i in range(20):
            for j in range(20):
                if cm[i, j]:
                    ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=6,
                            color="white" if i == j else "red")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"math-symbols model on {name} (log colour, counts)")
        fig.tight_layout()
        fig.savefig(f"{out}/confusion-{name}.png", dpi=100)
    json.dump(doc, open(f"{out}/per_class.json", "w"), indent=1)
    names = [n for n, _ in sets]
    lines = ["| class | " + " | ".join(f"{n}: accuracy (images)" for n in names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for c in NAMES:
        lines.append(f"| `{c}` | " + " | ".join(f"{100 * table[n][c]['accuracy']:.1f}% ({table[n][c]['n']})"
                                               for n in names) + " |")
    for key, label in (("digits_accuracy", "digits"), ("symbols_accuracy", "generated symbols"),
                       ("accuracy", "all")):
        lines.append(f"| **{label}** | " + " | ".join(f"**{100 * doc[n][key]:.2f}%**" for n in names) + " |")
    open(f"{out}/per_class.md", "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
