"""Receipts, history pages, sync and the conversation list: PROTOCOL.md "HTTP" and "WebSocket",
PROTOCOL-NOTES.md "Conversations and reads" and "Receipts"."""
import pytest

from relay import Client, dm, error_code, unique_user

CONVERSATION_FIELDS = {"conversation_id", "kind", "title", "last_seq", "delivered", "read", "unread"}


def send_n(client, token, to, n, prefix="m"):
    with client.ws(token) as ws:
        for i in range(1, n + 1):
            ws.send_msg(f"{prefix}-{i}", to=to, body=f"{prefix} {i}")
        acks = [ws.recv_until_one_of(("ack", "error"), timeout=20) for _ in range(n)]
    assert all(a["type"] == "ack" for a in acks), [a for a in acks if a["type"] != "ack"][:3]
    return acks


def post_receipt(client, token, conv, **cursors):
    r = client.request("POST", f"/v1/conversations/{conv}/receipts", body=cursors, token=token)
    assert r.status == 204, (r.status, r.raw)
    assert r.raw == b""


# -------------------------------------------------------------------------------- receipts


def test_receipts_reach_the_other_member_and_the_readers_own_devices(client, pair):
    (a, ta), (b, tb), conv = pair
    send_n(client, ta, b, 3)
    with client.ws(ta) as alice, client.ws(tb) as bob, client.ws(tb, device="b2") as bob2:
        bob.send_json({"type": "receipt", "conversation_id": conv, "delivered": 3})
        for ws in (alice, bob, bob2):
            ev = ws.recv_until("receipt")
            assert ev == {"type": "receipt", "conversation_id": conv, "user": b, "delivered": 3, "read": 0}, ev
        bob.send_json({"type": "receipt", "conversation_id": conv, "read": 2})
        # Coalesced to one per second: the next event may take up to that long.
        for ws in (alice, bob, bob2):
            ev = ws.recv_until("receipt", timeout=4, where=lambda e: e["read"] == 2)
            assert (ev["user"], ev["delivered"], ev["read"]) == (b, 3, 2), ev


def test_http_receipt_is_204_and_reaches_websockets(client, pair):
    (a, ta), (b, tb), conv = pair
    send_n(client, ta, b, 2)
    with client.ws(ta) as alice:
        post_receipt(client, tb, conv, read=2)
        ev = alice.recv_until("receipt", where=lambda e: e["user"] == b)
        # read implies delivered.
        assert (ev["conversation_id"], ev["delivered"], ev["read"]) == (conv, 2, 2), ev


def test_cursors_only_move_forward_and_stop_at_the_last_seq(client, pair):
    (a, ta), (b, tb), conv = pair
    send_n(client, ta, b, 5)

    def cursors():
        c = client.conversation(tb, conv)
        return c["delivered"], c["read"]

    post_receipt(client, tb, conv, delivered=2)
    assert cursors() == (2, 0)
    post_receipt(client, tb, conv, read=3)
    assert cursors() == (3, 3), "read implies delivered"
    post_receipt(client, tb, conv, delivered=1, read=1)
    assert cursors() == (3, 3), "cursors never move back"
    post_receipt(client, tb, conv, delivered=4)
    assert cursors() == (4, 3)
    post_receipt(client, tb, conv, read=99)
    assert cursors() == (5, 5), "a cursor past the end stops at the last seq"
    with client.ws(tb) as bob:
        assert bob.hello["conversations"] == [{"conversation_id": conv, "last_seq": 5, "delivered": 5, "read": 5}]
        assert bob.backlog == []
    # Alice's own cursors are hers alone.
    alice_view = client.conversation(ta, conv)
    assert alice_view["last_seq"] == 5 and alice_view["unread"] == 0


def test_unread_counts_messages_from_others_above_the_read_cursor(client, pair):
    (a, ta), (b, tb), conv = pair
    send_n(client, ta, b, 5, prefix="a")
    send_n(client, tb, a, 2, prefix="b")
    assert client.conversation(tb, conv)["unread"] == 5
    assert client.conversation(ta, conv)["unread"] == 2
    post_receipt(client, tb, conv, read=3)
    assert client.conversation(tb, conv)["unread"] == 2
    post_receipt(client, tb, conv, read=7)
    assert client.conversation(tb, conv)["unread"] == 0
    post_receipt(client, ta, conv, read=6)
    assert client.conversation(ta, conv)["unread"] == 1


def test_receipt_for_a_conversation_you_are_not_in_is_forbidden(client, pair):
    (a, ta), (b, tb), conv = pair
    send_n(client, ta, b, 1)
    carol, tc = client.new_user("carol")
    r = client.request("POST", f"/v1/conversations/{conv}/receipts", body={"read": 1}, token=tc)
    assert r.status == 403 and error_code(r.json) == "forbidden", (r.status, r.raw)
    with client.ws(tc) as ws:
        ws.send_json({"type": "receipt", "conversation_id": conv, "read": 1})
        ev = ws.recv_json()
        assert (ev["type"], ev["code"]) == ("error", "forbidden"), ev
    assert client.conversation(tb, conv)["unread"] == 1


