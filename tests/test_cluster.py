"""A real cluster of `relaynode` processes (docs/CLUSTER.md): it forms, serves every user on
every node, delivers live and offline events across nodes, and survives joins, graceful leaves,
SIGTERM and kill -9. Tests that only talk to the cluster share one 3-node cluster (`cluster3`);
tests that start, stop or kill nodes get their own (`make_cluster`). Every wait polls an
observable state (/v1/cluster, an event, an HTTP answer) against a deadline."""
from __future__ import annotations

import hashlib
import hmac
import os
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from relay import Cluster, dm, error_code, poll, unique_user

NODES = ["n1", "n2", "n3"]
# Gossip declares a kill -9'd node dead in about 2.5 s (docs/GOSSIP.md); generous for 2 cores.
DEAD_DEADLINE_S = 15.0
# The router retries a shard without a primary for 2.5 s before `unavailable` (docs/CLUSTER.md).
UNAVAILABLE_AFTER_S = 2.5


def users_on(cluster: Cluster, n: int, prefix: str) -> list[tuple[str, str, str]]:
    """`n` users signed up round-robin through every running node: [(user, token, node)]."""
    nids = [nid for nid, node in cluster.nodes.items() if node.alive]
    out = []
    for i in range(n):
        nid = nids[i % len(nids)]
        user, token = cluster.client(nid).signup(unique_user(prefix))
        out.append((user, token, nid))
    return out


def message_events(ws) -> list[dict]:
    return [e for e in ws.seen if e["type"] == "message"]


def message_from(ws, sender: str) -> dict:
    """The first message event from `sender`, whether it already came (while the socket waited
    for an ack) or comes within the event timeout."""
    for e in message_events(ws):
        if e["sender"] == sender:
            return e
    return ws.recv_until("message", where=lambda e: e["sender"] == sender)


def assert_same_everywhere(cluster: Cluster, nids, token: str, conv: str, acks: dict[str, dict]) -> list[dict]:
    """The conversation's history, read through every node in `nids`, is one gapless list
    holding every acked message exactly as acked."""
    histories = {nid: cluster.client(nid).all_history(token, conv) for nid in nids}
    first = histories[nids[0]]
    for nid, h in histories.items():
        assert h == first, f"history of {conv} through {nid} differs from {nids[0]}"
    assert [m["seq"] for m in first] == list(range(1, len(first) + 1)), [m["seq"] for m in first]
    by_cid = {m["client_id"]: m for m in first}
    for cid, ack in acks.items():
        m = by_cid.get(cid)
        assert m is not None, f"acked message {cid} (seq {ack['seq']}) is missing"
        assert (m["seq"], m["message_id"]) == (ack["seq"], ack["message_id"]), (m, ack)
    return first


def send_many(cluster: Cluster, nid: str, token: str, to: str, n: int, prefix: str) -> dict[str, dict]:
    client = cluster.client(nid)
    return {f"{prefix}-{i}": client.send(token, client_id=f"{prefix}-{i}", to=to, body=f"{prefix} {i}")
            for i in range(n)}


# --------------------------------------------------------------------------------------------
# The shared 3-node cluster


def test_cluster_forms_with_one_ring_and_every_shard_served_by_its_leader(cluster3):
    # Peer links open on first use (a register message, a replication append, a request).
    statuses = cluster3.wait_status(NODES, lambda ss: all(
        sorted(s["local"]["peers_connected"]) == sorted(set(NODES) - {nid}) for nid, s in ss.items()),
        deadline_s=15, what="every node connected to every other")
    rings = {nid: s["ring"] for nid, s in statuses.items()}
    assert all(r == NODES for r in rings.values()), rings
    versions = {nid: s["ring_version"] for nid, s in statuses.items()}
    assert len(set(versions.values())) == 1, f"ring versions differ: {versions}"
    led_seen = None
    for nid, s in statuses.items():
        members = {m["id"]: m for m in s["members"]}
        assert sorted(members) == NODES, s["members"]
        assert all(m["state"] == "alive" and m["in_ring"] for m in members.values()), s["members"]
        led = {m_id: m["shards_led"] for m_id, m in members.items()}
        assert sum(led.values()) == s["shards"] == 16, led
        # With 16 shards over 3 nodes the balanced ring gives each 5 or 6.
        assert all(5 <= v <= 6 for v in led.values()), led
        led_seen = led_seen or led
        assert led == led_seen, f"{nid} sees other leaders: {led} vs {led_seen}"
        assert s["local"]["shards_serving"] == led[nid], (nid, s["local"])
        assert s["local"]["shards_pulling"] == [], s["local"]
        assert sorted(s["local"]["peers_connected"]) == sorted(set(NODES) - {nid}), s["local"]
        assert s["local"]["gossip_rejected_datagrams"] == 0, s["local"]


