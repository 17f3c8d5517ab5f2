"""Accounts renters make themselves, by a link mailed to their address (app.sign_up), through moto's SES."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from jobs.maintenance import housekeeping
from models.sign_up import DAY, HOUR, SIGN_UP_EVERY, SIGN_UP_VALID, SignUp
from models.user import User, create_user
from tests.app import test_new_key as new_key_test
from tests.app.test_new_key import shown_key, status_with
from tests.jobs.test_email_alerts import SENDER, mail, outbox, parts  # noqa: F401 (mail: a fixture)


@pytest.fixture
def open_sign_up(mail, setting):  # noqa: F811 (mail: the fixture)
    """This nook sends email and lets anyone make an account."""
    setting("NOOK_OPEN_SIGN_UP", "true")


def ask(client, email: str, status: int = 202) -> dict:
    return new_key_test.ask(client, email, status, path="/v1/sign-up")


def link_in(to: str) -> str:
    """The sign-up link of the last email to `to`, as a path for the test client."""
    return new_key_test.link_in(to, page="sign-up")


def accounts(db_session, address: str) -> int:
    return db_session.scalar(select(func.count()).select_from(User).where(User.email == address))


def age(db_session, address: str, **columns: timedelta) -> None:
    """Move the address's sign-up back in time by `columns` (asked_at=..., day_started_at=...)."""
    db_session.execute(
        update(SignUp)
        .where(SignUp.email == address)
        .values({name: getattr(SignUp, name) - by for name, by in columns.items()})
    )


@pytest.mark.usefixtures("open_sign_up")
def test_a_renter_makes_their_own_account_through_a_link_mailed_to_them(client, db_session):
    answer = ask(client, " New.Renter@Example.com ")
    assert "A link to make your account is on its way" in answer["detail"]
    [letter] = outbox("new.renter@example.com")
    assert letter["Subject"] == "Your nook account" and letter["From"] == SENDER
    assert "within 60 minutes" in parts(letter)[0]
    link = link_in("new.renter@example.com")

    # opening the link (a mail scanner does) makes nothing; its button does
    page = client.get(link)
    assert (
        page.status_code == 200 and "Make my account" in page.text and "new.renter@example.com" in page.text
    )
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert accounts(db_session, "new.renter@example.com") == 0
    made = client.post(link)
    assert made.status_code == 200 and "Your nook account" in made.text
    key = shown_key(made.text)
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).get_json()
    assert me["email"] == "new.renter@example.com" and me["api_key_prefix"] == key[:12]
    assert me["email_alerts"] is True and me["alerts_to"] == "email"  # the address took the link's email
    # once: the link works no more, and no second account is made
    assert client.get(link).status_code == 404
    again = client.post(link)
    assert again.status_code == 404 and "This link is not valid" in again.text
    assert accounts(db_session, "new.renter@example.com") == 1 and status_with(client, key) == 200


@pytest.mark.usefixtures("open_sign_up")
def test_an_address_with_an_account_is_told_so_and_gets_no_link(client, alice, db_session):
    assert ask(client, "Alice@example.com") == ask(client, "nobody@example.com")  # the same answer
    [letter] = outbox("alice@example.com")
    text = parts(letter)[0]
    assert "It has one already, so no other was made" in text and "Lost your key?" in text
    assert "/sign-up?" not in text and "http://localhost/" in text
    assert accounts(db_session, "alice@example.com") == 1 and status_with(client, alice.key) == 200


@pytest.mark.usefixtures("open_sign_up")
def test_an_address_gets_three_letters_a_day_two_minutes_apart(client, db_session):
    address = "new@example.com"
    ask(client, address)
    first = link_in(address)
    ask(client, address)  # the same answer, no second letter within two minutes
    assert len(outbox(address)) == 1
    for letters in (2, 3):
        age(db_session, address, asked_at=SIGN_UP_EVERY)
        ask(client, address)
        assert len(outbox(address)) == letters
    assert client.get(first).status_code == 404  # replaced by a later one
    age(db_session, address, asked_at=SIGN_UP_EVERY)
    ask(client, address)  # a fourth the same day: none
    assert len(outbox(address)) == 3
    age(db_session, address, asked_at=DAY, day_started_at=DAY)
    ask(client, address)  # a day on: letters again
    assert len(outbox(address)) == 4
    age(db_session, address, asked_at=SIGN_UP_VALID)
    assert client.post(link_in(address)).status_code == 404  # an hour old
    assert accounts(db_session, address) == 0


@pytest.mark.usefixtures("open_sign_up")
def test_an_account_made_meanwhile_is_not_made_twice(client, db_session):
    ask(client, "new@example.com")
    link = link_in("new@example.com")
    create_user(db_session, "new@example.com")  # the operator made it: `flask users create`
    page = client.post(link)
    assert page.status_code == 200 and "This address has an account" in page.text
    assert accounts(db_session, "new@example.com") == 1
    assert client.post(link).status_code == 404  # used


