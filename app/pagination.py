"""Opaque keyset cursors: the sort and the last row's keys, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import ApiError


def encode_cursor(sort: str, keys: list[Any]) -> str:
    """A cursor pointing after a row with these sort keys."""
    raw = json.dumps([sort, keys], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, arity: int) -> list[Any]:
    """The keys of a cursor made for this sort, or a 400 problem naming the parameter."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded_sort, keys = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "cursor: not a cursor this API returned.", field="query.cursor") from None
    if decoded_sort != sort or not isinstance(keys, list) or len(keys) != arity:
        raise ApiError(400, "cursor: it belongs to a different sort order or query.", field="query.cursor")
    return keys
