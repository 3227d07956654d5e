"""The HTTP side: every endpoint is a Flask-RESTful Resource."""

import re

from flask import request
from flask_restful import Resource, abort
from sqlalchemy.exc import IntegrityError

from .models import User, db

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
PASSWORD_LENGTH = range(8, 128 + 1)


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


class IndexResource(Resource):
    def get(self):
        return {
            "step": 2,
            "concept": "A User model in a real database that hashes its password and "
            "generates and verifies its own tokens.",
            "endpoints": {
                "GET /": "this description",
                "POST /register": "JSON {username, password} -> 201 {id, username}",
                "POST /login": "JSON {username, password} -> {access_token}",
            },
        }


class RegisterResource(Resource):
    def post(self):
        username, password = credentials()
        if not USERNAME.fullmatch(username):
            abort(400, message="'username' must be 3 to 32 letters, digits, '_', '.' or '-'.")
        if len(password) not in PASSWORD_LENGTH:
            abort(400, message="'password' must be 8 to 128 characters long.")
        user = User(username=username)
        user.set_password(password)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # The unique index decides, so two racing requests cannot both win.
            db.session.rollback()
            abort(409, message="That username is taken.")
        return {"id": user.id, "username": user.username}, 201


class LoginResource(Resource):
    def post(self):
        username, password = credentials()
        user = User.authenticate(username, password)
        if user is None:
            abort(401, message="Wrong username or password.")
        return {"access_token": user.generate_jwt()}
