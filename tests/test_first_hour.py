"""A learner's first hour has no dead ends.

- A bad setting stops the app with one line that names the variable and how to fix it: every
  bad setting of every step here, in-process; and the real `flask run`, both ways a learner starts
  it (`flask --app stepN run` from the root, `flask run` inside the folder), prints that one line
  and no traceback.
- Yes-or-no settings take 1/0, true/false, yes/no, on/off in any case, and nothing else.
- The missing-key warning names only the keys the step signs with, and `flask init-db` prints none.
- `make run PORT=N` serves on port N.
- The root README's "Without make" block works pasted as it is, on a fresh clone: each line runs
  in one bash, in order, with the installed .venv standing in for the new one it makes (a real
  install takes minutes), `flask ... run` stopped once it has answered, as Ctrl+C would, and
  `pytest` only collecting one small module (running the suite inside the suite would double it).
- Every step README ends with a link to the next step.
"""

import importlib
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import pytest
from server import free_port

ROOT = Path(__file__).resolve().parent.parent
STEP_FOLDERS = ("step1_jwt_setup", "step2_user_model", "step3_protected_resource", "step4_sessions")
VENV = Path(sys.prefix)
FLASK = Path(sys.executable).with_name("flask")
KEYS = {"SECRET_KEY": "a" * 64, "JWT_SECRET_KEY": "b" * 64}  # strong by length; tests only
SETTINGS = (
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
    "FLASK_RUN_PORT",
)

# (first step it applies to, the variable at fault, the environment that gets it wrong)
BAD_SETTINGS = [
    (1, "JWT_ACCESS_TOKEN_EXPIRES", {"JWT_ACCESS_TOKEN_EXPIRES": "soon"}),
    (1, "JWT_ACCESS_TOKEN_EXPIRES", {"JWT_ACCESS_TOKEN_EXPIRES": "9" * 5000}),
    (1, "SECRET_KEY", {"SECRET_KEY": "your-secret-key"}),
    (1, "JWT_SECRET_KEY", {"JWT_SECRET_KEY": "line one\nline two"}),
    (1, "JWT_SECRET_KEY", {"SECRET_KEY": "c" * 64, "JWT_SECRET_KEY": "c" * 64}),
    (2, "DATABASE_URL", {"DATABASE_URL": "not a url"}),
    (2, "DATABASE_URL", {"DATABASE_URL": "nosuchdatabase://localhost/db"}),
    (3, "JWT_REFRESH_TOKEN_EXPIRES", {"JWT_REFRESH_TOKEN_EXPIRES": "0"}),
    (4, "PERMANENT_SESSION_LIFETIME", {"PERMANENT_SESSION_LIFETIME": "1.5"}),
    (4, "SESSION_ABSOLUTE_LIFETIME", {"SESSION_ABSOLUTE_LIFETIME": "-5"}),
    (4, "SESSION_COOKIE_SECURE", {"SESSION_COOKIE_SECURE": "maybe"}),
    (4, "SESSION_BACKEND", {"SESSION_BACKEND": "memcached"}),
    (4, "REDIS_URL", {"SESSION_BACKEND": "redis"}),
    (4, "REDIS_URL", {"REDIS_URL": "localhost:6379"}),
]
CASES = [
    pytest.param(folder, variable, bad, id=f"step{n}-{variable}-{index}")
    for index, (first, variable, bad) in enumerate(BAD_SETTINGS)
    for n, folder in enumerate(STEP_FOLDERS, start=1)
    if n >= first
]


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except OSError:
        return None


def shell_environment(**extra):
    """A learner's shell: this machine's PATH without this venv, none of the app's settings."""
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "VIRTUAL_ENV"}
    environment = {k: v for k, v in environment.items() if not k.startswith(("PYTEST_", "STEPS"))}
    paths = environment.get("PATH", "").split(os.pathsep)
    environment["PATH"] = os.pathsep.join(p for p in paths if Path(p) != VENV / "bin")
    return environment | extra


def step_package(folder):
    return importlib.import_module(folder)


def create_app(folder, monkeypatch, tmp_path, environment):
    for name, value in ({"DATABASE_URL": f"sqlite:///{tmp_path}/app.sqlite3"} | environment).items():
        monkeypatch.setenv(name, value)
    return importlib.import_module(f"{folder}.app").create_app()


