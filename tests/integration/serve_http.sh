#!/usr/bin/env bash
# hpcnn serve over real sockets: it prints its URL and binds to localhost
# only, serves the page and /info, answers a PNG exactly as `hpcnn predict`
# answers the same file (and JSON pixels as the PNG), refuses oversized,
# truncated, stalled and non-image requests with a 4xx and keeps serving,
# refuses a port in use, and exits 0 on SIGTERM.
source "$(dirname "$0")/serve_lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3 with h5py}"

train_model run 300
"$PYTHON" -c "
from serve_png import drawing, test_samples, write_png
x, _ = test_samples('fm', 2)
write_png('shirt.png', drawing(x[1], rgb=True))"
"$HPCNN" predict -q -c run/model.h5 --json shirt.png > cli.json

start_server run/model.h5 --max-request-bytes 100000 --timeout 2
[[ $URL =~ ^http://127\.0\.0\.1:[0-9]+/$ ]] && pass || fail "URL line: $URL"

URL="$URL" timeout 60 "$PYTHON" - << 'PY' && pass || fail "HTTP checks"
import http.client, json, os, socket, time
from urllib.parse import urlparse
import numpy as np
from serve_png import drawing, test_samples

u = urlparse(os.environ["URL"])
host, port = u.hostname, u.port
H = f"Host: {host}:{port}\r\n".encode()

def request(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Type", ""), data

def raw(data, answer=True):
    """Sends raw bytes and returns the first bytes of the answer (or b"" when the server hangs up)."""
    s = socket.create_connection((host, port), timeout=10)
    try:
        s.sendall(data)
        return s.recv(65536) if answer else b""
    except ConnectionResetError:
        return b""
    finally:
        s.close()

status, kind, page = request("GET", "/")
assert status == 200 and kind.startswith("text/html") and b'id="canvas"' in page, (status, kind)
status, _, info = request("GET", "/info")
info = json.loads(info)
assert info["model"] == "tiny-cnn" and info["dataset"] == "fashion-mnist" and len(info["class_names"]) == 10, info
# The keys docs/formats.md lists, no more, no fewer.
assert set(info) == {"format", "version", "model", "dataset", "input_shape", "class_names", "framing", "framings",
                     "top_k", "max_body_bytes", "max_image_pixels", "page_mode", "katex"}, sorted(info)
assert info["page_mode"] == "glyph", info  # --page auto: a Fashion-MNIST model opens on one drawing

# The same PNG: the server's answer is the CLI's.
png = open("shirt.png", "rb").read()
status, kind, body = request("POST", "/predict", png, {"Content-Type": "image/png"})
assert status == 200 and kind == "application/json", (status, body)
served = json.loads(body)
assert set(served) == {"format", "version", "model", "class", "name", "probability", "top", "probabilities",
                       "class_names", "source", "input", "milliseconds"}, sorted(served)
assert set(served["input"]) == {"width", "height", "framing", "inverted", "pixels"}, sorted(served["input"])
assert set(served["source"]) == {"format", "width", "height"} and set(served["top"][0]) == {"class", "name", "probability"}
cli = json.load(open("cli.json"))["predictions"][0]
assert served["class"] == cli["class"] and served["name"] == cli["name"], (served["name"], cli["name"])
assert max(abs(a - b) for a, b in zip(served["probabilities"], cli["probabilities"])) < 1e-6
assert len(served["input"]["pixels"]) == 784 and served["input"]["inverted"] is True

# JSON pixels of the same picture: the same answer.
x, _ = test_samples("fm", 2)
pic = drawing(x[1])
body = json.dumps({"width": pic.shape[1], "height": pic.shape[0], "pixels": pic.ravel().tolist()})
status, _, _ = request("POST", "/predict", body, {"Content-Type": "application/json"})
assert status == 413, status   # 144,000 pixels as JSON text: over --max-request-bytes 100000
small = drawing(x[1], scale=3, left=5, top=5, width=100, height=100)
status, _, by_json = request("POST", "/predict?top_k=5", json.dumps(
    {"width": 100, "height": 100, "pixels": small.ravel().tolist()}), {"Content-Type": "application/json"})
from serve_png import png_bytes
status2, _, by_png = request("POST", "/predict?top_k=5", png_bytes(small), {"Content-Type": "image/png"})
assert status == status2 == 200, (status, status2)
assert json.loads(by_json)["probabilities"] == json.loads(by_png)["probabilities"]
assert len(json.loads(by_json)["top"]) == 5

# Wrong bodies: a 4xx with a JSON error, and the server keeps serving.
for body, kind, want in [(png[: len(png) // 2], "image/png", 400), (b"hello", "text/plain", 415),
                         (b"GIF89a", "image/png", 400), (b"[" * 50000, "application/json", 400),
                         (b'{"width": 2, "height": 2, "pixels": [1, 2]}', "application/json", 400),
                         (png_bytes(np.full((40, 40), 255, np.uint8)), "image/png", 422)]:
    status, kind_back, data = request("POST", "/predict", body, {"Content-Type": kind})
    assert status == want and "error" in json.loads(data), (body[:20], status, data)
status, _, data = request("GET", "/nowhere")
assert status == 404 and json.loads(data)["error"], data

# Oversized: refused from the header, before the body is read.
reply = raw(b"POST /predict HTTP/1.1\r\n" + H + b"Content-Type: image/png\r\nContent-Length: 5000000\r\n\r\n"
            + png[:1000])
assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
# A client that promises 10000 bytes, sends 100 and stalls: dropped after --timeout 2.
t0 = time.time()
s = socket.create_connection((host, port), timeout=10)
s.sendall(b"POST /predict HTTP/1.1\r\n" + H + b"Content-Type: image/png\r\nContent-Length: 10000\r\n\r\n" + png[:100])
try:
    leftover = s.recv(65536)
except (ConnectionResetError, socket.timeout):
    leftover = b""
s.close()
assert time.time() - t0 < 8, time.time() - t0
assert not leftover.startswith(b"HTTP/1.1 200"), leftover[:50]
# ... or hangs up half-way.
raw(b"POST /predict HTTP/1.1\r\n" + H + b"Content-Length: 10000\r\n\r\n" + png[:100], answer=False)
assert raw(b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")
status, _, _ = request("POST", "/predict", png, {"Content-Type": "image/png"})
assert status == 200, status
PY

# Localhost only: not reachable on this machine's other addresses.
other=$(hostname -I 2> /dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | head -1 || true)
if [[ -n $other ]]; then
  port=${URL##*:}
  port=${port%/}
  "$PYTHON" -c "
import socket, sys
try:
    socket.create_connection(('$other', $port), timeout=3).close()
except OSError:
    sys.exit(0)
sys.exit(1)" && pass || fail "serve is reachable on $other:$port"
fi

# A port in use: a one-line error, exit 1.
port=${URL##*:}
port=${port%/}
expect_exit 1 "cannot listen on 127.0.0.1:$port" timeout 20 "$HPCNN" serve -q -c run/model.h5 --port "$port"
expect_exit 2 "--port must be between 0 and 65535" "$HPCNN" serve -q -c run/model.h5 --port 70000
expect_exit 2 "--max-request-bytes must be between" "$HPCNN" serve -q -c run/model.h5 --max-request-bytes 10
kill -0 "$SERVER_PID" && pass || fail "the server died during the checks: $(cat serve.err)"
stop_server
finish
