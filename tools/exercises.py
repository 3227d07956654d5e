"""Exercises cut from the reference steps, rustlings-style.

    python tools/exercises.py new N      write exercises/stepN_*/, step N with its exercises cut out
    python tools/exercises.py check N    run their tests, say how many pass and what to do next
    python tools/exercises.py hint N     the hint for the next exercise to do

(`make exercise|check|hint STEP=N` run these.) `new --into DIR` writes elsewhere and `--only NAME`
cuts only that exercise; `check --from DIR` and `hint --from DIR` read from there.

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
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
WORKSPACES = ROOT / "exercises"
MARKER = re.compile(r"#\s*(BEGIN|END)\s+EXERCISE")
BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN EXERCISE (?P<name>\w+): (?P<text>.*)$")
END = re.compile(r"^\s*# END EXERCISE$")
COMMENT = re.compile(r"^\s*#")
# -P keeps the repository root off sys.path, where it could shadow the workspace's packages.
# xunit1: the JUnit report then names each test's file, which makes its node id again.
# SQLite is enough to check an exercise: the PostgreSQL runs of the same tests add a server.
PYTEST = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit1"]
PYTEST += ["-m", "not postgresql"]
# The step tests use no third-party plugin, and loading them all (hypothesis, anyio, ...) costs
# more than the tests. A step test that comes to need one must be given it here, say with
# "-p", "pytest_redis.plugin" in PYTEST.
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


class Block(NamedTuple):
    name: str
    begin: int  # index of the BEGIN line
    body: int  # index of the first line after the instruction
    end: int  # index of the END line


class MarkerError(ValueError):
    pass


def manifest():
    return tomllib.loads((ROOT / "exercises.toml").read_text(encoding="utf-8"))["exercise"]


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
        raise SystemExit(
            f"{shown(target)} exists already, and holds your work: it is left as it is.\n"
            f"To start step {step} again: rm -rf {shown(target)} && make exercise STEP={step}"
        )
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


def run_tests(steps, steps_from, nodeids):
    """Run the tests on these steps in one pytest process: {node id: (outcome, first line of
    the failure)}. Outcomes are "passed", "failed" (in the test or a fixture) and "skipped"."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        options = [f"--step={step}" for step in steps] + [f"--junitxml={report}"]
        command = [*PYTEST, *options, *dict.fromkeys(nodeids)]
        env = {**os.environ, **PYTEST_ENV, "STEPS_FROM": str(Path(steps_from).resolve())}
        ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if ran.returncode not in (0, 1) or not report.exists():  # 1 is "some tests failed"
            last = (ran.stdout + ran.stderr).strip().split("\n")[-25:]  # where the cause is
            raise SystemExit("pytest could not run the tests:\n" + "\n".join(last))
        outcomes = {}
        for case in ElementTree.parse(report).iter("testcase"):
            # xunit1 gives the file; the classname is its dotted module, then any test classes.
            file = Path(case.get("file")).as_posix()
            classes = case.get("classname").split(".")[len(Path(file).with_suffix("").parts) :]
            problems = case.findall("failure") + case.findall("error")  # error: in a fixture
            if problems:
                outcome, message = "failed", (problems[0].get("message") or "").strip().split("\n")[0]
            else:
                outcome, message = ("skipped" if case.find("skipped") is not None else "passed"), ""
            outcomes["::".join([file, *classes, case.get("name")])] = (outcome, message)
        return outcomes


def selects(fragment, nodeid):
    """Whether a manifest entry (a file, a test, or a test with its parameters) covers a node id."""
    return nodeid == fragment or nodeid.startswith((fragment + "[", fragment + "::"))


def verdict(exercise, outcomes):
    """(passes, [(node id, message) of each failing test]): it passes when none of its tests
    fails and at least one ran and passed."""
    mine = {n: outcome for n, outcome in outcomes.items() if any(selects(t, n) for t in exercise["tests"])}
    failures = [(nodeid, message) for nodeid, (outcome, message) in mine.items() if outcome == "failed"]
    return not failures and any(outcome == "passed" for outcome, _ in mine.values()), failures


