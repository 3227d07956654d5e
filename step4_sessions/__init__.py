"""Step 4: sessions — start, read and delete, done safely."""

from .app import create_app

__all__ = ["create_app"]
