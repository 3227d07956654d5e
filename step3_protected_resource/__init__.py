"""Step 3: resources protected with @jwt_required(), with refresh and logout."""

from .app import create_app

__all__ = ["create_app"]
