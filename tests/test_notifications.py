"""Notifications and mute (PROTOCOL.md "Notifications", `GET /v1/notifications`,
`PUT /v1/conversations/{id}/mute`; docs/NOTIFICATIONS.md) on a real 3-node cluster with R=2
and a push gateway started here: a message stored for a member with no live connection
notifies that member once per (recipient, conversation, seq), in the in-app list and at the
gateway (at least once, repeats dropped by key), also when the conversation's primary is
killed -9 right after the sends; never an online member; never for a muted conversation; a
read receipt clears what it covers."""
from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import _clusters_in_use
from relay import Cluster, dm, poll
from test_replication import restart_and_settle, shard, wait_replicated

NODES = ["n1", "n2", "n3"]
FAILOVER_DEADLINE_S = 30.0
# A notification's job runs once the message is replicated: well under a second, but the
# test machine is shared and slow.
NOTIFY_DEADLINE_S = 15.0


class FakeGateway:
    """A push gateway on 127.0.0.1: counts POSTs by key; the first `failures` POSTs get a 500
    (the adapter retries them with backoff)."""

    def __init__(self, failures: int = 3):
        self.posts: list[str] = []
        self.bodies: dict[str, dict] = {}
        self.failures = failures
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key", "")
                with fake.lock:
                    fake.posts.append(key)
                    failing = fake.failures > 0
                    if failing:
                        fake.failures -= 1
                    else:
                        fake.bodies.setdefault(key, body)
                self.answer(500 if failing else 200)

            def answer(self, status):
                data = b"{}"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, prefix: str) -> set[str]:
        """The distinct keys taken (2xx) for one recipient."""
        with self.lock:
            return {k for k in self.bodies if k.startswith(prefix + ":")}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pushed3(tmp_path_factory):
    gateway = FakeGateway()
    cluster = Cluster(tmp_path_factory.mktemp("notify3"), ids=NODES, replication=2,
                      extra={"push_gateway": {"url": gateway.url, "timeout_ms": 1000}})
    _clusters_in_use.append(cluster)
    try:
        cluster.start_all()
        cluster.wait_formed(NODES)
        yield cluster, gateway
    finally:
        _clusters_in_use.remove(cluster)
        cluster.stop_all()
        gateway.stop()


def notifications(cluster: Cluster, nid: str, token: str, after: int = 0) -> list[dict]:
    status, body = cluster.client(nid).http("GET", f"/v1/notifications?after={after}", token=token)
    assert status == 200, (status, body)
    return body["notifications"]


def failover_get(cluster: Cluster, nid: str, token: str) -> tuple[int, dict]:
    """`GET /v1/notifications` while a shard fails over: a request to the dead primary can take
    the node's peer timeout to answer 503, longer than the default client timeout."""
    r = cluster.client(nid).request("GET", "/v1/notifications", token=token, timeout_s=FAILOVER_DEADLINE_S)
    return r.status, r.json


def notifications_after_failover(cluster: Cluster, nid: str, token: str) -> list[dict]:
    """The list once the user's shard answers (503 while it fails over)."""
    for _ in poll(FAILOVER_DEADLINE_S, "the user's shard to answer", interval_s=0.2):
        status, body = failover_get(cluster, nid, token)
        assert status in (200, 503), (status, body)
        if status == 200:
            return body["notifications"]


def wait_notified(cluster: Cluster, nid: str, token: str, expected: list[tuple[str, int]],
                  deadline_s: float = NOTIFY_DEADLINE_S) -> list[dict]:
    """Polls until the in-app list holds exactly `expected` (conversation, seq), in id order."""
    got: list[dict] = []
    for _ in poll(deadline_s, f"notifications {expected}, have {[(n['conversation_id'], n['seq']) for n in got]}"):
        got = notifications(cluster, nid, token)
        if [(n["conversation_id"], n["seq"]) for n in got] == expected:
            return got


def create_group(cluster: Cluster, token: str, members: list[str]) -> str:
    status, body = cluster.client("n1").http("POST", "/v1/groups", {"title": "notify", "members": members}, token)
    assert status == 201, (status, body)
    return body["conversation_id"]


