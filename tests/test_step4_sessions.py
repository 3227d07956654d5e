"""Step 4: Flask's session — start, read and delete, done safely.

The session cases S1-S10 of the attack catalog, with TESTING off.
"""

import base64
import hashlib
import json
import time
import warnings
from http.cookies import SimpleCookie

import pytest
from flask.json.tag import TaggedJSONSerializer
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from server import flask_run, request

pytestmark = pytest.mark.steps(4)

PASSWORD = "correct horse battery"
NO_SESSION = {"message": "No session: log in with POST /session."}


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


def test_s1_secure_is_turned_off_only_by_the_environment(monkeypatch, make_app, step):
    from conftest import Account

    monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
    client = make_app().test_client()
    Account(client, step)
    _, attributes = session_cookie(log_in(client))
    assert "secure" not in attributes and "httponly" in attributes


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


def test_s2_the_cookie_is_readable_by_anyone_and_holds_no_secret(client, alice):
    """E12: Flask's session is signed, not encrypted. Decode it without the key."""
    value, _ = session_cookie(log_in(client))
    payload = value.split(".")[0]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert data == {"_permanent": True, "user_id": alice.id}
    app = client.application
    for secret in (PASSWORD, "argon2", app.config["SECRET_KEY"], app.config["JWT_SECRET_KEY"]):
        assert secret not in value and secret not in json.dumps(data)


def test_s3_tampered_cookie_is_treated_as_logged_out(client, alice, make_account):
    mallory = make_account("mallory")
    value, _ = session_cookie(log_in(client, "mallory"))
    payload, timestamp, signature = value.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"_permanent": True, "user_id": alice.id}).encode())
    client.set_cookie("session", f"{forged.rstrip(b'=').decode()}.{timestamp}.{signature}")
    response = client.get("/session")
    assert response.status_code == 401 and response.json == NO_SESSION
    assert mallory.id != alice.id


@pytest.mark.parametrize("guess", ["dev", "secret", "your-secret-key", "changeme", "super-secret"])
def test_s4_cookie_signed_with_a_guessed_key_is_treated_as_logged_out(client, alice, guess):
    client.set_cookie("session", cookie_signed_with(guess, {"_permanent": True, "user_id": alice.id}))
    assert client.get("/session").json == NO_SESSION


def test_s4_the_control_a_cookie_signed_with_the_real_key_is_accepted(client, alice):
    real = client.application.config["SECRET_KEY"]
    client.set_cookie("session", cookie_signed_with(real, {"_permanent": True, "user_id": alice.id}))
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


def test_s7_cookie_sessions_an_old_cookie_still_works_after_logout_known_limit(client, alice):
    """The limit of a session kept in the cookie: the server keeps nothing to forget.

    Logging out tells the browser to drop its cookie; a copy made before (by malware, a
    shared computer, a proxy log) stays valid until it expires. Server-side sessions fix this.
    """
    value, _ = session_cookie(log_in(client))
    assert client.delete("/session").status_code == 204
    client.set_cookie("session", value)
    assert client.get("/session").status_code == 200


def test_s8_a_stale_cookie_is_treated_as_logged_out(client, alice, monkeypatch):
    real = client.application.config["SECRET_KEY"]
    an_hour_ago = int(time.time()) - 3600
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: an_hour_ago)
    stale = cookie_signed_with(real, {"_permanent": True, "user_id": alice.id})
    monkeypatch.undo()
    client.set_cookie("session", stale)
    assert client.get("/session").json == NO_SESSION


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
