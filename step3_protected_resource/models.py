"""The data: users in a real database (post mistake E8: the post's User had no fields,
no database and no password), their to-dos, and the logged-out tokens."""

import functools
import secrets
import uuid
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def utcnow():
    return datetime.now(UTC)


def password_hasher():
    """Argon2id with the costs in the config (OWASP's row by default: m=19 MiB, t=2, p=1)."""
    config = current_app.config
    return hasher_with(config["PASSWORD_HASH_TIME_COST"], config["PASSWORD_HASH_MEMORY_KIB"])


@functools.cache
def hasher_with(time_cost, memory_kib):
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


@functools.cache
def hash_of_nobody(hasher):
    """A hash to check when the username is unknown, so that answer takes as long."""
    return hasher.hash(secrets.token_hex(16))


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))  # never the password itself
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def set_password(self, password):
        self.password_hash = password_hasher().hash(password)

    def check_password(self, password):
        try:
            return password_hasher().verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @classmethod
    def find(cls, username):
        """The user with this name in any letter case, or None."""
        return db.session.scalar(select(cls).where(func.lower(cls.username) == username.lower()))

    @classmethod
    def authenticate(cls, username, password):
        """The user, if the password is theirs; None otherwise, in about the same time."""
        user = cls.find(username)
        if user is None:
            hasher = password_hasher()
            try:
                hasher.verify(hash_of_nobody(hasher), password)
            except VerificationError:
                pass
            return None
        return user if user.check_password(password) else None

    def generate_jwt(self, expires_in=None, token_type="access", claims=None):
        """An access or refresh token for this user (E5: the post's had no expiry and no `sub`).

        From this step on Flask-JWT-Extended verifies the tokens, so it makes them too: one
        source of truth for the claims (auth.user_identity turns this user into `sub`), the
        key and algorithm (JWT_SECRET_KEY, JWT_ALGORITHM) and the lifetimes
        (JWT_ACCESS_TOKEN_EXPIRES, JWT_REFRESH_TOKEN_EXPIRES, unless expires_in is given).
        Step 2's verify_jwt is gone for the same reason: @jwt_required() verifies, with
        Flask-JWT-Extended's decode_token, and auth.load_user finds the user.
        """
        make = create_refresh_token if token_type == "refresh" else create_access_token
        # expires_in None: the configured lifetime. claims: more claims, such as "family".
        return make(identity=self, expires_delta=expires_in, additional_claims=claims)

    def login_tokens(self, family=None, ends_at=None):
        """The access and the refresh token of one login: POST /login starts one, POST /refresh
        goes on with it. Both carry the login's id, "family", so that blocklist.end_login can
        revoke every token of it. A login starts with a new family and a refresh token good for
        JWT_REFRESH_TOKEN_EXPIRES; a rotation keeps both the family and that end (`exp`), so
        that refreshing never makes a login last longer."""
        family = family or str(uuid.uuid4())
        end = {} if ends_at is None else {"exp": ends_at}
        return {
            "access_token": self.generate_jwt(claims={"family": family}),
            "refresh_token": self.generate_jwt(token_type="refresh", claims={"family": family, **end}),
        }


class RevokedToken(db.Model):
    """A logged-out token's id, kept until the token would have expired anyway
    (the database store of blocklist.py)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)  # the token's own `exp`, in seconds


class Todo(db.Model):
    """A to-do of one user: the thing a token protects."""

    __tablename__ = "todos"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(default=False)

    def to_json(self):
        return {"id": self.id, "title": self.title, "done": self.done}


# Unique whatever the letter case: "Alice" and "alice" are one user, on SQLite and PostgreSQL.
Index("uq_users_username_lower", func.lower(User.username), unique=True)
