"""One client must not be able to stall a node or grow it without bound (issue 8's probe):
pipelined floods of expensive requests, clients that never read their answers, pipelined
bodies behind a slow request, ping floods, sync floods, trickled bytes, duplicated
credentials, frames sent before `hello`. Each test reproduces a finding against real
processes and checks what must hold now: other clients served promptly, membership unchanged
as the other nodes see it, the node's RSS (sampled from /proc) bounded."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from relay import Client, Cluster, RawHTTP, RawWS, dm, error_code, poll

TEXT, PING = 0x1, 0x9

# Generous bounds: they catch stalls of seconds and growth of hundreds of MiB (what the probe
# saw), never a slow machine. Typical figures are in docs/OPERATIONS.md.
MAX_BYSTANDER_LATENCY_S = 1.0
MAX_RSS_GROWTH_MIB = 64


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("flood"), ids=["n1", "n2", "n3"], replication=2, shards=64)
    try:
        cluster.start_all()
        cluster.wait_formed(["n1", "n2", "n3"])
        yield cluster
    finally:
        cluster.stop_all()


def rss_mib(cluster: Cluster, nid: str = "n1") -> float:
    for line in open(f"/proc/{cluster.nodes[nid].proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Watch:
    """While a flood runs: a bystander's /healthz latency on the flooded node, the flooded
    node's peak RSS, and how the other nodes see the flooded node (state and incarnation: a
    suspicion, even refuted, raises the incarnation)."""

    def __init__(self, cluster: Cluster, target: str = "n1"):
        self.cluster, self.target = cluster, target
        self.latencies: list[float] = []
        self.rss_start = rss_mib(cluster, target)
        self.rss_peak = self.rss_start
        self.views: list[tuple[str, str, int]] = []
        self._stop = threading.Event()
        self._start_views = self._member_views()
        self._threads = [threading.Thread(target=self._probe, daemon=True),
                         threading.Thread(target=self._sample, daemon=True)]

    def _member_views(self) -> dict[str, tuple[str, int]]:
        out = {}
        for nid in self.cluster.nodes:
            if nid == self.target or not self.cluster.nodes[nid].alive:
                continue
            status = self.cluster.status(nid)
            member = next(m for m in status["members"] if m["id"] == self.target)
            out[nid] = (member["state"], member["incarnation"])
        return out

    def _probe(self):
        host, port = self.cluster.addr(self.target)
        while not self._stop.is_set():
            t0 = time.monotonic()
            with socket.create_connection((host, port), timeout=10) as c:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while c.recv(4096):
                    pass
            self.latencies.append(time.monotonic() - t0)
            self._stop.wait(0.02)

    def _sample(self):
        while not self._stop.is_set():
            self.rss_peak = max(self.rss_peak, rss_mib(self.cluster, self.target))
            for nid, view in self._member_views().items():
                self.views.append((nid, *view))
            self._stop.wait(0.1)

    def __enter__(self) -> "Watch":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def check(self, what: str) -> None:
        assert self.latencies, "the bystander was never answered"
        worst = max(self.latencies)
        assert worst < MAX_BYSTANDER_LATENCY_S, f"{what}: a bystander's /healthz took {worst * 1000:.0f} ms"
        growth = self.rss_peak - self.rss_start
        assert growth < MAX_RSS_GROWTH_MIB, f"{what}: RSS grew {growth:.0f} MiB"
        changed = [v for v in self.views if (v[1], v[2]) != self._start_views[v[0]]]
        assert not changed, f"{what}: other nodes' view of {self.target} changed: {changed[:3]}"


def pipeline(cluster: Cluster, request: bytes, count: int, connections: int, read: bool, nid: str = "n1",
             seconds: float = 30.0) -> int:
    """Sends `count` copies of `request` on each of `connections` sockets at once; with `read`,
    reads and counts the answers (by Content-Length), else never reads. Returns answers read."""
    socks = [socket.create_connection(cluster.addr(nid), timeout=0.5) for _ in range(connections)]
    if not read:
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deadline = time.monotonic() + seconds
    answered = [0] * connections
    expected = count * request.count(b" HTTP/1.1\r\n")

    def blast(s):
        data, off = request * count, 0
        while off < len(data) and time.monotonic() < deadline:
            try:
                off += s.send(data[off:off + 65536])
            except (socket.timeout, TimeoutError):
                if not read:
                    return  # the node stopped reading: what it should do
            except OSError:
                return

    def drain(i, s):
        buf = b""
        while answered[i] < expected and time.monotonic() < deadline:
            try:
                chunk = s.recv(1 << 20)
            except (socket.timeout, TimeoutError):
                continue
            if not chunk:
                return
            buf += chunk
            while (end := buf.find(b"\r\n\r\n")) >= 0:
                head = buf[:end].decode("latin-1").lower()
                length = int(head.split("content-length:")[1].split("\r\n")[0])
                if len(buf) < end + 4 + length:
                    break
                buf = buf[end + 4 + length:]
                answered[i] += 1

    threads = [threading.Thread(target=blast, args=(s,), daemon=True) for s in socks]
    if read:
        threads += [threading.Thread(target=drain, args=(i, s), daemon=True) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 5)
    for s in socks:
        s.close()
    return sum(answered)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


# ------------------------------------------------------------------ pipelined floods


def test_thousands_of_pipelined_shard_status_requests_do_not_stall_the_node(trio):
    """Finding 1: 1,500 pipelined GET /v1/cluster/shards stalled a node 2.4 s and the others
    declared it dead; four connections of 5,000 did the same. Now each answer is cached and
    each connection gets a share of a loop turn."""
    with Watch(trio) as watch:
        answered = pipeline(trio, get("/v1/cluster/shards"), 5_000, connections=4, read=True)
    assert answered == 20_000
    watch.check("4 x 5,000 pipelined shard status requests")


def test_pipelined_requests_that_are_never_read_do_not_grow_the_node(trio):
    """Finding 2: pipelining from a client that never reads grew a node by 160 MB (0.22 MB
    sent) and 510 MB over four connections. Now a connection stops being read while 1 MiB of
    its answers is unread."""
    with Watch(trio) as watch:
        pipeline(trio, get("/v1/cluster/shards"), 5_000, connections=4, read=False, seconds=8)
    watch.check("4 x 5,000 unread pipelined requests")


def test_a_flood_of_cheap_requests_leaves_other_clients_served(trio):
    with Watch(trio) as watch:
        answered = pipeline(trio, get("/healthz") + get("/metrics") + get("/v1/cluster"), 3_000, connections=4, read=True)
    assert answered == 36_000
    watch.check("4 x 9,000 pipelined cheap requests")


def test_bodies_pipelined_behind_a_slow_request_are_not_buffered(trio):
    """Finding 3: a login queued behind password hashes, then 150 MB of pipelined POSTs on the
    same connection, all buffered in 0.8 s (+160 MB). Now the connection reads at most 64 KiB
    ahead of the request being answered."""
    client = Client(trio)
    user, _ = client.new_user("slow")
    login = json.dumps({"user": user, "password": "correct horse"}).encode()
    login_req = (f"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(login)}\r\n\r\n").encode() + login
    body = b"x" * 200_000
    bulk_req = f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    with Watch(trio) as watch:
        s = socket.create_connection(trio.addr("n1"), timeout=0.5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sent = 0
        try:
            s.sendall(login_req * 40)  # 40 hashes in a row: seconds of answering
            chunk = bulk_req * 50  # 10 MB
            deadline = time.monotonic() + 5
            while sent < 150_000_000 and time.monotonic() < deadline:
                try:
                    sent += s.send(chunk[sent % len(chunk):])
                except (socket.timeout, TimeoutError):
                    continue
        finally:
            s.close()
    watch.check(f"a login then {sent / 1e6:.0f} MB of pipelined bodies")
    assert sent < 150_000_000, "the node kept reading everything while answering a login"


# ------------------------------------------------------------------ WebSocket floods


def test_a_ping_flood_from_a_client_that_never_reads_is_bounded(trio):
    """Finding 4: 200 MB of ping frames from a client that never reads grew a node from 43 to
    330 MB. Pongs now count against the output bound like every other frame."""
    client = Client(trio)
    _, token = client.new_user("pinger")
    hog = RawWS(trio, token)
    hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.sock.settimeout(0.5)
    pings = b"".join(RawWS.frame(PING, b"p" * 125) for _ in range(8_000))  # ~1 MB
    sent = 0
    with Watch(trio) as watch:
        deadline = time.monotonic() + 6
        while sent < 200_000_000 and time.monotonic() < deadline:
            try:
                sent += hog.sock.send(pings)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                break  # dropped: also allowed
    hog.close()
    watch.check(f"{sent / 1e6:.0f} MB of pings never read")
    assert sent < 200_000_000, "the node read 200 MB of pings without pushing back"


def test_a_sync_flood_is_refused_past_one_pending_sync(trio):
    """Finding 5: 300 syncs naming 10,000 conversations each, never read: +120 MB. Now the
    syncs a connection has in progress name at most 10,000 conversations together."""
    client = Client(trio)
    user, token = client.new_user("syncer")
    since = {dm(user, f"zz{i:05d}"): 0 for i in range(10_000)}
    frame = RawWS.frame(TEXT, json.dumps({"type": "sync", "since": since}).encode())
    hog = RawWS(trio, token)
    hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.sock.settimeout(0.5)
    with Watch(trio) as watch:
        for _ in range(300):
            try:
                hog.sock.sendall(frame)
            except (socket.timeout, TimeoutError, OSError):
                break
    hog.close()
    watch.check("300 syncs of 10,000 conversations")

    # A client that reads sees the refusal: the second full-size sync while the first streams.
    with client.ws(token) as ws:
        ws.send_json({"type": "sync", "since": since})
        ws.send_json({"type": "sync", "since": since, "client_id": "second"})
        err = ws.recv_until("error", where=lambda e: e.get("client_id") == "second", timeout=30)
        assert err["code"] == "rate_limited" and err["retry_after_ms"] > 0


# ------------------------------------------------------------------ timeouts


def test_blank_lines_and_trickled_bytes_do_not_extend_the_timeouts(trio):
    """Finding 8: a connection sending CRLF every 5 s outlived both timeouts. Now the request
    clock starts at the first byte (empty lines included) and only a whole request stops it:
    such a connection gets 408 and is closed after the 10 s request timeout."""
    blank = RawHTTP(trio, timeout_s=1)
    trickle = RawHTTP(trio, timeout_s=1)
    trickle_bytes = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    t0 = time.monotonic()
    i = 0
    closed = {}
    while len(closed) < 2 and time.monotonic() - t0 < 20:
        for name, conn, data in (("blank", blank, b"\r\n"), ("trickle", trickle, trickle_bytes[i:i + 1] or b"X")):
            if name in closed:
                continue
            try:
                conn.sock.sendall(data)
            except OSError:
                closed[name] = time.monotonic() - t0
                continue
            conn.sock.settimeout(0.01)
            try:
                chunk = conn.sock.recv(65536)
                if not chunk:
                    closed[name] = time.monotonic() - t0
                else:
                    conn.buf += chunk
            except (socket.timeout, TimeoutError, BlockingIOError):
                pass
            except ConnectionResetError:
                closed[name] = time.monotonic() - t0
        i += 1
        time.sleep(0.5)
    for name, conn in (("blank", blank), ("trickle", trickle)):
        assert name in closed, f"the {name} connection was still open after 20 s"
        assert 9 <= closed[name] <= 15, (name, closed[name])
        assert conn.buf.startswith(b"HTTP/1.1 408"), (name, conn.buf[:80])
        conn.close()


# ------------------------------------------------------------------ ambiguous input


def test_two_authorization_headers_are_refused(trio):
    client = Client(trio)
    _, token = client.new_user("twice")
    conn = RawHTTP(trio)
    conn.send(f"GET /v1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
              f"Authorization: Bearer {token}\r\n\r\n".encode())
    status, _, body = conn.read_response()
    conn.close()
    assert status == 400 and error_code(json.loads(body)) == "bad_request", body
    assert b"Authorization" in body


def test_two_token_parameters_are_refused(trio):
    client = Client(trio)
    _, token = client.new_user("twotok")
    conn = RawHTTP(trio)
    conn.send(f"GET /v1/ws?token={token}&token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    status, _, body = conn.read_response()
    conn.close()
    assert status == 400 and b"token" in body, body


def test_hello_is_the_first_frame_even_when_frames_come_with_the_upgrade(trio):
    """Finding 9: frames sent right after the 101 were answered before `hello`."""
    client = Client(trio)
    user, token = client.new_user("eager")
    conn = RawHTTP(trio)
    ping = RawWS.frame(TEXT, json.dumps({"type": "ping"}).encode())
    send = RawWS.frame(TEXT, json.dumps({"type": "send", "client_id": "early", "to": user, "kind": "text",
                                          "body": "before hello"}).encode())
    conn.send(f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
              + ping + send)
    ws = RawWS.__new__(RawWS)
    ws.sock, ws.buf = conn.sock, b""
    while b"\r\n\r\n" not in ws.buf:
        ws.buf += ws._recv()
    head, _, ws.buf = ws.buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    first = ws.read_json()
    assert first["type"] == "hello", first
    types = []
    while not {"pong", "ack"} <= set(types):
        assert len(types) < 6, f"no pong and ack after hello: {types}"
        types.append(ws.read_json()["type"])
    conn.close()
