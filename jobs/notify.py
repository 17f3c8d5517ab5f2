"""Notify: deliver queued alerts to each user's webhook, or by email, once each.

Alerts are batched per user into one message: Slack-compatible for a webhook, plain text and HTML for a
user who turned email alerts on (models.mail: through SES, from NOOK_MAIL_FROM, to their account's
address; tried again, backing off, like a failed post; SES takes no idempotency key, so a run
stopped between SES taking an email and its commit mails it again). Each user's
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
criteria changed, or the listing's price or size changed), or whose flat the user hid (models.hidden),
is withdrawn. The user
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

A user's saved listings have news too (models.saved): a cut since the price they last heard, or that
the flat went. It goes in the same message as the alerts, as a part of its own (one email, not two),
and is marked told like them, only after a 2xx, backing off when the webhook fails.

A user may ask for their messages at most every so many minutes (alert_every_minutes: an email an hour,
or a day, rather than one every run): a run sends them what is due only if their last message went that
long ago, and then all of it in one message, a digest: the first MAX_PER_MESSAGE alerts and saved
flats' news in full, the rest (up to MAX_PER_DIGEST of each) counted in a line that links to nook's map
page, and all of them in the webhook's data. Nothing goes within a user's quiet hours (a night's
sleep, on their clock): what comes meanwhile waits for their end.

A viewing a user booked of a saved flat is reminded before it (jobs.viewings), first in the message,
whatever their pace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, text
from sqlalchemy.orm import Session

from jobs.mail_feedback import read_feedback
from jobs.messages import Entry, Message, Part, listing_on_nook, nook_page
from jobs.runtime import budget_deadline, past, run_job
from jobs.viewings import lock_viewings, reminders_data, reminders_key, reminders_part, users_with_viewings
from jobs.webhook_post import NoAnswer, WebhookPoster
from models.explain import available_words, last_change, priced_facts, since_saved
from models.listing import Listing
from models.mail import Letter, Mailer, MailNotSent
from models.matching import READY, withdraw_alerts
from models.price_rank import PriceRank
from models.region import Notification, Region
from models.saved import may_have_news, news_condition, saved_flats
from models.session import session_scope
from models.settings import get_settings
from models.user import SavedListing, User, paced_until, quiet_now, unsubscribe_link
from models.webhooks import WebhookNotAllowed

log = logging.getLogger("nook.jobs.notify")

MAX_PER_MESSAGE = 20  # alerts, and saved flats' news, a message shows in full (each)
# alerts, and saved flats' news, a paced user's message covers at most (each): the rest of a day's
# flats beyond the first MAX_PER_MESSAGE are counted, linked to nook's map page, rather than sent later
MAX_PER_DIGEST = 500
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
    """How one user's message went: its alerts (sent, failed, withdrawn instead) and saved flats' news."""

    user_id: int
    sent: int = 0
    failed: int = 0
    withdrawn: int = 0
    news_sent: int = 0
    news_failed: int = 0
    reminders_sent: int = 0
    reminders_failed: int = 0
    error: str | None = None


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, ... minutes, at most six hours."""
    return min(MAX_BACKOFF, timedelta(minutes=2 ** max(0, attempts - 1)))


def _entry(notification: Notification, listing: Listing, region: Region, rank: PriceRank | None) -> Entry:
    lines = [rank.explain(listing)] if rank is not None and listing.price is not None else []
    change = _change(listing)
    if change is not None and change["percent"] < 0:  # a cut can be what brought it into the budget
        lines.append(change["words"])
    if (available := available_words(listing.available_from)) is not None:
        lines.append(available)
    heading = "Price cut" if notification.reason == "price_cut" else None
    entry = Entry(listing.title or "Listing", listing.url, heading, priced_facts(listing), region.name, lines)
    entry.on_nook = listing_on_nook(listing.id)
    return entry


def _change(listing: Listing) -> dict[str, Any] | None:
    """The listing's last change of price as the API gives it (the time as ISO text), or None."""
    change = last_change(listing)
    return None if change is None else change | {"changed_at": change["changed_at"].isoformat()}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _more(shown: list[Any], total: int, what: str) -> dict[str, str | None]:
    """The `more` line of a part that shows `shown` of `total` listings."""
    rest = total - len(shown)
    return {"more": f"And {rest} more {what}." if rest else None, "more_on_nook": nook_page()}


