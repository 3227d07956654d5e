"""Wiring: Flask, Flask-RESTful's Api, Flask-JWT-Extended's JWTManager and the database."""

from pathlib import Path

import click
import flask_restful
from flask import Flask
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from . import config as settings
from .auth import jwt_manager
from .blocklist import init_blocklist
from .models import db
from .protection import STORE_DOWN, protect
from .resources import (
    IndexResource,
    LoginResource,
    LogoutResource,
    MeResource,
    PageResource,
    RefreshResource,
    RegisterResource,
    SessionResource,
    SessionTodoListResource,
    TodoListResource,
    TodoResource,
)
from .storage import init_storage
from .validation import reject_blank_authorization_parts


class Api(flask_restful.Api):
    """Flask-RESTful's Api, leaving token errors to Flask-JWT-Extended.

    JWTManager registers its error handlers (401 for a missing or bad token) on the
    Flask app. Flask-RESTful catches every exception raised in a Resource first and,
    with TESTING and DEBUG off, answers a generic 500 (post mistake E3). Raising here
    makes Flask-RESTful fall back to Flask, which finds JWTManager's handler.
    With TESTING on, Flask-RESTful re-raises anyway, which is why a test suite that
    runs with TESTING=True never sees the bug.
    """

    def handle_error(self, e):
        if isinstance(e, STORE_DOWN):  # Redis is down: protection.py answers 503, not a 500
            raise e
        if isinstance(e, JWTExtendedException | PyJWTError):
            raise e
        return super().handle_error(e)


@click.command("init-db")
def init_db_command():
    """Drop every table and create them again, empty."""
    db.drop_all()
    db.create_all()
    click.echo(f"Dropped and recreated the tables in {db.engine.url.render_as_string()}.")


def create_app(config=None):
    # An API serves no files: without Flask's /static route, /static/... is a JSON 404 too.
    app = Flask(__name__, static_folder=None)
    app.config.update(
        # Flask-JWT-Extended says "msg"; Flask-RESTful says "message". One shape everywhere.
        JWT_ERROR_MESSAGE_KEY="message",
        JWT_ALGORITHM="HS256",
        JWT_TOKEN_LOCATION=["headers"],  # never the URL, where tokens end up in logs
        JWT_COOKIE_CSRF_PROTECT=False,  # no token travels in a cookie: no "csrf" claim
        MAX_CONTENT_LENGTH=16 * 1024,  # a login body is tiny; larger ones get 413
        # OWASP's argon2id row. Werkzeug's default, scrypt N=2^15, is below that table.
        PASSWORD_HASH_TIME_COST=2,
        PASSWORD_HASH_MEMORY_KIB=19 * 1024,
    )
    app.config.update(settings.from_environment())
    app.config.update(config or {})
    settings.require_strong_keys(app.config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        # The default database is a file in the instance folder, one per step.
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        database = Path(app.instance_path) / f"{__package__}.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"

    init_blocklist(app)  # before the database: a wrong TOKEN_BLOCKLIST stops the app first
    init_storage(app)  # and so does a wrong SESSION_BACKEND
    jwt_manager.init_app(app)
    app.before_request(reject_blank_authorization_parts)
    db.init_app(app)
    with app.app_context():
        db.create_all()  # only the tables that are missing: `flask run` just works
    app.cli.add_command(init_db_command)

    protect(app)  # throttled guessing, no-store and nosniff, 503 when Redis is down

    # catch_all_404s: unknown paths answer {"message": ...} too, not Flask's HTML page.
    api = Api(app, catch_all_404s=True)
    api.add_resource(IndexResource, "/")
    api.add_resource(RegisterResource, "/register")
    api.add_resource(LoginResource, "/login")
    api.add_resource(RefreshResource, "/refresh")
    api.add_resource(LogoutResource, "/logout")
    api.add_resource(MeResource, "/me")
    api.add_resource(TodoListResource, "/todos")
    api.add_resource(TodoResource, "/todos/<todo_id>")
    api.add_resource(SessionResource, "/session")
    api.add_resource(SessionTodoListResource, "/session/todos")
    api.add_resource(PageResource, "/page/<name>")  # the browser page's files (GET / in a browser)
    return app
