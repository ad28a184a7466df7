#!/usr/bin/env python3
"""Asset upload/download throughput and node memory (scripts/bench-assets runs it on a fresh
cluster). Uploads SIZE MiB through the first node (streamed from a 1 MiB buffer, so the client
holds no copy), then downloads it whole from the first and the second node; samples each
serving node's VmRSS every 10 ms while it works. Prints one line per transfer and a summary."""
import argparse
import hashlib
import http.client
import json
import os
import threading
import time
import uuid


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    """Peak VmRSS of a process while a `with` block runs."""
    def __init__(self, pid: int):
        self.pid, self.peak, self.stop = pid, 0, False

    def __enter__(self):
        self.before = rss_kib(self.pid)
        self.peak = self.before
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def call(addr, method, path, body=None, token=None):
    host, port = addr.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def upload(addr, token, size, piece):
    host, port = addr.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    conn.putrequest("POST", "/v1/assets")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    sent = 0
    while sent < size:
        chunk = piece[: min(len(piece), size - sent)]
        conn.send(chunk)
        sent += len(chunk)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != 201:
        raise SystemExit(f"upload: {r.status} {data[:200]!r}")
    return json.loads(data)["asset_id"]


def download(addr, token, asset_id):
    host, port = addr.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    conn.request("GET", f"/v1/assets/{asset_id}", headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    if r.status != 200:
        raise SystemExit(f"download: {r.status} {r.read()[:200]!r}")
    total = 0
    while chunk := r.read(1 << 20):
        total += len(chunk)
    conn.close()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", required=True, help="client addresses, comma-separated (uploads go to the first)")
    ap.add_argument("--pids", required=True, help="the nodes' process ids, in the same order")
    ap.add_argument("--size-mib", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", help="the cluster's folder (DATA/nID/assets): the node that is not a replica drops its "
                                   "cached copy, so its download is relayed from a replica")
    ap.add_argument("--ids", default="n1,n2,n3", help="the nodes' ids, in the same order")
    a = ap.parse_args()
    nodes, pids = a.nodes.split(","), [int(p) for p in a.pids.split(",")]
    size = a.size_mib << 20
    user = "bench" + uuid.uuid4().hex[:8]
    status, body = call(nodes[0], "POST", "/v1/signup", {"user": user, "password": "bench-password"})
    if status != 201:
        raise SystemExit(f"signup: {status} {body}")
    token = body["token"]
    ids = a.ids.split(",")
    piece = os.urandom(1 << 20)
    digest = hashlib.sha256()
    for _ in range(a.size_mib):
        digest.update(piece)
    sha = digest.hexdigest()
    ups, downs = [], []
    for round_ in range(1, a.rounds + 1):
        with Sampler(pids[0]) as s:
            t = time.monotonic()
            asset_id = upload(nodes[0], token, size, piece)
            up = a.size_mib / (time.monotonic() - t)
        ups.append(up)
        print(f"round {round_}: upload via {nodes[0]}: {up:.0f} MiB/s (201 = {2} copies); "
              f"node RSS {s.before // 1024} MiB -> peak {s.peak // 1024} MiB (+{(s.peak - s.before) / 1024:.1f})")
        _, shards = call(nodes[0], "GET", f"/v1/cluster/shards?asset={asset_id}")
        replicas = shards["shards"][0]["isr"]
        for nid in ids:
            path = os.path.join(a.data or "", nid, "assets", sha)
            if a.data and nid not in replicas and os.path.exists(path):
                os.unlink(path)
        for nid, addr, pid in zip(ids, nodes, pids):
            how = "its own copy" if nid in replicas or not a.data else "relayed from a replica"
            with Sampler(pid) as s:
                t = time.monotonic()
                got = download(addr, token, asset_id)
                down = a.size_mib / (time.monotonic() - t)
            assert got == size, (got, size)
            downs.append(down)
            print(f"round {round_}: download from {nid} ({how}): {down:.0f} MiB/s; "
                  f"node RSS {s.before // 1024} MiB -> peak {s.peak // 1024} MiB (+{(s.peak - s.before) / 1024:.1f})")
    print(f"summary: {a.size_mib} MiB assets, upload median {sorted(ups)[len(ups) // 2]:.0f} MiB/s, "
          f"download median {sorted(downs)[len(downs) // 2]:.0f} MiB/s")


if __name__ == "__main__":
    main()
