"""The post's mistakes E1-E16, each reproduced in a few lines of our own, next to the fix.

Every pair reads the same way: first what the post's way really does (the exact error, or the
silent flaw), then that the repository's way does not. ERRATA.md links each mistake to these
tests and to the step tests that prove the rest. The post's snippets are never copied here:
each reproduction is written anew, as small as the mistake allows.

The suite runs with warnings as errors, so a warning a mistake is meant to raise is caught
with pytest.warns, and nothing else may warn.
"""

import ast
import importlib
import warnings
from datetime import datetime, timedelta
from types import SimpleNamespace

import flask_restful
import jwt as pyjwt
import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask_jwt_extended import JWTManager, create_access_token, decode_token, jwt_required
from flask_jwt_extended.exceptions import JWTDecodeError
from flask_sqlalchemy import SQLAlchemy
from jwt.exceptions import InvalidSubjectError
from jwt.warnings import InsecureKeyLengthWarning
from probes import JwtProbe
from sqlalchemy.exc import ArgumentError, LegacyAPIWarning
from steps import STEPS

POSTS_KEY = "your-secret-key"  # the post's key: 15 bytes, in the source
LONG_KEY = "a-test-key-that-is-long-enough-for-hs256"  # for the tiny apps, where length is not the point
OTHER_LONG_KEY = "another-test-key-long-enough-for-hs256"
PASSWORD = "correct horse battery"


def tiny_app(**config):
    """A bare Flask app with a JWTManager: the post's wiring, minus the mistake under test."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=OTHER_LONG_KEY, JWT_SECRET_KEY=LONG_KEY, **config)
    JWTManager(app)
    return app


# --- E1: the JWTManager is not PyJWT ------------------------------------------------------


def test_e1_a_jwt_manager_has_no_encode_or_decode():
    """The post names its JWTManager `jwt`, then calls `jwt.encode(...)` on it."""
    manager = JWTManager()
    for method in ("encode", "decode"):
        with pytest.raises(AttributeError, match=f"'JWTManager' object has no attribute '{method}'"):
            getattr(manager, method)


def test_e1_fixed_no_step_calls_its_jwt_manager_jwt(step, step_package, step_dir):
    """The manager is `jwt_manager` in every step; the name `jwt` is left to PyJWT."""
    names = [path.stem for path in step_dir.glob("*.py") if path.stem != "__init__"]
    modules = [step_package] + [importlib.import_module(f"{step_package.__name__}.{name}") for name in names]
    managers = {
        name: value
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, JWTManager)
    }
    assert managers and set(managers) == {"jwt_manager"}
    if step == 2:  # the User model signs its own tokens with PyJWT, imported under its own name
        assert step_package.models.pyjwt is pyjwt
    if step >= 3:  # Flask-JWT-Extended makes and verifies them: PyJWT is no name of the model's
        assert not hasattr(step_package.models, "jwt") and not hasattr(step_package.models, "pyjwt")


# --- E2: @jwt_required without parentheses -------------------------------------------------


def test_e2_bare_jwt_required_on_a_plain_flask_view_is_a_type_error():
    app = tiny_app()
    ran = []

    @jwt_required  # no parentheses: since 4.0 this makes the decorator, it does not apply it
    def secret():
        ran.append(True)
        return "the secret"

    app.add_url_rule("/secret", view_func=secret)
    assert app.test_client().get("/secret").status_code == 500
    # What the 500 hides, called the way Flask calls a view: with no positional argument.
    with pytest.raises(TypeError, match=r"wrapper\(\) missing 1 required positional argument: 'fn'"):
        secret()
    assert ran == []  # the "protected" body never ran, so nobody could ever reach it


def test_e2_bare_jwt_required_on_a_resource_answers_500():
    app = tiny_app()

    class Secret(flask_restful.Resource):
        @jwt_required  # the method now returns a decorator, which Flask-RESTful cannot serialize
        def get(self):
            return {"the": "secret"}

    flask_restful.Api(app).add_resource(Secret, "/secret")
    response = app.test_client().get("/secret")
    assert response.status_code == 500
    assert response.json == {"message": "Internal Server Error"}


@pytest.mark.steps(3, 4)
def test_e2_fixed_jwt_required_with_parentheses_guards_a_resource(client, account):
    assert client.get("/me").status_code == 401
    response = client.get("/me", headers=account.bearer())
    assert response.status_code == 200 and response.json["username"] == account.username


# --- E3: Flask-RESTful turns token errors into 500 -----------------------------------------


def probe_app(api_class, testing):
    """A Resource behind @jwt_required() on an Api of this class."""
    app = tiny_app(TESTING=testing)

    api_class(app).add_resource(JwtProbe, "/probe")
    return app


@pytest.mark.parametrize(
    "testing, status",
    [
        pytest.param(False, 500, id="testing-off-the-way-it-runs-500"),
        pytest.param(True, 401, id="testing-on-hides-it-401"),
    ],
)
def test_e3_plain_flask_restful_answers_500_for_a_missing_token_unless_testing_hides_it(testing, status):
    response = probe_app(flask_restful.Api, testing).test_client().get("/probe")
    assert response.status_code == status


@pytest.mark.steps(2, 3, 4)  # step 1 protects nothing; step 2 checks /me's token by hand
def test_e3_fixed_each_steps_app_answers_401_with_testing_off(make_app):
    app = make_app()
    assert not app.testing and not app.debug
    response = app.test_client().get("/me")
    assert response.status_code == 401
    assert set(response.json) == {"message"}


# --- E4: a short key in the source, signing both cookies and tokens ------------------------


def test_e4_pyjwt_warns_that_the_posts_key_is_too_short():
    with pytest.warns(InsecureKeyLengthWarning, match="15 bytes long.*32 bytes"):
        pyjwt.encode({"sub": "1"}, POSTS_KEY, algorithm="HS256")


def test_e4_with_only_secret_key_set_the_session_key_signs_the_tokens_too():
    """Flask-JWT-Extended falls back to SECRET_KEY: one leaked string forges both."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = POSTS_KEY  # and no JWT_SECRET_KEY, as in the post
    JWTManager(app)
    with app.app_context(), pytest.warns(InsecureKeyLengthWarning):
        token = create_access_token(identity="alice")
    with pytest.warns(InsecureKeyLengthWarning):
        assert pyjwt.decode(token, POSTS_KEY, algorithms=["HS256"])["sub"] == "alice"


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SECRET_KEY"])
def test_e4_fixed_create_app_refuses_the_posts_key(make_app, step_package, name):
    with pytest.raises(step_package.config.WeakKeyError, match=f"{name} is 15 bytes long"):
        make_app(**{name: POSTS_KEY})


