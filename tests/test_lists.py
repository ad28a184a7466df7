"""Creator lists and mass messages on a real 3-node cluster with two copies of every shard
(PROTOCOL.md "Mass messages"; docs/PROTOCOL-NOTES.md "Creator lists"): owner-only lists, the
202 and its idempotent repeat, blocks applied, progress for the owner and the operator, and a
10,000-recipient mass message whose owner's shard primary is killed -9 midway, after which
every recipient has the message exactly once."""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from relay import Cluster, dm, error_code, poll, unique_user
from conftest import formed_cluster

NODES = ["n1", "n2", "n3"]
# Recipients of the failover test (RELAY_LIST_RECIPIENTS overrides, e.g. for a quick run).
RECIPIENTS = int(os.environ.get("RELAY_LIST_RECIPIENTS", "10000"))
# Recipients whose histories are read back after the failover (all of them below this).
SAMPLED = 200


@pytest.fixture(scope="module")
def rcluster(tmp_path_factory):
    """3 nodes, R=2; cheap password hashes (the failover test signs up 10,000 users)."""
    with formed_cluster(tmp_path_factory.mktemp("lists"), NODES, replication=2, extra={"password_hash_cost": 1}) as cluster:
        yield cluster


def signup_many(cluster: Cluster, n: int, prefix: str, nids=NODES) -> list[tuple[str, str]]:
    """`n` users signed up through every node at once: [(user, token)]."""
    names = [unique_user(prefix) for _ in range(n)]

    def one(i: int) -> tuple[str, str]:
        return cluster.client(nids[i % len(nids)]).signup(names[i])
    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(one, range(n)))


def progress(cluster: Cluster, nid: str, token: str, list_id: str, client_id: str) -> dict:
    status, body = cluster.client(nid).http("GET", f"/v1/lists/{list_id}/messages/{client_id}", token=token)
    assert status == 200, (status, body)
    return body


def owner_primary(cluster: Cluster, nid: str, owner: str) -> str:
    status, body = cluster.client(nid).http("GET", f"/v1/cluster/shards?user={owner}")
    assert status == 200, (status, body)
    return body["shards"][0]["primary"]


def test_lists_are_the_owners_alone_and_their_members_are_checked(rcluster):
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    (owner, to), (eve, te), (amy, _), (ben, _) = signup_many(rcluster, 4, "lo")
    status, body = c1.http("POST", "/v1/lists", {"name": "fans", "members": [amy, ben, amy]}, token=to)
    assert status == 201, body
    list_id = body["list_id"]
    assert c2.http("GET", "/v1/lists", token=to) == (200, {"lists": [{"list_id": list_id, "name": "fans", "size": 2}]})
    assert c3.http("GET", f"/v1/lists/{list_id}", token=to) == \
        (200, {"list_id": list_id, "name": "fans", "members": sorted([amy, ben])})
    assert c1.request("DELETE", f"/v1/lists/{list_id}/members/{amy}", token=to).status == 204
    assert c2.request("DELETE", f"/v1/lists/{list_id}/members/{amy}", token=to).status == 204, "idempotent"
    assert c3.request("PUT", f"/v1/lists/{list_id}/members/{eve}", token=to).status == 204
    assert c1.request("PUT", f"/v1/lists/{list_id}/members/{eve}", token=to).status == 204, "idempotent"
    assert c2.http("GET", f"/v1/lists/{list_id}", token=to)[1]["members"] == sorted([ben, eve])

    # Another user: 404 everywhere, as if the list did not exist.
    for method, path, body in [("GET", f"/v1/lists/{list_id}", None),
                               ("PUT", f"/v1/lists/{list_id}/members/{amy}", None),
                               ("DELETE", f"/v1/lists/{list_id}/members/{ben}", None),
                               ("POST", f"/v1/lists/{list_id}/members", {"members": [amy]}),
                               ("POST", f"/v1/lists/{list_id}/messages", {"client_id": "x", "kind": "text", "body": "hi"}),
                               ("GET", f"/v1/lists/{list_id}/messages/x", None)]:
        r = rcluster.client("n3").request(method, path, body, token=te)
        assert r.status == 404 and error_code(r.json) == "not_found", (method, path, r.status, r.json)
    assert c1.http("GET", "/v1/lists", token=te) == (200, {"lists": []})
    assert c1.http("GET", f"/v1/lists/{list_id}", token=to)[1]["members"] == sorted([ben, eve]), "unchanged"

    # Members: existing users only (nothing changes otherwise), never the owner, bounded.
    ghost = unique_user("ghost")
    r = c2.request("POST", f"/v1/lists/{list_id}/members", {"members": [amy, ghost]}, token=to)
    assert r.status == 404 and ghost in r.json["error"]["message"], r.json
    r = c2.request("PUT", f"/v1/lists/{list_id}/members/{ghost}", token=to)
    assert r.status == 404, r.json
    assert c3.http("GET", f"/v1/lists/{list_id}", token=to)[1]["members"] == sorted([ben, eve])
    for bad in ([owner], ["Not Valid"], [7], "amy"):
        r = c1.request("POST", "/v1/lists", {"name": "x", "members": bad}, token=to)
        assert r.status == 400 and error_code(r.json) == "bad_request", (bad, r.json)
    r = c1.request("POST", "/v1/lists", {"name": "x", "members": [f"u{i:05d}" for i in range(10_001)]}, token=to)
    assert r.status == 413 and error_code(r.json) == "too_large", r.json
    assert c1.request("POST", "/v1/lists", {"members": [amy]}, token=to).status == 400
    assert c1.request("GET", "/v1/lists").status == 401
    assert c2.http("GET", "/v1/lists", token=to)[1]["lists"] == [{"list_id": list_id, "name": "fans", "size": 2}]
    # A list message's fields are checked like a send's.
    for bad in ({"kind": "text", "body": "x"}, {"client_id": "c", "kind": "system", "body": "x"},
                {"client_id": "c", "kind": "text"}, {"client_id": "c", "kind": "text", "body": "x", "attachments": "a"}):
        r = c3.request("POST", f"/v1/lists/{list_id}/messages", bad, token=to)
        assert r.status == 400, (bad, r.json)


