"""Password guessing and NUL in passwords (issue 8): docs/OPERATIONS.md "Login throttling",
PROTOCOL-NOTES.md "Accounts and tokens".

The throttle counts by the TCP peer's address. Every test here speaks from addresses of its
own in 127.0.0.0/8 (loopback answers on all of it), so the node sees distinct clients and the
budget of 127.0.0.1, which the other test modules share, is never touched."""
from __future__ import annotations

import http.client
import itertools
import json
import random
import re
import time

from relay import PASSWORD, error_code, unique_user

NUL_MESSAGE = "passwords cannot contain the NUL character (U+0000)"
# The defaults (LoginThrottle.Settings) the tests rely on.
FREE_FAILURES_PER_PAIR = 5
ADDRESS_BUDGET = 30
ADDRESS_INTERVAL_MS = 10 * 60_000 // ADDRESS_BUDGET   # one failure frees up every 20 s
ACCOUNT_BUDGET = 100
ACCOUNT_INTERVAL_MS = 3_600_000 // ACCOUNT_BUDGET     # one failure frees up every 36 s

_second_octet = random.randrange(16, 240)
_addresses = itertools.count(1)


def fresh_address() -> str:
    """A loopback address no other test of this run has used."""
    n = next(_addresses)
    return f"127.{_second_octet}.{n // 250}.{n % 250 + 1}"


def post_from(cluster, source: str, path: str, body, nid: str = "n1"):
    """POST a JSON body from `source` (bound before connecting): (status, json, headers)."""
    host, port = cluster.addr(nid)
    conn = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        headers = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    return r.status, (json.loads(data) if data else None), headers


def login_from(cluster, source: str, user: str, password: str):
    return post_from(cluster, source, "/v1/login", {"user": user, "password": password})