# --- E5: a token without exp, iat or sub ----------------------------------------------------


class TenYearsLater(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(days=3653)


@pytest.fixture
def ten_years_later(monkeypatch):
    """Move PyJWT's clock ten years on (call it after the tokens are made)."""
    return lambda: monkeypatch.setattr(pyjwt.api_jwt, "datetime", TenYearsLater)


def test_e5_a_token_without_exp_is_still_good_ten_years_later(ten_years_later):
    token = pyjwt.encode({"id": 1}, LONG_KEY, algorithm="HS256")  # only a private `id` claim
    ten_years_later()
    assert pyjwt.decode(token, LONG_KEY, algorithms=["HS256"]) == {"id": 1}


def test_e5_flask_jwt_extended_refuses_an_id_claim_and_a_number_as_subject():
    with tiny_app().app_context():
        with pytest.raises(JWTDecodeError, match="Missing claim: sub"):
            decode_token(pyjwt.encode({"id": 1}, LONG_KEY, algorithm="HS256"))
        with pytest.raises(InvalidSubjectError, match="Subject must be a string"):
            decode_token(pyjwt.encode({"sub": 1}, LONG_KEY, algorithm="HS256"))


@pytest.mark.steps(2, 3, 4)
def test_e5_fixed_generate_jwt_tokens_carry_sub_iat_exp_jti_and_expire(app, stored_user, ten_years_later):
    token = stored_user.generate_jwt()
    claims = pyjwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert {"sub", "iat", "exp", "jti"} <= set(claims) and claims["sub"] == str(stored_user.id)
    ten_years_later()
    with pytest.raises(pyjwt.ExpiredSignatureError):
        pyjwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])


# --- E6: a bare except --------------------------------------------------------------------


