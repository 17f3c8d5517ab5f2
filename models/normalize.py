"""Turn a raw listing record into clean, typed fields — or a reason it cannot be.

Shared by the batch process job and the stream stage, so both apply exactly
the same rules. Standard library only (the stream stage is lean).

A source's config maps canonical field names to paths in its payload
(`{"fields": {"price": "rent", "latitude": "geometry.y"}}`) and may map values
(`{"values": {"unit_type": {"Basement Apt": "basement"}}}`) and units
(`{"units": {"sqft": "sqm"}}`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

CANONICAL_FIELDS = (
    "source_ref",
    "title",
    "price",
    "bedrooms",
    "bathrooms",
    "sqft",
    "furnished",
    "unit_type",
    "url",
    "address",
    "latitude",
    "longitude",
    "posted_at",
    "updated_at",
    "available_from",
)
REQUIRED = ("price", "bedrooms", "latitude", "longitude")

MIN_PRICE, MAX_PRICE = 100, 100_000
MIN_SQFT, MAX_SQFT = 80, 20_000
MAX_ROOMS = 20
MAX_REF = 255  # listings.source_ref's width
MAX_URL = 8000  # the longest request line common servers take
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SQFT_PER_SQM = 10.7639

UNIT_TYPE_SYNONYMS = {
    "apartment": "apartment",
    "apt": "apartment",
    "flat": "apartment",
    "studio": "apartment",
    "studio apartment": "apartment",
    "bachelor": "apartment",
    "apartment unit": "apartment",
    "loft": "apartment",
    "duplex": "apartment",
    "triplex": "apartment",
    "condo": "condo",
    "condominium": "condo",
    "condo apartment": "condo",
    "condo unit": "condo",
    "house": "house",
    "detached": "house",
    "detached house": "house",
    "semi detached": "house",
    "semi detached house": "house",
    "semi": "house",
    "bungalow": "house",
    "basement": "basement",
    "basement apartment": "basement",
    "basement apt": "basement",
    "basement suite": "basement",
    "basement unit": "basement",
    "lower level": "basement",
    "townhouse": "townhouse",
    "town house": "townhouse",
    "townhome": "townhouse",
    "condo townhouse": "townhouse",
    "stacked townhouse": "townhouse",
    "row house": "townhouse",
    "rowhouse": "townhouse",
    "room": "room",
    "private room": "room",
    "shared room": "room",
    "room for rent": "room",
}
TRUE_WORDS = {
    "true",
    "yes",
    "y",
    "1",
    "furnished",
    "fully furnished",
    "t",
    "partially furnished",
    "partly furnished",
    "partially",
    "partly",
    "semi furnished",
    "semi-furnished",
}
FALSE_WORDS = {"false", "no", "n", "f", "0", "unfurnished", "not furnished"}
# a source saying it does not know: the listing stays, its furnishing unknown
UNKNOWN_WORDS = {"unknown", "n/a", "na", "-", "?", "not specified", "ask", "negotiable"}
STUDIO_WORDS = {"studio", "bachelor", "bachelor/studio", "0"}


class Rejected(ValueError):
    """The record cannot become a listing; the message is the quarantine reason."""


@dataclass(frozen=True)
class CleanListing:
    """A validated listing, in canonical units (integer dollars, square feet)."""

    source_ref: str
    price: int
    bedrooms: int
    bathrooms: float | None
    sqft: int | None
    furnished: bool | None
    unit_type: str | None
    latitude: float
    longitude: float
    title: str | None = None
    url: str | None = None
    address: str | None = None
    posted_at: datetime | None = None
    available_from: date | None = None  # the first day a tenant may move in (None: the source does not say)


def pluck(payload: Any, path: str) -> Any:
    """The value at a dotted path (`attributes.PRICE`), or None."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def record_paths(config: dict[str, Any]) -> dict[str, str]:
    """Canonical field name -> the path a source's records hold it at: its own name unless the field
    mapping says otherwise (a field mapped to null is not read)."""
    mapping = {name: name for name in CANONICAL_FIELDS} | dict(config.get("fields") or {})
    return {name: path for name, path in mapping.items() if path}


