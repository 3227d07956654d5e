"""Step 4: Flask's session — start, read and delete, done safely.

The session cases S1-S10 of the attack catalog, with TESTING off, against every place a
session can live (SESSION_BACKEND): Flask's signed cookie, the database, and Redis.
"""

import base64
import hashlib
import importlib
import json
import time
import warnings
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
import redis
from flask.json.tag import TaggedJSONSerializer
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from server import flask_run, request

# These suites run on SQLite and again on PostgreSQL (see conftest.py).
DATABASES = ("sqlite", "postgresql")

pytestmark = pytest.mark.steps(4)

PASSWORD = "correct horse battery"
NO_SESSION = {"message": "No session: log in with POST /session."}
SERVER_SIDE = ["sqlalchemy", "redis"]


@pytest.fixture(params=["cookie", *SERVER_SIDE])
def session_backend(request):
    return request.param


@pytest.fixture
def base_config(base_config, session_backend, request):
    """Every test here runs once per session backend, unless it names its own."""
    config = {**base_config, "SESSION_BACKEND": session_backend}
    if session_backend == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
    return config


def cookie_only(test):
    return pytest.mark.parametrize("session_backend", ["cookie"], indirect=True)(test)


def server_side_only(test):
    return pytest.mark.parametrize("session_backend", SERVER_SIDE, indirect=True)(test)


@pytest.fixture
def alice(account):
    return account


def log_in(client, username="alice", password=PASSWORD):
    return client.post("/session", json={"username": username, "password": password})


def session_cookie(response):
    """The Set-Cookie header for the session, parsed: (value, attributes)."""
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    parts = [part.strip() for part in header.split(";")]
    value = parts[0].split("=", 1)[1]
    attributes = {}
    for part in parts[1:]:
        name, _, setting = part.partition("=")
        attributes[name.lower()] = setting
    return value, attributes


def session_of(user_id, started_at=None):
    """What start_session puts in a session, started now unless a start is given."""
    started_at = int(time.time()) if started_at is None else started_at
    return {"_permanent": True, "started_at": started_at, "user_id": user_id}


def cookie_signed_with(secret, data):
    """A session cookie as Flask would sign it with this secret (for S3/S4)."""
    serializer = URLSafeTimedSerializer(
        secret,
        salt="cookie-session",
        serializer=TaggedJSONSerializer(),
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    return serializer.dumps(data)


# --- Start, read, delete ------------------------------------------------------------------


def test_post_session_checks_the_password_and_starts_a_session(client, alice):
    response = log_in(client)
    assert response.status_code == 200
    assert response.json == {"username": "alice"}
    assert response.headers["Cache-Control"] == "no-store"
    assert session_cookie(response)[0]


def test_get_session_answers_the_logged_in_user(client, alice):
    log_in(client)
    response = client.get("/session")
    assert response.status_code == 200
    assert response.json == {"id": alice.id, "username": "alice"}
    assert response.headers["Cache-Control"] == "no-store"


def test_get_session_without_one_answers_401(client):
    response = client.get("/session")
    assert response.status_code == 401 and response.json == NO_SESSION
    assert response.headers["Cache-Control"] == "no-store"


def test_delete_session_ends_it(client, alice):
    log_in(client)
    response = client.delete("/session")
    assert response.status_code == 204 and response.data == b""
    assert client.get("/session").json == NO_SESSION


@pytest.mark.parametrize(
    "credentials",
    [{"username": "alice", "password": "wrong password"}, {"username": "nobody", "password": PASSWORD}],
)
def test_wrong_credentials_answer_the_same_401_as_login_and_set_no_cookie(client, alice, credentials):
    response = client.post("/session", json=credentials)
    same_at_login = client.post("/login", json=credentials)
    assert response.status_code == same_at_login.status_code == 401
    assert response.json == same_at_login.json == {"message": "Wrong username or password."}
    assert not response.headers.getlist("Set-Cookie")
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "body, message",
    [
        ("not json", "The body must be a JSON object, sent with Content-Type: application/json."),
        ({"username": "alice"}, "'password' is required and must be a string."),
        ({"username": 1, "password": PASSWORD}, "'username' is required and must be a string."),
    ],
)
def test_post_session_bad_body_answers_400(client, alice, body, message):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    response = client.post("/session", **kwargs)
    assert response.status_code == 400 and response.json == {"message": message}
    assert not response.headers.getlist("Set-Cookie")


