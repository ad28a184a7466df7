"""Groups and invite links on a 3-node cluster with R=2, through every node, over HTTP and
WebSocket (PROTOCOL.md "HTTP", "Rules"; docs/GROUPS.md): creation and system messages, fan-out
to members on every node, a member removed while offline reading exactly up to the removal,
history hidden from new members, roles and the last admin leaving, the size limit, invite
limits, bad input, and the group surviving kill -9 of its shard's primary."""
from __future__ import annotations

import json
import signal

import pytest

from relay import error_code, poll, unique_user
from conftest import formed_cluster

NODES = ["n1", "n2", "n3"]


@pytest.fixture(scope="module")
def c3(tmp_path_factory):
    with formed_cluster(tmp_path_factory.mktemp("groups"), NODES, replication=2, extra={"max_group_members": 5}) as cluster:
        yield cluster


def users(c3, n: int, prefix: str = "g") -> list[tuple[str, str]]:
    """n fresh users, signed up through the nodes in turn."""
    return [c3.client(NODES[i % 3]).signup(unique_user(prefix)) for i in range(n)]


def create(c3, token: str, title: str = "Team", members=(), nid: str = "n1", **extra) -> str:
    status, body = c3.client(nid).http("POST", "/v1/groups", {"title": title, "members": list(members), **extra}, token)
    assert status == 201, (status, body)
    return body["conversation_id"]


def events(messages: list[dict]) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        if m["kind"] == "system":
            body = json.loads(m["body"])
            out.append((body["event"], body["user"]))
    return out


def test_a_group_is_made_listed_and_read_through_every_node(c3):
    (a, ta), (b, tb), (c, tc) = users(c3, 3)
    gid = create(c3, ta, "Family", [b, c])
    assert gid.startswith("grp:")
    status, group = c3.client("n2").http("GET", f"/v1/groups/{gid}", token=tb)
    assert status == 200, group
    assert group["title"] == "Family"
    assert {m["user"]: m["role"] for m in group["members"]} == {a: "admin", b: "member", c: "member"}
    assert all({"joined_seq", "delivered", "read"} <= set(m) for m in group["members"])
    row = c3.client("n3").conversation(tc, gid)
    assert row["kind"] == "group" and row["title"] == "Family" and row["last_seq"] == 3
    history = c3.client("n3").all_history(tc, gid)
    assert events(history) == [("created", a), ("member_added", b), ("member_added", c)]
    assert [m["seq"] for m in history] == [1, 2, 3]
    assert json.loads(history[1]["body"]) == {"event": "member_added", "user": b, "by": a}


def test_a_group_message_reaches_every_member_on_every_node_once(c3):
    (a, ta), (b, tb), (c, tc) = users(c3, 3)
    gid = create(c3, ta, "Fan-out", [b, c])
    with c3.client("n1").ws(ta) as wa, c3.client("n2").ws(tb) as wb, c3.client("n3").ws(tc) as wc, \
            c3.client("n3").ws(ta, device="laptop") as wa2:
        ack = wb.send_and_ack("hello-all", conversation_id=gid, body="hello all")
        for ws in (wa, wc, wa2):
            m = ws.recv_until("message", where=lambda e: e.get("conversation_id") == gid and e["seq"] == ack["seq"])
            assert m["body"] == "hello all" and m["sender"] == b
        # The sending connection gets only the ack; nobody gets it twice.
        wb.expect_nothing(0.5, ignore={"presence", "typing", "receipt"})
        for ws in (wa, wc, wa2):
            assert sum(1 for e in ws.seen if e.get("type") == "message" and e.get("seq") == ack["seq"]
                       and e.get("conversation_id") == gid) == 1
        # Typing and receipts work as in a direct chat.
        wc.send_json({"type": "typing", "conversation_id": gid})
        wa.recv_until("typing", where=lambda e: e["conversation_id"] == gid and e["user"] == c)
        wc.send_json({"type": "receipt", "conversation_id": gid, "read": ack["seq"]})
        r = wb.recv_until("receipt", where=lambda e: e["conversation_id"] == gid and e["user"] == c)
        assert r["read"] == ack["seq"]


