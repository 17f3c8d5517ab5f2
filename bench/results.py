"""Write a benchmark's figures into bench/RESULTS.md, with the machine and the date.

Each benchmark owns one section between `<!-- bench:NAME -->` markers, so
re-running one benchmark replaces only its own figures.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = (
    "# Benchmark results\n\nFigures measured by the scripts in `bench/`; each section says where and when.\n"
)


def machine() -> str:
    """CPU model, cores, memory, OS and Python: enough to compare runs."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(
            next(
                ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
            ).split()[1]
        )
        memory = f"{mem_kb / 1024 / 1024:.0f} GB"
    except (OSError, StopIteration, ValueError):
        memory = "?"
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory} RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def write_section(name: str, body: str) -> None:
    """Replace (or add) this benchmark's section of bench/RESULTS.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    opening, closing = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{opening}\n## {name}\n\n_Measured {stamp} on {machine()}._\n\n{body.strip()}\n{closing}"
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section + "\n"
    )
    RESULTS.write_text(text)


def table(rows: list[dict[str, object]]) -> str:
    """A markdown table from a list of same-keyed dicts."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


@contextmanager
def time_spent(module: object, names: list[str] | tuple[str, ...]) -> Iterator[dict[str, float]]:
    """Seconds spent in each of a module's functions `names` while the block runs (the module's callers
    look them up when they call them)."""
    spent = dict.fromkeys(names, 0.0)

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    originals = {name: getattr(module, name) for name in names}
    for name, function in originals.items():
        setattr(module, name, timed(name, function))
    try:
        yield spent
    finally:
        for name, function in originals.items():
            setattr(module, name, function)
