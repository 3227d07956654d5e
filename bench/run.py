"""`make bench`: what authentication costs per request, and how fast the learner's loop is.

Writes bench/RESULTS.md and prints the same text. See bench/README.md.

1. Load: step 4's app (plus the probes in bench/benchapp.py) under waitress on 127.0.0.1,
   loaded by wrk. Every endpoint runs between two runs of GET /, in several short rounds,
   and its figure is divided by theirs: on a noisy machine the absolute numbers wander, the
   ratios much less.
2. POST /login with the production password hash, one request at a time.
3. Where the time goes: a cProfile of the app in this process, summed into a few named
   stages, and the token check's parts timed alone.
4. The learner's loop: `make test`, the unit tests, the notebooks, `flask run` start-up.

Every load is bounded by wrk's -d: parts 1 to 3 take about two minutes. Part 4 takes as long
as the test suite does (--skip-loop leaves it out).
"""

import argparse
import cProfile
import importlib.metadata
import json
import os
import platform
import pstats
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
PYTHON = Path(sys.executable)
sys.path[:0] = [str(ROOT / "tests"), str(BENCH)]

import benchapp  # noqa: E402  (bench/ and tests/ go on sys.path first)
from conftest import APP_ENVIRONMENT  # noqa: E402
from server import flask_run, free_port, request, serving  # noqa: E402

GOAL = 0.15  # the issue's goal: a credential check adds less than 15% to GET /'s time
PACKAGES = [
    "Flask",
    "Werkzeug",
    "Flask-RESTful",
    "Flask-JWT-Extended",
    "PyJWT",
    "SQLAlchemy",
    "Flask-SQLAlchemy",
    "waitress",
    "argon2-cffi",
]
USERNAME, PASSWORD = "bench-user", "correct horse battery"
TODOS = 10  # GET /todos answers a short list, as a learner's would be
LOGIN_SECONDS = 4  # about a hundred logins: enough for a p50, just enough for a p99
UNIT_MARKERS = "not server and not postgresql and not notebook and not exercises and not fuzz and not load"
WRK_INSTALL = """\
The load generator wrk is not installed. Install it, then run `make bench` again:
    Debian, Ubuntu:  sudo apt-get install wrk
    Fedora:          sudo dnf install wrk
    macOS:           brew install wrk"""


@dataclass
class Endpoint:
    name: str
    path: str
    credential: str | None  # "jwt", "cookie" or None
    what: str


ENDPOINTS = [
    Endpoint("GET /", "/", None, "no authentication (the step's index)"),
    Endpoint("GET /bench/open", "/bench/open", None, "no authentication, the probes' one-field body"),
    Endpoint("GET /bench/pyjwt", "/bench/pyjwt", "jwt", "JWT signature, expiry, claims: one PyJWT decode"),
    Endpoint("GET /bench/cached", "/bench/cached", "jwt", "the same, its verdict kept: a token seen before"),
    Endpoint("GET /bench/token", "/bench/token", "jwt", "the same through Flask-JWT-Extended; no database"),
    Endpoint("GET /bench/revoked", "/bench/revoked", "jwt", "the same, and the revocation check (1 query)"),
    Endpoint("GET /bench/jwt", "/bench/jwt", "jwt", "`@jwt_required()`: the same, and the user (1 more)"),
    Endpoint("GET /me", "/me", "jwt", "`@jwt_required()` and `current_user`"),
    Endpoint("GET /todos", "/todos", "jwt", f"`@jwt_required()` and the user's {TODOS} to-dos"),
    Endpoint("GET /bench/session", "/bench/session", "cookie", "`session.get('user_id')`; no database"),
    Endpoint("GET /session", "/session", "cookie", "the session's user from the database"),
]
BASELINE = ENDPOINTS[0]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads (default 4)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--duration", type=int, default=1, help="seconds per wrk run (default 1)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds over all endpoints (default 6)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk to a core each")
    parser.add_argument("--skip-loop", action="store_true", help="skip the learner's loop (for a quick look)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the results")
    return parser.parse_args()


