"""A lost key: a link to a new one, mailed to the account's address (app.new_key), through moto's SES."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import escape

import pytest
from sqlalchemy import update

from models.user import KEY_LINK_EVERY, KEY_LINK_VALID, KEY_LINKS_A_DAY, KEY_LINKS_DAY, User
from tests.jobs.test_email_alerts import SENDER, mail, outbox, parts  # noqa: F401 (mail: a fixture)


def ask(client, email: str, status: int = 202, path: str = "/v1/key-link") -> dict:
    response = client.post(path, json={"email": email})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def link_in(to: str, page: str = "new-key") -> str:
    """The link to `page` of the last email to `to`, as a path for the test client."""
    text, html = parts(outbox(to)[-1])
    found = re.search(rf"http://localhost(/{page}\?\w=\d+&t=[\w-]+)", text)
    assert found, text
    assert escape(found.group(0)) in html
    return found.group(1)


def status_with(client, key: str) -> int:
    return client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code


def shown_key(page: str) -> str:
    found = re.search(r'id="new-key" type="text" readonly value="(nook_[\w-]+)"', page)
    assert found, page
    return found.group(1)


@pytest.mark.usefixtures("mail")
def test_a_lost_key_is_replaced_through_a_link_mailed_to_the_account(client, alice, bob):
    answer = ask(client, " Alice@Example.com ")
    [letter] = outbox("alice@example.com")
    assert letter["Subject"] == "A new API key for nook" and letter["From"] == SENDER
    assert "within 60 minutes" in parts(letter)[0]
    link = link_in("alice@example.com")
    # an address no account has gets the same answer, and no email
    assert ask(client, "nobody@example.com") == answer
    assert outbox("nobody@example.com") == []
    assert "If a nook account has this address" in answer["detail"]

    # opening the link (a mail scanner does) changes nothing; its button does
    page = client.get(link)
    assert page.status_code == 200 and "Give me a new key" in page.text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert status_with(client, alice.key) == 200
    done = client.post(link)
    assert done.status_code == 200 and "Your new API key" in done.text
    new = shown_key(done.text)
    assert (status_with(client, alice.key), status_with(client, new), status_with(client, bob.key)) == (
        401,
        200,
        200,
    )
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {new}"}).get_json()
    assert me["email"] == "alice@example.com" and me["api_key_prefix"] == new[:12]
    # once: the link works no more
    assert client.get(link).status_code == 404
    again = client.post(link)
    assert again.status_code == 404 and "This link is not valid" in again.text
    assert status_with(client, new) == 200


@pytest.mark.usefixtures("mail")
def test_a_link_is_mailed_at_most_every_two_minutes_and_works_an_hour(client, alice, db_session):
    ask(client, "alice@example.com")
    first = link_in("alice@example.com")
    ask(client, "alice@example.com")  # the same answer, no second email
    assert len(outbox("alice@example.com")) == 1
    earlier = User.key_link_asked_at - KEY_LINK_EVERY - timedelta(seconds=1)
    db_session.execute(update(User).where(User.id == alice.user.id).values(key_link_asked_at=earlier))
    ask(client, "alice@example.com")
    second = link_in("alice@example.com")
    assert len(outbox("alice@example.com")) == 2 and second != first
    assert client.get(first).status_code == 404  # replaced by the later one
    old = User.key_link_asked_at - KEY_LINK_VALID
    db_session.execute(update(User).where(User.id == alice.user.id).values(key_link_asked_at=old))
    assert client.post(second).status_code == 404  # an hour old
    assert status_with(client, alice.key) == 200


@pytest.mark.usefixtures("mail")
def test_an_account_gets_five_links_a_day_at_most(client, alice, db_session):
    def two_minutes_on() -> None:
        earlier = User.key_link_asked_at - KEY_LINK_EVERY - timedelta(seconds=1)
        db_session.execute(update(User).where(User.id == alice.user.id).values(key_link_asked_at=earlier))

    for _ in range(KEY_LINKS_A_DAY + 2):
        ask(client, "alice@example.com")  # the same answer every time
        two_minutes_on()
    assert len(outbox("alice@example.com")) == KEY_LINKS_A_DAY
    last = link_in("alice@example.com")
    # the day is counted from its first link: a day after it, links go again
    day_ago = User.key_links_day_started_at - KEY_LINKS_DAY
    db_session.execute(update(User).where(User.id == alice.user.id).values(key_links_day_started_at=day_ago))
    ask(client, "alice@example.com")
    assert len(outbox("alice@example.com")) == KEY_LINKS_A_DAY + 1
    assert link_in("alice@example.com") != last


@pytest.mark.usefixtures("mail")
def test_a_link_to_the_old_address_stops_when_the_address_changes(client, alice):
    ask(client, "alice@example.com")
    link = link_in("alice@example.com")
    moved = client.patch("/v1/me", json={"email": "alice.new@example.com"}, headers=alice.headers)
    assert moved.status_code == 202
    confirmation = re.search(
        r"http://localhost(/confirm-email\?\S+)", parts(outbox("alice.new@example.com")[-1])[0]
    )
    assert client.post(confirmation.group(1)).status_code == 200
    assert client.post(link).status_code == 404
    assert status_with(client, alice.key) == 200


@pytest.mark.usefixtures("mail")
@pytest.mark.parametrize(
    "query", ["", "?u=1", "?u=abc&t=x", "?u=99999&t=x", "?u=0&t=x", "?u=%C2%B2&t=x", "?u=1&t=wrong"]
)
def test_a_link_that_is_not_one_changes_nothing(client, alice, query):
    ask(client, "alice@example.com")
    query = query.replace("u=1", f"u={alice.user.id}")
    assert client.get("/new-key" + query).status_code == 404
    assert client.post("/new-key" + query).status_code == 404
    assert status_with(client, alice.key) == 200


@pytest.mark.usefixtures("mail")
@pytest.mark.parametrize(("body", "field"), [({"email": "not an address"}, "json.email"), ({}, "json.email")])
def test_what_is_no_address_is_a_422(client, body, field):
    response = client.post("/v1/key-link", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [field] or response.get_json().get(
        "field"
    ) == field


def test_a_nook_that_sends_no_email_says_who_gives_keys(client, alice):
    problem = ask(client, "alice@example.com", 409)
    assert "ask its operator for a new key" in problem["detail"]


def ses_refuses_the_first(client, monkeypatch, address: str, path: str, page: str) -> None:
    """Ask at `path` while SES refuses letters: the same answer, no letter; then, SES taking them again,
    ask again at once (not held back by the ask undone) and open the link to `page` that came."""
    from models.mail import Mailer, MailNotSent

    send = Mailer.send

    def refuse(self, letter, budget=None):
        raise MailNotSent("the address is on the suppression list")

    monkeypatch.setattr(Mailer, "send", refuse)
    answer = ask(client, address, path=path)
    assert outbox(address) == []
    monkeypatch.setattr(Mailer, "send", send)
    assert ask(client, address, path=path) == answer
    assert client.get(link_in(address, page)).status_code == 200


@pytest.mark.usefixtures("mail")
def test_a_link_ses_would_not_take_is_undone_and_asked_again_at_once(client, alice, monkeypatch):
    ses_refuses_the_first(client, monkeypatch, "alice@example.com", "/v1/key-link", "new-key")


@pytest.mark.usefixtures("mail")
def test_an_ask_takes_as_long_whether_an_account_has_the_address_or_not(client, alice, monkeypatch):
    monkeypatch.setattr("app.web.EVEN_ANSWER_SECONDS", 0.5)
    took = {}
    for address in ("alice@example.com", "nobody@example.com", "alice@example.com"):
        started = time.monotonic()
        ask(client, address)
        took.setdefault(address, []).append(time.monotonic() - started)
    # a letter handed to SES, no account, a letter held back (asked within two minutes): all wait alike
    assert len(outbox("alice@example.com")) == 1 and outbox("nobody@example.com") == []
    assert min(took["alice@example.com"] + took["nobody@example.com"]) >= 0.5, took


@pytest.mark.usefixtures("mail")
def test_a_new_key_ends_the_link_that_waited(client, alice):
    # someone with the mailbox asked for a link; the renter, who has their key, replaces it
    ask(client, "alice@example.com")
    link = link_in("alice@example.com")
    replaced = client.post("/v1/me/key", headers=alice.headers)
    assert replaced.status_code == 200, replaced.get_json()
    assert client.get(link).status_code == 404 and client.post(link).status_code == 404
    assert status_with(client, replaced.get_json()["api_key"]) == 200
