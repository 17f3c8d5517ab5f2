"""/v1/me/export: everything nook holds about the caller, as one JSON document behind a link."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from app.api import Blueprint
from app.auth import SECURITY, auth_required, current_user
from app.db import get_db
from app.errors import ApiError
from app.schemas import ExportSchema
from app.web import base_url
from models.export import ExportFailed, export_user
from models.settings import get_settings

log = logging.getLogger(__name__)
blp = Blueprint("export", __name__, url_prefix="/v1", description="Your data, to take away.")


@blp.route("/me/export", methods=["POST"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(201, ExportSchema)
def export() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Export your data: your account's settings, your regions (each as POST /v1/regions takes it), saved
    and hidden listings with your notes, and every alert nook queued for you and what became of it. The
    answer holds a link to the JSON document, which works for an hour; a new export replaces the last,
    and nook deletes it after a day (or with your account). 503 if it could not be stored just now."""
    user = current_user()
    try:
        done = export_user(get_db(), user, get_settings().bucket, datetime.now(UTC), base_url())
    except ExportFailed as exc:
        log.warning("export not stored", extra={"user_id": user.id, "error": str(exc)[:300]})
        raise ApiError(
            503, "nook could not store your export just now; try again in a minute.", retry_after=60
        ) from None
    log.info("exported", extra={"user_id": user.id, "bytes": done.written.size, **done.written.counts})
    body = {
        "url": done.url,
        "expires_at": done.expires_at,
        "bytes": done.written.size,
        "counts": done.written.counts,
    }
    return body, 201, {"Cache-Control": "no-store"}  # the link reads the document without a key
