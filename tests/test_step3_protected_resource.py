"""Step 3: resources that only an authenticated user can reach.

The JWT cases J1-J19 of the attack catalog run against GET /me (J16 and J17 also against
POST /refresh), each its own test. Every app here runs with TESTING off.
"""

import socket
import time

import jwt as pyjwt
import pytest
from server import flask_run, request
from tokens import ATTACKER_PUBLIC_KEY, b64url, bearer, claims_for, forge, unb64url

# These suites run on SQLite and again on PostgreSQL (see conftest.py).
DATABASES = ("sqlite", "postgresql")

pytestmark = pytest.mark.steps(3, 4)

INVALID = 'Bearer error="invalid_token"'


@pytest.fixture
def key(app):
    return app.config["JWT_SECRET_KEY"]


@pytest.fixture
def tokens(account):
    return account.login()


def assert_invalid(response, message="The token is invalid."):
    assert response.status_code == 401
    assert response.json == {"message": message}
    assert response.headers["WWW-Authenticate"] == INVALID


# --- Login, refresh, logout, /me ---------------------------------------------------------


def test_login_answers_an_access_and_a_refresh_token(key, tokens, account):
    access = pyjwt.decode(tokens["access_token"], key, algorithms=["HS256"])
    refresh = pyjwt.decode(tokens["refresh_token"], key, algorithms=["HS256"])
    assert access["type"] == "access" and refresh["type"] == "refresh"
    assert access["sub"] == refresh["sub"] == str(account.id)
    assert refresh["exp"] - refresh["iat"] == 24 * 60 * 60
    assert access["jti"] != refresh["jti"]


