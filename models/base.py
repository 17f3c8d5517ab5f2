"""Declarative base with a naming convention Alembic can rely on.

The table modules leave out `from __future__ import annotations` on purpose: with it every
`Mapped[...]` is a string SQLAlchemy has to eval while mapping, about 20 ms of each cold start.
"""

import math
from datetime import datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def created_at_column() -> Mapped[datetime]:
    """A timezone-aware creation timestamp filled by the database."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def seconds_until(at: datetime, now: datetime) -> int:
    """The whole seconds from `now` until `at`, one at least: what a Retry-After says to wait."""
    return max(1, math.ceil((at - now).total_seconds()))
