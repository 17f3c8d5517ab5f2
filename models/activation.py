"""Turning validated records into active, located listings (shared by process and stream)."""

from __future__ import annotations

from datetime import datetime

from psycopg2.extras import execute_values
from sqlalchemy.orm import Session

from models.normalize import CleanListing

ACTIVATE = """
UPDATE listings AS l SET
    status = 'active', title = v.title, price = v.price, bedrooms = v.bedrooms, bathrooms = v.bathrooms,
    sqft = v.sqft, furnished = v.furnished, unit_type = v.unit_type, url = v.url, address = v.address,
    geom = ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326),
    posted_at = COALESCE(v.posted_at, l.posted_at, l.first_seen_at),
    processed_at = v.now, canonical_id = NULL
FROM (VALUES %s) AS v(id, title, price, bedrooms, bathrooms, sqft, furnished, unit_type, url, address,
                      lat, lon, posted_at, now)
WHERE l.id = v.id
"""
TEMPLATE = (
    "(%s::bigint, %s::text, %s::int, %s::smallint, %s::float8, %s::int, %s::bool, %s::text, %s::text,"
    " %s::text, %s::float8, %s::float8, %s::timestamptz, %s::timestamptz)"
)


def activate(session: Session, rows: list[tuple[int, CleanListing]], now: datetime) -> int:
    """Write clean fields and the POINT geometry, and mark the listings active; return how many."""
    if not rows:
        return 0
    values = [
        (
            lid,
            c.title,
            c.price,
            c.bedrooms,
            c.bathrooms,
            c.sqft,
            c.furnished,
            c.unit_type,
            c.url,
            c.address,
            c.latitude,
            c.longitude,
            c.posted_at,
            now,
        )
        for lid, c in rows
    ]
    with session.connection().connection.cursor() as cursor:
        execute_values(cursor, ACTIVATE, values, template=TEMPLATE, page_size=1000)
    return len(values)
