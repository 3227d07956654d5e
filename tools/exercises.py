"""Exercises cut from the reference steps, rustlings-style.

    python tools/exercises.py new N      write exercises/stepN_*/, step N with its exercises cut out
    python tools/exercises.py check N    run their tests, say how many pass and what to do next
    python tools/exercises.py hint N     the hint for the next exercise to do
    python tools/exercises.py watch N    check again whenever a file of the workspace changes

(`make exercise|check|hint|watch STEP=N` run these.) Once every exercise's own tests pass, `check`
runs the step's whole suite on the workspace, as `make test` would, and says "Well done" only
if all of it passes; when a test fails, it names the exercise whose code the test reached.
`new --into DIR` writes elsewhere and `--only NAME` cuts only that exercise; `check`, `hint` and
`watch --from DIR` read from there. Under a Korean locale (LC_ALL, LC_MESSAGES or LANG starting
with "ko"), or with `make check STEP=N LANG=ko`, it speaks Korean: MESSAGES and each `hint_ko`.

Only the reference steps are maintained. In their code, an exercise is a marked block:

    # BEGIN EXERCISE <name>: <instruction, which may go on over the
    # comment lines right after; it ends at the first line that is not a comment>
    ...reference code...
    # END EXERCISE

exercises.toml says which step each exercise belongs to, which tests check it, and a hint.
A step folder marks only its own exercises: code kept from an earlier step is plain code
(tests/test_exercises.py checks it).
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
# EXERCISES_FROM: another default workspace folder, for tests only (they run `make hint`).
WORKSPACES = Path(os.environ.get("EXERCISES_FROM", ROOT / "exercises"))
MARKER = re.compile(r"#\s*(BEGIN|END)\s+EXERCISE")
BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN EXERCISE (?P<name>\w+): (?P<text>.*)$")
END = re.compile(r"^\s*# END EXERCISE$")
COMMENT = re.compile(r"^\s*#")
TOOLS = Path(__file__).resolve().parent
# -P keeps the repository root off sys.path, where it could shadow the workspace's packages.
# exercise_report (a plugin in tools/) records each test's outcome and which exercise it
# reached; tools/server_log/ does the same for the flask run servers the tests start.
PYTEST_ALONE = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
PYTEST = [*PYTEST_ALONE, "-p", "exercise_report"]
# The quick loop, each exercise's own tests: SQLite is enough, and loading every third-party
# plugin (hypothesis, xdist, ...) costs more than the tests. A listed test that comes to need
# one must be given it here, say with "-p", "pytest_redis.plugin".
QUICK = ["-m", "not postgresql"]
QUICK_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
# The gate, every test that applies to the step: PostgreSQL and Redis where their servers are
# installed, flask run, the fuzzer. Not the notebooks (they run the reference), the load test
# (minutes) or the exercise tests. Two workers: much of it waits on servers.
GATE = ["-m", "not notebook and not load and not exercises"]
# EXERCISE_GATE_TESTS narrows the gate to some test files: for tests/test_exercises.py only,
# which checks what the gate does, beside other processes, and must stay quick.
GATE_TESTS = os.environ.get("EXERCISE_GATE_TESTS", "tests").split()
GATE_ENV = {"EXERCISE_GATE": "1"}
# EXERCISE_GATE_WORKERS=0 runs the gate in one process: tests/test_exercises.py does, as it
# runs beside other processes already.
GATE_WORKERS = os.environ.get("EXERCISE_GATE_WORKERS", "2")
# After a failing gate, at most this many of its failures run again, traced, to name the
# exercise they reach.
RETRACED = 20


def korean(env=os.environ):
    """Whether to speak Korean: EXERCISES_LANG (the Makefile sets it from `make ... LANG=ko`),
    else the locale, where LC_ALL wins over LC_MESSAGES, which wins over LANG."""
    names = ("EXERCISES_LANG", "LC_ALL", "LC_MESSAGES", "LANG")
    chosen = next((env[name] for name in names if env.get(name)), "")
    return chosen.lower().startswith("ko")


KOREAN = korean()
# What the tool says, {key: (English, Korean)}; the hints are in exercises.toml (hint, hint_ko).
MESSAGES = {
    "wrote": (
        "Wrote {target}/. Your exercises, in order:",
        "만들었습니다: {target}/. 풀 문제는 순서대로 다음과 같습니다.",
    ),
    "how": (
        "The step's README.md is there too. Each exercise is a `# TODO(name)` comment; replace the\n"
        "`raise NotImplementedError` under it with your code, then run: make check STEP={step}",
        "단계의 README.md도 함께 있습니다. 문제마다 `# TODO(name)` 주석이 있으니, 그 아래의\n"
        "`raise NotImplementedError` 줄을 내 코드로 바꾼 뒤 다음을 실행하십시오: make check STEP={step}",
    ),
    "exists": (
        "{target} exists already, and holds your work: it is left as it is.\n"
        "To start step {step} again: rm -rf {target} && make exercise STEP={step}",
        "{target}에는 이미 작성한 코드가 있으므로 그대로 둡니다.\n"
        "{step}단계를 처음부터 다시 하려면: rm -rf {target} && make exercise STEP={step}",
    ),
    "no_workspace": (
        "No workspace {workspace}: run `make exercise STEP={step}` first.",
        "작업 폴더가 없습니다: {workspace}. 먼저 다음을 실행하십시오: make exercise STEP={step}",
    ),
    "syntax": (
        "{where}: {error}. Fix that first, then check again.",
        "{where}: {error}. 이것부터 고친 뒤 다시 확인하십시오.",
    ),
    "count": ("{passed}/{total} exercises pass", "{total}문제 중 {passed}문제 통과"),
    "all_own_pass": (
        "Every exercise of step {step} passes its own tests: `make check STEP={step}` runs the rest.",
        "{step}단계의 모든 문제가 자기 테스트를 통과합니다. 나머지 테스트까지 실행하려면: "
        "make check STEP={step}",
    ),
    "gate": (
        "\nNow every test of step {step}, on your copy (HTTP over flask run, a database and Redis\n"
        "where their servers are installed): the exercises' own tests do not check everything.",
        "\n이제 내 사본으로 {step}단계의 모든 테스트를 실행합니다(flask run 위의 HTTP, 서버가\n"
        "설치되어 있으면 데이터베이스와 Redis까지). 문제마다 딸린 테스트만으로는 다 확인하지 못합니다.",
    ),
    "done": (
        "All {ran} pass. Step {step} is done: well done! Compare with {folder}/.",
        "{ran}개 모두 통과합니다. {step}단계를 마쳤습니다. 잘하셨습니다! 참고 답안은 {folder}/에 있습니다.",
    ),
    "some_fail": ("{failed} of {ran} fail.\n", "{ran}개 중 {failed}개가 실패합니다.\n"),
    "outside": ("They fail outside your exercises' code:", "내가 작성한 문제 코드 밖에서 실패합니다."),
    "next": ("Next: {name}, at {where}", "다음 문제: {name}, 위치 {where}"),
    "not_written": (
        "`{name}` is not written yet: {where} still raises NotImplementedError.",
        "아직 작성하지 않은 문제입니다: `{name}`. {where}에서 여전히 NotImplementedError가 발생합니다.",
    ),
    "others_find": (
        "The step's other tests find a problem in it.",
        "이 단계의 다른 테스트가 이 문제에서 오류를 찾았습니다.",
    ),
    "hint": ("Hint: ", "힌트: "),
    "failing": ("Failing: {nodeid}{more}", "실패한 테스트: {nodeid}{more}"),
    "more": (" (and {count} more)", " (외 {count}개)"),
    "from_code": ("      from your code: {function}, {where}", "      내 코드의 위치: {function}, {where}"),
    "all_of_it": ("All of it: {command}", "전체 출력: {command}"),
    "watching": (
        "\nWatching {workspace}/ for changes. Ctrl-C stops.",
        "\n{workspace}/의 변경을 지켜봅니다. Ctrl-C로 멈춥니다.",
    ),
    "stopped": ("\nStopped watching.", "\n지켜보기를 멈췄습니다."),
    "which_step": (
        "Say which step: make {target} STEP=N, where N is one of {steps}.\n",
        "단계를 지정하십시오: make {target} STEP=N (N은 {steps} 중 하나).\n",
    ),
    "no_exercises": (
        "Step {step} has no exercises; these steps have: {steps}.\n",
        "{step}단계에는 연습 문제가 없습니다. 연습 문제가 있는 단계: {steps}.\n",
    ),
    "unknown": ("Not an exercise of step {step}: {names}.\n", "{step}단계의 문제가 아닙니다: {names}.\n"),
}


def say(key, **values):
    """A message of MESSAGES in the learner's language."""
    return MESSAGES[key][KOREAN].format(**values)


