"""Market series per region and city-wide: daily history and a 14-day forecast with 80% intervals.

Written by the checks stage's market job, read as-is by the web stage.
Series keys: "region:<id>:new:<beds>", "city:new:<beds>" (beds: all, 0, 1, 2, 3, 4+),
"...:new:<beds>:next7" (one row: the next 7 days' total), "region:<id>:price:<beds>" /
"city:price:<beds>" (median asking price of the trailing 28 days).
"""

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

BED_BUCKETS = ("all", "0", "1", "2", "3", "4+")


def bedroom_bounds(beds: str) -> tuple[int | None, int | None]:
    """The fewest and most bedrooms of a bucket of BED_BUCKETS (None: no bound)."""
    if beds == "all":
        return None, None
    if beds == "4+":
        return 4, None
    return int(beds), int(beds)


def series_key(scope: str, measure: str, beds: str | None = None, suffix: str | None = None) -> str:
    """`scope` is "city" or "region:<id>"; measure "new" or "price"; beds one of BED_BUCKETS."""
    parts = [scope, measure] + ([beds] if beds else []) + ([suffix] if suffix else [])
    return ":".join(parts)


class MarketPoint(Base):
    """One day of one series: an observed value (history) or a forecast with its 80% interval."""

    __tablename__ = "market_points"

    series_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # history | forecast
    value: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(60))
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
