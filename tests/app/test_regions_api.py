"""/v1/regions: GeoJSON validated by PostGIS, criteria, isolation between users."""

from __future__ import annotations

import pytest

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-79.40, 43.64], [-79.36, 43.64], [-79.36, 43.67], [-79.40, 43.67], [-79.40, 43.64]]],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[-79.40, 43.64], [-79.36, 43.67], [-79.36, 43.64], [-79.40, 43.67], [-79.40, 43.64]]],
}


def create(client, caller, geometry=SQUARE, **extra):
    return client.post(
        "/v1/regions", json={"name": "Downtown", "geometry": geometry, **extra}, headers=caller.headers
    )


def test_create_read_list_update_delete(client, alice):
    created = create(client, alice, criteria={"bedrooms_min": 1, "price_max": 3000, "unit_types": ["condo"]})
    assert created.status_code == 201, created.get_json()
    region = created.get_json()
    assert region["geometry"]["type"] == "MultiPolygon" and 10 < region["area_km2"] < 15
    assert region["criteria"] == {
        "bedrooms_min": 1,
        "bedrooms_max": None,
        "bathrooms_min": None,
        "price_max": 3000,
        "unit_types": ["condo"],
        "sqft_min": None,
        "furnished": None,
        "available_by": None,
        "labels": None,
        "words": None,
    }
    rid = region["id"]
    assert client.get(f"/v1/regions/{rid}", headers=alice.headers).get_json()["name"] == "Downtown"
    assert [r["id"] for r in client.get("/v1/regions", headers=alice.headers).get_json()["items"]] == [rid]
    patched = client.patch(
        f"/v1/regions/{rid}", json={"name": "Core", "criteria": {"price_max": None}}, headers=alice.headers
    ).get_json()
    assert patched["name"] == "Core" and patched["criteria"]["price_max"] is None
    assert patched["criteria"]["bedrooms_min"] == 1
    sized = client.patch(
        f"/v1/regions/{rid}", json={"criteria": {"sqft_min": 550, "furnished": False}}, headers=alice.headers
    ).get_json()["criteria"]
    assert (sized["sqft_min"], sized["furnished"], sized["bedrooms_min"]) == (550, False, 1)
    for day in ("2027-04-01", None):
        moving = client.patch(
            f"/v1/regions/{rid}", json={"criteria": {"available_by": day}}, headers=alice.headers
        )
        assert moving.get_json()["criteria"]["available_by"] == day, day
    for labels, stored in ((["low", "typical"], ["low", "typical"]), ([], None), (None, None)):
        ranks = client.patch(
            f"/v1/regions/{rid}", json={"criteria": {"labels": labels}}, headers=alice.headers
        )
        assert ranks.get_json()["criteria"]["labels"] == stored, labels
    assert client.delete(f"/v1/regions/{rid}", headers=alice.headers).status_code == 204
    assert client.get(f"/v1/regions/{rid}", headers=alice.headers).status_code == 404


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "MultiPolygon", "coordinates": [SQUARE["coordinates"]]},
        {"type": "Feature", "properties": {"name": "x"}, "geometry": SQUARE},
    ],
)
def test_multipolygons_and_features_are_accepted(client, alice, geometry):
    assert create(client, alice, geometry).status_code == 201


def test_positions_with_an_altitude_are_drawn_without_it(client, alice):
    # GeoJSON allows a third number (an altitude): accepted, then PostgreSQL refused the 3D shape, a 500
    ring = [[*position, 76.5] for position in SQUARE["coordinates"][0]]
    ring[1] = ring[1][:2]  # a mix of both, as a hand-edited file may have
    response = create(client, alice, {"type": "Polygon", "coordinates": [ring]})
    assert response.status_code == 201
    assert response.get_json()["geometry"]["coordinates"] == [SQUARE["coordinates"]]


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (BOWTIE, "not a valid polygon: Self-intersection"),
        ({"type": "Point", "coordinates": [-79.4, 43.6]}, "must be a Polygon or MultiPolygon, not 'Point'"),
        (
            {"type": "Polygon", "coordinates": [[[-79.4, 43.6], [200, 43.6], [-79.3, 43.7], [-79.4, 43.6]]]},
            "position [200, 43.6] is not longitude",
        ),
        ({"type": "Polygon", "coordinates": [[["a", "b"]]]}, "every position must be [longitude, latitude]"),
        ({"type": "Polygon", "coordinates": []}, "coordinates are not nested"),
        (
            {"type": "Polygon", "coordinates": [[[-79.4, 43.6], [-79.3, 43.6], [-79.4, 43.6]]]},
            "Too few points",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[-79.4, 43.6], [-79.3, 43.6], [-79.3, 43.7], [-79.4, 43.7]]],
            },
            "do not form a closed linestring",
        ),
        (
            {"type": "Polygon", "coordinates": [[[-80, 43], [-78, 43], [-78, 45], [-80, 45], [-80, 43]]]},
            "at most 2,500 km² are allowed",
        ),
        (
            {
                "type": "Polygon",
                "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                "coordinates": SQUARE["coordinates"],
            },
            "must be WGS 84",
        ),
        ({"type": "Feature", "geometry": None}, "the Feature has no geometry"),
    ],
)
def test_invalid_geometries_get_the_reason(client, alice, geometry, reason):
    response = create(client, alice, geometry)
    body = response.get_json()
    assert response.status_code == 422, body
    assert body["errors"][0]["field"] == "json.geometry" and reason in body["detail"], body["detail"]