def test_an_offline_member_is_notified_once_and_an_online_one_never(pushed3):
    cluster, gateway = pushed3
    alice, ta = cluster.client("n1").new_user("alice")
    bob, tb = cluster.client("n2").new_user("bob")
    carol, tc = cluster.client("n3").new_user("carol")
    gid = create_group(cluster, ta, [bob, carol])
    with cluster.client("n2").ws(tc) as carol_ws:
        seqs = [cluster.client("n3").send(ta, conversation_id=gid, body=f"news {i}", client_id=f"g{i}")["seq"] for i in range(3)]
        # A retried client_id stores nothing new, so it notifies nobody again.
        cluster.client("n1").send(ta, conversation_id=gid, body="news 0", client_id="g0")
        for seq in seqs:
            carol_ws.recv_until("message", where=lambda e, s=seq: e.get("seq") == s)
        got = wait_notified(cluster, "n1", tb, [(gid, s) for s in seqs])
    assert [n["preview"] for n in got] == ["news 0", "news 1", "news 2"]
    assert all(n["sender"] == alice and n["ts"] > 0 for n in got), got
    assert [n["id"] for n in got] == sorted(n["id"] for n in got)
    # Each message's job checked both members at once: bob's are there, so carol (online) had none.
    for nid in NODES:
        assert notifications(cluster, nid, tc) == []
        assert notifications(cluster, nid, ta) == [], "a sender is never notified of its own message"
    assert notifications(cluster, "n3", tb, after=got[0]["id"]) == got[1:]
    for _ in poll(NOTIFY_DEADLINE_S, "the gateway to take bob's pushes"):
        if gateway.delivered(bob) == {f"{bob}:{gid}:{s}" for s in seqs}:
            break
    assert gateway.delivered(carol) == set()
    with gateway.lock:
        tries = [k for k in gateway.posts if k.startswith(bob + ":")]
    # The module's first 3 posts (these) were answered 500 and retried with backoff.
    assert len(tries) >= 6 and set(tries) == gateway.delivered(bob), tries
    body = gateway.bodies[f"{bob}:{gid}:{seqs[0]}"]
    assert body == {"key": f"{bob}:{gid}:{seqs[0]}", "user": bob, "conversation_id": gid, "seq": seqs[0],
                    "sender": alice, "preview": "news 0", "ts": got[0]["ts"]}


def test_a_read_receipt_clears_and_a_muted_conversation_is_silent(pushed3):
    cluster, _ = pushed3
    alice, ta = cluster.client("n1").new_user("alice")
    bob, tb = cluster.client("n2").new_user("bob")
    eve, te = cluster.client("n3").new_user("eve")
    conv = dm(alice, bob)
    for i in range(1, 4):
        cluster.client("n1").send(ta, to=bob, body=f"m{i}", client_id=f"m{i}")
    wait_notified(cluster, "n2", tb, [(conv, 1), (conv, 2), (conv, 3)])
    status, _ = cluster.client("n3").http("POST", f"/v1/conversations/{conv}/receipts", {"read": 2}, tb)
    assert status == 204
    wait_notified(cluster, "n1", tb, [(conv, 3)])
    # Mute: only for a conversation of one's own.
    assert cluster.client("n1").http("PUT", f"/v1/conversations/{conv}/mute", token=te)[0] == 403
    assert cluster.client("n1").http("PUT", "/v1/conversations/nope/mute", token=tb)[0] == 400
    assert cluster.client("n1").http("PUT", f"/v1/conversations/{conv}/mute", token=tb)[0] == 204
    assert cluster.client("n2").http("PUT", f"/v1/conversations/{conv}/mute", token=tb)[0] == 204   # idempotent
    cluster.client("n2").send(ta, to=bob, body="muted", client_id="m4")
    assert cluster.client("n3").http("DELETE", f"/v1/conversations/{conv}/mute", token=tb)[0] == 204
    cluster.client("n2").send(ta, to=bob, body="loud", client_id="m5")
    # Seq 5's job ran after seq 4's (one shard's jobs in order, to one user shard): 4 never came.
    got = wait_notified(cluster, "n3", tb, [(conv, 3), (conv, 5)])
    assert got[1]["preview"] == "loud"
    assert cluster.client("n1").http("GET", "/v1/notifications?after=-1", token=tb)[0] == 400
    assert cluster.client("n1").http("GET", "/v1/notifications")[0] == 401


