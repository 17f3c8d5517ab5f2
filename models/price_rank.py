"""Price models (one row per trained artifact) and each listing's price rank."""

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at_column
from models.explain import explain_listing
from models.listing import Listing  # a table its foreign keys name (models/__init__.py)

PRICE_LABELS = ("low", "typical", "high")


class PriceModel(Base):
    """A trained, versioned price model artifact and its metrics."""

    __tablename__ = "price_models"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    artifact_uri: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    n_train: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    # Set by the update step once every rank of this model is in place: the newest
    # activated model is the one the web and stream stages serve.
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class PriceRank(Base):
    """The p25/p50/p75 and low/typical/high label of one listing."""

    __tablename__ = "price_ranks"
    __table_args__ = (
        CheckConstraint("label IN ('low', 'typical', 'high')", name="label"),
        CheckConstraint("p25 <= p50 AND p50 <= p75", name="ordered"),
        # the order a search by best value walks, with where each listing is (app.search.walked_first)
        Index("ix_price_ranks_value", "value", "listing_id", postgresql_include=["geom"]),
    )

    listing_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(
        ForeignKey("price_models.version", ondelete="CASCADE"), index=True
    )
    p25: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p75: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(8))
    # the listing's price / p50 (1e9 if p50 is 0) and its place, kept by the database's triggers (migration
    # 0048) as ranks are written and listings change: the key of the best-value order, and where each is
    value: Mapped[float] = mapped_column(Float, server_default=FetchedValue())
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry(geometry_type="POINT", srid=4326, spatial_index=False), server_default=FetchedValue()
    )
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def explain(self, listing: "Listing") -> str:
        """The plain-words explanation of the listing's price against this rank (API, map, alerts)."""
        return explain_listing(listing, self.p25, self.p75, self.label)
