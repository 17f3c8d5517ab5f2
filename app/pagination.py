"""Opaque keyset cursors: the sort and the last row's keys, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from app.errors import ApiError


def encode_cursor(sort: str, keys: list[Any]) -> str:
    """A cursor pointing after a row with these sort keys."""
    raw = json.dumps([sort, keys], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def not_ours() -> ApiError:
    """The answer to a cursor this API did not make (or one taken apart and put back together)."""
    return ApiError(400, "cursor: not a cursor this API returned.", field="query.cursor")


def decode_cursor(cursor: str, sort: str, arity: int) -> list[Any]:
    """The keys of a cursor made for this sort, or a 400 problem naming the parameter. The keys are still to
    be checked, each with the function for its kind (key_id, key_number, key_time)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded_sort, keys = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise not_ours() from None
    if decoded_sort != sort or not isinstance(keys, list) or len(keys) != arity:
        raise ApiError(400, "cursor: it belongs to a different sort order or query.", field="query.cursor")
    return keys


def key_id(value: Any) -> int:
    """A cursor's integer key (an id, a price): one PostgreSQL's bigint holds, or the 400."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise not_ours()
    return value


def key_number(value: Any) -> float:
    """A cursor's numeric key, or the 400."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise not_ours() from None


def key_time(value: Any) -> datetime:
    """A cursor's timestamp key (ISO 8601 text), or the 400."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise not_ours() from None


def newest_first(
    session: Session,
    query: Select,
    keys: tuple[ColumnElement[datetime], ColumnElement[int]],
    name: str,
    args: dict[str, Any],
    row_keys: Callable[[Any], tuple[datetime, int]],
) -> tuple[list[Any], str | None]:
    """A page of `query`'s rows, newest first by (time, id) `keys`, after `args`' cursor (one of this
    `name`), at most `args["limit"]`; and the cursor to the next page (None at the end). `row_keys` reads
    a row's time and id."""
    time_key, id_key = keys
    if args.get("cursor"):
        at, last_id = decode_cursor(args["cursor"], name, 2)
        query = query.where(tuple_(time_key, id_key) < tuple_(key_time(at), key_id(last_id)))
    limit = args["limit"]
    rows = session.execute(query.order_by(time_key.desc(), id_key.desc()).limit(limit + 1)).all()
    more, rows = len(rows) > limit, rows[:limit]
    if not more:
        return rows, None
    at, last_id = row_keys(rows[-1])
    return rows, encode_cursor(name, [at.isoformat(), last_id])