def extract(payload: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Canonical field name -> raw value, following the source's field mapping."""
    if not config.get("fields") and isinstance(payload, dict):  # records in nook's own names (the stream)
        return {name: payload.get(name) for name in CANONICAL_FIELDS}
    return {name: pluck(payload, path) for name, path in record_paths(config).items()}


NUL = "\x00"
MAX_DEPTH = 64  # a listing needs a few levels; JSON far deeper is an attack on every parser after ours
# what JSON text shows of a value `unstorable` refuses (a NUL or a surrogate is escaped, NaN and
# Infinity are bare)
_SUSPECT = re.compile(r"\\u0000|\\u[dD][89a-fA-F]|NaN|Infinity")
SURROGATE = re.compile("[\ud800-\udfff]")


def text_fault(text: str) -> str | None:
    """Why PostgreSQL cannot store this string, or None. JSON may escape a NUL (\\u0000) or half of a
    UTF-16 surrogate pair (\\ud800 alone), and Python reads either into a str; neither is stored (a
    surrogate is not even encodable as UTF-8)."""
    if NUL in text:
        return "holds a NUL character (\\u0000), which cannot be stored"
    if match := SURROGATE.search(text):
        return f"holds a lone surrogate (\\u{ord(match.group()):04x}), which is not text"
    return None


def suspect(text: str) -> bool:
    """Whether `unstorable` may refuse the record this JSON text holds: most texts are cleared by a scan."""
    return _SUSPECT.search(text) is not None or text.count("[") + text.count("{") > MAX_DEPTH


def unstorable(value: Any) -> str | None:
    """Why nook cannot keep this parsed record as it is, or None.

    Python's JSON parser reads NaN and Infinity, which are not JSON, and a JSON string may hold a NUL
    character (\\u0000) or a lone surrogate (\\ud800), which neither jsonb nor text stores (text_fault):
    any of them makes the whole statement writing a batch or a page fail. A record nested deeper than
    MAX_DEPTH levels may exhaust the interpreter's stack when encoded for the database. Such a record is
    refused on its own, with the first place it happens (found by a walk, not a recursion).
    """
    todo: list[tuple[str, Any, int]] = [("", value, 0)]
    while todo:
        path, value, depth = todo.pop()
        where = path if len(path) <= 80 else f"{path[:40]}...{path[-30:]}"
        where = where or "record"
        if isinstance(value, str) and (fault := text_fault(value)):
            return f"{where}: {fault}"
        if isinstance(value, float) and not math.isfinite(value):
            token = "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
            return f"{where}: {token} is not a JSON number"
        if isinstance(value, dict | list) and depth == MAX_DEPTH:
            return f"{where}: nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and (fault := text_fault(key)):
                    return f"{where}: a field name {fault}"
            children = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(f"{where}[{n}]", item) for n, item in enumerate(value)]
        else:
            continue
        todo += [(name, item, depth + 1) for name, item in reversed(children)]
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# a quantity written with grouping marks: the last mark followed by one or two digits is the decimal point
# (1,850.00, 1.850,00, 950,50) and any other groups thousands (1,850, 1.850); text that fits neither is
# read with its commas dropped, as before
GROUPED = re.compile(r"(\d{1,3}(?:([.,])\d{3})?(?:\2\d{3})*|\d+)(?:([.,])(\d{1,2}))?")
UNITS = re.compile(r"(?:/mo(?:nth)?|permonth|a?month(?:ly)?|sq\.?ft|sqft|ft2)$")
# how listings write room counts: 2 bed, 2 beds, 2 bedrooms, 2br, 2 bd, 2+den (a den is no bedroom);
# 1.5 bath, 2 baths, 1 ba, 1½. Matched once the text has no whitespace: patterns with a run of \s* on
# each side of an optional word backtrack cubically (1 + 400 spaces + x took 9 s; a partner's record
# could hold a stream batch past Lambda's limit on every retry)
BEDROOM_WORDS = re.compile(r"(?:\+den)?(?:bed(?:room)?s?|bdrms?|br|bd)?\.?$")
BATHROOM_WORDS = re.compile(r"(?:bath(?:room)?s?|ba)?\.?$")


def _grouped(text: str) -> str:
    """Plain decimal text for a quantity written with grouping marks (see GROUPED)."""
    match = GROUPED.fullmatch(text)
    if match is None:
        return text.replace(",", "")
    whole, _, point, fraction = match.groups()
    if point is not None and point in whole:  # 1,850,50 or 1.850.50: the same mark cannot do both
        return text
    return re.sub(r"[.,]", "", whole) + (f".{fraction}" if fraction else "")


