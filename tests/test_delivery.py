"""Sending and delivery: PROTOCOL.md "Messages" and "WebSocket", PROTOCOL-NOTES.md
"Conversations and reads" and "WebSocket"."""
import json
import threading
import time

import pytest

from relay import error_code

MESSAGE_FIELDS = {"conversation_id", "seq", "message_id", "sender", "client_id", "ts", "kind", "body",
                  "attachments", "tip"}
ACK_FIELDS = {"client_id", "conversation_id", "seq", "message_id", "ts"}


def assert_ack(ack, client_id, conv, seq=None):
    assert ACK_FIELDS <= set(ack), ack
    assert ack["client_id"] == client_id and ack["conversation_id"] == conv, ack
    assert isinstance(ack["seq"], int) and ack["seq"] >= 1
    if seq is not None:
        assert ack["seq"] == seq, ack
    assert isinstance(ack["message_id"], str) and ack["message_id"]
    assert isinstance(ack["ts"], int) and abs(ack["ts"] - time.time() * 1000) < 60_000, ack


def assert_message_event(ev, ack, sender, client_id, body, kind="text"):
    assert ev["type"] == "message", ev
    assert MESSAGE_FIELDS <= set(ev), f"missing {MESSAGE_FIELDS - set(ev)} in {ev}"
    assert ev["conversation_id"] == ack["conversation_id"]
    assert ev["seq"] == ack["seq"] and ev["message_id"] == ack["message_id"] and ev["ts"] == ack["ts"]
    assert ev["sender"] == sender and ev["client_id"] == client_id
    assert ev["kind"] == kind and ev["body"] == body
    assert ev["attachments"] == [] and ev["tip"] is None


def test_live_message_reaches_the_recipient_and_the_senders_other_device_but_not_the_sending_connection(client, pair):
    (a, ta), (b, tb), conv = pair
    with client.ws(ta, device="laptop") as sending, client.ws(ta, device="phone") as other_device, \
            client.ws(tb) as bob:
        body = "hello bob ✓ \u00e9 \U0001F600"
        sending.send_msg("c-live-1", to=b, body=body)
        ack = sending.recv_until_one_of(("ack", "error"))
        assert ack["type"] == "ack", ack
        assert_ack(ack, "c-live-1", conv, seq=1)
        for ws in (bob, other_device):
            assert_message_event(ws.recv_json(), ack, a, "c-live-1", body)
        # The sending connection gets the ack only: a following ping is answered with no
        # message in between.
        sending.send_json({"type": "ping"})
        assert sending.recv_json()["type"] == "pong", sending.seen[-3:]


def test_http_send_answers_200_with_the_ack_fields_and_delivers_live(client, pair):
    (a, ta), (b, tb), conv = pair
    with client.ws(tb) as bob:
        status, ack = client.http("POST", "/v1/messages", {"client_id": "h-1", "to": b, "kind": "text", "body": "x"}, ta)
        assert status == 200, ack
        assert_ack(ack, "h-1", conv, seq=1)
        assert_message_event(bob.recv_json(), ack, a, "h-1", "x")


def test_send_by_conversation_id_after_the_direct_chat_exists(client, pair):
    (a, ta), (b, tb), conv = pair
    client.send(ta, to=b)
    with client.ws(tb) as bob:
        ack = bob.send_and_ack("by-id", conversation_id=conv, body="reply")
        assert_ack(ack, "by-id", conv, seq=2)
    assert [m["sender"] for m in client.history(ta, conv)[1]["messages"]] == [a, b]


def test_offline_recipient_gets_hello_then_backlog_oldest_first_then_synced(client, pair):
    (a, ta), (b, tb), conv = pair
    acks = [client.send(ta, client_id="off-1", to=b, body="one")]
    with client.ws(ta) as alice:
        acks.append(alice.send_and_ack("off-2", to=b, body="two"))
    acks.append(client.send(ta, client_id="off-3", to=b, body="three"))
    assert [x["seq"] for x in acks] == [1, 2, 3]

    with client.ws(tb) as bob:
        hello = bob.hello
        assert hello["user"] == b and hello["node"] == "n1" and hello["device"] == "default", hello
        assert hello["conversations"] == [{"conversation_id": conv, "last_seq": 3, "delivered": 0, "read": 0}], hello
        assert len(bob.backlog) == 3, bob.backlog
        for ev, ack, cid, body in zip(bob.backlog, acks, ["off-1", "off-2", "off-3"], ["one", "two", "three"]):
            assert_message_event(ev, ack, a, cid, body)
        assert conv in bob.synced["conversations"], bob.synced

        bob.send_json({"type": "receipt", "conversation_id": conv, "delivered": 3})
        # The receipt event to bob's own device shows the cursor has moved.
        bob.recv_until("receipt", where=lambda e: e["user"] == b and e["delivered"] == 3)

    with client.ws(tb) as again:
        assert again.backlog == [], again.backlog
        assert again.hello["conversations"][0]["delivered"] == 3, again.hello


