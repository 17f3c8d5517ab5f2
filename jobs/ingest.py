"""Ingest: pull every enabled source incrementally into `listings` (raw, idempotent).

Each page is upserted in bulk by (source_id, source_ref) inside its own
savepoint, and the source's cursor advances with it; so a crash or an error
mid-way loses nothing that was committed and a re-run duplicates nothing.
Records without an id are quarantined with the reason. One failing source
does not stop the others, but the run ends as failed and says which.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from psycopg2.extras import Json, execute_values
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from jobs.http import polite_session
from jobs.runtime import budget_deadline, run_job
from jobs.sources import registry
from jobs.sources.base import FetchContext, SourceError
from models.listing import Listing
from models.normalize import Rejected
from models.quarantine import BadRecord, quarantine
from models.source import Source

log = logging.getLogger("nook.jobs.ingest")

DRIFT_MIN_RECORDS = 50
DEFAULT_MAX_QUARANTINE_SHARE = 0.5

# One statement: `previous` reads the rows as they were before the upsert (CTEs share the
# statement's snapshot), so each returned row says exactly whether it was new or changed.
UPSERT = """
WITH incoming (source_id, source_ref, raw, seen_at) AS (VALUES %s),
previous AS (
    SELECT l.source_ref, l.raw FROM listings l
    JOIN incoming i ON l.source_id = i.source_id AND l.source_ref = i.source_ref
),
upserted AS (
    INSERT INTO listings (source_id, source_ref, raw, status, first_seen_at, last_seen_at, updated_at)
    SELECT source_id, source_ref, raw, 'pending', seen_at, seen_at, seen_at FROM incoming
    ON CONFLICT (source_id, source_ref) DO UPDATE SET
        last_seen_at = EXCLUDED.last_seen_at,
        raw = EXCLUDED.raw,
        status = CASE
            WHEN listings.raw IS DISTINCT FROM EXCLUDED.raw OR listings.status IN ('delisted', 'expired')
            THEN 'pending' ELSE listings.status END,
        updated_at = CASE
            WHEN listings.raw IS DISTINCT FROM EXCLUDED.raw THEN EXCLUDED.updated_at
            ELSE listings.updated_at END
    RETURNING source_ref
)
SELECT p.source_ref IS NULL AS inserted, p.source_ref IS NOT NULL AND p.raw IS DISTINCT FROM i.raw AS changed
FROM upserted u
JOIN incoming i ON i.source_ref = u.source_ref
LEFT JOIN previous p ON p.source_ref = u.source_ref
"""
TEMPLATE = "(%s::int, %s::text, %s::jsonb, %s::timestamptz)"


@dataclass
class SourceResult:
    """What one source's pull did."""

    source: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    delisted: int = 0
    pages: int = 0
    complete: bool = True
    error: str | None = None
    first_reason: str | None = field(default=None, repr=False)


def upsert_records(
    session: Session, source_id: int, records: list[tuple[str, Any]], now: datetime
) -> tuple[int, int, int]:
    """Upsert (ref, payload) pairs in bulk; return (inserted, updated, unchanged)."""
    if not records:
        return 0, 0, 0
    latest = {ref: payload for ref, payload in records}  # a ref twice in one page: keep the last
    rows = [(source_id, ref, Json(payload), now) for ref, payload in latest.items()]
    with session.connection().connection.cursor() as cursor:
        returned = execute_values(cursor, UPSERT, rows, template=TEMPLATE, page_size=len(rows), fetch=True)
    inserted = sum(1 for was_inserted, _ in returned if was_inserted)
    updated = sum(1 for was_inserted, changed in returned if changed and not was_inserted)
    return inserted, updated, len(returned) - inserted - updated


