"""Backfill the demo market's past: listings that came and went before nook watched.

The feed only serves what is on the market now, so a fresh machine would have
no history for the market forecast. This writes the simulated market's listings
that appeared in the last `days` days and are already gone, as they would have
been processed at the time: normalised by the same rules, `expired` since they
left, mirror re-posts pointing at the main listing. Listings still on the market
are left to the ingest job. Records the market corrupted are not history
anyone saw; they are counted, not written.

Idempotent: rows are keyed by (source, ref) and a re-run skips what exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from jobs.sources.demo_market import DEMO_FIELDS, Market, MarketListing, feed_record, mirror_record
from models.listing import Listing
from models.normalize import Rejected, clean_listing
from models.source import Source

CHUNK = 2000


@dataclass
class Backfilled:
    """What a backfill wrote (rows already there are not counted)."""

    main: int = 0
    mirror: int = 0
    broken: int = 0
    still_active: int = 0


def _row(
    record: dict[str, Any], source_id: int, item: MarketListing, now: datetime, canonical: int | None
) -> dict[str, Any]:
    clean = clean_listing(record, {"fields": DEMO_FIELDS})
    last_seen = item.disappears_at - timedelta(seconds=1)
    return {
        "source_id": source_id,
        "source_ref": clean.source_ref,
        "status": "expired",
        "raw": record,
        "title": clean.title,
        "price": clean.price,
        "bedrooms": clean.bedrooms,
        "bathrooms": clean.bathrooms,
        "sqft": clean.sqft,
        "furnished": clean.furnished,
        "unit_type": clean.unit_type,
        "url": clean.url,
        "address": clean.address,
        "geom": f"SRID=4326;POINT({clean.longitude} {clean.latitude})",
        "canonical_id": canonical,
        "posted_at": clean.posted_at,
        "available_from": clean.available_from,
        "first_seen_at": clean.posted_at,
        "last_seen_at": last_seen,
        "last_checked_at": item.disappears_at,
        "processed_at": now,
        "updated_at": now,
    }


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    written = 0
    for start in range(0, len(rows), CHUNK):
        statement = insert(Listing).values(rows[start : start + CHUNK]).on_conflict_do_nothing()
        written += len(session.execute(statement.returning(Listing.id)).all())
    return written


def backfill(
    session: Session,
    market: Market,
    now: datetime,
    days: int,
    base_url: str,
    main_source: str = "demo-main",
    mirror_source: str = "demo-mirror",
) -> Backfilled:
    """Write the gone listings of the last `days` days (see the module docstring)."""
    sources = dict(
        session.execute(
            select(Source.name, Source.id).where(Source.name.in_([main_source, mirror_source]))
        ).all()
    )
    if main_source not in sources:
        raise ValueError(f"no source named {main_source!r}: add the demo sources first")
    result = Backfilled()
    gone: list[MarketListing] = []
    for item in market.appeared_between(now - timedelta(days=days), now):
        if item.active_at(now):
            result.still_active += 1
        elif item.broken:
            result.broken += 1
        else:
            gone.append(item)
    mains = []
    for item in gone:
        last_moment = item.disappears_at - timedelta(seconds=1)
        try:
            mains.append(
                _row(feed_record(item, last_moment, base_url), sources[main_source], item, now, None)
            )
        except Rejected:
            result.broken += 1
    result.main = _insert(session, mains)
    if mirror_source in sources:
        refs = {f"A-{item.index}" for item in gone if item.mirrored}
        ids = dict(
            session.execute(
                select(Listing.source_ref, Listing.id).where(
                    Listing.source_id == sources[main_source], Listing.source_ref.in_(refs)
                )
            ).all()
        )
        mirrors = []
        for item in gone:
            record = mirror_record(item, item.disappears_at - timedelta(seconds=1), base_url)
            if record is not None and f"A-{item.index}" in ids:
                canonical = ids[f"A-{item.index}"]
                mirrors.append(_row(record, sources[mirror_source], item, now, canonical))
        result.mirror = _insert(session, mirrors)
    return result