def test_me_answers_the_tokens_user(client, tokens, account):
    response = client.get("/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json == {"id": account.id, "username": "alice"}


def test_refresh_answers_a_new_access_token_that_works(client, key, tokens):
    response = client.post("/refresh", headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 200 and set(response.json) == {"access_token"}
    fresh = response.json["access_token"]
    assert pyjwt.decode(fresh, key, algorithms=["HS256"])["type"] == "access"
    assert client.get("/me", headers=bearer(fresh)).status_code == 200


def test_logout_revokes_the_access_token_it_is_called_with(client, tokens):
    response = client.post("/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204 and response.data == b""
    assert_invalid(client.get("/me", headers=bearer(tokens["access_token"])), "The token has been revoked.")
    # The refresh token is still good until it is logged out too.
    assert client.post("/refresh", headers=bearer(tokens["refresh_token"])).status_code == 200


def test_logout_with_the_refresh_token_revokes_it(client, tokens):
    assert client.post("/logout", headers=bearer(tokens["refresh_token"])).status_code == 204
    assert_invalid(
        client.post("/refresh", headers=bearer(tokens["refresh_token"])), "The token has been revoked."
    )
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_logout_twice_with_one_token_answers_401_the_second_time(client, tokens):
    assert client.post("/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert_invalid(
        client.post("/logout", headers=bearer(tokens["access_token"])), "The token has been revoked."
    )


def test_logout_without_a_token_answers_401(client):
    response = client.post("/logout")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_whose_jti_is_in_the_blocklist_answers_401(app, client, tokens, step_package):
    """The blocklist on its own: revoke by hand, as another process's logout would."""
    models = step_package.models
    claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    with app.app_context():
        models.db.session.add(models.RevokedToken(jti=claims["jti"], expires_at=claims["exp"]))
        models.db.session.commit()
    assert_invalid(client.get("/me", headers=bearer(tokens["access_token"])), "The token has been revoked.")


def test_a_token_without_a_jti_counts_as_revoked(client, account, key):
    """A token that cannot be revoked is not accepted (only a forger holding the key makes one)."""
    token = forge(claims_for(account.id, jti=None), key)
    assert_invalid(client.get("/me", headers=bearer(token)), "The token has been revoked.")


def test_revoked_tokens_are_kept_until_they_expire_then_pruned(app, client, tokens, step_package):
    models = step_package.models
    with app.app_context():
        models.db.session.add(models.RevokedToken(jti="long-expired", expires_at=int(time.time()) - 1))
        models.db.session.commit()
    client.post("/logout", headers=bearer(tokens["access_token"]))
    with app.app_context():
        kept = models.db.session.scalars(models.db.select(models.RevokedToken)).all()
        access_claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert [(row.jti, row.expires_at) for row in kept] == [(access_claims["jti"], access_claims["exp"])]


# --- J1-J19 against GET /me --------------------------------------------------------------


def test_j1_no_authorization_header(client):
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json == {"message": "Missing Authorization Header"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Basic abc", "bearer abc", "Token abc"])
def test_j2_wrong_scheme(client, header):
    response = client.get("/me", headers={"Authorization": header})
    assert response.status_code == 401 and set(response.json) == {"message"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer a b", "Bearer", "Bearer ", ", ,", "Bearer x, ,"])
def test_j2_extra_or_missing_parts(client, header):
    assert_invalid(client.get("/me", headers={"Authorization": header}))


@pytest.mark.parametrize("token", ["abc", "null", "a" * 10_240, "a.b.c", "...", "e30.e30.e30"])
def test_j3_garbage_token(client, token):
    assert_invalid(client.get("/me", headers=bearer(token)))


def test_j4_broken_signature(client, tokens):
    token = tokens["access_token"]
    flipped = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for broken in (token[:-4], flipped, token.rsplit(".", 1)[0]):
        assert_invalid(client.get("/me", headers=bearer(broken)))


def test_j5_payload_tampered_signature_kept(client, tokens, make_account):
    mallory = make_account("mallory")
    header, payload, signature = tokens["access_token"].split(".")
    claims = unb64url(payload) | {"sub": str(mallory.id)}
    assert_invalid(client.get("/me", headers=bearer(f"{header}.{b64url(claims)}.{signature}")))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_j6_alg_none(client, account, alg):
    token = forge(claims_for(account.id), key="", header={"alg": alg, "typ": "JWT"}, signature="")
    assert_invalid(client.get("/me", headers=bearer(token)))


def test_j7_null_signature(client, account):
    token = forge(claims_for(account.id), key="", signature="")
    assert_invalid(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("wrong_key", ["", "secret", "k" * 32], ids=["blank", "secret", "another-32-bytes"])
def test_j8_blank_or_wrong_key(client, account, wrong_key):
    assert_invalid(client.get("/me", headers=bearer(forge(claims_for(account.id), wrong_key))))


@pytest.mark.parametrize("kid", ["../../dev/null", "x' UNION SELECT '1';--", "/proc/self/environ"])
def test_j9_kid_injection_is_rejected_fast(client, account, kid):
    token = forge(claims_for(account.id), "1", header={"alg": "HS256", "typ": "JWT", "kid": kid})
    start = time.perf_counter()
    response = client.get("/me", headers=bearer(token))
    assert time.perf_counter() - start < 0.5
    assert_invalid(response)


@pytest.mark.parametrize(
    "extra",
    [
        {"jwk": {"kty": "oct", "k": b64url(b"attacker-key-attacker-key-attack")}},
        {"jku": "http://203.0.113.7/jwks.json"},
        {"x5u": "http://203.0.113.7/cert.pem"},
    ],
    ids=["jwk", "jku", "x5u"],
)
def test_j10_embedded_key_or_key_url_is_ignored_and_never_fetched(client, account, monkeypatch, extra):
    connections = []
    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: connections.append(address))
    token = forge(
        claims_for(account.id), "attacker-key-attacker-key-attack", header={"alg": "HS256", **extra}
    )
    assert_invalid(client.get("/me", headers=bearer(token)))
    assert connections == []


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "HS512"])
def test_j11_another_algorithm_is_rejected(client, account, alg):
    token = forge(claims_for(account.id), "", header={"alg": alg, "typ": "JWT"}, signature=b64url(b"x" * 64))
    assert_invalid(client.get("/me", headers=bearer(token)))


def test_j11_hs256_signed_with_a_public_key(client, account):
    assert_invalid(client.get("/me", headers=bearer(forge(claims_for(account.id), ATTACKER_PUBLIC_KEY))))


def test_j12_expired(client, account, key):
    token = forge(claims_for(account.id, lifetime=-1), key)
    assert_invalid(client.get("/me", headers=bearer(token)), "The token has expired.")


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_j13_not_yet_valid(client, account, key, claim):
    token = forge(claims_for(account.id, **{claim: int(time.time()) + 3600}), key)
    assert_invalid(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize(
    "changes",
    [{"exp": "abc"}, {"iat": "yesterday"}, {"sub": 123}, {"sub": None}, {"sub": ["1"]}],
    ids=["exp-string", "iat-string", "sub-int", "sub-missing", "sub-list"],
)
def test_j14_wrong_claim_types(client, account, key, changes):
    claims = claims_for(account.id, **changes)
    if "sub" in changes and changes["sub"] is None:
        assert "sub" not in claims
    assert_invalid(client.get("/me", headers=bearer(forge(claims, key))))


def test_j15_unknown_critical_header(client, account, key):
    token = forge(claims_for(account.id), key, header={"alg": "HS256", "typ": "JWT", "crit": ["x"], "x": 1})
    assert_invalid(client.get("/me", headers=bearer(token)))


def test_j16_refresh_token_on_me(client, tokens):
    assert_invalid(client.get("/me", headers=bearer(tokens["refresh_token"])))


def test_j16_access_token_on_refresh(client, tokens):
    assert_invalid(client.post("/refresh", headers=bearer(tokens["access_token"])))


def test_j17_revoked_tokens_replayed_after_logout(client, tokens):
    for token in tokens.values():
        assert client.post("/logout", headers=bearer(token)).status_code == 204
    assert_invalid(client.get("/me", headers=bearer(tokens["access_token"])), "The token has been revoked.")
    assert_invalid(
        client.post("/refresh", headers=bearer(tokens["refresh_token"])), "The token has been revoked."
    )


def test_j18_deleted_user(app, client, tokens, account, step_package):
    models = step_package.models
    with app.app_context():
        models.db.session.delete(models.db.session.get(models.User, account.id))
        models.db.session.commit()
    assert_invalid(
        client.get("/me", headers=bearer(tokens["access_token"])), "The token's user no longer exists."
    )
    assert_invalid(
        client.post("/refresh", headers=bearer(tokens["refresh_token"])), "The token's user no longer exists."
    )


@pytest.mark.parametrize("name", ["jwt", "access_token", "token"])
def test_j19_token_in_the_url_is_not_read(client, tokens, name):
    response = client.get(f"/me?{name}={tokens['access_token']}")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_a_valid_forged_token_with_the_real_key_passes(client, account, key):
    """The control for the cases above: the same builder, the right key, is accepted."""
    response = client.get("/me", headers=bearer(forge(claims_for(account.id), key)))
    assert response.status_code == 200 and response.json["id"] == account.id


# --- The to-dos ----------------------------------------------------------------------------


@pytest.fixture
def alice(account):
    return account.bearer()


def test_todos_need_a_token(client):
    for method, path in [
        ("get", "/todos"),
        ("post", "/todos"),
        ("get", "/todos/1"),
        ("put", "/todos/1"),
        ("delete", "/todos/1"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_todo_lifecycle(client, alice):
    assert client.get("/todos", headers=alice).json == []
    created = client.post("/todos", json={"title": "write tests"}, headers=alice)
    assert created.status_code == 201
    todo = created.json
    assert todo == {"id": todo["id"], "title": "write tests", "done": False}
    assert client.get("/todos", headers=alice).json == [todo]
    assert client.get(f"/todos/{todo['id']}", headers=alice).json == todo

    done = client.put(f"/todos/{todo['id']}", json={"done": True}, headers=alice)
    assert done.status_code == 200 and done.json == {**todo, "done": True}
    renamed = client.put(
        f"/todos/{todo['id']}", json={"title": "write more tests", "done": False}, headers=alice
    )
    assert renamed.json == {**todo, "title": "write more tests"}

    deleted = client.delete(f"/todos/{todo['id']}", headers=alice)
    assert deleted.status_code == 204 and deleted.data == b""
    assert client.get(f"/todos/{todo['id']}", headers=alice).status_code == 404
    assert client.get("/todos", headers=alice).json == []


def test_another_users_todo_answers_exactly_like_a_missing_one(client, alice, make_account):
    bob = make_account("bob").bearer()
    todo_id = client.post("/todos", json={"title": "alice's"}, headers=alice).json["id"]
    missing_id = todo_id + 1000
    for method, body in [("get", None), ("put", {"done": True}), ("delete", None)]:
        theirs = getattr(client, method)(f"/todos/{todo_id}", json=body, headers=bob)
        missing = getattr(client, method)(f"/todos/{missing_id}", json=body, headers=bob)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json == missing.json == {"message": "No such to-do."}
    assert client.get("/todos", headers=bob).json == []
    assert client.get(f"/todos/{todo_id}", headers=alice).json["done"] is False


@pytest.mark.parametrize("path", ["/todos/abc", "/todos/-1", "/todos/99999999999999999999999", "/todos/1.5"])
def test_a_todo_id_that_is_not_a_small_whole_number_answers_404(client, alice, path):
    response = client.get(path, headers=alice)
    assert response.status_code == 404 and set(response.json) == {"message"}


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "'title' is required and must be a string."),
        ({"title": ""}, "'title' must be 1 to 200 characters, not only spaces."),
        ({"title": "   "}, "'title' must be 1 to 200 characters, not only spaces."),
        ({"title": "t" * 201}, "'title' must be 1 to 200 characters, not only spaces."),
        ({"title": 5}, "'title' is required and must be a string."),
        ({"title": "ok", "done": True}, "Unknown field: a new to-do has only a 'title'; it starts not done."),
        ({"title": "ok", "owner": 2}, "Unknown field: a new to-do has only a 'title'; it starts not done."),
        ([], "The body must be a JSON object, sent with Content-Type: application/json."),
    ],
)
def test_create_todo_bad_input_answers_400_and_stores_nothing(client, alice, body, message):
    response = client.post("/todos", json=body, headers=alice)
    assert response.status_code == 400 and response.json == {"message": message}
    assert client.get("/todos", headers=alice).json == []


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "Send 'title', 'done' or both."),
        ({"done": 1}, "'done' must be true or false."),
        ({"title": None}, "'title' is required and must be a string."),
        ({"title": ""}, "'title' must be 1 to 200 characters, not only spaces."),
        ({"id": 7}, "Unknown field: a to-do has only 'title' and 'done'."),
    ],
)
def test_update_todo_bad_input_answers_400_and_changes_nothing(client, alice, body, message):
    todo = client.post("/todos", json={"title": "keep me"}, headers=alice).json
    response = client.put(f"/todos/{todo['id']}", json=body, headers=alice)
    assert response.status_code == 400 and response.json == {"message": message}
    assert client.get(f"/todos/{todo['id']}", headers=alice).json == todo


def test_todo_titles_keep_unicode(client, alice):
    todo = client.post("/todos", json={"title": "세션 정리 ✓"}, headers=alice).json
    assert client.get(f"/todos/{todo['id']}", headers=alice).json["title"] == "세션 정리 ✓"


@pytest.mark.server
@pytest.mark.steps(3)
def test_flask_run_login_me_todos_logout_over_http(step_dir, keys, tmp_path):
    env = {**keys, "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}"}
    credentials = {"username": "carol", "password": "correct horse battery"}
    with flask_run(step_dir, env=env) as base:
        assert request("POST", base + "/register", credentials).status == 201
        tokens = request("POST", base + "/login", credentials).json
        auth = bearer(tokens["access_token"])
        me = request("GET", base + "/me", headers=auth)
        assert me.status == 200 and me.json["username"] == "carol"
        created = request("POST", base + "/todos", {"title": "over HTTP"}, headers=auth)
        assert created.status == 201
        assert request("GET", base + "/todos", headers=auth).json == [created.json]
        assert request("POST", base + "/logout", headers=auth).status == 204
        after = request("GET", base + "/me", headers=auth)
        assert after.status == 401 and after.json == {"message": "The token has been revoked."}
        assert after.headers["WWW-Authenticate"] == INVALID
