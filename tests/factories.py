"""Small builders for rows the tests need (fixtures until the jobs that make them run)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from models.explain import label_for
from models.price_rank import PriceModel, PriceRank

MODEL_VERSION = "test-model-v1"


def ensure_price_model(session: Session, version: str = MODEL_VERSION) -> PriceModel:
    """A price model row to hang ranks on."""
    model = session.get(PriceModel, version)
    if model is None:
        model = PriceModel(
            version=version, run_id="test", artifact_uri=f"file:///tmp/{version}", metrics={}, n_train=0
        )
        session.add(model)
        session.flush()
    return model


def add_price_rank(
    session: Session,
    listing_id: int,
    p25: float,
    p50: float,
    p75: float,
    price: float | None = None,
    version: str = MODEL_VERSION,
) -> PriceRank:
    """A price rank for a listing (label from its price when given, else typical)."""
    ensure_price_model(session, version)
    label = label_for(price, p25, p75) if price is not None else "typical"
    rank = PriceRank(
        listing_id=listing_id,
        model_version=version,
        p25=p25,
        p50=p50,
        p75=p75,
        label=label,
        scored_at=datetime.now(UTC),
    )
    session.add(rank)
    session.flush()
    return rank