# --- The machine --------------------------------------------------------------------------


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version(wrk):
    # `wrk --version` prints its banner and the usage, then exits 1.
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def describe_machine(wrk):
    versions = {name: importlib.metadata.version(name) for name in PACKAGES}
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "wrk": wrk_version(wrk),
        "load": os.getloadavg(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- The server ---------------------------------------------------------------------------


def clean_environment(**settings):
    """The environment for the server: none of the shell's app settings (main() removed them,
    as the tests do), only the ones given."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **settings}


def random_keys():
    import secrets

    return {"SECRET_KEY": secrets.token_hex(32), "JWT_SECRET_KEY": secrets.token_hex(32)}


def pinned(command, core, pin):
    """Two cores: the server gets one, wrk the other, so neither steals the other's.
    A Python server runs one thread at a time (the GIL), so one core is all it could use."""
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core), *command]
    return command


@dataclass
class Server:
    base: str
    pid: int

    def cpu_ns(self):
        """CPU time the server's threads have used so far (Linux: each thread's schedstat), or
        None where /proc does not tell. Other processes on the machine do not change it, as
        they change wall-clock time."""
        try:
            return sum(
                int(stat.read_text().split()[0])
                for stat in Path(f"/proc/{self.pid}/task").glob("*/schedstat")
            )
        except (OSError, ValueError, IndexError):
            return None


@contextmanager
def bench_server(folder, threads, pin):
    port = free_port()
    env = clean_environment(
        **random_keys(),
        DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite3'}",
        SESSION_BACKEND="cookie",  # Flask's own signed cookie, the default
        # Secure stays on (the default): wrk sends the cookie whatever its flags say.
    )
    log = (folder / "server.log").open("w")
    command = pinned([str(PYTHON), str(BENCH / "benchapp.py"), str(port), str(threads)], 0, pin)
    base = f"http://127.0.0.1:{port}"
    with log, serving(command, base, cwd=ROOT, env=env, output=log, timeout=30) as proc:
        # taskset execs the command, so this pid is the server's own.
        yield Server(base, proc.pid)


def expect(answer, status, what):
    if answer.status != status:
        raise RuntimeError(f"{what}: expected {status}, got {answer.status} {answer.body[:300]!r}")
    return answer


def set_up(base):
    """A user, their to-dos, an access token and a session cookie, made through the API."""
    account = {"username": USERNAME, "password": PASSWORD}
    expect(request("POST", base + "/register", account), 201, "POST /register")
    token = expect(request("POST", base + "/login", account), 200, "POST /login").json["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for n in range(TODOS):
        expect(request("POST", base + "/todos", {"title": f"to-do {n}"}, bearer), 201, "POST /todos")
    started = expect(request("POST", base + "/session", account), 200, "POST /session")
    cookie = SimpleCookie(started.headers["Set-Cookie"])["session"].value
    return {"jwt": bearer, "cookie": {"Cookie": f"session={cookie}"}, None: {}}


def check_and_warm(base, credentials):
    """Each endpoint answers 200 with its credential (and a few requests warm its caches):
    a benchmark of 401s would measure nothing."""
    for endpoint in ENDPOINTS:
        for _ in range(20):
            answer = request("GET", base + endpoint.path, headers=credentials[endpoint.credential])
            expect(answer, 200, endpoint.name)


def hash_parameters(folder):
    """The argon2 parameters of the stored password hash, as the database holds them."""
    with sqlite3.connect(folder / "bench.sqlite3") as db:
        [stored] = db.execute("SELECT password_hash FROM users WHERE username = ?", (USERNAME,)).fetchone()
    variant, _version, params = stored.split("$")[1:4]
    return variant, dict(part.split("=") for part in params.split(","))


# --- wrk ----------------------------------------------------------------------------------

# wrk's Lua hooks: the request to send, and a summary as one JSON line when the run is done.
WRK_SCRIPT = """\
wrk.method = {method}
{headers}
{body}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"bad_status": %d, "errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_string(text):
    """A Lua long-bracket string: no escapes inside, so a token or cookie goes in as it is."""
    if "]=]" in text:
        raise ValueError(f"cannot quote {text!r} for Lua")
    return f"[=[{text}]=]"


@dataclass
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ns: int | None  # the server's CPU time during the run

    @property
    def rps(self):
        return self.requests / self.seconds

    @property
    def cost_us(self):
        """The server's time per request: its CPU time per request where the system tells it,
        else 1/(requests/s), which is the same on an idle machine (the server is saturated: more
        connections than it serves at once) but grows with whatever else runs."""
        if self.cpu_ns is not None:
            return self.cpu_ns / 1000 / self.requests
        return 1e6 / self.rps


