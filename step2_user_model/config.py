"""Settings, read from the environment.

The post put `SECRET_KEY = 'your-secret-key'` in the source (mistake E4): a short,
guessable key that anyone reading the code can use to forge tokens. Here every secret
comes from the environment, the session key and the token key are two different keys,
and a key shorter than 32 bytes stops the app before it serves a single request.
"""

import logging
import os
import secrets
from datetime import timedelta

# RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits.
# PyJWT warns (InsecureKeyLengthWarning) below that; we refuse to start.
MIN_KEY_BYTES = 32
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'

log = logging.getLogger(__name__)


class WeakKeyError(RuntimeError):
    """A secret key that must not be used to sign anything."""


def seconds(name, default):
    """A duration from the environment, in seconds: a whole number from 1 (a token or a
    session born expired would look like a bug somewhere else) to 999,999,999 (31 years)."""
    value = os.environ.get(name)
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of seconds, 1 to 999999999, not {value!r}")
    return timedelta(seconds=int(value))


def from_environment():
    return {
        # Two keys, two jobs: SECRET_KEY signs Flask's session cookie, JWT_SECRET_KEY
        # signs tokens. Flask-JWT-Extended falls back to SECRET_KEY when JWT_SECRET_KEY
        # is unset, so with the post's set-up one leaked string forges both.
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "JWT_SECRET_KEY": os.environ.get("JWT_SECRET_KEY"),
        "JWT_ACCESS_TOKEN_EXPIRES": seconds("JWT_ACCESS_TOKEN_EXPIRES", timedelta(minutes=15)),
        # Any SQLAlchemy URL; unset, a SQLite file in the instance folder (see app.py).
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL"),
        # Failed logins allowed per client address and per username (protection.py).
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "RATE_LIMIT_ENABLED": os.environ.get("RATE_LIMIT_ENABLED", "1") != "0",
    }


def require_strong_keys(config):
    """Check both keys; make a throwaway one for a key that is not set."""
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        key = config.get(name)
        if not key:
            log.warning(
                "%s is not set: using a random key for this process only. Tokens and "
                "sessions will not survive a restart. To keep them, export %s=$(%s)",
                name,
                name,
                MAKE_A_KEY,
            )
            config[name] = secrets.token_hex(MIN_KEY_BYTES)
        elif len(key.encode()) < MIN_KEY_BYTES:
            raise WeakKeyError(
                f"{name} is {len(key.encode())} bytes long; it must be at least "
                f"{MIN_KEY_BYTES} random bytes, or anyone can guess it and forge what it "
                f"signs. Make one with: {MAKE_A_KEY}"
            )
    if config["SECRET_KEY"] == config["JWT_SECRET_KEY"]:
        raise WeakKeyError(
            "SECRET_KEY and JWT_SECRET_KEY must be two different keys, so that a leak of "
            f"one does not forge both sessions and tokens. Make each with: {MAKE_A_KEY}"
        )
