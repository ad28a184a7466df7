"""Assets on a real 3-node cluster with two copies of every shard (PROTOCOL.md "Assets",
docs/ASSETS.md): a 100 MiB upload streamed to disk with the node's memory flat, reads from
any node with ETag/304/Range/416, 413 and 401 answered before the body is read, access by the
uploader and the members of a conversation that carries the asset (404 for anyone else), and
the asset still served after kill -9 of its shard's primary."""
from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import threading
import time

import pytest

from relay import Cluster, dm, error_code, poll, unique_user
from conftest import formed_cluster

NODES = ["n1", "n2", "n3"]
MAX_ASSET = 128 << 20


@pytest.fixture(scope="module")
def acluster(tmp_path_factory):
    """3 nodes, R=2; cheap password hashes; room for a 100 MiB asset."""
    with formed_cluster(tmp_path_factory.mktemp("assets"), NODES, replication=2,
                        extra={"password_hash_cost": 1, "max_asset_bytes": MAX_ASSET}) as cluster:
        yield cluster


def upload(cluster: Cluster, nid: str, token: str | None, data: bytes, content_type: str = "image/png"):
    headers = {"Content-Type": content_type}
    return cluster.client(nid).request("POST", "/v1/assets", raw=data, token=token, headers=headers, timeout_s=60)


def download(cluster: Cluster, nid: str, token: str, asset_id: str, headers: dict | None = None):
    return cluster.client(nid).request("GET", f"/v1/assets/{asset_id}", token=token, headers=headers, timeout_s=60)


