"""Input checks that every step shares and no lesson is about: safe to skip on a first read.

This file is the same in every step folder from step 1 on, so `diff -ru` between two steps
never shows it. Each check answers bad input with a 4xx and {"message": ...}, never a 500:
- json_object, required_string, credentials: the request body (deep nesting, lone
  surrogates, NUL characters);
- parse_id: a row id from text, within what every database's integer column holds;
- unauthorized: the 401 of a Bearer-token API (RFC 6750 §3);
- json_answer: a JSON answer written as Flask-RESTful writes its own;
- reject_blank_authorization_parts: a guard for a Flask-JWT-Extended crash (from step 3).
"""

import json
import re

from flask import current_app, request
from flask_restful import abort

# The largest id an Integer column holds on every database: PostgreSQL's integer is 32 bits
# (SQLite's holds 2**63 - 1).
MAX_ID = 2**31 - 1


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


def parse_id(text):
    """A row id from text (a token's `sub`, a URL): a whole number an id column can hold, or
    None. A larger one would overflow in the database driver: a 500, not "no such row"."""
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID:
        return int(text)
    return None


def unauthorized(message, header='Bearer error="invalid_token"'):
    """A 401 as RFC 6750 §3 asks of a Bearer-token API: `WWW-Authenticate: Bearer` when no
    token came, `Bearer error="invalid_token"` when one came and is no good. A client that
    follows the RFC looks for both to know it must log in again."""
    response = json_answer({"message": message}, 401)
    response.headers["WWW-Authenticate"] = header
    return response


def json_answer(body, status):
    """`body` as JSON, the way Flask-RESTful writes every answer of its resources: json.dumps
    with the app's RESTFUL_JSON settings, indented under `flask run --debug`, then a newline.
    Flask's jsonify leaves out the spaces: with it, the few answers made here would look unlike
    all the others in curl, and unlike the READMEs."""
    settings = dict(current_app.config.get("RESTFUL_JSON", {}))
    if current_app.debug:
        settings.setdefault("indent", 4)
    text = json.dumps(body, **settings) + "\n"
    return current_app.response_class(text, status, mimetype="application/json")


def reject_blank_authorization_parts():
    """Flask-JWT-Extended 4.7.4 crashes (IndexError: a 500) on an Authorization header with a
    blank part between commas, such as ", ,". Found by this repository's fuzz tests; run
    before every request, this answers such a header as the bad token it is."""
    parts = re.split(r",\s*", request.headers.get("Authorization", "").strip().strip(","))
    if any(part and not part.split() for part in parts):
        return unauthorized("The token is invalid.")
