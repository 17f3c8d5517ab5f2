"""Stream stage: listing events from Kinesis -> upsert, rank, publish scores. Lean.

Imports only the standard library, boto3 and `models` (no pandas or
statsmodels): the stream stage cold-starts fast and loads the model artifact
once per container.

Per batch (Zappa calls `handle(event, context)` with Lambda's Kinesis event):
  1. decode each record (base64 -> UTF-8 -> JSON) and validate it with the
     batch pipeline's rules; poison records are quarantined (with the raw
     bytes, sequence number and reason) and dead-lettered to S3, never failing
     the batch;
  2. upsert the valid listings in bulk straight to active (idempotent by
     source + source_ref; one statement writes each new or changed listing
     once), mark duplicates, rank them, queue alerts; take down the listings
     a removal ({"status": "delisted"}) names — one transaction, in which the
     last event of a listing in the batch wins;
  3. publish {listing_id, source, source_ref, price, p25, p50, p75, label,
     model_version} to listing_scores with PutRecords, retrying only failed entries.
A transient failure (database or Kinesis unavailable) returns batchItemFailures
from the first record not fully handled, so Lambda retries from there: every
step is idempotent, so a retry loses nothing and duplicates nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from models.loading import collector_paused

# once per process, at every cold start: this stage's modules load with the collector paused, then
# frozen (models/loading.py)
with collector_paused(freeze=True):
    from sqlalchemy import bindparam, text
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.orm import Session
    from sqlalchemy.types import Integer, Text

    from models.activation import delist, upsert_active
    from models.logs import configure_logging
    from models.matching import hand_over, mark_duplicates, match_regions
    from models.normalize import (
        CleanListing,
        Rejected,
        clean_listing,
        source_ref_of,
        suspect,
        text_fault,
        unstorable,
    )
    from models.pricing import CURRENT_MODEL_SQL, Estimate, ModelUnavailable, PriceModel, load_model
    from models.quarantine import RAW_KEPT, BadRecord, quarantine
    from models.ranking import features_of, store_ranks
    from models.session import session_scope
    from models.settings import get_settings

log = logging.getLogger("nook.stream")

DEAD_LETTER_PREFIX = "dead_letter/listing_events"
# data a partner's producer wrapped: each is poison saying what to send instead (Lambda unwraps neither)
WRAPPED = {
    b"\xf3\x89\x9a\xc2": "data is a KPL aggregated record (several records in one): send one JSON listing a "
    "record (the Kinesis Producer Library's AggregationEnabled=false)",
    b"\x1f\x8b": "data is gzip-compressed: send the JSON listing as it is",
}
# what a record's optional "status" may say: a listing (the default), or a removal
STATUSES = (None, "active", "delisted")
MAX_PUT_RECORDS = 500
DEAD_LETTER_WRITERS = 8
BACKGROUND_CALLS = 4
PUT_ATTEMPTS = 5

# What a batch reads before it writes, in one round trip: its sources by name, and the current model's
# version and artifact (a row of each source with it, or one row without a source). Asked apart, they
# were two statements a batch, the model's an ORM query (0.65-0.84 ms of the handler's CPU a batch).
SOURCES_AND_MODEL = text(f"""
SELECT s.name, s.id, s.kind, s.enabled, s.last_success_at, m.version, m.artifact_uri
FROM (SELECT 1) AS one
LEFT JOIN ({CURRENT_MODEL_SQL}) AS m ON true
LEFT JOIN sources s ON s.name = ANY(:names)
""").bindparams(bindparam("names", type_=ARRAY(Text)))
# A partner that delivers valid records is fresh. The freshness check reads last_success_at in hours, so
# a source is touched at most once a minute: every batch of every shard writing the same source row
# would queue the shards' transactions behind one row lock, and write a row version per batch. A batch
# whose partners SOURCES_AND_MODEL found touched within the minute sends no UPDATE at all (a round trip less,
# nearly every batch); the UPDATE's own condition leaves alone a row another shard touched since.
TOUCHED_EVERY = timedelta(minutes=1)
TOUCH_SOURCES = text("""
UPDATE sources SET last_success_at = :now
WHERE id = ANY(:ids) AND (last_success_at IS NULL OR last_success_at < :since)
""").bindparams(bindparam("ids", type_=ARRAY(Integer)))


class StreamFailed(RuntimeError):
    """An unexpected error: Lambda records it and bisects the batch (never a TypeError)."""


class Transient(Exception):
    """A dependency is unavailable; `index` is the first record not fully handled."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index


