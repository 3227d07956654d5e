"""Step 1: a JWTManager set-up that is right under Flask-RESTful."""

from .app import create_app

__all__ = ["create_app"]