def test_a_token_from_any_node_works_on_every_node_over_http_and_websocket(cluster3):
    user, signup_token = cluster3.client("n1").signup(unique_user("tok"))
    login_token = cluster3.client("n2").login(user, device="phone")
    for token in (signup_token, login_token):
        for nid in NODES:
            status, body = cluster3.client(nid).http("GET", "/v1/conversations", token=token)
            assert status == 200, (nid, status, body)
        with cluster3.client("n3").ws(token) as ws:
            assert (ws.hello["user"], ws.hello["node"]) == (user, "n3"), ws.hello
            ws.ping_pong()
    # A login through n3 finds the account made through n1, and a wrong password is refused there.
    assert cluster3.client("n3").login(user) != login_token
    status, body = cluster3.client("n3").http("POST", "/v1/login", {"user": user, "password": "wrong password"})
    assert (status, error_code(body)) == (401, "unauthorized")
    # The user id is taken cluster-wide: signing up the same id through another node is a 409.
    status, body = cluster3.client("n3").http("POST", "/v1/signup", {"user": user, "password": "correct horse"})
    assert (status, error_code(body)) == (409, "conflict"), body


def test_a_message_reaches_the_recipient_and_the_senders_other_device_on_other_nodes(cluster3):
    alice, ta = cluster3.client("n1").signup(unique_user("alice"))
    bob, tb = cluster3.client("n2").signup(unique_user("bob"))
    ta3 = cluster3.client("n3").login(alice, device="tablet")
    conv = dm(alice, bob)
    with cluster3.client("n1").ws(ta) as a1, cluster3.client("n2").ws(tb) as b2, \
            cluster3.client("n3").ws(ta3) as a3:
        ack = a1.send_and_ack("x-1", to=bob, body="hello across nodes")
        assert (ack["conversation_id"], ack["seq"]) == (conv, 1), ack
        for ws, where in ((b2, "bob on n2"), (a3, "alice's tablet on n3")):
            m = ws.recv_until("message")
            assert (m["conversation_id"], m["seq"], m["message_id"], m["sender"], m["body"]) == \
                   (conv, 1, ack["message_id"], alice, "hello across nodes"), (where, m)
        # bob answers from n2: alice gets it on both devices, bob's socket only the ack.
        back = b2.send_and_ack("y-1", to=alice, body="hi alice")
        for ws in (a1, a3):
            m = ws.recv_until("message")
            assert (m["seq"], m["message_id"], m["sender"]) == (2, back["message_id"], bob), m
        a1.expect_nothing(0.3, ignore={"presence", "typing", "receipt"})
        assert message_events(a1) == [m for m in message_events(a1) if m["sender"] == bob]
        assert [m["seq"] for m in message_events(b2)] == [1], "the sending socket got its own message"


