"""Viewings as iCalendar (RFC 5545): a file of one a calendar app adds, or a feed of them all it
subscribes to. Each viewing is an event of half an hour at the flat's address, with an alarm an hour
before; a viewing keeps its UID, so one moved replaces itself in the calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

VIEWING_MINUTES = 30


@dataclass
class Viewing:
    """A viewing as an event: its UID, when it starts, the flat's title and address, lines to describe it
    (its price, links, the saver's note) and the ad's link."""

    uid: str
    at: datetime
    title: str
    address: str | None = None
    words: list[str] = field(default_factory=list)
    url: str | None = None


def _text(value: str) -> str:
    """Text as an iCalendar TEXT value (3.3.11)."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _folded(line: str) -> str:
    """A content line folded at 75 octets, never inside a character (3.1)."""
    folded, chunk, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > (75 if not folded else 74):  # a folded line starts with a space
            folded.append(chunk)
            chunk, size = "", 0
        chunk, size = chunk + char, size + width
    return "\r\n ".join([*folded, chunk])


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _event(viewing: Viewing, stamp: str) -> list[str]:
    summary = _text("Viewing: " + viewing.title)
    url = viewing.url if viewing.url and viewing.url.isprintable() and " " not in viewing.url else None
    return [
        "BEGIN:VEVENT",
        f"UID:{viewing.uid}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{_time(viewing.at)}",
        f"DURATION:PT{VIEWING_MINUTES}M",
        f"SUMMARY:{summary}",
        *([f"LOCATION:{_text(viewing.address)}"] if viewing.address else []),
        *([f"DESCRIPTION:{_text(chr(10).join(viewing.words))}"] if viewing.words else []),
        *([f"URL:{url}"] if url else []),
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"DESCRIPTION:{summary}",
        "TRIGGER:-PT1H",
        "END:VALARM",
        "END:VEVENT",
    ]


def calendar(viewings: list[Viewing], name: str | None = None) -> str:
    """An iCalendar file of these viewings; `name`: a feed's, as a calendar app shows it (it asks the
    feed again every hour)."""
    stamp = _time(datetime.now(UTC))
    feed = (
        [f"X-WR-CALNAME:{_text(name)}", "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "X-PUBLISHED-TTL:PT1H"]
        if name
        else []
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//nook//viewings//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        *feed,
        *(line for viewing in viewings for line in _event(viewing, stamp)),
        "END:VCALENDAR",
    ]
    return "".join(_folded(line) + "\r\n" for line in lines)
