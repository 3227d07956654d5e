"""The exercises (tools/exercises.py, exercises.toml) stay in step with the reference code.

The manifest and the marked blocks must agree; every exercise's tests must fail without its
code, pass with the reference, and not depend on the exercises after it (else `make check`
would count wrongly); and the commands must do what the README says. The processes these
need run side by side, one per core: together they are most of this module's time.
"""

import fcntl
import importlib.util
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.exercises

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "exercises.py"
# Loaded from its file: tools/ is no package, and the name `exercises` is the workspace folder's.
spec = importlib.util.spec_from_file_location("exercises_tool", SCRIPT)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

EXERCISES = tool.manifest()
STEPS = sorted({exercise["step"] for exercise in EXERCISES})
STEP_FOLDERS = sorted(path for path in ROOT.glob("step[0-9]_*") if path.is_dir())

# Exercises whose absence still fails the tests of an exercise before them, and why. Each is a
# test missing from the step's test module; the entry goes once the test is there (strict).
ORDER_GAPS = {}


@pytest.fixture(scope="session", autouse=True)
def in_english():
    """These tests read the tool's English messages, whatever the locale of whoever runs them
    (under a Korean one the tool speaks Korean: tests/test_exercises_korean.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXERCISES_LANG", "en")
        yield


def by_name(exercise):
    return exercise["name"]


def of_step(step):
    return [exercise for exercise in EXERCISES if exercise["step"] == step]


def earlier(exercise):
    same_step = of_step(exercise["step"])
    return same_step[: same_step.index(exercise)]


def on_step(step, outcomes):
    """The outcomes of the tests run on this step: their ids hold the parameter `stepN`."""
    return {
        nodeid: outcome
        for nodeid, outcome in outcomes.items()
        if f"step{step}" in re.split(r"[-\[\]]", nodeid.partition("[")[2])
    }


def ids_of(exercises, collected):
    """The full ids of the exercises' tests on their own step only: a run of several steps
    would otherwise repeat every test on each step it applies to."""
    return [
        nodeid
        for exercise in exercises
        for nodeid in on_step(exercise["step"], collected)
        if any(tool.selects(test, nodeid) for test in exercise["tests"])
    ]


def cli(*args, gate_tests=None):
    """The tool as a learner runs it; its gate on `gate_tests` when given, else on GATE_ENV's."""
    narrowed = {"EXERCISE_GATE_TESTS": " ".join(gate_tests)} if gate_tests else {}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT,
        env={**os.environ, **GATE_ENV, **narrowed},
        capture_output=True,
        text=True,
        timeout=300,
    )


# Tests that run along in the round that cuts an exercise (see `runs`), for what they show:
# - test_bench.py puts the repository root first on sys.path as it is collected (through
#   bench/benchapp.py): the round's copy must still be what the step's tests check;
# - a flask run server answers 500 when its app meets the exercise; its log must say which.
BENCH = "tests/test_bench.py::test_every_probe_answers_401_without_a_credential"
HTTP = (
    "user_lookup",
    "tests/test_step3_protected_resource.py::test_flask_run_login_me_todos_logout_over_http",
)
ALONGSIDE = {
    EXERCISES[0]["name"]: [BENCH] if (ROOT / BENCH.split("::")[0]).exists() else [],
    HTTP[0]: [HTTP[1]],
}


