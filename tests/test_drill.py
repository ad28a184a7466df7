"""The resilient client (tests/relayclient.py) and the failover drill (scripts/drill).

The client's bookkeeping is pure and tested directly; its reconnect, retry and de-duplication
are tested against a scripted WebSocket server; the drill's verdict against made-up histories;
and the whole drill once, against a real 3-node cluster with kill -9."""
from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from relay import REPO, _free_port, relaynode_binary
from relayclient import (Backoff, ConversationLog, Inbox, MAX_RETRY_AFTER_S, Outage, OutageTracker,
                         PendingSends, RelayClient, RelayHTTP, dm_id)

DRILL = REPO / "scripts" / "drill"


def load_drill():
    loader = importlib.machinery.SourceFileLoader("relay_drill_script", str(DRILL))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def msg(conv: str, seq: int, mid: str | None = None, **kw) -> dict:
    return {"conversation_id": conv, "seq": seq, "message_id": mid or f"m{seq}", **kw}


# --------------------------------------------------------------------------------------------
# De-duplication and gaps


def test_a_repeated_seq_is_dropped_and_counted():
    log = ConversationLog("dm:a:b")
    assert log.add(msg("dm:a:b", 1))
    assert not log.add(msg("dm:a:b", 1))
    assert [m["seq"] for m in log.messages()] == [1]
    assert log.duplicates == 1 and log.conflicts == []


def test_a_different_message_at_a_held_seq_is_reported_as_a_conflict():
    log = ConversationLog("dm:a:b")
    log.add(msg("dm:a:b", 1, "m_first"))
    assert not log.add(msg("dm:a:b", 1, "m_other"))
    assert len(log.conflicts) == 1 and log.messages()[0]["message_id"] == "m_first"


def test_messages_are_listed_in_seq_order_with_their_gaps():
    log = ConversationLog("dm:a:b")
    for s in (3, 1, 5):
        log.add(msg("dm:a:b", s))
    assert [m["seq"] for m in log.messages()] == [1, 3, 5]
    assert log.gaps() == [2, 4]
    assert log.contiguous == 1


def test_a_last_seq_from_hello_makes_the_missing_tail_a_gap():
    log = ConversationLog("dm:a:b")
    log.add(msg("dm:a:b", 1))
    log.note_last(3)
    assert log.gaps() == [2, 3]
    log.add(msg("dm:a:b", 2))
    log.add(msg("dm:a:b", 3))
    assert log.gaps() == [] and log.contiguous == 3


def test_a_message_without_a_valid_seq_is_ignored():
    log = ConversationLog("dm:a:b")
    assert not log.add({"conversation_id": "dm:a:b", "seq": "7"})
    assert not log.add({"conversation_id": "dm:a:b", "seq": 0})
    assert log.messages() == []


def test_sync_asks_from_the_gapless_prefix_so_gaps_are_refilled():
    inbox = Inbox()
    for s in (1, 2, 4):
        inbox.add(msg("dm:a:b", s))
    inbox.add(msg("dm:a:c", 2))  # nothing gapless yet: left to the connect backlog
    assert inbox.since() == {"dm:a:b": 2}
    assert inbox.gaps() == {"dm:a:b": [3], "dm:a:c": [1]}


def test_a_receipt_is_due_only_when_the_gapless_prefix_grows():
    inbox = Inbox()
    inbox.add(msg("dm:a:b", 1))
    assert inbox.receipts_due() == [("dm:a:b", 1)]
    inbox.logs["dm:a:b"].delivered_sent = 1
    inbox.add(msg("dm:a:b", 3))
    assert inbox.receipts_due() == []


def test_direct_chat_ids_put_the_two_users_in_byte_order():
    assert dm_id("bob", "alice") == dm_id("alice", "bob") == "dm:alice:bob"
    assert dm_id("B_x", "a") == "dm:B_x:a"  # uppercase sorts before lowercase by bytes


# --------------------------------------------------------------------------------------------
# Retry bookkeeping


def frame(cid: str) -> dict:
    return {"type": "send", "client_id": cid, "to": "bob", "kind": "text", "body": cid}


def test_new_sends_are_due_at_once_in_order():
    p = PendingSends()
    p.add("c1", "k", frame("c1"), now=0)
    p.add("c2", "k", frame("c2"), now=0)
    assert [x.client_id for x in p.due(0)] == ["c1", "c2"]


def test_a_send_on_the_wire_is_not_due_again_until_it_fails():
    p = PendingSends(ack_timeout_s=10)
    p.add("c1", "k", frame("c1"), now=0)
    p.mark_sent("c1", now=0, generation=1)
    assert p.due(5) == []
    assert p.on_ack("c1").attempts == 1
    assert len(p) == 0


