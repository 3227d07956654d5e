"""The HTTP side: every endpoint is a Flask-RESTful Resource."""

import re

from flask import g
from flask_restful import Resource, abort
from sqlalchemy.exc import IntegrityError

from .auth import token_required
from .models import Todo, User, db
from .validation import credentials, json_object, parse_id, required_string

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
PASSWORD_LENGTH = range(8, 128 + 1)
TITLE_LENGTH = range(1, 200 + 1)


class IndexResource(Resource):
    def get(self):
        return {
            "step": 2,
            "concept": "A User model in a real database that hashes its password and "
            "generates and verifies its own tokens.",
            "endpoints": {
                "GET /": "this description",
                "POST /register": "JSON {username, password} -> 201 {id, username}",
                "POST /login": "JSON {username, password} -> {access_token}",
                "GET /me": "access token -> {id, username}",
                "GET /todos": "access token -> [{id, title, done}, ...], the caller's own",
                "POST /todos": "JSON {title} -> 201 {id, title, done}",
                "GET /todos/<id>": "-> {id, title, done}",
                "PUT /todos/<id>": "JSON {title and/or done} -> {id, title, done}",
                "DELETE /todos/<id>": "-> 204",
            },
        }


class RegisterResource(Resource):
    def post(self):
        username, password = credentials()
        if not USERNAME.fullmatch(username):
            abort(400, message="'username' must be 3 to 32 letters, digits, '_', '.' or '-'.")
        if len(password) not in PASSWORD_LENGTH:
            abort(400, message="'password' must be 8 to 128 characters long.")
        user = User(username=username)
        user.set_password(password)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # The unique index decides, so two racing requests cannot both win.
            db.session.rollback()
            abort(409, message="That username is taken.")
        return {"id": user.id, "username": user.username}, 201


class LoginResource(Resource):
    def post(self):
        username, password = credentials()
        user = User.authenticate(username, password)
        if user is None:
            abort(401, message="Wrong username or password.")
        return {"access_token": user.generate_jwt()}


# Protection, one method at a time: a decorator on the method.


class MeResource(Resource):
    @token_required
    def get(self):
        # E9: the post's method body was only a comment, a SyntaxError. This one answers.
        return {"id": g.user.id, "username": g.user.username}


# Protection for a whole Resource: Flask-RESTful wraps every method in method_decorators.


def todo_fields(body, required):
    """The valid `title` and `done` of a to-do body, or a 400 naming the field. A new to-do
    (`title` required) takes a title only: it starts not done."""
    fields = {}
    if "title" in required and set(body) - {"title"}:
        abort(400, message="Unknown field: a new to-do has only a 'title'; it starts not done.")
    if set(body) - {"title", "done"}:
        abort(400, message="Unknown field: a to-do has only 'title' and 'done'.")
    if "title" in body or "title" in required:
        title = required_string(body, "title")
        if len(title) not in TITLE_LENGTH or not title.strip():
            abort(400, message="'title' must be 1 to 200 characters, not only spaces.")
        fields["title"] = title
    if "done" in body:
        if not isinstance(body["done"], bool):
            abort(400, message="'done' must be true or false.")
        fields["done"] = body["done"]
    if not fields:
        abort(400, message="Send 'title', 'done' or both.")
    return fields


def own_todo(user, todo_id):
    """The user's to-do. Someone else's answers exactly like one that does not exist, and so
    does an id that no database integer can hold (parse_id, rather than an `int` converter in
    the route: past its range that one sends Flask-RESTful's error router a 500)."""
    todo_id = parse_id(todo_id)
    own = db.select(Todo).where(Todo.id == todo_id, Todo.user_id == user.id)
    todo = db.session.scalar(own) if todo_id is not None else None
    if todo is None:
        abort(404, message="No such to-do.")
    return todo


def todos_of(user):
    todos = db.session.scalars(db.select(Todo).where(Todo.user_id == user.id).order_by(Todo.id))
    return [todo.to_json() for todo in todos]


class TodoListResource(Resource):
    method_decorators = [token_required]

    def get(self):
        return todos_of(g.user)

    def post(self):
        todo = Todo(user_id=g.user.id, **todo_fields(json_object(), required={"title"}))
        db.session.add(todo)
        db.session.commit()
        return todo.to_json(), 201


class TodoResource(Resource):
    method_decorators = [token_required]

    def get(self, todo_id):
        return own_todo(g.user, todo_id).to_json()

    def put(self, todo_id):
        todo = own_todo(g.user, todo_id)
        for name, value in todo_fields(json_object(), required=set()).items():
            setattr(todo, name, value)
        db.session.commit()
        return todo.to_json()

    def delete(self, todo_id):
        db.session.delete(own_todo(g.user, todo_id))
        db.session.commit()
        return None, 204
