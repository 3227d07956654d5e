"""Step 3 under a real multi-threaded WSGI server, hit by a bounded burst of clients at once.

waitress (pinned in requirements.txt) serves the app with 8 worker threads on a loopback port,
over a SQLite file: the set-up where concurrent requests meet one database. Eight clients, each
on its own keep-alive connection, register, log in, read /me, create to-dos, list them and log
out, all at the same time; all eight also race to register one shared name. Afterwards:

- no answer was a 5xx, and none mentioned "database is locked" (nor did the app's log);
- no write was lost: every to-do a client was told was created is in the database, and the
  counts of users, to-dos and revoked tokens are exactly what the clients were told;
- of the racing registrations, exactly one won (A3, on a real server this time).

Bounded in count (a few hundred requests) and in time (every request and the whole burst have
a deadline); the server is always stopped.
"""

import http.client
import json
import threading
import time

import pytest
from sqlalchemy import func, select
from waitress import wasyncore
from waitress.server import create_server

pytestmark = [pytest.mark.load, pytest.mark.steps(3)]

CLIENTS = 8
TODOS_PER_CLIENT = 30  # about 100 requests per client, 800 in the burst
REQUEST_TIMEOUT = 10  # seconds, for any one request
BURST_DEADLINE = 60  # seconds, for the whole burst; it takes a few


@pytest.fixture
def served(make_app):
    """Step 3 on waitress with 8 threads, on 127.0.0.1 and a free port; stopped afterwards."""
    # Cheap password hashing (8 KiB, one pass). The burst is about concurrency, not the hash:
    # at the production cost (19 MiB, two passes) each login takes ~30 ms of CPU and ~19 MiB,
    # so sixteen of them at once would spend the time budget on argon2 and prove nothing more.
    app = make_app(PASSWORD_HASH_MEMORY_KIB=8, PASSWORD_HASH_TIME_COST=1)
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    stopping = threading.Event()

    def serve():
        try:
            server.run()
        except OSError:
            # Closing the sockets below, from this thread, can land while the server's loop is
            # in select() on them (EBADF): expected while stopping, a failure at any other time.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, name="waitress", daemon=True)
    thread.start()
    try:
        yield app, server.effective_port
    finally:
        stopping.set()
        server.close()
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)  # the open keep-alive channels too: the loop then ends
        thread.join(timeout=10)
        assert not thread.is_alive(), "waitress did not stop"


class Client:
    """One user on one keep-alive connection. Unexpected answers are collected, not raised:
    this runs in a thread, and the test reports them all at the end."""

    def __init__(self, port, number, problems):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        self.credentials = {"username": f"load{number}", "password": "correct horse battery"}
        self.problems, self.token, self.created = problems, None, []
        self.answers = []  # every (method, path, status) this client saw

    def call(self, method, path, body=None, expect=200, token=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        self.connection.request(
            method, path, body=None if body is None else json.dumps(body), headers=headers
        )
        response = self.connection.getresponse()
        raw = response.read()
        self.answers.append((method, path, response.status))
        if response.status != expect or response.status >= 500 or b"database is locked" in raw:
            self.problems.append((self.credentials["username"], method, path, response.status, raw[:300]))
        return json.loads(raw) if raw else None

    def race_for_the_shared_name(self):
        body = {"username": "shared", "password": "correct horse battery"}
        self.connection.request("POST", "/register", json.dumps(body), {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        response.read()
        return response.status

    def work(self):
        self.call("POST", "/register", self.credentials, expect=201)
        tokens = self.call("POST", "/login", self.credentials)
        self.token = tokens["access_token"]
        self.call("GET", "/me")
        for n in range(TODOS_PER_CLIENT):
            todo = self.call("POST", "/todos", {"title": f"{self.credentials['username']} #{n}"}, expect=201)
            self.created.append(todo["id"])
            if n % 2:  # an update, so that writes of both kinds meet
                self.call("PUT", f"/todos/{todo['id']}", {"done": True})
            else:
                self.call("GET", "/me")
        listed = self.call("GET", "/todos")
        expected = [{"id": id_, "done": bool(n % 2)} for n, id_ in enumerate(self.created)]
        if [{"id": todo["id"], "done": todo["done"]} for todo in listed] != expected:
            self.problems.append((self.credentials["username"], "listed", expected, listed))
        self.call("POST", "/logout", expect=204)
        self.call("POST", "/logout", token=tokens["refresh_token"], expect=204)
        self.call("GET", "/me", expect=401)  # revoked, as every other thread writes too


def test_a_burst_of_concurrent_clients_gets_no_5xx_no_lock_errors_and_loses_no_write(
    served, step_package, caplog
):
    app, port = served
    problems, races = [], []
    clients = [Client(port, number, problems) for number in range(CLIENTS)]
    start_together = threading.Barrier(CLIENTS)

    def run(client):
        try:
            start_together.wait(timeout=REQUEST_TIMEOUT)
            races.append(client.race_for_the_shared_name())
            client.work()
        except Exception as error:  # a timeout or a dropped connection is a finding too
            problems.append((client.credentials["username"], "raised", repr(error)))
        finally:
            client.connection.close()

    threads = [
        threading.Thread(target=run, args=(client,), name=f"client-{n}") for n, client in enumerate(clients)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.1, BURST_DEADLINE - (time.monotonic() - began)))
    assert not [thread.name for thread in threads if thread.is_alive()], "the burst passed its deadline"

    assert problems == []
    assert sorted(races) == [201] + [409] * (CLIENTS - 1)
    answered = sum(len(client.answers) for client in clients) + len(races)
    assert answered == CLIENTS * (1 + 1 + 1 + 1 + TODOS_PER_CLIENT * 2 + 1 + 2 + 1)  # as work() goes
    logged = [record.getMessage() for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]
    assert not [message for message in logged if "locked" in message or "Exception" in message], logged

    models = step_package.models
    db = models.db
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(models.User)) == CLIENTS + 1  # and "shared"
        stored_ids = set(db.session.scalars(select(models.Todo.id)))
        assert stored_ids == {todo_id for client in clients for todo_id in client.created}
        assert len(stored_ids) == CLIENTS * TODOS_PER_CLIENT
        done = set(db.session.scalars(select(models.Todo.id).where(models.Todo.done)))
        assert len(done) == CLIENTS * (TODOS_PER_CLIENT // 2)
        assert db.session.scalar(select(func.count()).select_from(models.RevokedToken)) == CLIENTS * 2
