"""A resilient Relay client: the one the failover drill, the tests and (later) the CLI, the load
generator and the web client share.

`RelayClient` keeps one WebSocket to some node of a cluster (PROTOCOL.md). When the connection
drops or a node refuses it, it connects to the next node (round robin, bounded backoff); after
`hello` it sends `sync` with what it already holds, so nothing is missed. Sends it has not seen
acknowledged are kept (client_id -> payload) and sent again, with the same client_id, after a
reconnect, after `unavailable` / `rate_limited` (once `retry_after_ms` has passed) and after an
ack timeout: the server stores a repeated (sender, client_id) once (PROTOCOL.md, "Sending is
idempotent"), so a user sees every message once. Incoming messages are de-duplicated by
(conversation_id, seq) and kept per conversation in seq order, with their gaps.

`RelayHTTP` is the same node failover for plain HTTP calls (signup, login, history, sends).

The bookkeeping (`ConversationLog`, `Inbox`, `PendingSends`, `OutageTracker`, `Backoff`) is
pure: no clock, socket or randomness inside; time and random numbers are passed in, so
tests/test_drill.py tests it directly. Stdlib plus `websockets` (asyncio API) only.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

# Error codes after which the request was not applied and may be sent again (PROTOCOL.md).
RETRYABLE_CODES = frozenset({"unavailable", "rate_limited"})
# Used when a retryable error carries no retry_after_ms.
DEFAULT_RETRY_AFTER_S = 1.0
# Retry waits are capped so a bogus retry_after_ms cannot park a send for long.
MAX_RETRY_AFTER_S = 10.0
# An unanswered send is sent again (same client_id) after this long. The router alone may
# spend 2.5 s retrying a shard without a primary before it answers (docs/CLUSTER.md).
ACK_TIMEOUT_S = 10.0
# Bounds on opening a WebSocket and on waiting for `hello` after the upgrade.
CONNECT_TIMEOUT_S = 5.0
HELLO_TIMEOUT_S = 5.0
# Reconnect backoff: the first retry after this, doubling per failed attempt up to the max.
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 2.0
# At most one `receipt` per conversation per this interval (each is a write on the shard).
RECEIPT_INTERVAL_S = 1.0
# The send pump wakes at least this often to look for due retries and ack timeouts.
PUMP_TICK_S = 0.2
# A frame larger than this from the server closes the connection (the server's own bound on
# one message is 512 KiB, docs/PROTOCOL-NOTES.md).
MAX_FRAME_BYTES = 1 << 20
# HTTP: per-request socket timeout, and how long a failing-over request keeps trying.
HTTP_TIMEOUT_S = 5.0
HTTP_DEADLINE_S = 30.0
# History pages: the server serves at most 100 per page; the page count bounds a read.
HISTORY_PAGE_LIMIT = 100
MAX_HISTORY_PAGES = 100_000


def dm_id(a: str, b: str) -> str:
    """The direct chat id of two users: both ids in byte order (PROTOCOL.md, Conventions)."""
    x, y = sorted([a, b], key=lambda s: s.encode())
    return f"dm:{x}:{y}"


def http_base(node: str) -> str:
    """`127.0.0.1:7001`, `http://…` or `ws://…` -> `http://host:port`."""
    if "://" not in node:
        node = "http://" + node
    parts = urlsplit(node)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def ws_base(node: str) -> str:
    base = http_base(node)
    return "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]


# --------------------------------------------------------------------------------------------
# Pure bookkeeping


class ConversationLog:
    """The messages of one conversation a client holds, by seq: duplicates dropped, gaps known.

    `known_last` is the highest seq the client knows exists (from messages, acks or `hello`'s
    `last_seq`), so `gaps()` also names the missing tail."""

    def __init__(self, conversation_id: str, first_seq: int = 1):
        self.conversation_id = conversation_id
        self.first_seq = first_seq  # a group member who joined late starts above 1
        self.by_seq: dict[int, dict] = {}
        self.known_last = 0
        self.contiguous = first_seq - 1  # every seq in first_seq..contiguous is held
        self.duplicates = 0  # repeats dropped (same seq, same message)
        self.conflicts: list[tuple[dict, dict]] = []  # same seq, different message: a server bug
        self.delivered_sent = 0  # the cursor last sent in a `receipt`

    def add(self, msg: dict) -> bool:
        """Stores `msg` if its seq is new; returns whether it was."""
        seq = msg.get("seq")
        if not isinstance(seq, int) or seq < 1:
            return False
        held = self.by_seq.get(seq)
        if held is not None:
            if held.get("message_id") != msg.get("message_id"):
                self.conflicts.append((held, msg))
            self.duplicates += 1
            return False
        self.by_seq[seq] = msg
        self.known_last = max(self.known_last, seq)
        while self.contiguous + 1 in self.by_seq:
            self.contiguous += 1
        return True

    def note_last(self, last_seq: int) -> None:
        if isinstance(last_seq, int):
            self.known_last = max(self.known_last, last_seq)

    def messages(self) -> list[dict]:
        return [self.by_seq[s] for s in sorted(self.by_seq)]

    def gaps(self) -> list[int]:
        """The seqs from `first_seq` to `known_last` that are not held."""
        return [s for s in range(max(self.contiguous + 1, self.first_seq), self.known_last + 1)
                if s not in self.by_seq]


class Inbox:
    """Every conversation's log; what to put in `sync` and in `receipt`s."""

    def __init__(self):
        self.logs: dict[str, ConversationLog] = {}

    def log(self, conversation_id: str) -> ConversationLog:
        if conversation_id not in self.logs:
            self.logs[conversation_id] = ConversationLog(conversation_id)
        return self.logs[conversation_id]

    def add(self, msg: dict) -> bool:
        conv = msg.get("conversation_id")
        if not isinstance(conv, str):
            return False
        return self.log(conv).add(msg)

    def since(self) -> dict[str, int]:
        """For `sync`: per conversation, the highest seq below which nothing is missing. Asking
        from there (not from the highest seq held) also fills the gaps."""
        return {c: log.contiguous for c, log in self.logs.items() if log.contiguous > 0}

    def receipts_due(self) -> list[tuple[str, int]]:
        """Conversations whose gapless prefix grew past the last `delivered` receipt."""
        return [(c, log.contiguous) for c, log in self.logs.items() if log.contiguous > log.delivered_sent]

    def gaps(self) -> dict[str, list[int]]:
        return {c: g for c, log in self.logs.items() if (g := log.gaps())}


