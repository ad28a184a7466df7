"""Devices (PROTOCOL.md `GET /v1/devices`, `DELETE /v1/devices/{device}`, "Devices";
docs/NOTIFICATIONS.md "Devices") on a real 3-node cluster with R=2: two devices of one user,
each with its own connection and delivered cursor, kept in sync; the sender's other devices
see what it sent; listing and revoking devices."""
from __future__ import annotations

import signal

import pytest

from conftest import formed_cluster
from relay import dm, poll, ws_refused_status
from test_replication import restart_and_settle

NODES = ["n1", "n2", "n3"]
DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def dev3(tmp_path_factory):
    with formed_cluster(tmp_path_factory.mktemp("dev3"), NODES, replication=2) as cluster:
        yield cluster


def devices(cluster, nid, token) -> dict[str, dict]:
    status, body = cluster.client(nid).http("GET", "/v1/devices", token=token)
    assert status == 200, (status, body)
    return {d["device"]: d for d in body["devices"]}


def test_two_devices_keep_their_own_cursors_and_see_each_others_sends(dev3):
    alice, _ = dev3.client("n1").new_user("alice")
    bob, _ = dev3.client("n2").new_user("bob")
    ta = dev3.client("n1").login(alice, device="laptop")
    phone = dev3.client("n2").login(bob, device="phone")
    tablet = dev3.client("n3").login(bob, device="tablet")
    conv = dm(alice, bob)
    with dev3.client("n1").ws(ta) as alice_ws, dev3.client("n2").ws(phone) as phone_ws, \
            dev3.client("n3").ws(tablet) as tablet_ws:
        assert (phone_ws.hello["device"], tablet_ws.hello["device"]) == ("phone", "tablet")
        for i in range(1, 4):
            alice_ws.send_and_ack(f"a{i}", to=bob, body=f"m{i}")
        for ws in (phone_ws, tablet_ws):
            assert [ws.recv_until("message")["seq"] for _ in range(3)] == [1, 2, 3]
        # The phone marks 1-3 delivered; alice sees bob's delivered = 3 (his highest device).
        phone_ws.send_json({"type": "receipt", "conversation_id": conv, "delivered": 3})
        receipt = alice_ws.recv_until("receipt", where=lambda e: e["user"] == bob and e["delivered"] == 3)
        assert receipt["conversation_id"] == conv
        # The sender's other device sees what it sent; the sending connection gets the ack only.
        ack = phone_ws.send_and_ack("b1", to=alice, body="from the phone")
        mine = tablet_ws.recv_until("message", where=lambda e: e["seq"] == ack["seq"])
        assert mine["sender"] == bob and mine["body"] == "from the phone"
        assert alice_ws.recv_until("message", where=lambda e: e["seq"] == ack["seq"])["client_id"] == "b1"
        phone_ws.expect_nothing(0.3, ignore={"presence", "typing", "receipt"})
        listed = devices(dev3, "n1", phone)
        assert {"phone", "tablet"} <= set(listed), listed
        assert listed["phone"]["online"] and listed["tablet"]["online"], listed
    # The tablet reconnects through another node: its backlog is its own (1-3 and the phone's
    # message), not the user's (which the phone moved to 3).
    with dev3.client("n1").ws(tablet) as again:
        assert [m["seq"] for m in again.backlog if m["type"] == "message"] == [1, 2, 3, 4]
        assert {c["conversation_id"]: c["delivered"] for c in again.hello["conversations"]}[conv] == 0
        again.send_json({"type": "receipt", "conversation_id": conv, "delivered": 4})
        again.recv_until("receipt", where=lambda e: e["user"] == bob and e["delivered"] == 4)
    with dev3.client("n2").ws(phone) as phone_again:
        assert [m["seq"] for m in phone_again.backlog if m["type"] == "message"] == [4], "the phone had 1-3"
    with dev3.client("n3").ws(tablet) as tablet_again:
        assert tablet_again.backlog == []
    for _ in poll(DEADLINE_S, "both devices offline"):
        listed = devices(dev3, "n3", phone)
        if not listed["phone"]["online"] and not listed["tablet"]["online"]:
            break
    assert listed["tablet"]["last_seen"] > 0


def test_revoking_a_device_stops_its_tokens_everywhere_and_closes_its_sockets(dev3):
    carol, _ = dev3.client("n1").new_user("carol")
    keep = dev3.client("n1").login(carol, device="desk")
    gone = dev3.client("n2").login(carol, device="old-phone")
    gone2 = dev3.client("n3").login(carol, device="old-phone")   # a second token of that device
    keys = {"device": "old-phone", "identity_key": "aWQ=", "signed_prekey": "c3Br", "one_time_prekeys": ["b3Ax"]}
    assert dev3.client("n1").http("PUT", "/v1/keys", keys, gone)[0] == 204
    with dev3.client("n3").ws(gone) as gone_ws, dev3.client("n1").ws(gone2) as gone2_ws:
        assert devices(dev3, "n2", keep)["old-phone"]["online"]
        assert dev3.client("n2").http("DELETE", "/v1/devices/old-phone", token=keep)[0] == 204
        assert gone_ws.expect_close() == 4001
        assert gone2_ws.expect_close() == 4001
    for nid in NODES:
        for token in (gone, gone2):
            assert dev3.client(nid).http("GET", "/v1/devices", token=token)[0] == 401
            assert ws_refused_status(dev3, token, nid) == 401
        listed = devices(dev3, nid, keep)
        assert "old-phone" not in listed and "desk" in listed, listed
    status, bundles = dev3.client("n3").http("GET", f"/v1/users/{carol}/keys", token=keep)
    assert status == 200 and bundles["devices"] == [], "a revoked device's keys go with it"
    assert dev3.client("n1").http("DELETE", "/v1/devices/old-phone", token=keep)[0] == 404
    assert dev3.client("n1").http("DELETE", "/v1/devices/never", token=keep)[0] == 404
    # Revoking one's own device: that token stops too.
    assert dev3.client("n3").http("DELETE", "/v1/devices/desk", token=keep)[0] == 204
    assert dev3.client("n1").http("GET", "/v1/devices", token=keep)[0] == 401


def test_a_device_on_a_killed_node_shows_offline(dev3):
    """The answering node's view of the cluster decides `online`: a device whose node died
    (no disconnect was ever recorded) reads offline once the node is declared dead."""
    dave, _ = dev3.client("n1").new_user("dave")
    car = dev3.client("n3").login(dave, device="car")
    watch = dev3.client("n1").login(dave, device="watch")
    with dev3.client("n3").ws(car):
        assert devices(dev3, "n1", watch)["car"]["online"]
        assert dev3.kill("n3", signal.SIGKILL) == -signal.SIGKILL
    try:
        for _ in poll(30.0, "the car to read offline through n1", interval_s=0.2):
            status, body = dev3.client("n1").http("GET", "/v1/devices", token=watch)
            assert status in (200, 503), (status, body)   # 503: dave's shard failing over
            if status == 200:
                listed = {d["device"]: d for d in body["devices"]}
                if not listed["car"]["online"]:
                    break
    finally:
        restart_and_settle(dev3, "n3", NODES)
