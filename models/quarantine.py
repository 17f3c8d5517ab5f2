"""Filing bad records: never silently dropped, never filed twice.

The quarantine's table is mapped here, not beside the listings: filing loads no GeoAlchemy2 and no
listing table, so the stream stage, which files its poison, cold-starts without them (models/__init__.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, created_at_column
from models.normalize import text_fault
from models.source import Source  # a table its foreign key names, too


class QuarantinedRecord(Base):
    """A record that could not be ingested, processed or streamed, with why.

    `fingerprint` (stage, source, record) makes quarantining idempotent: a
    re-run that meets the same bad record does not file it twice.
    """

    __tablename__ = "quarantined_records"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(40), unique=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"), index=True)
    source_ref: Mapped[str | None] = mapped_column(String(255))
    stage: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    raw: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


RAW_KEPT = 100_000  # characters of a record's raw form the table keeps (the dead letters keep it whole)

# written to the table, not through the mapped class: the ORM's bulk insert turned each batch's rows into
# objects' state and back, most of the time a batch of the stream took to file its poison (py-spy)
_TABLE = QuarantinedRecord.__table__
FILE_RECORDS = insert(_TABLE).on_conflict_do_nothing(index_elements=["fingerprint"]).returning(_TABLE.c.id)


@dataclass(frozen=True)
class BadRecord:
    """A record and the reason it was refused. `payload` if it parsed as JSON, else `raw` text."""

    stage: str
    reason: str
    source_id: int | None = None
    source_ref: Any = None  # as the record gave it; filed as text (see _filed_ref)
    payload: Any = None
    raw: str | None = None

    def fingerprint(self) -> str:
        """Identity of this bad record (same record, same stage and source -> same fingerprint)."""
        body = json.dumps(
            [self.stage, self.source_id, self.source_ref, self.payload, self.raw], sort_keys=True, default=str
        )
        return hashlib.sha1(body.encode()).hexdigest()


REF_KEPT = 255  # quarantined_records.source_ref's width


def _filed_ref(ref: Any) -> str | None:
    """The source_ref a bad record is filed under: text (a number as text) PostgreSQL can store, cut to
    the column's width. A ref that is an object, a list or true is no ref: it stays in the record itself."""
    if isinstance(ref, int | float) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str) or text_fault(ref):
        return None
    return ref[:REF_KEPT]


def _as_json_payload(payload: Any) -> dict[str, Any] | None:
    if payload is None:
        return None
    return payload if isinstance(payload, dict) else {"value": payload}


def quarantine(session: Session, records: list[BadRecord]) -> int:
    """File bad records in bulk; return how many were new."""
    if not records:
        return 0
    rows = {
        record.fingerprint(): {
            "fingerprint": record.fingerprint(),
            "stage": record.stage,
            "reason": record.reason[:2000],
            "source_id": record.source_id,
            "source_ref": _filed_ref(record.source_ref),
            "payload": _as_json_payload(record.payload),
            "raw": record.raw,
        }
        for record in records
    }
    # one statement form for any number of records: compiled once, then taken from the cache
    return len(session.execute(FILE_RECORDS, list(rows.values())).all())


@dataclass(frozen=True)
class Filed:
    """A quarantined record as an operator lists it."""

    id: int
    created_at: datetime
    stage: str
    source: str | None
    source_ref: str | None
    reason: str


def filed(
    session: Session,
    stage: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> tuple[dict[str, int], list[Filed]]:
    """How many records each stage quarantined (of those matching), and the newest `limit` of them."""
    name = Source.name.label("source")
    conditions = []
    if stage is not None:
        conditions.append(QuarantinedRecord.stage == stage)
    if source is not None:
        conditions.append(name == source)
    if since is not None:
        conditions.append(QuarantinedRecord.created_at >= since)
    matching = (
        select(QuarantinedRecord)
        .outerjoin(Source, Source.id == QuarantinedRecord.source_id)
        .where(*conditions)
    )
    found = matching.subquery()
    counts = dict(session.execute(select(found.c.stage, func.count()).group_by(found.c.stage)).all())
    rows = session.execute(
        matching.with_only_columns(
            QuarantinedRecord.id,
            QuarantinedRecord.created_at,
            QuarantinedRecord.stage,
            name,
            QuarantinedRecord.source_ref,
            QuarantinedRecord.reason,
        )
        .order_by(QuarantinedRecord.created_at.desc(), QuarantinedRecord.id.desc())
        .limit(limit)
    )
    return counts, [Filed(*row) for row in rows]


def record(session: Session, record_id: int) -> dict[str, Any] | None:
    """Everything kept of one quarantined record; a stream record's data also decoded when it is text."""
    found = session.execute(
        select(QuarantinedRecord, Source.name)
        .outerjoin(Source, Source.id == QuarantinedRecord.source_id)
        .where(QuarantinedRecord.id == record_id)
    ).first()
    if found is None:
        return None
    row, source = found
    kept: dict[str, Any] = {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "stage": row.stage,
        "source": source,
        "source_ref": row.source_ref,
        "reason": row.reason,
        "payload": row.payload,
        "raw": row.raw,
    }
    if row.stage == "stream" and row.raw:
        data = stream_bytes(row.raw)
        try:
            kept["data"] = data.decode("utf-8") if data is not None else None
        except UnicodeDecodeError:
            kept["data"] = None  # not text: `raw` holds it as Kinesis delivered it
    return kept


def stream_bytes(raw: str | None) -> bytes | None:
    """The bytes a stream record carried, from the base64 data the table keeps; None when there is none
    whole (not base64, or longer than the table keeps: its dead letter in the bucket has all of it)."""
    if not raw or len(raw) >= RAW_KEPT:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        return None


def stream_records(
    session: Session, ids: Sequence[int] = (), source: str | None = None, since: datetime | None = None
) -> list[tuple[int, str | None]]:
    """(id, raw) of the stream's quarantined records with these ids, or of this source, or since then."""
    query = select(QuarantinedRecord.id, QuarantinedRecord.raw).where(QuarantinedRecord.stage == "stream")
    if ids:
        query = query.where(QuarantinedRecord.id.in_(list(ids)))
    if source is not None:
        query = query.join(Source, Source.id == QuarantinedRecord.source_id).where(Source.name == source)
    if since is not None:
        query = query.where(QuarantinedRecord.created_at >= since)
    return [(rid, raw) for rid, raw in session.execute(query.order_by(QuarantinedRecord.id))]
