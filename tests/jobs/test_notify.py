"""Notify: a failing then recovering webhook gets every alert exactly once."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text

from jobs import notify
from jobs.webhook_post import retry_after_seconds
from models.listing import Listing
from models.matching import match_regions
from models.region import Notification, Region
from models.session import session_scope
from models.source import Source
from models.user import HiddenListing, User, create_user
from tests.factories import add_price_rank
from tests.http_servers import (
    DrippingAnswer,
    EndlessAnswer,
    Reply,
    WebhookReceiver,
    localhost_certificate,
    scripted_server,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SQUARE = "SRID=4326;MULTIPOLYGON(((-79.4 43.6, -79.3 43.6, -79.3 43.7, -79.4 43.7, -79.4 43.6)))"


def seed_alerts(
    webhook_url: str,
    count: int = 3,
    ranked: bool = True,
    email: str = "renter@example.com",
    source: str = "s",
) -> int:
    """A user with a region and `count` queued alerts (of listings of a new source); commits (notify owns
    its transactions)."""
    with session_scope() as session:
        user, _ = create_user(session, email)
        user.webhook_url = webhook_url
        source = Source(name=source, kind="json_feed", config={"url": "http://unused"})
        region = Region(user_id=user.id, name="Downtown", geom=SQUARE)
        session.add_all([source, region])
        session.flush()
        for i in range(count):
            listing = Listing(
                source_id=source.id,
                source_ref=f"r{i}",
                raw={},
                status="active",
                title=f"Flat {i}",
                price=2000 + 100 * i,
                bedrooms=i,
                bathrooms=1.0,
                sqft=600 if i else None,
                url=f"https://example.com/{i}",
                first_seen_at=NOW,
                last_seen_at=NOW,
                geom="SRID=4326;POINT(-79.38 43.65)",
            )
            session.add(listing)
            session.flush()
            if ranked:
                add_price_rank(session, listing.id, 1900, 2150, 2450, price=listing.price)
            session.add(
                Notification(
                    user_id=user.id,
                    region_id=region.id,
                    listing_id=listing.id,
                    status="queued",
                    attempts=0,
                    next_attempt_at=NOW,
                    created_at=NOW,
                )
            )
        return user.id


def notifications():
    with session_scope() as session:
        return session.scalars(select(Notification).order_by(Notification.id)).all()


def test_failing_then_recovering_webhook_gets_each_alert_once(
    committed, receiver, poster, private_webhooks_allowed
):
    seed_alerts(receiver.hook_url, count=3)
    receiver.fail_next = 10  # down for the first run, through every retry
    first = notify.notify_all(NOW, poster)
    assert first["sent"] == 0 and first["failed"] == 3 and receiver.delivered == []
    rows = notifications()
    assert {(n.status, n.attempts) for n in rows} == {("queued", 1)}
    assert all(n.next_attempt_at == NOW + timedelta(minutes=1) and "HTTP 500" in n.last_error for n in rows)

    too_soon = notify.notify_all(NOW + timedelta(seconds=30), poster)
    assert too_soon["batches"] == 0  # backing off

    receiver.fail_next = 0
    later = NOW + timedelta(minutes=2)
    second = notify.notify_all(later, poster)
    assert second["sent"] == 3 and len(receiver.delivered) == 1
    assert {(n.status, n.sent_at) for n in notifications()} == {("sent", later)}

    third = notify.notify_all(later + timedelta(hours=1), poster)
    assert third["sent"] == 0 and len(receiver.delivered) == 1
    ids = [a["id"] for r in receiver.delivered for a in r.json()["nook"]["notifications"]]
    assert sorted(ids) == sorted(n.id for n in notifications())  # each alert exactly once


def test_a_webhook_whose_answer_never_ends_does_not_hold_the_job(committed, poster, private_webhooks_allowed):
    # it answered 200, then its body never came: notify read it until the read timeout (30 s), for every
    # retry, and recorded the alerts as failed; a body dripped a byte at a time would have held it for good
    webhook = EndlessAnswer()
    try:
        seed_alerts(webhook.url, count=2)
        result = notify.notify_all(NOW, poster)
    finally:
        webhook.stop()
    assert result["sent"] == 2 and result["failed"] == 0 and webhook.requests == 1
    assert {n.status for n in notifications()} == {"sent"}


def test_a_webhook_dripping_its_answer_is_cut_off_at_the_deadline(
    committed, receiver, poster, private_webhooks_allowed
):
    # each byte of its headers came well within the read timeout (30 s), so a webhook dripping them held
    # the job for as long as it liked: past Lambda's timeout, and the next run began with the same renter
    webhook = DrippingAnswer(seconds=6)
    try:
        seed_alerts(webhook.url, count=2)
        seed_alerts(receiver.hook_url, count=1, email="other@example.com", source="t")
        poster.deadline = 1.0
        result = notify.notify_all(NOW, poster)
    finally:
        webhook.stop()
    assert result["failed"] == 2 and result["sent"] == 1 and len(receiver.delivered) == 1
    assert webhook.requests == 1  # the deadline covers the retries too
    failed = [n for n in notifications() if n.status == "queued"]
    assert len(failed) == 2 and all("no answer within 1 s" in n.last_error for n in failed)


def test_a_webhook_asking_to_be_tried_later_is_tried_then_not_waited_for(
    committed, receiver, poster, private_webhooks_allowed
):
    # urllib3 slept as long as a 429/503's Retry-After asked (up to six hours), twice, holding the job
    seed_alerts(receiver.hook_url, count=2)
    receiver.fail_next, receiver.fail_status, receiver.fail_headers = 1, 503, {"Retry-After": "7200"}
    first = notify.notify_all(NOW, poster)
    assert first["failed"] == 2 and len(receiver.requests) == 1  # not tried again in this run
    assert {(n.next_attempt_at, n.last_error) for n in notifications()} == {
        (NOW + timedelta(hours=2), "webhook answered HTTP 503")
    }
    assert notify.notify_all(NOW + timedelta(minutes=119), poster)["batches"] == 0
    # as an HTTP date, and longer than nook ever waits: six hours
    receiver.fail_next, receiver.fail_status = 1, 429
    receiver.fail_headers = {
        "Retry-After": format_datetime(datetime.now(UTC) + timedelta(days=2), usegmt=True)
    }
    second = notify.notify_all(NOW + timedelta(hours=2), poster)
    assert second["failed"] == 2 and len(receiver.requests) == 2
    assert {n.next_attempt_at for n in notifications()} == {NOW + timedelta(hours=8)}
    third = notify.notify_all(NOW + timedelta(hours=8), poster)
    assert third["sent"] == 2 and len(receiver.delivered) == 1


def test_retry_after_is_read_as_seconds_or_a_date():
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Mon, 30 Nov 2026 12:05:00 GMT", now) == 300.0
    assert retry_after_seconds("Mon, 30 Nov 2026 11:00:00 GMT", now) == 0.0  # past: now
    assert [retry_after_seconds(v, now) for v in (None, "", "soon", "-5", "1.5")] == [None] * 5


def test_a_redirect_is_not_followed(committed, receiver, poster, private_webhooks_allowed):
    # a public webhook answering 307 to an inner address (the cloud's metadata service, say) had nook
    # post the renter's alerts there: the address was never checked
    with scripted_server() as mover:
        mover.route("/hook", lambda request: Reply(307, "", {"Location": receiver.hook_url}))
        seed_alerts(f"{mover.url}/hook", count=1)
        result = notify.notify_all(NOW, poster)
    assert result["failed"] == 1 and receiver.delivered == [] and len(mover.requests) == 1
    assert "HTTP 307 (nook follows no redirect)" in notifications()[0].last_error


def test_the_post_goes_to_an_address_checked_and_names_its_host(
    committed, receiver, poster, private_webhooks_allowed
):
    # localhost may resolve to ::1 first, where nobody listens: the next address checked is tried; a path
    # and query that are not ASCII or hold spaces are sent percent-encoded, as requests sent them
    receiver.route("/ho%C3%B6k", receiver._hook)
    url = f"{receiver.url.replace('127.0.0.1', 'localhost')}/ho\u00f6k?to=my team"
    seed_alerts(url, count=1)
    assert notify.notify_all(NOW, poster)["sent"] == 1
    (request,) = receiver.delivered
    assert request.headers["host"] == urlsplit(url).netloc
    assert (request.path, request.query) == ("/ho%C3%B6k", {"to": "my team"})


@pytest.fixture
def tls_receiver(tmp_path):
    """A webhook receiver over TLS with a self-signed certificate for the name localhost."""
    certificate, key = localhost_certificate(str(tmp_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    hook = WebhookReceiver().start(tls=context)
    try:
        yield hook, certificate
    finally:
        hook.stop()


def test_a_tls_webhook_must_prove_its_name(committed, tls_receiver, poster, private_webhooks_allowed):
    hook, certificate = tls_receiver
    by_name = hook.hook_url.replace("127.0.0.1", "localhost")
    seed_alerts(by_name, count=1)
    seed_alerts(hook.hook_url, count=1, email="other@example.com", source="t")  # by address
    untrusted = notify.notify_all(NOW, poster)
    assert untrusted["failed"] == 2 and hook.delivered == []
    assert all("CERTIFICATE_VERIFY_FAILED" in n.last_error for n in notifications())

    poster.ssl_context = ssl.create_default_context(cafile=certificate)  # now its issuer is trusted
    trusted = notify.notify_all(NOW + timedelta(minutes=1), poster)
    assert trusted["sent"] == 1 and trusted["failed"] == 1 and len(hook.delivered) == 1
    assert hook.delivered[0].headers["host"] == urlsplit(by_name).netloc
    (refused,) = [n for n in notifications() if n.status == "queued"]
    assert "IP address mismatch" in refused.last_error  # the certificate names localhost, not 127.0.0.1


def test_alerts_of_listings_no_longer_shown_are_withdrawn_not_sent(
    committed, receiver, poster, private_webhooks_allowed
):
    # flats taken down, expired or found to be copies before the notify job ran: the renter would follow
    # links to flats that are gone (and /v1/alerts already leaves them out)
    seed_alerts(receiver.hook_url, count=24)
    with session_scope() as session:
        listings = session.scalars(select(Listing).order_by(Listing.id)).all()
        for n, listing in enumerate(listings[:21]):  # more than one message's worth, so two batches
            if n % 3 == 0:
                listing.status = "delisted"
            elif n % 3 == 1:
                listing.status = "expired"
            else:
                listing.canonical_id = listings[23].id
        ids = [listing.id for listing in listings]
    result = notify.notify_all(NOW, poster)
    assert result["withdrawn"] == 21 and result["sent"] == 3 and result["batches"] == 1
    (request,) = receiver.delivered
    assert [a["listing_id"] for a in request.json()["nook"]["notifications"]] == ids[21:]
    assert request.json()["text"] == "3 new listings in your areas"
    assert [(n.listing_id, n.status) for n in notifications()] == [(i, "sent") for i in ids[21:]]

    # the flat taken down comes back: placed again, it is alerted afresh (nobody was told of it)
    with session_scope() as session:
        session.get_one(Listing, ids[0]).status = "active"
        assert match_regions(session, [ids[0]], NOW) == 1
    later = notify.notify_all(NOW + timedelta(minutes=1), poster)
    assert later["sent"] == 1 and later["withdrawn"] == 0
    assert [a["listing_id"] for a in receiver.delivered[1].json()["nook"]["notifications"]] == [ids[0]]


def test_alerts_their_region_no_longer_wants_are_withdrawn(
    committed, receiver, poster, private_webhooks_allowed
):
    # after the alerts were queued the renter lowered the region's price limit, and one flat's position
    # was corrected to outside the region: only the alert the region would still send goes
    seed_alerts(receiver.hook_url, count=4)  # $2,000, $2,100, $2,200, $2,300
    with session_scope() as session:
        session.scalars(select(Region)).one().max_price = 2150
        ids = session.scalars(select(Listing.id).order_by(Listing.id)).all()
        session.get_one(Listing, ids[0]).geom = "SRID=4326;POINT(-79.5 43.65)"
    result = notify.notify_all(NOW, poster)
    assert result["withdrawn"] == 3 and result["sent"] == 1
    (request,) = receiver.delivered
    assert [a["listing_id"] for a in request.json()["nook"]["notifications"]] == [ids[1]]
    assert [(n.listing_id, n.status) for n in notifications()] == [(ids[1], "sent")]


def test_alerts_of_flats_their_user_hid_are_withdrawn(committed, receiver, poster, private_webhooks_allowed):
    # the renter ruled a flat out ("not interested"): neither its alert nor a later price cut of it is sent
    user_id = seed_alerts(receiver.hook_url, count=3)
    with session_scope() as session:
        ids = session.scalars(select(Listing.id).order_by(Listing.id)).all()
        session.add(HiddenListing(user_id=user_id, listing_id=ids[0]))
        told = session.scalar(select(Notification).where(Notification.listing_id == ids[1]))
        told.reason, told.sent_at = "price_cut", NOW - timedelta(days=1)  # told of it, now cut
        session.add(HiddenListing(user_id=user_id, listing_id=ids[1]))
    result = notify.notify_all(NOW, poster)
    assert (result["sent"], result["withdrawn"]) == (1, 2)
    (request,) = receiver.delivered
    assert [a["listing_id"] for a in request.json()["nook"]["notifications"]] == [ids[2]]
    states = {n.listing_id: (n.status, n.reason) for n in notifications()}
    assert states == {ids[1]: ("sent", "new"), ids[2]: ("sent", "new")}  # the cut goes back to what was told


def test_message_is_slack_compatible_and_explains_the_price(
    committed, receiver, poster, private_webhooks_allowed
):
    seed_alerts(receiver.hook_url, count=2)
    notify.notify_all(NOW, poster)
    (request,) = receiver.delivered
    message = request.json()
    assert message["text"] == "2 new listings in your areas"
    assert message["blocks"][0]["type"] == "header"
    studio = message["blocks"][1]["text"]["text"]
    assert studio.startswith("*<https://example.com/0|Flat 0>*")
    assert "$2,000 · studio · 1 ba · in _Downtown_" in studio
    assert "$2,000 is typical for this type of studio." in studio
    assert request.headers["idempotency-key"].startswith("nook-")
    assert request.headers["content-type"] == "application/json"


def test_private_webhook_addresses_are_refused_by_default(committed, receiver, poster):
    seed_alerts(receiver.hook_url, count=1)
    result = notify.notify_all(NOW, poster)
    assert result["failed"] == 1 and receiver.delivered == []
    assert "non-public address" in notifications()[0].last_error


def test_backoff_grows_and_is_capped():
    assert [notify.backoff(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert notify.backoff(30) == timedelta(hours=6)


def test_run_entry_point(committed, receiver, lambda_context, private_webhooks_allowed):
    user_id = seed_alerts(receiver.hook_url, count=2, ranked=False)
    age_alerts(user_id, dict.fromkeys(range(2), datetime.now(UTC)))  # the run's clock is the real one
    result = notify.run({"kwargs": {}}, lambda_context)
    assert result["status"] == "succeeded" and result["sent"] == 2


def age_alerts(user_id: int, created: dict[int, datetime]) -> list[int]:
    """Back-date the user's alerts, in id order, to `created[n]` (n: their place); return their ids."""
    with session_scope() as session:
        rows = session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        ).all()
        for n, row in enumerate(rows):
            if n in created:
                row.created_at = row.next_attempt_at = created[n]
        return [row.id for row in rows]


