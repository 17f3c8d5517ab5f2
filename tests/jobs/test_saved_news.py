"""Notify: the news of a user's saved flats (a cut since they last heard, or gone) reaches their webhook
once, after a failing webhook too; small cuts, slips and old news are left unsaid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from jobs import notify
from models.listing import Listing
from models.session import session_scope
from models.source import Source
from models.user import SavedListing, create_user

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def seed_saved(webhook_url: str | None, prices: list[int], email: str = "saver@example.com") -> list[int]:
    """A user (with a webhook, if given) who saved listings at these prices; returns the listing ids."""
    with session_scope() as session:
        user, _ = create_user(session, email)
        user.webhook_url = webhook_url
        source = session.scalar(select(Source).where(Source.name == "s"))
        if source is None:
            source = Source(name="s", kind="json_feed", config={"url": "http://unused"})
            session.add(source)
            session.flush()
        ids = []
        for n, price in enumerate(prices):
            listing = Listing(
                source_id=source.id,
                source_ref=f"{email}-{n}",
                raw={},
                status="active",
                title=f"Flat {n}",
                price=price,
                bedrooms=1,
                bathrooms=1.0,
                url=f"https://example.com/{email}/{n}",
                first_seen_at=NOW - timedelta(days=3),
                last_seen_at=NOW,
                geom="SRID=4326;POINT(-79.38 43.65)",
            )
            session.add(listing)
            session.flush()
            session.add(SavedListing(user_id=user.id, listing_id=listing.id, price=price, told_price=price))
            ids.append(listing.id)
        return ids


def change(listing_id: int, **values) -> None:
    """Change a listing as a writer would (a change of price is dated by the database's trigger)."""
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with session_scope() as session:
        session.execute(
            text(f"UPDATE listings SET {assignments} WHERE id = :id"), {**values, "id": listing_id}
        )


def told() -> dict[int, tuple[int, bool, int]]:
    with session_scope() as session:
        rows = session.execute(select(SavedListing)).scalars()
        return {s.listing_id: (s.told_price, s.told_gone, s.news_attempts) for s in rows}


def test_a_cut_and_a_flat_gone_are_told_once_small_cuts_and_slips_never(
    committed, receiver, poster, private_webhooks_allowed
):
    cut, small, gone, slip, raised = seed_saved(receiver.hook_url, [2500, 2500, 2300, 2400, 2000])
    change(cut, price=2375)  # 5% off
    change(small, price=2475)  # 1% off: under NOOK_PRICE_CUT_ALERT_PERCENT
    change(gone, status="delisted", last_seen_at=datetime(2026, 11, 22, 9, tzinfo=UTC))
    change(slip, price=240)  # $2,400 sent as $240: a slip, not news
    change(raised, price=2100)

    result = notify.notify_all(NOW, poster)
    assert result["saved_news"] == {"users": 1, "sent": 2, "failed": 0, "failing_users": []}
    assert result["sent"] == 0  # no region alerts
    [message] = [r.json() for r in receiver.delivered]
    assert message["text"] == "1 price cut and 1 no longer listed among your saved listings"
    lines = [b["text"]["text"] for b in message["blocks"][1:]]
    assert lines == [
        "Price cut: *<https://example.com/saver@example.com/0|Flat 0>*\n$2,375 · 1 bd · 1 ba\n"
        "Cut $125 (5%) since you last heard of it, from $2,500.",
        "*<https://example.com/saver@example.com/2|Flat 2>*\n"
        "No longer listed (taken down): last seen 22 Nov 2026 asking $2,300.",
    ]
    assert [
        (s["listing_id"], s["news"], s["price"], s["last_heard_price"]) for s in message["nook"]["saved"]
    ] == [
        (cut, "price_cut", 2375, 2500),
        (gone, "gone", 2300, 2300),
    ]
    assert told() == {
        cut: (2375, False, 0),
        small: (2500, False, 0),
        gone: (2300, True, 0),
        slip: (2400, False, 0),
        raised: (2000, False, 0),
    }

    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["saved_news"]["sent"] == 0  # told once
    assert len(receiver.delivered) == 1

    # cut again: news against the price last heard, not the price saved, with the saver's note
    change(cut, price=2250)
    with session_scope() as session:
        session.execute(
            text("UPDATE saved_listings SET note = :n WHERE listing_id = :i"),
            {"n": "Viewing Sat <2pm> & bring ID", "i": cut},
        )
    notify.notify_all(NOW + timedelta(minutes=10), poster)
    again = receiver.delivered[-1].json()
    assert again["text"] == "1 price cut among your saved listings"
    assert again["blocks"][1]["text"]["text"].endswith(
        "Cut $125 (5%) since you last heard of it, from $2,375.\n"
        "Your note: Viewing Sat &lt;2pm&gt; &amp; bring ID"
    )
    assert told()[cut] == (2250, False, 0)

    # the flat that went is back (listed again): news once more, its price against the last heard
    change(gone, status="active", price=2200, last_seen_at=NOW)
    notify.notify_all(NOW + timedelta(minutes=15), poster)
    back = receiver.delivered[-1].json()
    assert back["text"] == "1 back on the market among your saved listings"
    assert back["blocks"][1]["text"]["text"] == (
        "Back on the market: *<https://example.com/saver@example.com/2|Flat 2>*\n$2,200 · 1 bd · 1 ba\n"
        "Cut $100 (4%) since you last heard of it, from $2,300."
    )
    assert [s["news"] for s in back["nook"]["saved"]] == ["back"]
    assert told()[gone] == (2200, False, 0)
    assert notify.notify_all(NOW + timedelta(minutes=20), poster)["saved_news"]["sent"] == 0


def test_a_failing_webhook_backs_off_and_hears_later(committed, receiver, poster, private_webhooks_allowed):
    [listing] = seed_saved(receiver.hook_url, [3000])
    change(listing, price=2800)
    receiver.fail_next = 10
    first = notify.notify_all(NOW, poster)
    assert first["saved_news"] == {"users": 1, "sent": 0, "failed": 1, "failing_users": [first_user()]}
    with session_scope() as session:
        saved = session.scalars(select(SavedListing)).one()
        assert (saved.told_price, saved.news_attempts) == (3000, 1)
        assert saved.news_next_attempt_at == NOW + timedelta(minutes=1) and "HTTP 500" in saved.news_error

    assert notify.notify_all(NOW + timedelta(seconds=30), poster)["saved_news"]["users"] == 0  # backing off
    receiver.fail_next = 0
    later = notify.notify_all(NOW + timedelta(minutes=2), poster)
    assert later["saved_news"]["sent"] == 1 and len(receiver.delivered) == 1
    with session_scope() as session:
        saved = session.scalars(select(SavedListing)).one()
        assert (saved.told_price, saved.news_attempts, saved.news_next_attempt_at, saved.news_error) == (
            2800,
            0,
            None,
            None,
        )


def first_user() -> int:
    with session_scope() as session:
        return session.scalars(select(SavedListing.user_id)).first()


def test_no_webhook_old_news_and_no_cut_alerts_leave_it_unsaid(
    committed, receiver, poster, setting, private_webhooks_allowed
):
    [unhooked] = seed_saved(None, [2000], email="nohook@example.com")
    stale_cut, stale_gone, gone = seed_saved(receiver.hook_url, [2000, 2000, 2000])
    change(unhooked, price=1800)
    change(stale_cut, price=1800)
    change(stale_cut, price_changed_at=NOW - timedelta(days=4))  # past NOOK_ALERT_MAX_AGE_HOURS (72)
    change(stale_gone, status="expired", last_seen_at=NOW - timedelta(days=4))
    with session_scope() as session:
        assert (
            notify.users_with_saved_news(session, NOW, notify.Channels()) == []
        )  # old news, or no webhook to tell

    setting("NOOK_PRICE_CUT_ALERT_PERCENT", "0")  # price cuts alert nobody; a flat gone still is news
    change(stale_cut, price=1500)
    change(gone, status="delisted", last_seen_at=NOW)
    result = notify.notify_all(NOW, poster)
    assert result["saved_news"]["sent"] == 1
    assert [s["listing_id"] for s in receiver.delivered[0].json()["nook"]["saved"]] == [gone]


def test_a_flat_ruled_out_hears_no_news_until_it_is_put_back(
    committed, receiver, poster, private_webhooks_allowed
):
    ruled_out, kept = seed_saved(receiver.hook_url, [2500, 2500])
    with session_scope() as session:
        session.execute(
            text("UPDATE saved_listings SET stage = 'ruled_out', stage_at = now() WHERE listing_id = :i"),
            {"i": ruled_out},
        )
    change(ruled_out, price=2300)
    change(kept, price=2300)
    notify.notify_all(NOW, poster)
    assert [s["listing_id"] for s in receiver.delivered[0].json()["nook"]["saved"]] == [kept]
    assert told()[ruled_out] == (2500, False, 0)  # not told: what they heard is as it was
    change(ruled_out, status="delisted", last_seen_at=NOW)
    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["saved_news"]["sent"] == 0

    # back in the running: told where the flat stands now
    with session_scope() as session:
        session.execute(
            text("UPDATE saved_listings SET stage = 'applied', rating = 4 WHERE listing_id = :i"),
            {"i": ruled_out},
        )
    notify.notify_all(NOW + timedelta(minutes=10), poster)
    assert [
        (s["listing_id"], s["news"], s["stage"], s["note"], s["rating"])
        for s in receiver.delivered[-1].json()["nook"]["saved"]
    ] == [(ruled_out, "gone", "applied", None, 4)]


def test_a_saved_listing_found_to_copy_another_hears_of_that_flat(
    committed, receiver, poster, private_webhooks_allowed
):
    saved_copy, flat = seed_saved(receiver.hook_url, [2600, 2500])
    with session_scope() as session:  # the second is not saved: only the copy is
        session.execute(text("DELETE FROM saved_listings WHERE listing_id = :i"), {"i": flat})
    change(saved_copy, canonical_id=flat)
    change(flat, price=2400)  # under the $2,600 heard of through the copy, by 8%
    notify.notify_all(NOW, poster)
    [news] = receiver.delivered[0].json()["nook"]["saved"]
    assert (news["listing_id"], news["price"], news["last_heard_price"]) == (flat, 2400, 2600)
    assert told()[saved_copy] == (2400, False, 0)


def test_alerts_and_saved_news_due_together_go_in_one_message(
    committed, receiver, poster, private_webhooks_allowed
):
    # they went as two messages (two emails to a user who chose email), the news a moment after the alerts
    from tests.jobs.test_notify import seed_alerts

    user_id = seed_alerts(receiver.hook_url, count=3, email="both@example.com")
    with session_scope() as session:
        gone = session.scalars(select(Listing).order_by(Listing.id.desc())).first()
        session.add(
            SavedListing(user_id=user_id, listing_id=gone.id, price=gone.price, told_price=gone.price)
        )
        gone.status = "delisted"  # its alert is withdrawn; for its saver it is news
        gone_id = gone.id
    receiver.fail_next = 10  # a failed message fails both parts: both back off, neither is lost
    failed = notify.notify_all(NOW, poster)
    assert (failed["failed"], failed["saved_news"]["failed"], failed["batches"]) == (2, 1, 1)
    assert failed["failing_users"] == failed["saved_news"]["failing_users"] == [user_id]
    with session_scope() as session:
        saved = session.scalars(select(SavedListing)).one()
        assert (saved.news_attempts, saved.news_next_attempt_at) == (1, NOW + timedelta(minutes=1))

    receiver.fail_next = 0
    result = notify.notify_all(NOW + timedelta(minutes=1), poster)
    assert (result["sent"], result["saved_news"]["sent"], result["batches"]) == (2, 1, 1)
    [message] = [r.json() for r in receiver.delivered]
    assert message["text"] == "2 new listings in your areas; 1 no longer listed among your saved listings"
    assert [(b["type"], b["text"]["text"].split("\n")[0]) for b in message["blocks"]] == [
        ("header", "2 new listings in your areas"),
        ("section", "*<https://example.com/0|Flat 0>*"),
        ("section", "*<https://example.com/1|Flat 1>*"),
        ("header", "1 no longer listed among your saved listings"),
        ("section", "*<https://example.com/2|Flat 2>*"),
    ]
    assert len(message["nook"]["notifications"]) == 2
    assert [(s["listing_id"], s["news"]) for s in message["nook"]["saved"]] == [(gone_id, "gone")]
    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["batches"] == 0  # each told once
