"""Which steps a test runs on: a pytest plugin (conftest.py loads it with `pytest_plugins`).

A test that takes the `step` fixture runs once per step it applies to: every step, or those
its `steps` marker names. `--step N` (or STEPS="N ...") keeps only step N; a test for other
steps is then deselected and counted in one line, not reported as skipped. The step packages
load from the repository root, or from a learner's copy with STEPS_FROM=<folder>, and every
test starts with none of the environment variables a step reads.
"""

import gc
import importlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = {
    1: "step1_jwt_setup",
    2: "step2_user_model",
    3: "step3_protected_resource",
    4: "step4_sessions",
}
STEPS_ROOT = (ROOT / os.environ.get("STEPS_FROM", ".")).resolve()
# Trio, which Selenium brings, registers a Hypothesis plugin for Trio's own tests: without this,
# importing Hypothesis imports Trio too, a second or so of every test process, for nothing.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
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
    by something imported before this plugin: its tests would check the wrong copy."""
    package = importlib.import_module(name)
    if name in checked_steps:
        return package
    for module_name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if (module_name == name or module_name.startswith(name + ".")) and file:
            if not Path(file).resolve().is_relative_to(STEPS_ROOT / name):
                raise pytest.UsageError(
                    f"{module_name} was imported from {file}, not from {STEPS_ROOT / name}: "
                    "something imported it before the tests' step loading, so these tests would "
                    "check the wrong copy. Import step packages only through the step_package fixture."
                )
    checked_steps.add(name)  # its modules load from its folder from now on
    return package

OTHER_STEPS = "other-steps"  # the id of a test left with no step to run on

# Every variable a step reads. Tests start from none of them, whatever the shell has.
APP_ENVIRONMENT = (
    "SECRET_KEY", "JWT_SECRET_KEY", "JWT_ACCESS_TOKEN_EXPIRES", "JWT_REFRESH_TOKEN_EXPIRES",
    "DEMO_USERNAME", "DEMO_PASSWORD", "DATABASE_URL", "SESSION_BACKEND", "REDIS_URL",
    "SESSION_COOKIE_SECURE", "PERMANENT_SESSION_LIFETIME", "SESSION_ABSOLUTE_LIFETIME",
    "TOKEN_BLOCKLIST", "LOGIN_RATE_LIMIT", "RATE_LIMIT_ENABLED",
    "FLASK_APP", "FLASK_DEBUG",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in APP_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def pytest_addoption(parser):
    parser.addoption("--step", type=int, action="append", help="run only this step's tests")


def pytest_configure(config):
    config.addinivalue_line("markers", "steps(*numbers): the steps a test applies to")
    config.addinivalue_line("markers", "postgresql: runs against a throwaway PostgreSQL server")
    config.addinivalue_line(
        "markers",
        "databases(*engines): for a test with a database, run it on PostgreSQL too when 'postgresql' "
        "is named, whatever its module's DATABASES (SQLite always)",
    )


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
    with_database = "database" in metafunc.fixturenames
    names = ("step", "database") if with_database else ("step",)
    if not steps:  # deselected below
        metafunc.parametrize(names, [(None,) * len(names)], ids=[OTHER_STEPS])
        return
    if not with_database:
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


def pytest_collection_modifyitems(config, items):
    """A test left with no step to run on is deselected (pytest counts it), not skipped."""
    kept, other = [], []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        (other if "step" in params and params["step"] is None else kept).append(item)
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = kept


def pytest_report_header(config):
    chosen = selected_steps(config)
    if len(chosen) < len(STEPS):
        named = f"step{'s' * (len(chosen) > 1)} {', '.join(map(str, chosen))}"
        return f"{named} only: the tests of the other steps are deselected, not skipped"


@pytest.fixture
def step_package(step):
    return load_step(STEPS[step])


@pytest.fixture
def step_dir(step):
    return STEPS_ROOT / STEPS[step]


def pytest_collection_finish(session):
    """Each test builds a whole Flask app: many young objects, so the cyclic garbage
    collector runs often and scans the libraries imported at start-up each time (a sixth of
    the suite's time). Freeze what exists now out of its sight, and let it run less often."""
    for step in selected_steps(session.config):
        load_step(STEPS[step])  # a copy loaded from elsewhere stops the run here, loudly
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
