"""Replication and failover on real processes (docs/REPLICATION.md): every shard on R nodes,
acks after R copies, kill -9 of a primary loses nothing and its replica takes writes within
seconds, a returning node catches up and takes its shards back, a node without a majority
stops serving. Every wait polls an observable state; the time bounds are generous ceilings
for a slow machine, not measurements (docs/BENCHMARKS.md has those)."""
from __future__ import annotations

import signal
import time

from relay import Cluster, dm, error_code, poll
from test_cluster import NODES, assert_same_everywhere, send_many, users_on

# Detection (~2.5 s) plus the register change plus client retries, with room for 2 slow cores.
FAILOVER_DEADLINE_S = 30.0


def wait_for(deadline_s: float, predicate, what: str) -> None:
    for _ in poll(deadline_s, what):
        if predicate():
            return


def shard(cluster: Cluster, nid: str, query: str) -> dict:
    """The shard `query` names (`conversation=ID`, `user=ID`, `asset=ID`) as `nid` sees it."""
    status, body = cluster.client(nid).http("GET", f"/v1/cluster/shards?{query}")
    assert status == 200, (status, body)
    return body["shards"][0]


def shard_of(cluster: Cluster, nid: str, conv: str) -> dict:
    return shard(cluster, nid, f"conversation={conv}")


def all_shards(cluster: Cluster, nid: str) -> list[dict]:
    status, body = cluster.client(nid).http("GET", "/v1/cluster/shards")
    assert status == 200, (status, body)
    return body["shards"]


def wait_replicated(cluster: Cluster, nids: list[str], r: int, deadline_s: float = 30.0) -> None:
    """Every node in `nids` knows, for every shard, a primary that is its placement leader and
    r in-sync copies, all on live nodes."""
    def done():
        for nid in nids:
            for s in all_shards(cluster, nid):
                if len(s["isr"]) != r or set(s["isr"]) != set(s["targets"]) or not set(s["isr"]) <= set(nids) \
                        or s["primary"] != s["targets"][0]:
                    return False
        return True
    wait_for(deadline_s, done, lambda: f"shards not on {r} copies: "
             + str([s for s in all_shards(cluster, nids[0]) if len(s["isr"]) != r or s["primary"] != s["targets"][0]][:3]))


def restart_and_settle(cluster: Cluster, nid: str, nids: list[str], r: int = 2) -> None:
    """Restarts a killed node and waits until every view has it back and its shards are on
    r copies again, so the next test starts from a settled cluster."""
    cluster.start(nid)
    cluster.wait_formed(nids)
    wait_replicated(cluster, nids, r)


def send_until_acked(cluster: Cluster, nids: list[str], token: str, to: str, client_id: str,
                     deadline_s: float = FAILOVER_DEADLINE_S) -> tuple[dict, float]:
    """Sends (retrying the same client_id through the given nodes, as a client would) until an ack."""
    t0 = time.monotonic()
    i = 0
    while True:
        r = cluster.client(nids[i % len(nids)]).request(
            "POST", "/v1/messages", body={"client_id": client_id, "kind": "text", "to": to, "body": client_id}, token=token, timeout_s=15)
        if r.status == 200:
            return r.json, time.monotonic() - t0
        assert r.status == 503 and error_code(r.json) == "unavailable", (r.status, r.json)
        assert time.monotonic() - t0 < deadline_s, f"no ack for {client_id} within {deadline_s}s"
        time.sleep(min(0.2, r.json["error"].get("retry_after_ms", 200) / 1000))
        i += 1


def chat_then_kill_its_follower(cluster: Cluster, prefix: str):
    """Two users' conversation gets 5 messages; then the follower of its shard is killed and
    one more send is retried until acked (the primary drops the follower and fills a stand-in).
    Returns (token of a, b, conversation, primary, follower, third node, the acks so far)."""
    (a, ta, _), (b, _, _) = users_on(cluster, 2, prefix)
    conv = dm(a, b)
    shard = shard_of(cluster, "n1", conv)
    primary, follower = shard["primary"], [n for n in shard["isr"] if n != shard["primary"]][0]
    third = [n for n in NODES if n not in (primary, follower)][0]
    acks = send_many(cluster, primary, ta, b, 5, "one")
    assert cluster.kill(follower, signal.SIGKILL) == -signal.SIGKILL
    acks["gap"] = send_until_acked(cluster, [primary, third], ta, b, "gap")[0]
    return ta, b, conv, primary, follower, third, acks


