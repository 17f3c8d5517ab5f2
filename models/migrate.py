"""Run Alembic migrations from code (used by `flask db`, the demo and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(url: str | None = None) -> Config:
    """Alembic config for this project, optionally pinned to a database URL."""
    config = Config(str(ALEMBIC_INI))
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Downgrade the database to `revision`."""
    command.downgrade(alembic_config(url), revision)
