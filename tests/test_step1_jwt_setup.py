"""Step 1: the JWTManager set-up, right under Flask-RESTful.

Most of these hold for every later step too, and run against each of them.
"""

import json
import logging
import os
import subprocess
import time

import jwt as pyjwt
import pytest
from server import FLASK, flask_run, request

STRONG = "k" * 32  # long enough; randomness is not what these tests are about


def test_index_describes_the_step_and_its_endpoints(client, step):
    response = client.get("/")
    assert response.status_code == 200
    assert response.json["step"] == step
    assert "POST /login" in response.json["endpoints"]


@pytest.mark.parametrize("debug", [False, True], ids=["", "debug"])
def test_every_answer_is_written_as_the_readmes_show_it(make_app, step, debug):
    """Flask-RESTful writes `{"message": "..."}` (indented under --debug); Flask's jsonify
    `{"message":"..."}`. The 401s of a Bearer check, the 400s of a bad body and Flask-RESTful's
    own 404 all come out the first way, as the READMEs' curls show them."""
    client = make_app(DEBUG=debug).test_client()
    answers = [
        client.get("/no-such-page"),
        client.post("/login", data="not json", content_type="text/plain"),
        client.post("/login", json={"username": "nobody", "password": "wrong password"}),
    ]
    if step >= 2:
        answers += [client.get("/me"), client.get("/me", headers={"Authorization": "Bearer not-a-token"})]
    for answer in answers:
        assert 400 <= answer.status_code < 500 and answer.mimetype == "application/json"
        assert answer.get_data(as_text=True) == json.dumps(answer.json, indent=4 if debug else None) + "\n"


def test_login_issues_an_access_token_with_every_claim(app, client, account):
    before = int(time.time())
    token = account.login()["access_token"]

    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = pyjwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert isinstance(claims["sub"], str) and claims["sub"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["type"] == "access"
    assert len(claims["jti"]) >= 32  # unique per token, so one token can be revoked later


def test_token_is_signed_with_the_jwt_key_not_the_session_key(app, account):
    token = account.login()["access_token"]
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, app.config["SECRET_KEY"], algorithms=["HS256"])


def test_token_lifetime_comes_from_the_environment(monkeypatch, make_app, step):
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRES", "60")
    app = make_app()
    from accounts import Account

    token = Account(app.test_client(), step).login()["access_token"]
    claims = pyjwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 60


def test_keys_come_from_the_environment(monkeypatch, make_app, keys, step):
    monkeypatch.setenv("JWT_SECRET_KEY", "e" * 40)
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    app = make_app(SECRET_KEY=None, JWT_SECRET_KEY=None)
    assert app.config["JWT_SECRET_KEY"] == "e" * 40
    assert app.config["SECRET_KEY"] == "s" * 40


@pytest.mark.steps(1)
def test_demo_account_comes_from_the_environment(monkeypatch, make_app):
    monkeypatch.setenv("DEMO_USERNAME", "teacher")
    monkeypatch.setenv("DEMO_PASSWORD", "a long demo passphrase")
    client = make_app().test_client()
    ok = client.post("/login", json={"username": "teacher", "password": "a long demo passphrase"})
    assert ok.status_code == 200
    old = client.post("/login", json={"username": "demo", "password": "demo-password"})
    assert old.status_code == 401


@pytest.mark.steps(1)
@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "demo", "password": "wrong-password"},
        {"username": "nobody", "password": "demo-password"},
        {"username": "DEMO", "password": "demo-password"},
        {"username": "", "password": ""},
    ],
)
def test_wrong_credentials_answer_401(client, credentials):
    response = client.post("/login", json=credentials)
    assert response.status_code == 401
    assert response.json == {"message": "Wrong username or password."}


NOT_AN_OBJECT = [
    pytest.param({"data": b"", "content_type": "application/json"}, id="empty"),
    pytest.param({"data": b"{not json", "content_type": "application/json"}, id="broken-json"),
    pytest.param({"json": ["demo", "demo-password"]}, id="array"),
    pytest.param({"json": "demo"}, id="string"),
    pytest.param({"json": None}, id="null"),
    pytest.param({"data": b'{"username": "demo"}', "content_type": "text/plain"}, id="not-json-type"),
    pytest.param({"data": {"username": "demo", "password": "x"}}, id="form"),
]


@pytest.mark.parametrize("request_args", NOT_AN_OBJECT)
def test_login_body_that_is_not_a_json_object_answers_400(client, request_args):
    response = client.post("/login", **request_args)
    assert response.status_code == 400
    assert response.json == {
        "message": "The body must be a JSON object, sent with Content-Type: application/json."
    }


