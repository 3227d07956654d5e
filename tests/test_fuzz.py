"""A6: random requests against every endpoint of every step, with Hypothesis.

Random methods, paths, JSON bodies of any shape and type, raw bytes, and random or broken
Authorization, Content-Type and Cookie headers, mixed with real tokens and cookies so that the
random input also reaches the code behind a successful login. The property, for every request:

- never a 5xx;
- a 4xx answers a JSON object whose "message" is a string (HEAD answers carry no body);
- a 4xx leaves the database as it was: every row of users, todos, revoked_tokens (and any other
  table a step has) is the same after it.

Each test builds its step's app once and sends all its examples to it; nothing is reset between
examples, as nothing is reset between a real server's requests. Every app runs with TESTING off.

Two settings profiles: "default" (bounded and derandomized, so `make test` is quick and the same
on every run) and "fuzz" (many more random examples: `make fuzz`, i.e. HYPOTHESIS_PROFILE=fuzz).
"""

import json
import os
import time
from urllib.parse import quote

import pytest
from accounts import Account
from flask.sessions import SecureCookieSessionInterface
from flask_jwt_extended import create_access_token
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tokens import ATTACKER_PUBLIC_KEY, b64url, claims_for, forge

pytestmark = pytest.mark.fuzz

# One app serves all of a test's examples, so the function-scoped fixtures are meant to be
# shared between them; a request takes a few milliseconds, so no deadline either.
SHARED_APP = dict(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
settings.register_profile("default", max_examples=200, derandomize=True, print_blob=False, **SHARED_APP)
settings.register_profile("fuzz", max_examples=5000, **SHARED_APP)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# --- The app under test, built once per test -------------------------------------------------------


class World:
    """A step's app with one user who holds real tokens, a to-do and a session, so that random
    input can be sent alongside credentials that work."""

    def __init__(self, app, step, step_package):
        self.app, self.step, self.models = app, step, getattr(step_package, "models", None)
        self.client = app.test_client(use_cookies=False)  # no cookie carries over between examples
        self.account = Account(app.test_client(), step)
        self.todo_ids = [0, 1, 2, 2**31 - 1, 2**31]
        self.session_cookie = ""
        self.strategies = {}  # endpoints -> the strategy for requests to them, built on first use
        if step >= 2:
            headers = self.account.bearer()
            self.todo_ids.append(
                self.client.post("/todos", json={"title": "seed"}, headers=headers).json["id"]
            )
        if step >= 4:
            started = self.client.post("/session", json=self.account.credentials)
            self.session_cookie = started.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]

    def stored(self):
        """Every row of every table."""
        if self.models is None:
            return {}
        with self.app.app_context():
            db = self.models.db
            return {
                t.name: sorted(map(tuple, db.session.execute(select(t)))) for t in db.metadata.sorted_tables
            }

    def token(self, kind):
        """A token of this kind, made now: real ones, and the forgeries of the attack catalog."""
        key = self.app.config["JWT_SECRET_KEY"]
        subject = self.account.username if self.step == 1 else self.account.id
        if kind in ("access", "refresh"):
            with self.app.app_context():
                if self.step == 1:
                    return create_access_token(identity=subject)
                user = self.models.db.session.get(self.models.User, subject)
                if self.step == 2:
                    return user.generate_jwt()
                return user.generate_jwt(token_type=kind)
        forgeries = {
            "expired": lambda: forge(claims_for(subject, lifetime=-10), key),
            "alg-none": lambda: forge(claims_for(subject), "", header={"alg": "none"}, signature=""),
            "wrong-key": lambda: forge(claims_for(subject), "k" * 32),
            "public-key": lambda: forge(claims_for(subject), ATTACKER_PUBLIC_KEY),
            "session-key": lambda: forge(claims_for(subject), self.app.config["SECRET_KEY"]),
            "no-signature": lambda: forge(claims_for(subject), key).rsplit(".", 1)[0],
        }
        return forgeries[kind]()

    def cookie(self, kind):
        serializer = SecureCookieSessionInterface().get_signing_serializer(self.app)
        cookies = {
            "real": lambda: self.session_cookie,
            "re-signed": lambda: serializer.dumps(
                {"_permanent": True, "started_at": int(time.time()), "user_id": getattr(self.account, "id", 1)}
            ),
            "tampered": lambda: (
                b64url({"_permanent": True, "started_at": int(time.time()), "user_id": 1})
                + "."
                + self.session_cookie.split(".", 1)[1]
            ),
        }
        return cookies[kind]()


@pytest.fixture
def world(app, step, step_package):
    return World(app, step, step_package)


# --- What a request is made of ----------------------------------------------------------------------

# Header text: anything a server could pass on (Latin-1, no line breaks). Hypothesis favours the
# low end of the range, where space, comma and semicolon sit: the separators header parsers trip
# on (", ," crashed Flask-JWT-Extended; see the last test below).
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, include_characters="\t"), max_size=40
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "\x00", "alice", "correct horse battery", "x" * 300, "세션", "\u202e"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)
usernames = st.from_regex(r"[A-Za-z0-9_.-]{3,32}", fullmatch=True) | st.just("alice") | json_values
passwords = st.text(min_size=8, max_size=20) | st.just("correct horse battery") | json_values
# Objects with the fields the endpoints read, so random values reach the field checks.
field_objects = st.fixed_dictionaries(
    {},
    optional={"username": usernames, "password": passwords, "title": json_values, "done": json_values},
)
bodies = st.one_of(
    st.none(),
    st.tuples(st.just("json"), field_objects | json_values),
    st.tuples(st.just("raw"), st.binary(max_size=200)),
    st.tuples(
        st.just("raw"), st.sampled_from([b"{", b'{"username": "a', b"\xff\xfe{}", b"null", b"[]" * 4000])
    ),
)
content_types = st.one_of(
    st.just("application/json"),
    st.sampled_from(
        [
            None,
            "application/json; charset=utf-8",
            "application/json; charset=utf-16",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/merge-patch+json",
        ]
    ),
    header_text,
)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]) | st.from_regex(
    r"[A-Z]{1,10}", fullmatch=True
)