def hint_of(exercise):
    return exercise.get("hint_ko", exercise["hint"]) if KOREAN else exercise["hint"]


class Block(NamedTuple):
    name: str
    begin: int  # index of the BEGIN line
    body: int  # index of the first line after the instruction
    end: int  # index of the END line


class MarkerError(ValueError):
    pass


def manifest():
    # EXERCISES_MANIFEST: another manifest, for tests/test_exercises.py only.
    path = Path(os.environ.get("EXERCISES_MANIFEST", ROOT / "exercises.toml"))
    return tomllib.loads(path.read_text(encoding="utf-8"))["exercise"]


def exercises_of(step):
    return [exercise for exercise in manifest() if exercise["step"] == step]


def step_folder(step):
    """The reference folder of a step, found the way the Makefile finds it: stepN_*."""
    found = [path for path in ROOT.glob(f"step{step}_*") if path.is_dir()]
    if len(found) != 1:
        raise SystemExit(f"There is no step {step} (no folder step{step}_* in {ROOT}).")
    return found[0]


def blocks(lines, where):
    """The marked blocks in a file's lines, checked: every BEGIN has its END, none nested."""
    found, open_block = [], None
    for number, line in enumerate(lines):
        if begin := BEGIN.match(line):
            if open_block:
                raise MarkerError(f"{where}:{number + 1}: BEGIN inside exercise {open_block[0]}")
            body = number + 1
            while body < len(lines) and COMMENT.match(lines[body]) and not END.match(lines[body]):
                body += 1
            open_block = (begin["name"], number, body)
        elif END.match(line):
            if not open_block:
                raise MarkerError(f"{where}:{number + 1}: END EXERCISE without a BEGIN")
            found.append(Block(*open_block, number))
            open_block = None
        elif MARKER.search(line):  # a typo in a marker would otherwise leave the answer in
            raise MarkerError(f"{where}:{number + 1}: not '# BEGIN EXERCISE name: text' or '# END EXERCISE'")
    if open_block:
        raise MarkerError(f"{where}: exercise {open_block[0]} has no END EXERCISE")
    return found


