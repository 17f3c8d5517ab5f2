"""A CSV file from a local path or s3:// — also how a real market export is loaded.

Config keys:
  path        /path/to/file.csv or s3://bucket/key (required)
  fields      canonical field -> column, e.g. {"price": "price", "bedrooms": "beds"}
  values      value mappings, e.g. {"unit_type": {"Apt": "apartment"}, "furnished": {"Y": true}}
  units       {"sqft": "sqm"} when sizes are square metres
  link_base   the site relative listing links ("/listings/12") are read against (none: refused)
  ref_columns columns whose values identify a row when there is no id column
  delimiter   default ","; encoding default "utf-8-sig"
  page_size   rows per page (default 2000)

The file is a snapshot: when it changed, listings of this source that are no
longer in it are delisted; when it did not change (same ETag / size and
mtime), nothing is fetched.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
from collections.abc import Generator, Iterator
from typing import Any

import requests

from jobs.sources.base import (
    CheckResult,
    FetchContext,
    Page,
    SourceError,
    column_names,
    one_character,
    require,
    text_value,
    whole_above_zero,
)
from models.normalize import Rejected, record_paths, source_ref_of

snapshot = True
REQUIRED_CONFIG = ("path",)
CONFIG_CHECKS = {
    "path": text_value,
    "ref_columns": column_names,
    "delimiter": one_character,
    "encoding": text_value,
    "page_size": whole_above_zero,
}


def _open_s3(path: str, encoding: str) -> tuple[io.TextIOBase, dict[str, Any]]:
    import boto3
    from botocore.exceptions import ClientError

    bucket, _, key = path[len("s3://") :].partition("/")
    try:
        obj = boto3.client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise SourceError(f"csv: cannot read {path}: {exc.response['Error'].get('Code')}") from None
    text = io.TextIOWrapper(io.BytesIO(obj["Body"].read()), encoding=encoding, newline="")
    return text, {"etag": obj.get("ETag")}


def _open(config: dict[str, Any]) -> tuple[io.TextIOBase, dict[str, Any]]:
    require(config, "csv", REQUIRED_CONFIG)
    path, encoding = config["path"], _encoding(config)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise SourceError(f"csv: unknown encoding {encoding!r}") from None
    if path.startswith("s3://"):
        return _open_s3(path, encoding)
    try:
        stat = os.stat(path)
        handle = open(path, encoding=encoding, newline="")  # noqa: SIM115
    except OSError as exc:
        raise SourceError(f"csv: cannot read {path}: {exc.strerror}") from None
    return handle, {"size": stat.st_size, "mtime": stat.st_mtime}


def _encoding(config: dict[str, Any]) -> str:
    return str(config.get("encoding") or "utf-8-sig")


def source_ref(payload: Any, config: dict[str, Any]) -> str:
    """The row's id column, or a digest of its identifying columns."""
    if (config.get("fields") or {}).get("source_ref"):
        return source_ref_of(payload, config)
    if not isinstance(payload, dict):
        raise Rejected("record is not a row")
    columns = config.get("ref_columns")
    if not columns:
        raise Rejected("csv config maps no source_ref column and no ref_columns")
    values = [str(payload.get(column) or "").strip() for column in columns]
    if not any(values):
        raise Rejected(f"source_ref: {', '.join(columns)} are all empty")
    return hashlib.sha1("\x1f".join(values).encode()).hexdigest()[:20]


def pages(config: dict[str, Any], ctx: FetchContext) -> Iterator[Page]:
    """Rows in pages; nothing when the file is unchanged since the cursor."""
    handle, version = _open(config)
    with handle:
        if ctx.cursor and ctx.cursor.get("version") == version:
            return
        # strict: a quote opened and never closed made the rest of the file one field of one row, and
        # every listing after it was delisted as gone from the snapshot
        reader = csv.DictReader(handle, delimiter=config.get("delimiter", ","), strict=True)
        try:
            last = yield from _full_pages(reader, config)
        except csv.Error as exc:
            hint = " (a quoted field never closed)" if "end of data" in str(exc) else ""
            # the csv reader's count: the DictReader's stops at the last row it gave
            raise SourceError(f"csv: line {reader.reader.line_num}: {exc}{hint}") from None
        except UnicodeDecodeError as exc:  # the text is decoded a block at a time, so: after the line
            raise SourceError(
                f"csv: not {_encoding(config)} text (byte 0x{exc.object[exc.start]:02x} after line "
                f"{reader.reader.line_num}); set the source's encoding"
            ) from None
        yield Page(last, {"version": version})


def _full_pages(reader: csv.DictReader[str], config: dict[str, Any]) -> Generator[Page, None, list[Any]]:
    """The rows in pages of page_size; returns the rows after the last full page."""
    if not reader.fieldnames:
        raise SourceError("csv: the file has no header row")
    mapped = {column for column in (config.get("fields") or {}).values() if column}
    missing = sorted(mapped - set(reader.fieldnames))
    if missing:
        raise SourceError(f"csv: mapped columns missing from the header: {', '.join(missing)}")
    read = set(record_paths(config).values()) | set(config.get("ref_columns") or ())
    twice = sorted({name for name in reader.fieldnames if name in read and reader.fieldnames.count(name) > 1})
    if twice:  # a row would keep only the last column of the name
        raise SourceError(f"csv: the header names {', '.join(twice)} more than once: which one is meant?")
    size, batch = int(config.get("page_size", 2000)), []
    for row in reader:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        batch.append(row | ({"_extra_cells": extra} if extra else {}))
        if len(batch) >= size:
            yield Page(batch)
            batch = []
    return batch


def check(config: dict[str, Any], ref: str, url: str | None, client: requests.Session) -> CheckResult:
    """A CSV snapshot is checked at ingest (rows that vanish are delisted), not here."""
    return "unchecked"
