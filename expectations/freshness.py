"""Freshness: every enabled source had a successful ingest within its allowed gap.

Seed 000's forecast silently froze for months when its API changed: a source
that stops succeeding must fail this check, loudly, within hours.
"""

from __future__ import annotations

import great_expectations as gx

from expectations import Dataset, Params, stamp

NAME = "freshness"
DESCRIPTION = "every enabled source succeeded within its allowed gap (default 6 h)"


def datasets(params: Params) -> list[Dataset]:
    """The enabled sources whose last success (or, before the first, their addition) is older than their
    allowed gap, by name."""
    if not params.sources:
        return []
    gaps = ", ".join(
        f"({int(s.id)}, {float(s.checks.get('max_gap_hours', params.threshold('max_gap_hours', 6)))})"
        for s in params.sources
    )
    sql = f"""
        SELECT s.name || ': last success ' || COALESCE(
                   round((EXTRACT(EPOCH FROM {stamp(params.now)} - s.last_success_at) / 3600)::numeric, 1)
                       || ' h ago', 'never')
               || ', allowed ' || trim_scale(g.gap::numeric) || ' h' AS stale_source
        FROM sources s JOIN (VALUES {gaps}) AS g(id, gap) ON g.id = s.id
        WHERE COALESCE(s.last_success_at, s.created_at)
              < {stamp(params.now)} - make_interval(secs => g.gap * 3600)
    """
    return [
        Dataset(
            name="freshness",
            sql=sql,
            expectations=[
                gx.expectations.ExpectColumnValuesToBeInSet(
                    column="stale_source",
                    value_set=[],
                    meta={"about": "sources with no successful ingest within their allowed gap"},
                ),
            ],
        )
    ]