def test_login_required_protects_the_session_todos(client, alice):
    assert client.get("/session/todos").json == NO_SESSION
    assert client.get("/session/todos").status_code == 401
    client.post("/todos", json={"title": "via a token"}, headers=alice.bearer())
    log_in(client)
    response = client.get("/session/todos")
    assert response.status_code == 200
    assert [todo["title"] for todo in response.json] == ["via a token"]


def test_session_todos_are_only_the_session_users(client, alice, make_account):
    bob = make_account("bob")
    client.post("/todos", json={"title": "bob's"}, headers=bob.bearer())
    log_in(client)
    assert client.get("/session/todos").json == []


def test_a_session_whose_user_is_gone_answers_401(app, client, alice, step_package):
    log_in(client)
    models = step_package.models
    with app.app_context():
        models.db.session.delete(models.db.session.get(models.User, alice.id))
        models.db.session.commit()
    assert client.get("/session").json == NO_SESSION


def test_the_jwt_api_of_step3_is_unchanged(client, alice):
    assert client.get("/me", headers=alice.bearer()).json == {"id": alice.id, "username": "alice"}


# --- S1-S10 -------------------------------------------------------------------------------


def test_s1_cookie_flags_after_login(client, alice):
    _, attributes = session_cookie(log_in(client))
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert "secure" in attributes
    assert attributes["path"] == "/"


@cookie_only
def test_s1_secure_is_turned_off_only_by_the_environment(monkeypatch, make_app, step):
    from accounts import Account

    monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
    client = make_app().test_client()
    Account(client, step)
    _, attributes = session_cookie(log_in(client))
    assert "secure" not in attributes and "httponly" in attributes


@cookie_only
def test_s1_session_lasts_30_minutes_by_default_and_as_the_environment_says(
    monkeypatch, make_app, client, alice
):
    from email.utils import parsedate_to_datetime

    def lifetime(response):
        expires = parsedate_to_datetime(session_cookie(response)[1]["expires"]).timestamp()
        return expires - time.time()

    assert 30 * 60 - 5 < lifetime(log_in(client)) <= 30 * 60
    monkeypatch.setenv("PERMANENT_SESSION_LIFETIME", "120")
    other = make_app().test_client()  # the same database: alice is there already
    assert 120 - 5 < lifetime(log_in(other)) <= 120


@cookie_only
def test_s2_the_cookie_is_readable_by_anyone_and_holds_no_secret(client, alice):
    """E12: Flask's session is signed, not encrypted. Decode it without the key."""
    value, _ = session_cookie(log_in(client))
    payload = value.split(".")[0]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert data == session_of(alice.id, started_at=data["started_at"])
    assert isinstance(data["started_at"], int) and time.time() - 5 < data["started_at"] <= time.time()
    app = client.application
    for secret in (PASSWORD, "argon2", app.config["SECRET_KEY"], app.config["JWT_SECRET_KEY"]):
        assert secret not in value and secret not in json.dumps(data)


@cookie_only
def test_s3_tampered_cookie_is_treated_as_logged_out(client, alice, make_account):
    mallory = make_account("mallory")
    value, _ = session_cookie(log_in(client, "mallory"))
    payload, timestamp, signature = value.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(session_of(alice.id)).encode())
    client.set_cookie("session", f"{forged.rstrip(b'=').decode()}.{timestamp}.{signature}")
    response = client.get("/session")
    assert response.status_code == 401 and response.json == NO_SESSION
    assert mallory.id != alice.id


@pytest.mark.parametrize("guess", ["dev", "secret", "your-secret-key", "changeme", "super-secret"])
def test_s4_cookie_signed_with_a_guessed_key_is_treated_as_logged_out(client, alice, guess):
    client.set_cookie("session", cookie_signed_with(guess, session_of(alice.id)))
    assert client.get("/session").json == NO_SESSION


@cookie_only
def test_s4_the_control_a_cookie_signed_with_the_real_key_is_accepted(client, alice):
    real = client.application.config["SECRET_KEY"]
    client.set_cookie("session", cookie_signed_with(real, session_of(alice.id)))
    assert client.get("/session").json == {"id": alice.id, "username": "alice"}


def test_s5_keys_set_before_login_are_gone_after_it(client, alice):
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
    planted = client.get_cookie("session").value
    response = log_in(client)
    value, _ = session_cookie(response)
    assert value != planted
    with client.session_transaction() as after:
        assert "planted" not in after and after["user_id"] == alice.id


@pytest.mark.parametrize("logged_in", [True, False], ids=["after-login", "never-logged-in"])
def test_s6_logout_twice_answers_204_both_times(client, alice, logged_in):
    if logged_in:
        log_in(client)
    for _ in range(2):
        response = client.delete("/session")
        assert response.status_code == 204 and response.headers["Cache-Control"] == "no-store"


