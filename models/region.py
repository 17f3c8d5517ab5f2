"""Areas users draw, with their criteria, and the notifications they produce."""

import json
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at_column

# the tables its foreign keys name (models/__init__.py)
from models.listing import Listing  # noqa: F401
from models.user import User  # noqa: F401

# a region's criteria as the API names them, and the columns that hold them
CRITERIA = {
    "bedrooms_min": "min_bedrooms",
    "bedrooms_max": "max_bedrooms",
    "bathrooms_min": "min_bathrooms",
    "price_max": "max_price",
    "unit_types": "unit_types",
    "sqft_min": "min_sqft",
    "furnished": "furnished",
    "available_by": "available_by",
    "labels": "labels",
    "words": "words",
}
# queued until a webhook takes it; expired when none did within NOOK_ALERT_MAX_AGE_HOURS (jobs.notify)
NOTIFICATION_STATUSES = ("queued", "sent", "expired")
# why an alert was (last) queued: a flat new to its region, or a cut of a price the region was told of
ALERT_REASONS = ("new", "price_cut")
ALERT_CHANNELS = ("webhook", "email")


class Region(Base):
    """A user's area (MULTIPOLYGON, SRID 4326) and what listings in it must match."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=True)
    )
    min_bedrooms: Mapped[int | None] = mapped_column(SmallInteger)
    max_bedrooms: Mapped[int | None] = mapped_column(SmallInteger)
    min_bathrooms: Mapped[float | None] = mapped_column(Float)
    max_price: Mapped[int | None] = mapped_column(Integer)
    unit_types: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))
    min_sqft: Mapped[int | None] = mapped_column(Integer)  # a listing giving no size does not meet it
    furnished: Mapped[bool | None] = mapped_column(Boolean)  # None: either
    # flats one may move into by this day, and those not saying from when (None: any)
    available_by: Mapped[date | None] = mapped_column(Date)
    # the price ranks wanted (low, typical, high; None or empty: any): judged when an alert is sent, as a
    # listing is placed before the stream stores its rank (models.matching)
    labels: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))
    # words a listing's title or address must have, as a search's `q` takes them (None: any)
    words: Mapped[str | None] = mapped_column(Text)
    # off: the region is there to browse, and queues no alerts (those not sent yet are withdrawn)
    alerts: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class RegionListing(Base):
    """An active canonical listing inside a region, with the keys searches sort by.

    Kept by models.matching (when listings are placed, when a region is drawn or
    redrawn, when listings go), so a region's page of listings is an index walk
    of a few rows, however many listings the region holds.

    The key leads with the listing: placing a listing finds its memberships through
    it, and the sort indexes, which lead with the region, serve everything asked
    of a region (its pages, redrawing it, deleting it). Every placed pair writes
    five index entries: the key and one an order (newest, price, and since
    migration 0047 the move-in day and the price cut).
    """

    __tablename__ = "region_listings"
    __table_args__ = (
        PrimaryKeyConstraint("listing_id", "region_id"),
        Index("ix_region_listings_newest", "region_id", text("posted_at DESC"), text("listing_id DESC")),
        Index("ix_region_listings_price", "region_id", "price", "listing_id"),
        Index("ix_region_listings_move_in", "region_id", "move_in", "listing_id"),
        Index("ix_region_listings_cut_share", "region_id", text("cut_share DESC"), text("listing_id DESC")),
    )

    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"))
    listing_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("listings.id", ondelete="CASCADE"))
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    price: Mapped[int] = mapped_column(Integer)
    move_in: Mapped[float] = mapped_column(Float)  # the listing's (models.listing.MOVE_IN_SQL)
    cut_share: Mapped[float] = mapped_column(Float)  # the listing's (models.listing.CUT_SHARE_SQL)


class Notification(Base):
    """One alert per (region, listing); queued until a webhook accepts it, or expired."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("region_id", "listing_id"),
        CheckConstraint("status IN ('queued', 'sent', 'expired')", name="status"),
        CheckConstraint("reason IN ('new', 'price_cut')", name="reason"),
        CheckConstraint("sent_via IN ('webhook', 'email')", name="sent_via"),
        Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
        Index("ix_notifications_queued", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # the region owner's id, copied when the alert is queued (regions never change hands), for the
    # user's alert list. No foreign key of its own: region_id's already removes a user's alerts with
    # their regions, and a second check on every queued alert cost a tenth of placing a listing.
    user_id: Mapped[int] = mapped_column(Integer)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"))
    listing_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("listings.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(8), default="queued")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    # the alert of a listing that went, being sent when its flat passed to this alert's listing (a copy
    # from another source): this one waits for that send, and is withdrawn if it went (no foreign key:
    # that alert is deleted when it is withdrawn)
    inherited_from: Mapped[int | None] = mapped_column(BigInteger)
    # why it was last queued: a flat new to the region, or the price of one it was told of (or missed)
    # cut by NOOK_PRICE_CUT_ALERT_PERCENT or more (models.matching queues it again)
    reason: Mapped[str] = mapped_column(String(16), server_default="new", default="new")
    # the way it was last sent: to the user's webhook, or by email (None: not sent, or sent before nook
    # kept it)
    sent_via: Mapped[str | None] = mapped_column(String(8))


def region_dict(region: Region, geojson: str) -> dict[str, Any]:
    """A region as the API gives it (and `POST /v1/regions` takes it back: an export's), its shape read as
    GeoJSON text."""
    return {
        "id": region.id,
        "name": region.name,
        "geometry": json.loads(geojson),
        "criteria": {api: getattr(region, column) for api, column in CRITERIA.items()},
        "alerts": region.alerts,
        "created_at": region.created_at,
        "updated_at": region.updated_at,
    }
