"""Step 2: a User model in a real database that generates and verifies its own tokens."""

import base64
import json
import threading
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import decode_token
from server import flask_run, request

# These suites run on SQLite and again on PostgreSQL (see conftest.py).
DATABASES = ("sqlite", "postgresql")

pytestmark = pytest.mark.steps(2, 3, 4)

PASSWORD = "correct horse battery"


@pytest.fixture
def user(stored_user):
    return stored_user


def user_count(app, models):
    with app.app_context():
        return models.db.session.query(models.User).count()


# --- The model -------------------------------------------------------------------------


def test_password_is_stored_as_an_argon2id_hash_and_checks(user):
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert user.check_password(PASSWORD)
    assert not user.check_password("correct horse batterY")
    assert not user.check_password("")


def test_a_broken_stored_hash_fails_the_check_without_an_error(user):
    user.password_hash = "not-a-hash"
    assert not user.check_password(PASSWORD)


def test_production_hash_parameters_meet_the_owasp_table(make_app, models):
    app = make_app(PASSWORD_HASH_MEMORY_KIB=None, PASSWORD_HASH_TIME_COST=None)
    with app.app_context():
        someone = models.User(username="someone")
        someone.set_password(PASSWORD)
    # $argon2id$v=19$m=19456,t=2,p=1$salt$hash: OWASP's argon2id row is m=19 MiB, t=2, p=1.
    _, variant, _, params, _, _ = someone.password_hash.split("$")
    costs = dict(item.split("=") for item in params.split(","))
    assert variant == "argon2id"
    assert int(costs["m"]) >= 19 * 1024 and int(costs["t"]) >= 2 and int(costs["p"]) >= 1


def test_generate_jwt_claims(app, user):
    token = user.generate_jwt()
    assert pyjwt.get_unverified_header(token)["alg"] == "HS256"
    claims = pyjwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert claims["sub"] == str(user.id)
    assert claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["jti"] != pyjwt.decode(user.generate_jwt(), options={"verify_signature": False})["jti"]
    short = pyjwt.decode(
        user.generate_jwt(expires_in=timedelta(seconds=30)), options={"verify_signature": False}
    )
    assert short["exp"] - short["iat"] == 30


@pytest.mark.steps(2)  # step 3 hands verification to @jwt_required()
def test_verify_jwt_returns_the_user_for_its_own_token(user, models):
    assert models.User.verify_jwt(user.generate_jwt()) == user


def test_flask_jwt_extended_accepts_a_generate_jwt_token_as_is(user):
    decoded = decode_token(user.generate_jwt())
    assert decoded["sub"] == str(user.id) and decoded["type"] == "access"


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged(app, user, **changes):
    now = int(time.time())
    claims = {"sub": str(user.id), "iat": now, "exp": now + 60, "jti": "j", "type": "access", **changes}
    return pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")


@pytest.mark.steps(2)  # step 3 hands verification to @jwt_required()
def test_verify_jwt_rejects_every_bad_token(app, user, models):
    good = user.generate_jwt()
    header, payload, signature = good.split(".")
    other = models.User(username="mallory")
    other.set_password(PASSWORD)
    models.db.session.add(other)
    models.db.session.commit()
    bad = {
        "expired": user.generate_jwt(expires_in=timedelta(seconds=-1)),
        "tampered": f"{header}.{b64({'sub': str(other.id), 'type': 'access'})}.{signature}",
        "bad signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "wrong key": pyjwt.encode(pyjwt.decode(good, options={"verify_signature": False}), "x" * 32),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "malformed": "not.a.token",
        "empty": "",
        "refresh type": forged(app, user, type="refresh"),
        "sub not a number": forged(app, user, sub="alice"),
    }
    bad["no exp"] = pyjwt.encode(
        {"sub": str(user.id), "iat": int(time.time()), "jti": "j", "type": "access"},
        app.config["JWT_SECRET_KEY"],
        algorithm="HS256",
    )
    for name, token in bad.items():
        assert models.User.verify_jwt(token) is None, name


@pytest.mark.steps(2)  # step 3 hands verification to @jwt_required()
def test_verify_jwt_returns_none_once_the_user_is_gone(user, models):
    token = user.generate_jwt()
    models.db.session.delete(user)
    models.db.session.commit()
    assert models.User.verify_jwt(token) is None