def test_a_mass_message_reaches_each_member_once_and_skips_who_blocked_the_owner(rcluster):
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    (owner, to), (amy, ta), (ben, tb), (cat, tc) = signup_many(rcluster, 4, "mm")
    assert c2.request("PUT", f"/v1/blocks/{owner}", token=tb).status == 204
    list_id = c1.http("POST", "/v1/lists", {"name": "all", "members": [amy, ben, cat]}, token=to)[1]["list_id"]
    msg = {"client_id": "launch", "kind": "text", "body": "new album out"}
    with c3.ws(ta) as amy_ws, c1.ws(tb) as ben_ws:
        r = c2.request("POST", f"/v1/lists/{list_id}/messages", msg, token=to)
        assert (r.status, r.json) == (202, {"list_id": list_id, "recipients": 3})
        # The same client_id again (through another node) answers the same and starts nothing.
        r = c3.request("POST", f"/v1/lists/{list_id}/messages", {**msg, "body": "changed"}, token=to)
        assert (r.status, r.json) == (202, {"list_id": list_id, "recipients": 3})
        # Amy, online, gets it pushed in her chat with the owner.
        ev = amy_ws.recv_until("message")
        assert (ev["conversation_id"], ev["sender"], ev["body"], ev["client_id"]) == \
            (dm(owner, amy), owner, "new album out", f"list:{list_id}:launch"), ev
        view = {}
        for _ in poll(20, lambda: f"progress {view}"):
            view = progress(rcluster, "n3", to, list_id, "launch")
            if view["done"] == 3:
                break
        assert view == {"list_id": list_id, "client_id": "launch", "recipients": 3, "done": 3, "pending": 0}
        # Ben blocked the owner: the first message pushed to him is cat's, sent after the job ended.
        c2.send(tc, "after", to=ben, body="from cat")
        ev = ben_ws.recv_until("message")
        assert (ev["sender"], ev["body"]) == (cat, "from cat"), ev
        amy_ws.ping_pong()
        assert len([e for e in amy_ws.seen if e["type"] == "message"]) == 1, "amy got it once"
    # The operator's view is the same JSON; it needs the cluster secret.
    path = f"/v1/admin/users/{owner}/lists/{list_id}/messages/launch"
    assert c1.request("GET", path, token=rcluster.secret).json == view
    assert c1.request("GET", path, token=to).status == 401
    assert c1.request("GET", f"/v1/admin/users/{amy}/lists/{list_id}/messages/launch", token=rcluster.secret).status == 404

    for token, user in ((ta, amy), (tc, cat)):
        got = c1.all_history(token, dm(owner, user))
        assert [(m["sender"], m["body"], m["client_id"]) for m in got] == \
            [(owner, "new album out", f"list:{list_id}:launch")], got
    # Ben blocked the owner: nothing for him (the owner's side shows it sent), logged for him.
    assert c2.all_history(tb, dm(owner, ben)) == []
    assert [m["body"] for m in c3.all_history(to, dm(owner, ben))] == ["new album out"]
    entries = []
    for _ in poll(15, lambda: f"moderation log {entries}"):
        entries = c3.request("GET", f"/v1/admin/users/{ben}/moderation", token=rcluster.secret).json["entries"]
        if entries:
            break
    assert [(e["sender"], e["preview"]) for e in entries] == [(owner, "new album out")]