@cookie_only
def test_s7_cookie_sessions_an_old_cookie_still_works_after_logout_known_limit(client, alice):
    """The limit of a session kept in the cookie: the server keeps nothing to forget.

    Logging out tells the browser to drop its cookie; a copy made before (by malware, a
    shared computer, a proxy log) stays valid until it expires. Server-side sessions fix this.
    """
    value, _ = session_cookie(log_in(client))
    assert client.delete("/session").status_code == 204
    client.set_cookie("session", value)
    assert client.get("/session").status_code == 200


@cookie_only
def test_s8_a_stale_cookie_is_treated_as_logged_out(client, alice, monkeypatch):
    real = client.application.config["SECRET_KEY"]
    an_hour_ago = int(time.time()) - 3600
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: an_hour_ago)
    stale = cookie_signed_with(real, session_of(alice.id))  # begun now: only its signature is old
    monkeypatch.undo()
    client.set_cookie("session", stale)
    assert client.get("/session").json == NO_SESSION


def test_s8_a_session_in_use_ends_12_hours_after_login(client, alice):
    """Each request renews the 30 idle minutes; the 12 hours from login are not renewed."""
    log_in(client)
    started_at = int(time.time()) - (12 * 3600 - 60)  # as if logged in a minute short of 12 hours ago
    with client.session_transaction() as session:
        session["started_at"] = started_at
    assert client.get("/session").status_code == 200
    assert client.get("/session/todos").status_code == 200
    with client.session_transaction() as session:
        assert session["started_at"] == started_at  # used twice, and not renewed
        session["started_at"] = started_at - 60  # the minute passes
    assert client.get("/session").json == NO_SESSION
    assert client.get("/session/todos").json == NO_SESSION
    assert client.get_cookie("session") is None  # ended, not only refused: the cookie is deleted


@server_side_only
def test_s8_server_side_a_session_past_12_hours_is_deleted_from_the_store(app, client, alice, session_backend):
    log_in(client)
    with client.session_transaction() as session:
        session["started_at"] = int(time.time()) - 12 * 3600
    assert stored_session_count(app, session_backend) == 1
    assert client.get("/session").json == NO_SESSION
    assert stored_session_count(app, session_backend) == 0


@cookie_only
def test_s8_a_session_with_no_start_is_treated_as_logged_out(client, alice):
    """Signed with the real key, but not made by start_session: no start, no session."""
    real = client.application.config["SECRET_KEY"]
    client.set_cookie("session", cookie_signed_with(real, {"_permanent": True, "user_id": alice.id}))
    assert client.get("/session").json == NO_SESSION


@cookie_only
def test_s8_the_absolute_lifetime_is_12_hours_by_default_and_as_the_environment_says(
    monkeypatch, app, make_app
):
    assert app.config["SESSION_ABSOLUTE_LIFETIME"] == timedelta(hours=12)
    monkeypatch.setenv("SESSION_ABSOLUTE_LIFETIME", "3600")
    assert make_app().config["SESSION_ABSOLUTE_LIFETIME"] == timedelta(hours=1)


def test_s9_logout_clears_the_cookie_and_is_not_cached(client, alice):
    log_in(client)
    response = client.delete("/session")
    value, attributes = session_cookie(response)
    assert value == "" and attributes["max-age"] == "0"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get_cookie("session") is None


