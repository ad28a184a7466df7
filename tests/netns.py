"""A cluster whose nodes each live in a network namespace of the test's own, for partial-fault
tests (issue 10). Every node gets a namespace, a veth pair to a bridge in the test's namespace,
and its own address 10.77.B.i; the test's clients reach every node through the bridge (address
10.77.B.254). Faults are routing and queueing rules inside the nodes' namespaces:

- `cut(a, b)`: a blackhole route in a's namespace to b's address: everything a sends to b is
  dropped (TCP segments and their ACKs, gossip datagrams); b's packets still reach a.
- `isolate(a)`, `partition(groups)`: cuts both ways between the given nodes.
- `loss(a, b, pct)`: an nftables rule in a's namespace drops `pct` % of what a sends to b
  (other destinations are untouched).
- `heal()`: every rule removed.

Everything is removed when the cluster stops, also after a failure, and namespaces left by a
killed earlier run (same prefix) are removed first. Needs root, iproute2 (`ip`) and nftables
(`nft`), which scripts/install-deps installs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from relay import REPO, START_DEADLINE_S, STOP_DEADLINE_S, relaynode_binary, _die_with_parent

PREFIX = "relaypt"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def namespaces_available() -> str | None:
    """Why network namespaces cannot be used here (None: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return f"{tool} ({package}) is not installed"
    probe = f"{PREFIX}probe{os.getpid()}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


def remove_leftovers() -> None:
    """Namespaces, links and bridges an earlier, killed run of this harness left behind."""
    listed = run("ip", "netns", "list", check=False).stdout.split()
    for name in listed:
        if name.startswith(PREFIX):
            run("ip", "netns", "del", name, check=False)
    for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith("rpb") or name.startswith("rph"):
            run("ip", "link", "del", name, check=False)


class NetCluster:
    """`NetCluster(tmp, n=3, replication=2)`: a config, namespaces, and node processes."""

    def __init__(self, tmp: Path, n: int = 3, replication: int = 2, shards: int = 16, block: int = 77):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.ids = [f"n{i + 1}" for i in range(n)]
        self.replication, self.shards = replication, shards
        self.subnet = f"10.77.{block}"
        self.tag = f"{block}"
        self.bridge = f"rpb{self.tag}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.cuts: set[tuple[str, str]] = set()
        self.lossy: set[str] = set()
        self.secret = "partition-secret"
        self.config_path = self.tmp / "cluster.json"
        nodes = [{"id": nid, "client": f"{self.ip(nid)}:7001", "peer": f"{self.ip(nid)}:7101",
                  "gossip": f"{self.ip(nid)}:7201", "data": str(self.tmp / nid)} for nid in self.ids]
        self.config_path.write_text(json.dumps({"cluster": f"pt{block}", "secret": self.secret, "shards": shards,
                                                "replication": replication, "nodes": nodes}))
        self._up()

    # -- the network

    def index(self, nid: str) -> int:
        return self.ids.index(nid) + 1

    def ip(self, nid: str) -> str:
        return f"{self.subnet}.{self.index(nid)}"

    def ns(self, nid: str) -> str:
        return f"{PREFIX}{self.tag}{nid}"

    def veth(self, nid: str) -> tuple[str, str]:
        return f"rph{self.tag}{nid}", f"rpn{self.tag}{nid}"

    def _up(self) -> None:
        self._remove_links()   # a previous cluster of this tag may still be going away
        try:
            self._make()
        except BaseException:
            self.down()
            raise

    def _remove_links(self) -> None:
        """Deletes this tag's host-side veths (which takes their peers too) and bridge now:
        a deleted namespace releases its links only later, in the kernel's own time."""
        for nid in self.ids:
            run("ip", "link", "del", self.veth(nid)[0], check=False)
        run("ip", "link", "del", self.bridge, check=False)

    def _make(self) -> None:
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for nid in self.ids:
            ns, (host, inner) = self.ns(nid), self.veth(nid)
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", host, "type", "veth", "peer", "name", inner)
            run("ip", "link", "set", inner, "netns", ns)
            run("ip", "link", "set", host, "master", self.bridge)
            run("ip", "link", "set", host, "up")
            run("ip", "-n", ns, "addr", "add", f"{self.ip(nid)}/24", "dev", inner)
            run("ip", "-n", ns, "link", "set", inner, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def down(self) -> None:
        for nid in list(self.procs):
            self.kill(nid, signal.SIGKILL)
        for nid in self.ids:
            run("ip", "netns", "del", self.ns(nid), check=False)
        self._remove_links()

    # -- faults

    def cut(self, a: str, b: str) -> None:
        """Everything `a` sends to `b` is dropped (one way)."""
        run("ip", "-n", self.ns(a), "route", "add", "blackhole", f"{self.ip(b)}/32")
        self.cuts.add((a, b))

    def uncut(self, a: str, b: str) -> None:
        run("ip", "-n", self.ns(a), "route", "del", "blackhole", f"{self.ip(b)}/32", check=False)
        self.cuts.discard((a, b))

    def partition(self, *groups: list[str]) -> None:
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        self.cut(a, b)
                        self.cut(b, a)

    def isolate(self, nid: str) -> None:
        self.partition([nid], [x for x in self.ids if x != nid])

    def loss(self, a: str, b: str, pct: int) -> None:
        """`pct` % of what `a` sends to `b` is dropped."""
        ns = self.ns(a)
        if a not in self.lossy:
            run("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "relaypt")
            run("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "relaypt", "out",
                "{ type filter hook output priority 0; }")
        run("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "relaypt", "out", "ip", "daddr", self.ip(b),
            "numgen", "random", "mod", "100", "<", str(pct), "drop")
        self.lossy.add(a)

    def heal(self) -> None:
        for a, b in list(self.cuts):
            self.uncut(a, b)
        for a in list(self.lossy):
            run("ip", "netns", "exec", self.ns(a), "nft", "delete", "table", "inet", "relaypt", check=False)
        self.lossy.clear()

    # -- processes

    def start(self, nid: str, wait: bool = True) -> None:
        log = open(self.tmp / f"{nid}.log", "ab")
        log.write(f"\n==== start {nid} at {time.strftime('%H:%M:%S')} ====\n".encode())
        log.flush()
        self.procs[nid] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(nid), relaynode_binary(), "--config", str(self.config_path), "--node", nid],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.tmp, preexec_fn=_die_with_parent)
        log.close()
        if wait:
            self.wait_healthy(nid)

    def start_all(self) -> None:
        for nid in self.ids:
            self.start(nid, wait=False)
        for nid in self.ids:
            self.wait_healthy(nid)

    def wait_healthy(self, nid: str, deadline_s: float = START_DEADLINE_S) -> None:
        import urllib.request
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.procs[nid].poll() is not None:
                pytest.fail(f"{nid} exited: {self.log_tail(nid)}")
            try:
                with urllib.request.urlopen(f"{self.url(nid)}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"{nid} not healthy within {deadline_s}s: {self.log_tail(nid)}")

    def kill(self, nid: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(nid, None)
        if proc is None or proc.poll() is not None:
            return
        # `ip netns exec` execs the node, so the pid is the node's.
        proc.send_signal(sig)
        try:
            proc.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pause(self, nid: str) -> None:
        self.procs[nid].send_signal(signal.SIGSTOP)

    def resume(self, nid: str) -> None:
        self.procs[nid].send_signal(signal.SIGCONT)

    def pid(self, nid: str) -> int:
        return self.procs[nid].pid

    def log_tail(self, nid: str, max_bytes: int = 6000) -> str:
        path = self.tmp / f"{nid}.log"
        data = path.read_bytes()[-max_bytes:] if path.exists() else b""
        return f"---- {nid} ----\n" + data.decode(errors="replace")

    # -- clients

    def url(self, nid: str) -> str:
        return f"http://{self.ip(nid)}:7001"

    def addr(self, nid: str) -> tuple[str, int]:
        return self.ip(nid), 7001

    def status(self, nid: str, path: str = "/v1/cluster", timeout: float = 2.0) -> dict:
        import urllib.request
        with urllib.request.urlopen(f"{self.url(nid)}{path}", timeout=timeout) as r:
            return json.loads(r.read())
