"""The request's database session: opened on first use, owned by the request.

A successful response commits; an error response or an exception rolls back;
the session is always closed at teardown. So a failed transaction can never
leak into the next request served by the same warm container.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g
from sqlalchemy.orm import Session

from models.session import get_sessionmaker


def get_db() -> Session:
    """The session of the current request."""
    if "db" not in g:
        factory = current_app.config.get("SESSION_FACTORY") or get_sessionmaker()
        g.db = factory()
    return g.db


def _finish(response: Response) -> Response:
    session = g.get("db")
    if session is not None:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    return response


def _close(_exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.rollback()
        session.close()


def init_app(app: Flask) -> None:
    """Register the commit/rollback/close hooks."""
    app.after_request(_finish)
    app.teardown_appcontext(_close)