def test_an_alert_no_webhook_took_within_the_age_limit_expires_unsent(
    committed, receiver, poster, private_webhooks_allowed, setting
):
    # a user who set a webhook after months of drawing regions (or whose webhook was down for weeks)
    # was posted every flat queued meanwhile, 20 a message, as "new listings in your areas"
    setting("NOOK_ALERT_MAX_AGE_HOURS", "72")
    user_id = seed_alerts(receiver.hook_url, count=3)
    old, fresh, new = age_alerts(
        user_id, {0: NOW - timedelta(days=40), 1: NOW - timedelta(hours=73), 2: NOW - timedelta(hours=71)}
    )
    no_hook = seed_alerts("", count=2, email="reader@example.com", source="t")
    with session_scope() as session:
        session.get_one(User, no_hook).webhook_url = None  # reads its alerts in the API
    kept, stale = age_alerts(no_hook, {1: NOW - timedelta(hours=80)})

    result = notify.notify_all(NOW, poster)
    assert (result["sent"], result["expired"], result["batches"]) == (1, 3, 1)
    posted = [a["id"] for r in receiver.delivered for a in r.json()["nook"]["notifications"]]
    assert posted == [new]
    statuses = {n.id: n.status for n in notifications()}
    assert statuses == {old: "expired", fresh: "expired", new: "sent", kept: "queued", stale: "expired"}

    # expired for good: the next run, with the webhook still there, posts nothing of them
    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["expired"] == 0
    assert len(receiver.delivered) == 1


