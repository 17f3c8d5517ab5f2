"""/v1/regions: the caller's areas, with criteria; another user's region is a 404."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api import Blueprint
from app.auth import SECURITY, auth_required, current_user
from app.db import get_db
from app.errors import ApiError
from app.geometry import validated_geojson
from app.schemas import (
    ListingFilters,
    ListingPageSchema,
    RegionCreate,
    RegionListSchema,
    RegionPatch,
    RegionSchema,
)
from app.search import check_words, listing_item, search_listings
from models.matching import refresh_region_members
from models.region import CRITERIA, Region, region_dict

blp = Blueprint(
    "regions", __name__, url_prefix="/v1/regions", description="Areas you draw, and their alerts."
)
MAX_REGIONS = 50


def stored_geometry(geojson: str) -> Any:
    return func.ST_Multi(func.ST_SetSRID(func.ST_GeomFromGeoJSON(geojson), 4326))


def get_owned_region(region_id: int) -> Region:
    """The current user's region, else a 404 (never a 403: other users' regions do not exist)."""
    region = get_db().scalar(
        select(Region).where(Region.id == region_id, Region.user_id == current_user().id)
    )
    if region is None:
        raise ApiError(404, "No such region.")
    return region


def _as_dict(region: Region) -> dict[str, Any]:
    geojson, area = (
        get_db()
        .execute(
            select(func.ST_AsGeoJSON(Region.geom, 7), func.ST_Area(func.geography(Region.geom)) / 1e6).where(
                Region.id == region.id
            )
        )
        .one()
    )
    return {**region_dict(region, geojson), "area_km2": round(area, 3)}


def _apply(region: Region, body: dict[str, Any], session: Session | None = None) -> None:
    session = session or get_db()
    if "name" in body:
        region.name = body["name"].strip() or region.name
    redraw = "geometry" in body
    if redraw:
        region.geom = stored_geometry(validated_geojson(session, body["geometry"]))
    for api, column in CRITERIA.items():
        if api in body.get("criteria", {}):
            value = body["criteria"][api]
            setattr(region, column, (value or None) if api in ("unit_types", "labels") else value)
    if body.get("criteria", {}).get("words") is not None:
        check_words(session, body["criteria"]["words"], "json.criteria.words")
    if "alerts" in body:
        region.alerts = body["alerts"]
    low, high = region.min_bedrooms, region.max_bedrooms
    if low is not None and high is not None and low > high:
        raise ApiError(
            422, "criteria: bedrooms_min is above bedrooms_max", field="json.criteria.bedrooms_min"
        )
    region.updated_at = datetime.now(UTC)
    session.flush()
    if redraw:
        refresh_region_members(session, region.id)
    session.refresh(region)


@blp.route("")
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, RegionListSchema)
def list_regions() -> dict[str, Any]:
    """Your regions, oldest first."""
    regions = get_db().scalars(select(Region).where(Region.user_id == current_user().id).order_by(Region.id))
    return {"items": [_as_dict(r) for r in regions]}


@blp.route("", methods=["POST"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(RegionCreate, as_kwargs=False)
@blp.response(201, RegionSchema)
def create(body: dict[str, Any]) -> dict[str, Any]:
    """Draw a region (GeoJSON Polygon/MultiPolygon or Feature) with optional criteria."""
    session = get_db()
    count = session.scalar(
        select(func.count()).select_from(Region).where(Region.user_id == current_user().id)
    )
    if count >= MAX_REGIONS:
        raise ApiError(409, f"You already have {MAX_REGIONS} regions; delete one first.")
    return _as_dict(add_region(session, current_user().id, body))


def add_region(session: Session, user_id: int, body: dict[str, Any], geojson: str | None = None) -> Region:
    """A new region of the user's from a RegionCreate body (checked as POST checks it: an ApiError says
    what is wrong), placed among the listings it holds; `geojson`: its shape, validated_geojson's already."""
    region = Region(
        user_id=user_id,
        name=body["name"].strip() or "Region",
        geom=stored_geometry(geojson or validated_geojson(session, body["geometry"])),
    )
    session.add(region)
    _apply(region, {"criteria": body.get("criteria", {}), "alerts": body["alerts"]}, session)
    session.flush()
    refresh_region_members(session, region.id)
    return region


@blp.route("/<int:region_id>")
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, RegionSchema)
def read(region_id: int) -> dict[str, Any]:
    """One of your regions."""
    return _as_dict(get_owned_region(region_id))


@blp.route("/<int:region_id>", methods=["PATCH"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(RegionPatch, as_kwargs=False)
@blp.response(200, RegionSchema)
def patch(body: dict[str, Any], region_id: int) -> dict[str, Any]:
    """Rename, redraw, change the criteria of a region (criteria keys given replace, null clears), or
    switch its alerts off or on."""
    region = get_owned_region(region_id)
    _apply(region, body)
    return _as_dict(region)


@blp.route("/<int:region_id>", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(204)
def delete(region_id: int) -> Response:
    """Delete a region (and its alerts)."""
    get_db().delete(get_owned_region(region_id))
    return Response(status=204)


@blp.route("/<int:region_id>/listings")
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(ListingFilters, location="query", as_kwargs=False)
@blp.response(200, ListingPageSchema)
def listings(args: dict[str, Any], region_id: int) -> dict[str, Any]:
    """Active listings inside the region — the search, with the region as its area."""
    get_owned_region(region_id)
    rows, next_cursor = search_listings(get_db(), current_user().id, {**args, "region_id": region_id})
    return {"items": [listing_item(r) for r in rows], "next_cursor": next_cursor}
