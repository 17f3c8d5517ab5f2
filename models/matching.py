"""Cross-source duplicates and region matching, in bulk SQL (shared by batch and stream)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger

from models.hidden import hidden_sql
from models.settings import get_settings
from models.words import words_query_sql

DEDUPE_METRES = 10.0
PRICE_TOLERANCE = 0.03
# A cheap planar prefilter that uses the GiST index before the exact geography test.
DEGREES_PER_METRE = 1 / 80_000

# The listings of a batch, each read once through the primary key: LIMIT keeps the planner from
# flattening the lookup into a join. Right after a bulk load, or while a new deployment's first
# listings stream in, the planner has no statistics, believes there are a handful of active listings
# and would read them all for the batch's ids (3,000 reads for a batch of 20 in a test).
_BATCH = """(SELECT DISTINCT unnest(CAST(:ids AS bigint[])) AS id) AS batch
    CROSS JOIN LATERAL (SELECT * FROM listings WHERE listings.id = batch.id LIMIT 1) AS"""

# LATERAL: one GiST nearest-neighbour probe per new listing, whatever the statistics say (without
# them the planner would otherwise pick a join that compares every pair). The copy that went live first
# stays the one shown: a listing of the batch defers to any live listing from before the batch (a
# partner's copy that came in on the stream while a feed's copy of the same flat waited to be processed
# was first seen later, and has had its alerts), and within the batch to the older. The copies of a
# listing that turns out a copy follow it to the one shown: no listing points at a copy.
MARK_DUPLICATES = text(f"""
WITH matches AS (
    SELECT n.id, m.id AS canonical
    FROM {_BATCH} n
    CROSS JOIN LATERAL (
        SELECT c.id
        FROM listings c
        WHERE ST_DWithin(c.geom, n.geom, :degrees)
          AND c.id <> n.id
          AND c.source_id <> n.source_id
          AND c.status = 'active' AND c.canonical_id IS NULL
          AND c.bedrooms = n.bedrooms
          AND c.bathrooms IS NOT DISTINCT FROM n.bathrooms
          AND abs(c.price - n.price) <= :tolerance * greatest(c.price, n.price)
          AND (c.id <> ALL(:ids) OR (c.first_seen_at, c.id) < (n.first_seen_at, n.id))
          AND ST_DWithin(c.geom::geography, n.geom::geography, :metres)
        ORDER BY c.geom <-> n.geom, c.id
        LIMIT 1
    ) m
    WHERE n.status = 'active'
),
followers AS (
    UPDATE listings AS d SET canonical_id = m.canonical
    FROM matches m WHERE d.canonical_id = m.id AND d.id <> ALL(:ids)
)
UPDATE listings AS l SET canonical_id = m.canonical
FROM matches m WHERE l.id = m.id
RETURNING l.id
""").bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

# whether listing `l` meets region `r`'s criteria and the region alerts at all (a region is alerted of
# the listings it wants)
_WANTED = f"""r.alerts
           AND (r.min_bedrooms IS NULL OR l.bedrooms >= r.min_bedrooms)
           AND (r.max_bedrooms IS NULL OR l.bedrooms <= r.max_bedrooms)
           AND (r.min_bathrooms IS NULL OR l.bathrooms >= r.min_bathrooms)
           AND (r.max_price IS NULL OR l.price <= r.max_price)
           AND (r.min_sqft IS NULL OR l.sqft >= r.min_sqft)
           AND (r.furnished IS NULL OR l.furnished = r.furnished)
           AND (r.available_by IS NULL OR l.available_from IS NULL OR l.available_from <= r.available_by)
           AND (r.unit_types IS NULL OR cardinality(r.unit_types) = 0 OR l.unit_type = ANY(r.unit_types))
           AND (r.words IS NULL OR l.words @@ {words_query_sql("r.words")})"""
# ... and its price rank is one the region wants. Judged when an alert is sent, not when it is queued: the
# stream places a listing before it stores the listing's rank (the scoring runs alongside the placement),
# so a region asking for ranks is queued an alert of every listing it would otherwise want, and the
# notify job withdraws those whose rank (by then stored) it does not want. A listing nook does not rank
# (no model, or beyond the model's market) meets no rank.
_RANKED_AS_WANTED = """(r.labels IS NULL OR cardinality(r.labels) = 0 OR EXISTS (
               SELECT 1 FROM price_ranks pr WHERE pr.listing_id = l.id AND pr.label = ANY(r.labels)))"""

# whether listing `l`'s price was cut in this transaction (the writer's statement before this one; the
# trigger of migration 0013 dates a change by its statement) by at least :cut_share of the price before,
# and by no more than MAX_ALERTED_CUT: a rent that falls by more than half is far likelier a source's
# slip ($2,400 sent as $240) than news, and is recorded but alerts nobody
MAX_ALERTED_CUT = 0.5
_CUT_NOW = f"""(:cut_share > 0 AND l.price_changed_at >= transaction_timestamp()
           AND l.price <= l.previous_price * (1 - :cut_share)
           AND l.price >= l.previous_price * {1 - MAX_ALERTED_CUT})"""


# a membership's copies of its listing's sort keys (a search of a region walks them: RegionListing)
_SORT_KEYS = """posted_at = EXCLUDED.posted_at, price = EXCLUDED.price, move_in = EXCLUDED.move_in,
        cut_share = EXCLUDED.cut_share"""


# Places listings in the regions that contain them, in one spatial join: the memberships a listing no
# longer has (it moved, or stopped being active and canonical) go, the others are written. The DELETE
# and the upsert touch disjoint rows, as data-modifying CTEs of one statement must. `hits` also says
# which regions' criteria each listing meets, for the alerts, and `cut` (SQL) whether its price was just
# cut.
def _place(cut: str) -> str:
    return f"""
