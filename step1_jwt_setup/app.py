"""Wiring: Flask, Flask-RESTful's Api and Flask-JWT-Extended's JWTManager."""

import flask_restful
from flask import Flask
from flask_jwt_extended import JWTManager
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from . import config as settings
from .protection import STORE_DOWN, protect
from .resources import IndexResource, LoginResource


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
        # BEGIN EXERCISE token_errors_reach_flask: raise the error again if it is a token error
        # (JWTExtendedException or PyJWTError); hand anything else to Flask-RESTful's handle_error
        if isinstance(e, JWTExtendedException | PyJWTError):
            raise e
        return super().handle_error(e)
        # END EXERCISE


# The JWTManager is named for what it is, so that `jwt` stays free for PyJWT (E1).
jwt_manager = JWTManager()


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
    )
    app.config.update(settings.from_environment())
    app.config.update(config or {})
    settings.require_strong_keys(app.config)

    jwt_manager.init_app(app)

    protect(app)  # throttled guessing, no-store and nosniff, 503 when Redis is down

    # catch_all_404s: unknown paths answer {"message": ...} too, not Flask's HTML page.
    api = Api(app, catch_all_404s=True)
    api.add_resource(IndexResource, "/")
    api.add_resource(LoginResource, "/login")
    return app
