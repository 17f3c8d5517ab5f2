"""Notify: deliver queued alerts to each user's webhook, exactly once.

Alerts are batched per user into one Slack-compatible message. Each user's
batch is its own transaction: the rows are locked (SKIP LOCKED, so parallel
runs never send the same alert), posted, and marked sent only after a 2xx —
then committed at once. A failed delivery stays queued with exponential
backoff (or as long as the webhook's Retry-After asks, up to six hours); nothing
is lost while the webhook is down. A delivery has a deadline (jobs/webhook_post),
so one slow or hostile webhook cannot hold the job from everybody else's. Each
message carries an Idempotency-Key so a receiver can drop the rare repeat after
a crash between its 2xx and our commit, or an answer that came too late.

An alert is sent only if its region would still send it when its turn comes: one
whose listing is no longer shown (taken down, expired, or found to be a copy of a
flat another source lists), or that its region no longer contains or wants (redrawn,
criteria changed, or the listing's price or size changed) is withdrawn. The user
would otherwise follow a link to a flat that is gone (/v1/alerts already leaves
those out) or hear of one they asked not to. Should the listing come back, or come
to fit, placing it again queues a fresh alert. A flat that passes to a copy from another
source while its alert is being sent gets a second alert on the copy, which waits for the
send: sent, it is withdrawn; failed, it goes in the first one's place.

An alert is news only for so long: one no webhook took within NOOK_ALERT_MAX_AGE_HOURS (72)
of being queued (its user had no webhook yet, or theirs was down all that time) is marked
expired and never posted, so setting a webhook, or one coming back, brings the last days'
alerts, not months of flats in dozens of messages. The run takes users in turns, a batch each,
so one user's long backlog cannot spend the run's time before anyone else's alerts go.

A region told of a flat hears of it again when its price is cut by NOOK_PRICE_CUT_ALERT_PERCENT (3)
or more (models.matching queues the alert again, for that reason): the message says "price cut" and
from what price.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from jobs.runtime import budget_deadline, past, run_job
from jobs.webhook_post import NoAnswer, WebhookPoster
from models.explain import last_change
from models.listing import Listing
from models.matching import READY, withdraw_alerts
from models.price_rank import PriceRank
from models.region import Notification, Region
from models.session import session_scope
from models.settings import get_settings
from models.user import User
from models.webhooks import WebhookNotAllowed

log = logging.getLogger("nook.jobs.notify")

MAX_PER_MESSAGE = 20
MAX_BACKOFF = timedelta(hours=6)
# Alerts past the age limit (queued before :cutoff) are marked expired; one a run is sending right now
# is left to it (SKIP LOCKED: sent, it stays sent; failed, the next run expires it). The ids go as an
# array, so the update reads them through the key whatever the planner guesses of the old queued rows
# (as `id IN (...)` it could read every alert there is to join them).
EXPIRE = text("""
UPDATE notifications SET status = 'expired'
WHERE id = ANY(ARRAY(
    SELECT id FROM notifications
    WHERE status = 'queued' AND created_at < :cutoff
    FOR UPDATE SKIP LOCKED
))
""")


@dataclass
class Delivery:
    """How one user's batch went."""

    user_id: int
    sent: int = 0
    failed: int = 0
    withdrawn: int = 0
    error: str | None = None


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, ... minutes, at most six hours."""
    return min(MAX_BACKOFF, timedelta(minutes=2 ** max(0, attempts - 1)))


def _line(notification: Notification, listing: Listing, region: Region, rank: PriceRank | None) -> str:
    facts = [f"${listing.price:,}", "studio" if listing.bedrooms == 0 else f"{listing.bedrooms} bd"]
    if listing.bathrooms is not None:
        facts.append(f"{listing.bathrooms:g} ba")
    if listing.sqft:
        facts.append(f"{listing.sqft:,} sqft")
    title = (listing.title or "Listing").replace(">", "").replace("|", "/")
    text = f"*<{listing.url}|{title}>*" if listing.url else f"*{title}*"
    if notification.reason == "price_cut":
        text = "Price cut: " + text
    text += f"\n{' · '.join(facts)} · in _{region.name}_"
    if rank is not None and listing.price is not None:
        text += "\n" + rank.explain(listing)
    change = _change(listing)
    if change is not None and change["percent"] < 0:  # a cut can be what brought it into the budget
        text += "\n" + change["words"]
    return text


def _change(listing: Listing) -> dict[str, Any] | None:
    """The listing's last change of price as the API gives it (the time as ISO text), or None."""
    change = last_change(listing)
    return None if change is None else change | {"changed_at": change["changed_at"].isoformat()}


