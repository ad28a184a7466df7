"""Tips and wallets (PROTOCOL.md "Tips", `GET /v1/wallet`; docs/PROTOCOL-NOTES.md "Tips and
wallets") on real 3-node clusters with R=2: the embedded ledger credited with `relaynode admin
credit`, tips over WebSocket and HTTP, declines, bad tips, a retry through another node after
kill -9, and the HTTP billing adapter against a fake billing service started here."""
from __future__ import annotations

import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import _clusters_in_use, formed_cluster
from relay import Cluster, dm, error_code, poll
from test_admin import credit, wallet
from test_replication import restart_and_settle, shard, wait_replicated

NODES = ["n1", "n2", "n3"]
# Failure detection (~2.5 s) plus the register change, with room for 2 slow cores.
FAILOVER_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def tips3(tmp_path_factory):
    with formed_cluster(tmp_path_factory.mktemp("tips3"), NODES, replication=2) as cluster:
        yield cluster


def tip_body(client_id: str, to: str, cents, currency="USD", **extra) -> dict:
    return {"client_id": client_id, "to": to, "kind": "tip", "body": "thanks!",
            "tip": {"amount_cents": cents, "currency": currency}, **extra}


def post_tip(cluster: Cluster, nid: str, token: str, body: dict, timeout_s: float = 10.0):
    r = cluster.client(nid).request("POST", "/v1/messages", body=body, token=token, timeout_s=timeout_s)
    return r.status, r.json


def history(cluster: Cluster, nid: str, token: str, conv: str) -> list[dict]:
    status, page = cluster.client(nid).history(token, conv, limit=100)
    if status == 403:
        return []   # never opened: nothing stored
    assert status == 200, (status, page)
    return page["messages"]


def test_tips_over_websocket_and_http_charge_once_and_credit_the_creator(tips3):
    fan, fan_token = tips3.client("n1").new_user("fan")
    creator, creator_token = tips3.client("n2").new_user("creator")
    assert credit(tips3, fan, 1000)["balance_cents"] == 1000
    with tips3.client("n3").ws(creator_token) as creator_ws, tips3.client("n1").ws(fan_token) as fan_ws:
        ack = fan_ws.send_and_ack("ws-tip", to=creator, kind="tip", body="great stream",
                                  tip={"amount_cents": 300, "currency": "USD"})
        pushed = creator_ws.recv_until("message", where=lambda e: e.get("client_id") == "ws-tip")
        assert pushed["kind"] == "tip" and pushed["tip"] == {"amount_cents": 300, "currency": "USD"}
        assert pushed["seq"] == ack["seq"] and pushed["sender"] == fan
    # Over HTTP, with kind "text": any kind with a tip is stored as kind "tip".
    status, first = post_tip(tips3, "n2", fan_token, tip_body("http-tip", creator, 200, kind="text"))
    assert status == 200, first
    status, again = post_tip(tips3, "n3", fan_token, tip_body("http-tip", creator, 200))
    assert (status, again) == (200, first), "a retried client_id gets the first ack"
    for nid in NODES:
        assert wallet(tips3, nid, fan_token) == {"balance_cents": 500, "received_cents": 0, "currency": "USD"}
        assert wallet(tips3, nid, creator_token) == {"balance_cents": 0, "received_cents": 500, "currency": "USD"}
    stored = history(tips3, "n1", creator_token, dm(fan, creator))
    assert [(m["client_id"], m["kind"], m["tip"]) for m in stored] == [
        ("ws-tip", "tip", {"amount_cents": 300, "currency": "USD"}),
        ("http-tip", "tip", {"amount_cents": 200, "currency": "USD"})]