def wrk_run(wrk, server, path, folder, connections, seconds, pin, method="GET", headers=None, body=None):
    script = folder / "request.lua"
    script.write_text(
        WRK_SCRIPT.format(
            method=lua_string(method),
            headers="\n".join(
                f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in (headers or {}).items()
            ),
            body=f"wrk.body = {lua_string(body)}" if body else "",
        )
    )
    url = server.base + path
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    cpu_before = server.cpu_ns()
    out = subprocess.run(pinned(command, 1, pin), capture_output=True, text=True, timeout=seconds + 30)
    cpu_after = server.cpu_ns()
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    line = next((line for line in out.stdout.splitlines() if line.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    stats = json.loads(line.removeprefix("BENCH "))
    if stats["bad_status"] or stats["errors"] or not stats["requests"]:
        raise RuntimeError(
            f"{method} {url}: {stats['bad_status']} error answers, {stats['errors']} socket errors"
        )
    return Run(
        stats["requests"], stats["duration_us"] / 1e6, stats["p50_us"] / 1000, stats["p99_us"] / 1000, cpu
    )


@dataclass
class Result:
    endpoint: Endpoint
    runs: list = field(default_factory=list)
    ratios: list = field(default_factory=list)  # time per request / GET /'s, one per round

    def median(self, attribute):
        return statistics.median(getattr(run, attribute) for run in self.runs)

    @property
    def ratio(self):
        return statistics.median(self.ratios)

    @property
    def spread(self):
        return min(self.ratios), max(self.ratios)


def measure_load(wrk, server, credentials, folder, args):
    """Each endpoint's run sits between two runs of GET /, and its ratio is to their mean: the
    machine's mood (other processes, frequency, the other core's work) changes from second to
    second, and a baseline measured right beside each run changes with it."""

    def load(endpoint):
        headers = credentials[endpoint.credential]
        return wrk_run(
            wrk, server, endpoint.path, folder, args.connections, args.duration, pin, headers=headers
        )

    pin = not args.no_pin
    others = ENDPOINTS[1:]
    results = {endpoint.name: Result(endpoint) for endpoint in ENDPOINTS}
    for round_number in range(args.rounds):
        print(f"  round {round_number + 1} of {args.rounds}", file=sys.stderr)
        before = load(BASELINE)
        results[BASELINE.name].runs.append(before)
        # A different order each round, so no endpoint always follows the same one.
        shift = round_number % len(others)
        for endpoint in others[shift:] + others[:shift]:
            run = load(endpoint)
            after = load(BASELINE)
            baseline = (before.cost_us + after.cost_us) / 2
            results[endpoint.name].runs.append(run)
            results[endpoint.name].ratios.append(run.cost_us / baseline)
            results[BASELINE.name].runs.append(after)
            before = after
    results[BASELINE.name].ratios = [1.0]
    return results


def measure_login(wrk, server, folder, args):
    """One connection: the latency a user waits, which the password hash dominates."""
    body = json.dumps({"username": USERNAME, "password": PASSWORD})
    headers = {"Content-Type": "application/json"}
    return wrk_run(wrk, server, "/login", folder, 1, LOGIN_SECONDS, not args.no_pin, "POST", headers, body)


# --- The profile --------------------------------------------------------------------------

# Named stages of a request: (label, file ending, function name). Each is the cumulative time
# of that function, so a stage includes what it calls. None found (the code changed): "-".
STAGES = [
    ("the whole request (Flask's `wsgi_app`)", "flask/app.py", "wsgi_app"),
    (
        "`@jwt_required()`: all of `verify_jwt_in_request`",
        "flask_jwt_extended/view_decorators.py",
        "verify_jwt_in_request",
    ),
    ("token parsed and checked (`decode_token`)", "flask_jwt_extended/utils.py", "decode_token"),
    (
        "token header parsed again (`get_unverified_jwt_headers`)",
        "flask_jwt_extended/utils.py",
        "get_unverified_jwt_headers",
    ),
    ("PyJWT's base64url check, per character", "jwt/api_jws.py", "_decode_base64url_segment"),
    ("HMAC-SHA256 signature check", "jwt/api_jws.py", "_verify_signature"),
    ("revocation check (`is_revoked`: 1 query)", "auth.py", "is_revoked"),
    ("user lookup (`load_user`: 1 query)", "auth.py", "load_user"),
    ("session cookie read and signature check (`open_session`)", "flask/sessions.py", "open_session"),
    ("session cookie signed again (`save_session`)", "flask/sessions.py", "save_session"),
    ("session user lookup (`session_user`: 1 query)", "auth.py", "session_user"),
    ("Flask-SQLAlchemy session teardown", "flask_sqlalchemy/extension.py", "_teardown_session"),
]
PROFILED = [
    "GET /",
    "GET /bench/token",
    "GET /bench/revoked",
    "GET /bench/jwt",
    "GET /bench/session",
    "GET /session",
]
PROFILE_REQUESTS, PROFILE_REPEATS = 300, 3


def profile_app(folder):
    """Call the app's WSGI entry directly, N times per endpoint, under cProfile. No server
    and no client: what is left is the app's own work."""
    from werkzeug.test import EnvironBuilder

    app = benchapp.build_app(
        {
            **random_keys(),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'profile.sqlite3'}",
            "SESSION_BACKEND": "cookie",
            # Only logging in hashes a password, and no profiled request logs in.
            "PASSWORD_HASH_MEMORY_KIB": 8,
            "PASSWORD_HASH_TIME_COST": 1,
        }
    )
    client = app.test_client()
    account = {"username": USERNAME, "password": PASSWORD}
    client.post("/register", json=account)
    token = client.post("/login", json=account).json["access_token"]
    for n in range(TODOS):
        client.post("/todos", json={"title": f"to-do {n}"}, headers={"Authorization": f"Bearer {token}"})
    client.post("/session", json=account)
    credentials = {
        "jwt": {"Authorization": f"Bearer {token}"},
        "cookie": {"Cookie": f"session={client.get_cookie('session').value}"},
        None: {},
    }

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(f"profiled request answered {status}")

    profiles = {}
    for endpoint in (e for e in ENDPOINTS if e.name in PROFILED):
        environ = EnvironBuilder(path=endpoint.path, headers=credentials[endpoint.credential]).get_environ()

        def call(n, environ=environ):
            for _ in range(n):
                body = app(dict(environ), start_response)
                b"".join(body)
                body.close()

        call(50)  # caches filled, before the profile
        # Other processes only ever add time: keep the fastest profile, the least disturbed.
        candidates = []
        for _ in range(PROFILE_REPEATS):
            profiler = cProfile.Profile()
            profiler.runcall(call, PROFILE_REQUESTS)
            candidates.append(stages_of(pstats.Stats(profiler)))
        profiles[endpoint.name] = min(candidates, key=lambda profile: profile["stages"][STAGES[0][0]])
    with app.app_context():
        timings = time_token_checks(token, app.config["JWT_SECRET_KEY"])
    return profiles, timings


def time_token_checks(token, key):
    """What one token check costs without a profiler in the way: each operation on its own,
    the best of 5 repeats (the least disturbed by the rest of the machine)."""
    import hashlib
    import hmac

    import jwt as pyjwt
    from flask_jwt_extended import decode_token
    from jwt.api_jws import PyJWS

    signing_input, _, signature = token.encode().rpartition(b".")
    expected = pyjwt.utils.base64url_decode(signature)
    operations = [
        ("Flask-JWT-Extended `decode_token()`: what `/bench/token` runs", lambda: decode_token(token)),
        ("PyJWT `jwt.decode()`, verified", lambda: pyjwt.decode(token, key, algorithms=["HS256"])),
        (
            "PyJWT `jwt.decode()`, unverified",
            lambda: pyjwt.decode(token, options={"verify_signature": False}, algorithms=["HS256"]),
        ),
        ("PyJWT `jwt.get_unverified_header()`", lambda: pyjwt.get_unverified_header(token)),
        (
            "HMAC-SHA256 of the token, compared",
            lambda: hmac.compare_digest(
                hmac.new(key.encode(), signing_input, hashlib.sha256).digest(), expected
            ),
        ),
    ]
    check = getattr(PyJWS, "_decode_base64url_segment", None)  # PyJWT's own, private
    if check is not None:
        segments = token.encode().split(b".")
        operations.append(
            (
                "PyJWT's base64url check of the token's 3 segments (once per parse)",
                lambda: [check(segment, "segment") for segment in segments],
            )
        )
    timings = []
    for label, operation in operations:
        timer = timeit.Timer(operation)
        number, _ = timer.autorange()
        timings.append((label, min(timer.repeat(repeat=5, number=number)) / number * 1e6))
    return timings


def stages_of(stats):
    """Microseconds per request in each named stage, and a few counts."""
    per_request, counts = {}, {"token_parses": 0, "queries": 0}
    counted = {
        "token_parses": ("jwt/api_jws.py", "_load"),  # one full parse of a token
        "queries": ("sqlalchemy/engine/base.py", "_execute_context"),  # one SQL statement sent
    }
    for (filename, _line, function), (_cc, ncalls, _tt, cumulative, _callers) in stats.stats.items():
        filename = filename.replace(os.sep, "/")
        for label, ending, name in STAGES:
            if function == name and filename.endswith(ending):
                per_request[label] = per_request.get(label, 0) + cumulative / PROFILE_REQUESTS * 1e6
        for key, (ending, name) in counted.items():
            if function == name and filename.endswith(ending):
                counts[key] += ncalls / PROFILE_REQUESTS
    return {"stages": per_request, **counts}


# --- The learner's loop -------------------------------------------------------------------


def timed(command, **kwargs):
    started = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - started, out


SUMMARY = re.compile(r"^=*\s*(?P<counts>(no tests ran|\d+ \w+)(, \d+ \w+)*) in [\d.]+s\b")


def pytest_summary(out):
    """pytest's closing line without its time, e.g. '421 passed, 91 deselected', and whether
    the command failed: a red suite is timed all the same, and says so."""
    counts = next(
        (m["counts"] for line in reversed(out.stdout.splitlines()) if (m := SUMMARY.match(line.strip()))),
        "no pytest summary",
    )
    return counts if out.returncode == 0 else f"**exit {out.returncode}**: {counts}"


def measure_learner_loop(folder):
    rows = []
    pytest = str(PYTHON.with_name("pytest"))
    if shutil.which("make"):
        command, shown = ["make", "--no-print-directory", "test"], "make test"
    else:  # what `make test` runs
        command = ["sh", "-c", f"{PYTHON.with_name('ruff')} check . && {pytest}"]
        shown = "ruff check . && pytest"
    print(f"  {shown}", file=sys.stderr)
    seconds, out = timed(command, timeout=1800)
    rows.append((f"`{shown}` (ruff, then the whole suite)", f"{seconds:.1f} s", pytest_summary(out)))

    print("  unit tests", file=sys.stderr)
    seconds, out = timed([pytest, "-q", "-n", "2", "-m", UNIT_MARKERS], timeout=900)
    shown = f'`pytest -q -n 2 -m "{UNIT_MARKERS}"` (`make unit`)'
    rows.append((shown, f"{seconds:.1f} s", pytest_summary(out)))

    print("  notebooks", file=sys.stderr)
    seconds, out = timed([pytest, "-q", "-m", "notebook"], timeout=900)
    if out.returncode == 5 or "no tests ran" in out.stdout or re.search(r"^0 selected", out.stdout, re.M):
        rows.append(("`pytest -q -m notebook`", "not yet", "no notebook tests yet"))
    else:
        rows.append(("`pytest -q -m notebook`", f"{seconds:.1f} s", pytest_summary(out)))

    print("  flask run start-up", file=sys.stderr)
    starts = []
    for n in range(3):
        env = {**random_keys(), "DATABASE_URL": f"sqlite:///{folder / f'flask-run-{n}.sqlite3'}"}
        started = time.perf_counter()
        with flask_run(ROOT / benchapp.STEP.__name__, env=env):
            starts.append(time.perf_counter() - started)
    rows.append(
        (
            f"`flask run` in {benchapp.STEP.__name__}/ until its first answer",
            f"{statistics.median(starts):.2f} s",
            f"median of 3 ({', '.join(f'{s:.2f}' for s in starts)} s); polled every 50 ms",
        )
    )
    return rows


# --- The report ---------------------------------------------------------------------------


def percent(ratio):
    return f"{round((ratio - 1) * 100):+d}%"  # rounded first: no "-0%"


def added_us(load, name):
    """What an endpoint adds to GET /'s time per request, in microseconds."""
    return (load[name].ratio - 1) * load[BASELINE.name].median("cost_us")


def verdict(ratio):
    return "met" if ratio - 1 < GOAL else "**missed**"


def cost(result):
    """'×1.74 (+74%, 1.62–1.90)': the median ratio, and its range over the rounds."""
    low, high = result.spread
    return f"×{result.ratio:.2f} ({percent(result.ratio)}; {low:.2f}–{high:.2f})"


def fill(text):
    """Markdown source wrapped at 100 columns; a list item's lines indented under it."""
    indent = "  " if text.startswith("- ") else ""
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False)