@dataclass
class Item:
    """One Kinesis record and what became of it."""

    index: int
    sequence: str
    shard: str
    data: str
    payload: dict[str, Any] | None = None
    clean: CleanListing | None = None
    removal: bool = False  # the partner says the listing is gone
    ref: str | None = None  # source_ref, of a listing or of a removal
    source_id: int | None = None
    reason: str | None = None
    listing_id: int | None = None
    estimate: Estimate | None = field(default=None, repr=False)

    @property
    def poison(self) -> bool:
        return self.reason is not None

    @property
    def key(self) -> tuple[int | None, str | None]:
        return self.source_id, self.ref


class Clients:
    """The container's boto3 clients, each made once even when threads ask for it at the same time."""

    def __init__(self) -> None:
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        with self._lock:  # held while making one: a second thread waits for it instead of making another
            if service not in self._made:
                self._made[service] = _client(service)
            return self._made[service]

    def __contains__(self, service: str) -> bool:
        return service in self._made

    def clear(self) -> None:
        with self._lock:
            self._made.clear()


def _client(service: str) -> Any:
    import boto3

    client = boto3.client(service)
    if service == "s3":
        # botocore asks S3 for a go-ahead (Expect: 100-continue) before sending any PutObject body, a
        # round trip more a letter; the letters are a few hundred bytes, sent whole at once
        from botocore.handlers import add_expect_header

        client.meta.events.unregister("before-call.s3", add_expect_header)
    return client


CLIENTS = Clients()


def kinesis() -> Any:
    """The container's Kinesis client."""
    return CLIENTS.get("kinesis")


def s3() -> Any:
    """The container's S3 client."""
    return CLIENTS.get("s3")