def collect():
    """{test id: None} for every test of the step test modules, on every step."""
    files = {test.split("::")[0] for exercise in EXERCISES for test in exercise["tests"]}
    files = sorted(files | {test.split("::")[0] for tests in ALONGSIDE.values() for test in tests})
    listing = subprocess.run(
        [*tool.PYTEST_ALONE, "--collect-only", *[f"--step={step}" for step in STEPS], *files],
        cwd=ROOT,
        env={**os.environ, **tool.QUICK_ENV, "STEPS_FROM": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    return dict.fromkeys(line for line in listing.stdout.splitlines() if "::" in line)


# --- Plausible wrong solutions: data, one or more per exercise ------------------------------
# {exercise name: [(what is wrong, the body that replaces the exercise's raise, the tests that
# catch it)]}. Each must make `check` fail, and name that exercise. The tests are some of those
# the gate runs (every test of the step); `check` runs them on the exercise's step. A body is
# written at the indent of the raise it replaces. After the step code is re-cut, update here.
WRONG = {
    "strong_keys": [
        (
            "two equal keys are let through",
            """
        for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
            key = config.get(name)
            if not key:
                log.warning("%s is not set; it will not survive a restart", name)
                config[name] = secrets.token_hex(MIN_KEY_BYTES)
            elif len(key.encode()) < MIN_KEY_BYTES:
                raise WeakKeyError(f"{name} is {len(key.encode())} bytes long. {MAKE_A_KEY}")
        """,
            ["tests/test_step1_jwt_setup.py::test_one_key_for_both_jobs_stops_the_app"],
        )
    ],
    "issue_access_token": [
        (
            "a token that never expires",
            'return {"access_token": create_access_token(identity=username, expires_delta=False)}',
            ["tests/test_step1_jwt_setup.py::test_login_issues_an_access_token_with_every_claim"],
        )
    ],
    "set_password": [
        (
            "the password stored as it is",
            "self.password_hash = password",
            ["tests/test_step2_user_model.py::test_password_is_stored_as_an_argon2id_hash_and_checks"],
        )
    ],
    "check_password": [
        (
            "the password compared in plain text",
            "return self.password_hash == password",
            ["tests/test_step2_user_model.py::test_password_is_stored_as_an_argon2id_hash_and_checks"],
        )
    ],
    "generate_jwt": [
        (
            "a uuid without str(): no JSON",
            """
        config = current_app.config
        now = utcnow()
        lifetime = expires_in if expires_in is not None else config["JWT_ACCESS_TOKEN_EXPIRES"]
        claims = {"sub": str(self.id), "iat": now, "exp": now + lifetime, "jti": uuid.uuid4(), "type": "access"}
        return pyjwt.encode(claims, config["JWT_SECRET_KEY"], algorithm=config["JWT_ALGORITHM"])
        """,
            ["tests/test_step2_user_model.py::test_generate_jwt_claims"],
        )
    ],
    "verify_jwt": [
        (
            "int(sub) without parse_id: a 20-digit sub overflows",
            """
        try:
            claims = pyjwt.decode(
                token,
                current_app.config["JWT_SECRET_KEY"],
                algorithms=[current_app.config["JWT_ALGORITHM"]],
                options={"require": ["sub", "iat", "exp", "jti"]},
            )
        except pyjwt.InvalidTokenError:
            return None
        if claims.get("type") != "access" or not claims["sub"].isdigit():
            return None
        return db.session.get(User, int(claims["sub"]))
        """,
            ["tests/test_security.py::test_verify_jwt_of_a_signed_token_whose_sub_is_out_of_range_is_none"],
        )
    ],
    "token_required": [
        (
            "the None of a bad token not checked: the Resource runs for no one",
            "g.user = User.verify_jwt(token)",
            ["tests/test_step2_user_model.py::test_me_with_a_bad_token_answers_401_invalid_token"],
        )
    ],
    "token_errors_reach_flask": [
        (
            "every other error left unanswered: no super().handle_error(e)",
            """
        if isinstance(e, JWTExtendedException | PyJWTError):
            raise e
        """,
            ["tests/test_step1_jwt_setup.py::test_unknown_path_and_wrong_method_answer_json"],
        )
    ],
    "check_blocklist": [
        (
            "a token without a jti let through: the None case forgotten",
            """
        if current_app.config["TOKEN_BLOCKLIST"] == "redis":
            return redis_client().exists(redis_key(jti)) == 1
        return db.session.get(RevokedToken, jti) is not None
        """,
            ["tests/test_step3_protected_resource.py::test_a_token_without_a_jti_counts_as_revoked"],
        )
    ],
    "user_lookup": [
        (
            "int(sub) without parse_id: a 20-digit sub overflows",
            'return db.session.get(User, int(claims["sub"]))',
            ["tests/test_security.py::test_a_signed_token_whose_sub_is_out_of_range_answers_401"],
        )
    ],
    "revoke": [
        (
            "the expiry forgotten: rows past their exp are never pruned",
            """
        if current_app.config["TOKEN_BLOCKLIST"] == "redis":
            return redis_client().set(redis_key(claims["jti"]), 1, exat=int(claims["exp"]), nx=True) is True
        try:
            db.session.add(RevokedToken(jti=claims["jti"], expires_at=claims["exp"]))
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True
        """,
            [
                "tests/test_step3_protected_resource.py::test_revoked_tokens_are_kept_until_they_expire_then_pruned"
            ],
        )
    ],
    "refresh": [
        (
            "the refresh token never spent: it works again and again",
            """
        claims = get_jwt()
        return current_user.login_tokens(claims.get("family"), claims["exp"])
        """,
            [
                "tests/test_security_rotation_logout.py::test_r2_a_spent_refresh_token_sent_again_ends_the_whole_login"
            ],
        )
    ],
    "session_start": [
        (
            "the session not emptied first (fixation)",
            """
        regenerate = getattr(current_app.session_interface, "regenerate", None)
        if regenerate is not None:
            regenerate(session)
        session["user_id"] = user.id
        session["started_at"] = int(time.time())
        session.permanent = True
        """,
            ["tests/test_step4_sessions.py::test_s5_keys_set_before_login_are_gone_after_it"],
        )
    ],
    "session_read": [
        (
            "the id not parsed: an id past the column's range is a 500",
            'return db.session.get(User, session.get("user_id"))',
            ["tests/test_security.py::test_a_signed_session_whose_user_id_is_out_of_range_is_logged_out"],
        )
    ],
    "session_delete": [
        (
            "del session['user_id']: a second logout is a 500",
            'del session["user_id"]',
            ["tests/test_step4_sessions.py::test_s6_logout_twice_answers_204_both_times"],
        )
    ],
}


def write_wrong(step, into, exercise, body):
    """Step N's workspace in `into`, with only this exercise cut, and `body` in its place."""
    folder = tool.write_workspace(step, into, [exercise["name"]])
    path = folder / exercise["file"]
    raised = f'raise NotImplementedError("{exercise["name"]}")'
    lines = path.read_text().split("\n")
    (number,) = [n for n, line in enumerate(lines) if line.strip() == raised]
    indent = lines[number][: len(lines[number]) - len(lines[number].lstrip())]
    lines[number : number + 1] = textwrap.indent(textwrap.dedent(body).strip("\n"), indent).split("\n")
    path.write_text("\n".join(lines))


def wrong_rounds(tmp_path_factory, pool, collected):
    """Round k writes the k-th wrong solution of every exercise, each step in its own folder,
    and runs the tests said to catch them in one pytest process: {exercise name: [(what,
    {node id: result}, workspace)]}."""
    futures = []
    for k in range(max(len(cases) for cases in WRONG.values())):
        for position in range(max(len(of_step(step)) for step in STEPS)):
            into, cut, tests = tmp_path_factory.mktemp(f"wrong{k}-{position}"), [], []
            for step in STEPS:
                if position < len(of_step(step)) and k < len(WRONG.get(of_step(step)[position]["name"], [])):
                    exercise = of_step(step)[position]
                    what, body, catch = WRONG[exercise["name"]][k]
                    write_wrong(step, into, exercise, body)
                    cut.append((exercise, what))
                    tests += [n for n in on_step(step, collected) if any(tool.selects(t, n) for t in catch)]
            if cut:
                futures.append((into, cut, pool.submit(tool.run_tests, STEPS, into, tests)))
    found = {}
    for into, cut, future in futures:
        for exercise, what in cut:
            workspace = into / tool.step_folder(exercise["step"]).name
            found.setdefault(exercise["name"], []).append(
                (what, on_step(exercise["step"], future.result()), workspace)
            )
    return found


# The gate's case: an exercise, a test of it the wrong solution passes, and where the tests are.
GATE_CASE = (
    "issue_access_token",
    "tests/test_step1_jwt_setup.py::test_demo_account_comes_from_the_environment",
)
# The gate of `check` runs every test of the step. Here, where it runs beside other processes,
# only the step's own module: enough to show what `check` does with what the gate finds.
GATE_ENV = {
    "EXERCISE_GATE_WORKERS": "0",
    "EXERCISE_GATE_TESTS": f"tests/test_{tool.step_folder(STEPS[0]).name}.py",
}


def gate_check(tmp_path_factory, pool):
    """`check` on a workspace with GATE_CASE's first wrong solution, and a manifest that lists
    only a test it passes: every exercise passes its own tests, the gate must still fail."""
    folder = tmp_path_factory.mktemp("gate")
    name, kept = GATE_CASE
    exercise = next(e for e in EXERCISES if e["name"] == name)
    what, body, catch = WRONG[name][0]
    text = (ROOT / "exercises.toml").read_text()
    for test in exercise["tests"]:
        if test != kept:
            text = text.replace(f'    "{test}",\n', "")
    assert kept in text and all(test not in text for test in catch)
    (folder / "exercises.toml").write_text(text)
    write_wrong(exercise["step"], folder / "work", exercise, body)
    command = [sys.executable, str(SCRIPT), "check", exercise["step"], "--from", folder / "work"]
    env = {**os.environ, **GATE_ENV, "EXERCISES_MANIFEST": str(folder / "exercises.toml")}
    return pool.submit(
        subprocess.run, list(map(str, command)), cwd=ROOT, env=env, capture_output=True, text=True
    )


def once_per_run(tmp_path_factory, name, build):
    """build()'s result, built once per pytest run however many xdist workers run tests of
    this module (`pytest -n 2` spreads them): the first to come builds it in the run's own
    temporary folder, the others wait for it and read it there."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, which holds each worker's
    saved = root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if saved.exists():
            return pickle.loads(saved.read_bytes())
        built = build()
        saved.write_bytes(pickle.dumps(built))
        return built


@pytest.fixture(scope="session")
def scaffolds(tmp_path_factory):
    """A fresh workspace of every step with exercises, made by `new` as a learner makes it."""

    def build():
        into = tmp_path_factory.mktemp("scaffolds")
        for step in STEPS:
            made = cli("new", step, "--into", into)
            assert made.returncode == 0, made.stdout + made.stderr
        return into

    return once_per_run(tmp_path_factory, "scaffolds", build)


@pytest.fixture(scope="session")
def runs(tmp_path_factory, scaffolds):
    """Every slow process of these tests, run side by side (a thread per core waits on each),
    once per run (see once_per_run)."""
    return once_per_run(tmp_path_factory, "runs", lambda: run_all(tmp_path_factory, scaffolds))


def run_all(tmp_path_factory, scaffolds):
    """Round k cuts the k-th exercise of every step (each step is its own folder), so one pytest
    run serves them all; the tests of a step's earlier exercises run along."""
    copy = tmp_path_factory.mktemp("reference") / tool.step_folder(STEPS[0]).name
    shutil.copytree(
        tool.step_folder(STEPS[0]), copy, ignore=shutil.ignore_patterns("__pycache__", "instance")
    )
    packages = ", ".join(tool.step_folder(step).name for step in STEPS)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        # The gate: a wrong solution that the exercise's own tests miss (the manifest given
        # here lists too few) but another test of the step catches. The longest: first.
        gate = gate_check(tmp_path_factory, pool)
        check_fresh = pool.submit(cli, "check", STEPS[0], "--from", scaffolds)
        # The one end-to-end gate is gate_check's; here, where it passes, its tests are those of
        # the exercises: enough to show what `check` says then.
        first_tests = [test for exercise in of_step(STEPS[0]) for test in exercise["tests"]]
        check_reference = pool.submit(cli, "check", STEPS[0], "--from", copy.parent, gate_tests=first_tests)
        hint = pool.submit(cli, "hint", STEPS[0], "--from", scaffolds)
        importing = [sys.executable, "-c", f"import {packages}"]
        imported = pool.submit(subprocess.run, importing, cwd=scaffolds, capture_output=True, text=True)
        collected = collect()  # meanwhile: the rounds need the ids
        without = []
        for k in range(max(len(of_step(step)) for step in STEPS)):
            into, cut, tests = tmp_path_factory.mktemp(f"round{k}"), [], []
            for step in STEPS:
                if k < len(of_step(step)):
                    cut.append(of_step(step)[k])
                    tool.write_workspace(step, into, [cut[-1]["name"]])
                    tests += ids_of(of_step(step)[: k + 1], collected)
                    tests += [
                        n
                        for n in collected
                        if any(tool.selects(t, n) for t in ALONGSIDE.get(cut[-1]["name"], []))
                    ]
            # Traced: the tests of the exercises cut (which fail, and must say why) only.
            without.append(
                (cut, pool.submit(tool.run_tests, STEPS, into, tests, trace=ids_of(cut, collected)))
            )
        reference = pool.submit(tool.run_tests, STEPS, ROOT, ids_of(EXERCISES, collected), trace=False)
        # And with the reference imported before the tests' conftest: the run stops, loudly.
        plugin = tmp_path_factory.mktemp("shadow")
        (plugin / "shadow.py").write_text(
            f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport {tool.step_folder(2).name}.models\n"
        )
        preimported = pool.submit(
            subprocess.run,
            [*tool.PYTEST_ALONE, "-p", "shadow", "--step=2", "-m", "not postgresql", *of_step(2)[0]["tests"]],
            cwd=ROOT,
            env={**os.environ, **tool.QUICK_ENV, "STEPS_FROM": str(scaffolds), "PYTHONPATH": str(plugin)},
            capture_output=True,
            text=True,
        )
        wrong = wrong_rounds(tmp_path_factory, pool, collected)
    return SimpleNamespace(
        gate=gate.result(),
        # {exercise name: [(what is wrong, {node id: result}, workspace)]}, from WRONG
        wrong=wrong,
        preimported=preimported.result(),
        # {exercise name: {node id: (outcome, message)} on its step, with only it cut}
        without={e["name"]: on_step(e["step"], future.result()) for cut, future in without for e in cut},
        # the same, every test of the round, on every step
        round_of={e["name"]: future.result() for cut, future in without for e in cut},
        # {node id: (outcome, message)} of every exercise's tests on the reference
        reference=reference.result(),
        # the first step's `check` on a fresh workspace and on a copy of the reference, `hint`
        check_fresh=check_fresh.result(),
        check_reference=check_reference.result(),
        hint=hint.result(),
        imported=imported.result(),
    )


# --- The manifest and the marked blocks --------------------------------------------------


def test_manifest_entries_are_complete():
    names = [exercise["name"] for exercise in EXERCISES]
    assert len(names) == len(set(names)), "an exercise name is used twice"
    steps = [exercise["step"] for exercise in EXERCISES]
    assert steps == sorted(steps), "exercises.toml lists the steps in order, each step's exercises together"
    for exercise in EXERCISES:
        assert set(exercise) == {"step", "name", "file", "tests", "hint", "hint_ko"}, exercise
        assert re.fullmatch(r"\w+", exercise["name"]) and exercise["hint"].strip(), exercise
        assert exercise["tests"] and all(test.startswith("tests/") for test in exercise["tests"]), exercise


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_each_exercise_is_marked_in_its_step_and_file(exercise):
    marked = tool.marked_blocks(tool.step_folder(exercise["step"]))
    assert marked.get(exercise["name"]) == exercise["file"]


@pytest.mark.parametrize("folder", STEP_FOLDERS, ids=lambda folder: folder.name)
def test_each_marked_block_is_in_the_manifest(folder):
    marked = tool.marked_blocks(folder)  # a BEGIN without END, a nested or a mistyped marker raise
    if not (ROOT / "tests" / f"test_{folder.name}.py").exists():
        pytest.skip(f"{folder.name} has no tests yet, so its exercises cannot be listed yet")
    step = int(re.match(r"step(\d+)_", folder.name)[1])
    listed = {exercise["name"]: exercise["step"] for exercise in EXERCISES}
    assert sorted(set(marked) - set(listed)) == [], "marked, but not in exercises.toml"
    # Code kept from an earlier step is plain code: a step marks only its own exercises.
    assert sorted(name for name in marked if listed[name] != step) == [], "marked outside its own step"


# --- Each exercise: its tests fail without it, pass with the reference --------------------


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_each_listed_test_passes_on_the_reference(exercise, runs):
    """Also the proof that each entry names tests that exist and apply to the step (one that
    does not is collected once, as "[NOTSET]", and skipped). A variant may skip where its
    server is not installed."""
    outcomes = on_step(exercise["step"], runs.reference)
    for test in exercise["tests"]:
        mine = {nodeid: outcome for nodeid, outcome in outcomes.items() if tool.selects(test, nodeid)}
        failed = {
            nodeid: result["message"] for nodeid, result in mine.items() if result["outcome"] == "failed"
        }
        assert not failed, failed
        passed = [result for result in mine.values() if result["outcome"] == "passed"]
        assert passed, f"{test} runs no test on step {exercise['step']}"


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_its_tests_fail_without_the_exercise(exercise, runs):
    # Not each of them: a test may catch a wrong answer that the raise happens to get right.
    passes, _ = tool.verdict(exercise, runs.without[exercise["name"]])
    assert not passes, f"{exercise['name']}'s tests pass without its code: they check something else"


@pytest.mark.parametrize(
    "exercise",
    [
        pytest.param(exercise, marks=pytest.mark.xfail(reason=ORDER_GAPS[exercise["name"]], strict=True))
        if exercise["name"] in ORDER_GAPS
        else exercise
        for exercise in EXERCISES
    ],
    ids=by_name,
)
def test_the_exercises_before_pass_without_it(exercise, runs):
    for other in earlier(exercise):
        passes, failures = tool.verdict(other, runs.without[exercise["name"]])
        assert passes, f"{other['name']} needs {exercise['name']}, which comes after it: {failures[:3]}"


def test_check_runs_the_whole_step_and_names_what_its_other_tests_catch(runs):
    answer = runs.gate
    exercise = next(e for e in EXERCISES if e["name"] == GATE_CASE[0])
    count = len(of_step(exercise["step"]))
    assert answer.returncode == 1, answer.stdout + answer.stderr
    assert f"\n{count}/{count} exercises pass\n" in answer.stdout
    assert "Now every test of step" in answer.stdout and "Well done" not in answer.stdout
    assert f"Next: {GATE_CASE[0]}, at " in answer.stdout and "find a problem in it" in answer.stdout
    assert "Failing: " in answer.stdout and "Hint: " in answer.stdout


def as_in_a_terminal():
    """SIGINT as a terminal leaves it (a test run started with `&` would pass on its SIG_IGN)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ignoring_sigint():
    """SIGINT as a job started with `&` has it: ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signals", [as_in_a_terminal, ignoring_sigint], ids=["terminal", "background"])
def test_make_check_fails_without_a_make_error_banner(signals):
    """The tool says what is wrong; make's '*** [Makefile:N: check] Error 1' would read like a
    crash, so from a terminal there is none. A background job ignores SIGINT, with which the
    recipe stops make quietly: there make must still fail, banner or not. Step 99 has no
    exercises: the quickest failure."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: make check runs .venv/bin/python")
    stamp = ".venv/.installed-requirements"  # -o: never reinstall here
    answer = subprocess.run(
        ["make", "--no-print-directory", "-o", stamp, "check", "STEP=99"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=signals,
    )
    said = answer.stdout + answer.stderr
    assert "Step 99 has no exercises" in said
    if signals is as_in_a_terminal:  # make stopped by SIGINT, as the Makefile says: 130 in a shell
        assert answer.returncode == -signal.SIGINT and "***" not in said and "Error" not in said
    else:  # make's own failure
        assert answer.returncode == 2 and "***" in said


def test_every_exercise_has_a_wrong_solution():
    assert sorted(WRONG) == sorted(exercise["name"] for exercise in EXERCISES)


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_a_wrong_solution_fails_and_check_names_its_exercise(exercise, runs):
    """Plausible wrong answers (WRONG) fail tests that `check` runs, and `check` blames the
    exercise they are in: found by the exception's frames, or by which exercise the test
    reached. The tests are all among those of the gate (every test of the step)."""
    for what, outcomes, workspace in runs.wrong[exercise["name"]]:
        failures = [(nodeid, result) for nodeid, result in outcomes.items() if result["outcome"] == "failed"]
        assert failures, f"{exercise['name']}, {what}: no test fails, {outcomes}"
        name, _ = tool.culprit(exercise["step"], workspace, failures)
        assert name == exercise["name"], f"{what}: blamed on {name}, {failures}"


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_a_test_that_reaches_an_unsolved_exercise_says_it_is_not_written(exercise, runs):
    """Raised in the test, or answered as a 500 by the app (test client): either way the
    NotImplementedError, with the line that raises it, not 'assert 500 == 401'."""
    names = {e["name"] for e in of_step(exercise["step"])}
    failing = [r for r in runs.without[exercise["name"]].values() if r["outcome"] == "failed"]
    found = {tool.not_written(result, names) for result in failing} - {None}
    assert [name for name, _, _ in found] and {name for name, _, _ in found} == {exercise["name"]}, found
    for _, file, line in found:
        assert (
            Path(file).read_text().split("\n")[line - 1].strip()
            == f'raise NotImplementedError("{exercise["name"]}")'
        )


def test_a_500_from_flask_run_is_traced_to_the_unsolved_exercise_in_the_server_log(runs):
    name, test = HTTP
    (result,) = [
        r for n, r in runs.round_of[name].items() if tool.selects(test, n) and r["outcome"] != "skipped"
    ]
    assert result["outcome"] == "failed"
    assert (tool.not_written(result, {name}) or [None])[0] == name, result


def test_a_run_on_an_unsolved_copy_tests_that_copy_whatever_else_is_collected(runs):
    """The round that cuts the first exercise also collects test_bench.py (ALONGSIDE)."""
    if not ALONGSIDE[EXERCISES[0]["name"]]:
        pytest.skip("no test module puts the repository root on sys.path any more")
    outcomes = runs.round_of[EXERCISES[0]["name"]]
    assert any(tool.selects(BENCH, nodeid) for nodeid in outcomes), "test_bench.py was not collected"
    mine = on_step(EXERCISES[0]["step"], outcomes)
    ran = {n: r for n, r in mine.items() if any(tool.selects(t, n) for t in EXERCISES[0]["tests"])}
    assert ran and all(tool.not_written(r, {EXERCISES[0]["name"]}) for r in ran.values()), ran


def test_a_step_package_imported_before_the_tests_stops_the_run(runs):
    answer = runs.preimported
    assert answer.returncode not in (0, 1), answer.stdout + answer.stderr
    assert "would check the wrong copy" in answer.stdout + answer.stderr


# --- The commands ----------------------------------------------------------------------------


def test_new_cuts_every_exercise_and_leaves_no_marker(scaffolds):
    for exercise in EXERCISES:
        code = (scaffolds / tool.step_folder(exercise["step"]).name / exercise["file"]).read_text()
        assert f"# TODO({exercise['name']}): " in code
        assert f'raise NotImplementedError("{exercise["name"]}")' in code
    leftovers = [path for path in scaffolds.rglob("*.py") if "EXERCISE" in path.read_text()]
    assert leftovers == []


def test_new_scaffolds_import(runs):
    """NotImplementedError is raised when the code runs, never when the package imports."""
    assert runs.imported.returncode == 0, runs.imported.stderr


# --- A function still as `make exercise` wrote it: not written, without running a test -------


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_a_fresh_exercise_is_not_written_and_named_at_its_raise(exercise, tmp_path):
    folder = tool.write_workspace(exercise["step"], tmp_path, [exercise["name"]])
    _, result = tool.still_cut(exercise, folder)
    name, file, line = tool.not_written(result, {exercise["name"]})
    assert name == exercise["name"]
    assert Path(file).read_text().split("\n")[line - 1].strip() == f'raise NotImplementedError("{name}")'


def test_an_answer_above_a_raise_left_in_place_runs_its_tests(tmp_path):
    """A learner who writes the answer and keeps the raise under a `return` has an answer."""
    exercise = EXERCISES[0]
    folder = tool.write_workspace(exercise["step"], tmp_path, [exercise["name"]])
    path = folder / exercise["file"]
    raised = f'raise NotImplementedError("{exercise["name"]}")'
    text = path.read_text()
    indent = text.split(raised)[0].rsplit("\n", 1)[1]
    path.write_text(text.replace(raised, f"return None  # my answer\n{indent}{raised}"))
    assert tool.still_cut(exercise, folder) is None
    path.unlink()  # nor a deleted file: its tests say what is wrong
    assert tool.still_cut(exercise, folder) is None


def test_check_runs_no_test_of_an_exercise_still_cut(tmp_path, monkeypatch):
    step = STEPS[-1]
    first, *rest = of_step(step)
    tool.write_workspace(step, tmp_path, [e["name"] for e in rest])  # the first one written
    asked = []
    monkeypatch.setattr(tool, "run_tests", lambda steps, source, nodeids, **_: asked.extend(nodeids) or {})
    results = tool.progress(step, tmp_path)
    assert asked == first["tests"]
    assert [passes for _, passes, _ in results] == [False] * len(results)  # nothing ran: no pass
    assert all(tool.not_written(failures[0][1], {e["name"]}) for e, _, failures in results[1:])


def test_new_never_overwrites_a_workspace(tmp_path):
    made = cli("new", 1, "--into", tmp_path)
    assert made.returncode == 0 and "make check STEP=1" in made.stdout
    work = tmp_path / tool.step_folder(1).name / "config.py"
    work.write_text("# the learner's work\n")
    again = cli("new", 1, "--into", tmp_path)
    assert again.returncode != 0
    assert "rm -rf" in again.stderr and "make exercise STEP=1" in again.stderr
    assert work.read_text() == "# the learner's work\n"


def test_check_and_hint_without_a_workspace_say_to_make_one(tmp_path):
    for command in ("check", "hint"):
        answer = cli(command, 1, "--from", tmp_path)
        assert answer.returncode == 2 and "make exercise STEP=1" in answer.stdout


# The runs above show every exercise failing without its code and passing with the reference;
# these show that `check` and `hint` say so, for the first step.
FIRST = of_step(STEPS[0])


def test_check_counts_none_on_a_fresh_workspace(runs):
    answer = runs.check_fresh
    assert answer.returncode == 1, answer.stderr
    assert f"\n0/{len(FIRST)} exercises pass\n" in answer.stdout
    assert f"Next: {FIRST[0]['name']}, at " in answer.stdout and "Hint: " in answer.stdout
    # Without running a test: the line that raises, as a test that reached it would show it.
    raised = f'raise NotImplementedError("{FIRST[0]["name"]}")'
    said = re.search(rf"`{FIRST[0]['name']}` is not written yet: (\S+):(\d+) still raises", answer.stdout)
    assert said and Path(said[1]).read_text().split("\n")[int(said[2]) - 1].strip() == raised


def test_check_counts_all_on_a_copy_of_the_reference(runs):
    answer = runs.check_reference
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"\n{len(FIRST)}/{len(FIRST)} exercises pass\n" in answer.stdout
    assert "Now every test of step" in answer.stdout and "well done!" in answer.stdout


def test_hint_names_the_next_exercise(runs):
    answer = runs.hint
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith(f"Next: {FIRST[0]['name']}, at ")
    assert " ".join(answer.stdout.split()).endswith(" ".join(FIRST[0]["hint"].split()))


# --- The cutting rule, on a small file -------------------------------------------------------

SAMPLE = """def first():
    # BEGIN EXERCISE one: the instruction,
    # which goes on here
    x = 1  # kept only in the reference
    return x
    # END EXERCISE


def second():
    # BEGIN EXERCISE two: another
    return 2
    # END EXERCISE
"""


def test_cut_replaces_its_blocks_and_unmarks_the_others():
    assert tool.cut(SAMPLE, ["one"], "sample.py") == (
        "def first():\n"
        "    # TODO(one): the instruction,\n"
        "    # which goes on here\n"
        '    raise NotImplementedError("one")\n'
        "\n\n"
        "def second():\n"
        "    return 2\n"
    )


@pytest.mark.parametrize(
    "broken, complaint",
    [
        (SAMPLE.replace("    # END EXERCISE\n\n\ndef", "\n\ndef"), "BEGIN inside exercise one"),
        (SAMPLE.replace("# BEGIN EXERCISE two: another", "pass"), "END EXERCISE without a BEGIN"),
        (SAMPLE.rsplit("    # END EXERCISE", 1)[0], "two has no END EXERCISE"),
        (SAMPLE.replace("BEGIN EXERCISE two:", "BEGIN EXERCISE two"), "not '# BEGIN EXERCISE"),
    ],
    ids=["nested", "end-without-begin", "begin-without-end", "mistyped"],
)
def test_broken_markers_are_refused(broken, complaint):
    with pytest.raises(tool.MarkerError, match=re.escape(complaint)):
        tool.blocks(broken.split("\n"), "sample.py")


# --- Watch mode --------------------------------------------------------------------------------


def test_watch_checks_again_when_a_file_changes_and_stops_on_ctrl_c(tmp_path):
    """On a workspace with a syntax error, so that each check is quick (no pytest)."""
    assert cli("new", STEPS[0], "--into", tmp_path).returncode == 0
    broken = tmp_path / tool.step_folder(STEPS[0]).name / "broken.py"
    broken.write_text("def (:\n")
    watching = subprocess.Popen(
        [sys.executable, str(SCRIPT), "watch", str(STEPS[0]), "--from", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    try:

        def next_check():
            lines = []
            while not lines or not lines[-1].startswith("Watching "):
                lines.append(watching.stdout.readline())
                assert lines[-1], f"watch ended: {lines}"
            return "".join(lines)

        assert "broken.py:1: invalid syntax" in next_check()
        time.sleep(0.5)  # let the watcher settle before the change
        broken.write_text("def (:\n\n")
        assert "broken.py:1: invalid syntax" in next_check()
        watching.send_signal(signal.SIGINT)
        rest, _ = watching.communicate(timeout=10)
        assert watching.returncode == 0 and "Stopped watching." in rest
    finally:
        if watching.poll() is None:
            watching.kill()
            watching.wait()