def test_a_failing_webhook_stops_being_retried_once_its_alerts_are_too_old(
    committed, receiver, poster, private_webhooks_allowed, setting
):
    setting("NOOK_ALERT_MAX_AGE_HOURS", "2")
    seed_alerts(receiver.hook_url, count=2)
    receiver.fail_next = 1000
    assert notify.notify_all(NOW, poster)["failed"] == 2
    # due again after its backoff, still inside the limit: tried again
    assert notify.notify_all(NOW + timedelta(minutes=90), poster)["failed"] == 2
    later = notify.notify_all(NOW + timedelta(hours=2, minutes=1), poster)
    assert (later["expired"], later["batches"], later["users"]) == (2, 0, 0)
    rows = notifications()
    assert {(n.status, n.attempts) for n in rows} == {("expired", 2)}
    assert all("HTTP 500" in n.last_error for n in rows)  # why it never went stays on the alert


def test_users_take_turns_so_one_backlog_does_not_hold_up_the_others(
    committed, receiver, poster, private_webhooks_allowed, monkeypatch
):
    # each user's alerts were sent to the end before the next user's: one user with a long backlog
    # (waiting longest, so first in line) spent the run's time while the others' fresh alerts waited
    monkeypatch.setattr(notify, "MAX_PER_MESSAGE", 2)
    backlog = seed_alerts(receiver.hook_url, count=5, email="backlog@example.com", source="a")
    age_alerts(backlog, {n: NOW - timedelta(hours=1) for n in range(5)})  # waiting longest
    other = seed_alerts(receiver.hook_url, count=1, email="other@example.com", source="b")
    with session_scope() as session:
        user_of = {n.id: n.user_id for n in session.scalars(select(Notification))}

    result = notify.notify_all(NOW, poster)
    assert (result["sent"], result["batches"], result["users"]) == (6, 4, 2)
    order = [user_of[r.json()["nook"]["notifications"][0]["id"]] for r in receiver.delivered]
    assert order == [backlog, other, backlog, backlog]


