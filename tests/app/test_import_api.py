"""/v1/me/import and `flask users import`: an export brought into an account adds what it holds, once,
and says of each item it does not import why."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import imports
from models.export import write_export
from models.listing import Listing
from models.region import Region
from models.session import session_scope
from models.source import Source
from models.user import HiddenListing, SavedListing, create_user
from tests.app.test_export_api import DAY, SQUARE, region
from tests.factories import insert_listing

SMALL = {
    "type": "Polygon",
    "coordinates": [[[-79.39, 43.65], [-79.38, 43.65], [-79.38, 43.66], [-79.39, 43.66], [-79.39, 43.65]]],
}


def exported(db_session, caller) -> dict:
    """The caller's export, as `POST /v1/me/export` writes it."""
    out = io.BytesIO()
    db_session.expire_all()  # the API's requests changed the account
    write_export(db_session, caller.user, out, datetime.now(UTC), None)
    return json.loads(out.getvalue())


def bring(client, caller, document, status: int = 200) -> dict:
    response = client.post("/v1/me/import", json=document, headers=caller.headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def regions_of(client, caller) -> list[dict]:
    return client.get("/v1/regions", headers=caller.headers).get_json()["items"]


def kept(client, caller, part: str) -> list[dict]:
    return client.get(f"/v1/me/{part}", headers=caller.headers).get_json()["items"]


def listing_ids(client, caller, region_id: int) -> set[int]:
    answer = client.get(f"/v1/regions/{region_id}/listings?limit=100", headers=caller.headers).get_json()
    return {item["id"] for item in answer["items"]}


def test_an_export_brought_into_another_account_gives_it_the_regions_listings_and_place(
    client, alice, bob, db_session, market_ids
):
    ids = list(market_ids.values())
    home = region(
        client,
        alice,
        'Home "near" the café',
        criteria={"bedrooms_min": 2, "price_max": 3000, "labels": ["low"], "words": "parking -basement"},
        alerts=False,
    )
    everything = region(client, alice, "Everything")
    for listing_id in ids[:2]:
        assert client.put(f"/v1/me/saved/{listing_id}", headers=alice.headers).status_code == 201
    note = {
        "note": "ask about the\nbalcony ✓",
        "stage": "applied",
        "viewing": {"at": f"{DAY}T18:30", "time_zone": "Asia/Tokyo"},
        "rating": 4,
    }
    assert client.patch(f"/v1/me/saved/{ids[0]}", json=note, headers=alice.headers).status_code == 200
    assert client.put(f"/v1/me/hidden/{ids[3]}", headers=alice.headers).status_code == 201
    work = {"latitude": 43.6453, "longitude": -79.3806}
    quiet = {"from": 23, "until": 7, "time_zone": "Europe/Paris"}
    assert (
        client.patch(
            "/v1/me",
            json={"place": work, "quiet_hours": quiet, "viewing_reminder_minutes": 45},
            headers=alice.headers,
        ).status_code
        == 200
    )
    document = exported(db_session, alice)

    report = bring(client, bob, document)

    assert report == {
        "regions": {"added": 2, "already_here": 0, "not_imported": 0, "problems": []},
        "saved": {"added": 2, "already_here": 0, "not_imported": 0, "problems": []},
        "hidden": {"added": 1, "already_here": 0, "not_imported": 0, "problems": []},
        "place": "added",
        "quiet_hours": "added",
        "viewing_reminder": "added",
        "complete": True,
    }
    theirs, mine = regions_of(client, alice), regions_of(client, bob)
    fields = ("name", "geometry", "criteria", "alerts")
    assert [{f: r[f] for f in fields} for r in mine] == [{f: r[f] for f in fields} for r in theirs]
    # drawn and placed: the region holds the listings alice's holds
    assert listing_ids(client, bob, mine[1]["id"]) == listing_ids(client, alice, everything["id"])
    assert mine[0]["id"] != home["id"]
    alices, bobs = kept(client, alice, "saved"), kept(client, bob, "saved")
    fields = ("note", "saved_at", "stage", "stage_at", "viewing", "rating")
    assert [(s["listing"]["id"], *(s[f] for f in fields)) for s in bobs] == [
        (s["listing"]["id"], *(s[f] for f in fields)) for s in alices
    ]
    assert [s["stage"] for s in bobs] == [None, "applied"]
    assert bobs[1]["viewing"]["local"] == f"{DAY}T18:30" and bobs[1]["rating"] == 4
    assert [h["listing"]["id"] for h in kept(client, bob, "hidden")] == [ids[3]]
    assert client.get("/v1/me", headers=bob.headers).get_json()["place"] == work
    assert client.get("/v1/me", headers=bob.headers).get_json()["quiet_hours"] == quiet
    assert client.get("/v1/me", headers=bob.headers).get_json()["viewing_reminder_minutes"] == 45


def test_importing_the_same_document_again_adds_nothing(client, alice, bob, db_session, market_ids):
    ids = list(market_ids.values())
    region(client, alice, "Downtown", criteria={"sqft_min": 500})
    assert client.put(f"/v1/me/saved/{ids[0]}", headers=alice.headers).status_code == 201
    assert client.put(f"/v1/me/hidden/{ids[1]}", headers=alice.headers).status_code == 201
    assert client.patch(
        "/v1/me", json={"place": {"latitude": 43.6, "longitude": -79.4}}, headers=alice.headers
    )
    document = exported(db_session, alice)
    bring(client, bob, document)
    client.patch("/v1/me", json={"place": {"latitude": 43.7, "longitude": -79.5}}, headers=bob.headers)

    again = bring(client, bob, document)

    for part in ("regions", "saved", "hidden"):
        assert again[part] == {"added": 0, "already_here": 1, "not_imported": 0, "problems": []}, part
    assert again["place"] == "kept"
    assert client.get("/v1/me", headers=bob.headers).get_json()["place"] == {
        "latitude": 43.7,
        "longitude": -79.5,
    }
    assert len(regions_of(client, bob)) == 1
    assert len(kept(client, bob, "saved")) == len(kept(client, bob, "hidden")) == 1
    # into the account it came from, too: everything is there already
    own = bring(client, alice, document)
    assert [own[part]["added"] for part in ("regions", "saved", "hidden")] == [0, 0, 0]


def test_what_is_not_imported_is_said_item_by_item_and_the_rest_comes(client, bob, db_session, market_ids):
    ids = list(market_ids.values())
    factory = {"source": "factory", "source_ref": ""}
    ref_of = dict(db_session.execute(select(Listing.id, Listing.source_ref).where(Listing.id.in_(ids))).all())
    document = {
        "format": "nook-export/1",
        "exported_at": "2026-11-30T10:00:00+00:00",
        "regions": [
            {"name": "Fine", "geometry": SQUARE, "criteria": {}, "alerts": True, "id": 7},
            {
                "name": "Too far east",
                "geometry": {"type": "Polygon", "coordinates": [[[200, 1], [201, 1], [201, 2], [200, 1]]]},
            },
            "downtown",
            {"name": "Odd", "geometry": SMALL, "criteria": {"bedrooms_min": 3, "bedrooms_max": 1}},
            {"name": "Common", "geometry": SMALL, "criteria": {"words": "the with"}},
            {"geometry": SMALL},
        ],
        "saved": [
            {
                "listing": {**factory, "source_ref": ref_of[ids[0]]},
                "note": "yes",
                "saved_at": "2026-11-01T09:00:00Z",
            },
            {"listing": {"source": "elsewhere", "source_ref": "E-1"}},
            {"listing": {**factory, "source_ref": ref_of[ids[1]]}, "note": "x" * 1001},
            {"listing": {**factory, "source_ref": "nul\u0000"}},
            {"listing_id": ids[2]},
            {"listing": {**factory, "source_ref": ref_of[ids[1]]}, "stage": "moved_in"},
            {"listing": {**factory, "source_ref": ref_of[ids[1]]}, "stage": "viewed", "stage_at": "soon"},
            {
                "listing": {**factory, "source_ref": ref_of[ids[3]]},
                "viewing": {"at": "soon", "time_zone": "UTC"},
            },
            {
                "listing": {**factory, "source_ref": ref_of[ids[3]]},
                "viewing": {"at": f"{DAY}T18:30:00+01:00", "time_zone": "Mars/Olympus"},
            },
            {"listing": {**factory, "source_ref": ref_of[ids[3]]}, "rating": 6},
        ],
        "hidden": [{"listing": {**factory, "source_ref": ref_of[ids[2]]}, "hidden_at": "soon"}, 5],
        "alerts": [{"id": 1, "listing": {}}],
    }

    report = bring(client, bob, document)

    regions = report["regions"]
    assert (regions["added"], regions["not_imported"]) == (1, 5)
    reasons = {p["item"]: p["reason"] for p in regions["problems"]}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "is not longitude in -180..180" in reasons[1]
    assert reasons[2] == "a region is an object (name, geometry, criteria, alerts)"
    assert reasons[3] == "criteria.bedrooms_min: bedrooms_min is above bedrooms_max"
    assert "no word to search for" in reasons[4]
    assert reasons[5] == "name: Missing data for required field."
    assert [r["name"] for r in regions_of(client, bob)] == ["Fine"]
    saved = report["saved"]
    assert (saved["added"], saved["not_imported"]) == (2, 8)
    assert [p["item"] for p in saved["problems"]] == [1, 2, 3, 4, 5, 7, 8, 9]
    assert saved["problems"][0]["reason"] == "no listing 'E-1' of 'elsewhere' on this nook"
    assert saved["problems"][1]["reason"] == "note: longer than 1,000 characters"
    assert saved["problems"][2]["reason"] == "listing.source_ref: not the name of a listing's source ref"
    assert saved["problems"][3]["reason"] == "names no listing (listing: {source, source_ref})"
    assert saved["problems"][4]["reason"] == (
        "stage: not one of contacted, viewing, viewed, applied, ruled_out (or null)"
    )
    assert saved["problems"][5]["reason"] == "viewing.at: not a time with its offset (ISO 8601)"
    assert saved["problems"][6]["reason"] == "viewing.time_zone: not a time zone nook knows"
    assert saved["problems"][7]["reason"] == "rating: not 1 to 5 stars (or null)"
    viewed, one = kept(client, bob, "saved")  # a stage's time nook cannot read is the import's
    assert (viewed["listing"]["id"], viewed["stage"]) == (ids[1], "viewed")
    assert datetime.now(UTC) - datetime.fromisoformat(viewed["stage_at"]) < timedelta(minutes=1)
    assert one["listing"]["id"] == ids[0] and one["note"] == "yes" and one["stage"] is None
    assert one["saved_at"].startswith("2026-11-01T09:00:00")
    hidden = report["hidden"]
    assert (hidden["added"], hidden["not_imported"]) == (1, 1)  # a time nook cannot read is the import's
    assert hidden["problems"] == [{"item": 1, "reason": "names no listing (listing: {source, source_ref})"}]


def test_a_copy_is_kept_as_its_flat_and_a_gone_one_as_gone(client, bob, db_session):
    source = Source(name="partner", kind="stream", config={})
    db_session.add(source)
    db_session.flush()
    at = datetime(2026, 11, 20, tzinfo=UTC)
    flat = insert_listing(db_session, source.id, "P-1", at, -79.38, 43.65, price=2400)
    insert_listing(db_session, source.id, "P-2", at, -79.38, 43.65, price=2400, canonical_id=flat)
    gone = insert_listing(db_session, source.id, "P-3", at, -79.37, 43.65, price=1900, status="delisted")
    insert_listing(db_session, source.id, "P-4", at, -79.37, 43.65, status="pending")
    partner = lambda ref: {"listing": {"source": "partner", "source_ref": ref}}  # noqa: E731
    document = {
        "format": "nook-export/1",
        "saved": [
            {**partner("P-2"), "price_when_saved": 2600},
            partner("P-1"),  # the same flat
            partner("P-3"),
            partner("P-4"),  # never shown
        ],
    }

    report = bring(client, bob, document)

    assert (report["saved"]["added"], report["saved"]["already_here"]) == (2, 1)
    assert report["saved"]["problems"] == [
        {"item": 3, "reason": "no listing 'P-4' of 'partner' on this nook"}
    ]
    rows = {
        row.listing_id: row
        for row in db_session.scalars(select(SavedListing).where(SavedListing.user_id == bob.user.id))
    }
    assert set(rows) == {flat, gone}
    assert (rows[flat].price, rows[flat].told_price, rows[flat].told_gone) == (2600, 2400, False)
    assert (rows[gone].price, rows[gone].told_gone) == (1900, True)  # not news: it went before the import
    listed = {s["listing"]["id"]: s for s in kept(client, bob, "saved")}
    assert listed[gone]["listing"]["status"] == "delisted"


def test_an_account_keeps_no_more_than_it_may(client, alice, bob, db_session, market_ids, monkeypatch):
    ids = list(market_ids.values())
    region(client, alice, "One")
    region(client, alice, "Two")
    for listing_id in ids[:3]:
        assert client.put(f"/v1/me/hidden/{listing_id}", headers=alice.headers).status_code == 201
    document = exported(db_session, alice)
    monkeypatch.setattr(imports, "MAX_REGIONS", 1)
    monkeypatch.setattr(imports, "MAX_HIDDEN", 2)
    assert client.put(f"/v1/me/hidden/{ids[9]}", headers=bob.headers).status_code == 201

    report = bring(client, bob, document)

    assert report["regions"]["added"] == 1
    assert report["regions"]["problems"] == [
        {"item": 1, "reason": "you have 1 regions, the most an account keeps"}
    ]
    assert report["hidden"]["added"] == 1 and report["hidden"]["not_imported"] == 2
    assert report["hidden"]["problems"][0]["reason"] == "you keep 2 of them, the most an account keeps"
    count = db_session.scalars(select(HiddenListing).where(HiddenListing.user_id == bob.user.id)).all()
    assert len(count) == 2


def test_regions_left_for_lack_of_time_come_with_the_next_import(client, alice, bob, db_session, monkeypatch):
    for name in ("One", "Two", "Three"):
        region(client, alice, name)
    document = exported(db_session, alice)
    monkeypatch.setattr(imports, "REGION_SECONDS", 0.0)  # time runs out after each region drawn

    first = bring(client, bob, document)

    assert first["complete"] is False
    assert first["regions"] == {
        "added": 1,
        "already_here": 0,
        "not_imported": 2,
        "problems": [{"item": n, "reason": imports.TIME_RAN_OUT} for n in (1, 2)],
    }
    second = bring(client, bob, document)
    assert (second["complete"], second["regions"]["added"], second["regions"]["already_here"]) == (
        False,
        1,
        1,
    )
    third = bring(client, bob, document)
    assert third["complete"] is True
    assert third["regions"] == {"added": 1, "already_here": 2, "not_imported": 0, "problems": []}
    assert [r["name"] for r in regions_of(client, bob)] == ["One", "Two", "Three"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "nook-export/2", "regions": []}, "format"),
        ({"regions": []}, "format"),
        ({"format": "nook-export/1", "regions": {"name": "x"}}, "regions"),
        ({"format": "nook-export/1", "saved": "all"}, "saved"),
    ],
)
def test_a_document_that_is_no_export_is_a_422_naming_the_field(client, bob, body, field):
    problem = bring(client, bob, body, 422)
    assert any(error["field"] == f"json.{field}" for error in problem["errors"]), problem
    assert regions_of(client, bob) == []


