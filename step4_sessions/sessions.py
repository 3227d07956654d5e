"""Sessions: who a session belongs to, how one starts after a password check, and the
decorator for resources a session protects. Where a session is kept is storage.py's job.

Flask's `session` is a dict. With the default backend it lives in a cookie that Flask signs
with SECRET_KEY: the client can read it (it is not encrypted, E12) but cannot change it. A
tampered, wrongly signed or stale cookie (older than PERMANENT_SESSION_LIFETIME) loads as
empty. With a server-side backend the cookie holds only the session's id.
"""

import functools
import time

from flask import current_app, g, session
from flask_restful import abort

from .models import User, db
from .validation import parse_id


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
        regenerate(session)  # server-side (storage.py): a new id; the old stored one is deleted
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
