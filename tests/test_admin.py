"""Operator commands (`relaynode admin --config FILE VERB ...`, docs/OPERATIONS.md "Operator
commands") on a real 3-node cluster with R=2: the CLI reads the cluster config, uses its secret
as the operator's credential and calls the first node that answers."""
from __future__ import annotations

import json
import signal
import subprocess

import pytest

from relay import Cluster, error_code, poll, relaynode_binary, unique_user, ws_refused_status
from conftest import formed_cluster

NODES = ["n1", "n2", "n3"]


def admin(cluster_or_config, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    """Runs `relaynode admin --config FILE ARGS...`; returns the finished process (text)."""
    config = cluster_or_config.config_path if isinstance(cluster_or_config, Cluster) else cluster_or_config
    return subprocess.run([relaynode_binary(), "admin", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout_s)


def credit(cluster: Cluster, user: str, cents: int) -> dict:
    """Credits with exactly the documented form; returns the printed wallet."""
    done = admin(cluster, "credit", user, str(cents))
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def wallet(cluster: Cluster, nid: str, token: str) -> dict:
    status, body = cluster.client(nid).http("GET", "/v1/wallet", token=token)
    assert status == 200, (status, body)
    return body


@pytest.fixture(scope="module")
def admin3(tmp_path_factory):
    with formed_cluster(tmp_path_factory.mktemp("admin3"), NODES, replication=2) as cluster:
        yield cluster


def test_help_lists_the_verbs():
    done = subprocess.run([relaynode_binary(), "admin", "--help"], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    for verb in ("credit USER CENTS", "revoke-sessions USER", "moderation-log USER", "job OWNER LIST_ID CLIENT_ID"):
        assert verb in done.stdout, f"{verb!r} missing from:\n{done.stdout}"


def test_credit_adds_to_the_balance_through_any_node(admin3):
    user, token = admin3.client("n2").new_user("rich")
    assert credit(admin3, user, 1500)["balance_cents"] == 1500
    assert credit(admin3, user, 250)["balance_cents"] == 1750
    for nid in NODES:
        assert wallet(admin3, nid, token) == {"balance_cents": 1750, "received_cents": 0, "currency": "USD"}


def test_bad_commands_fail_with_a_message_and_change_nothing(admin3):
    user, token = admin3.client("n1").new_user("plain")
    for args, code in [(["credit", user, "-5"], 2), (["credit", user, "0"], 2), (["credit", user, "ten"], 2),
                       (["credit", user], 2), (["frobnicate", user], 2), (["revoke-sessions"], 2),
                       (["credit", unique_user("ghost"), "100"], 1), (["revoke-sessions", unique_user("ghost")], 1)]:
        done = admin(admin3, *args)
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        assert done.stderr.strip(), f"{args}: no message on stderr"
    assert wallet(admin3, "n1", token)["balance_cents"] == 0
    assert admin3.client("n1").http("GET", "/v1/wallet", token=token)[0] == 200, "the user's token still works"


def test_admin_endpoints_need_the_cluster_secret(admin3):
    user, token = admin3.client("n1").new_user("sneaky")
    c = admin3.client("n3")
    for path, body in [("/v1/admin/credit", {"user": user, "amount_cents": 100}),
                       (f"/v1/admin/users/{user}/revoke-sessions", None)]:
        for credential in (None, token, "not-the-secret"):
            r = c.request("POST", path, body=body, token=credential)
            assert r.status == 401 and error_code(r.json) == "unauthorized", (path, credential, r.status, r.json)
    assert wallet(admin3, "n1", token)["balance_cents"] == 0


def test_no_reachable_node_is_a_clear_failure(tmp_path):
    config = tmp_path / "dead.json"
    config.write_text(json.dumps({"cluster": "dead", "secret": "s", "nodes": [
        {"id": "d1", "client": "127.0.0.1:1", "peer": "127.0.0.1:2", "gossip": "127.0.0.1:3", "data": "x"}]}))
    done = admin(config, "credit", "someone", "5")
    assert done.returncode == 3, (done.returncode, done.stderr)
    assert "no node" in done.stderr and "127.0.0.1:1" in done.stderr


def test_revoke_sessions_ends_every_token_on_every_node(admin3):
    user, first = admin3.client("n1").new_user("leaver")
    second = admin3.client("n2").login(user, device="laptop")
    other, other_token = admin3.client("n1").new_user("stayer")
    with admin3.client("n3").ws(second) as ws:
        done = admin(admin3, "revoke-sessions", user)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert json.loads(done.stdout)["revoked"] == 2
        assert ws.expect_close() is not None, "the user's WebSocket on another node closes"
    for nid in NODES:
        for token in (first, second):
            r = admin3.client(nid).request("GET", "/v1/wallet", token=token)
            assert r.status == 401 and error_code(r.json) == "unauthorized", (nid, r.status, r.json)
        assert ws_refused_status(admin3, first, nid) == 401
        assert admin3.client(nid).http("GET", "/v1/wallet", token=other_token)[0] == 200, "other users keep their sessions"
    assert admin3.client("n2").login(user), "the user can log in again"


def test_the_cli_tries_the_next_node_when_the_first_is_down(admin3):
    """With n1 (the config's first node) killed, the CLI goes on to n2; a retry with the same
    --key after an unavailable answer credits once."""
    user, token = admin3.client("n2").new_user("failover")
    assert admin3.kill("n1", signal.SIGKILL) == -signal.SIGKILL
    try:
        for _ in poll(30.0, "a credit through n2 or n3 while n1 is down"):
            done = admin(admin3, "credit", user, "700", "--key", "topup-1", "--timeout-ms", "3000")
            if done.returncode == 0:
                break
            assert done.returncode == 1 and "503" in done.stderr, (done.returncode, done.stderr)
        assert json.loads(done.stdout)["balance_cents"] == 700
        again = admin(admin3, "credit", user, "700", "--key", "topup-1")
        assert again.returncode == 0 and json.loads(again.stdout)["balance_cents"] == 700, "the same key credits once"
    finally:
        admin3.start("n1")
    assert wallet(admin3, "n1", token)["balance_cents"] == 700


class FakeNode:
    """An HTTP server standing in for a node: records each request, answers `answers[path]`
    (status, JSON) or 200 with the path."""

    def __init__(self, answers: dict | None = None):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading
        self.requests: list[tuple[str, str, str | None, bytes]] = []
        self.answers = answers or {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append((self.command, self.path, self.headers.get("Authorization"), body))
                status, obj = fake.answers.get(self.path, (200, {"path": self.path}))
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = handle_any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_moderation_log_and_job_call_their_endpoints_with_the_secret(tmp_path):
    """The other verbs only call their endpoints and print the JSON: checked against stand-in
    nodes, the first of the config dead (the CLI goes on to the next), the third reached only
    when the second answers 503."""
    busy = FakeNode(answers={})
    fake = FakeNode(answers={"/v1/admin/users/ghost/moderation": (404, {"error": {"code": "not_found", "message": "no user"}}),
                             "/v1/admin/users/bob/moderation": (503, {"error": {"code": "unavailable", "message": "busy"}})})
    dead = socket_port_without_listener()
    config = tmp_path / "fake.json"
    config.write_text(json.dumps({"cluster": "fake", "secret": "op-secret", "nodes": [
        {"id": f"f{i}", "client": f"127.0.0.1:{port}", "peer": "127.0.0.1:1", "gossip": "127.0.0.1:1", "data": "x"}
        for i, port in enumerate([dead, fake.port, busy.port])]}))
    try:
        done = admin(config, "moderation-log", "alice")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"path": "/v1/admin/users/alice/moderation"}
        done = admin(config, "job", "alice", "l 1/x", "c-9")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"path": "/v1/admin/users/alice/lists/l%201%2Fx/messages/c-9"}
        done = admin(config, "moderation-log", "ghost")
        assert done.returncode == 1 and "404" in done.stderr and "no user" in done.stderr, (done.returncode, done.stderr)
        assert [(m, p, a) for m, p, a, _ in fake.requests] == [
            ("GET", "/v1/admin/users/alice/moderation", "Bearer op-secret"),
            ("GET", "/v1/admin/users/alice/lists/l%201%2Fx/messages/c-9", "Bearer op-secret"),
            ("GET", "/v1/admin/users/ghost/moderation", "Bearer op-secret")]
        assert busy.requests == [], "an answer from the second node ends the command"
        done = admin(config, "moderation-log", "bob")
        assert done.returncode == 0 and json.loads(done.stdout) == {"path": "/v1/admin/users/bob/moderation"}, done.stderr
        assert [p for _, p, _, _ in busy.requests] == ["/v1/admin/users/bob/moderation"], "a 503 goes on to the next node"
    finally:
        fake.stop()
        busy.stop()


def socket_port_without_listener() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