def test_a_declined_tip_is_402_with_billing_url_and_changes_nothing(tips3):
    fan, fan_token = tips3.client("n1").new_user("poor")
    creator, creator_token = tips3.client("n2").new_user("artist")
    credit(tips3, fan, 100)
    status, body = post_tip(tips3, "n3", fan_token, tip_body("too-much", creator, 300))
    assert status == 402 and error_code(body) == "payment_failed", (status, body)
    assert body["error"]["billing_url"].startswith("http"), body
    with tips3.client("n2").ws(fan_token) as ws:
        ws.send_msg("too-much-ws", to=creator, kind="tip", tip={"amount_cents": 101, "currency": "USD"})
        err = ws.recv_until_one_of(("ack", "error"), where=lambda e: e.get("client_id") == "too-much-ws")
        assert err["type"] == "error" and err["code"] == "payment_failed" and err["billing_url"], err
    assert wallet(tips3, "n1", fan_token)["balance_cents"] == 100
    assert wallet(tips3, "n1", creator_token)["received_cents"] == 0
    assert history(tips3, "n1", fan_token, dm(fan, creator)) == []
    # A tip the balance covers still goes through afterwards.
    status, ack = post_tip(tips3, "n1", fan_token, tip_body("fits", creator, 100))
    assert status == 200 and ack["seq"] == 1, (status, ack)
    assert wallet(tips3, "n2", fan_token)["balance_cents"] == 0


def test_bad_tips_are_400_and_change_nothing(tips3):
    fan, fan_token = tips3.client("n1").new_user("sloppy")
    creator, creator_token = tips3.client("n2").new_user("singer")
    credit(tips3, fan, 10_000_000)
    bad = [{"amount_cents": -5, "currency": "USD"}, {"amount_cents": 0, "currency": "USD"},
           {"amount_cents": 1_000_001, "currency": "USD"}, {"amount_cents": 10**30, "currency": "USD"},
           {"amount_cents": 1.5, "currency": "USD"}, {"amount_cents": "100", "currency": "USD"},
           {"amount_cents": 100, "currency": "EUR"}, {"amount_cents": 100, "currency": 7}, "100"]
    for i, tip in enumerate(bad):
        status, body = post_tip(tips3, "n3", fan_token, {"client_id": f"bad-{i}", "to": creator, "kind": "tip", "body": "", "tip": tip})
        assert status == 400 and error_code(body) == "bad_request", (tip, status, body)
    for body in [{"client_id": "grp", "conversation_id": "grp:abcdef", "kind": "tip", "body": "", "tip": {"amount_cents": 5, "currency": "USD"}},
                 tip_body("self", fan, 5)]:
        status, answer = post_tip(tips3, "n1", fan_token, body)
        assert status == 400 and error_code(answer) == "bad_request", (body, status, answer)
    with tips3.client("n2").ws(fan_token) as ws:
        ws.send_msg("bad-ws", to=creator, kind="tip", tip={"amount_cents": 0, "currency": "USD"})
        err = ws.recv_until_one_of(("ack", "error"), where=lambda e: e.get("client_id") == "bad-ws")
        assert err["type"] == "error" and err["code"] == "bad_request", err
        ws.ping_pong()
    assert wallet(tips3, "n1", fan_token)["balance_cents"] == 10_000_000
    assert wallet(tips3, "n1", creator_token)["received_cents"] == 0
    assert history(tips3, "n1", fan_token, dm(fan, creator)) == []