@pytest.mark.steps(2)  # verify_jwt lives in step 2; from step 3 on @jwt_required() does its work
def test_e6_a_bare_except_hides_a_name_error_that_verify_jwt_lets_through(stored_user, models, monkeypatch):
    token = stored_user.generate_jwt()

    def verify_the_posts_way(token):
        try:
            return models.User.verify_jwt(token)
        except:  # noqa: E722 -- the post's bare except, reproduced on purpose
            return None

    with monkeypatch.context() as bug:
        bug.delattr(models, "db")  # a bug: a name verify_jwt needs is gone
        assert verify_the_posts_way(token) is None  # a bug that looks exactly like a bad token
        with pytest.raises(NameError, match="name 'db' is not defined"):
            models.User.verify_jwt(token)


def test_e6_with_a_bare_except_every_token_is_invalid_and_nobody_knows_why():
    """The post's two mistakes together: E1's AttributeError, swallowed by E6's except."""
    manager = JWTManager()
    good = pyjwt.encode({"id": 1}, LONG_KEY, algorithm="HS256")

    def verify_the_posts_way(token):
        try:
            return manager.decode(token, LONG_KEY, algorithms=["HS256"])
        except:  # noqa: E722 -- the post's bare except, reproduced on purpose
            return None

    assert verify_the_posts_way(good) is None


# --- E7: the legacy Query.get -------------------------------------------------------------


@pytest.mark.steps(2, 3, 4)
def test_e7_query_get_is_legacy_in_sqlalchemy_2_and_session_get_is_not(stored_user, models):
    with pytest.warns(LegacyAPIWarning, match=r"Query.get\(\) method is considered legacy"):
        assert models.User.query.get(stored_user.id) == stored_user
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert models.db.session.get(models.User, stored_user.id) == stored_user


@pytest.mark.steps(2, 3, 4)
def test_e7_fixed_no_step_uses_query_get(step_dir):
    for source in step_dir.glob("*.py"):
        assert ".query.get(" not in source.read_text(), source.name


# --- E8: a User with no columns -----------------------------------------------------------


def test_e8_a_model_with_no_columns_cannot_be_mapped():
    db = SQLAlchemy()
    with pytest.raises(ArgumentError, match="could not assemble any primary key columns"):

        class User(db.Model):
            def generate_jwt(self):
                return None


@pytest.mark.steps(2, 3, 4)
def test_e8_fixed_users_have_columns_and_a_hash_never_the_password(stored_user, models):
    columns = set(models.User.__table__.columns.keys())
    assert {"id", "username", "password_hash"} <= columns and "password" not in columns
    assert stored_user.password_hash.startswith("$argon2id$") and PASSWORD not in stored_user.password_hash


# --- E9: a method whose body is only a comment --------------------------------------------


def test_e9_a_method_body_that_is_only_a_comment_does_not_compile():
    source = "class Protected:\n    def get(self):\n        # only signed-in users get here\n"
    with pytest.raises(SyntaxError, match="expected an indented block"):
        compile(source, "<a method with no body>", "exec")


# --- E10: three views on one URL with one name ---------------------------------------------


def test_e10_three_views_named_index_on_one_url_stop_the_app_at_import():
    app = Flask(__name__)

    def a_view_named_index(answer):
        def index():
            return answer

        return index

    app.route("/")(a_view_named_index("session started"))
    with pytest.raises(AssertionError, match="overwriting an existing endpoint function: index"):
        app.route("/")(a_view_named_index("current user"))


@pytest.mark.steps(4)
def test_e10_fixed_start_read_and_delete_are_three_methods_of_one_resource(app):
    [rule] = [rule for rule in app.url_map.iter_rules() if rule.rule == "/session"]
    assert {"POST", "GET", "DELETE"} <= rule.methods
    assert app.view_functions[rule.endpoint].view_class.__name__ == "SessionResource"


# --- E11: del session[...] ----------------------------------------------------------------


def test_e11_del_on_a_missing_session_key_answers_500():
    app = Flask(__name__)
    app.secret_key = LONG_KEY

    @app.delete("/session")
    def end_session():
        del session["username"]  # raises when there is no such key: logged out twice, or never in
        return "", 204

    client = app.test_client()
    assert client.delete("/session").status_code == 500
    app.config["PROPAGATE_EXCEPTIONS"] = True  # show what the 500 was
    with pytest.raises(KeyError, match="username"):
        client.delete("/session")


