"""Schema drift: the fields each source's mapping expects are present in yesterday's raw payloads,
and the share of quarantined records stays low."""

from __future__ import annotations

import great_expectations as gx

from expectations import Dataset, Params, stamp

NAME = "schema_drift"
DESCRIPTION = "mapped fields present in >= 90% of yesterday's raw payloads; quarantine rate <= 10%"
CORE_FIELDS = ("source_ref", "price", "bedrooms", "latitude", "longitude")


def _path(path: str) -> str:
    parts = ",".join(p.replace('"', "").replace("'", "").replace("}", "") for p in path.split("."))
    return f"'{{{parts}}}'"


def datasets(params: Params) -> list[Dataset]:
    """Per pulled source: field presence shares, and the quarantine rate."""
    out = []
    min_presence = params.threshold("min_field_presence", 0.9)
    max_quarantine = params.threshold("max_quarantine_rate", 0.1)
    window = f"{{col}} >= {stamp(params.day_start)} AND {{col}} < {stamp(params.day_end)}"
    for source in params.sources:
        if source.kind == "stream" or not source.fields:
            continue
        fields = [(name, path) for name, path in source.fields.items() if name in CORE_FIELDS]
        presence = " UNION ALL ".join(
            f"SELECT '{name} ({path})' AS field, avg((raw #> {_path(path)} IS NOT NULL "
            f"AND raw #>> {_path(path)} <> '')::int)::float8 AS share, count(*) AS payloads FROM listings "
            f"WHERE source_id = {int(source.id)} AND {window.format(col='last_seen_at')}"
            for name, path in fields
        )
        out.append(
            Dataset(
                name=f"field_presence:{source.name}",
                sql=(
                    f"SELECT field || ': in ' || round((share * 100)::numeric, 1) || ' percent of ' "
                    f"|| payloads "
                    f"|| ' payloads' AS missing_field FROM ({presence}) p "
                    f"WHERE payloads > 0 AND share < {min_presence}"
                ),
                expectations=[
                    gx.expectations.ExpectColumnValuesToBeInSet(
                        column="missing_field",
                        value_set=[],
                        meta={
                            "about": f"mapped fields of {source.name} absent from more than "
                            f"{1 - min_presence:.0%} of yesterday's payloads"
                        },
                    )
                ],
            )
        )
        out.append(
            Dataset(
                name=f"quarantine_rate:{source.name}",
                sql=f"""
                SELECT q.n::float8 / NULLIF(q.n + l.n, 0) AS quarantine_rate,
                       q.n AS quarantined, l.n AS ingested
                FROM (SELECT count(*) AS n FROM quarantined_records
                      WHERE source_id = {int(source.id)} AND {window.format(col="created_at")}) q,
                     (SELECT count(*) AS n FROM listings
                      WHERE source_id = {int(source.id)} AND {window.format(col="first_seen_at")}) l
                WHERE q.n + l.n > 0
            """,
                expectations=[
                    gx.expectations.ExpectColumnValuesToBeBetween(
                        column="quarantine_rate",
                        min_value=0.0,
                        max_value=max_quarantine,
                        meta={"about": f"share of {source.name}'s records quarantined"},
                    )
                ],
            )
        )
    return out