def test_a_mass_message_carries_an_attachment_each_recipient_can_read(rcluster):
    c1, c2, c3 = (rcluster.client(n) for n in NODES)
    (owner, to), (amy, ta), (ben, tb), (outsider, tx) = signup_many(rcluster, 4, "ma")
    up = c1.request("POST", "/v1/assets", raw=b"\x89PNG poster", token=to, headers={"Content-Type": "image/png"})
    assert up.status == 201, up.json
    asset = up.json["asset_id"]
    list_id = c1.http("POST", "/v1/lists", {"name": "fans", "members": [amy, ben]}, token=to)[1]["list_id"]
    # Only assets the owner can read; a media kind needs one.
    theirs = c2.request("POST", "/v1/assets", raw=b"x", token=tx, headers={"Content-Type": "image/png"}).json["asset_id"]
    r = c2.request("POST", f"/v1/lists/{list_id}/messages", {"client_id": "p0", "kind": "image", "body": "", "attachments": [theirs]},
                   token=to)
    assert r.status == 404, r.json
    r = c2.request("POST", f"/v1/lists/{list_id}/messages", {"client_id": "p1", "kind": "image", "body": ""}, token=to)
    assert r.status == 400, r.json

    msg = {"client_id": "poster", "kind": "image", "body": "tour poster", "attachments": [asset]}
    r = c2.request("POST", f"/v1/lists/{list_id}/messages", msg, token=to)
    assert (r.status, r.json) == (202, {"list_id": list_id, "recipients": 2})
    view = {}
    for _ in poll(20, lambda: f"progress {view}"):
        view = progress(rcluster, "n3", to, list_id, "poster")
        if view["done"] == 2:
            break
    for token, user in ((ta, amy), (tb, ben)):
        got = c3.all_history(token, dm(owner, user))
        assert [(m["kind"], m["attachments"]) for m in got] == [("image", [asset])], got
        # Readable by the recipient once the copy's ref is recorded (an outbox job).
        for _ in poll(15, lambda: f"{user} cannot read the poster"):
            if c3.request("GET", f"/v1/assets/{asset}", token=token).status == 200:
                break
    assert c1.request("GET", f"/v1/assets/{asset}", token=tx).status == 404, "not on the list: no access"


def test_a_mass_message_to_10000_survives_kill_9_of_the_owners_primary(rcluster):
    t0 = time.monotonic()
    (owner, to), = signup_many(rcluster, 1, "star")
    recipients = signup_many(rcluster, RECIPIENTS, "r")
    t_signup = time.monotonic() - t0
    names = [u for u, _ in recipients]
    list_id = None
    for i in range(0, len(names), 10_000):
        chunk = names[i:i + 10_000]
        if list_id is None:
            status, body = rcluster.client("n1").http("POST", "/v1/lists", {"name": "everyone", "members": chunk}, token=to)
            assert status == 201, body
            list_id = body["list_id"]
        else:
            r = rcluster.client("n1").request("POST", f"/v1/lists/{list_id}/members", {"members": chunk}, token=to)
            assert r.status == 204, r.json
    primary = owner_primary(rcluster, "n1", owner)
    others = [n for n in NODES if n != primary]
    r = rcluster.client(others[0]).request(
        "POST", f"/v1/lists/{list_id}/messages", {"client_id": "big", "kind": "text", "body": "hello everyone"}, token=to)
    assert (r.status, r.json) == (202, {"list_id": list_id, "recipients": RECIPIENTS})
    t_post = time.monotonic()

    # Midway (some batches saved, not all), the owner's shard primary dies.
    view = {}
    for _ in poll(60, lambda: f"the job never got midway: {view}", interval_s=0.02):
        view = progress(rcluster, others[0], to, list_id, "big")
        if view["done"] > 0:
            break
    assert view["done"] < RECIPIENTS, f"the job finished before the kill: {view}"
    assert rcluster.kill(primary, signal.SIGKILL) == -signal.SIGKILL
    killed_at = view["done"]

    # The new primary resumes from the saved progress; every recipient is done.
    for attempt in poll(180, lambda: f"the job did not finish after the failover: {view}", interval_s=0.25):
        r = rcluster.client(others[attempt % 2]).request("GET", f"/v1/lists/{list_id}/messages/big", token=to)
        if r.status == 503:
            continue
        assert r.status == 200, r.json
        view = r.json
        if view["done"] == RECIPIENTS:
            break
    assert view == {"list_id": list_id, "client_id": "big", "recipients": RECIPIENTS, "done": RECIPIENTS, "pending": 0}
    t_done = time.monotonic() - t_post
    assert owner_primary(rcluster, others[0], owner) in others

    # Exactly once, read through the surviving nodes: every recipient when few, else a sample
    # spread over the whole (byte-ordered) list, so both sides of the kill point are covered.
    ordered = sorted(recipients, key=lambda ut: ut[0].encode())
    step = max(1, len(ordered) // SAMPLED)
    for i, (user, token) in enumerate(ordered[::step]):
        got = rcluster.client(others[i % 2]).all_history(token, dm(owner, user))
        assert [(m["sender"], m["body"], m["client_id"]) for m in got] == \
            [(owner, "hello everyone", f"list:{list_id}:big")], (user, got)
    print(f"\n{RECIPIENTS} recipients: signups {t_signup:.1f}s; primary {primary} killed at done={killed_at}; "
          f"all done {t_done:.1f}s after the 202 ({RECIPIENTS / t_done:.0f} recipients/s with the failover)")

