"""Run Alembic migrations from code (used by `flask db`, the demo and tests).

A migration that alters a table needs it to itself, and waits for every
transaction using it: a job's run can hold one for minutes, and every query of
the table queued behind the waiting migration (the API's included) would wait as
long. So a migration waits a few seconds at most for a lock (Patience), tries
again a few times, and then fails saying which transactions are open; nothing is
changed (all pending migrations run in one transaction).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class Patience:
    """How long a migration waits for the tables it alters."""

    lock_timeout: float = 5.0  # seconds a try waits for a lock
    attempts: int = 3
    pause: float = 5.0  # seconds between tries


PATIENCE = Patience()

OPEN_TRANSACTIONS = text(r"""
SELECT pid, coalesce(nullif(application_name, ''), usename) AS client, state,
       date_trunc('second', now() - xact_start) AS open_for,
       left(regexp_replace(query, '\s+', ' ', 'g'), 80) AS query
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
ORDER BY xact_start
LIMIT 5
""")


class MigrationBlocked(RuntimeError):
    """Another transaction kept a table the migration alters for every try."""


def alembic_config(url: str | None = None, lock_timeout: float | None = PATIENCE.lock_timeout) -> Config:
    """Alembic config for this project, optionally pinned to a database URL."""
    config = Config(str(ALEMBIC_INI))
    if url:
        config.attributes["url"] = url
    config.attributes["lock_timeout"] = lock_timeout
    return config


def upgrade(url: str | None = None, revision: str = "head", patience: Patience = PATIENCE) -> None:
    """Upgrade the database to `revision` (MigrationBlocked if a table stays in use; see the module)."""
    _try(lambda config: command.upgrade(config, revision), url, patience)


def downgrade(url: str | None = None, revision: str = "base", patience: Patience = PATIENCE) -> None:
    """Downgrade the database to `revision` (MigrationBlocked as for upgrade)."""
    _try(lambda config: command.downgrade(config, revision), url, patience)


def _try(step: Callable[[Config], None], url: str | None, patience: Patience) -> None:
    config = alembic_config(url, patience.lock_timeout)
    for attempt in range(1, patience.attempts + 1):
        try:
            step(config)
            return
        except OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            if attempt == patience.attempts:
                raise MigrationBlocked(
                    f"a table the migration alters stayed in use by another transaction through {attempt} "
                    f"tries of {patience.lock_timeout:g} s; nothing was changed. Open transactions: "
                    f"{_open(url)}. Run it again once they end (`flask jobs history --status running` shows "
                    "the job runs under way)."
                ) from None
        time.sleep(patience.pause)


def _open(url: str | None) -> str:
    """The oldest open transactions of the database, in a line."""
    from models.session import sqlalchemy_url
    from models.settings import get_settings

    engine = create_engine(sqlalchemy_url(url or get_settings().database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(OPEN_TRANSACTIONS).all()
    finally:
        engine.dispose()
    return (
        "; ".join(f"pid {r.pid} {r.client} ({r.state} for {r.open_for}: {r.query})" for r in rows)
        or "none now"
    )