def test_a_tip_retried_through_another_node_after_kill9_is_charged_once(tips3):
    """The tip goes to the primary of the sender's shard, which is killed -9 while it serves
    it; the client retries the same client_id through the other nodes until acked."""
    wait_replicated(tips3, NODES, 2)   # an earlier kill's restart has settled
    fan, fan_token = tips3.client("n1").new_user("brave")
    creator, creator_token = tips3.client("n2").new_user("host")
    credit(tips3, fan, 1000)
    status, shards = tips3.client("n1").http("GET", f"/v1/cluster/shards?user={fan}")
    assert status == 200, shards
    primary = shards["shards"][0]["primary"]
    others = [n for n in NODES if n != primary]
    body = json.dumps(tip_body("k9", creator, 400)).encode()
    with socket.create_connection(tips3.addr(primary), timeout=5) as s:
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Authorization: Bearer {fan_token}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        assert tips3.kill(primary, signal.SIGKILL) == -signal.SIGKILL
    try:
        i = 0
        for _ in poll(FAILOVER_DEADLINE_S, "an ack for the retried tip", interval_s=0.2):
            status, ack = post_tip(tips3, others[i % 2], fan_token, tip_body("k9", creator, 400))
            i += 1
            if status == 200:
                break
            assert status == 503 and error_code(ack) == "unavailable", (status, ack)
        status, again = post_tip(tips3, others[i % 2], fan_token, tip_body("k9", creator, 400))
        assert (status, again) == (200, ack)
        for nid in others:
            assert wallet(tips3, nid, fan_token)["balance_cents"] == 600, "charged exactly once"
            assert wallet(tips3, nid, creator_token)["received_cents"] == 400, "credited exactly once"
        assert [m["client_id"] for m in history(tips3, others[0], creator_token, dm(fan, creator))] == ["k9"]
    finally:
        restart_and_settle(tips3, primary, NODES)


def test_a_charged_tip_whose_front_died_before_the_send_is_sent_once(tips3):
    """Deterministic: the chat's shard primary is paused (SIGSTOP), so the tip is charged and
    its send job waits; then the node that took the request (the sender's shard primary) is
    killed -9 before answering. The retry through the surviving node is not charged again and
    the job, resumed by the new primary, stores the message once."""
    wait_replicated(tips3, NODES, 2)
    fan, fan_token = tips3.client("n1").new_user("patron")
    fan_shard = shard(tips3, "n1", f"user={fan}")
    front = fan_shard["primary"]
    survivor = [n for n in fan_shard["isr"] if n != front][0]
    paused = [n for n in NODES if n not in (front, survivor)][0]
    for _ in poll(20.0, f"a creator whose chat with {fan} is led by {paused}", interval_s=0):
        creator, creator_token = tips3.client(survivor).new_user("muse")
        if shard(tips3, survivor, f"conversation={dm(fan, creator)}")["primary"] == paused:
            break
    credit(tips3, fan, 1000)
    # The chat is opened (and known open on the front) by a first message.
    tips3.client(front).send(fan_token, client_id="hello", to=creator)
    tips3.nodes[paused].proc.send_signal(signal.SIGSTOP)
    try:
        body = json.dumps(tip_body("stuck", creator, 400)).encode()
        with socket.create_connection(tips3.addr(front), timeout=5) as s:
            s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Authorization: Bearer {fan_token}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            # Charged, and the survivor holds the charge: it is in the shard's in-sync copies
            # (a busy machine can make the primary drop it for a moment; it is added back
            # only once it caught up).
            for _ in poll(10.0, lambda: f"the charge, replicated to the survivor: {shard(tips3, front, f'user={fan}')}"):
                status, mine = tips3.client(survivor).http("GET", "/v1/wallet", token=fan_token)
                assert status in (200, 503), (status, mine)   # 503: a read held up by the pause; poll again
                if status == 200 and mine["balance_cents"] == 600 \
                        and survivor in shard(tips3, front, f"user={fan}")["isr"]:
                    break
            assert tips3.kill(front, signal.SIGKILL) == -signal.SIGKILL
    finally:
        tips3.nodes[paused].proc.send_signal(signal.SIGCONT)
    try:
        answers = []
        for _ in poll(FAILOVER_DEADLINE_S, lambda: f"an ack for the retried tip; answers: {answers[-3:]}", interval_s=0.2):
            status, ack = post_tip(tips3, survivor, fan_token, tip_body("stuck", creator, 400))
            answers.append((status, ack))
            if status == 200:
                break
            assert status == 503 and error_code(ack) == "unavailable", (status, ack)
        assert ack["seq"] == 2
        for nid in (survivor, paused):
            assert wallet(tips3, nid, fan_token)["balance_cents"] == 600, "charged exactly once"
            assert wallet(tips3, nid, creator_token)["received_cents"] == 400, "credited exactly once"
        assert [m["client_id"] for m in history(tips3, survivor, creator_token, dm(fan, creator))] == ["hello", "stuck"]
    finally:
        restart_and_settle(tips3, front, NODES)


