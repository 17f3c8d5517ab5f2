"""The ArcGIS FeatureServer adapter against a real local server speaking its dialect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.sources import arcgis
from jobs.sources.base import FetchContext, SourceError
from tests.http_servers import Reply

LAYER = "/arcgis/rest/services/Rentals/FeatureServer/0"
FEATURES = [
    {
        "attributes": {
            "OBJECTID": i,
            "RENT": 1800 + i,
            "BEDS": i % 3,
            "EditDate": 1_790_000_000_000 + i * 1000,
        },
        "geometry": {"x": -79.38 + i / 1000, "y": 43.65},
    }
    for i in range(1, 24)
]


def layer(features, cap=10, count=None):
    def handler(request):
        if request.query.get("returnCountOnly") == "true":
            return Reply(200, {"count": len(features) if count is None else count})
        offset, size = int(request.query["resultOffset"]), int(request.query["resultRecordCount"])
        page = features[offset : offset + min(size, cap)]
        body = {"objectIdFieldName": "OBJECTID", "features": page}
        if offset + len(page) < len(features):
            body["exceededTransferLimit"] = True
        return Reply(200, body)

    return handler


def config(server, **extra):
    return {"url": f"{server.url}{LAYER}", "updated_field": "EditDate", "page_size": 2000, **extra}


def fetch(cfg, client, cursor=None):
    return list(arcgis.pages(cfg, FetchContext(client, cursor)))


def test_pages_follow_exceeded_transfer_limit(server, client):
    server.route(f"{LAYER}/query", layer(FEATURES, cap=10))
    pages = fetch(config(server), client)
    assert [len(p.records) for p in pages] == [10, 10, 3]
    assert pages[-1].cursor == {"updated_since_ms": FEATURES[-1]["attributes"]["EditDate"]}
    query = server.requests[1].query
    assert query["f"] == "json" and query["outFields"] == "*" and query["outSR"] == "4326"
    assert query["orderByFields"] == "EditDate ASC,OBJECTID ASC"
    assert server.requests[0].query["returnCountOnly"] == "true"


def test_a_feature_dated_ahead_of_the_run_does_not_take_the_cursor_with_it(server, client):
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    ahead = {"attributes": {"OBJECTID": 99, "RENT": 1900, "BEDS": 1, "EditDate": 4_070_908_800_000}}  # 2099
    odd = {"attributes": {"OBJECTID": 98, "RENT": 1900, "BEDS": 1, "EditDate": float("nan")}}
    server.route(f"{LAYER}/query", layer([*FEATURES[:2], odd, ahead]))
    pages = list(arcgis.pages(config(server), FetchContext(client, None, now=now)))
    assert pages[-1].cursor == {"updated_since_ms": int(now.timestamp() * 1000)}


def test_incremental_where_uses_the_cursor(server, client):
    server.route(f"{LAYER}/query", layer(FEATURES[:2]))
    since = datetime(2026, 9, 21, 12, 53, 20, tzinfo=UTC)
    fetch(
        config(server, where="STATUS = 'Active'"),
        client,
        cursor={"updated_since_ms": int(since.timestamp() * 1000)},
    )
    assert (
        server.requests[0].query["where"]
        == "(STATUS = 'Active') AND EditDate >= TIMESTAMP '2026-09-21 12:53:20'"
    )


def test_error_object_in_a_200_response(server, client):
    server.route(
        f"{LAYER}/query",
        lambda r: Reply(
            200,
            {
                "error": {
                    "code": 400,
                    "message": "Unable to complete operation.",
                    "details": ["'Invalid field: EditDate' parameter is invalid"],
                }
            },
        ),
    )
    with pytest.raises(
        SourceError, match=r"arcgis error 400: Unable to complete operation. \('Invalid field"
    ):
        fetch(config(server), client)


def test_fewer_features_than_counted(server, client):
    server.route(f"{LAYER}/query", layer(FEATURES[:5], count=9))
    with pytest.raises(SourceError, match="got 5 of 9 features"):
        fetch(config(server), client)


def test_missing_features_list(server, client):
    def handler(request):
        if request.query.get("returnCountOnly") == "true":
            return Reply(200, {"count": 3})
        return Reply(200, {"fields": []})

    server.route(f"{LAYER}/query", handler)
    with pytest.raises(SourceError, match="no features list"):
        fetch(config(server), client)


def test_check_asks_for_the_object_id(server, client):
    server.route(
        f"{LAYER}/query", lambda r: Reply(200, {"count": 0 if r.query["where"] == "OBJECTID = 7" else 1})
    )
    assert arcgis.check(config(server), "7", None, client) == "gone"
    assert arcgis.check(config(server), "8", None, client) == "active"


def test_a_check_the_layer_does_not_answer_is_unknown_saying_why(server, client):
    server.route(f"{LAYER}/query", lambda r: Reply(503, {}))
    verdict = arcgis.check(config(server), "7", None, client)
    assert verdict == "unknown" and verdict.reason.startswith("the layer: ") and "503" in verdict.reason


def test_check_quotes_a_text_id(server, client):
    """An id with a quote broke the where clause (the check was "unknown" for good), or widened it: x' OR
    '1'='1 counted every feature; "²" raised ValueError out of the check (Python calls it a digit)."""
    wheres = []

    def handler(request):
        wheres.append(request.query["where"])
        return Reply(200, {"count": 0})

    server.route(f"{LAYER}/query", handler)
    for ref in ("O'Brien-3", "x' OR '1'='1", "\u00b2"):
        assert arcgis.check(config(server, id_field="LISTING_ID"), ref, None, client) == "gone"
    assert wheres == ["LISTING_ID = 'O''Brien-3'", "LISTING_ID = 'x'' OR ''1''=''1'", "LISTING_ID = '\u00b2'"]


def test_a_layer_that_ignores_the_offset_is_a_source_error_not_an_endless_pull(server, client):
    def first_page_always(request):
        if request.query.get("returnCountOnly") == "true":
            return Reply(200, {"count": len(FEATURES)})
        return Reply(200, {"features": FEATURES[:10], "exceededTransferLimit": True})

    server.route(f"{LAYER}/query", first_page_always)
    with pytest.raises(SourceError, match="pagination is not advancing at offset 10"):
        fetch(config(server), client)
    assert len(server.requests) == 3  # the count, the first page, the same page again
