#!/usr/bin/env python3
"""Drives the expression mode of hpcnn serve's page in headless Chromium.

Writes "(x + y) = x" with pointer strokes on the 840x240 expression canvas,
presses Transcribe, waits for the LaTeX and records what the page shows: the
LaTeX, the number of boxes, whether the formula was rendered by KaTeX, the
canvas as a PNG (to check against `hpcnn predict --expression`) and a
screenshot; then Clear. Every wait is bounded.

    serve_math_browser.py URL OUT_DIR [--expression letters|digits]
("digits" writes 12 \times (3 + 4), for a model that knows digits: results/math)
writes OUT_DIR/screenshot.png, OUT_DIR/canvas.png and OUT_DIR/page.json.
"""
import base64
import json
import math
import os
import shutil
import sys
import tempfile

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from serve_browser import draw, make_driver

W, H = 840, 240


def arc(cx, cy, rx, ry, a0, a1, n=12):
    return [(cx + rx * math.cos(a0 + (a1 - a0) * i / n), cy + ry * math.sin(a0 + (a1 - a0) * i / n)) for i in range(n + 1)]


def letter_x(left):
    # Two back-to-back curves meeting in the middle: ")(".
    return [arc(left, 120, 30, 42, -math.pi / 2, math.pi / 2), arc(left + 60, 120, 30, 42, 1.5 * math.pi, math.pi / 2)]


# "(x + y) = x" in canvas pixels; digits-high glyphs span about y 40..200.
STROKES = (
    [arc(110, 120, 45, 80, 0.75 * math.pi, 1.25 * math.pi)]            # (
    + letter_x(100)                                                    # x
    + [[(200, 120), (260, 120)], [(230, 90), (230, 150)]]              # +
    + [[(290, 80), (318, 130)], [(345, 80), (300, 195), (285, 185)]]   # y
    + [arc(330, 120, 45, 80, -0.25 * math.pi, 0.25 * math.pi)]         # )
    + [[(420, 105), (480, 105)], [(420, 135), (480, 135)]]             # =
    + letter_x(520)                                                    # x
)


def at(strokes, dx):
    return [[(x + dx, y) for x, y in s] for s in strokes]


ONE = [[(20, 70), (40, 45), (40, 195)]]
TWO = [arc(40, 85, 32, 38, math.pi * 1.1, math.pi * 2.25, 14) + [(8, 195), (78, 195)]]
THREE = [arc(38, 82, 32, 36, -math.pi * 0.9, math.pi * 0.5, 12) + arc(38, 158, 36, 38, -math.pi * 0.5, math.pi * 0.85, 12)]
FOUR = [[(45, 45), (8, 145), (75, 145)], [(55, 90), (55, 195)]]
TIMES = [[(10, 95), (60, 150)], [(60, 95), (10, 150)]]
PLUS = [[(5, 120), (65, 120)], [(35, 90), (35, 150)]]
OPEN = [arc(60, 120, 45, 80, 0.75 * math.pi, 1.25 * math.pi)]
CLOSE = [arc(-20, 120, 45, 80, -0.25 * math.pi, 0.25 * math.pi)]
# "12 \times (3 + 4)"
DIGITS = (at(ONE, 30) + at(TWO, 100) + at(TIMES, 210) + at(OPEN, 280) + at(THREE, 350) + at(PLUS, 460)
          + at(FOUR, 560) + at(CLOSE, 680))


def main():
    url, out = sys.argv[1], sys.argv[2]
    strokes = DIGITS if sys.argv[3:] == ["--expression", "digits"] else STROKES
    os.makedirs(out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="hpcnn-chromium-")
    driver = make_driver(profile)
    driver.set_window_size(1000, 820)
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(url)
        wait.until(lambda d: d.find_element(By.ID, "model").text.startswith("Model "))
        canvas = driver.find_element(By.ID, "expr-canvas")
        if not canvas.is_displayed():
            sys.exit("the page did not open on the expression canvas")
        draw(driver, canvas, strokes, W, H)
        driver.find_element(By.ID, "transcribe").click()
        wait.until(lambda d: d.find_element(By.ID, "glyphs").get_attribute("data-count"))
        page = {
            "latex": driver.find_element(By.ID, "latex").text,
            "boxes": int(driver.find_element(By.ID, "glyphs").get_attribute("data-count")),
            "glyphs": driver.find_element(By.ID, "glyphs").text,
            "formula_katex": len(driver.find_elements(By.CSS_SELECTOR, "#formula .katex")) > 0,
            "formula_text": driver.find_element(By.ID, "formula").text,
            "status": driver.find_element(By.ID, "expr-status").text,
        }
        data_url = driver.execute_script("return document.getElementById('expr-canvas').toDataURL('image/png');")
        with open(os.path.join(out, "canvas.png"), "wb") as f:
            f.write(base64.b64decode(data_url.split(",", 1)[1]))
        driver.save_screenshot(os.path.join(out, "screenshot.png"))
        driver.find_element(By.ID, "expr-clear").click()
        page["after_clear"] = driver.execute_script(
            "const d = document.getElementById('expr-canvas').getContext('2d').getImageData(0, 0, 840, 240).data;"
            "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250) n++;"
            "return [n, document.getElementById('latex').textContent];")
        with open(os.path.join(out, "page.json"), "w") as f:
            json.dump(page, f, indent=2)
        print(json.dumps(page))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
