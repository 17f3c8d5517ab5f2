"""/unsubscribe: the link in alert emails turns email alerts off without signing in, by a POST (the
page's button, or the mail app's one click), never by merely opening it; a link with a wrong token or
naming nobody changes nothing."""

from __future__ import annotations

import pytest

from models.user import create_user, unsubscribe_link


@pytest.fixture
def subscriber(db_session):
    user, _ = create_user(db_session, "reader@example.com")
    user.email_alerts = True
    link = unsubscribe_link(user, "https://nook.example.com")
    db_session.flush()
    return user, link.removeprefix("https://nook.example.com")


def test_opening_the_link_asks_and_the_post_turns_email_alerts_off(client, db_session, subscriber):
    user, path = subscriber
    assert path == f"/unsubscribe?u={user.id}&t={user.mail_token}" and len(user.mail_token) == 32
    page = client.get(path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"Stop email alerts?" in page.data and b"reader@example.com" in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    db_session.refresh(user)
    assert user.email_alerts is True  # a mail scanner opening the link changes nothing

    # the mail app's one click (RFC 8058), as the page's button does
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"Email alerts are off" in done.data
    db_session.refresh(user)
    assert user.email_alerts is False
    assert b"Email alerts are off" in client.get(path).data
    assert client.post(path).status_code == 200  # again: nothing more to do, still fine


@pytest.mark.parametrize(
    "query",
    [
        "u={id}&t=wrong",
        "u={id}&t=",
        "u={id}",
        "t={token}",
        "u={other}&t={token}",
        "u=99999999999999999999&t={token}",
        "u=-1&t={token}",
        "u=%D9%A3&t={token}",  # an Arabic-Indic digit: isdigit(), but no id
        "u={id}&t=%C3%A9{token}",
    ],
)
def test_a_link_that_is_not_the_user_s_changes_nothing(client, db_session, subscriber, query):
    user, _ = subscriber
    path = "/unsubscribe?" + query.format(id=user.id, other=user.id + 1, token=user.mail_token)
    for method in (client.get, client.post):
        answer = method(path)
        assert answer.status_code == 404 and b"This link is not valid" in answer.data
    db_session.refresh(user)
    assert user.email_alerts is True