def test_the_age_limit_leaves_an_alert_being_sent_to_its_run(committed, setting):
    # a run posting an alert as it crosses the limit holds it: the sweep of another run neither waits
    # for that post (up to 15 s) nor marks expired an alert the webhook may be taking that moment
    setting("NOOK_ALERT_MAX_AGE_HOURS", "1")
    user_id = seed_alerts("https://example.com/hook", count=2)
    being_sent, waiting = age_alerts(user_id, dict.fromkeys(range(2), NOW - timedelta(hours=2)))
    with session_scope() as sending:
        sending.execute(select(Notification).where(Notification.id == being_sent).with_for_update())
        with session_scope() as sweep:
            assert notify.expire_alerts(sweep, NOW) == 1
        sending.get_one(Notification, being_sent).status = "sent"
    assert {n.id: n.status for n in notifications()} == {being_sent: "sent", waiting: "expired"}


def test_a_user_who_deletes_their_account_during_a_run_does_not_fail_it(
    committed, receiver, poster, private_webhooks_allowed
):
    # the run lists the users with alerts due, then takes them in turns: one gone by their turn raised
    first = seed_alerts(receiver.hook_url, count=1, email="first@example.com", source="a")
    age_alerts(first, {0: NOW - timedelta(hours=1)})  # waiting longest: first in line
    leaving = seed_alerts(receiver.hook_url, count=1, email="leaving@example.com", source="b")
    post = poster.post

    def post_then_leave(*args, **kwargs):
        with session_scope() as session:  # DELETE /v1/me, committed while the first user's post is out
            session.delete(session.get_one(User, leaving))
        return post(*args, **kwargs)

    poster.post = post_then_leave
    result = notify.notify_all(NOW, poster)
    assert (result["users"], result["sent"], result["failing_users"]) == (2, 1, [])
    assert [n.user_id for n in notifications()] == [first]  # the leaver's alerts went with them


