"""What the notify job tells a user, written once and given the shape of the way it goes: a
Slack-compatible webhook body (text, blocks and nook's own data) or an email (plain text and HTML)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from models.settings import get_settings

# under every email: why it came and how to stop it
EMAIL_FOOTER = (
    "You get this email because you turned on email alerts for your nook account. To stop them, untick "
    '"Email me my alerts" on nook\'s map page, or DELETE /v1/me/email-alerts'
)
ON_NOOK = "See it on nook"  # the words of a listing's link to itself on nook's map page


def listing_on_nook(listing_id: int) -> str | None:
    """The address of a listing on nook's map page (it opens the listing once signed in), if nook knows
    where it is reached (NOOK_PUBLIC_URL)."""
    public_url = get_settings().public_url
    return f"{public_url}/#listing={listing_id}" if public_url else None


def escaped(text: str) -> str:
    """Text as Slack's mrkdwn shows it as written (&, < and > would be read as markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Entry:
    """One listing's part of a message: its title and link, what happened to it (`heading`), its facts
    and where it is, lines of explanation, its saver's note, and its link on nook."""

    title: str
    url: str | None
    heading: str | None = None
    facts: str | None = None
    place: str | None = None
    lines: list[str] = field(default_factory=list)
    note: str | None = None
    on_nook: str | None = None  # the listing on nook's map page (its range, history, save button)

    def _first_line(self, place: str) -> str | None:
        return " · ".join(part for part in (self.facts, place) if part) or None

    def mrkdwn(self) -> str:
        title = self.title.replace(">", "").replace("|", "/")
        link = f"*<{self.url}|{title}>*" if self.url else f"*{title}*"
        parts = [f"{self.heading}: {link}" if self.heading else link]
        parts.append(self._first_line(f"in _{escaped(self.place)}_" if self.place else ""))
        parts += self.lines
        parts.append(f"Your note: {escaped(self.note)}" if self.note else None)
        parts.append(f"<{self.on_nook}|{ON_NOOK}>" if self.on_nook else None)
        return "\n".join(part for part in parts if part)

    def text(self) -> str:
        parts = [f"{self.heading}: {self.title}" if self.heading else self.title]
        parts.append(self._first_line(f"in {self.place}" if self.place else ""))
        parts += self.lines
        parts.append(f"Your note: {self.note}" if self.note else None)
        parts.append(self.url)
        parts.append(f"{ON_NOOK}: {self.on_nook}" if self.on_nook else None)
        return "\n".join(part for part in parts if part)

    def html(self) -> str:
        title = html.escape(self.title)
        link = f'<a href="{html.escape(self.url)}">{title}</a>' if self.url else title
        heading = f"<strong>{html.escape(self.heading)}:</strong> " if self.heading else ""
        rows = [f'<p style="margin:0;font-size:16px">{heading}{link}</p>']
        first = self._first_line(f"in {self.place}" if self.place else "")
        if first:
            rows.append(f'<p style="margin:2px 0;color:#555">{html.escape(first)}</p>')
        rows += [f'<p style="margin:2px 0">{html.escape(line)}</p>' for line in self.lines]
        if self.note:
            rows.append(f'<p style="margin:2px 0;font-style:italic">Your note: {html.escape(self.note)}</p>')
        if self.on_nook:
            rows.append(f'<p style="margin:2px 0"><a href="{html.escape(self.on_nook)}">{ON_NOOK}</a></p>')
        return '<div style="margin:0 0 18px">' + "".join(rows) + "</div>"


@dataclass
class Message:
    """A message to one user: a headline, an entry a listing, and nook's data of it for a receiver."""

    headline: str
    entries: list[Entry]
    data: dict[str, Any]

    def webhook_body(self) -> dict[str, Any]:
        """Slack-compatible: the headline as text and a header block, a section an entry; `nook` holds
        the data."""
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": self.headline}}]
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": e.mrkdwn()}} for e in self.entries]
        return {"text": self.headline, "blocks": blocks, "nook": self.data}

    def email_text(self, unsubscribe: str | None = None) -> str:
        """The email's plain text; `unsubscribe`: the link that stops these emails, if there is one."""
        body = "\n\n".join([self.headline, *(entry.text() for entry in self.entries)])
        stop = f", or follow {unsubscribe}" if unsubscribe else ""
        return f"{body}\n\n-- \n{EMAIL_FOOTER}{stop}.\n"

    def email_html(self, unsubscribe: str | None = None) -> str:
        entries = "".join(entry.html() for entry in self.entries)
        stop = f', or <a href="{html.escape(unsubscribe)}">stop these emails</a>' if unsubscribe else ""
        return (
            '<!DOCTYPE html><html><body style="font-family:sans-serif;line-height:1.4;color:#222">'
            f'<h2 style="font-size:18px">{html.escape(self.headline)}</h2>{entries}'
            f'<p style="margin-top:24px;font-size:12px;color:#777">{html.escape(EMAIL_FOOTER)}{stop}.</p>'
            "</body></html>"
        )
