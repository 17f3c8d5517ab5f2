"""Zappa `zip` callback: strip packages a stage must not ship.

Zappa's `exclude` is not enough: it re-adds excluded packages from prebuilt
wheels. This rewrites the finished archive instead. `strip_from_archive`
matches top-level names exactly (stripping `pandas` keeps `geopandas`), and
removes a distribution's `.dist-info` (and any vendored `<name>.libs`) only
when everything its RECORD installs at top level is being stripped — so the
metadata left in the package stays consistent with the code.
"""

from __future__ import annotations

import csv
import io
import os
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _top(name: str) -> str:
    return name.split("/", 1)[0]


def _record_tops(record: str) -> set[str]:
    """Top-level entries a distribution's RECORD installs (packages, modules, .libs, its dist-info)."""
    return {
        _top(row[0])
        for row in csv.reader(io.StringIO(record))
        if row and row[0] and not row[0].startswith("..")
    }


def _matches(top: str, wanted: set[str]) -> bool:
    """`pandas` matches pandas/, pandas.py, pandas.libs/ and pandas.cpython-311-...so — never geopandas/."""
    return top in wanted or (not top.endswith(".dist-info") and top.split(".", 1)[0] in wanted)


def doomed_tops(names: Iterable[str], records: dict[str, str], patterns: Iterable[str]) -> set[str]:
    """Every top-level entry to drop: the packages, plus the metadata of distributions stripped whole."""
    wanted = set(patterns)
    present = {_top(n) for n in names}
    doomed = {t for t in present if _matches(t, wanted)}
    for dist_info, record in records.items():
        owned = (_record_tops(record) & present) - {dist_info}
        code = {t for t in owned if not t.endswith(".dist-info")}
        if code and code <= doomed:
            doomed |= owned | {dist_info}
    return doomed


def _zip_records(archive: zipfile.ZipFile) -> dict[str, str]:
    return {
        _top(n): archive.read(n).decode("utf-8", "replace")
        for n in archive.namelist()
        if n.count("/") == 1 and n.endswith(".dist-info/RECORD")
    }


def _tar_records(archive: tarfile.TarFile) -> dict[str, str]:
    out = {}
    for member in archive.getmembers():
        if member.isfile() and member.name.count("/") == 1 and member.name.endswith(".dist-info/RECORD"):
            out[_top(member.name)] = archive.extractfile(member).read().decode("utf-8", "replace")  # type: ignore[union-attr]
    return out


def strip_from_archive(path: str | os.PathLike[str], patterns: Iterable[str]) -> list[str]:
    """Rewrite a .zip or .tar.gz without the given top-level packages; return what was removed."""
    path, patterns = Path(path), list(patterns)
    temporary = path.with_name(path.name + ".stripping")
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as source:
            doomed = doomed_tops(source.namelist(), _zip_records(source), patterns)
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
                for info in source.infolist():
                    if _top(info.filename) not in doomed:
                        target.writestr(info, source.read(info.filename))
    elif path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path, "r:gz") as source:
            doomed = doomed_tops(source.getnames(), _tar_records(source), patterns)
            with tarfile.open(temporary, "w:gz") as target:
                for member in source.getmembers():
                    if _top(member.name) not in doomed:
                        target.addfile(member, source.extractfile(member) if member.isfile() else None)
    else:
        raise ValueError(f"not a .zip or .tar.gz: {path}")
    temporary.replace(path)
    return sorted(doomed)


def main(zappa_cli: Any) -> None:
    """Zappa zip callback: strip the stage's `strip_packages` from the archive just built."""
    removed = strip_from_archive(zappa_cli.zip_path, zappa_cli.stage_config.get("strip_packages", []))
    print(f"Stripped from {os.path.basename(zappa_cli.zip_path)}: {', '.join(removed) or 'nothing'}")