def test_too_many_vertices(client, alice):
    import math

    ring = [
        [-79.38 + 0.01 * math.cos(t / 400 * 2 * math.pi), 43.65 + 0.01 * math.sin(t / 400 * 2 * math.pi)]
        for t in range(2400)
    ]
    response = create(client, alice, {"type": "Polygon", "coordinates": [ring + [ring[0]]]})
    assert response.status_code == 422 and "2401 vertices; at most 2000" in response.get_json()["detail"]


def test_criteria_are_validated(client, alice):
    response = create(client, alice, criteria={"bedrooms_min": 3, "bedrooms_max": 1})
    assert response.status_code == 422 and "bedrooms_min" in response.get_json()["detail"]
    response = create(client, alice, criteria={"unit_types": ["igloo"]})
    assert response.status_code == 422
    for wrong in (
        {"sqft_min": 0},
        {"sqft_min": 20_001},
        {"furnished": "sometimes"},
        {"available_by": "April"},
        {"available_by": "01/04/2027"},
        {"labels": ["cheap"]},
        {"words": ""},
        {"words": "x" * 201},
        {"words": "the and"},  # only words too common to search for
        {"words": "park\x00ing"},
    ):
        response = create(client, alice, criteria=wrong)
        assert response.status_code == 422 and next(iter(wrong)) in response.get_json()["detail"], wrong
        assert response.get_json()["errors"][0]["field"].startswith(f"json.criteria.{next(iter(wrong))}")


def test_a_regions_words_are_kept_changed_and_cleared(client, alice):
    made = create(client, alice, criteria={"words": "parking -basement"})
    assert made.status_code == 201 and made.get_json()["criteria"]["words"] == "parking -basement"
    path = f"/v1/regions/{made.get_json()['id']}"
    patched = client.patch(path, json={"criteria": {"words": '"in-suite laundry"'}}, headers=alice.headers)
    assert patched.get_json()["criteria"]["words"] == '"in-suite laundry"'
    refused = client.patch(path, json={"criteria": {"words": "with the"}}, headers=alice.headers)
    assert refused.status_code == 422 and "no word to search for" in refused.get_json()["detail"]
    assert client.get(path, headers=alice.headers).get_json()["criteria"]["words"] == '"in-suite laundry"'
    cleared = client.patch(path, json={"criteria": {"words": None}}, headers=alice.headers)
    assert cleared.get_json()["criteria"]["words"] is None


def test_a_name_postgresql_cannot_store_is_refused_not_a_500(client, alice):
    response = create(client, alice, name="Down\x00town")
    assert response.status_code == 422 and response.get_json()["errors"] == [
        {"field": "json.name", "message": "holds a NUL character (\\u0000), which cannot be stored"}
    ]
    rid = create(client, alice).get_json()["id"]
    patched = client.patch(f"/v1/regions/{rid}", json={"name": "\x00"}, headers=alice.headers)
    assert patched.status_code == 422 and patched.get_json()["errors"][0]["field"] == "json.name"
    # half a UTF-16 pair, which JSON may escape ("\ud800"): UTF-8 cannot encode it, so it was a 500
    patched = client.patch(f"/v1/regions/{rid}", json={"name": "Down\ud800"}, headers=alice.headers)
    assert patched.status_code == 422 and patched.get_json()["errors"] == [
        {"field": "json.name", "message": "holds a lone surrogate (\\ud800), which is not text"}
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            '{"name": "x", "geometry": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "nested too deeply",  # the parser gives up: RecursionError
        ),
        (
            '{"name": "x", "geometry": {}, "criteria": {"price_max": 1' + "0" * 5000 + "}}",
            "Exceeds the limit (4300 digits) for integer string conversion",
        ),
        (
            '{"name": "x",\n "geometry": {]}',
            "Expecting property name enclosed in double quotes at line 2, column 15",
        ),
        (b'{"name":\n "caf\xe9"}', "not UTF-8 (byte 0xe9 at offset 14)"),  # Latin-1
    ],
)
def test_a_body_that_is_not_json_is_a_400_saying_why(client, alice, body, reason):
    # webargs said only "Invalid JSON body.", and let the parser's give-ups through as 500s
    response = client.post("/v1/regions", data=body, content_type="application/json", headers=alice.headers)
    assert response.status_code == 400 and response.get_json()["errors"] == [
        {"field": "json", "message": f"Invalid JSON body: {reason}."}
    ]


