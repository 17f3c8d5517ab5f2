"""What every source adapter provides, and the errors they raise."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from jobs.http import public_addresses_only
from models.normalize import CANONICAL_FIELDS, is_http_address
from models.settings import get_settings
from models.webhooks import page_allowed

# "unknown": asked, and no answer to go by; "unchecked": nothing to ask (no page, a file's rows)
CheckResult = Literal["active", "gone", "unknown", "unchecked"]


class Unanswered(str):
    """The verdict "unknown" (it compares and is stored as that), saying why: the recheck counts the
    reasons, so an operator can tell a site that went down from one that limits nook."""

    reason: str

    def __new__(cls, reason: str) -> Unanswered:
        verdict = super().__new__(cls, "unknown")
        verdict.reason = reason
        return verdict


def _host(url: str) -> str:
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or url[:60]


ConfigCheck = Callable[[Any], str | None]  # what is wrong with a config value, or None (see require)
MAX_REDIRECTS = 5  # a listing page's, each checked like the page


class SourceError(RuntimeError):
    """The source answered with an error, an unexpected shape, or not at all."""


@dataclass
class Page:
    """Raw records of one page, and the cursor to store if the run stops after it.

    `cursor` is None when stopping here would not be safe to resume from (the
    source is not ordered by update time); the last page always carries one.
    """

    records: list[Any]
    cursor: dict[str, Any] | None = None
    total: int | None = None


@dataclass
class FetchContext:
    """What an adapter gets besides its config: the HTTP client, the stored cursor, and the run's time,
    beyond which no cursor goes (see `no_later_than`)."""

    client: requests.Session
    cursor: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


Moment = TypeVar("Moment", datetime, int)  # a time, or epoch milliseconds (ArcGIS)


def no_later_than(latest: Moment, now: Moment) -> Moment:
    """An update time fit for a cursor: a record dated ahead of the run (2099) would put the cursor
    there, and every later pull would ask for updates since 2099 and never see one again."""
    return min(latest, now)


class Adapter(Protocol):
    """A source kind: yields pages of raw records; can tell whether a listing is still up."""

    snapshot: bool
    REQUIRED_CONFIG: tuple[str, ...]  # the config keys it cannot pull without (checked by `require`)
    CONFIG_CHECKS: dict[str, ConfigCheck]  # what the values it reads must be (checked by `require`)

    def pages(self, config: dict[str, Any], ctx: FetchContext) -> Iterator[Page]: ...

    def check(
        self, config: dict[str, Any], ref: str, url: str | None, client: requests.Session
    ) -> CheckResult: ...


def require(
    config: Any, kind: str, keys: tuple[str, ...], checks: dict[str, ConfigCheck] | None = None
) -> None:
    """SourceError unless a source's config is a JSON object giving each of `keys`, and each value it
    gives that `checks` names is one its source can use (a value of the wrong kind was taken, then
    failed the source's every pull with a Python error, or was silently misread)."""
    if not isinstance(config, dict):
        raise SourceError(f"{kind} config must be a JSON object, not {type(config).__name__}")
    missing = [key for key in keys if not config.get(key)]
    if missing:
        raise SourceError(f"{kind} config needs {' and '.join(missing)}")
    for key, check in (checks or {}).items():
        if key in config and (problem := check(config[key])):
            raise SourceError(f"{kind} config: {key} {problem}")


# --- what a config value must be: each check says what is wrong with a value, or None ------------------


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _must(ok: bool, what: str, value: Any) -> str | None:
    return None if ok else f"must be {what}, not {_shown(value)}"


def text_value(value: Any) -> str | None:
    return _must(isinstance(value, str) and bool(value.strip()), "text", value)


def path_value(value: Any) -> str | None:
    """A dotted path into a record ("" for the record itself)."""
    return _must(isinstance(value, str), "a dotted path (text)", value)


def whole_above_zero(value: Any) -> str | None:
    """A count: a number, or its digits as text (which the adapters have always read)."""
    digits = isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
    ok = (type(value) is int or digits) and int(value) > 0
    return _must(ok, "a whole number above 0", value)


def flag(value: Any) -> str | None:
    return _must(isinstance(value, bool), "true or false", value)


def one_character(value: Any) -> str | None:
    return _must(isinstance(value, str) and len(value) == 1, "one character", value)


def http_address(value: Any) -> str | None:
    return _must(isinstance(value, str) and is_http_address(value), "an http(s) address", value)


def one_of(*options: str) -> ConfigCheck:
    return lambda value: _must(value in options, "one of " + ", ".join(options), value)


def column_names(value: Any) -> str | None:
    ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    return _must(ok, "a list of column names", value)


def query_params(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(isinstance(v, str | int | float) for v in value.values())
    return _must(ok, "an object of query name -> text or number", value)


def ref_template(value: Any) -> str | None:
    try:
        ok = isinstance(value, str) and "{ref}" in value and bool(value.format(ref="17"))
    except (KeyError, IndexError, ValueError, AttributeError):
        ok = False
    return _must(
        ok, 'an address with {ref} in it (and no other {...}), e.g. "https://host/listings/{ref}"', value
    )


def field_paths(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(v is None or isinstance(v, str) for v in value.values()):
        return _must(False, "an object of nook field -> record path", value)
    unknown = sorted(set(value) - set(CANONICAL_FIELDS))
    if unknown:
        return f"names {_shown(unknown[0])}, which is no field of nook's ({', '.join(CANONICAL_FIELDS)})"
    return None


def value_maps(value: Any) -> str | None:
    meanings = {"furnished": (bool, "true, false or null"), "unit_type": (str, "a unit type or null")}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        return _must(
            False, 'an object such as {"furnished": {"Y": true}, "unit_type": {"Apt": "apartment"}}', value
        )
    for name, table in value.items():
        if name not in meanings:
            return f"maps {_shown(name)}; values are mapped for {' and '.join(meanings)} only"
        kind, what = meanings[name]
        if not all(isinstance(meaning, kind) or meaning is None for meaning in table.values()):
            return f"{name} values must each mean {what}, not {_shown(table)}"
    return None


def size_units(value: Any) -> str | None:
    return _must(
        isinstance(value, dict) and set(value) <= {"sqft"} and value.get("sqft", "sqft") in ("sqft", "sqm"),
        '{"sqft": "sqm"} (or "sqft")',
        value,
    )


# what every source's record mapping may say (record_mapping)
MAPPING_CHECKS: dict[str, ConfigCheck] = {
    "fields": field_paths,
    "values": value_maps,
    "units": size_units,
    "link_base": http_address,
}


def record_mapping(config: dict[str, Any]) -> dict[str, Any]:
    """What of a source's config maps its records to listings (models.normalize.clean_listing): fields,
    values, units, and `link_base`, the address its relative listing links are read against."""
    return {key: config[key] for key in MAPPING_CHECKS if key in config}


def json_body(response: requests.Response, what: str) -> Any:
    """The JSON body of a successful response, or a SourceError that says what went wrong."""
    if response.status_code >= 400:
        raise SourceError(f"{what}: HTTP {response.status_code} from {response.url}")
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:80].replace("\n", " ")
        raise SourceError(f"{what}: response is not JSON ({snippet!r})") from None
    except RecursionError:
        raise SourceError(f"{what}: response is JSON nested too deeply to read") from None


def check_url(url: str | None, client: requests.Session, trusted: bool = False) -> CheckResult:
    """A listing page answering 404 or 410 is gone; 2xx is active; anything else unknown; no page at all,
    unchecked.

    A page a source gave is asked only at public addresses (models.webhooks.page_allowed), and so is
    every redirect it answers with: a listing's url on 169.254.169.254 or an inner host had the recheck
    call it. The connection goes to the addresses checked as it is made (jobs.http.public_addresses_only).
    `trusted`: the operator's own address (a source's check_url_template), asked as it is."""
    if not url:
        return "unchecked"
    allow_private = trusted or get_settings().allow_private_pages
    for _ in range(MAX_REDIRECTS + 1):
        if not url or not page_allowed(url, allow_private):
            return Unanswered(f"not a page nook may ask: {_host(url or '')}")
        try:
            with nullcontext() if allow_private else public_addresses_only():
                response = client.get(url, allow_redirects=False, stream=True)
                response.close()
        except requests.RequestException as exc:
            return Unanswered(f"{type(exc).__name__} asking {_host(url)}")
        if not response.is_redirect:
            break
        url = urljoin(url, response.headers["location"])
    else:
        return Unanswered(f"redirected more than {MAX_REDIRECTS} times: {_host(url)}")
    if response.status_code in (404, 410):
        return "gone"
    return "active" if response.ok else Unanswered(f"HTTP {response.status_code} from {_host(url)}")
