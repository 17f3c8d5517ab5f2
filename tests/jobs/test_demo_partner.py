"""The demo's partner: listings, corrupt records, and removals of listings it sent before."""

from __future__ import annotations

import json
import random

from jobs.local.demo import STREAM_SOURCE, Partner


def test_the_demo_partner_only_takes_down_listings_it_sent_and_keeps_each_listing_on_one_key():
    partner = Partner(random.Random(3))
    sent: dict[str, str] = {}  # source_ref -> partition key
    kinds = {"listing": 0, "removal": 0, "corrupt": 0}
    for _ in range(400):
        data, key = partner.next_event()
        if not data.startswith(b"{"):
            kinds["corrupt"] += 1
            continue
        event = json.loads(data)
        assert event["source"] == STREAM_SOURCE
        if event.get("status") == "delisted":
            kinds["removal"] += 1
            assert sent.pop(event["source_ref"]) == key  # sent before, on the same shard key, and once
        else:
            kinds["listing"] += 1
            assert {"price", "latitude", "longitude", "bedrooms"} <= set(event)
            sent[event["source_ref"]] = key
    assert kinds["listing"] > kinds["removal"] > 40 and kinds["corrupt"] > 5