def test_many_users_spread_over_nodes_each_message_the_next_live(cluster3):
    n = 20
    users = users_on(cluster3, n, "ring")
    before = sum(cluster3.status(nid)["local"]["events_forwarded"] for nid in NODES)
    sockets = [cluster3.client(nid).ws(token) for _, token, nid in users]
    try:
        acks = {}
        for i, (user, _, _) in enumerate(users):
            nxt = users[(i + 1) % n][0]
            acks[i] = sockets[i].send_and_ack(f"ring-{i}", to=nxt, body=f"from {user}")
        for i, ws in enumerate(sockets):
            prev_user = users[(i - 1) % n][0]
            m = message_from(ws, prev_user)
            assert (m["conversation_id"], m["seq"], m["message_id"], m["body"]) == \
                   (dm(prev_user, users[i][0]), 1, acks[(i - 1) % n]["message_id"], f"from {prev_user}"), m
        # Every recipient sits on another node than its sender: primaries pushed events to peers.
        after = sum(cluster3.status(nid)["local"]["events_forwarded"] for nid in NODES)
        assert after > before
        for i, ws in enumerate(sockets):
            own = users[i][0]
            assert all(m["sender"] != own for m in message_events(ws)), "a sender got its own message"
    finally:
        for ws in sockets:
            ws.close()


def test_a_backlog_sent_through_one_node_is_delivered_on_connect_to_another(cluster3):
    alice, ta = cluster3.client("n2").signup(unique_user("alice"))
    bob, tb = cluster3.client("n3").signup(unique_user("bob"))
    acks = send_many(cluster3, "n3", ta, bob, 5, "off")
    with cluster3.client("n1").ws(tb) as b1:
        assert b1.hello["node"] == "n1"
        hello_conv = {c["conversation_id"]: c for c in b1.hello["conversations"]}
        assert hello_conv[dm(alice, bob)]["last_seq"] == 5, b1.hello
        got = [(m["seq"], m["message_id"], m["body"]) for m in b1.backlog if m["type"] == "message"]
        assert got == [(a["seq"], a["message_id"], f"off {i}") for i, a in enumerate(acks.values())], b1.backlog
        assert b1.synced["conversations"] == [dm(alice, bob)], b1.synced


def test_receipts_cross_nodes_and_every_node_lists_the_same_cursors(cluster3):
    alice, ta = cluster3.client("n1").signup(unique_user("alice"))
    bob, tb = cluster3.client("n2").signup(unique_user("bob"))
    conv = dm(alice, bob)
    send_many(cluster3, "n1", ta, bob, 6, "rc")
    with cluster3.client("n1").ws(ta) as a1:
        # bob reads 4 of 6 through n3 (HTTP); alice's socket on n1 sees his cursors.
        r = cluster3.client("n3").request("POST", f"/v1/conversations/{conv}/receipts", body={"read": 4}, token=tb)
        assert r.status == 204, r
        ev = a1.recv_until("receipt", where=lambda e: e["user"] == bob)
        assert (ev["conversation_id"], ev["delivered"], ev["read"]) == (conv, 4, 4), ev
    with cluster3.client("n2").ws(tb) as b2:
        # bob's own WebSocket receipt on n2, read further; alice sees it through any node.
        b2.send_json({"type": "receipt", "conversation_id": conv, "read": 6})
        b2.recv_until("receipt", where=lambda e: e["user"] == bob and e["read"] == 6)
    views = {}
    for nid in NODES:
        mine = cluster3.client(nid).conversation(tb, conv)
        theirs = cluster3.client(nid).conversation(ta, conv)
        views[nid] = ({k: mine[k] for k in ("last_seq", "delivered", "read", "unread")},
                      {k: theirs[k] for k in ("last_seq", "unread")})
    assert views["n1"] == views["n2"] == views["n3"], views
    assert views["n1"][0] == {"last_seq": 6, "delivered": 6, "read": 6, "unread": 0}, views
    assert views["n1"][1] == {"last_seq": 6, "unread": 0}, views


def test_history_read_through_every_node_is_identical(cluster3):
    alice, ta = cluster3.client("n1").signup(unique_user("alice"))
    bob, tb = cluster3.client("n2").signup(unique_user("bob"))
    acks = {}
    # 120 messages sent through all three nodes, so history spans two pages of 100.
    for i in range(120):
        nid, (token, to) = NODES[i % 3], ((ta, bob) if i % 2 else (tb, alice))
        acks[f"h-{i}"] = cluster3.client(nid).send(token, client_id=f"h-{i}", to=to, body=f"h {i}")
    assert [a["seq"] for a in acks.values()] == list(range(1, 121))
    history = assert_same_everywhere(cluster3, NODES, ta, dm(alice, bob), acks)
    assert assert_same_everywhere(cluster3, NODES, tb, dm(alice, bob), acks) == history