def test_a_body_that_is_no_json_object_is_refused(client, bob):
    response = client.post(
        "/v1/me/import", data="[1, 2]", content_type="application/json", headers=bob.headers
    )
    assert response.status_code == 422
    response = client.post(
        "/v1/me/import", data="{nope", content_type="application/json", headers=bob.headers
    )
    assert response.status_code == 400


def test_a_document_too_large_says_to_leave_out_the_alerts(client, bob, monkeypatch):
    monkeypatch.setattr(imports, "MAX_DOCUMENT", 50_000)
    document = {"format": "nook-export/1", "alerts": [{"id": n, "status": "sent"} for n in range(3000)]}
    problem = bring(client, bob, document, 413)
    assert "leave out the export's alerts" in problem["detail"]
    # larger than other requests may be, smaller than the limit: read
    small = {"format": "nook-export/1", "alerts": [{"id": n, "status": "sent"} for n in range(1500)]}
    assert len(json.dumps(small)) > 256 * 1024 / 10 and bring(client, bob, small)["place"] == "absent"


def test_an_import_needs_a_key(client):
    assert client.post("/v1/me/import", json={"format": "nook-export/1"}).status_code == 401


def test_users_import_brings_a_document_in_and_says_what_it_left(runner, committed, tmp_path):
    with session_scope() as session:
        create_user(session, "renter@example.com")
    document = {
        "format": "nook-export/1",
        "account": {"place": {"latitude": 43.65, "longitude": -79.38}},
        "regions": [{"name": "Downtown", "geometry": SQUARE}],
        "saved": [{"listing": {"source": "gone", "source_ref": "G-1"}}],
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document))

    result = runner.invoke(args=["users", "import", "renter@example.com", str(path)])

    assert result.exit_code == 0, result.output
    assert "regions: 1 added, 0 already here, 0 not imported" in result.output
    assert "saved: 0 added, 0 already here, 1 not imported" in result.output
    assert "saved[0]: no listing 'G-1' of 'gone' on this nook" in result.output
    assert "place: added" in result.output
    assert "quiet hours: absent" in result.output and "viewing reminder: absent" in result.output
    with session_scope() as session:
        assert session.scalars(select(Region.name)).all() == ["Downtown"]
    path.write_text('{"format": "something else"}')
    refused = runner.invoke(args=["users", "import", "renter@example.com", str(path)])
    assert refused.exit_code == 1 and "is not an export nook reads" in refused.output


