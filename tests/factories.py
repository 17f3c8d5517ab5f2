"""Small builders for rows the tests need (fixtures until the jobs that make them run)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


def a_source(session: Session, name: str) -> Any:
    """A feed source to hang listings on (its URL is never asked)."""
    from models.source import Source

    source = Source(name=name, kind="json_feed", config={"url": "http://unused"})
    session.add(source)
    session.flush()
    return source


def insert_active_listings(session: Session, frame: Any, source_name: str = "factory") -> dict[int, int]:
    """Insert a feature frame's rows as active canonical listings; return frame listing_id -> db id."""
    from sqlalchemy import text

    source = a_source(session, source_name)
    now = datetime.now(UTC)
    rows = [
        {
            "source_id": source.id,
            "ref": str(r.listing_id),
            "price": int(r.price),
            "bedrooms": int(r.bedrooms),
            "bathrooms": None if r.bathrooms != r.bathrooms else r.bathrooms,
            "sqft": None if r.sqft != r.sqft or r.sqft is None else int(r.sqft),
            "furnished": r.furnished,
            "unit_type": r.unit_type,
            "lon": r.longitude,
            "lat": r.latitude,
            "now": now,
        }
        for r in frame.itertuples(index=False)
    ]
    session.execute(
        text("""
        INSERT INTO listings (source_id, source_ref, raw, status, price, bedrooms, bathrooms, sqft, furnished,
                              unit_type, geom, posted_at, first_seen_at, last_seen_at)
        VALUES (:source_id, :ref, '{}'::jsonb, 'active', :price, :bedrooms, :bathrooms, :sqft, :furnished,
                :unit_type, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :now, :now, :now)
    """),
        rows,
    )
    ids = session.execute(
        text("SELECT source_ref, id FROM listings WHERE source_id = :s"), {"s": source.id}
    ).all()
    return {int(ref): lid for ref, lid in ids}


def insert_listing(
    session: Session,
    source_id: int,
    ref: str,
    posted_at: datetime,
    lon: float,
    lat: float,
    bedrooms: int = 1,
    price: int = 2000,
    bathrooms: float | None = 1.0,
    status: str = "active",
    canonical_id: int | None = None,
) -> int:
    """One processed listing posted at `posted_at`; returns its id."""
    from sqlalchemy import text

    return session.execute(
        text("""
        INSERT INTO listings (source_id, source_ref, raw, status, price, bedrooms, bathrooms, geom,
                              canonical_id, posted_at, first_seen_at, last_seen_at)
        VALUES (:source_id, :ref, '{}'::jsonb, :status, :price, :bedrooms, :bathrooms,
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :canonical_id, :posted_at, :posted_at, :posted_at)
        RETURNING id
    """),
        {
            "source_id": source_id,
            "ref": ref,
            "status": status,
            "price": price,
            "bedrooms": bedrooms,
            "bathrooms": bathrooms,
            "lon": lon,
            "lat": lat,
            "canonical_id": canonical_id,
            "posted_at": posted_at,
        },
    ).scalar_one()


WEEKLY = (1.3, 1.2, 1.1, 1.0, 0.9, 0.5, 0.7)  # Monday..Sunday: a strong weekly rhythm


def weekly_counts(days: int, mean: float, seed: int, start_weekday: int = 0, dispersion: float = 8.0):
    """Daily negative-binomial counts with the WEEKLY rhythm (numpy array): known seasonality."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mu = np.asarray([mean * WEEKLY[(start_weekday + d) % 7] for d in range(days)])
    return rng.negative_binomial(dispersion, dispersion / (dispersion + mu))


def insert_arrivals(
    session: Session, source_id: int, counts: Any, first_day: datetime, lon0: float, lat0: float
) -> int:
    """counts[d] listings posted on first_day + d days, each on its own spot of a grid 20 m apart
    (so none re-posts another) inside a ~1 km square from (lon0, lat0), bedrooms 0-4 in turn."""
    from datetime import timedelta

    n = 0
    for day, count in enumerate(counts):
        for k in range(int(count)):
            posted = first_day + timedelta(days=day, hours=8 + k % 12)
            insert_listing(
                session,
                source_id,
                f"arr-{n}",
                posted,
                lon0 + (n % 40) * 0.00025,
                lat0 + (n // 40) * 0.00018,
                bedrooms=n % 5,
                price=1800 + 100 * (n % 5) + (n * 37) % 150,
            )
            n += 1
    return n


def activate_artifact(session: Session, artifact_dir: Any, version: str = "api-test-v1") -> PriceModel:
    """Make the session artifact (tests/conftest.py artifact_dir) the current price model."""
    model = PriceModel(
        version=version,
        run_id=version,
        artifact_uri=str(artifact_dir),
        metrics={},
        n_train=3000,
        activated_at=datetime.now(UTC),
    )
    session.add(model)
    session.flush()
    return model
