"""Price-cut alerts: a region told of a flat (or that missed it) hears again when its price is cut."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, text

from jobs import process
from models.listing import Listing
from models.matching import withdraw_alerts
from models.region import Notification
from models.session import session_scope
from models.user import create_user
from tests.jobs.conftest import T0, add_listing, add_region, sources


def reprice(session, prices: dict[str, int], **raw) -> None:
    """As ingest leaves listings whose source sent them again: the new record, pending."""
    for ref, price in prices.items():
        session.execute(
            text(
                "UPDATE listings SET raw = raw || CAST(:r AS jsonb), status = 'pending' WHERE source_ref = :s"
            ),
            {"s": ref, "r": json.dumps({"price": price, **raw})},
        )


def alerts(session) -> dict[tuple[str, str], tuple[str, str, object, object]]:
    """(region name, listing ref) -> (status, reason, created_at, sent_at)."""
    rows = session.execute(
        text("""
            SELECT r.name, l.source_ref, n.status, n.reason, n.created_at, n.sent_at
            FROM notifications n JOIN regions r ON r.id = n.region_id JOIN listings l ON l.id = n.listing_id
        """)
    )
    return {(r.name, r.source_ref): (r.status, r.reason, r.created_at, r.sent_at) for r in rows}


def test_a_cut_alerts_again_the_regions_told_of_the_flat_or_that_missed_it(committed):
    sent_at = T0 + timedelta(minutes=5)
    with session_scope() as session:
        a, _ = sources(session)
        user, _ = create_user(session, "renter@example.com")
        add_region(session, user, "budget", max_price=2850)
        add_region(session, user, "anywhere")
        add_region(session, user, "browse", alerts=False)
        for ref in ("cut", "small-cut", "raised", "missed", "queued", "slip"):
            add_listing(session, a, ref, price=2800)
        add_listing(session, a, "too-dear", price=2950)
        assert process.process_pending(session, T0)["notifications"] == 13
    with session_scope() as session:  # the notify job sent them, but for "missed" (no webhook then)
        session.execute(
            text("""
                UPDATE notifications n
                SET status = CASE l.source_ref WHEN 'missed' THEN 'expired' ELSE 'sent' END,
                    sent_at = CASE WHEN l.source_ref = 'missed' THEN NULL ELSE CAST(:at AS timestamptz) END
                FROM listings l WHERE l.id = n.listing_id AND l.source_ref <> 'queued'
            """),
            {"at": sent_at},
        )
    later = T0 + timedelta(hours=1)
    with session_scope() as session:
        reprice(session, {"cut": 2700, "small-cut": 2760, "raised": 2900, "missed": 2500, "queued": 2500})
        reprice(session, {"slip": 1300})  # more than half off: a source's slip far likelier than news
        reprice(session, {"too-dear": 2800})  # cut into the budget: new there, again in "anywhere"
        assert process.process_pending(session, later)["notifications"] == 2 + 2 + 2
    with session_scope() as session:
        now = alerts(session)
    assert now[("budget", "cut")] == now[("anywhere", "cut")] == ("queued", "price_cut", later, sent_at)
    assert now[("budget", "missed")] == ("queued", "price_cut", later, None)
    assert now[("anywhere", "too-dear")] == ("queued", "price_cut", later, sent_at)
    assert now[("budget", "too-dear")] == ("queued", "new", later, None)
    for ref in (
        "small-cut",
        "raised",
        "slip",
    ):  # 1.4% is under NOOK_PRICE_CUT_ALERT_PERCENT; a rise is no news
        assert now[("budget", ref)] == now[("anywhere", ref)] == ("sent", "new", T0, sent_at)
    assert now[("budget", "queued")] == ("queued", "new", T0, None)  # still to go: it says the price then
    assert ("browse", "cut") not in now

    with session_scope() as session:  # sent again; the listings change again, but not their prices
        session.execute(text("UPDATE notifications SET status = 'sent', sent_at = :at"), {"at": later})
        reprice(session, {"cut": 2700, "missed": 2500}, title="Freshly painted")
        assert process.process_pending(session, later + timedelta(hours=1))["notifications"] == 0
    with session_scope() as session:
        assert {status for status, *_ in alerts(session).values()} == {"sent"}
        assert session.scalar(select(Listing.title).where(Listing.source_ref == "cut")) == "Freshly painted"


def test_price_cut_alerts_can_be_switched_off(db_session, setting):
    setting("NOOK_PRICE_CUT_ALERT_PERCENT", "0")
    a, _ = sources(db_session)
    user, _ = create_user(db_session, "renter@example.com")
    add_region(db_session, user)
    add_listing(db_session, a, "x", price=2800)
    process.process_pending(db_session, T0)
    db_session.execute(text("UPDATE notifications SET status = 'sent', sent_at = :at"), {"at": T0})
    reprice(db_session, {"x": 2000})
    assert process.process_pending(db_session, T0)["notifications"] == 0
    assert db_session.scalars(select(Notification.status)).all() == ["sent"]


def test_a_region_told_of_a_flat_through_its_copy_hears_of_a_cut_of_the_one_shown(committed):
    told_at = T0 + timedelta(minutes=5)
    with session_scope() as session:
        a, b = sources(session)
        user, _ = create_user(session, "renter@example.com")
        add_region(session, user, "anywhere")
        add_listing(session, a, "shown", price=2800)
        add_listing(session, b, "copy", price=2800, lat=43.655)  # not yet known as a copy: both alerted
        assert process.process_pending(session, T0)["notifications"] == 2
    with session_scope() as session:
        # the copy's alert went first; then the recheck found it a copy, and the notify job withdrew the
        # alert of the one shown (the region was told of the flat)
        session.execute(
            text("""
                UPDATE notifications n SET status = 'sent', sent_at = :at
                FROM listings l WHERE l.id = n.listing_id AND l.source_ref = 'copy'
            """),
            {"at": told_at},
        )
        shown = session.scalar(select(Listing.id).where(Listing.source_ref == "shown"))
        session.execute(text("UPDATE listings SET canonical_id = :s WHERE source_ref = 'copy'"), {"s": shown})
        [pending] = session.scalars(select(Notification.id).where(Notification.listing_id == shown))
        assert withdraw_alerts(session, [pending]) == {pending}
        assert ("anywhere", "shown") not in alerts(session)

    later = T0 + timedelta(hours=1)
    with session_scope() as session:
        reprice(session, {"shown": 2600})
        assert process.process_pending(session, later)["notifications"] == 1
    with session_scope() as session:
        assert alerts(session)[("anywhere", "shown")] == ("queued", "price_cut", later, told_at)
        [cut] = session.scalars(select(Notification.id).where(Notification.listing_id == shown))
        assert withdraw_alerts(session, [cut]) == set()  # told of the flat, not of its cut: it goes

    with session_scope() as session:  # a change that is no cut is no news there, as before
        session.execute(text("UPDATE notifications SET status = 'sent', sent_at = :at"), {"at": later})
        session.execute(text("DELETE FROM notifications WHERE listing_id = :s"), {"s": shown})
        reprice(session, {"shown": 2600}, title="Freshly painted")
        process.process_pending(session, later + timedelta(hours=1))
        [again] = session.scalars(select(Notification.id).where(Notification.listing_id == shown))
        assert alerts(session)[("anywhere", "shown")][:2] == ("queued", "new")
        assert withdraw_alerts(session, [again]) == {again}
