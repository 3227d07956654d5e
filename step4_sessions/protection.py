"""What every answer needs whatever the endpoint: throttled password guessing, headers that
keep answers out of caches, and a 503 rather than a 500 when Redis is down.

- Guessing: POST /login, /register and /session share one budget of failed tries
  (LOGIN_RATE_LIMIT, "10 per minute" by default) per client address and per username, so
  that one account cannot be guessed from many addresses either. Past it they answer 429
  with Retry-After. Only failures count (a wrong password, a name already taken): a user who
  types the right password is never slowed down by their own logins.
- Caches: an answer with a token or someone's data must not be kept by a browser or a proxy
  (RFC 6749 §5.1, RFC 9111 §5.2.2.5); `nosniff` stops a browser from reading JSON as a page.
- Redis down: sessions, revoked tokens and these counters live there when REDIS_URL is set.
  Without it the app cannot answer safely, so it says so: 503 and Retry-After.
"""

import hashlib
import logging
import time

import limits
import redis
from flask import request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import InternalServerError

from .config import SettingError
from .validation import json_answer

log = logging.getLogger(__name__)

GUARDED = ("/login", "/register", "/session")  # the endpoints that take a password
STORE_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RETRY_AFTER_SECONDS = 5  # how soon a client may try again once Redis is back


def protect(app):
    app.after_request(add_security_headers)
    for error in STORE_DOWN:
        app.register_error_handler(error, store_down)
    app.register_error_handler(InternalServerError, store_down_outside_views)
    if app.config.get("REDIS_URL"):
        warn_if_unreachable(app.config["REDIS_URL"])
    throttle_guessing(app)


def throttle_guessing(app):
    setting = app.config["LOGIN_RATE_LIMIT"]
    try:  # a typo stops the app here, not on the first login
        limits.parse_many(setting)
    except ValueError:
        raise SettingError(f"LOGIN_RATE_LIMIT must be like '10 per minute', not {setting!r}") from None
    if not app.config["RATE_LIMIT_ENABLED"]:
        log.warning(
            "RATE_LIMIT_ENABLED=0: nothing limits password guessing on %s. Off only for "
            "tests and benchmarks, never in production.",
            ", ".join(GUARDED),
        )
        return
    budget = {
        "limit_provider": setting,
        "scope": "guesses",  # one budget shared by the three endpoints
        "deduct_when": failed,
        "error_message": "Too many failed attempts; the Retry-After header says when to try again.",
    }
    limiter = Limiter(
        get_remote_address,
        app=app,
        application_limits=[
            ApplicationLimit(key_function=get_remote_address, **budget),
            ApplicationLimit(key_function=username_key, **budget),
        ],
        # Counts in Redis are shared by every app process; in memory, each has its own.
        storage_uri=app.config.get("REDIS_URL") or "memory://",
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},  # Redis: 503, not a hang
        key_prefix="login-attempts",
    )
    limiter.request_filter(not_a_password_attempt)  # every other request skips the limiter

    @app.after_request
    def retry_after(response):
        """A 429 says when the budget that ran out refills."""
        breached = limiter.current_limit
        if response.status_code == 429 and breached is not None:
            response.headers["Retry-After"] = str(max(1, breached.reset_at - int(time.time())))
        return response


def not_a_password_attempt():
    return request.method != "POST" or request.path not in GUARDED


def failed(response):
    """A try that taught the guesser something: a wrong password, or a name already taken."""
    return response.status_code in (401, 409)


def username_key():
    """The username of the body, lower-cased as the app compares names, hashed so that a
    long or odd name makes a short key. A body without one shares one key: it gets its 400."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested too deep to parse; the endpoint answers 400
        body = None
    username = body.get("username") if isinstance(body, dict) else None
    if not isinstance(username, str):
        return "no-username"
    return hashlib.sha256(username.lower().encode("utf-8", "surrogatepass")).hexdigest()


def add_security_headers(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path != "/":  # every answer but the step's description may carry a secret
        response.headers["Cache-Control"] = "no-store"
    return response


def store_down(_error):
    message = "A store this request needs (Redis) is not answering. Try again soon."
    response = json_answer({"message": message}, 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def store_down_outside_views(error):
    """Flask answers an error raised outside a view (opening or saving a session) with a 500
    handler only; when it was Redis, answer 503 all the same."""
    if isinstance(error.original_exception, STORE_DOWN):
        return store_down(error.original_exception)
    return error


def warn_if_unreachable(url):
    """Start anyway (Redis may come up later), but say so now rather than at the first 500."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        log.warning(
            "REDIS_URL cannot be reached (%s): requests that need Redis will answer 503 until it is back.",
            error,
        )
    finally:
        client.close()
