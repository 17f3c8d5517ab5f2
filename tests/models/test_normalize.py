"""The shared validation rules: every way a record can be wrong gets a clear reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from models.normalize import (
    Rejected,
    clean_listing,
    parse_available_from,
    parse_bathrooms,
    parse_bedrooms,
    parse_furnished,
    parse_price,
    parse_sqft,
    parse_time,
    parse_unit_type,
    suspect,
    unstorable,
)

GOOD = {
    "source_ref": "x1",
    "price": 2300,
    "bedrooms": 2,
    "bathrooms": 1.5,
    "sqft": 850,
    "furnished": "no",
    "unit_type": "Apartment",
    "latitude": 43.65,
    "longitude": -79.38,
    "title": " Nice place ",
    "posted_at": "2026-11-20T10:00:00Z",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (2300, 2300),
        ("2300", 2300),
        ("$2,300", 2300),
        ("$2,300/mo", 2300),
        ("2300.49", 2300),
        (" 1,950 per month", 1950),
        (2299.5, 2300),
        ("$2,250 / month", 2250),  # was refused: the spaces around the slash
        ("2250 monthly", 2250),
        ("1.850,00", 1850),  # was $2: the comma dropped, then 1.85000 read as dollars
        ("1.850", 1850),  # was $2 likewise
        ("950,50", 950),  # was $95,050: a decimal comma read as a thousands one
        ("1 850,00 $", 1850),
    ],
)
def test_price_in_whole_dollars(raw, expected):
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "price: missing"),
        ("", "price: missing"),
        ("Call for price", "price: not a number"),
        (0, r"price: 0 a month is not plausible \(nook takes rents from \$100\)"),
        (-5, "price: -5 a month is not plausible"),
        (2, "price: 2 a month is not plausible"),
        ("1,85", "price: 2 a month is not plausible"),
        ("1,850,50", "price: not a number"),  # one mark cannot both group and end the dollars
        (250_000, "not plausible"),
        (True, "boolean"),
        ("nan", "not a finite number"),
    ],
)
def test_bad_prices(raw, reason):
    with pytest.raises(Rejected, match=reason):
        parse_price(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (2, 2),
        ("3", 3),
        ("Studio", 0),
        ("bachelor", 0),
        (0, 0),
        (2.0, 2),
        ("2 bed", 2),  # these were refused as "not a number"
        ("2BR", 2),
        ("3 Bedrooms", 3),
        ("1 bd", 1),
        ("2+den", 2),  # a den is no bedroom
    ],
)
def test_bedrooms(raw, expected):
    assert parse_bedrooms(raw) == expected


@pytest.mark.parametrize("raw", ["two", 2.5, -1, 45, None, "2 baths", "den"])
def test_bad_bedrooms(raw):
    with pytest.raises(Rejected, match="bedrooms"):
        parse_bedrooms(raw)


def test_room_counts_padded_with_spaces_are_refused_at_once():
    # the room-word patterns backtracked cubically over whitespace: 1 + 400 spaces + x took 9 s, so a
    # partner's record of a few thousand spaces held its stream batch past Lambda's limit on every retry
    for parse, field in ((parse_bedrooms, "bedrooms"), (parse_bathrooms, "bathrooms")):
        with pytest.raises(Rejected, match=f"{field}: not a number"):
            parse("1" + " \t" * 50_000 + "x")
    assert parse_bedrooms("2" + " " * 50_000 + "bed") == 2


def test_bathrooms_in_halves():
    assert parse_bathrooms("1.5") == 1.5 and parse_bathrooms(None) is None
    assert [parse_bathrooms(raw) for raw in ("1.5 bath", "1\u00bd", "2 Baths", "1 ba")] == [1.5, 1.5, 2, 1]
    for raw in (1.3, "2 beds"):
        with pytest.raises(Rejected, match="bathrooms"):
            parse_bathrooms(raw)
    # a decimal comma: "1,5" was 15 bathrooms (a count has no thousands to group)
    assert parse_bathrooms("1,5") == parse_bathrooms("1,5 bath") == 1.5
    with pytest.raises(Rejected, match="bedrooms: '1,5' is not a count"):
        parse_bedrooms("1,5")  # was 15 bedrooms
    assert clean_listing(GOOD | {"latitude": "43,65", "longitude": "-79,38"}).latitude == 43.65


def test_sqft_units_and_sanity():
    assert parse_sqft("850 sq ft") == 850
    assert parse_sqft("1,200 sq. ft") == parse_sqft("1.200") == 1200  # 1.200 was 1 square foot
    assert parse_sqft(70, "sqm") == 753
    assert parse_sqft("") is None
    with pytest.raises(Rejected, match="not plausible"):
        parse_sqft(12)
    with pytest.raises(Rejected, match="sqft: not a number"):
        parse_sqft("huge")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", True),
        ("No", False),
        ("Furnished", True),
        (True, True),
        (False, False),
        ("", None),
        ("Partially", True),  # as "partially furnished" already was; these four refused the listing
        ("f", False),
        ("N/A", None),  # the source does not know: the listing stays, its furnishing unknown
        ("Unknown", None),
    ],
)
def test_furnished(raw, expected):
    assert parse_furnished(raw) is expected


def test_furnished_value_mapping_and_garbage():
    assert parse_furnished("F", {"F": True, "U": False}) is True
    with pytest.raises(Rejected, match="furnished"):
        parse_furnished("maybe")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Apartment", "apartment"),
        ("Condo Apartment", "condo"),
        ("Basement Apartment", "basement"),
        ("Room for rent", "room"),
        ("semi-detached", "house"),
        ("Townhome", "townhouse"),
        ("Town House", "townhouse"),  # these were refused as unknown types
        ("Stacked_Townhouse", "townhouse"),
        ("Semi Detached", "house"),
        ("Basement Suite", "basement"),
        ("Studio apartment", "apartment"),
        (None, None),
    ],
)
def test_unit_type_vocabulary(raw, expected):
    assert parse_unit_type(raw) == expected


def test_unit_type_mapping_and_unknown():
    assert parse_unit_type("APT-2", {"APT-2": "apartment"}) == "apartment"
    with pytest.raises(Rejected, match="unit_type: unknown type 'castle'"):
        parse_unit_type("castle")


def test_times():
    assert parse_time("2026-11-20T10:00:00Z", "t") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    moment = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_time(int(moment.timestamp() * 1000), "t") == moment  # ArcGIS epoch milliseconds
    # epoch seconds, the commoner kind, were read as milliseconds: posted in January 1970
    assert parse_time(int(moment.timestamp()), "t") == moment
    assert parse_time(f" {int(moment.timestamp())} ", "t") == parse_time(
        str(int(moment.timestamp() * 1000)), "t"
    )
    assert parse_time(str(int(moment.timestamp())), "t") == moment
    assert parse_time("20261120", "t") == datetime(
        2026, 11, 20, tzinfo=UTC
    )  # eight digits: ISO 8601's basic form
    assert parse_time("2026-11-20 10:00", "t").tzinfo is UTC
    # in UTC whatever the offset: PostgreSQL refuses offsets beyond 15:59, which Python reads
    far_west = parse_time("2026-11-01T10:00:00-23:00", "t")
    assert far_west == datetime(2026, 11, 2, 9, tzinfo=UTC) and far_west.tzinfo is UTC
    # UTC puts the last two outside the years 1-9999
    for bad in ("yesterday", "1" * 5000, "9999-12-31T23:00:00-23:00", "0001-01-01T00:00:00+05:00"):
        with pytest.raises(Rejected, match="not a date"):
            parse_time(bad, "t")


def test_a_posting_time_before_2000_is_no_posting_time():
    # 0 is many partners' "unknown"; each of these put the listing in 1970, last among the newest
    for placeholder in (0, -1, "0", 1500, "1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z"):
        assert clean_listing(GOOD | {"posted_at": placeholder}).posted_at is None, placeholder
    assert clean_listing(GOOD | {"posted_at": "2000-01-01T00:00:00Z"}).posted_at == datetime(
        2000, 1, 1, tzinfo=UTC
    )


def test_clean_listing_with_mapping_and_values():
    payload = {
        "attributes": {"ID": 7, "RENT": "2,100", "BEDS": "1", "TYPE": "APT"},
        "geometry": {"x": -79.4, "y": 43.7},
    }
    config = {
        "fields": {
            "source_ref": "attributes.ID",
            "price": "attributes.RENT",
            "bedrooms": "attributes.BEDS",
            "unit_type": "attributes.TYPE",
            "latitude": "geometry.y",
            "longitude": "geometry.x",
        },
        "values": {"unit_type": {"APT": "apartment"}},
    }
    clean = clean_listing(payload, config)
    assert (clean.source_ref, clean.price, clean.bedrooms, clean.unit_type) == ("7", 2100, 1, "apartment")
    assert (clean.latitude, clean.longitude) == (43.7, -79.4)
    assert clean.sqft is None and clean.bathrooms is None and clean.furnished is None


def test_clean_listing_good_record():
    clean = clean_listing(GOOD)
    assert clean.title == "Nice place" and clean.furnished is False and clean.unit_type == "apartment"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"latitude": 143.6}, "latitude: 143.6 is out of range"),
        ({"longitude": None}, "longitude: missing"),
        ({"bedrooms": "two"}, "bedrooms: not a number: 'two'"),
        ({"source_ref": None}, "source_ref: missing"),
        ({"price": None}, "price: missing"),
        # JSON's integers have no bound: one beyond a float's was an OverflowError that stopped the batch
        ({"price": 10**400}, "price: not a finite number"),
        ({"latitude": -(10**400)}, "latitude: not a finite number"),
        ({"bedrooms": 10**400}, "bedrooms: not a finite number"),
        ({"bathrooms": 10**400}, "bathrooms: not a finite number"),
        ({"sqft": 10**400}, "sqft: not a finite number"),
        ({"source_ref": {"id": 7}}, "source_ref: expected text or a number, got dict"),
        # an id cut to the column's 255 characters could be another listing's: both were one listing
        ({"source_ref": "https://site.example/rent?" + "x" * 300}, "source_ref: 326 characters; at most 255"),
        # any scheme was stored and served as the listing's link, and one past 2,000 characters was cut
        # short: the recheck then asked another page (a 404 would have marked the flat gone)
        ({"url": "javascript:alert(1)"}, "url: 'javascript:alert\\(1\\)' is not an http\\(s\\) address"),
        ({"url": "/listings/17"}, "url: '/listings/17' is not an http"),
        ({"url": "https://"}, "url: 'https://' is not an http"),
        ({"url": "http://[::1/x"}, "url: 'http://\\[::1/x' is not an http"),
        ({"url": "https://a.example/x\ny"}, "url: holds a control character"),
        ({"url": ["https://a.example/"]}, "url: expected text, got list"),
        ({"url": "https://a.example/" + "x" * 8000}, "url: 8,018 characters; at most 8,000"),
    ],
)
def test_clean_listing_rejections(change, reason):
    with pytest.raises(Rejected, match=reason):
        clean_listing(GOOD | change)


NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
POSTED = datetime(2026, 11, 20, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2027-03-01", date(2027, 3, 1)),
        ("2027-03-01T23:00:00-05:00", date(2027, 3, 1)),  # the day as written, not UTC's March 2
        ("20270301", date(2027, 3, 1)),
        (1801267200000, date(2027, 1, 30)),  # ArcGIS's epoch milliseconds: UTC's day
        ("March 1, 2027", date(2027, 3, 1)),
        ("Mar 1st 2027", date(2027, 3, 1)),
        ("1 March 2027", date(2027, 3, 1)),
        ("1st of Mar. 2027", date(2027, 3, 1)),
        ("Available from March 1", date(2027, 3, 1)),  # no year: the next March 1
        ("avail: Jan 15", date(2027, 1, 15)),
        ("June 10", date(2027, 6, 10)),  # not the June 10 before the listing was posted
        ("Nov 1", date(2026, 11, 1)),  # a day weeks before the posting stays in its year: free now
        ("Available now", POSTED.date()),
        ("IMMEDIATELY", POSTED.date()),
        ("unknown", None),
        ("", None),
        (None, None),
        (0, None),  # many partners' "unknown"
        ("1999-12-31", None),
    ],
)
def test_a_move_in_date_is_read_as_listings_write_it(raw, expected):
    assert parse_available_from(raw, POSTED, NOW) == expected


def test_a_flat_free_at_once_without_a_posting_time_is_free_from_today():
    assert parse_available_from("now", None, NOW) == NOW.date()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("03/01/2027", "available_from: '03/01/2027' could be two dates; give it as 2027-03-01"),
        ("feb 30 2027", "available_from: not a date: 'feb 30 2027'"),
        ("2027-02-30", "available_from: not a date: '2027-02-30'"),
        ("soon", "available_from: not a date: 'soon'"),
        (True, "available_from: not a date: 'True'"),
        ("2031-01-01", "available_from: 2031-01-01 is more than three years ahead"),
    ],
)
def test_a_move_in_date_that_cannot_be_read_is_refused_with_its_reason(raw, reason):
    with pytest.raises(Rejected, match=reason):
        parse_available_from(raw, POSTED, NOW)


def test_a_listing_keeps_its_move_in_date_from_the_field_its_source_names():
    clean = clean_listing(GOOD | {"free": "immediately"}, {"fields": {"available_from": "free"}})
    assert clean.available_from == date(2026, 11, 20)  # the day GOOD was posted
    assert clean_listing(GOOD).available_from is None
    with pytest.raises(Rejected, match="available_from: not a date: 'whenever'"):
        clean_listing(GOOD | {"available_from": "whenever"})


def test_a_listing_page_address_is_kept_whole():
    long = "https://Rent.example/listing/17?" + "&".join(f"utm_{i}=campaign" for i in range(150))
    assert len(long) > 2000
    assert clean_listing(GOOD | {"url": f"  {long} "}).url == long
    assert clean_listing(GOOD | {"url": "HTTP://a.example"}).url == "HTTP://a.example"
    assert clean_listing(GOOD | {"url": " "}).url is None
    assert clean_listing(GOOD | {"source_ref": 17}).source_ref == "17"


FEED = "https://partner.example/api/v2/feed.json?page=3"


@pytest.mark.parametrize(
    "link, page",
    [
        ("/listings/17", "https://partner.example/listings/17"),
        ("17.html", "https://partner.example/api/v2/17.html"),
        ("../rent/17?src=feed", "https://partner.example/api/rent/17?src=feed"),
        ("//cdn.partner.example/17", "https://cdn.partner.example/17"),
        ("  ?id=17 ", "https://partner.example/api/v2/feed.json?id=17"),
        ("https://other.example/17", "https://other.example/17"),  # absolute: as sent
    ],
)
def test_a_relative_link_is_read_against_the_address_its_record_came_from(link, page):
    """A feed that gave its listings' links as "/listings/17" had every listing rejected."""
    assert clean_listing(GOOD | {"url": link}, {"link_base": FEED}).url == page