def parse(text: str) -> tuple[Any, str | None]:
    """A record's JSON value, or the reason it has none."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"data is not JSON ({exc.msg} at position {exc.pos})"
    except RecursionError:
        return None, "data is not JSON nook reads (nested too deeply)"
    except ValueError as exc:  # an integer of over 4,300 digits
        return None, f"data is not JSON nook reads ({str(exc).split(':')[0]})"


def decode(index: int, record: Mapping[str, Any]) -> Item:
    """Decode and validate one record; a poison record carries its reason."""
    kinesis_part = record.get("kinesis") or {}
    item = Item(
        index,
        str(kinesis_part.get("sequenceNumber", "")),
        str(record.get("eventID", "")).split(":")[0],
        str(kinesis_part.get("data", "")),
    )
    try:
        data = base64.b64decode(item.data, validate=True)
    except (binascii.Error, ValueError):
        item.reason = "data is not base64-encoded"
        return item
    try:
        text = data.decode("utf-8")
    except ValueError:
        item.reason = next(
            (reason for magic, reason in WRAPPED.items() if data.startswith(magic)), "data is not UTF-8 text"
        )
        return item
    payload, item.reason = parse(text)
    if item.reason is not None:
        return item
    if not isinstance(payload, dict):
        item.reason = f"record is a {type(payload).__name__}, not an object"
        return item
    if suspect(text) and (reason := unstorable(payload)):
        item.reason = reason  # filed under the partner's name if it is one, never with the rest
        item.payload = {
            k: v
            for k in ("source", "source_ref")
            if isinstance(v := payload.get(k), str) and not text_fault(v)
        }
        return item
    item.payload = payload
    if not isinstance(payload.get("source"), str) or not payload["source"].strip():
        item.reason = "source: missing"
        return item
    status = payload.get("status")
    status = status.strip().lower() if isinstance(status, str) else status
    if status not in STATUSES:
        item.reason = f"status: {str(status)[:40]!r} is neither 'active' nor 'delisted'"
        return item
    try:
        if status == "delisted":  # a removal names the listing; nothing else about it matters
            item.removal, item.ref = True, source_ref_of(payload, {})
        else:
            item.clean = clean_listing(payload)
            item.ref = item.clean.source_ref
    except Rejected as exc:
        item.reason = str(exc)
    return item


@dataclass(frozen=True)
class Known:
    """What the database said of a batch before it wrote (SOURCES_AND_MODEL)."""

    last_success: dict[int, datetime | None]  # when each partner named last delivered a valid record
    model: tuple[str, str] | None  # the current model's (version, artifact_uri); None before the first


def resolve_sources(session: Session, items: list[Item]) -> Known:
    """Attach source ids (to poison too, so that a partner's refused records are found under its name); a
    source nook does not know, one that is not a stream partner, or one disabled makes the record poison
    (a partner naming a feed's source wrote over that feed's listings). Says too which model is current."""
    named = [i for i in items if i.payload and isinstance(i.payload.get("source"), str)]
    names = {i.payload["source"].strip() for i in named}  # type: ignore[index]
    rows = session.execute(SOURCES_AND_MODEL, {"names": list(names)}).all()
    known = {r.name: r for r in rows if r.name is not None}
    for item in named:
        name = item.payload["source"].strip()  # type: ignore[index]
        source = known.get(name)
        # filed under a partner's name only: a record naming a feed's source is no record of that feed
        item.source_id = source.id if source is not None and source.kind == "stream" else None
        if item.poison:
            continue
        if source is None:
            item.reason = f"source: unknown source {name[:60]!r} (register it with `flask sources add`)"
        elif source.kind != "stream":
            item.reason = f"source: {name[:60]!r} is a {source.kind} source, not a stream partner"
        elif not source.enabled:
            item.reason = (
                f"source: {name[:60]!r} is disabled (`flask sources enable` takes its records again)"
            )
    return Known(
        {r.id: r.last_success_at for r in known.values() if r.kind == "stream"},
        (rows[0].version, rows[0].artifact_uri) if rows[0].version is not None else None,
    )


def latest(good: list[Item]) -> tuple[list[Item], list[Item]]:
    """The listings to write and the removals to apply: the last event of each listing in the batch wins
    (a listing then its removal ends down, a removal then the listing ends up)."""
    removed_last = {i.key: i.removal for i in good}
    return (
        [i for i in good if not i.removal and not removed_last[i.key]],
        [i for i in good if i.removal and removed_last[i.key]],
    )


def store(
    session: Session,
    items: list[Item],
    now: datetime,
    scored: Callable[[], Any] = lambda: None,
    last_success: Mapping[int, datetime | None] | None = None,
) -> dict[str, int]:
    """Quarantine poison, upsert and activate valid listings, rank and match them, take down the removed
    ones. `scored` returns once every item carries its estimate (scoring may run alongside);
    `last_success` says when each partner was last marked fresh, as resolve_sources read it (unknown: each
    is marked fresh again if its row says it is due)."""
    good = [i for i in items if not i.poison]
    listed, removals = latest(good)
    filed = quarantine(
        session,
        [
            BadRecord(
                stage="stream",
                reason=f"{i.reason} (sequence {i.sequence})",
                source_id=i.source_id,
                source_ref=(i.payload or {}).get("source_ref") if isinstance(i.payload, dict) else None,
                payload=None,
                raw=i.data[:RAW_KEPT],
            )
            for i in items
            if i.poison
        ],
    )
    written = upsert_active(
        session,
        [(i.source_id, i.payload, i.clean) for i in listed],  # type: ignore[misc]
        now,
    )
    fresh: list[int] = []
    for item in listed:
        row = written[item.key]  # type: ignore[index]
        item.listing_id = row.id
        if row.fresh and row.id not in fresh:
            fresh.append(row.id)
    duplicates = mark_duplicates(session, fresh)
    alerts = match_regions(session, fresh, now)
    gone = delist(session, list(dict.fromkeys(i.key for i in removals)), now)  # type: ignore[arg-type]
    heirs = hand_over(session, gone)
    scored()  # as late as can be: scoring runs alongside everything above
    canonical = set(fresh) - duplicates
    store_ranks(
        session,
        {
            i.listing_id: i.estimate
            for i in listed  # type: ignore[misc]
            if i.estimate is not None and i.listing_id in canonical
        },
        now,
    )
    due = [
        source_id
        for source_id in dict.fromkeys(i.source_id for i in good)
        if last_success is None
        or (last := last_success.get(source_id)) is None  # type: ignore[arg-type]
        or last < now - TOUCHED_EVERY
    ]
    if due:  # last: the source rows stay locked until the commit
        session.execute(TOUCH_SOURCES, {"ids": due, "now": now, "since": now - TOUCHED_EVERY})
    return {
        "valid": len(good),
        "poison": len(items) - len(good),
        "quarantined_new": filed,
        "activated": len(fresh),
        "duplicates": len(duplicates),
        "alerts": alerts,
        "delisted": len(gone),
        "promoted": len(heirs),
    }


def score(items: list[Item], model: PriceModel | None) -> None:
    """Estimate every record that decoded to a listing (none without a model), before storing: ranks are
    written with the batch. A record found poison later (an unknown source) keeps an estimate nobody
    reads."""
    for item in items:
        if item.clean is not None:
            item.estimate = model.estimate(features_of(item.clean), price=item.clean.price) if model else None


class LastModel:
    """The model the container's last batch was scored with: the next batch is scored with it from the
    start, before the database has said which model is current, and again if that is another."""

    model: PriceModel | None = None


def scoring_by(
    items: list[Item], early: futures.Future | None, guess: PriceModel | None, model: PriceModel | None
) -> futures.Future:
    """Scoring by the current `model`: the early scoring by `guess` if that is it, else a new one (once
    the early one has stopped writing estimates)."""
    LastModel.model = model
    if early is not None and guess is model:
        return early
    if early is not None:
        futures.wait([early])
    return in_background(score, items, model)


def dead_letter(items: list[Item], bucket: str) -> None:
    """Raw bytes, sequence number and reason of each poison record, one S3 object each (idempotent keys),
    written side by side: a partner sending garbage must not slow a shard to one S3 round trip a record.
    Transient from the first record whose letter could not be written."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    poison = [i for i in items if i.poison]
    if not poison:
        return
    try:
        client = s3()  # made here, once: clients are thread-safe, making them is not
    except Exception as exc:
        raise Transient(poison[0].index, f"S3 client: {exc}") from exc

    def write(item: Item) -> str | None:
        body = {
            "sequence_number": item.sequence,
            "shard": item.shard,
            "reason": item.reason,
            "data_base64": item.data,
        }
        try:
            client.put_object(
                Bucket=bucket,
                Key=f"{DEAD_LETTER_PREFIX}/{day}/{item.sequence or item.index}.json",
                Body=json.dumps(body).encode(),
                ContentType="application/json",
            )
        except Exception as exc:
            return str(exc)
        return None

    errors = list(threads("dead letters", DEAD_LETTER_WRITERS).map(write, poison))
    failed = [(item.index, error) for item, error in zip(poison, errors, strict=True) if error is not None]
    if failed:
        index, error = min(failed)
        raise Transient(index, f"S3 dead letter failed: {error}")


POOLS: dict[str, futures.ThreadPoolExecutor] = {}
POOLS_LOCK = threading.Lock()


def threads(name: str, workers: int) -> futures.ThreadPoolExecutor:
    """The container's pool of threads called `name`, made at its first use and kept: a thread started
    for each call made the handler's thread wait until the new one had started, which it did holding the
    GIL for up to the switch interval (5 ms) as it ran the call (4.6% of the handler's thread under
    py-spy). A pool's idle threads wait on its queue instead."""
    with POOLS_LOCK:
        if name not in POOLS:
            POOLS[name] = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"stream {name}")
        return POOLS[name]


