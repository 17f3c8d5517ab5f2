"""One error shape for every error: application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("nook.app")

PROBLEM_TYPE = "about:blank"


class ApiError(Exception):
    """An error a view raises to answer with a given status and detail."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def _title(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "Error")


def handle_api_error(exc: ApiError) -> Response:
    """Answer an ApiError raised by a view."""
    return problem(exc.status, _title(exc.status), exc.detail, **exc.extra)


def handle_http_exception(exc: HTTPException) -> Response:
    """Answer werkzeug's 404, 405, 413 and friends in the same shape."""
    response = problem(exc.code or 500, exc.name, exc.description)
    if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def handle_unexpected(exc: Exception) -> Response:
    """Log the failure and answer a generic 500: internals never reach clients."""
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    log.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return problem(500, InternalServerError.name, "The server could not complete the request.")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers in one place."""
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
