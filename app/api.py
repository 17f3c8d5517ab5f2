"""The /v1 API: flask-smorest on marshmallow, so validation, responses and OpenAPI share one source.

Every error is documented and returned as application/problem+json with the
same ProblemSchema; unknown query parameters are refused like unknown body fields.
"""

from __future__ import annotations

import http
import json
from typing import Any, NoReturn

import marshmallow as ma
from flask import Flask, Request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.utils import prepare_response
from webargs.flaskparser import FlaskParser, abort

PROBLEM = "application/problem+json"
GAVE_UP = "(a body the JSON parser gave up on)"  # the document of the errors StrictParser raises itself


class FieldErrorSchema(ma.Schema):
    """One invalid input."""

    field = ma.fields.String(required=True, metadata={"description": "Where: query.x, json.geometry, ..."})
    message = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    errors = ma.fields.List(ma.fields.Nested(FieldErrorSchema))


class StrictParser(FlaskParser):
    """Unknown query parameters are an error too (webargs excludes them by default), and so is a body the
    JSON parser gives up on (nested 1,000 deep, an integer of over 4,300 digits): webargs let those through
    as a 500."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def _raw_load_json(self, req: Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", doc=GAVE_UP, pos=0) from None
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc).split(":")[0], doc=GAVE_UP, pos=0) from None

    def _handle_invalid_json_error(
        self, error: json.JSONDecodeError | UnicodeDecodeError, req: Request, *args: Any, **kwargs: Any
    ) -> NoReturn:
        """A 400 saying what is wrong with the body and where (webargs said only "Invalid JSON body.")."""
        undecoded = error if isinstance(error, UnicodeDecodeError) else error.__cause__
        if isinstance(undecoded, UnicodeDecodeError):  # webargs words it as if the bytes were the text
            reason = f"not UTF-8 (byte 0x{undecoded.object[undecoded.start]:02x} at offset {undecoded.start})"
        elif error.doc is GAVE_UP:
            reason = error.msg
        else:
            reason = f"{error.msg} at line {error.lineno}, column {error.colno}"
        abort(400, exc=error, messages={"json": [f"Invalid JSON body: {reason}."]})


class Blueprint(SmorestBlueprint):
    """flask-smorest blueprint with the strict parser."""

    ARGUMENTS_PARSER = StrictParser()


class NookApi(Api):
    """Api whose documented error responses are problem+json, handled by app.errors."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        """app.errors registers the one error handler for the whole app."""

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Error (problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


API_CONFIG = {
    "API_TITLE": "nook",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_REDOC_PATH": "/docs",
    "OPENAPI_REDOC_URL": "https://cdn.jsdelivr.net/npm/redoc@2.1.5/bundles/redoc.standalone.js",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Find fairly priced rentals: search listings, see their price rank, draw areas "
            "and get alerts. Authenticate with `Authorization: Bearer <API key>`. Errors are problem details "
            "(RFC 9457); a 503 with Retry-After means the database did not answer in time: try again then."
        },
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    },
}


def init_api(app: Flask) -> NookApi:
    """Create the Api on the app and register the /v1 blueprints."""
    from app import (
        alerts,
        estimates,
        export,
        hidden,
        imports,
        listings,
        market,
        new_key,
        regions,
        saved,
        sign_up,
    )

    for key, value in API_CONFIG.items():
        app.config.setdefault(key, value)
    api = NookApi(app)
    modules = (listings, estimates, regions, market, alerts, saved, hidden, export, imports, new_key, sign_up)
    for module in modules:
        api.register_blueprint(module.blp)
    return api
