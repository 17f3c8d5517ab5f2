"""Process: pending raw listings -> clean, located, deduplicated, matched to regions.

Each pending listing is validated with the shared rules (models.normalize);
valid ones become `active` with a POINT geometry, impossible ones become
`rejected` and are quarantined with the reason; an impossible update of a listing
nook has shown is quarantined and the listing stays up as it last was valid (as
the stream stage keeps it). New listings that repeat one
from another source point at it (at one live before the batch, else at the
older: the copy that went live first stays shown); canonical ones inside a
user's region (and criteria) queue one notification per (region, listing).
The listings of a source whose config nook cannot use (its mapping edited to
something nook cannot read) wait, pending, until it is mended: the run does the
rest and fails naming the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jobs.runtime import budget_deadline, past, report_progress, run_job
from jobs.sources import registry
from jobs.sources.base import SourceError
from models.activation import activate
from models.listing import Listing
from models.matching import (
    DEDUPE_METRES,
    PRICE_TOLERANCE,
    mark_duplicates,
    match_regions,
    refresh_listing_statistics,
)
from models.normalize import CleanListing, Rejected, clean_listing
from models.quarantine import BadRecord, quarantine
from models.ranking import rank_listings
from models.source import Source


@dataclass
class BatchResult:
    """Counts of one processed batch."""

    activated: int = 0
    rejected: int = 0
    kept: int = 0  # of the rejected: updates refused, the listing kept as it last was valid
    duplicates: int = 0
    notifications: int = 0
    analyzed: bool = False


def process_batch(
    session: Session,
    now: datetime,
    batch_size: int = 2000,
    metres: float = DEDUPE_METRES,
    tolerance: float = PRICE_TOLERANCE,
    changed_before: int = 0,
    held: frozenset[int] = frozenset(),
) -> BatchResult | None:
    """Process up to `batch_size` pending listings (none of the `held` sources'); None when nothing is
    pending.

    `changed_before` is how many listings this run changed since statistics were last
    refreshed (see refresh_listing_statistics).
    """
    pending = session.execute(
        select(Listing.id, Listing.source_id, Listing.source_ref, Listing.raw, Source.kind, Source.config)
        .join(Source, Source.id == Listing.source_id)
        .where(Listing.status == "pending", Listing.source_id.not_in(list(held)))
        .order_by(Listing.id)
        .limit(batch_size)
        .with_for_update(of=Listing, skip_locked=True)
    ).all()
    if not pending:
        return None
    good: list[tuple[int, CleanListing]] = []
    bad: list[tuple[int, BadRecord]] = []
    for row in pending:
        try:
            good.append(
                (row.id, clean_listing(row.raw, registry.mapping(row.kind, row.config), row.source_ref))
            )
        except Rejected as exc:
            bad.append(
                (
                    row.id,
                    BadRecord(
                        stage="process",
                        reason=str(exc),
                        source_id=row.source_id,
                        source_ref=row.source_ref,
                        payload=row.raw,
                    ),
                )
            )
    activate(session, good, now)
    kept = 0
    if bad:
        refused = [lid for lid, _ in bad]
        session.execute(
            update(Listing)
            .where(Listing.id.in_(refused), Listing.geom.is_(None))
            .values(status="rejected", processed_at=now, canonical_id=None)
        )
        # an update nook cannot use does not take down the listing it showed (its clean columns and
        # geometry are the last valid version): taken down, it was gone until the source mended it
        kept = session.execute(
            update(Listing)
            .where(Listing.id.in_(refused), Listing.geom.is_not(None))
            .values(status="active", processed_at=now)
        ).rowcount
        quarantine(session, [record for _, record in bad])
    active_ids = [lid for lid, _ in good]
    analyzed = refresh_listing_statistics(session, changed_before + len(pending))
    duplicates = mark_duplicates(session, active_ids, metres, tolerance)
    rank_listings(session, active_ids, now)  # so alerts and the API can explain prices right away
    notifications = match_regions(session, active_ids, now)
    return BatchResult(len(good), len(bad), kept, len(duplicates), notifications, analyzed)


def process_pending(
    session: Session, now: datetime, batch_size: int = 2000, deadline: float | None = None, **options: float
) -> dict[str, Any]:
    """Process every pending listing, batch by batch; no batch starts after `deadline` (time.monotonic()),
    so a backlog larger than one run can take is worked through over several (a run Lambda stops commits
    nothing), and the run says whether it finished."""
    totals = BatchResult()
    batches, since_analyze, finished = 0, 0, True
    held = misconfigured(session)
    pending = session.scalar(
        select(func.count())
        .select_from(Listing)
        .where(Listing.status == "pending", Listing.source_id.not_in(list(held)))
    )
    while (
        batch := process_batch(
            session, now, batch_size, changed_before=since_analyze, held=frozenset(held), **options
        )
    ) is not None:
        batches += 1
        since_analyze = 0 if batch.analyzed else since_analyze + batch.activated + batch.rejected
        for key in ("activated", "rejected", "kept", "duplicates", "notifications"):
            setattr(totals, key, getattr(totals, key) + getattr(batch, key))
        report_progress("process", totals.activated + totals.rejected, pending)
        if past(deadline):
            finished = False
            break
    return {
        "batches": batches,
        "activated": totals.activated,
        "rejected": totals.rejected,
        "kept_as_last_valid": totals.kept,
        "duplicates": totals.duplicates,
        "notifications": totals.notifications,
        "finished": finished,
        "errors": list(held.values()),
    }


def misconfigured(session: Session) -> dict[int, str]:
    """The sources with pending listings whose config nook cannot use, each with what is wrong and how
    many listings wait for it (a mapping value of the wrong kind failed every batch of every source)."""
    waiting = (
        select(Listing.source_id, func.count().label("listings"))
        .where(Listing.status == "pending")
        .group_by(Listing.source_id)
        .subquery()
    )
    held = {}
    for source in session.execute(
        select(Source.id, Source.name, Source.kind, Source.config, waiting.c.listings).join(
            waiting, waiting.c.source_id == Source.id
        )
    ):
        try:
            registry.check_config(source.kind, source.config)
        except SourceError as exc:
            held[source.id] = f"{source.name}: {exc} ({source.listings:,} listing(s) wait, pending)"
    return held


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Batch-stage entry point (kwargs: batch_size, metres, tolerance, budget_seconds)."""

    def body(session: Session, budget_seconds: float | None = None, **options: Any) -> dict[str, Any]:
        deadline = budget_deadline(context, budget_seconds)
        return process_pending(session, datetime.now(UTC), deadline=deadline, **options)

    return run_job("process", body, event, context)
