"""The data: users in a real database (post mistake E8: the post's User had no fields,
no database and no password), and the post's two token methods, done right."""

import functools
import secrets
import uuid
from datetime import UTC, datetime

import jwt as pyjwt  # PyJWT, named so it cannot be mistaken for the JWTManager (E1)
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, Index, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .validation import parse_id


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
        # BEGIN EXERCISE set_password: store password_hasher()'s hash of the password, never the password
        self.password_hash = password_hasher().hash(password)
        # END EXERCISE

    def check_password(self, password):
        # BEGIN EXERCISE check_password: True if password_hasher() verifies the password against
        # the stored hash; False when it raises VerificationError or InvalidHashError
        try:
            return password_hasher().verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        # END EXERCISE

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

    def generate_jwt(self, expires_in=None):
        """An access token for this user (E5: the post's had no expiry and no `sub`).

        The key, the algorithm and the lifetime come from the app's config, the same settings
        Flask-JWT-Extended reads; the claims are the ones it reads too, so it accepts these
        tokens as its own (step 3 relies on it): `sub` (a string since PyJWT 2.10), `iat`,
        `exp`, a unique `jti`, `type`.
        """
        # BEGIN EXERCISE generate_jwt: encode the claims sub (the id as a string), iat, exp
        # (now + expires_in, or JWT_ACCESS_TOKEN_EXPIRES), jti (a uuid4) and type="access"
        # with pyjwt.encode, JWT_SECRET_KEY and the algorithm JWT_ALGORITHM names
        config = current_app.config
        now = utcnow()
        lifetime = expires_in if expires_in is not None else config["JWT_ACCESS_TOKEN_EXPIRES"]
        claims = {
            "sub": str(self.id),
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
            "type": "access",
        }
        return pyjwt.encode(claims, config["JWT_SECRET_KEY"], algorithm=config["JWT_ALGORITHM"])
        # END EXERCISE

    @staticmethod
    def verify_jwt(token):
        """The token's user, or None if the token is bad in any way or its user is gone."""
        # BEGIN EXERCISE verify_jwt: decode with pyjwt.decode (only the JWT_ALGORITHM algorithm,
        # requiring sub, iat, exp, jti); return None on pyjwt.InvalidTokenError, for a type other
        # than "access" or a sub that parse_id refuses; else the user from db.session.get
        config = current_app.config
        try:
            claims = pyjwt.decode(
                token,
                config["JWT_SECRET_KEY"],
                algorithms=[config["JWT_ALGORITHM"]],  # pinned: never the token's choice ("none")
                options={"require": ["sub", "iat", "exp", "jti"]},
            )
        # E6: only a bad token means "no user". The post's bare `except:` also hid bugs.
        except pyjwt.InvalidTokenError:
            return None
        user_id = parse_id(claims["sub"])
        if claims.get("type") != "access" or user_id is None:
            return None
        return db.session.get(User, user_id)  # E7: not the legacy User.query.get
        # END EXERCISE


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