def test_unavailable_makes_a_send_due_again_after_retry_after_with_the_same_client_id():
    p = PendingSends()
    p.add("c1", "k", frame("c1"), now=0)
    p.mark_sent("c1", now=1.0, generation=1)
    failed = p.on_retryable("c1", now=3.5, retry_after_s=1.0)
    assert failed.first_failure_at == 1.0  # the failed attempt's send time
    assert p.due(4.4) == []
    assert [x.frame["client_id"] for x in p.due(4.5)] == ["c1"]


def test_a_huge_retry_after_is_capped():
    p = PendingSends()
    p.add("c1", "k", frame("c1"), now=0)
    p.mark_sent("c1", now=0, generation=1)
    p.on_retryable("c1", now=0, retry_after_s=3600)
    assert p.due(MAX_RETRY_AFTER_S)


def test_a_send_waiting_to_retry_holds_back_later_sends_of_its_conversation_only():
    p = PendingSends()
    p.add("c1", "dm:a:b", frame("c1"), now=0)
    p.mark_sent("c1", now=0, generation=1)
    p.on_retryable("c1", now=0, retry_after_s=1.0)
    p.add("c2", "dm:a:b", frame("c2"), now=0.1)
    p.add("c3", "dm:a:c", frame("c3"), now=0.1)
    assert [x.client_id for x in p.due(0.5)] == ["c3"]
    assert [x.client_id for x in p.due(1.0)] == ["c1", "c2", "c3"]


def test_a_lost_connection_makes_every_send_on_it_due_again():
    p = PendingSends()
    for c in ("c1", "c2"):
        p.add(c, "k", frame(c), now=0)
        p.mark_sent(c, now=0.2, generation=1)
    lost = p.on_disconnect(now=0.5)
    assert [x.client_id for x in lost] == ["c1", "c2"]
    assert [x.client_id for x in p.due(0.5)] == ["c1", "c2"]
    assert all(x.failures == 1 and x.first_failure_at == 0.2 for x in lost)


def test_an_unanswered_send_is_due_again_after_the_ack_timeout():
    p = PendingSends(ack_timeout_s=2.0)
    p.add("c1", "k", frame("c1"), now=0)
    p.mark_sent("c1", now=0, generation=1)
    assert p.expire(1.9) == [] and p.next_deadline() == 2.0
    assert [x.client_id for x in p.expire(2.0)] == ["c1"]
    assert [x.client_id for x in p.due(2.0)] == ["c1"]


def test_a_rejected_send_is_dropped_and_an_answer_for_an_unknown_one_is_ignored():
    p = PendingSends()
    p.add("c1", "k", frame("c1"), now=0)
    assert p.on_rejected("c1") is not None and len(p) == 0
    assert p.on_ack("nope") is None and p.on_retryable("nope", 0, 1) is None


def test_a_client_id_cannot_be_pending_twice():
    p = PendingSends()
    p.add("c1", "k", frame("c1"), now=0)
    with pytest.raises(ValueError):
        p.add("c1", "k", frame("c1"), now=0)


def test_an_outage_runs_from_the_first_failed_attempt_to_the_next_ack():
    t = OutageTracker()
    t.failed("k", 2.0)
    t.failed("k", 1.5)  # an earlier attempt that failed later still starts the outage
    t.failed("k", 3.0)
    assert t.succeeded("k", 7.0) == Outage("k", 1.5, 7.0)
    assert t.succeeded("k", 8.0) is None
    assert [o.seconds for o in t.closed] == [5.5]