@pytest.mark.usefixtures("open_sign_up")
@pytest.mark.parametrize("query", ["", "?s=1", "?s=abc&t=x", "?s=99999&t=x", "?s=0&t=x", "?s=1&t=wrong"])
def test_a_link_that_is_not_one_makes_nothing(client, db_session, query):
    ask(client, "new@example.com")
    row = db_session.scalars(select(SignUp)).one()
    query = query.replace("s=1", f"s={row.id}")
    assert client.get("/sign-up" + query).status_code == 404
    assert client.post("/sign-up" + query).status_code == 404
    assert accounts(db_session, "new@example.com") == 0


@pytest.mark.usefixtures("mail")
def test_a_nook_that_makes_no_accounts_itself_says_so_and_offers_none(client, setting):
    assert "ask its operator" in ask(client, "new@example.com", 409)["detail"]
    assert 'id="sign-up-form"' not in client.get("/").text
    setting("NOOK_OPEN_SIGN_UP", "true")
    assert 'id="sign-up-form"' in client.get("/").text
    setting("NOOK_MAIL_FROM", "")  # sign-ups on, but no email to send the link by
    assert "ask its operator" in ask(client, "new@example.com", 409)["detail"]
    assert 'id="sign-up-form"' not in client.get("/").text


@pytest.mark.usefixtures("open_sign_up")
@pytest.mark.parametrize("body", [{"email": "not an address"}, {}, {"email": "a\u0000@example.com"}])
def test_what_is_no_address_is_a_422(client, body):
    response = client.post("/v1/sign-up", json=body)
    assert response.status_code == 422, response.get_json()
    assert "json.email" in str(response.get_json())


@pytest.mark.usefixtures("open_sign_up")
def test_a_letter_ses_would_not_take_is_undone_and_asked_again_at_once(client, db_session, monkeypatch):
    new_key_test.ses_refuses_the_first(client, monkeypatch, "new@example.com", "/v1/sign-up", "sign-up")
    assert db_session.scalars(select(SignUp.letters)).all() == [1]  # the letter refused is not counted


@pytest.mark.usefixtures("open_sign_up")
def test_an_ask_takes_as_long_whether_an_account_has_the_address_or_not(client, alice, monkeypatch):
    monkeypatch.setattr("app.web.EVEN_ANSWER_SECONDS", 0.5)
    took = []
    for address in ("alice@example.com", "new@example.com", "new@example.com"):
        started = time.monotonic()
        ask(client, address)
        took.append(time.monotonic() - started)
    # a letter saying so, a link, none (asked a moment ago): all wait alike
    assert len(outbox("alice@example.com")) == len(outbox("new@example.com")) == 1
    assert min(took) >= 0.5, took


@pytest.mark.usefixtures("open_sign_up")
def test_housekeeping_deletes_the_asks_of_days_gone_by(client, db_session):
    for address in ("old@example.com", "recent@example.com", "today@example.com"):
        ask(client, address)
    age(db_session, "old@example.com", asked_at=DAY, day_started_at=DAY)
    # a day began yesterday, and its last link went a moment ago: kept while the link works
    age(db_session, "recent@example.com", day_started_at=DAY)
    now = datetime.now(UTC)
    assert housekeeping(db_session, now)["sign_ups_deleted"] == 1
    left = set(db_session.scalars(select(SignUp.email)))
    assert left == {"recent@example.com", "today@example.com"}
    assert housekeeping(db_session, now + SIGN_UP_VALID)["sign_ups_deleted"] == 1
    assert client.get(link_in("today@example.com")).status_code == 200


@pytest.mark.usefixtures("open_sign_up")
def test_past_the_letters_of_an_hour_an_ask_is_told_when_to_ask_again(client, db_session, setting):
    setting("NOOK_SIGN_UPS_AN_HOUR", "2")
    ask(client, "one@example.com")
    ask(client, "two@example.com")
    refused = client.post("/v1/sign-up", json={"email": "three@example.com"})
    assert refused.status_code == 429 and "ask again later" in refused.get_json()["detail"]
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert outbox("three@example.com") == []
    age(db_session, "one@example.com", asked_at=HOUR)  # the first letter is an hour old: room for one
    ask(client, "three@example.com")
    assert len(outbox("three@example.com")) == 1
    assert client.post("/v1/sign-up", json={"email": "four@example.com"}).status_code == 429


@pytest.mark.usefixtures("open_sign_up")
def test_an_account_deleted_takes_its_asks_to_sign_up_with_it(client, db_session):
    ask(client, "new@example.com")
    key = shown_key(client.post(link_in("new@example.com")).text)
    ask(client, "other@example.com")
    assert client.delete("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 204
    assert set(db_session.scalars(select(SignUp.email))) == {"other@example.com"}


@pytest.mark.usefixtures("open_sign_up")
def test_a_link_makes_nothing_once_sign_ups_are_closed(client, db_session, setting):
    ask(client, "new@example.com")
    link = link_in("new@example.com")
    setting("NOOK_OPEN_SIGN_UP", "false")  # the operator stopped sign-ups since
    for page in (client.get(link), client.post(link)):
        assert page.status_code == 409 and "Its operator stopped sign-ups" in page.text
    assert accounts(db_session, "new@example.com") == 0
    setting("NOOK_OPEN_SIGN_UP", "true")  # and opened them again within the hour
    assert client.post(link).status_code == 200 and accounts(db_session, "new@example.com") == 1