# -- the HTTP billing adapter ----------------------------------------------------------------

class FakeBilling:
    """A billing service on 127.0.0.1: charges once per Idempotency-Key; declines the users in
    `declining` (402); answers the users in `slow` after `slow_s` (past the adapter's timeout)."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.charged: dict[str, dict] = {}
        self.declining: set[str] = set()
        self.slow: set[str] = set()
        self.failing: set[str] = set()
        self.slow_s = 1.5
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key", "")
                with fake.lock:
                    fake.calls.append((key, body))
                if body["user"] in fake.slow:
                    time.sleep(fake.slow_s)
                if body["user"] in fake.failing:
                    return self.answer(500, {"error": "down"})
                if body["user"] in fake.declining:
                    return self.answer(402, {"error": "insufficient funds"})
                with fake.lock:
                    fake.charged.setdefault(key, body)
                self.answer(200, {"status": "charged", "key": key})

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass   # the adapter gave up waiting (the slow case): the charge stands

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/charge"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def billed3(tmp_path_factory):
    fake = FakeBilling()
    cluster = Cluster(tmp_path_factory.mktemp("billed3"), ids=NODES, replication=2,
                      extra={"billing": {"kind": "http", "url": fake.url, "timeout_ms": 500,
                                         "billing_url": "https://pay.example.com/top-up"}})
    _clusters_in_use.append(cluster)
    try:
        cluster.start_all()
        cluster.wait_formed(NODES)
        yield cluster, fake
    finally:
        _clusters_in_use.remove(cluster)
        cluster.stop_all()
        fake.stop()


def test_the_http_adapter_charges_once_per_idempotency_key(billed3):
    cluster, fake = billed3
    fan, fan_token = cluster.client("n1").new_user("payer")
    creator, creator_token = cluster.client("n2").new_user("payee")
    status, ack = post_tip(cluster, "n1", fan_token, tip_body("ext-1", creator, 250))
    assert status == 200, ack
    fake.failing.add(fan)   # the service is down: a retry of a recorded charge needs no call
    status, again = post_tip(cluster, "n3", fan_token, tip_body("ext-1", creator, 250))
    assert (status, again) == (200, ack)
    status, body = post_tip(cluster, "n3", fan_token, tip_body("ext-2", creator, 250))
    assert status == 503 and error_code(body) == "unavailable", (status, body)
    fake.failing.discard(fan)
    key = f"{fan}:ext-1"
    calls = [(k, b) for k, b in fake.calls if b["user"] == fan]
    assert calls and all(k == b["idempotency_key"] == f"{fan}:{b['client_id']}" for k, b in calls), calls
    assert fake.charged[key] == {"user": fan, "amount_cents": 250, "currency": "USD", "recipient": creator,
                                      "client_id": "ext-1", "idempotency_key": key}
    assert len([k for k in fake.charged if k.startswith(fan + ":")]) == 1, "charged once"
    assert [k for k, b in fake.calls if b["user"] == fan] == [key, f"{fan}:ext-2"], "the retry of ext-1 made no call"
    assert wallet(cluster, "n2", creator_token)["received_cents"] == 250
    mine = wallet(cluster, "n3", fan_token)
    assert mine["balance_cents"] is None and mine["billing_url"] == "https://pay.example.com/top-up", mine
    assert [m["kind"] for m in history(cluster, "n1", creator_token, dm(fan, creator))] == ["tip"]


def test_the_http_adapter_declines_and_times_out_without_storing(billed3):
    cluster, fake = billed3
    fan, fan_token = cluster.client("n1").new_user("broke")
    creator, creator_token = cluster.client("n2").new_user("waiter")
    fake.declining.add(fan)
    status, body = post_tip(cluster, "n2", fan_token, tip_body("ext-no", creator, 100))
    assert status == 402 and error_code(body) == "payment_failed", (status, body)
    assert body["error"]["billing_url"] == "https://pay.example.com/top-up"
    fake.declining.discard(fan)
    fake.slow.add(fan)
    t0 = time.monotonic()
    status, body = post_tip(cluster, "n3", fan_token, tip_body("ext-slow", creator, 100))
    assert status == 503 and error_code(body) == "unavailable" and body["error"]["retry_after_ms"] > 0, (status, body)
    assert time.monotonic() - t0 < 1.4, "the adapter's 500 ms timeout, not the service's 1.5 s"
    assert history(cluster, "n1", creator_token, dm(fan, creator)) == []
    assert wallet(cluster, "n1", creator_token)["received_cents"] == 0
    # The service recovers: the same client_id goes through once.
    fake.slow.discard(fan)
    status, ack = post_tip(cluster, "n1", fan_token, tip_body("ext-slow", creator, 100))
    assert status == 200, ack
    assert wallet(cluster, "n2", creator_token)["received_cents"] == 100
    assert [m["client_id"] for m in history(cluster, "n1", creator_token, dm(fan, creator))] == ["ext-slow"]
    assert [k for k in fake.charged if k.startswith(fan + ":")] == [f"{fan}:ext-slow"], "the late charge and the retry: once"
    assert billing_metric(cluster, "n2", "declined") >= 1 and billing_metric(cluster, "n3", "failed") >= 1
    assert billing_metric(cluster, "n1", "charged") >= 1


def billing_metric(cluster: Cluster, nid: str, what: str) -> int:
    r = cluster.client(nid).request("GET", "/metrics")
    for line in r.raw.decode().splitlines():
        if line.startswith(f"relay_billing_{what}_total{{"):
            return int(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no relay_billing_{what}_total on {nid}")


def test_the_http_adapter_charges_once_when_the_front_dies_during_the_call(billed3):
    """The front node is killed -9 while the service holds the charge (which it then makes);
    the client's retry through another node sends the same key: one charge, one message."""
    cluster, fake = billed3
    fan, fan_token = cluster.client("n1").new_user("killed")
    creator, creator_token = cluster.client("n2").new_user("keeper")
    front = "n3"
    fake.slow.add(fan)
    body = json.dumps(tip_body("ext-k9", creator, 150)).encode()
    try:
        with socket.create_connection(cluster.addr(front), timeout=5) as s:
            s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Authorization: Bearer {fan_token}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            for _ in poll(5.0, "the front's call at the billing service"):
                if any(b["user"] == fan for _, b in fake.calls):
                    break
            assert cluster.kill(front, signal.SIGKILL) == -signal.SIGKILL
        fake.slow.discard(fan)
        for _ in poll(5.0, "the held charge made"):
            if f"{fan}:ext-k9" in fake.charged:
                break
        for _ in poll(FAILOVER_DEADLINE_S, "an ack for the retried tip", interval_s=0.2):
            status, ack = post_tip(cluster, "n1", fan_token, tip_body("ext-k9", creator, 150))
            if status == 200:
                break
            assert status == 503 and error_code(ack) == "unavailable", (status, ack)
    finally:
        fake.slow.discard(fan)
        cluster.start(front)
    assert [k for k in fake.charged if k.startswith(fan + ":")] == [f"{fan}:ext-k9"]
    assert len([1 for _, b in fake.calls if b["user"] == fan]) >= 2, "the retry called the service again, with the same key"
    assert wallet(cluster, "n2", creator_token)["received_cents"] == 150
    assert [m["client_id"] for m in history(cluster, "n2", creator_token, dm(fan, creator))] == ["ext-k9"]
