"""Saved listings: a user's shortlist, each as the flat it stands for now, and the news of it the user's
webhook is owed: a cut since they last heard of its price, or that it is gone.

A saved listing stands for a flat: itself, or the listing it was later found to copy (the recheck, or
cross-source dedupe, links copies to one listing). Two saved listings found to be one flat count once,
as the one saved first.

News is judged against what the user last heard (`told_price`, `told_gone`), not against a queue of
events: whatever the flat did while the webhook was down, the user hears of where it stands now, once.
A cut is news when it takes NOOK_PRICE_CUT_ALERT_PERCENT (3) or more off the price they last heard
(and no more than half: a source's slip alerts nobody, as for the regions' price-cut alerts), and the
flat's last change of price is within NOOK_ALERT_MAX_AGE_HOURS; that it went is news when it was last
seen within that time; that it is back on the market after they heard it went, always. Older news is
left unsaid, as an alert that old expires, and so is news of a flat its saver ruled out (its `stage`):
put back in the running, it is told where the flat stands then.

A viewing booked of a saved flat (its time, on the clock of the time zone it was booked on) is reminded
as long before it as its saver chose (NOOK_VIEWING_REMINDER_HOURS unless they did), once a time: a
viewing moved is reminded again; one within the saver's quiet hours, that long before they begin. A
reminder not sent before the viewing starts (the webhook down meanwhile) is left unsaid.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CompoundSelect,
    DateTime,
    Select,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from models.explain import GONE
from models.listing import Listing, kept_flats
from models.matching import MAX_ALERTED_CUT
from models.settings import get_settings
from models.user import SavedListing, User, quiet_began, quiet_now

MAX_SAVED = 500


def share(user: User, notes: bool) -> str:
    """Share the user's saved listings (with their notes or not) through a link naming a random token;
    return the token (the same while the share lasts)."""
    if not user.shortlist_token:
        user.shortlist_token = secrets.token_urlsafe(24)
    user.shortlist_notes = notes
    return user.shortlist_token


def stop_sharing(user: User) -> None:
    """The link stops working; sharing again makes another."""
    user.shortlist_token, user.shortlist_notes = None, False


def shortlist_link(token: str, base_url: str) -> str:
    """The page that shows a shared shortlist (app.shortlist)."""
    return f"{base_url}/shortlist/{token}"


TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _holder(session: Session, column: Any, token: str) -> User | None:
    """The user whose token (in `column`) this is, if any."""
    if not TOKEN.fullmatch(token):  # what token_urlsafe makes: nothing else names a share
        return None
    return session.scalar(select(User).where(column == token))


def sharer(session: Session, token: str) -> User | None:
    """The user whose shortlist this token shares, if any."""
    return _holder(session, User.shortlist_token, token)


def publish_viewings(user: User) -> str:
    """Publish the user's viewings as a calendar feed through a link naming a random token; return the
    token (the same while the feed lasts)."""
    if not user.calendar_token:
        user.calendar_token = secrets.token_urlsafe(24)
    return user.calendar_token


def stop_publishing_viewings(user: User) -> None:
    """The feed's link stops working; publishing again makes another."""
    user.calendar_token = None


def viewings_link(token: str, base_url: str) -> str:
    """The calendar feed of a user's viewings (app.calendar)."""
    return f"{base_url}/calendar/{token}.ics"


def viewings_publisher(session: Session, token: str) -> User | None:
    """The user whose viewings this token publishes, if any."""
    return _holder(session, User.calendar_token, token)


MAX_NOTE = 1000  # characters of a saver's note


def saved_flats(user_id: int | None, *columns: Any, once: bool = True) -> Select:
    """The user's (None: every user's) saved listings joined to the flats they stand for (`Listing`, with
    its `PriceRank` if any), selecting `columns`; a flat saved twice, through copies, once: as first
    saved (unless `once` is false)."""
    return kept_flats(SavedListing, "saved_at", user_id, *columns, once=once)


def news_condition(now: datetime, since: datetime, cut_share: float) -> ColumnElement[bool]:
    """Whether a saved flat (`Listing`, of `saved_flats`) has news for its saver, due now: a cut of
    `cut_share` or more since the price they last heard, made since `since`, gone since then, or back on
    the market after they heard it went; none while they have it ruled out."""
    cut = and_(
        literal(cut_share) > 0,
        Listing.status == "active",
        Listing.price <= SavedListing.told_price * (1 - cut_share),
        Listing.price >= SavedListing.told_price * (1 - MAX_ALERTED_CUT),
        Listing.price_changed_at >= since,
    )
    gone = and_(Listing.status.in_(GONE), ~SavedListing.told_gone, Listing.last_seen_at >= since)
    back = and_(Listing.status == "active", SavedListing.told_gone)
    return and_(or_(cut, gone, back), _due(now), SavedListing.stage.is_distinct_from("ruled_out"))


