"""/v1/estimates: what should a place like this rent for? Scored by the current model artifact."""

from __future__ import annotations

from typing import Any

from app.api import Blueprint
from app.auth import SECURITY, auth_required
from app.db import get_db
from app.errors import ApiError
from app.schemas import EstimateRequest, EstimateSchema
from models.chart import price_rank_svg
from models.explain import explanation, range_sentence, round_down, round_up
from models.pricing import REACH_M, ListingFeatures, ModelUnavailable, current_model

blp = Blueprint("estimates", __name__, url_prefix="/v1/estimates", description="Price estimates.")


def estimate_for(body: dict[str, Any]) -> dict[str, Any]:
    """Score a hypothetical listing with the current model."""
    try:
        model = current_model(get_db())
    except ModelUnavailable:
        raise ApiError(503, "The price model cannot be loaded right now; try again shortly.") from None
    if model is None:
        raise ApiError(
            503, "No price model has been trained yet; try again after the price_rank pipeline runs."
        )
    features = ListingFeatures(
        bedrooms=body["bedrooms"],
        bathrooms=body.get("bathrooms"),
        sqft=body.get("sqft"),
        furnished=body.get("furnished"),
        unit_type=body.get("unit_type"),
        latitude=body["latitude"],
        longitude=body["longitude"],
    )
    price = body.get("price")
    result = model.estimate(features, price=price)
    if not result.within_reach:  # its neighbours would be a city away, or a continent
        raise ApiError(
            422,
            f"nook knows no listing within {REACH_M // 1000} km of this place, "
            "so it cannot judge a rent there.",
        )
    words = dict(
        bedrooms=features.bedrooms,
        bathrooms=features.bathrooms,
        has_size=features.sqft is not None,
        unit_type=features.unit_type,
    )
    sentence = (
        explanation(price, result.p25, result.p75, label=result.label, **words)
        if price is not None
        else range_sentence(result.p25, result.p75, **words)
    )
    return {
        "p25": result.p25,
        "p50": result.p50,
        "p75": result.p75,
        "typical_range": {"low": round_down(result.p25), "high": round_up(result.p75)},
        "price": price,
        "label": result.label,
        "explanation": sentence,
        "model_version": result.model_version,
        "chart_svg": price_rank_svg(result.p25, result.p75, price, result.label, title=sentence),
    }


@blp.route("", methods=["POST"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(EstimateRequest, as_kwargs=False)
@blp.response(200, EstimateSchema)
def create(body: dict[str, Any]) -> dict[str, Any]:
    """p25 / p50 / p75 for a hypothetical listing, the label of its price, and the explanation."""
    return estimate_for(body)
