"""region_listings always equals "active canonical listings inside the region"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update

from jobs.price_rank.demo_frame import market_frame
from models.listing import Listing
from models.matching import (
    mark_duplicates,
    match_regions,
    place_in_regions,
    prune_region_members,
    refresh_region_members,
    withdraw_alerts,
)
from models.region import Notification, Region, RegionListing
from models.user import create_user
from tests.factories import insert_active_listings

DOWNTOWN = "SRID=4326;MULTIPOLYGON(((-79.40 43.64,-79.36 43.64,-79.36 43.67,-79.40 43.67,-79.40 43.64)))"
EAST = "SRID=4326;MULTIPOLYGON(((-79.36 43.64,-79.30 43.64,-79.30 43.70,-79.36 43.70,-79.36 43.64)))"


def truth(session, region_id):
    return set(
        session.scalars(
            select(Listing.id)
            .join(Region, func.ST_Contains(Region.geom, Listing.geom))
            .where(Region.id == region_id, Listing.status == "active", Listing.canonical_id.is_(None))
        )
    )


def members(session, region_id):
    return set(session.scalars(select(RegionListing.listing_id).where(RegionListing.region_id == region_id)))


def setup(session, frame=None):
    ids = insert_active_listings(session, market_frame(600, seed=4) if frame is None else frame)
    user, _ = create_user(session, "m@example.com")
    region = Region(user_id=user.id, name="d", geom=DOWNTOWN)
    session.add(region)
    session.flush()
    refresh_region_members(session, region.id)
    return ids, region


def test_membership_is_built_when_a_region_is_drawn(db_session):
    _, region = setup(db_session)
    assert members(db_session, region.id) == truth(db_session, region.id) != set()


def test_redrawing_moves_membership(db_session):
    _, region = setup(db_session)
    region.geom = EAST
    db_session.flush()
    refresh_region_members(db_session, region.id)
    assert members(db_session, region.id) == truth(db_session, region.id) != set()


def place_and_match(session, ids):
    return match_regions(session, ids, datetime.now(UTC))


@pytest.mark.parametrize("place", [place_in_regions, place_and_match])
def test_placing_a_moved_listing_takes_it_out_of_its_old_region(db_session, place):
    _, region = setup(db_session)
    inside = next(iter(members(db_session, region.id)))
    db_session.execute(
        update(Listing)
        .where(Listing.id == inside)
        .values(geom=func.ST_SetSRID(func.ST_MakePoint(-79.0, 43.9), 4326))
    )
    place(db_session, [inside])
    assert inside not in members(db_session, region.id)
    assert members(db_session, region.id) == truth(db_session, region.id)


def test_matching_updates_kept_memberships_and_alerts_only_on_criteria(db_session):
    _, region = setup(db_session)
    region.max_price = 10_000
    east = Region(user_id=region.user_id, name="e", geom=EAST, max_price=1)  # no listing is this cheap
    db_session.add(east)
    db_session.flush()
    refresh_region_members(db_session, east.id)
    inside = sorted(members(db_session, region.id))[:3]
    db_session.execute(update(Listing).where(Listing.id.in_(inside)).values(price=Listing.price + 7))
    gone = inside[0]
    db_session.execute(update(Listing).where(Listing.id == gone).values(status="delisted"))

    queued = place_and_match(db_session, inside)

    prices = dict(
        db_session.execute(
            select(RegionListing.listing_id, RegionListing.price).where(RegionListing.region_id == region.id)
        ).all()
    )
    listed = dict(db_session.execute(select(Listing.id, Listing.price).where(Listing.id.in_(inside))).all())
    assert gone not in prices
    assert {i: prices[i] for i in inside[1:]} == {i: listed[i] for i in inside[1:]}
    assert members(db_session, region.id) == truth(db_session, region.id)
    alerted = set(db_session.execute(select(Notification.region_id, Notification.listing_id)).all())
    assert queued == 2
    assert alerted == {(region.id, i) for i in inside[1:]}
    assert place_and_match(db_session, inside) == 0  # one alert per (region, listing), ever


def test_listings_that_go_are_pruned(db_session):
    _, region = setup(db_session)
    gone = list(members(db_session, region.id))[:5]
    db_session.execute(update(Listing).where(Listing.id.in_(gone)).values(status="delisted"))
    assert prune_region_members(db_session) >= 5
    assert members(db_session, region.id) == truth(db_session, region.id)


def test_process_places_new_listings(db_session):
    from jobs import process
    from models.source import Source

    _, region = setup(db_session)
    source = db_session.scalars(select(Source)).first()
    db_session.add(
        Listing(
            source_id=source.id,
            source_ref="new",
            status="pending",
            first_seen_at=datetime.now(UTC),
            last_seen_at=datetime.now(UTC),
            raw={"source_ref": "new", "price": 2000, "bedrooms": 1, "latitude": 43.655, "longitude": -79.38},
        )
    )
    db_session.flush()
    process.process_pending(db_session, datetime.now(UTC))
    assert members(db_session, region.id) == truth(db_session, region.id)


def listings_read(session) -> int:
    """Rows of listings this transaction has read so far (sequential scans and index fetches)."""
    return session.scalar(
        text("SELECT seq_tup_read + idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = 'listings'")
    )


@pytest.mark.parametrize("step", [mark_duplicates, place_in_regions, place_and_match])
def test_a_batch_is_matched_by_reading_its_own_listings_not_the_table(db_session, step):
    # the 3,000 listings come in the test's own transaction, so the planner's statistics have never seen
    # them: as when a new deployment's first listings stream in. The table starts empty, as then: the pages
    # that earlier tests' rolled-back rows left (autovacuum is off) raised the planner's guess of its size
    # until, after tests/app, it scanned the whole of another index for the duplicate search
    db_session.execute(text("TRUNCATE listings CASCADE"))
    ids, _ = setup(db_session, market_frame(3000, seed=5))
    before = listings_read(db_session)
    step(db_session, list(ids.values())[-20:])
    assert listings_read(db_session) - before < 200


def test_a_users_alerts_and_memberships_go_with_their_region_or_the_user(db_session):
    # notifications.user_id has no foreign key of its own: the region's carries the user's deletion
    _, region = setup(db_session)
    other = Region(user_id=region.user_id, name="e", geom=EAST)
    db_session.add(other)
    db_session.flush()
    refresh_region_members(db_session, other.id)
    stranger, _ = create_user(db_session, "s@example.com")
    theirs = Region(user_id=stranger.id, name="s", geom=DOWNTOWN)
    db_session.add(theirs)
    db_session.flush()
    inside = sorted(members(db_session, region.id) | members(db_session, other.id))
    assert place_and_match(db_session, inside) == len(inside) + len(members(db_session, region.id))

    def alerts(region_id):
        return db_session.scalar(select(func.count()).where(Notification.region_id == region_id))

    def user_alerts(user_id):
        return db_session.scalar(select(func.count()).where(Notification.user_id == user_id))

    kept = alerts(theirs.id)
    assert kept == len(members(db_session, theirs.id)) > 0
    db_session.execute(text("DELETE FROM regions WHERE id = :id"), {"id": other.id})
    assert alerts(other.id) == 0 and members(db_session, other.id) == set()
    assert alerts(region.id) == len(members(db_session, region.id)) > 0
    db_session.execute(text("DELETE FROM users WHERE id = :id"), {"id": region.user_id})
    assert user_alerts(region.user_id) == 0 and members(db_session, region.id) == set()
    assert alerts(theirs.id) == user_alerts(stranger.id) == kept  # someone else's stay


def test_a_region_with_its_alerts_off_keeps_its_listings_and_queues_no_alert(db_session):
    # every region alerted every listing placed in it: an area drawn to compare or browse alerted too
    _, region = setup(db_session)
    quiet = Region(user_id=region.user_id, name="browse", geom=DOWNTOWN, alerts=False)
    db_session.add(quiet)
    db_session.flush()
    refresh_region_members(db_session, quiet.id)
    inside = sorted(members(db_session, region.id))[:4]
    assert place_and_match(db_session, inside) == 4  # the region alerting; the quiet one queues none
    assert members(db_session, quiet.id) == truth(db_session, quiet.id) == members(db_session, region.id)
    alerted = set(db_session.execute(select(Notification.region_id, Notification.listing_id)).all())
    assert alerted == {(region.id, i) for i in inside}

    # switched off: the alerts not sent yet are withdrawn; one sent stays; on again, new listings alert
    sent = db_session.scalar(select(Notification).where(Notification.listing_id == inside[0]))
    sent.status = "sent"
    region.alerts = False
    db_session.flush()
    queued = set(db_session.scalars(select(Notification.id).where(Notification.status == "queued")))
    assert len(queued) == 3 and withdraw_alerts(db_session, list(queued)) == queued  # as notify does
    assert db_session.scalars(select(Notification.id)).all() == [sent.id]
    db_session.execute(
        update(Listing).where(Listing.id.in_(inside[1:])).values(price=Listing.price - 1)  # updated listings
    )
    assert place_and_match(db_session, inside) == 0
    quiet.alerts = True
    db_session.flush()
    assert place_and_match(db_session, inside) == 4  # the listings placed from then on
