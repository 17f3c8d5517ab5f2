"""upsert_active: one statement from validated records to active listings, with the batch path's rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from models.activation import upsert_active
from models.listing import Listing
from models.normalize import clean_listing
from models.source import Source

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def record(ref: str, price: int = 2100, **extra) -> dict:
    return {
        "source": "partner",
        "source_ref": ref,
        "title": f"Flat {ref}",
        "price": price,
        "bedrooms": 1,
        "bathrooms": 1,
        "sqft": 600,
        "unit_type": "apartment",
        "latitude": 43.65,
        "longitude": -79.38,
        **extra,
    }


def write(session, source_id: int, payloads: list[dict], now: datetime):
    return upsert_active(session, [(source_id, p, clean_listing(p)) for p in payloads], now)


def row(session, ref: str) -> Listing:
    session.expire_all()
    return session.scalars(select(Listing).where(Listing.source_ref == ref)).one()


def source(db_session) -> int:
    partner = Source(name="partner", kind="stream", config={})
    db_session.add(partner)
    db_session.flush()
    return partner.id


def test_new_records_are_active_located_listings(db_session):
    sid = source(db_session)
    done = write(db_session, sid, [record("a", posted_at="2026-03-01T10:00:00Z"), record("b")], T0)
    assert set(done) == {(sid, "a"), (sid, "b")} and all(r.fresh for r in done.values())
    a, b = row(db_session, "a"), row(db_session, "b")
    assert (a.id, b.id) == (done[(sid, "a")].id, done[(sid, "b")].id)
    assert a.status == "active" and a.price == 2100 and a.sqft == 600 and a.unit_type == "apartment"
    assert a.processed_at == T0 and a.first_seen_at == T0 and a.raw["title"] == "Flat a"
    assert a.posted_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert b.posted_at == T0  # no posting time: first seen
    x, y = db_session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM listings WHERE id = :id"), {"id": a.id}
    ).one()
    assert (round(x, 6), round(y, 6)) == (-79.38, 43.65)


def test_redelivery_moves_only_last_seen(db_session):
    sid = source(db_session)
    write(db_session, sid, [record("a")], T0)
    before = row(db_session, "a")
    snapshot = (before.updated_at, before.processed_at, before.posted_at, before.price)
    later = T0 + timedelta(hours=1)
    done = write(db_session, sid, [record("a")], later)
    assert not done[(sid, "a")].fresh
    after = row(db_session, "a")
    assert (after.updated_at, after.processed_at, after.posted_at, after.price) == snapshot
    assert after.last_seen_at == later


def test_a_records_nested_fields_are_kept_whole_and_its_redelivery_changes_nothing(db_session):
    sid = source(db_session)
    extra = {
        "agent": {"name": "Zoë Ng", "phones": ["+1 416 555 0101", None], "rating": 4.75},
        "photos": [{"url": "https://x.test/1.jpg", "w": 1024}, {"url": "https://x.test/2.jpg"}],
        "fees": {"parking": 150.5, "deposit": 123456789012345678901234567890, "pets": True},
        "notes": 'quotes " and \\ backslashes, tab\t, 漢字',
        "empty": {},
    }
    write(db_session, sid, [record("a", **extra)], T0)
    first = row(db_session, "a")
    assert first.raw == record("a", **extra)
    snapshot = (first.updated_at, first.processed_at)
    done = write(db_session, sid, [record("a", **extra)], T0 + timedelta(hours=1))
    assert not done[(sid, "a")].fresh
    assert (row(db_session, "a").updated_at, row(db_session, "a").processed_at) == snapshot
    changed = {**extra, "agent": {**extra["agent"], "rating": 4.8}}
    assert write(db_session, sid, [record("a", **changed)], T0 + timedelta(hours=2))[(sid, "a")].fresh
    assert row(db_session, "a").raw["agent"]["rating"] == 4.8


def test_a_change_refreshes_the_listing_and_keeps_its_posting_time(db_session):
    sid = source(db_session)
    write(db_session, sid, [record("a", posted_at="2026-03-01T10:00:00Z")], T0)
    first = row(db_session, "a")
    first_id, first_updated = first.id, first.updated_at
    db_session.execute(
        text("UPDATE listings SET canonical_id = :id WHERE source_ref = 'a'"), {"id": first_id}
    )  # as if it had been marked a duplicate
    later = T0 + timedelta(days=2)
    done = write(db_session, sid, [record("a", price=1950)], later)  # price cut, no posting time
    assert done[(sid, "a")].fresh
    changed = row(db_session, "a")
    assert changed.price == 1950 and changed.processed_at == later and changed.updated_at > first_updated
    assert changed.posted_at == datetime(2026, 3, 1, 10, tzinfo=UTC)  # kept, not reset to now
    assert changed.canonical_id is None  # duplicate marking is done again


def test_a_posting_time_in_the_future_is_taken_as_now(db_session):
    # a listing dated 2099 (a partner's clock, or a way to stay first among the newest for good) kept it
    sid = source(db_session)
    write(db_session, sid, [record("a", posted_at="2099-01-01T00:00:00Z"), record("b")], T0)
    assert row(db_session, "a").posted_at == T0
    later = T0 + timedelta(hours=1)
    write(db_session, sid, [record("b", price=1990, posted_at=1_000 * 4_070_908_800)], later)  # 2099, in ms
    assert row(db_session, "b").posted_at == later


def test_a_listing_that_went_comes_back(db_session):
    sid = source(db_session)
    write(db_session, sid, [record("gone"), record("rejected")], T0)
    db_session.execute(text("UPDATE listings SET status = 'delisted' WHERE source_ref = 'gone'"))
    db_session.execute(text("UPDATE listings SET status = 'rejected' WHERE source_ref = 'rejected'"))
    done = write(db_session, sid, [record("gone"), record("rejected")], T0 + timedelta(days=1))
    assert done[(sid, "gone")].fresh and row(db_session, "gone").status == "active"
    # as in the batch path, unchanged content that was rejected stays rejected
    assert not done[(sid, "rejected")].fresh and row(db_session, "rejected").status == "rejected"


def test_a_ref_repeated_in_one_call_keeps_its_last_record(db_session):
    sid = source(db_session)
    first, last = record("a", price=2000), record("a", price=2200)
    done = upsert_active(
        db_session,
        [(sid, first, clean_listing(first)), (sid, last, replace(clean_listing(last)))],
        T0,
    )
    assert len(done) == 1 and row(db_session, "a").price == 2200
    assert db_session.scalar(select(func.count()).select_from(Listing)) == 1
    assert upsert_active(db_session, [], T0) == {}


def changes(session, ref: str) -> list[tuple[int, int]]:
    """(old price, new price) of each change of a listing's price, oldest first."""
    return [
        tuple(r)
        for r in session.execute(
            text("""
                SELECT c.old_price, c.new_price FROM listing_price_changes c
                JOIN listings l ON l.id = c.listing_id WHERE l.source_ref = :ref ORDER BY c.changed_at
            """),
            {"ref": ref},
        )
    ]