def test_a_member_removed_while_offline_reads_exactly_up_to_the_removal(c3):
    (a, ta), (b, tb) = users(c3, 2)
    gid = create(c3, ta, "Club", [b])
    before = c3.client("n1").send(ta, conversation_id=gid, body="before")
    status, _ = c3.client("n2").http("DELETE", f"/v1/groups/{gid}/members/{b}", token=ta)
    assert status == 204
    after = c3.client("n3").send(ta, conversation_id=gid, body="after")
    assert after["seq"] > before["seq"] + 1
    # Bob connects: his backlog ends with his removal, never the later message.
    with c3.client("n3").ws(tb) as wb:
        got = [e for e in wb.backlog if e.get("type") == "message" and e["conversation_id"] == gid]
        assert [m["body"] for m in got][-1] != "after"
        assert "before" in [m["body"] for m in got]
        assert events(got)[-1] == ("member_removed", b)
        removal_seq = got[-1]["seq"]
        assert removal_seq == after["seq"] - 1
        # Live: nothing more reaches him.
        c3.client("n1").send(ta, conversation_id=gid, body="later")
        wb.expect_nothing(0.7, ignore={"presence", "typing", "receipt"})
    history = c3.client("n2").all_history(tb, gid)
    assert history[-1]["seq"] == removal_seq
    assert c3.client("n2").conversation(tb, gid)["last_seq"] == removal_seq
    status, body = c3.client("n1").http("POST", "/v1/messages",
                                        {"client_id": "x", "conversation_id": gid, "kind": "text", "body": "hi"}, tb)
    assert status == 403 and error_code(body) == "forbidden"
    assert c3.client("n1").http("GET", f"/v1/groups/{gid}", token=tb)[0] == 404


def test_without_visible_history_a_new_member_sees_only_what_follows_the_join(c3):
    (a, ta), (b, tb), (c, tc) = users(c3, 3)
    gid = create(c3, ta, "Private", [b], history_visible=False)
    c3.client("n1").send(ta, conversation_id=gid, body="old secret")
    with c3.client("n2").ws(tc) as wc:
        assert c3.client("n3").http("POST", f"/v1/groups/{gid}/members", {"user": c}, ta)[0] == 204
        joined = wc.recv_until("message", where=lambda e: e.get("conversation_id") == gid)
        assert events([joined]) == [("member_added", c)]
    status, group = c3.client("n1").http("GET", f"/v1/groups/{gid}", token=tc)
    joined_seq = next(m["joined_seq"] for m in group["members"] if m["user"] == c)
    history = c3.client("n2").all_history(tc, gid)
    assert "old secret" not in [m["body"] for m in history]
    assert all(m["seq"] > joined_seq for m in history)
    # The setting can change; an admin only.
    status, body = c3.client("n3").http("PATCH", f"/v1/groups/{gid}", {"history_visible": True}, tb)
    assert status == 403 and error_code(body) == "forbidden"
    status, body = c3.client("n3").http("PATCH", f"/v1/groups/{gid}", {"title": "Renamed", "history_visible": True}, ta)
    assert status == 200 and body["title"] == "Renamed" and body["history_visible"] is True
    assert events(c3.client("n1").all_history(tb, gid))[-1] == ("title_changed", a)


def test_roles_and_the_last_admin_leaving(c3):
    (a, ta), (b, tb), (c, tc) = users(c3, 3)
    gid = create(c3, ta, "Roles", [b, c])
    assert c3.client("n2").http("PUT", f"/v1/groups/{gid}/members/{b}/role", {"role": "boss"}, ta)[0] == 400
    assert c3.client("n2").http("PUT", f"/v1/groups/{gid}/members/{c}/role", {"role": "admin"}, tb)[0] == 403
    assert c3.client("n2").http("PUT", f"/v1/groups/{gid}/members/{a}/role", {"role": "member"}, ta)[0] == 409
    assert c3.client("n2").http("DELETE", f"/v1/groups/{gid}/members/{c}", token=tb)[0] == 403
    # The only admin leaves: the oldest member (the founders tie; then by name) is promoted.
    assert c3.client("n3").http("DELETE", f"/v1/groups/{gid}/members/{a}", token=ta)[0] == 204
    status, group = c3.client("n1").http("GET", f"/v1/groups/{gid}", token=tb)
    roles = {m["user"]: m["role"] for m in group["members"]}
    heir = min(b, c)
    assert a not in roles and roles[heir] == "admin"
    tail = events(c3.client("n1").all_history(tb, gid))[-2:]
    assert tail == [("member_left", a), ("role_changed", heir)]


def test_the_size_limit_is_a_clear_conflict(c3):
    # The module's cluster allows 5 members.
    people = users(c3, 6)
    (a, ta) = people[0]
    status, body = c3.client("n1").http("POST", "/v1/groups", {"title": "Big", "members": [u for u, _ in people[1:]]}, ta)
    assert status == 409 and error_code(body) == "conflict", body
    gid = create(c3, ta, "Big", [u for u, _ in people[1:5]])
    status, body = c3.client("n2").http("POST", f"/v1/groups/{gid}/members", {"user": people[5][0]}, ta)
    assert status == 409 and error_code(body) == "conflict" and "members" in body["error"]["message"]
    status, code = c3.client("n1").http("POST", f"/v1/groups/{gid}/invites", {}, ta)
    assert status == 201
    status, body = c3.client("n3").http("POST", f"/v1/invites/{code['code']}/accept", token=people[5][1])
    assert status == 409 and error_code(body) == "conflict"


