"""Issue 18, second pass: refresh tokens rotate (R-cases of SECURITY.md) and logout is final on
every server-side session backend (L-cases). TESTING stays off (conftest.base_config).

R: steps 3 and 4, both blocklist stores (database, Redis), SQLite and PostgreSQL.
L: step 4, SESSION_BACKEND=sqlalchemy (SQLite, PostgreSQL) and redis (one instance or two).
"""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest
import redis
import sqlalchemy
from accounts import Account
from server import flask_run, request
from tokens import bearer

# These suites run on SQLite and again on PostgreSQL (see conftest.py).
DATABASES = ("sqlite", "postgresql")

INVALID = 'Bearer error="invalid_token"'
REVOKED = {"message": "The token has been revoked."}
PASSWORD = "correct horse battery"
NO_SESSION = {"message": "No session: log in with POST /session."}


def claims_of(token):
    return pyjwt.decode(token, options={"verify_signature": False})


def assert_revoked(response):
    assert response.status_code == 401, response.json
    assert response.json == REVOKED
    assert response.headers["WWW-Authenticate"] == INVALID


# --- R: refresh-token rotation with reuse detection ------------------------------------------


@pytest.fixture(params=["database", "redis"])
def token_app(request, make_app):
    """The step's app with the blocklist in the database or in Redis."""
    config = {"TOKEN_BLOCKLIST": request.param}
    if request.param == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
    return make_app(**config)


@pytest.fixture
def token_client(token_app):
    return token_app.test_client()


@pytest.fixture
def login(token_client, step):
    account = Account(token_client, step)
    return account.login


def refresh(client, tokens):
    return client.post("/refresh", headers=bearer(tokens["refresh_token"]))


def works(client, tokens):
    """Whether the access token opens /me, and the refresh token (spent by this) rotates."""
    return (
        client.get("/me", headers=bearer(tokens["access_token"])).status_code == 200
        and refresh(client, tokens).status_code == 200
    )


@pytest.mark.steps(3, 4)
def test_r1_refresh_answers_a_new_pair_of_the_same_login_and_spends_the_old(token_client, login):
    first = login()
    response = refresh(token_client, first)
    assert response.status_code == 200 and set(response.json) == {"access_token", "refresh_token"}
    second = response.json
    old, new = claims_of(first["refresh_token"]), claims_of(second["refresh_token"])
    assert new["jti"] != old["jti"] and new["type"] == "refresh"
    # One login: the same family in every token, and rotating never extends it.
    assert new["family"] == old["family"] == claims_of(second["access_token"])["family"]
    assert new["exp"] == old["exp"]
    assert token_client.get("/me", headers=bearer(second["access_token"])).status_code == 200
    assert refresh(token_client, second).status_code == 200  # the new one works, once


@pytest.mark.steps(3, 4)
def test_r2_a_spent_refresh_token_sent_again_ends_the_whole_login(token_client, login):
    """The thief refreshes first with a stolen copy; the user's refresh then fails, and the
    thief's fresh tokens die with it: neither can go on."""
    stolen = login()
    other_login = login()
    thief = refresh(token_client, stolen).json
    assert token_client.get("/me", headers=bearer(thief["access_token"])).status_code == 200
    assert_revoked(refresh(token_client, stolen))  # the user, with the spent token
    assert_revoked(token_client.get("/me", headers=bearer(thief["access_token"])))
    assert_revoked(refresh(token_client, thief))
    assert_revoked(token_client.get("/me", headers=bearer(stolen["access_token"])))
    assert works(token_client, other_login)  # another login of the same user goes on
    assert works(token_client, login())  # and logging in again starts a new one


@pytest.mark.steps(3, 4)
def test_r3_a_reuse_after_many_rotations_still_ends_the_login(token_client, login):
    tokens = [login()]
    for _ in range(3):
        tokens.append(refresh(token_client, tokens[-1]).json)
    assert len({claims_of(t["refresh_token"])["exp"] for t in tokens}) == 1
    assert_revoked(refresh(token_client, tokens[1]))
    assert_revoked(token_client.get("/me", headers=bearer(tokens[-1]["access_token"])))
    assert_revoked(refresh(token_client, tokens[-1]))