def test_every_shard_gets_r_in_sync_copies_led_by_its_placement_leader(make_cluster):
    cluster = make_cluster(NODES, replication=2)
    wait_replicated(cluster, NODES, 2)
    for nid in NODES:
        s = cluster.status(nid)
        assert s["local"]["has_majority"] is True
        copies = sum(nid in sh["isr"] for sh in all_shards(cluster, nid))
        assert copies >= 16 * 2 // 3 - 2, f"{nid} is an in-sync copy of only {copies} of 16 shards"


def test_kill_9_of_a_primary_loses_no_ack_and_its_replica_takes_writes_within_seconds(make_cluster):
    cluster = make_cluster(NODES, replication=2)
    wait_replicated(cluster, NODES, 2)
    (a, ta, _), (b, tb, _) = users_on(cluster, 2, "fo")
    conv = dm(a, b)
    primary = shard_of(cluster, "n1", conv)["primary"]
    others = [n for n in NODES if n != primary]
    acks = send_many(cluster, others[0], ta, b, 20, "before")
    assert cluster.kill(primary, signal.SIGKILL) == -signal.SIGKILL
    ack, waited = send_until_acked(cluster, others, ta, b, "during")
    acks["during"] = ack
    # The replica leads now, with every acked message and the next seq.
    assert ack["seq"] == 21, ack
    new = shard_of(cluster, others[0], conv)
    assert new["primary"] in others and new["epoch"] > 0, new
    acks.update(send_many(cluster, others[1], tb, a, 5, "after"))
    assert_same_everywhere(cluster, others, ta, conv, acks)
    # The old primary comes back: it catches up and takes the shard back, losing nothing.
    cluster.start(primary)
    cluster.wait_formed(NODES, deadline_s=30)
    wait_replicated(cluster, NODES, 2, deadline_s=60)
    assert shard_of(cluster, primary, conv)["primary"] == primary
    acks.update(send_many(cluster, primary, ta, b, 3, "back"))
    assert_same_everywhere(cluster, NODES, ta, conv, acks)
    print(f"first ack after kill -9 of {primary}: {waited:.2f}s")


def test_a_replica_that_was_away_catches_up_and_can_then_take_over(make_cluster):
    cluster = make_cluster(NODES, replication=2)
    wait_replicated(cluster, NODES, 2)
    ta, b, conv, primary, follower, third, acks = chat_then_kill_its_follower(cluster, "cu")
    acks.update(send_many(cluster, third, ta, b, 30, "two"))
    # It comes back with an old copy, catches up, and is in sync again.
    cluster.start(follower)
    cluster.wait_formed(NODES, deadline_s=30)
    wait_replicated(cluster, NODES, 2, deadline_s=60)
    assert set(shard_of(cluster, primary, conv)["isr"]) == {primary, follower}
    # Now the primary dies: the returned follower leads with everything acked.
    assert cluster.kill(primary, signal.SIGKILL) == -signal.SIGKILL
    acks["last"] = send_until_acked(cluster, [follower, third], ta, b, "last")[0]
    assert shard_of(cluster, follower, conv)["primary"] == follower
    assert_same_everywhere(cluster, [follower, third], ta, conv, acks)