def test_logout_on_one_node_revokes_the_token_on_every_node_and_closes_its_sockets(cluster3):
    user, keep = cluster3.client("n1").signup(unique_user("out"))
    token = cluster3.client("n2").login(user, device="laptop")
    with cluster3.client("n3").ws(token) as ws3, cluster3.client("n1").ws(keep) as other:
        r = cluster3.client("n2").request("POST", "/v1/logout", token=token)
        assert r.status == 204, r
        for nid in NODES:
            status, body = cluster3.client(nid).http("GET", "/v1/conversations", token=token)
            assert (status, error_code(body)) == (401, "unauthorized"), (nid, status, body)
        assert ws3.expect_close() == 4001
        # The user's other token (and its socket on n1) are untouched.
        other.ping_pong()
        assert cluster3.client("n3").http("GET", "/v1/conversations", token=keep)[0] == 200


def test_concurrent_senders_on_three_nodes_get_one_gapless_order(cluster3):
    alice, ta = cluster3.client("n1").signup(unique_user("alice"))
    bob, tb = cluster3.client("n2").signup(unique_user("bob"))
    conv = dm(alice, bob)
    # Four writers, two per user, on three nodes; 50 sends each, up to 16 in flight.
    writers = [("n1", cluster3.client("n1").login(alice, device="a1"), bob),
               ("n2", cluster3.client("n2").login(alice, device="a2"), bob),
               ("n3", cluster3.client("n3").login(bob, device="b3"), alice),
               ("n1", cluster3.client("n1").login(bob, device="b1"), alice)]
    # The chat exists before the burst (its first message has an ordering bug of its own,
    # test_pipelined_sends_that_open_a_direct_chat_keep_their_order).
    opener = {"open": cluster3.client("n2").send(ta, client_id="open", to=bob, body="open")}
    per_writer, window = 50, 16
    total = per_writer * len(writers)
    sockets = [cluster3.client(nid).ws(token) for nid, token, _ in writers]
    barrier = threading.Barrier(len(writers))
    results: dict[int, tuple[dict, list[dict]]] = {}

    def run(k: int) -> None:
        ws, (_, _, to) = sockets[k], writers[k]
        acks: dict[str, dict] = {}
        messages: list[dict] = []
        sent = 0
        barrier.wait(timeout=10)
        deadline = time.monotonic() + 60
        while len(acks) < per_writer or len(messages) < total - per_writer:
            while sent < per_writer and sent - len(acks) < window:
                ws.send_msg(f"w{k}-{sent}", to=to, body=f"w{k} {sent}")
                sent += 1
            assert time.monotonic() < deadline, f"writer {k}: {len(acks)} acks, {len(messages)} messages"
            ev = ws.recv_json(timeout=20, skip=frozenset({"presence", "typing", "receipt"}))
            if ev["type"] == "ack":
                acks[ev["client_id"]] = ev
            elif ev["type"] == "message":
                messages.append(ev)
            else:
                raise AssertionError(f"writer {k}: unexpected {ev}")
        results[k] = (acks, messages)

    try:
        with ThreadPoolExecutor(len(writers)) as pool:
            for f in [pool.submit(run, k) for k in range(len(writers))]:
                f.result()
    finally:
        for ws in sockets:
            ws.close()
    all_acks = {cid: a for acks, _ in results.values() for cid, a in acks.items()}
    assert sorted(a["seq"] for a in all_acks.values()) == list(range(2, total + 2))
    all_acks.update(opener)
    history = assert_same_everywhere(cluster3, NODES, ta, conv, all_acks)
    assert assert_same_everywhere(cluster3, NODES, tb, conv, all_acks) == history
    order = [m["message_id"] for m in history]
    for k, (acks, messages) in results.items():
        # Each socket saw everyone else's messages live, exactly once, in the stored order.
        assert all(m["client_id"] not in acks for m in messages), f"writer {k} got its own message"
        expected = [m for m in order[1:] if m not in {a["message_id"] for a in acks.values()}]
        assert [m["message_id"] for m in messages] == expected, f"writer {k} saw another order"
        # A writer's own messages keep its sending order.
        own = [int(cid.split("-")[1]) for cid in sorted(acks, key=lambda c: acks[c]["seq"])]
        assert own == sorted(own), f"writer {k}'s messages were reordered"


