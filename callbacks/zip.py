"""Zappa `zip` callback: strip packages a stage must not ship, and add their bytecode.

Zappa's `exclude` is not enough: it re-adds excluded packages from prebuilt
wheels. This rewrites the finished archive instead. `rewrite_archive`
matches top-level names exactly (stripping `pandas` keeps `geopandas`), and
removes a distribution's `.dist-info` (and any vendored `<name>.libs`) only
when everything its RECORD installs at top level is being stripped — so the
metadata left in the package stays consistent with the code.

Zappa also leaves every `__pycache__` out, and Lambda's /var/task is read-only:
without bytecode in the package, each cold start compiles every module it
imports from source (measured here: the app stage's first request 2.8-3.1 s
instead of ~1.2 s). The rewrite adds an unchecked hash-based .pyc (PEP 552) for
each module: Python then loads it without looking at the source's timestamp,
which the archive does not preserve reliably anyway. The project's own code keeps
its sources beside the bytecode (tracebacks show the lines); third-party modules
ship their bytecode alone, in place of the source, which keeps the lean stages
inside their size budget (files, lines and names still show in a traceback).
`NOOK_PACKAGE_BYTECODE=0` in the packaging environment leaves the bytecode out
(the bench measures the difference with it).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import marshal
import os
import sys
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


def bytecode_name(name: str) -> str:
    """Where Python looks for a module's bytecode: a/b.py -> a/__pycache__/b.cpython-311.pyc."""
    folder, _, module = name.rpartition("/")
    cached = f"__pycache__/{module[:-3]}.{sys.implementation.cache_tag}.pyc"
    return f"{folder}/{cached}" if folder else cached


def bytecode(source: bytes, name: str) -> bytes | None:
    """An unchecked hash-based .pyc of `source` (PEP 552), or None if it does not compile."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like in third-party code
            code = compile(source, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    unchecked = (0b01).to_bytes(4, "little")  # hash-based, do not check against the source
    return importlib.util.MAGIC_NUMBER + unchecked + importlib.util.source_hash(source) + marshal.dumps(code)


# The project's own top-level names: these keep their sources beside the bytecode (readable tracebacks).
PROJECT = ("app", "models", "jobs", "callbacks", "expectations", "handler.py", "zappa_settings.py")


@dataclass
class Rewritten:
    removed: list[str]  # top-level entries stripped
    compiled: int  # .pyc files added


def _outputs(name: str, data: bytes, names: set[str], keep_sources: set[str]) -> list[tuple[str, bytes]]:
    """What one archive member becomes: itself, plus its bytecode in __pycache__ (project code), or
    its bytecode alone as name.pyc where the source was (third-party code: Python loads a sourceless
    .pyc beside the package's other modules, as Zappa itself ships a .pyc newer than its source)."""
    if not name.endswith(".py") or bytecode_name(name) in names or f"{name}c" in names:
        return [(name, data)]
    compiled = bytecode(data, name)
    if compiled is None:
        return [(name, data)]
    if _top(name) in keep_sources:
        return [(name, data), (bytecode_name(name), compiled)]
    return [(f"{name}c", compiled)]


def rewrite_archive(
    path: str | os.PathLike[str],
    strip: Iterable[str] = (),
    add_bytecode: bool = False,
    keep_sources: Iterable[str] = PROJECT,
) -> Rewritten:
    """Rewrite a .zip or .tar.gz without the `strip` top-level packages and, if asked, with bytecode
    for every module that has none (compiled by this interpreter: it must match the runtime's)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".rewriting")
    keep = set(keep_sources)

    def transform(name: str, data: bytes, names: set[str]) -> list[tuple[str, bytes]]:
        return _outputs(name, data, names, keep) if add_bytecode else [(name, data)]

    if path.suffix == ".zip":
        done = _rewrite_zip(path, temporary, list(strip), transform)
    elif path.name.endswith((".tar.gz", ".tgz")):
        done = _rewrite_tar(path, temporary, list(strip), transform)
    else:
        raise ValueError(f"not a .zip or .tar.gz: {path}")
    temporary.replace(path)
    return done


def strip_from_archive(path: str | os.PathLike[str], patterns: Iterable[str]) -> list[str]:
    """Strip the `patterns` top-level packages from a .zip or .tar.gz (nothing added): what was removed."""
    return rewrite_archive(path, patterns).removed


Transform = Callable[[str, bytes, set[str]], list[tuple[str, bytes]]]


def _rewrite_zip(path: Path, temporary: Path, patterns: list[str], transform: Transform) -> Rewritten:
    compiled = 0
    with zipfile.ZipFile(path) as source:
        names = set(source.namelist())
        doomed = doomed_tops(names, _zip_records(source), patterns)
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                if _top(info.filename) in doomed:
                    continue
                for name, body in transform(info.filename, source.read(info.filename), names):
                    if name == info.filename:
                        target.writestr(info, body)
                        continue
                    entry = zipfile.ZipInfo(name, info.date_time)
                    entry.external_attr = info.external_attr
                    target.writestr(entry, body, zipfile.ZIP_DEFLATED)
                    compiled += 1
    return Rewritten(sorted(doomed), compiled)


def _rewrite_tar(path: Path, temporary: Path, patterns: list[str], transform: Transform) -> Rewritten:
    compiled = 0
    with tarfile.open(path, "r:gz") as source:
        names = set(source.getnames())
        doomed = doomed_tops(names, _tar_records(source), patterns)
        with tarfile.open(temporary, "w:gz") as target:
            for member in source.getmembers():
                if _top(member.name) in doomed:
                    continue
                if not member.isfile():
                    target.addfile(member)
                    continue
                data = source.extractfile(member).read()  # type: ignore[union-attr]
                for name, body in transform(member.name, data, names):
                    entry = member
                    if name != member.name:
                        entry = tarfile.TarInfo(name)
                        entry.mode, entry.mtime = member.mode, member.mtime
                        compiled += 1
                    entry.size = len(body)
                    target.addfile(entry, io.BytesIO(body))
    return Rewritten(sorted(doomed), compiled)


def _should_compile(runtime: str) -> bool:
    """Bytecode only from the stage's own Python version, and unless the packager turned it off."""
    if os.environ.get("NOOK_PACKAGE_BYTECODE", "1") == "0":
        print("Not compiling bytecode: NOOK_PACKAGE_BYTECODE=0")
        return False
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != here:
        print(f"Not compiling bytecode: packaging with {here}, the stage runs {runtime}")
        return False
    return True


def main(zappa_cli: Any) -> None:
    """Zappa zip callback: strip the stage's `strip_packages` from the archive just built and add the
    bytecode Zappa leaves out (when this interpreter is the stage's runtime)."""
    compile_ = _should_compile(zappa_cli.stage_config.get("runtime", ""))
    done = rewrite_archive(
        zappa_cli.zip_path, zappa_cli.stage_config.get("strip_packages", []), add_bytecode=compile_
    )
    name = os.path.basename(zappa_cli.zip_path)
    print(f"Stripped from {name}: {', '.join(done.removed) or 'nothing'}; compiled {done.compiled} modules")
    handler = getattr(zappa_cli, "handler_path", None)  # a slim handler's own zip (Zappa and the handler)
    if zappa_cli.stage_config.get("slim_handler") and handler and compile_:
        compiled = rewrite_archive(handler, add_bytecode=True).compiled
        print(f"Compiled {compiled} modules in {os.path.basename(handler)}")
