"""Region geometry: GeoJSON in, validated by PostGIS, stored as MULTIPOLYGON SRID 4326."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.errors import ApiError

MAX_VERTICES = 2000
MAX_AREA_KM2 = 2500.0
FIELD = "json.geometry"
CHECK = text("""
SELECT ST_IsValid(g) AS valid, ST_IsValidReason(g) AS reason, ST_NPoints(g) AS points,
       ST_Area(g::geography) / 1e6 AS area_km2, GeometryType(g) AS kind
FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON(:geojson), 4326) AS g) AS candidate
""")


def _bad(message: str) -> ApiError:
    return ApiError(422, f"geometry: {message}", field=FIELD)


def _positions(coordinates: Any, depth: int) -> list[list[float]]:
    if depth == 0:
        if not (
            isinstance(coordinates, list)
            and len(coordinates) in (2, 3)
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates)
        ):
            raise _bad("every position must be [longitude, latitude]")
        return [coordinates]
    if not isinstance(coordinates, list) or not coordinates:
        raise _bad("coordinates are not nested the way the geometry type needs")
    return [p for part in coordinates for p in _positions(part, depth - 1)]


def geometry_of(value: Any) -> dict[str, Any]:
    """The Polygon/MultiPolygon inside a GeoJSON geometry or Feature, checked for shape and range."""
    if not isinstance(value, dict):
        raise _bad("must be a GeoJSON object")
    if value.get("type") == "Feature":
        value = value.get("geometry")
        if not isinstance(value, dict):
            raise _bad("the Feature has no geometry")
    crs = ((value.get("crs") or {}).get("properties") or {}).get("name", "")
    if crs and not any(tag in crs for tag in ("CRS84", "EPSG::4326", "EPSG:4326")):
        raise _bad(f"must be WGS 84 longitude/latitude (EPSG:4326), not {crs}")
    depth = {"Polygon": 2, "MultiPolygon": 3}.get(value.get("type"))
    if depth is None:
        raise _bad(f"must be a Polygon or MultiPolygon, not {value.get('type')!r}")
    positions = _positions(value.get("coordinates"), depth)
    if len(positions) > MAX_VERTICES:
        raise _bad(f"has {len(positions)} vertices; at most {MAX_VERTICES} are allowed")
    for lon, lat, *_ in positions:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _bad(f"position [{lon}, {lat}] is not longitude in -180..180, latitude in -90..90")
    return {"type": value["type"], "coordinates": _flat(value["coordinates"], depth)}


def _flat(coordinates: list[Any], depth: int) -> list[Any]:
    """The coordinates without altitudes (GeoJSON allows a third number; regions are drawn on a map)."""
    if depth == 0:
        return coordinates[:2]
    return [_flat(part, depth - 1) for part in coordinates]


def validated_geojson(session: Session, value: Any) -> str:
    """GeoJSON text PostGIS accepts as a valid, not too large area, or a 422 problem saying why."""
    geojson = json.dumps(geometry_of(value))
    postgis_check(session, geojson)
    return geojson


def postgis_check(session: Session, geojson: str) -> None:
    """Let PostGIS read and judge the geometry (in a savepoint, so a parse error harms nothing)."""
    try:
        with session.begin_nested():
            row = session.execute(CHECK, {"geojson": geojson}).one()
    except DBAPIError as exc:
        reason = str(getattr(exc.orig, "pgerror", None) or exc.orig).strip().split("\n")[0]
        raise _bad(f"PostGIS cannot read it ({reason.removeprefix('ERROR:').strip()})") from None
    if not row.valid:
        raise _bad(f"not a valid polygon: {row.reason}")
    if row.area_km2 <= 0:
        raise _bad("encloses no area")
    if row.area_km2 > MAX_AREA_KM2:
        raise _bad(f"covers {row.area_km2:,.0f} km²; at most {MAX_AREA_KM2:,.0f} km² are allowed")