def race(calls, threads=8):
    """Run the calls at once: a barrier lets them all go at the same moment."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, calls))


def assert_one_winner(answers, status, body):
    """Exactly one 200 among concurrent refreshes of one token; every other one a clean 401."""
    assert sorted(status(a) for a in answers) == [200] + [401] * (len(answers) - 1)
    for answer in answers:
        if status(answer) == 401:
            assert body(answer) == REVOKED
    return next(body(a) for a in answers if status(a) == 200)


@pytest.mark.steps(3, 4)
def test_r4_two_tabs_refreshing_at_once_one_wins_then_the_login_ends(token_app, login):
    """Concurrent refreshes of one token (threads, each with its own client): one spends it,
    the others lose the race to the blocklist's unique key, answer 401 (never a 500), and end
    the login, so the winner's new pair dies too: the server cannot tell a tab from a thief."""
    tokens = login()
    calls = [lambda: refresh(token_app.test_client(), tokens) for _ in range(8)]
    winner = assert_one_winner(race(calls), lambda r: r.status_code, lambda r: r.json)
    client = token_app.test_client()
    assert_revoked(client.get("/me", headers=bearer(winner["access_token"])))
    assert_revoked(refresh(client, winner))


@pytest.mark.server
@pytest.mark.steps(3)
def test_r4_concurrent_refreshes_over_flask_run(step_dir, keys, database_url):
    """The same race against a real threaded `flask run` (blocklist in the database: the unique
    jti decides, on SQLite and PostgreSQL)."""
    env = {**keys, "DATABASE_URL": database_url, "TOKEN_BLOCKLIST": "database"}
    credentials = {"username": "rhea", "password": PASSWORD}
    with flask_run(step_dir, env=env) as base:
        assert request("POST", base + "/register", credentials).status == 201
        tokens = request("POST", base + "/login", credentials).json
        headers = bearer(tokens["refresh_token"])
        calls = [lambda: request("POST", base + "/refresh", headers=headers) for _ in range(8)]
        winner = assert_one_winner(race(calls), lambda a: a.status, lambda a: a.json)
        after = request("GET", base + "/me", headers=bearer(winner["access_token"]))
        assert after.status == 401 and after.json == REVOKED


# --- L: logout is final on every server-side session backend -----------------------------------


def session_env(keys, database_url, backend, redis_url=None):
    env = {**keys, "DATABASE_URL": database_url, "SESSION_BACKEND": backend}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def stored_sessions(database_url, redis_url=None):
    """The ids of the sessions in the store, whatever the app thinks."""
    if redis_url:
        with redis.Redis.from_url(redis_url) as client:
            return {key.decode() for key in client.keys("session:*")}
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(sqlalchemy.text("SELECT id FROM sessions")))
    finally:
        engine.dispose()


def session_login(base, username):
    started = request("POST", base + "/session", {"username": username, "password": PASSWORD})
    assert started.status == 200, started.json
    return SimpleCookie(started.headers["Set-Cookie"])["session"].value


def with_cookie(value):
    return {"Cookie": f"session={value}"}


class HeldRequest:
    """A request whose headers reach the server now and whose body comes later: the app has
    read the session when it starts to wait for the body (Flask opens the session first)."""

    def __init__(self, base, method, path, headers, body):
        url = urlsplit(base)
        self.body = json.dumps(body).encode()
        self.sock = socket.create_connection((url.hostname, url.port), timeout=30)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def finish(self):
        """Send the body; the status and the Set-Cookie headers of the answer."""
        self.sock.sendall(self.body)
        answer = b""
        while chunk := self.sock.recv(65536):
            answer += chunk
        self.sock.close()
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        cookies = [line.split(":", 1)[1].strip() for line in head if line.lower().startswith("set-cookie:")]
        return int(head[0].split()[1]), cookies


