"""Presence, last seen, profiles and their privacy, and typing, on a real 3-node cluster with
two copies of every shard (PROTOCOL.md; docs/PRESENCE.md). A user is online while any device
is connected to any node; contacts (users who share a conversation) get `presence` events on
whichever node they are; a killed node's users go offline cluster-wide and come back when they
reconnect elsewhere; last seen and about/avatar follow each privacy setting in every place they
show. The node-killing test runs last: it leaves the cluster with two nodes."""
from __future__ import annotations

import json
import signal
import time

import pytest

from relay import Cluster, dm, error_code, unique_user
from conftest import formed_cluster

NODES = ["n1", "n2", "n3"]
# SWIM declares a killed node dead in ~2.5 s (docs/GOSSIP.md); a shard it led then fails over.
OFFLINE_AFTER_KILL_S = 15.0


@pytest.fixture(scope="module")
def rcluster(tmp_path_factory):
    with formed_cluster(tmp_path_factory.mktemp("presence"), NODES, replication=2, extra={"password_hash_cost": 1}) as cluster:
        yield cluster


def presence_of(ws, user: str, timeout: float = 10.0) -> dict:
    return ws.recv_until("presence", timeout=timeout, where=lambda e: e["user"] == user)


def collect(ws, seconds: float) -> list[dict]:
    """Every event that arrives within `seconds`."""
    got, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = ws.conn.recv(timeout=left)
        except TimeoutError:
            break
        got.append(json.loads(frame))
    return got


def patch_me(cluster: Cluster, nid: str, token: str, body: dict) -> dict:
    status, profile = cluster.client(nid).http("PATCH", "/v1/users/me", body, token=token)
    assert status == 200, profile
    return profile


def users(cluster: Cluster):
    """alice; bob (a direct chat with alice); dave (a group with alice); carol (a stranger)."""
    c1 = cluster.client("n1")
    alice, ta = c1.signup(unique_user("alice"))
    bob, tb = c1.signup(unique_user("bob"))
    carol, tc = c1.signup(unique_user("carol"))
    dave, td = c1.signup(unique_user("dave"))
    c1.send(ta, "hi", to=bob, body="hi bob")
    status, made = cluster.client("n2").http("POST", "/v1/groups", {"title": "g", "members": [dave]}, token=ta)
    assert status == 201, made
    return (alice, ta), (bob, tb), (carol, tc), (dave, td)


def test_online_while_any_device_is_connected_and_last_seen_when_the_last_goes(rcluster):
    (alice, ta), (bob, tb), (carol, tc), (dave, td) = users(rcluster)
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    assert c1.http("GET", f"/v1/users/{alice}/presence", token=tb) == (200, {"user": alice, "online": False, "last_seen": None})
    with c2.ws(tb) as bob_ws, c1.ws(td) as dave_ws, c3.ws(tc) as carol_ws:
        t0 = int(time.time() * 1000)
        phone = c3.ws(ta, device="phone")
        on = presence_of(bob_ws, alice)
        assert on["online"] is True and on["last_seen"] >= t0 - 1000, on
        assert presence_of(dave_ws, alice)["online"] is True, "a group co-member is a contact"
        status, p = c1.http("GET", f"/v1/users/{alice}/presence", token=tb)
        assert status == 200 and p["online"] is True, p
        # A second device on another node, then the first goes: still online, no event.
        laptop = c1.ws(ta, device="laptop")
        phone.close()
        bob_ws.ping_pong()
        assert [e for e in collect(bob_ws, 1.5) if e["type"] == "presence"] == [], "no flap while a device remains"
        assert c2.http("GET", f"/v1/users/{alice}/presence", token=tb)[1]["online"] is True
        laptop.close()
        off = presence_of(bob_ws, alice)
        assert off["online"] is False and off["last_seen"] >= t0, off
        assert presence_of(dave_ws, alice)["online"] is False
        assert c3.http("GET", f"/v1/users/{alice}/presence", token=tb) == (
            200, {"user": alice, "online": False, "last_seen": off["last_seen"]})
        assert c1.http("GET", f"/v1/users/{alice}", token=tb)[1]["last_seen"] == off["last_seen"]
        # Carol shares no conversation with alice: no events for her.
        assert [e for e in collect(carol_ws, 0.5) if e["type"] == "presence"] == [], carol_ws.seen
    counters = metrics(rcluster)
    assert counters["relay_presence_transitions_total"] >= 2 and counters["relay_presence_events_pushed_total"] >= 4, counters


def metrics(cluster: Cluster) -> dict[str, int]:
    total: dict[str, int] = {}
    for nid in NODES:
        if not cluster.nodes[nid].alive:
            continue
        r = cluster.client(nid).request("GET", "/metrics")
        for line in r.raw.decode().splitlines():
            if line.startswith("relay_presence_"):
                name, value = line.split("{")[0], int(line.rsplit(" ", 1)[1])
                total[name] = total.get(name, 0) + value
    return total