def test_an_alert_says_when_the_price_was_cut(committed, receiver, poster, private_webhooks_allowed):
    # a flat can come into a region's budget by a cut: the renter hears that it was cut, and from what
    seed_alerts(receiver.hook_url, count=2)
    with session_scope() as session:
        session.execute(text("UPDATE listings SET price = 1800 WHERE source_ref = 'r0'"))
        session.execute(text("UPDATE listings SET price = 2150 WHERE source_ref = 'r1'"))  # raised
        changed_at = session.scalar(text("SELECT price_changed_at FROM listings WHERE source_ref = 'r0'"))
    notify.notify_all(NOW, poster)
    (request,) = receiver.delivered
    cut, raised = request.json()["nook"]["notifications"]
    words = f"Cut 10% on {changed_at:%-d %b %Y}, from $2,000."
    assert cut["price"] == 1800 and cut["price_change"] == {
        "previous_price": 2000,
        "changed_at": changed_at.isoformat(),
        "percent": -10.0,
        "words": words,
    }
    assert raised["price_change"]["previous_price"] == 2100 and raised["price_change"]["percent"] > 0
    lines = [block["text"]["text"] for block in request.json()["blocks"][1:]]
    assert lines[0].endswith("\n" + words) and "Raised" not in lines[1]


def test_an_alert_says_when_one_may_move_in(committed, receiver, poster, private_webhooks_allowed):
    seed_alerts(receiver.hook_url, count=3)
    with session_scope() as session:
        session.execute(text("UPDATE listings SET available_from = '2030-05-01' WHERE source_ref = 'r0'"))
        session.execute(text("UPDATE listings SET available_from = '2020-01-01' WHERE source_ref = 'r1'"))
    notify.notify_all(NOW, poster)
    (request,) = receiver.delivered
    later, now, unsaid = request.json()["nook"]["notifications"]
    assert (later["available_from"], now["available_from"], unsaid["available_from"]) == (
        "2030-05-01",
        "2020-01-01",
        None,
    )
    lines = [block["text"]["text"] for block in request.json()["blocks"][1:4]]
    assert lines[0].endswith("\nAvailable from 1 May 2030.") and lines[1].endswith("\nAvailable now.")
    assert "Available" not in lines[2]