def test_a_node_that_cannot_see_a_majority_stops_serving_and_resumes_when_it_can(make_cluster):
    cluster = make_cluster(NODES, replication=2)
    wait_replicated(cluster, NODES, 2)
    users = users_on(cluster, 6, "mj")
    acks = {}
    for i in range(0, 6, 2):
        (a, ta, nid), (b, _, _) = users[i], users[i + 1]
        acks[dm(a, b)] = (ta, send_many(cluster, nid, ta, b, 3, f"m{i}"))
    # n2 and n3 freeze (SIGSTOP): n1 alone is a minority and must not take writes, not even
    # for the shards it leads.
    for nid in ("n2", "n3"):
        cluster.nodes[nid].proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(30, lambda: cluster.status("n1")["local"]["has_majority"] is False, "n1 sees it has no majority")
        assert cluster.status("n1")["local"]["shards_serving"] == 0
        for conv, (token, _) in acks.items():
            a, b = conv.split(":")[1:]
            r = cluster.client("n1").request("POST", "/v1/messages", body={"client_id": "minority", "kind": "text", "to": b, "body": "x"},
                                             token=token, timeout_s=15)
            assert r.status == 503 and error_code(r.json) == "unavailable", (r.status, r.json)
    finally:
        for nid in ("n2", "n3"):
            cluster.nodes[nid].proc.send_signal(signal.SIGCONT)
    cluster.wait_formed(NODES, deadline_s=30)
    wait_replicated(cluster, NODES, 2, deadline_s=60)
    for conv, (token, conv_acks) in acks.items():
        assert_same_everywhere(cluster, NODES, token, conv, conv_acks)


def test_a_replica_behind_the_primarys_log_is_refilled_from_a_snapshot(make_cluster):
    # Each shard keeps only 16 log entries: a replica that misses more needs a snapshot.
    cluster = make_cluster(NODES, replication=2, extra={"log_entries": 16})
    wait_replicated(cluster, NODES, 2)
    ta, b, conv, primary, follower, third, acks = chat_then_kill_its_follower(cluster, "sn")
    acks.update(send_many(cluster, primary, ta, b, 60, "many"))   # one entry each: 60 > 16
    cluster.start(follower)
    cluster.wait_formed(NODES, deadline_s=30)
    wait_replicated(cluster, NODES, 2, deadline_s=60)
    assert cluster.status(follower)["local"]["shards_received"] >= 1, cluster.status(follower)["local"]
    assert set(shard_of(cluster, primary, conv)["isr"]) == {primary, follower}
    # Its copy is complete: with the primary gone it leads with every acked message.
    assert cluster.kill(primary, signal.SIGKILL) == -signal.SIGKILL
    acks["last"] = send_until_acked(cluster, [follower, third], ta, b, "last")[0]
    assert_same_everywhere(cluster, [follower, third], ta, conv, acks)


def test_with_replicas_a_joiner_is_caught_up_and_handed_its_share_and_a_leaver_hands_everything_back(make_cluster):
    cluster = make_cluster(NODES, replication=2, joiners=["n4"])
    wait_replicated(cluster, NODES, 2)
    users = users_on(cluster, 8, "jl")
    convs = {}
    for i in range(0, 8, 2):
        (a, ta, nid), (b, _, _) = users[i], users[i + 1]
        convs[dm(a, b)] = (ta, b, send_many(cluster, nid, ta, b, 5, f"jl{i}"))
    every = NODES + ["n4"]
    cluster.start("n4", join=cluster.gossip_addr("n1"))
    cluster.wait_formed(every, deadline_s=30)
    wait_replicated(cluster, every, 2, deadline_s=60)
    led = sum(s["primary"] == "n4" for s in all_shards(cluster, "n4"))
    assert led == 4, f"n4 leads {led} of 16 shards, not a quarter"
    for conv, (token, _, acks) in convs.items():
        assert_same_everywhere(cluster, every, token, conv, acks)
    # n4 leaves: its shards go back to the others (each still on 2 copies), then it exits.
    r = cluster.client("n4").request("POST", "/v1/cluster/leave", headers={"Authorization": f"Bearer {cluster.secret}"})
    assert r.status == 202, r
    code = cluster.nodes["n4"].proc.wait(timeout=60)
    assert code == 0, cluster.log_tail("n4")
    wait_replicated(cluster, NODES, 2, deadline_s=60)
    for conv, (token, to, acks) in convs.items():
        acks.update(send_many(cluster, "n1", token, to, 1, "after"))
        assert_same_everywhere(cluster, NODES, token, conv, acks)
