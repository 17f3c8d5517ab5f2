"""/v1/me/export: a user's data, whole, in S3 (moto's) behind a link; replaced, pruned and deleted."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from jobs.maintenance import housekeeping
from models import export as export_model
from models.region import Notification
from models.session import session_scope
from models.source import Source
from models.user import SavedListing, create_user
from tests.factories import insert_listing

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-79.40, 43.64], [-79.36, 43.64], [-79.36, 43.67], [-79.40, 43.67], [-79.40, 43.64]]],
}
BUCKET = "nook-test"
DAY = (datetime.now(UTC) + timedelta(days=30)).date()  # a viewing's day, ahead


@pytest.fixture
def bucket(moto_endpoint) -> str:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def stored(user_id: int) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"exports/{user_id}/")
    return [obj["Key"] for obj in listed.get("Contents", [])]


def export(client, caller) -> dict:
    response = client.post("/v1/me/export", headers=caller.headers)
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def read(url: str) -> tuple[dict, dict]:
    """The document a link reads, and the answer's headers (with its length)."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = answer.read()
        return json.loads(body.decode("utf-8")), {
            **{name.lower(): value for name, value in answer.headers.items()},
            "length": len(body),
        }


def region(client, caller, name: str, **extra) -> dict:
    response = client.post(
        "/v1/regions", json={"name": name, "geometry": SQUARE, **extra}, headers=caller.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def alert(db_session, caller, region_id: int, listing_id: int, at: datetime, **values) -> None:
    db_session.add(
        Notification(
            user_id=caller.user.id,
            region_id=region_id,
            listing_id=listing_id,
            attempts=0,
            created_at=at,
            **{"status": "queued", **values},
        )
    )
    db_session.flush()


def test_an_export_holds_the_users_data_and_nobody_elses(client, alice, bob, db_session, market_ids, bucket):
    ids = list(market_ids.values())
    mine = region(
        client,
        alice,
        'Home "near" the café',
        criteria={"bedrooms_min": 2, "price_max": 3000, "labels": ["low"], "words": "parking -basement"},
        alerts=False,
    )
    theirs = region(client, bob, "Bob's")
    for listing_id in ids[:2]:
        assert client.put(f"/v1/me/saved/{listing_id}", headers=alice.headers).status_code in (200, 201)
    note = client.patch(
        f"/v1/me/saved/{ids[0]}",
        json={
            "note": "ask about the\nbalcony ✓",
            "viewing": {"at": f"{DAY}T18:30", "time_zone": "Asia/Tokyo"},
            "rating": 5,
        },
        headers=alice.headers,
    )
    assert note.status_code == 200
    assert client.put(f"/v1/me/saved/{ids[5]}", headers=bob.headers).status_code in (200, 201)
    assert client.put(f"/v1/me/hidden/{ids[3]}", headers=alice.headers).status_code in (200, 201, 204)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    alert(db_session, alice, mine["id"], ids[4], start, status="sent", sent_at=start, sent_via="webhook")
    alert(db_session, alice, mine["id"], ids[6], start + timedelta(minutes=1), status="expired")
    alert(db_session, bob, theirs["id"], ids[7], start)
    assert client.put("/v1/me/saved/share", json={"notes": True}, headers=alice.headers).status_code == 200
    work = {"latitude": 43.6453, "longitude": -79.3806}
    assert client.patch("/v1/me", json={"place": work}, headers=alice.headers).status_code == 200
    quiet = {
        "quiet_hours": {"from": 22, "until": 7, "time_zone": "America/Toronto"},
        "viewing_reminder_minutes": 60,
    }
    assert client.patch("/v1/me", json=quiet, headers=alice.headers).status_code == 200
    assert client.put("/v1/me/saved/calendar", headers=alice.headers).status_code == 200

    answer = export(client, alice)
    document, headers = read(answer["url"])

    assert document["format"] == "nook-export/1"
    assert answer["counts"] == {"regions": 1, "saved": 2, "hidden": 1, "alerts": 2}
    assert answer["bytes"] == headers["length"] > 1000
    assert datetime.fromisoformat(answer["expires_at"]) - datetime.now(UTC) > timedelta(minutes=55)
    assert headers["content-disposition"].startswith('attachment; filename="nook-export-')
    account = document["account"]
    assert account["email"] == "alice@example.com" and account["id"] == alice.user.id
    assert account["shortlist"]["shared"] and account["shortlist"]["notes"]
    assert account["shortlist"]["url"].startswith("http://localhost/shortlist/")
    assert account["place"] == work
    assert account["quiet_hours"] == {"from": 22, "until": 7, "time_zone": "America/Toronto"}
    assert account["viewing_reminder_minutes"] == 60
    assert account["viewings_calendar"]["published"]
    assert account["viewings_calendar"]["url"].startswith("http://localhost/calendar/")
    assert "api_key" not in json.dumps(account).replace("api_key_prefix", "")  # the key itself stays out
    (exported_region,) = document["regions"]
    assert exported_region["name"] == 'Home "near" the café' and exported_region["alerts"] is False
    assert exported_region["criteria"]["bedrooms_min"] == 2 and exported_region["criteria"]["labels"] == [
        "low"
    ]
    assert exported_region["criteria"]["words"] == "parking -basement"
    assert exported_region["geometry"]["type"] == "MultiPolygon"
    saved = {item["listing_id"]: item for item in document["saved"]}
    assert set(saved) == set(ids[:2]) and saved[ids[0]]["note"] == "ask about the\nbalcony ✓"
    assert saved[ids[0]]["stage"] == "viewing" and saved[ids[0]]["stage_at"].startswith("20")
    assert saved[ids[1]]["stage"] is None and saved[ids[1]]["stage_at"] is None
    assert saved[ids[0]]["viewing"] == {"at": f"{DAY}T09:30:00+00:00", "time_zone": "Asia/Tokyo"}
    assert saved[ids[1]]["viewing"] is None
    assert (saved[ids[0]]["rating"], saved[ids[1]]["rating"]) == (5, None)
    assert saved[ids[0]]["listing"]["source"] == "factory" and saved[ids[0]]["listing"]["status"] == "active"
    assert [h["listing_id"] for h in document["hidden"]] == [ids[3]]
    assert [(a["listing_id"], a["status"]) for a in document["alerts"]] == [
        (ids[4], "sent"),
        (ids[6], "expired"),
    ]
    assert document["alerts"][0]["sent_via"] == "webhook" and document["alerts"][0]["region_id"] == mine["id"]
    # bob's saved flat is his (its id as text could be part of a time, so the ids are compared)
    assert ids[5] not in {item["listing_id"] for item in document["saved"]} and "Bob" not in json.dumps(
        document
    )


def test_a_region_from_an_export_is_drawn_again_as_it_was(client, alice, bob, bucket):
    criteria = {"sqft_min": 500, "furnished": True, "unit_types": ["condo"], "available_by": "2027-04-01"}
    region(client, alice, "Downtown", criteria=criteria)
    (exported,) = read(export(client, alice)["url"])[0]["regions"]
    body = {name: exported[name] for name in ("name", "geometry", "criteria", "alerts")}
    again = client.post("/v1/regions", json=body, headers=bob.headers)
    assert again.status_code == 201, again.get_json()
    drawn = again.get_json()
    assert drawn["criteria"] == exported["criteria"] and drawn["geometry"] == exported["geometry"]
    assert exported["criteria"]["available_by"] == "2027-04-01"


def test_an_export_of_many_alerts_holds_each_once_in_order(
    client, alice, db_session, market_ids, bucket, monkeypatch
):
    monkeypatch.setattr(export_model, "ROWS_AT_ONCE", 7)  # read in many batches
    area = region(client, alice, "Everything")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    ids = list(market_ids.values())[:45]
    for n, listing_id in enumerate(ids):
        alert(db_session, alice, area["id"], listing_id, start + timedelta(minutes=n % 9))
    document = read(export(client, alice)["url"])[0]
    exported = [(a["created_at"], a["id"]) for a in document["alerts"]]
    assert len(exported) == 45 and exported == sorted(exported) and len(set(exported)) == 45
    assert sorted(a["listing_id"] for a in document["alerts"]) == sorted(ids)


def test_a_new_export_replaces_the_last(client, alice, bob, bucket):
    first = export(client, alice)
    export(client, bob)
    second = export(client, alice)
    assert len(stored(alice.user.id)) == 1 and len(stored(bob.user.id)) == 1
    assert read(second["url"])[0]["account"]["email"] == "alice@example.com"
    with pytest.raises(urllib.error.HTTPError) as gone:
        read(first["url"])
    gone.value.close()
    assert gone.value.code == 404


def test_an_export_s3_will_not_take_is_a_503_to_retry(client, alice, moto_endpoint):
    response = client.post("/v1/me/export", headers=alice.headers)  # no bucket: S3 refuses the upload
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert "try again" in response.get_json()["detail"]


def test_exports_go_with_the_account(client, alice, bob, bucket):
    export(client, alice)
    export(client, bob)
    assert client.delete("/v1/me", headers=alice.headers).status_code == 204
    assert stored(alice.user.id) == [] and len(stored(bob.user.id)) == 1


def test_housekeeping_deletes_exports_a_day_old(client, alice, bob, db_session, bucket):
    export(client, alice)
    export(client, bob)
    now = datetime.now(UTC)
    assert housekeeping(db_session, now)["exports_deleted"] == 0  # written a moment ago
    assert housekeeping(db_session, now + timedelta(hours=23))["exports_deleted"] == 0
    assert housekeeping(db_session, now + timedelta(days=1, minutes=1))["exports_deleted"] == 2
    assert stored(alice.user.id) == stored(bob.user.id) == []


def test_an_operator_exports_a_user_and_deleting_them_deletes_their_exports(
    runner, committed, bucket, tmp_path
):
    with session_scope() as session:
        ann, _ = create_user(session, "ann@example.com")
        source = Source(name="s", kind="json_feed", config={"url": "http://unused"})
        session.add(source)
        session.flush()
        listing_id = insert_listing(session, source.id, "a", datetime.now(UTC), lon=-79.38, lat=43.65)
        session.add(
            SavedListing(user_id=ann.id, listing_id=listing_id, price=2000, told_price=2000, note="ok")
        )
        export_model.export_user(session, ann, BUCKET, datetime.now(UTC), None)  # as through the API
        ann_id = ann.id
    target = tmp_path / "ann.json"
    result = runner.invoke(args=["users", "export", "ann@example.com", "-o", str(target)])
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text(encoding="utf-8"))
    assert (
        document["account"]["email"] == "ann@example.com" and document["account"]["shortlist"]["url"] is None
    )
    assert [(s["listing_id"], s["note"]) for s in document["saved"]] == [(listing_id, "ok")]
    assert (
        f"exported ann@example.com: 0 regions, 1 saved, 0 hidden, 0 alerts ({target.stat().st_size:,} bytes)"
        in (result.output)
    )
    missing = runner.invoke(args=["users", "export", "nobody@example.com"])
    assert missing.exit_code != 0 and "no user with email nobody@example.com" in missing.output

    assert len(stored(ann_id)) == 1
    assert runner.invoke(args=["users", "delete", "ann@example.com", "--yes"]).exit_code == 0
    assert stored(ann_id) == []
