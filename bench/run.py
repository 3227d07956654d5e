"""`make bench`: what checking a credential costs per request, as a ratio to GET /.

Serves step 4 and its probes (benchapp.py) with waitress on 127.0.0.1, loads each endpoint with
wrk between two runs of GET /, in rounds; times POST /login one request at a time, and the parts
of a token check alone. Writes the figures into bench/RESULTS.md between its two markers; the
prose around them is written by hand (see bench/README.md).
"""

import argparse
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import timeit
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(BENCH)]
from server import free_port, request, serving  # noqa: E402  (tests/server.py)

BEGIN, END = "<!-- make bench: begin -->", "<!-- make bench: end -->"
PACKAGES = ["Flask", "Flask-RESTful", "Flask-JWT-Extended", "PyJWT", "SQLAlchemy", "waitress", "argon2-cffi"]
ACCOUNT = {"username": "bench-user", "password": "correct horse battery"}
ENDPOINTS = [  # path, credential, what it checks
    ("/", None, "no authentication (the step's index)"),
    ("/bench/pyjwt", "jwt", "the JWT checked by one PyJWT decode"),
    ("/bench/cached", "jwt", "the same, its verdict kept: a token seen before"),
    ("/bench/token", "jwt", "the same through Flask-JWT-Extended"),
    ("/me", "jwt", "`@jwt_required()`: token, revocation check, user (2 queries)"),
    ("/todos", "jwt", "the same, and the user's 10 to-dos"),
    ("/bench/session", "cookie", "the session cookie only"),
    ("/session", "cookie", "the cookie and the user's row (1 query)"),
]
WRK_SCRIPT = """\
wrk.method, wrk.body = "{method}", {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {{"requests": %d, "us": %d, "p50": %d, "p99": %d, "bad": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def pinned(command, core):
    """The server on one core, wrk on the other: a Python server runs one thread at a time."""
    pin = shutil.which("taskset") and os.cpu_count() >= 2
    return ["taskset", "-c", str(core), *command] if pin else command


def cpu_ns(pid):
    """The server's CPU time so far (Linux), which other processes do not inflate as they do wall time."""
    try:
        return sum(int(stat.read_text().split()[0]) for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"))
    except (OSError, ValueError):
        return None


def expect(answer, status):
    assert answer.status == status, f"expected {status}, got {answer.status} {answer.body[:200]!r}"
    return answer


def set_up(base):
    """A user, ten to-dos, a token and a session cookie, made through the API; every endpoint
    answers 200 with its credential (a benchmark of 401s would measure nothing)."""
    expect(request("POST", base + "/register", ACCOUNT), 201)
    token = expect(request("POST", base + "/login", ACCOUNT), 200).json["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for n in range(10):
        expect(request("POST", base + "/todos", {"title": f"to-do {n}"}, bearer), 201)
    started = expect(request("POST", base + "/session", ACCOUNT), 200)
    cookie = SimpleCookie(started.headers["Set-Cookie"])["session"].value
    credentials = {"jwt": bearer, "cookie": {"Cookie": f"session={cookie}"}, None: {}}
    for path, credential, _ in ENDPOINTS:
        for _ in range(20):  # and warm
            expect(request("GET", base + path, headers=credentials[credential]), 200)
    return credentials


def wrk(url, pid, headers, folder, seconds, connections, method="GET", body=None):
    """One wrk run: requests/s, the server's CPU µs per request, p50 and p99 in ms."""
    quote = "[=[{}]=]".format  # a Lua long string: a token or cookie goes in as it is
    lines = "\n".join(f"wrk.headers[ {quote(k)} ] = {quote(v)}" for k, v in headers.items())
    script = folder / "request.lua"
    script.write_text(WRK_SCRIPT.format(method=method, body=quote(body) if body else "nil", headers=lines))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    before = cpu_ns(pid)
    out = subprocess.run(pinned(command, 1), capture_output=True, text=True, timeout=seconds + 30)
    after = cpu_ns(pid)
    line = next((line for line in out.stdout.splitlines() if line.startswith("BENCH ")), "")
    assert line, f"wrk failed:\n{out.stdout}{out.stderr}"
    run = json.loads(line.removeprefix("BENCH "))
    assert run["requests"] and not run["bad"], f"{method} {url}: {run['bad']} errors"
    busy_us = (after - before) / 1000 if None not in (before, after) else run["us"]
    return {"rps": run["requests"] / run["us"] * 1e6, "cost": busy_us / run["requests"],
            "p50": run["p50"] / 1000, "p99": run["p99"] / 1000}  # fmt: skip


def measure(base, pid, credentials, folder, args):
    """Each endpoint runs between two runs of GET /, and its ratio is to their mean: the machine's
    speed changes from second to second, and a baseline measured beside each run changes with it."""
    runs = {path: [] for path, _, _ in ENDPOINTS}
    ratios = {path: [] for path, _, _ in ENDPOINTS[1:]}
    load = lambda path, headers: wrk(base + path, pid, headers, folder, args.duration, args.connections)  # noqa: E731
    others = ENDPOINTS[1:]
    for n in range(args.rounds):
        print(f"  round {n + 1} of {args.rounds}", file=sys.stderr)
        before = load("/", {})
        runs["/"].append(before)
        for path, credential, _ in others[n % len(others) :] + others[: n % len(others)]:  # a new order
            run, after = load(path, credentials[credential]), load("/", {})
            runs[path].append(run)
            runs["/"].append(after)
            ratios[path].append(run["cost"] / ((before["cost"] + after["cost"]) / 2))
            before = after
    return runs, ratios


def token_parts(keys, token):
    """µs per call of each part of a token check, alone in this process (the best of 5)."""
    import benchapp  # noqa: I001  (bench/, then the repository's step 4)
    import step4_sessions

    config = {**keys, "SESSION_BACKEND": "cookie", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    timings = {}
    with benchapp.build_app(step4_sessions, config).app_context():
        for label, part in benchapp.token_check_parts(token, keys["JWT_SECRET_KEY"]).items():
            number = timeit.Timer(part).autorange()[0]
            timings[label] = min(timeit.repeat(part, repeat=5, number=number)) / number * 1e6
    return timings


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    wrk_banner = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" Copy")[0]
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in PACKAGES)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({cpu}), {platform.platform()}; load average {load} at the start; "
            f"Python {platform.python_version()}; {versions}; {wrk_banner}.")  # fmt: skip


