"""Blocking and the moderation log on a real 3-node cluster with two copies of every shard
(PROTOCOL.md "Rules that the server enforces"; docs/PROTOCOL-NOTES.md "Blocking"): a blocked
sender sees acks as usual while the blocker sees nothing (history, connect backlog, sync, live
push), the attempts are in the blocker's moderation log (operator endpoint), and unblocking
restores new messages only. Every request goes through a different node than the last."""
from __future__ import annotations

import pytest

from relay import Cluster, dm, error_code, poll, unique_user
from conftest import formed_cluster

NODES = ["n1", "n2", "n3"]


@pytest.fixture(scope="module")
def rcluster(tmp_path_factory):
    """3 nodes, R=2; cheap password hashes (the tests sign up many users)."""
    with formed_cluster(tmp_path_factory.mktemp("blocks"), NODES, replication=2, extra={"password_hash_cost": 1}) as cluster:
        yield cluster


def moderation(cluster: Cluster, nid: str, user: str, secret: str | None = None, **params) -> tuple[int, dict]:
    q = "&".join(f"{k}={v}" for k, v in params.items())
    r = cluster.client(nid).request("GET", f"/v1/admin/users/{user}/moderation" + (f"?{q}" if q else ""),
                                    token=cluster.secret if secret is None else secret)
    return r.status, r.json


def test_blocked_sender_sees_acks_while_the_blocker_sees_nothing_and_unblock_restores_new_only(rcluster):
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    alice, ta = c1.signup(unique_user("alice"))
    bob, tb = c2.signup(unique_user("bob"))
    conv = dm(alice, bob)
    before = c1.send(ta, "b0", to=bob, body="before the block")
    assert c3.request("PUT", f"/v1/blocks/{alice}", token=tb).status == 204
    assert c1.request("PUT", f"/v1/blocks/{alice}", token=tb).status == 204, "idempotent"
    assert c2.http("GET", "/v1/blocks", token=tb) == (200, {"blocked": [alice]})
    assert c2.http("GET", "/v1/blocks", token=ta) == (200, {"blocked": []})

    # Bob is online on n3 (two devices); alice on n1 (sending) and n2 (her other device).
    with c3.ws(tb, device="phone") as bob_ws, c1.ws(ta, device="phone") as alice_ws, c2.ws(ta, device="laptop") as alice_other:
        hidden = [alice_ws.send_and_ack(f"h{i}", to=bob, body=f"hidden {i}") for i in range(3)]
        assert [a["seq"] for a in hidden] == [2, 3, 4], "acked as usual, with the next seqs"
        assert set(hidden[0]) == {"type", "client_id", "conversation_id", "seq", "message_id", "ts"}
        got = [alice_other.recv_until("message") for _ in range(3)]
        assert [m["body"] for m in got] == ["hidden 0", "hidden 1", "hidden 2"], "her other devices get them"
        # Bob's next message event is his own reply (seq 5), never one of hers.
        c2.send(tb, "r1", to=alice, body="bob speaks")
        ev = bob_ws.recv_until("message")
        assert (ev["seq"], ev["sender"]) == (5, bob), ev
        assert alice_ws.recv_until("message")["seq"] == 5

    # History: bob sees only what he may; alice sees everything she sent.
    assert [m["seq"] for m in c1.all_history(tb, conv)] == [1, 5]
    assert [m["seq"] for m in c3.all_history(ta, conv)] == [1, 2, 3, 4, 5]
    summary = c2.conversation(tb, conv)
    assert summary["unread"] == 1 and summary["last_seq"] == 5, summary
    # The connect backlog (bob's delivered cursor is 0) and a sync skip the hidden messages.
    with c1.ws(tb, device="tablet") as fresh:
        assert [m["seq"] for m in fresh.backlog if m["type"] == "message"] == [1, 5]
        fresh.send_json({"type": "sync", "since": {conv: 0}})
        synced = []
        while (ev := fresh.recv_json())["type"] != "synced":
            synced.append(ev["seq"])
        assert synced == [1, 5]
    # Receipts still work for the blocker: reading up to the last seq (hidden ones included) clears unread.
    assert c3.request("POST", f"/v1/conversations/{conv}/receipts", {"read": 5}, token=tb).status == 204
    assert c1.conversation(tb, conv)["unread"] == 0

    # A retried send (same client_id) is answered with the first ack and logs nothing new.
    r = c2.request("POST", "/v1/messages", {"client_id": "h0", "to": bob, "kind": "text", "body": "hidden 0"}, token=ta)
    assert r.status == 200 and r.json["seq"] == 2, r.json

    # The moderation log (operator only) holds the three attempts, newest first.
    assert moderation(rcluster, "n1", bob, secret="wrong")[0] == 401
    assert moderation(rcluster, "n1", bob, secret="")[0] == 401
    entries = []
    for _ in poll(15, lambda: f"moderation log of {bob}: {entries}"):
        status, body = moderation(rcluster, "n2", bob)
        assert status == 200, body
        entries = body["entries"]
        if len(entries) >= 3:
            break
    assert body["user"] == bob
    assert [(e["sender"], e["conversation_id"], e["preview"]) for e in entries] == \
        [(alice, conv, "hidden 2"), (alice, conv, "hidden 1"), (alice, conv, "hidden 0")]
    assert all(isinstance(e["ts"], int) and e["ts"] >= before["ts"] for e in entries)
    assert moderation(rcluster, "n3", bob, limit=1)[1]["entries"] == entries[:1]
    assert moderation(rcluster, "n3", alice)[1]["entries"] == []
    assert moderation(rcluster, "n3", bob, limit=0)[0] == 400

    # Unblocking restores new messages only.
    assert c1.request("DELETE", f"/v1/blocks/{alice}", token=tb).status == 204
    assert c3.request("DELETE", f"/v1/blocks/{alice}", token=tb).status == 204, "idempotent"
    assert c2.http("GET", "/v1/blocks", token=tb) == (200, {"blocked": []})
    with c2.ws(tb, device="phone") as bob_ws:
        after = c3.send(ta, "a1", to=bob, body="after the unblock")
        ev = bob_ws.recv_until("message")
        assert (ev["seq"], ev["body"]) == (after["seq"], "after the unblock") == (6, "after the unblock")
    assert [m["seq"] for m in c1.all_history(tb, conv)] == [1, 5, 6]
    assert len(moderation(rcluster, "n1", bob)[1]["entries"]) == 3, "the retry was not logged twice"


def test_block_refusals(rcluster):
    c = rcluster.client("n2")
    bob, tb = c.signup(unique_user("bob"))
    for method in ("PUT", "DELETE"):
        r = c.request(method, f"/v1/blocks/{bob}", token=tb)
        assert r.status == 400 and error_code(r.json) == "bad_request", r.json
        r = c.request(method, f"/v1/blocks/{unique_user('ghost')}", token=tb)
        assert r.status == 404 and error_code(r.json) == "not_found", r.json
        r = c.request(method, "/v1/blocks/NOT%20VALID", token=tb)
        assert r.status == 400, r.json
        assert c.request(method, f"/v1/blocks/{bob}").status == 401
    assert c.http("GET", "/v1/blocks", token=tb) == (200, {"blocked": []})
