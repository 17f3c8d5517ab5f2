"""Zappa `post` callback (every stage): what Zappa 0.63 cannot configure, set after deploy/update.

Each step acts on what the stage declares and does nothing elsewhere: the Kinesis
event source mapping (callbacks.event_source), and how Lambda retries scheduled
invocations (callbacks.async_invoke).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Zappa's CLI loads a callback's file as a module of its own, without the project on the path
if __package__ != "callbacks":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from callbacks import async_invoke, event_source  # noqa: E402


def main(zappa_cli: Any) -> None:
    """Zappa post callback."""
    event_source.main(zappa_cli)
    async_invoke.main(zappa_cli)
