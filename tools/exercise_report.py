"""A pytest plugin for tools/exercises.py: what each test reached in a learner's exercises.

`check` loads it with `-p exercise_report` (tools/ on PYTHONPATH) and reads back one JSON
file per process (xdist workers write their own). For each test it records:
  outcome    "passed", "failed" (in the test or a fixture) or "skipped"
  message    the first line of the failure
  errors     every exception the test met that went through the learner's files: the one it
             failed with, and those the app logged (Flask logs a 500's exception, then answers
             500; a `flask run` server's log comes in through EXERCISE_SERVER_LOG, see below),
             each as its type, message and frames in those files
  reached    the exercises whose function the test called, the last one called last
  (and among the errors, a NotImplementedError raised in an exercise, even if it was caught)

Set by `check` in the environment:
  EXERCISE_REPORT   the folder for the JSON files
  EXERCISE_REGIONS  a JSON file {exercise name: [file, first line, last line]} in the workspace
  EXERCISE_GATE     "1": run only the tests that apply to a step (those taking the `step` fixture)
  EXERCISE_TRACE    "1": record `reached`, and the NotImplementedErrors caught after they were raised;
                    or a JSON file [node id, ...]: so, for those tests only
"""

import json
import logging
import os
import re
import sys
import traceback
from pathlib import Path

import pytest

# Without `check`'s environment (a test run that only lists the tests), it records nothing.
REPORT = os.environ.get("EXERCISE_REPORT")
REGIONS = {
    name: (str(Path(file).resolve()), first, last)
    for name, (file, first, last) in json.loads(
        Path(os.environ["EXERCISE_REGIONS"]).read_text() if os.environ.get("EXERCISE_REGIONS") else "{}"
    ).items()
}
FILES = {file for file, _, _ in REGIONS.values()}
# The flask run servers' logs: sitecustomize.py in tools/server_log/ copies each exception
# the app logs to this folder, one file per server process. A folder per xdist worker: each
# reads only the logs of the servers its own tests started (they inherit its environment).
SERVER_LOGS = Path(REPORT or ".", f"server-logs-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
os.environ["EXERCISE_SERVER_LOGS"] = str(SERVER_LOGS)
# Tracing calls costs about half the tests' time again: the gate runs without, then again with
# it for the tests that failed.
TRACE = os.environ.get("EXERCISE_TRACE", "0")
TRACED = set(json.loads(Path(TRACE).read_text())) if TRACE not in ("0", "1") else set()
# `File "/path/x.py", line 12, in name` in a traceback printed by another process.
FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)')
LAST_LINE = re.compile(r"^(?P<type>[\w.]+)(: (?P<message>.*))?$")

results = {}
reached = {}  # exercise name -> the count of calls when last entered, for the running test
calls = [0]
region_of_code = {}


def region_of(code):
    """The exercise whose function holds this code object's first line, or None."""
    if code.co_filename not in FILES and str(Path(code.co_filename).resolve()) not in FILES:
        return None
    file = str(Path(code.co_filename).resolve())
    for name, (region_file, first, last) in REGIONS.items():
        if region_file == file and first <= code.co_firstlineno <= last:
            return name
    return None


def trace(frame, event, arg):
    """Called for each Python function call: cheap for code outside the learner's exercises
    (one dictionary look-up), and no line-by-line tracing anywhere."""
    code = frame.f_code
    try:
        name = region_of_code[code]
    except KeyError:
        name = region_of_code[code] = region_of(code)
    if name is not None:
        calls[0] += 1
        reached[name] = calls[0]
        return watch_raises


unwritten = []  # the NotImplementedErrors raised in an exercise during the running test


def watch_raises(frame, event, arg):
    """Inside an exercise's function: note a NotImplementedError raised there, even one that
    is caught later (Flask-RESTful's error_router swallows an error of handle_error)."""
    if event == "exception" and isinstance(arg[1], NotImplementedError):
        where = [str(Path(frame.f_code.co_filename).resolve()), frame.f_lineno, frame.f_code.co_name]
        error = {"type": "NotImplementedError", "message": str(arg[1]), "frames": [where]}
        if error not in unwritten:
            unwritten.append(error)
    return watch_raises


def frames_in_workspace(tb):
    return [
        [str(Path(frame.filename).resolve()), frame.lineno, frame.name]
        for frame in traceback.extract_tb(tb)
        if str(Path(frame.filename).resolve()) in FILES
    ]


def describe(error):
    """The exception and those it came from (raise ... from, or raised while handling)."""
    found, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        frames = frames_in_workspace(error.__traceback__)
        if frames:
            found.append({"type": type(error).__name__, "message": str(error), "frames": frames})
        error = error.__cause__ or error.__context__
    return found


class LoggedErrors(logging.Handler):
    """The exceptions logged while a test runs, such as Flask's "Exception on /me [GET]"."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors = []

    def emit(self, record):
        if record.exc_info and record.exc_info[1] is not None:
            self.errors += describe(record.exc_info[1])


def server_errors():
    """The exceptions in the logs of the flask run servers started since the last call."""
    found = []
    for log in sorted(SERVER_LOGS.glob("*.log")) if SERVER_LOGS.is_dir() else []:
        for block in log.read_text(encoding="utf-8", errors="replace").split("\n\f\n"):
            lines = [line for line in block.strip().split("\n") if line.strip()]
            frames = []
            for line in lines:
                if match := FRAME.match(line):
                    file = str(Path(match["file"]).resolve())
                    if file in FILES:
                        frames.append([file, int(match["line"]), match["function"]])
            last = LAST_LINE.match(lines[-1].strip()) if lines else None
            if frames and last:
                kind = last["type"].rsplit(".", 1)[-1]
                found.append({"type": kind, "message": last["message"] or "", "frames": frames})
        log.unlink()
    return found


def pytest_collection_modifyitems(config, items):
    if os.environ.get("EXERCISE_GATE") != "1":
        return
    keep = [item for item in items if "step" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not REPORT:
        return (yield)
    handler = LoggedErrors()
    logging.getLogger().addHandler(handler)
    reached.clear()
    unwritten.clear()
    server_errors()  # forget those of an earlier test
    previous = sys.gettrace()
    tracing = TRACE == "1" or item.nodeid in TRACED
    if tracing:
        sys.settrace(trace)
    try:
        return (yield)
    finally:
        if tracing:
            sys.settrace(previous)
        logging.getLogger().removeHandler(handler)
        entry = results.setdefault(item.nodeid, {"outcome": "passed", "message": "", "errors": []})
        entry["errors"] += handler.errors + server_errors() + unwritten
        entry["reached"] = sorted(reached, key=reached.get)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    entry = results.setdefault(item.nodeid, {"outcome": "passed", "message": "", "errors": []})
    if report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
    if report.failed and entry["outcome"] != "failed":
        entry["outcome"] = "failed"
        text = str(call.excinfo.value if call.excinfo else report.longrepr)
        lines = [line for line in text.split("\n") if line]
        first = lines[0] if lines else ""
        name = call.excinfo.typename if call.excinfo else ""
        entry["message"] = f"{name}: {first}" if name and not first.startswith(name) else first
    if call.excinfo is not None and report.failed:
        entry["errors"] += describe(call.excinfo.value)
    return report


def pytest_sessionfinish(session):
    if not REPORT:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(REPORT, f"report-{worker}.json").write_text(json.dumps(results))
