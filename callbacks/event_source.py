"""Zappa `post` callback: the stream stage's Kinesis event source mapping, configured properly.

Zappa 0.63 creates Kinesis triggers without a starting position and cannot set
the partial-batch response, bisection or retry limits. After deploy/update this
creates the mapping, or updates the existing one, from the stage's
`event_source` settings — idempotently. `flask stream mapping` runs the same.
"""

from __future__ import annotations

from typing import Any

RESPONSE_TYPES = ["ReportBatchItemFailures"]
MAX_PARALLELIZATION = 10  # Lambda's limit: batches of one shard worked on at once


def kinesis_sources(stage_config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(function, event_source) for every Kinesis event of a stage."""
    return [
        (e["function"], e["event_source"])
        for e in stage_config.get("events", [])
        if ":kinesis:" in (e.get("event_source") or {}).get("arn", "")
    ]


def mapping_settings(source: dict[str, Any]) -> dict[str, Any]:
    """The mapping's tunables (all but the starting position can change later).

    `parallelization_factor` (1-10) lets Lambda work on that many batches of a shard at once, keeping
    each partition key's records in order: partners key a record by `source:source_ref`, so a listing's
    events stay in order, and copies two batches write at once are marked by the hourly recheck, as for
    two shards."""
    factor = int(source.get("parallelization_factor", 1))
    if not 1 <= factor <= MAX_PARALLELIZATION:
        raise ValueError(f"parallelization_factor must be 1 to {MAX_PARALLELIZATION}, not {factor}")
    settings = {
        "BatchSize": int(source.get("batch_size", 100)),
        "MaximumBatchingWindowInSeconds": int(source.get("maximum_batching_window_in_seconds", 1)),
        "FunctionResponseTypes": RESPONSE_TYPES,
        "BisectBatchOnFunctionError": bool(source.get("bisect_batch_on_function_error", True)),
        "MaximumRetryAttempts": int(source.get("maximum_retry_attempts", 10)),
        "MaximumRecordAgeInSeconds": int(source.get("maximum_record_age_in_seconds", 86400)),
        "ParallelizationFactor": factor,
        "Enabled": bool(source.get("enabled", True)),
    }
    if source.get("on_failure_destination"):
        settings["DestinationConfig"] = {"OnFailure": {"Destination": source["on_failure_destination"]}}
    return settings


def ensure_mapping(lambda_client: Any, function_name: str, source: dict[str, Any]) -> str:
    """Create or update the mapping of this stream to this function; say which."""
    arn = source["arn"]
    existing = lambda_client.list_event_source_mappings(EventSourceArn=arn, FunctionName=function_name)
    mappings = existing.get("EventSourceMappings", [])
    if mappings:
        for mapping in mappings:
            lambda_client.update_event_source_mapping(
                UUID=mapping["UUID"], FunctionName=function_name, **mapping_settings(source)
            )
        return "updated"
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function_name,
        StartingPosition=source.get("starting_position", "TRIM_HORIZON"),
        **mapping_settings(source),
    )
    return "created"


def main(zappa_cli: Any) -> None:
    """Zappa post callback."""
    if zappa_cli.command not in ("deploy", "update"):
        return
    for _function, source in kinesis_sources(zappa_cli.stage_config):
        outcome = ensure_mapping(zappa_cli.zappa.lambda_client, zappa_cli.lambda_name, source)
        print(f"Kinesis event source mapping for {source['arn']}: {outcome}")