def test_invite_links_join_once_and_stop_at_their_limits(c3):
    (a, ta), (b, tb), (c, tc), (d, td) = users(c3, 4)
    gid = create(c3, ta, "Invites")
    assert c3.client("n2").http("POST", f"/v1/groups/{gid}/invites", {"max_uses": 1}, tb)[0] == 404   # not a member
    status, invite = c3.client("n2").http("POST", f"/v1/groups/{gid}/invites", {"max_uses": 2, "expires_in_s": 600}, ta)
    assert status == 201, invite
    code = invite["code"]
    assert len(code) > 32
    for token, nid in ((tb, "n1"), (tb, "n3")):   # accepting twice is one use
        status, body = c3.client(nid).http("POST", f"/v1/invites/{code}/accept", token=token)
        assert status == 200 and body == {"conversation_id": gid}
    status, listed = c3.client("n3").http("GET", f"/v1/groups/{gid}/invites", token=ta)
    assert status == 200 and [(i["code"], i["uses"], i["max_uses"]) for i in listed["invites"]] == [(code, 1, 2)]
    assert c3.client("n2").http("POST", f"/v1/invites/{code}/accept", token=tc)[0] == 200
    status, body = c3.client("n1").http("POST", f"/v1/invites/{code}/accept", token=td)
    assert status == 409 and error_code(body) == "conflict" and "limit" in body["error"]["message"]
    assert events(c3.client("n2").all_history(tc, gid))[-2:] == [("joined_by_invite", b), ("joined_by_invite", c)]
    assert gid in [r["conversation_id"] for r in c3.client("n3").conversations(tc)]
    # Revoked, guessed, expired: nothing changes.
    status, other = c3.client("n1").http("POST", f"/v1/groups/{gid}/invites", {}, ta)
    assert c3.client("n2").http("DELETE", f"/v1/invites/{other['code']}", token=tb)[0] == 403
    assert c3.client("n2").http("DELETE", f"/v1/invites/{other['code']}", token=ta)[0] == 204
    status, body = c3.client("n3").http("POST", f"/v1/invites/{other['code']}/accept", token=td)
    assert status == 404 and error_code(body) == "not_found"
    guessed = code[:-6] + ("000000" if not code.endswith("000000") else "111111")
    assert c3.client("n3").http("POST", f"/v1/invites/{guessed}/accept", token=td)[0] == 404
    assert c3.client("n3").http("POST", "/v1/invites/not-a-code/accept", token=td)[0] == 404
    status, short = c3.client("n1").http("POST", f"/v1/groups/{gid}/invites", {"expires_in_s": 1}, ta)
    for _ in poll(10, "the invite to expire", interval_s=0.2):
        status, body = c3.client("n2").http("POST", f"/v1/invites/{short['code']}/accept", token=td)
        if status == 409:
            assert "expired" in body["error"]["message"]
            break
        assert status == 200   # accepted before the second was over: take the join back and retry
        assert c3.client("n2").http("DELETE", f"/v1/groups/{gid}/members/{d}", token=td)[0] == 204
    status, group = c3.client("n1").http("GET", f"/v1/groups/{gid}", token=ta)
    assert d not in [m["user"] for m in group["members"]]
    for bad in ({"max_uses": 0}, {"max_uses": -1}, {"expires_in_s": "soon"}, {"max_uses": 10**12}):
        status, body = c3.client("n1").http("POST", f"/v1/groups/{gid}/invites", bad, ta)
        assert status == 400 and error_code(body) == "bad_request", (bad, body)