def _split(source: Source, payloads: Iterable[Any]) -> tuple[list[tuple[str, Any]], list[BadRecord]]:
    good, bad = [], []
    for payload in payloads:
        try:
            good.append((registry.source_ref(source.kind, payload, source.config), payload))
        except Rejected as exc:
            is_json = isinstance(payload, dict | list | int | float | bool) or payload is None
            bad.append(
                BadRecord(
                    stage="ingest",
                    reason=str(exc),
                    source_id=source.id,
                    payload=payload if is_json else None,
                    raw=None if is_json else str(payload)[:10_000],
                )
            )
    return good, bad


def _check_drift(source: Source, result: SourceResult) -> None:
    """Most records refused means the source changed shape: fail loudly, not quietly."""
    limit = float(source.config.get("max_quarantine_share", DEFAULT_MAX_QUARANTINE_SHARE))
    if result.fetched >= DRIFT_MIN_RECORDS and result.quarantined > limit * result.fetched:
        raise SourceError(
            f"{result.quarantined} of {result.fetched} records refused (limit {limit:.0%}); "
            f"the source probably changed shape. First reason: {result.first_reason}"
        )


def _delist_absent(session: Session, source: Source, seen: set[str], now: datetime) -> int:
    """A snapshot source no longer containing a listing means it is gone."""
    result = session.execute(
        update(Listing)
        .where(
            Listing.source_id == source.id,
            Listing.status.in_(("active", "pending")),
            Listing.source_ref.not_in(seen) if seen else text("true"),
        )
        .values(status="delisted", last_checked_at=now)
    )
    return result.rowcount


def ingest_source(
    session: Session, source: Source, client: requests.Session, now: datetime, deadline: float | None = None
) -> SourceResult:
    """Pull one source page by page; errors end up in the result, never raised."""
    result = SourceResult(source=source.name)
    seen: set[str] = set()
    adapter = registry.adapter(source.kind)
    try:
        for page in adapter.pages(source.config, FetchContext(client, source.cursor)):
            with session.begin_nested():
                good, bad = _split(source, page.records)
                quarantine(session, bad)
                inserted, updated, unchanged = upsert_records(session, source.id, good, now)
                if page.cursor is not None:
                    source.cursor = page.cursor
            seen.update(ref for ref, _ in good)
            result.pages += 1
            result.fetched += len(page.records)
            result.quarantined += len(bad)
            result.first_reason = result.first_reason or (bad[0].reason if bad else None)
            result.inserted, result.updated = result.inserted + inserted, result.updated + updated
            result.unchanged += unchanged
            _check_drift(source, result)
            if deadline is not None and time.monotonic() > deadline and page.cursor is not None:
                result.complete = False
                break
        if adapter.snapshot and result.complete and result.pages:
            result.delisted = _delist_absent(session, source, seen, now)
        source.last_success_at = now
    except (SourceError, requests.RequestException, json.JSONDecodeError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        log.warning("source failed", extra={"source": source.name, "error": result.error})
    return result


def ingest_all(
    session: Session,
    now: datetime,
    client: requests.Session | None = None,
    deadline: float | None = None,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """Pull every enabled source (or the named ones); a summary with per-source counts."""
    query = select(Source).where(Source.enabled.is_(True)).order_by(Source.id)
    if sources:
        query = query.where(Source.name.in_(sources))
    client = client or polite_session()
    results = [ingest_source(session, source, client, now, deadline) for source in session.scalars(query)]
    totals = {
        key: sum(getattr(r, key) for r in results)
        for key in ("fetched", "inserted", "updated", "unchanged", "quarantined", "delisted")
    }
    return {
        **totals,
        "sources": {
            r.source: {k: v for k, v in asdict(r).items() if k not in ("source", "first_reason")}
            for r in results
        },
        "errors": [f"{r.source}: {r.error}" for r in results if r.error],
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Batch-stage entry point (kwargs: sources, budget_seconds)."""

    def body(
        session: Session, sources: list[str] | None = None, budget_seconds: float | None = None
    ) -> dict[str, Any]:
        deadline = budget_deadline(context, budget_seconds)
        return ingest_all(session, datetime.now(UTC), deadline=deadline, sources=sources)

    return run_job("ingest", body, event, context)