def build_message(rows: list[tuple[Notification, Listing, Region, PriceRank | None]]) -> dict[str, Any]:
    """A Slack-compatible message (text + blocks) with the alerts' ids for the receiver."""
    cuts = sum(1 for n, *_ in rows if n.reason == "price_cut")
    new = len(rows) - cuts
    news = [f"{new} new listing{'s' if new != 1 else ''}"] if new else []
    news += [f"{cuts} price cut{'s' if cuts != 1 else ''}"] if cuts else []
    headline = f"{' and '.join(news)} in your areas"
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": headline}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": _line(*row)}} for row in rows]
    return {
        "text": headline,
        "blocks": blocks,
        "nook": {
            "notifications": [
                {
                    "id": n.id,
                    "reason": n.reason,
                    "listing_id": lst.id,
                    "region_id": reg.id,
                    "price": lst.price,
                    "url": lst.url,
                    "label": rank.label if rank else None,
                    "price_change": _change(lst),
                }
                for n, lst, reg, rank in rows
            ]
        },
    }


def cutoff(now: datetime) -> datetime:
    """Alerts queued before this are too old to post (NOOK_ALERT_MAX_AGE_HOURS)."""
    return now - timedelta(hours=get_settings().alert_max_age_hours)


def expire_alerts(session: Session, now: datetime) -> int:
    """Mark the queued alerts past the age limit expired; return how many."""
    return session.execute(EXPIRE, {"cutoff": cutoff(now)}).rowcount


def _due(
    session: Session, user_id: int, now: datetime
) -> tuple[list[tuple[Notification, Listing, Region, PriceRank | None]], int]:
    """Lock a batch of the user's due alerts that are not too old; withdraw those their region would no
    longer send.

    Returns the rows to send and how many were withdrawn."""
    locked = (
        select(Notification.id)
        .where(
            Notification.user_id == user_id,
            Notification.status == "queued",
            Notification.next_attempt_at <= now,
            Notification.created_at >= cutoff(now),
            READY,
        )
        .order_by(Notification.created_at, Notification.id)
        .limit(MAX_PER_MESSAGE)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(locked))
    if not ids:
        return [], 0
    withdrawn = withdraw_alerts(session, ids)
    ids = [i for i in ids if i not in withdrawn]
    if not ids:
        return [], len(withdrawn)
    query = (
        select(Notification, Listing, Region, PriceRank)
        .join(Listing, Listing.id == Notification.listing_id)
        .join(Region, Region.id == Notification.region_id)
        .outerjoin(PriceRank, PriceRank.listing_id == Listing.id)
        .where(Notification.id.in_(ids))
        .order_by(Notification.created_at, Notification.id)
    )
    return [tuple(row) for row in session.execute(query)], len(withdrawn)  # type: ignore[misc]