def test_last_seen_follows_each_setting_in_reads_and_events(rcluster):
    (alice, ta), (bob, tb), (carol, tc), (dave, td) = users(rcluster)
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    with c2.ws(tb) as bob_ws:   # alice comes and goes once, so she has a last seen
        with c1.ws(ta):
            assert presence_of(bob_ws, alice)["online"] is True
        seen = presence_of(bob_ws, alice)["last_seen"]
    assert isinstance(seen, int)

    def reads(viewer_token):
        _, p = c3.http("GET", f"/v1/users/{alice}/presence", token=viewer_token)
        _, prof = c1.http("GET", f"/v1/users/{alice}", token=viewer_token)
        return p["online"], p["last_seen"], prof.get("last_seen", "absent")

    # everyone: strangers too.
    assert reads(tc) == (False, seen, seen)
    # contacts: the direct chat's and the group's members, not carol.
    assert patch_me(rcluster, "n2", ta, {"last_seen_visibility": "contacts"})["last_seen_visibility"] == "contacts"
    assert reads(tb) == (False, seen, seen)
    assert reads(td) == (False, seen, seen)
    assert reads(tc) == (False, None, "absent")
    assert reads(ta) == (False, seen, seen), "a user always sees their own"
    with c2.ws(tb) as bob_ws, c3.ws(tc) as carol_ws:
        with c1.ws(ta):
            on = presence_of(bob_ws, alice)
            assert on["online"] is True and on["last_seen"] is not None, on
            # carol sees alice neither online nor last seen.
            assert c2.http("GET", f"/v1/users/{alice}/presence", token=tc)[1] == {"user": alice, "online": False, "last_seen": None}
        off = presence_of(bob_ws, alice)
        assert off["online"] is False and off["last_seen"] >= seen, "contacts see last seen in events"
        assert [e for e in collect(carol_ws, 0.3) if e["type"] == "presence"] == []
        # nobody: online still reaches contacts, last seen never.
        patch_me(rcluster, "n3", ta, {"last_seen_visibility": "nobody"})
        with c3.ws(ta):
            on = presence_of(bob_ws, alice)
            assert (on["online"], on["last_seen"]) == (True, None), on
            assert c1.http("GET", f"/v1/users/{alice}/presence", token=tb)[1] == {"user": alice, "online": True, "last_seen": None}
            assert c1.http("GET", f"/v1/users/{alice}/presence", token=tc)[1] == {"user": alice, "online": False, "last_seen": None}
        off = presence_of(bob_ws, alice)
        assert (off["online"], off["last_seen"]) == (False, None), off
    for token in (tb, td, tc):
        assert reads(token)[1:] == (None, "absent"), token
    own = reads(ta)
    assert isinstance(own[1], int) and own[1] == own[2]
    # everyone again: carol sees it too.
    patch_me(rcluster, "n1", ta, {"last_seen_visibility": "everyone"})
    assert reads(tc)[1] == own[1]


def test_profile_shows_about_and_avatar_per_profile_visibility(rcluster):
    (alice, ta), (bob, tb), (carol, tc), (dave, td) = users(rcluster)
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    me = patch_me(rcluster, "n1", ta, {"display_name": "Alice A", "about": "hello 😀", "avatar": "a_0123abcd",
                                       "profile_visibility": "contacts"})
    assert me == {"user": alice, "display_name": "Alice A", "about": "hello 😀", "avatar": "a_0123abcd", "last_seen": None,
                  "last_seen_visibility": "everyone", "profile_visibility": "contacts"}, me
    assert c2.http("GET", "/v1/users/me", token=ta) == (200, me)

    def view(token):
        status, p = c3.http("GET", f"/v1/users/{alice}", token=token)
        assert status == 200, p
        return p["display_name"], p["about"], p["avatar"]

    assert view(tb) == ("Alice A", "hello 😀", "a_0123abcd")
    assert view(td) == ("Alice A", "hello 😀", "a_0123abcd"), "a group co-member is a contact"
    assert view(tc) == ("Alice A", None, None), "display_name is always visible"
    patch_me(rcluster, "n2", ta, {"profile_visibility": "nobody"})
    assert view(tb) == ("Alice A", None, None)
    patch_me(rcluster, "n2", ta, {"profile_visibility": "everyone", "avatar": None})
    assert view(tc) == ("Alice A", "hello 😀", None)
    # Dave leaves the group: no longer a contact.
    patch_me(rcluster, "n2", ta, {"profile_visibility": "contacts"})
    groups = [c["conversation_id"] for c in c1.conversations(td) if c["conversation_id"].startswith("grp:")]
    assert c1.request("DELETE", f"/v1/groups/{groups[0]}/members/{dave}", token=td).status == 204
    assert view(td) == ("Alice A", None, None)

    # Bad input.
    for body in ({"avatar": "not-an-asset"}, {"avatar": 7}, {"last_seen_visibility": "friends"},
                 {"profile_visibility": True}, {"about": "x" * 1025}, {"display_name": ""}, {"display_name": "x" * 65}):
        status, err = c1.http("PATCH", "/v1/users/me", body, token=ta)
        assert (status, error_code(err)) == (400, "bad_request"), (body, err)
    assert c1.http("GET", "/v1/users/nosuchuser404", token=ta)[0] == 404
    assert c1.http("GET", "/v1/users/nosuchuser404/presence", token=ta)[0] == 404
    assert c1.http("GET", "/v1/users/NOT..valid!", token=ta)[0] == 400
    assert c1.http("GET", f"/v1/users/{alice}", token="bad")[0] == 401