def report(args, described, runs, ratios, login, parts):
    def row(request, what, run, ratio=""):
        rps = f"{run['rps']:,.0f}" if run["rps"] >= 100 else f"{run['rps']:.1f}"
        return (f"| `{request}` | {what} | {rps} | {run['p50']:.1f} ms | {run['p99']:.1f} ms "
                f"| {run['cost']:,.0f} µs | {ratio} |")  # fmt: skip

    out = [
        BEGIN, f"Measured on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.rounds} rounds of "
        f"{args.duration} s runs, wrk with {args.connections} connections, waitress with {args.threads} "
        "threads.", "",
        "| Request | What it checks | Requests/s | p50 | p99 | Server CPU per request | vs GET / (range) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for path, _, what in ENDPOINTS:
        median = {key: statistics.median(run[key] for run in runs[path]) for key in runs[path][0]}
        mine = ratios.get(path)
        ratio = f"×{statistics.median(mine):.2f} ({min(mine):.2f}–{max(mine):.2f})" if mine else "1"
        out.append(row(f"GET {path}", what, median, ratio))
    out.append(row("POST /login", "the password (argon2id, as the step sets it), one at a time", login))
    out += ["", "| Part of a token check, alone | µs per call | Share of decode_token |", "|---|---:|---:|"]
    whole = next(iter(parts.values()))
    out += [f"| {label} | {us:,.0f} | {us / whole:.0%} |" for label, us in parts.items()]
    return "\n".join([*out, "", f"The machine: {described}", END])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds over all endpoints (default 6)")
    parser.add_argument("--duration", type=int, default=1, help="seconds per wrk run (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads (default 4)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk, the HTTP load generator: apt-get install wrk (or brew install wrk)")
    described = machine()
    keys = {"SECRET_KEY": secrets.token_hex(32), "JWT_SECRET_KEY": secrets.token_hex(32)}
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        folder, port = Path(tmp), free_port()
        # Only these settings, none of the shell's (a DATABASE_URL, a REDIS_URL...).
        env = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", "SESSION_BACKEND": "cookie",
               "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}", **keys}  # fmt: skip
        serve = ["-m", "waitress", "--host=127.0.0.1", f"--port={port}", f"--threads={args.threads}"]
        command = pinned([sys.executable, *serve, "--ident=bench", "--call", "bench.benchapp:step4_app"], 0)
        base, log = f"http://127.0.0.1:{port}", (folder / "server.log").open("w")
        with log, serving(command, base, cwd=ROOT, env=env, output=log) as server:
            credentials = set_up(base)
            print(f"Load: waitress with {args.threads} threads, wrk -c{args.connections}", file=sys.stderr)
            runs, ratios = measure(base, server.pid, credentials, folder, args)
            print("  POST /login", file=sys.stderr)
            headers = {"Content-Type": "application/json"}
            login = wrk(base + "/login", server.pid, headers, folder, 4, 1, "POST", json.dumps(ACCOUNT))
    token = credentials["jwt"]["Authorization"].removeprefix("Bearer ")
    figures = report(args, described, runs, ratios, login, token_parts(keys, token))
    print(figures)
    text = args.output.read_text() if args.output.exists() else ""
    if BEGIN in text and END in text:  # the figures replaced, the prose around them kept
        figures = text.split(BEGIN)[0] + figures + text.split(END, 1)[1]
    args.output.write_text(figures if figures.endswith("\n") else figures + "\n")
    print(f"Written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