def in_background(function: Callable[..., Any], *args: Any) -> futures.Future:
    """Start `function(*args)` on one of the container's background threads; `result()` waits and
    re-raises what it raised. At most BACKGROUND_CALLS at once: a batch's Kinesis client, two scorings,
    its dead letters."""
    return threads("background", BACKGROUND_CALLS).submit(function, *args)


def score_message(item: Item) -> dict[str, Any]:
    """What listing_scores carries for a record: no range and no label without a model, nor for a
    listing outside the market of the model named (too far from every listing it learned from)."""
    e = item.estimate
    ranked = e is not None and e.within_reach
    return {
        "listing_id": item.listing_id,
        "source": item.payload["source"],  # type: ignore[index]
        "source_ref": item.clean.source_ref,
        "price": item.clean.price,  # type: ignore[union-attr]
        "p25": round(e.p25, 2) if ranked else None,
        "p50": round(e.p50, 2) if ranked else None,
        "p75": round(e.p75, 2) if ranked else None,
        "label": e.label if ranked else None,
        "model_version": e.model_version if e else None,
    }


def publish(items: list[Item], stream: str) -> int:
    """PutRecords in batches, retrying only the entries that failed; Transient if some never go. Every
    listing written gets a message (removals, and listings a later removal in the batch took back, do
    not)."""
    pending = [i for i in items if i.listing_id is not None]
    sent = 0
    for start in range(0, len(pending), MAX_PUT_RECORDS):
        chunk = pending[start : start + MAX_PUT_RECORDS]
        for attempt in range(PUT_ATTEMPTS):
            try:
                response = kinesis().put_records(
                    StreamName=stream,
                    Records=[
                        {"Data": json.dumps(score_message(i)).encode(), "PartitionKey": str(i.listing_id)}
                        for i in chunk
                    ],
                )
            except Exception as exc:
                raise Transient(chunk[0].index, f"Kinesis put_records failed: {exc}") from exc
            results = response.get("Records", [])
            failed = [i for i, r in zip(chunk, results, strict=True) if r.get("ErrorCode")]
            sent += len(chunk) - len(failed)
            chunk = failed
            if not chunk:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt))
        if chunk:
            raise Transient(min(i.index for i in chunk), f"{len(chunk)} score(s) not accepted by Kinesis")
    return sent


