"""Where logged-out tokens are kept until they would have expired anyway.

One setting picks the store, TOKEN_BLOCKLIST:
- "database": a RevokedToken row per token, in this step's own database. Every process
  that shares the database sees a logout.
- "redis": a key per token in Redis at REDIS_URL, which Redis deletes by itself when the
  token expires. For several app processes or machines without a shared database.
Unset, it is "redis" when REDIS_URL is set and "database" otherwise.

A login that ends at once (end_login, when a spent refresh token comes back) is kept the
same way, under its family id instead of a token's id.
"""

import time

from flask import current_app
from sqlalchemy.exc import IntegrityError

from .models import RevokedToken, db
from .redis_client import redis_client

STORES = ("database", "redis")


def init_blocklist(app):
    """Decide the store once, when the app starts; a wrong setting stops it there."""
    store = app.config.get("TOKEN_BLOCKLIST") or ("redis" if app.config.get("REDIS_URL") else "database")
    if store not in STORES:
        raise ValueError(f"TOKEN_BLOCKLIST must be database or redis, not {store!r}")
    if store == "redis" and not app.config.get("REDIS_URL"):
        raise ValueError("TOKEN_BLOCKLIST=redis needs REDIS_URL, e.g. redis://localhost:6379/0")
    app.config["TOKEN_BLOCKLIST"] = store


def redis_key(jti):
    return f"revoked-token:{jti}"


def is_revoked(jti):
    """Whether this token id was logged out. A token without one cannot be revoked, so it
    counts as revoked: only a forger holding the key makes one."""
    # BEGIN EXERCISE check_blocklist: a token is revoked if its jti is None, or if the store
    # holds it: a RevokedToken row (db.session.get) or, with the "redis" store, its redis_key
    if jti is None:
        return True
    if current_app.config["TOKEN_BLOCKLIST"] == "redis":
        return redis_client().exists(redis_key(jti)) == 1
    return db.session.get(RevokedToken, jti) is not None
    # END EXERCISE


def revoke(claims):
    """Block this token until it would have expired anyway; forget tokens past that. True if
    this call revoked it, False if it was revoked already: of two requests that revoke one
    token at once (two tabs spending one refresh token), only one gets True."""
    # BEGIN EXERCISE revoke: with the "redis" store, set the token's redis_key to expire at its
    # exp, only if it is not set (nx=True), and return whether it was set; else add a
    # RevokedToken of its jti and exp, delete the rows whose expires_at has passed, and commit:
    # True, or False (after a rollback) when the unique jti raises IntegrityError
    if current_app.config["TOKEN_BLOCKLIST"] == "redis":
        return redis_client().set(redis_key(claims["jti"]), 1, exat=int(claims["exp"]), nx=True) is True
    try:
        db.session.add(RevokedToken(jti=claims["jti"], expires_at=claims["exp"]))
        db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < int(time.time())))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
    # END EXERCISE


def end_login(claims):
    """Revoke every token of this token's login at once: its family id (models.login_tokens)
    goes into the blocklist, kept until the login's last access token would have expired."""
    family = claims.get("family")
    if family is not None:
        access_lifetime = int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
        revoke({"jti": family, "exp": claims["exp"] + access_lifetime})
