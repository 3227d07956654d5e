"""The app that bench/run.py loads: step 4 as `create_app` builds it, plus four probes.

No step has an endpoint that checks a credential and does nothing else, so these add one each,
on the step's own `Api` class (the same dispatch and error handling as its endpoints), with no
database query: /bench/pyjwt (one PyJWT decode, as step 2's User.verify_jwt), /bench/cached
(the same, its verdict kept for the token's life), /bench/token (Flask-JWT-Extended's
decode_token) and /bench/session (the signed session cookie). tests/test_bench.py checks them.
run.py serves it with `waitress-serve --call bench.benchapp:step4_app` from the repository root.
"""

import functools
import hashlib
import hmac
import time
from types import MappingProxyType

import jwt as pyjwt
from flask import current_app, request, session
from flask_jwt_extended import decode_token
from flask_restful import Resource, abort

# A client sends the same token until it expires, so a server can keep its verdict on a token,
# keyed by the exact token and key, as API gateways do. Safe because only good tokens are kept
# (lru_cache keeps no exception), the key is part of the entry's key, `exp` is checked again on
# every hit, and memory is bounded. Revocation, where a step checks it, is another check.
CACHED_TOKENS = 1024
CACHED_TOKEN_LENGTH = 2048


def bearer_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        abort(401, message="Missing Authorization Header")
    return token


def verify_with_pyjwt(token, key):
    """HS256 only, the claims Flask-JWT-Extended requires, an access token only: step 2's check."""
    try:
        required = {"require": ["sub", "iat", "exp", "jti"]}
        claims = pyjwt.decode(token, key, algorithms=["HS256"], options=required)
    except pyjwt.ExpiredSignatureError:
        abort(401, message="The token has expired.")
    except pyjwt.InvalidTokenError:
        abort(401, message="The token is invalid.")
    if claims.get("type") != "access":  # a refresh token opens no resource
        abort(401, message="The token is invalid.")
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
        abort(401, message="The token has expired.")
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
            abort(401, message="The token is invalid.")
        return {"sub": claims["sub"]}


class SessionProbe(Resource):
    def get(self):
        user_id = session.get("user_id")
        if not isinstance(user_id, int):
            abort(401, message="No session: log in with POST /session.")
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


def token_check_parts(token, key):
    """Each part of checking a token, as a call to time alone (run.py); in an app context."""
    signed = token.encode().rpartition(b".")[0]
    return {
        "Flask-JWT-Extended `decode_token()`, as `/bench/token`": lambda: decode_token(token),
        "PyJWT `jwt.decode()`, verified, as `/bench/pyjwt`": lambda: pyjwt.decode(token, key, ["HS256"]),
        "PyJWT `jwt.decode()`, unverified": lambda: pyjwt.decode(token, options={"verify_signature": False}),
        "PyJWT `jwt.get_unverified_header()`": lambda: pyjwt.get_unverified_header(token),
        "HMAC-SHA256 of the token": lambda: hmac.new(key.encode(), signed, hashlib.sha256).digest(),
    }


def step4_app():
    """This repository's step 4 and the probes (waitress-serve puts the folder it runs in on sys.path)."""
    import step4_sessions

    return build_app(step4_sessions)
