"""Restart survival: PROTOCOL.md "An ack means the message is stored ... a node killed after the
ack loses nothing". Each test has a node of its own, killed and restarted on the same data."""
import json
import signal

from relay import dm


def collect_acks(ws, n, timeout=30):
    acks = {}
    while len(acks) < n:
        ev = ws.recv_until_one_of(("ack", "error"), timeout=timeout)
        assert ev["type"] == "ack", ev
        acks[ev["client_id"]] = ev
    return acks


def assert_history_is_exactly(client, token, conv, acks, bodies, allow_extra_unacked=()):
    history = client.all_history(token, conv)
    seqs = [m["seq"] for m in history]
    assert seqs == list(range(1, len(history) + 1)), f"seq has gaps or repeats: {seqs[:20]}..."
    by_client_id = {}
    for m in history:
        assert m["client_id"] not in by_client_id, f"{m['client_id']} stored twice"
        by_client_id[m["client_id"]] = m
    for cid, ack in acks.items():
        m = by_client_id.get(cid)
        assert m is not None, f"acked message {cid} (seq {ack['seq']}) lost"
        assert (m["seq"], m["message_id"], m["ts"], m["body"]) == (ack["seq"], ack["message_id"], ack["ts"],
                                                                   bodies[cid])
    extra = set(by_client_id) - set(acks)
    assert extra <= set(allow_extra_unacked), f"messages nobody sent: {extra}"
    return history


def test_acked_messages_survive_sigterm_and_restart(fresh_cluster):
    cluster = fresh_cluster
    client = cluster.client()
    a, ta = client.new_user("dura")
    b, tb = client.new_user("durb")
    conv = dm(a, b)
    bodies = {f"t-{i}": f"body {i}" for i in range(40)}
    acks = {}
    for i in range(20):
        acks[f"t-{i}"] = client.send(ta, client_id=f"t-{i}", to=b, body=bodies[f"t-{i}"])
    with client.ws(tb) as bob:
        for i in range(20, 40):
            bob.send_msg(f"t-{i}", to=a, body=bodies[f"t-{i}"])
        acks.update(collect_acks(bob, 20))
        assert client.request("POST", f"/v1/conversations/{conv}/receipts", body={"read": 10}, token=ta).status == 204
        assert cluster.kill("n1", signal.SIGTERM) == 0, cluster.log_tail("n1")
        # Shutdown closes WebSockets with 1001 (going away).
        assert bob.expect_close() == 1001
    cluster.start("n1")
    assert_history_is_exactly(client, tb, conv, acks, bodies)
    # Sessions and cursors survive too.
    c = client.conversation(ta, conv)
    assert (c["last_seq"], c["read"], c["unread"]) == (40, 10, 20), c
    # And the conversation goes on from the next seq.
    assert client.send(tb, client_id="after", to=a)["seq"] == 41


def test_every_acked_message_survives_kill_9_right_after_a_burst(fresh_cluster):
    cluster = fresh_cluster
    client = cluster.client()
    a, ta = client.new_user("k9a")
    b, tb = client.new_user("k9b")
    conv = dm(a, b)
    client.send(ta, client_id="first", to=b, body="first")
    bodies = {"first": "first"}
    with client.ws(ta) as alice:
        # As fast as acks come: a window of 32 sends in flight.
        acks = {"first": None}
        sent = 0
        window = 32
        while len(acks) - 1 < 300:
            while sent < 300 and sent - (len(acks) - 1) < window:
                cid = f"k-{sent}"
                bodies[cid] = f"burst {sent}"
                alice.send_msg(cid, to=b, body=bodies[cid])
                sent += 1
            ev = alice.recv_until_one_of(("ack", "error"), timeout=30)
            assert ev["type"] == "ack", ev
            acks[ev["client_id"]] = ev
        status = cluster.kill("n1", signal.SIGKILL)
    assert status == -signal.SIGKILL
    acks.pop("first")
    cluster.start("n1")
    history = assert_history_is_exactly(client, tb, conv, acks, bodies, allow_extra_unacked={"first"})
    assert len(history) == 301


def test_acked_messages_survive_kill_9_in_the_middle_of_a_burst(fresh_cluster):
    cluster = fresh_cluster
    client = cluster.client()
    a, ta = client.new_user("kma")
    b, tb = client.new_user("kmb")
    conv = dm(a, b)
    client.send(ta, client_id="first", to=b, body="first")
    bodies = {f"m-{i}": f"mid {i}" for i in range(400)}
    acks = {}
    with client.ws(ta) as alice:
        for i in range(400):
            alice.send_msg(f"m-{i}", to=b, body=bodies[f"m-{i}"])
        while len(acks) < 150:
            ev = alice.recv_until_one_of(("ack", "error"), timeout=30)
            assert ev["type"] == "ack", ev
            acks[ev["client_id"]] = ev
        cluster.kill("n1", signal.SIGKILL)
        # Acks that were already on the wire count too: a client would have seen them.
        while True:
            try:
                frame = alice.conn.recv(timeout=2)
            except Exception:
                break
            ev = json.loads(frame)
            if ev.get("type") == "ack":
                acks[ev["client_id"]] = ev
    cluster.start("n1")
    history = assert_history_is_exactly(client, tb, conv, acks, bodies, allow_extra_unacked=set(bodies) | {"first"})
    print(f"acked {len(acks)} of 400 before the kill; {len(history) - 1} stored")


def test_a_retry_after_restart_gets_the_original_ack(fresh_cluster):
    cluster = fresh_cluster
    client = cluster.client()
    a, ta = client.new_user("rta")
    b, tb = client.new_user("rtb")
    first = client.send(ta, client_id="retry-me", to=b)
    cluster.kill("n1", signal.SIGKILL)
    cluster.start("n1")
    again = client.send(ta, client_id="retry-me", to=b)
    assert again == first
    assert len(client.history(tb, dm(a, b))[1]["messages"]) == 1
