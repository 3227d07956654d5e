"""Step 3: resources that only an authenticated user can reach.

The JWT cases J1-J19 of the attack catalog run against GET /me (J16 and J17 also against
POST /refresh), each its own test. Every app here runs with TESTING off.
"""

import importlib
import socket
import time

import flask_restful
import jwt as pyjwt
import pytest
import redis
from probes import JwtProbe
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
    assert response.status_code == 200 and set(response.json) == {"access_token", "refresh_token"}
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
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 200
    # Sent again, a revoked refresh token ends its whole login (rotation, RFC 9700 §4.14.2).
    assert_invalid(
        client.post("/refresh", headers=bearer(tokens["refresh_token"])), "The token has been revoked."
    )


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


# --- E3: token errors reach the client as 401 under Flask-RESTful ------------------------


@pytest.mark.parametrize(
    "api_class, expected",
    [
        pytest.param(flask_restful.Api, 500, id="plain-flask-restful-answers-500"),
        pytest.param(None, 401, id="the-steps-api-answers-401"),
    ],
)
def test_token_errors_reach_the_client_as_401_with_testing_off(make_app, step_package, api_class, expected):
    """Post mistake E3, reproduced and fixed: a protected Resource, called without a token.
    Step 3 is where a Resource first uses Flask-JWT-Extended's decorators, so the step's own
    Api class (app.py) arrives here."""
    app = make_app()
    assert not app.testing and not app.debug
    api = (api_class or step_package.app.Api)(app)

    api.add_resource(JwtProbe, "/probe")
    response = app.test_client().get("/probe")
    assert response.status_code == expected
    assert set(response.json) == {"message"}


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


# --- Where the revoked tokens live (TOKEN_BLOCKLIST) ------------------------------------------


def step_models(app):
    return importlib.import_module(app.import_name.rsplit(".", 1)[0]).models


def revoked_rows(app):
    models = step_models(app)
    with app.app_context():
        return models.db.session.query(models.RevokedToken).count()


def test_the_redis_blocklist_holds_a_logout_until_the_token_expires(make_app, redis_url, step):
    """REDIS_URL set and TOKEN_BLOCKLIST unset: the logged-out tokens live in Redis, shared by
    every process, and each key expires with its token."""
    from accounts import Account

    app = make_app(REDIS_URL=redis_url)
    assert app.config["TOKEN_BLOCKLIST"] == "redis"
    client = app.test_client()
    tokens = Account(client, step).login()
    assert client.post("/logout", headers=bearer(tokens["access_token"])).status_code == 204
    with redis.Redis.from_url(redis_url) as store:
        [key] = store.keys("revoked-token:*")
        assert 0 < store.ttl(key) <= 15 * 60
    assert_invalid(client.get("/me", headers=bearer(tokens["access_token"])), "The token has been revoked.")
    assert revoked_rows(app) == 0


def test_token_blocklist_database_keeps_them_in_the_database_even_with_redis(make_app, redis_url, step):
    from accounts import Account

    app = make_app(REDIS_URL=redis_url, TOKEN_BLOCKLIST="database")
    client = app.test_client()
    tokens = Account(client, step).login()
    assert client.post("/logout", headers=bearer(tokens["access_token"])).status_code == 204
    with redis.Redis.from_url(redis_url) as store:
        assert store.keys("revoked-token:*") == []
    assert revoked_rows(app) == 1
    assert_invalid(client.get("/me", headers=bearer(tokens["access_token"])), "The token has been revoked.")


def test_a_wrong_token_blocklist_stops_the_app(make_app):
    with pytest.raises(ValueError, match="TOKEN_BLOCKLIST must be database or redis, not 'memcached'"):
        make_app(TOKEN_BLOCKLIST="memcached")
    with pytest.raises(ValueError, match="TOKEN_BLOCKLIST=redis needs REDIS_URL"):
        make_app(TOKEN_BLOCKLIST="redis")


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