TOKEN_KINDS = [
    "access",
    "refresh",
    "expired",
    "alg-none",
    "wrong-key",
    "public-key",
    "session-key",
    "no-signature",
]
SEPARATORS = [",", ", ", " , ", ",,"]
SCHEMES = ["Bearer ", "bearer ", "Bearer  ", "Bearer\t", "Basic ", "", "Bearer"]


def requests_to(world, endpoints):
    """A strategy for whole requests to these endpoints of this world's app. Built once per
    test: strategies are costly to build, cheap to draw from."""
    tokens = st.sampled_from(TOKEN_KINDS).map(world.token)  # made at draw time, so never stale
    one_authorization = st.one_of(
        st.builds(str.__add__, st.sampled_from(SCHEMES), tokens),
        st.builds(str.__add__, st.sampled_from(SCHEMES), header_text),
        header_text,
    )
    authorizations = st.one_of(
        st.none(),
        one_authorization,
        st.builds("{}{}{}".format, header_text, tokens, header_text),  # a token inside noise
        st.builds(str.join, st.sampled_from(SEPARATORS), st.lists(one_authorization, min_size=2, max_size=4)),
    )
    cookies = st.one_of(st.none(), header_text.map("session={}".format), header_text)
    if world.step >= 4:  # the step with sessions: its real cookie, re-signed and tampered
        cookies |= (
            st.sampled_from(["real", "re-signed", "tampered"]).map(world.cookie).map("session={}".format)
        )
    todo_ids = st.one_of(
        st.sampled_from(world.todo_ids).map(str),
        st.integers().map(str),
        header_text.map(lambda text: quote(text, safe="")),
    )
    paths = st.builds(
        lambda path, todo_id, query: path.replace("<id>", todo_id) + ("" if query is None else f"?{query}"),
        st.sampled_from(endpoints),
        todo_ids,
        st.none() | header_text.map(lambda text: quote(text, safe="=&")),
    )
    headers = st.fixed_dictionaries(
        {},
        optional={"Authorization": authorizations, "Content-Type": content_types, "Cookie": cookies},
    )
    return st.builds(Request, methods, paths, headers, bodies)


class Request:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def __repr__(self):
        return f"Request({self.method!r}, {self.path!r}, headers={self.headers!r}, body={self.body!r})"

    def send(self, client):
        data = None
        if self.body is not None:
            kind, value = self.body
            data = json.dumps(value).encode() if kind == "json" else value
        return client.open(self.path, method=self.method, headers=self.headers, data=data)


def assert_the_property(world, request, response, before):
    status = response.status_code
    assert status < 500, (status, response.get_data()[:300])
    if 400 <= status < 500:
        if request.method != "HEAD":
            assert response.mimetype == "application/json", response.get_data()[:300]
            body = json.loads(response.get_data())
            assert isinstance(body, dict) and isinstance(body.get("message"), str), body
        assert world.stored() == before, "a refused request changed the database"


def fuzz(world, data, endpoints):
    if endpoints not in world.strategies:
        world.strategies[endpoints] = requests_to(world, endpoints)
    request = data.draw(world.strategies[endpoints], label="request")
    before = world.stored()
    response = request.send(world.client)
    assert_the_property(world, request, response, before)


# --- The properties, endpoint by endpoint -----------------------------------------------------------

PUBLIC = ("/", "/login", "/register", "/me", "/todos/<id>", "/no-such-thing")


@given(data=st.data())
def test_random_requests_to_the_public_endpoints_never_fail(world, data):
    """Every step: GET /, POST /login, POST /register, and paths a step does not have."""
    fuzz(world, data, PUBLIC)


@pytest.mark.steps(2, 3, 4)  # step 2 has /me and the to-dos, but no /refresh or /logout
@given(data=st.data())
def test_random_requests_to_the_token_endpoints_never_fail(world, data):
    fuzz(world, data, ("/me", "/refresh", "/logout", "/todos", "/todos/<id>"))


@pytest.mark.steps(4)
@given(data=st.data())
def test_random_requests_to_the_session_endpoints_never_fail(world, data):
    fuzz(world, data, ("/session", "/session/todos"))


@pytest.mark.steps(2)
@given(token=st.one_of(header_text, st.text(), st.builds(forge, json_values, st.text(max_size=40))))
def test_verify_jwt_answers_none_for_any_token_an_attacker_can_make(world, token):
    """Step 2's User.verify_jwt, called directly: no exception for any text or any claims the
    attacker signs with a key of their own."""
    with world.app.app_context():
        assert world.models.User.verify_jwt(token) is None


@pytest.mark.steps(2, 3, 4)
@given(header=st.builds(str.join, st.sampled_from(SEPARATORS), st.lists(header_text, min_size=2, max_size=4)))
@example(header=", ,")
@example(header="Bearer x, ,")
def test_comma_separated_authorization_headers_never_fail(client, header):
    """Flask-JWT-Extended 4.7.4 crashes (IndexError, a 500) on an Authorization header with a
    blank part between commas; the fuzzer found it, and steps 3-4 guard it (validation.py).
    Step 2 reads the header by hand, and must not crash on it either."""
    response = client.get("/me", headers={"Authorization": header})
    assert response.status_code == 401 and isinstance(response.json["message"], str)
