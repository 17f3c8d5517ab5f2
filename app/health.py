"""Liveness and readiness: /health answers ok only when the database does."""

from __future__ import annotations

import logging

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import get_db
from app.errors import ApiError

bp = Blueprint("health", __name__)
log = logging.getLogger("nook.app")


@bp.get("/health")
def health() -> dict[str, str]:
    """Check the database (and PostGIS) answer."""
    try:
        postgis = get_db().execute(text("SELECT postgis_lib_version()")).scalar_one()
    except SQLAlchemyError as exc:
        log.warning("health check failed", extra={"error_type": type(exc).__name__})
        raise ApiError(503, "The database is not reachable.") from None
    return {"status": "ok", "database": "ok", "postgis": postgis}
