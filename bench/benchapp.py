"""The app that bench/run.py measures: step 4 as `create_app` builds it, plus seven probes.

The steps have no endpoint that checks a credential and then does nothing else, so the
cost of the check itself cannot be read off them. The probes below add that, to this
benchmark's app only, as Resources on a second instance of the step's own `Api` class (as
tests/test_step1_jwt_setup.py does), so they go through the same Flask-RESTful dispatch
and error handling as the step's endpoints:

- GET /bench/open      no authentication, and the same one-field body as the ones below;
- GET /bench/pyjwt     the token's signature, expiry and claims checked by one PyJWT decode, as
                       step 2's User.verify_jwt does, without its user lookup;
- GET /bench/cached    the same check, its verdict kept for the token's life: a token seen before
                       costs a lookup and an expiry check (see verified_once);
- GET /bench/token     the same checks through Flask-JWT-Extended's decode_token(), and nothing
                       else: no revocation check, no user;
- GET /bench/revoked   the same, then the step's own revocation check (one query), no user;
- GET /bench/jwt       @jwt_required(), then get_jwt()["sub"] without touching current_user;
- GET /bench/session   session.get("user_id"), without loading the user.

Up that list, each probe adds one thing to the one before, so the differences between them,
measured under the same server, are the costs of each part of a credential check.

Run as a script, it serves that app with waitress (the configuration comes from the
environment, as for `flask run`; see bench/run.py):

    python bench/benchapp.py PORT THREADS
"""

import functools
import sys
import time
from pathlib import Path
from types import MappingProxyType

import flask
import jwt as pyjwt
from flask import current_app, request, session
from flask_jwt_extended import decode_token, get_jwt, jwt_required
from flask_restful import Resource, abort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import step4_sessions  # noqa: E402  (needs the repository root on sys.path first)
from step4_sessions.app import Api  # noqa: E402
from step4_sessions.auth import is_revoked, unauthorized  # noqa: E402

STEP = step4_sessions


class OpenProbe(Resource):
    """No authentication: the baseline that the other probes differ from by their check alone."""

    def get(self):
        return {"sub": "1"}


class JwtProbe(Resource):
    """@jwt_required() as a step uses it, without reading current_user.

    Flask-JWT-Extended 4.7 runs the revocation check and then loads the user eagerly in
    verify_jwt_in_request() whenever a user_lookup_loader is registered, whether or not
    the view reads current_user. So this probe still makes both database queries.
    """

    @jwt_required()
    def get(self):
        return {"sub": get_jwt()["sub"]}


def bearer_token():
    """The token of an `Authorization: Bearer <token>` header; without one, a 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        abort(401, message="Missing Authorization Header")
    return token


def verified_claims():
    """The bearer token's claims, after its signature, algorithm, exp/nbf/iat and the claims
    Flask-JWT-Extended requires are checked, and that it is an access token, as
    @jwt_required() checks. A bad token raises a PyJWT error, which the step's Api hands to
    JWTManager: a 401."""
    claims = decode_token(bearer_token())
    if claims.get("type") != "access":  # a refresh token opens no resource
        flask.abort(unauthorized("The token is invalid."))
    return claims


def verify_with_pyjwt(token, key):
    """One PyJWT decode, as step 2's User.verify_jwt does: HS256 only, the same claims required,
    and an access token only. A bad token is the 401 the steps answer (PyJWT's own errors are
    not the ones Flask-JWT-Extended's handlers expect: they lack the header and claims it reads)."""
    try:
        required = {"require": ["sub", "iat", "exp", "jti"]}
        claims = pyjwt.decode(token, key, algorithms=["HS256"], options=required)
    except pyjwt.ExpiredSignatureError:
        flask.abort(unauthorized("The token has expired."))
    except pyjwt.InvalidTokenError:
        flask.abort(unauthorized("The token is invalid."))
    if claims.get("type") != "access":  # a refresh token opens no resource
        flask.abort(unauthorized("The token is invalid."))
    return claims


# A client sends the same token with every request until it expires, so a server can keep
# its verdict on a token it has verified, keyed by the exact token and key, as API gateways
# do (Envoy's jwt_cache_config, PostgREST's jwt-cache-max-lifetime). What keeps that safe:
# - only good tokens are kept (lru_cache keeps no exception, and a bad token raises one): a
#   forged or tampered token is another string, never found, and verified in full every time;
# - the key is part of the entry's key: with a new key, no verdict made under the old one is found;
# - expiry is checked again on every hit (below): a verdict holds only until `exp`;
# - memory is bounded: CACHED_TOKENS entries at most, none for a token longer than
#   CACHED_TOKEN_LENGTH (a server accepts far longer headers than any real token).
# Revocation is another check, and runs on every request wherever a step makes it.
CACHED_TOKENS = 1024
CACHED_TOKEN_LENGTH = 2048


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
        flask.abort(unauthorized("The token has expired."))
    return claims


class PyJwtProbe(Resource):
    """The token verified by PyJWT once, the way step 2's User.verify_jwt does (HS256 only,
    the same required claims), without the user lookup: the cost of the verification itself."""

    def get(self):
        claims = verify_with_pyjwt(bearer_token(), current_app.config["JWT_SECRET_KEY"])
        return {"sub": claims["sub"]}


class CachedJwtProbe(Resource):
    """The same check as PyJwtProbe, made once per token: later requests with that token cost a
    lookup and an expiry check (see verified_once)."""

    def get(self):
        claims = verified_cached(bearer_token(), current_app.config["JWT_SECRET_KEY"])
        return {"sub": claims["sub"]}


class TokenProbe(Resource):
    """Only the cryptographic and claims check: what "verifying a JWT" costs by itself."""

    def get(self):
        return {"sub": verified_claims()["sub"]}


class RevocationProbe(Resource):
    """The token check, then the revocation check that @jwt_required() runs next (the step's
    own token_in_blocklist_loader), and not the user lookup that it runs after that."""

    def get(self):
        claims = verified_claims()
        if is_revoked({}, claims):
            abort(401, message="The token has been revoked.")
        return {"sub": claims["sub"]}


class SessionProbe(Resource):
    """Reads the signed session cookie (Flask opens it before any view) without a query."""

    def get(self):
        user_id = session.get("user_id")
        if not isinstance(user_id, int):
            abort(401, message="No session: log in with POST /session.")
        return {"sub": str(user_id)}


PROBES = {
    "/bench/open": OpenProbe,
    "/bench/pyjwt": PyJwtProbe,
    "/bench/cached": CachedJwtProbe,
    "/bench/token": TokenProbe,
    "/bench/revoked": RevocationProbe,
    "/bench/jwt": JwtProbe,
    "/bench/session": SessionProbe,
}


def build_app(config=None):
    """The step's own app, plus the probes."""
    app = STEP.create_app(config)
    api = Api(app)
    for path, resource in PROBES.items():
        api.add_resource(resource, path)
    return app


def serve(port, threads):
    import logging

    import waitress

    # Under load every thread is busy by design, and waitress warns of each queued request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = build_app()
    # Only loopback: this server exists to be loaded by a client on the same machine.
    waitress.serve(app, host="127.0.0.1", port=port, threads=threads, ident="bench")


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
