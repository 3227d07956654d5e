"""Settings, read from the environment.

The post put `SECRET_KEY = 'your-secret-key'` in the source (mistake E4): a short,
guessable key that anyone reading the code can use to forge tokens. Here every secret
comes from the environment, the session key and the token key are two different keys,
and a key shorter than 32 bytes stops the app before it serves a single request.

Any setting the app cannot use stops it the same way, with one line that names the variable
and how to fix it.
"""

import logging
import os
import secrets
from datetime import timedelta

import click

# RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits.
# PyJWT warns (InsecureKeyLengthWarning) below that; we refuse to start.
MIN_KEY_BYTES = 32
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'
# What each key signs in this step, for the warning about a missing one. SECRET_KEY signs
# Flask's session cookie, and this step has no session: it gets a random key and no warning.
SIGNS = {"SECRET_KEY": None, "JWT_SECRET_KEY": "tokens"}

log = logging.getLogger(__name__)


class SettingError(click.ClickException, ValueError):
    """A setting the app cannot start with. Its message names the variable and the fix, on one
    line: the `flask` command prints a ClickException as "Error: <message>", with no traceback."""


class WeakKeyError(SettingError):
    """A secret key that must not be used to sign anything."""


def shown(value):
    """A value as an error message quotes it: short, and on one line whatever it holds."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def seconds(name, default):
    """A duration from the environment, in seconds: a whole number from 1 (a token or a
    session born expired would look like a bug somewhere else) to 999,999,999 (31 years)."""
    value = os.environ.get(name)
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) < 1:
        raise SettingError(
            f"{name} must be a whole number of seconds, 1 to 999999999, not {shown(value)}; "
            f"unset it for the default, {int(default.total_seconds())}"
        )
    return timedelta(seconds=int(value))


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def boolean(name, default):
    """A yes-or-no setting: 1/0, true/false, yes/no or on/off, in any case. Anything else stops
    the app, since a typo read as either answer would be a setting nobody chose."""
    value = os.environ.get(name)
    if not value:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise SettingError(
        f"{name} must be 1, true, yes or on, or 0, false, no or off, not {shown(value)}; "
        f"unset it for the default, {TRUE[0] if default else FALSE[0]}"
    )


def from_environment():
    return {
        # Two keys, two jobs: SECRET_KEY signs Flask's session cookie, JWT_SECRET_KEY
        # signs tokens. Flask-JWT-Extended falls back to SECRET_KEY when JWT_SECRET_KEY
        # is unset, so with the post's set-up one leaked string forges both.
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "JWT_SECRET_KEY": os.environ.get("JWT_SECRET_KEY"),
        "JWT_ACCESS_TOKEN_EXPIRES": seconds("JWT_ACCESS_TOKEN_EXPIRES", timedelta(minutes=15)),
        "DEMO_USERNAME": os.environ.get("DEMO_USERNAME", "demo"),
        "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "demo-password"),
        # Failed logins allowed per client address and per username (protection.py).
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "RATE_LIMIT_ENABLED": boolean("RATE_LIMIT_ENABLED", True),
    }


# `flask routes` builds the app too, but signs nothing: no warning for it.
COMMANDS_THAT_SIGN = ("run", "shell")


def builds_to_serve():
    """Whether the app being built will sign: outside the `flask` command (tests, a WSGI server)
    or under one of COMMANDS_THAT_SIGN."""
    command = click.get_current_context(silent=True)
    return command is None or command.info_name in COMMANDS_THAT_SIGN


def require_strong_keys(config):
    """Check both keys; make a throwaway one for a key that is not set."""
    # BEGIN EXERCISE strong_keys: for each key in SIGNS, make a random key when it is unset (with
    # a warning saying what it signs, if it signs something and builds_to_serve()), raise
    # WeakKeyError when one is shorter than MIN_KEY_BYTES bytes or when both are the same
    for name, signs in SIGNS.items():
        key = config.get(name)
        if not key:
            if signs and builds_to_serve():
                log.warning(
                    "%s is not set: using a random key for this process only, so %s will not "
                    "survive a restart. To keep them, export %s=$(%s)",
                    name,
                    signs,
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
            f"one does not give away the other. Make each with: {MAKE_A_KEY}"
        )
    # END EXERCISE