@dataclass
class Pending:
    """One send not yet acknowledged. `state`: `due` (send it when `due_at` has passed),
    `in_flight` (sent on connection `generation` at `sent_at`, no answer yet)."""
    client_id: str
    key: str  # the conversation id (a `to` send: the direct chat's id)
    frame: dict
    added_at: float
    state: str = "due"
    due_at: float = 0.0
    sent_at: float = 0.0
    generation: int = -1
    attempts: int = 0
    failures: int = 0
    first_failure_at: float | None = None  # when the first failed attempt had been sent


class PendingSends:
    """Unacknowledged sends in the order they were made, and when each is due again.

    A retry keeps the order within a conversation: while an earlier send of a conversation waits
    out `retry_after_ms`, later sends of it that are not on the wire yet wait too."""

    def __init__(self, ack_timeout_s: float = ACK_TIMEOUT_S):
        self.ack_timeout_s = ack_timeout_s
        self.items: dict[str, Pending] = {}  # insertion ordered

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, client_id: str) -> bool:
        return client_id in self.items

    def add(self, client_id: str, key: str, frame: dict, now: float) -> Pending:
        if client_id in self.items:
            raise ValueError(f"client_id {client_id!r} is already pending")
        p = Pending(client_id, key, frame, added_at=now, due_at=now)
        self.items[client_id] = p
        return p

    def due(self, now: float) -> list[Pending]:
        """The sends to put on the wire now, in order."""
        out, blocked = [], set()
        for p in self.items.values():
            if p.state == "in_flight":
                continue
            if p.key in blocked:
                continue
            if p.due_at > now:
                blocked.add(p.key)
                continue
            out.append(p)
        return out

    def mark_sent(self, client_id: str, now: float, generation: int) -> None:
        p = self.items.get(client_id)
        if p is not None:
            p.state, p.sent_at, p.generation = "in_flight", now, generation
            p.attempts += 1

    def _failed(self, p: Pending, due_at: float) -> None:
        p.failures += 1
        if p.first_failure_at is None:
            p.first_failure_at = p.sent_at
        p.state, p.due_at = "due", due_at

    def on_ack(self, client_id: str) -> Pending | None:
        return self.items.pop(client_id, None)

    def on_retryable(self, client_id: str, now: float, retry_after_s: float) -> Pending | None:
        """`unavailable` / `rate_limited`: due again after the server's wait (capped)."""
        p = self.items.get(client_id)
        if p is None or p.state != "in_flight":
            return None
        self._failed(p, now + min(max(retry_after_s, 0.0), MAX_RETRY_AFTER_S))
        return p

    def on_rejected(self, client_id: str) -> Pending | None:
        """Any other error: the send will never succeed as it is; drop it."""
        return self.items.pop(client_id, None)

    def on_disconnect(self, now: float) -> list[Pending]:
        """The connection is gone: whatever was on it is due again at once (on the next one)."""
        lost = [p for p in self.items.values() if p.state == "in_flight"]
        for p in lost:
            self._failed(p, now)
        return lost

    def expire(self, now: float) -> list[Pending]:
        """In-flight sends unanswered for `ack_timeout_s`: due again."""
        late = [p for p in self.items.values()
                if p.state == "in_flight" and now - p.sent_at >= self.ack_timeout_s]
        for p in late:
            self._failed(p, now)
        return late

    def next_deadline(self) -> float | None:
        """The earliest time something becomes due or times out, if anything is pending."""
        times = [p.due_at if p.state == "due" else p.sent_at + self.ack_timeout_s for p in self.items.values()]
        return min(times) if times else None


