"""Fixtures after Flask's tutorial: build a step's app with a given config, a client, a runner.

Tests that take the `step` fixture run once per step they apply to (the `steps` marker,
every step by default). `--step N` (or STEPS=N) keeps only step N. The step packages load from
the repository root, or from a learner's workspace when STEPS_FROM=exercises.
"""

import copy
import gc
import glob
import importlib
import importlib.abc
import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = {
    1: "step1_jwt_setup",
    2: "step2_user_model",
    3: "step3_protected_resource",
    4: "step4_sessions",
}
# --- BEGIN step loading (issue 17): a STEPS_FROM run tests that copy and nothing else -----
STEPS_ROOT = (ROOT / os.environ.get("STEPS_FROM", ".")).resolve()
sys.path.insert(0, str(STEPS_ROOT))


class StepFinder(importlib.abc.MetaPathFinder):
    """Finds each step package in STEPS_ROOT, first, whatever sys.path holds: a module that puts
    the repository root ahead on sys.path cannot swap a learner's copy for the reference."""

    def find_spec(self, name, path=None, target=None):
        init = STEPS_ROOT / name / "__init__.py"
        if name in STEPS.values() and init.is_file():
            return importlib.util.spec_from_file_location(name, init)
        return None


sys.meta_path.insert(0, StepFinder())


checked_steps = set()


def load_step(name):
    """The step package, or a loud error when it (or a module of it) was loaded from elsewhere,
    by something imported before this file: its tests would check the wrong code."""
    package = importlib.import_module(name)
    if name in checked_steps:
        return package
    for module_name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if (module_name == name or module_name.startswith(name + ".")) and file:
            if not Path(file).resolve().is_relative_to(STEPS_ROOT / name):
                raise pytest.UsageError(
                    f"{module_name} was imported from {file}, not from {STEPS_ROOT / name}: "
                    "something imported it before tests/conftest.py, so these tests would check "
                    "the wrong copy. Import step packages only through the step_package fixture."
                )
    checked_steps.add(name)  # checked once its modules are loaded: they come from its folder after
    return package


# --- END step loading (issue 17) ----------------------------------------------------------

# Every variable a step reads. Tests start from none of them, whatever the shell has.
APP_ENVIRONMENT = (
    "SECRET_KEY",
    "JWT_SECRET_KEY",
    "JWT_ACCESS_TOKEN_EXPIRES",
    "JWT_REFRESH_TOKEN_EXPIRES",
    "DEMO_USERNAME",
    "DEMO_PASSWORD",
    "DATABASE_URL",
    "SESSION_BACKEND",
    "REDIS_URL",
    "SESSION_COOKIE_SECURE",
    "PERMANENT_SESSION_LIFETIME",
    "SESSION_ABSOLUTE_LIFETIME",
    "FLASK_APP",
    "FLASK_DEBUG",
)


def pytest_addoption(parser):
    parser.addoption("--step", type=int, action="append", help="run only this step's tests")


def selected_steps(config):
    chosen = config.getoption("--step") or [int(n) for n in os.environ.get("STEPS", "").split()]
    present = [n for n, name in STEPS.items() if (STEPS_ROOT / name).is_dir()]
    return [n for n in present if not chosen or n in chosen]


def pytest_generate_tests(metafunc):
    """Parametrize `step` over the steps a test applies to and, in a module that sets
    DATABASES or for a test marked `databases`, `database` over those engines too (steps 2-4
    have a database)."""
    if "step" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("steps")
    applies_to = marker.args if marker else tuple(STEPS)
    steps = [n for n in selected_steps(metafunc.config) if n in applies_to]
    if "database" not in metafunc.fixturenames:
        metafunc.parametrize("step", steps, ids=[f"step{n}" for n in steps])
        return
    chosen = metafunc.definition.get_closest_marker("databases")
    engines = chosen.args if chosen else getattr(metafunc.module, "DATABASES", ("sqlite",))
    cases = []
    for n in steps:
        cases.append(pytest.param(n, "sqlite", id=f"step{n}"))
        if n >= 2 and "postgresql" in engines:
            cases.append(pytest.param(n, "postgresql", id=f"step{n}-postgresql", marks=pytest.mark.postgresql))
    metafunc.parametrize(("step", "database"), cases)


def pytest_configure(config):
    config.addinivalue_line("markers", "steps(*numbers): the steps a test applies to")
    config.addinivalue_line("markers", "postgresql: runs against a throwaway PostgreSQL server")
    config.addinivalue_line(
        "markers",
        "databases(*engines): for a test with a database, run it on PostgreSQL too when 'postgresql' "
        "is named, whatever its module's DATABASES (SQLite always)",
    )


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in APP_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def step_package(step):
    return load_step(STEPS[step])  # issue 17: not importlib.import_module


@pytest.fixture
def step_dir(step):
    return STEPS_ROOT / STEPS[step]


@pytest.fixture(scope="session")
def keys():
    """Random keys, one pair for the test session: the shared apps (see `app`) are built with
    them, and a test that forges or reads a token needs the same ones."""
    return {"SECRET_KEY": secrets.token_hex(32), "JWT_SECRET_KEY": secrets.token_hex(32)}


