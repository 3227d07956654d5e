"""How long a learner waits: the figures the READMEs quote, measured on a fresh clone.

    python3 tools/learner_loop.py              # all the figures (about three minutes)
    python3 tools/learner_loop.py --no-test    # without `make test`
    python3 tools/learner_loop.py --cold       # uv and pip start with empty caches, as on a new machine

It clones the repository's last commit into a temporary folder, then times there:

1. `make run`, from the clone to the first answer to GET /: venv, uv, every package, start-up;
2. `make run` again, now installed: what every later start costs;
3. `make unit` the first time, which installs the test tools, then again: the fast loop;
4. `make test`, the whole suite.

It prints each figure with the machine it ran on (CPU, cores, memory, load, Python, where uv came
from), because a time means little without the machine. Nothing in the working tree changes.
"""

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_WAIT_SECONDS = 300


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def time_first_answer(clone, environment):
    """Seconds from `make run` to the first 200 on GET /, then stop the server."""
    port = free_port()
    started = time.monotonic()
    # A session of its own, so that stopping it stops make, flask and anything they started.
    server = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=clone,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        while not answers(f"http://127.0.0.1:{port}/"):
            if server.poll() is not None:
                sys.exit(f"make run stopped before answering:\n{server.stderr.read().decode()}")
            if time.monotonic() - started > SERVER_WAIT_SECONDS:
                sys.exit(f"make run did not answer within {SERVER_WAIT_SECONDS} s")
            time.sleep(0.1)
        return time.monotonic() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def time_command(clone, environment, *command):
    started = time.monotonic()
    done = subprocess.run(command, cwd=clone, env=environment, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib():
    try:
        total_kib = int(Path("/proc/meminfo").read_text().split()[1])
        return f"{total_kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        return "RAM unknown"


def machine():
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average {load} at the start"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-test", action="store_true", help="skip `make test`")
    parser.add_argument("--cold", action="store_true", help="empty uv and pip caches, as on a new machine")
    options = parser.parse_args()

    environment = dict(os.environ)
    for name in ("VIRTUAL_ENV", "FLASK_APP", "FLASK_RUN_PORT", "SECRET_KEY", "JWT_SECRET_KEY"):
        environment.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="learner-loop-") as scratch:
        if options.cold:
            environment["UV_CACHE_DIR"] = f"{scratch}/uv-cache"
            environment["PIP_NO_CACHE_DIR"] = "1"
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
        ).stdout.strip()
        uv = "on PATH" if shutil.which("uv") else "bootstrapped into .venv by pip (none on PATH)"
        caches = "empty (--cold)" if options.cold else "as this machine has them"

        print(f"Machine: {machine()}")
        print(f"Commit {commit}; uv {uv}; download caches {caches}")
        first = time_first_answer(clone, environment)
        print(f"fresh clone -> `make run` answers GET /: {first:.1f} s (installing included)")
        again = time_first_answer(clone, environment)
        print(f"`make run` again, installed -> first answer: {again:.1f} s")
        unit = time_command(clone, environment, "make", "unit")
        print(f"first `make unit`, installing the test tools: {unit:.1f} s")
        unit = time_command(clone, environment, "make", "unit")
        print(f"`make unit` again, the loop: {unit:.1f} s")
        if not options.no_test:
            test = time_command(clone, environment, "make", "test")
            print(f"`make test`: {test:.1f} s")
        # Other work on the machine slows every figure: the load at the end shows whether it did.
        print("Load average at the end: " + ", ".join(f"{n:.1f}" for n in os.getloadavg()))


if __name__ == "__main__":
    main()