# A request that has read its session row on PostgreSQL: its transaction stays open (SQLAlchemy
# began one for the read) while the app waits for the body.
READ_A_SESSION = sqlalchemy.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND state = 'idle in transaction' AND query LIKE '%FROM sessions%'"
)


def open_session_reads(database_url):
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(READ_A_SESSION)
    finally:
        engine.dispose()


def wait_until_read(redis_url, hits_before, database_url):
    """Wait until the held request has opened its session. With Redis it is seen exactly (the
    GET is a keyspace hit), and on PostgreSQL (the read's transaction, still open); SQLite
    shows nothing, so there the wait is a generous pause."""
    deadline = time.monotonic() + 30
    if redis_url:
        with redis.Redis.from_url(redis_url) as client:
            while client.info("stats")["keyspace_hits"] == hits_before:
                assert time.monotonic() < deadline, "the held request never read its session"
                time.sleep(0.02)
    elif database_url.startswith("postgresql"):
        while not open_session_reads(database_url):  # none before it (held_across_logout)
            assert time.monotonic() < deadline, "the held request never read its session"
            time.sleep(0.02)
    else:
        time.sleep(1.5)


def keyspace_hits(redis_url):
    if not redis_url:
        return None
    with redis.Redis.from_url(redis_url) as client:
        return client.info("stats")["keyspace_hits"]


def held_across_logout(first, second, database_url, redis_url=None):
    """L1 over HTTP: a request reads the session on one instance, the logout runs (on the
    other, if there are two), then the request ends. It must not bring the session back."""
    cookie = session_login(first, "lena")
    # A wrong-password login attempt carrying the cookie: its body is read after the session.
    before = keyspace_hits(redis_url)
    if database_url.startswith("postgresql"):  # so that the wait below sees the held request's read
        assert open_session_reads(database_url) == 0
    held = HeldRequest(first, "POST", "/session", with_cookie(cookie), {"username": "lena", "password": "x" * 8})
    wait_until_read(redis_url, before, database_url)
    assert request("DELETE", second + "/session", headers=with_cookie(cookie)).status == 204
    status, cookies = held.finish()
    assert status == 401
    assert not any(c.startswith(f"session={cookie}") for c in cookies), cookies  # not set again
    assert stored_sessions(database_url, redis_url) == set()
    for base in {first, second}:
        after = request("GET", base + "/session", headers=with_cookie(cookie))
        assert after.status == 401 and after.json == NO_SESSION


def replay(base, cookie, stop):
    """GET /session/todos with this cookie until told to stop: the statuses seen."""
    seen = []
    while not stop.is_set():
        seen.append(request("GET", base + "/session/todos", headers=with_cookie(cookie)).status)
        time.sleep(0.005)  # a busy client, not a flood: the development server is single-process
    return seen


def replayed_during_logout(bases, database_url, redis_url=None, rounds=2, threads=6):
    """L2 over HTTP: several threads replay a copied cookie while it is logged out. No session
    survives, and nothing answers 5xx. Each round must show replays on both sides of the
    logout (a 200 before it, a 401 after it); L1 and L3 take the exact interleavings one by one."""
    for _ in range(rounds):
        cookie = session_login(bases[0], "lena")
        stop = threading.Event()

        with ThreadPoolExecutor(threads) as pool:
            replays = [pool.submit(replay, bases[n % len(bases)], cookie, stop) for n in range(threads)]
            time.sleep(0.2)
            assert request("DELETE", bases[-1] + "/session", headers=with_cookie(cookie)).status == 204
            time.sleep(0.3)
            stop.set()
            seen = [status for replayed in replays for status in replayed.result()]
        assert set(seen) <= {200, 401}, sorted(set(seen))
        assert 200 in seen and 401 in seen  # the replays did overlap the logout
        assert stored_sessions(database_url, redis_url) == set()
        for base in bases:
            assert request("GET", base + "/session", headers=with_cookie(cookie)).status == 401


def register(base, username="lena"):
    assert request("POST", base + "/register", {"username": username, "password": PASSWORD}).status == 201