def marked_blocks(folder):
    """{name: file relative to the folder} for every marked block of a step folder."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        for block in blocks(path.read_text(encoding="utf-8").split("\n"), path):
            if block.name in found:
                raise MarkerError(f"{path}: exercise {block.name} is marked twice in {folder.name}")
            found[block.name] = path.relative_to(folder).as_posix()
    return found


def cut(text, names, where):
    """The file with the blocks in `names` replaced by a TODO, and other markers removed."""
    lines, out, position = text.split("\n"), [], 0
    for block in blocks(lines, where):
        out += lines[position : block.begin]
        if block.name in names:
            begin = BEGIN.match(lines[block.begin])
            out.append(f"{begin['indent']}# TODO({block.name}): {begin['text']}")
            out += lines[block.begin + 1 : block.body]
            # Raised at call time, so the package still imports and its other parts still run.
            out.append(f'{begin["indent"]}raise NotImplementedError("{block.name}")')
        else:
            out += lines[block.body : block.end]
        position = block.end + 1
    return "\n".join(out + lines[position:])


def write_workspace(step, into, names):
    """Copy step N into `into`, cutting the exercises in `names`; never over an existing one."""
    source = step_folder(step)
    target = into / source.name
    if target.exists():
        raise SystemExit(say("exists", target=shown(target), step=step))
    missing = set(names) - set(marked_blocks(source))
    if missing:
        raise SystemExit(f"No block is marked for {', '.join(sorted(missing))} in {source.name}.")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "instance"))
    for path in target.rglob("*.py"):
        path.write_text(cut(path.read_text(encoding="utf-8"), names, path), encoding="utf-8")
    return target


def shown(path):
    """A path the way a learner in the repository root would type it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def enclosing_function(tree, line):
    """The qualified name of the innermost function whose lines hold `line`, or None."""
    found, path = None, []

    def visit(node, names):
        nonlocal found
        for child in ast.iter_child_nodes(node):
            inner = names
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = [*names, child.name]
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    if child.lineno <= line <= child.end_lineno:
                        found = ".".join(inner)
            visit(child, inner)

    visit(tree, path)
    return found


