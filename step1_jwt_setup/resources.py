"""The HTTP side: every endpoint is a Flask-RESTful Resource."""

import hmac

from flask import current_app, request
from flask_jwt_extended import create_access_token
from flask_restful import Resource, abort


def json_object():
    """The request body as a dict, or a 400 that says what was expected."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # "[[[[...": nested too deep to parse, which `silent` does not cover
        body = None
    if not isinstance(body, dict):
        abort(400, message="The body must be a JSON object, sent with Content-Type: application/json.")
    return body


def required_string(body, field):
    value = body.get(field)
    if not isinstance(value, str):
        abort(400, message=f"'{field}' is required and must be a string.")
    try:
        value.encode()
    except UnicodeEncodeError:  # JSON allows lone surrogates ("\ud800"); UTF-8 does not
        abort(400, message=f"'{field}' must be valid Unicode text.")
    if "\x00" in value:  # no name or password needs one, and PostgreSQL cannot store it
        abort(400, message=f"'{field}' must not contain NUL characters.")
    return value


def credentials():
    body = json_object()
    return required_string(body, "username"), required_string(body, "password")


def same(given, expected):
    """Compare secrets in constant time, so timing does not tell how much matched."""
    return hmac.compare_digest(given.encode(), expected.encode())


class IndexResource(Resource):
    def get(self):
        return {
            "step": 1,
            "concept": "JWTManager set-up: keys from the environment, a token with the right claims, "
            "and token errors that reach the client as 401 under Flask-RESTful.",
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
