"""The JWT and session plumbing: how Flask-JWT-Extended finds the user, spots a revoked
token, and answers when a token is missing or bad; and who a session belongs to.

Every failure answers 401 with {"message": ...} and the WWW-Authenticate header that
RFC 6750 §3 asks of a Bearer-token API: `Bearer` when no token came, `Bearer
error="invalid_token"` when one came and is no good. Flask-JWT-Extended's defaults answer
422 for a malformed token and use the key "msg"; a client that follows the RFC looks for
401 and the header to know it must log in again.
"""

import functools
import re
import time

from flask import current_app, g, jsonify, request, session
from flask_jwt_extended import JWTManager
from flask_restful import abort

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
    jti, redis = claims.get("jti"), redis_client()
    if redis is not None:
        return jti is None or redis.exists(f"revoked-token:{jti}") == 1
    return jti is None or db.session.get(RevokedToken, jti) is not None
    # END EXERCISE


def revoke(claims):
    """Block this token until it would have expired anyway; forget tokens past that."""
    # BEGIN EXERCISE revoke: store the token's jti and exp as a RevokedToken, and delete
    # the RevokedToken rows whose expires_at has passed
    redis = redis_client()
    if redis is not None:
        # Shared by every app process; Redis forgets the entry when the token expires.
        redis.set(f"revoked-token:{claims['jti']}", 1, exat=int(claims["exp"]))  # a float is an error
        return
    db.session.add(RevokedToken(jti=claims["jti"], expires_at=claims["exp"]))
    db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < int(time.time())))
    # END EXERCISE


def redis_client():
    """The Redis client when REDIS_URL is set (see storage.py), else None."""
    return current_app.extensions.get("redis")


# Sessions. Flask's `session` is a dict kept in a cookie that Flask signs with SECRET_KEY:
# the client can read it (it is not encrypted, E12) but cannot change it. A tampered,
# wrongly signed or stale cookie (older than PERMANENT_SESSION_LIFETIME) loads as empty.


def session_too_old():
    """Whether the session began more than SESSION_ABSOLUTE_LIFETIME ago, or holds no start
    (then start_session did not make it). Each request renews PERMANENT_SESSION_LIFETIME, the
    idle timeout; this bounds a session in use, and a stolen copy of it."""
    started_at = session.get("started_at")
    lifetime = current_app.config["SESSION_ABSOLUTE_LIFETIME"].total_seconds()
    return not isinstance(started_at, int) or time.time() - started_at >= lifetime


def session_user():
    """The user whose id the session holds, or None."""
    if session_too_old():
        if session:  # it has ended: forget it (a server-side backend deletes it), never renew it
            session.clear()
        return None
    # BEGIN EXERCISE session_read: the User whose id is parse_id(str(...)) of session.get("user_id")
    # (never session[...]), or None when the session holds no id or that user is gone
    user_id = parse_id(str(session.get("user_id", "")))
    return db.session.get(User, user_id) if user_id is not None else None
    # END EXERCISE


def start_session(user):
    """A fresh session for this user, after the password was checked (E13)."""
    # BEGIN EXERCISE session_start: give a server-side session a new id (regenerate, when the
    # session interface has it), clear what the session held (fixation), store the user's id
    # under "user_id" and int(time.time()) under "started_at" (see session_too_old), and make
    # the session permanent (PERMANENT_SESSION_LIFETIME)
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if regenerate is not None:
        regenerate(session)  # server-side: a new id; the old stored session is deleted
    session.clear()  # nothing set before login survives it (session fixation)
    session["user_id"] = user.id
    session["started_at"] = int(time.time())  # the absolute lifetime counts from here
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME, not 31 days
    # END EXERCISE


def login_required(view):
    """For resources a session protects: sets g.user, or answers 401."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        g.user = session_user()
        if g.user is None:
            abort(401, message="No session: log in with POST /session.")
        return view(*args, **kwargs)

    return wrapped


def never_cache_sessions(response):
    """A session answer belongs to one user: no browser or proxy may keep a copy (S9)."""
    if request.path.startswith("/session"):
        response.headers["Cache-Control"] = "no-store"
    return response
