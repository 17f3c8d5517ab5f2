"""A listing that goes while a copy of it from another source is still up passes the flat to that copy
(models.matching.promote_duplicates): what users kept of the listing goes with the flat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from models.hidden import hidden_sql, not_hidden
from models.listing import Listing
from models.matching import promote_duplicates
from models.saved import news_condition, saved_flats
from models.source import Source
from models.user import HiddenListing, SavedListing, create_user
from tests.factories import insert_listing

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_a_flat_kept_through_a_listing_that_went_is_its_heir(db_session):
    first, second = (Source(name=name, kind="json_feed", config={"url": "http://unused"}) for name in "ab")
    db_session.add_all([first, second])
    db_session.flush()

    def add(source, ref, hours_ago, canonical_id=None):
        seen = NOW - timedelta(hours=hours_ago)
        return insert_listing(db_session, source.id, ref, seen, -79.38, 43.65, canonical_id=canonical_id)

    flat = add(first, "flat", 30)
    heir = add(second, "heir", 20, canonical_id=flat)  # the oldest copy takes over
    later = add(second, "later", 10, canonical_id=flat)
    saver, _ = create_user(db_session, "saver@example.com")
    hider, _ = create_user(db_session, "hider@example.com")
    db_session.add(SavedListing(user_id=saver.id, listing_id=flat, price=2000, told_price=2000))
    db_session.add(HiddenListing(user_id=hider.id, listing_id=flat))
    db_session.flush()

    def go(listing_id):
        db_session.execute(
            text("UPDATE listings SET status = 'delisted', last_seen_at = :now WHERE id = :id"),
            {"now": NOW, "id": listing_id},
        )
        return promote_duplicates(db_session, [listing_id])

    def shortlist():
        news = news_condition(NOW, NOW - timedelta(days=3), 0.03)
        return db_session.execute(saved_flats(saver.id, Listing.id, Listing.status, news)).all()

    def hidden(listing_id):
        shown = select(Listing.id).where(Listing.id == listing_id, not_hidden(db_session, hider.id))
        by_alert = db_session.scalar(
            text(f"SELECT {hidden_sql(':user', ':listing')}"), {"user": hider.id, "listing": listing_id}
        )
        assert by_alert == (db_session.scalar(shown) is None)  # a search and an alert agree
        return by_alert

    assert shortlist() == [(flat, "active", False)] and hidden(flat)
    assert go(flat) == [heir]
    # the saver's shortlist holds the flat still to let, and they are not told it went; the hider is
    # neither shown it nor alerted of it
    assert shortlist() == [(heir, "active", False)]
    assert hidden(heir) and not hidden(later)  # a copy is not shown: the flat it copies is
    canonical = dict(db_session.execute(text("SELECT id, canonical_id FROM listings")).all())
    assert canonical == {flat: heir, heir: None, later: heir}  # the listing that went is a copy now
    # the heir goes too, the last of the flat's listings: now it is gone, and that is news
    assert go(heir) == [later]
    assert go(later) == []
    assert shortlist() == [(later, "delisted", True)]
