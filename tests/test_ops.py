"""Operational endpoints and cross-origin support: PROTOCOL.md "HTTP" (`/healthz`, `/metrics`,
`/v1/cluster`), PROTOCOL-NOTES.md "HTTP" (CORS)."""
import re

import pytest

# Prometheus text exposition format 0.0.4: comments, and `name{labels} value [timestamp]`.
SAMPLE_RE = re.compile(r'^(?P<key>[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})?) '
                       r'(?P<value>-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$')
COMMENT_RE = re.compile(r"^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* "
                        r"(counter|gauge|histogram|summary|untyped))$")


def test_healthz_answers_200_without_a_token(client):
    r = client.request("GET", "/healthz")
    assert r.status == 200, r.raw


def parse_metrics(text):
    samples = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            assert COMMENT_RE.match(line) or not line.startswith(("# HELP", "# TYPE")), line
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        samples[m.group("key")] = float(m.group("value"))
    return samples


def test_metrics_is_prometheus_text_and_counts_traffic(client):
    r = client.request("GET", "/metrics")
    assert r.status == 200
    assert (r.header("content-type") or "").startswith("text/plain"), r.headers
    before = parse_metrics(r.raw.decode())
    assert before, "no samples"
    assert any(line.startswith("# TYPE ") for line in r.raw.decode().splitlines())
    user, token = client.new_user("metrics")
    with client.ws(token) as ws:
        ws.ping_pong()
    client.request("GET", "/v1/nope")
    after = parse_metrics(client.request("GET", "/metrics").raw.decode())
    changed = [k for k in before if k in after and after[k] != before[k]]
    assert changed, "no sample moved after HTTP and WebSocket traffic"


def test_cluster_lists_the_members_with_state_and_ownership(client):
    status, body = client.http("GET", "/v1/cluster")
    assert status == 200, body
    members = body["members"]
    assert isinstance(members, list) and len(members) == 1, body
    (me,) = members
    assert me["id"] == "n1" and isinstance(me["state"], str), me
    ownership = {k: v for k, v in me.items() if ("shard" in k or "own" in k) and isinstance(v, (int, float, list))}
    assert ownership, f"no ring ownership in {me}"
    # One node of 16 shards with replication 1 owns them all.
    assert 16 in ownership.values() or any(isinstance(v, list) and len(v) == 16 for v in ownership.values()), me


@pytest.mark.parametrize("method, path, token", [("GET", "/healthz", False), ("POST", "/v1/login", False),
                                                 ("GET", "/v1/conversations", True), ("GET", "/v1/nope", False),
                                                 ("GET", "/v1/conversations", False)])
def test_every_answer_allows_any_origin(client, method, path, token):
    tok = client.new_user("cors")[1] if token else None
    r = client.request(method, path, token=tok, raw=b"{}" if method == "POST" else None,
                       headers={"Origin": "https://web.example"})
    assert r.header("access-control-allow-origin") == "*", (r.status, r.headers)


def test_options_preflight_is_answered(client):
    r = client.request("OPTIONS", "/v1/messages", headers={
        "Origin": "https://web.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert 200 <= r.status < 300, (r.status, r.raw)
    assert r.header("access-control-allow-origin") == "*"
    methods = (r.header("access-control-allow-methods") or "").upper()
    assert "POST" in methods, r.headers
    allowed = (r.header("access-control-allow-headers") or "").lower()
    assert "authorization" in allowed and "content-type" in allowed, r.headers