def test_each_price_change_is_kept_with_when_it_was_written(db_session):
    sid = source(db_session)
    write(db_session, sid, [record("a", price=2400), record("b", price=1800)], T0)
    assert changes(db_session, "a") == [] and row(db_session, "a").previous_price is None  # new: no change
    write(db_session, sid, [record("a", price=2400, title="New title")], T0 + timedelta(days=1))
    write(db_session, sid, [record("a", price=2400, title="New title")], T0 + timedelta(days=2))
    assert changes(db_session, "a") == []  # new content at the same price, a re-delivery: no change
    before = db_session.scalar(text("SELECT clock_timestamp()"))
    write(db_session, sid, [record("a", price=2250, title="New title")], T0 + timedelta(days=3))
    write(db_session, sid, [record("a", price=2250, title="New title")], T0 + timedelta(days=4))
    a = row(db_session, "a")
    assert (a.price, a.previous_price) == (2250, 2400) and a.price_changed_at >= before
    cut_at = a.price_changed_at
    write(db_session, sid, [record("a", price=2300, title="New title")], T0 + timedelta(days=5))
    a = row(db_session, "a")
    assert (a.price, a.previous_price) == (2300, 2250) and a.price_changed_at > cut_at
    assert changes(db_session, "a") == [(2400, 2250), (2250, 2300)]
    stored = db_session.scalars(
        text("SELECT changed_at FROM listing_price_changes WHERE listing_id = :id ORDER BY 1"), {"id": a.id}
    ).all()
    assert stored == [cut_at, a.price_changed_at]
    assert changes(db_session, "b") == [] and row(db_session, "b").price_changed_at is None