# --- A bad setting: one line, the variable, the fix ------------------------------------------


@pytest.mark.parametrize("folder, variable, bad", CASES)
def test_a_bad_setting_stops_the_app_with_one_line_naming_it(monkeypatch, tmp_path, folder, variable, bad):
    with pytest.raises(click.ClickException) as stopped:
        create_app(folder, monkeypatch, tmp_path, KEYS | bad)
    message = stopped.value.format_message()
    assert "\n" not in message and len(message) < 300, message
    assert variable in message
    # How to fix it: a value to use, an example, or a way back to the default.
    assert re.search(r"unset it|Make one with|Make each with|e\.g\.|like |must be", message), message
    for secret in (bad.get("SECRET_KEY"), bad.get("JWT_SECRET_KEY")):
        assert not secret or secret not in message  # a refused key is never echoed


# Each step started one of the two ways a learner starts it, in turn: the message comes from
# create_app either way (every case is checked above, in-process), and both ways of finding a
# step are checked by test_step1_jwt_setup.py; here, that click prints it as one line.
WAYS = [
    (folder, "flask --app" if n % 2 else "flask run in the folder")
    for n, folder in enumerate(STEP_FOLDERS, start=1)
]


@pytest.mark.server
@pytest.mark.parametrize("folder, how", WAYS)
def test_flask_run_prints_a_bad_setting_as_one_line_without_a_traceback(folder, how):
    n = STEP_FOLDERS.index(folder) + 1
    # One case per step: the last of BAD_SETTINGS that applies to it (from step 2, a setting it adds).
    variable, bad = [(variable, bad) for first, variable, bad in BAD_SETTINGS if n >= first][-1]
    command, cwd = [str(FLASK), "run", "--port", str(free_port())], ROOT / folder
    if how == "flask --app":
        command, cwd = [str(FLASK), "--app", folder, *command[1:]], ROOT
    done = subprocess.run(
        command, cwd=cwd, env=shell_environment(**KEYS | bad), capture_output=True, text=True, timeout=60
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: ") and variable in lines[0], done.stderr


# --- Yes or no ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [(v, True) for v in ("1", "true", "True", "YES", "on", "On")]
    + [(v, False) for v in ("0", "false", "FALSE", "no", "No", "off", "OFF")],
)
def test_a_yes_or_no_setting_takes_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", value)
    assert step_package("step4_sessions").config.boolean("SESSION_COOKIE_SECURE", True) is expected


@pytest.mark.parametrize("value", ["2", "y", "n", "enabled", "disable", " true", "true ", "nope", "0.0"])
def test_a_yes_or_no_setting_refuses_anything_else(monkeypatch, value):
    config = step_package("step4_sessions").config
    monkeypatch.setenv("SESSION_COOKIE_SECURE", value)
    with pytest.raises(config.SettingError, match="SESSION_COOKIE_SECURE must be 1, true, yes or on"):
        config.boolean("SESSION_COOKIE_SECURE", True)


@pytest.mark.parametrize("value, secure", [("false", False), ("Off", False), ("yes", True)])
def test_session_cookie_secure_reaches_the_app(monkeypatch, tmp_path, value, secure):
    """`false` used to keep Secure on: only "0" turned it off."""
    app = create_app("step4_sessions", monkeypatch, tmp_path, KEYS | {"SESSION_COOKIE_SECURE": value})
    assert app.config["SESSION_COOKIE_SECURE"] is secure


# --- Missing keys: warn about what the step signs, and only when it will sign ------------------


@pytest.mark.parametrize("folder", STEP_FOLDERS)
def test_the_missing_key_warning_names_only_the_keys_the_step_signs_with(
    monkeypatch, tmp_path, caplog, folder
):
    with caplog.at_level(logging.WARNING):
        app = create_app(folder, monkeypatch, tmp_path, {})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(app.config["SECRET_KEY"]) == len(app.config["JWT_SECRET_KEY"]) == 64
    if folder == "step4_sessions":
        assert len(warnings) == 2
        assert warnings[0].startswith("SECRET_KEY is not set") and "sessions will not survive" in warnings[0]
    else:  # no session in steps 1-3: nothing is signed with SECRET_KEY
        assert len(warnings) == 1 and not any("session" in w.lower() for w in warnings), warnings
    assert warnings[-1].startswith("JWT_SECRET_KEY is not set") and "tokens will not survive" in warnings[-1]