@pytest.mark.parametrize("body", [{"read": "1"}, {"delivered": -1}, {"read": 1.5}, [1]])
def test_receipt_with_bad_cursors_is_400(client, pair, body):
    (a, ta), (b, tb), conv = pair
    send_n(client, ta, b, 1)
    r = client.request("POST", f"/v1/conversations/{conv}/receipts", body=body, token=tb)
    assert r.status == 400 and error_code(r.json) == "bad_request", (body, r.status, r.raw)
    assert client.conversation(tb, conv)["read"] == 0


# -------------------------------------------------------------------------------- history


@pytest.fixture(scope="module")
def history120(shared_cluster):
    """A direct chat with 120 messages, alternating senders in blocks."""
    client = Client(shared_cluster)
    a, ta = client.signup(unique_user("hista"))
    b, tb = client.signup(unique_user("histb"))
    send_n(client, ta, b, 60, prefix="a")
    send_n(client, tb, a, 60, prefix="b")
    carol, tc = client.signup(unique_user("histc"))
    return client, dm(a, b), ta, tb, tc


def seqs(page):
    return [m["seq"] for m in page["messages"]]


def test_history_without_bounds_is_the_newest_50_oldest_first(history120):
    client, conv, ta, tb, _ = history120
    status, page = client.history(ta, conv)
    assert status == 200, page
    assert seqs(page) == list(range(71, 121)) and page["has_more"] is True
    assert set(page) == {"messages", "has_more"}


@pytest.mark.parametrize("params, expected, has_more", [
    ({"limit": 10}, range(111, 121), True),
    ({"before": 71, "limit": 30}, range(41, 71), True),
    ({"before": 11}, range(1, 11), False),
    ({"before": 2, "limit": 1}, range(1, 2), False),
    ({"after": 100}, range(101, 121), False),
    ({"after": 10, "limit": 5}, range(11, 16), True),
    ({"after": 115, "limit": 5}, range(116, 121), False),
    ({"after": 10, "before": 20, "limit": 5}, range(11, 16), True),
    ({"after": 120}, range(0), False),
    ({"before": 1}, range(0), False),
])
def test_history_pages_follow_before_after_and_limit(history120, params, expected, has_more):
    client, conv, ta, tb, _ = history120
    status, page = client.history(tb, conv, **params)
    assert status == 200, page
    assert seqs(page) == list(expected), params
    assert page["has_more"] is has_more, params


def test_history_after_with_before_stays_inside_both_bounds(history120):
    client, conv, ta, tb, _ = history120
    status, page = client.history(ta, conv, after=10, before=20)
    assert status == 200 and seqs(page) == list(range(11, 20)), page


def test_history_limit_above_100_is_taken_as_100(history120):
    client, conv, ta, tb, _ = history120
    status, page = client.history(ta, conv, limit=1000)
    assert status == 200 and seqs(page) == list(range(21, 121)) and page["has_more"] is True


def test_history_messages_have_every_stored_field(history120):
    client, conv, ta, tb, _ = history120
    m = client.history(ta, conv, limit=1)[1]["messages"][0]
    assert set(m) >= {"conversation_id", "seq", "message_id", "sender", "client_id", "ts", "kind", "body",
                      "attachments", "tip"}, m
    assert (m["conversation_id"], m["seq"], m["client_id"], m["body"]) == (conv, 120, "b-60", "b 60")


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=abc", "before=-5", "before=x",
                                   "after=-1", "after=1e3", "limit="])
def test_history_with_bad_params_is_400(history120, query):
    client, conv, ta, tb, _ = history120
    r = client.request("GET", f"/v1/conversations/{conv}/messages?{query}", token=ta)
    assert r.status == 400 and error_code(r.json) == "bad_request", (query, r.status, r.raw)


def test_history_zero_bounds_read_from_the_start_or_nothing(history120):
    client, conv, ta, tb, _ = history120
    r = client.request("GET", f"/v1/conversations/{conv}/messages?after=0&limit=3", token=ta)
    assert r.status == 200 and [m["seq"] for m in r.json["messages"]] == [1, 2, 3] and r.json["has_more"], r.raw
    r = client.request("GET", f"/v1/conversations/{conv}/messages?before=0", token=ta)
    assert r.status == 200 and r.json == {"messages": [], "has_more": False}, r.raw


def test_history_of_a_conversation_you_are_not_in_is_403_whether_or_not_it_exists(history120):
    client, conv, ta, tb, tc = history120
    for target in (conv, "dm:aaa_none:bbb_none", "grp:doesnotexist"):
        status, body = client.history(tc, target)
        assert status == 403 and error_code(body) == "forbidden", (target, status, body)


# -------------------------------------------------------------------------------- sync