@pytest.mark.steps(4)
def test_e11_fixed_delete_session_answers_204_without_a_session_and_twice(client):
    assert [client.delete("/session").status_code for _ in range(2)] == [204, 204]


# --- E12: the session is in the cookie, readable ----------------------------------------------


@pytest.mark.steps(4)
def test_e12_the_session_cookie_reads_without_the_key(client, account):
    """Flask's default session lives in the client's cookie: signed, not encrypted."""
    assert client.post("/session", json=account.credentials).status_code == 200
    cookie = client.get_cookie("session").value
    not_the_key = SimpleNamespace(secret_key=LONG_KEY, config={"SECRET_KEY_FALLBACKS": None})
    reader = SecureCookieSessionInterface().get_signing_serializer(not_the_key)
    signature_ok, data = reader.loads_unsafe(cookie)
    assert not signature_ok  # the wrong key: it could not forge this cookie...
    assert data == {"_permanent": True, "started_at": data["started_at"], "user_id": account.id}  # ...but it read every word


# --- E13: a session that starts for anyone and keeps what was there -----------------------------


def test_e13_a_session_started_without_a_check_keeps_what_was_planted():
    app = Flask(__name__)
    app.secret_key = LONG_KEY

    @app.post("/session")
    def start():
        session["username"] = "user1"  # no password checked, nothing cleared
        return {"started": True}

    client = app.test_client()
    with client.session_transaction() as planted:
        planted["role"] = "admin"
    assert client.post("/session").status_code == 200  # anyone, with no credentials
    with client.session_transaction() as after:
        assert after["role"] == "admin"


@pytest.mark.steps(4)
def test_e13_fixed_a_session_starts_after_the_password_and_from_empty(client, account):
    with client.session_transaction() as planted:
        planted["role"] = "admin"
    wrong = client.post("/session", json={"username": account.username, "password": "not it"})
    assert wrong.status_code == 401 and not wrong.headers.getlist("Set-Cookie")
    assert client.post("/session", json=account.credentials).status_code == 200
    with client.session_transaction() as after:
        assert dict(after) == {"_permanent": True, "started_at": after["started_at"], "user_id": account.id}


# --- E14: Flask's cookie defaults ---------------------------------------------------------


@pytest.mark.steps(4)
def test_e14_flasks_defaults_are_unsafe_and_step4_sets_its_own(app):
    defaults = Flask.default_config
    assert defaults["SESSION_COOKIE_SECURE"] is False
    assert defaults["SESSION_COOKIE_SAMESITE"] is None
    assert defaults["PERMANENT_SESSION_LIFETIME"] == timedelta(days=31)

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)


# --- E15: Flask-RESTful promised, plain views delivered ------------------------------------


def test_e15_every_endpoint_of_every_step_is_a_flask_restful_resource(app):
    endpoints = {name: view for name, view in app.view_functions.items() if name != "static"}
    assert endpoints
    for name, view in endpoints.items():
        view_class = getattr(view, "view_class", None)
        assert isinstance(view_class, type) and issubclass(view_class, flask_restful.Resource), name


# --- E16: a set-up that never imports Flask -------------------------------------------------


def test_e16_a_setup_without_its_import_is_a_name_error():
    with pytest.raises(NameError, match="name 'Flask' is not defined"):
        exec("app = Flask(__name__)", {"__name__": "the_posts_app"})


def test_e16_fixed_every_step_file_compiles_and_imports_only_its_own_step(step, step_dir):
    """Each step is complete as it is: nothing it needs comes from another step.

    That it really starts alone, in a fresh interpreter, is shown by `flask --app stepN routes`
    in test_step1_jwt_setup.py::test_flask_app_option_finds_the_step_from_the_root."""
    other_steps = {name for number, name in STEPS.items() if number != step}
    for path in step_dir.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))  # a SyntaxError fails here
        compile(tree, str(path), "exec")
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {name.split(".")[0] for name in imported} & other_steps, path.name
    assert "from flask import Flask" in (step_dir / "app.py").read_text()