def test_typing_reaches_the_other_member_rate_limited_and_is_never_stored(rcluster):
    (alice, ta), (bob, tb), _, _ = users(rcluster)
    conv = dm(alice, bob)
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    with c1.ws(ta) as alice_ws, c2.ws(tb) as bob_ws, c3.ws(tb, device="tablet") as bob_tablet, c3.ws(ta, device="tab") as alice_tab:
        for _ in range(5):   # a burst from two of alice's devices, on two nodes
            alice_ws.send_json({"type": "typing", "conversation_id": conv})
            alice_tab.send_json({"type": "typing", "conversation_id": conv})
        typing = [e for e in collect(bob_ws, 1.5) if e["type"] == "typing"]
        assert 1 <= len(typing) <= 2, typing
        assert typing[0] == {"type": "typing", "conversation_id": conv, "user": alice}
        assert 1 <= len([e for e in collect(bob_tablet, 0.2) if e["type"] == "typing"]) <= 2
        time.sleep(1.1)   # the limit's window (1 s) passes: the next one goes through
        alice_ws.send_json({"type": "typing", "conversation_id": conv})
        assert bob_ws.recv_until("typing", timeout=5)["user"] == alice
        # Not a member: an error, nothing sent.
        alice_ws.send_json({"type": "typing", "conversation_id": "grp:nosuchgroup"})
        assert alice_ws.recv_until("error")["code"] == "forbidden"
    assert [m["body"] for m in c3.all_history(tb, conv)] == ["hi bob"], "typing is never stored"


def primary_of_user(cluster: Cluster, user: str) -> str:
    status, body = cluster.client("n1").http("GET", f"/v1/cluster/shards?user={user}")
    assert status == 200, body
    return body["shards"][0]["primary"]


def test_a_killed_nodes_users_go_offline_everywhere_and_come_back_on_reconnect(rcluster):
    """Two users connected to n3 when it is killed: one whose shard n3 led (its new primary
    finds them stored online and held nowhere) and one whose shard a survivor leads (it
    forgets n3's connections when gossip declares n3 dead)."""
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    bob, tb = c1.signup(unique_user("bob"))
    picked: dict[bool, tuple[str, str]] = {}
    for _ in range(60):
        user, token = c1.signup(unique_user("k9"))
        picked.setdefault(primary_of_user(rcluster, user) == "n3", (user, token))
        if len(picked) == 2:
            break
    assert len(picked) == 2, "no user found on each side of n3 (16 shards): rerun"
    for user, token in picked.values():
        c1.send(token, "hi", to=bob, body="hi")
    with c1.ws(tb) as bob_ws:
        for user, token in picked.values():
            c3.ws(token)   # left open: its node is killed under it
            assert presence_of(bob_ws, user)["online"] is True
        killed_at = time.monotonic()
        assert rcluster.kill("n3", signal.SIGKILL) == -signal.SIGKILL
        took = {}
        pending = {user for user, _ in picked.values()}
        while pending:
            ev = bob_ws.recv_until("presence", timeout=OFFLINE_AFTER_KILL_S, where=lambda e: e["user"] in pending)
            assert ev["online"] is False and isinstance(ev["last_seen"], int), ev
            pending.discard(ev["user"])
            took[ev["user"]] = time.monotonic() - killed_at
        for user, token in picked.values():
            assert c2.http("GET", f"/v1/users/{user}/presence", token=tb)[1]["online"] is False
            with c2.ws(token):
                assert presence_of(bob_ws, user)["online"] is True
                assert c1.http("GET", f"/v1/users/{user}/presence", token=tb)[1]["online"] is True
    led, other = picked[True][0], picked[False][0]
    print(f"offline after kill -9 of their node: {took[led]:.2f}s (shard led by it), {took[other]:.2f}s (led by a survivor)")