def may_have_news(since: datetime) -> ColumnElement[bool]:
    """Whether a saved listing may have news since `since` (implied by `news_condition`): told the flat
    went, or standing for a flat whose price changed, or that went, since then. It lets a search of
    every user's saved listings read the few saved listings of such flats rather than join each to its
    flat (1 s at 200,400 saved listings); one user's are better read whole. The flats are found once,
    as an array, through indexes of the listings shown whose price changed and of those gone by when
    they went, so that the saved listings of each are read through theirs."""
    flats = _changed_since(since).subquery()
    changed = cast(select(func.array_agg(flats.c.id)).scalar_subquery(), ARRAY(BigInteger))
    return or_(SavedListing.told_gone, SavedListing.listing_id == func.any(changed))


_CHANGED = aliased(Listing, name="changed")
_CHANGED_COPY = aliased(Listing, name="changed_copy")


def _changed_since(since: datetime) -> CompoundSelect:
    """The listings whose price changed, or that went, since `since` (went: gone since then and last seen
    since then: `gone_at`, indexed, comes after the last sighting, so it narrows and never drops one),
    and their copies."""
    repriced = select(_CHANGED.id).where(_CHANGED.status == "active", _CHANGED.price_changed_at >= since)
    gone = select(_CHANGED.id).where(
        _CHANGED.status.in_(GONE), _CHANGED.gone_at >= since, _CHANGED.last_seen_at >= since
    )
    copies = select(_CHANGED_COPY.id).where(_CHANGED_COPY.canonical_id.in_(union_all(repriced, gone)))
    return union_all(repriced, gone, copies)


def _due(now: datetime) -> ColumnElement[bool]:
    """Whether a saved flat's messages are not backing off (a message of it failed) at `now`."""
    return or_(SavedListing.news_next_attempt_at.is_(None), SavedListing.news_next_attempt_at <= now)


def reminder_lead() -> ColumnElement[Any]:
    """How long before a viewing its saver is reminded (of a query joining them, `User`): their own lead,
    or this nook's (Settings.viewing_reminder_minutes), as an SQL interval (zero: never)."""
    minutes = func.coalesce(User.viewing_reminder_minutes, get_settings().viewing_reminder_minutes)
    return func.make_interval(0, 0, 0, 0, 0, minutes)


def viewing_condition(now: datetime) -> ColumnElement[bool]:
    """Whether a saved flat's viewing is to be reminded at `now` (of a query joining its saver, `User`):
    booked (its stage "viewing") within the saver's lead (reminder_lead) from now, or within their quiet
    hours that begin within the lead from now (a viewing at 07:30, quiet until 08:00, is reminded the
    evening before), and not yet reminded of at that time. A saver who wants no reminders has none."""
    at, lead = SavedListing.viewing_at, reminder_lead()
    until = literal(now, DateTime(timezone=True)) + lead
    return and_(
        SavedListing.stage == "viewing",
        at > now,
        User.viewing_reminder_minutes.is_distinct_from(0),
        or_(at <= until, and_(quiet_now(at), quiet_began(at) <= until)),
        SavedListing.viewing_told_at.is_distinct_from(at),
        _due(now),
    )


VIEWING_GAP = timedelta(hours=1)  # two viewings starting closer clash: half an hour at one, then the way


def viewing_clashes(session: Session, user_id: int, now: datetime) -> dict[int, list[Any]]:
    """The user's viewings ahead (of flats not ruled out) that start less than VIEWING_GAP from another,
    by the flat's id: each with those others (`id`, `title`, `price`, `viewing_at`), soonest first."""
    rows = session.execute(
        saved_flats(user_id, Listing.id, Listing.title, Listing.price, SavedListing.viewing_at)
        .where(SavedListing.viewing_at > now, SavedListing.stage.is_distinct_from("ruled_out"))
        .order_by(SavedListing.viewing_at, Listing.id)
    ).all()
    clashes: dict[int, list[Any]] = {}
    for n, row in enumerate(rows):  # in time order: a viewing's clashes are its neighbours
        for later in rows[n + 1 :]:
            if later.viewing_at - row.viewing_at >= VIEWING_GAP:
                break
            clashes.setdefault(row.id, []).append(later)
            clashes.setdefault(later.id, []).append(row)
    return clashes


def viewing_local() -> ColumnElement[datetime]:
    """A saved flat's viewing time on the clock it was booked on (naive), in SQL."""
    return func.timezone(SavedListing.viewing_time_zone, SavedListing.viewing_at)
