"""Plain-words explanations with sensible rounding, and the SVG chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from models.chart import price_rank_svg
from models.explain import (
    explanation,
    label_for,
    price_change,
    range_sentence,
    round_down,
    round_up,
    since_saved,
)


@pytest.mark.parametrize(
    ("price", "label"), [(1999.99, "low"), (2000, "typical"), (3000, "typical"), (3000.01, "high")]
)
def test_labels(price, label):
    assert label_for(price, 2000, 3000) == label


@pytest.mark.parametrize(
    ("value", "down", "up"),
    [
        (3183.23, 3175, 3200),
        (4177.69, 4175, 4200),
        (987.4, 980, 990),
        (12_345, 12_300, 12_400),
        (3175, 3175, 3175),
    ],
)
def test_rounding_is_what_people_quote(value, down, up):
    assert (round_down(value), round_up(value)) == (down, up)


def test_the_seed_sentence():
    text = explanation(3250, 3183.23, 4177.69, bedrooms=2, bathrooms=1, has_size=True)
    assert text == (
        "$3,250 is typical for this type of listing. Listings with the same number of bedrooms and "
        "bathrooms, similar size and location usually rent for $3,175 to $4,200."
    )


@pytest.mark.parametrize(
    ("price", "start"),
    [
        (1800, "$1,800 is low for this type of listing."),
        (4600, "$4,600 is high for this type of listing."),
    ],
)
def test_each_label_reads_naturally(price, start):
    assert explanation(price, 3183.23, 4177.69, bedrooms=2, bathrooms=1).startswith(start)


def test_studios_rooms_and_missing_size():
    studio = explanation(1500, 1410, 1720, bedrooms=0, bathrooms=1, has_size=False)
    assert studio == (
        "$1,500 is typical for this type of studio. Studios with the same number of bathrooms, "
        "similar location usually rent for $1,400 to $1,725."
    )
    room = explanation(950, 820, 1010, bedrooms=1, bathrooms=None, unit_type="room")
    expected = "$950 is typical for this type of room. Rooms of similar size and location usually rent for "
    assert room == expected + "$820 to $1,025."
    no_baths = explanation(2000, 1900, 2300, bedrooms=1, bathrooms=None, has_size=False)
    assert "Listings with the same number of bedrooms, similar location usually rent for" in no_baths
    assert "." not in no_baths.replace("$", "").split("rent for")[1][:-1]  # no cents anywhere


def test_range_sentence_for_estimates():
    assert range_sentence(2010, 2890, bedrooms=2, bathrooms=2) == (
        "Listings with the same number of bedrooms and bathrooms, similar size and location usually rent for "
        "$2,000 to $2,900."
    )


@pytest.mark.parametrize(("price", "label"), [(3250, "typical"), (1200, "low"), (9000, "high"), (None, None)])
def test_svg_is_well_formed_and_marks_the_price(price, label):
    svg = price_rank_svg(3183.23, 4177.69, price, label, title="2-bedroom <b>flat</b>")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and root.get("role") == "img"
    texts = [t.text for t in root.iter() if t.tag.endswith("text")]
    assert "$3,175" in texts and "$4,200" in texts and {"low", "typical", "high"} <= set(texts)
    assert ("$" + f"{price:,}" in texts) if price else all(t != "$9,000" for t in texts)
    assert "<b>" not in svg and "&lt;b&gt;" in svg  # the title is escaped
    assert "matplotlib" not in svg


def test_a_price_change_in_words():
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert price_change(2400, 2250, at) == {
        "previous_price": 2400,
        "changed_at": at,
        "percent": -6.2,
        "words": "Cut 6% on 20 Nov 2026, from $2,400.",
    }
    assert price_change(2400, 2405, at)["words"] == "Raised $5 on 20 Nov 2026, from $2,400."  # under 0.5%
    assert price_change(1000, 1500, at)["percent"] == 50.0


@pytest.mark.parametrize(
    ("saved", "price", "status", "words"),
    [
        (2500, 2300, "active", "Cut $200 (8%) since you saved it, from $2,500."),
        (2500, 2502, "active", "Raised $2 since you saved it, from $2,500."),  # under 0.5%: no percent
        (2500, 2500, "active", "No change of price since you saved it."),
        (2500, 2400, "pending", "Cut $100 (4%) since you saved it, from $2,500."),  # a change being read
        (2500, 2300, "delisted", "No longer listed (taken down): last seen 28 Nov 2026 asking $2,300."),
        (2500, 2300, "expired", "No longer listed (expired): last seen 28 Nov 2026 asking $2,300."),
        (2500, 2300, "rejected", "No longer shown: its source's latest version of it could not be read."),
    ],
)
def test_what_became_of_a_saved_listing_in_words(saved, price, status, words):
    assert since_saved(saved, price, status, datetime(2026, 11, 28, 9, tzinfo=UTC)) == words


def test_a_saved_flats_news_is_worded_against_what_was_last_heard():
    seen = datetime(2026, 11, 28, tzinfo=UTC)
    assert since_saved(2375, 2250, "active", seen, since="you last heard of it") == (
        "Cut $125 (5%) since you last heard of it, from $2,375."
    )