def progress(step, steps_from):
    """[(exercise, passes, failures)] for the exercises of a step, from one pytest run."""
    todo = exercises_of(step)
    outcomes = run_tests([step], steps_from, [test for exercise in todo for test in exercise["tests"]])
    return [(exercise, *verdict(exercise, outcomes)) for exercise in todo]


def where(exercise, workspace):
    """file:line of the exercise's TODO in the workspace, or just the file once the TODO is gone."""
    path = workspace / exercise["file"]
    if path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if f"# TODO({exercise['name']})" in line:
                return f"{shown(path)}:{number}"
    return shown(path)


def new(step, into, names):
    target = write_workspace(step, into, names)
    print(f"Wrote {shown(target)}/. Your exercises, in order:")
    for exercise in exercises_of(step):
        if exercise["name"] in names:
            print(f"  {exercise['name']:<28} {where(exercise, target)}")
    print("The step's README.md is there too. Each exercise is a `# TODO(name)` comment; replace the")
    print(f"`raise NotImplementedError` under it with your code, then run: make check STEP={step}")
    return 0


def check(step, source, verbose):
    """The progress (when verbose) and the next exercise to do; 0 once every one passes."""
    workspace = source / step_folder(step).name
    if not workspace.is_dir():
        print(f"No workspace {shown(workspace)}: run `make exercise STEP={step}` first.")
        return 2
    for path in sorted(workspace.rglob("*.py")):  # pytest would only crash on these
        try:
            compile(path.read_text(encoding="utf-8"), path, "exec")
        except SyntaxError as error:
            print(f"{shown(path)}:{error.lineno}: {error.msg}. Fix that first, then check again.")
            return 1
    results = progress(step, source)
    if verbose:
        for exercise, passes, _ in results:
            print(f"  [{'x' if passes else ' '}] {exercise['name']}")
        print(f"{sum(passes for _, passes, _ in results)}/{len(results)} exercises pass")
    todo = [(exercise, failures) for exercise, passes, failures in results if not passes]
    if not todo:
        print(f"Every exercise of step {step} passes. Well done! Compare with {step_folder(step).name}/.")
        return 0
    exercise, failures = todo[0]
    if verbose:
        print()
    print(f"Next: {exercise['name']}, at {where(exercise, workspace)}")
    print(textwrap.fill(exercise["hint"], 100, initial_indent="Hint: ", subsequent_indent="      "))
    if verbose and failures:
        nodeid, message = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        print(f"\nFailing: {nodeid}{more}\n    {message}")
        print(f"All of it: STEPS_FROM={shown(source)} .venv/bin/pytest --step {step} '{nodeid}'")
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new_parser = commands.add_parser("new", help="write the workspace of step N")
    new_parser.add_argument("--into", type=Path, default=WORKSPACES, help="where (default: exercises/)")
    new_parser.add_argument("--only", action="append", metavar="NAME", help="cut only this exercise")
    for name in ("check", "hint"):
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
        parser.exit(2, f"Say which step: make {target} STEP=N, where N is one of {steps}.\n")
    if not exercises_of(args.step):
        parser.exit(2, f"Step {args.step} has no exercises; these steps have: {steps}.\n")
    names = [exercise["name"] for exercise in exercises_of(args.step)]
    if args.command == "new":
        if unknown := set(args.only or []) - set(names):
            parser.exit(2, f"Not an exercise of step {args.step}: {', '.join(sorted(unknown))}.\n")
        return new(args.step, args.into, args.only or names)
    status = check(args.step, args.source, verbose=args.command == "check")
    return status if args.command == "check" or status == 2 else 0


if __name__ == "__main__":
    sys.exit(main())