def test_a_price_cut_alert_says_so_and_one_withdrawn_goes_back_to_sent(
    committed, receiver, poster, private_webhooks_allowed
):
    told_at = NOW - timedelta(days=2)
    seed_alerts(receiver.hook_url, count=3)
    with session_scope() as session:  # r1 and r2 were sent, and their prices cut since (models.matching)
        session.execute(
            text("""
                UPDATE notifications n SET reason = 'price_cut', sent_at = :told
                FROM listings l WHERE l.id = n.listing_id AND l.source_ref IN ('r1', 'r2')
            """),
            {"told": told_at},
        )
        session.execute(text("UPDATE listings SET price = 1900 WHERE source_ref = 'r1'"))
        session.execute(text("UPDATE listings SET price = 1950, status = 'delisted' WHERE source_ref = 'r2'"))
    result = notify.notify_all(NOW, poster)
    assert (result["sent"], result["withdrawn"]) == (2, 1)
    (request,) = receiver.delivered
    message = request.json()
    assert message["text"] == "1 new listing and 1 price cut in your areas"
    new, cut = message["nook"]["notifications"]
    assert (new["reason"], cut["reason"]) == ("new", "price_cut") and cut["price"] == 1900
    assert message["blocks"][2]["text"]["text"].startswith("Price cut: *<https://example.com/1|Flat 1>*")
    assert message["blocks"][2]["text"]["text"].endswith(", from $2,100.")
    # r2 was taken down before its cut went out: the region was told of it, and stays so
    states = {n.listing_id: (n.status, n.reason, n.sent_at) for n in notifications()}
    assert len(states) == 3
    assert sorted(states.values(), key=str) == sorted(
        [("sent", "new", NOW), ("sent", "price_cut", NOW), ("sent", "new", told_at)], key=str
    )
