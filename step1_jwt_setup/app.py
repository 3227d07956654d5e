"""Wiring: Flask, Flask-RESTful's Api and Flask-JWT-Extended's JWTManager."""

import flask_restful
from flask import Flask
from flask_jwt_extended import JWTManager

from . import config as settings
from .protection import protect
from .resources import IndexResource, LoginResource

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
    api = flask_restful.Api(app, catch_all_404s=True)
    api.add_resource(IndexResource, "/")
    api.add_resource(LoginResource, "/login")
    return app
