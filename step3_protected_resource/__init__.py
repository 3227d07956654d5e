"""A step of the course, as a package: `flask --app <this folder> run` finds create_app here.

What the step teaches is in README.md, next to this file.
"""

from .app import create_app

__all__ = ["create_app"]
