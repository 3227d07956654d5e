"""The HTTP side: every endpoint is a Flask-RESTful Resource."""

import re
from pathlib import Path

from flask import g, request, send_from_directory, session
from flask_jwt_extended import current_user, get_jwt, get_jwt_header, jwt_required
from flask_jwt_extended.exceptions import RevokedTokenError
from flask_restful import Resource, abort
from sqlalchemy.exc import IntegrityError

from .blocklist import revoke
from .models import Todo, User, db
from .sessions import login_required, start_session
from .validation import credentials, json_object, parse_id, required_string

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
PASSWORD_LENGTH = range(8, 128 + 1)
TITLE_LENGTH = range(1, 200 + 1)


# The page a browser gets at GET /: its own files only, no inline script, nothing from elsewhere.
PAGE_FOLDER = Path(__file__).with_name("page")
PAGE_POLICY = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


def page_file(name):
    """A file of the page, under PAGE_POLICY; a name not in page/ is a JSON 404."""
    response = send_from_directory(PAGE_FOLDER, name)
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


class PageResource(Resource):
    def get(self, name):
        return page_file(name)


class IndexResource(Resource):
    def get(self):
        # A browser asks for text/html first; curl (*/*) and API clients get the JSON.
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
            page = page_file("index.html")
            page.vary.add("Accept")
            return page
        return {
            "step": 4,
            "concept": "Sessions: Flask's signed session cookie, started after a password check, "
            "read, and deleted, with safe cookie settings.",
            "endpoints": {
                "GET /": "this description; a browser (Accept: text/html) gets a page to try sessions",
                "POST /register": "JSON {username, password} -> 201 {id, username}",
                "POST /login": "JSON {username, password} -> {access_token, refresh_token}",
                "POST /refresh": "refresh token, good once -> {access_token, refresh_token}",
                "POST /logout": "revokes the access or refresh token it is called with -> 204",
                "GET /me": "access token -> {id, username}",
                "GET /todos": "access token -> [{id, title, done}, ...], the caller's own",
                "POST /todos": "JSON {title} -> 201 {id, title, done}",
                "GET /todos/<id>": "-> {id, title, done}",
                "PUT /todos/<id>": "JSON {title and/or done} -> {id, title, done}",
                "DELETE /todos/<id>": "-> 204",
                "POST /session": "JSON {username, password} -> {username}, and a session cookie",
                "GET /session": "session cookie -> {id, username}",
                "DELETE /session": "ends the session -> 204",
                "GET /session/todos": "session cookie -> [{id, title, done}, ...]",
                "GET /page/<name>": "the page's script and style sheet",
            },
        }, 200, {"Vary": "Accept"}


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
        return user.login_tokens()


# Protection, one method at a time: @jwt_required() — with the parentheses. Since
# Flask-JWT-Extended 4.0 it makes a decorator; the post's bare @jwt_required (E2) is a
# TypeError when the method is called.


class RefreshResource(Resource):
    """Rotation: each refresh token works once. /refresh spends it and answers a new pair of
    the same login; the spent one, sent again, ends the login (auth.revoked_token)."""

    @jwt_required(refresh=True)  # only a refresh token: an access token here is a 401
    def post(self):
        claims = get_jwt()
        if not revoke(claims):
            raise RevokedTokenError(get_jwt_header(), claims)
        return current_user.login_tokens(claims.get("family"), claims["exp"])


class LogoutResource(Resource):
    @jwt_required(verify_type=False)  # either token; the client calls once with each
    def post(self):
        revoke(get_jwt())  # False when the same token is logged out twice at once: revoked either way
        return None, 204


class MeResource(Resource):
    @jwt_required()
    def get(self):
        # E9: the post's method body was only a comment, a SyntaxError. This one answers.
        return {"id": current_user.id, "username": current_user.username}


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
    method_decorators = [jwt_required()]

    def get(self):
        return todos_of(current_user)

    def post(self):
        todo = Todo(user_id=current_user.id, **todo_fields(json_object(), required={"title"}))
        db.session.add(todo)
        db.session.commit()
        return todo.to_json(), 201


class TodoResource(Resource):
    method_decorators = [jwt_required()]

    def get(self, todo_id):
        return own_todo(current_user, todo_id).to_json()

    def put(self, todo_id):
        todo = own_todo(current_user, todo_id)
        for name, value in todo_fields(json_object(), required=set()).items():
            setattr(todo, name, value)
        db.session.commit()
        return todo.to_json()

    def delete(self, todo_id):
        db.session.delete(own_todo(current_user, todo_id))
        db.session.commit()
        return None, 204


# The post's three session snippets (start, read, delete) as one Resource: three methods on
# one URL, instead of three views that all claim "/" and the name `index` (E10).


class SessionResource(Resource):
    def post(self):
        username, password = credentials()
        # E13: the post starts a session for whoever asks. Check the password first.
        user = User.authenticate(username, password)
        if user is None:
            abort(401, message="Wrong username or password.")
        start_session(user)
        return {"username": user.username}

    @login_required
    def get(self):
        return {"id": g.user.id, "username": g.user.username}

    def delete(self):
        # E11: the post's `del session['username']` is a KeyError (a 500) without a session.
        # BEGIN EXERCISE session_delete: empty the session, so Flask deletes the cookie; it
        # must not fail when there is no session at all
        session.clear()
        # END EXERCISE
        return None, 204


class SessionTodoListResource(Resource):
    method_decorators = [login_required]

    def get(self):
        return todos_of(g.user)