def test_sync_since_streams_the_missing_messages_then_synced(history120):
    client, conv, ta, tb, _ = history120
    with client.ws(ta) as ws:
        ws.send_json({"type": "sync", "since": {conv: 115}})
        got = [ws.recv_json() for _ in range(6)]
        assert [e["type"] for e in got] == ["message"] * 5 + ["synced"], got
        assert [e["seq"] for e in got[:5]] == list(range(116, 121))
        assert got[5]["conversations"] == [conv], got[5]
        # Up to date already: just synced.
        ws.send_json({"type": "sync", "since": {conv: 120}})
        ev = ws.recv_json()
        assert ev["type"] == "synced", ev


def test_sync_streams_a_long_gap_completely_in_order(history120):
    client, conv, ta, tb, _ = history120
    with client.ws(tb) as ws:
        ws.send_json({"type": "sync", "since": {conv: 0}})
        got = []
        while (ev := ws.recv_json())["type"] != "synced":
            got.append(ev)
        assert [(e["type"], e["seq"]) for e in got] == [("message", s) for s in range(1, 121)]


def test_sync_of_a_conversation_you_cannot_read_is_an_error_event_and_left_out_of_synced(history120):
    client, conv, ta, tb, tc = history120
    with client.ws(tc) as carol:
        carol.send_json({"type": "sync", "since": {conv: 0}})
        ev = carol.recv_json()
        assert (ev["type"], ev["code"], ev.get("conversation_id")) == ("error", "forbidden", conv), ev
        synced = carol.recv_until("synced")
        assert conv not in synced["conversations"], synced
    # A mix: the readable one is served, the other refused.
    with client.ws(ta) as alice:
        alice.send_json({"type": "sync", "since": {conv: 119, "dm:aaa_none:bbb_none": 0}})
        events = []
        while (ev := alice.recv_json())["type"] != "synced":
            events.append(ev)
        assert [e.get("seq") for e in events if e["type"] == "message"] == [120], events
        errors = [e for e in events if e["type"] == "error"]
        assert [(e["code"], e.get("conversation_id")) for e in errors] == [("forbidden", "dm:aaa_none:bbb_none")]
        assert ev["conversations"] == [conv], ev


@pytest.mark.parametrize("since", [None, [], "x", {"dm:a_a:b_b": "1"}])
def test_sync_with_a_malformed_since_is_bad_request_and_the_connection_stays(client, since):
    user, token = client.new_user("syncbad")
    with client.ws(token) as ws:
        req = {"type": "sync"} if since is None else {"type": "sync", "since": since}
        ws.send_json(req)
        ev = ws.recv_json()
        assert (ev["type"], ev["code"]) == ("error", "bad_request"), ev
        ws.ping_pong()


# -------------------------------------------------------------------------------- conversation list


def test_conversation_list_shape_and_newest_activity_first(client):
    me, tm = client.new_user("lister")
    x, tx = client.new_user("lx")
    y, ty = client.new_user("ly")
    client.send(tm, to=x, body="to x")
    client.send(tm, to=y, body="to y")
    client.send(ty, to=me, body="from y")
    client.send(tx, to=me, body="from x, newest")
    convs = client.conversations(tm)
    assert [c["conversation_id"] for c in convs] == [dm(me, x), dm(me, y)]
    for c in convs:
        assert CONVERSATION_FIELDS | {"last_ts"} <= set(c), c
        assert isinstance(c["kind"], str) and c["kind"]
        assert c["last_seq"] == 2 and c["unread"] == 1 and c["delivered"] == 0 and c["read"] == 0, c
    assert convs[0]["title"] == x and convs[1]["title"] == y
    assert convs[0]["last_ts"] >= convs[1]["last_ts"]
    newest = client.history(tm, dm(me, x))[1]["messages"][-1]
    assert convs[0]["last_ts"] == newest["ts"]
    # Others see their own view of the same chat.
    (cx,) = client.conversations(tx)
    assert (cx["conversation_id"], cx["title"], cx["unread"]) == (dm(me, x), me, 1)


def test_a_new_user_has_no_conversations(client):
    user, token = client.new_user("empty")
    assert client.conversations(token) == []
    with client.ws(token) as ws:
        assert ws.hello["conversations"] == [] and ws.backlog == []


def test_receipt_events_are_coalesced_to_one_per_second_carrying_the_latest_cursors(client, pair):
    (a, ta), (b, tb), conv = pair
    send_n(client, ta, b, 10)
    with client.ws(ta) as alice, client.ws(tb) as bob:
        for seq in range(1, 11):
            bob.send_json({"type": "receipt", "conversation_id": conv, "read": seq})
        bob.ping_pong()  # all ten receipts were read by the server
        events = []
        while not events or events[-1]["read"] != 10:
            events.append(alice.recv_until("receipt", timeout=4))
        assert len(events) <= 3, f"not coalesced: {events}"
        reads = [e["read"] for e in events]
        assert reads == sorted(reads), reads
