"""Opaque keyset cursors: the sort and the last row's keys, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Select, literal, tuple_
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


@dataclass(frozen=True)
class SortSpec:
    """A keyset order: its key column and the id that breaks ties, which way, and how a cursor holds the
    key: "integer" (an id, a price), "number" (a computed float) or "time" (ISO 8601 text)."""

    keys: tuple[ColumnElement[Any], ColumnElement[Any]]
    descending: bool
    kind: str = "integer"

    def order(self) -> list[ColumnElement[Any]]:
        return [key.desc() if self.descending else key.asc() for key in self.keys]

    def after(self, cursor: str, name: str) -> ColumnElement[bool]:
        """Whether a row comes after the one `cursor` (one of this `name`) points at, or the 400."""
        first, last_id = decode_cursor(cursor, name, 2)
        column, id_column = self.keys
        if self.kind == "number":
            value = literal(key_number(first), Float)
        elif self.kind == "time":
            value = literal(key_time(first), type_=column.type)
        else:  # an integer: anything else (text, a number beyond bigint) was a 500 from PostgreSQL
            value = literal(key_id(first), type_=column.type)
        row, after = tuple_(column, id_column), tuple_(value, key_id(last_id))
        return row < after if self.descending else row > after

    def cursor(self, name: str, first: Any, last_id: int) -> str:
        """The cursor (of this `name`) pointing after a row with these keys."""
        if self.kind == "number":
            first = float(first)
        elif self.kind == "time":
            first = first.isoformat()
        return encode_cursor(name, [first, last_id])


def keyset_page(
    session: Session,
    query: Select,
    spec: SortSpec,
    name: str,
    args: dict[str, Any],
    row_keys: Callable[[Any], tuple[Any, int]],
) -> tuple[list[Any], str | None]:
    """A page of `query`'s rows in `spec`'s order, after `args`' cursor (one of this `name`), at most
    `args["limit"]`; and the cursor to the next page (None at the end). `row_keys` reads a row's keys."""
    if args.get("cursor"):
        query = query.where(spec.after(args["cursor"], name))
    limit = args["limit"]
    rows = session.execute(query.order_by(*spec.order()).limit(limit + 1)).all()
    more, rows = len(rows) > limit, rows[:limit]
    return rows, spec.cursor(name, *row_keys(rows[-1])) if more else None


def newest_first(
    session: Session,
    query: Select,
    keys: tuple[ColumnElement[datetime], ColumnElement[int]],
    name: str,
    args: dict[str, Any],
    row_keys: Callable[[Any], tuple[datetime, int]],
) -> tuple[list[Any], str | None]:
    """keyset_page newest first by (time, id) `keys`."""
    return keyset_page(session, query, SortSpec(keys, descending=True, kind="time"), name, args, row_keys)
