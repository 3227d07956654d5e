"""The HTTP side: every endpoint is a Flask-RESTful Resource."""

import hmac

from flask import current_app
from flask_jwt_extended import create_access_token
from flask_restful import Resource, abort

from .validation import credentials


def same(given, expected):
    """Compare secrets in constant time, so timing does not tell how much matched."""
    return hmac.compare_digest(given.encode(), expected.encode())


class IndexResource(Resource):
    def get(self):
        return {
            "step": 1,
            "concept": "JWTManager set-up: keys from the environment, and a login that answers "
            "an access token with the right claims.",
            "endpoints": {
                "GET /": "this description",
                "POST /login": "JSON {username, password} of the demo account -> {access_token}",
            },
        }


class LoginResource(Resource):
    def post(self):
        username, password = credentials()
        # Check both, always: returning early on a wrong username would tell by timing.
        username_ok = same(username, current_app.config["DEMO_USERNAME"])
        password_ok = same(password, current_app.config["DEMO_PASSWORD"])
        if not (username_ok and password_ok):
            abort(401, message="Wrong username or password.")
        # Flask-JWT-Extended signs with JWT_SECRET_KEY and adds iat, nbf, jti, exp and
        # type="access"; the identity becomes `sub`, which must be a string.
        # BEGIN EXERCISE issue_access_token: answer {"access_token": ...} made by
        # Flask-JWT-Extended's create_access_token, with the username as the identity
        return {"access_token": create_access_token(identity=username)}
        # END EXERCISE