# --------------------------------------------------------------------------------------------
# Membership changes: clusters of the test's own


def test_a_node_joins_a_running_cluster_takes_a_quarter_of_the_shards_and_serves_old_data(make_cluster):
    cluster = make_cluster(NODES, joiners=["n4"])
    users = users_on(cluster, 6, "pre")
    convs = {}
    for i in range(0, 6, 2):
        (a, ta, nid), (b, _, _) = users[i], users[i + 1]
        convs[dm(a, b)] = (ta, send_many(cluster, nid, ta, b, 5, f"pre{i}"))
    before = cluster.status("n1")["ring_version"]
    cluster.start("n4", join=cluster.gossip_addr("n1"))
    statuses = cluster.wait_formed(NODES + ["n4"], deadline_s=30)
    for nid, s in statuses.items():
        led = {m["id"]: m["shards_led"] for m in s["members"]}
        assert led["n4"] == 4, f"{nid}: n4 leads {led['n4']} of 16 shards, not a quarter"
    assert statuses["n1"]["ring_version"] > before
    # It was caught up (from the primaries' logs, or snapshots) before it took its shards.
    assert statuses["n4"]["local"]["shards_on_disk"] >= 4, statuses["n4"]["local"]
    # Old accounts log in, and old conversations read the same, through every node, n4 included.
    every = NODES + ["n4"]
    for user, _, _ in users:
        for nid in every:
            cluster.client(nid).login(user)
    for conv, (token, acks) in convs.items():
        assert_same_everywhere(cluster, every, token, conv, acks)
    # Chat goes on: a new user on n4 talks to an old one on n2.
    (old, told, _) = users[0]
    new, tnew = cluster.client("n4").signup(unique_user("new"))
    with cluster.client("n2").ws(told) as ws:
        ack = cluster.client("n4").send(tnew, client_id="hi", to=old, body="I just joined")
        m = ws.recv_until("message", where=lambda e: e["sender"] == new)
        assert (m["seq"], m["message_id"]) == (1, ack["message_id"])


def test_a_node_that_leaves_hands_over_its_shards_and_exits(make_cluster):
    cluster = make_cluster(NODES)
    users = users_on(cluster, 9, "lv")
    convs = {}
    for i in range(0, 9, 3):
        (a, ta, nid), (b, _, _) = users[i], users[i + 1]
        convs[dm(a, b)] = (ta, send_many(cluster, nid, ta, b, 4, f"lv{i}"))
    # The secret is the credential for leave.
    r = cluster.client("n3").request("POST", "/v1/cluster/leave", headers={"Authorization": "Bearer nope"})
    assert r.status == 401, r
    r = cluster.client("n3").request("POST", "/v1/cluster/leave", headers={"Authorization": f"Bearer {cluster.secret}"})
    assert r.status == 202, r
    node = cluster.nodes["n3"]
    try:
        code = node.proc.wait(timeout=30)
    except Exception:
        pytest.fail(f"n3 did not exit after leaving\n{cluster.log_tail('n3')}")
    assert code == 0, cluster.log_tail("n3")
    statuses = cluster.wait_status(
        ["n1", "n2"],
        lambda ss: all({m["id"]: m["state"] for m in s["members"]}.get("n3") == "left" and s["ring"] == ["n1", "n2"]
                       and s["local"]["shards_pulling"] == [] for s in ss.values()),
        deadline_s=15, what="n1 and n2 show n3 left and a 2-node ring")
    for nid, s in statuses.items():
        members = {m["id"]: m for m in s["members"]}
        assert not members["n3"]["in_ring"] and members["n3"]["shards_led"] == 0, members["n3"]
        assert members["n1"]["shards_led"] + members["n2"]["shards_led"] == 16, members
        assert s["local"]["shards_serving"] == members[nid]["shards_led"], (nid, s["local"])
    for user, token, _ in users:
        for nid in ("n1", "n2"):
            cluster.client(nid).login(user)
            assert cluster.client(nid).http("GET", "/v1/conversations", token=token)[0] == 200
    for conv, (token, acks) in convs.items():
        assert_same_everywhere(cluster, ["n1", "n2"], token, conv, acks)


