"""Who is calling, decided by Flask-JWT-Extended: how it turns a user into a token's `sub`
and back, spots a revoked token, and answers when a token is missing or bad.

Step 2 read the Authorization header by hand and called User.verify_jwt; here
@jwt_required() does all of that. Every failure still answers 401 with {"message": ...}
and the WWW-Authenticate header of RFC 6750 §3 (validation.unauthorized): Flask-JWT-Extended's
defaults answer 422 for a malformed token and use the key "msg".
"""

from flask_jwt_extended import JWTManager

from . import blocklist
from .models import User, db
from .validation import parse_id, unauthorized

# The JWTManager is named for what it is, so that `jwt` stays free for PyJWT (E1).
jwt_manager = JWTManager()


@jwt_manager.user_identity_loader
def user_identity(user):
    """`sub` of the tokens User.generate_jwt makes: the id, as the string JWT asks for."""
    return str(user.id)


@jwt_manager.user_lookup_loader
def load_user(_header, claims):
    """`current_user` in a protected Resource: the token's user, or None (then a 401)."""
    user_id = parse_id(claims["sub"])
    return db.session.get(User, user_id) if user_id is not None else None


@jwt_manager.token_in_blocklist_loader
def is_revoked(_header, claims):
    """Checked on every protected request, after the signature and before the Resource: the
    token itself, or its whole login (its "family", once blocklist.end_login ended it)."""
    family = claims.get("family")
    return blocklist.is_revoked(claims.get("jti")) or (family is not None and blocklist.is_revoked(family))


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
def revoked_token(_header, claims):
    if claims.get("type") == "refresh":
        # A refresh token sent again after /refresh spent it (or logout revoked it): someone
        # holds a copy. Whose request this is, the user's or a thief's, the server cannot
        # tell, so the login ends for both (RFC 9700 §4.14.2).
        blocklist.end_login(claims)
    return unauthorized("The token has been revoked.")


@jwt_manager.user_lookup_error_loader
def user_gone(_header, _claims):
    return unauthorized("The token's user no longer exists.")
