"""Filing bad records: never silently dropped, never filed twice."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.listing import QuarantinedRecord

FILE_RECORDS = (
    insert(QuarantinedRecord)
    .on_conflict_do_nothing(index_elements=["fingerprint"])
    .returning(QuarantinedRecord.id)
)


@dataclass(frozen=True)
class BadRecord:
    """A record and the reason it was refused. `payload` if it parsed as JSON, else `raw` text."""

    stage: str
    reason: str
    source_id: int | None = None
    source_ref: str | None = None
    payload: Any = None
    raw: str | None = None

    def fingerprint(self) -> str:
        """Identity of this bad record (same record, same stage and source -> same fingerprint)."""
        body = json.dumps(
            [self.stage, self.source_id, self.source_ref, self.payload, self.raw], sort_keys=True, default=str
        )
        return hashlib.sha1(body.encode()).hexdigest()


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
            "source_ref": record.source_ref,
            "payload": _as_json_payload(record.payload),
            "raw": record.raw,
        }
        for record in records
    }
    # one statement form for any number of records: compiled once, then taken from the cache
    return len(session.execute(FILE_RECORDS, list(rows.values())).all())