def _model(current: tuple[str, str] | None) -> PriceModel | None:
    """The current model (version, artifact_uri), loaded once per container; a missing artifact must not
    stall ingestion, so it is logged, not raised."""
    if current is None:
        return None
    try:
        return load_model(current[1], current[0])
    except ModelUnavailable:
        log.exception("price model unavailable; publishing without price ranks")
        return None


def failures_from(records: list[Mapping[str, Any]], index: int) -> dict[str, Any]:
    """Ask Lambda to retry from record `index` on."""
    return {"batchItemFailures": [{"itemIdentifier": records[index]["kinesis"]["sequenceNumber"]}]}


def process(records: list[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """Handle one batch; return Lambda's partial-batch response plus counts."""
    settings = get_settings()
    items = [decode(n, r) for n, r in enumerate(records)]
    if not settings.stream_dry_run and "kinesis" not in CLIENTS:
        # making the Kinesis client reads botocore's endpoint and service models (~0.1 s, once per
        # container): at a cold start it is made while the database and the artifact are waited for.
        # publish() asks for it again, waits on the lock if it is still being made, and reports a failure
        in_background(kinesis)
    # scoring (annoy lets go of the GIL) needs nothing from the database but the current model's
    # version, and that rarely changes: it starts now, with the last batch's model
    guess = LastModel.model
    early = in_background(score, items, guess) if guess is not None else None
    background = [early] if early is not None else []
    try:
        with session_scope() as session:
            known = resolve_sources(session, items)
            scoring = scoring_by(items, early, guess, _model(known.model))
            if scoring is not early:
                background.append(scoring)
            if settings.stream_dry_run:
                scoring.result()
                session.rollback()
                counts = {
                    "valid": sum(not i.poison for i in items),
                    "poison": sum(i.poison for i in items),
                    "removals": sum(i.removal and not i.poison for i in items),
                    "dry_run": True,
                }
                log.info(
                    "dry run",
                    extra={
                        "counts": counts,
                        "scores": [score_message(i) for i in items if i.clean and not i.poison][:20],
                    },
                )
                return {"batchItemFailures": [], **counts}
            # the dead letters to S3 need nothing more from the database: they are written while it
            # works, as the scores are computed; ranks are stored once the scores are in
            dead_letters = in_background(dead_letter, items, settings.bucket)
            background.append(dead_letters)
            counts = store(session, items, now, scored=scoring.result, last_success=known.last_success)
    except (OperationalError, DBAPIError) as exc:
        log.warning("database unavailable; Lambda will retry the batch", extra={"error": str(exc)[:300]})
        futures.wait(background)  # their outcome does not matter: the whole batch is retried
        return failures_from(records, 0)
    except BaseException:
        futures.wait(background)
        raise
    return settle(records, items, dead_letters, settings.listing_scores_stream, counts)


def settle(
    records: list[Mapping[str, Any]],
    items: list[Item],
    dead_letters: futures.Future,
    stream: str,
    counts: dict[str, Any],
) -> dict[str, Any]:
    """Once the batch is committed: publish the scores and say where Lambda should retry from, if
    anywhere. A dead letter that could not be written makes Lambda retry from its record, and the
    retry does not bring back the records before it: their scores are published now."""
    failure: Transient | None = None
    try:
        dead_letters.result()
    except Transient as exc:
        failure = exc
    try:
        counts["published"] = publish(
            [i for i in items if failure is None or i.index < failure.index], stream
        )
    except Transient as exc:
        failure = exc  # publish saw only records before any dead-letter failure: this one comes first
    if failure is None:
        return {"batchItemFailures": [], **counts}
    log.warning("partial batch", extra={"error": str(failure)[:300], "retry_from": failure.index})
    return {**failures_from(records, failure.index), **counts}


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Zappa event_source entry point for the listing_events Kinesis stream."""
    configure_logging(get_settings().log_level)
    records = list(event.get("Records") or [])
    if not records:
        return {"batchItemFailures": []}
    started = time.monotonic()
    try:
        result = process(records, datetime.now(UTC))
    except Exception as exc:  # not a TypeError: Zappa must not call us again with fewer arguments
        log.error("stream batch failed", exc_info=True)
        raise StreamFailed(f"{type(exc).__name__}: {exc}") from exc
    log.info(
        "batch",
        extra={
            "records": len(records),
            "seconds": round(time.monotonic() - started, 3),
            **{k: v for k, v in result.items() if k != "batchItemFailures"},
            "failures": len(result["batchItemFailures"]),
        },
    )
    return result
