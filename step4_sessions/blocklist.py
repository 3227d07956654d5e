"""Where logged-out tokens are kept until they would have expired anyway.

One setting picks the store, TOKEN_BLOCKLIST:
- "database": a RevokedToken row per token, in this step's own database. Every process
  that shares the database sees a logout.
- "redis": a key per token in Redis at REDIS_URL, which Redis deletes by itself when the
  token expires. For several app processes or machines without a shared database.
Unset, it is "redis" when REDIS_URL is set and "database" otherwise.
"""

import time

from flask import current_app

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
    if jti is None:
        return True
    if current_app.config["TOKEN_BLOCKLIST"] == "redis":
        return redis_client().exists(redis_key(jti)) == 1
    return db.session.get(RevokedToken, jti) is not None


def revoke(claims):
    """Block this token until it would have expired anyway; forget tokens past that."""
    if current_app.config["TOKEN_BLOCKLIST"] == "redis":
        redis_client().set(redis_key(claims["jti"]), 1, exat=int(claims["exp"]))  # a float is an error
        return
    db.session.add(RevokedToken(jti=claims["jti"], expires_at=claims["exp"]))
    db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < int(time.time())))
