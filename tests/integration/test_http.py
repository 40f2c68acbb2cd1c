"""test_http.py - the operational endpoints under a flood of idle connections: /healthz and
/metrics keep answering within the liveness probe's 3 s while 2,000 idle connections are held
(epoll, no FD_SETSIZE ceiling), one peer address cannot take more than its share, and what
libmicrohttpd itself says reaches stderr as JSON lines."""
import json
import resource
import socket
import time
import urllib.request

from conftest import worker_env

IDLE = 2000
PEERS = 8           # 127.0.0.2 .. 127.0.0.9: 250 each, under the per-peer limit of 256
PER_PEER_LIMIT = 256


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def open_idle(port, peer, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        s.bind((peer, 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def get(port, path):
    t0 = time.monotonic()
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=3) as r:
        return r.status, r.read().decode(), time.monotonic() - t0


def peer_closed(s):
    """True when the server closed this connection (it reads EOF or a reset)."""
    s.settimeout(0.05)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def test_endpoints_answer_under_idle_connections(names, services):
    raise_fd_limit(IDLE + 1000)
    worker = services("recobro-testsum", worker_env(names))
    port = worker.port
    held = []
    try:
        per = IDLE // PEERS
        for i in range(PEERS):
            held += open_idle(port, "127.0.0.%d" % (i + 2), per)
        assert len(held) == IDLE
        for path in ("/healthz", "/readyz", "/metrics", "/healthz"):
            status, body, took = get(port, path)
            assert status == 200, path
            assert took < 3, "%s took %.2f s with %d idle connections" % (path, took, IDLE)
        # Held connections stay open (nobody was dropped to make room) ...
        assert sum(peer_closed(s) for s in held[:: per]) == 0
        # ... but one peer cannot take more than its share: past the limit, the server closes.
        greedy = open_idle(port, "127.0.0.10", PER_PEER_LIMIT + 40)
        held += greedy
        time.sleep(0.5)
        closed = sum(peer_closed(s) for s in greedy)
        assert closed >= 40, "only %d of the connections over the per-peer limit were refused" % closed
        assert get(port, "/healthz")[0] == 200
    finally:
        for s in held:
            s.close()
    assert get(port, "/healthz")[0] == 200
    # Everything the process wrote is a JSON line, libmicrohttpd's own messages included.
    worker.stop()
    lines = [l for l in worker.log_path.read_text().splitlines() if l.strip()]
    assert lines
    for line in lines:
        json.loads(line)
    assert any(json.loads(l).get("event") == "http.server" for l in lines), \
        "no libmicrohttpd message was logged (the per-peer refusals should say something)"