def test_bad_input_gets_its_code_and_changes_nothing(c3):
    (a, ta), (b, tb), (e, te) = users(c3, 3)
    gid = create(c3, ta, "Guarded", [b])
    cl = c3.client("n2")
    cases = [
        ("GET", "/v1/groups/grp:doesnotexist", None, ta, 404),
        ("GET", "/v1/groups/dm:aaa:bbb", None, ta, 404),
        ("GET", f"/v1/groups/{gid}", None, te, 404),
        ("GET", f"/v1/groups/{gid}", None, None, 401),
        ("POST", "/v1/groups", {"members": []}, ta, 400),
        ("POST", "/v1/groups", {"title": "x", "members": "bob"}, ta, 400),
        ("POST", "/v1/groups", {"title": "x", "members": [unique_user("ghost")]}, ta, 404),
        ("POST", "/v1/groups", {"title": "x", "history_visible": "yes"}, ta, 400),
        ("POST", "/v1/groups", {"title": "t" * 300}, ta, 400),
        ("POST", f"/v1/groups/{gid}/members", {"user": e}, tb, 403),
        ("POST", f"/v1/groups/{gid}/members", {"user": e}, te, 404),
        ("POST", f"/v1/groups/{gid}/members", {"user": unique_user("ghost")}, ta, 404),
        ("POST", f"/v1/groups/{gid}/members", {"user": "Not Valid"}, ta, 400),
        ("DELETE", f"/v1/groups/{gid}/members/{e}", None, ta, 404),
        ("PUT", f"/v1/groups/{gid}/members/{e}/role", {"role": "admin"}, ta, 404),
        ("PATCH", f"/v1/groups/{gid}", {}, ta, 400),
        ("PATCH", f"/v1/groups/{gid}", {"title": ""}, ta, 400),
    ]
    for method, path, body, token, want in cases:
        status, got = cl.http(method, path, body, token)
        assert status == want, (method, path, body, status, got)
    status, group = c3.client("n3").http("GET", f"/v1/groups/{gid}", token=ta)
    assert [m["user"] for m in group["members"]] == sorted([a, b]) and group["title"] == "Guarded"
    assert len(c3.client("n3").all_history(ta, gid)) == 2


def shard_primary(c3, conv: str) -> str:
    status, body = c3.client("n1").http("GET", f"/v1/cluster/shards?conversation={conv}")
    assert status == 200, body
    return body["shards"][0]["primary"]


def test_a_group_survives_kill_9_of_its_primary(c3):
    (a, ta), (b, tb), (c, tc) = users(c3, 3)
    gid = create(c3, ta, "Durable", [b])
    acked = [c3.client("n1").send(ta, conversation_id=gid, body=f"m{i}")["seq"] for i in range(5)]
    assert c3.client("n2").http("POST", f"/v1/groups/{gid}/members", {"user": c}, ta)[0] == 204
    primary = shard_primary(c3, gid)
    survivors = [n for n in NODES if n != primary]
    c3.kill(primary, signal.SIGKILL)
    try:
        # Through a survivor, once its replica has taken over: the group, its members and
        # every acked message are there, and it takes new changes.
        for _ in poll(30, "the group's shard to fail over", interval_s=0.2):
            status, group = c3.client(survivors[0]).http("GET", f"/v1/groups/{gid}", token=tc)
            if status == 200:
                break
            assert status == 503, (status, group)
        assert sorted(m["user"] for m in group["members"]) == sorted([a, b, c])
        history = c3.client(survivors[1]).all_history(tb, gid)
        assert set(acked) <= {m["seq"] for m in history}
        assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
        assert events(history)[-1] == ("member_added", c)
        status, _ = c3.client(survivors[1]).http("DELETE", f"/v1/groups/{gid}/members/{b}", token=ta)
        assert status == 204
    finally:
        c3.start(primary)
    # The returning node catches up and serves the same group.
    for _ in poll(30, "the old primary to serve the group again", interval_s=0.2):
        status, group = c3.client(primary).http("GET", f"/v1/groups/{gid}", token=ta)
        if status == 200 and b not in [m["user"] for m in group["members"]]:
            break


def test_an_idempotency_key_makes_a_late_retry_of_a_change_harmless(c3):
    (a, ta), (b, tb) = users(c3, 2)
    gid = create(c3, ta, "Keys", [b])
    remove = {"Idempotency-Key": "remove-b-1"}
    r = c3.client("n1").request("DELETE", f"/v1/groups/{gid}/members/{b}", token=ta, headers=remove)
    assert r.status == 204
    r = c3.client("n2").request("POST", f"/v1/groups/{gid}/members", body={"user": b}, token=ta,
                                headers={"Idempotency-Key": "add-b-1"})
    assert r.status == 204
    # The removal's retry (through another node) arrives after the re-add: nothing changes.
    r = c3.client("n3").request("DELETE", f"/v1/groups/{gid}/members/{b}", token=ta, headers=remove)
    assert r.status == 204
    status, group = c3.client("n1").http("GET", f"/v1/groups/{gid}", token=tb)
    assert status == 200 and b in [m["user"] for m in group["members"]]
    assert events(c3.client("n2").all_history(tb, gid))[-2:] == [("member_removed", b), ("member_added", b)]
    r = c3.client("n3").request("DELETE", f"/v1/groups/{gid}/members/{b}", token=ta, headers={"Idempotency-Key": "x" * 200})
    assert r.status == 400
