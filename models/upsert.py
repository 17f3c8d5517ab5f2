"""Bulk, idempotent upsert of raw listings by (source_id, source_ref).

The batch ingest's (the stream writes straight to active listings with
models.activation.upsert_active); standard library, psycopg2 and
models.normalize only. A page is encoded into COPY text (`encode_page`, pure
CPU, safe to run in a worker thread), then written (`write_page`): COPY into a
temp staging table and one INSERT ... ON CONFLICT that returns only counts.

Counting: a new row has xmax = 0; a row whose payload changed gets
updated_at = clock_timestamp(), never earlier than the statement's start, while
an unchanged row keeps an updated_at from an earlier statement.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.documents import compact
from models.normalize import MAX_DEPTH, suspect, unstorable

STAGE = """
CREATE TEMP TABLE IF NOT EXISTS ingest_stage (source_ref text, raw jsonb) ON COMMIT DELETE ROWS
"""
UPSERT = """
WITH upserted AS (
    INSERT INTO listings (source_id, source_ref, raw, status, first_seen_at, last_seen_at, updated_at)
    SELECT %(source_id)s, source_ref, raw, 'pending', %(now)s, %(now)s, clock_timestamp() FROM ingest_stage
    ON CONFLICT (source_id, source_ref) DO UPDATE SET
        last_seen_at = EXCLUDED.last_seen_at,
        raw = EXCLUDED.raw,
        status = CASE
            WHEN listings.raw IS DISTINCT FROM EXCLUDED.raw OR listings.status IN ('delisted', 'expired')
            THEN 'pending' ELSE listings.status END,
        updated_at = CASE
            WHEN listings.raw IS DISTINCT FROM EXCLUDED.raw THEN clock_timestamp()
            ELSE listings.updated_at END
    RETURNING (xmax = 0) AS inserted, (updated_at >= statement_timestamp()) AS touched
)
SELECT count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE touched AND NOT inserted),
       count(*)
FROM upserted
"""

_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


@dataclass(frozen=True)
class EncodedPage:
    """A page ready for COPY: one `ref<TAB>json` line per distinct ref; `refused` holds the (ref, payload,
    reason) of the records nook cannot store (normalize.unstorable), which are not in it."""

    text: str
    count: int
    refused: list[tuple[str, Any, str]] = field(default_factory=list)


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format."""
    if not _COPY_SPECIAL.search(value):
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def encode_page(records: list[tuple[str, Any]]) -> EncodedPage:
    """Encode (ref, payload) pairs; a ref repeated within the page keeps its last payload. A payload that
    cannot be stored would fail the whole page's COPY: it is refused instead."""
    lines, refused = [], []
    for ref, payload in dict(records).items():
        try:
            encoded = compact(payload)
        except RecursionError:  # nested about as deep as the parser allows
            refused.append(
                (ref, payload, unstorable(payload) or f"record: nested deeper than {MAX_DEPTH} levels")
            )
            continue
        if suspect(encoded) and (reason := unstorable(payload)):
            refused.append((ref, payload, reason))
        else:
            lines.append(f"{_copy_text(ref)}\t{_copy_text(encoded)}\n")
    return EncodedPage("".join(lines), len(lines), refused)


def write_page(session: Session, source_id: int, page: EncodedPage, now: datetime) -> tuple[int, int, int]:
    """Upsert an encoded page; return (inserted, updated, unchanged)."""
    if not page.count:
        return 0, 0, 0
    with session.connection().connection.cursor() as cursor:
        cursor.execute(STAGE)
        cursor.execute("TRUNCATE ingest_stage")
        cursor.copy_expert("COPY ingest_stage (source_ref, raw) FROM STDIN", io.StringIO(page.text))
        cursor.execute(UPSERT, {"source_id": source_id, "now": now})
        inserted, updated, total = cursor.fetchone()
    return inserted, updated, total - inserted - updated


def upsert_records(
    session: Session, source_id: int, records: list[tuple[str, Any]], now: datetime
) -> tuple[int, int, int]:
    """Encode and upsert (ref, payload) pairs in one go; return (inserted, updated, unchanged)."""
    return write_page(session, source_id, encode_page(records), now)