def test_notifications_survive_kill_9_of_the_conversations_primary(pushed3):
    """The sends are acked (so each message and its notification job are on R copies), then
    the conversation's primary is killed -9 at once: the new primary runs the jobs it did not
    finish. Each offline recipient ends with exactly one notification per message in the app,
    and the gateway got every key at least once (repeats dropped by key give exactly the set)."""
    cluster, gateway = pushed3
    wait_replicated(cluster, NODES, 2)
    alice, ta = cluster.client("n1").new_user("alice")
    bob, tb = cluster.client("n2").new_user("bob")
    conv = dm(alice, bob)
    cluster.client("n1").send(ta, to=bob, body="open", client_id="k0")
    status, body = cluster.client("n1").http("GET", f"/v1/cluster/shards?conversation={conv}")
    assert status == 200, body
    primary = body["shards"][0]["primary"]
    front = next(n for n in NODES if n != primary)
    gateway.failures = 2   # and the gateway fails a little too
    seqs = [cluster.client(front).send(ta, to=bob, body=f"k{i}", client_id=f"k{i}")["seq"] for i in range(1, 6)]
    assert cluster.kill(primary, signal.SIGKILL) == -signal.SIGKILL
    try:
        survivors = [n for n in NODES if n != primary]
        expected = [(conv, 1)] + [(conv, s) for s in seqs]
        for _ in poll(FAILOVER_DEADLINE_S, "bob's notifications after the failover", interval_s=0.2):
            status, body = failover_get(cluster, survivors[0], tb)
            if status == 200 and [(n["conversation_id"], n["seq"]) for n in body["notifications"]] == expected:
                break
            assert status in (200, 503), (status, body)
        keys = {f"{bob}:{c}:{s}" for c, s in expected}
        for _ in poll(FAILOVER_DEADLINE_S, "the gateway to take every key"):
            if gateway.delivered(bob) == keys:
                break
        with gateway.lock:
            posted = {k for k in gateway.posts if k.startswith(bob + ":")}
        assert posted == keys, "nothing but the expected keys, each at least once"
    finally:
        restart_and_settle(cluster, primary, NODES)


def test_a_job_cut_off_by_kill_9_is_finished_by_the_new_primary(pushed3):
    """Deterministic: in a group of alice (sending), bob (offline) and carol (online), bob's
    user shard is led by a node that is paused (SIGSTOP), so the acked messages' notification
    jobs cannot finish on the group's primary; that primary is killed -9, the paused node
    resumed. The new primary runs the jobs from the outbox it holds: exactly one notification
    per message for bob, at the gateway too, and none for carol."""
    cluster, gateway = pushed3
    wait_replicated(cluster, NODES, 2)
    alice, ta = cluster.client("n1").new_user("alice")
    carol, tc = cluster.client("n2").new_user("carol")
    sender = shard(cluster, "n1", f"user={alice}")["primary"]   # checks alice's token on every send
    for _ in poll(30.0, "a recipient whose shard is led outside the group's copies", interval_s=0):
        bob, tb = cluster.client("n2").new_user("bob")
        gid = create_group(cluster, ta, [bob, carol])
        chat = shard(cluster, "n1", f"conversation={gid}")
        user = shard(cluster, "n1", f"user={bob}")
        if user["primary"] not in chat["isr"] and user["primary"] != sender and len(chat["isr"]) == 2:
            break
    primary, front = chat["primary"], next(n for n in chat["isr"] if n != chat["primary"])
    paused = user["primary"]
    with cluster.client(front).ws(tc):
        first = cluster.client(front).send(ta, conversation_id=gid, body="open", client_id="p0")["seq"]
        wait_notified(cluster, front, tb, [(gid, first)])
        cluster.nodes[paused].proc.send_signal(signal.SIGSTOP)
        try:
            seqs = [cluster.client(front).send(ta, conversation_id=gid, body=f"p{i}", client_id=f"p{i}")["seq"]
                    for i in range(1, 4)]
            assert cluster.kill(primary, signal.SIGKILL) == -signal.SIGKILL
        finally:
            cluster.nodes[paused].proc.send_signal(signal.SIGCONT)
        try:
            expected = [(gid, s) for s in [first] + seqs]
            for _ in poll(FAILOVER_DEADLINE_S, "bob's notifications from the new primary", interval_s=0.2):
                status, body = failover_get(cluster, front, tb)
                assert status in (200, 503), (status, body)
                if status == 200 and [(n["conversation_id"], n["seq"]) for n in body["notifications"]] == expected:
                    break
            keys = {f"{bob}:{c}:{s}" for c, s in expected}
            for _ in poll(FAILOVER_DEADLINE_S, "the gateway to take every key"):
                if gateway.delivered(bob) == keys:
                    break
            assert [(n["conversation_id"], n["seq"]) for n in notifications(cluster, paused, tb)] == expected
            for nid in (front, paused):
                assert notifications_after_failover(cluster, nid, tc) == [], "carol was online throughout"
            assert gateway.delivered(carol) == set()
        finally:
            restart_and_settle(cluster, primary, NODES)