@pytest.fixture(scope="session")
def sqlite_folder():
    """Where the SQLite files go: in memory-backed /dev/shm where there is one, since every
    commit waits for the disk otherwise (and these files are thrown away)."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else None, prefix="auth-tests-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def database_engines():
    """An engine per database made by `database_url`, closed before its server stops."""
    engines = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


def empty_tables(engine, metadata):
    """Every row deleted and the ids started again at 1, as in a new database. DELETE, not
    TRUNCATE: PostgreSQL makes new files for every table truncated, far slower here."""
    import sqlalchemy

    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
            serial = "id" in table.c and table.c.id.autoincrement is not False
            if serial and engine.dialect.name == "postgresql" and table.c.id.type.python_type is int:
                sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
                connection.execute(sqlalchemy.text(f"SELECT setval({sequence}, 1, false)"))
    # SQLite: no AUTOINCREMENT table, so an emptied table's next id is 1 already.


@pytest.fixture
def database_url(request, database, step, step_package, database_engines):
    """The step's database, empty: made once for the session (creating the tables is most of
    what building a test app costs), emptied for each test. Step 1 has none."""
    import sqlalchemy

    if step < 2:
        return None
    metadata = step_package.models.db.metadata
    if (step, database) not in database_engines:
        if database == "postgresql":
            server = request.getfixturevalue("postgresql_server")
            admin = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sqlalchemy.text(f'CREATE DATABASE "step{step}"'))
            admin.dispose()
            url = f"{server}/step{step}"
        else:
            url = f"sqlite:///{request.getfixturevalue('sqlite_folder') / f'step{step}.sqlite3'}"
        engine = sqlalchemy.create_engine(url)
        metadata.create_all(engine)
        database_engines[step, database] = engine
    engine = database_engines[step, database]
    empty_tables(engine, metadata)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgresql_server():
    """A throwaway PostgreSQL cluster in a temporary folder, on a free loopback port."""
    pg_ctl = shutil.which("pg_ctl") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))), None)
    if pg_ctl is None:
        missing_server("PostgreSQL", "apt-get install postgresql")
    # pytest-postgresql's executor runs initdb and pg_ctl, waits for the port, stops it after.
    from pytest_postgresql.executors.proc import PostgreSQLExecutor
    from server import free_port

    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="auth-tests-postgresql-", dir=shm if shm.is_dir() else None))
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root (CI runs as root): run pg_ctl as its own user.
        shutil.chown(folder, "postgres")
        wrapper = folder / "pg_ctl"
        wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
        wrapper.chmod(0o755)
        pg_ctl = str(wrapper)
    port = free_port()
    executor = PostgreSQLExecutor(
        pg_ctl, "127.0.0.1", port, str(folder / "data"), str(folder), str(folder / "log"), "-w", "tests",
        # A throwaway cluster: durability buys nothing here and costs every commit a flush.
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )
    with executor:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def base_config(step, keys, database_url):
    """What every test app gets. TESTING stays off: that is how the app runs for real,
    and Flask-RESTful hides its 500s when TESTING is on."""
    config = {**keys, "TESTING": False}
    if step >= 2:
        config["SQLALCHEMY_DATABASE_URI"] = database_url
        # Cheap hashing keeps the suite fast; test_step2 checks the production default.
        config["PASSWORD_HASH_MEMORY_KIB"] = 8
        config["PASSWORD_HASH_TIME_COST"] = 1
    return config


def close_connections(step_package, app):
    """Close the app's database connections now, not whenever the garbage collector runs."""
    models = getattr(step_package, "models", None)
    if models:
        with app.app_context():
            for engine in models.db.engines.values():
                engine.dispose()


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


def missing_server(program, how):
    """Skip a test whose server is not installed, with how to get it; under CI, fail."""
    message = f"{program} is not installed ({how})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI must run these tests; .ci/run installs it.")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A throwaway redis-server on a free loopback port, for the whole test session."""
    executable = shutil.which("redis-server")
    if executable is None:
        missing_server("redis-server", "apt-get install redis-server")
    # pytest-redis's executor starts it, waits for its port, and stops it after.
    from pytest_redis.executor import RedisExecutor
    from server import free_port

    port = free_port()
    datadir = tmp_path_factory.mktemp("redis")
    with RedisExecutor(executable, 4, 30, "warning", "127.0.0.1", port, datadir=datadir):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def redis_url(redis_server):
    """The Redis server, emptied for this test."""
    import redis

    with redis.Redis.from_url(redis_server) as client:
        client.flushdb()
    return redis_server


class Account:
    """A user of the step's app: the demo account in step 1, a registered one after."""

    def __init__(self, client, step, username="alice", password="correct horse battery"):
        self.client, self.step = client, step
        if step == 1:
            app = client.application
            username, password = app.config["DEMO_USERNAME"], app.config["DEMO_PASSWORD"]
        else:
            response = client.post("/register", json={"username": username, "password": password})
            assert response.status_code == 201, response.json
            self.id = response.json["id"]
        self.username, self.password = username, password

    @property
    def credentials(self):
        return {"username": self.username, "password": self.password}

    def login(self):
        response = self.client.post("/login", json=self.credentials)
        assert response.status_code == 200, response.json
        return response.json

    def bearer(self):
        return {"Authorization": f"Bearer {self.login()['access_token']}"}


@pytest.fixture
def account(client, step):
    return Account(client, step)


@pytest.fixture
def make_account(client, step):
    def make(username, password="correct horse battery"):
        return Account(client, step, username, password)

    return make


def pytest_collection_finish(session):
    """Each test builds a whole Flask app: many young objects, so the cyclic garbage
    collector runs often and scans the libraries imported at start-up each time (a sixth of
    the suite's time). Freeze what exists now out of its sight, and let it run less often."""
    for step in selected_steps(session.config):
        load_step(STEPS[step])  # issue 17: not importlib.import_module; fails loudly here
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
