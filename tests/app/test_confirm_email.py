"""A change of address is confirmed from the new address (app.confirm_email), through moto's SES."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import escape

import pytest
from sqlalchemy import update

from models.user import User, change_email, unsubscribe_link
from tests.jobs.test_email_alerts import SENDER, mail, outbox, parts  # noqa: F401 (mail: a fixture)


def link_in(to: str, base: str = "http://localhost") -> str:
    """The confirmation link of the last email to `to` (leading to `base`), as a path for the test client."""
    text, html = parts(outbox(to)[-1])
    found = re.search(re.escape(base) + r"(/confirm-email\?u=\d+&t=[\w-]+)", text)
    assert found, text
    assert escape(found.group(0)) in html
    return found.group(1)


def ask(client, caller, address: str):
    return client.patch("/v1/me", json={"email": address}, headers=caller.headers)


def me(client, caller) -> dict:
    return client.get("/v1/me", headers=caller.headers).get_json()


@pytest.mark.usefixtures("mail")
def test_a_new_address_changes_once_the_link_mailed_there_is_opened(client, alice, db_session):
    # the address changed at once: a typo sent the renter's alerts to a stranger, and anyone could name an
    # address that was not theirs
    old_unsubscribe = unsubscribe_link(alice.user, "http://localhost").removeprefix("http://localhost")
    alice.user.email_trouble, alice.user.email_trouble_at = "your address bounced", datetime.now(UTC)
    db_session.flush()
    asked = ask(client, alice, " Alice.New@Example.COM ")
    assert asked.status_code == 202
    body = asked.get_json()
    assert (body["email"], body["pending_email"]) == ("alice@example.com", "alice.new@example.com")
    until = datetime.fromisoformat(body["pending_email_until"])
    assert timedelta(hours=23, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=24)
    [letter] = outbox("alice.new@example.com")
    assert letter["Subject"] == "Confirm your new address for nook" and letter["From"] == SENDER
    assert "instead of alice@example.com" in parts(letter)[0]
    link = link_in("alice.new@example.com")

    # opening the link (a mail scanner does) changes nothing; its button does
    page = client.get(link)
    assert page.status_code == 200 and "Use alice.new@example.com" in page.text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert (me(client, alice)["email"], me(client, alice)["email_trouble"]["reason"]) == (
        "alice@example.com",
        "your address bounced",
    )
    done = client.post(link)
    assert done.status_code == 200 and "Your address is changed" in done.text
    after = me(client, alice)
    assert (after["email"], after["pending_email"], after["pending_email_until"]) == (
        "alice.new@example.com",
        None,
        None,
    )
    assert after["email_trouble"] is None  # the old address's trouble went with it
    # the address left is told, in case its owner did not ask
    [notice] = outbox("alice@example.com")
    assert notice["Subject"] == "Your nook address changed"
    assert "alice.new@example.com" in parts(notice)[0] and "replace your API key" in parts(notice)[0]
    # the link is spent, and the old address's links act on the account no more
    assert client.post(link).status_code == 404 and client.get(link).status_code == 404
    assert client.post(old_unsubscribe).status_code == 404


@pytest.mark.usefixtures("mail")
def test_a_later_ask_replaces_the_link_and_asks_are_paced(client, alice, db_session):
    assert ask(client, alice, "first@example.com").status_code == 202
    first = link_in("first@example.com")
    again = ask(client, alice, "second@example.com")  # each ask mails a stranger, maybe: one a minute
    assert again.status_code == 429 and 1 <= int(again.headers["Retry-After"]) <= 60
    assert (
        me(client, alice)["pending_email"] == "first@example.com" and len(outbox("second@example.com")) == 0
    )

    def a_minute_on() -> None:
        db_session.execute(
            update(User)
            .where(User.id == alice.user.id)
            .values(pending_email_asked_at=User.pending_email_asked_at - timedelta(minutes=1))
        )

    a_minute_on()
    assert ask(client, alice, "second@example.com").status_code == 202
    second = link_in("second@example.com")
    assert client.get(first).status_code == 404 and client.post(first).status_code == 404  # replaced
    assert me(client, alice)["email"] == "alice@example.com"
    # asking for the address as it is drops the change waiting, mailing nobody
    kept = ask(client, alice, "ALICE@example.com")
    assert kept.status_code == 200 and kept.get_json()["pending_email"] is None
    assert client.post(second).status_code == 404
    assert me(client, alice)["email"] == "alice@example.com"
    assert len(outbox("alice@example.com")) == 0


@pytest.mark.usefixtures("mail")
def test_a_link_works_for_a_day_and_only_for_its_account(client, alice, bob, db_session):
    assert ask(client, alice, "alice.new@example.com").status_code == 202
    link = link_in("alice.new@example.com")
    user_id, token = re.search(r"u=(\d+)&t=([\w-]+)", link).groups()
    for wrong in (
        f"/confirm-email?u={bob.user.id}&t={token}",  # another account's
        f"/confirm-email?u={user_id}&t={token[:-2]}",  # cut short
        f"/confirm-email?u={user_id}",
        f"/confirm-email?u=x{user_id}&t={token}",
        f"/confirm-email?u=99999999999&t={token}",
    ):
        assert client.get(wrong).status_code == 404 and client.post(wrong).status_code == 404, wrong
    db_session.execute(
        update(User)
        .where(User.id == alice.user.id)
        .values(pending_email_asked_at=datetime.now(UTC) - timedelta(hours=24, seconds=1))
    )
    expired = client.get(link)
    assert expired.status_code == 404 and "older than a day" in expired.text
    assert client.post(link).status_code == 404
    after = me(client, alice)
    assert (after["email"], after["pending_email"]) == ("alice@example.com", None)


@pytest.mark.usefixtures("mail")
def test_an_address_taken_meanwhile_is_not_given_twice(client, alice, bob, db_session):
    assert ask(client, alice, "shared@example.com").status_code == 202
    link = link_in("shared@example.com")
    db_session.refresh(bob.user)
    change_email(db_session, bob.user, "shared@example.com")  # the operator moved bob there meanwhile
    db_session.flush()
    taken = client.post(link)
    assert taken.status_code == 409 and "Another nook account has" in taken.text
    assert me(client, alice)["email"] == "alice@example.com"
    assert ask(client, alice, "shared@example.com").status_code == 409  # and cannot be asked for now


def test_an_address_nook_cannot_mail_is_not_waited_for(client, alice, moto_endpoint, setting):
    setting("NOOK_MAIL_FROM", "nook <alerts@unverified.example>")  # SES does not let nook send from it
    refused = ask(client, alice, "alice.new@example.com")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
    assert "could not mail the link to alice.new@example.com" in refused.get_json()["detail"]
    body = me(client, alice)
    assert (body["email"], body["pending_email"]) == ("alice@example.com", None)
    assert outbox("alice.new@example.com") == []


@pytest.mark.usefixtures("mail")
def test_the_link_leads_to_the_public_address_and_the_operator_changes_addresses_at_once(
    client, alice, db_session, setting
):
    setting("NOOK_PUBLIC_URL", "https://nook.example.com")
    assert ask(client, alice, "alice.new@example.com").status_code == 202
    link = link_in("alice.new@example.com", "https://nook.example.com")
    # the operator's word (`flask users set-email`: change_email) needs no link, and drops the change waiting
    db_session.refresh(alice.user)
    change_email(db_session, alice.user, "alice.other@example.com")
    db_session.flush()
    body = me(client, alice)
    assert (body["email"], body["pending_email"]) == ("alice.other@example.com", None)
    assert client.post(link).status_code == 404
