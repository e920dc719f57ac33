#!/usr/bin/env python3
"""Drives hpcnn serve's page in headless Chromium through chromium-driver (WebDriver).

Draws strokes on the canvas with pointer actions (as a mouse would), presses
Predict, waits for the answer, and records what the page shows: the answer,
its class, the bars, whether the 28x28 preview is non-blank, the canvas as a
PNG (to check against `hpcnn predict`), and a screenshot. Then presses Clear
and checks that everything is cleared. Every wait is bounded.

    serve_browser.py URL OUT_DIR [--shape one|trousers|bag]
writes OUT_DIR/screenshot.png, OUT_DIR/canvas.png and OUT_DIR/page.json.
"""
import argparse
import base64
import json
import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Polylines in canvas pixels (the canvas is 280 x 280).
SHAPES = {
    # A digit one: the up-stroke and the long down-stroke.
    "one": [[(115, 75), (150, 40), (150, 245)]],
    # Trousers, the legs filled in with strokes (Fashion-MNIST's clothes are
    # filled silhouettes: an outline of trousers looks like a dress to the model).
    "trousers": [[(95, 35), (185, 35)], [(100, 45), (180, 45)], [(110, 60), (170, 60)],
                 [(100, 40), (92, 250)], [(112, 40), (104, 250)], [(124, 50), (116, 250)],
                 [(180, 40), (188, 250)], [(168, 40), (176, 250)], [(156, 50), (164, 250)]],
    # A bag: a box and a handle.
    "bag": [[(60, 110), (220, 110), (220, 240), (60, 240), (60, 110)], [(100, 110), (110, 60), (170, 60), (180, 110)]],
}


def make_driver(user_data_dir):
    opts = Options()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={user_data_dir}", "--window-size=960,560", "--hide-scrollbars",
                "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    service = Service(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def draw(driver, canvas, strokes, width=280, height=280):
    """Strokes (polylines in the canvas's own width x height pixels) as pointer drags.
    W3C actions measure offsets from the element's centre; the canvas may be shown scaled."""
    size = canvas.size
    sx, sy = size["width"] / float(width), size["height"] / float(height)
    for stroke in strokes:
        points = []  # interpolate, so the page gets a stream of pointermove events
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            n = max(2, int(max(abs(x1 - x0), abs(y1 - y0)) / 8))
            points += [(x0 + (x1 - x0) * t / n, y0 + (y1 - y0) * t / n) for t in range(n)]
        points.append(stroke[-1])
        chain = ActionChains(driver, duration=10)
        off = [(int(x * sx - size["width"] / 2), int(y * sy - size["height"] / 2)) for x, y in points]
        chain.move_to_element_with_offset(canvas, *off[0]).click_and_hold()
        for x, y in off[1:]:
            chain.move_to_element_with_offset(canvas, x, y)
        chain.release().perform()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="one")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="hpcnn-chromium-")
    driver = make_driver(profile)
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(a.url)
        wait.until(lambda d: d.find_element(By.ID, "model").text.startswith("Model "))
        model_line = driver.find_element(By.ID, "model").text
        canvas = driver.find_element(By.ID, "canvas")
        draw(driver, canvas, SHAPES[a.shape])
        dark = driver.execute_script(
            "const d = document.getElementById('canvas').getContext('2d').getImageData(0, 0, 280, 280).data;"
            "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n;")
        if dark < 200:
            sys.exit(f"the strokes left only {dark} dark pixels on the canvas")

        driver.find_element(By.ID, "predict").click()
        answer = wait.until(lambda d: d.find_element(By.ID, "answer").get_attribute("data-class") and
                            d.find_element(By.ID, "answer"))
        page = {
            "model_line": model_line,
            "answer": answer.text,
            "class": int(answer.get_attribute("data-class")),
            "status": driver.find_element(By.ID, "status").text,
            "bars": len(driver.find_elements(By.CSS_SELECTOR, "#bars .bar")),
            "top_bars": len(driver.find_elements(By.CSS_SELECTOR, "#bars .bar.top")),
            "preview_ink": driver.execute_script(
                "const c = document.getElementById('input');"
                "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                "let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i]; return [c.width, c.height, s];"),
            "dark_canvas_pixels": dark,
        }
        data_url = driver.execute_script("return document.getElementById('canvas').toDataURL('image/png');")
        with open(os.path.join(a.out, "canvas.png"), "wb") as f:
            f.write(base64.b64decode(data_url.split(",", 1)[1]))
        driver.save_screenshot(os.path.join(a.out, "screenshot.png"))

        # Clear: the canvas is white again and the answer is gone.
        driver.find_element(By.ID, "clear").click()
        page["after_clear"] = driver.execute_script(
            "const d = document.getElementById('canvas').getContext('2d').getImageData(0, 0, 280, 280).data;"
            "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250) n++;"
            "return [n, document.getElementById('answer').textContent, document.querySelectorAll('#bars .bar').length];")
        # Predict on the cleared canvas: the page asks for a drawing instead of answering.
        driver.find_element(By.ID, "predict").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("Draw something"))
        page["blank_status"] = driver.find_element(By.ID, "status").text
        with open(os.path.join(a.out, "page.json"), "w") as f:
            json.dump(page, f, indent=2)
        print(json.dumps(page))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
