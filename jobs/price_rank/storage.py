"""Where the pipeline's hand-offs live in S3, and how they are read and written.

s3://<bucket>/price_rank/<run_id>/features.parquet   (wrangle)
s3://<bucket>/price_rank/<run_id>/scores.parquet     (train)
s3://<bucket>/price_rank/<run_id>/model/...          (train: the versioned artifact)
"""

from __future__ import annotations

import functools
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

PREFIX = "price_rank"


class MissingInput(RuntimeError):
    """A step's input is not in S3: an earlier step has not run for this run id."""


@functools.cache
def s3() -> Any:
    """The container's S3 client (honours AWS_ENDPOINT_URL locally)."""
    import boto3

    return boto3.client("s3")


def new_run_id(now: datetime) -> str:
    """A sortable run id for a pipeline run starting now."""
    return now.strftime("%Y%m%dT%H%M%SZ")


def key(run_id: str, name: str) -> str:
    """The S3 key of one of a run's files."""
    return f"{PREFIX}/{run_id}/{name}"


def artifact_uri(bucket: str, run_id: str) -> str:
    """Where a run's model artifact lives."""
    return f"s3://{bucket}/{key(run_id, 'model')}/"


def exists(bucket: str, name: str) -> bool:
    """Whether an object exists."""
    from botocore.exceptions import ClientError

    try:
        s3().head_object(Bucket=bucket, Key=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def put_parquet(frame: pd.DataFrame, bucket: str, name: str) -> int:
    """Write a frame as Parquet; return its size in bytes."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression="zstd")
    s3().put_object(Bucket=bucket, Key=name, Body=buffer.getvalue())
    return buffer.tell()


def get_parquet(bucket: str, name: str, hint: str) -> pd.DataFrame:
    """Read a Parquet hand-off, or fail saying which step to run first."""
    from botocore.exceptions import ClientError

    try:
        body = s3().get_object(Bucket=bucket, Key=name)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise MissingInput(f"s3://{bucket}/{name} does not exist: {hint}") from None
        raise
    return pd.read_parquet(io.BytesIO(body))


def upload_directory(directory: Path, bucket: str, prefix: str) -> int:
    """Upload every file of a directory under a prefix; return the bytes sent."""
    sent = 0
    for path in sorted(directory.iterdir()):
        s3().upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{path.name}")
        sent += path.stat().st_size
    return sent


def run_ids(bucket: str) -> list[str]:
    """Every run id with something in S3, oldest first."""
    found: list[str] = []
    paginator = s3().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{PREFIX}/", Delimiter="/"):
        found += [p["Prefix"].split("/")[1] for p in page.get("CommonPrefixes", [])]
    return sorted(found)


def latest_run_with(bucket: str, name: str, without: str | None = None) -> str | None:
    """The newest run that has `name` (and lacks `without`), or None."""
    for run_id in reversed(run_ids(bucket)):
        if exists(bucket, key(run_id, name)) and not (without and exists(bucket, key(run_id, without))):
            return run_id
    return None


def delete_run(bucket: str, run_id: str) -> int:
    """Remove every object of a run; return how many."""
    deleted = 0
    paginator = s3().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{PREFIX}/{run_id}/"):
        objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if objects:
            s3().delete_objects(Bucket=bucket, Delete={"Objects": objects})
            deleted += len(objects)
    return deleted
