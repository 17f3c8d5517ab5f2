"""One error shape for every error: application/problem+json (RFC 9457).

Validation errors name each offending field (`json.geometry`, `query.bbox`);
database details and tracebacks never reach clients.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger("nook.app")

PROBLEM_TYPE = "about:blank"
RETRY_AFTER_S = 5  # what a 503 for database trouble asks the client to wait


class ApiError(Exception):
    """An error a view raises to answer with a given status and detail (and the field at fault)."""

    def __init__(
        self,
        status: int,
        detail: str,
        field: str | None = None,
        www_authenticate: bool = False,
        retry_after: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field
        self.www_authenticate, self.retry_after, self.extra = www_authenticate, retry_after, extra


def problem(
    status: int,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
    title: str | None = None,
    **extra: Any,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def flatten_messages(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """marshmallow/webargs messages ({"json": {"price": ["..."]}}) as [{field, message}]."""
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            out += flatten_messages(value, name)
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"field": prefix or "request", "message": m} for m in messages]
    if isinstance(messages, list):
        return [e for item in messages for e in flatten_messages(item, prefix)]
    return [{"field": prefix or "request", "message": str(messages)}]


def handle_api_error(exc: ApiError) -> Response:
    """Answer an ApiError raised by a view."""
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
    response = problem(exc.status, exc.detail, errors, **exc.extra)
    if exc.www_authenticate:
        response.headers["WWW-Authenticate"] = 'Bearer realm="nook"'
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def handle_http_exception(exc: HTTPException) -> Response:
    """werkzeug's 404, 405, 413 and webargs' 422 in the same shape."""
    status = exc.code or 500
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages:
        errors = flatten_messages(messages)
        detail = "Invalid input: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(status, detail, errors)
    response = problem(status, exc.description, title=exc.name)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def handle_unexpected(exc: Exception) -> Response:
    """Log the failure and answer a generic 500: internals never reach clients."""
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    log.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return problem(500, "The server could not complete the request.")


def handle_database_trouble(exc: OperationalError) -> Response:
    """The database unreachable, or a statement cut off (too slow, a lock not granted, a deadlock): a 503
    to try again, not a 500."""
    log.warning(
        "database trouble", extra={"error_type": type(exc.orig).__name__, "error": str(exc.orig)[:300]}
    )
    response = problem(503, "The database did not answer in time; try again shortly.")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def register_error_handlers(app: Flask) -> None:
    """Install the handlers in one place."""
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(OperationalError, handle_database_trouble)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