@dataclass(frozen=True)
class Outage:
    key: str      # the conversation
    start: float  # when the first failed attempt was sent
    end: float    # when the first send after it was acknowledged

    @property
    def seconds(self) -> float:
        return self.end - self.start


class OutageTracker:
    """Per conversation, how long writes failed: from the first failed attempt to the next ack."""

    def __init__(self):
        self.open: dict[str, float] = {}
        self.closed: list[Outage] = []

    def failed(self, key: str, at: float) -> None:
        if key not in self.open or at < self.open[key]:
            self.open[key] = at

    def succeeded(self, key: str, at: float) -> Outage | None:
        start = self.open.pop(key, None)
        if start is None:
            return None
        outage = Outage(key, start, max(at, start))
        self.closed.append(outage)
        return outage


class Backoff:
    """Reconnect delays: `min_s`, doubling per consecutive failure up to `max_s`, with up to 50%
    jitter from `rand` (a number in [0, 1)) so many clients do not reconnect in step."""

    def __init__(self, min_s: float = BACKOFF_MIN_S, max_s: float = BACKOFF_MAX_S,
                 rand: Callable[[], float] = random.random):
        self.min_s, self.max_s, self.rand = min_s, max_s, rand
        self.failures = 0

    def next_delay(self) -> float:
        base = min(self.max_s, self.min_s * (2 ** min(self.failures, 30)))
        self.failures += 1
        return min(self.max_s, base * (1 + 0.5 * self.rand()))

    def reset(self) -> None:
        self.failures = 0


# --------------------------------------------------------------------------------------------
# HTTP with node failover


class RelayError(Exception):
    def __init__(self, status: int, body: Any, node: str):
        self.status, self.body, self.node = status, body, node
        code = body.get("error", {}).get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
        self.code = code
        super().__init__(f"{status} {code or ''} from {node}: {body}")


def _retry_after_s(body: Any, default: float = DEFAULT_RETRY_AFTER_S) -> float:
    try:
        return float(body["error"]["retry_after_ms"]) / 1000.0
    except (KeyError, TypeError, ValueError):
        return default


