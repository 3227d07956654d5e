"""Where sessions are kept, picked once, here, by one setting, SESSION_BACKEND:

- cookie (the default): Flask's own session, a signed cookie. The server keeps nothing, so
  it cannot forget anything: a copied cookie outlives logout.
- sqlalchemy: the session lives in this step's own database (StoredSession); the cookie
  holds only a random id, and logout deletes the stored session, so no copy works after it.
- redis: the same in Redis at REDIS_URL (redis_client.py), for several app processes or
  machines that must share sessions; Redis deletes an idle session by itself.

The server-side backends plug into Flask through SessionInterface, its documented extension
point: Flask calls open_session before each request and save_session after it.

Logout is final: only a login creates a stored session (a new id); every other request only
updates one that still exists, in one atomic step (UPDATE ... WHERE id, Redis SET ... XX).
A request that read the session before DELETE /session cannot write it back after.
"""

import re
import secrets
import time

from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSession, SessionInterface

from .models import StoredSession, db
from .redis_client import redis_client

KEY_PREFIX = "session:"
# What save_session puts in a cookie: 32 random bytes in base64url. Anything else is no id.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


class DatabaseStore:
    def load(self, key):
        stored = db.session.get(StoredSession, key)
        if stored is None or stored.expires_at <= time.time():
            return None
        return stored.data.decode()

    def create(self, key, data, lifetime):
        db.session.add(StoredSession(id=key, data=data.encode(), expires_at=expiry(lifetime)))
        if secrets.randbelow(100) == 0:  # a database does not expire rows: now and then, delete them
            db.session.execute(db.delete(StoredSession).where(StoredSession.expires_at <= time.time()))
        db.session.commit()

    def update(self, key, data, lifetime):
        """One statement, so no logout can fall between a check and the write."""
        alive = (StoredSession.id == key) & (StoredSession.expires_at > time.time())
        renewed = {"data": data.encode(), "expires_at": expiry(lifetime)}
        updated = db.session.execute(db.update(StoredSession).where(alive).values(renewed)).rowcount == 1
        db.session.commit()
        return updated

    def delete(self, key):
        db.session.execute(db.delete(StoredSession).where(StoredSession.id == key))
        db.session.commit()


class RedisStore:
    def __init__(self, client):
        self.client = client

    def load(self, key):
        data = self.client.get(key)
        return None if data is None else data.decode()

    def create(self, key, data, lifetime):
        self.client.set(key, data, ex=lifetime, nx=True)  # Redis deletes it once idle that long

    def update(self, key, data, lifetime):
        return self.client.set(key, data, ex=lifetime, xx=True) is True  # XX: only if it is there

    def delete(self, key):
        self.client.delete(key)


def expiry(lifetime):
    return int(time.time() + lifetime.total_seconds())


class ServerSideSession(SecureCookieSession):
    """Flask's session dict (it notes when it is read or changed), plus its id in the store."""

    def __init__(self, initial=None, sid=None):
        super().__init__(initial)
        self.sid = sid


class ServerSideSessions(SessionInterface):
    serializer = TaggedJSONSerializer()  # what Flask's cookie session uses: JSON, plus a few types

    def __init__(self, store):
        self.store = store

    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app), "")
        data = self.store.load(KEY_PREFIX + sid) if SESSION_ID.fullmatch(sid) else None
        if data is None:  # no cookie, a made-up id, or a session that expired or was deleted
            return ServerSideSession()
        return ServerSideSession(self.serializer.loads(data), sid=sid)

    def regenerate(self, session):
        """Give the session a new id when it is next saved, and delete the stored copy under
        the old one (session fixation: an id known before login is worth nothing after it)."""
        if session.sid is not None:
            self.store.delete(KEY_PREFIX + session.sid)
        session.sid = None
        session.modified = True

    def save_session(self, app, session, response):
        cookie = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "samesite": self.get_cookie_samesite(app),
            "httponly": self.get_cookie_httponly(app),
        }
        if session.accessed:
            response.vary.add("Cookie")
        if not session:
            if session.modified:  # emptied by this request (logout): forget it on both sides
                if session.sid is not None:
                    self.store.delete(KEY_PREFIX + session.sid)
                response.delete_cookie(self.get_cookie_name(app), **cookie)
                response.vary.add("Cookie")
            return
        # A changed session, or (SESSION_REFRESH_EACH_REQUEST) a permanent one: saving it again
        # renews its idle timeout, PERMANENT_SESSION_LIFETIME, in the store and in the cookie.
        if not self.should_set_cookie(app, session):
            return
        data = self.serializer.dumps(dict(session))
        lifetime = app.permanent_session_lifetime
        if session.sid is None:  # a login (start_session): the only way a session is created
            session.sid = secrets.token_urlsafe(32)
            self.store.create(KEY_PREFIX + session.sid, data, lifetime)
        elif not self.store.update(KEY_PREFIX + session.sid, data, lifetime):
            # Logged out, or replaced by a login, while this request ran: it stays gone. The
            # cookie is left alone: the client may hold the new login's by now.
            return
        expires = self.get_expiration_time(app, session)
        response.set_cookie(self.get_cookie_name(app), session.sid, expires=expires, **cookie)
        response.vary.add("Cookie")


def init_storage(app):
    backend = app.config["SESSION_BACKEND"]
    if backend == "sqlalchemy":
        app.session_interface = ServerSideSessions(DatabaseStore())
    elif backend == "redis":
        if not app.config["REDIS_URL"]:
            raise ValueError("SESSION_BACKEND=redis needs REDIS_URL, e.g. redis://localhost:6379/0")
        app.session_interface = ServerSideSessions(RedisStore(redis_client(app)))
    elif backend != "cookie":
        raise ValueError(f"SESSION_BACKEND must be cookie, sqlalchemy or redis, not {backend!r}")
