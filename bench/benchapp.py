"""The app that bench/run.py measures: step 4 as `create_app` builds it, plus four probes.

No step has an endpoint that checks a credential and does nothing else, so the cost of the
check alone cannot be read off them. These probes add one, to this app only, on the step's
own `Api` class, so they go through the same dispatch and error handling as its endpoints:

- GET /bench/pyjwt    the token checked by one PyJWT decode, as step 2's User.verify_jwt does;
- GET /bench/cached   the same, its verdict kept for the token's life (see verified_once);
- GET /bench/token    the same checks through Flask-JWT-Extended's decode_token();
- GET /bench/session  session.get("user_id") from the signed cookie.

None of them touches the database. tests/test_bench.py checks that each answers 200 with its
credential and 401 without. Run as a script, this serves step 4 of this repository with
waitress (settings from the environment, as for `flask run`): python bench/benchapp.py PORT THREADS
"""

import functools
import sys
import time
from pathlib import Path
from types import MappingProxyType

import jwt as pyjwt
from flask import current_app, request, session
from flask_jwt_extended import decode_token
from flask_restful import Resource, abort

# A client sends the same token until it expires, so a server can keep its verdict on a token
# it has verified, keyed by the exact token and key, as API gateways do. What keeps that safe:
# only good tokens are kept (lru_cache keeps no exception); the key is part of the entry's key;
# `exp` is checked again on every hit; at most CACHED_TOKENS entries, none for a token longer
# than CACHED_TOKEN_LENGTH. Revocation, where a step checks it, is another check.
CACHED_TOKENS = 1024
CACHED_TOKEN_LENGTH = 2048


def refuse(message):
    abort(401, message=message)


def bearer_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        refuse("Missing Authorization Header")
    return token


def verify_with_pyjwt(token, key):
    """HS256 only, the claims Flask-JWT-Extended requires, an access token only: step 2's check."""
    try:
        required = {"require": ["sub", "iat", "exp", "jti"]}
        claims = pyjwt.decode(token, key, algorithms=["HS256"], options=required)
    except pyjwt.ExpiredSignatureError:
        refuse("The token has expired.")
    except pyjwt.InvalidTokenError:
        refuse("The token is invalid.")
    if claims.get("type") != "access":  # a refresh token opens no resource
        refuse("The token is invalid.")
    return claims


@functools.lru_cache(maxsize=CACHED_TOKENS)
def verified_once(token, key):
    """The claims, read-only as every hit shares them, and `exp` as PyJWT compares it (an int)."""
    claims = verify_with_pyjwt(token, key)
    return MappingProxyType(claims), int(claims["exp"])


def now():
    return time.time()


def verified_cached(token, key):
    if len(token) > CACHED_TOKEN_LENGTH:
        return verify_with_pyjwt(token, key)
    claims, expires = verified_once(token, key)
    if expires <= now():  # as PyJWT: expired from the second `exp` names
        refuse("The token has expired.")
    return claims


class PyJwtProbe(Resource):
    def get(self):
        return {"sub": verify_with_pyjwt(bearer_token(), current_app.config["JWT_SECRET_KEY"])["sub"]}


class CachedJwtProbe(Resource):
    def get(self):
        return {"sub": verified_cached(bearer_token(), current_app.config["JWT_SECRET_KEY"])["sub"]}


class TokenProbe(Resource):
    """decode_token() checks signature, algorithm and claims; a bad token raises a PyJWT error,
    which the step's Api hands to Flask-JWT-Extended: a 401."""

    def get(self):
        claims = decode_token(bearer_token())
        if claims.get("type") != "access":
            refuse("The token is invalid.")
        return {"sub": claims["sub"]}


class SessionProbe(Resource):
    def get(self):
        user_id = session.get("user_id")
        if not isinstance(user_id, int):
            refuse("No session: log in with POST /session.")
        return {"sub": str(user_id)}


PROBES = {
    "/bench/pyjwt": PyJwtProbe,
    "/bench/cached": CachedJwtProbe,
    "/bench/token": TokenProbe,
    "/bench/session": SessionProbe,
}


def build_app(step, config=None):
    """The step package's own app, plus the probes. The step is given, never imported here, so
    the tests can hand in the copy they test (STEPS_FROM)."""
    app = step.create_app(config)
    api = step.app.Api(app)
    for path, resource in PROBES.items():
        api.add_resource(resource, path)
    return app


if __name__ == "__main__":
    import logging

    import waitress

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this repository's steps
    import step4_sessions

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # every thread busy, by design
    port, threads = int(sys.argv[1]), int(sys.argv[2])
    waitress.serve(build_app(step4_sessions), host="127.0.0.1", port=port, threads=threads, ident="bench")
