"""Reminders of the viewings renters booked of their saved flats (models.saved): a part of the notify
job's message to the saver, as long before each viewing as they chose (`viewing_reminder_minutes` of
PATCH /v1/me; NOOK_VIEWING_REMINDER_HOURS unless they did), once a time.

A reminder is not held back by the saver's pace (it is the message they asked for, at a time of their
choosing, and a digest a day would bring it after the viewing): a held-back user gets a message of their
reminders alone, and their alerts wait for their pace. Quiet hours hold reminders back like any message;
a viewing within them is reminded before they begin (models.saved.viewing_condition).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Row, Select, func, literal
from sqlalchemy.orm import Session

from jobs.messages import Entry, Part, listing_on_nook
from models.explain import priced_facts
from models.listing import Listing
from models.saved import saved_flats, viewing_condition, viewing_local
from models.user import SavedListing, User, quiet_now

MAX_REMINDERS = 20  # reminders a message holds (more are left for the next run's message)


def viewings_due(user_id: int | None, now: datetime, once: bool = True) -> Select:
    """The saved flats of a user (None: of everyone) whose viewing is to be reminded now, with the
    viewing's time and now on the clock it was booked on (`local`, `local_now`; `once`: see
    saved_flats)."""
    local_now = func.timezone(SavedListing.viewing_time_zone, literal(now, DateTime(timezone=True)))
    return (
        saved_flats(
            user_id,
            SavedListing,
            Listing,
            viewing_local().label("local"),
            local_now.label("local_now"),
            once=once,
        )
        .join(User, User.id == SavedListing.user_id)
        .where(viewing_condition(now))
    )


def lock_viewings(session: Session, user_id: int, now: datetime) -> list[Row]:
    """Lock the user's saved flats with a viewing to remind now (up to MAX_REMINDERS), soonest first."""
    query = (
        viewings_due(user_id, now)
        .order_by(SavedListing.viewing_at, SavedListing.listing_id)
        .limit(MAX_REMINDERS)
        .with_for_update(of=SavedListing, skip_locked=True)
    )
    return list(session.execute(query))


def users_with_viewings(session: Session, now: datetime, reachable: Any) -> list[int]:
    """Users a message can reach (`reachable`, in SQL), not within their quiet hours, with a viewing to
    be reminded of now, whatever their pace (each saved listing read: see users_with_saved_news)."""
    query = (
        viewings_due(None, now, once=False)
        .with_only_columns(SavedListing.user_id)
        .where(reachable, ~quiet_now(now))
        .distinct()
        .order_by(SavedListing.user_id)
    )
    return list(session.scalars(query))


def when(local: datetime, local_now: datetime) -> str:
    """A viewing's time as its saver would say it: "today at 18:00", "tomorrow at 09:30", "on Saturday
    5 December at 18:00" (on the clock it was booked on)."""
    days = (local.date() - local_now.date()).days
    day = {0: "today", 1: "tomorrow"}.get(days) or f"on {local:%A} {local.day} {local:%B}"
    return f"{day} at {local:%H:%M}"


def _entry(saved: SavedListing, listing: Listing, local: datetime, local_now: datetime) -> Entry:
    lines = [f"At {listing.address}"] if listing.address else []
    if listing.status != "active":
        lines.append("It is no longer listed: check the viewing is still on.")
    heading = f"Viewing {when(local, local_now)}"
    facts = priced_facts(listing) if listing.status == "active" else None
    entry = Entry(listing.title or "Listing", listing.url, heading, facts, lines=lines, note=saved.note)
    entry.on_nook = listing_on_nook(listing.id)
    return entry


def reminders_part(rows: list[Row]) -> Part:
    """The reminders' part of a message: an entry a viewing, soonest first."""
    headline = f"Your viewing {when(rows[0].local, rows[0].local_now)}" if len(rows) == 1 else None
    return Part(headline or f"{len(rows)} viewings soon", [_entry(*row) for row in rows])


def reminders_data(rows: list[Row]) -> list[dict[str, Any]]:
    """The reminders for a receiver."""
    return [
        {
            "listing_id": listing.id,
            "viewing_at": saved.viewing_at.isoformat(),
            "local_time": local.isoformat(timespec="minutes"),
            "time_zone": saved.viewing_time_zone,
            "status": listing.status,
            "title": listing.title,
            "address": listing.address,
            "url": listing.url,
            "on_nook": listing_on_nook(listing.id),
            "note": saved.note,
            "rating": saved.rating,
        }
        for saved, listing, local, _ in rows
    ]


def reminders_key(rows: list[Row]) -> str:
    """The reminders' share of a message's idempotency key: the flats and their viewings' times."""
    return "viewings:" + ",".join(f"{row[0].listing_id}:{row[0].viewing_at.isoformat()}" for row in rows)