WITH hits AS (
    SELECT r.id AS region_id, r.user_id, l.id AS listing_id, l.posted_at, l.price, l.move_in, l.cut_share,
           l.posted_at IS NOT NULL AND l.price IS NOT NULL AS placeable,
           {_WANTED} AS wanted,
           {cut} AS cut
    FROM {_BATCH} l
    JOIN regions r ON ST_Contains(r.geom, l.geom)
    WHERE l.status = 'active' AND l.canonical_id IS NULL
),
left_behind AS (
    DELETE FROM region_listings m
    WHERE m.listing_id = ANY(:ids)
      AND NOT EXISTS (
          SELECT 1 FROM hits h
          WHERE h.placeable AND h.region_id = m.region_id AND h.listing_id = m.listing_id
      )
),
placed AS (
    INSERT INTO region_listings (region_id, listing_id, posted_at, price, move_in, cut_share)
    SELECT region_id, listing_id, posted_at, price, move_in, cut_share FROM hits WHERE placeable
    ON CONFLICT (region_id, listing_id) DO UPDATE SET {_SORT_KEYS}
    RETURNING 1
)
"""


PLACE_IN_REGIONS = text(_place(cut="false") + "SELECT count(*) FROM placed").bindparams(
    bindparam("ids", type_=ARRAY(BigInteger))
)
# ... and queues one alert per (region, listing) whose criteria the listing meets, in the same statement;
# a region told of the flat (or that missed it: expired) hears again if its price was just cut. The
# alert queued again keeps its sent_at (when the region last heard of it), and loses its inheritance
# (its news is the cut, not the flat). A region told of the flat through a listing later found to copy
# it (two copies written at once, both alerted, the copy's sent first) has no alert of the listing shown
# (the notify job withdrew it as told): a cut of that listing's price is queued as a cut there, dated
# as the copy's was sent.
MATCH_REGIONS = text(
    _place(cut=_CUT_NOW)
    + """,