def render(machine, args, load, login, argon2, profiles, timings, loop):
    out = ["# Benchmarks: what authentication costs per request", ""]
    out.append(
        fill(
            f"Measured by `make bench` (bench/run.py) on {machine['date']}, on the machine described at the "
            "end. The ratios carry over to other machines better than the absolute numbers do."
        )
    )
    out += ["", "## Per request, under waitress on loopback", ""]
    out += per_request_table(load, login, argon2)
    out += ["", "## The goal: a credential check adds less than 15% to GET /", ""]
    out += goal_table(load)
    out += ["", "## The learner's loop", "", "| What | Wall time | Result |", "|---|---:|---|"]
    out += [f"| {what} | {seconds} | {result} |" for what, seconds, result in loop]
    if not loop:
        out.append("| (skipped with --skip-loop) | | |")
    out += ["", "## How to read it", "", how_to_read(machine, args, load, login)]
    out += ["", "## Where the time goes", ""]
    out += profile_table(profiles)
    out += ["", *timings_table(timings)]
    out += ["", *findings(profiles, timings, load)]
    out += ["", "## The machine", ""]
    out.append(f"- {machine['cpus']} CPUs: {machine['cpu']}; {machine['system']}")
    out.append(f"- load average when the run started: {', '.join(f'{x:.2f}' for x in machine['load'])}")
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    out.append(f"- Python {machine['python']}; {versions}")
    out.append(f"- load generator: {machine['wrk']}")
    return "\n".join(out) + "\n"


