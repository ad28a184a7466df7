"""Harness for Relay integration tests: real `relaynode` processes and an outside client.

Everything here talks to the node the way a third-party client would (PROTOCOL.md): HTTP/1.1
with JSON, RFC 6455 WebSockets, and raw sockets for bytes no well-behaved library will send.
Every network wait is bounded; a wait that runs out fails the test with what was seen.
"""
from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

REPO = Path(__file__).resolve().parent.parent

# How long a node gets to answer /healthz after exec (it opens its shard files first).
START_DEADLINE_S = 20.0
# How long a node gets to exit after SIGTERM (it commits what it accepted, then exits).
STOP_DEADLINE_S = 20.0
# Default bound on waiting for one event or one HTTP answer from a healthy local node.
EVENT_TIMEOUT_S = 5.0
# Event types that may arrive at any time and that ordering assertions skip by default.
BACKGROUND_EVENTS = frozenset({"presence", "typing"})

PASSWORD = "correct horse"


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it if pytest dies, so no node outlives a run."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def relaynode_binary() -> str:
    return os.environ.get("RELAYNODE", str(REPO / ".build" / "debug" / "relaynode"))


def _free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (gossip is UDP on its own port)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


_unique = itertools.count(1)
_run_tag = uuid.uuid4().hex[:6]


def unique_user(prefix: str = "u") -> str:
    """A fresh valid user id (lowercase, 3..32 chars) so tests sharing a node never collide."""
    return f"{prefix[:12]}_{_run_tag}{next(_unique)}"


def poll(deadline_s: float, what, interval_s: float = 0.05):
    """Yields attempt numbers until the caller breaks out (or returns); fails the test with
    `what` (a string, or a function giving one) once `deadline_s` has passed. Polling an
    observable state with a deadline is how tests wait for the cluster; the pause between
    attempts only spaces the polls out."""
    deadline = time.monotonic() + deadline_s
    attempt = 0
    while True:
        yield attempt
        attempt += 1
        if time.monotonic() >= deadline:
            pytest.fail(f"not within {deadline_s}s: {what() if callable(what) else what}")
        time.sleep(interval_s)


def dm(a: str, b: str) -> str:
    x, y = sorted([a, b], key=lambda s: s.encode())
    return f"dm:{x}:{y}"


# --------------------------------------------------------------------------------------------
# Processes


