"""Ingest: pull every enabled source incrementally into `listings` (raw, idempotent).

Each page is upserted in bulk by (source_id, source_ref) inside its own
savepoint, and the source's cursor advances with it; so a crash or an error
mid-way loses nothing that was committed and a re-run duplicates nothing.
Records without an id are quarantined with the reason. One failing source
does not stop the others, but the run ends as failed and says which. Runs may
meet (a run takes up to 14 minutes; one starts every 10): a source another run
is pulling is skipped, so no site is pulled twice at once and no run waits on
another's rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy import select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from jobs.http import OVERRUN, polite_session, stop_requests
from jobs.pipeline import prefetched
from jobs.runtime import (
    SOURCE_LOCKS,
    JobFailed,
    budget_deadline,
    held_by,
    past,
    report_progress,
    run_job,
    take_lock,
)
from jobs.sources import registry
from jobs.sources.base import FetchContext, Page, SourceError
from models.listing import Listing
from models.normalize import Rejected
from models.quarantine import BadRecord, quarantine
from models.source import Source
from models.upsert import EncodedPage, encode_page, write_page

log = logging.getLogger("nook.jobs.ingest")

DRIFT_MIN_RECORDS = 50
DEFAULT_MAX_QUARANTINE_SHARE = 0.5


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
    skipped: str | None = None  # why the source was not pulled this run
    first_reason: str | None = field(default=None, repr=False)


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


@dataclass
class PreparedPage:
    """A fetched page, split into good and bad records, the good ones encoded for COPY."""

    page: Page
    encoded: EncodedPage
    refs: list[str]
    bad: list[BadRecord]


def _as_text(payload: Any) -> str:
    """A refused record as escaped JSON text, as it came (first 10,000 characters)."""
    try:
        return json.dumps(payload, default=str)[:10_000]
    except RecursionError:
        return "(a record nested too deeply to write out)"


def _prepare(source: Source, page: Page) -> PreparedPage:
    good, bad = _split(source, page.records)
    encoded = encode_page(good)
    refused = {ref for ref, _, _ in encoded.refused}
    bad += [  # kept as escaped text, as it came: not as a jsonb it cannot be
        BadRecord(
            stage="ingest",
            reason=reason,
            source_id=source.id,
            source_ref=ref,
            raw=_as_text(payload),
        )
        for ref, payload, reason in encoded.refused
    ]
    return PreparedPage(page, encoded, [ref for ref, _ in good if ref not in refused], bad)


def _write(
    session: Session, source: Source, prepared: PreparedPage, now: datetime, result: SourceResult
) -> None:
    with session.begin_nested():  # one savepoint per page: an error loses at most this page
        quarantine(session, prepared.bad)
        inserted, updated, unchanged = write_page(session, source.id, prepared.encoded, now)
        if prepared.page.cursor is not None:
            source.cursor = prepared.page.cursor
    result.pages += 1
    result.fetched += len(prepared.page.records)
    result.quarantined += len(prepared.bad)
    result.first_reason = result.first_reason or (prepared.bad[0].reason if prepared.bad else None)
    result.inserted, result.updated = result.inserted + inserted, result.updated + updated
    result.unchanged += unchanged


def ingest_source(
    session: Session, source: Source, client: requests.Session, now: datetime, deadline: float | None = None
) -> SourceResult:
    """Pull one source page by page; errors end up in the result, never raised.

    The next page is fetched and encoded in a worker thread while this one is
    written, so the network, Python and PostgreSQL work side by side.
    """
    result = SourceResult(source=source.name)
    if not take_lock(session, SOURCE_LOCKS, source.id):  # held until this run commits
        result.complete = False
        result.skipped = f"another run is pulling this source{held_by(session, SOURCE_LOCKS, source.id)}"
        log.info("source skipped", extra={"source": source.name, "reason": result.skipped})
        return result
    seen: set[str] = set()
    try:
        registry.check_config(source.kind, source.config)
        adapter = registry.adapter(source.kind)
        pages = adapter.pages(source.config, FetchContext(client, source.cursor, now=now))
        for prepared in prefetched(pages, lambda page: _prepare(source, page)):
            _write(session, source, prepared, now, result)
            seen.update(prepared.refs)
            report_progress(source.name, result.fetched, prepared.page.total)
            _check_drift(source, result)
            if past(deadline) and prepared.page.cursor is not None:
                result.complete = False
                break
        if adapter.snapshot and result.complete and result.pages:
            result.delisted = _delist_absent(session, source, seen, now)
        source.last_success_at = now
    except (SourceError, requests.RequestException, json.JSONDecodeError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        log.warning("source failed", extra={"source": source.name, "error": result.error})
    except SQLAlchemyError:
        raise  # the database's trouble is the run's
    except Exception as exc:  # a source's own trouble, however unforeseen, fails that source alone
        result.error = f"{type(exc).__name__}: {exc}"
        log.error("source failed unexpectedly", exc_info=True, extra={"source": source.name})
    return result


def ingest_all(
    session: Session,
    now: datetime,
    client: requests.Session | None = None,
    deadline: float | None = None,
    sources: list[str] | None = None,
    overrun: float = OVERRUN,
) -> dict[str, Any]:
    """Pull every enabled source (or the named ones); a summary with per-source counts. No page is begun
    after `deadline` (time.monotonic()) unless the source cannot resume, and no request runs on more than
    `overrun` seconds after it."""
    query = select(Source).where(Source.enabled.is_(True), Source.kind != "stream").order_by(Source.id)
    if sources:
        query = query.where(Source.name.in_(sources))
    client = client or polite_session()
    stop_requests(client, deadline, overrun)
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


def ingest_one_source(source_name: str, budget_seconds: float | None = None) -> dict[str, Any]:
    """One source's pull as its own job run: what the fan-out dispatches."""

    def body(session: Session) -> dict[str, Any]:
        return ingest_all(
            session, datetime.now(UTC), deadline=budget_deadline(None, budget_seconds), sources=[source_name]
        )

    return run_job(f"ingest:{source_name}"[:63], body, None, None, exclusive=False)  # sources lock alone


def dispatch_per_source(session: Session, budget_seconds: float | None = None) -> dict[str, Any]:
    """Dispatch one ingest per enabled source with zappa.asynchronous.task.

    On Lambda each source becomes an asynchronous invocation of this same (batch)
    function; anywhere else the task runs here, in-process, one after the other.
    """
    from zappa.asynchronous import task

    names = list(
        session.scalars(
            select(Source.name).where(Source.enabled.is_(True), Source.kind != "stream").order_by(Source.id)
        )
    )
    dispatched, results, errors = [], {}, []
    for name in names:
        try:
            outcome = task(ingest_one_source)(name, budget_seconds)
        except JobFailed as exc:
            errors.append(str(exc))
            continue
        if isinstance(outcome, dict):
            results[name] = outcome.get("sources", {}).get(name, outcome)
        else:
            dispatched.append(name)
    return {"dispatched": dispatched, "ran_here": results, "errors": errors}


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Batch-stage entry point (kwargs: sources, budget_seconds, fan_out)."""

    def body(
        session: Session,
        sources: list[str] | None = None,
        budget_seconds: float | None = None,
        fan_out: bool = False,
    ) -> dict[str, Any]:
        if fan_out:
            return dispatch_per_source(session, budget_seconds)
        deadline = budget_deadline(context, budget_seconds)
        return ingest_all(session, datetime.now(UTC), deadline=deadline, sources=sources)

    # runs side by side: each source is pulled by one run at a time (ingest_source)
    return run_job("ingest", body, event, context, exclusive=False)