def _number(value: Any, field: str, quantity: bool = False) -> float:
    """A number from a JSON number or from text; `quantity` (a price, a size) reads grouping marks."""
    if isinstance(value, bool):
        raise Rejected(f"{field}: expected a number, got a boolean")
    if isinstance(value, float):
        number = value
    elif isinstance(value, int):
        try:
            number = float(value)
        except OverflowError:  # JSON's integers have no bound; a float's do
            raise Rejected(f"{field}: not a finite number") from None
    elif isinstance(value, str):
        cleaned = UNITS.sub("", re.sub(r"[\s$]", "", value.lower()))
        # a count or a coordinate is never grouped in thousands: its comma is a decimal one ("1,5"
        # bathrooms was 15)
        cleaned = _grouped(cleaned) if quantity else cleaned.replace(",", ".")
        try:
            number = float(cleaned)
        except ValueError:
            raise Rejected(f"{field}: not a number: {value[:40]!r}") from None
    else:
        raise Rejected(f"{field}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise Rejected(f"{field}: not a finite number")
    return number


def parse_price(value: Any) -> int:
    """Monthly rent in whole dollars."""
    if _blank(value):
        raise Rejected("price: missing")
    price = round(_number(value, "price", quantity=True))
    if price < MIN_PRICE:
        raise Rejected(f"price: {price} a month is not plausible (nook takes rents from ${MIN_PRICE})")
    if price > MAX_PRICE:
        raise Rejected(f"price: {price} a month is not plausible")
    return price


def _rooms(value: Any, words: re.Pattern[str]) -> Any:
    """A room count's text without the words after it (BEDROOM_WORDS, BATHROOM_WORDS); else as it is."""
    if not isinstance(value, str):
        return value
    return words.sub("", re.sub(r"\s+", "", value.lower()).replace("\u00bd", ".5"), count=1) or value


def parse_bedrooms(value: Any) -> int:
    """Bedroom count; studios are 0."""
    if _blank(value):
        raise Rejected("bedrooms: missing")
    if isinstance(value, str) and value.strip().lower() in STUDIO_WORDS:
        return 0
    number = _number(_rooms(value, BEDROOM_WORDS), "bedrooms")
    if number != int(number) or not 0 <= number <= MAX_ROOMS:
        raise Rejected(f"bedrooms: {value!r} is not a count between 0 and {MAX_ROOMS}")
    return int(number)


def parse_bathrooms(value: Any) -> float | None:
    """Bathroom count in halves, or None when not given."""
    if _blank(value):
        return None
    number = _number(_rooms(value, BATHROOM_WORDS), "bathrooms")
    if not 0 <= number <= MAX_ROOMS or (number * 2) != int(number * 2):
        raise Rejected(f"bathrooms: {value!r} is not a count of halves between 0 and {MAX_ROOMS}")
    return number


def parse_sqft(value: Any, unit: str = "sqft") -> int | None:
    """Size in square feet (converted from m² when the source says so), or None."""
    if _blank(value):
        return None
    number = _number(value, "sqft", quantity=True)
    if unit == "sqm":
        number *= SQFT_PER_SQM
    if not MIN_SQFT <= number <= MAX_SQFT:
        raise Rejected(f"sqft: {round(number)} square feet is not plausible")
    return round(number)


def parse_furnished(value: Any, mapping: dict[str, Any] | None = None) -> bool | None:
    """True / False / None (unknown) from the many ways sources say it."""
    if _blank(value):
        return None
    if mapping and str(value) in mapping:
        return mapping[str(value)]
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if word in UNKNOWN_WORDS:
        return None
    raise Rejected(f"furnished: cannot read {str(value)[:40]!r}")


def parse_unit_type(value: Any, mapping: dict[str, str] | None = None) -> str | None:
    """One of the unit type vocabulary, or None when not given."""
    if _blank(value):
        return None
    raw = str(value).strip()
    if mapping and raw in mapping:
        raw = mapping[raw]
    word = re.sub(r"[\s_-]+", " ", raw.lower()).strip()
    if word in UNIT_TYPE_SYNONYMS:
        return UNIT_TYPE_SYNONYMS[word]
    raise Rejected(f"unit_type: unknown type {raw[:40]!r}")


def parse_coordinate(value: Any, field: str, limit: float) -> float:
    """A latitude (limit 90) or longitude (limit 180) in degrees."""
    if _blank(value):
        raise Rejected(f"{field}: missing")
    number = _number(value, field)
    if not -limit <= number <= limit:
        raise Rejected(f"{field}: {number} is out of range")
    return number


# an epoch time below this is in seconds, at or above it in milliseconds: 1e11 seconds is the year 5138,
# 1e11 milliseconds March 1973
EPOCH_MS_FROM = 10**11
POSTED_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def parse_time(value: Any, field: str) -> datetime | None:
    """ISO 8601 text or an epoch time in seconds or milliseconds (ArcGIS's), as a number or digits, as an
    aware UTC datetime (in UTC: Python reads offsets up to 23:59, PostgreSQL only up to 15:59, and one
    beyond failed the whole statement writing it)."""
    if _blank(value):
        return None
    try:
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) != 8:  # 8: 20261130
            value = int(value)  # ValueError past 4,300 digits
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000 if abs(value) >= EPOCH_MS_FROM else value, UTC)
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):  # OverflowError: outside the years 1-9999 in UTC
        raise Rejected(f"{field}: not a date: {str(value)[:40]!r}") from None