def raw_exchange(cluster: Cluster, nid: str, head: str) -> bytes:
    """Sends a request head (and no body) and returns what the node answers until it closes
    the connection (an answer before the body's end closes it)."""
    with socket.create_connection(cluster.addr(nid), timeout=10) as s:
        s.sendall(head.encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        return data


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_an_upload_reads_back_from_every_node_with_its_headers(acluster):
    c1 = acluster.client("n1")
    alice, ta = c1.signup(unique_user("alice"))
    data = os.urandom(700_000)
    r = upload(acluster, "n1", ta, data, "image/jpeg")
    assert r.status == 201, (r.status, r.json)
    asset_id = r.json["asset_id"]
    assert r.json["size"] == len(data) and r.json["content_type"] == "image/jpeg"
    etag = '"' + hashlib.sha256(data).hexdigest() + '"'
    for nid in NODES:
        got = download(acluster, nid, ta, asset_id)
        assert got.status == 200, (nid, got.status, got.json)
        assert got.raw == data, nid
        assert got.header("content-type") == "image/jpeg"
        assert got.header("etag") == etag
        assert got.header("cache-control") == "private, max-age=31536000, immutable"
        assert got.header("accept-ranges") == "bytes"
    # 304 on a matching If-None-Match, a full answer on another tag.
    r = download(acluster, "n2", ta, asset_id, {"If-None-Match": etag})
    assert r.status == 304 and r.raw == b"" and r.header("etag") == etag
    assert download(acluster, "n2", ta, asset_id, {"If-None-Match": '"other"'}).status == 200
    # Single ranges: closed, open, suffix; one past the end is 416.
    r = download(acluster, "n3", ta, asset_id, {"Range": "bytes=1000-1999"})
    assert r.status == 206 and r.raw == data[1000:2000]
    assert r.header("content-range") == f"bytes 1000-1999/{len(data)}"
    r = download(acluster, "n1", ta, asset_id, {"Range": "bytes=600000-"})
    assert r.status == 206 and r.raw == data[600000:]
    r = download(acluster, "n2", ta, asset_id, {"Range": "bytes=-10"})
    assert r.status == 206 and r.raw == data[-10:]
    r = download(acluster, "n1", ta, asset_id, {"Range": f"bytes={len(data)}-"})
    assert r.status == 416 and r.header("content-range") == f"bytes */{len(data)}"
    r = download(acluster, "n3", ta, asset_id, {"Range": "bytes=0-1,5-6"})
    assert r.status == 200 and r.raw == data, "several ranges: the whole body"
    head = acluster.client("n2").request("HEAD", f"/v1/assets/{asset_id}", token=ta)
    assert head.status == 200 and head.raw == b"" and head.header("content-length") == str(len(data))
    assert head.header("etag") == etag
    # The node that is not a replica serves it by relaying from one (its own cached copy from
    # an upload through it, if any, is dropped first).
    status, body = acluster.client("n1").http("GET", f"/v1/cluster/shards?asset={asset_id}")
    outsider = next(n for n in NODES if n not in body["shards"][0]["isr"])
    cached = acluster.nodes[outsider].data / "assets" / hashlib.sha256(data).hexdigest()
    if cached.exists():
        cached.unlink()
    got = download(acluster, outsider, ta, asset_id)
    assert got.status == 200 and got.raw == data and got.header("etag") == etag
    got = download(acluster, outsider, ta, asset_id, {"Range": "bytes=300000-600000"})
    assert got.status == 206 and got.raw == data[300000:600001]
    assert not cached.exists(), "a relayed read leaves no file behind"
    # The same bytes uploaded again get another id: ids do not reveal contents.
    again = upload(acluster, "n2", ta, data)
    assert again.status == 201 and again.json["asset_id"] != asset_id


def test_oversized_and_unauthenticated_uploads_are_refused_before_the_body(acluster):
    _, ta = acluster.client("n1").signup(unique_user("alice"))
    host, port = acluster.addr("n1")
    answer = raw_exchange(acluster, "n1", f"POST /v1/assets HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ta}\r\n"
                                          f"Content-Type: image/png\r\nContent-Length: {MAX_ASSET + 1}\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"too_large" in answer
    answer = raw_exchange(acluster, "n1", f"POST /v1/assets HTTP/1.1\r\nHost: {host}\r\n"
                                          f"Content-Type: image/png\r\nContent-Length: 5000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    r = acluster.client("n1").request("POST", "/v1/assets", raw=b"", token=ta, headers={"Content-Type": "image/png"})
    assert r.status in (400, 411), (r.status, r.json)


def test_an_upload_cut_off_or_stalled_leaves_no_file_behind(acluster):
    _, ta = acluster.client("n3").signup(unique_user("alice"))
    host, _ = acluster.addr("n3")
    tmp = acluster.nodes["n3"].data / "assets" / "tmp"
    head = (f"POST /v1/assets HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ta}\r\n"
            f"Content-Type: image/png\r\nContent-Length: 1000000\r\n\r\n").encode()
    # The client leaves mid-body: the temporary file goes.
    with socket.create_connection(acluster.addr("n3"), timeout=10) as s:
        s.sendall(head + b"x" * 100_000)
        for _ in poll(5, "the upload's temporary file exists"):
            if list(tmp.iterdir()):
                break
    for _ in poll(5, "the temporary file is removed"):
        if not list(tmp.iterdir()):
            break
    # The client stalls mid-body: 408 after the request timeout, and the file goes.
    with socket.create_connection(acluster.addr("n3"), timeout=20) as s:
        s.sendall(head + b"x" * 1000)
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert not list(tmp.iterdir())


def test_an_upload_that_expects_100_continue_gets_it_then_its_201(acluster):
    _, ta = acluster.client("n2").signup(unique_user("alice"))
    host, _ = acluster.addr("n2")
    body = os.urandom(50_000)
    with socket.create_connection(acluster.addr("n2"), timeout=10) as s:
        s.sendall(f"POST /v1/assets HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ta}\r\n"
                  f"Content-Type: audio/ogg\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        interim = s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        s.sendall(body)
        answer = b""
        while b"}" not in answer:
            chunk = s.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    assert b'"content_type":"audio/ogg"' in answer and f'"size":{len(body)}'.encode() in answer


def test_a_100_mib_upload_keeps_the_node_memory_flat(acluster):
    _, ta = acluster.client("n1").signup(unique_user("alice"))
    size = 100 << 20
    piece = os.urandom(1 << 20)
    pid = acluster.nodes["n1"].proc.pid
    baseline = rss_kib(pid)
    peak = baseline
    result: dict = {}

    def send():
        host, port = acluster.addr("n1")
        conn = http.client.HTTPConnection(host, port, timeout=120)
        conn.putrequest("POST", "/v1/assets")
        conn.putheader("Authorization", f"Bearer {ta}")
        conn.putheader("Content-Type", "video/mp4")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for _ in range(size // len(piece)):
            conn.send(piece)
        r = conn.getresponse()
        result["status"], result["body"] = r.status, r.read()
        conn.close()

    started = time.monotonic()
    t = threading.Thread(target=send)
    t.start()
    while t.is_alive():
        peak = max(peak, rss_kib(pid))
        time.sleep(0.02)
    t.join()
    seconds = time.monotonic() - started
    assert result["status"] == 201, result
    import json
    asset_id = json.loads(result["body"])["asset_id"]
    growth_mib = (peak - baseline) / 1024
    print(f"100 MiB upload in {seconds:.1f} s ({100 / seconds:.0f} MiB/s); n1 RSS {baseline // 1024} MiB -> peak {peak // 1024} MiB")
    assert growth_mib < 32, f"n1's RSS grew {growth_mib:.0f} MiB during a 100 MiB upload"
    # Read back whole from another node, hashed as it streams.
    host, port = acluster.addr("n2")
    conn = http.client.HTTPConnection(host, port, timeout=120)
    conn.request("GET", f"/v1/assets/{asset_id}", headers={"Authorization": f"Bearer {ta}"})
    r = conn.getresponse()
    assert r.status == 200
    digest, total = hashlib.sha256(), 0
    expected = hashlib.sha256()
    for _ in range(size // len(piece)):
        expected.update(piece)
    while chunk := r.read(1 << 20):
        digest.update(chunk)
        total += len(chunk)
    conn.close()
    assert total == size and digest.hexdigest() == expected.hexdigest()


def test_only_readers_of_a_carrying_message_get_the_asset(acluster):
    c1, c2, c3 = (acluster.client(n) for n in NODES)
    alice, ta = c1.signup(unique_user("alice"))
    bob, tb = c2.signup(unique_user("bob"))
    carol, tc = c3.signup(unique_user("carol"))
    data = os.urandom(10_000)
    asset_id = upload(acluster, "n1", ta, data).json["asset_id"]
    # Before any message carries it: the uploader alone; others get 404, as for no asset.
    for nid, token in (("n2", tb), ("n3", tc)):
        r = download(acluster, nid, token, asset_id)
        assert r.status == 404 and error_code(r.json) == "not_found"
    missing = download(acluster, "n2", tb, "a_" + "0" * 32)
    assert missing.status == 404 and missing.json == r.json | {"error": {"code": "not_found", "message": missing.json["error"]["message"]}}
    # Bob cannot send an asset he cannot read: 404 as if absent.
    r = c2.request("POST", "/v1/messages", {"client_id": "b1", "to": alice, "kind": "image", "body": "", "attachments": [asset_id]}, token=tb)
    assert r.status == 404 and error_code(r.json) == "not_found"
    # A media message needs an attachment.
    r = c1.request("POST", "/v1/messages", {"client_id": "a0", "to": bob, "kind": "image", "body": ""}, token=ta)
    assert r.status == 400
    # Alice sends it to Bob: Bob may read it (once the ref is recorded), Carol still not.
    status, ack = c1.http("POST", "/v1/messages", {"client_id": "a1", "to": bob, "kind": "image", "body": "look",
                                                   "attachments": [asset_id], "width": 640, "height": 480}, ta)
    assert status == 200, ack
    for _ in poll(10, "bob can read the asset"):
        r = download(acluster, "n3", tb, asset_id)
        if r.status == 200:
            break
    assert r.raw == data
    history = c2.all_history(tb, dm(alice, bob))
    assert history[-1]["attachments"] == [asset_id] and history[-1]["kind"] == "image"
    assert (history[-1]["width"], history[-1]["height"]) == (640, 480)
    r = c1.request("POST", "/v1/messages", {"client_id": "a2", "to": bob, "kind": "image", "body": "",
                                            "attachments": [asset_id], "width": 640}, token=ta)
    assert r.status == 400, "width without height"
    assert download(acluster, "n1", tc, asset_id).status == 404
    # Bob can forward what he can read, to Carol.
    status, ack = c2.http("POST", "/v1/messages", {"client_id": "b2", "to": carol, "kind": "image", "body": "",
                                                   "attachments": [asset_id]}, tb)
    assert status == 200, ack
    for _ in poll(10, "carol can read the forwarded asset"):
        if download(acluster, "n2", tc, asset_id).status == 200:
            break


def test_a_replica_that_lost_the_file_fetches_it_again(acluster):
    """Repair: a node holding the asset shard's rows but not the file (here: deleted by
    hand; in life a node filled by snapshot) copies it from another replica."""
    _, ta = acluster.client("n1").signup(unique_user("alice"))
    data = os.urandom(600_000)
    r = upload(acluster, "n2", ta, data)
    assert r.status == 201, (r.status, r.json)
    status, body = acluster.client("n1").http("GET", f"/v1/cluster/shards?asset={r.json['asset_id']}")
    replicas = body["shards"][0]["isr"]
    path = acluster.nodes[replicas[-1]].data / "assets" / hashlib.sha256(data).hexdigest()
    assert path.exists(), f"{replicas[-1]} holds a copy once the upload is answered"
    path.unlink()
    for _ in poll(20, f"{replicas[-1]} fetches the file again"):
        if path.exists() and path.stat().st_size == len(data):
            break
    metrics = acluster.client(replicas[-1]).request("GET", "/metrics").raw.decode()
    repaired = [line for line in metrics.splitlines() if line.startswith("relay_asset_files_repaired_total{")]
    assert repaired and int(repaired[0].split()[-1]) >= 1, repaired
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_the_asset_survives_kill_9_of_its_shard_primary_after_the_201(acluster):
    _, ta = acluster.client("n1").signup(unique_user("alice"))
    data = os.urandom(3 << 20)
    # Upload through a node that is not the asset shard's primary when possible: try a few.
    r = upload(acluster, "n1", ta, data)
    assert r.status == 201, (r.status, r.json)
    asset_id = r.json["asset_id"]
    status, body = acluster.client("n1").http("GET", f"/v1/cluster/shards?asset={asset_id}")
    assert status == 200, body
    shard = body["shards"][0]
    primary = shard["primary"]
    assert len(shard["isr"]) == 2, shard
    # The 201 means R copies: every in-sync replica has the whole file already.
    name = hashlib.sha256(data).hexdigest()
    for nid in shard["isr"]:
        path = acluster.nodes[nid].data / "assets" / name
        assert path.exists() and path.stat().st_size == len(data), nid
    acluster.kill(primary, sig=signal.SIGKILL)
    survivors = [n for n in NODES if n != primary]
    try:
        for nid in survivors:
            for _ in poll(30, f"{nid} serves the asset after {primary} died"):
                got = download(acluster, nid, ta, asset_id)
                if got.status == 200:
                    break
            assert got.raw == data, nid
    finally:
        acluster.start(primary)


def test_an_asset_no_message_carries_is_deleted_after_the_grace(tmp_path):
    """One node, `asset_grace_s` 1: the row and then the file of an asset nothing carries go;
    an asset a message carries stays."""
    with formed_cluster(tmp_path, ["n1"], replication=1, extra={"password_hash_cost": 1, "asset_grace_s": 1}) as cluster:
        c = cluster.client("n1")
        alice, ta = c.signup(unique_user("alice"))
        bob, _ = c.signup(unique_user("bob"))
        loose, kept = os.urandom(5000), os.urandom(6000)
        loose_id = upload(cluster, "n1", ta, loose).json["asset_id"]
        kept_id = upload(cluster, "n1", ta, kept).json["asset_id"]
        status, ack = c.http("POST", "/v1/messages", {"client_id": "k", "to": bob, "kind": "file", "body": "",
                                                      "attachments": [kept_id]}, ta)
        assert status == 200, ack
        folder = cluster.nodes["n1"].data / "assets"
        for _ in poll(15, "the loose asset's row and file are deleted"):
            if download(cluster, "n1", ta, loose_id).status == 404 and not (folder / hashlib.sha256(loose).hexdigest()).exists():
                break
        got = download(cluster, "n1", ta, kept_id)
        assert got.status == 200 and got.raw == kept
        assert (folder / hashlib.sha256(kept).hexdigest()).exists()
