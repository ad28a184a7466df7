"""Partial faults between real node processes (issue 10): one-way cuts, loss between two
nodes, isolation, a symmetric partition and a paused node, on 3 nodes with R=2 and 5 with R=3,
under chat load sent through every node (retries keep the same client_id). Each node runs in a
network namespace of its own (tests/netns.py), so the faults are real packet drops.

What must hold: nothing acked is lost or stored twice, every node reads the same gapless
histories, an ack means R copies while R nodes are alive (shown by killing a primary that was
cut from a follower and wiping its data: every ack survives), a shard is back to R in-sync
copies within a few seconds of a fault, a node cut off from the majority refuses at once, and a
healed node serves again within seconds."""
from __future__ import annotations

import http.client
import json
import shutil
import signal
import threading
import time
import uuid

import pytest

from netns import NetCluster, namespaces_available, remove_leftovers

PASSWORD = "correct horse"
# Bounds the issue sets (targets are met with room; figures in docs/REPLICATION.md).
BACK_TO_R_S = 5.0            # a shard has R in-sync copies again within this of a fault
MINORITY_REFUSAL_S = 0.05    # a node that knows it has no majority answers within this
HEALED_SERVES_S = 5.0        # a healed node serves again within this


@pytest.fixture(scope="module", autouse=True)
def _namespaces():
    why = namespaces_available()
    if why:
        pytest.skip(f"partition tests need network namespaces: {why}")
    remove_leftovers()


def call(cluster: NetCluster, nid: str, method: str, path: str, body=None, token: str | None = None,
         timeout: float = 5.0) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(cluster.ip(nid), 7001, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else {})
    except OSError as e:
        return 0, {"error": {"code": "network", "message": str(e)}}
    finally:
        conn.close()