@dataclass
class Node:
    id: str
    client: int
    peer: int
    gossip: int
    data: Path
    log_path: Path
    proc: subprocess.Popen | None = None
    log_offset: int = 0  # where the current test's part of the log starts

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """A cluster config written to a tmp dir, and its nodes as child processes.

    `Cluster(tmp, ids=["n1", "n2", "n3"], joiners=["n4"])` is a 3-node cluster that n4 can
    join later (tests/test_cluster.py).
    """

    def __init__(self, tmp: Path, ids: Iterable[str] = ("n1",), replication: int = 1, shards: int = 16,
                 secret: str = "s3cret", name: str = "test", joiners: Iterable[str] = (), extra: dict | None = None):
        """`joiners`: nodes listed with `"initial": false` (not founders); start them with
        `start(nid, join=cluster.gossip_addr("n1"))` to grow the running cluster. `extra`: more
        config keys (e.g. `{"log_entries": 16}`)."""
        self.extra = dict(extra or {})
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.nodes: dict[str, Node] = {}
        self.initial: dict[str, bool] = {}
        self.name, self.secret, self.shards, self.replication = name, secret, shards, replication
        for nid in ids:
            self._new_node(nid, initial=True)
        for nid in joiners:
            self._new_node(nid, initial=False)
        self.config_path = self.tmp / "cluster.json"
        self.write_config(self.config_path)

    def _new_node(self, nid: str, initial: bool) -> Node:
        assert nid not in self.nodes, f"{nid} is already in the config"
        self.nodes[nid] = Node(id=nid, client=_free_port(), peer=_free_port(), gossip=_free_port(),
                               data=self.tmp / nid, log_path=self.tmp / f"{nid}.log")
        self.initial[nid] = initial
        return self.nodes[nid]

    def config(self, secret: str | None = None, name: str | None = None) -> dict:
        """The config as a dict; `secret`/`name` override the cluster's (for an impostor)."""
        nodes = []
        for n in self.nodes.values():
            entry = {"id": n.id, "client": f"127.0.0.1:{n.client}", "peer": f"127.0.0.1:{n.peer}",
                     "gossip": f"127.0.0.1:{n.gossip}", "data": str(n.data)}
            if not self.initial[n.id]:
                entry["initial"] = False
            nodes.append(entry)
        return {"cluster": name or self.name, "secret": self.secret if secret is None else secret,
                "shards": self.shards, "replication": self.replication, "nodes": nodes, **self.extra}

    def write_config(self, path: Path, **overrides) -> Path:
        Path(path).write_text(json.dumps(self.config(**overrides)))
        return Path(path)

    def add_node(self, nid: str, config_path: Path | None = None, **overrides) -> Node:
        """A node that is not a founder, with free ports. The config file is rewritten (running
        nodes read it only at start), or a separate one written at `config_path` with
        `overrides` (e.g. another `secret`); start it with `start(nid, join=..., config_path=...)`."""
        node = self._new_node(nid, initial=False)
        self.write_config(config_path or self.config_path, **overrides)
        return node

    # -- lifecycle

    def start(self, nid: str, wait: bool = True, join: str | None = None,
              config_path: Path | None = None) -> Node:
        """Starts `nid`; `join` (HOST:PORT, a member's gossip address) is passed as --join, and
        `config_path` replaces the cluster's config file."""
        node = self.nodes[nid]
        assert not node.alive, f"{nid} is already running"
        binary = relaynode_binary()
        if not os.access(binary, os.X_OK):
            pytest.fail(f"relaynode binary not found at {binary}; build it or set RELAYNODE")
        log = open(node.log_path, "ab")
        log.write(f"\n==== start {nid} at {time.strftime('%H:%M:%S')} ====\n".encode())
        log.flush()
        args = [binary, "--config", str(config_path or self.config_path), "--node", nid]
        if join is not None:
            args += ["--join", join]
        node.proc = subprocess.Popen(args,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.tmp, preexec_fn=_die_with_parent)
        log.close()
        if wait:
            self.wait_healthy(nid)
        return node

    def start_all(self) -> None:
        """Starts the founders (not the `joiners`, which join later)."""
        founders = [nid for nid in self.nodes if self.initial[nid]]
        for nid in founders:
            self.start(nid, wait=False)
        for nid in founders:
            self.wait_healthy(nid)

    def wait_healthy(self, nid: str, deadline_s: float = START_DEADLINE_S) -> None:
        node = self.nodes[nid]
        deadline = time.monotonic() + deadline_s
        last = "no answer"
        while time.monotonic() < deadline:
            if not node.alive:
                pytest.fail(f"{nid} exited with {node.proc.returncode} before answering /healthz\n"
                            f"{self.log_tail(nid)}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", node.client, timeout=1.0)
                conn.request("GET", "/healthz")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
                last = f"status {status}"
            except OSError as e:
                last = repr(e)
                # Connection refused returns at once: wait for the process instead of spinning.
                try:
                    node.proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
        pytest.fail(f"{nid} did not answer /healthz within {deadline_s}s ({last})\n{self.log_tail(nid)}")

    def kill(self, nid: str, sig: int = signal.SIGTERM, timeout_s: float = STOP_DEADLINE_S) -> int:
        """Send `sig` and wait for the exit; returns the exit status (negative: the signal)."""
        node = self.nodes[nid]
        assert node.proc is not None
        if node.proc.poll() is None:
            node.proc.send_signal(sig)
        try:
            return node.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(timeout=5)
            pytest.fail(f"{nid} did not exit within {timeout_s}s of signal {sig}\n{self.log_tail(nid)}")

    def stop_all(self) -> None:
        for node in self.nodes.values():
            if node.alive:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes.values():
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=STOP_DEADLINE_S)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(timeout=5)

    # -- addresses and logs

    def url(self, nid: str = "n1") -> str:
        return f"http://127.0.0.1:{self.nodes[nid].client}"

    def ws_url(self, nid: str = "n1") -> str:
        return f"ws://127.0.0.1:{self.nodes[nid].client}"

    def addr(self, nid: str = "n1") -> tuple[str, int]:
        return ("127.0.0.1", self.nodes[nid].client)

    def gossip_addr(self, nid: str = "n1") -> str:
        return f"127.0.0.1:{self.nodes[nid].gossip}"

    def status(self, nid: str = "n1") -> dict:
        """`GET /v1/cluster` of `nid`."""
        status, body = Client(self, nid).http("GET", "/v1/cluster")
        assert status == 200, f"GET /v1/cluster on {nid}: {status} {body}"
        return body

    def wait_formed(self, nids: Iterable[str], deadline_s: float = 20.0) -> dict[str, dict]:
        """Waits until every node in `nids` shows exactly `nids` alive and in the ring, the
        same ring, every shard led once, and each node serving all it leads (no pulls left)."""
        nids = sorted(nids)

        def formed(statuses: dict[str, dict]) -> bool:
            rings = {tuple(s["ring"]) for s in statuses.values()}
            if rings != {tuple(nids)}:
                return False
            for nid, s in statuses.items():
                members = {m["id"]: m for m in s["members"]}
                alive = sorted(m["id"] for m in s["members"] if m["state"] == "alive")
                if alive != nids or sum(m["shards_led"] for m in members.values()) != s["shards"]:
                    return False
                if s["local"]["shards_pulling"] or s["local"]["shards_serving"] != members[nid]["shards_led"]:
                    return False
            return True
        return self.wait_status(nids, formed, deadline_s, f"{nids} form one cluster")

    def wait_status(self, nids: Iterable[str], predicate, deadline_s: float = 15.0,
                    what: str = "the cluster state") -> dict[str, dict]:
        """Polls /v1/cluster of every node in `nids` until `predicate({nid: status})` holds;
        returns the statuses that satisfied it, or fails with the last ones seen."""
        nids = list(nids)
        statuses: dict[str, dict] = {}
        for _ in poll(deadline_s, lambda: f"{what}; last /v1/cluster: {json.dumps(statuses)}"):
            statuses = {nid: self.status(nid) for nid in nids}
            if predicate(statuses):
                return statuses
        raise AssertionError("unreachable")

    def client(self, nid: str = "n1") -> "Client":
        return Client(self, nid)

    def mark_logs(self) -> None:
        for node in self.nodes.values():
            node.log_offset = node.log_path.stat().st_size if node.log_path.exists() else 0

    def log_tail(self, nid: str, since_mark: bool = False, max_bytes: int = 20_000) -> str:
        node = self.nodes[nid]
        if not node.log_path.exists():
            return f"(no log for {nid})"
        data = node.log_path.read_bytes()
        if since_mark:
            data = data[node.log_offset:]
        return f"---- {nid} log ({node.log_path}) ----\n" + data[-max_bytes:].decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    raw: bytes
    json: Any = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def error_code(resp_json: Any) -> str | None:
    """The `code` of an HTTP error body `{"error":{"code":..,"message":..}}`, or None."""
    if isinstance(resp_json, dict) and isinstance(resp_json.get("error"), dict):
        return resp_json["error"].get("code")
    return None


