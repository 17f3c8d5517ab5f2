"""Recheck statuses: active listings the source no longer has become delisted or expired.

Listings not seen for `expire_after_days` expire without a request. The rest
are checked oldest-checked first within a time budget that fits Lambda's
900 s (no page check starts after it, and each is bounded: two tries of 3 s to
connect and 10 s to answer, a Retry-After over 30 s is not waited for); the next
run continues where this one stopped. A canonical listing
that goes hands its duplicates to the oldest remaining one.

The scheduled run checks each batch in a transaction of its own: a batch holds its listings' rows (FOR
UPDATE) while their pages are asked, and in the run's one transaction it held them until the run ended,
so a partner's removal of a listing checked early waited for the whole run (27 s of the demo's 109; a run
may take 10 minutes). The run's own transaction keeps its advisory lock (jobs.runtime) and does
the steps that follow the checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobs.http import polite_session, stop_requests
from jobs.runtime import budget_deadline, past, report_progress, run_job
from jobs.sources import registry
from jobs.sources.base import Unanswered
from models.listing import Listing
from models.matching import (
    mark_recent_copies,
    mend_copies,
    place_in_regions,
    promote_duplicates,
    prune_region_members,
)
from models.session import session_scope
from models.source import Source

PAGE_CHECK_TIMEOUT = (3.05, 10.0)  # connect, read


def expire_stale(session: Session, now: datetime, expire_after_days: float) -> list[int]:
    """Active listings not seen for the given days become expired; return their ids."""
    cutoff = now - timedelta(days=expire_after_days)
    return list(
        session.scalars(
            update(Listing)
            .where(Listing.status == "active", Listing.last_seen_at < cutoff)
            .values(status="expired", last_checked_at=now)
            .returning(Listing.id)
        )
    )


def _check_one(row: Any, client: requests.Session, deadline: float | None) -> str | None:
    """The listing's verdict, or None if the run's time was up before its turn."""
    if past(deadline):
        return None
    try:
        return registry.adapter(row.kind).check(row.config, row.source_ref, row.url, client)
    except Exception as exc:  # a broken check is "unknown", never a reason to delist
        return Unanswered(f"the {row.kind} check failed: {type(exc).__name__}")


def check_batch(
    session: Session,
    now: datetime,
    client: requests.Session,
    started: datetime,
    batch_size: int,
    workers: int,
    deadline: float | None = None,
) -> tuple[int, list[int], Counter[str | None], Counter[str]] | None:
    """Check the next batch not yet checked in this run; (checked, gone ids, verdicts, why unknown) or
    None. No check starts after `deadline` (time.monotonic()): the listings left wait for the next run,
    unchecked."""
    rows = session.execute(
        select(Listing.id, Listing.source_ref, Listing.url, Source.kind, Source.config)
        .join(Source, Source.id == Listing.source_id)
        .where(
            Listing.status == "active",
            (Listing.last_checked_at.is_(None)) | (Listing.last_checked_at < started),
        )
        .order_by(Listing.last_checked_at.asc().nulls_first(), Listing.id)
        .limit(batch_size)
        .with_for_update(of=Listing, skip_locked=True)
    ).all()
    if not rows:
        return None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda row: _check_one(row, client, deadline), rows))
    checked = [row.id for row, verdict in zip(rows, verdicts, strict=True) if verdict is not None]
    gone = [row.id for row, verdict in zip(rows, verdicts, strict=True) if verdict == "gone"]
    session.execute(update(Listing).where(Listing.id.in_(checked)).values(last_checked_at=now))
    if gone:
        session.execute(update(Listing).where(Listing.id.in_(gone)).values(status="delisted"))
    why = Counter(verdict.reason for verdict in verdicts if isinstance(verdict, Unanswered))
    return len(checked), gone, Counter(verdicts), why


def recheck(
    session: Session,
    now: datetime,
    client: requests.Session | None = None,
    deadline: float | None = None,
    expire_after_days: float = 30,
    batch_size: int = 200,
    workers: int = 4,
    copies_within_hours: float = 24,
    own_transactions: Callable[[], AbstractContextManager[Session]] | None = None,
) -> dict[str, Any]:
    """Expire stale listings, then check the rest until done or out of time; then count copies of a flat
    that went live in the last `copies_within_hours` once, and mend copies left pointing at a gone one.
    `own_transactions` (a session scope): the expiry and each batch are committed on their own, and let
    go of their rows then; else all is done in `session`."""
    scope = own_transactions or (lambda: nullcontext(session))
    # a page check takes at most two tries of 3 s to connect and 10 s to answer: the run's margin
    # (budget_deadline's minute) covers the checks under way when its time is up
    client = client or polite_session(retries=1, timeout=PAGE_CHECK_TIMEOUT)
    stop_requests(client, deadline)
    with scope() as work:
        expired = expire_stale(work, now, expire_after_days)
    checked, verdicts, delisted = 0, Counter[str | None](), []
    reasons = Counter[str]()
    finished = True
    while True:
        if past(deadline):
            finished = False
            break
        with scope() as work:
            batch = check_batch(work, now, client, now, batch_size, workers, deadline)
        if batch is None:
            break
        checked += batch[0]
        report_progress("recheck", checked, None)
        delisted += batch[1]
        verdicts += batch[2]
        reasons += batch[3]
    copies = mark_recent_copies(session, now - timedelta(hours=copies_within_hours))
    # the listings that went in this run, and any other gone original an active copy points at
    heirs = promote_duplicates(session, list({*expired, *delisted, *mend_copies(session)}))
    place_in_regions(session, heirs)  # heirs of canonical listings that went take their place in regions
    pruned = prune_region_members(session)  # and the copies marked just now leave theirs
    return {
        "expired": len(expired),
        "checked": checked,
        "delisted": len(delisted),
        # asked with no answer to go by (a site down, limiting, refusing); worth a look when it grows
        "unknown": verdicts["unknown"],
        "unknown_why": dict(reasons.most_common(5)),  # the commonest reasons, with how many each
        # nothing to ask: no page given (a partner's listing without a url) or a file's rows (csv)
        "unchecked": verdicts["unchecked"],
        "promoted": len(heirs),
        "copies_marked": len(copies),
        "region_memberships_pruned": pruned,
        "finished": finished,
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Batch-stage entry point (kwargs: expire_after_days, batch_size, workers, budget_seconds)."""

    def body(session: Session, budget_seconds: float | None = None, **options: Any) -> dict[str, Any]:
        return recheck(
            session,
            datetime.now(UTC),
            deadline=budget_deadline(context, budget_seconds),
            own_transactions=session_scope,
            **options,
        )

    return run_job("recheck_statuses", body, event, context)
