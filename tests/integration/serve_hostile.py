"""Hostile clients against a running `hpcnn serve` (issues 26 items 9-12, 32 item 6).

python3 serve_hostile.py CHECK URL PID: runs one check, exit 0 when it holds.
Each check failed against cpp-httplib's server (main 9f91d3b).
"""
import os, re, socket, sys, threading, time
from urllib.parse import urlparse

check, url, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urlparse(url)
HOST, PORT = u.hostname, u.port
H = f"Host: {HOST}:{PORT}\r\n".encode()


def hwm_kib():
    """The server's peak resident memory (VmHWM), KiB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def exchange(data, timeout=5):
    """Sends bytes on a fresh connection and returns all it answers until it closes or goes quiet."""
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                return out
            out += piece
            if b"Connection: keep-alive" in out and out.count(b"\r\n\r\n") >= 1 and out.endswith(b"}"):
                return out
    except (socket.timeout, ConnectionResetError):
        return out
    finally:
        s.close()


def get_info(timeout):
    t0 = time.time()
    reply = exchange(b"GET /info HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", timeout)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:80]
    return time.time() - t0


def stream(head, pieces, limit_bytes):
    """Sends head, then pieces() until the server stops taking them or limit_bytes; a thread reads
    the answer meanwhile (before a reset can destroy it). Returns (answer, bytes sent)."""
    s = socket.create_connection((HOST, PORT), timeout=10)
    answer = []

    def reader():
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    return
                answer.append(got)
        except OSError:
            return

    t = threading.Thread(target=reader)
    t.start()
    sent = 0
    try:
        s.sendall(head)
        for piece in pieces():
            s.sendall(piece)
            sent += len(piece)
            if sent >= limit_bytes or answer:
                break
    except OSError:
        pass
    t.join(10)
    s.close()
    return b"".join(answer), sent


def flood_is_cut(head, piece, count, status):
    """Streams head then `count` copies of piece: the server answers `status` before taking it all,
    its peak RSS grows by under 16 MiB, and it still answers afterwards. Returns (bytes sent, KiB grown)."""
    before = hwm_kib()
    answer, sent = stream(head, lambda: iter([piece] * count), count * len(piece))
    grew = hwm_kib() - before
    assert answer.startswith(b"HTTP/1.1 " + status), (answer[:80], sent)
    assert grew < 16 << 10, f"peak RSS grew by {grew} KiB"
    get_info(timeout=3)
    return sent, grew


def slow_sockets(n):
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, PORT), timeout=5)
        socks.append(s)
    return socks


def drip(socks, stop):
    """One header byte per second on each socket (slowloris)."""
    text = b"GET /info HTTP/1.1\r\n" + H + b"X-Slow: " + b"a" * 1000
    i = 0
    while not stop.is_set() and i < len(text):
        for s in socks:
            try:
                s.send(text[i : i + 1])
            except OSError:
                pass
        i += 1
        stop.wait(1.0)


if check == "slowloris":
    # 16 (= --http-threads) sockets dripping a header, then 200 idle ones: a normal request still answers.
    slow = slow_sockets(16)
    stop = threading.Event()
    t = threading.Thread(target=drip, args=(slow, stop))
    t.start()
    idle = slow_sockets(200)
    time.sleep(2.5)
    try:
        for _ in range(3):
            took = get_info(timeout=3)
            assert took < 3, took
            time.sleep(1)
    finally:
        stop.set()
        t.join()
        for s in slow + idle:
            s.close()
    print("ok")

elif check == "deadline":
    # One header byte every 0.4 s: each read is quick, but the whole request must arrive within
    # --timeout 3 s: 408 and the connection closed by then (a per-read timeout never fires).
    s = socket.create_connection((HOST, PORT), timeout=1)
    text = b"GET /info HTTP/1.1\r\n" + H + b"X-Slow: " + b"a" * 100
    t0, answer = time.time(), b""
    for i in range(len(text)):
        try:
            s.send(text[i : i + 1])
            answer += s.recv(4096)
            break
        except socket.timeout:
            pass
        except OSError:
            break
        if time.time() - t0 > 8:
            break
        time.sleep(0.4)
    took = time.time() - t0
    s.close()
    assert answer.startswith(b"HTTP/1.1 408") and took < 5, (answer[:80], took)
    print("ok", round(took, 1))

elif check == "chunked":
    # 64 MB chunked against the 4 MB default limit: 413, and the peak RSS barely moves.
    chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
    head = b"POST /predict HTTP/1.1\r\n" + H + b"Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    print("ok", *flood_is_cut(head, chunk, 1024, b"413"))

elif check == "content-length":
    t0 = time.time()
    reply = exchange(b"POST /predict HTTP/1.1\r\n" + H + b"Content-Length: -5\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and time.time() - t0 < 1, (reply[:80], time.time() - t0)
    reply = exchange(b"POST /predict HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    reply = exchange(b"POST /predict HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\nhello")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    print("ok")

elif check == "host":
    for bad in [b"Host: evil.example\r\n", b"Host: evil.example:%d\r\n" % PORT, b"Host: 127.0.0.1:1\r\n"]:
        reply = exchange(b"GET /info HTTP/1.1\r\n" + bad + b"\r\n")
        assert reply.startswith(b"HTTP/1.1 421"), (bad, reply[:80])
    reply = exchange(b"GET /info HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    for good in [b"localhost", b"127.0.0.1", b"[::1]"]:
        reply = exchange(b"GET /info HTTP/1.1\r\nHost: " + good + b":%d\r\nConnection: close\r\n\r\n" % PORT)
        assert reply.startswith(b"HTTP/1.1 200"), (good, reply[:80])
    print("ok")

elif check == "origin":
    # A cross-origin text/plain POST (no CORS preflight in a browser): 403 before the body is looked at.
    body = b"hello"
    for origin in [b"http://evil.example", b"null", b"http://127.0.0.1:1"]:
        reply = exchange(b"POST /predict HTTP/1.1\r\n" + H + b"Origin: " + origin +
                         b"\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n" + body)
        assert reply.startswith(b"HTTP/1.1 403"), (origin, reply[:80])
    reply = exchange(b"GET /info HTTP/1.1\r\n" + H + b"Origin: http://evil.example\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 403"), reply[:80]
    # The server's own origin (the page's fetch) is served.
    own = f"http://{HOST}:{PORT}".encode()
    reply = exchange(b"GET /info HTTP/1.1\r\n" + H + b"Origin: " + own + b"\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200"), reply[:80]
    print("ok")

elif check == "headers":
    # 101 header lines: 431. An endless header stream: 431 after 16 KiB, memory untouched.
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(101))
    reply = exchange(b"GET /info HTTP/1.1\r\n" + H + many + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431"), reply[:80]
    block = (b"X-Junk: " + b"a" * 1000 + b"\r\n") * 64
    print("ok", *flood_is_cut(b"GET /info HTTP/1.1\r\n" + H, block, 5000, b"431"))

elif check == "pipelining":
    # Three requests in one write: all three answered, in order (the server keeps pipelined requests).
    reqs = b"GET /info HTTP/1.1\r\n" + H + b"\r\n"
    reqs += b"GET /nowhere HTTP/1.1\r\n" + H + b"\r\n"
    reqs += b"GET /info HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(reqs)
    out = b""
    while True:
        piece = s.recv(65536)
        if not piece:
            break
        out += piece
    s.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
    assert statuses == [b"200", b"404", b"200"], (statuses, out[:200])
    print("ok")

elif check == "methods":
    for method, path, allow in [(b"PUT", b"/predict", b"POST"), (b"DELETE", b"/predict", b"POST"),
                                (b"PUT", b"/", b"GET, HEAD"), (b"DELETE", b"/info", b"GET, HEAD"),
                                (b"GET", b"/predict", b"POST")]:
        reply = exchange(method + b" " + path + b" HTTP/1.1\r\n" + H + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 405"), (method, path, reply[:80])
        assert b"\r\nAllow: " + allow + b"\r\n" in reply, (method, path, reply[:300])
    reply = exchange(b"PUT /nowhere HTTP/1.1\r\n" + H + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 404"), reply[:80]
    print("ok")

elif check == "sigterm":
    # Slow clients connected (dripping headers, stalled mid-body, and one that never reads its
    # answers): SIGTERM ends the process within 2 s.
    slow = slow_sockets(16)
    stop = threading.Event()
    t = threading.Thread(target=drip, args=(slow, stop))
    t.start()
    stalled = socket.create_connection((HOST, PORT))
    stalled.sendall(b"POST /predict HTTP/1.1\r\n" + H + b"Content-Length: 100000\r\n\r\n" + b"\0" * 100)
    greedy = socket.create_connection((HOST, PORT))
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    greedy.sendall((b"GET / HTTP/1.1\r\n" + H + b"\r\n") * 200)
    time.sleep(2)
    t0 = time.time()
    os.kill(pid, 15)
    gone = False
    while time.time() - t0 < 5:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "Z"
        if state in ("Z", "X"):
            gone = True
            break
        time.sleep(0.05)
    took = time.time() - t0
    stop.set()
    t.join()
    for s in slow + [stalled, greedy]:
        s.close()
    assert gone and took < 2, f"still running {took:.1f} s after SIGTERM"
    print("ok", round(took, 2))

else:
    sys.exit(f"unknown check {check}")
