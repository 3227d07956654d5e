"""The app that bench/run.py measures: step 4 as `create_app` builds it, plus six probes.

The steps have no endpoint that checks a credential and then does nothing else, so the
cost of the check itself cannot be read off them. The probes below add that, to this
benchmark's app only, as Resources on a second instance of the step's own `Api` class (as
tests/test_step1_jwt_setup.py does), so they go through the same Flask-RESTful dispatch
and error handling as the step's endpoints:

- GET /bench/open      no authentication, and the same one-field body as the ones below;
- GET /bench/pyjwt     the token's signature, expiry and claims checked by one PyJWT decode, as
                       step 2's User.verify_jwt does, without its user lookup;
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

import sys
from pathlib import Path

import jwt as pyjwt
from flask import current_app, request, session
from flask_jwt_extended import decode_token, get_jwt, jwt_required
from flask_restful import Resource, abort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import step4_sessions  # noqa: E402  (needs the repository root on sys.path first)
from step4_sessions.app import Api  # noqa: E402
from step4_sessions.auth import is_revoked  # noqa: E402

STEP = step4_sessions


class OpenProbe(Resource):
    """No authentication: the baseline the two token probes differ from by the check alone."""

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


def verified_claims():
    """The bearer token's claims, after its signature, algorithm, exp/nbf/iat and the claims
    Flask-JWT-Extended requires are checked. A bad token raises a PyJWT error, which the
    step's Api hands to JWTManager: a 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        abort(401, message="Missing Authorization Header")
    return decode_token(token)


class PyJwtProbe(Resource):
    """The token verified by PyJWT once, the way step 2's User.verify_jwt does (HS256 only,
    the same required claims), without the user lookup: the cost of the verification itself."""

    def get(self):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            abort(401, message="Missing Authorization Header")
        claims = pyjwt.decode(
            token,
            current_app.config["JWT_SECRET_KEY"],
            algorithms=["HS256"],
            options={"require": ["sub", "iat", "exp", "jti"]},
        )
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
