"""The JWT plumbing: how Flask-JWT-Extended finds the user, spots a revoked token, and
answers when a token is missing or bad.

Every failure answers 401 with {"message": ...} and the WWW-Authenticate header that
RFC 6750 §3 asks of a Bearer-token API: `Bearer` when no token came, `Bearer
error="invalid_token"` when one came and is no good. Flask-JWT-Extended's defaults answer
422 for a malformed token and use the key "msg"; a client that follows the RFC looks for
401 and the header to know it must log in again.
"""

import re
import time

from flask import jsonify, request
from flask_jwt_extended import JWTManager

from .models import RevokedToken, User, db, parse_id

# The JWTManager is named for what it is, so that `jwt` stays free for PyJWT (E1).
jwt_manager = JWTManager()


def unauthorized(message, header='Bearer error="invalid_token"'):
    response = jsonify(message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = header
    return response


def reject_blank_authorization_parts():
    """Flask-JWT-Extended 4.7.4 crashes (IndexError: a 500) on an Authorization header with a
    blank part between commas, such as ", ,". Found by this repository's fuzz tests; run
    before every request, this answers such a header as the bad token it is."""
    parts = re.split(r",\s*", request.headers.get("Authorization", "").strip().strip(","))
    if any(part and not part.split() for part in parts):
        return unauthorized("The token is invalid.")


@jwt_manager.unauthorized_loader
def no_token(reason):
    # The reasons are Flask-JWT-Extended's own fixed texts, never the request's.
    return unauthorized(reason, header="Bearer")


@jwt_manager.invalid_token_loader
def invalid_token(_reason):
    # The reason can quote the token's own header; never echo attacker input.
    return unauthorized("The token is invalid.")


@jwt_manager.expired_token_loader
def expired_token(_header, _claims):
    return unauthorized("The token has expired.")


@jwt_manager.revoked_token_loader
def revoked_token(_header, _claims):
    return unauthorized("The token has been revoked.")


@jwt_manager.user_lookup_error_loader
def user_gone(_header, _claims):
    return unauthorized("The token's user no longer exists.")


@jwt_manager.user_lookup_loader
def load_user(_header, claims):
    """`current_user` in a protected Resource: the token's user, or None (then a 401)."""
    # BEGIN EXERCISE user_lookup: return the User whose id is parse_id(the token's "sub"),
    # with db.session.get; None when the id is None or there is no such user
    user_id = parse_id(claims["sub"])
    return db.session.get(User, user_id) if user_id is not None else None
    # END EXERCISE


@jwt_manager.token_in_blocklist_loader
def is_revoked(_header, claims):
    """Checked on every protected request, after the signature and before the Resource."""
    # BEGIN EXERCISE check_blocklist: a token is revoked if its jti is missing or in RevokedToken
    jti = claims.get("jti")
    return jti is None or db.session.get(RevokedToken, jti) is not None
    # END EXERCISE


def revoke(claims):
    """Block this token until it would have expired anyway; forget tokens past that."""
    # BEGIN EXERCISE revoke: store the token's jti and exp as a RevokedToken, and delete
    # the RevokedToken rows whose expires_at has passed
    db.session.add(RevokedToken(jti=claims["jti"], expires_at=claims["exp"]))
    db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < int(time.time())))
    # END EXERCISE
