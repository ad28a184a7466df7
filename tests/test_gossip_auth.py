"""Gossip datagrams are sealed (docs/GOSSIP.md, "Datagram envelope"): authenticated with the
cluster's key, bound to their sender's address, and stamped against replays. These tests speak
gossip from a Python UDP socket of their own, sealing datagrams exactly as a node does, and
check what a node answers, what it refuses (its /v1/cluster `local` counters say why), and
that the membership never changes because of it."""
from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import time

import pytest

from relay import Cluster

NODES = ["n1", "n2", "n3"]

# The envelope: tag[16] | format u8 = 2 | stamp u64 | sender length u8 | sender | body.
ENVELOPE_FORMAT = 2
TAG_BYTES = 16
# The SWIM body (docs/GOSSIP.md, "Wire format"): version 1, message kinds and update kinds.
SWIM_VERSION = 1
PING, ACK = 1, 2
UPDATE_SUSPECT, UPDATE_DEAD = 1, 2
# How long we listen for an answer that must come, and for one that must not.
ANSWER_S = 5.0
SILENCE_S = 1.0


def gossip_key(cluster: Cluster) -> bytes:
    """SHA-256("relay-gossip\\0" + cluster name + "\\0" + secret), as the node derives it."""
    return hashlib.sha256(b"relay-gossip\0" + cluster.name.encode() + b"\0" + cluster.secret.encode()).digest()


