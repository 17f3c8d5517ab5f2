"""A user's data, whole, as one JSON document: their account, regions, saved and hidden listings and
every alert nook queued for them (whatever became of it).

The document is written to S3 (`exports/<user id>/<random>.json` in NOOK_BUCKET) and handed over as a
presigned link that works for an hour: an API answer goes through API Gateway and Lambda, which carry 6 MB
at most, and a user's alerts alone can outgrow that. A user keeps one export: a new one replaces the
last; housekeeping deletes any a day old, and deleting an account deletes its exports. Secrets stay out
(the API key and what proves an address change, or a link to unsubscribe); the shared shortlist's link
is in, as the user can read it from the API anyway.

Each region is written as POST /v1/regions takes it (name, geometry, criteria, alerts): an export's
regions can be drawn again on another nook as they are.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.listing import Listing
from models.region import Notification, Region, region_dict
from models.saved import shortlist_link, viewings_link
from models.settings import get_settings
from models.source import Source
from models.user import HiddenListing, SavedListing, User, user_place

log = logging.getLogger(__name__)
FORMAT = "nook-export/1"
PREFIX = "exports/"
LINK_LIFE = timedelta(hours=1)  # a presigned link works this long (as long as the signer's credentials)
KEEP = timedelta(days=1)  # housekeeping deletes exports older than this
ROWS_AT_ONCE = 2000  # alerts read from the database at a time (a user may hold many thousands)

# the listing a saved, hidden or alerted row names, as anyone could find it again: where it came from
LISTING = (
    Source.name.label("source"),
    Listing.source_ref,
    Listing.title,
    Listing.price.label("listing_price"),
    Listing.url,
    Listing.address,
    Listing.status.label("listing_status"),
)


def _listing(row: Any) -> dict[str, Any]:
    return {
        "source": row.source,
        "source_ref": row.source_ref,
        "title": row.title,
        "price": row.listing_price,
        "url": row.url,
        "address": row.address,
        "status": row.listing_status,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):  # and a datetime
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_jsonable, ensure_ascii=False)


def _account(user: User, base_url: str | None) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "created_at": user.created_at,
        "webhook_url": user.webhook_url,
        "email_alerts": user.email_alerts,
        "alerts_every_minutes": user.alert_every_minutes,
        "email_trouble": user.email_trouble,
        "email_trouble_at": user.email_trouble_at,
        "pending_email": user.pending_email,
        "api_key_prefix": user.api_key_prefix,
        "place": user_place(user),
        "shortlist": {
            "shared": user.shortlist_token is not None,
            "url": shortlist_link(user.shortlist_token, base_url)
            if user.shortlist_token and base_url
            else None,
            "notes": user.shortlist_notes,
        },
        "quiet_hours": (
            {"from": user.quiet_from, "until": user.quiet_until, "time_zone": user.quiet_time_zone}
            if user.quiet_from is not None
            else None
        ),
        "viewing_reminder_minutes": user.viewing_reminder_minutes,
        "viewings_calendar": {
            "published": user.calendar_token is not None,
            "url": viewings_link(user.calendar_token, base_url) if user.calendar_token and base_url else None,
        },
    }


def _regions(session: Session, user_id: int) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(Region, func.ST_AsGeoJSON(Region.geom, 7).label("geojson"))
        .where(Region.user_id == user_id)
        .order_by(Region.id)
    )
    for region, geojson in rows:
        yield region_dict(region, geojson)


def _saved(session: Session, user_id: int) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(SavedListing, *LISTING)
        .join(Listing, Listing.id == SavedListing.listing_id)
        .join(Source, Source.id == Listing.source_id)
        .where(SavedListing.user_id == user_id)
        .order_by(SavedListing.saved_at, SavedListing.listing_id)
    )
    for row in rows:
        saved = row.SavedListing
        yield {
            "listing_id": saved.listing_id,
            "saved_at": saved.saved_at,
            "price_when_saved": saved.price,
            "note": saved.note,
            "stage": saved.stage,
            "stage_at": saved.stage_at,
            "viewing": (
                {"at": saved.viewing_at, "time_zone": saved.viewing_time_zone} if saved.viewing_at else None
            ),
            "rating": saved.rating,
            "last_told": {"price": saved.told_price, "gone": saved.told_gone},
            "listing": _listing(row),
        }


def _hidden(session: Session, user_id: int) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        select(HiddenListing.listing_id, HiddenListing.hidden_at, *LISTING)
        .join(Listing, Listing.id == HiddenListing.listing_id)
        .join(Source, Source.id == Listing.source_id)
        .where(HiddenListing.user_id == user_id)
        .order_by(HiddenListing.hidden_at, HiddenListing.listing_id)
    )
    for row in rows:
        yield {"listing_id": row.listing_id, "hidden_at": row.hidden_at, "listing": _listing(row)}


def _alerts(session: Session, user_id: int) -> Iterator[dict[str, Any]]:
    """Every alert queued for the user, oldest first, read a few thousand at a time."""
    query = (
        select(
            Notification.id,
            Notification.region_id,
            Notification.listing_id,
            Notification.reason,
            Notification.status,
            Notification.created_at,
            Notification.sent_at,
            Notification.sent_via,
            Notification.attempts,
            Notification.last_error,
            *LISTING,
        )
        .join(Listing, Listing.id == Notification.listing_id)
        .join(Source, Source.id == Listing.source_id)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at, Notification.id)
        .execution_options(yield_per=ROWS_AT_ONCE)
    )
    for row in session.execute(query):
        yield {
            "id": row.id,
            "region_id": row.region_id,
            "listing_id": row.listing_id,
            "reason": row.reason,
            "status": row.status,
            "created_at": row.created_at,
            "sent_at": row.sent_at,
            "sent_via": row.sent_via,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "listing": _listing(row),
        }


@dataclass
class Written:
    """What an export holds: how many of each, and its size in bytes."""

    counts: dict[str, int] = field(default_factory=dict)
    size: int = 0


def write_export(
    session: Session, user: User, out: IO[bytes], now: datetime, base_url: str | None
) -> Written:
    """Write the user's export to `out` as JSON in UTF-8, a row at a time (the alerts are never all in
    memory)."""
    written = Written()

    def put(text: str) -> None:
        written.size += out.write(text.encode())

    def array(name: str, items: Iterable[dict[str, Any]]) -> None:
        put(f',\n"{name}": [')
        count = 0
        for item in items:
            put(("\n" if count == 0 else ",\n") + _dumps(item))
            count += 1
        put("\n]")
        written.counts[name] = count

    head = {"format": FORMAT, "exported_at": now, "account": _account(user, base_url)}
    put("{" + ",".join(f'\n"{name}": {_dumps(value)}' for name, value in head.items()))  # the lists follow
    array("regions", _regions(session, user.id))
    array("saved", _saved(session, user.id))
    array("hidden", _hidden(session, user.id))
    array("alerts", _alerts(session, user.id))
    put("\n}\n")
    return written


class ExportFailed(Exception):
    """S3 did not take the export (or would not list the user's last ones)."""


def _s3() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", connect_timeout=5, read_timeout=20, retries={"max_attempts": 2})
    return boto3.client("s3", config=config)


@dataclass
class Export:
    """An export in S3 and the link that reads it."""

    url: str
    expires_at: datetime
    written: Written


def user_prefix(user_id: int) -> str:
    return f"{PREFIX}{user_id}/"


def export_user(session: Session, user: User, bucket: str, now: datetime, base_url: str | None) -> Export:
    """Write the user's export to S3 (replacing the last) and return a link to it; ExportFailed if S3
    would not take it."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = _s3()
    key = f"{user_prefix(user.id)}{secrets.token_urlsafe(24)}.json"
    with tempfile.TemporaryDirectory() as spool:  # Lambda's /tmp: the alerts may not fit its memory as text
        path = Path(spool) / "export.json"
        with path.open("wb") as out:
            written = write_export(session, user, out, now, base_url)
        try:
            earlier = _keys(s3, bucket, user_prefix(user.id))
            s3.upload_file(
                str(path),
                bucket,
                key,
                ExtraArgs={
                    "ContentType": "application/json; charset=utf-8",
                    "ContentDisposition": f'attachment; filename="nook-export-{now:%Y-%m-%d}.json"',
                },
            )
            _delete(s3, bucket, earlier)
            url = s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=int(LINK_LIFE.total_seconds()),
            )
        except (BotoCoreError, ClientError) as exc:
            raise ExportFailed(f"s3://{bucket}/{key}: {exc}") from exc
    return Export(url=url, expires_at=now + LINK_LIFE, written=written)


def _keys(s3: Any, bucket: str, prefix: str, older_than: datetime | None = None) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if older_than is None or obj["LastModified"] < older_than:
                keys.append(obj["Key"])
    return keys


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at most
        chunk = keys[start : start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})


def drop_exports(bucket: str, user_id: int | None = None, older_than: datetime | None = None) -> int:
    """Delete a user's exports (None: every user's), or those written before `older_than`; return how
    many. ExportFailed if S3 would not."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = _s3()
    prefix = PREFIX if user_id is None else user_prefix(user_id)
    try:
        keys = _keys(s3, bucket, prefix, older_than)
        _delete(s3, bucket, keys)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":  # no bucket, no exports
            return 0
        raise ExportFailed(f"s3://{bucket}/{prefix}: {exc}") from exc
    except BotoCoreError as exc:
        raise ExportFailed(f"s3://{bucket}/{prefix}: {exc}") from exc
    return len(keys)


def forget_exports(user_id: int) -> None:
    """Delete a user's exports as their account goes; should S3 not answer, housekeeping deletes them
    within a day."""
    try:
        drop_exports(get_settings().bucket, user_id)
    except ExportFailed as exc:
        log.warning("exports left to housekeeping", extra={"user_id": user_id, "error": str(exc)[:300]})