@pytest.mark.parametrize(
    "body, field",
    [
        ({"password": "demo-password"}, "username"),
        ({"username": "demo"}, "password"),
        ({"username": 42, "password": "demo-password"}, "username"),
        ({"username": "demo", "password": ["demo-password"]}, "password"),
        ({"username": None, "password": "demo-password"}, "username"),
        ({"username": "demo", "password": {"$ne": ""}}, "password"),
    ],
)
def test_login_field_missing_or_not_a_string_answers_400_naming_it(client, body, field):
    response = client.post("/login", json=body)
    assert response.status_code == 400
    assert response.json == {"message": f"'{field}' is required and must be a string."}


def test_login_field_that_is_not_unicode_text_answers_400(client):
    body = b'{"username": "demo", "password": "\\ud800"}'  # a lone surrogate: valid JSON only
    response = client.post("/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"message": "'password' must be valid Unicode text."}


def test_oversized_body_answers_413(client):
    response = client.post("/login", json={"username": "demo", "password": "x" * 1_000_000})
    assert response.status_code == 413
    assert set(response.json) == {"message"}


def test_unknown_path_and_wrong_method_answer_json(client):
    missing = client.get("/no-such-thing")
    assert missing.status_code == 404 and set(missing.json) == {"message"}
    wrong = client.delete("/login")
    assert wrong.status_code == 405 and set(wrong.json) == {"message"}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_flasks_static_path_is_a_json_404_too(client, method):
    """Flask adds a /static route to every app, and its 404 and 405 are HTML pages: an API has
    no files to serve, so the steps have no such route."""
    response = client.open("/static/app.js", method=method)
    assert response.status_code == 404 and set(response.json) == {"message"}


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "soon", " 60", "1000000000", "9" * 5000])
def test_a_token_lifetime_that_is_not_a_positive_whole_number_stops_the_app(monkeypatch, make_app, value):
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRES", value)
    with pytest.raises(ValueError, match="JWT_ACCESS_TOKEN_EXPIRES must be a whole number of seconds, 1 to"):
        make_app()


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SECRET_KEY"])
@pytest.mark.parametrize("source", ["environment", "config"])
def test_a_key_shorter_than_32_bytes_stops_the_app(monkeypatch, make_app, step_package, name, source):
    weak = "your-secret-key"  # the post's: 15 bytes
    if source == "environment":
        monkeypatch.setenv(name, weak)
        config = {name: None}
    else:
        config = {name: weak}
    with pytest.raises(step_package.config.WeakKeyError) as refused:
        make_app(**config)
    message = str(refused.value)
    assert name in message and "15 bytes" in message and "secrets.token_hex(32)" in message
    assert weak not in message  # a refused secret is not echoed into logs


def test_one_key_for_both_jobs_stops_the_app(make_app, step_package):
    with pytest.raises(step_package.config.WeakKeyError, match="two different keys"):
        make_app(SECRET_KEY=STRONG, JWT_SECRET_KEY=STRONG)


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SECRET_KEY"])
def test_a_missing_key_is_made_random_with_a_warning(make_app, caplog, name, step_package):
    with caplog.at_level(logging.WARNING):
        first, second = make_app(**{name: None}), make_app(**{name: None})
    assert len(first.config[name]) == 64 and first.config[name] != second.config[name]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    signs = step_package.config.SIGNS[name]  # None: the step signs nothing with it, no warning
    if signs:
        assert any(name in w and f"{signs} will not survive a restart" in w for w in warnings)
    else:
        assert not any(name in w for w in warnings)


@pytest.mark.server
@pytest.mark.steps(1)
def test_flask_run_serves_step1_over_http(step_dir, keys):
    with flask_run(step_dir, env=keys) as base:
        index = request("GET", base + "/")
        assert index.status == 200 and index.json["step"] == 1
        login = request("POST", base + "/login", {"username": "demo", "password": "demo-password"})
        assert login.status == 200
        claims = pyjwt.decode(login.json["access_token"], keys["JWT_SECRET_KEY"], algorithms=["HS256"])
        assert claims["sub"] == "demo" and claims["type"] == "access"
        wrong = request("POST", base + "/login", {"username": "demo", "password": "nope"})
        assert wrong.status == 401 and wrong.json == {"message": "Wrong username or password."}


@pytest.mark.server
def test_flask_app_option_finds_the_step_from_the_root(step_package, keys, step, tmp_path):
    from steps import STEPS, STEPS_ROOT

    # A database of its own, not the learner's instance/ folder.
    env = {**os.environ, **keys, "DATABASE_URL": f"sqlite:///{tmp_path / 'routes.sqlite3'}"}
    listed = subprocess.run(
        [str(FLASK), "--app", STEPS[step], "routes"],
        cwd=STEPS_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert listed.returncode == 0, listed.stderr
    assert "/login" in listed.stdout
