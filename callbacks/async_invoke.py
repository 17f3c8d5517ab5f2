"""Zappa `post` step: how Lambda retries a scheduled stage's asynchronous invocations.

EventBridge invokes a scheduled job asynchronously, and Lambda runs an invocation
that failed twice more by default (about one and three minutes later). A nook job
that fails has committed what worked and says what did not (jobs.runtime): run
again whole, ingest pulled every healthy source twice more because one was down,
and the data checks stored and reported the same failed suite three times. The
schedule is each job's retry. After deploy/update this puts the stage's
`async_invoke` settings (retries, and how old an event may be before Lambda drops
it) on the function — idempotently: Lambda keeps one such config a function.
"""

from __future__ import annotations

from typing import Any


def invoke_settings(stage_config: dict[str, Any]) -> dict[str, int] | None:
    """The function's asynchronous-invocation settings, or None where the stage declares none."""
    config = stage_config.get("async_invoke")
    if config is None:
        return None
    return {
        "MaximumRetryAttempts": int(config.get("maximum_retry_attempts", 0)),
        "MaximumEventAgeInSeconds": int(config.get("maximum_event_age_in_seconds", 3600)),
    }


def main(zappa_cli: Any) -> None:
    """Zappa post step."""
    if zappa_cli.command not in ("deploy", "update"):
        return
    settings = invoke_settings(zappa_cli.stage_config)
    if settings is None:
        return
    zappa_cli.zappa.lambda_client.put_function_event_invoke_config(
        FunctionName=zappa_cli.lambda_name, **settings
    )
    print(f"asynchronous invocations of {zappa_cli.lambda_name}: {settings}")
