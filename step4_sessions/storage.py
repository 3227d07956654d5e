"""Where sessions and revoked tokens are kept, picked once, here, from the environment.

- SESSION_BACKEND=cookie (the default): Flask's own session, a signed cookie. The server
  keeps nothing, so it cannot forget anything: a copied cookie outlives logout.
- SESSION_BACKEND=sqlalchemy: Flask-Session keeps sessions in this step's own database;
  the cookie holds only a random id. Logout deletes the stored session.
- SESSION_BACKEND=redis: the same in Redis at REDIS_URL, for several app processes or
  machines that must share sessions.
- REDIS_URL set: the revoked tokens live in Redis too (see auth.py), so that every
  process sees a logout, and each entry expires with its token.
"""

import time

import redis
from flask_session.base import ServerSideSessionInterface
from flask_session.redis import RedisSessionInterface

from .config import SettingError
from .models import StoredSession, db


class DatabaseSessions(ServerSideSessionInterface):
    """Flask-Session's server-side sessions (ids, cookie, regeneration), stored in our
    own table through our `db`. (Flask-Session's own SQLAlchemy store declares its model
    again for every app, which SQLAlchemy refuses when one process builds many apps.)"""

    ttl = False  # a database does not expire rows: expired ones are ignored, then deleted

    def _retrieve_session_data(self, store_id):
        stored = db.session.get(StoredSession, store_id)
        if stored is None or stored.expires_at <= time.time():
            return None
        return self.serializer.decode(stored.data)

    def _upsert_session(self, session_lifetime, session, store_id):
        stored = db.session.get(StoredSession, store_id) or StoredSession(id=store_id)
        stored.data = self.serializer.encode(session)
        stored.expires_at = int(time.time() + session_lifetime.total_seconds())
        db.session.add(stored)
        db.session.commit()

    def _delete_session(self, store_id):
        db.session.execute(db.delete(StoredSession).where(StoredSession.id == store_id))
        db.session.commit()

    def _delete_expired_sessions(self):
        db.session.execute(db.delete(StoredSession).where(StoredSession.expires_at <= time.time()))
        db.session.commit()


def init_storage(app):
    backend, url = app.config["SESSION_BACKEND"], app.config["REDIS_URL"]
    if url:
        app.extensions["redis"] = redis.Redis.from_url(url)
    if backend == "sqlalchemy":
        # Expired rows are deleted on about one request in a hundred.
        app.session_interface = DatabaseSessions(app, cleanup_n_requests=100)
    elif backend == "redis":
        if not url:
            raise SettingError("SESSION_BACKEND=redis needs REDIS_URL, e.g. redis://localhost:6379/0")
        app.session_interface = RedisSessionInterface(app, client=app.extensions["redis"])
    elif backend != "cookie":
        raise SettingError(f"SESSION_BACKEND must be cookie, sqlalchemy or redis, not {backend!r}")