def test_messages_stay_in_the_backlog_until_a_receipt_marks_them_delivered(client, pair):
    (a, ta), (b, tb), conv = pair
    client.send(ta, to=b, body="first")
    with client.ws(tb) as bob:
        assert [m["body"] for m in bob.backlog] == ["first"]
    # No receipt was sent: the next connection gets it again.
    with client.ws(tb) as bob:
        assert [m["body"] for m in bob.backlog] == ["first"]


def test_websocket_device_name_comes_from_the_url_or_the_login(client):
    user, _ = client.new_user("dev")
    token = client.login(user, device="tablet")
    with client.ws(token) as ws:
        assert ws.hello["device"] == "tablet"
    with client.ws(token, device="watch") as ws:
        assert ws.hello["device"] == "watch"


def test_live_events_sent_during_the_backlog_follow_synced_without_repeats(client, pair):
    (a, ta), (b, tb), conv = pair
    for i in range(30):
        client.send(ta, client_id=f"bk-{i}", to=b, body=str(i))
    with client.ws(ta) as alice:
        bob = client.ws(tb, expect_hello=False)
        try:
            # Sends race the connect backlog; every seq must arrive once, in order.
            for i in range(30, 40):
                alice.send_msg(f"bk-{i}", to=b, body=str(i))
            for i in range(30, 40):
                alice.recv_until("ack")
            seqs = []
            saw_synced = False
            while len(seqs) < 40:
                ev = bob.recv_json()
                if ev["type"] == "message":
                    seqs.append(ev["seq"])
                elif ev["type"] == "synced":
                    saw_synced = True
            assert saw_synced or bob.recv_until("synced")
            assert seqs == list(range(1, 41)), seqs
        finally:
            bob.close()


