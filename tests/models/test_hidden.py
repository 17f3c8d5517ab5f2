"""models.hidden: the two forms of "the user hid this flat" (a search's, an alert's) agree."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import BigInteger, column, select, text, values

from models import hidden as hidden_model
from models.hidden import hidden_sql, not_hidden
from models.listing import Listing
from models.source import Source
from models.user import HiddenListing, create_user
from tests.factories import insert_listing


@pytest.mark.parametrize("listed", [hidden_model.MAX_LISTED, 1], ids=["flats listed", "each listing asked"])
def test_a_search_and_an_alert_judge_the_same_flats_hidden(db_session, monkeypatch, listed):
    # a search lists the flats a user hid up to MAX_LISTED, and past it asks of each listing it walks
    monkeypatch.setattr(hidden_model, "MAX_LISTED", listed)
    source = Source(name="hid", kind="json_feed", config={"url": "http://unused"})
    db_session.add(source)
    db_session.flush()
    now = datetime.now(UTC)
    a, b, c, d = (insert_listing(db_session, source.id, ref, now, -79.38, 43.65) for ref in "abcd")
    copy_of_a = insert_listing(db_session, source.id, "a2", now, -79.38, 43.65, canonical_id=a)
    hider, _ = create_user(db_session, "hider@example.com")
    other, _ = create_user(db_session, "other@example.com")
    # hides a through a copy of it, b itself, and c through a listing later found to copy c
    db_session.add_all(HiddenListing(user_id=hider.id, listing_id=listing) for listing in (copy_of_a, b, d))
    db_session.flush()
    db_session.execute(text("UPDATE listings SET canonical_id = :c WHERE id = :d"), {"c": c, "d": d})
    shown = [a, b, c]  # d is now a copy: not shown

    for user, hidden in ((hider, {a, b, c}), (other, set())):
        kept = set(
            db_session.scalars(
                select(Listing.id).where(Listing.id.in_(shown), not_hidden(db_session, user.id))
            )
        )
        ids = values(column("id", BigInteger), name="ids").data([(listing,) for listing in shown])
        # a region's search asks it of its memberships' listing_id, before reading the listing
        kept_by_id = set(
            db_session.scalars(select(ids.c.id).where(not_hidden(db_session, user.id, ids.c.id)))
        )
        by_alert = {
            listing
            for listing in shown
            if db_session.scalar(
                text(f"SELECT {hidden_sql(':user', 'l.id')} FROM listings l WHERE l.id = :listing"),
                {"user": user.id, "listing": listing},
            )
        }
        assert set(shown) - kept == set(shown) - kept_by_id == by_alert == hidden
