"""The exercises (tools/exercises.py, exercises.toml) stay in step with the reference code.

The manifest and the marked blocks must agree; every exercise's tests must fail without its
code, pass with the reference, and not depend on the exercises after it (else `make check`
would count wrongly); and the commands must do what the README says. The processes these
need run side by side, one per core: together they are most of this module's time.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
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


def cli(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def collect():
    """{test id: None} for every test of the step test modules, on every step."""
    files = sorted({test.split("::")[0] for exercise in EXERCISES for test in exercise["tests"]})
    listing = subprocess.run(
        [*tool.PYTEST, "--collect-only", *[f"--step={step}" for step in STEPS], *files],
        cwd=ROOT,
        env={**os.environ, **tool.PYTEST_ENV, "STEPS_FROM": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    return dict.fromkeys(line for line in listing.stdout.splitlines() if "::" in line)


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory):
    """A fresh workspace of every step with exercises, made by `new` as a learner makes it."""
    into = tmp_path_factory.mktemp("scaffolds")
    for step in STEPS:
        made = cli("new", step, "--into", into)
        assert made.returncode == 0, made.stdout + made.stderr
    return into


@pytest.fixture(scope="module")
def runs(tmp_path_factory, scaffolds):
    """Every slow process of these tests, run side by side (a thread per core waits on each).

    Round k cuts the k-th exercise of every step (each step is its own folder), so one pytest
    run serves them all; the tests of a step's earlier exercises run along."""
    copy = tmp_path_factory.mktemp("reference") / tool.step_folder(STEPS[0]).name
    shutil.copytree(
        tool.step_folder(STEPS[0]), copy, ignore=shutil.ignore_patterns("__pycache__", "instance")
    )
    packages = ", ".join(tool.step_folder(step).name for step in STEPS)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        check_fresh = pool.submit(cli, "check", STEPS[0], "--from", scaffolds)
        check_reference = pool.submit(cli, "check", STEPS[0], "--from", copy.parent)
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
            without.append((cut, pool.submit(tool.run_tests, STEPS, into, tests)))
        reference = pool.submit(tool.run_tests, STEPS, ROOT, ids_of(EXERCISES, collected))
    return SimpleNamespace(
        # {exercise name: {node id: (outcome, message)} on its step, with only it cut}
        without={e["name"]: on_step(e["step"], future.result()) for cut, future in without for e in cut},
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
        assert set(exercise) == {"step", "name", "file", "tests", "hint"}, exercise
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
        failed = {nodeid: message for nodeid, (outcome, message) in mine.items() if outcome == "failed"}
        assert not failed, failed
        assert ("passed", "") in mine.values(), f"{test} runs no test on step {exercise['step']}"


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


def test_check_counts_all_on_a_copy_of_the_reference(runs):
    answer = runs.check_reference
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"\n{len(FIRST)}/{len(FIRST)} exercises pass\n" in answer.stdout


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
