"""A listing says when it last went (migration 0043's triggers), whichever statement takes it down or lets
it expire; the notify run's search for saved flats with news finds the flats that went by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from models.listing import Listing
from models.saved import may_have_news
from models.source import Source
from models.user import SavedListing, create_user
from tests.factories import insert_listing

SEEN = datetime(2026, 12, 1, 12, tzinfo=UTC)


def gone_at(db_session, listing_id: int) -> datetime | None:
    return db_session.scalar(select(Listing.gone_at).where(Listing.id == listing_id))


def test_a_listing_says_when_it_went_and_only_then(db_session):
    source = Source(name="s", kind="json_feed", config={"url": "http://unused"})
    db_session.add(source)
    db_session.flush()
    shown = insert_listing(db_session, source.id, "shown", SEEN, -79.38, 43.65)
    born_gone = insert_listing(db_session, source.id, "gone", SEEN, -79.38, 43.65, status="expired")
    now = db_session.scalar(select(func.statement_timestamp()))
    assert gone_at(db_session, shown) is None
    assert now - timedelta(seconds=5) < gone_at(db_session, born_gone) <= now + timedelta(seconds=5)
    # inserted with when it went (history copied in): kept
    history = db_session.scalar(
        text(
            "INSERT INTO listings (source_id, source_ref, raw, status, first_seen_at, last_seen_at, gone_at)"
            " VALUES (:s, 'old', '{}', 'delisted', :t, :t, :t) RETURNING id"
        ),
        {"s": source.id, "t": SEEN},
    )
    assert gone_at(db_session, history) == SEEN

    def update(sql: str) -> datetime:
        db_session.execute(text(f"UPDATE listings SET {sql} WHERE id = :i"), {"i": shown})
        return gone_at(db_session, shown)

    # seen again, repriced: nothing went
    assert update("last_seen_at = now(), price = 2100") is None
    went = update("status = 'delisted'")
    assert went is not None
    # gone already: expiring it, or seeing it gone again, is not going again
    db_session.execute(text("UPDATE listings SET gone_at = :t WHERE id = :i"), {"t": SEEN, "i": shown})
    assert update("status = 'expired'") == SEEN
    assert update("status = 'expired', last_seen_at = last_seen_at") == SEEN
    # back, and gone once more: when it went this time
    assert update("status = 'active'") == SEEN
    assert update("status = 'delisted'") > SEEN


def test_news_is_looked_for_among_the_saved_flats_that_changed(db_session):
    source = Source(name="s", kind="json_feed", config={"url": "http://unused"})
    db_session.add(source)
    db_session.flush()
    seen = datetime.now(UTC) - timedelta(hours=1)
    still, cut, went, went_long_ago, told = (
        insert_listing(db_session, source.id, ref, seen, -79.38, 43.65) for ref in "abcde"
    )
    user, _ = create_user(db_session, "saver@example.com")
    for listing_id in (still, cut, went, went_long_ago, told):
        db_session.add(SavedListing(user_id=user.id, listing_id=listing_id, price=2000, told_price=2000))
    db_session.flush()
    db_session.execute(text("UPDATE listings SET price = 1800 WHERE id = :i"), {"i": cut})
    db_session.execute(
        text("UPDATE listings SET status = 'delisted' WHERE id IN (:a, :b)"), {"a": went, "b": told}
    )
    db_session.execute(
        text("UPDATE listings SET status = 'expired', last_seen_at = :t, gone_at = :t WHERE id = :i"),
        {"t": seen - timedelta(days=30), "i": went_long_ago},
    )
    db_session.execute(text("UPDATE saved_listings SET told_gone = true WHERE listing_id = :i"), {"i": told})
    since = db_session.scalar(select(func.now())) - timedelta(hours=72)

    found = db_session.scalars(select(SavedListing.listing_id).where(may_have_news(since))).all()

    assert sorted(found) == sorted([cut, went, told])