def test_quiet_hours_come_when_the_account_has_none_its_pace_allows(client, bob, setting):
    setting("NOOK_ALERT_MAX_AGE_HOURS", "24")

    def document(quiet) -> dict:
        account = {"quiet_hours": quiet}
        return {"format": "nook-export/1", "account": account, "regions": [], "saved": [], "hidden": []}

    def bobs() -> dict | None:
        return client.get("/v1/me", headers=bob.headers).get_json()["quiet_hours"]

    night = {"from": 23, "until": 7, "time_zone": "Europe/Paris"}
    # a clock nook does not know, hours that are none: absent
    assert bring(client, bob, document({**night, "time_zone": "Mars/Olympus"}))["quiet_hours"] == "absent"
    assert bring(client, bob, document({**night, "until": 23}))["quiet_hours"] == "absent"
    # with bob's pace (20 hours), 8 quiet hours could hold an alert past the 24 it is sent for: absent
    assert client.patch("/v1/me", json={"alerts_every_minutes": 1200}, headers=bob.headers).status_code == 200
    assert bring(client, bob, document(night))["quiet_hours"] == "absent" and bobs() is None
    client.patch("/v1/me", json={"alerts_every_minutes": 60}, headers=bob.headers)
    assert bring(client, bob, document(night))["quiet_hours"] == "added" and bobs() == night
    # his own stay
    assert bring(client, bob, document({**night, "from": 22}))["quiet_hours"] == "kept" and bobs() == night


def test_a_viewing_reminders_lead_comes_when_the_account_chose_none(client, bob, setting):
    setting("NOOK_VIEWING_REMINDER_HOURS", "3")

    def document(minutes) -> dict:
        account = {"viewing_reminder_minutes": minutes}
        return {"format": "nook-export/1", "account": account, "regions": [], "saved": [], "hidden": []}

    def bobs() -> int:
        return client.get("/v1/me", headers=bob.headers).get_json()["viewing_reminder_minutes"]

    # none chosen there (the other nook's lead), or none PATCH /v1/me takes: absent, and this nook's stays
    for absent in (None, -5, 2881, 60.5, "60", True):
        assert bring(client, bob, document(absent))["viewing_reminder"] == "absent", absent
    assert bobs() == 180
    assert bring(client, bob, document(0))["viewing_reminder"] == "added" and bobs() == 0
    # his own stays
    assert bring(client, bob, document(60))["viewing_reminder"] == "kept" and bobs() == 0
