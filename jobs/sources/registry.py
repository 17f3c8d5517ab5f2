"""Source kind -> adapter module, and how each maps its records."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from jobs.sources import arcgis, csv_file, demo, json_feed, stream
from jobs.sources.base import MAPPING_CHECKS, SourceError, record_mapping, require
from models.normalize import source_ref_of

ADAPTERS: dict[str, ModuleType] = {
    "demo": demo,
    "arcgis": arcgis,
    "json_feed": json_feed,
    "csv": csv_file,
    "stream": stream,
}


def adapter(kind: str) -> ModuleType:
    """The adapter module of a source kind."""
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise SourceError(f"unknown source kind {kind!r}") from None


def check_config(kind: str, config: Any) -> None:
    """SourceError saying what is wrong unless `config` is an object with what the kind needs."""
    module = adapter(kind)
    require(config, kind, module.REQUIRED_CONFIG, MAPPING_CHECKS | module.CONFIG_CHECKS)
    unread = sorted(set(MAPPING_CHECKS) & set(config)) if not getattr(module, "MAPS_RECORDS", True) else []
    if unread:  # taken, they would be ignored: the partner's records would not be read as the operator meant
        raise SourceError(
            f"{kind} config: {', '.join(unread)} is not read: a {kind} source sends listings in nook's own "
            "field names, with absolute links"
        )


def mapping(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The field/value/unit mapping that turns this source's records into listings."""
    module = adapter(kind)
    if hasattr(module, "mapping"):
        return module.mapping(config)
    return record_mapping(config)


def source_ref(kind: str, payload: Any, config: dict[str, Any]) -> str:
    """A record's id within its source (raises Rejected when it has none)."""
    module = adapter(kind)
    if hasattr(module, "source_ref"):
        return module.source_ref(payload, config)
    return source_ref_of(payload, mapping(kind, config))
