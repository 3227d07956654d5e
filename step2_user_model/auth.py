"""Who is calling: the request's bearer token, read here by hand and checked by the User
model's own verify_jwt. Step 3 hands this whole job to Flask-JWT-Extended's @jwt_required().

Every failure answers 401 with {"message": ...} and the WWW-Authenticate header of RFC 6750
§3 (see validation.unauthorized): `Bearer` when no token came, `Bearer error="invalid_token"`
when one came and is no good.
"""

import functools

from flask import g, request

from .models import User
from .validation import unauthorized


def bearer_token():
    """The token of an `Authorization: Bearer <token>` header; None when the header holds no
    Bearer credentials; "" when it names Bearer but is malformed ("Bearer", "Bearer a b")."""
    # A header may carry several credentials, comma-separated; the scheme name is case-exact
    # here, as Flask-JWT-Extended has it from step 3 on.
    candidates = [part.split() for part in request.headers.get("Authorization", "").split(",")]
    mine = [words for words in candidates if words and words[0] == "Bearer"]
    if not mine:
        return None
    if len(mine) != 1 or len(mine[0]) != 2:
        return ""
    return mine[0][1]


def token_required(view):
    """For resources a token protects: sets g.user to the token's user, or answers 401."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        token = bearer_token()
        if token is None:
            return unauthorized("Missing Authorization Header", header="Bearer")
        # BEGIN EXERCISE token_required: set g.user to User.verify_jwt(token); when that is None
        # (a bad, expired or foreign token, or its user is gone), answer
        # unauthorized("The token is invalid or has expired.") instead of calling the view
        g.user = User.verify_jwt(token)
        if g.user is None:
            return unauthorized("The token is invalid or has expired.")
        # END EXERCISE
        return view(*args, **kwargs)

    return wrapped