def alerts_part(rows: list[tuple[Notification, Listing, Region, PriceRank | None]]) -> Part:
    """The alerts' part of a message: each new listing and price cut in the user's areas (the first
    MAX_PER_MESSAGE in full, the rest counted)."""
    cuts = sum(1 for n, *_ in rows if n.reason == "price_cut")
    new = len(rows) - cuts
    news = [_plural(new, "new listing")] if new else []
    news += [_plural(cuts, "price cut")] if cuts else []
    shown = rows[:MAX_PER_MESSAGE]
    more = _more(shown, len(rows), "in your areas, on nook's alert list")
    return Part(f"{' and '.join(news)} in your areas", [_entry(*row) for row in shown], **more)


def alerts_data(rows: list[tuple[Notification, Listing, Region, PriceRank | None]]) -> list[dict[str, Any]]:
    """The alerts for a receiver, with their ids (all of them, shown in full or not)."""
    return [
        {
            "id": n.id,
            "reason": n.reason,
            "listing_id": lst.id,
            "region_id": reg.id,
            "price": lst.price,
            "url": lst.url,
            "label": rank.label if rank else None,
            "price_change": _change(lst),
            "available_from": lst.available_from.isoformat() if lst.available_from else None,
            "on_nook": listing_on_nook(lst.id),
        }
        for n, lst, reg, rank in rows
    ]


def cutoff(now: datetime) -> datetime:
    """Alerts queued before this are too old to post (NOOK_ALERT_MAX_AGE_HOURS)."""
    return now - timedelta(hours=get_settings().alert_max_age_hours)


def expire_alerts(session: Session, now: datetime) -> int:
    """Mark the queued alerts past the age limit expired; return how many."""
    return session.execute(EXPIRE, {"cutoff": cutoff(now)}).rowcount


def _due(
    session: Session, user_id: int, now: datetime, limit: int = MAX_PER_MESSAGE
) -> tuple[list[tuple[Notification, Listing, Region, PriceRank | None]], int]:
    """Lock up to `limit` of the user's due alerts that are not too old, oldest first; withdraw those their
    region would no longer send.

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
        .limit(limit)
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


@dataclass
class Posted:
    """How a message's post went: taken (a 2xx), or the error and how long the webhook asked us to wait."""

    error: str | None = None
    wait: timedelta = timedelta(0)

    def retry_at(self, now: datetime, attempts: int) -> datetime:
        """When to try again after `attempts` failed tries: the backoff, or longer if the webhook asked."""
        return now + max(self.wait, backoff(attempts))


@dataclass
class Channels:
    """The ways a message goes: posted to a webhook, or mailed."""

    poster: WebhookPoster = field(default_factory=WebhookPoster)
    mailer: Mailer = field(default_factory=Mailer)

    def reachable(self) -> ColumnElement[bool]:
        """The users a message can reach now: those with a webhook who chose no email, and (when this
        nook sends email) those who chose email."""
        webhook = and_(User.email_alerts.is_(False), User.webhook_url.is_not(None))
        return or_(webhook, User.email_alerts.is_(True)) if self.mailer.enabled else webhook


def at_pace(now: datetime) -> ColumnElement[bool]:
    """The users whose pace lets a message go now (as they come, or their last went long enough ago) and
    who are not within their quiet hours."""
    since_last = func.make_interval(0, 0, 0, 0, 0, User.alert_every_minutes)
    paced = or_(
        User.alert_every_minutes == 0,
        User.last_alerted_at.is_(None),
        User.last_alerted_at <= literal(now) - since_last,
    )
    return and_(paced, ~quiet_now(now))


def _send(channels: Channels, user: User, message: Message, key: str, budget: float | None) -> Posted:
    """Send the message the way the user chose; `key` names its content (the webhook's Idempotency-Key)."""
    if not user.email_alerts:
        return _post(channels.poster, user, message, key, budget)
    public_url = get_settings().public_url
    stop = unsubscribe_link(user, public_url) if public_url else None
    letter = Letter(user.email, message.headline, message.email_text(stop), message.email_html(stop), stop)
    try:
        channels.mailer.send(letter, budget)
    except MailNotSent as exc:
        return Posted(str(exc), min(MAX_BACKOFF, timedelta(seconds=exc.wait_seconds)))
    return Posted()


