"""Alerts by email: a user who turned them on has their alerts and saved listings' news mailed through
SES (moto's, read back from its record of what it sent) instead of posted, once, and tried again with
backoff when SES does not take the message."""

from __future__ import annotations

import email
import os
from datetime import timedelta

import boto3
import pytest
from botocore.config import Config
from sqlalchemy import func, select, update

from jobs import notify
from models.listing import Listing
from models.mail import Mailer, local_outbox
from models.region import Notification, Region
from models.session import session_scope
from models.source import Source
from models.user import SavedListing, User
from tests.conftest import free_port
from tests.jobs.test_notify import NOW, seed_alerts
from tests.jobs.test_saved_news import seed_saved

SENDER = "nook <alerts@nook.test>"


@pytest.fixture
def mail(moto_endpoint, setting):
    """This nook sends email, from an address SES (moto) lets it send from."""
    setting("NOOK_MAIL_FROM", SENDER)
    boto3.client("sesv2").create_email_identity(EmailIdentity="alerts@nook.test")


def outbox(to: str) -> list[email.message.EmailMessage]:
    """The emails SES took for this address, oldest first."""
    return [m for m in local_outbox(os.environ["AWS_ENDPOINT_URL"]) if m["To"] == to]


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    return (
        message.get_body(preferencelist=("plain",)).get_content(),
        message.get_body(preferencelist=("html",)).get_content(),
    )


def choose_email(user_id: int) -> None:
    with session_scope() as session:
        session.execute(update(User).where(User.id == user_id).values(email_alerts=True))


def alert_states(user_id: int) -> set[tuple]:
    with session_scope() as session:
        rows = session.scalars(select(Notification).where(Notification.user_id == user_id))
        return {(n.status, n.attempts, n.last_error) for n in rows}


def test_alerts_are_emailed_instead_of_posted_once(
    committed, mail, receiver, poster, private_webhooks_allowed, setting
):
    setting("NOOK_PUBLIC_URL", "https://nook.example.com")
    mailed = seed_alerts(receiver.hook_url, count=2, email="mailed@example.com", source="a")
    posted = seed_alerts(receiver.hook_url, count=1, email="posted@example.com", source="b")
    choose_email(mailed)  # keeps its webhook, which gets nothing now
    with session_scope() as session:
        session.execute(update(Region).where(Region.user_id == mailed).values(name="Queen & <King>"))

    result = notify.notify_all(NOW, poster)
    assert result["sent"] == 3 and result["failed"] == 0 and result["failing_users"] == []
    (request,) = receiver.delivered  # the webhook user's alert alone
    with session_scope() as session:
        posted_ids = set(session.scalars(select(Notification.id).where(Notification.user_id == posted)))
    assert {a["id"] for a in request.json()["nook"]["notifications"]} == posted_ids
    assert request.json()["text"] == "1 new listing in your areas"
    (alert,) = request.json()["nook"]["notifications"]
    on_nook = f"https://nook.example.com/#listing={alert['listing_id']}"
    assert alert["on_nook"] == on_nook  # the listing on nook's own page: its range, history, save
    assert request.json()["blocks"][1]["text"]["text"].endswith(f"\n<{on_nook}|See it on nook>")

    (letter,) = outbox("mailed@example.com")
    assert letter["Subject"] == "2 new listings in your areas"
    assert letter["To"] == "mailed@example.com" and letter["From"] == SENDER
    text, html = parts(letter)
    assert "Flat 0\n$2,000 · studio · 1 ba · in Queen & <King>\n$2,000 is typical" in text
    assert "https://example.com/1" in text and "Flat 1" in text
    assert "DELETE /v1/me/email-alerts" in text  # how to stop them
    assert '<a href="https://example.com/0">Flat 0</a>' in html
    with session_scope() as session:
        first = session.scalar(
            select(Listing.id).join(Source).where(Source.name == "a", Listing.source_ref == "r0")
        )
    assert f"https://example.com/0\nSee it on nook: https://nook.example.com/#listing={first}" in text
    assert f'<a href="https://nook.example.com/#listing={first}">See it on nook</a>' in html
    assert "in Queen &amp; &lt;King&gt;" in html and "<King>" not in html
    assert alert_states(mailed) == {("sent", 1, None)}
    with session_scope() as session:  # each records which way it went
        via = session.execute(select(Notification.user_id, Notification.sent_via).distinct()).all()
    assert sorted(via) == sorted([(mailed, "email"), (posted, "webhook")])

    again = notify.notify_all(NOW + timedelta(hours=1), poster)
    assert again["sent"] == 0 and len(outbox("mailed@example.com")) == 1 and len(receiver.delivered) == 1