def probe(cluster: Cluster, nid: str, user: str):
    """(status, body, headers, seconds) of a login of `user` through `nid`: a request that
    needs only the user's own shard."""
    t = time.monotonic()
    r = cluster.client(nid).request("POST", "/v1/login", body={"user": user, "password": "correct horse"},
                                    timeout_s=15)
    return r.status, r.json, r.headers, time.monotonic() - t


def test_kill_9_makes_only_the_dead_nodes_shards_unavailable_until_it_is_back(make_cluster):
    cluster = make_cluster(NODES)
    users = users_on(cluster, 18, "k9")
    acks = {}
    for i in range(0, 18, 2):
        (a, ta, nid), (b, _, _) = users[i], users[i + 1]
        acks[dm(a, b)] = (ta, send_many(cluster, nid, ta, b, 3, f"k{i}"))
    assert cluster.kill("n3", signal.SIGKILL) == -signal.SIGKILL
    t0 = time.monotonic()
    cluster.wait_status(["n1", "n2"], lambda ss: all(
        {m["id"]: m["state"] for m in s["members"]}["n3"] == "dead" for s in ss.values()),
        deadline_s=DEAD_DEADLINE_S, what="n1 and n2 declare n3 dead")
    detect_s = time.monotonic() - t0
    # Every user at once, half through n1, half through n2: n3's users wait out the router's
    # retries and get 503; the others are answered without waiting for them.
    with ThreadPoolExecutor(len(users)) as pool:
        answers = list(pool.map(lambda iu: probe(cluster, ("n1", "n2")[iu[0] % 2], iu[1][0]), enumerate(users)))
    down = [(u, a) for u, a in zip(users, answers) if a[0] != 200]
    up = [(u, a) for u, a in zip(users, answers) if a[0] == 200]
    assert down, "no user lives on n3's shards (18 users over 16 shards: rerun)"
    assert up, "every request failed, not only those for n3's shards"
    for (user, _, _), (status, body, headers, secs) in down:
        assert (status, error_code(body)) == (503, "unavailable"), (user, status, body)
        assert body["error"]["retry_after_ms"] > 0 and int(headers["retry-after"]) >= 1, (body, headers)
        assert secs >= UNAVAILABLE_AFTER_S * 0.8, f"{user}: 503 after {secs:.2f}s, before the retries ran out"
    for (user, _, _), (status, _, _, secs) in up:
        assert secs < UNAVAILABLE_AFTER_S, f"{user} on a live shard waited {secs:.2f}s"
    # Restart on the same data: n3's users work again and nothing acked is lost.
    cluster.start("n3")
    cluster.wait_formed(NODES, deadline_s=20)
    for (user, token, _), _ in down:
        for nid in NODES:
            assert probe(cluster, nid, user)[0] == 200, (user, nid)
            assert cluster.client(nid).http("GET", "/v1/conversations", token=token)[0] == 200, (user, nid)
    for conv, (token, conv_acks) in acks.items():
        assert_same_everywhere(cluster, NODES, token, conv, conv_acks)
    print(f"kill -9 detected as dead after {detect_s:.2f}s; {len(down)} of {len(users)} users unavailable")