def by_cpu(load):
    return all(run.cpu_ns is not None for result in load.values() for run in result.runs)


def per_request_table(load, login, argon2):
    measure = "Server CPU per request" if by_cpu(load) else "Time per request"
    rows = [
        f"| Request | What it checks | Requests/s | p50 | p99 | {measure} | vs GET / (range) | Added |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in load.values():
        if result.endpoint is BASELINE:
            ratio, added = "1 (the baseline)", ""
        else:
            ratio, added = cost(result), f"{round(added_us(load, result.endpoint.name)):+,d} µs"
        rows.append(
            f"| `{result.endpoint.name}` | {result.endpoint.what} | {result.median('rps'):,.0f} | "
            f"{result.median('p50_ms'):.1f} ms | {result.median('p99_ms'):.1f} ms | "
            f"{result.median('cost_us'):,.0f} µs | {ratio} | {added} |"
        )
    variant, params = argon2
    rows.append(
        f"| `POST /login` | the password: {variant}, m={int(params['m']) // 1024} MiB, t={params['t']}, "
        f"p={params['p']} | {login.rps:,.1f} | {login.p50_ms:.0f} ms | {login.p99_ms:.0f} ms | "
        f"{login.cost_us / 1000:,.0f} ms | one connection: one user's wait | |"
    )
    return rows


def goal_table(load):
    def row(check, name):
        result = load[name]
        low, high = result.spread
        added = f"{percent(result.ratio)} ({percent(low)} to {percent(high)})"
        return f"| {check} | `{name.removeprefix('GET ')}` | {added} | {verdict(result.ratio)} |"

    def step(check, higher, lower):
        added = (load[higher].ratio - load[lower].ratio) * 100
        endpoints = f"`{higher.removeprefix('GET ')}` minus `{lower.removeprefix('GET ')}`"
        return f"| {check} | {endpoints} | {added:+.0f} points | |"

    return [
        "| Check | Endpoint | Adds to GET /'s time (range over the rounds) | Goal |",
        "|---|---|---:|---|",
        row("A JWT's signature, expiry and claims: one PyJWT decode", "GET /bench/pyjwt"),
        row("The same, for a token verified before: its verdict kept until `exp`", "GET /bench/cached"),
        row("The same through Flask-JWT-Extended's decode_token", "GET /bench/token"),
        row("`@jwt_required()` as the steps use it, without reading `current_user`", "GET /bench/jwt"),
        row("The session cookie's signature, nothing else", "GET /bench/session"),
        step("Of those, the JWT's revocation check", "GET /bench/revoked", "GET /bench/token"),
        step("Of those, the JWT's user lookup", "GET /bench/jwt", "GET /bench/revoked"),
        step("The session's user lookup, on top", "GET /session", "GET /bench/session"),
    ]


def how_to_read(machine, args, load, login):
    pinning = ", pinned to one core and wrk to the other" if not args.no_pin else ""
    if by_cpu(load):
        cost_text = (
            "A request's cost is the server's CPU time per request (the sum of its threads' "
            "`/proc/<pid>/task/*/schedstat`). On a quiet machine that equals 1/(requests/s), since with "
            "more connections than it serves at once the server never waits for the client; unlike "
            "requests/s, it leaves out the time the server waits for a core while other processes run, "
            "though it still moves with the processor's own speed, which varies on a shared virtual "
            "machine."
        )
    else:
        cost_text = (
            "A request's cost is 1/(requests/s): with more connections than it serves at once the server "
            "never waits for the client (this system does not tell a process's CPU time per thread)."
        )
    return fill(
        f"wrk ({machine['wrk']}) keeps {args.connections} connections busy for {args.duration} s per run; "
        f"every endpoint's run sits between two runs of GET /, in {args.rounds} rounds, and each figure is "
        f"the median over the rounds. waitress runs {args.threads} worker threads{pinning}: a Python "
        "server runs one thread at a time (the GIL), so one core is all it can use, and the client needs "
        f'the other. {cost_text} "vs GET /" divides it by the GET / runs on either side; its range '
        "over the rounds shows the noise (`/bench/open` should be near ×1, a little under: GET / "
        "serializes a larger body). Compare requests/s and latencies only within one run: they move "
        "with the machine's load. The latencies include "
        f"waiting behind the other connections (wrk is closed-loop: p50 is about {args.connections} times "
        "the time per request). The `/bench/*` endpoints exist only in this benchmark's app "
        "(bench/benchapp.py) and do nothing but the check they name. `POST /login` runs one request at a "
        "time: the password hash is slow by design, and what matters is how long one user waits; its p99 "
        f"rests on {login.requests} requests."
    )


def profile_table(profiles):
    names = [name for name in PROFILED if name in profiles]
    rows = [
        fill(
            f"cProfile, in-process: {PROFILE_REQUESTS} requests per endpoint through the app's WSGI "
            f"callable, no server and no client; the fastest of {PROFILE_REPEATS} profiles. Microseconds "
            "per request, cumulative: a stage includes what it calls, so the stages nest and do not add "
            "up. The profiler inflates Python-heavy code (SQLAlchemy, PyJWT's loops) against C (HMAC, "
            "SQLite): read the shares, not the absolutes."
        ),
        "",
        "| Stage | " + " | ".join(f"`{name.removeprefix('GET ')}`" for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label, _ending, _function in STAGES:
        cells = [profiles[name]["stages"].get(label) for name in names]
        if any(cells):
            rows.append(f"| {label} | " + " | ".join(f"{c:,.0f}" if c else "-" for c in cells) + " |")
    for key, label in (("token_parses", "PyJWT token parses per request"), ("queries", "SQL statements")):
        rows.append(f"| {label} | " + " | ".join(f"{profiles[name][key]:.0f}" for name in names) + " |")
    return rows


def timings_table(timings):
    """Shares of decode_token, all timed in the same minute: those hold when the machine is
    busier or quieter than it was under waitress."""
    whole = timings[0][1]
    rows = [
        fill(
            "Inside the token check, each operation timed alone (in-process, no profiler, best of 5 "
            "repeats), as a share of `decode_token`:"
        ),
        "",
        "| Operation | µs per call | Share of `decode_token` |",
        "|---|---:|---:|",
    ]
    rows += [f"| {label} | {us:,.0f} | {us / whole:.0%} |" for label, us in timings]
    return rows


def findings(profiles, timings, load):
    """The hot spots in words, with this run's numbers: what each step up the table adds
    (measured under waitress), and what the profile and the timings say is inside it."""

    def share(profile, label_start):
        stages = profile["stages"]
        whole = stages.get(STAGES[0][0]) or 1
        return f"{next((v for k, v in stages.items() if k.startswith(label_start)), 0) / whole:.0%}"

    def of_decode(label_start):
        whole = timings[0][1]
        return next((f"{us / whole:.0%}" for label, us in timings if label.startswith(label_start)), "-")

    def points(higher, lower):
        return f"{(load[higher].ratio - load[lower].ratio) * 100:+.0f} points"

    token, jwt, cookie = (profiles[n] for n in ("GET /bench/token", "GET /bench/jwt", "GET /bench/session"))
    extended, pyjwt = (importlib.metadata.version(name) for name in ("Flask-JWT-Extended", "PyJWT"))
    return [
        fill(
            f"- **Verifying the token with one PyJWT decode adds {percent(load['GET /bench/pyjwt'].ratio)}** "
            "(`/bench/pyjwt`, what step 2's `User.verify_jwt` does before its user lookup): the "
            "verification itself, done once."
        ),
        fill(
            f"- **Keeping the verdict on a token verified before, it adds "
            f"{percent(load['GET /bench/cached'].ratio)}** (`/bench/cached`): a client sends one token "
            "with every request until it expires, so after its first request a server can find the "
            "verdict by the exact token and key, and check only `exp` again, as API gateways do. That is "
            "the best case, measured here: one token, every request after the first a hit. The verdicts "
            f"are bounded ({benchapp.CACHED_TOKENS:,} tokens, none over "
            f"{benchapp.CACHED_TOKEN_LENGTH:,} characters) and kept only for tokens that passed "
            "(tests/test_bench.py); a revocation check, where a step makes one, still runs on every "
            "request. The steps verify every token in full: Flask-JWT-Extended has no hook for a kept "
            "verdict."
        ),
        fill(
            f"- **Through Flask-JWT-Extended it adds {percent(load['GET /bench/token'].ratio)}.** "
            f"Flask-JWT-Extended {extended}'s `decode_token` parses the token "
            f"{token['token_parses']:.0f} times: decoded "
            "unverified (to pick the key), its header read, then decoded verified "
            f"({of_decode('PyJWT `jwt.decode()`, unverified')}, "
            f"{of_decode('PyJWT `jwt.get_unverified_header')} and "
            f"{of_decode('PyJWT `jwt.decode()`, verified')} of its time). Every parse runs PyJWT {pyjwt}'s "
            "base64url alphabet check, a Python generator over each character of each segment "
            f"({of_decode('PyJWT' + chr(39) + 's base64url')} of `decode_token` per parse), while the "
            f"HMAC-SHA256 that is the actual verification is {of_decode('HMAC')}."
        ),
        fill(
            f"- **`@jwt_required()` takes it to {percent(load['GET /bench/jwt'].ratio)}, with "
            f"{jwt['queries']:.0f} SQL queries, though the view never reads `current_user`.** After the "
            "token, `verify_jwt_in_request` runs the revocation check (`token_in_blocklist_loader`: "
            f"{points('GET /bench/revoked', 'GET /bench/token')} under waitress, "
            f"{share(jwt, 'revocation')} of the profiled request) and then loads the user eagerly "
            f"(`user_lookup_loader`: {points('GET /bench/jwt', 'GET /bench/revoked')}, "
            f"{share(jwt, 'user lookup')}), each an ORM `session.get`; the first query of a request also "
            f"brings Flask-SQLAlchemy's session teardown ({share(jwt, 'Flask-SQLAlchemy')}), and the "
            f"token's header is parsed once more ({share(jwt, 'token header')}). So every "
            "`@jwt_required()` endpoint pays for the user: `/me`, which reads the `current_user` already "
            f"loaded, is at {percent(load['GET /me'].ratio)}."
        ),
        fill(
            f"- **Reading the session cookie adds {percent(load['GET /bench/session'].ratio)}.** Flask "
            "reads it and checks its signature before any view runs (`open_session`, "
            f"{share(cookie, 'session cookie read')} of the profiled request), and, as the session is "
            "permanent and Flask refreshes it on every request (`SESSION_REFRESH_EACH_REQUEST`), signs it "
            f"again and sends it back (`save_session`, {share(cookie, 'session cookie signed')}). "
            f"`/session`'s user lookup, one query, adds {points('GET /session', 'GET /bench/session')}."
        ),
    ]


def main():
    args = parse_args()
    # The shell's app settings (a DATABASE_URL, a REDIS_URL...) would change what is measured:
    # every app here, in this process or started from it, gets only the settings given to it.
    for name in APP_ENVIRONMENT:
        os.environ.pop(name, None)
    wrk = shutil.which("wrk")
    if wrk is None:
        print(WRK_INSTALL, file=sys.stderr)
        return 2
    machine = describe_machine(wrk)
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        folder = Path(tmp)
        print(f"Load: waitress with {args.threads} threads, wrk -c{args.connections}", file=sys.stderr)
        with bench_server(folder, args.threads, not args.no_pin) as server:
            credentials = set_up(server.base)
            check_and_warm(server.base, credentials)
            load = measure_load(wrk, server, credentials, folder, args)
            print("  POST /login", file=sys.stderr)
            login = measure_login(wrk, server, folder, args)
            argon2 = hash_parameters(folder)
        print("Profile (cProfile)", file=sys.stderr)
        profiles, timings = profile_app(folder)
        loop = []
        if not args.skip_loop:
            print("The learner's loop", file=sys.stderr)
            loop = measure_learner_loop(folder)
    text = render(machine, args, load, login, argon2, profiles, timings, loop)
    args.output.write_text(text)
    print(text)
    print(f"Written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