@pytest.mark.server
@pytest.mark.steps(4)
def test_l1_a_request_held_open_across_logout_cannot_revive_the_sqlalchemy_session(step_dir, keys, database_url):
    with flask_run(step_dir, env=session_env(keys, database_url, "sqlalchemy")) as base:
        register(base)
        held_across_logout(base, base, database_url)


@pytest.mark.server
@pytest.mark.steps(4)
@pytest.mark.databases("sqlite")
def test_l1_a_request_held_open_across_logout_cannot_revive_the_redis_session_two_instances(
    step_dir, keys, database_url, redis_url
):
    env = session_env(keys, database_url, "redis", redis_url)
    with flask_run(step_dir, env=env) as first, flask_run(step_dir, env=env) as second:
        register(first)
        held_across_logout(first, second, database_url, redis_url)


@pytest.mark.server
@pytest.mark.steps(4)
def test_l2_a_cookie_replayed_from_threads_during_logout_sqlalchemy(step_dir, keys, database_url):
    with flask_run(step_dir, env=session_env(keys, database_url, "sqlalchemy")) as base:
        register(base)
        replayed_during_logout([base], database_url)


@pytest.mark.server
@pytest.mark.steps(4)
@pytest.mark.databases("sqlite")
def test_l2_a_cookie_replayed_from_threads_during_logout_redis(step_dir, keys, database_url, redis_url):
    env = session_env(keys, database_url, "redis", redis_url)
    with flask_run(step_dir, env=env) as base:
        register(base)
        replayed_during_logout([base], database_url, redis_url)


# The same interleavings, one step at a time, through the app's own SessionInterface: what a
# request read, saved after the logout (or a new login) that happened in between.


@pytest.fixture(params=["sqlalchemy", "redis"])
def session_app(request, make_app):
    config = {"SESSION_BACKEND": request.param}
    if request.param == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
    return make_app(**config)


def stored_count(app):
    if app.config["SESSION_BACKEND"] == "redis":
        with redis.Redis.from_url(app.config["REDIS_URL"]) as client:
            return len(client.keys("session:*"))
    return len(stored_sessions(app.config["SQLALCHEMY_DATABASE_URI"]))


def read_session(app, cookie):
    """What a request opens: the session of this cookie (its request context ends at once)."""
    with app.test_request_context(headers=with_cookie(cookie)) as context:
        return app.session_interface.open_session(app, context.request)


def save_later(app, session):
    """That request's end: Flask saves its session after the view, here after the others ran."""
    with app.test_request_context():
        response = app.response_class()
        app.session_interface.save_session(app, session, response)
        return response


@pytest.mark.steps(4)
def test_l3_a_session_read_before_logout_is_not_saved_after_it(session_app, step):
    client = session_app.test_client()
    Account(client, step, "lena", PASSWORD)
    cookie = SimpleCookie(client.post("/session", json={"username": "lena", "password": PASSWORD}).headers["Set-Cookie"])
    value = cookie["session"].value
    read = read_session(session_app, value)
    assert read["user_id"] and stored_count(session_app) == 1
    assert client.delete("/session").status_code == 204
    response = save_later(session_app, read)
    assert stored_count(session_app) == 0
    assert not response.headers.getlist("Set-Cookie")
    client.set_cookie("session", value)
    assert client.get("/session").json == NO_SESSION


@pytest.mark.steps(4)
def test_l4_a_session_read_before_a_new_login_is_not_saved_after_it(session_app, step):
    client = session_app.test_client()
    Account(client, step, "lena", PASSWORD)
    first = SimpleCookie(client.post("/session", json={"username": "lena", "password": PASSWORD}).headers["Set-Cookie"])
    read = read_session(session_app, first["session"].value)
    second = client.post("/session", json={"username": "lena", "password": PASSWORD})  # same cookie: a new id
    assert second.status_code == 200
    save_later(session_app, read)
    assert stored_count(session_app) == 1  # the new login's only
    client.set_cookie("session", first["session"].value)
    assert client.get("/session").json == NO_SESSION