class RelayHTTP:
    """Blocking HTTP calls that fail over between nodes. A call goes to one node; on a
    connection error or a 503 `unavailable` it tries the next node (after `retry_after_ms` on a
    503) until `deadline_s`. `node=` pins a call to one node (retrying only there)."""

    def __init__(self, nodes: Iterable[str], timeout_s: float = HTTP_TIMEOUT_S,
                 deadline_s: float = HTTP_DEADLINE_S, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.nodes = [http_base(n) for n in nodes]
        if not self.nodes:
            raise ValueError("no nodes")
        self.timeout_s, self.deadline_s, self.clock, self.sleep = timeout_s, deadline_s, clock, sleep
        self.next = 0
        self.failovers = 0

    def _once(self, base: str, method: str, path: str, body: Any, token: str | None) -> tuple[int, Any]:
        parts = urlsplit(base)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=self.timeout_s)
        headers = {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=payload, headers=headers)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode("utf-8", "replace")
        return r.status, parsed

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                node: str | None = None, deadline_s: float | None = None) -> tuple[int, Any, str]:
        """(status, parsed body, node) of the first answer that is not a connection error or a
        503; the last 503 if the deadline passes with only those; raises OSError if no node
        answered at all."""
        end = self.clock() + (self.deadline_s if deadline_s is None else deadline_s)
        last: tuple[int, Any, str] | None = None
        last_err: Exception | None = None
        backoff = Backoff(rand=lambda: 0.0)
        while True:
            if node is not None:
                base = http_base(node)
            else:
                base = self.nodes[self.next % len(self.nodes)]
            try:
                status, parsed = self._once(base, method, path, body, token)
                if status != 503:
                    return status, parsed, base
                last, wait = (status, parsed, base), _retry_after_s(parsed)
            except (OSError, http.client.HTTPException) as e:
                last_err, wait = e, backoff.next_delay()
            if node is None:
                self.next += 1
                self.failovers += 1
            left = end - self.clock()
            if left <= 0:
                if last is not None:
                    return last
                raise OSError(f"{method} {path}: no node answered within the deadline ({last_err})")
            self.sleep(min(wait, left))

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             expect: Iterable[int] = (200,), **kw) -> Any:
        status, parsed, base = self.request(method, path, body, token, **kw)
        if status not in tuple(expect):
            raise RelayError(status, parsed, base)
        return parsed

    def signup(self, user: str, password: str, node: str | None = None, **extra) -> dict:
        """Signs `user` up (through `node` if given). A 409 may be this call's own earlier
        attempt whose answer was lost, so it logs in with the password instead."""
        status, body, base = self.request("POST", "/v1/signup", {"user": user, "password": password, **extra},
                                          node=node)
        if status == 409:
            try:
                return self.login(user, password, node=node)
            except RelayError:
                raise RelayError(status, body, base) from None
        if status != 201:
            raise RelayError(status, body, base)
        return body

    def login(self, user: str, password: str, device: str | None = None, node: str | None = None) -> dict:
        req = {"user": user, "password": password}
        if device is not None:
            req["device"] = device
        return self.call("POST", "/v1/login", req, node=node)

    def send(self, token: str, client_id: str, body: str, to: str | None = None,
             conversation_id: str | None = None, kind: str = "text") -> dict:
        """POST /v1/messages; safe to repeat: the server stores a client_id once."""
        req = {"client_id": client_id, "kind": kind, "body": body}
        if to is not None:
            req["to"] = to
        if conversation_id is not None:
            req["conversation_id"] = conversation_id
        return self.call("POST", "/v1/messages", req, token)

    def history(self, token: str, conversation_id: str, node: str | None = None,
                after: int = 0, deadline_s: float | None = None) -> list[dict]:
        """Every message above `after`, oldest first, paging forward with `after=`."""
        out: list[dict] = []
        path = f"/v1/conversations/{quote(conversation_id, safe=':')}/messages"
        for _ in range(MAX_HISTORY_PAGES):
            page = self.call("GET", f"{path}?after={after}&limit={HISTORY_PAGE_LIMIT}", token=token,
                             node=node, deadline_s=deadline_s)
            msgs = page.get("messages", []) if isinstance(page, dict) else []
            out.extend(msgs)
            if not page.get("has_more") or not msgs:
                return out
            after = msgs[-1]["seq"]
        raise RuntimeError(f"history of {conversation_id} did not end after {MAX_HISTORY_PAGES} pages")

    def cluster(self, node: str, deadline_s: float = 2.0) -> dict:
        return self.call("GET", "/v1/cluster", node=node, deadline_s=deadline_s)


