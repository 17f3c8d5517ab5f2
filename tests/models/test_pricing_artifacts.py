"""Loading model artifacts: from S3 once per container, never from a partial copy."""

from __future__ import annotations

import boto3
import pytest

from models import pricing


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(pricing, "CACHE_DIR", tmp_path / "cache")
    yield tmp_path / "cache"
    pricing._loaded.clear()


def test_loads_from_s3_once_per_container(moto_endpoint, artifact_dir, cache):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models")
    for path in artifact_dir.iterdir():
        s3.upload_file(str(path), "models", f"price_rank/r1/model/{path.name}")
    model = pricing.load_model("s3://models/price_rank/r1/model/", "r1")
    assert model.version == "api-test-v1" and (cache / "r1" / "model.json").exists()
    assert pricing.load_model("s3://models/price_rank/r1/model/", "r1") is model


def test_an_empty_or_missing_artifact_is_model_unavailable_and_nothing_is_cached(moto_endpoint, cache):
    boto3.client("s3").create_bucket(Bucket="models")
    with pytest.raises(pricing.ModelUnavailable, match="holds no model.json"):
        pricing.load_model("s3://models/price_rank/nothing/model/", "nothing")
    assert not (cache / "nothing").exists() and not (cache / "nothing.partial").exists()
    with pytest.raises(pricing.ModelUnavailable, match="cannot download"):
        pricing.load_model("s3://no-such-bucket/x/", "x")
    with pytest.raises(pricing.ModelUnavailable, match="cannot load the model artifact"):
        pricing.load_model("/definitely/not/here", "local")