def test_any_statement_that_changes_a_price_is_recorded_and_the_history_goes_with_the_listing(db_session):
    sid = source(db_session)
    write(db_session, sid, [record("a", price=2400)], T0)
    db_session.execute(text("UPDATE listings SET price = 2300 WHERE source_ref = 'a'"))  # an operator's
    db_session.execute(text("UPDATE listings SET price = NULL WHERE source_ref = 'a'"))
    db_session.execute(text("UPDATE listings SET price = 2100 WHERE source_ref = 'a'"))
    assert changes(db_session, "a") == [(2400, 2300)]  # to no price and from none: no price to compare
    assert row(db_session, "a").previous_price == 2400
    db_session.execute(text("DELETE FROM listings WHERE source_ref = 'a'"))
    assert db_session.scalar(text("SELECT count(*) FROM listing_price_changes")) == 0


def values(session) -> dict[str, float]:
    return dict(
        session.execute(
            text("SELECT l.source_ref, r.value FROM price_ranks r JOIN listings l ON l.id = r.listing_id")
        ).all()
    )


def test_a_ranks_value_is_its_listings_price_over_p50_whoever_writes_either(db_session):
    """price_ranks.value (the best-value order's key, migration 0048) is kept by the database: a rank
    written (as the stream and the process job write them, or the ORM), its p50 changed by any statement,
    its listing's price changed by any statement; a p50 of 0 sorts last, as no rank does."""
    from models.pricing import Estimate
    from models.ranking import store_ranks
    from tests.factories import add_price_rank, ensure_price_model

    sid = source(db_session)
    write(db_session, sid, [record("a", price=2400), record("b", price=1800), record("c", price=1000)], T0)
    ensure_price_model(db_session, "v1")
    ids = {ref: row(db_session, ref).id for ref in "abc"}
    store_ranks(db_session, {ids["a"]: Estimate(1800, 2000, 2200, "v1", "high")}, T0)
    add_price_rank(db_session, ids["b"], 1500, 2000, 2500, version="v1")
    assert values(db_session) == {"a": 1.2, "b": 0.9}
    store_ranks(db_session, {ids["a"]: Estimate(2700, 3000, 3300, "v1", "low")}, T0)  # scored again
    db_session.execute(
        text("UPDATE price_ranks SET p25 = 0, p50 = 0 WHERE listing_id = :id"), {"id": ids["b"]}
    )
    assert values(db_session) == {"a": 0.8, "b": 1e9}
    write(db_session, sid, [record("a", price=2700), record("b", price=1900)], T0 + timedelta(days=1))
    db_session.execute(text("UPDATE listings SET price = 1200 WHERE source_ref = 'c'"))  # not ranked
    assert values(db_session) == {"a": 0.9, "b": 1e9}
    db_session.execute(text("UPDATE listings SET price = 1500 WHERE source_ref = 'a'"))  # an operator's
    db_session.execute(
        text("UPDATE price_ranks SET p50 = 2000, p75 = 2100 WHERE listing_id = :id"), {"id": ids["b"]}
    )
    assert values(db_session) == {"a": 0.5, "b": 0.95}
