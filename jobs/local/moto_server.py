"""moto's server, its Kinesis shards' O(n) look-ups made O(1), its SES's feedback reading the sender.

moto 5.2 finds a shard's newest sequence number by listing every record it holds, once per record put
(`list(self.records.keys())[-1]`): PutRecords of 100 records onto a two-shard stream cost its server 13 ms of
CPU over the stream's first 5,000 records and 28 ms between 15,000 and 20,000, so a local stream slowed down
the longer it ran, which a real Kinesis stream does not (with this module: 7-9 ms, flat). The records are an
OrderedDict in sequence order (put_record appends the newest + 1; splits and merges re-insert in order), so
its first and last keys are the oldest and newest: read them from its ends. Same answers, same stored data.

moto's SES finds the domain whose bounce and complaint topic to tell by splitting the sender at "@": nook's
sender "nook <alerts@nook.localhost>" gave "nook.localhost>", no domain it knew, so nothing came back from
the simulator's bounce address; the address is read out of the sender first (as SES does). Nothing else
of moto is changed.

Run as `python -m jobs.local.moto_server -H 127.0.0.1 -p PORT` (moto_server's arguments).
"""

from __future__ import annotations

import sys
from typing import Any


def _first_key(shard: Any) -> int:
    return next(iter(shard.records), 0)


def _last_key(shard: Any) -> int:
    return next(reversed(shard.records), 0)


def patch() -> None:
    """Give moto's Kinesis shards constant-time oldest / newest sequence numbers, and its SES's feedback
    the sender's domain."""
    from email.utils import parseaddr

    from moto.kinesis.models import Shard
    from moto.ses.models import SESBackend

    Shard.get_min_sequence_number = _first_key  # type: ignore[method-assign]
    Shard.get_max_sequence_number = _last_key  # type: ignore[method-assign]
    feedback = SESBackend.__process_sns_feedback__

    def process_feedback(self: Any, source: str, destinations: Any) -> None:
        feedback(self, parseaddr(str(source))[1] or source, destinations)

    SESBackend.__process_sns_feedback__ = process_feedback  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    patch()
    from moto.server import main as serve

    serve(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
