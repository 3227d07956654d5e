"""Step 2: a User model that generates and verifies its own tokens, stored in SQLite."""

from .app import create_app

__all__ = ["create_app"]