cut AS (
    UPDATE notifications AS n
    SET status = 'queued', reason = 'price_cut', attempts = 0, next_attempt_at = :now, created_at = :now,
        last_error = NULL, inherited_from = NULL
    FROM hits h
    WHERE h.cut AND h.wanted AND n.region_id = h.region_id AND n.listing_id = h.listing_id
      AND n.status IN ('sent', 'expired')
    RETURNING 1
),
told_by_copy AS (
    SELECT h.region_id, h.listing_id, max(s.sent_at) AS sent_at
    FROM hits h
    JOIN listings c ON c.canonical_id = h.listing_id
    JOIN notifications s ON s.listing_id = c.id AND s.region_id = h.region_id AND s.status = 'sent'
    WHERE h.cut AND h.wanted
    GROUP BY h.region_id, h.listing_id
),
queued AS (
    INSERT INTO notifications
        (user_id, region_id, listing_id, status, reason, sent_at, attempts, next_attempt_at, created_at)
    SELECT h.user_id, h.region_id, h.listing_id, 'queued',
           CASE WHEN t.sent_at IS NULL THEN 'new' ELSE 'price_cut' END, t.sent_at, 0, :now, :now
    FROM hits h LEFT JOIN told_by_copy t ON t.region_id = h.region_id AND t.listing_id = h.listing_id
    WHERE h.wanted
    ON CONFLICT (region_id, listing_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM queued) + (SELECT count(*) FROM cut)
"""
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

# the alert an alert inherits from (`PROMOTE_DUPLICATES`), if it has that status
_INHERITED = (
    "SELECT 1 FROM notifications o WHERE o.id = notifications.inherited_from AND o.status = '{status}'"
)

# Alerts (of `ids`) their region would no longer send: the listing is not shown any more (taken down,
# expired, a copy), or the region no longer contains it or wants it (redrawn, criteria changed, its
# alerts switched off, the listing's price or size changed), or the region was told of the flat already
# through a listing now found to be a copy of it (two copies written at once, both alerted, one sent
# before the recheck marked it; a cut of the flat's price it does hear of), or the alert it inherits
# from was sent (`PROMOTE_DUPLICATES`), or its user hid the flat (models.hidden). The notify job
# withdraws them instead of sending them.
_SENDABLE = f"""(EXISTS (
    SELECT 1 FROM listings l JOIN regions r ON r.id = notifications.region_id
    WHERE l.id = notifications.listing_id AND l.status = 'active' AND l.canonical_id IS NULL
      AND ST_Contains(r.geom, l.geom) AND {_WANTED} AND {_RANKED_AS_WANTED}
      AND NOT {hidden_sql("notifications.user_id", "l.id")}
      AND (notifications.reason = 'price_cut' OR NOT EXISTS (
          SELECT 1 FROM listings c JOIN notifications s ON s.listing_id = c.id
          WHERE c.canonical_id = l.id AND s.region_id = r.id AND s.status = 'sent'
      ))
) AND NOT EXISTS ({_INHERITED.format(status="sent")}))"""
# (a condition on `notifications`: the alert list leaves out the unsent alerts the notify job will withdraw)
SENDABLE = text(_SENDABLE)
# An alert is ready unless it inherits from one still queued (being sent, or waiting to be tried again):
# the notify job leaves it until that one is sent or withdrawn.
READY = text(f"NOT EXISTS ({_INHERITED.format(status='queued')})")
# Withdrawn, an alert goes; one queued again for a price cut goes back to what it was, sent (the region
# heard of the flat; the cut is what it will not hear of).
WITHDRAW_ALERTS = text(f"""
WITH unsendable AS (
    SELECT id, sent_at IS NOT NULL AS told FROM notifications WHERE id = ANY(:ids) AND NOT {_SENDABLE}
),
told AS (
    UPDATE notifications AS n SET status = 'sent', reason = 'new'
    FROM unsendable u WHERE n.id = u.id AND u.told
),
dropped AS (
    DELETE FROM notifications AS n USING unsendable u WHERE n.id = u.id AND NOT u.told
)
SELECT id FROM unsendable
""").bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

# Copies two writers wrote at the same time (the stream's shards, a Lambda each, or the stream and the
# process job): neither transaction could see the other's uncommitted copy, so both went live. The
# hourly recheck dedupes the listings that went live lately once more, now that all are committed
# (`mark_recent_copies`). Locking places against it would cost every stream batch a statement and
# serialise most shards' batches in a city (two batches of 100 usually share some cell).
RECENTLY_LIVE = text("""
SELECT id FROM listings WHERE status = 'active' AND canonical_id IS NULL AND processed_at >= :since
""")

# Copies left pointing at a listing that is gone or is itself a copy: a copy written while another
# shard takes its original down points at it after it went (and stays hidden), and a copy can point at a
# listing of its batch that became a copy in the same statement. The hourly recheck mends them
# (`mend_copies`).
SHORTCUT_COPIES = text("""
UPDATE listings AS d SET canonical_id = c.canonical_id
FROM listings c
WHERE c.id = d.canonical_id AND c.canonical_id IS NOT NULL AND c.canonical_id <> d.id
""")
GONE_ORIGINALS = text("""
SELECT DISTINCT c.id
FROM listings d JOIN listings c ON c.id = d.canonical_id
WHERE d.status = 'active' AND c.status <> 'active'
""")

# The oldest active copy of each listing that went takes over. Alerts of the listing that went not sent
# yet go with the flat to its heir (the notify job would otherwise withdraw them, and nobody would hear
# of a flat still to let); whether the region still wants the heir is the notify job's to judge when it
# sends, as for any alert (`_SENDABLE`). One the notify job is sending cannot move (SKIP LOCKED: a stream
# batch must not wait on a slow webhook): the heir gets an alert that inherits from it, which waits for
# that send's outcome (`READY`): sent, the region was told and the heir's alert is withdrawn; failed,
# the alert that went with its listing is withdrawn and the heir's is sent in its place. Regions already
# told of the heir keep their own alert. The listing that went becomes a copy of its heir, as its other
# copies that went are: what users kept of it (saved it, hid it; models.saved, models.hidden) stands for
# the flat still to let, and a link to it (an alert's) opens the flat (app.listings).
PROMOTE_DUPLICATES = text("""
WITH heirs AS (
    SELECT DISTINCT ON (d.canonical_id) d.canonical_id AS old, d.id AS heir
    FROM listings d
    WHERE d.canonical_id = ANY(:ids) AND d.status = 'active'
    ORDER BY d.canonical_id, d.first_seen_at, d.id
),
repointed AS (
    UPDATE listings AS d SET canonical_id = h.heir
    FROM heirs h WHERE d.canonical_id = h.old AND d.id <> h.heir
),
succeeded AS (
    UPDATE listings AS o SET canonical_id = h.heir FROM heirs h WHERE o.id = h.old
),
unsent AS (
    SELECT n.id, n.user_id, n.region_id, n.next_attempt_at, n.created_at, h.heir
    FROM heirs h
    JOIN notifications n ON n.listing_id = h.old AND n.status = 'queued'
    WHERE NOT EXISTS (SELECT 1 FROM notifications e WHERE e.region_id = n.region_id AND e.listing_id = h.heir)
),
movable AS (
    SELECT n.id, u.heir
    FROM unsent u JOIN notifications n ON n.id = u.id AND n.status = 'queued'
    FOR UPDATE OF n SKIP LOCKED
),
alerts AS (
    UPDATE notifications AS n SET listing_id = m.heir FROM movable m WHERE n.id = m.id
),
being_sent AS (
    INSERT INTO notifications (
        user_id, region_id, listing_id, status, attempts, next_attempt_at, created_at, inherited_from
    )
    SELECT user_id, region_id, heir, 'queued', 0, next_attempt_at, created_at, id
    FROM unsent WHERE id NOT IN (SELECT id FROM movable)
    ON CONFLICT (region_id, listing_id) DO NOTHING
)
UPDATE listings AS d SET canonical_id = NULL
FROM heirs h WHERE d.id = h.heir
RETURNING d.id
""").bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def refresh_listing_statistics(session: Session, changed_rows: int) -> bool:
    """ANALYZE listings when a run has changed a large share of it; return whether it did.

    Right after a bulk load the planner believes almost nothing is active and picks
    plans that compare every pair; fresh statistics (which see this transaction's own
    changes) put it back on the spatial index.
    """
    known = session.scalar(
        text("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'listings'::regclass")
    )
    if changed_rows < max(1000, 0.2 * float(known or 0)):
        return False
    session.execute(text("ANALYZE listings"))
    return True


FORGET_REGION = text("DELETE FROM region_listings WHERE region_id = :region_id")
REFRESH_REGION = text(f"""
INSERT INTO region_listings (region_id, listing_id, posted_at, price, move_in, cut_share)
SELECT r.id, l.id, l.posted_at, l.price, l.move_in, l.cut_share
FROM regions r
JOIN listings l ON ST_Contains(r.geom, l.geom)
WHERE r.id = :region_id AND l.status = 'active' AND l.canonical_id IS NULL
  AND l.posted_at IS NOT NULL AND l.price IS NOT NULL
ON CONFLICT (region_id, listing_id) DO UPDATE SET {_SORT_KEYS}
""")

PRUNE_MEMBERS = text("""
DELETE FROM region_listings m USING listings l
WHERE m.listing_id = l.id AND (l.status <> 'active' OR l.canonical_id IS NOT NULL)
""")


def place_in_regions(session: Session, listing_ids: Sequence[int]) -> int:
    """(Re)place listings in every region that contains them; return how many memberships."""
    if not listing_ids:
        return 0
    return session.execute(PLACE_IN_REGIONS, {"ids": list(listing_ids)}).scalar_one()


def refresh_region_members(session: Session, region_id: int) -> int:
    """Rebuild a region's listings after it was drawn or redrawn; return how many."""
    session.execute(FORGET_REGION, {"region_id": region_id})
    return session.execute(REFRESH_REGION, {"region_id": region_id}).rowcount


def prune_region_members(session: Session) -> int:
    """Forget listings that are no longer active canonical ones; return how many rows went."""
    return session.execute(PRUNE_MEMBERS).rowcount


def mark_duplicates(
    session: Session,
    listing_ids: Sequence[int],
    metres: float = DEDUPE_METRES,
    tolerance: float = PRICE_TOLERANCE,
) -> set[int]:
    """Point each listing that repeats one from another source at it (at one live before this batch, else
    at the older of the batch's), and the listings that pointed at it there too; return their ids."""
    if not listing_ids:
        return set()
    result = session.execute(
        MARK_DUPLICATES,
        {
            "ids": list(listing_ids),
            "metres": metres,
            "degrees": metres * DEGREES_PER_METRE * 2,
            "tolerance": tolerance,
        },
    )
    return set(result.scalars())


def match_regions(session: Session, listing_ids: Sequence[int], now: datetime) -> int:
    """Place listings in their regions, and queue one notification per (region, listing) whose criteria
    they meet; return how many notifications were queued."""
    if not listing_ids:
        return 0
    cut_share = get_settings().price_cut_alert_percent / 100
    return session.execute(
        MATCH_REGIONS, {"ids": list(listing_ids), "now": now, "cut_share": cut_share}
    ).scalar_one()


def hand_over(session: Session, gone_ids: Sequence[int]) -> list[int]:
    """Listings that went leave their regions, and the oldest active duplicate of each canonical one
    takes its place there (no new alerts: it inherits those of the listing it repeats not sent yet);
    return the heirs' ids."""
    if not gone_ids:
        return []
    heirs = promote_duplicates(session, gone_ids)
    place_in_regions(session, [*gone_ids, *heirs])
    return heirs


def withdraw_alerts(session: Session, alert_ids: Sequence[int]) -> set[int]:
    """Withdraw those of the alerts that their region would no longer send (`WITHDRAW_ALERTS`); return
    their ids."""
    return set(session.scalars(WITHDRAW_ALERTS, {"ids": list(alert_ids)})) if alert_ids else set()


def mark_recent_copies(session: Session, since: datetime) -> set[int]:
    """Mark the copies among the listings that went live since `since` (and are shown): the older of
    two copies stays; return the copies marked (their regions go at the next prune; the notify job
    withdraws their alerts not sent yet)."""
    return mark_duplicates(session, list(session.scalars(RECENTLY_LIVE, {"since": since})))


def mend_copies(session: Session, max_depth: int = 10) -> list[int]:
    """Point copies of copies at the listing shown, and return the originals that went while an active
    copy still points at them (to hand over, `promote_duplicates`)."""
    for _ in range(max_depth):
        if not session.execute(SHORTCUT_COPIES).rowcount:
            break
    return list(session.scalars(GONE_ORIGINALS))


def promote_duplicates(session: Session, gone_ids: Sequence[int]) -> list[int]:
    """When canonical listings go, their oldest active duplicate takes over with their alerts not sent
    yet, and each listing that went becomes a copy of its heir; return the heirs' ids."""
    if not gone_ids:
        return []
    return list(session.scalars(PROMOTE_DUPLICATES, {"ids": list(gone_ids)}))
