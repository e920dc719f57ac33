#!/usr/bin/env bash
# The page in a real browser: hpcnn serve on a free localhost port, Debian's
# headless Chromium driven through chromium-driver (WebDriver, python3-selenium)
# draws a digit one on the canvas, presses Predict and reads the answer; the
# answer must be what `hpcnn predict` says about the same canvas as a PNG, the
# 28x28 preview must show ink, there must be a bar per class, and Clear must
# clear. The screenshot goes to $TEST_OUTPUT_DIR/serve_browser/ (ctest sets it
# to the build tree's test-output/). Skips (77) without Chromium, its driver or
# Selenium.
source "$(dirname "$0")/serve_lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3 with h5py}"
for tool in chromium chromedriver; do
  if ! command -v "$tool" > /dev/null; then
    echo "SKIP: $tool not installed (apt-get install chromium chromium-driver)"
    exit 77
  fi
done
if ! "$PYTHON" -c "import selenium" 2> /dev/null; then
  echo "SKIP: Selenium not importable by $PYTHON (apt-get install python3-selenium)"
  exit 77
fi
OUT="${TEST_OUTPUT_DIR:-$WORK/test-output}/serve_browser"
rm -rf "$OUT"
mkdir -p "$OUT"

train_model run 300
start_server run/model.h5
timeout 120 "$PYTHON" "$SERVE_DIR/serve_browser.py" "$URL" "$OUT" --shape one > page.log 2>&1 \
  && pass || fail "browser session: $(tail -20 page.log)"
echo "screenshot: $OUT/screenshot.png"

if [[ -f $OUT/page.json ]]; then
  "$HPCNN" predict -q -c run/model.h5 --json "$OUT/canvas.png" > cli.json
  "$PYTHON" - "$OUT/page.json" << 'PY' && pass || fail "the page's answer: $(cat "$OUT/page.json")"
import json, sys
page = json.load(open(sys.argv[1]))
cli = json.load(open("cli.json"))["predictions"][0]
print("page answer:", page["answer"], "| hpcnn predict on the canvas PNG:", cli["name"], round(cli["probability"], 4))
assert page["model_line"].startswith("Model tiny-cnn, trained on fashion-mnist"), page["model_line"]
assert page["class"] == cli["class"], (page["class"], cli["class"])
assert page["answer"] == f'{cli["name"]} \u2014 {100 * cli["probability"]:.1f}%', (page["answer"], cli)
assert page["bars"] == 10 and page["top_bars"] == 1, page
width, height, ink = page["preview_ink"]
assert (width, height) == (28, 28) and ink > 0, page["preview_ink"]
assert page["status"] == "", page["status"]
assert page["after_clear"] == [0, "", 0], page["after_clear"]
assert page["blank_status"].startswith("Draw something first"), page["blank_status"]
PY
  [[ -s $OUT/screenshot.png ]] && pass || fail "no screenshot"
fi
kill -0 "$SERVER_PID" && pass || fail "the server died: $(cat serve.err)"
stop_server
finish