@pytest.mark.parametrize("folder", STEP_FOLDERS)
@pytest.mark.parametrize(
    "command, warns", [("run", True), ("shell", True), ("routes", False), ("flask", False)]
)
def test_only_commands_that_sign_warn_about_a_missing_key(
    monkeypatch, tmp_path, caplog, folder, command, warns
):
    """`flask init-db` builds the app inside the `flask` group's context, before its own starts."""
    with click.Context(click.Command(command), info_name=command), caplog.at_level(logging.WARNING):
        create_app(folder, monkeypatch, tmp_path, {})
    warned = [r for r in caplog.records if "is not set" in r.getMessage()]
    assert bool(warned) is warns


@pytest.mark.server
@pytest.mark.parametrize("folder", STEP_FOLDERS[-1:])
def test_flask_init_db_prints_no_key_warning(tmp_path, folder):
    """The real command, for the assumption the test above makes: Flask builds the app inside
    the `flask` group's context. That is Flask's doing, the same for every step: the last one."""
    environment = shell_environment(DATABASE_URL=f"sqlite:///{tmp_path}/app.sqlite3")
    done = subprocess.run(
        [str(FLASK), "--app", folder, "init-db"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Dropped and recreated the tables" in done.stdout, done.stderr
    assert "is not set" not in done.stdout + done.stderr


# --- make run PORT=N -------------------------------------------------------------------------


@pytest.mark.server
def test_make_run_port_serves_on_that_port():
    if not (ROOT / ".venv" / ".installed-requirements").is_file():
        pytest.skip("make run would install .venv first; run `make install`")
    port = free_port()
    with subprocess.Popen(
        ["make", "--no-print-directory", "run", "STEP=1", f"PORT={port}"],
        cwd=ROOT,
        env=shell_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group: stopping it stops make and flask both
    ) as server:
        try:
            deadline = time.monotonic() + 60
            while (status := answers(f"http://127.0.0.1:{port}/")) is None:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, f"make run PORT={port} did not answer on that port"
                time.sleep(0.1)
            assert status == 200
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


# --- The README's "Without make" block, pasted into a shell on a fresh clone --------------------


def without_make_block():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Without make", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


# Stand-ins, defined as shell functions so that the block's own lines run unchanged: `cd X &&
# flask run` still changes the shell's folder before the server starts, as when pasted.
STAND_INS = r"""
python3() {
    if [ "$*" = "-m venv .venv" ]; then ln -s "$INSTALLED_VENV" .venv; else command python3 "$@"; fi
}
flask() {
    case " $* " in
        *" run "*) ;;
        *) command flask "$@"; return;;
    esac
    command flask "$@" 2>>"$LOG" &
    local server=$! status
    status=$(python -c '
import os, time, urllib.request
url = "http://127.0.0.1:%s/" % os.environ["FLASK_RUN_PORT"]
for _ in range(600):
    try:
        print(urllib.request.urlopen(url, timeout=1).status)
        break
    except OSError:
        time.sleep(0.1)
')
    # TERM, not INT: a job started with & in a script ignores SIGINT, the signal of Ctrl+C.
    kill -TERM $server 2>/dev/null; wait $server || true
    echo "flask $* answered: ${status:-nothing} (in $(basename "$PWD"))" >>"$LOG"
    [ "$status" = 200 ]
}
pytest() {
    # Collect one small module: enough to fail on a wrong folder or an unknown option.
    command pytest "$@" --collect-only -q -p no:cacheprovider tests/test_translations.py >>"$LOG" 2>&1 || {
        echo "pytest $* failed in $(basename "$PWD")" >>"$LOG"; return 1; }
    echo "pytest $* collected in $(basename "$PWD")" >>"$LOG"
}
set -e
"""


@pytest.mark.server
def test_the_without_make_block_works_pasted_as_is(tmp_path):
    lines = without_make_block()
    assert lines[0] == "python3 -m venv .venv", "the block starts by making .venv; adapt the stand-ins"
    assert any(re.match(r"(\(?cd \S+ && )?flask .*\brun\b", line) for line in lines), lines
    assert any(line.startswith("pytest") for line in lines), lines
    if not (VENV / "bin" / "pip").exists() or not (VENV / "bin" / "activate").exists():
        pytest.skip(f"{VENV} has no pip or activate script to stand in for the block's own venv")
    clone, log = tmp_path / "clone", tmp_path / "log"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    script = STAND_INS + "\n".join(lines) + "\n"
    environment = shell_environment(
        INSTALLED_VENV=str(VENV),
        LOG=str(log),
        FLASK_RUN_PORT=str(free_port()),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    # A session of its own, so that a block that hangs is stopped with everything it started.
    with subprocess.Popen(
        ["bash", "-c", script],
        cwd=clone,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as block:
        try:
            out, err = block.communicate(timeout=300)
        finally:
            if block.poll() is None:
                os.killpg(block.pid, signal.SIGKILL)
                block.communicate()
    said = log.read_text() if log.exists() else ""
    assert block.returncode == 0, f"the block stopped:\n{said}\n{out[-2000:]}\n{err[-2000:]}"
    assert re.search(r"^flask .*run.* answered: 200", said, re.M), said
    for line in lines:
        if line.startswith("pytest"):
            words = shlex.split(line.split("#")[0])
            assert f"pytest {' '.join(words[1:])} collected" in said, said
    # Step 1 signs no session: its warning is about JWT_SECRET_KEY alone.
    assert re.search(r"^JWT_SECRET_KEY is not set", said, re.M) and not re.search(
        r"^SECRET_KEY is not", said, re.M
    )


# --- A path through the steps ------------------------------------------------------------------


@pytest.mark.parametrize("readme", ["README.md", "README.ko.md"])
@pytest.mark.parametrize("folder", STEP_FOLDERS)
def test_every_step_readme_ends_with_where_to_go_next(folder, readme):
    last = (ROOT / folder / readme).read_text(encoding="utf-8").rstrip().splitlines()[-1]
    targets = re.findall(r"\]\(([^)]+)\)", last)
    assert targets, f"{folder}/{readme} does not end with a link to what comes next: {last!r}"
    for target in targets:
        assert (ROOT / folder / target).resolve().exists(), f"{folder}/{readme}: {target} does not exist"
    n = STEP_FOLDERS.index(folder)
    if n + 1 < len(STEP_FOLDERS):
        assert f"../{STEP_FOLDERS[n + 1]}/{readme}" in targets, last
    else:
        assert {"../ERRATA.md", "../SECURITY.md"} <= set(targets), last


def test_the_root_readme_stays_short():
    """About 1,000 words of prose, not counting code blocks and tables: the rest is in CONTRIBUTING.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = "\n".join(line for line in prose.splitlines() if not line.lstrip().startswith("|"))
    words = len(prose.split())
    assert words <= 1100, f"README.md has {words} words of prose; move maintainer material to CONTRIBUTING.md"


# --- `make run` installs only the app's part of requirements.txt ----------------------------------


def test_the_app_part_of_requirements_txt_holds_everything_the_steps_import():
    """The Makefile installs requirements.txt down to "# Tests and tools" for `make run`: every
    module a step imports must come from a package of that part, or from one of their dependencies."""
    from importlib.metadata import packages_distributions, requires

    from packaging.requirements import Requirement

    text = (ROOT / "requirements.txt").read_text()
    assert text.count("\n# Tests and tools\n") == 1
    app_part = text.split("\n# Tests and tools\n")[0]
    pinned = [
        re.split(r"[\[=]", line)[0] for line in app_part.splitlines() if line and not line.startswith("#")
    ]

    def normal(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    installed, todo = set(), [normal(name) for name in pinned]
    while todo:  # the pinned packages and everything they depend on, unconditionally
        name = todo.pop()
        if name not in installed:
            installed.add(name)
            for requirement in map(Requirement, requires(name) or []):
                if not requirement.marker or requirement.marker.evaluate({"extra": ""}):
                    todo.append(normal(requirement.name))
    imported = set()
    for source in ROOT.glob("step*/*.py"):
        for match in re.finditer(r"^(?:from|import) ([a-zA-Z_]\w*)", source.read_text(), re.M):
            imported.add(match.group(1))
    distributions = packages_distributions()
    third_party = {module for module in imported if module in distributions}
    missing = {
        m: distributions[m] for m in third_party if not {normal(d) for d in distributions[m]} & installed
    }
    assert third_party and not missing, (
        f"imported by a step but not in the app part of requirements.txt: {missing}"
    )
