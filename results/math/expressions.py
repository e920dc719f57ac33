#!/usr/bin/python3
"""Handwritten expressions composed from held-out glyph images, and their score.

  expressions.py compose DATASET OUT_DIR N [SEED [SPLIT]]
      Writes OUT_DIR/NNNN.png (dark ink on white, like a drawing on the page)
      and OUT_DIR/truth.json: N random expressions of 3-12 glyphs (numbers
      with decimal points, + - \\times \\div, brackets, x, y, an optional
      "= number"). Each glyph is a test-split image of DATASET (a math-symbols
      dataset: digits and generated symbols the training never saw), cropped
      to its ink, scaled to the size the symbol has in handwriting (a digit 1
      line height, a minus half of it, a point 0.15) and placed on one line
      with random gaps, line height and vertical jitter.
  expressions.py score TRUTH.json PREDICTIONS.json OUT.json
      Exact match of the glyph sequences (hpcnn predict --expression --json),
      the errors by kind, and the worst examples.
"""
import glob
import json
import sys

import h5py
import numpy as np
from PIL import Image

# Digits, brackets and variables are scaled to a height, the operators by their
# longer side (a flat 2 is as tall as a 1; a minus is as long as it is long).
# Sizes and vertical centres are in line heights (y down, 0 = line middle).
BY_HEIGHT = set("0123456789()xy")
SIZE = {"(": 1.2, ")": 1.2, "x": 0.65, "y": 0.9, "+": 0.6, "-": 0.5, "\\times": 0.5, "\\div": 0.6, "=": 0.6, ".": 0.15}
CENTRE = {".": 0.42, "y": 0.15}
OPS = ["+", "-", "\\times", "\\div"]


def random_number(rng):
    n = [str(rng.integers(1, 10))] + [str(rng.integers(0, 10)) for _ in range(rng.integers(0, 3))]
    if rng.random() < 0.2:
        n += ["."] + [str(rng.integers(0, 10))]
    return n


def random_term(rng, depth=0):
    r = rng.random()
    if r < 0.2:
        return [["x", "y"][rng.integers(0, 2)]]
    if r < 0.35 and depth < 1:
        return ["("] + random_expr(rng, depth + 1) + [")"]
    return random_number(rng)


def random_expr(rng, depth=0):
    out = random_term(rng, depth)
    for _ in range(rng.integers(1, 3)):
        out += [OPS[rng.integers(0, len(OPS))]] + random_term(rng, depth)
    return out


def random_tokens(rng):
    while True:
        t = random_expr(rng)
        if rng.random() < 0.5:
            t += ["="] + random_number(rng)
        if 3 <= len(t) <= 12:
            return t


def load_split(dataset, split):
    xs, ys = [], []
    for f in sorted(glob.glob(f"{dataset}/{split}*.h5")):
        with h5py.File(f, "r") as h:
            xs.append(h["samples"][:].reshape(-1, 28, 28))
            ys.append(h["labels"][:])
    return np.concatenate(xs), np.concatenate(ys)


def render(tokens, x, by_class, names, rng):
    """One line of handwriting: dark ink on white, uint8."""
    line = int(rng.integers(36, 72))  # line height in pixels
    pieces = []
    for t in tokens:
        pool = by_class[names.index(t)]
        img = x[pool[rng.integers(0, len(pool))]].astype(np.float32)
        ys_, xs_ = np.nonzero(img >= 13)
        img = img[ys_.min():ys_.max() + 1, xs_.min():xs_.max() + 1]
        size = SIZE.get(t, 1.0) * line * rng.uniform(0.9, 1.1)
        s = size / (img.shape[0] if t in BY_HEIGHT else max(img.shape))
        w, h = max(2, round(img.shape[1] * s)), max(2, round(img.shape[0] * s))
        pieces.append((t, np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))))
    gaps = [int(rng.uniform(0.15, 0.45) * line) for _ in pieces]
    width = sum(p.shape[1] for _, p in pieces) + sum(gaps) + 2 * line
    canvas = np.zeros((2 * line, width), np.float32)
    cx = line
    for (t, p), gap in zip(pieces, gaps):
        cy = line + (CENTRE.get(t, 0.0) + rng.uniform(-0.05, 0.05)) * line
        top = int(round(cy - p.shape[0] / 2))
        region = canvas[top:top + p.shape[0], cx:cx + p.shape[1]]
        np.maximum(region, p, out=region)
        cx += p.shape[1] + gap
    return (255 - np.clip(canvas, 0, 255)).astype(np.uint8)


def load_test(dataset, split="test"):
    names = json.load(open(f"{dataset}/manifest.json"))["class_names"]
    x, y = load_split(dataset, split)
    return x, {c: list(np.flatnonzero(y == c)) for c in range(len(names))}, names


def compose(dataset, out_dir, n, seed=1, split="test"):
    x, by_class, names = load_test(dataset, split)
    rng = np.random.default_rng(seed)
    truth = []
    for i in range(n):
        tokens = random_tokens(rng)
        Image.fromarray(render(tokens, x, by_class, names, rng)).save(f"{out_dir}/{i:04d}.png")
        truth.append({"file": f"{i:04d}.png", "tokens": tokens})
    json.dump(truth, open(f"{out_dir}/truth.json", "w"))


def compose_one(dataset, tokens, path, rng):
    x, by_class, names = load_test(dataset)
    Image.fromarray(render(tokens, x, by_class, names, rng)).save(path)


def score(truth_file, predictions_file, out_file):
    truth = {t["file"]: t["tokens"] for t in json.load(open(truth_file))}
    doc = json.load(open(predictions_file))
    rows, exact, glyph_errors, count_errors = [], 0, {}, 0
    for t in doc["transcriptions"]:
        name = t["file"].split("/")[-1]
        want, got = truth[name], [g["latex"] for g in t["glyphs"]]
        ok = want == got
        exact += ok
        if len(want) != len(got):
            count_errors += 1
        elif not ok:
            for a, b in zip(want, got):
                if a != b:
                    glyph_errors[f"{a} -> {b}"] = glyph_errors.get(f"{a} -> {b}", 0) + 1
        if not ok:
            rows.append({"file": name, "truth": " ".join(want), "latex": t["latex"]})
    n = len(doc["transcriptions"])
    result = {"expressions": n, "exact_match": exact, "exact_match_rate": exact / n,
              "wrong_glyph_count": count_errors,
              "glyph_confusions": dict(sorted(glyph_errors.items(), key=lambda kv: -kv[1])),
              "glyphs": sum(len(v) for v in truth.values()), "failures": rows[:40]}
    json.dump(result, open(out_file, "w"), indent=1)
    print(f"exact match: {exact}/{n} = {100 * exact / n:.1f}% (wrong glyph count: {count_errors}); "
          f"confusions: {list(result['glyph_confusions'].items())[:6]}")


if __name__ == "__main__":
    if sys.argv[1] == "compose":
        compose(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 1,
                sys.argv[6] if len(sys.argv) > 6 else "test")
    else:
        score(*sys.argv[2:5])
