"""Turning validated records into active, located listings (shared by process and stream), and taking
listings down when their source says they are gone (stream)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import execute_values
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.documents import compact
from models.normalize import CleanListing

# The clean columns a validated record writes, with their SQL types (activate and upsert_active).
CLEAN_COLUMNS = (
    ("title", "text"), ("price", "int"), ("bedrooms", "smallint"), ("bathrooms", "float8"), ("sqft", "int"),
    ("furnished", "bool"), ("unit_type", "text"), ("url", "text"), ("address", "text"),
    ("available_from", "date"),
)  # fmt: skip
_NAMES = [name for name, _ in CLEAN_COLUMNS]

ACTIVATE = f"""
UPDATE listings AS l SET
    status = 'active', {", ".join(f"{n} = v.{n}" for n in _NAMES)},
    geom = ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326),
    posted_at = LEAST(COALESCE(v.posted_at, l.posted_at, l.first_seen_at), v.now),
    processed_at = v.now, canonical_id = NULL
FROM (VALUES %s) AS v(id, {", ".join(_NAMES)}, lat, lon, posted_at, now)
WHERE l.id = v.id
"""
TEMPLATE = (
    "(%s::bigint, "
    + "".join(f"%s::{sql_type}, " for _, sql_type in CLEAN_COLUMNS)
    + "%s::float8, %s::float8, %s::timestamptz, %s::timestamptz)"
)


def activate(session: Session, rows: list[tuple[int, CleanListing]], now: datetime) -> int:
    """Write clean fields and the POINT geometry, and mark the listings active; return how many."""
    if not rows:
        return 0
    values = [
        (lid, *(getattr(c, name) for name in _NAMES), c.latitude, c.longitude, c.posted_at, now)
        for lid, c in rows
    ]
    with session.connection().connection.cursor() as cursor:
        execute_values(cursor, ACTIVATE, values, template=TEMPLATE, page_size=1000)
    return len(values)


# What a listing's clean columns are refreshed from: changed content, or a listing coming back (as the
# batch path, where ingest makes these rows pending and process activates the pending ones).
_REFRESH = "(l.raw IS DISTINCT FROM EXCLUDED.raw OR l.status IN ('pending', 'delisted', 'expired'))"
_COPIED = ("status", "processed_at", *_NAMES, "geom")
_ROW = (
    ("source_id", "int"), ("source_ref", "text"), ("raw", "jsonb"), *CLEAN_COLUMNS,
    ("lat", "float8"), ("lon", "float8"), ("posted_at", "timestamptz"),
)  # fmt: skip
# The batch goes as one JSON document of rows: as 15 arrays, psycopg2 adapted and quoted every element
# holding the GIL (the stream's upsert of 100 listings took 3.3 ms of CPU, as one document 2.4). Read as
# jsonb, each row's raw record is taken from the parsed document, not parsed again from its text as
# json_to_recordset does to fill a jsonb column: the stream's statement for 98 new listings 5.1 ms at the
# median instead of 5.9 (40 runs of each, interleaved, rolled back; EXPLAIN ANALYZE without timing).
UPSERT_ACTIVE = f"""
WITH v AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS v({", ".join(f"{n} {t}" for n, t in _ROW)})
)
INSERT INTO listings AS l (
    source_id, source_ref, raw, first_seen_at, last_seen_at, updated_at, posted_at, {", ".join(_COPIED)}
)
SELECT source_id, source_ref, raw, %(now)s, %(now)s, clock_timestamp(), LEAST(posted_at, %(now)s),
    'active', %(now)s, {", ".join(_NAMES)}, ST_SetSRID(ST_MakePoint(lon, lat), 4326)
FROM v
ON CONFLICT (source_id, source_ref) DO UPDATE SET
    last_seen_at = EXCLUDED.last_seen_at,
    raw = EXCLUDED.raw,
    updated_at = CASE WHEN l.raw IS DISTINCT FROM EXCLUDED.raw THEN clock_timestamp() ELSE l.updated_at END,
    posted_at = CASE WHEN {_REFRESH} THEN LEAST(COALESCE(
        (SELECT v.posted_at FROM v WHERE v.source_id = l.source_id AND v.source_ref = l.source_ref),
        l.posted_at, l.first_seen_at), %(now)s) ELSE l.posted_at END,
    canonical_id = CASE WHEN {_REFRESH} THEN NULL ELSE l.canonical_id END,
    {", ".join(f"{c} = CASE WHEN {_REFRESH} THEN EXCLUDED.{c} ELSE l.{c} END" for c in _COPIED)}
RETURNING l.id, l.source_id, l.source_ref, l.processed_at = %(now)s AS fresh
"""


@dataclass(frozen=True)
class Upserted:
    id: int
    source_id: int
    source_ref: str
    fresh: bool  # written active now (new, changed or back): to dedupe, rank and match


def upsert_active(
    session: Session, records: list[tuple[int, Any, CleanListing]], now: datetime
) -> dict[tuple[int, str], Upserted]:
    """Upsert validated (source_id, raw payload, clean) records straight to active listings, in one
    statement: what ingest (raw, pending) and activate() do in two passes. Re-delivering a record
    unchanged only moves last_seen_at; a ref repeated in the list keeps its last record."""
    latest = {(source_id, clean.source_ref): (raw, clean) for source_id, raw, clean in records}
    if not latest:
        return {}
    rows = [
        {
            "source_id": source_id,
            "source_ref": ref,
            "raw": raw,
            **{name: getattr(c, name) for name in _NAMES},
            "available_from": c.available_from.isoformat() if c.available_from else None,
            "lat": c.latitude,
            "lon": c.longitude,
            "posted_at": c.posted_at.isoformat() if c.posted_at else None,
        }
        for (source_id, ref), (raw, c) in latest.items()
    ]
    with session.connection().connection.cursor() as cursor:
        cursor.execute(UPSERT_ACTIVE, {"rows": compact(rows), "now": now})
        written = cursor.fetchall()
    return {(row[1], row[2]): Upserted(*row) for row in written}


# A partner's "this listing is gone": active (or not yet processed) listings become delisted, as when a
# recheck finds them gone; one that is already down, or that nook never had, is left as it is.
DELIST = text("""
UPDATE listings AS l SET status = 'delisted', last_checked_at = :now
FROM unnest(CAST(:source_ids AS int[]), CAST(:refs AS text[])) AS gone(source_id, source_ref)
WHERE l.source_id = gone.source_id AND l.source_ref = gone.source_ref AND l.status IN ('active', 'pending')
RETURNING l.id
""")


def delist(session: Session, keys: list[tuple[int, str]], now: datetime) -> list[int]:
    """Delist the listings with these (source_id, source_ref) keys that are up; return their ids."""
    if not keys:
        return []
    found = session.scalars(
        DELIST, {"source_ids": [k[0] for k in keys], "refs": [k[1] for k in keys], "now": now}
    )
    return sorted(found)
