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
left unsaid, as an alert that old expires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from models.explain import GONE
from models.listing import Listing
from models.matching import MAX_ALERTED_CUT
from models.price_rank import PriceRank
from models.user import SavedListing

MAX_SAVED = 500
MAX_NOTE = 1000  # characters of a saver's note

# the listing saved, and the flat it stands for now: itself, or the listing it was found to copy
SAVED = aliased(Listing, name="saved")
FLAT_ID = func.coalesce(SAVED.canonical_id, SAVED.id)
_COPY = aliased(Listing, name="copy")
_EARLIER = aliased(SavedListing, name="earlier")
_EARLIER_LISTING = aliased(Listing, name="earlier_listing")


def saved_flats(user_id: int | None, *columns: Any) -> Select:
    """The user's (None: every user's) saved listings joined to the flats they stand for (`Listing`, with
    its `PriceRank` if any), selecting `columns`; a flat saved twice, through copies, once: as first
    saved."""
    saved_twice = (
        select(literal(1))
        .select_from(_EARLIER)
        .join(_EARLIER_LISTING, _EARLIER_LISTING.id == _EARLIER.listing_id)
        .where(
            _EARLIER.user_id == SavedListing.user_id,
            func.coalesce(_EARLIER_LISTING.canonical_id, _EARLIER_LISTING.id) == FLAT_ID,
            tuple_(_EARLIER.saved_at, _EARLIER.listing_id)
            < tuple_(SavedListing.saved_at, SavedListing.listing_id),
        )
        .exists()
    )
    query = (
        select(*columns)
        .select_from(SavedListing)
        .join(SAVED, SAVED.id == SavedListing.listing_id)
        .join(Listing, Listing.id == FLAT_ID)
        .outerjoin(PriceRank, PriceRank.listing_id == Listing.id)
        .where(~saved_twice)
    )
    return query if user_id is None else query.where(SavedListing.user_id == user_id)


def stands_for(listing_id: int) -> ColumnElement[bool]:
    """Whether a saved listing is `listing_id` (the one saved), or a copy of it (so that it is listed as
    `listing_id`): how a saver names a saved listing to change or remove it."""
    copies = select(_COPY.id).where(_COPY.canonical_id == listing_id)
    return or_(SavedListing.listing_id == listing_id, SavedListing.listing_id.in_(copies))


def news_condition(now: datetime, since: datetime, cut_share: float) -> ColumnElement[bool]:
    """Whether a saved flat (`Listing`, of `saved_flats`) has news for its saver, due now: a cut of
    `cut_share` or more since the price they last heard, made since `since`, gone since then, or back on
    the market after they heard it went."""
    cut = and_(
        literal(cut_share) > 0,
        Listing.status == "active",
        Listing.price <= SavedListing.told_price * (1 - cut_share),
        Listing.price >= SavedListing.told_price * (1 - MAX_ALERTED_CUT),
        Listing.price_changed_at >= since,
    )
    gone = and_(Listing.status.in_(GONE), ~SavedListing.told_gone, Listing.last_seen_at >= since)
    back = and_(Listing.status == "active", SavedListing.told_gone)
    due = or_(SavedListing.news_next_attempt_at.is_(None), SavedListing.news_next_attempt_at <= now)
    return and_(or_(cut, gone, back), due)