def stamp_now() -> int:
    """A stamp as a node makes one: wall-clock milliseconds in the high 48 bits."""
    return (time.time_ns() // 1_000_000) << 16


def seal(key: bytes, sender: str, body: bytes, stamp: int) -> bytes:
    signed = bytes([ENVELOPE_FORMAT]) + struct.pack(">Q", stamp) + bytes([len(sender)]) + sender.encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()[:TAG_BYTES] + signed


def unseal(key: bytes, datagram: bytes) -> tuple[str, bytes]:
    """(sender binding, body) of a node's datagram, after checking its tag."""
    tag, signed = datagram[:TAG_BYTES], datagram[TAG_BYTES:]
    assert hmac.compare_digest(tag, hmac.new(key, signed, hashlib.sha256).digest()[:TAG_BYTES]), "bad tag"
    assert signed[0] == ENVELOPE_FORMAT, signed[0]
    length = signed[9]
    return signed[10:10 + length].decode(), signed[10 + length:]


def short(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def member_id(name: str, address: str) -> bytes:
    return short(name) + short(address)


def ping(seq: int, source: tuple[str, str], target: tuple[str, str], updates: list[bytes] = ()) -> bytes:
    return (bytes([SWIM_VERSION, PING]) + struct.pack(">I", seq) + member_id(*source) + member_id(*target)
            + bytes([len(updates)]) + b"".join(updates))


def update(kind: int, incarnation: int, member: tuple[str, str], payload: bytes = b"") -> bytes:
    return bytes([kind]) + struct.pack(">Q", incarnation) + member_id(*member) + payload


def membership(cluster: Cluster) -> dict[str, set[tuple[str, str, int]]]:
    """Every node's view: {node: {(member, state, incarnation)}}."""
    return {nid: {(m["id"], m["state"], m["incarnation"]) for m in cluster.status(nid)["members"]} for nid in NODES}


def local(cluster: Cluster, nid: str) -> dict:
    return cluster.status(nid)["local"]


@pytest.fixture
def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def gossip_target(cluster: Cluster, nid: str) -> tuple[str, int]:
    return ("127.0.0.1", cluster.nodes[nid].gossip)


def assert_silent(sock: socket.socket) -> None:
    sock.settimeout(SILENCE_S)
    with pytest.raises(socket.timeout):
        data, _ = sock.recvfrom(65_536)
        pytest.fail(f"the node answered: {data!r}")


def test_an_authentic_ping_from_its_senders_address_is_answered_but_not_its_replay(cluster3, udp):
    key = gossip_key(cluster3)
    me = f"127.0.0.1:{udp.getsockname()[1]}"
    n1 = cluster3.gossip_addr("n1")
    before_members = membership(cluster3)
    before = local(cluster3, "n1")

    # Sealed as a node seals, bound to our own address: n1 answers with an ack, sealed alike.
    datagram = seal(key, me, ping(7, ("probe", me), ("n1", n1)), stamp_now())
    udp.sendto(datagram, gossip_target(cluster3, "n1"))
    udp.settimeout(ANSWER_S)
    answer, source = udp.recvfrom(65_536)
    sender, body = unseal(key, answer)
    assert sender == n1 == f"{source[0]}:{source[1]}", (sender, source)
    assert body[:2] == bytes([SWIM_VERSION, ACK]) and struct.unpack(">I", body[2:6])[0] == 7, body

    # The same datagram again: a replay, refused without an answer.
    udp.sendto(datagram, gossip_target(cluster3, "n1"))
    assert_silent(udp)
    # A new ping with a stamp a minute old: older than the 10 s window, refused too.
    old = seal(key, me, ping(8, ("probe", me), ("n1", n1)), stamp_now() - (60_000 << 16))
    udp.sendto(old, gossip_target(cluster3, "n1"))
    assert_silent(udp)

    cluster3.wait_status(["n1"], lambda ss: ss["n1"]["local"]["gossip_replays_rejected"] >= before["gossip_replays_rejected"] + 2,
                         deadline_s=5, what="n1 counts the replay and the stale datagram")
    after = local(cluster3, "n1")
    assert after["gossip_bad_tag_rejected"] == before["gossip_bad_tag_rejected"], after
    assert after["gossip_wrong_sender_rejected"] == before["gossip_wrong_sender_rejected"], after
    assert after["gossip_rejected_datagrams"] >= before["gossip_rejected_datagrams"] + 2, after
    assert membership(cluster3) == before_members


def test_an_authentic_datagram_naming_another_member_as_sender_is_refused(cluster3, udp):
    key = gossip_key(cluster3)
    n1, n2, n3 = (cluster3.gossip_addr(nid) for nid in NODES)
    before_members = membership(cluster3)
    n3_incarnation = next(inc for mid, _, inc in before_members["n1"] if mid == "n3")
    befores = {nid: local(cluster3, nid) for nid in NODES}

    # A correct tag for the cluster's key and a fresh stamp, but the binding names n2 while
    # the datagram comes from our port: what a captured datagram of n2's looks like when
    # replayed from elsewhere. Its payload would accuse n3 (suspect, then dead, at its
    # current incarnation) and ask for an ack.
    accusations = [update(UPDATE_SUSPECT, n3_incarnation, ("n3", n3), short("n2")),
                   update(UPDATE_DEAD, n3_incarnation, ("n3", n3))]
    for seq, target in enumerate(["n1", "n3"], start=1):
        body = ping(seq, ("n2", n2), (target, cluster3.gossip_addr(target)), accusations)
        udp.sendto(seal(key, n2, body, stamp_now()), gossip_target(cluster3, target))
    assert_silent(udp)

    def refused(ss: dict) -> bool:
        return all(ss[nid]["local"]["gossip_wrong_sender_rejected"] >= befores[nid]["gossip_wrong_sender_rejected"] + 1
                   for nid in ("n1", "n3"))
    cluster3.wait_status(["n1", "n3"], refused, deadline_s=5, what="n1 and n3 refuse the datagram bound to n2")
    for nid in ("n1", "n3"):
        after = local(cluster3, nid)
        assert after["gossip_bad_tag_rejected"] == befores[nid]["gossip_bad_tag_rejected"], (nid, after)
        assert after["gossip_replays_rejected"] == befores[nid]["gossip_replays_rejected"], (nid, after)
        assert after["gossip_rejected_datagrams"] >= befores[nid]["gossip_rejected_datagrams"] + 1, (nid, after)
    # Nobody's state or incarnation moved, on any node, a while later.
    time.sleep(SILENCE_S)
    assert membership(cluster3) == before_members