@pytest.mark.steps(2)  # step 3 hands verification to @jwt_required()
def test_verify_jwt_does_not_hide_bugs_behind_none(app, user, models, monkeypatch):
    """E6: the post's bare `except:` turned any bug into 'invalid token'."""
    monkeypatch.setattr(models.db.session, "get", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        models.User.verify_jwt(user.generate_jwt())


def test_usernames_are_unique_in_any_letter_case(user, models):
    twin = models.User(username="ALICE", password_hash="x")
    models.db.session.add(twin)
    with pytest.raises(Exception, match="UNIQUE|unique"):
        models.db.session.commit()
    models.db.session.rollback()
    assert models.User.find("aLiCe") == user


def test_init_db_drops_and_recreates_the_tables(app, runner, user, models):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Dropped and recreated the tables" in result.output
    assert user_count(app, models) == 0


def test_database_url_comes_from_the_environment(monkeypatch, make_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    app = make_app(SQLALCHEMY_DATABASE_URI=None)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == url
    assert (tmp_path / "elsewhere.sqlite3").exists()


# --- The endpoints ---------------------------------------------------------------------


def test_register_answers_201_with_the_new_user(client):
    response = client.post("/register", json={"username": "Alice", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json == {"id": 1, "username": "Alice"}


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice"])
def test_register_a_taken_username_in_any_case_answers_409(client, app, models, taken):
    client.post("/register", json={"username": "alice", "password": PASSWORD})
    response = client.post("/register", json={"username": taken, "password": "another password"})
    assert response.status_code == 409
    assert response.json == {"message": "That username is taken."}
    assert user_count(app, models) == 1


USERNAME_RULE = "'username' must be 3 to 32 letters, digits, '_', '.' or '-'."
PASSWORD_RULE = "'password' must be 8 to 128 characters long."


@pytest.mark.parametrize(
    "body, message",
    [
        ({"username": "ab", "password": PASSWORD}, USERNAME_RULE),
        ({"username": "a" * 33, "password": PASSWORD}, USERNAME_RULE),
        ({"username": "", "password": PASSWORD}, USERNAME_RULE),
        ({"username": "two words", "password": PASSWORD}, USERNAME_RULE),
        ({"username": "ünïcödé", "password": PASSWORD}, USERNAME_RULE),
        ({"username": "nul\x00byte", "password": PASSWORD}, "'username' must not contain NUL characters."),
        ({"username": "alice", "password": "nul\x00in a password"}, "'password' must not contain NUL characters."),
        ({"username": "alice\n", "password": PASSWORD}, USERNAME_RULE),
        ({"username": "alice", "password": "short"}, PASSWORD_RULE),
        ({"username": "alice", "password": ""}, PASSWORD_RULE),
        ({"username": "alice", "password": "p" * 129}, PASSWORD_RULE),
        ({"username": 7, "password": PASSWORD}, "'username' is required and must be a string."),
        ({"username": "alice"}, "'password' is required and must be a string."),
        ({"username": "alice", "password": True}, "'password' is required and must be a string."),
    ],
)
def test_register_bad_input_answers_400_naming_the_field_and_stores_nothing(
    client, app, models, body, message
):
    response = client.post("/register", json=body)
    assert response.status_code == 400
    assert response.json == {"message": message}
    assert user_count(app, models) == 0


def test_register_accepts_the_edges_of_the_rules(client):
    assert client.post("/register", json={"username": "a.b", "password": "p" * 8}).status_code == 201
    assert client.post("/register", json={"username": "z" * 32, "password": "p" * 128}).status_code == 201
    assert client.post("/register", json={"username": "_-.", "password": "pässwörd✓"}).status_code == 201


def test_register_body_not_an_object_answers_400_and_stores_nothing(client, app, models):
    response = client.post("/register", data="alice", content_type="text/plain")
    assert response.status_code == 400
    assert user_count(app, models) == 0


def test_racing_registrations_of_one_name_give_exactly_one_201(app, models):
    names = ["race", "RACE", "Race", "rAcE", "race", "RaCe"]
    statuses = []
    start = threading.Barrier(len(names))

    def register(name):
        client = app.test_client()
        start.wait()
        statuses.append(client.post("/register", json={"username": name, "password": PASSWORD}).status_code)

    threads = [threading.Thread(target=register, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * (len(names) - 1)
    assert user_count(app, models) == 1


@pytest.mark.steps(2)  # step 3 hands verification to @jwt_required()
def test_login_answers_a_token_that_verify_jwt_maps_back_to_the_user(client, app, models, account):
    token = account.login()["access_token"]
    with app.app_context():
        assert models.User.verify_jwt(token).username == account.username


def test_login_works_in_any_letter_case_of_the_username(client, account):
    response = client.post("/login", json={"username": "ALICE", "password": account.password})
    assert response.status_code == 200


def test_unknown_user_and_wrong_password_answer_the_same_401(client, account):
    unknown = client.post("/login", json={"username": "nobody", "password": account.password})
    wrong = client.post("/login", json={"username": account.username, "password": "wrong password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json == wrong.json == {"message": "Wrong username or password."}


@pytest.mark.steps(2)  # the same User.authenticate in every later step
def test_unknown_user_and_wrong_password_take_comparable_time(make_app, step):
    """With the production hash cost, a login for an unknown user still checks a hash.

    The two kinds of login take turns, and each keeps its fastest time: a busy machine slows
    single requests, not the least a request needs."""
    from accounts import Account

    app = make_app(PASSWORD_HASH_MEMORY_KIB=None, PASSWORD_HASH_TIME_COST=None)
    client = app.test_client()
    account = Account(client, step)
    bodies = {
        "unknown": {"username": "nobody", "password": account.password},
        "wrong": {"username": account.username, "password": "wrong password"},
    }
    fastest = {kind: float("inf") for kind in bodies}
    for _ in range(5):
        for kind, body in bodies.items():
            start = time.perf_counter()
            assert client.post("/login", json=body).status_code == 401
            fastest[kind] = min(fastest[kind], time.perf_counter() - start)
    assert 0.5 < fastest["unknown"] / fastest["wrong"] < 2, fastest


def test_the_demo_account_of_step1_is_gone(client):
    response = client.post("/login", json={"username": "demo", "password": "demo-password"})
    assert response.status_code == 401


@pytest.mark.server
@pytest.mark.steps(2)
def test_flask_run_serves_register_and_login_over_http(step_dir, keys, tmp_path):
    env = {**keys, "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}"}
    with flask_run(step_dir, env=env) as base:
        created = request("POST", base + "/register", {"username": "bob", "password": PASSWORD})
        assert created.status == 201 and created.json["username"] == "bob"
        again = request("POST", base + "/register", {"username": "BOB", "password": PASSWORD})
        assert again.status == 409
        login = request("POST", base + "/login", {"username": "bob", "password": PASSWORD})
        assert login.status == 200
        claims = pyjwt.decode(login.json["access_token"], keys["JWT_SECRET_KEY"], algorithms=["HS256"])
        assert claims["sub"] == str(created.json["id"])
    assert (tmp_path / "served.sqlite3").exists()