class Client:
    """An outside client of one node: HTTP helpers, WebSocket connections."""

    def __init__(self, cluster: Cluster, nid: str = "n1"):
        self.cluster = cluster
        self.nid = nid

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                raw: bytes | None = None, headers: dict[str, str] | None = None,
                timeout_s: float = EVENT_TIMEOUT_S) -> Response:
        host, port = self.cluster.addr(self.nid)
        conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
        hdrs = dict(headers or {})
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=payload, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        except (socket.timeout, TimeoutError):
            pytest.fail(f"{method} {path}: no answer within {timeout_s}s")
        finally:
            conn.close()
        if data and "json" in (resp.header("content-type") or ""):
            resp.json = json.loads(data)
        elif data:
            try:
                resp.json = json.loads(data)
            except ValueError:
                resp.json = None
        return resp

    def http(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        r = self.request(method, path, body=body, token=token)
        return r.status, r.json

    # -- accounts

    def signup(self, user: str | None = None, password: str = PASSWORD, **extra) -> tuple[str, str]:
        user = user or unique_user()
        status, body = self.http("POST", "/v1/signup", {"user": user, "password": password, **extra})
        assert status == 201, f"signup {user}: {status} {body}"
        return user, body["token"]

    def login(self, user: str, password: str = PASSWORD, device: str | None = None) -> str:
        req = {"user": user, "password": password}
        if device is not None:
            req["device"] = device
        status, body = self.http("POST", "/v1/login", req)
        assert status == 200, f"login {user}: {status} {body}"
        return body["token"]

    # -- messages

    def send(self, token: str, client_id: str | None = None, to: str | None = None,
             conversation_id: str | None = None, body: str = "hi", kind: str = "text") -> dict:
        req = {"client_id": client_id or uuid.uuid4().hex, "kind": kind, "body": body}
        if to is not None:
            req["to"] = to
        if conversation_id is not None:
            req["conversation_id"] = conversation_id
        status, ack = self.http("POST", "/v1/messages", req, token)
        assert status == 200, f"POST /v1/messages: {status} {ack}"
        return ack

    def history(self, token: str, conv: str, **params) -> tuple[int, Any]:
        q = "&".join(f"{k}={v}" for k, v in params.items())
        return self.http("GET", f"/v1/conversations/{conv}/messages" + (f"?{q}" if q else ""), token=token)

    def all_history(self, token: str, conv: str) -> list[dict]:
        """Every message of a conversation, oldest first, paging back with `before`."""
        pages: list[list[dict]] = []
        status, page = self.history(token, conv, limit=100)
        for _ in range(10_000):
            assert status == 200, f"history of {conv}: {status} {page}"
            pages.append(page["messages"])
            if not page["has_more"] or not page["messages"]:
                return [m for p in reversed(pages) for m in p]
            status, page = self.history(token, conv, limit=100, before=page["messages"][0]["seq"])
        raise AssertionError("history did not end")

    def conversations(self, token: str) -> list[dict]:
        status, body = self.http("GET", "/v1/conversations", token=token)
        assert status == 200, f"GET /v1/conversations: {status} {body}"
        return body["conversations"]

    def conversation(self, token: str, conv: str) -> dict:
        for c in self.conversations(token):
            if c["conversation_id"] == conv:
                return c
        raise AssertionError(f"{conv} not in the conversation list")

    # -- WebSockets

    def ws(self, token: str, device: str | None = None, expect_hello: bool = True) -> "WS":
        return WS(self.cluster.ws_url(self.nid), token, device, expect_hello)

    def new_user(self, prefix: str = "u") -> tuple[str, str]:
        return self.signup(unique_user(prefix))


# --------------------------------------------------------------------------------------------
# WebSocket


class WS:
    """A WebSocket client: one JSON object per text frame, every wait bounded."""

    def __init__(self, base_url: str, token: str, device: str | None = None, expect_hello: bool = True):
        url = f"{base_url}/v1/ws?token={token}" + (f"&device={device}" if device else "")
        # The library's own keepalive pings are off: the server's pings are answered anyway.
        self.conn = ws_connect(url, open_timeout=EVENT_TIMEOUT_S, close_timeout=2, max_size=None,
                               ping_interval=None, compression=None)
        self.conn.__enter__()  # websockets 17.1+ warns unless entered; harmless before
        self.seen: list[dict] = []
        self.hello: dict | None = None
        # What came between `hello` and `synced` on connect (the backlog), and the `synced`.
        self.backlog: list[dict] = []
        self.synced: dict | None = None
        if expect_hello:
            first = self.recv_json()
            assert first["type"] == "hello", f"the first event must be hello, got {first}"
            self.hello = first
            while (event := self.recv_json())["type"] != "synced":
                self.backlog.append(event)
            self.synced = event

    def __enter__(self) -> "WS":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    def send_json(self, obj: Any) -> None:
        self.conn.send(json.dumps(obj))

    def send_text(self, text: str) -> None:
        self.conn.send(text)

    def recv_json(self, timeout: float = EVENT_TIMEOUT_S, skip: frozenset = BACKGROUND_EVENTS) -> dict:
        """The next event (skipping background ones); fails the test on timeout or close."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no event within {timeout}s; last events seen: {self.seen[-5:]}")
            try:
                frame = self.conn.recv(timeout=left)
            except TimeoutError:
                pytest.fail(f"no event within {timeout}s; last events seen: {self.seen[-5:]}")
            except ConnectionClosed as e:
                pytest.fail(f"connection closed ({e}) while waiting; last events seen: {self.seen[-5:]}")
            assert isinstance(frame, str), f"server sent a binary frame: {frame!r}"
            event = json.loads(frame)
            assert isinstance(event, dict) and "type" in event, f"event is not an object with a type: {frame}"
            self.seen.append(event)
            if event["type"] not in skip:
                return event

    def recv_until(self, type_: str, timeout: float = EVENT_TIMEOUT_S, where=None) -> dict:
        """The first event of `type_` (matching `where`), skipping others, within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {type_} event within {timeout}s; last events seen: {self.seen[-8:]}")
            event = self.recv_json(timeout=left, skip=frozenset())
            if event["type"] == type_ and (where is None or where(event)):
                return event

    def expect_nothing(self, duration: float, ignore: Iterable[str] = BACKGROUND_EVENTS) -> None:
        """Asserts that no event (other than `ignore`d ones) arrives within `duration` seconds."""
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self.conn.recv(timeout=left)
            except TimeoutError:
                return
            event = json.loads(frame)
            self.seen.append(event)
            if event.get("type") not in set(ignore):
                pytest.fail(f"expected no event for {duration}s, got {event}")

    def expect_close(self, timeout: float = EVENT_TIMEOUT_S) -> int | None:
        """Reads until the server closes; returns its close code (None if no close frame)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self.conn.recv(timeout=left)
                self.seen.append(json.loads(frame) if isinstance(frame, str) else {"binary": frame})
            except TimeoutError:
                break
            except ConnectionClosed as e:
                return e.rcvd.code if e.rcvd is not None else None
        pytest.fail(f"the server did not close the connection within {timeout}s; seen {self.seen[-5:]}")

    def ping_pong(self, timeout: float = EVENT_TIMEOUT_S) -> None:
        """The protocol-level `ping`: proves the connection is open and being served."""
        self.send_json({"type": "ping"})
        self.recv_until("pong", timeout=timeout)

    def send_msg(self, client_id: str, to: str | None = None, conversation_id: str | None = None,
                 body: str = "hi", kind: str = "text", **extra) -> None:
        req = {"type": "send", "client_id": client_id, "kind": kind, "body": body, **extra}
        if to is not None:
            req["to"] = to
        if conversation_id is not None:
            req["conversation_id"] = conversation_id
        self.send_json(req)

    def send_and_ack(self, client_id: str, **kw) -> dict:
        self.send_msg(client_id, **kw)
        ev = self.recv_until_one_of(("ack", "error"), where=lambda e: e.get("client_id") == client_id)
        assert ev["type"] == "ack", f"send {client_id}: {ev}"
        return ev

    def recv_until_one_of(self, types: tuple[str, ...], timeout: float = EVENT_TIMEOUT_S, where=None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {types} event within {timeout}s; last events seen: {self.seen[-8:]}")
            event = self.recv_json(timeout=left, skip=frozenset())
            if event["type"] in types and (where is None or where(event)):
                return event


def ws_refused_status(cluster: Cluster, token: str | None, nid: str = "n1") -> int:
    """Opens /v1/ws with `token` and returns the HTTP status of the refusal (fails on a 101)."""
    url = f"{cluster.ws_url(nid)}/v1/ws" + (f"?token={token}" if token is not None else "")
    try:
        conn = ws_connect(url, open_timeout=EVENT_TIMEOUT_S, ping_interval=None)
        conn.__enter__()
    except InvalidStatus as e:
        return e.response.status_code
    conn.close()
    pytest.fail("the WebSocket upgrade succeeded")


# --------------------------------------------------------------------------------------------
# Raw sockets: bytes a library would never send


class RawHTTP:
    """A TCP connection to the client port for hand-written HTTP bytes."""

    def __init__(self, cluster: Cluster, nid: str = "n1", timeout_s: float = EVENT_TIMEOUT_S):
        self.sock = socket.create_connection(cluster.addr(nid), timeout=timeout_s)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_tolerant(self, data: bytes) -> None:
        """Sends, tolerating the server closing early (it may answer before reading it all)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def read_response(self) -> tuple[int, dict[str, str], bytes]:
        """One HTTP response (status, headers, body by Content-Length), bounded by the timeout."""
        while b"\r\n\r\n" not in self.buf:
            chunk = self._recv()
            if not chunk:
                raise AssertionError(f"connection closed before a full response; got {self.buf!r}")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            chunk = self._recv()
            if not chunk:
                break
            rest += chunk
        self.buf = rest[n:]
        return status, headers, rest[:n]

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""
        except (socket.timeout, TimeoutError):
            raise AssertionError(f"no response within the timeout; got {self.buf!r}")

    def closed_by_server(self, timeout_s: float = EVENT_TIMEOUT_S) -> bool:
        """True if the server closes the connection (EOF/reset) within the timeout."""
        self.sock.settimeout(timeout_s)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self) -> None:
        self.sock.close()