def deliver_to_user(
    session: Session, user: User, now: datetime, poster: WebhookPoster, budget: float | None = None
) -> Delivery:
    """Send one batch of a user's due alerts; mark them sent only after a 2xx. `budget`: seconds the
    delivery may take at most (the run's time left)."""
    result = Delivery(user.id)
    rows, result.withdrawn = _due(session, user.id, now)
    if not rows:
        return result
    notifications = [row[0] for row in rows]
    key = hashlib.sha1(",".join(str(n.id) for n in notifications).encode()).hexdigest()
    body = json.dumps(build_message(rows), separators=(",", ":"), allow_nan=False).encode()
    wait = timedelta(0)
    try:
        answer = poster.post(user.webhook_url or "", body, {"Idempotency-Key": f"nook-{key}"}, budget)
    except (NoAnswer, WebhookNotAllowed) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    else:
        if 200 <= answer.status < 300:
            for notification in notifications:
                notification.status, notification.sent_at = "sent", now
                notification.attempts += 1
                notification.last_error = None
            result.sent = len(notifications)
            return result
        redirect = " (nook follows no redirect)" if 300 <= answer.status < 400 else ""
        result.error = f"webhook answered HTTP {answer.status}{redirect}"
        if answer.retry_after is not None:  # the next try waits as long as asked, up to the longest
            wait = min(MAX_BACKOFF, timedelta(seconds=answer.retry_after))
    result.failed = len(notifications)
    for notification in notifications:
        notification.attempts += 1
        notification.next_attempt_at = now + max(wait, backoff(notification.attempts))
        notification.last_error = result.error
    return result


def users_with_due_alerts(session: Session, now: datetime) -> list[int]:
    """Users with a webhook and queued alerts that are due (and not too old), longest waiting first."""
    return list(
        session.scalars(
            select(User.id)
            .join(Notification, Notification.user_id == User.id)
            .where(
                User.webhook_url.is_not(None),
                Notification.status == "queued",
                Notification.next_attempt_at <= now,
                Notification.created_at >= cutoff(now),
            )
            .group_by(User.id)
            .order_by(func.min(Notification.created_at))
        )
    )


def notify_all(
    now: datetime, poster: WebhookPoster | None = None, deadline: float | None = None
) -> dict[str, Any]:
    """Expire the alerts past the age limit, then deliver every user's due alerts, a batch per user in
    turn, each batch in its own committed transaction, none posted past `deadline` (time.monotonic())."""
    poster = poster or WebhookPoster()
    with session_scope() as session:
        expired = expire_alerts(session, now)
    with session_scope() as session:
        user_ids = users_with_due_alerts(session, now)
    sent = failed = withdrawn = batches = 0
    failing_users = []
    turn = user_ids
    while turn and not past(deadline):
        more = []  # the users who may have more due after this turn
        for user_id in turn:
            if past(deadline):
                break
            with session_scope() as session:
                user = session.get(User, user_id)
                if user is None:  # deleted their account meanwhile (with their alerts)
                    continue
                budget = None if deadline is None else deadline - time.monotonic()
                delivery = deliver_to_user(session, user, now, poster, budget)
            withdrawn += delivery.withdrawn
            if delivery.sent or delivery.failed:
                batches += 1
                sent, failed = sent + delivery.sent, failed + delivery.failed
            if delivery.error:
                failing_users.append(user_id)
                log.warning("webhook delivery failed", extra={"user_id": user_id, "error": delivery.error})
            elif delivery.sent or delivery.withdrawn:  # a batch sent or all withdrawn: others may be due
                more.append(user_id)
        turn = more
    return {
        "users": len(user_ids),
        "batches": batches,
        "sent": sent,
        "failed": failed,
        "withdrawn": withdrawn,
        "expired": expired,
        "failing_users": failing_users,
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Batch-stage entry point (kwargs: budget_seconds). Each user's batch commits on its own."""

    def body(_session: Session, budget_seconds: float | None = None) -> dict[str, Any]:
        return notify_all(datetime.now(UTC), deadline=budget_deadline(context, budget_seconds))

    # runs side by side: each user's alerts are taken with SKIP LOCKED
    return run_job("notify", body, event, context, exclusive=False)
