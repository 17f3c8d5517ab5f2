"""/v1/alerts, /v1/me and the webhook setting."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from app.pagination import encode_cursor
from models.listing import Listing
from models.region import Notification, Region
from models.user import change_email, unsubscribe_link

SQUARE = "SRID=4326;MULTIPOLYGON(((-79.9 43.3,-78.9 43.3,-78.9 44.1,-79.9 44.1,-79.9 43.3)))"


@pytest.fixture
def alerts(db_session, alice, bob, market_ids):
    regions = {}
    for caller in (alice, bob):
        region = Region(user_id=caller.user.id, name=f"{caller.user.email} area", geom=SQUARE)
        db_session.add(region)
        db_session.flush()
        regions[caller.user.id] = region
    start = datetime(2026, 11, 20, tzinfo=UTC)
    for n, listing_id in enumerate(list(market_ids.values())[:25]):
        owner = alice if n < 20 else bob
        db_session.add(
            Notification(
                user_id=owner.user.id,
                region_id=regions[owner.user.id].id,
                listing_id=listing_id,
                status="queued",
                attempts=0,
                created_at=start + timedelta(minutes=n),
            )
        )
    db_session.flush()
    return regions


def test_alerts_newest_first_paginated_and_private(client, alice, bob, alerts):
    first = client.get("/v1/alerts", query_string={"limit": 8}, headers=alice.headers).get_json()
    times = [a["created_at"] for a in first["items"]]
    assert times == sorted(times, reverse=True) and len(times) == 8
    ids = [a["id"] for a in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(
            "/v1/alerts", query_string={"limit": 8, "cursor": cursor}, headers=alice.headers
        ).get_json()
        ids += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
    assert len(ids) == len(set(ids)) == 20
    item = first["items"][0]
    assert item["region"]["name"] == "alice@example.com area" and item["listing"]["price"] > 0
    assert len(client.get("/v1/alerts", headers=bob.headers).get_json()["items"]) == 5


def test_alerts_the_region_no_longer_wants_are_listed_only_if_sent(client, alice, db_session, alerts):
    # alice lowered her area's price limit after its alerts were queued: those above it will be withdrawn
    # by the notify job, not sent, so they are not listed; one already sent stays in her history
    rows = db_session.execute(
        select(Notification, Listing.price)
        .join(Listing, Listing.id == Notification.listing_id)
        .where(Notification.user_id == alice.user.id)
    ).all()
    prices = sorted(price for _, price in rows)
    limit = prices[len(prices) // 2]
    alerts[alice.user.id].max_price = limit
    above = [n for n, price in rows if price > limit]
    above[0].status, above[0].sent_at = "sent", datetime(2026, 11, 21, tzinfo=UTC)
    db_session.flush()
    listed = {
        a["id"]
        for a in client.get("/v1/alerts", query_string={"limit": 50}, headers=alice.headers).json["items"]
    }
    assert listed == {n.id for n, price in rows if price <= limit} | {above[0].id}
    assert len(above) >= 5 and len(listed) == 20 - len(above) + 1


def test_an_expired_alert_is_listed_as_expired_while_its_region_still_wants_it(
    client, alice, db_session, alerts
):
    # no webhook took it in time, so it is never posted: the list says so instead of "queued" for good
    rows = db_session.scalars(
        select(Notification).where(Notification.user_id == alice.user.id).order_by(Notification.id)
    ).all()
    rows[0].status = rows[1].status = "expired"
    db_session.get(Listing, rows[1].listing_id).status = "delisted"
    db_session.flush()
    items = client.get("/v1/alerts", query_string={"limit": 50}, headers=alice.headers).json["items"]
    statuses = {a["id"]: a["status"] for a in items}
    assert statuses[rows[0].id] == "expired" and rows[1].id not in statuses
    assert set(statuses.values()) == {"queued", "expired"} and len(statuses) == 19
    spec = client.get("/openapi.json").json["components"]["schemas"]["Alert"]["properties"]["status"]
    assert spec["enum"] == ["queued", "sent", "expired"]


@pytest.mark.parametrize("post", ["answered", "failed"])
def test_an_inherited_alert_is_listed_only_if_the_post_it_waits_for_failed(
    client, alice, db_session, alerts, post
):
    # a flat's listing went while the notify job posted its alert; its copy took over with an alert that
    # inherits from the one posted (PROMOTE_DUPLICATES). Failed: the gone listing's alert will be
    # withdrawn and the copy's is listed. Answered: the copy's will be withdrawn, so it is not listed
    # either; the one sent is left out with its listing, as every alert of a listing that went
    gone, copy = db_session.scalars(
        select(Notification).where(Notification.user_id == alice.user.id).order_by(Notification.id).limit(2)
    ).all()
    db_session.get(Listing, gone.listing_id).status = "delisted"
    if post == "answered":
        gone.status, gone.sent_at = "sent", datetime(2026, 11, 21, tzinfo=UTC)
    copy.inherited_from = gone.id  # the copy's own alert stands for the one it inherits
    db_session.flush()
    listed = {
        a["id"]
        for a in client.get("/v1/alerts", query_string={"limit": 50}, headers=alice.headers).json["items"]
    }
    others = set(db_session.scalars(select(Notification.id).where(Notification.user_id == alice.user.id)))
    others -= {gone.id, copy.id}
    assert listed == (others if post == "answered" else others | {copy.id})
    assert len(others) == 18


@pytest.mark.parametrize(
    "keys", [["2026-11-30T10:00:00+00:00", "x"], ["2026-11-30T10:00:00+00:00", 2**64], [5, 1]]
)
def test_a_cursor_put_together_by_hand_is_a_400(client, alice, keys):
    response = client.get(f"/v1/alerts?cursor={encode_cursor('alerts', keys)}", headers=alice.headers)
    assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "query.cursor"


def test_me_and_webhook(client, alice):
    assert client.get("/v1/me", headers=alice.headers).get_json() == {
        "id": alice.user.id,
        "email": "alice@example.com",
        "webhook_url": None,
        "email_alerts": False,
        "alerts_to": None,
        "email_available": False,
        "alerts_every_minutes": 0,
        "next_alerts_at": None,
        "api_key_prefix": alice.key[:12],
        "old_key_valid_until": None,
        "email_trouble": None,
        "pending_email": None,
        "pending_email_until": None,
        "place": None,
        "quiet_hours": None,
        "viewing_reminder_minutes": 180,
    }
    ok = client.put("/v1/me/webhook", json={"url": "https://93.184.215.14/hooks/nook"}, headers=alice.headers)
    assert ok.status_code == 200 and ok.get_json()["webhook_url"] == "https://93.184.215.14/hooks/nook"
    assert ok.get_json()["alerts_to"] == "webhook"
    assert client.delete("/v1/me/webhook", headers=alice.headers).status_code == 204
    assert client.get("/v1/me", headers=alice.headers).get_json()["webhook_url"] is None


def test_a_users_place_is_kept_with_the_account(client, alice, bob):
    assert client.get("/v1/me", headers=alice.headers).get_json()["place"] is None
    work = {"latitude": 43.6453, "longitude": -79.3806}
    changed = client.patch("/v1/me", json={"place": work}, headers=alice.headers)
    assert changed.status_code == 200 and changed.get_json()["place"] == work
    assert client.get("/v1/me", headers=alice.headers).get_json()["place"] == work
    assert client.get("/v1/me", headers=bob.headers).get_json()["place"] is None
    for wrong, field in (
        ({"latitude": 91, "longitude": 0}, "json.place.latitude"),
        ({"latitude": 43.6}, "json.place.longitude"),
        ({"latitude": 43.6, "longitude": -79.4, "name": "work"}, "json.place.name"),
        ("43.6,-79.4", "json.place"),
    ):
        refused = client.patch("/v1/me", json={"place": wrong}, headers=alice.headers)
        assert refused.status_code == 422 and field in [e["field"] for e in refused.get_json()["errors"]], (
            wrong
        )
    assert client.get("/v1/me", headers=alice.headers).get_json()["place"] == work
    forgotten = client.patch("/v1/me", json={"place": None}, headers=alice.headers)
    assert forgotten.get_json()["place"] is None


def test_a_user_sets_how_often_their_alerts_come(client, alice, db_session, setting):
    changed = client.patch("/v1/me", json={"alerts_every_minutes": 60}, headers=alice.headers)
    assert changed.status_code == 200 and changed.get_json()["alerts_every_minutes"] == 60
    assert changed.get_json()["next_alerts_at"] is None  # nothing sent yet: the next goes when due
    sent = datetime.now(UTC) - timedelta(minutes=20)
    alice.user.last_alerted_at = sent
    db_session.flush()
    me = client.get("/v1/me", headers=alice.headers).get_json()
    assert datetime.fromisoformat(me["next_alerts_at"]) == sent + timedelta(minutes=60)
    assert client.patch("/v1/me", json={}, headers=alice.headers).get_json()["alerts_every_minutes"] == 60

    for wrong in ({"alerts_every_minutes": -1}, {"alerts_every_minutes": 1441}, {"alerts_every": 5}):
        refused = client.patch("/v1/me", json=wrong, headers=alice.headers)
        assert refused.status_code == 422, wrong
    setting("NOOK_ALERT_MAX_AGE_HOURS", "12")  # a day's alerts would expire before their message went
    short = client.patch("/v1/me", json={"alerts_every_minutes": 1440}, headers=alice.headers)
    assert short.status_code == 422 and "sent for 12 hours only" in short.get_json()["detail"]
    back = client.patch("/v1/me", json={"alerts_every_minutes": 0}, headers=alice.headers)
    assert back.get_json()["alerts_every_minutes"] == 0 and back.get_json()["next_alerts_at"] is None


def test_a_user_names_hours_no_message_goes_on_their_clock(client, alice, bob, db_session):
    night = {"from": 22, "until": 7, "time_zone": "America/Toronto"}
    changed = client.patch("/v1/me", json={"quiet_hours": night}, headers=alice.headers)
    assert changed.status_code == 200 and changed.get_json()["quiet_hours"] == night
    assert client.get("/v1/me", headers=bob.headers).get_json()["quiet_hours"] is None

    # within them, the next message waits for their end: 07:00 on their clock
    now = datetime.now(UTC)
    if now.minute == 59 and now.second >= 57:  # an hour's turn between here and the answer
        time.sleep(4)
        now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("America/Toronto"))
    me = client.get("/v1/me", headers=alice.headers).get_json()
    if 22 <= local.hour or local.hour < 7:
        ends = datetime.fromisoformat(me["next_alerts_at"]).astimezone(ZoneInfo("America/Toronto"))
        assert ends > now and (ends.hour, ends.minute) == (7, 0) and ends - now <= timedelta(hours=9)
    else:
        assert me["next_alerts_at"] is None
    # hours around now, on a clock 5 hours behind UTC: quiet until the next hour o'clock there
    hour = (now.hour - 5) % 24
    around = {"from": hour, "until": (hour + 1) % 24, "time_zone": "Etc/GMT+5"}
    me = client.patch("/v1/me", json={"quiet_hours": around}, headers=alice.headers).get_json()
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert datetime.fromisoformat(me["next_alerts_at"]) == next_hour
    # a pace that holds the message back longer wins
    alice.user.alert_every_minutes, alice.user.last_alerted_at = 1440, now
    db_session.flush()
    me = client.get("/v1/me", headers=alice.headers).get_json()
    assert datetime.fromisoformat(me["next_alerts_at"]) == now + timedelta(days=1)

    for wrong, field in (
        ({"from": 22, "until": 22, "time_zone": "UTC"}, "json.quiet_hours.until"),
        ({"from": 24, "until": 7, "time_zone": "UTC"}, "json.quiet_hours.from"),
        ({"from": 22, "time_zone": "UTC"}, "json.quiet_hours.until"),
        ({"from": 22, "until": 7}, "json.quiet_hours.time_zone"),
        ({"from": 22, "until": 7, "time_zone": "Mars/Olympus_Mons"}, "json.quiet_hours.time_zone"),
        ({"from": 22, "until": 7, "time_zone": "EST5EDT,M3.2.0,M11.1.0"}, "json.quiet_hours.time_zone"),
        ({"from": 22, "until": 7, "time_zone": "UTC\u0000"}, "json.quiet_hours.time_zone"),
    ):
        refused = client.patch("/v1/me", json={"quiet_hours": wrong}, headers=alice.headers)
        assert refused.status_code == 422, wrong
        assert (
            field in [e["field"] for e in refused.get_json().get("errors", [])]
            or field.endswith("time_zone")
            and "not a time zone nook knows" in refused.get_json()["detail"]
        ), refused.get_json()
    assert client.get("/v1/me", headers=alice.headers).get_json()["quiet_hours"] == around
    cleared = client.patch("/v1/me", json={"quiet_hours": None}, headers=alice.headers).get_json()
    assert cleared["quiet_hours"] is None


def test_a_user_chooses_how_long_before_a_viewing_they_are_reminded(client, alice, bob, setting):
    setting("NOOK_VIEWING_REMINDER_HOURS", "1.5")

    def lead(who) -> int:
        return client.get("/v1/me", headers=who.headers).get_json()["viewing_reminder_minutes"]

    assert lead(alice) == 90
    changed = client.patch("/v1/me", json={"viewing_reminder_minutes": 1440}, headers=alice.headers)
    assert changed.status_code == 200 and changed.get_json()["viewing_reminder_minutes"] == 1440
    assert lead(bob) == 90
    for wrong in (-1, 2881, 30.5, "an hour", True):
        refused = client.patch("/v1/me", json={"viewing_reminder_minutes": wrong}, headers=alice.headers)
        assert refused.status_code == 422, wrong
        assert refused.get_json()["errors"][0]["field"] == "json.viewing_reminder_minutes", wrong
    assert lead(alice) == 1440
    # none at all; then this nook's lead again
    assert (
        client.patch("/v1/me", json={"viewing_reminder_minutes": 0}, headers=alice.headers).status_code == 200
    )
    assert lead(alice) == 0
    assert (
        client.patch("/v1/me", json={"viewing_reminder_minutes": None}, headers=alice.headers).status_code
        == 200
    )
    assert lead(alice) == 90 and alice.user.viewing_reminder_minutes is None


def test_a_pace_and_quiet_hours_together_hold_no_alert_past_its_age(client, alice, setting):
    setting("NOOK_ALERT_MAX_AGE_HOURS", "30")  # an operator's shorter age: 30 hours

    def patch(body: dict) -> object:
        return client.patch("/v1/me", json=body, headers=alice.headers)

    night = {"from": 22, "until": 7, "time_zone": "UTC"}  # 9 hours
    assert patch({"alerts_every_minutes": 1440}).status_code == 200
    refused = patch({"quiet_hours": night})  # a day's pace and a night's hours: 33 hours
    assert refused.status_code == 422
    assert refused.get_json()["detail"].startswith("quiet_hours: alerts are sent for 30 hours only here")
    assert "with your quiet hours" in refused.get_json()["detail"]
    assert patch({"quiet_hours": {"from": 1, "until": 5, "time_zone": "UTC"}}).status_code == 200  # 28
    refused = patch({"alerts_every_minutes": 1440, "quiet_hours": night})
    assert refused.status_code == 422 and refused.get_json()["detail"].startswith("alerts_every_minutes:")
    me = client.get("/v1/me", headers=alice.headers).get_json()
    assert (me["alerts_every_minutes"], me["quiet_hours"]["from"]) == (1440, 1)  # nothing changed
    changed = patch({"alerts_every_minutes": 60, "quiet_hours": night}).get_json()
    assert (changed["alerts_every_minutes"], changed["quiet_hours"]) == (60, night)


def test_a_user_changes_their_email_address(client, alice, bob, db_session):
    # an address could be changed by nobody: a renter who moved to another had to delete their account
    old_link = unsubscribe_link(alice.user, "https://nook.example.com").removeprefix(
        "https://nook.example.com"
    )
    db_session.flush()
    changed = client.patch("/v1/me", json={"email": "  Alice.New@Example.COM "}, headers=alice.headers)
    assert changed.status_code == 200 and changed.get_json()["email"] == "alice.new@example.com"
    assert client.get("/v1/me", headers=alice.headers).get_json()["email"] == "alice.new@example.com"
    # the emails sent to the old address no longer act on the account; the next email brings a new link
    assert client.post(old_link).status_code == 404
    db_session.refresh(alice.user)
    assert alice.user.mail_token is None
    new_link = unsubscribe_link(alice.user, "https://nook.example.com")
    db_session.flush()
    assert (
        client.patch("/v1/me", json={"email": "alice.new@EXAMPLE.com"}, headers=alice.headers).status_code
        == 200
    )
    db_session.refresh(alice.user)
    assert unsubscribe_link(alice.user, "https://nook.example.com") == new_link  # the same: kept

    taken = client.patch("/v1/me", json={"email": "Bob@example.com"}, headers=alice.headers)
    assert (
        taken.status_code == 409 and taken.get_json()["detail"] == "email: another account has this address."
    )
    for wrong in ("not an address", "", "a@b@c", "x" * 250 + "@example.com"):
        refused = client.patch("/v1/me", json={"email": wrong}, headers=alice.headers)
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "json.email", wrong
    # a change refused in part is made in none
    both = client.patch(
        "/v1/me", json={"email": "bob@example.com", "alerts_every_minutes": 60}, headers=alice.headers
    )
    assert both.status_code == 409
    me = client.get("/v1/me", headers=alice.headers).get_json()
    assert (me["email"], me["alerts_every_minutes"]) == ("alice.new@example.com", 0)
    assert client.get("/v1/me", headers=bob.headers).get_json()["email"] == "bob@example.com"


def test_a_user_whose_email_bounced_is_told_and_turns_email_alerts_on_again(
    client, alice, db_session, setting
):
    setting("NOOK_MAIL_FROM", "nook <alerts@nook.test>")
    bounced = datetime(2026, 12, 1, 10, tzinfo=UTC)

    def trouble(reason: str) -> None:  # as jobs.mail_feedback records SES's word
        db_session.refresh(alice.user)  # the app's requests changed it
        alice.user.email_alerts, alice.user.email_trouble, alice.user.email_trouble_at = (
            False,
            reason,
            bounced,
        )
        db_session.flush()

    trouble("your address bounced (Permanent: smtp; 550 5.1.1 user unknown)")
    me = client.get("/v1/me", headers=alice.headers).get_json()
    assert me["email_alerts"] is False and me["email_trouble"] == {
        "reason": "your address bounced (Permanent: smtp; 550 5.1.1 user unknown)",
        "at": "2026-12-01T10:00:00+00:00",
    }
    # the user mended their mailbox: on again, and the trouble is behind them
    on = client.put("/v1/me/email-alerts", headers=alice.headers).get_json()
    assert on["email_alerts"] is True and on["email_trouble"] is None
    db_session.refresh(alice.user)  # what SES says of emails sent before now is left alone
    assert datetime.now(UTC) - alice.user.email_alerts_since < timedelta(minutes=1)
    # or moved to another address (tests/app/test_confirm_email.py: once confirmed from there): the old
    # one's trouble goes with it
    trouble("an email from nook was marked as spam at your address")
    change_email(db_session, alice.user, "alice@elsewhere.example")
    db_session.flush()
    moved = client.get("/v1/me", headers=alice.headers).get_json()
    assert moved["email_trouble"] is None and moved["email_alerts"] is False  # on again only when asked


def test_email_alerts_are_turned_on_only_where_nook_sends_email(client, alice, setting):
    refused = client.put("/v1/me/email-alerts", headers=alice.headers)
    assert refused.status_code == 409 and "NOOK_MAIL_FROM" in refused.get_json()["detail"]
    assert client.get("/v1/me", headers=alice.headers).get_json()["email_alerts"] is False

    setting("NOOK_MAIL_FROM", "nook <alerts@nook.example>")
    client.put("/v1/me/webhook", json={"url": "https://93.184.215.14/hooks/nook"}, headers=alice.headers)
    on = client.put("/v1/me/email-alerts", headers=alice.headers)
    assert on.status_code == 200
    assert {k: on.get_json()[k] for k in ("email_alerts", "alerts_to", "email_available")} == {
        "email_alerts": True,
        "alerts_to": "email",  # instead of the webhook, which is kept
        "email_available": True,
    }
    assert on.get_json()["webhook_url"] == "https://93.184.215.14/hooks/nook"
    assert client.delete("/v1/me/webhook", headers=alice.headers).status_code == 204
    assert client.get("/v1/me", headers=alice.headers).get_json()["alerts_to"] == "email"
    off = client.delete("/v1/me/email-alerts", headers=alice.headers)
    assert off.status_code == 200 and off.get_json()["email_alerts"] is False
    assert off.get_json()["alerts_to"] is None  # no webhook left either
    assert client.put("/v1/me/email-alerts", headers={}).status_code == 401


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/x", "http or https"),
        ("http://127.0.0.1:8080/hook", "non-public address"),
        ("http://10.0.0.5/hook", "non-public address"),
        ("http://169.254.169.254/latest/meta-data", "non-public address"),
        ("http://[::1]/hook", "non-public address"),
        ("https://user:pw@93.184.215.14/", "credentials"),
        ("not a url", "http or https"),
        ("https://93.184.215.14/hooks/\x00nook", "NUL character"),  # PostgreSQL cannot store it: was a 500
        ("https://93.184.215.14/hooks/\udfff", "lone surrogate"),  # nor this (UTF-8 cannot encode it)
        ("https://93.184.215.14:99999/hook", "port"),  # was stored, and every delivery failed
        ("https://93.184.215.14:http/hook", "port"),
        ("https://93.184.215.14:0/hook", "port"),
    ],
)
def test_webhook_urls_that_are_refused(client, alice, url, reason):
    response = client.put("/v1/me/webhook", json={"url": url}, headers=alice.headers)
    assert response.status_code == 422 and reason in response.get_json()["detail"]
    assert response.get_json()["errors"][0]["field"] == "json.url"


def test_a_webhook_host_whose_name_servers_never_answer_is_refused_in_time(client, alice, monkeypatch):
    """getaddrinfo has no timeout: a host whose name servers never answer held the request (and the
    notify job, and the recheck) for as long as the resolver retried."""
    import socket
    import time

    from models import webhooks

    real = socket.getaddrinfo

    def silent_name_servers(host, *args, **kwargs):
        if host == "slow.example":
            time.sleep(3)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", silent_name_servers)
    monkeypatch.setattr(webhooks, "RESOLVE_TIMEOUT_S", 0.3, raising=False)
    started = time.monotonic()
    response = client.put("/v1/me/webhook", json={"url": "https://slow.example/hook"}, headers=alice.headers)
    assert time.monotonic() - started < 2
    assert response.status_code == 422
    assert "host 'slow.example' did not resolve within 0.3 s" in response.get_json()["detail"]


def test_a_new_key_replaces_the_old_one_at_once(client, alice, bob):
    # a key that leaked could not be replaced: only SQL could stop it
    me = client.get("/v1/me", headers=alice.headers).json
    assert me["api_key_prefix"] == alice.key[:12]
    answer = client.post("/v1/me/key", headers=alice.headers)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    key = answer.json["api_key"]
    assert key.startswith("nook_") and key != alice.key and answer.json["api_key_prefix"] == key[:12]
    assert client.get("/v1/me", headers=alice.headers).status_code == 401
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).json["email"] == alice.user.email
    assert client.get("/v1/me", headers=bob.headers).status_code == 200


def test_deleting_your_account_takes_your_regions_and_alerts_with_it(client, alice, bob, db_session, alerts):
    assert client.delete("/v1/me", headers=alice.headers).status_code == 204
    db_session.expire_all()
    assert client.get("/v1/me", headers=alice.headers).status_code == 401
    left = db_session.execute(select(Notification.user_id, Notification.region_id)).all()
    assert {user for user, _ in left} == {bob.user.id} and len(left) == 5
    assert db_session.scalars(select(Region.user_id)).all() == [bob.user.id]
    assert len(client.get("/v1/alerts", headers=bob.headers).json["items"]) == 5


def test_alerts_of_one_region_or_one_status(client, alice, bob, db_session, alerts):
    # one list of every region's alerts: a renter with several areas could not ask for one's
    second = Region(user_id=alice.user.id, name="second", geom=SQUARE)
    db_session.add(second)
    db_session.flush()
    rows = db_session.scalars(
        select(Notification).where(Notification.user_id == alice.user.id).order_by(Notification.id)
    ).all()
    for row in rows[:6]:
        row.region_id = second.id
    rows[0].status, rows[0].sent_at = "sent", datetime(2026, 11, 21, tzinfo=UTC)
    rows[0].sent_via = "email"
    db_session.flush()

    def ids(**query) -> set[int]:
        answer = client.get("/v1/alerts", query_string={"limit": 50, **query}, headers=alice.headers)
        assert answer.status_code == 200, answer.json
        return {a["id"] for a in answer.json["items"]}

    assert ids(region_id=second.id) == {n.id for n in rows[:6]}
    assert ids(region_id=alerts[alice.user.id].id) == {n.id for n in rows[6:]}
    assert ids(status="sent") == {rows[0].id} == ids(status="sent", region_id=second.id)
    assert ids(status="queued") == {n.id for n in rows[1:]} and ids(status="expired") == set()
    answer = client.get("/v1/alerts", query_string={"limit": 50}, headers=alice.headers).json["items"]
    assert {a["id"]: a["sent_via"] for a in answer if a["id"] in (rows[0].id, rows[1].id)} == {
        rows[0].id: "email",  # which way it went
        rows[1].id: None,
    }
    others = client.get(
        "/v1/alerts", query_string={"region_id": alerts[bob.user.id].id}, headers=alice.headers
    )
    assert others.status_code == 404 and others.json["errors"][0]["field"] == "query.region_id"
    odd = client.get("/v1/alerts", query_string={"status": "read"}, headers=alice.headers)
    assert odd.status_code == 422 and odd.json["errors"][0]["field"] == "query.status"


def test_an_alert_queued_again_for_a_price_cut_says_why_and_comes_first(client, alice, db_session, alerts):
    rows = db_session.scalars(
        select(Notification).where(Notification.user_id == alice.user.id).order_by(Notification.id)
    ).all()
    told, cut_at = datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
    listing = db_session.get(Listing, rows[0].listing_id)
    listing.price = round(listing.price * 0.9)  # the trigger records the cut
    rows[0].status, rows[0].reason, rows[0].sent_at, rows[0].created_at = "queued", "price_cut", told, cut_at
    db_session.flush()
    items = client.get("/v1/alerts", headers=alice.headers).get_json()["items"]
    first = items[0]
    assert (first["id"], first["reason"], first["status"]) == (rows[0].id, "price_cut", "queued")
    assert datetime.fromisoformat(first["sent_at"]) == told
    assert first["listing"]["price_change"]["words"].startswith("Cut 10% on ")
    assert {i["reason"] for i in items[1:]} == {"new"}
    cuts = client.get("/v1/alerts", query_string={"reason": "price_cut"}, headers=alice.headers).get_json()
    assert [i["id"] for i in cuts["items"]] == [rows[0].id]
    odd = client.get("/v1/alerts", query_string={"reason": "drop"}, headers=alice.headers)
    assert odd.status_code == 422 and odd.json["errors"][0]["field"] == "query.reason"


def test_a_replaced_key_can_keep_working_a_while_to_swap_it_without_a_gap(client, alice, bob, db_session):
    # the new key was in the answer only: a client that lost it was locked out until an operator helped
    def me(key: str):
        return client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})

    first = client.post("/v1/me/key", json={"keep_old_key_minutes": 10}, headers=alice.headers)
    assert first.status_code == 200
    until = datetime.fromisoformat(first.json["old_key_valid_until"])
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)
    lost = first.json["api_key"]  # say the answer never arrived: ask again with the old key
    again = client.post("/v1/me/key", json={"keep_old_key_minutes": 10}, headers=alice.headers)
    assert again.status_code == 200
    key = again.json["api_key"]
    assert me(key).status_code == 200 and me(key).json["old_key_valid_until"] is not None
    assert me(alice.key).status_code == 401  # the second replacement ended the first one's grace
    assert me(lost).status_code == 200  # the key it replaced is the one kept now, for its ten minutes
    db_session.execute(
        text("UPDATE users SET old_key_expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": alice.user.id},
    )
    assert me(lost).status_code == 401 and me(key).json["old_key_valid_until"] is None
    assert me(bob.key).status_code == 200

    at_once = client.post("/v1/me/key", json={}, headers={"Authorization": f"Bearer {key}"})
    assert at_once.json["old_key_valid_until"] is None and me(key).status_code == 401
    for odd in (-1, 1441, "soon"):
        refused = client.post(
            "/v1/me/key",
            json={"keep_old_key_minutes": odd},
            headers={"Authorization": f"Bearer {at_once.json['api_key']}"},
        )
        assert (
            refused.status_code == 422 and refused.json["errors"][0]["field"] == "json.keep_old_key_minutes"
        )
