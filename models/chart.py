"""A small SVG of where a price falls in its expected range (no matplotlib: the web stage serves it).

Three bands — low (below p25), typical (p25–p75), high (above p75) — with the
rounded bounds under them and the price marked.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from models.explain import money, round_down, round_up

WIDTH, HEIGHT = 320, 76
LEFT, RIGHT, BAR_Y, BAR_H = 12, 308, 28, 14
COLOURS = {"low": "#2e7d32", "typical": "#546e7a", "high": "#c62828"}
FILLS = {"low": "#c8e6c9", "typical": "#cfd8dc", "high": "#ffcdd2"}


def _scale(lo: float, hi: float):  # noqa: ANN202 - a tiny closure
    span = (hi - lo) or 1.0
    return lambda value: LEFT + (RIGHT - LEFT) * (value - lo) / span


def price_rank_svg(
    p25: float, p75: float, price: float | None = None, label: str | None = None, title: str | None = None
) -> str:
    """The chart as an SVG document (price and label optional: an estimate has no price)."""
    lower, upper = round_down(p25), round_up(p75)
    width = max(upper - lower, 1)
    lo = min(lower - 0.6 * width, price if price is not None else lower)
    hi = max(upper + 0.6 * width, price if price is not None else upper)
    x = _scale(lo, hi)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={quoteattr(title or "Price range")}>',
        f"<title>{escape(title or 'Price range')}</title>",
        "<style>text{font:11px system-ui,-apple-system,sans-serif;fill:#37474f}.b{font-weight:600}</style>",
    ]
    for name, start, end in (("low", lo, lower), ("typical", lower, upper), ("high", upper, hi)):
        x0, x1 = x(start), x(end)
        parts.append(
            f'<rect x="{x0:.1f}" y="{BAR_Y}" width="{max(x1 - x0, 0):.1f}" height="{BAR_H}" '
            f'fill="{FILLS[name]}"><title>{name}</title></rect>'
        )
        parts.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="{BAR_Y + BAR_H + 13}" text-anchor="middle" '
            f'fill="{COLOURS[name]}">{name}</text>'
        )
    for bound in (lower, upper):
        parts.append(
            f'<line x1="{x(bound):.1f}" x2="{x(bound):.1f}" y1="{BAR_Y - 2}" y2="{BAR_Y + BAR_H + 2}" '
            'stroke="#90a4ae"/>'
        )
        parts.append(
            f'<text x="{x(bound):.1f}" y="{HEIGHT - 4}" text-anchor="middle">{escape(money(bound))}</text>'
        )
    if price is not None:
        px, colour = x(price), COLOURS.get(label or "typical", COLOURS["typical"])
        anchor = "start" if px < LEFT + 40 else "end" if px > RIGHT - 40 else "middle"
        parts.append(
            f'<path d="M{px - 6:.1f},{BAR_Y - 10} L{px + 6:.1f},{BAR_Y - 10} L{px:.1f},{BAR_Y - 1} Z" '
            f'fill="{colour}"/>'
        )
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{BAR_Y}" y2="{BAR_Y + BAR_H}" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        parts.append(
            f'<text class="b" x="{px:.1f}" y="{BAR_Y - 13}" text-anchor="{anchor}" fill="{colour}">'
            f"{escape(money(price))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