def test_an_email_ses_refuses_stays_queued_and_is_sent_once_it_can_be(
    committed, moto_endpoint, setting, poster
):
    setting("NOOK_MAIL_FROM", SENDER)  # an address SES does not (yet) let us send from
    user_id = seed_alerts(None, count=2, email="later@example.com")
    choose_email(user_id)

    first = notify.notify_all(NOW, poster)
    assert first["failed"] == 2 and first["failing_users"] == [user_id]
    ((status, attempts, error),) = alert_states(user_id)
    assert (status, attempts) == ("queued", 1)
    assert "SES refused the email: MessageRejected" in error and "alerts@nook.test" in error
    with session_scope() as session:
        due = set(
            session.scalars(select(Notification.next_attempt_at).where(Notification.user_id == user_id))
        )
    assert due == {NOW + timedelta(minutes=1)}  # the backoff of a failed post
    assert outbox("later@example.com") == []

    boto3.client("sesv2").create_email_identity(EmailIdentity="nook.test")  # the operator verifies the domain
    assert notify.notify_all(NOW + timedelta(seconds=30), poster)["batches"] == 0  # still backing off
    second = notify.notify_all(NOW + timedelta(minutes=2), poster)
    assert second["sent"] == 2 and len(outbox("later@example.com")) == 1
    assert alert_states(user_id) == {("sent", 2, None)}


def test_ses_that_does_not_answer_is_a_failure_to_retry(committed, mail, poster):
    user_id = seed_alerts(None, count=1, email="nobody-home@example.com")
    choose_email(user_id)
    dead = boto3.client(
        "sesv2",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )
    result = notify.notify_all(NOW, poster, mailer=Mailer(client=dead))
    assert result["failed"] == 1
    ((status, attempts, error),) = alert_states(user_id)
    assert (status, attempts) == ("queued", 1) and error.startswith(
        "SES did not answer: EndpointConnectionError"
    )


def test_users_who_chose_email_wait_when_this_nook_sends_none(
    committed, receiver, poster, private_webhooks_allowed
):
    """NOOK_MAIL_FROM unset after users chose email: their alerts are not posted to the webhook they
    left behind; they wait (listed as queued, then expired), and come by email once mail is back."""
    user_id = seed_alerts(receiver.hook_url, count=1, email="chose-mail@example.com")
    choose_email(user_id)
    result = notify.notify_all(NOW, poster)
    assert result["users"] == 0 and receiver.delivered == []
    assert alert_states(user_id) == {("queued", 0, None)}


def test_saved_listings_news_is_emailed_with_the_note(committed, mail, poster):
    first, gone = seed_saved(None, [2500, 2000], email="saver-mail@example.com")
    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == "saver-mail@example.com"))
        user.email_alerts = True
        session.get(SavedListing, (user.id, first)).note = "Viewing Thu <6pm> & bring ID"
        session.get(Listing, first).price = 2300
        session.get(Listing, gone).status = "delisted"

    result = notify.notify_all(NOW, poster)
    assert result["saved_news"]["sent"] == 2
    (letter,) = outbox("saver-mail@example.com")
    assert letter["Subject"] == "1 price cut and 1 no longer listed among your saved listings"
    text, html = parts(letter)
    assert "Price cut: Flat 0\n$2,300 · 1 bd · 1 ba\n" in text
    assert "Your note: Viewing Thu <6pm> & bring ID" in text
    assert "Your note: Viewing Thu &lt;6pm&gt; &amp; bring ID" in html
    assert "Flat 1\nNo longer listed" in text
    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["saved_news"]["sent"] == 0
    assert len(outbox("saver-mail@example.com")) == 1


