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
    assert someone.password_hash.startswith("$argon2id$"), (
        "password_hash must be argon2id's hash string ($argon2id$v=19$m=...), never the password itself"
    )
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


# --- GET /me: the token checked by hand (step 2), by @jwt_required() (steps 3-4) -------------

INVALID = 'Bearer error="invalid_token"'


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_me_answers_the_tokens_user_with_its_id_and_name(client, account):
    response = client.get("/me", headers=account.bearer())
    assert response.status_code == 200
    assert response.json == {"id": account.id, "username": account.username}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Basic abc"}, {"Authorization": "bearer abc"}],
    ids=["none", "empty", "basic", "lowercase-scheme"],
)
def test_me_without_a_bearer_token_answers_401_bearer(client, headers):
    response = client.get("/me", headers=headers)
    assert response.status_code == 401 and set(response.json) == {"message"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def bad_tokens(app, account, models):
    """Tokens that must not name anyone: {name: the Authorization header's value}."""
    good = account.login()["access_token"]
    with app.app_context():
        user = models.db.session.get(models.User, account.id)
        expired = user.generate_jwt(expires_in=timedelta(seconds=-1))
        refresh = forged(app, user, type="refresh")
    header, payload, signature = good.split(".")
    claims = pyjwt.decode(good, options={"verify_signature": False})
    return {
        "garbage": "Bearer abc",
        "three-parts-of-garbage": "Bearer a.b.c",
        "expired": f"Bearer {expired}",
        "foreign-key": f"Bearer {pyjwt.encode(claims, 'another key, of 32 bytes or more!!')}",
        "bad-signature": f"Bearer {header}.{payload}.{signature[:-4]}AAAA",
        "alg-none": f"Bearer {b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "refresh-type": f"Bearer {refresh}",
        "no-token": "Bearer",
        "two-tokens": f"Bearer {good} {good}",
    }


def test_me_with_a_bad_token_answers_401_invalid_token(app, client, account, models):
    for name, header in bad_tokens(app, account, models).items():
        response = client.get("/me", headers={"Authorization": header})
        assert response.status_code == 401, name
        assert set(response.json) == {"message"}, name
        assert response.headers["WWW-Authenticate"] == INVALID, name


def test_me_of_a_deleted_user_answers_401_invalid_token(app, client, account, models):
    headers = account.bearer()
    with app.app_context():
        models.db.session.delete(models.db.session.get(models.User, account.id))
        models.db.session.commit()
    response = client.get("/me", headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == INVALID


@pytest.mark.steps(2)  # step 3 swaps this hand check for @jwt_required()
def test_me_checks_the_token_with_the_models_own_verify_jwt(client, account, models, monkeypatch):
    token = account.login()["access_token"]
    checked = []
    verify_jwt = models.User.verify_jwt

    def spy(given):
        checked.append(given)
        return verify_jwt(given)

    monkeypatch.setattr(models.User, "verify_jwt", staticmethod(spy))
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert client.get("/me", headers=bearer("abc")).status_code == 401
    assert checked == [token, "abc"]


def test_tokens_use_the_configured_algorithm_everywhere(make_app, step):
    """One source of truth: JWT_ALGORITHM signs the tokens login answers, and checks them."""
    from accounts import Account

    client = make_app(JWT_ALGORITHM="HS512").test_client()
    token = Account(client, step).login()["access_token"]
    assert pyjwt.get_unverified_header(token)["alg"] == "HS512"
    assert client.get("/me", headers=bearer(token)).status_code == 200
    claims = pyjwt.decode(token, options={"verify_signature": False})
    key = client.application.config["JWT_SECRET_KEY"]
    hs256 = pyjwt.encode(claims, key, algorithm="HS256")  # the right key, another algorithm
    assert client.get("/me", headers=bearer(hs256)).status_code == 401


# --- The to-dos: each user sees only their own, behind the same check as /me --------------


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
        me = request("GET", base + "/me", headers=bearer(login.json["access_token"]))
        assert me.status == 200 and me.json == {"id": created.json["id"], "username": "bob"}
        garbage = request("GET", base + "/me", headers=bearer("abc"))
        assert garbage.status == 401 and set(garbage.json) == {"message"}
        assert garbage.headers["WWW-Authenticate"] == INVALID
        missing = request("GET", base + "/me")
        assert missing.status == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert (tmp_path / "served.sqlite3").exists()
