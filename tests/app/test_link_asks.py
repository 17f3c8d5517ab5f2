"""Asks for a mailed link (a new account, a new key) counted by the client that makes them
(models.client_asks, app.web.limit_link_asks): through the test client, and through Zappa's real handler
on API Gateway events, where the client is what API Gateway saw, whatever X-Forwarded-For says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from jobs.maintenance import housekeeping
from models.client_asks import WINDOW, ClientAsks, client_of
from tests import lambda_harness
from tests.conftest import load_event
from tests.jobs.test_email_alerts import SENDER, mail, outbox  # noqa: F401 (mail: a fixture)


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same home's other address
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("", "unknown"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(address, client):
    assert client_of(address) == client


def ask(client, path: str, email: str, source: str) -> object:
    return client.post(path, json={"email": email}, environ_base={"REMOTE_ADDR": source})


@pytest.fixture
def open_sign_up(mail, setting):  # noqa: F811 (mail: the fixture)
    setting("NOOK_OPEN_SIGN_UP", "true")
    setting("NOOK_LINK_ASKS_AN_HOUR", "3")


@pytest.mark.usefixtures("open_sign_up")
def test_a_client_asks_for_so_many_links_an_hour_whatever_the_addresses(client, db_session):
    # sign-ups and new keys count together: each mails whoever has the address typed
    assert ask(client, "/v1/sign-up", "one@example.com", "203.0.113.9").status_code == 202
    assert ask(client, "/v1/key-link", "two@example.com", "203.0.113.9").status_code == 202
    assert ask(client, "/v1/sign-up", "three@example.com", "203.0.113.9").status_code == 202
    for path in ("/v1/sign-up", "/v1/key-link"):
        refused = ask(client, path, "four@example.com", "203.0.113.9")
        assert refused.status_code == 429, path
        assert "asked for from here" in refused.get_json()["detail"]
        assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert outbox("four@example.com") == []
    # another client is not held back, and the refused asks spent none of the hour's sign-up letters
    assert ask(client, "/v1/sign-up", "four@example.com", "198.51.100.7").status_code == 202
    assert len(outbox("four@example.com")) == 1
    counts = dict(db_session.execute(select(ClientAsks.client, ClientAsks.asks)).all())
    assert counts == {"203.0.113.9": 3, "198.51.100.7": 1}
    # an hour after its first ask, the client asks again; the counts of hours gone by go
    db_session.execute(update(ClientAsks).values(window_started_at=ClientAsks.window_started_at - WINDOW))
    assert ask(client, "/v1/sign-up", "five@example.com", "203.0.113.9").status_code == 202
    assert dict(db_session.execute(select(ClientAsks.client, ClientAsks.asks)).all()) == {"203.0.113.9": 1}


@pytest.mark.usefixtures("open_sign_up")
def test_housekeeping_deletes_the_counts_of_hours_gone_by(client, db_session):
    ask(client, "/v1/sign-up", "one@example.com", "203.0.113.9")
    ask(client, "/v1/sign-up", "two@example.com", "198.51.100.7")
    db_session.execute(
        update(ClientAsks)
        .where(ClientAsks.client == "203.0.113.9")
        .values(window_started_at=ClientAsks.window_started_at - WINDOW)
    )
    assert housekeeping(db_session, datetime.now(UTC))["client_asks_deleted"] == 1
    assert db_session.scalars(select(ClientAsks.client)).all() == ["198.51.100.7"]
    assert housekeeping(db_session, datetime.now(UTC) + timedelta(hours=1))["client_asks_deleted"] == 1


def key_link_event(version: str, source_ip: str, forwarded_for: str) -> dict:
    """POST /v1/key-link as API Gateway hands it to the Lambda: from `source_ip`, with the
    X-Forwarded-For API Gateway passes on (what the client wrote, then the address it saw)."""
    if version == "v1":
        event = load_event("apigw_v1_health.json")
        event.update(path="/v1/key-link", httpMethod="POST", pathParameters={"proxy": "v1/key-link"})
        event["requestContext"].update(httpMethod="POST", path="/app/v1/key-link")
        event["requestContext"]["identity"]["sourceIp"] = source_ip
        headers = {"X-Forwarded-For": forwarded_for, "Content-Type": "application/json"}
        event["headers"].update(headers)
        event["multiValueHeaders"].update({name: [value] for name, value in headers.items()})
    else:
        event = load_event("apigw_v2_health.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/key-link"
        event["requestContext"]["http"].update(method="POST", sourceIp=source_ip)
        event["headers"].update({"x-forwarded-for": forwarded_for, "content-type": "application/json"})
    event["body"] = json.dumps({"email": "nobody@example.com"})
    return event


def test_through_zappa_the_client_is_who_api_gateway_saw(committed):
    env = {"NOOK_MAIL_FROM": SENDER, "NOOK_LINK_ASKS_AN_HOUR": "1"}

    def status(version: str, source_ip: str, forwarded_for: str) -> int:
        outcome = lambda_harness.invoke("app", key_link_event(version, source_ip, forwarded_for), env=env)
        return outcome["result"]["statusCode"]

    # Zappa takes the next-to-last X-Forwarded-For as the client: here, whatever the client wrote
    assert status("v1", "198.51.100.7", "1.1.1.1, 198.51.100.7") == 202
    assert status("v1", "198.51.100.7", "2.2.2.2, 198.51.100.7") == 429
    assert status("v2", "198.51.100.7", "3.3.3.3, 198.51.100.7") == 429
    assert status("v2", "198.51.100.8", "1.1.1.1, 198.51.100.8") == 202
