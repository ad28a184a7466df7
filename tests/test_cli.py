"""The `relay` command-line client against a 3-node cluster with two copies of each shard:
sign-in with the token kept 0600, sends and reads in both output modes, groups, invites,
blocks and lists, exit codes, and `listen` going on through a kill -9 of its node without a
gap or a repeat."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import formed_cluster
from relay import Cluster, unique_user
from test_replication import restart_and_settle

NODES = ["n1", "n2", "n3"]
RELAY = str(Path(os.environ.get("RELAYNODE", ".build/debug/relaynode")).parent / "relay")


@pytest.fixture(scope="module")
def cli3(tmp_path_factory):
    with formed_cluster(tmp_path_factory.mktemp("cli3"), replication=2) as cluster:
        yield cluster


class Relay:
    """One user's `relay` with their own token file."""

    def __init__(self, cluster: Cluster, tmp: Path, nid: str = "n1"):
        self.cluster = cluster
        self.config = tmp / f"relay-{unique_user('cfg')}.json"
        self.node = f"127.0.0.1:{cluster.nodes[nid].client}"

    def args(self, *words: str, json_mode: bool = False) -> list[str]:
        return [RELAY, "--node", self.node, "--config", str(self.config)] + (["--json"] if json_mode else []) + list(words)

    def run(self, *words: str, json_mode: bool = False, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(self.args(*words, json_mode=json_mode), input=stdin, capture_output=True, text=True, timeout=60)
        if check:
            assert done.returncode == 0, f"relay {' '.join(words)}: {done.returncode} {done.stderr}"
        return done

    def json(self, *words: str) -> list[dict]:
        return [json.loads(line) for line in self.run(*words, json_mode=True).stdout.splitlines()]


def signed_up(cluster: Cluster, tmp: Path, prefix: str, nid: str = "n1") -> tuple[Relay, str]:
    r = Relay(cluster, tmp, nid)
    user = unique_user(prefix)
    r.run("signup", user, stdin="password123\n")
    return r, user


def test_sign_in_send_read_and_exit_codes(cli3, tmp_path):
    alice, a = signed_up(cli3, tmp_path, "alice")
    bob, b = signed_up(cli3, tmp_path, "bob", "n2")
    assert stat.S_IMODE(alice.config.stat().st_mode) == 0o600
    saved = json.loads(alice.config.read_text())
    assert saved["user"] == a and saved["token"] and len(saved["nodes"]) == 3, "the cluster's nodes were learned"

    ack = alice.json("send", b, "hello", "bob")[0]
    assert ack["seq"] == 1 and ack["conversation_id"] == f"dm:{min(a, b)}:{max(a, b)}"
    alice.run("send", "--conversation", ack["conversation_id"], "second", "--client-id", "c-2")
    again = alice.json("send", "--conversation", ack["conversation_id"], "second", "--client-id", "c-2")[0]
    assert again["seq"] == 2, "a repeated client id is the same message"
    history = bob.json("history", ack["conversation_id"])
    assert [(m["seq"], m["body"]) for m in history] == [(1, "hello bob"), (2, "second")]
    assert "hello bob" in bob.run("history", ack["conversation_id"]).stdout
    assert [c["conversation_id"] for c in bob.json("conversations")] == [ack["conversation_id"]]
    assert bob.json("whoami")[0]["user"] == b

    assert alice.run("frobnicate", check=False).returncode == 2
    assert alice.run("send", check=False).returncode == 2
    refused = alice.run("history", "dm:nobody1:nobody2", check=False)
    assert refused.returncode == 1 and "forbidden (403)" in refused.stderr
    stranger = Relay(cli3, tmp_path)
    assert stranger.run("conversations", check=False).returncode == 4
    alice.run("logout")
    assert alice.run("conversations", check=False).returncode == 4


def test_groups_invites_blocks_and_lists(cli3, tmp_path):
    owner, o = signed_up(cli3, tmp_path, "owner")
    member, m = signed_up(cli3, tmp_path, "member", "n2")
    joiner, j = signed_up(cli3, tmp_path, "joiner", "n3")
    group = owner.json("group", "create", "Book", "club", "--members", m)[0]["conversation_id"]
    code = owner.json("group", "invite", group, "--max-uses", "1")[0]["code"]
    assert joiner.json("group", "join", code)[0]["conversation_id"] == group
    shown = owner.json("group", "show", group)[0]
    assert {x["user"] for x in shown["members"]} == {o, m, j}
    owner.run("group", "remove", group, j)
    assert {x["user"] for x in owner.json("group", "show", group)[0]["members"]} == {o, m}

    member.run("block", o)
    owner.run("send", m, "you will not see this")
    direct = f"dm:{min(o, m)}:{max(o, m)}"
    assert member.json("history", direct) == [], "a blocked sender's message never reaches the blocker"
    assert [x["body"] for x in owner.json("history", direct)] == ["you will not see this"]
    member.run("block", o, "--undo")

    listed = owner.json("list", "create", "fans", "--members", f"{m},{j}")[0]["list_id"]
    sent = owner.json("list", "send", listed, "hello fans", "--client-id", "mass-1")[0]
    assert sent["recipients"] == 2
    assert [x["name"] for x in owner.json("list", "show")] == ["fans"]


def test_listen_resumes_on_another_node_after_a_kill(cli3, tmp_path):
    alice, a = signed_up(cli3, tmp_path, "alice")
    bob, b = signed_up(cli3, tmp_path, "bob", "n2")
    listener = subprocess.Popen(bob.args("listen", "--count", "3", "--seconds", "60", json_mode=True),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        alice.run("send", b, "one")
        first = json.loads(listener.stdout.readline())
        assert first["body"] == "one"
        assert cli3.kill("n2", signal.SIGKILL) == -signal.SIGKILL
        alice.run("send", b, "two")
        alice.run("send", b, "three")
        out, err = listener.communicate(timeout=60)
        got = [first] + [json.loads(line) for line in out.splitlines()]
        assert [(m["seq"], m["body"]) for m in got] == [(1, "one"), (2, "two"), (3, "three")], err
        assert listener.returncode == 0
    finally:
        if listener.poll() is None:
            listener.kill()
        restart_and_settle(cli3, "n2", NODES)


def test_upload_and_download_stream_a_file_through_any_node(cli3, tmp_path):
    alice, a = signed_up(cli3, tmp_path, "alice")
    bob, b = signed_up(cli3, tmp_path, "bob", "n3")
    original = tmp_path / "clip.mp4"
    original.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    asset = alice.json("upload", str(original))[0]
    assert asset["size"] == original.stat().st_size and asset["content_type"] == "video/mp4"
    alice.run("send", b, "--kind", "video", "--attach", asset["asset_id"], "a clip")
    copy = tmp_path / "copy.mp4"
    saved = bob.json("download", asset["asset_id"], "-o", str(copy))[0]
    assert saved["size"] == original.stat().st_size and copy.read_bytes() == original.read_bytes()
    assert not (tmp_path / "copy.mp4.part").exists()
    stranger, _ = signed_up(cli3, tmp_path, "stranger", "n2")
    refused = stranger.run("download", asset["asset_id"], "-o", str(tmp_path / "nope"), check=False)
    assert refused.returncode == 1 and "not_found" in refused.stderr and not (tmp_path / "nope").exists()
