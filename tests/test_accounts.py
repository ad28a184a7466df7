"""Accounts and tokens: PROTOCOL.md "HTTP" (signup, login, logout) and "Conventions"
(authentication), PROTOCOL-NOTES.md "Accounts and tokens"."""
import re
import time

import pytest

from relay import PASSWORD, error_code, unique_user, ws_refused_status

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}\.(.+)$")
THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000


def assert_token_answer(body, user):
    assert set(body) >= {"user", "token", "expires_at"}, body
    assert body["user"] == user
    m = TOKEN_RE.match(body["token"])
    assert m and m.group(1) == user, f"token shape: {body['token']}"
    now_ms = time.time() * 1000
    assert isinstance(body["expires_at"], int)
    # Tokens live 30 days (PROTOCOL-NOTES); allow a minute of clock skew either way.
    assert abs(body["expires_at"] - (now_ms + THIRTY_DAYS_MS)) < 60_000, body["expires_at"]


def test_signup_answers_201_with_user_token_and_expiry(client):
    user = unique_user("new")
    status, body = client.http("POST", "/v1/signup", {"user": user, "password": PASSWORD, "display_name": "New One"})
    assert status == 201, body
    assert_token_answer(body, user)
    # The token works at once.
    status, convs = client.http("GET", "/v1/conversations", token=body["token"])
    assert status == 200 and convs == {"conversations": []}


def test_signup_of_a_taken_user_is_409_conflict(client):
    user, _ = client.signup(unique_user("dup"))
    status, body = client.http("POST", "/v1/signup", {"user": user, "password": "another password"})
    assert status == 409 and error_code(body) == "conflict", body
    # The first account's password still works: the failed signup changed nothing.
    client.login(user)


@pytest.mark.parametrize("user", [
    "ab",                       # too short (3..32)
    "a" * 33,                   # too long
    "Alice",                    # uppercase
    "al ice",                   # space
    "al/ice",                   # slash
    "alicé",                    # non-ASCII
    "",                         # empty
])
def test_signup_with_an_invalid_user_id_is_400(client, user):
    status, body = client.http("POST", "/v1/signup", {"user": user, "password": PASSWORD})
    assert status == 400 and error_code(body) == "bad_request", (user, status, body)


def test_signup_accepts_ids_at_the_bounds_and_every_allowed_character(client):
    three = "q-1"                                   # 3 characters (one run per node: fresh data dir)
    thirty_two = (unique_user("l") + "z" * 32)[:32]
    punctuated = "a.b-c_9" + unique_user("")        # every allowed character class
    for user in (three, thirty_two, punctuated):
        status, body = client.http("POST", "/v1/signup", {"user": user, "password": PASSWORD})
        assert status == 201, (user, status, body)
        assert body["user"] == user


def test_signup_with_a_password_under_8_characters_is_400(client):
    status, body = client.http("POST", "/v1/signup", {"user": unique_user(), "password": "1234567"})
    assert status == 400 and error_code(body) == "bad_request", body


@pytest.mark.parametrize("body", [{"password": PASSWORD}, {"user": "someone_x"}, {}])
def test_signup_with_missing_fields_is_400(client, body):
    status, answer = client.http("POST", "/v1/signup", body)
    assert status == 400 and error_code(answer) == "bad_request", answer


@pytest.mark.parametrize("raw", [b"user=alice&password=x", b"{", b"", b"[]", b'"alice"',
                                 b'{"user": 5, "password": "correct horse"}'])
def test_signup_with_a_body_that_is_not_a_json_object_of_strings_is_400(client, raw):
    r = client.request("POST", "/v1/signup", raw=raw, headers={"Content-Type": "application/json"})
    assert r.status == 400 and error_code(r.json) == "bad_request", (raw, r.status, r.raw)


def test_login_answers_200_with_a_new_token(client):
    user, first = client.signup(unique_user("login"))
    status, body = client.http("POST", "/v1/login", {"user": user, "password": PASSWORD, "device": "phone"})
    assert status == 200, body
    assert_token_answer(body, user)
    assert body["token"] != first, "each login makes a new token"
    # Both tokens work.
    for token in (first, body["token"]):
        assert client.http("GET", "/v1/conversations", token=token)[0] == 200


def test_login_with_a_wrong_password_is_401(client):
    user, _ = client.signup(unique_user("wrong"))
    status, body = client.http("POST", "/v1/login", {"user": user, "password": "not the password"})
    assert status == 401 and error_code(body) == "unauthorized", body


def test_login_of_an_unknown_user_is_the_same_401(client):
    status, body = client.http("POST", "/v1/login", {"user": unique_user("ghost"), "password": PASSWORD})
    assert status == 401 and error_code(body) == "unauthorized", body