# --------------------------------------------------------------------------------------------
# The WebSocket client


class RelayClient:
    """One user's connection to a cluster, kept alive over node failures (module docstring).

    Use it from one asyncio event loop:

        c = RelayClient(["127.0.0.1:7001", "127.0.0.1:7002"], "alice", password="…")
        await c.start(); await c.wait_connected(5)
        cid = c.send(to="bob", body="hi")
        ack = await c.wait_ack(cid, timeout_s=30)   # None on timeout or rejection
        c.received("dm:alice:bob")                  # held messages, seq order, own ones too
        await c.close()
    """

    def __init__(self, nodes: Iterable[str], user: str, token: str | None = None,
                 password: str | None = None, *, device: str | None = None,
                 ack_timeout_s: float = ACK_TIMEOUT_S, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic, receipts: bool = True,
                 http: RelayHTTP | None = None):
        self.nodes = [ws_base(n) for n in nodes]
        if not self.nodes:
            raise ValueError("no nodes")
        if token is None and password is None:
            raise ValueError("a token or a password is needed")
        self.user, self.token, self.password, self.device = user, token, password, device
        self.clock = clock
        self.receipts = receipts
        self.http = http or RelayHTTP(nodes)
        self.backoff = backoff or Backoff()
        self.inbox = Inbox()
        self.pending = PendingSends(ack_timeout_s)
        self.outages = OutageTracker()
        self.acks: dict[str, dict] = {}          # client_id -> ack
        self.rejected: dict[str, dict] = {}      # client_id -> the error that ended it
        self.errors: list[dict] = []             # error events without a pending client_id
        self.closes: list[tuple] = []            # the last connections' (node, close code, reason)
        self.refusals: list[tuple] = []          # the last failed connects' (node, what)
        self.node: str | None = None             # the node serving us now
        self.hello: dict | None = None
        self.fatal: str | None = None            # why the client gave up (401 with no password)
        self.stats = {"connects": 0, "connect_failures": 0, "disconnects": 0, "resends": 0,
                      "retryable_errors": 0, "ack_timeouts": 0, "synced": 0}
        self._next_node = 0
        self._generation = 0
        self._receipt_at: dict[str, float] = {}
        self._ws = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._kick = asyncio.Event()
        self._connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self._synced_count = 0

    # -- lifecycle

    async def start(self, first_node: int = 0) -> None:
        """Starts connecting (to `nodes[first_node]` first) in the background."""
        self._next_node = first_node
        if self.token is None:
            await self._login()
        self._task = asyncio.create_task(self._run(), name=f"relayclient-{self.user}")

    async def close(self) -> None:
        self._closing = True
        self._kick.set()
        if self._ws is not None:
            try:
                await asyncio.wait_for(self._ws.close(), 2.0)
            except (Exception, asyncio.TimeoutError):
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False

    # -- sending

    def send(self, body: str, to: str | None = None, conversation_id: str | None = None,
             kind: str = "text", client_id: str | None = None, **extra) -> str:
        """Queues a send (sent at once if connected); returns its client_id."""
        if (to is None) == (conversation_id is None):
            raise ValueError("exactly one of to and conversation_id")
        cid = client_id or uuid.uuid4().hex
        frame = {"type": "send", "client_id": cid, "kind": kind, "body": body, **extra}
        if to is not None:
            frame["to"] = to
        else:
            frame["conversation_id"] = conversation_id
        key = conversation_id or dm_id(self.user, to)
        self.pending.add(cid, key, frame, self.clock())
        if not self.connected:
            # No node takes writes from us now: the outage starts with this send.
            self.outages.failed(key, self.clock())
        self._kick.set()
        return cid

    async def wait_ack(self, client_id: str, timeout_s: float) -> dict | None:
        """The ack of `client_id`, or None if it was rejected or `timeout_s` passed (it stays
        pending and may still be acknowledged later)."""
        async def done() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: client_id in self.acks or client_id in self.rejected
                                             or self._task is None or self._task.done())
        try:
            await asyncio.wait_for(done(), timeout_s)
        except asyncio.TimeoutError:
            pass
        return self.acks.get(client_id)

    async def wait_all_acked(self, timeout_s: float) -> bool:
        async def done() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: not self.pending)
        try:
            await asyncio.wait_for(done(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False

    async def resync(self, timeout_s: float) -> bool:
        """Asks the connected node for everything above what is held; waits for `synced`."""
        if not await self.wait_connected(timeout_s):
            return False
        target = self._synced_count + 1
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps({"type": "sync", "since": self.inbox.since()}))
        except ConnectionClosed:
            return False

        async def done() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self._synced_count >= target)
        try:
            await asyncio.wait_for(done(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False

    # -- reading

    def received(self, conversation_id: str) -> list[dict]:
        """The held messages of a conversation in seq order (own sends included, from acks)."""
        log = self.inbox.logs.get(conversation_id)
        return log.messages() if log else []

    def gaps(self) -> dict[str, list[int]]:
        return self.inbox.gaps()

    # -- internals

    async def _login(self) -> None:
        body = await asyncio.to_thread(self.http.login, self.user, self.password, self.device)
        self.token = body["token"]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _run(self) -> None:
        while not self._closing:
            node = self.nodes[self._next_node % len(self.nodes)]
            self._next_node += 1
            reached_hello = False
            try:
                url = f"{node}/v1/ws?token={quote(self.token or '', safe='')}"
                if self.device:
                    url += f"&device={quote(self.device, safe='')}"
                async with ws_connect(url, open_timeout=CONNECT_TIMEOUT_S, ping_interval=5, ping_timeout=10,
                                      close_timeout=2, max_size=MAX_FRAME_BYTES, compression=None,
                                      proxy=None) as ws:
                    first = json.loads(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT_S))
                    if not isinstance(first, dict) or first.get("type") != "hello":
                        raise ConnectionError(f"first event is not hello: {first!r}")
                    reached_hello = True
                    await self._on_connected(ws, node, first)
                    pump = asyncio.create_task(self._pump(ws, self._generation))
                    try:
                        async for frame in ws:
                            await self._on_frame(frame)
                    finally:
                        if not self._closing:
                            self.closes.append((node, ws.close_code, ws.close_reason))
                            del self.closes[:-20]
                        pump.cancel()
                        try:
                            await pump
                        except (asyncio.CancelledError, Exception):
                            pass
            except InvalidStatus as e:
                self.refusals.append((node, e.response.status_code))
                del self.refusals[:-20]
                if e.response.status_code == 401:
                    if self.password is None:
                        self.fatal = f"401 from {node}: the token is not valid"
                        await self._notify()
                        return
                    try:
                        await self._login()
                    except (RelayError, OSError):
                        pass
            except (OSError, ConnectionClosed, InvalidHandshake, asyncio.TimeoutError, ValueError, ConnectionError) as e:
                if not reached_hello:
                    self.refusals.append((node, type(e).__name__))
                    del self.refusals[:-20]
            finally:
                self._on_disconnected(reached_hello)
                await self._notify()
            if self._closing:
                return
            if reached_hello:
                self.backoff.reset()
            else:
                self.stats["connect_failures"] += 1
            await asyncio.sleep(self.backoff.next_delay())

    async def _on_connected(self, ws, node: str, hello: dict) -> None:
        self._generation += 1
        self._ws, self.node, self.hello = ws, node, hello
        self.stats["connects"] += 1
        for c in hello.get("conversations", []) or []:
            if isinstance(c, dict) and isinstance(c.get("conversation_id"), str):
                self.inbox.log(c["conversation_id"]).note_last(c.get("last_seq"))
        # The connect backlog follows the user's shared delivered cursor; `sync` with our own
        # positions covers what another device marked delivered (docs/PROTOCOL-NOTES.md).
        since = self.inbox.since()
        if since:
            await ws.send(json.dumps({"type": "sync", "since": since}))
        self._connected.set()
        self._kick.set()

    def _on_disconnected(self, was_connected: bool) -> None:
        self._ws = None
        self._connected.clear()
        if was_connected and not self._closing:
            self.stats["disconnects"] += 1
        for p in self.pending.on_disconnect(self.clock()):
            self.outages.failed(p.key, p.first_failure_at if p.first_failure_at is not None else p.sent_at)

    async def _pump(self, ws, generation: int) -> None:
        """Puts due sends and receipts on the wire; wakes when kicked or something falls due."""
        while True:
            self._kick.clear()
            now = self.clock()
            for p in self.pending.expire(now):
                self.stats["ack_timeouts"] += 1
                self.outages.failed(p.key, p.sent_at)
            for p in self.pending.due(now):
                if p.attempts:
                    self.stats["resends"] += 1
                self.pending.mark_sent(p.client_id, now, generation)
                await ws.send(json.dumps(p.frame))
            if self.receipts:
                for conv, seq in self.inbox.receipts_due():
                    if now - self._receipt_at.get(conv, -1e9) >= RECEIPT_INTERVAL_S:
                        self._receipt_at[conv] = now
                        self.inbox.logs[conv].delivered_sent = seq
                        await ws.send(json.dumps({"type": "receipt", "conversation_id": conv, "delivered": seq}))
            deadline = self.pending.next_deadline()
            wait = PUMP_TICK_S if deadline is None else min(PUMP_TICK_S, max(0.0, deadline - self.clock()))
            try:
                await asyncio.wait_for(self._kick.wait(), max(wait, 0.005))
            except asyncio.TimeoutError:
                pass

    async def _on_frame(self, frame: Any) -> None:
        if not isinstance(frame, str):
            return
        try:
            ev = json.loads(frame)
        except ValueError:
            return
        if not isinstance(ev, dict):
            return
        kind = ev.get("type")
        now = self.clock()
        if kind == "message":
            msg = {k: v for k, v in ev.items() if k != "type"}
            if self.inbox.add(msg):
                self._kick.set()  # a receipt may be due
        elif kind == "ack":
            cid = ev.get("client_id")
            p = self.pending.on_ack(cid) if isinstance(cid, str) else None
            if p is not None:
                self.acks[cid] = ev
                self.outages.succeeded(p.key, now)
                # The sending connection gets only the ack; keep our own message as stored.
                self.inbox.add({"conversation_id": ev.get("conversation_id"), "seq": ev.get("seq"),
                                "message_id": ev.get("message_id"), "sender": self.user, "client_id": cid,
                                "ts": ev.get("ts"), "kind": p.frame.get("kind"), "body": p.frame.get("body")})
                await self._notify()
        elif kind == "error":
            cid = ev.get("client_id")
            if isinstance(cid, str) and cid in self.pending:
                if ev.get("code") in RETRYABLE_CODES:
                    retry_ms = ev.get("retry_after_ms")
                    retry_s = retry_ms / 1000.0 if isinstance(retry_ms, (int, float)) else DEFAULT_RETRY_AFTER_S
                    p = self.pending.on_retryable(cid, now, retry_s)
                    if p is not None:
                        self.stats["retryable_errors"] += 1
                        self.outages.failed(p.key, p.sent_at)
                else:
                    self.pending.on_rejected(cid)
                    self.rejected[cid] = ev
                    await self._notify()
            else:
                self.errors.append(ev)
                del self.errors[:-100]  # keep the last 100
        elif kind == "synced":
            self._synced_count += 1
            self.stats["synced"] += 1
            await self._notify()
