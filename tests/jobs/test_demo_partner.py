"""The demo's partner: valid listings, corrupt records, removals of what it sent before, and price cuts."""

from __future__ import annotations

import json
import random

from jobs.local.demo import STREAM_SOURCE, Partner
from models.normalize import clean_listing


def test_the_demo_partner_only_takes_down_or_cuts_listings_it_sent_and_keeps_each_listing_on_one_key():
    partner = Partner(random.Random(3))
    sent: dict[str, tuple[str, int]] = {}  # source_ref -> (partition key, price last sent)
    kinds = {"listing": 0, "removal": 0, "corrupt": 0, "cut": 0}
    for _ in range(600):
        data, key = partner.next_event()
        if not data.startswith(b"{"):
            kinds["corrupt"] += 1
            continue
        event = json.loads(data)
        assert event["source"] == STREAM_SOURCE
        ref = event["source_ref"]
        if event.get("status") == "delisted":
            kinds["removal"] += 1
            assert sent.pop(ref)[0] == key  # sent before, on the same shard key, and once
            continue
        assert {"price", "latitude", "longitude", "bedrooms"} <= set(event)
        # the corrupt records are its only poison: every listing passes the stream's rules (move-in days
        # were drawn from the partner's made-up posting dates, years ahead, and half were quarantined)
        clean_listing(event)
        if ref in sent:  # sent again: its price cut by 4-10% (down to a round $25), on the same key
            kinds["cut"] += 1
            before_key, before = sent[ref]
            assert before_key == key and 0.90 * before - 25 < event["price"] <= 0.96 * before
            assert event["price"] % 25 == 0
        else:
            kinds["listing"] += 1
        sent[ref] = (key, event["price"])
    assert kinds["listing"] > kinds["removal"] > 60 and kinds["cut"] > 30 and kinds["corrupt"] > 5
