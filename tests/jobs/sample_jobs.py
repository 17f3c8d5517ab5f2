"""Job entry points used by the runtime tests (real run_job, test bodies)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from jobs.runtime import run_job
from models.source import Source

CALLS: list[str] = []


def _type_error_body(session: Session) -> dict[str, Any]:
    CALLS.append("type_error")
    session.add(Source(name="written-before-the-error", kind="demo", config={}))
    session.flush()
    raise TypeError("unsupported operand type(s) deep inside the job")


def raises_type_error(event, context):
    """A job whose body raises TypeError."""
    return run_job("raises_type_error", _type_error_body, event, context)


def naive_raises_type_error(event, context):
    """What a job looks like without the wrapper (Zappa would re-run it)."""
    CALLS.append("naive")
    raise TypeError("boom")


def _poison_body(session: Session) -> dict[str, Any]:
    session.add(Source(name="poisoned", kind="demo", config={}))
    session.flush()
    session.execute(text("SELECT 1 / 0"))  # aborts the transaction
    return {}


def poisons_transaction(event, context):
    """A job that aborts its transaction with a database error."""
    return run_job("poisons_transaction", _poison_body, event, context)


def _count_body(session: Session, expect_name: str | None = None) -> dict[str, Any]:
    count = session.scalar(select(func.count()).select_from(Source))
    found = bool(expect_name and session.scalar(select(Source.id).where(Source.name == expect_name)))
    return {"sources": count, "found": found}


def counts_sources(event, context):
    """A healthy job that reads."""
    return run_job("counts_sources", _count_body, event, context)


HOLD = threading.Event()  # a held run's body waits for it
ENTERED = threading.Event()  # set once a held run's body has begun


def _held_body(session: Session) -> dict[str, Any]:
    session.add(Source(name=f"held-{len(CALLS)}", kind="demo", config={}))
    session.flush()
    CALLS.append("held")
    ENTERED.set()
    if not HOLD.wait(30):
        raise TimeoutError("the test never let the held run go")
    return {"written": 1}


def held(event, context):
    """A job whose body runs until the test lets it go (as a run longer than its schedule's interval)."""
    return run_job("held", _held_body, event, context)


def held_side_by_side(event, context):
    """The same, for a job built to run side by side."""
    return run_job("held_side_by_side", _held_body, event, context, exclusive=False)