def assert_rate_limited(status, body, headers, max_retry_ms: int | None = None) -> int:
    assert status == 429 and error_code(body) == "rate_limited", (status, body)
    retry = body["error"].get("retry_after_ms")
    assert isinstance(retry, int) and retry > 0, body
    if max_retry_ms is not None:
        assert retry <= max_retry_ms, body
    assert headers.get("retry-after") == str((retry + 999) // 1000), headers
    return retry


def metric(client, name: str, **labels) -> float:
    text = client.request("GET", "/metrics").raw.decode()
    want = ",".join([f'node="{client.nid}"'] + [f'{k}="{v}"' for k, v in labels.items()])
    m = re.search(rf"^relay_{name}\{{{re.escape(want)}\}} (\S+)$", text, re.M)
    assert m, f"relay_{name}{{{want}}} not in /metrics"
    return float(m.group(1))


# -- NUL


def test_signup_with_a_nul_in_the_password_is_400_with_the_documented_message(client):
    user = unique_user("nul")
    for password in ["password\u0000secret", "\u0000abcdefg"]:
        status, body = client.http("POST", "/v1/signup", {"user": user, "password": password})
        assert status == 400 and error_code(body) == "bad_request", body
        assert body["error"]["message"] == NUL_MESSAGE, body
    client.signup(user)  # nothing was created


def test_login_with_a_nul_in_the_password_is_400_and_never_a_login(client):
    user, _ = client.signup(unique_user("nul"))
    source = fresh_address()
    for password in [PASSWORD + "\u0000", PASSWORD + "\u0000anything", "\u0000abcdefg"]:
        status, body, _ = login_from(client.cluster, source, user, password)
        assert status == 400 and error_code(body) == "bad_request", (password, body)
        assert body["error"]["message"] == NUL_MESSAGE, body
    status, body, _ = login_from(client.cluster, source, user, PASSWORD)
    assert status == 200, body


# -- the pair rule


def test_failed_logins_then_429_with_retry_after_even_for_the_right_password(client):
    user, _ = client.signup(unique_user("guess"))
    attacker = fresh_address()
    failures_before = metric(client, "login_failures_total")
    throttled_before = metric(client, "login_throttled_total", rule="pair")
    for _ in range(FREE_FAILURES_PER_PAIR + 1):
        status, body, _ = login_from(client.cluster, attacker, user, "not the password")
        assert status == 401 and error_code(body) == "unauthorized", body
    status, body, headers = login_from(client.cluster, attacker, user, "still not it")
    assert_rate_limited(status, body, headers, max_retry_ms=1_000)
    # The point of the finding: the right password is refused too while the wait lasts.
    status, body, headers = login_from(client.cluster, attacker, user, PASSWORD)
    retry = assert_rate_limited(status, body, headers, max_retry_ms=1_000)
    assert metric(client, "login_failures_total") >= failures_before + FREE_FAILURES_PER_PAIR + 1
    assert metric(client, "login_throttled_total", rule="pair") >= throttled_before + 2
    # The account is not locked: another address logs in at once.
    status, body, _ = login_from(client.cluster, fresh_address(), user, PASSWORD)
    assert status == 200, body
    # And after the wait, this address too.
    time.sleep(retry / 1000 + 0.05)
    status, body, _ = login_from(client.cluster, attacker, user, PASSWORD)
    assert status == 200, body


def test_successful_logins_are_never_throttled(client):
    user, _ = client.signup(unique_user("often"))
    source = fresh_address()
    for _ in range(3 * ADDRESS_BUDGET // 2):
        status, body, _ = login_from(client.cluster, source, user, PASSWORD)
        assert status == 200, body


# -- the address rule


def test_other_accounts_from_one_address_are_checked_until_its_budget_then_429(client):
    regular, _ = client.signup(unique_user("regular"))
    newcomer, _ = client.signup(unique_user("newcomer"))
    sprayer = fresh_address()
    # A user who logged in from this address before the spray.
    status, body, _ = login_from(client.cluster, sprayer, regular, PASSWORD)
    assert status == 200, body
    before = metric(client, "login_throttled_total", rule="address")
    for i in range(ADDRESS_BUDGET):
        status, body, _ = login_from(client.cluster, sprayer, unique_user(f"spray{i}"), PASSWORD)
        assert status == 401, (i, body)
    status, body, headers = login_from(client.cluster, sprayer, newcomer, PASSWORD)
    retry = assert_rate_limited(status, body, headers, max_retry_ms=ADDRESS_INTERVAL_MS)
    assert retry > 1_000, f"a {retry} ms wait is the pair rule's, not the address budget's"
    assert metric(client, "login_throttled_total", rule="address") >= before + 1
    # The regular user of that address is not locked out by the spray ...
    status, body, _ = login_from(client.cluster, sprayer, regular, PASSWORD)
    assert status == 200, body
    # ... and the newcomer logs in from anywhere else.
    status, body, _ = login_from(client.cluster, fresh_address(), newcomer, PASSWORD)
    assert status == 200, body


# -- the account rule


def test_guessing_one_account_from_many_addresses_keeps_the_users_own_address_open(client):
    user, _ = client.signup(unique_user("target"))
    home = fresh_address()
    status, body, _ = login_from(client.cluster, home, user, PASSWORD)
    assert status == 200, body
    # A distributed guess: each address stays within its free failures and its budget.
    bots = [fresh_address() for _ in range(ACCOUNT_BUDGET // FREE_FAILURES_PER_PAIR)]
    for bot in bots:
        for _ in range(FREE_FAILURES_PER_PAIR):
            status, body, _ = login_from(client.cluster, bot, user, "guess guess")
            assert status == 401, (bot, body)
    # The account's budget is spent: a new address waits, even with the right password ...
    status, body, headers = login_from(client.cluster, fresh_address(), user, PASSWORD)
    retry = assert_rate_limited(status, body, headers, max_retry_ms=ACCOUNT_INTERVAL_MS)
    assert retry > 1_000, body
    # ... but the user's own address, where they logged in before, still works.
    status, body, _ = login_from(client.cluster, home, user, PASSWORD)
    assert status == 200, body
    # Other accounts are not affected from those addresses.
    other, _ = client.signup(unique_user("other"))
    status, body, _ = login_from(client.cluster, bots[0], other, PASSWORD)
    assert status == 200, body
