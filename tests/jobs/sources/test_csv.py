"""The CSV adapter: local files and s3:// (moto), mappings, unchanged files, broken files."""

from __future__ import annotations

import boto3
import pytest

from jobs.sources import csv_file
from jobs.sources.base import FetchContext, SourceError
from models.normalize import Rejected, clean_listing

CSV = """listing_id,price,beds,baths,size_m2,kind,furn,lat,lon
a1,"$2,100",1,1,55,Apt,Y,43.65,-79.38
a2,3200,2,2,80,Townhome,N,43.66,-79.39
a3,call,2,1,,Apt,N,43.67,-79.40
"""
CONFIG = {
    "fields": {
        "source_ref": "listing_id",
        "price": "price",
        "bedrooms": "beds",
        "bathrooms": "baths",
        "sqft": "size_m2",
        "unit_type": "kind",
        "furnished": "furn",
        "latitude": "lat",
        "longitude": "lon",
    },
    "values": {"unit_type": {"Apt": "apartment"}, "furnished": {"Y": True, "N": False}},
    "units": {"sqft": "sqm"},
}


def fetch(cfg, cursor=None):
    return list(csv_file.pages(cfg, FetchContext(client=None, cursor=cursor)))


def test_local_file_with_mappings(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    pages = fetch(CONFIG | {"path": str(path)})
    rows = [r for p in pages for r in p.records]
    assert [r["listing_id"] for r in rows] == ["a1", "a2", "a3"]
    first = clean_listing(rows[0], CONFIG)
    assert (first.price, first.unit_type, first.furnished, first.sqft) == (2100, "apartment", True, 592)
    assert clean_listing(rows[1], CONFIG).unit_type == "townhouse"
    with pytest.raises(Rejected, match="price: not a number: 'call'"):
        clean_listing(rows[2], CONFIG)


def test_unchanged_file_is_not_read_again(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    cursor = fetch(CONFIG | {"path": str(path)})[-1].cursor
    assert fetch(CONFIG | {"path": str(path)}, cursor) == []
    path.write_text(CSV + "a4,1500,0,1,30,Apt,N,43.6,-79.3\n")
    assert sum(len(p.records) for p in fetch(CONFIG | {"path": str(path)}, cursor)) == 4


def test_s3_file(moto_endpoint):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="exports")
    s3.put_object(Bucket="exports", Key="market/2026-11.csv", Body=CSV.encode())
    pages = fetch(CONFIG | {"path": "s3://exports/market/2026-11.csv"})
    assert sum(len(p.records) for p in pages) == 3
    assert pages[-1].cursor["version"]["etag"]


def test_an_export_in_another_encoding_is_read_as_configured(moto_endpoint, tmp_path):
    text = CSV.replace("Apt,Y", "Appartement meublé,Y")
    boto3.client("s3").create_bucket(Bucket="exports")
    boto3.client("s3").put_object(Bucket="exports", Key="latin.csv", Body=text.encode("latin-1"))
    local = tmp_path / "latin.csv"
    local.write_bytes(text.encode("latin-1"))
    for path in ("s3://exports/latin.csv", str(local)):  # the S3 file was read as UTF-8 whatever was set
        rows = [r for p in fetch(CONFIG | {"path": path, "encoding": "latin-1"}) for r in p.records]
        assert rows[0]["kind"] == "Appartement meublé", path
        with pytest.raises(SourceError, match=r"not utf-8-sig text \(byte 0xe9 after line \d+\); set the"):
            fetch(CONFIG | {"path": path})  # was a UnicodeDecodeError, no line, no hint
    with pytest.raises(SourceError, match="unknown encoding 'latin-9x'"):
        fetch(CONFIG | {"path": str(local), "encoding": "latin-9x"})


def test_missing_s3_object(moto_endpoint):
    boto3.client("s3").create_bucket(Bucket="exports")
    with pytest.raises(SourceError, match="cannot read s3://exports/nope.csv: NoSuchKey"):
        fetch(CONFIG | {"path": "s3://exports/nope.csv"})


def test_renamed_column_is_a_source_error(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV.replace("beds", "bedrooms_total"))
    with pytest.raises(SourceError, match="mapped columns missing from the header: beds"):
        fetch(CONFIG | {"path": str(path)})


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        fetch(CONFIG | {"path": str(tmp_path / "nope.csv")})


def test_ref_columns_when_there_is_no_id():
    config = {"fields": {"price": "price"}, "ref_columns": ["address", "unit"]}
    one = csv_file.source_ref({"address": "1 King St", "unit": "4B", "price": "1"}, config)
    assert one == csv_file.source_ref({"address": "1 King St", "unit": "4B", "price": "2"}, config)
    assert one != csv_file.source_ref({"address": "1 King St", "unit": "5B"}, config)
    with pytest.raises(Rejected, match="all empty"):
        csv_file.source_ref({"address": "", "unit": ""}, config)


@pytest.mark.parametrize(
    "text, reason",
    [
        # the quote swallowed the rest of the file into one field: a2 and a3 were gone from the snapshot,
        # and ingest delisted them
        (
            CSV.replace('"$2,100"', '"$2,100'),
            "line 4: unexpected end of data \\(a quoted field never closed\\)",
        ),
        (CSV.replace('"$2,100"', '"$2,1"00'), "line 2: ',' expected after '\"'"),
        # a row kept the last "beds" column: the first was silently ignored
        (
            "\n".join(line + (",beds" if n == 0 else ",3") for n, line in enumerate(CSV.splitlines())),
            "the header names beds more than once: which one is meant\\?",
        ),
    ],
)
def test_a_file_broken_where_nook_reads_it_is_a_source_error(tmp_path, text, reason):
    path = tmp_path / "export.csv"
    path.write_text(text)
    with pytest.raises(SourceError, match=reason):
        fetch(CONFIG | {"path": str(path)})


def test_what_nook_does_not_read_may_repeat_and_a_lone_quote_inside_a_field_is_text(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV.replace("kind,furn", "note,note").replace(",Apt,", ',5" wide,', 1))
    rows = fetch(
        {
            "path": str(path),
            "fields": {k: v for k, v in CONFIG["fields"].items() if k not in ("unit_type", "furnished")},
        }
    )[0].records
    assert [r["listing_id"] for r in rows] == ["a1", "a2", "a3"] and rows[0]["note"] == "Y"