def _post(poster: WebhookPoster, user: User, message: Message, key: str, budget: float | None) -> Posted:
    body = json.dumps(message.webhook_body(), separators=(",", ":"), allow_nan=False).encode()
    digest = hashlib.sha1(key.encode()).hexdigest()
    try:
        answer = poster.post(user.webhook_url or "", body, {"Idempotency-Key": f"nook-{digest}"}, budget)
    except (NoAnswer, WebhookNotAllowed) as exc:
        return Posted(f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= answer.status < 300:
        return Posted()
    redirect = " (nook follows no redirect)" if 300 <= answer.status < 400 else ""
    # the next try waits as long as asked, up to the longest
    wait = (
        timedelta(0)
        if answer.retry_after is None
        else min(MAX_BACKOFF, timedelta(seconds=answer.retry_after))
    )
    return Posted(f"webhook answered HTTP {answer.status}{redirect}", wait)


def saved_news_due(user_id: int | None, now: datetime, once: bool = True) -> Select:
    """The saved flats of a user (None: of everyone) with news due now (`once`: see saved_flats)."""
    share = get_settings().price_cut_alert_percent / 100
    query = saved_flats(user_id, SavedListing, Listing, once=once)
    return query.where(news_condition(now, cutoff(now), share))


def saved_news(saved: SavedListing, listing: Listing) -> str:
    """What a saved flat's news is: price_cut, gone, or back (on the market after its saver heard it went)."""
    if listing.status != "active":
        return "gone"
    return "back" if saved.told_gone else "price_cut"


def saved_part(rows: list[tuple[SavedListing, Listing]]) -> Part:
    """The saved flats' part of a message: each cut since the price last heard, gone, or back on the
    market (the first MAX_PER_MESSAGE in full, the rest counted)."""
    kinds = [saved_news(*row) for row in rows]
    cuts, gone, back = (kinds.count(kind) for kind in ("price_cut", "gone", "back"))
    news = [_plural(cuts, "price cut")] if cuts else []
    news += [f"{gone} no longer listed"] if gone else []
    news += [f"{back} back on the market"] if back else []
    entries = []
    for (saved, listing), kind in zip(rows[:MAX_PER_MESSAGE], kinds, strict=False):
        words = since_saved(
            saved.told_price,
            listing.price,
            listing.status,
            listing.last_seen_at,
            since="you last heard of it",
        )
        entry = Entry(listing.title or "Listing", listing.url, lines=[words], note=saved.note)
        entry.on_nook = listing_on_nook(listing.id)
        if kind != "gone":
            entry.heading = "Price cut" if kind == "price_cut" else "Back on the market"
            entry.facts = priced_facts(listing)
        entries.append(entry)
    more = _more(entries, len(rows), "of your saved listings, on nook's saved list")
    return Part(f"{' and '.join(news)} among your saved listings", entries, **more)


def saved_data(rows: list[tuple[SavedListing, Listing]]) -> list[dict[str, Any]]:
    """The saved flats' news for a receiver (all of it, shown in full or not)."""
    return [
        {
            "listing_id": listing.id,
            "news": saved_news(saved, listing),
            "status": listing.status,
            "price": listing.price,
            "last_heard_price": saved.told_price,
            "url": listing.url,
            "on_nook": listing_on_nook(listing.id),
            "note": saved.note,
            "stage": saved.stage,
            "rating": saved.rating,
        }
        for saved, listing in rows
    ]


def lock_saved_news(
    session: Session, user_id: int, now: datetime, limit: int = MAX_PER_MESSAGE
) -> list[tuple[SavedListing, Listing]]:
    """Lock up to `limit` of the user's saved flats with news due, first saved first."""
    query = (
        saved_news_due(user_id, now)
        .order_by(SavedListing.saved_at, SavedListing.listing_id)
        .limit(limit)
        .with_for_update(of=SavedListing, skip_locked=True)
    )
    return [(saved, listing) for saved, listing in session.execute(query)]


def _message(rows: list[Any], news: list[Any], reminders: list[Any]) -> tuple[Message, str]:
    """One message of a user's reminders of viewings, alerts and saved flats' news (each part there is),
    and its idempotency key."""
    parts, data, keys = [], {}, []
    if reminders:
        parts.append(reminders_part(reminders))
        data["viewings"] = reminders_data(reminders)
        keys.append(reminders_key(reminders))
    if rows:
        parts.append(alerts_part(rows))
        data["notifications"] = alerts_data(rows)
        keys.append(",".join(str(n.id) for n, *_ in rows))
    if news:
        parts.append(saved_part(news))
        data["saved"] = saved_data(news)
        keys.append(
            "saved:" + ",".join(f"{s.listing_id}:{lst.id}:{lst.price}:{lst.status}" for s, lst in news)
        )
    return Message(parts, data), "|".join(keys)


def _mark_saved(news: list[Any], reminders: list[Any], posted: Posted, now: datetime) -> None:
    """Mark the saved flats' news and reminders told, or back the flats off (once a flat)."""
    for saved, listing in news:
        if posted.error is None:
            saved.told_price = listing.price if listing.status == "active" else saved.told_price
            saved.told_gone = listing.status != "active"
    for saved, *_ in reminders:
        if posted.error is None:
            saved.viewing_told_at = saved.viewing_at
    for saved in {id(row[0]): row[0] for row in news + reminders}.values():
        if posted.error is None:
            saved.news_attempts, saved.news_next_attempt_at, saved.news_error = 0, None, None
        else:
            saved.news_attempts += 1
            saved.news_next_attempt_at = posted.retry_at(now, saved.news_attempts)
            saved.news_error = posted.error


def deliver(
    session: Session, user: User, now: datetime, channels: Channels, budget: float | None = None
) -> Delivery:
    """Send one message of a user's due reminders of viewings, alerts and saved flats' news (a paced
    user's: up to MAX_PER_DIGEST of each, and only reminders while their pace holds messages back); mark
    them sent only after a 2xx (or SES took the email).
    `budget`: seconds the delivery may take at most (the run's time left)."""
    result = Delivery(user.id)
    held = (until := paced_until(user)) is not None and until > now
    limit = MAX_PER_DIGEST if user.alert_every_minutes else MAX_PER_MESSAGE
    rows, result.withdrawn = ([], 0) if held else _due(session, user.id, now, limit)
    news = [] if held else lock_saved_news(session, user.id, now, limit)
    reminders = lock_viewings(session, user.id, now)
    if not rows and not news and not reminders:
        return result
    message, key = _message(rows, news, reminders)
    posted = _send(channels, user, message, key, budget)
    if posted.error is None and (rows or news):  # reminders alone do not start the pace's wait
        user.last_alerted_at = now
    for notification, *_ in rows:
        notification.attempts += 1
        if posted.error is None:
            notification.status, notification.sent_at, notification.last_error = "sent", now, None
            notification.sent_via = "email" if user.email_alerts else "webhook"
        else:
            notification.next_attempt_at = posted.retry_at(now, notification.attempts)
            notification.last_error = posted.error
    _mark_saved(news, reminders, posted, now)
    result.error = posted.error
    if posted.error is None:
        result.sent, result.news_sent, result.reminders_sent = len(rows), len(news), len(reminders)
    else:
        result.failed, result.news_failed, result.reminders_failed = len(rows), len(news), len(reminders)
    return result


def users_with_due_alerts(session: Session, now: datetime, channels: Channels) -> list[int]:
    """Users a message can reach, and whose pace lets one go, with queued alerts that are due (and not
    too old), longest waiting first."""
    return list(
        session.scalars(
            select(User.id)
            .join(Notification, Notification.user_id == User.id)
            .where(
                channels.reachable(),
                at_pace(now),
                Notification.status == "queued",
                Notification.next_attempt_at <= now,
                Notification.created_at >= cutoff(now),
            )
            .group_by(User.id)
            .order_by(func.min(Notification.created_at))
        )
    )


def users_with_saved_news(session: Session, now: datetime, channels: Channels) -> list[int]:
    """Users a message can reach, and whose pace lets one go, with news of their saved flats due; read
    from the saved listings of flats that changed, each row (a flat saved twice through copies may name
    a user whose news the first saved has not: their turn then finds none)."""
    query = (
        saved_news_due(None, now, once=False)
        .where(may_have_news(cutoff(now)))
        .with_only_columns(SavedListing.user_id)
        .join(User, User.id == SavedListing.user_id)
        .where(channels.reachable(), at_pace(now))
        .distinct()
        .order_by(SavedListing.user_id)
    )
    return list(session.scalars(query))


@dataclass
class Turns:
    """What delivering in turns did: messages tried, alerts, saved flats' news and reminders of viewings
    sent or failed, and the users whose message failed (with alerts in it, with news in it)."""

    messages: int = 0
    sent: int = 0
    failed: int = 0
    withdrawn: int = 0
    failing_users: list[int] = field(default_factory=list)
    news_sent: int = 0
    news_failed: int = 0
    news_failing_users: list[int] = field(default_factory=list)
    reminders_sent: int = 0
    reminders_failed: int = 0

    def add(self, delivery: Delivery) -> None:
        self.withdrawn += delivery.withdrawn
        if delivery.error is not None or delivery.sent or delivery.news_sent or delivery.reminders_sent:
            self.messages += 1
        self.reminders_sent += delivery.reminders_sent
        self.reminders_failed += delivery.reminders_failed
        self.sent, self.failed = self.sent + delivery.sent, self.failed + delivery.failed
        self.news_sent, self.news_failed = (
            self.news_sent + delivery.news_sent,
            self.news_failed + delivery.news_failed,
        )
        if delivery.failed:
            self.failing_users.append(delivery.user_id)
        if delivery.news_failed:
            self.news_failing_users.append(delivery.user_id)


def _in_turns(user_ids: list[int], now: datetime, channels: Channels, deadline: float | None) -> Turns:
    """Deliver a message per user in turn, each in its own committed transaction, until none has more or
    the deadline passes (no message is sent past it). A paced user gets one message a run."""
    done = Turns()
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
                paced = user.alert_every_minutes > 0
                budget = None if deadline is None else deadline - time.monotonic()
                delivery = deliver(session, user, now, channels, budget)
            done.add(delivery)
            if delivery.error:
                log.warning("delivery failed", extra={"user_id": user_id, "error": delivery.error})
            elif delivery.sent or delivery.news_sent or delivery.reminders_sent:  # others may be due
                more += [] if paced else [user_id]
            elif delivery.withdrawn:  # all withdrawn: others may be due
                more.append(user_id)
        turn = more
    return done


def notify_all(
    now: datetime,
    poster: WebhookPoster | None = None,
    deadline: float | None = None,
    mailer: Mailer | None = None,
) -> dict[str, Any]:
    """Expire the alerts past the age limit, then deliver every user's due alerts and saved flats' news, a
    message per user in turn, none sent past `deadline` (time.monotonic())."""
    channels = Channels(poster or WebhookPoster(), mailer or Mailer())
    with session_scope() as session:
        expired = expire_alerts(session, now)
        if not channels.mailer.enabled:
            unmailed = session.scalar(select(func.count()).where(User.email_alerts.is_(True)))
            if unmailed:  # they chose email, and it was switched off: their alerts wait, then expire
                log.warning("NOOK_MAIL_FROM is not set: %d users with email alerts get none", unmailed)
    with session_scope() as session:
        user_ids = users_with_due_alerts(session, now, channels)
        saved_user_ids = users_with_saved_news(session, now, channels)
        viewing_user_ids = users_with_viewings(session, now, channels.reachable())
    turn = list(dict.fromkeys(user_ids + saved_user_ids + viewing_user_ids))
    done = _in_turns(turn, now, channels, deadline)
    return {
        "users": len(user_ids),
        "batches": done.messages,
        "sent": done.sent,
        "failed": done.failed,
        "withdrawn": done.withdrawn,
        "expired": expired,
        "failing_users": done.failing_users,
        "saved_news": {
            "users": len(saved_user_ids),
            "sent": done.news_sent,
            "failed": done.news_failed,
            "failing_users": done.news_failing_users,
        },
        "viewings": {
            "users": len(viewing_user_ids),
            "sent": done.reminders_sent,
            "failed": done.reminders_failed,
        },
    }


def read_mail_feedback(deadline: float | None) -> dict[str, Any]:
    """SES's bounces and complaints (jobs.mail_feedback), read before anything is sent; a queue that
    cannot be read now is read next run, and keeps no alert from going."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read_feedback(deadline)
    except (BotoCoreError, ClientError) as exc:
        log.warning("mail feedback not read", extra={"error": str(exc)[:300]})
        return {"error": str(exc)[:300]}


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Batch-stage entry point (kwargs: budget_seconds). Each user's batch commits on its own."""

    def body(_session: Session, budget_seconds: float | None = None) -> dict[str, Any]:
        deadline = budget_deadline(context, budget_seconds)
        feedback = read_mail_feedback(deadline)  # first: an address that bounced gets no more email
        return {**notify_all(datetime.now(UTC), deadline=deadline), "mail_feedback": feedback}

    # runs side by side: each user's alerts are taken with SKIP LOCKED
    return run_job("notify", body, event, context, exclusive=False)