def parse_posted_at(value: Any) -> datetime | None:
    """When the listing was posted, or None, when nook takes the time it first saw it instead. A time
    before POSTED_FROM is no posting time: 0 is many partners' "unknown", and -1 or 1500 are misreads;
    each put the listing in 1970, last among the newest and outside every "posted since"."""
    moment = parse_time(value, "posted_at")
    return moment if moment is None or moment >= POSTED_FROM else None


# how sources say a flat is free to move into at once: it is available from the day it was posted
NOW_WORDS = {"now", "immediately", "immediate", "available now", "asap", "today", "vacant", "now available"}
MONTHS = {
    name: number
    for number, names in enumerate(
        (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
         ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
         ("oct", "october"), ("nov", "november"), ("dec", "december")),
        start=1,
    )
    for name in names
}  # fmt: skip
# "March 1, 2027", "Mar 1st 2027", "1 March 2027", "1st of Mar. 2027", "March 1" (the month, then the day,
# or the day, then the month; the year last, if given)
MONTH_DAY = re.compile(r"([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?(?:,? (\d{4}))?")
DAY_MONTH = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?(?: of)? ([a-z]+)\.?(?:,? (\d{4}))?")
ISO_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[t ].*)?")
AVAILABLE_AHEAD = timedelta(days=3 * 366)  # a move-in date further ahead than this is a misread
AVAILABLE_FROM = date(2000, 1, 1)  # an earlier one is no date (epoch 0 is many partners' "unknown")
AVAILABLE_PAST = timedelta(days=31)  # "March 1" without its year: the next March 1, unless this recent


def _month_name_date(text: str, today: date) -> date | None:
    """A date with its month by name; without its year, the first after a month before `today`."""
    for pattern, (month_at, day_at) in ((MONTH_DAY, (1, 2)), (DAY_MONTH, (2, 1))):
        match = pattern.fullmatch(text)
        if match and match.group(month_at) in MONTHS:
            month, day = MONTHS[match.group(month_at)], int(match.group(day_at))
            if match.group(3):
                return date(int(match.group(3)), month, day)  # ValueError: a day the month has not
            found = date(today.year, month, day)
            return found if found >= today - AVAILABLE_PAST else date(today.year + 1, month, day)
    return None


def _available_day(value: Any, text: str | None, today: date) -> date | None:
    try:
        if text is not None and (iso := ISO_DAY.fullmatch(text)):
            return date.fromisoformat(iso.group(1))  # the day as written, in its own time zone
        if text is not None and (day := _month_name_date(text, today)):
            return day
    except ValueError:
        raise Rejected(f"available_from: not a date: {str(value)[:40]!r}") from None
    moment = parse_time(value, "available_from")  # an epoch time: UTC's day
    return moment.date() if moment is not None else None