def function_lines(tree, qualname):
    """(first line, decorators included, and last line) of the function so named, or None."""

    def visit(node, names):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = [*names, child.name]
                if ".".join(inner) == qualname and not isinstance(child, ast.ClassDef):
                    first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                    return first, child.end_lineno
                if found := visit(child, inner):
                    return found
        return None

    return visit(tree, [])


def qualname_of(exercise):
    """The function that holds the exercise's block in the reference ("User.set_password")."""
    reference = step_folder(exercise["step"]) / exercise["file"]
    text = reference.read_text(encoding="utf-8")
    block = next((b for b in blocks(text.split("\n"), reference) if b.name == exercise["name"]), None)
    return block and enclosing_function(ast.parse(text), block.begin + 1)


def function_source(text, qualname):
    """(first line number, the lines) of the function so named in a file's text, or None."""
    try:
        lines = function_lines(ast.parse(text), qualname)
    except SyntaxError:
        return None
    return lines and (lines[0], text.split("\n")[lines[0] - 1 : lines[1]])


def read(path):
    """A file's text, or "" when there is none (a learner may delete or rename one)."""
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def regions(step, workspace):
    """{exercise name: [file, first line, last line]}: where each exercise of the step is in
    the workspace, as the function that holds its block in the reference. A function, not the
    lines of the TODO: the learner may delete the TODO, and adds lines as they write."""
    found = {}
    for exercise in exercises_of(step):
        mine = workspace / exercise["file"]
        qualname = qualname_of(exercise)
        function = qualname and function_source(read(mine), qualname)
        if function:
            first, lines = function
            found[exercise["name"]] = [str(mine.resolve()), first, first + len(lines) - 1]
    return found


