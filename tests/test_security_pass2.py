"""The second security pass (issue 18), as far as protection.py goes: throttled password
guessing, answers kept out of caches, Redis down as a 503, odd but validly signed claims,
and login CSRF kept shut.

Every app here runs with TESTING off (conftest's base_config), the way it runs for real.
The shared test apps have the limiter off; the tests below that need it build their own.
"""

import json
import logging
import os
import shutil
import subprocess
import time
from contextlib import contextmanager

import pytest
import redis
from server import FLASK, flask_run, free_port, request, serving
from tokens import bearer, claims_for, forge

PASSWORD = "correct horse battery"
WRONG = {"password": "not the password"}
TINY = "3 per minute"  # small enough to reach in a test


@contextmanager
def flask_run_logged(step_dir, env, log):
    """server.flask_run, with what the server prints written to the file `log`."""
    port = free_port()
    environ = {**os.environ, "FLASK_DEBUG": "0", "PYTHONUNBUFFERED": "1", **env}
    environ.pop("FLASK_APP", None)
    command = [str(FLASK), "run", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as output, serving(command, base, cwd=step_dir, env=environ, output=output, timeout=60):
        yield base


def username_of(step, app):
    return app.config["DEMO_USERNAME"] if step == 1 else "alice"


@pytest.fixture
def limited(make_app, step):
    """An app of this step with the limiter on and a tiny limit, and its account."""
    app = make_app(RATE_LIMIT_ENABLED=True, LOGIN_RATE_LIMIT=TINY)
    client = app.test_client()
    if step > 1:
        assert client.post("/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
    return app, client


def wrong_login(client, username, address="192.0.2.1", path="/login"):
    return client.post(path, json={"username": username, **WRONG}, environ_base={"REMOTE_ADDR": address})


def assert_throttled(response):
    assert response.status_code == 429, response.json
    assert response.json["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 61


# --- 1. Throttled guessing ---------------------------------------------------------------


def test_one_username_is_throttled_from_many_addresses(limited, step):
    app, client = limited
    name = username_of(step, app)
    for n in range(3):  # the username's key is the name lower-cased, as the app compares them
        variant = name.upper() if n % 2 else name
        assert wrong_login(client, variant, address=f"198.51.100.{n}").status_code == 401
    assert_throttled(wrong_login(client, name, address="203.0.113.9"))
    # The right password too: the account is shut to every address until the window ends.
    right = {"username": name, "password": app.config.get("DEMO_PASSWORD", PASSWORD)}
    assert_throttled(client.post("/login", json=right, environ_base={"REMOTE_ADDR": "203.0.113.10"}))


def test_one_address_is_throttled_across_usernames(limited):
    _app, client = limited
    for n in range(3):
        assert wrong_login(client, f"user{n}").status_code == 401
    assert_throttled(wrong_login(client, "someone-else"))
    # Another address still gets in.
    assert wrong_login(client, "someone-else", address="192.0.2.2").status_code == 401


def test_successful_logins_never_count(limited, step):
    app, client = limited
    right = {"username": username_of(step, app), "password": app.config.get("DEMO_PASSWORD", PASSWORD)}
    for _ in range(10):
        assert client.post("/login", json=right).status_code == 200


def test_bad_bodies_get_their_400_and_do_not_count(limited, step):
    app, client = limited
    bodies = [
        {"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"},  # too deep
        {"data": "not json", "content_type": "application/json"},
        {"json": ["a", "list"]},
        {"json": {"username": 42, "password": "x"}},
        {"json": {"username": "\ud800", "password": "x"}},  # a lone surrogate
        {"json": {"password": "x"}},
    ]
    app.config["MAX_CONTENT_LENGTH"] = None  # the deep body is over 16 KiB: reach the parser
    for _ in range(2):
        for body in bodies:
            response = client.post("/login", **body)
            assert response.status_code == 400, (body, response.json)
            assert response.json["message"]
    # None of them counted: three wrong passwords still pass before the 429.
    for _ in range(3):
        assert wrong_login(client, username_of(step, app)).status_code == 401
    assert_throttled(wrong_login(client, username_of(step, app)))


@pytest.mark.steps(2, 3, 4)
def test_register_is_throttled_too_a_taken_name_counts(limited):
    _app, client = limited
    for _ in range(3):
        taken = client.post("/register", json={"username": "ALICE", "password": PASSWORD})
        assert taken.status_code == 409
    assert_throttled(client.post("/register", json={"username": "alice", "password": PASSWORD}))
    # One budget for the three endpoints: guessing cannot move on to /login.
    assert_throttled(wrong_login(client, "alice"))


@pytest.mark.steps(4)
def test_session_login_shares_the_budget(limited):
    _app, client = limited
    for _ in range(3):
        assert wrong_login(client, "alice", path="/session").status_code == 401
    throttled = wrong_login(client, "alice", path="/session")
    assert_throttled(throttled)
    assert "Set-Cookie" not in throttled.headers
    assert_throttled(wrong_login(client, "alice", path="/login"))


def test_with_the_defaults_sixty_wrong_passwords_meet_a_429(make_app, step):
    app = make_app(RATE_LIMIT_ENABLED=None)  # from the (clean) environment: the defaults
    assert app.config["RATE_LIMIT_ENABLED"] is True
    client = app.test_client()
    name = username_of(step, app)
    if step > 1:
        client.post("/register", json={"username": name, "password": PASSWORD})
    answers = [wrong_login(client, name, address=f"10.0.{n // 250}.{n % 250}").status_code for n in range(60)]
    assert 429 in answers and set(answers) == {401, 429}


def test_with_the_defaults_a_learner_is_never_throttled(make_app, step):
    """What the READMEs and notebooks do, and more: sign up, mistype a password three
    times, log in twenty times."""
    app = make_app(RATE_LIMIT_ENABLED=None)
    client = app.test_client()
    name = username_of(step, app)
    right = {"username": name, "password": app.config.get("DEMO_PASSWORD", PASSWORD)}
    if step > 1:
        assert client.post("/register", json=right).status_code == 201
    for _ in range(3):
        assert wrong_login(client, name, address="127.0.0.1").status_code == 401
    for _ in range(20):
        assert client.post("/login", json=right).status_code == 200
        if step == 4:
            assert client.post("/session", json=right).status_code == 200


def test_the_settings_come_from_the_environment(monkeypatch, make_app, caplog):
    monkeypatch.setenv("LOGIN_RATE_LIMIT", "2 per hour")
    app = make_app(RATE_LIMIT_ENABLED=None)
    assert app.config["LOGIN_RATE_LIMIT"] == "2 per hour"
    client = app.test_client()
    assert [wrong_login(client, "x").status_code for _ in range(3)] == [401, 401, 429]

    monkeypatch.setenv("RATE_LIMIT_ENABLED", "0")
    with caplog.at_level(logging.WARNING):
        app = make_app(RATE_LIMIT_ENABLED=None)
    assert app.config["RATE_LIMIT_ENABLED"] is False
    assert "RATE_LIMIT_ENABLED=0" in caplog.text
    client = app.test_client()
    assert {wrong_login(client, "x").status_code for _ in range(5)} == {401}


def test_a_mistyped_limit_stops_the_app(make_app):
    with pytest.raises(ValueError, match="LOGIN_RATE_LIMIT"):
        make_app(RATE_LIMIT_ENABLED=True, LOGIN_RATE_LIMIT="ten a minute")


@pytest.mark.steps(3, 4)  # REDIS_URL arrives in step 3
def test_with_redis_url_the_counts_are_shared_by_every_instance(make_app, redis_url, step):
    first = make_app(RATE_LIMIT_ENABLED=True, LOGIN_RATE_LIMIT=TINY, REDIS_URL=redis_url).test_client()
    second = make_app(RATE_LIMIT_ENABLED=True, LOGIN_RATE_LIMIT=TINY, REDIS_URL=redis_url).test_client()
    assert wrong_login(first, "bob").status_code == 401
    assert wrong_login(second, "bob").status_code == 401
    assert wrong_login(first, "bob").status_code == 401
    assert_throttled(wrong_login(second, "bob"))
    with redis.Redis.from_url(redis_url) as store:
        assert store.keys("*login-attempts*")


@pytest.mark.server
@pytest.mark.steps(1, 4)  # where the limit first appears, and where it guards three endpoints
def test_flask_run_throttles_and_warns_when_off(step_dir, keys, tmp_path):
    env = {**keys, "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}", "LOGIN_RATE_LIMIT": TINY}
    with flask_run(step_dir, env=env, timeout=60) as base:
        answers = [request("POST", base + "/login", {"username": "eve", **WRONG}) for _ in range(4)]
    assert [answer.status for answer in answers] == [401, 401, 401, 429]
    assert answers[-1].json["message"] and int(answers[-1].headers["Retry-After"]) >= 1

    log = tmp_path / "off.log"
    with flask_run_logged(step_dir, {**env, "RATE_LIMIT_ENABLED": "0"}, log) as base:
        answers = [request("POST", base + "/login", {"username": "eve", **WRONG}) for _ in range(5)]
    assert {answer.status for answer in answers} == {401}
    assert "RATE_LIMIT_ENABLED=0" in log.read_text()


# --- 2. Cache-Control: no-store and X-Content-Type-Options: nosniff -------------------------


def every_answer(app, client, step):
    """One answer from every route and method of the step, without credentials (mostly
    errors), then the successful answers that carry a token or a user's data."""
    answers = []
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<todo_id>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answers.append((f"{method} {path}", client.open(path, method=method)))
    answers.append(("404", client.get("/no/such/path")))
    answers.append(("405", client.put("/login")))
    answers.append(("413", client.post("/login", data="x" * 20_000, content_type="application/json")))
    right = {"username": username_of(step, app), "password": app.config.get("DEMO_PASSWORD", PASSWORD)}
    if step > 1:
        answers.append(("register", client.post("/register", json=right)))
    login = client.post("/login", json=right)
    answers.append(("login", login))
    if step > 2:
        tokens = login.json
        answers.append(("refresh", client.post("/refresh", headers=bearer(tokens["refresh_token"]))))
        answers.append(("me", client.get("/me", headers=bearer(tokens["access_token"]))))
        answers.append(
            ("todos", client.post("/todos", json={"title": "x"}, headers=bearer(tokens["access_token"])))
        )
        answers.append(("todo", client.get("/todos/1", headers=bearer(tokens["access_token"]))))
    if step > 3:
        answers.append(("session", client.post("/session", json=right)))
        answers.append(("session read", client.get("/session")))
        answers.append(("session todos", client.get("/session/todos")))
    return answers


def test_every_answer_has_nosniff_and_every_private_one_no_store(client, app, step):
    answers = every_answer(app, client, step)
    assert len(answers) > 5
    for what, response in answers:
        assert response.headers.get("X-Content-Type-Options") == "nosniff", what
        if what != "GET /":
            assert response.headers.get("Cache-Control") == "no-store", what
        assert response.status_code < 500, (what, response.json)


# --- 3. Redis down: a 503, never a 500 -----------------------------------------------------


class RedisServer:
    """A redis-server of this test's own, to stop halfway through."""

    def __init__(self, folder):
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = subprocess.Popen(
            [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        client.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def assert_store_down(response):
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json["message"]
    assert response.get_data(as_text=True) == json.dumps(response.json) + "\n"  # as every answer
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.steps(3, 4)  # REDIS_URL arrives in step 3
def test_limiter_storage_down_is_a_503(make_app, own_redis, step):
    """Fail closed: while the counts cannot be read, no password is checked (see SECURITY.md)."""
    app = make_app(RATE_LIMIT_ENABLED=True, REDIS_URL=own_redis.url)
    client = app.test_client()
    assert wrong_login(client, "bob").status_code == 401
    own_redis.stop()
    assert_store_down(wrong_login(client, "bob"))
    assert client.get("/").status_code == 200  # what needs no Redis still answers


@pytest.mark.steps(4)
@pytest.mark.parametrize("backend", ["cookie", "redis"])
def test_sessions_and_the_blocklist_down_are_a_503(make_app, own_redis, backend):
    app = make_app(REDIS_URL=own_redis.url, SESSION_BACKEND=backend)
    client = app.test_client()
    credentials = {"username": "alice", "password": PASSWORD}
    assert client.post("/register", json=credentials).status_code == 201
    tokens = client.post("/login", json=credentials).json
    assert client.post("/session", json=credentials).status_code == 200
    own_redis.stop()

    assert_store_down(client.get("/me", headers=bearer(tokens["access_token"])))
    assert_store_down(client.post("/logout", headers=bearer(tokens["access_token"])))
    assert_store_down(client.post("/refresh", headers=bearer(tokens["refresh_token"])))
    if backend == "redis":
        assert_store_down(client.get("/session"))
        assert_store_down(client.post("/session", json=credentials))
        assert_store_down(client.delete("/session"))


@pytest.mark.steps(3, 4)  # REDIS_URL arrives in step 3
def test_an_unreachable_redis_url_is_a_warning_at_start_up(make_app, caplog):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.WARNING):
        app = make_app(REDIS_URL=nowhere, RATE_LIMIT_ENABLED=True)
    assert "REDIS_URL cannot be reached" in caplog.text
    assert app.test_client().get("/").status_code == 200  # it starts all the same
    assert_store_down(wrong_login(app.test_client(), "bob"))


@pytest.mark.server
@pytest.mark.steps(4)
def test_flask_run_with_redis_down_warns_and_answers_503(step_dir, keys, tmp_path):
    env = {
        **keys,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SESSION_BACKEND": "redis",
    }
    log = tmp_path / "served.log"
    with flask_run_logged(step_dir, env, log) as base:
        login = request("POST", base + "/session", {"username": "alice", "password": PASSWORD})
        me = request("GET", base + "/me", headers={"Authorization": "Bearer x.y.z"})
    assert "REDIS_URL cannot be reached" in log.read_text()
    assert login.status == 503 and login.json["message"] and login.headers["Retry-After"]
    assert me.status == 401  # a malformed token is refused before any store is asked


# --- Validly signed tokens with odd claims: never a 500 ------------------------------------


ODD_EXP = pytest.mark.parametrize(
    "odd_exp", [lambda exp: exp + 0.5, lambda exp: str(exp)], ids=["float", "string"]
)


def log_out_a_token_with(odd_exp, app, keys):
    """PyJWT accepts any exp that int() takes; whatever keeps the revoked token must too."""
    client = app.test_client()
    user = client.post("/register", json={"username": "alice", "password": PASSWORD}).json
    claims = claims_for(user["id"])
    token = forge({**claims, "exp": odd_exp(claims["exp"])}, keys["JWT_SECRET_KEY"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert client.post("/logout", headers=bearer(token)).status_code == 204
    revoked = client.get("/me", headers=bearer(token))
    assert revoked.status_code == 401 and revoked.json == {"message": "The token has been revoked."}


@pytest.mark.steps(3, 4)
@pytest.mark.databases("postgresql")
@ODD_EXP
def test_logging_out_a_token_with_an_odd_exp(make_app, keys, odd_exp, database):
    log_out_a_token_with(odd_exp, make_app(), keys)


@pytest.mark.steps(3, 4)
@ODD_EXP
def test_logging_out_a_token_with_an_odd_exp_into_redis(make_app, keys, odd_exp, redis_url):
    log_out_a_token_with(odd_exp, make_app(REDIS_URL=redis_url), keys)


# --- 4. Login CSRF stays shut --------------------------------------------------------------

# The only bodies another site's form can send without a CORS preflight.
CROSS_SITE_BODIES = {
    "form": {"data": {"username": "alice", "password": PASSWORD}},
    "multipart": {"data": {"username": "alice", "password": PASSWORD}, "content_type": "multipart/form-data"},
    "text/plain": {
        "data": f'{{"username": "alice", "password": "{PASSWORD}"}}',
        "content_type": "text/plain",
    },
}


@pytest.mark.parametrize("kind", CROSS_SITE_BODIES)
def test_login_refuses_what_a_cross_site_form_can_send(make_app, step, kind):
    app = make_app()
    client = app.test_client()
    credentials = {"username": "alice", "password": PASSWORD}
    if step == 1:
        app.config.update(DEMO_USERNAME="alice", DEMO_PASSWORD=PASSWORD)
    else:
        assert client.post("/register", json=credentials).status_code == 201
    assert client.post("/login", json=credentials).status_code == 200  # the same, as JSON, works
    paths = ["/login", "/session"] if step == 4 else ["/login"]
    for path in paths:
        response = client.post(path, **CROSS_SITE_BODIES[kind])
        assert 400 <= response.status_code < 500, (path, response.json)
        assert "Set-Cookie" not in response.headers, path
        assert "token" not in response.get_data(as_text=True), path
    if step == 4:
        assert client.get("/session").status_code == 401  # no session was started