def test_mail_test_and_outbox_commands(mail, runner, monkeypatch, setting):
    from jobs.cli import mail_group

    sent = runner.invoke(mail_group, ["test", " Tester@Example.com "])
    assert sent.exit_code == 0 and "SES took the email to tester@example.com" in sent.output
    listed = runner.invoke(mail_group, ["outbox", "--to", "tester@example.com"])
    assert listed.exit_code == 0
    assert "to tester@example.com  nook: a test email" in listed.output
    assert "alerts by email reach this address" in listed.output
    assert (
        "no email sent to nobody@example.com yet"
        in runner.invoke(mail_group, ["outbox", "--to", "nobody@example.com"]).output
    )

    bad = runner.invoke(mail_group, ["test", "not an address"])
    assert bad.exit_code == 2 and "is not an email address" in bad.output
    setting("NOOK_MAIL_FROM", "nook <alerts@unverified.example>")
    refused = runner.invoke(mail_group, ["test", "tester@example.com"])
    assert refused.exit_code == 1 and "SES refused the email: MessageRejected" in refused.output
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    on_aws = runner.invoke(mail_group, ["outbox"])
    assert on_aws.exit_code == 2 and "only a local SES" in on_aws.output


def test_an_email_s_unsubscribe_link_stops_the_emails_in_one_click(committed, mail, setting, poster):
    from app import create_app

    setting("NOOK_PUBLIC_URL", "https://nook.example.com/")
    user_id = seed_alerts(None, count=1, email="one-click@example.com")
    choose_email(user_id)
    notify.notify_all(NOW, poster)
    (letter,) = outbox("one-click@example.com")
    with session_scope() as session:
        token = session.get(User, user_id).mail_token
    link = f"https://nook.example.com/unsubscribe?u={user_id}&t={token}"
    assert letter["List-Unsubscribe"].strip() == f"<{link}>"  # folded onto a line of its own: long
    assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(letter)
    assert (
        f"or follow {link}." in text
        and f'<a href="{link.replace("&", "&amp;")}">stop these emails</a>' in html
    )

    # the mail app's one click, against the app as deployed (its own committed session)
    answer = create_app().test_client().post(link.removeprefix("https://nook.example.com"))
    assert answer.status_code == 200
    with session_scope() as session:
        assert session.get(User, user_id).email_alerts is False
        notification = session.scalar(select(Notification).where(Notification.user_id == user_id))
        notification.status, notification.sent_at = "queued", None  # were there more to send ...
    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["users"] == 0  # ... none is mailed
    assert len(outbox("one-click@example.com")) == 1


def test_a_paced_user_gets_one_email_of_what_is_due_then_nothing_until_their_pace_allows(
    committed, mail, poster, setting, monkeypatch
):
    # a paced user had each kind of news in an email of its own, and their alerts in as many emails as
    # twenty went into: a daily digest of 60 new flats and a saved flat's news came as four emails
    monkeypatch.setattr(notify, "MAX_PER_MESSAGE", 2)  # shown in full
    monkeypatch.setattr(notify, "MAX_PER_DIGEST", 4)  # covered by one message
    setting("NOOK_PUBLIC_URL", "https://nook.example.com")
    user_id = seed_alerts(None, count=6, email="hourly@example.com")
    with session_scope() as session:
        user = session.get(User, user_id)
        user.email_alerts, user.alert_every_minutes = True, 60
        listings = session.scalars(select(Listing).order_by(Listing.id)).all()
        session.add(SavedListing(user_id=user_id, listing_id=listings[0].id, price=2000, told_price=2000))
        listings[0].status = "delisted"  # its alert is withdrawn; for its saver it is news
    first = notify.notify_all(NOW, poster)
    assert (first["sent"], first["withdrawn"], first["saved_news"]["sent"], first["batches"]) == (3, 1, 1, 1)
    (letter,) = outbox("hourly@example.com")
    # too long for one line with its name: folded after "Subject:", so parsed back with a space first
    assert (
        letter["Subject"].strip()
        == "3 new listings in your areas; 1 no longer listed among your saved listings"
    )
    text, html = parts(letter)
    assert text.startswith("3 new listings in your areas\n\nFlat 1\n")
    assert "Flat 2\n" in text and "Flat 3\n" not in text  # two in full, and the third ...
    assert (
        "\n\nAnd 1 more in your areas, on nook's alert list.\nSee them on nook: https://nook.example.com/\n\n"
        "1 no longer listed among your saved listings\n\nFlat 0\nNo longer listed" in text
    )
    assert (
        '<h2 style="font-size:18px">1 no longer listed among your saved listings</h2>' in html
        and 'And 1 more in your areas, on nook&#x27;s alert list. <a href="https://nook.example.com/">'
        in html
    )
    with session_scope() as session:
        assert session.get(User, user_id).last_alerted_at == NOW
        states = session.execute(
            select(Notification.status, func.count())
            .where(Notification.user_id == user_id)
            .group_by(Notification.status)
        ).all()
        assert dict(states) == {"sent": 3, "queued": 2}  # past the digest's four: the next hour's
        again = session.scalar(select(Notification).where(Notification.status == "sent").limit(1))
        # one more alert, queued ten minutes on (as a price cut re-queues one)
        again.status, again.sent_at, again.created_at = "queued", None, NOW + timedelta(minutes=10)
        again.next_attempt_at = NOW + timedelta(minutes=10)

    held = notify.notify_all(NOW + timedelta(minutes=30), poster)
    assert held["users"] == 0 and len(outbox("hourly@example.com")) == 1  # an hour has not passed
    later = notify.notify_all(NOW + timedelta(minutes=60), poster)
    assert (later["sent"], later["batches"]) == (3, 1) and len(outbox("hourly@example.com")) == 2
    assert outbox("hourly@example.com")[-1]["Subject"] == "3 new listings in your areas"
    with session_scope() as session:
        assert session.get(User, user_id).last_alerted_at == NOW + timedelta(minutes=60)


