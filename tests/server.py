"""Run a step the way a learner does, `flask run` inside its folder, and talk to it over HTTP."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

FLASK = Path(sys.executable).with_name("flask")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        self.json = json.loads(body) if body else None


def request(method, url, body=None, headers=None):
    """One HTTP request with the standard library; an error status is an answer, not a raise."""
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Answer(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.headers, err.read())


@contextmanager
def serving(command, base, *, cwd, env, output=None, timeout=20):
    """Start a server process, wait until GET / answers on base, yield the process; always stop it.
    Its output goes to `output`, or to a temporary file: never to a pipe that nobody reads, which
    fills up after some hundred logged requests and then blocks the server mid-test."""
    log = output or tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                said = "(see its log)" if output else (log.seek(0), log.read())[1]
                raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}:\n{said}")
            try:
                request("GET", base + "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{' '.join(command)} did not answer on {base}") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not output:
            log.close()


@contextmanager
def flask_run(step_dir, env=None, timeout=20):
    """Start `flask run` in step_dir on a free port, debug off; yield its base URL; stop it."""
    port = free_port()
    environ = {**os.environ, "FLASK_DEBUG": "0", "PYTHONUNBUFFERED": "1", **(env or {})}
    environ.pop("FLASK_APP", None)  # found as a learner's `flask run` finds it: ./app.py
    command = [str(FLASK), "run", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with serving(command, base, cwd=step_dir, env=environ, timeout=timeout):
        yield base