@pytest.mark.parametrize(
    "link, base, reason",
    [
        ("/listings/17", None, "url: '/listings/17' is not an http"),  # nothing to read it against
        ("/listings/17", "s3://bucket/rentals.csv", "url: '/listings/17' is not an http"),
        ("javascript:alert(1)", FEED, "url: 'javascript:alert\\(1\\)' is not an http"),  # has a scheme
        ("mailto:agent@partner.example", FEED, "url: 'mailto:agent@partner.example' is not an http"),
        ("/" + "x" * 7990, FEED, "url: 8,014 characters; at most 8,000"),  # too long once read
        ("/listings/1\n7", FEED, "url: holds a control character"),
    ],
)
def test_a_relative_link_that_names_no_page_is_still_refused(link, base, reason):
    with pytest.raises(Rejected, match=reason):
        clean_listing(GOOD | {"url": link}, {"link_base": base})


def test_non_object_record_is_rejected():
    with pytest.raises(Rejected, match="record is a str, not an object"):
        clean_listing("#ERROR row 7")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"a": 1, "b": [1, float("nan")], "c": "x\x00"}, "b[1]: NaN is not a JSON number"),
        ({"a": {"t": "x\x00y"}}, "a.t: holds a NUL character (\\u0000), which cannot be stored"),
        ({"a\x00": 1}, "record: a field name holds a NUL character (\\u0000), which cannot be stored"),
        # half a UTF-16 pair: JSON escapes it, Python reads it, UTF-8 cannot encode it, jsonb refuses it
        ({"a": ["ok", "x\udfff"]}, "a[1]: holds a lone surrogate (\\udfff), which is not text"),
        ({"\ud800": 1}, "record: a field name holds a lone surrogate (\\ud800), which is not text"),
        ({"a": "\U0001f600"}, None),  # a whole pair is one character
        ({"a": [{"b": float("-inf")}]}, "a[0].b: -Infinity is not a JSON number"),
        (
            {"a": json.loads("[" * 64 + "]" * 64)},
            f"a{'[0]' * 13}...{'[0]' * 10}: nested deeper than 64 levels",  # a long place, shortened
        ),
        ({"a": json.loads("[" * 63 + "]" * 63), "b": [None, True, 2.5, "x", {}]}, None),
    ],
)
def test_what_postgresql_cannot_store_is_found_with_its_place(record, reason):
    assert unstorable(record) == reason
    assert suspect(json.dumps(record)) or reason is None  # the scan that spares clean records the walk