def test_another_users_region_is_a_404_never_a_403(client, alice, bob):
    rid = create(client, alice).get_json()["id"]
    for method, path, kwargs in (
        ("get", f"/v1/regions/{rid}", {}),
        ("patch", f"/v1/regions/{rid}", {"json": {}}),
        ("delete", f"/v1/regions/{rid}", {}),
        ("get", f"/v1/regions/{rid}/listings", {}),
    ):
        response = getattr(client, method)(path, headers=bob.headers, **kwargs)
        assert response.status_code == 404, (method, path)
        assert "Downtown" not in response.get_data(as_text=True)
    search = client.get("/v1/listings", query_string={"region_id": rid}, headers=bob.headers)
    assert search.status_code == 404
    assert client.get("/v1/regions", headers=bob.headers).get_json()["items"] == []
    assert client.get(f"/v1/regions/{rid}", headers=alice.headers).status_code == 200


def test_region_listings_are_the_ones_inside(client, alice, market_ids):
    rid = create(client, alice).get_json()["id"]
    body = client.get(
        f"/v1/regions/{rid}/listings", query_string={"limit": 100}, headers=alice.headers
    ).get_json()
    assert body["items"]
    for item in body["items"]:
        assert (
            -79.40 <= item["location"]["longitude"] <= -79.36
            and 43.64 <= item["location"]["latitude"] <= 43.67
        )
    same = client.get("/v1/listings", query_string={"region_id": rid, "limit": 100}, headers=alice.headers)
    assert [i["id"] for i in same.get_json()["items"]] == [i["id"] for i in body["items"]]


def test_geojson_postgis_cannot_parse_is_a_422_and_the_transaction_lives_on(db_session):
    from sqlalchemy import text

    from app.errors import ApiError
    from app.geometry import postgis_check

    with pytest.raises(ApiError, match=r"PostGIS cannot read it \(Too few ordinates in GeoJSON\)"):
        postgis_check(db_session, '{"type": "Polygon", "coordinates": [[[1]]]}')
    assert db_session.execute(text("SELECT 1")).scalar() == 1


def test_region_search_pages_equal_the_spatial_truth_for_every_sort(client, alice, market_ids, db_session):
    from sqlalchemy import func, select

    from models.listing import Listing
    from models.region import Region

    rid = create(client, alice).get_json()["id"]
    expected = set(
        db_session.scalars(
            select(Listing.id)
            .join(Region, func.ST_Contains(Region.geom, Listing.geom))
            .where(Region.id == rid)
        )
    )
    for sort in ("newest", "price", "price_desc", "value"):
        seen, cursor = [], None
        while True:
            params = {"limit": 7, "sort": sort} | ({"cursor": cursor} if cursor else {})
            body = client.get(
                f"/v1/regions/{rid}/listings", query_string=params, headers=alice.headers
            ).get_json()
            seen += [i["id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) and set(seen) == expected, sort


def test_redrawing_a_region_changes_its_listings(client, alice, market_ids):
    rid = create(client, alice).get_json()["id"]
    before = {
        i["id"]
        for i in client.get(
            f"/v1/regions/{rid}/listings", query_string={"limit": 100}, headers=alice.headers
        ).get_json()["items"]
    }
    east = {
        "type": "Polygon",
        "coordinates": [
            [[-79.30, 43.64], [-79.20, 43.64], [-79.20, 43.70], [-79.30, 43.70], [-79.30, 43.64]]
        ],
    }
    assert (
        client.patch(f"/v1/regions/{rid}", json={"geometry": east}, headers=alice.headers).status_code == 200
    )
    after = client.get(
        f"/v1/regions/{rid}/listings", query_string={"limit": 100}, headers=alice.headers
    ).get_json()
    assert before and not before & {i["id"] for i in after["items"]}
    assert all(i["location"]["longitude"] >= -79.30 for i in after["items"])


def test_a_regions_alerts_can_be_switched_off_and_on(client, alice):
    region = create(client, alice).get_json()
    assert region["alerts"] is True  # alerting unless told otherwise
    quiet = create(client, alice, alerts=False).get_json()
    assert quiet["alerts"] is False
    off = client.patch(f"/v1/regions/{region['id']}", json={"alerts": False}, headers=alice.headers)
    assert off.status_code == 200 and off.get_json()["alerts"] is False
    renamed = client.patch(f"/v1/regions/{region['id']}", json={"name": "Still quiet"}, headers=alice.headers)
    assert renamed.get_json()["alerts"] is False  # a patch without it leaves it
    on = client.patch(f"/v1/regions/{region['id']}", json={"alerts": True}, headers=alice.headers)
    assert on.get_json()["alerts"] is True
    refused = client.patch(f"/v1/regions/{region['id']}", json={"alerts": "maybe"}, headers=alice.headers)
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "json.alerts"