def parse_available_from(value: Any, posted_at: datetime | None, now: datetime | None = None) -> date | None:
    """The first day the flat may be moved into, or None when the source does not say. ISO 8601 (the day
    as written), an epoch time (ArcGIS's dates; UTC's day), a month by name ("March 1, 2027", "1 Mar",
    "available from March 1": without its year, the first after a month before the day it was posted),
    or a word for at once ("now", "immediately": the day it was posted, else today). A date with slashes
    is refused (03/01/2027 is March 1 in one country, January 3 in the next), as is one more than three
    years ahead; one before 2000 is no date."""
    if _blank(value):
        return None
    now = now or datetime.now(UTC)
    text = None
    if isinstance(value, str):
        text = re.sub(r"\s+", " ", value.strip().lower())
        text = re.sub(r"^(?:avail(?:able|\.)?:? )?(?:from:? |as of )?", "", text)
        if text in NOW_WORDS:
            return (posted_at or now).date()
        if text in UNKNOWN_WORDS:
            return None
        if "/" in text:
            raise Rejected(
                f"available_from: {value.strip()[:40]!r} could be two dates; give it as 2027-03-01"
            )
    day = _available_day(value, text, (posted_at or now).date())
    if day is None or day < AVAILABLE_FROM:
        return None
    if day > (now + AVAILABLE_AHEAD).date():
        raise Rejected(f"available_from: {day.isoformat()} is more than three years ahead")
    return day


def _text(value: Any, limit: int = 500) -> str | None:
    if _blank(value):
        return None
    return str(value).strip()[:limit]


def source_ref_of(payload: Any, config: dict[str, Any]) -> str:
    """The record's id within its source, as text."""
    if not isinstance(payload, dict):
        raise Rejected(f"record is a {type(payload).__name__}, not an object")
    return _ref(extract(payload, config))


def _ref(raw: dict[str, Any]) -> str:
    ref = raw.get("source_ref")
    if _blank(ref):
        raise Rejected("source_ref: missing")
    if isinstance(ref, dict | list | bool):
        raise Rejected(f"source_ref: expected text or a number, got {type(ref).__name__}")
    text = str(ref).strip()
    if len(text) > MAX_REF:  # cut short, it could be another listing's id
        raise Rejected(f"source_ref: {len(text):,} characters; at most {MAX_REF}")
    return text


def is_http_address(text: str) -> bool:
    """An absolute http(s) address with a host."""
    try:
        parts = urlsplit(text)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed [IPv6] host
        return False


def _storable_url(text: str) -> str:
    if len(text) > MAX_URL:
        raise Rejected(f"url: {len(text):,} characters; at most {MAX_URL:,}")
    if CONTROL.search(text):
        raise Rejected("url: holds a control character")
    return text


def _relative(text: str) -> bool:
    try:
        return not urlsplit(text).scheme
    except ValueError:
        return False


def parse_url(value: Any, base: str | None = None) -> str | None:
    """A listing's page: an absolute http(s) address, kept whole (the recheck asks it, the map links
    it; cut short it would be another page, and any other scheme is no page to open). A relative link
    ("/listings/12", "12.html") is read against `base`, the address its record was found at, as a
    browser reads it; without one it names no page."""
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise Rejected(f"url: expected text, got {type(value).__name__}")
    text = _storable_url(value.strip())
    if not is_http_address(text) and base and is_http_address(base) and _relative(text):
        text = _storable_url(urljoin(base, text))
    if not is_http_address(text):
        raise Rejected(f"url: {text[:60]!r} is not an http(s) address")
    return text


def clean_listing(
    payload: Any, config: dict[str, Any] | None = None, source_ref: str | None = None
) -> CleanListing:
    """Validate and normalise one raw record; raises Rejected with the reason.

    `source_ref` is given when the record's id is already known (ingest found it).
    """
    config = config or {}
    if not isinstance(payload, dict):
        raise Rejected(f"record is a {type(payload).__name__}, not an object")
    raw = extract(payload, config)
    ref = source_ref or _ref(raw)
    values = config.get("values") or {}
    units = config.get("units") or {}
    return CleanListing(
        source_ref=ref,
        price=parse_price(raw.get("price")),
        bedrooms=parse_bedrooms(raw.get("bedrooms")),
        bathrooms=parse_bathrooms(raw.get("bathrooms")),
        sqft=parse_sqft(raw.get("sqft"), units.get("sqft", "sqft")),
        furnished=parse_furnished(raw.get("furnished"), values.get("furnished")),
        unit_type=parse_unit_type(raw.get("unit_type"), values.get("unit_type")),
        latitude=parse_coordinate(raw.get("latitude"), "latitude", 90),
        longitude=parse_coordinate(raw.get("longitude"), "longitude", 180),
        title=_text(raw.get("title")),
        url=parse_url(raw.get("url"), config.get("link_base")),
        address=_text(raw.get("address")),
        posted_at=(posted := parse_posted_at(raw.get("posted_at"))),
        available_from=parse_available_from(raw.get("available_from"), posted),
    )
