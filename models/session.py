"""Engine and session handling: lazy, cached per container, owned by the caller.

Nothing connects at import time. `session_scope()` is the one place a unit of
work is committed or rolled back; functions that receive a session never commit
or close it (seed 003, gotcha 1: a failed transaction must not poison the next
warm invocation).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from models.settings import Settings, get_settings


def sqlalchemy_url(url: str) -> str:
    """Normalise a postgres URL to SQLAlchemy's psycopg2 dialect name."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


@functools.cache
def get_engine() -> Engine:
    """The container's engine, created on first use."""
    return build_engine(get_settings())


def build_engine(settings: Settings) -> Engine:
    """An engine as `settings` say: a small pool, the stage named on every connection, and statements
    and idle transactions cut off once they outlive the stage's Lambda (db_statement_timeout_s)."""
    # JIT off: compiling a query whose estimate passed jit_above_cost took up to a second (a search nearest
    # a place, measured at 1M listings), for statements that run in milliseconds
    options = "-c jit=off"
    if settings.db_statement_timeout_s > 0:
        ms = round(settings.db_statement_timeout_s * 1000)
        options += f" -c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
    connect_args: dict[str, object] = {
        "connect_timeout": 10,
        "application_name": f"nook-{settings.stage}",
        "options": options,
    }
    return create_engine(
        sqlalchemy_url(settings.database_url),
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=2,
        pool_recycle=300,
        # executemany of UPDATEs and upserts in pages (psycopg2's execute_batch), not a round trip per row
        executemany_mode="values_plus_batch",
        connect_args=connect_args,
    )


@functools.cache
def get_sessionmaker() -> sessionmaker[Session]:
    """The container's session factory, bound to `get_engine()`."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    session = (factory or get_sessionmaker())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