class Load:
    """Clients on every node sending into a few direct chats; each message is retried with the
    same client_id (at the next node) until acked. `acks` maps (conversation, client_id) to
    the acked seq."""

    def __init__(self, cluster: NetCluster, pairs: int = 6):
        self.cluster = cluster
        self.users: list[tuple[str, str]] = []
        tag = uuid.uuid4().hex[:5]
        for i in range(pairs * 2):
            user = f"p{tag}{i}"
            for attempt in range(50):
                status, body = call(cluster, cluster.ids[i % len(cluster.ids)], "POST", "/v1/signup",
                                    {"user": user, "password": PASSWORD})
                if status == 201:
                    self.users.append((user, body["token"]))
                    break
                time.sleep(0.2)
            else:
                pytest.fail(f"signup of {user}: {status} {body}")
        self.chats = [(self.users[2 * i], self.users[2 * i + 1]) for i in range(pairs)]
        self.acks: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sent = 0

    def conversation(self, i: int) -> str:
        a, b = self.chats[i][0][0], self.chats[i][1][0]
        x, y = sorted([a, b])
        return f"dm:{x}:{y}"

    def _run(self, worker: int):
        n = 0
        nodes = self.cluster.ids
        while not self.stop.is_set():
            chat = self.chats[(worker + n) % len(self.chats)]
            (sender, token), (to, _) = chat if n % 2 == 0 else (chat[1], chat[0])
            client_id = f"w{worker}-{n}"
            conv = "dm:" + ":".join(sorted([sender, to]))
            deadline = time.monotonic() + 30
            attempt = 0
            while time.monotonic() < deadline:
                nid = nodes[(worker + attempt) % len(nodes)]
                status, body = call(self.cluster, nid, "POST", "/v1/messages",
                                    {"client_id": client_id, "to": to, "kind": "text", "body": client_id}, token, timeout=4)
                if status == 200:
                    with self.lock:
                        first = self.acks.setdefault((conv, client_id), body["seq"])
                        assert first == body["seq"], f"{client_id} acked as seq {first} and {body['seq']}"
                        self.sent += 1
                    break
                attempt += 1
                time.sleep(0.05)
            n += 1
            time.sleep(0.02)

    def start(self, workers: int = 3):
        for w in range(workers):
            t = threading.Thread(target=self._run, args=(w,), daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(40)

    def check(self, nodes: list[str]):
        """Every acked message present once at its seq, identical gapless histories on every
        node."""
        by_conv: dict[str, dict[str, int]] = {}
        for (conv, cid), seq in self.acks.items():
            by_conv.setdefault(conv, {})[cid] = seq
        for i in range(len(self.chats)):
            conv = self.conversation(i)
            token = self.chats[i][0][1]
            views = {}
            for nid in nodes:
                views[nid] = read_all(self.cluster, nid, conv, token)
            reference = views[nodes[0]]
            for nid, view in views.items():
                assert view == reference, f"{conv}: {nid} reads {len(view)} messages, {nodes[0]} {len(reference)}"
            seqs = [m[0] for m in reference]
            assert seqs == list(range(1, len(seqs) + 1)), f"{conv}: seqs not gapless: {seqs[:20]}"
            cids = [m[1] for m in reference]
            assert len(cids) == len(set(cids)), f"{conv}: a client_id stored twice"
            stored = dict((cid, seq) for seq, cid in reference)
            for cid, seq in by_conv.get(conv, {}).items():
                assert stored.get(cid) == seq, f"{conv}: {cid} acked at seq {seq}, stored at {stored.get(cid)}"


def read_all(cluster: NetCluster, nid: str, conv: str, token: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    after = 0
    for _ in range(200):
        for attempt in range(60):
            status, body = call(cluster, nid, "GET", f"/v1/conversations/{conv}/messages?after={after}&limit=100", token=token)
            if status == 200:
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"history of {conv} from {nid}: {status} {body}")
        out += [(m["seq"], m["client_id"]) for m in body["messages"]]
        if not body["has_more"]:
            return out
        after = out[-1][0]
    pytest.fail("history too long")


def shard_table(cluster: NetCluster, nid: str) -> list[dict]:
    return cluster.status(nid, "/v1/cluster/shards")["shards"]


def wait_r_copies(cluster: NetCluster, observers: list[str], r: int, deadline_s: float,
                  cut: tuple[str, str] | None = None) -> float:
    """Seconds until every shard's newest config (as the observers see it) has r in-sync
    copies; with `cut` (a, b), also none that pairs a primary and a follower across the cut."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < deadline_s:
        newest: dict[int, dict] = {}
        try:
            for nid in observers:
                for s in shard_table(cluster, nid):
                    if s["shard"] not in newest or s["epoch"] > newest[s["shard"]]["epoch"]:
                        newest[s["shard"]] = s
        except OSError as e:
            last = str(e)
            time.sleep(0.1)
            continue
        short = {k: v["isr"] for k, v in newest.items() if len(v["isr"]) < r}
        if cut:
            a, b = cut
            short.update({k: v["isr"] for k, v in newest.items()
                          if (v["primary"] == a and b in v["isr"]) or (v["primary"] == b and a in v["isr"])})
        if not short:
            return time.monotonic() - start
        last = f"shards under {r} copies: {short}"
        time.sleep(0.1)
    pytest.fail(f"not back to {r} copies within {deadline_s}s: {last}")


def wait_formed(cluster: NetCluster, r: int):
    for _ in range(200):
        try:
            if all(all(m["state"] == "alive" for m in cluster.status(nid)["members"]) for nid in cluster.ids):
                break
        except OSError:
            pass
        time.sleep(0.1)
    wait_r_copies(cluster, cluster.ids, r, 30)


@pytest.fixture
def trio(tmp_path):
    c = NetCluster(tmp_path, n=3, replication=2, block=81)
    try:
        c.start_all()
        wait_formed(c, 2)
        yield c
    finally:
        c.down()


@pytest.fixture
def quintet(tmp_path):
    c = NetCluster(tmp_path, n=5, replication=3, block=82)
    try:
        c.start_all()
        wait_formed(c, 3)
        yield c
    finally:
        c.down()


def primary_of(cluster: NetCluster, nid: str, conv: str) -> str:
    s = cluster.status(nid, f"/v1/cluster/shards?conversation={conv}")["shards"][0]
    return s["primary"]


def test_a_one_way_cut_keeps_r_copies_and_an_ack_survives_its_primarys_loss(trio):
    """Issue 10, finding 1: with n1 → n2 cut, n1 dropped n2 from its shards' isr and acked
    with one copy for the whole cut. Now a stand-in (n3) makes R copies again within seconds,
    n1's clients reach n2's shards through n3, and every ack means two copies: kill -9 n1 while
    the cut is on, wipe its data, and nothing acked is lost."""
    load = Load(trio)
    load.start()
    time.sleep(1.5)
    trio.cut("n1", "n2")
    cut_at = time.monotonic()
    took = wait_r_copies(trio, ["n1", "n3"], 2, BACK_TO_R_S, cut=("n1", "n2"))
    time.sleep(max(0, 6 - (time.monotonic() - cut_at)))
    acked_during_cut = load.sent
    # The primary of the cut side dies with its disk: what it acked must be elsewhere.
    trio.kill("n1", signal.SIGKILL)
    shutil.rmtree(trio.tmp / "n1", ignore_errors=True)
    trio.heal()
    time.sleep(2)
    load.finish()
    trio.start("n1")
    wait_r_copies(trio, trio.ids, 2, 30)
    load.check(trio.ids)
    assert acked_during_cut > 20, f"hardly any load got through the cut ({acked_during_cut} acks)"
    print(f"two reachable copies of every shard {took:.2f} s after the cut; {load.sent} acked")


def test_loss_between_two_nodes_loses_and_duplicates_nothing(trio):
    load = Load(trio)
    load.start()
    time.sleep(1)
    trio.loss("n1", "n2", 30)
    trio.loss("n2", "n1", 30)
    time.sleep(8)
    wait_r_copies(trio, trio.ids, 2, BACK_TO_R_S)
    trio.heal()
    time.sleep(1)
    load.finish()
    wait_r_copies(trio, trio.ids, 2, 30)
    load.check(trio.ids)


def test_an_isolated_node_refuses_at_once_and_serves_within_seconds_of_the_heal(trio):
    """Issue 10, findings 2 and 3: a node cut off took ~5 s to answer each request, and once
    healed served nothing for 13-17 s (it rejoined at the next 30 s push-pull)."""
    load = Load(trio, pairs=3)
    (user, token), (other, _) = load.chats[0]
    trio.isolate("n1")
    for _ in range(200):
        if not trio.status("n1")["local"]["has_majority"]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("n1 never noticed it had no majority")
    t0 = time.monotonic()
    status, body = call(trio, "n1", "POST", "/v1/messages", {"client_id": "x1", "to": other, "kind": "text", "body": "x"}, token)
    refused_in = time.monotonic() - t0
    assert status == 503 and body["error"]["code"] == "unavailable" and body["error"]["retry_after_ms"] > 0, body
    assert refused_in < MINORITY_REFUSAL_S, f"a minority took {refused_in * 1000:.0f} ms to refuse"
    # Long enough for both sides to declare each other dead.
    for _ in range(150):
        if trio.status("n2")["members"][0]["state"] == "dead":
            break
        time.sleep(0.1)
    time.sleep(1)
    trio.heal()
    healed = time.monotonic()
    for _ in range(400):
        status, _ = call(trio, "n1", "POST", "/v1/messages", {"client_id": "x2", "to": other, "kind": "text", "body": "x"},
                         token, timeout=2)
        if status == 200:
            break
        time.sleep(0.05)
    serving_after = time.monotonic() - healed
    assert status == 200, "n1 never served again"
    assert serving_after < HEALED_SERVES_S, f"n1 served again {serving_after:.1f} s after the heal"
    print(f"refused in {refused_in * 1000:.1f} ms; serving {serving_after:.2f} s after the heal")


def test_a_paused_node_loses_nothing_and_the_cluster_goes_on(trio):
    load = Load(trio)
    load.start()
    time.sleep(1)
    trio.pause("n2")
    time.sleep(5)
    trio.resume("n2")
    time.sleep(1)
    load.finish()
    wait_r_copies(trio, trio.ids, 2, 30)
    load.check(trio.ids)


def test_five_nodes_r3_a_two_three_partition_and_a_one_way_cut(quintet):
    """5 nodes, R=3: the minority side refuses, the majority serves with three copies, and
    after healing every node reads the same histories; then a one-way cut n3 → n4."""
    load = Load(quintet)
    load.start()
    time.sleep(1)
    quintet.partition(["n1", "n2"], ["n3", "n4", "n5"])
    for _ in range(200):
        if not quintet.status("n1")["local"]["has_majority"]:
            break
        time.sleep(0.05)
    wait_r_copies(quintet, ["n3", "n4", "n5"], 3, 10)
    time.sleep(2)
    quintet.heal()
    wait_r_copies(quintet, quintet.ids, 3, 30)
    quintet.cut("n3", "n4")
    wait_r_copies(quintet, ["n1", "n2", "n3", "n5"], 3, BACK_TO_R_S + 2)
    time.sleep(3)
    quintet.heal()
    time.sleep(1)
    load.finish()
    wait_r_copies(quintet, quintet.ids, 3, 30)
    load.check(quintet.ids)