class RawWS(RawHTTP):
    """A hand-driven RFC 6455 client: frames built byte by byte, masked or not."""

    def __init__(self, cluster: Cluster, token: str, nid: str = "n1"):
        super().__init__(cluster, nid)
        key = base64.b64encode(os.urandom(16)).decode()
        host, port = cluster.addr(nid)
        self.send((f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self._recv()
            assert chunk, f"closed during the handshake: {self.buf!r}"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), f"upgrade refused: {head!r}"

    @staticmethod
    def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0,
              declared_len: int | None = None) -> bytes:
        n = len(payload) if declared_len is None else declared_len
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        if n < 126:
            head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if not mask:
            return head + payload
        key = os.urandom(4)
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    def send_frame(self, opcode: int, payload: bytes, **kw) -> None:
        self.send_tolerant(self.frame(opcode, payload, **kw))

    def read_frame(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next server frame, or None when the socket closes first."""
        def need(n: int) -> bool:
            while len(self.buf) < n:
                chunk = self._recv()
                if not chunk:
                    return False
                self.buf += chunk
            return True
        if not need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked (RFC 6455 5.1)"
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not need(4):
                return None
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not need(10):
                return None
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not need(off + n):
            return None
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def read_close_code(self) -> int | None:
        """Skips data frames until a close frame; returns its code (None: closed without one)."""
        for _ in range(1000):
            frame = self.read_frame()
            if frame is None:
                return None
            opcode, payload = frame
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        raise AssertionError("no close frame after 1000 frames")

    def read_until_type(self, type_: str) -> dict:
        """The next text event of `type_`, skipping others (hello, synced, ...)."""
        for _ in range(1000):
            ev = self.read_json()
            if ev.get("type") == type_:
                return ev
        raise AssertionError(f"no {type_} event")

    def read_json(self) -> dict:
        for _ in range(100):
            frame = self.read_frame()
            assert frame is not None, "closed while waiting for an event"
            opcode, payload = frame
            if opcode == 0x1:
                return json.loads(payload)
            assert opcode in (0x9, 0xA), f"unexpected opcode {opcode}"
        raise AssertionError("no text frame")
