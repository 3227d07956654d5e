"""The benchmark's probes (bench/benchapp.py) check what they claim to, and refuse what they should.

A probe that answered 200 to anything would make `make bench` measure nothing, and the cached
one keeps verdicts on tokens: that it keeps no verdict it should not is tested here.
"""

import importlib.util
import secrets

import pytest
from databases import close_connections
from steps import ROOT
from tokens import b64url, bearer, claims_for, forge, unb64url

# Loaded from its file, with nothing put on sys.path: the step it serves is the one the tests
# hand it (the learner's copy under STEPS_FROM), not one it imports itself.
spec = importlib.util.spec_from_file_location("benchapp", ROOT / "bench" / "benchapp.py")
benchapp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchapp)

pytestmark = pytest.mark.steps(4)  # the benchmark serves step 4

TOKEN_PROBES = ["/bench/pyjwt", "/bench/cached", "/bench/token"]


@pytest.fixture(autouse=True)
def no_kept_verdicts():
    benchapp.verified_once.cache_clear()
    yield
    benchapp.verified_once.cache_clear()


@pytest.fixture
def build_bench_app(step_package, base_config):
    built = []

    def build(**changes):
        built.append(benchapp.build_app(step_package, {**base_config, **changes}))
        return built[-1]

    yield build
    for app in built:
        close_connections(step_package, app)


@pytest.fixture
def bench_app(build_bench_app):
    return build_bench_app()


@pytest.fixture
def bench_client(bench_app):
    return bench_app.test_client()


@pytest.fixture
def user(bench_client):
    """A registered user's id, tokens and session cookie, made through the API."""
    account = {"username": "alice", "password": "correct horse battery"}
    user_id = bench_client.post("/register", json=account).json["id"]
    tokens = bench_client.post("/login", json=account).json
    assert bench_client.post("/session", json=account).status_code == 200
    return {"id": user_id, "token": tokens["access_token"], "refresh": tokens["refresh_token"]}


@pytest.fixture
def verifications(monkeypatch):
    """Counts the full PyJWT verifications the probes make."""
    made = []
    verify = benchapp.verify_with_pyjwt

    def counted(token, key):
        made.append(token)
        return verify(token, key)

    monkeypatch.setattr(benchapp, "verify_with_pyjwt", counted)
    return made


def test_every_probe_answers_200_with_its_credential(bench_client, user):
    for path in [*TOKEN_PROBES, "/bench/session"]:
        response = bench_client.get(path, headers=bearer(user["token"]))
        assert (path, response.status_code, response.json) == (path, 200, {"sub": str(user["id"])})


@pytest.mark.parametrize("path", [*TOKEN_PROBES, "/bench/session"])
def test_every_probe_answers_401_without_a_credential(bench_client, path):
    response = bench_client.get(path)
    assert response.status_code == 401
    assert set(response.json) == {"message"}


@pytest.mark.parametrize("path", TOKEN_PROBES)
def test_every_token_probe_refuses_a_token_signed_with_another_key(bench_client, user, path):
    claims = unb64url(user["token"].split(".")[1])
    response = bench_client.get(path, headers=bearer(forge(claims, "another key, " * 4)))
    assert response.status_code == 401


def test_the_cached_probe_verifies_a_token_once(bench_client, user, verifications):
    for _ in range(3):
        assert bench_client.get("/bench/cached", headers=bearer(user["token"])).status_code == 200
    assert verifications == [user["token"]]


def test_the_cached_probe_refuses_a_tampered_copy_of_a_kept_token(bench_client, user, verifications):
    assert bench_client.get("/bench/cached", headers=bearer(user["token"])).status_code == 200
    header, payload, signature = user["token"].split(".")
    claims = {**unb64url(payload), "sub": "2"}  # someone else's id, the real signature
    tampered = ".".join([header, b64url(claims), signature])
    for _ in range(2):  # refused each time: a verdict is kept only for a good token
        assert bench_client.get("/bench/cached", headers=bearer(tampered)).status_code == 401
    assert verifications == [user["token"], tampered, tampered]


def test_the_cached_probe_refuses_a_kept_token_once_it_expires(bench_client, user, monkeypatch):
    assert bench_client.get("/bench/cached", headers=bearer(user["token"])).status_code == 200
    expires = unb64url(user["token"].split(".")[1])["exp"]
    monkeypatch.setattr(benchapp, "now", lambda: expires)
    response = bench_client.get("/bench/cached", headers=bearer(user["token"]))
    assert (response.status_code, response.json) == (401, {"message": "The token has expired."})


def test_the_cached_probe_keeps_no_verdict_across_keys(bench_client, user, build_bench_app):
    assert bench_client.get("/bench/cached", headers=bearer(user["token"])).status_code == 200
    rotated = build_bench_app(JWT_SECRET_KEY=secrets.token_hex(32))
    response = rotated.test_client().get("/bench/cached", headers=bearer(user["token"]))
    assert response.status_code == 401


def test_the_cached_probe_keeps_no_long_token(bench_client, bench_app, user, verifications):
    key = bench_app.config["JWT_SECRET_KEY"]
    long_token = forge(claims_for(user["id"], padding="x" * benchapp.CACHED_TOKEN_LENGTH), key)
    for _ in range(2):
        assert bench_client.get("/bench/cached", headers=bearer(long_token)).status_code == 200
    assert verifications == [long_token, long_token]
    assert benchapp.verified_once.cache_info().currsize == 0


@pytest.mark.parametrize("path", TOKEN_PROBES)
def test_every_token_probe_refuses_an_expired_token(bench_client, bench_app, user, path):
    expired = forge(claims_for(user["id"], lifetime=-1), bench_app.config["JWT_SECRET_KEY"])
    response = bench_client.get(path, headers=bearer(expired))
    assert (response.status_code, response.json) == (401, {"message": "The token has expired."})


@pytest.mark.parametrize("path", TOKEN_PROBES)
def test_every_token_probe_refuses_a_refresh_token(bench_client, user, path):
    response = bench_client.get(path, headers=bearer(user["refresh"]))
    assert (response.status_code, response.json) == (401, {"message": "The token is invalid."})


def test_each_part_of_a_token_check_that_make_bench_times_runs(bench_app, user):
    """make bench times these alone, after minutes of load: a part that raised would lose the run."""
    with bench_app.app_context():
        parts = benchapp.token_check_parts(user["token"], bench_app.config["JWT_SECRET_KEY"])
        claims = [part() for part in parts.values()][:3]
    assert claims[0]["sub"] == claims[1]["sub"] == claims[2]["sub"] == str(user["id"])
