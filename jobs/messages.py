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


def nook_page() -> str | None:
    """The address of nook's map page (its alert list, saved listings), if nook knows it."""
    public_url = get_settings().public_url
    return f"{public_url}/" if public_url else None


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
class Part:
    """One kind of news in a message (alerts of the user's areas, news of their saved flats): its headline,
    an entry a listing, and `more`: a last line for those it names without an entry (a paced digest's
    rest), which links to nook's map page where there is one (`more_on_nook`)."""

    headline: str
    entries: list[Entry]
    more: str | None = None
    more_on_nook: str | None = None

    def more_mrkdwn(self) -> str | None:
        if self.more is None:
            return None
        return f"_{escaped(self.more)}_" + (
            f" <{self.more_on_nook}|See them on nook>" if self.more_on_nook else ""
        )

    def more_text(self) -> str | None:
        if self.more is None:
            return None
        return self.more + (f"\nSee them on nook: {self.more_on_nook}" if self.more_on_nook else "")

    def more_html(self) -> str:
        if self.more is None:
            return ""
        link = (
            f' <a href="{html.escape(self.more_on_nook)}">See them on nook</a>' if self.more_on_nook else ""
        )
        return f'<p style="margin:0 0 18px;font-style:italic">{html.escape(self.more)}{link}</p>'


@dataclass
class Message:
    """A message to one user: its parts (each a headline and an entry a listing), and nook's data of it
    for a receiver."""

    parts: list[Part]
    data: dict[str, Any]

    @property
    def headline(self) -> str:
        """The parts' headlines, as a webhook's text and an email's subject."""
        return "; ".join(part.headline for part in self.parts)

    def webhook_body(self) -> dict[str, Any]:
        """Slack-compatible: the headline as text; a header block a part, then a section an entry (and
        one for what the part names without an entry); `nook` holds the data."""
        blocks: list[dict[str, Any]] = []
        for part in self.parts:
            blocks.append({"type": "header", "text": {"type": "plain_text", "text": part.headline}})
            texts = [entry.mrkdwn() for entry in part.entries] + [part.more_mrkdwn()]
            blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": t}} for t in texts if t]
        return {"text": self.headline, "blocks": blocks, "nook": self.data}

    def email_text(self, unsubscribe: str | None = None) -> str:
        """The email's plain text; `unsubscribe`: the link that stops these emails, if there is one."""
        lines = []
        for part in self.parts:
            lines += [part.headline, *(entry.text() for entry in part.entries)]
            lines += [more] if (more := part.more_text()) else []
        stop = f", or follow {unsubscribe}" if unsubscribe else ""
        return "\n\n".join(lines) + f"\n\n-- \n{EMAIL_FOOTER}{stop}.\n"

    def email_html(self, unsubscribe: str | None = None) -> str:
        parts = "".join(
            f'<h2 style="font-size:18px">{html.escape(part.headline)}</h2>'
            + "".join(entry.html() for entry in part.entries)
            + part.more_html()
            for part in self.parts
        )
        stop = f', or <a href="{html.escape(unsubscribe)}">stop these emails</a>' if unsubscribe else ""
        return (
            '<!DOCTYPE html><html><body style="font-family:sans-serif;line-height:1.4;color:#222">'
            f"{parts}"
            f'<p style="margin-top:24px;font-size:12px;color:#777">{html.escape(EMAIL_FOOTER)}{stop}.</p>'
            "</body></html>"
        )