def test_nothing_goes_within_a_users_quiet_hours_on_their_clock(committed, mail, poster):
    # NOW is 12:00 UTC, 21:00 in Tokyo: within 20:00-07:00 there, which ends at 22:00 UTC
    user_id = seed_alerts(None, count=2, email="night@example.com")
    with session_scope() as session:
        user = session.get(User, user_id)
        user.email_alerts = True
        user.quiet_from, user.quiet_until, user.quiet_time_zone = 20, 7, "Asia/Tokyo"
        listing = session.scalars(select(Listing).order_by(Listing.id)).first()
        session.add(SavedListing(user_id=user_id, listing_id=listing.id, price=2000, told_price=2000))
        listing.status = "delisted"  # news for its saver: it waits too

    for hours in (0, 9):
        held = notify.notify_all(NOW + timedelta(hours=hours), poster)
        assert (held["users"], held["saved_news"]["users"]) == (0, 0) and outbox("night@example.com") == []
    morning = notify.notify_all(NOW + timedelta(hours=10), poster)
    assert (morning["sent"], morning["saved_news"]["sent"]) == (1, 1)
    (letter,) = outbox("night@example.com")
    assert "1 new listing in your areas" in letter["Subject"]

    # hours within one day (09:00-17:00 UTC): quiet at noon, not at five
    seed_alerts(None, count=1, email="day@example.com", source="t")
    with session_scope() as session:
        day = session.scalar(select(User).where(User.email == "day@example.com"))
        day.email_alerts = True
        day.quiet_from, day.quiet_until, day.quiet_time_zone = 9, 17, "UTC"
    assert notify.notify_all(NOW + timedelta(days=1), poster)["users"] == 0
    assert notify.notify_all(NOW + timedelta(days=1, hours=5), poster)["sent"] == 1
    assert len(outbox("day@example.com")) == 1


def test_a_viewing_is_reminded_by_email_with_the_address_escaped(committed, mail, poster):
    (flat,) = seed_saved(None, [2500], email="viewer-mail@example.com")
    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == "viewer-mail@example.com"))
        user.email_alerts = True
        saved = session.get(SavedListing, (user.id, flat))
        saved.stage, saved.viewing_time_zone = "viewing", "America/Toronto"
        saved.viewing_at = NOW + timedelta(hours=1, minutes=30)
        session.get(Listing, flat).address = "12 <Queen> St & Bay"

    result = notify.notify_all(NOW, poster)
    assert result["viewings"] == {"users": 1, "sent": 1, "failed": 0}
    (letter,) = outbox("viewer-mail@example.com")
    assert letter["Subject"] == "Your viewing today at 08:30"  # NOW is 07:00 in Toronto
    text, html = parts(letter)
    assert "Viewing today at 08:30: Flat 0\n$2,500 · 1 bd · 1 ba\nAt 12 <Queen> St & Bay\n" in text
    assert "At 12 &lt;Queen&gt; St &amp; Bay" in html and "<strong>Viewing today at 08:30:</strong>" in html
    assert notify.notify_all(NOW + timedelta(minutes=5), poster)["viewings"]["sent"] == 0
    assert len(outbox("viewer-mail@example.com")) == 1
