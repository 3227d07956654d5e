"""Resources a test adds to an app to see how it handles a request, not what a step serves."""

import flask_restful
from flask_jwt_extended import jwt_required


class JwtProbe(flask_restful.Resource):
    """Behind @jwt_required(), as a step protects a resource: called without a valid token, it
    shows what the Api does with the token error (post mistake E3: Flask-RESTful answers 500
    where Flask-JWT-Extended meant a 401)."""

    @jwt_required()
    def get(self):
        return {"reached": True}