def test_a_node_with_another_secret_is_never_admitted(make_cluster):
    cluster = make_cluster(NODES)
    rejected_before = {nid: cluster.status(nid)["local"]["gossip_rejected_datagrams"] for nid in NODES}
    impostor_config = cluster.tmp / "impostor.json"
    cluster.add_node("x1", config_path=impostor_config, secret="not-the-secret")
    cluster.start("x1", join=cluster.gossip_addr("n1"), config_path=impostor_config)
    # Its gossip reaches n1 (the join seed) and the other founders, and every datagram is dropped.
    cluster.wait_status(NODES, lambda ss: all(
        s["local"]["gossip_rejected_datagrams"] >= rejected_before[nid] + 3 for nid, s in ss.items()),
        deadline_s=15, what="every founder rejects the impostor's gossip")
    for nid in NODES:
        s = cluster.status(nid)
        assert "x1" not in {m["id"] for m in s["members"]}, (nid, s["members"])
        assert "x1" not in s["local"]["peers_connected"] and s["ring"] == NODES, s
    # The impostor, for its part, never sees the cluster alive nor connects to a peer.
    mine = cluster.status("x1")
    assert not [m for m in mine["members"] if m["id"] != "x1" and m["state"] == "alive"], mine["members"]
    assert mine["local"]["peers_connected"] == [], mine["local"]
    # And the cluster keeps serving.
    user, token = cluster.client("n2").signup(unique_user("still"))
    assert cluster.client("n1").http("GET", "/v1/conversations", token=token)[0] == 200


class PeerDial:
    """The initiator's side of the peer handshake (docs/WIRE.md "Handshake"), by hand: hello,
    read the challenge, send a proof made with a given secret, read what comes back."""

    def __init__(self, cluster: Cluster, nid: str, cluster_name: str, my_id: str = "probe"):
        self.sock = socket.create_connection(("127.0.0.1", cluster.nodes[nid].peer), timeout=5)
        self.buf = b""
        self.hello = b"\x01\x00" + self._short(cluster_name) + self._short(my_id) + os.urandom(32)
        self._send(1, self.hello)

    @staticmethod
    def _short(s: str) -> bytes:
        return bytes([len(s.encode())]) + s.encode()

    def _send(self, kind: int, payload: bytes) -> None:
        self.sock.sendall(struct.pack("!2sBBHHQI", b"RP", 1, kind, 0, 0, 0, len(payload)) + payload)

    def read_frame(self) -> tuple[int, bytes] | None:
        """(kind, payload) of the next frame, or None if the node closed the connection."""
        while True:
            if len(self.buf) >= 20:
                n = struct.unpack("!I", self.buf[16:20])[0]
                if len(self.buf) >= 20 + n:
                    kind, payload = self.buf[3], self.buf[20:20 + n]
                    self.buf = self.buf[20 + n:]
                    return kind, payload
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk

    @staticmethod
    def mac(secret: str, label: str, h: bytes, c: bytes) -> bytes:
        msg = bytes([len(label)]) + label.encode() + struct.pack("!I", len(h)) + h + struct.pack("!I", len(c)) + c
        return hmac.new(secret.encode(), msg, hashlib.sha256).digest()

    def prove(self, secret: str) -> tuple[int, bytes] | None:
        """Answers the challenge with a proof keyed by `secret`; returns the node's answer."""
        kind, challenge = self.read_frame()
        assert kind == 2, f"expected a challenge, got kind {kind}: {challenge!r}"
        self.challenge = challenge
        self._send(3, self.mac(secret, "relay-peer-v1 initiator proof", self.hello, challenge))
        return self.read_frame()

    def closed(self) -> bool:
        return self.read_frame() is None

    def close(self) -> None:
        self.sock.close()


def goaway_code(frame: tuple[int, bytes] | None) -> int | None:
    assert frame is not None and frame[0] == 10, f"expected a goaway, got {frame!r}"
    return struct.unpack("!H", frame[1][:2])[0]


