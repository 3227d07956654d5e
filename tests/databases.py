"""The stores the steps use, for tests: a pytest plugin (conftest.py loads it).

`database_url` is the step's database, empty, on SQLite or, for a test parametrized so, on a
throwaway PostgreSQL cluster; `redis_url` a throwaway redis-server, empty. The servers start
once per test session on free loopback ports and stop after; not installed, their tests skip
and say how to get them (under CI they fail).
"""

import glob
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from server import free_port


def memory_backed_folder(prefix):
    """A new folder in /dev/shm where there is one: these files are thrown away, and every
    commit would wait for the disk otherwise."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() else None))


def missing_server(program, how):
    """Skip a test whose server is not installed, with how to get it; under CI, fail."""
    message = f"{program} is not installed ({how})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI must run these tests; .ci/run installs it.")
    pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_folder():
    folder = memory_backed_folder("auth-tests-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgresql_server():
    """A throwaway PostgreSQL cluster in a temporary folder, on a free loopback port."""
    pg_ctl = shutil.which("pg_ctl") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))), None)
    if pg_ctl is None:
        missing_server("PostgreSQL", "apt-get install postgresql")
    # pytest-postgresql's executor runs initdb and pg_ctl, waits for the port, stops it after.
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    folder = memory_backed_folder("auth-tests-postgresql-")
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


def close_connections(step_package, app):
    """Close the app's database connections now, not whenever the garbage collector runs."""
    models = getattr(step_package, "models", None)
    if models:
        with app.app_context():
            for engine in models.db.engines.values():
                engine.dispose()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A throwaway redis-server on a free loopback port, for the whole test session."""
    executable = shutil.which("redis-server")
    if executable is None:
        missing_server("redis-server", "apt-get install redis-server")
    # pytest-redis's executor starts it, waits for its port, and stops it after.
    from pytest_redis.executor import RedisExecutor

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
