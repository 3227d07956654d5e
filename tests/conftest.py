"""Fixtures after Flask's tutorial (flaskr's tests/conftest.py): the step's app built with a
test config, a test client, a CLI runner, and an account to log in with.

A test that takes `step` runs once per step it applies to (steps.py: the `steps` marker,
`--step N`); the databases and throwaway servers are in databases.py; the order of the
suite under `make test` in scheduling.py.
"""

import copy
import secrets

import pytest

pytest_plugins = ["steps", "databases", "scheduling"]
pytest.register_assert_rewrite(*pytest_plugins)  # imported just below, before pytest loads them

from accounts import Account  # noqa: E402
from databases import close_connections  # noqa: E402


@pytest.fixture(scope="session")
def keys():
    """Random keys, one pair for the test session: the shared apps (see `app`) are built with
    them, and a test that forges or reads a token needs the same ones."""
    return {"SECRET_KEY": secrets.token_hex(32), "JWT_SECRET_KEY": secrets.token_hex(32)}


@pytest.fixture
def base_config(step, keys, database_url):
    """What every test app gets. TESTING stays off: that is how the app runs for real,
    and Flask-RESTful hides its 500s when TESTING is on."""
    # No login limit: the suite logs in far more than a person (test_security_pass2 tests it).
    config = {**keys, "TESTING": False, "RATE_LIMIT_ENABLED": False}
    if step >= 2:
        config["SQLALCHEMY_DATABASE_URI"] = database_url
        # Cheap hashing keeps the suite fast; test_step2 checks the production default.
        config["PASSWORD_HASH_MEMORY_KIB"] = 8
        config["PASSWORD_HASH_TIME_COST"] = 1
    return config


@pytest.fixture
def make_app(step_package, base_config):
    """Builds a new app of the step's, for a test that changes a setting or the app itself."""
    built = []

    def make(**config):
        """The step's app; a setting given as None is left to the environment."""
        merged = {**base_config, **config}
        built.append(step_package.create_app({k: v for k, v in merged.items() if v is not None}))
        return built[-1]

    yield make
    for app in built:
        close_connections(step_package, app)


@pytest.fixture(scope="session")
def shared_apps():
    apps = {}
    yield apps
    for step_package, app in apps.values():
        close_connections(step_package, app)


@pytest.fixture
def app(step_package, base_config, shared_apps):
    """The step's app with the test config, built once and shared by the tests that take it:
    building one compiles each of its routes, once most of a unit test's time. Between
    tests only the database changes, and `database_url` empties it. A test that changes the
    app itself (a setting, a route) builds its own with make_app()."""
    key = (step_package.__name__, tuple(sorted(base_config.items())))
    if key not in shared_apps:
        shared_apps[key] = (step_package, step_package.create_app(dict(base_config)))
    app = shared_apps[key][1]
    settings = copy.deepcopy(dict(app.config))  # deep: a list changed in place counts too
    yield app
    if dict(app.config) != settings:
        del shared_apps[key]  # no later test gets the changed app
        pytest.fail("this test changed the shared app's settings: build its own with make_app()")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def models(step_package):
    return step_package.models


@pytest.fixture
def stored_user(app, models):
    """A user "alice" in the step's database (steps 2-4), inside an app context."""
    with app.app_context():
        alice = models.User(username="alice")
        alice.set_password("correct horse battery")
        models.db.session.add(alice)
        models.db.session.commit()
        yield alice


@pytest.fixture
def account(client, step):
    return Account(client, step)


@pytest.fixture
def make_account(client, step):
    def make(username, password="correct horse battery"):
        return Account(client, step, username, password)

    return make