def test_the_peer_port_admits_only_a_dialer_that_proves_the_secret(cluster3):
    # With the secret: welcome, whose MAC proves the node holds it too.
    good = PeerDial(cluster3, "n1", cluster3.name)
    kind, mac_r = good.prove(cluster3.secret)
    assert kind == 4 and mac_r == PeerDial.mac(cluster3.secret, "relay-peer-v1 responder proof",
                                               good.hello, good.challenge), (kind, mac_r)
    good.close()
    # Another secret: goaway 4 (authentication failed), then the connection is closed.
    bad = PeerDial(cluster3, "n2", cluster3.name)
    assert goaway_code(bad.prove("not-the-secret")) == 4
    assert bad.closed()
    # Another cluster's name: goaway 3 before any challenge.
    other = PeerDial(cluster3, "n3", "another-cluster")
    assert goaway_code(other.read_frame()) == 3
    assert other.closed()
    # Each refusal is in the refusing node's log.
    for nid, why in (("n2", "failed authentication"), ("n3", "in cluster 'another-cluster'")):
        for _ in poll(5, lambda: f"{nid} logs the refusal\n{cluster3.log_tail(nid, since_mark=True)}"):
            if any("peer refused" in line and why in line
                   for line in cluster3.log_tail(nid, since_mark=True).splitlines()):
                break
    # The cluster is unaffected.
    for nid in NODES:
        assert sorted(cluster3.status(nid)["local"]["peers_connected"]) == sorted(set(NODES) - {nid})


def test_sigterm_and_restart_of_one_node_loses_nothing_and_it_serves_again(make_cluster):
    cluster = make_cluster(NODES)
    users = users_on(cluster, 6, "st")
    convs = {}
    for i in range(0, 6, 2):
        (a, ta, nid), (b, tb, _) = users[i], users[i + 1]
        conv = dm(a, b)
        convs[conv] = (ta, send_many(cluster, nid, ta, b, 5, f"st{i}"))
        assert cluster.client("n2").request("POST", f"/v1/conversations/{conv}/receipts",
                                            body={"read": 3}, token=tb).status == 204
    (a, ta, _), (b, tb, _) = users[0], users[1]
    with cluster.client("n2").ws(tb) as ws:
        assert cluster.kill("n2", signal.SIGTERM) == 0, cluster.log_tail("n2")
        assert ws.expect_close() == 1001
    cluster.start("n2")
    cluster.wait_formed(NODES, deadline_s=20)
    for conv, (token, acks) in convs.items():
        assert_same_everywhere(cluster, NODES, token, conv, acks)
    for i in range(1, 6, 2):
        user, token, _ = users[i]
        c = cluster.client("n2").conversation(token, dm(users[i - 1][0], user))
        assert (c["last_seq"], c["read"], c["unread"]) == (5, 3, 2), c
    # n2 serves clients again: a socket on it gets a live message sent through n1.
    with cluster.client("n2").ws(tb) as ws:
        assert ws.hello["node"] == "n2"
        ack = cluster.client("n1").send(ta, client_id="after", to=b, body="after restart")
        assert ack["seq"] == 6
        m = ws.recv_until("message", where=lambda e: e["client_id"] == "after")
        assert m["message_id"] == ack["message_id"]


def acks_seen(ws) -> dict[str, int]:
    return {e["client_id"]: e["seq"] for e in ws.seen if e["type"] == "ack"}


def test_pipelined_sends_that_open_a_direct_chat_keep_their_order(cluster3):
    # The reorder is a race between the first send's detour (notFound, openDirect, send again)
    # and the sends behind it, so each trial opens a new chat; back to back in one burst, and
    # spaced by a ping round trip (the server has read each send before the next arrives).
    orders = []
    for trial in range(12):
        alice, ta = cluster3.client(NODES[trial % 3]).signup(unique_user("alice"))
        bob, _ = cluster3.client(NODES[(trial + 1) % 3]).signup(unique_user("bob"))
        with cluster3.client(NODES[trial % 3]).ws(ta) as ws:
            for i in range(10):
                ws.send_msg(f"p-{i}", to=bob, body=f"p {i}")
                if trial % 2:
                    ws.ping_pong()
            for _ in poll(10, lambda: f"10 acks; seen {ws.seen[-5:]}"):
                if len(acks_seen(ws)) == 10:
                    break
                ws.ping_pong()
            acks = acks_seen(ws)
        orders.append([acks[f"p-{i}"] for i in range(10)])
    assert all(order == list(range(1, 11)) for order in orders), orders
