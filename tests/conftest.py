"""Integration tests: a real `relaynode` driven as an outside client would (PROTOCOL.md).

Run:  swift build --product relaynode   (or set RELAYNODE=/path/to/relaynode)
      python3 -m pytest tests            (from the repo root; about a minute)

Fixtures: one shared node for tests that only need a healthy server, fresh nodes for tests
that restart or kill it; `cluster3` (a formed 3-node cluster per module) and `make_cluster`
(clusters of a test's own) for tests/test_cluster.py. The nodes' logs are printed (from the
test's start) when a test fails."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay import Client, Cluster, dm, unique_user  # noqa: E402

_clusters_in_use: list[Cluster] = []


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("shared"))
    cluster.start("n1")
    _clusters_in_use.append(cluster)
    yield cluster
    _clusters_in_use.remove(cluster)
    cluster.stop_all()


@pytest.fixture
def cluster(shared_cluster):
    """The shared one-node cluster; the test fails if it finds the node dead afterwards."""
    if not shared_cluster.nodes["n1"].alive:
        # An earlier test crashed it: restart so one crash is reported once, not everywhere.
        shared_cluster.start("n1")
    yield shared_cluster
    node = shared_cluster.nodes["n1"]
    assert node.alive, f"relaynode died during the test (exit {node.proc.returncode})"


@pytest.fixture
def fresh_cluster(tmp_path):
    """A one-node cluster of this test's own, for restarts and kills."""
    cluster = Cluster(tmp_path)
    cluster.start("n1")
    _clusters_in_use.append(cluster)
    yield cluster
    _clusters_in_use.remove(cluster)
    cluster.stop_all()


@contextlib.contextmanager
def formed_cluster(tmp, ids=("n1", "n2", "n3"), **kw):
    """A cluster of `ids`, started and formed, stopped afterwards; its logs are printed when a
    test fails. For module fixtures: `with formed_cluster(tmp_path_factory.mktemp("x"),
    replication=2) as cluster: yield cluster`."""
    cluster = Cluster(tmp, ids=list(ids), **kw)
    _clusters_in_use.append(cluster)
    try:
        cluster.start_all()
        cluster.wait_formed(list(ids))
        yield cluster
    finally:
        _clusters_in_use.remove(cluster)
        cluster.stop_all()


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory):
    """A formed 3-node cluster (n1, n2, n3; 16 shards, one copy each) shared by a module."""
    cluster = Cluster(tmp_path_factory.mktemp("cluster3"), ids=["n1", "n2", "n3"])
    _clusters_in_use.append(cluster)
    try:
        cluster.start_all()
        cluster.wait_formed(["n1", "n2", "n3"])
        yield cluster
    finally:
        _clusters_in_use.remove(cluster)
        cluster.stop_all()


@pytest.fixture
def make_cluster(tmp_path):
    """Clusters of the test's own: `make_cluster(ids=[...], joiners=[...], **kw)` starts the
    founders and waits until they form; every node is stopped after the test."""
    made: list[Cluster] = []

    def make(ids=("n1", "n2", "n3"), **kw) -> Cluster:
        cluster = Cluster(tmp_path / f"c{len(made)}", ids=ids, **kw)
        made.append(cluster)
        _clusters_in_use.append(cluster)
        cluster.start_all()
        cluster.wait_formed(list(ids))
        return cluster

    yield make
    for cluster in made:
        _clusters_in_use.remove(cluster)
        cluster.stop_all()


@pytest.fixture
def client(cluster) -> Client:
    return cluster.client()


@pytest.fixture
def pair(client):
    """Two fresh users: ((alice, token), (bob, token), dm id)."""
    a, ta = client.signup(unique_user("alice"))
    b, tb = client.signup(unique_user("bob"))
    return (a, ta), (b, tb), dm(a, b)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for c in _clusters_in_use:
        c.mark_logs()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when in ("call", "setup", "teardown"):
        logs = []
        for c in _clusters_in_use:
            for nid in c.nodes:
                logs.append(c.log_tail(nid, since_mark=True))
        if logs:
            report.sections.append(("relaynode log", "\n".join(logs)))