def test_seq_is_gapless_and_identically_ordered_under_concurrent_senders(client, pair):
    (a, ta), (b, tb), conv = pair
    per_conn = 50
    conns = [client.ws(ta, device="a1"), client.ws(ta, device="a2"), client.ws(tb, device="b1"),
             client.ws(tb, device="b2")]
    total = per_conn * len(conns)
    results = [None] * len(conns)
    errors = []

    def run(i, ws):
        try:
            acks, seen = [], []
            # Send in small pipelined bursts so the connections interleave.
            for burst in range(0, per_conn, 10):
                for k in range(burst, burst + 10):
                    ws.send_msg(f"cc-{i}-{k}", to=(b if i < 2 else a), body=f"{i}/{k}")
                got = 0
                while got < 10:
                    ev = ws.recv_json(timeout=20)
                    if ev["type"] == "ack":
                        acks.append(ev)
                        got += 1
                    elif ev["type"] == "message":
                        seen.append(ev)
                    elif ev["type"] == "error":
                        raise AssertionError(f"error event: {ev}")
            while len(seen) < total - per_conn:
                ev = ws.recv_json(timeout=20)
                if ev["type"] == "message":
                    seen.append(ev)
            results[i] = (acks, seen)
        except BaseException as e:  # pytest.fail raises a BaseException subclass
            errors.append((i, e))

    threads = [threading.Thread(target=run, args=(i, ws)) for i, ws in enumerate(conns)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "sender threads did not finish in 60 s"
        assert not errors, errors
    finally:
        for ws in conns:
            ws.close()

    acked = {}
    for i, (acks, seen) in enumerate(results):
        for ack in acks:
            assert ack["conversation_id"] == conv
            assert ack["seq"] not in acked, f"seq {ack['seq']} acked twice"
            acked[ack["seq"]] = ack["message_id"]
        # Each connection sees every other connection's messages, once, in seq order.
        seqs = [m["seq"] for m in seen]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"conn {i} saw {seqs}"
        assert set(seqs) == set(range(1, total + 1)) - {x["seq"] for x in acks}, f"conn {i}"
    assert sorted(acked) == list(range(1, total + 1))

    histories = [client.all_history(ta, conv), client.all_history(tb, conv)]
    for h in histories:
        assert [m["seq"] for m in h] == list(range(1, total + 1))
        assert all(acked[m["seq"]] == m["message_id"] for m in h)
    assert histories[0] == histories[1]


def test_resending_a_client_id_returns_the_first_ack_and_stores_one_message(client, pair):
    (a, ta), (b, tb), conv = pair
    with client.ws(tb) as bob, client.ws(ta) as alice:
        first = alice.send_and_ack("dup-1", to=b, body="once")
        again = alice.send_and_ack("dup-1", to=b, body="once")
        over_http = client.send(ta, client_id="dup-1", to=b, body="once")
        for ack in (again, over_http):
            assert {k: ack[k] for k in ACK_FIELDS} == {k: first[k] for k in ACK_FIELDS}
        alice.send_and_ack("dup-2", to=b, body="next")
        # Bob sees dup-1 once, then dup-2.
        assert [bob.recv_json()["client_id"] for _ in range(2)] == ["dup-1", "dup-2"]
    messages = client.history(ta, conv)[1]["messages"]
    assert [(m["seq"], m["client_id"]) for m in messages] == [(1, "dup-1"), (2, "dup-2")]


def test_http_first_then_websocket_resend_is_also_idempotent(client, pair):
    (a, ta), (b, tb), conv = pair
    first = client.send(ta, client_id="dup-h", to=b)
    with client.ws(ta) as alice:
        again = alice.send_and_ack("dup-h", to=b)
    assert {k: again[k] for k in ACK_FIELDS} == {k: first[k] for k in ACK_FIELDS}
    assert len(client.history(tb, conv)[1]["messages"]) == 1


def test_the_same_client_id_from_two_senders_is_two_messages(client, pair):
    (a, ta), (b, tb), conv = pair
    x = client.send(ta, client_id="same", to=b)
    y = client.send(tb, client_id="same", to=a)
    assert (x["seq"], y["seq"]) == (1, 2)


def test_messaging_yourself_is_allowed(client):
    user, token = client.new_user("self")
    ack = client.send(token, to=user, body="note to self")
    assert ack["conversation_id"] == f"dm:{user}:{user}" and ack["seq"] == 1


def test_sending_to_an_unknown_user_is_not_found(client):
    user, token = client.new_user("lonely")
    status, body = client.http("POST", "/v1/messages", {"client_id": "x", "to": "nobody_here_x", "kind": "text",
                                                         "body": "?"}, token)
    assert status == 404 and error_code(body) == "not_found", body
    with client.ws(token) as ws:
        ws.send_msg("nf-1", to="nobody_here_x")
        ev = ws.recv_json()
        assert ev == {**ev, "type": "error", "code": "not_found", "client_id": "nf-1"}, ev


def test_writing_to_a_conversation_you_are_not_in_is_forbidden(client, pair):
    (a, ta), (b, tb), conv = pair
    client.send(ta, to=b)
    carol, tc = client.new_user("carol")
    for target in (conv, f"dm:{a}:zzz_no_such_user", "grp:nonexistent"):
        status, body = client.http("POST", "/v1/messages", {"client_id": "f", "conversation_id": target,
                                                             "kind": "text", "body": "x"}, tc)
        assert status == 403 and error_code(body) == "forbidden", (target, body)
    with client.ws(tc) as ws:
        ws.send_msg("fb-1", conversation_id=conv)
        ev = ws.recv_json()
        assert (ev["type"], ev["code"], ev.get("client_id")) == ("error", "forbidden", "fb-1"), ev
    assert len(client.history(ta, conv)[1]["messages"]) == 1


def test_every_client_kind_is_accepted_and_stored_verbatim(client, pair):
    (a, ta), (b, tb), conv = pair
    kinds = ["text", "image", "video", "audio", "file", "ciphertext"]
    # Media kinds carry an asset (docs/ASSETS.md).
    up = client.request("POST", "/v1/assets", raw=b"\x89PNG", token=ta, headers={"Content-Type": "image/png"})
    assert up.status == 201, (up.status, up.json)
    for kind in kinds:
        body = "b64:AAECAwQ=" if kind == "ciphertext" else f"a {kind}"
        req = {"client_id": f"kind-{kind}", "to": b, "kind": kind, "body": body}
        if kind in ("image", "video", "audio", "file"):
            req["attachments"] = [up.json["asset_id"]]
        status, ack = client.http("POST", "/v1/messages", req, ta)
        assert status == 200, (kind, status, ack)
    stored = [(m["kind"], m["body"]) for m in client.history(tb, conv)[1]["messages"]]
    assert [k for k, _ in stored] == kinds, stored


@pytest.mark.parametrize("kind", ["system", "tip", "bogus", ""])
def test_kinds_a_client_cannot_send_are_refused(client, pair, kind):
    (a, ta), (b, tb), conv = pair
    status, body = client.http("POST", "/v1/messages", {"client_id": "k", "to": b, "kind": kind, "body": "x"}, ta)
    assert status == 400 and error_code(body) == "bad_request", (kind, status, body)


def test_a_body_of_exactly_64_kib_is_accepted_and_one_byte_more_is_too_large(client, pair):
    (a, ta), (b, tb), conv = pair
    # Multi-byte characters: the limit is in UTF-8 bytes, not characters.
    exact = "é" * (65536 // 2)
    assert len(exact.encode()) == 65536
    client.send(ta, client_id="big-ok", to=b, body=exact)
    status, body = client.http("POST", "/v1/messages", {"client_id": "big-no", "to": b, "kind": "text",
                                                         "body": exact + "x"}, ta)
    assert status == 413 and error_code(body) == "too_large", body
    messages = client.history(tb, conv)[1]["messages"]
    assert [m["client_id"] for m in messages] == ["big-ok"] and messages[0]["body"] == exact


def test_typing_reaches_the_other_member(client, pair):
    (a, ta), (b, tb), conv = pair
    client.send(ta, to=b)
    with client.ws(ta) as alice, client.ws(tb) as bob:
        alice.send_json({"type": "typing", "conversation_id": conv})
        ev = bob.recv_until("typing")
        assert (ev["conversation_id"], ev["user"]) == (conv, a), ev


def test_ping_is_answered_with_pong(client):
    user, token = client.new_user("pinger")
    with client.ws(token) as ws:
        for _ in range(3):
            ws.ping_pong()


def test_a_body_with_nul_and_json_escapes_round_trips(client, pair):
    (a, ta), (b, tb), conv = pair
    body = 'nul\u0000 quote" backslash\\ newline\n tab\t \u2028 end'
    with client.ws(tb) as bob, client.ws(ta) as alice:
        alice.send_and_ack("esc", to=b, body=body)
        assert bob.recv_json()["body"] == body
    assert client.history(ta, conv)[1]["messages"][0]["body"] == body


def test_the_first_message_may_name_the_direct_chat_by_conversation_id(client, pair):
    (a, ta), (b, tb), conv = pair
    ack = client.send(ta, client_id="by-conv", conversation_id=conv)
    assert (ack["conversation_id"], ack["seq"]) == (conv, 1)
    assert client.conversation(tb, conv)["unread"] == 1


def test_unknown_attachment_is_not_found_and_a_tip_without_money_is_declined(client, pair):
    (a, ta), (b, tb), conv = pair
    base = {"to": b, "kind": "text", "body": "x"}
    status, body = client.http("POST", "/v1/messages", {**base, "client_id": "att", "attachments": ["a_missing"]}, ta)
    assert status == 404 and error_code(body) == "not_found", body
    status, body = client.http("POST", "/v1/messages", {**base, "client_id": "tip",
                                                         "tip": {"amount_cents": 100, "currency": "USD"}}, ta)
    # Tips are charged to the sender's wallet (tests/test_tips.py): an empty one declines.
    assert status == 402 and error_code(body) == "payment_failed" and body["error"]["billing_url"], body
    # Nothing was stored; an explicit empty attachment list is fine.
    ack = client.send(ta, client_id="plain", to=b)
    assert ack["seq"] == 1


def test_raw_utf8_text_frames_round_trip(client, pair):
    (a, ta), (b, tb), conv = pair
    body = "naïve café — 日本語 \U0001F600"
    with client.ws(tb) as bob, client.ws(ta) as alice:
        alice.send_text(json.dumps({"type": "send", "client_id": "utf8", "to": b, "kind": "text", "body": body},
                                   ensure_ascii=False))
        assert alice.recv_until("ack")["client_id"] == "utf8"
        assert bob.recv_json()["body"] == body