def test_logout_is_204_and_the_token_then_gets_401_on_http_and_websocket(client):
    user, token = client.signup(unique_user("out"))
    other = client.login(user)
    r = client.request("POST", "/v1/logout", token=token)
    assert r.status == 204, (r.status, r.raw)
    assert r.raw == b""
    status, body = client.http("GET", "/v1/conversations", token=token)
    assert status == 401 and error_code(body) == "unauthorized", body
    assert client.http("POST", "/v1/logout", token=token)[0] == 401
    assert ws_refused_status(client.cluster, token) == 401
    # Logout revokes only the token it is called with.
    assert client.http("GET", "/v1/conversations", token=other)[0] == 200


def test_logout_closes_that_tokens_open_websocket_with_4001(client):
    user, token = client.signup(unique_user("wsout"))
    other = client.login(user)
    with client.ws(token) as doomed, client.ws(other) as survivor:
        assert client.request("POST", "/v1/logout", token=token).status == 204
        assert doomed.expect_close() == 4001
        # Only the revoked token's sockets close.
        survivor.ping_pong()


FORGED = "A" * 32 + ".{user}"


def protected_endpoints(conv):
    return [
        ("POST", "/v1/logout", None),
        ("POST", "/v1/messages", {"client_id": "c1", "to": "someone", "kind": "text", "body": "x"}),
        ("GET", "/v1/conversations", None),
        ("GET", f"/v1/conversations/{conv}/messages", None),
        ("POST", f"/v1/conversations/{conv}/receipts", {"read": 1}),
    ]


@pytest.mark.parametrize("kind", ["missing", "garbage", "forged", "wrong_scheme", "empty_bearer"])
def test_every_endpoint_refuses_a_missing_or_bad_token_with_401(client, pair, kind):
    (a, ta), (b, tb), conv = pair
    client.send(ta, to=b)
    token_header = {
        "missing": None,
        "garbage": "Bearer not-a-token",
        "forged": "Bearer " + FORGED.format(user=a),
        "wrong_scheme": f"Basic {ta}",
        "empty_bearer": "Bearer ",
    }[kind]
    for method, path, body in protected_endpoints(conv):
        headers = {"Authorization": token_header} if token_header is not None else {}
        r = client.request(method, path, body=body, headers=headers)
        assert r.status == 401 and error_code(r.json) == "unauthorized", (kind, method, path, r.status, r.raw)
    ws_token = {"missing": None, "garbage": "not-a-token", "forged": FORGED.format(user=a),
                "wrong_scheme": "", "empty_bearer": ""}[kind]
    assert ws_refused_status(client.cluster, ws_token) == 401
    # Nothing was sent in alice's name: the conversation still holds one message.
    assert client.history(ta, conv)[1]["messages"][-1]["seq"] == 1


def test_a_token_of_one_user_with_another_users_id_is_401(client, pair):
    (a, ta), (b, tb), conv = pair
    secret_part = ta.split(".")[0]
    status, body = client.http("GET", "/v1/conversations", token=f"{secret_part}.{b}")
    assert status == 401, body


@pytest.mark.parametrize("extra", [{"display_name": "x" * 65}, {"password": "p" * 257}, {"display_name": 7}])
def test_signup_over_the_documented_bounds_is_400(client, extra):
    req = {"user": unique_user("bounds"), "password": PASSWORD, **extra}
    status, body = client.http("POST", "/v1/signup", req)
    assert status == 400 and error_code(body) == "bad_request", (extra, body)
    # Nothing was created: the same id can still sign up.
    client.signup(req["user"])


def test_signup_at_the_documented_bounds_is_accepted(client):
    user, _ = client.signup(unique_user("edge"), password="p" * 8, display_name="é" * 32)  # 64 bytes
    client.login(user, password="p" * 8)
    user, _ = client.signup(unique_user("edge"), password="p" * 256)
    client.login(user, password="p" * 256)


def test_a_refused_signup_leaves_the_user_id_free(client):
    user = unique_user("free")
    status, _ = client.http("POST", "/v1/signup", {"user": user, "password": "p" * 600})
    assert status != 201
    assert status == 400, status
    # The refused request was not applied.
    client.signup(user)


@pytest.mark.parametrize("device", ["", "d" * 65, "line\nbreak", "tab\there"])
def test_an_invalid_device_name_is_refused(client, device):
    user, token = client.new_user("devbad")
    status, body = client.http("POST", "/v1/login", {"user": user, "password": PASSWORD, "device": device})
    assert status == 400 and error_code(body) == "bad_request", (device, body)
    if device and "\n" not in device and "\t" not in device:
        assert ws_refused_status(client.cluster, f"{token}&device={device}") == 400


def test_wrong_password_and_unknown_user_take_the_same_hashing_work(client):
    user, _ = client.new_user("timing")

    def median_login_s(name):
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            status, _ = client.http("POST", "/v1/login", {"user": name, "password": "not the password"})
            times.append(time.monotonic() - t0)
            assert status == 401
        return sorted(times)[2]

    wrong, unknown = median_login_s(user), median_login_s(unique_user("nobody"))
    # A server that skips hashing for unknown users answers them many times faster.
    assert unknown > wrong / 3, f"unknown user {unknown * 1000:.1f} ms vs wrong password {wrong * 1000:.1f} ms"
