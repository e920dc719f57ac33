#!/usr/bin/env bash
# The math-character tool end to end without any downloaded digit set: a
# math-symbols dataset of generated symbols only (no --digits), a small model,
# then an expression composed from held-out test glyphs, "(x + y) = x",
# transcribed by `hpcnn predict --expression` and by POST /transcribe (the
# same LaTeX, boxes and alternatives); the server's limits and errors apply to
# /transcribe; KaTeX is served locally when libjs-katex is installed; and, with
# Chromium, the page: strokes drawn with the mouse on the expression canvas,
# Transcribe, the LaTeX (same as `hpcnn predict --expression` on the canvas
# PNG), the boxes and the rendered formula element; Clear clears. The browser
# part is skipped (reported) without Chromium, its driver or Selenium.
source "$(dirname "$0")/serve_lib.sh"
: "${PYTHON:?set PYTHON to a python3 with h5py}"
OUT="${TEST_OUTPUT_DIR:-$WORK/test-output}/serve_math"
rm -rf "$OUT"
mkdir -p "$OUT"

"$HPCNN" data synth math-symbols -q --train 3000 --test 500 --out sym > /dev/null
"$HPCNN" train -q --model "conv:16x3 relu maxpool:2 flatten dense:64 relu dense:20" --data sym --epochs 3 \
  --batch 32 --threads 1 --out run > /dev/null
PYTHONPATH="$SOURCE_DIR/results/math:$PYTHONPATH" "$PYTHON" - << 'PY'
import json
import numpy as np
import expressions
from PIL import Image
tokens = ["(", "x", "+", "y", ")", "=", "x"]
x, by_class, names = expressions.load_test("sym")
rng = np.random.default_rng(3)
Image.fromarray(expressions.render(tokens, x, by_class, names, rng)).save("expr.png")
Image.fromarray(np.full((60, 200), 255, np.uint8)).save("blank.png")
PY

# The CLI.
"$HPCNN" predict -q -c run/model.h5 --expression expr.png > cli.txt && pass || fail "predict --expression"
grep -qF 'expr.png  (x + y) = x' cli.txt && pass || fail "predict --expression: $(cat cli.txt)"
"$HPCNN" predict -q -c run/model.h5 --expression --json --top-k 2 expr.png > cli.json && pass || fail "--json"
"$PYTHON" - << 'PY' && pass || fail "predict --expression --json: $(head -c 600 cli.json)"
import json
t = json.load(open("cli.json"))["transcriptions"][0]
assert t["latex"] == "(x + y) = x", t["latex"]
assert len(t["glyphs"]) == 7, [g["latex"] for g in t["glyphs"]]
assert all(len(g["alternatives"]) == 2 for g in t["glyphs"])
xs = [g["box"][0] for g in t["glyphs"]]
assert xs == sorted(xs), xs
PY
rc=0
"$HPCNN" predict -q -c run/model.h5 --expression blank.png > blank.txt 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q "blank.png: blank image" blank.txt && pass || fail "blank expression: $(cat blank.txt)"

# The server: the same answer, and the usual limits and errors.
start_server run/model.h5 --max-request-bytes 65536
curl -s --data-binary @expr.png -H 'Content-Type: image/png' "${URL}transcribe" > http.json
"$PYTHON" - << 'PY' && pass || fail "POST /transcribe: $(head -c 600 http.json)"
import json
a, b = json.load(open("http.json")), json.load(open("cli.json"))["transcriptions"][0]
assert a["format"] == "hpcnn-transcription" and a["latex"] == b["latex"], (a.get("latex"), b["latex"])
assert [g["box"] for g in a["glyphs"]] == [g["box"] for g in b["glyphs"]]
PY
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[[ $(status --data-binary @blank.png -H 'Content-Type: image/png' "${URL}transcribe") == 422 ]] && pass || fail "blank: 422"
[[ $(status --data-binary 'not a png' -H 'Content-Type: image/png' "${URL}transcribe") == 400 ]] && pass || fail "not a PNG: 400"
[[ $(status --data-binary 'hello' -H 'Content-Type: text/plain' "${URL}transcribe") == 415 ]] && pass || fail "text: 415"
head -c 70000 /dev/zero > big.bin
[[ $(status --data-binary @big.bin -H 'Content-Type: image/png' "${URL}transcribe") == 413 ]] && pass || fail "too big: 413"
[[ $(status "${URL}transcribe") == 405 ]] && pass || fail "GET /transcribe: 405"
[[ $(status --data-binary @expr.png -H 'Content-Type: image/png' "${URL}transcribe?top_k=99") == 400 ]] && pass ||
  fail "top_k=99: 400"
[[ $(status "${URL}katex/..%2Fkatex.min.js") == 404 ]] && pass || fail "/katex/ outside its folder: 404"
if [[ -f /usr/share/javascript/katex/katex.min.js ]]; then
  [[ $(status "${URL}katex/katex.min.js") == 200 ]] && pass || fail "/katex/katex.min.js"
  [[ $(status "${URL}katex/fonts/KaTeX_Main-Regular.woff2") == 200 ]] && pass || fail "/katex/fonts/"
fi

# The page in Chromium.
if command -v chromium > /dev/null && command -v chromedriver > /dev/null && "$PYTHON" -c "import selenium" 2> /dev/null; then
  timeout 120 "$PYTHON" "$SERVE_DIR/serve_math_browser.py" "$URL" "$OUT" > page.log 2>&1 \
    && pass || fail "browser session: $(tail -20 page.log)"
  "$HPCNN" predict -q -c run/model.h5 --expression --json "$OUT/canvas.png" > canvas.json
  "$PYTHON" - "$OUT/page.json" << 'PY' && pass || fail "the page: $(cat "$OUT/page.json")"
import json, sys
page = json.load(open(sys.argv[1]))
cli = json.load(open("canvas.json"))["transcriptions"][0]
print("page:", page["latex"], "| hpcnn predict --expression on the canvas PNG:", cli["latex"])
assert page["latex"] == cli["latex"], (page["latex"], cli["latex"])
assert page["latex"] == "(x + y) = x", page["latex"]
assert page["boxes"] == len(cli["glyphs"]) == 7, (page["boxes"], len(cli["glyphs"]))
assert page["status"] == "", page["status"]
assert page["formula_katex"] or page["formula_text"] == page["latex"], page
assert page["after_clear"] == [0, ""], page["after_clear"]
PY
  echo "screenshot: $OUT/screenshot.png"
else
  echo "browser part skipped: chromium, chromedriver or python3-selenium missing"
fi
kill -0 "$SERVER_PID" && pass || fail "the server died: $(cat serve.err)"
stop_server
finish
