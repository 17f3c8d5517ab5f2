"""/v1/me/hidden: the flats a user is not interested in, left out of their searches, similar listings and
alert list (and of their alerts: tests/jobs/test_notify.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from app import hidden as hidden_api
from models.region import Notification, Region
from models.source import Source
from models.user import HiddenListing
from tests.app.test_listings_api import CITY, search
from tests.app.test_saved_api import set_listing
from tests.factories import insert_listing


def hide(client, caller, listing_id: int):
    return client.put(f"/v1/me/hidden/{listing_id}", headers=caller.headers)


def listed(client, caller, **query) -> list[dict]:
    response = client.get("/v1/me/hidden", query_string=query, headers=caller.headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


def found(client, caller, sort: str = "newest") -> set[int]:
    """The ids of every listing the caller's search of the whole market finds."""
    ids, cursor = set(), None
    while True:
        query = {"bbox": CITY, "limit": 100, "sort": sort} | ({"cursor": cursor} if cursor else {})
        page = search(client, caller, **query).get_json()
        ids |= {item["id"] for item in page["items"]}
        if not (cursor := page["next_cursor"]):
            return ids


def test_a_hidden_listing_is_left_out_of_the_search_until_shown_again(client, alice, bob, market_ids):
    listing_id = list(market_ids.values())[0]
    everything = found(client, alice)
    assert listing_id in everything
    first = hide(client, alice, listing_id)
    assert first.status_code == 201
    item = first.json
    assert item["listing"]["id"] == listing_id and item["listing"]["status"] == "active"
    again = hide(client, alice, listing_id)
    assert (again.status_code, again.json) == (200, item)  # hidden already: unchanged
    assert listed(client, alice) == [item] and listed(client, bob) == []  # each caller's own

    assert found(client, alice) == everything - {listing_id}
    assert found(client, bob) == everything  # hidden for alice alone
    for sort in ("price", "value", "price_cut"):  # every sort leaves it out
        assert found(client, alice, sort) == everything - {listing_id}

    assert client.delete(f"/v1/me/hidden/{listing_id}", headers=alice.headers).status_code == 204
    assert listed(client, alice) == [] and found(client, alice) == everything
    gone = client.delete(f"/v1/me/hidden/{listing_id}", headers=alice.headers)
    assert (
        gone.status_code == 404 and gone.json["detail"] == "That listing is not among your hidden listings."
    )
    assert client.get("/v1/me/hidden").status_code == 401
    assert client.put(f"/v1/me/hidden/{listing_id}").status_code == 401
    missing = hide(client, alice, 987654321)
    assert missing.status_code == 404 and missing.json["detail"] == "No such listing."


def test_a_copy_hides_its_flat_and_a_hidden_listing_found_to_copy_another_hides_that(
    client, alice, db_session, market_ids
):
    flat, copy, other = list(market_ids.values())[:3]
    set_listing(db_session, copy, canonical_id=flat)
    assert hide(client, alice, copy).json["listing"]["id"] == flat  # a copy hides the flat it copies
    assert db_session.scalars(select(HiddenListing.listing_id)).all() == [flat]
    assert flat not in found(client, alice)
    assert client.delete(f"/v1/me/hidden/{flat}", headers=alice.headers).status_code == 204

    # hidden, then found to copy another listing: that flat is hidden (and listed once)
    hide(client, alice, other)
    hide(client, alice, flat)
    set_listing(db_session, other, canonical_id=flat)
    assert flat not in found(client, alice)
    [item] = listed(client, alice)
    assert item["listing"]["id"] == flat
    # shown again by the id it is listed with: both rows go
    assert client.delete(f"/v1/me/hidden/{flat}", headers=alice.headers).status_code == 204
    assert db_session.scalars(select(HiddenListing)).all() == [] and flat in found(client, alice)


def test_a_gone_listing_cannot_be_hidden_anew_and_the_hidden_are_limited(
    client, alice, db_session, market_ids, monkeypatch
):
    first, second, third, gone = list(market_ids.values())[:4]
    set_listing(db_session, gone, status="delisted")
    assert hide(client, alice, gone).status_code == 404
    monkeypatch.setattr(hidden_api, "MAX_HIDDEN", 2)
    assert hide(client, alice, first).status_code == 201 and hide(client, alice, second).status_code == 201
    full = hide(client, alice, third)
    assert full.status_code == 409 and full.json["detail"] == (
        "You already have 2 hidden listings; show one again first."
    )
    assert hide(client, alice, first).status_code == 200  # hidden already: no room needed
    # a hidden flat that went is listed as it is now (no rank of a market it left)
    set_listing(db_session, first, status="expired")
    items = {i["listing"]["id"]: i["listing"] for i in listed(client, alice)}
    assert items[first]["status"] == "expired" and items[first]["price_rank"] is None


def test_hidden_listed_last_hidden_first_in_pages(client, alice, db_session, market_ids):
    ids = list(market_ids.values())[:5]
    for n, listing_id in enumerate(ids):
        hide(client, alice, listing_id)
        db_session.execute(
            text("UPDATE hidden_listings SET hidden_at = :at WHERE listing_id = :i"),
            {"at": datetime(2026, 11, 20, tzinfo=UTC) + timedelta(hours=n), "i": listing_id},
        )
    first = client.get("/v1/me/hidden", query_string={"limit": 2}, headers=alice.headers).json
    rest = listed(client, alice, limit=10, cursor=first["next_cursor"])
    assert [i["listing"]["id"] for i in first["items"] + rest] == ids[::-1]


def test_similar_listings_and_the_alert_list_leave_out_the_hidden(client, alice, db_session):
    source = Source(name="similar", kind="json_feed", config={"url": "http://unused"})
    db_session.add(source)
    db_session.flush()
    now = datetime.now(UTC)
    asked, near, farther = (
        insert_listing(db_session, source.id, ref, now, -79.38 + km / 80.4, 43.65, 3)
        for ref, km in (("asked", 0), ("near", 0.3), ("farther", 1.2))
    )
    hide(client, alice, near)
    answer = client.get(f"/v1/listings/{asked}/similar", headers=alice.headers).get_json()["items"]
    assert [i["id"] for i in answer] == [farther]

    region = Region(
        user_id=alice.user.id,
        name="Here",
        geom="SRID=4326;MULTIPOLYGON(((-79.9 43.3,-78.9 43.3,-78.9 44.1,-79.9 44.1,-79.9 43.3)))",
    )
    db_session.add(region)
    db_session.flush()
    for listing_id, status in ((near, "sent"), (farther, "sent"), (asked, "queued")):
        db_session.add(
            Notification(
                user_id=alice.user.id,
                region_id=region.id,
                listing_id=listing_id,
                status=status,
                attempts=0,
                sent_at=now if status == "sent" else None,
            )
        )
    db_session.flush()
    alerts = client.get("/v1/alerts", headers=alice.headers).get_json()["items"]
    assert sorted(a["listing"]["id"] for a in alerts) == sorted([farther, asked])  # sent or not
    hide(client, alice, asked)
    alerts = client.get("/v1/alerts", headers=alice.headers).get_json()["items"]
    assert [a["listing"]["id"] for a in alerts] == [farther]


def test_they_go_with_the_account(client, alice, db_session, market_ids):
    hide(client, alice, list(market_ids.values())[0])
    assert client.delete("/v1/me", headers=alice.headers).status_code == 204
    assert db_session.scalars(select(HiddenListing)).all() == []