def test_s10_the_session_stays_small_and_never_warns(client, make_account):
    longest = make_account("u" * 32, "p" * 128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # werkzeug warns when a cookie passes 4093 bytes
        value, _ = session_cookie(log_in(client, longest.username, longest.password))
    assert len(value) < 200


@pytest.mark.server
def test_flask_run_session_login_read_logout_over_http(step_dir, keys, tmp_path):
    env = {**keys, "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}"}
    credentials = {"username": "dana", "password": PASSWORD}
    with flask_run(step_dir, env=env) as base:
        assert request("POST", base + "/register", credentials).status == 201
        started = request("POST", base + "/session", credentials)
        assert started.status == 200
        jar = SimpleCookie(started.headers["Set-Cookie"])
        cookie = {"Cookie": f"session={jar['session'].value}"}
        assert jar["session"]["httponly"] and jar["session"]["secure"]

        read = request("GET", base + "/session", headers=cookie)
        assert read.status == 200 and read.json["username"] == "dana"

        ended = request("DELETE", base + "/session", headers=cookie)
        assert ended.status == 204
        jar.load(ended.headers["Set-Cookie"])
        assert jar["session"].value == ""  # the server told the client to forget it
        after = request("GET", base + "/session", headers={"Cookie": "session="})
        assert after.status == 401 and after.json == NO_SESSION


# --- Server-side sessions: the session lives on the server, the cookie holds only its id ----


def stored_session_count(app, session_backend, redis_url=None):
    if session_backend == "redis":
        with redis.Redis.from_url(app.config["REDIS_URL"]) as client:
            return len(client.keys("session:*"))
    models = importlib.import_module(app.import_name.rsplit(".", 1)[0]).models
    with app.app_context():
        return models.db.session.query(models.StoredSession).count()


@server_side_only
def test_s2_server_side_the_cookie_holds_only_an_opaque_id(client, alice):
    value, _ = session_cookie(log_in(client))
    assert "." not in value and len(value) == 43  # 32 random bytes in base64url, nothing else
    decoded = base64.urlsafe_b64decode(value + "=")
    assert b"user_id" not in decoded and b"alice" not in decoded


@server_side_only
def test_s3_server_side_a_changed_id_is_treated_as_logged_out(client, alice):
    value, _ = session_cookie(log_in(client))
    client.set_cookie("session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert client.get("/session").json == NO_SESSION


@server_side_only
def test_s5_server_side_login_gives_a_new_id_and_deletes_the_old_session(app, client, alice, session_backend):
    first, _ = session_cookie(log_in(client))
    second, _ = session_cookie(log_in(client))
    assert first != second
    assert stored_session_count(app, session_backend) == 1
    client.set_cookie("session", first)
    assert client.get("/session").json == NO_SESSION


@server_side_only
def test_s7_server_side_an_old_cookie_replayed_after_logout_answers_401(app, client, alice, session_backend):
    """S7 turned around: logout deletes the stored session, so no copy of the cookie works."""
    value, _ = session_cookie(log_in(client))
    assert stored_session_count(app, session_backend) == 1
    assert client.delete("/session").status_code == 204
    assert stored_session_count(app, session_backend) == 0
    client.set_cookie("session", value)
    assert client.get("/session").json == NO_SESSION


@server_side_only
def test_s8_server_side_an_expired_session_is_treated_as_logged_out(app, client, alice, session_backend, step_package):
    value, _ = session_cookie(log_in(client))
    if session_backend == "redis":
        with redis.Redis.from_url(app.config["REDIS_URL"]) as store:
            store.pexpire(f"session:{value}", 1)
        time.sleep(0.01)
    else:
        models = step_package.models
        with app.app_context():
            stored = models.db.session.get(models.StoredSession, f"session:{value}")
            stored.expires_at = int(time.time()) - 1
            models.db.session.commit()
    assert client.get("/session").json == NO_SESSION


@pytest.mark.parametrize("session_backend", ["cookie"], indirect=True)
def test_an_unknown_session_backend_stops_the_app(make_app):
    with pytest.raises(ValueError, match="SESSION_BACKEND must be cookie, sqlalchemy or redis"):
        make_app(SESSION_BACKEND="memcached")


@pytest.mark.parametrize("session_backend", ["cookie"], indirect=True)
def test_the_redis_backend_needs_redis_url(make_app):
    with pytest.raises(ValueError, match="needs REDIS_URL"):
        make_app(SESSION_BACKEND="redis")


@pytest.mark.server
def test_two_instances_sharing_redis_share_sessions_and_revoked_tokens(step_dir, keys, database_url, redis_url):
    """Two `flask run` processes, one Redis and one database (SQLite, then PostgreSQL):
    what the app looks like behind a load balancer."""
    env = {
        **keys,
        "DATABASE_URL": database_url,
        "SESSION_BACKEND": "redis",
        "REDIS_URL": redis_url,
    }
    credentials = {"username": "erin", "password": PASSWORD}
    with flask_run(step_dir, env=env) as first, flask_run(step_dir, env=env) as second:
        assert request("POST", first + "/register", credentials).status == 201

        started = request("POST", first + "/session", credentials)
        cookie = {"Cookie": f"session={SimpleCookie(started.headers['Set-Cookie'])['session'].value}"}
        assert request("GET", second + "/session", headers=cookie).json["username"] == "erin"
        assert request("DELETE", second + "/session", headers=cookie).status == 204
        assert request("GET", first + "/session", headers=cookie).status == 401

        token = request("POST", first + "/login", credentials).json["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert request("GET", second + "/me", headers=bearer).status == 200
        assert request("POST", second + "/logout", headers=bearer).status == 204
        revoked = request("GET", first + "/me", headers=bearer)
        assert revoked.status == 401 and revoked.json == {"message": "The token has been revoked."}