def run_tests(steps, steps_from, nodeids, gate=False, trace=True, quick=True):
    """Run tests on these steps in one pytest process: {node id: {"outcome", "message",
    "errors", "reached"}} (see tools/exercise_report.py). With gate, `nodeids` are ignored:
    every test that applies to the steps runs. Without quick, the tests run as the gate runs
    them (every plugin, PostgreSQL too). `trace` may name the only tests to trace: it costs
    about half their time again."""
    steps_from = Path(steps_from).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        where = {}
        for step in steps:
            where.update(regions(step, steps_from / step_folder(step).name))
        (Path(tmp) / "regions.json").write_text(json.dumps(where))
        if trace not in (True, False):
            (Path(tmp) / "traced.json").write_text(json.dumps(sorted(trace)))
        options = [f"--step={step}" for step in steps]
        if gate:
            options += GATE + GATE_TESTS + (["-n", GATE_WORKERS] if GATE_WORKERS != "0" else [])
        else:
            options += [*(QUICK if quick else []), *dict.fromkeys(nodeids)]
        command = [*PYTEST, *options]
        env = {
            **os.environ,
            **(GATE_ENV if gate else QUICK_ENV if quick else {}),
            "EXERCISE_TRACE": str(int(trace)) if trace in (True, False) else str(Path(tmp) / "traced.json"),
            "STEPS_FROM": str(steps_from),
            "EXERCISE_REPORT": tmp,
            "EXERCISE_REGIONS": str(Path(tmp) / "regions.json"),
            "PYTHONPATH": os.pathsep.join(
                [str(TOOLS), str(TOOLS / "server_log"), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        reports = sorted(Path(tmp).glob("report-*.json"))
        if ran.returncode not in (0, 1) or not reports:  # 1 is "some tests failed"
            last = (ran.stdout + ran.stderr).strip().split("\n")[-25:]  # where the cause is
            raise SystemExit("pytest could not run the tests:\n" + "\n".join(last))
        outcomes = {}
        for report in reports:
            outcomes.update(json.loads(report.read_text()))
        return outcomes


def selects(fragment, nodeid):
    """Whether a manifest entry (a file, a test, or a test with its parameters) covers a node id."""
    return nodeid == fragment or nodeid.startswith((fragment + "[", fragment + "::"))


def verdict(exercise, outcomes):
    """(passes, [(node id, result) of each failing test]): it passes when none of its tests
    fails and at least one ran and passed."""
    mine = {n: result for n, result in outcomes.items() if any(selects(t, n) for t in exercise["tests"])}
    failures = [(nodeid, result) for nodeid, result in mine.items() if result["outcome"] == "failed"]
    return not failures and any(r["outcome"] == "passed" for r in mine.values()), failures


def still_cut(exercise, workspace):
    """A failure as a test that reached the exercise would report it, while the function that
    holds it is still as `make exercise` wrote it (a TODO, then the raise); else None, and its
    tests decide. Compared whole: a `return` written above a raise left in place is an answer."""
    qualname = qualname_of(exercise)
    mine = qualname and function_source(read(workspace / exercise["file"]), qualname)
    if not mine:
        return None
    reference = step_folder(exercise["step"]) / exercise["file"]
    scaffold = function_source(cut(read(reference), [exercise["name"]], reference), qualname)
    first, lines = mine
    if not scaffold or [line.rstrip() for line in lines] != [line.rstrip() for line in scaffold[1]]:
        return None
    raised = f'raise NotImplementedError("{exercise["name"]}")'
    number = first + [line.strip() for line in lines].index(raised)
    error = {"type": "NotImplementedError", "message": exercise["name"]}
    error["frames"] = [[str((workspace / exercise["file"]).resolve()), number, qualname]]
    result = {"outcome": "failed", "message": raised, "errors": [error], "reached": []}
    return exercise["tests"][0], result


def progress(step, steps_from):
    """[(exercise, passes, failures)] for the exercises of a step. The tests of those written
    run in one pytest process; an exercise that still raises its NotImplementedError fails
    without them, so a `check` with exercises left to write answers at once."""
    todo = exercises_of(step)
    cut = {exercise["name"]: still_cut(exercise, steps_from / step_folder(step).name) for exercise in todo}
    written = [test for exercise in todo if not cut[exercise["name"]] for test in exercise["tests"]]
    outcomes = run_tests([step], steps_from, written) if written else {}
    results = []
    for exercise in todo:
        failure = cut[exercise["name"]]
        results.append((exercise, False, [failure]) if failure else (exercise, *verdict(exercise, outcomes)))
    return results


def not_written(result, names):
    """(name, file, line) when the test met the NotImplementedError of an exercise in `names`
    still cut out: raised in the test, or logged by the app before it answered 500."""
    for error in result["errors"]:
        if error["type"] == "NotImplementedError" and error["message"] in names and error["frames"]:
            file, line, _ = error["frames"][-1]
            return error["message"], file, line
    return None


def blame(nodeid, result, step, places):
    """The exercise of the step whose code a failing test reached, or None: the innermost one
    an exception went through (`places` is regions()); else, of those it reached, the last
    one called that lists the test; else the last one called before it failed."""
    for error in result["errors"]:
        for file, line, _ in reversed(error["frames"]):
            for name, (region_file, first, last) in places.items():
                if file == region_file and first <= line <= last:
                    return name
    exercises = {exercise["name"]: exercise for exercise in exercises_of(step)}
    reached = [name for name in result["reached"] if name in exercises]
    listing = [name for name in reached if any(selects(test, nodeid) for test in exercises[name]["tests"])]
    return (listing or reached or [None])[-1]


def where(exercise, workspace):
    """file:line of the exercise's TODO in the workspace; once the TODO is gone, of the
    function that holds it; else just the file."""
    path = workspace / exercise["file"]
    if path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if f"# TODO({exercise['name']})" in line:
                return f"{shown(path)}:{number}"
        region = regions(exercise["step"], workspace).get(exercise["name"])
        if region:
            return f"{shown(path)}:{region[1]}"
    return shown(path)


def new(step, into, names):
    target = write_workspace(step, into, names)
    print(say("wrote", target=shown(target)))
    for exercise in exercises_of(step):
        if exercise["name"] in names:
            print(f"  {exercise['name']:<28} {where(exercise, target)}")
    print(say("how", step=step))
    return 0


def check(step, source, verbose):
    """The progress (when verbose) and the next exercise to do; once every exercise's own tests
    pass, the step's whole suite. 0 once that passes too."""
    workspace = source / step_folder(step).name
    if not workspace.is_dir():
        print(say("no_workspace", workspace=shown(workspace), step=step))
        return 2
    for path in sorted(workspace.rglob("*.py")):  # pytest would only crash on these
        try:
            compile(path.read_text(encoding="utf-8"), path, "exec")
        except SyntaxError as error:
            print(say("syntax", where=f"{shown(path)}:{error.lineno}", error=error.msg))
            return 1
    results = progress(step, source)
    if verbose:
        for exercise, passes, _ in results:
            print(f"  [{'x' if passes else ' '}] {exercise['name']}")
        print(say("count", passed=sum(passes for _, passes, _ in results), total=len(results)))
    todo = [(exercise, failures) for exercise, passes, failures in results if not passes]
    if todo:
        exercise, failures = todo[0]
        if verbose:
            print()
        advise(step, source, exercise, failures, verbose)
        return 1
    if not verbose:  # `hint`: nothing left to hint at
        print(say("all_own_pass", step=step))
        return 0
    print(say("gate", step=step))
    outcomes = run_tests([step], source, [], gate=True, trace=False)
    failures = [(nodeid, result) for nodeid, result in outcomes.items() if result["outcome"] == "failed"]
    ran = sum(result["outcome"] != "skipped" for result in outcomes.values())
    if not failures:
        print(say("done", ran=ran, step=step, folder=step_folder(step).name))
        return 0
    print(say("some_fail", failed=len(failures), ran=ran))
    # Again, traced, to see which exercises they reach (a test that passes now keeps its failure).
    again = run_tests([step], source, [nodeid for nodeid, _ in failures[:RETRACED]], quick=False)
    failures = [(nodeid, again.get(nodeid, result)) for nodeid, result in failures]
    failures = [(n, r if r["outcome"] == "failed" else outcomes[n]) for n, r in failures]
    name, failures = culprit(step, workspace, failures)
    if name is None:
        print(say("outside"))
        show_failures(step, source, failures)
        return 1
    exercise = next(e for e in exercises_of(step) if e["name"] == name)
    advise(step, source, exercise, failures, verbose, by_the_gate=True)
    return 1


def culprit(step, workspace, failures):
    """(exercise name or None, its failures): the exercise that most failing tests reach
    (see blame); between equals, the first to do."""
    places, blamed = regions(step, workspace), {}
    for nodeid, result in failures:
        blamed.setdefault(blame(nodeid, result, step, places), []).append((nodeid, result))
    order = [exercise["name"] for exercise in exercises_of(step)]
    name = min(blamed, key=lambda name: (name is None, -len(blamed[name]), order.index(name) if name else 0))
    return name, blamed[name]


def advise(step, source, exercise, failures, verbose, by_the_gate=False):
    """What to do next about an exercise whose tests fail: where, the hint, the failure."""
    workspace = source / step_folder(step).name
    names = {e["name"] for e in exercises_of(step)}
    unwritten = next(filter(None, (not_written(result, names) for _, result in failures)), None)
    if unwritten and unwritten[0] != exercise["name"]:  # a test of it reached another one
        exercise = next(e for e in exercises_of(step) if e["name"] == unwritten[0])
    print(say("next", name=exercise["name"], where=where(exercise, workspace)))
    if unwritten:
        name, file, line = unwritten
        print(say("not_written", name=name, where=f"{shown(file)}:{line}"))
    elif by_the_gate:
        print(say("others_find"))
    label = say("hint")  # Hangul is twice as wide as ASCII in a terminal: shorter lines
    width, indent = (70, " " * 6) if KOREAN else (100, " " * len(label))
    text = textwrap.fill(
        hint_of(exercise),
        width,
        break_long_words=False,
        break_on_hyphens=False,
        initial_indent=label,
        subsequent_indent=indent,
    )
    print(text)
    if verbose and failures and not unwritten:
        print()
        show_failures(step, source, failures)


def show_failures(step, source, failures):
    nodeid, result = failures[0]
    more = say("more", count=len(failures) - 1) if len(failures) > 1 else ""
    print(say("failing", nodeid=nodeid, more=more) + f"\n    {result['message']}")
    for error in result["errors"][:1]:  # what your code raised, say behind a 500
        file, line, function = error["frames"][-1]
        print(f"    {error['type']}: {error['message']}")
        print(say("from_code", function=function, where=f"{shown(file)}:{line}"))
    print(say("all_of_it", command=f"STEPS_FROM={shown(source)} .venv/bin/pytest --step {step} '{nodeid}'"))


def watch(step, source):
    """`check` now and after every change to a .py file of the workspace, until Ctrl-C."""
    import watchfiles

    workspace = source / step_folder(step).name
    if not workspace.is_dir():
        return check(step, source, verbose=True)

    def run():
        if sys.stdout.isatty():
            print("\033[2J\033[H", end="")  # a clear screen for each run
        check(step, source, verbose=True)
        print(say("watching", workspace=shown(workspace)))

    try:
        # Started first: a file saved while a check runs counts as a change after it.
        changes = watchfiles.watch(workspace, watch_filter=watchfiles.PythonFilter())
        run()
        for _ in changes:
            run()
    except KeyboardInterrupt:
        print(say("stopped"))
        return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new_parser = commands.add_parser("new", help="write the workspace of step N")
    new_parser.add_argument("--into", type=Path, default=WORKSPACES, help="where (default: exercises/)")
    new_parser.add_argument("--only", action="append", metavar="NAME", help="cut only this exercise")
    for name in ("check", "hint", "watch"):
        command = commands.add_parser(name, help=f"{name} the workspace of step N")
        command.add_argument(
            "--from", dest="source", type=Path, default=WORKSPACES, help="default: exercises/"
        )
    for command in commands.choices.values():
        command.add_argument("step", type=int, nargs="?")  # optional, to answer a bare `make check`
    args = parser.parse_args(argv)

    steps = ", ".join(map(str, sorted({exercise["step"] for exercise in manifest()})))
    if args.step is None:
        target = {"new": "exercise"}.get(args.command, args.command)  # the Makefile's name for it
        parser.exit(2, say("which_step", target=target, steps=steps))
    if not exercises_of(args.step):
        parser.exit(2, say("no_exercises", step=args.step, steps=steps))
    names = [exercise["name"] for exercise in exercises_of(args.step)]
    if args.command == "new":
        if unknown := set(args.only or []) - set(names):
            parser.exit(2, say("unknown", step=args.step, names=", ".join(sorted(unknown))))
        return new(args.step, args.into, args.only or names)
    if args.command == "watch":
        return watch(args.step, args.source)
    status = check(args.step, args.source, verbose=args.command == "check")
    return status if args.command == "check" or status == 2 else 0


if __name__ == "__main__":
    sys.exit(main())
