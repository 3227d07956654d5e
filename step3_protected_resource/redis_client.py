"""The app's one Redis client, made from one setting, REDIS_URL. Every module that keeps
something in Redis asks here, and nowhere else is a client made."""

import functools

import redis
from flask import current_app


@functools.cache
def client_for(url):
    """One client, and so one connection pool, per URL for the whole process."""
    return redis.Redis.from_url(url)


def redis_client(app=None):
    """The client for the app's REDIS_URL (this request's app unless one is given)."""
    url = (app or current_app).config["REDIS_URL"]
    if not url:
        raise RuntimeError("REDIS_URL is not set, so this app has no Redis")
    return client_for(url)
