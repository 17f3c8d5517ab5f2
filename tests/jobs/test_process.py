"""Process: clean, locate, reject with reasons, dedupe across sources, match regions."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from sqlalchemy import func, select, text

from jobs import ingest, process
from models.listing import Listing
from models.quarantine import QuarantinedRecord
from models.region import Notification
from models.source import Source
from models.user import create_user
from tests.jobs.conftest import T0, add_listing, add_region, sources


def test_pending_listings_become_active_with_geometry(db_session):
    a, _ = sources(db_session)
    listing = add_listing(
        db_session, a, "x1", price="$2,250", bedrooms="Studio", unit_type="Condo", sqft="450 sq ft"
    )
    result = process.process_pending(db_session, T0)
    db_session.refresh(listing)
    assert result["activated"] == 1 and result["rejected"] == 0
    assert (listing.status, listing.price, listing.bedrooms, listing.unit_type, listing.sqft) == (
        "active",
        2250,
        0,
        "condo",
        450,
    )
    lat, lon, srid = db_session.execute(
        select(func.ST_Y(Listing.geom), func.ST_X(Listing.geom), func.ST_SRID(Listing.geom)).where(
            Listing.id == listing.id
        )
    ).one()
    assert (round(lat, 4), round(lon, 4), srid) == (43.65, -79.38, 4326)
    assert listing.processed_at == T0 and listing.posted_at == T0


def test_a_backlog_larger_than_a_run_is_worked_through_over_runs(db_session):
    # every pending listing was processed in one run whatever the time: a backlog larger than Lambda's
    # 900 s outlived the run, which committed nothing, and the next run tried the same backlog again
    a, _ = sources(db_session)
    for n in range(5):
        add_listing(db_session, a, f"x{n}", lat=43.64 + n * 0.002)
    out_of_time = process.process_pending(db_session, T0, batch_size=2, deadline=time.monotonic() - 1)
    assert (out_of_time["batches"], out_of_time["activated"], out_of_time["finished"]) == (1, 2, False)
    assert db_session.scalar(select(func.count()).where(Listing.status == "pending")) == 3
    rest = process.process_pending(db_session, T0, batch_size=2, deadline=time.monotonic() + 600)
    assert (rest["batches"], rest["activated"], rest["finished"]) == (2, 3, True)


def test_a_posting_time_in_the_future_is_taken_as_now(db_session):
    a, _ = sources(db_session)
    future = add_listing(db_session, a, "x1", posted_at="2099-01-01T00:00:00Z")
    seconds = add_listing(db_session, a, "x2", posted_at=1_764_000_000, lat=43.66)  # epoch seconds
    process.process_pending(db_session, T0)
    db_session.refresh(future)
    db_session.refresh(seconds)
    assert future.posted_at == T0  # was 2099: first among the newest for good
    assert seconds.posted_at == datetime(2025, 11, 24, 16, tzinfo=UTC)  # was January 1970


def test_impossible_values_are_rejected_and_quarantined(db_session):
    a, _ = sources(db_session)
    add_listing(db_session, a, "bad-lat", lat=143.6)
    add_listing(db_session, a, "bad-price", price=0)
    add_listing(db_session, a, "bad-size", sqft=5)
    add_listing(db_session, a, "good")
    result = process.process_pending(db_session, T0)
    assert (result["activated"], result["rejected"]) == (1, 3)
    reasons = dict(
        db_session.execute(
            select(QuarantinedRecord.source_ref, QuarantinedRecord.reason).where(
                QuarantinedRecord.stage == "process"
            )
        ).all()
    )
    assert reasons == {
        "bad-lat": "latitude: 143.6 is out of range",
        "bad-price": "price: 0 a month is not plausible (nook takes rents from $100)",
        "bad-size": "sqft: 5 square feet is not plausible",
    }
    statuses = dict(db_session.execute(select(Listing.source_ref, Listing.status)).all())
    assert statuses == {
        "bad-lat": "rejected",
        "bad-price": "rejected",
        "bad-size": "rejected",
        "good": "active",
    }


def test_cross_source_duplicates_point_at_the_older_listing(db_session):
    a, b = sources(db_session)
    original = add_listing(db_session, a, "a1", price=2000)
    repost = add_listing(
        db_session, b, "b1", price=2040, lat=43.650018, first_seen_at=T0.replace(hour=13)
    )  # ~2 m away
    far = add_listing(db_session, b, "b2", price=2000, lat=43.6503)  # ~33 m away: another unit
    pricier = add_listing(db_session, b, "b3", price=2300, lat=43.65001)  # same spot, different price
    bigger = add_listing(db_session, b, "b4", price=2000, bedrooms=2, lat=43.65001)
    same_source = add_listing(db_session, a, "a2", price=2000, lat=43.64997)  # 3 m from a1, same source
    result = process.process_pending(db_session, T0)
    for listing in (original, repost, far, pricier, bigger, same_source):
        db_session.refresh(listing)
    assert repost.canonical_id == original.id and result["duplicates"] == 1
    assert {far.canonical_id, pricier.canonical_id, bigger.canonical_id, same_source.canonical_id} == {None}


def test_demo_reposts_are_deduplicated_end_to_end(db_session, demo_sources, demo_feed, client):
    ingest.ingest_all(db_session, T0, client)
    result = process.process_pending(db_session, T0)
    main, mirror = demo_sources
    mirrored = db_session.scalar(
        select(func.count())
        .select_from(Listing)
        .where(Listing.source_id == mirror.id, Listing.status == "active")
    )
    assert mirrored > 0 and result["duplicates"] >= 0.8 * mirrored
    pairs = db_session.execute(
        text("""
        SELECT d.source_ref, c.source_ref FROM listings d JOIN listings c ON c.id = d.canonical_id
    """)
    ).all()
    assert pairs and all(dup.replace("M-", "A-") == canon for dup, canon in pairs)


def test_region_matching_respects_criteria(db_session):
    a, _ = sources(db_session)
    user, _ = create_user(db_session, "r@example.com")
    other, _ = create_user(db_session, "o@example.com")
    anything = add_region(db_session, user, "anything")
    picky = add_region(
        db_session,
        user,
        "picky",
        min_bedrooms=2,
        max_price=3000,
        min_bathrooms=1.5,
        unit_types=["condo", "apartment"],
    )
    elsewhere = add_region(db_session, other, "elsewhere", w=-79.50, s=43.70, e=-79.45, n=43.75)
    fits = add_listing(db_session, a, "fits", price=2900, bedrooms=2, bathrooms=2, unit_type="condo")
    too_dear = add_listing(db_session, a, "too-dear", price=3100, bedrooms=2, bathrooms=2, unit_type="condo")
    house = add_listing(db_session, a, "house", price=2900, bedrooms=3, bathrooms=2, unit_type="house")
    small = add_listing(db_session, a, "small", price=1500, bedrooms=1, bathrooms=1)
    outside = add_listing(db_session, a, "outside", lat=43.80)
    result = process.process_pending(db_session, T0)
    matches = set(db_session.execute(select(Notification.region_id, Notification.listing_id)).all())
    assert matches == {
        (anything.id, fits.id),
        (anything.id, too_dear.id),
        (anything.id, house.id),
        (anything.id, small.id),
        (picky.id, fits.id),
    }
    assert result["notifications"] == 5 and elsewhere.id not in {r for r, _ in matches}
    assert outside.id not in {lid for _, lid in matches}
    assert {n.status for n in db_session.scalars(select(Notification))} == {"queued"}


def test_a_region_can_ask_for_a_size_and_for_furnished_or_unfurnished(db_session):
    # a renter who needs room for a desk, or brings no furniture, was alerted of every studio and every
    # furnished flat in their area
    a, _ = sources(db_session)
    user, _ = create_user(db_session, "r@example.com")
    roomy = add_region(db_session, user, "roomy", min_sqft=600)
    ready = add_region(db_session, user, "ready to move in", min_sqft=600, furnished=True)
    bare = add_region(db_session, user, "own furniture", furnished=False)
    big_furnished = add_listing(db_session, a, "big-furnished", sqft=750, furnished="yes")
    big_bare = add_listing(db_session, a, "big-bare", sqft=600, furnished="no")
    small_furnished = add_listing(db_session, a, "small-furnished", sqft=450, furnished="yes")
    no_size = add_listing(db_session, a, "no-size", furnished="no")
    unsaid = add_listing(db_session, a, "unsaid", sqft=900)  # says nothing of furniture
    process.process_pending(db_session, T0)
    matches = set(db_session.execute(select(Notification.region_id, Notification.listing_id)).all())
    assert matches == {
        (roomy.id, big_furnished.id),
        (roomy.id, big_bare.id),
        (roomy.id, unsaid.id),
        (ready.id, big_furnished.id),
        (bare.id, big_bare.id),
        (bare.id, no_size.id),
    }
    assert small_furnished.id not in {listing for _, listing in matches}


def test_a_region_can_ask_for_flats_one_may_move_into_by_a_day(db_session):
    # a renter whose lease ends on March 31 was alerted of the flats let until June too
    a, _ = sources(db_session)
    user, _ = create_user(db_session, "r@example.com")
    april = add_region(db_session, user, "by April", available_by=date(2027, 4, 1))
    anytime = add_region(db_session, user, "any time")
    march = add_listing(db_session, a, "march", available_from="March 1, 2027")
    first = add_listing(db_session, a, "on the day", available_from="2027-04-01")
    june = add_listing(db_session, a, "june", available_from="2027-06-01")
    now = add_listing(db_session, a, "now", available_from="immediately")
    unsaid = add_listing(db_session, a, "unsaid")  # most sources do not say: it stays in
    process.process_pending(db_session, T0)
    matches = set(db_session.execute(select(Notification.region_id, Notification.listing_id)).all())
    assert {listing for region, listing in matches if region == april.id} == {
        march.id,
        first.id,
        now.id,
        unsaid.id,
    }
    assert {listing for region, listing in matches if region == anytime.id} == {
        march.id,
        first.id,
        june.id,
        now.id,
        unsaid.id,
    }
    assert db_session.scalar(select(Listing.available_from).where(Listing.id == june.id)) == date(2027, 6, 1)


def test_a_region_can_ask_for_words_of_the_title_or_address(db_session):
    # "a flat with parking in this area, but no basement": the criteria knew nothing of what a title says
    from models.matching import SENDABLE

    a, _ = sources(db_session)
    user, _ = create_user(db_session, "r@example.com")
    parking = add_region(db_session, user, "parking", words="parking -basement")
    street = add_region(db_session, user, "on King", words='"king st"')
    garage = add_listing(
        db_session, a, "garage", title="Condo with underground parking", address="40 Queen St"
    )
    basement = add_listing(db_session, a, "basement", title="Basement apartment, street parking")
    on_king = add_listing(db_session, a, "king", title="Bright loft", address="12 King St W")
    untitled = add_listing(db_session, a, "untitled")
    process.process_pending(db_session, T0)
    matches = set(db_session.execute(select(Notification.region_id, Notification.listing_id)).all())
    assert matches == {(parking.id, garage.id), (street.id, on_king.id)}
    assert {basement.id, untitled.id}.isdisjoint(listing for _, listing in matches)

    # words changed after the alert was queued: it is no longer one the region would send
    parking.words = "balcony"
    db_session.flush()
    sendable = db_session.scalars(select(Notification.listing_id).where(SENDABLE)).all()
    assert sorted(sendable) == [on_king.id]


def test_reprocessing_never_queues_a_second_alert(db_session):
    a, _ = sources(db_session)
    user, _ = create_user(db_session, "r@example.com")
    add_region(db_session, user)
    listing = add_listing(db_session, a, "x")
    process.process_pending(db_session, T0)
    db_session.refresh(listing)  # the job updates in bulk SQL, behind the ORM's back
    listing.status, listing.raw = "pending", listing.raw | {"title": "now with a title"}
    db_session.flush()
    again = process.process_pending(db_session, T0)
    assert again["activated"] == 1 and again["notifications"] == 0
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 1


def test_duplicates_do_not_alert(db_session):
    a, b = sources(db_session)
    user, _ = create_user(db_session, "r@example.com")
    add_region(db_session, user)
    add_listing(db_session, a, "a1")
    add_listing(db_session, b, "b1", lat=43.650009, first_seen_at=T0.replace(hour=14))
    process.process_pending(db_session, T0)
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 1


def test_the_copy_that_went_live_first_stays_the_one_shown(db_session):
    # a feed's copy of a flat waits as pending from T0 until the next process run; meanwhile a partner's
    # copy (first seen later) came in on the stream and went live at once, with its alerts
    a, b = sources(db_session)
    user, _ = create_user(db_session, "r@example.com")
    region = add_region(db_session, user)
    live = add_listing(db_session, b, "b1", lat=43.650009, first_seen_at=T0.replace(minute=5))
    process.process_pending(db_session, T0.replace(minute=5))
    waiting = add_listing(db_session, a, "a1", first_seen_at=T0)
    result = process.process_pending(db_session, T0.replace(minute=10))
    db_session.refresh(waiting)
    assert result["duplicates"] == 1 and waiting.canonical_id == live.id
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 1
    members = db_session.scalars(
        text("SELECT listing_id FROM region_listings WHERE region_id = :r"), {"r": region.id}
    ).all()
    assert members == [live.id]


def test_the_copies_of_a_listing_that_turns_out_a_copy_follow_it_to_the_one_shown(db_session):
    a, b = sources(db_session)
    c = Source(name="c", kind="json_feed", config={"url": "http://unused"})
    db_session.add(c)
    listing = add_listing(db_session, a, "a1", price=2500)
    add_listing(db_session, c, "c1", price=2500, lat=43.650018, first_seen_at=T0.replace(hour=14))
    shown = add_listing(db_session, b, "b1", lat=43.650009, first_seen_at=T0.replace(hour=13))
    process.process_pending(db_session, T0.replace(hour=14))
    assert dict(db_session.execute(select(Listing.source_ref, Listing.canonical_id)).all()) == {
        "a1": None,
        "b1": None,
        "c1": listing.id,
    }
    # a1 comes down to b1's price: it is b1's flat, and so is its copy c1 (no listing points at a copy)
    db_session.execute(
        text("UPDATE listings SET status = 'pending', raw = raw || '{\"price\": 2000}' WHERE id = :id"),
        {"id": listing.id},
    )
    process.process_pending(db_session, T0.replace(hour=15))
    canonical = dict(db_session.execute(select(Listing.source_ref, Listing.canonical_id)).all())
    assert canonical == {"a1": shown.id, "b1": None, "c1": shown.id}


def test_a_listing_outside_the_models_market_is_not_ranked(db_session, artifact_dir):
    """The model learned Toronto: a flat in Montreal (500 km from all of it) was labelled by the rents of
    its 50 'neighbours' in Toronto. It is listed, matched and shown, without a rank."""
    from models.price_rank import PriceRank
    from models.ranking import rank_listings
    from tests.factories import activate_artifact

    activate_artifact(db_session, artifact_dir)
    a, _ = sources(db_session)
    here = add_listing(db_session, a, "toronto")
    there = add_listing(db_session, a, "montreal", lat=45.50, lon=-73.57)
    result = process.process_pending(db_session, T0)
    assert result["activated"] == 2
    ranks = dict(db_session.execute(select(PriceRank.listing_id, PriceRank.label)).all())
    assert set(ranks) == {here.id} and ranks[here.id] in ("low", "typical", "high")
    assert db_session.scalar(select(Listing.status).where(Listing.id == there.id)) == "active"
    # the Toronto flat moves to Montreal: its rank goes
    db_session.execute(
        text("UPDATE listings SET geom = ST_SetSRID(ST_MakePoint(-73.57, 45.50), 4326) WHERE id = :id"),
        {"id": here.id},
    )
    assert not rank_listings(db_session, [here.id], T0)[here.id].within_reach
    assert db_session.scalar(select(func.count()).select_from(PriceRank)) == 0


def test_a_source_whose_mapping_nook_cannot_read_waits_and_the_rest_go_on(db_session):
    """A source's values edited to {"furnished": "Yes"} raised a TypeError out of process: every batch
    of every source failed, every run."""
    a, b = sources(db_session)
    b.config = b.config | {"values": {"furnished": "Yes"}}
    db_session.flush()
    add_listing(db_session, a, "fine")
    add_listing(db_session, b, "waits", furnished="Y")
    result = process.process_pending(db_session, T0)
    assert result["activated"] == 1 and result["errors"] == [
        'b: json_feed config: values must be an object such as {"furnished": {"Y": true}, "unit_type": '
        '{"Apt": "apartment"}}, not {"furnished": "Yes"} (1 listing(s) wait, pending)'
    ]
    states = dict(db_session.execute(select(Listing.source_ref, Listing.status)).all())
    assert states == {"fine": "active", "waits": "pending"}
    b.config = b.config | {"values": {"furnished": {"Y": True}}}  # mended: the listing goes live
    db_session.flush()
    again = process.process_pending(db_session, T0)
    assert again["activated"] == 1 and again["errors"] == []
    assert db_session.scalar(select(Listing.furnished).where(Listing.source_ref == "waits")) is True


def test_an_update_nook_cannot_use_keeps_the_listing_as_it_last_was_valid(db_session):
    """A shown listing whose source sent "call us" for its price was taken down (rejected) until the
    source mended it; the stream stage kept it. Now both keep it, and the update is quarantined."""
    a, _ = sources(db_session)
    shown = add_listing(db_session, a, "shown", price=2100)
    process.process_pending(db_session, T0)
    db_session.execute(
        text(
            "UPDATE listings SET raw = raw || '{\"price\": \"call us\"}', status = 'pending' WHERE id = :id"
        ),
        {"id": shown.id},
    )
    add_listing(db_session, a, "never-valid", price="call us")
    result = process.process_pending(db_session, T0)
    assert (result["activated"], result["rejected"], result["kept_as_last_valid"]) == (0, 2, 1)
    rows = {
        r.source_ref: (r.status, r.price)
        for r in db_session.execute(select(Listing.source_ref, Listing.status, Listing.price))
    }
    assert rows == {"shown": ("active", 2100), "never-valid": ("rejected", None)}
    filed = db_session.scalars(
        select(QuarantinedRecord.source_ref).where(QuarantinedRecord.stage == "process")
    )
    assert sorted(filed) == ["never-valid", "shown"]


def test_a_price_the_source_changed_is_kept_in_the_listings_history(db_session):
    a, _ = sources(db_session)
    listing = add_listing(db_session, a, "cut", price="$2,400")
    process.process_pending(db_session, T0)
    db_session.execute(
        text("UPDATE listings SET raw = raw || '{\"price\": \"$2,250\"}', status = 'pending' WHERE id = :id"),
        {"id": listing.id},
    )  # as ingest leaves a listing whose source changed it
    assert process.process_pending(db_session, T0)["activated"] == 1
    db_session.refresh(listing)
    assert (listing.price, listing.previous_price) == (2250, 2400) and listing.price_changed_at is not None
    history = db_session.execute(
        text("SELECT old_price, new_price, changed_at FROM listing_price_changes WHERE listing_id = :id"),
        {"id": listing.id},
    ).all()
    assert [tuple(h) for h in history] == [(2400, 2250, listing.price_changed_at)]