def test_backoff_doubles_up_to_its_bound_and_resets():
    b = Backoff(min_s=0.1, max_s=1.0, rand=lambda: 0.0)
    assert [round(b.next_delay(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.next_delay() == 0.1
    jittered = Backoff(min_s=0.1, max_s=1.0, rand=lambda: 0.999)
    assert 0.1 < jittered.next_delay() < 0.15


# --------------------------------------------------------------------------------------------
# The client against a scripted server


class ScriptedNode:
    """A fake node: `hello`, then each `send` is answered as the `script` says: "ack",
    "unavailable", or "drop" (close the connection without answering)."""

    def __init__(self, name: str, script: list[str], acks: dict):
        self.name, self.script, self.acks = name, script, acks  # acks: shared client_id -> seq
        self.frames: list[dict] = []
        self.server = None

    async def handler(self, ws):
        await ws.send(json.dumps({"type": "hello", "user": "alice", "node": self.name, "conversations": []}))
        async for raw in ws:
            f = json.loads(raw)
            self.frames.append(f)
            if f["type"] == "sync":
                if "dm:alice:bob" in f["since"]:
                    # Replays a message the client holds, and one it does not.
                    await ws.send(json.dumps({"type": "message", **msg("dm:alice:bob", 1, "m_b1", sender="bob")}))
                    await ws.send(json.dumps({"type": "message", **msg("dm:alice:bob", 2, "m_b2", sender="bob")}))
                await ws.send(json.dumps({"type": "synced", "conversations": list(f["since"])}))
                continue
            if f["type"] != "send":
                continue
            step = self.script.pop(0) if self.script else "ack"
            if step == "drop":
                await ws.close()
                return
            if step == "unavailable":
                await ws.send(json.dumps({"type": "error", "code": "unavailable", "message": "later",
                                          "retry_after_ms": 50, "client_id": f["client_id"]}))
                continue
            seq = self.acks.setdefault(f["client_id"], len(self.acks) + 10)
            await ws.send(json.dumps({"type": "ack", "client_id": f["client_id"], "conversation_id": "dm:alice:bob",
                                      "seq": seq, "message_id": f"m{seq}", "ts": 1}))


def test_a_send_made_while_disconnected_starts_an_outage_and_waits():
    c = RelayClient(["127.0.0.1:1"], "alice", token="t.alice", clock=lambda: 42.0)
    cid = c.send("hi", to="bob")
    assert c.outages.open == {"dm:alice:bob": 42.0}
    assert [p.client_id for p in c.pending.due(42.0)] == [cid]
    with pytest.raises(ValueError):
        c.send("hi", to="bob", conversation_id="dm:alice:bob")


def test_the_client_fails_over_retries_with_the_same_client_id_and_resyncs():
    async def scenario():
        acks: dict = {}
        refused = f"127.0.0.1:{_free_port()}"  # nothing listens: the first connect is refused
        a = ScriptedNode("a", ["unavailable", "ack", "drop"], acks)
        b = ScriptedNode("b", [], acks)
        async with serve(a.handler, "127.0.0.1", 0) as sa, serve(b.handler, "127.0.0.1", 0) as sb:
            addr_a = "127.0.0.1:%d" % sa.sockets[0].getsockname()[1]
            addr_b = "127.0.0.1:%d" % sb.sockets[0].getsockname()[1]
            c = RelayClient([refused, addr_a, addr_b], "alice", token="t.alice",
                            backoff=Backoff(min_s=0.01, max_s=0.05))
            await c.start()
            try:
                assert await c.wait_connected(5)
                c.inbox.add(msg("dm:alice:bob", 1, "m_b1", sender="bob"))
                first = c.send("one", to="bob", client_id="c-1")
                assert (await c.wait_ack(first, 5))["seq"] == 10  # after one `unavailable`
                second = c.send("two", to="bob", client_id="c-2")
                ack = await c.wait_ack(second, 5)  # node a drops it; node b acks the resend
                assert ack is not None and c.node.endswith(addr_b)
                assert await c.resync(5)
            finally:
                await c.close()
        sent_a = [f["client_id"] for f in a.frames if f["type"] == "send"]
        sent_b = [f["client_id"] for f in b.frames if f["type"] == "send"]
        assert sent_a == ["c-1", "c-1", "c-2"] and sent_b == ["c-2"]
        # After hello on b, the client asked for what it lacked above its gapless prefix.
        syncs = [f for f in b.frames if f["type"] == "sync"]
        assert syncs and syncs[0]["since"]["dm:alice:bob"] == 1
        seqs = [m["seq"] for m in c.received("dm:alice:bob")]
        assert seqs == sorted(set(seqs)) and {1, 2, 10, 11} <= set(seqs)
        assert c.inbox.logs["dm:alice:bob"].duplicates >= 1  # the replayed seq 1 was dropped
        assert c.stats["connect_failures"] >= 1 and c.stats["resends"] == 2
        assert [o.key for o in c.outages.closed] == ["dm:alice:bob", "dm:alice:bob"]
        assert c.stats["disconnects"] == 1 and c.closes[0][0].endswith(addr_a)
    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_http_fails_over_past_a_refusing_node_and_retries_a_503():
    answers = [(503, {"error": {"code": "unavailable", "message": "later", "retry_after_ms": 10}}),
               (200, {"messages": [], "has_more": False})]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = answers.pop(0)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        refused = f"127.0.0.1:{_free_port()}"
        http = RelayHTTP([refused, f"127.0.0.1:{server.server_address[1]}"], deadline_s=5)
        assert http.history("t.a", "dm:a:b") == []
        assert answers == [] and http.failovers >= 2  # refused, then the 503, then the 200
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------
# The drill's verdict


def sent(sender, to, k, seq=None, mid=None):
    ack = None if seq is None else {"seq": seq, "message_id": mid or f"m{seq}"}
    return {"client_id": f"{sender}>{to}#{k}", "sender": sender, "to": to, "conversation_id": dm_id(sender, to),
            "k": k, "ack": ack}


def stored(s, seq=None):
    seq = seq or s["ack"]["seq"]
    return {"conversation_id": s["conversation_id"], "seq": seq, "message_id": f"m{seq}", "sender": s["sender"],
            "client_id": s["client_id"], "body": "x"}


def test_the_verdict_passes_when_every_node_holds_every_acked_message_once():
    d = load_drill()
    sends = [sent("a", "b", 0, 1), sent("b", "a", 0, 2), sent("a", "b", 1)]  # the last never acked
    h = [stored(s) for s in sends[:2]]
    v = d.verdict(sends, {"dm:a:b": {"n1": h, "n2": list(h)}})
    assert (v["acked"], v["found"], v["lost"], v["duplicated"], v["disagree"], v["unacked"]) == (2, 2, 0, 0, 0, 1)
    assert v["pass"]


def test_an_acked_message_missing_on_one_node_is_lost_and_the_reads_disagree():
    d = load_drill()
    sends = [sent("a", "b", 0, 1), sent("a", "b", 1, 2)]
    h = [stored(s) for s in sends]
    v = d.verdict(sends, {"dm:a:b": {"n1": h, "n2": h[:1]}})
    assert v["lost"] == 1 and v["disagree"] == 1 and not v["pass"]


def test_a_client_id_stored_twice_is_a_duplicate():
    d = load_drill()
    s = sent("a", "b", 0, 1)
    h = [stored(s), stored(s, seq=2)]
    v = d.verdict([s], {"dm:a:b": {"n1": h}})
    assert v["duplicated"] == 1 and not v["pass"]


def test_a_later_send_with_a_lower_seq_is_out_of_order():
    d = load_drill()
    sends = [sent("a", "b", 0, 2), sent("a", "b", 1, 1)]
    v = d.verdict(sends, {"dm:a:b": {"n1": [stored(sends[1]), stored(sends[0])]}})
    assert v["out_of_order"] == 1 and v["lost"] == 0


def test_a_node_that_cannot_be_read_fails_the_verdict():
    d = load_drill()
    s = sent("a", "b", 0, 1)
    v = d.verdict([s], {"dm:a:b": {"n1": [stored(s)], "n2": "OSError: refused"}})
    assert v["disagree"] == 1 and v["read_errors"] == 1 and not v["pass"]


def test_an_outage_counts_for_the_kill_before_it_started():
    d = load_drill()
    phases = [{"nodes": ["n1"], "killed_at": 10.0, "down_s": 3, "back_s": 4},
              {"nodes": ["n2"], "killed_at": 20.0, "down_s": 3, "back_s": 4}]
    outages = [Outage("x", 9.5, 14.0), Outage("y", 12.0, 21.0), Outage("z", 20.5, 23.0), Outage("w", 1.0, 2.0),
               Outage("x", 10.0, 12.0)]  # the other member's client, in the same conversation
    rows = d.outage_stats(phases, outages)
    assert [r["gaps"] for r in rows] == [[1.0], [4.5, 9.0], [2.5]]


# --------------------------------------------------------------------------------------------
# The drill on a real cluster


def test_the_drill_kills_every_node_of_a_3_node_cluster_and_loses_nothing(tmp_path):
    binary = relaynode_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"relaynode binary not found at {binary}; build it or set RELAYNODE")
    nodes = [{"id": f"n{i}", "client": f"127.0.0.1:{_free_port()}", "peer": f"127.0.0.1:{_free_port()}",
              "gossip": f"127.0.0.1:{_free_port()}", "data": str(tmp_path / f"n{i}")} for i in (1, 2, 3)]
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps({"cluster": f"drill-{uuid.uuid4().hex[:6]}", "secret": "drill-secret",
                                  "shards": 16, "replication": 2, "nodes": nodes}))
    r = subprocess.run([sys.executable, str(DRILL), str(config), "--duration-per-kill", "3", "--rate", "8",
                        "--users", "6", "--relaynode", binary, "--run-dir", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=150)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    acked = int(re.search(r"messages acked\s+(\d+)", out).group(1))
    lost = int(re.search(r"lost \(acked, missing on a node\)\s+(\d+)", out).group(1))
    assert acked > 0 and lost == 0, out
    assert "VERDICT: PASS" in out, out
    assert out.count("kill -9 n") >= 3, out
