"""/v1/me/saved: a shortlist of listings, each with its price when saved and what became of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from models import saved as saved_model
from models.user import SavedListing


def put(client, caller, listing_id: int):
    return client.put(f"/v1/me/saved/{listing_id}", headers=caller.headers)


def listed(client, caller, **query) -> list[dict]:
    response = client.get("/v1/me/saved", query_string=query, headers=caller.headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


def set_listing(db_session, listing_id: int, **values) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    db_session.execute(
        text(f"UPDATE listings SET {assignments} WHERE id = :id"), {**values, "id": listing_id}
    )


def test_save_list_and_remove(client, alice, bob, market_ids):
    listing_id = list(market_ids.values())[0]
    first = put(client, alice, listing_id)
    assert first.status_code == 201
    item = first.json
    assert item["listing"]["id"] == listing_id and item["listing"]["status"] == "active"
    assert item["saved_price"] == item["listing"]["price"] and item["still_listed"] is True
    assert item["since_saved"] == "No change of price since you saved it."
    again = put(client, alice, listing_id)
    assert (again.status_code, again.json) == (200, item)  # saved already: unchanged
    assert listed(client, alice) == [item]
    assert listed(client, bob) == []  # each caller's own

    assert client.delete(f"/v1/me/saved/{listing_id}", headers=alice.headers).status_code == 204
    assert listed(client, alice) == []
    gone = client.delete(f"/v1/me/saved/{listing_id}", headers=alice.headers)
    assert gone.status_code == 404 and gone.json["detail"] == "That listing is not among your saved listings."
    assert client.get("/v1/me/saved").status_code == 401
    assert client.put(f"/v1/me/saved/{listing_id}").status_code == 401


def save_in_turn(client, caller, db_session, ids: list[int]) -> None:
    """Save the listings a minute apart, in this order (one transaction's saves would be at one time)."""
    for n, listing_id in enumerate(ids):
        put(client, caller, listing_id)
        db_session.execute(
            text(
                "UPDATE saved_listings SET saved_at = now() - make_interval(mins => :n) WHERE listing_id = :i"
            ),
            {"n": len(ids) - n, "i": listing_id},
        )


def test_saved_flats_in_the_order_asked(client, alice, bob, db_session, market_ids):
    ids = list(market_ids.values())[:6]
    save_in_turn(client, alice, db_session, ids)
    prices = dict(zip(ids, [2400, 1800, 2100, 1800, 3000, 2600], strict=True))
    for listing_id, price in prices.items():
        set_listing(db_session, listing_id, price=price)
    gone = ids[5]
    set_listing(db_session, gone, status="delisted", last_seen_at=datetime.now(UTC))

    def order(caller=alice, **query) -> list[int]:
        return [i["listing"]["id"] for i in listed(client, caller, **query)]

    def paged(**query) -> list[int]:
        seen, cursor = [], None
        while True:
            page = client.get(
                "/v1/me/saved",
                query_string={**query, "limit": 2, **({"cursor": cursor} if cursor else {})},
                headers=alice.headers,
            ).json
            seen += [i["listing"]["id"] for i in page["items"]]
            if not (cursor := page["next_cursor"]):
                return seen

    assert order() == order(sort="saved") == ids[::-1]  # last saved first
    by_price = sorted(ids, key=lambda i: (prices[i], i))
    assert order(sort="price") == paged(sort="price") == by_price
    # best value: the lowest price for its range's middle; not ranked, then no longer listed, last
    p50 = dict(db_session.execute(text("SELECT listing_id, p50 FROM price_ranks")).all())
    assert {i for i in ids if i in p50} == {ids[0], ids[2], ids[4]}

    def value(i: int) -> tuple:
        return (i == gone, i not in p50, prices[i] / p50[i] if i in p50 else 0, i)

    assert order(sort="value") == paged(sort="value") == sorted(ids, key=value)
    # the soonest viewing ahead first, then the rest as saved, last first
    soon = datetime.now(UTC) + timedelta(days=1)
    for listing_id, at in (
        (ids[2], soon + timedelta(days=2)),
        (ids[4], soon),
        (ids[0], soon - timedelta(days=3)),
    ):
        db_session.execute(
            text(
                "UPDATE saved_listings SET viewing_at = :at, viewing_time_zone = 'UTC' WHERE listing_id = :i"
            ),
            {"at": at, "i": listing_id},
        )
    by_viewing = [ids[4], ids[2], ids[5], ids[3], ids[1], ids[0]]
    assert order(sort="viewing") == paged(sort="viewing") == by_viewing
    # nearest a place first, each saying how far; the renter's own place if none is given
    here = db_session.execute(
        text("SELECT ST_Y(geom), ST_X(geom) FROM listings WHERE id = :i"), {"i": ids[3]}
    ).one()
    nearest = listed(client, alice, sort="distance", distance_from=f"{here[0]},{here[1]}")
    assert nearest[0]["listing"]["id"] == ids[3] and nearest[0]["listing"]["distance_m"] == 0
    metres = [i["listing"]["distance_m"] for i in nearest]
    assert metres == sorted(metres) and len(metres) == 6
    assert [i["listing"]["id"] for i in nearest] == paged(
        sort="distance", distance_from=f"{here[0]},{here[1]}"
    )
    assert "distance_m" not in listed(client, alice)[0]["listing"]  # only from a place
    refused = client.get("/v1/me/saved?sort=distance", headers=alice.headers)
    assert refused.status_code == 422 and "your place" in refused.json["detail"]
    place = {"latitude": float(here[0]), "longitude": float(here[1])}
    assert client.patch("/v1/me", json={"place": place}, headers=alice.headers).status_code == 200
    assert order(sort="distance")[0] == ids[3]
    # a cursor of one order is not another's; an order nook has not
    cursor = client.get("/v1/me/saved?sort=price&limit=2", headers=alice.headers).json["next_cursor"]
    assert client.get(f"/v1/me/saved?sort=value&cursor={cursor}", headers=alice.headers).status_code == 400
    assert client.get("/v1/me/saved?sort=cheapest", headers=alice.headers).status_code == 422
    assert order(bob, sort="value") == []


def test_a_saved_flat_rated_and_the_list_by_stars(client, alice, bob, db_session, market_ids):
    ids = list(market_ids.values())[:4]
    save_in_turn(client, alice, db_session, ids)

    def rate(listing_id, stars):
        return client.patch(f"/v1/me/saved/{listing_id}", json={"rating": stars}, headers=alice.headers)

    assert [i["rating"] for i in listed(client, alice)] == [None] * 4
    rated = rate(ids[1], 4)
    assert rated.status_code == 200 and rated.json["rating"] == 4 and rated.json["stage"] is None
    rate(ids[2], 5)
    rate(ids[3], 4)
    for wrong in (0, 6, 3.5, "4", True):
        refused = rate(ids[0], wrong)
        assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "json.rating", wrong
    # the most stars first, each rating's last saved first, then those not rated
    by_stars = [ids[2], ids[3], ids[1], ids[0]]
    assert [i["listing"]["id"] for i in listed(client, alice, sort="rating")] == by_stars
    pages = client.get("/v1/me/saved?sort=rating&limit=3", headers=alice.headers).json
    rest = client.get(f"/v1/me/saved?sort=rating&cursor={pages['next_cursor']}", headers=alice.headers).json
    assert [i["listing"]["id"] for i in pages["items"] + rest["items"]] == by_stars
    assert rate(ids[2], None).json["rating"] is None  # unrated again
    assert [i["listing"]["id"] for i in listed(client, alice, sort="rating")][-2:] == [ids[2], ids[0]]
    assert listed(client, bob) == []
    with pytest.raises(Exception, match="ck_saved_listings_rating"):
        with db_session.begin_nested():
            db_session.execute(text("UPDATE saved_listings SET rating = 9"))


def test_saved_flats_by_the_soonest_one_may_move_in(client, alice, db_session, market_ids):
    ids = list(market_ids.values())[:5]
    save_in_turn(client, alice, db_session, ids)
    today = db_session.execute(text("SELECT current_date")).scalar_one()
    for listing_id, day in (
        (ids[0], today + timedelta(days=30)),
        (ids[1], None),  # does not say
        (ids[2], today - timedelta(days=5)),  # free already, the longest
        (ids[3], today + timedelta(days=3)),
        (ids[4], today),
    ):
        set_listing(db_session, listing_id, available_from=day)
    set_listing(db_session, ids[4], status="delisted")  # no longer listed: last, however soon
    by_move_in = [ids[2], ids[3], ids[0], ids[1], ids[4]]
    items = listed(client, alice, sort="available")
    assert [i["listing"]["id"] for i in items] == by_move_in
    assert items[1]["listing"]["available_from"] == (today + timedelta(days=3)).isoformat()
    first = client.get("/v1/me/saved?sort=available&limit=2", headers=alice.headers).json
    rest = client.get(
        f"/v1/me/saved?sort=available&limit=2&cursor={first['next_cursor']}", headers=alice.headers
    ).json
    last = client.get(f"/v1/me/saved?sort=available&cursor={rest['next_cursor']}", headers=alice.headers).json
    assert [i["listing"]["id"] for i in first["items"] + rest["items"] + last["items"]] == by_move_in
    assert last["next_cursor"] is None


def test_what_became_of_each_saved_listing(client, alice, db_session, market_ids):
    cut, raised, taken_down, expired, ranked = list(market_ids.values())[:5]
    prices = {}
    for listing_id in (cut, raised, taken_down, expired, ranked):
        prices[listing_id] = put(client, alice, listing_id).json["saved_price"]
    seen = datetime(2026, 11, 28, 9, tzinfo=UTC)
    set_listing(db_session, cut, price=prices[cut] - 200)
    set_listing(db_session, raised, price=prices[raised] + 1)
    set_listing(db_session, taken_down, status="delisted", last_seen_at=seen)
    set_listing(db_session, expired, status="expired", last_seen_at=seen)

    items = {i["listing"]["id"]: i for i in listed(client, alice)}
    percent = round(200 / prices[cut] * 100)
    assert items[cut]["since_saved"] == (f"Cut $200 ({percent}%) since you saved it, from ${prices[cut]:,}.")
    assert items[cut]["listing"]["price"] == prices[cut] - 200 and items[cut]["saved_price"] == prices[cut]
    assert items[cut]["listing"]["price_change"]["previous_price"] == prices[cut]
    assert items[raised]["since_saved"] == f"Raised $1 since you saved it, from ${prices[raised]:,}."
    assert items[taken_down]["since_saved"] == (
        f"No longer listed (taken down): last seen 28 Nov 2026 asking ${prices[taken_down]:,}."
    )
    assert items[expired]["since_saved"].startswith("No longer listed (expired): last seen 28 Nov 2026")
    for gone in (taken_down, expired):
        assert items[gone]["still_listed"] is False and items[gone]["listing"]["price_rank"] is None
    assert items[taken_down]["listing"]["status"] == "delisted"
    # the market fixture ranks every other listing (this one, and the one taken down): listed, it keeps it
    assert items[ranked]["listing"]["price_rank"] is not None

    # gone, it cannot be saved anew; still listed on the shortlist, it can be removed
    assert client.delete(f"/v1/me/saved/{taken_down}", headers=alice.headers).status_code == 204
    refused = put(client, alice, taken_down)
    assert refused.status_code == 404 and refused.json["detail"] == "No such listing."


def test_a_copy_stands_for_its_flat(client, alice, db_session, market_ids):
    flat, copy, other_copy = list(market_ids.values())[:3]
    saved = put(client, alice, copy).json
    # the listing saved is found to copy another: the shortlist shows the flat, at the price saved
    set_listing(db_session, copy, canonical_id=flat)
    set_listing(db_session, other_copy, canonical_id=flat)
    [item] = listed(client, alice)
    assert item["listing"]["id"] == flat and item["saved_price"] == saved["saved_price"]
    # saving the flat, or another copy of it, finds it saved
    assert put(client, alice, flat).status_code == 200
    assert put(client, alice, other_copy).status_code == 200
    assert [i["listing"]["id"] for i in listed(client, alice)] == [flat]
    # removed by the id it is listed with
    assert client.delete(f"/v1/me/saved/{flat}", headers=alice.headers).status_code == 204
    assert listed(client, alice) == []
    # a copy saves the flat it copies
    assert put(client, alice, other_copy).json["listing"]["id"] == flat
    assert db_session.scalars(select(SavedListing.listing_id)).all() == [flat]


def test_two_saved_listings_found_to_be_one_flat_are_listed_once(client, alice, db_session, market_ids):
    flat, later = list(market_ids.values())[:2]
    first = put(client, alice, flat).json
    assert put(client, alice, later).status_code == 201
    db_session.execute(
        text("UPDATE saved_listings SET saved_at = saved_at + interval '1 hour' WHERE listing_id = :i"),
        {"i": later},
    )
    set_listing(db_session, later, canonical_id=flat)  # found later to be the same flat
    [item] = listed(client, alice)
    assert item["listing"]["id"] == flat and item["saved_price"] == first["saved_price"]  # as first saved
    assert client.delete(f"/v1/me/saved/{flat}", headers=alice.headers).status_code == 204
    assert listed(client, alice) == [] and db_session.scalars(select(SavedListing.listing_id)).all() == []


def test_a_copy_saved_before_its_flat_stands_for_it_once(client, alice, db_session, market_ids):
    flat, copy, other_copy = list(market_ids.values())[:3]
    first = put(client, alice, copy).json  # saved first, found later to copy the flat saved after it
    for listing_id in (flat, other_copy):
        assert put(client, alice, listing_id).status_code == 201
    db_session.execute(
        text("UPDATE saved_listings SET saved_at = saved_at + interval '1 hour' WHERE listing_id <> :i"),
        {"i": copy},
    )
    set_listing(db_session, copy, canonical_id=flat)
    set_listing(db_session, other_copy, canonical_id=flat)
    [item] = listed(client, alice)
    assert item["listing"]["id"] == flat and item["saved_price"] == first["saved_price"]  # as first saved
    assert item["saved_at"] == first["saved_at"]


def test_newest_first_in_pages(client, alice, db_session, market_ids):
    ids = list(market_ids.values())[:7]
    for listing_id in ids:
        assert put(client, alice, listing_id).status_code == 201
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n, listing_id in enumerate(ids):
        db_session.execute(
            text("UPDATE saved_listings SET saved_at = :t WHERE listing_id = :i"),
            {"t": start + timedelta(hours=n % 3), "i": listing_id},  # ties: the id decides
        )
    order = [i for _, i in sorted(((n % 3, i) for n, i in enumerate(ids)), reverse=True)]
    seen, cursor = [], None
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/me/saved", query_string=query, headers=alice.headers).json
        seen += [i["listing"]["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == order
    bad = client.get("/v1/me/saved", query_string={"cursor": "nonsense"}, headers=alice.headers)
    assert bad.status_code == 400 and bad.json["detail"] == "cursor: not a cursor this API returned."


def test_unknown_listings_are_refused_and_the_list_is_bounded(client, alice, monkeypatch, market_ids):
    for unknown in (10**12, 10**30):
        response = put(client, alice, unknown)
        assert response.status_code == 404 and response.json["detail"] == "No such listing."
    monkeypatch.setattr(saved_model, "MAX_SAVED", 3)
    ids = list(market_ids.values())[:4]
    for listing_id in ids[:3]:
        assert put(client, alice, listing_id).status_code == 201
    full = put(client, alice, ids[3])
    assert full.status_code == 409 and full.json["detail"] == (
        "You already have 3 saved listings; remove one first."
    )
    assert put(client, alice, ids[0]).status_code == 200  # one saved already is no new one


def test_they_go_with_the_account(client, alice, db_session, market_ids):
    put(client, alice, list(market_ids.values())[0])
    assert client.delete("/v1/me", headers=alice.headers).status_code == 204
    assert db_session.scalar(select(func.count()).select_from(SavedListing)) == 0


@pytest.mark.parametrize("path", ["/v1/me/saved/0", "/v1/me/saved/-1"])
def test_odd_ids_are_not_found(client, alice, path):
    assert client.put(path, headers=alice.headers).status_code == 404


def test_a_note_kept_with_a_saved_listing(client, alice, bob, db_session, market_ids):
    flat, copy = list(market_ids.values())[:2]
    put(client, alice, copy)
    set_listing(db_session, copy, canonical_id=flat)  # listed as the flat it copies

    def patch(caller, listing_id, body):
        return client.patch(f"/v1/me/saved/{listing_id}", json=body, headers=caller.headers)

    kept = patch(alice, flat, {"note": "  Viewing Saturday 2pm; ask about the deposit  "})
    assert kept.status_code == 200 and kept.json["note"] == "Viewing Saturday 2pm; ask about the deposit"
    assert kept.json["listing"]["id"] == flat
    assert [i["note"] for i in listed(client, alice)] == ["Viewing Saturday 2pm; ask about the deposit"]
    assert patch(alice, copy, {"note": "by the id saved"}).json["note"] == "by the id saved"
    assert patch(alice, flat, {"note": ""}).json["note"] is None
    patch(alice, flat, {"note": "again"})
    assert patch(alice, flat, {"note": None}).json["note"] is None

    too_long = patch(alice, flat, {"note": "x" * 1001})
    assert too_long.status_code == 422 and "note" in too_long.json["detail"]
    nul = patch(alice, flat, {"note": "a\u0000b"})
    assert nul.status_code == 422 and "note" in nul.json["detail"]
    assert patch(alice, flat, {}).status_code == 422  # say what the note is (null to clear it)
    assert patch(bob, flat, {"note": "not mine"}).status_code == 404
    unsaved = list(market_ids.values())[5]
    missing = patch(alice, unsaved, {"note": "never saved"})
    assert (
        missing.status_code == 404
        and missing.json["detail"] == "That listing is not among your saved listings."
    )


def test_where_you_are_with_each_saved_flat(client, alice, bob, db_session, market_ids):
    first, second, third = list(market_ids.values())[:3]
    for listing_id in (first, second, third):
        put(client, alice, listing_id)
    put(client, bob, first)

    def patch(caller, listing_id, body):
        return client.patch(f"/v1/me/saved/{listing_id}", json=body, headers=caller.headers)

    assert [i["stage"] for i in listed(client, alice)] == [None, None, None]
    viewing = patch(alice, first, {"stage": "viewing"})
    assert viewing.status_code == 200, viewing.json
    assert viewing.json["stage"] == "viewing" and viewing.json["note"] is None
    since = datetime.fromisoformat(viewing.json["stage_at"])
    assert abs(since - datetime.now(UTC)) < timedelta(minutes=1)
    # a note alone leaves the stage and its date; the same stage again keeps its date
    db_session.execute(text("UPDATE saved_listings SET stage_at = stage_at - interval '2 days'"))
    noted = patch(alice, first, {"note": "ask about the deposit"}).json
    assert (noted["stage"], noted["note"]) == ("viewing", "ask about the deposit")
    again = patch(alice, first, {"stage": "viewing"}).json
    assert datetime.fromisoformat(again["stage_at"]) == datetime.fromisoformat(noted["stage_at"])
    assert datetime.now(UTC) - datetime.fromisoformat(again["stage_at"]) > timedelta(days=1)
    moved = patch(alice, first, {"stage": "applied", "note": None}).json
    assert (moved["stage"], moved["note"]) == ("applied", None)
    assert datetime.now(UTC) - datetime.fromisoformat(moved["stage_at"]) < timedelta(minutes=1)
    patch(alice, second, {"stage": "ruled_out"})

    # only those at a stage, or just saved
    assert [i["listing"]["id"] for i in listed(client, alice, stage="ruled_out")] == [second]
    assert [i["listing"]["id"] for i in listed(client, alice, stage="none")] == [third]
    assert listed(client, alice, stage="viewed") == []
    assert listed(client, bob)[0]["stage"] is None  # alice's stages are hers
    bad = client.get("/v1/me/saved", query_string={"stage": "signed"}, headers=alice.headers)
    assert bad.status_code == 422 and "stage" in bad.json["detail"]

    cleared = patch(alice, first, {"stage": None}).json
    assert cleared["stage"] is None and cleared["stage_at"] is None
    wrong = patch(alice, first, {"stage": "moved_in"})
    assert wrong.status_code == 422 and "stage" in wrong.json["detail"]
    nothing = patch(alice, first, {})
    assert nothing.status_code == 422 and "say what changes" in nothing.json["detail"]
    # the database keeps no other stage either
    with pytest.raises(Exception, match="ck_saved_listings_stage"):
        with db_session.begin_nested():
            db_session.execute(text("UPDATE saved_listings SET stage = 'moved_in'"))


def test_a_viewing_booked_of_a_saved_flat(client, alice, bob, db_session, market_ids):
    first, second = list(market_ids.values())[:2]
    put(client, alice, first)
    put(client, alice, second)

    def patch(listing_id, body):
        return client.patch(f"/v1/me/saved/{listing_id}", json=body, headers=alice.headers)

    assert [i["viewing"] for i in listed(client, alice)] == [None, None]
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    booked = patch(first, {"viewing": {"at": f"{day}T18:00", "time_zone": "Europe/Berlin"}})
    assert booked.status_code == 200, booked.json
    # a time on the renter's clock: 18:00 in Berlin in December is 17:00 UTC
    assert booked.json["viewing"]["local"] == f"{day}T18:00"
    assert booked.json["viewing"]["time_zone"] == "Europe/Berlin"
    assert datetime.fromisoformat(booked.json["viewing"]["at"]) == datetime(
        day.year, day.month, day.day, 17, tzinfo=UTC
    )
    assert booked.json["stage"] == "viewing"  # booking one says where they are with the flat
    # an instant with an offset is that instant, shown on the clock named
    at = datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)
    moved = patch(first, {"viewing": {"at": at.isoformat(), "time_zone": "America/Toronto"}}).json
    assert moved["viewing"]["local"] == f"{day}T04:30"
    # a stage given with it is kept
    applied = patch(second, {"viewing": {"at": f"{day}T10:00", "time_zone": "UTC"}, "stage": "applied"})
    assert applied.json["stage"] == "applied" and applied.json["viewing"]["local"] == f"{day}T10:00"
    assert [i["viewing"] is not None for i in listed(client, alice)] == [True, True]

    # past, too far ahead, an unknown clock, a time not given: a 422 that says which, nothing kept
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    for body, field, words in (
        ({"at": f"{yesterday}T10:00", "time_zone": "UTC"}, "at", "ahead, within a year"),
        ({"at": f"{day.year + 2}-01-01T10:00", "time_zone": "UTC"}, "at", "ahead, within a year"),
        ({"at": f"{day}T10:00", "time_zone": "Mars/Olympus"}, "time_zone", "not a time zone"),
        ({"time_zone": "UTC"}, "at", "Missing data"),
        ({"at": "next tuesday", "time_zone": "UTC"}, "at", "Not a valid datetime"),
    ):
        refused = patch(first, {"viewing": body})
        assert refused.status_code == 422, body
        assert f"viewing.{field}" in refused.json["detail"] and words in refused.json["detail"], refused.json
    kept = listed(client, alice)[1]["viewing"]
    assert {**kept, "clashes": []} == moved["viewing"]
    assert [c["listing_id"] for c in kept["clashes"]] == [second]  # 09:30 and 10:00: too close

    cleared = patch(first, {"viewing": None}).json
    assert cleared["viewing"] is None and cleared["stage"] == "viewing"  # the stage is theirs to change
    # the database keeps no time without its clock
    with pytest.raises(Exception, match="ck_saved_listings_viewing"):
        with db_session.begin_nested():
            db_session.execute(text("UPDATE saved_listings SET viewing_time_zone = NULL"))


def test_viewings_less_than_an_hour_apart_clash(client, alice, bob, db_session, market_ids):
    a, b, c, d, e = list(market_ids.values())[:5]
    for listing_id in (a, b, c, d, e):
        put(client, alice, listing_id)
    put(client, bob, a)
    day = (datetime.now(UTC) + timedelta(days=2)).date()

    def book(caller, listing_id, time: str) -> dict:
        body = {"viewing": {"at": f"{day}T{time}", "time_zone": "UTC"}}
        answer = client.patch(f"/v1/me/saved/{listing_id}", json=body, headers=caller.headers)
        assert answer.status_code == 200, answer.json
        return answer.json

    def clashes() -> dict[int, list[int]]:
        return {
            i["listing"]["id"]: [c["listing_id"] for c in i["viewing"]["clashes"]]
            for i in listed(client, alice)
            if i["viewing"]
        }

    assert book(alice, a, "18:00")["viewing"]["clashes"] == []
    assert book(bob, a, "18:10")["viewing"]["clashes"] == []  # another renter's
    # 45 minutes after a: the answer says so at once, with when and what
    booked = book(alice, b, "18:45")["viewing"]
    assert [(c["listing_id"], c["at"][11:16]) for c in booked["clashes"]] == [(a, "18:00")]
    assert booked["clashes"][0]["title"] == listed(client, alice)[-1]["listing"]["title"]
    book(alice, c, "19:40")  # 55 minutes after b, 100 after a
    book(alice, d, "20:40")  # an hour after c, to the minute: time enough
    assert clashes() == {a: [b], b: [a, c], c: [b], d: []}
    # a flat ruled out, or a viewing begun, clashes with nothing
    client.patch(f"/v1/me/saved/{b}", json={"stage": "ruled_out"}, headers=alice.headers)
    assert clashes() == {a: [], b: [], c: [], d: []}
    client.patch(f"/v1/me/saved/{b}", json={"stage": "viewing"}, headers=alice.headers)
    db_session.execute(
        text(
            "UPDATE saved_listings SET viewing_at = now() - interval '10 minutes', viewing_time_zone = 'UTC'"
            " WHERE user_id = :u AND listing_id = :e"
        ),
        {"u": alice.user.id, "e": e},
    )
    db_session.execute(
        text(
            "UPDATE saved_listings SET viewing_at = now() + interval '20 minutes' WHERE listing_id = :d"
            " AND user_id = :u"
        ),
        {"u": alice.user.id, "d": d},
    )
    assert clashes() == {a: [b], b: [a, c], c: [b], d: [], e: []}


def unfolded(calendar: str) -> list[str]:
    """An iCalendar file's content lines, each line folded back (RFC 5545 3.1)."""
    assert calendar.endswith("\r\n") and "\n" not in calendar.replace("\r\n", "")
    return calendar.replace("\r\n ", "").split("\r\n")[:-1]


def test_a_viewing_goes_into_a_calendar_app(client, alice, bob, db_session, market_ids):
    first, second = list(market_ids.values())[:2]
    put(client, alice, first)
    put(client, alice, second)
    title = "Sunny 1 bd; near the park, with a very long title that a calendar app folds over more lines ✓"
    set_listing(db_session, first, title=title, address="12 Queen St W, Toronto")
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    body = {"note": "ring twice\nbring ID", "viewing": {"at": f"{day}T18:00", "time_zone": "Asia/Tokyo"}}
    assert client.patch(f"/v1/me/saved/{first}", json=body, headers=alice.headers).status_code == 200

    answer = client.get(f"/v1/me/saved/{first}/viewing.ics", headers=alice.headers)
    assert answer.status_code == 200 and answer.mimetype == "text/calendar"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="viewing-{first}.ics"'
    calendar = answer.get_data(as_text=True)
    assert all(len(line.encode()) <= 75 for line in calendar.split("\r\n"))
    lines = unfolded(calendar)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    event, alarm = lines[: lines.index("BEGIN:VALARM")], lines[lines.index("BEGIN:VALARM") :]
    fields = dict(line.split(":", 1) for line in event if not line.startswith(("BEGIN", "END")))
    assert "TRIGGER:-PT1H" in alarm and "ACTION:DISPLAY" in alarm
    assert fields["DTSTART"] == f"{day:%Y%m%d}T090000Z"  # 18:00 in Tokyo
    assert fields["DURATION"] == "PT30M"
    assert fields["SUMMARY"] == "Viewing: Sunny 1 bd\\; near the park\\, with a very long title that a " + (
        "calendar app folds over more lines ✓"
    )
    assert fields["LOCATION"] == "12 Queen St W\\, Toronto"
    assert fields["DESCRIPTION"].endswith("\\nYour note: ring twice\\nbring ID")
    assert f"On nook: http://localhost/#listing={first}" in fields["DESCRIPTION"]
    assert fields["UID"] == f"viewing-{alice.user.id}-{first}@localhost"
    # moved: the same event, at the new time
    body = {"viewing": {"at": f"{day}T19:30", "time_zone": "Asia/Tokyo"}}
    client.patch(f"/v1/me/saved/{first}", json=body, headers=alice.headers)
    moved = unfolded(
        client.get(f"/v1/me/saved/{first}/viewing.ics", headers=alice.headers).get_data(as_text=True)
    )
    assert f"DTSTART:{day:%Y%m%d}T103000Z" in moved and f"UID:{fields['UID']}" in moved

    none = client.get(f"/v1/me/saved/{second}/viewing.ics", headers=alice.headers)
    assert none.status_code == 404 and none.json["detail"] == "No viewing is booked of that saved listing."
    theirs = client.get(f"/v1/me/saved/{first}/viewing.ics", headers=bob.headers)
    assert theirs.status_code == 404 and "not among your saved listings" in theirs.json["detail"]
    assert client.get(f"/v1/me/saved/{first}/viewing.ics").status_code == 401


def test_viewings_published_as_a_calendar_feed(client, alice, bob, db_session, market_ids):
    soon, later, ruled_out, past, none = list(market_ids.values())[:5]
    for listing_id in (soon, later, ruled_out, past, none):
        put(client, alice, listing_id)
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    for listing_id, at in ((later, "19:00"), (soon, "10:15"), (ruled_out, "12:00"), (past, "09:00")):
        body = {"viewing": {"at": f"{day}T{at}", "time_zone": "UTC"}}
        assert client.patch(f"/v1/me/saved/{listing_id}", json=body, headers=alice.headers).status_code == 200
    client.patch(f"/v1/me/saved/{ruled_out}", json={"stage": "ruled_out"}, headers=alice.headers)
    db_session.execute(  # a viewing of two months ago has left the feed
        text("UPDATE saved_listings SET viewing_at = now() - interval '60 days' WHERE listing_id = :i"),
        {"i": past},
    )
    assert client.get("/v1/me/saved/calendar", headers=alice.headers).json == {"url": None}

    published = client.put("/v1/me/saved/calendar", headers=alice.headers)
    assert published.status_code == 200
    url = published.json["url"]
    assert url.startswith("http://localhost/calendar/") and url.endswith(".ics")
    assert client.put("/v1/me/saved/calendar", headers=alice.headers).json == {"url": url}  # kept
    assert client.get("/v1/me/saved/calendar", headers=bob.headers).json == {"url": None}

    feed = client.get(url.removeprefix("http://localhost"))  # no key: a calendar app sends none
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    assert feed.headers["Cache-Control"] == "no-store" and feed.headers["X-Robots-Tag"] == "noindex"
    lines = unfolded(feed.get_data(as_text=True))
    assert "X-WR-CALNAME:nook viewings" in lines and "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines
    starts = [line.removeprefix("DTSTART:") for line in lines if line.startswith("DTSTART:")]
    assert starts == [f"{day:%Y%m%d}T101500Z", f"{day:%Y%m%d}T190000Z"]  # soonest first; none ruled out
    uids = [line.removeprefix("UID:") for line in lines if line.startswith("UID:")]
    assert uids == [f"viewing-{alice.user.id}-{soon}@localhost", f"viewing-{alice.user.id}-{later}@localhost"]
    # the same event the single file gives
    single = unfolded(
        client.get(f"/v1/me/saved/{soon}/viewing.ics", headers=alice.headers).get_data(as_text=True)
    )
    assert f"UID:{uids[0]}" in single

    # cleared: gone from the feed at the next ask
    client.patch(f"/v1/me/saved/{soon}", json={"viewing": None}, headers=alice.headers)
    lines = unfolded(client.get(url.removeprefix("http://localhost")).get_data(as_text=True))
    assert [line for line in lines if line.startswith("UID:")] == [f"UID:{uids[1]}"]

    # stopped: the link is a 404 at once, and publishing again makes another
    assert client.delete("/v1/me/saved/calendar", headers=alice.headers).status_code == 204
    gone = client.get(url.removeprefix("http://localhost"))
    assert gone.status_code == 404 and "No calendar is published" in gone.get_data(as_text=True)
    again = client.put("/v1/me/saved/calendar", headers=alice.headers).json["url"]
    assert again != url and client.get(again.removeprefix("http://localhost")).status_code == 200
    for odd in ("/calendar/%00.ics", "/calendar/" + "a" * 65 + ".ics", "/calendar/x.ics"):
        assert client.get(odd).status_code == 404
    assert client.put("/v1/me/saved/calendar").status_code == 401
