"""The connection table of a result-file machine (``protocol = "files"``), checked.

::

    [[machines]]
    id = "aoi1"
    handle = "Acme.AOI.1"
    protocol = "files"
    map = "builtin:aoi_xml"
    connection = { folder = "/srv/aoi/out", watch = "events", interval = 2.0,
                   ready = "rename", processed = "move" }

``folder`` is relative to the line file. ``ready`` is ``"stable"`` (same size over 2
listings), ``"rename"`` (``.tmp`` then renamed), ``"companion"`` (``X.done`` beside ``X``), or a
table ``{ rule = "stable", checks = 3 }`` / ``{ rule = "rename", suffix = ".part" }`` /
``{ rule = "companion", suffix = ".ok" }``. ``journal_days`` (default 90, 0: for ever) is how long
processed files are remembered. docs/files.md describes every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.files import Disposal, FolderOptions, Watch
from protocols.errors import ConfigError
from protocols.files import Readiness, ReadyRule

CONNECTION_KEYS = {
    "folder",
    "watch",
    "interval",
    "ready",
    "pattern",
    "processed",
    "processed_folder",
    "rejected_folder",
    "journal_days",
}
_DEFAULT_SUFFIX = {ReadyRule.RENAME: ".tmp", ReadyRule.COMPANION: ".done"}
#: Listing intervals accepted, seconds: faster burns CPU on a share, slower delays every result.
INTERVAL_RANGE = (0.05, 600.0)


def _choice(conn: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str, fail: Any) -> str:
    value = conn.get(key, default)
    if value not in choices:
        raise fail(key, f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
    return str(value)


def _folder(conn: Mapping[str, Any], key: str, base: Path, fail: Any) -> Path | None:
    value = conn.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise fail(key, "must be a folder path")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _readiness(conn: Mapping[str, Any], fail: Any) -> Readiness:
    value = conn.get("ready", "stable")
    pattern = conn.get("pattern", [])
    if isinstance(pattern, str):
        pattern = [pattern]
    if not isinstance(pattern, list) or not all(isinstance(p, str) and p for p in pattern):
        raise fail("pattern", 'must be a suffix or a list of suffixes (".xml")')
    table = {"rule": value} if isinstance(value, str) else value
    if not isinstance(table, Mapping):
        raise fail("ready", 'must be "stable", "rename", "companion" or a table { rule = ... }')
    for key in table:
        if key not in ("rule", "checks", "suffix"):
            raise fail(f"ready.{key}", "unknown key (expected rule, checks, suffix)")
    rules = tuple(r.value for r in ReadyRule)
    rule = ReadyRule(_choice(table, "rule", rules, "stable", lambda k, p: fail(f"ready.{k}", p)))
    checks = table.get("checks", 2)
    if not isinstance(checks, int) or isinstance(checks, bool) or not 2 <= checks <= 100:
        raise fail("ready.checks", "must be a whole number from 2 to 100")
    suffix = table.get("suffix", _DEFAULT_SUFFIX.get(rule, ""))
    if rule is not ReadyRule.STABLE and (not isinstance(suffix, str) or not suffix.startswith(".")):
        raise fail("ready.suffix", 'must start with "." (".tmp", ".done")')
    return Readiness(rule, checks=checks, suffix=suffix, pattern=tuple(pattern))


def folder_options(config_path: str, conn: Mapping[str, Any], where: str) -> FolderOptions:
    """The folder options of a ``files`` machine.

    Raises:
        ConfigError: an unknown or wrong key, naming ``<where>.connection.<key>``.
    """

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(problem, path=config_path, key=f"{where}.connection.{key}")

    for key in conn:
        if key not in CONNECTION_KEYS:
            raise fail(key, f"unknown key (expected {', '.join(sorted(CONNECTION_KEYS))})")
    base = Path(config_path).parent
    folder = _folder(conn, "folder", base, fail)
    if folder is None:
        raise fail("folder", "is required")
    interval = conn.get("interval", 2.0)
    lo, hi = INTERVAL_RANGE
    if not isinstance(interval, int | float) or isinstance(interval, bool) or not lo <= interval <= hi:
        raise fail("interval", f"must be between {lo:g} and {hi:g} seconds")
    days = conn.get("journal_days", 90)
    if not isinstance(days, int | float) or isinstance(days, bool) or not 0 <= days <= 3650:
        raise fail("journal_days", "must be a number of days from 0 (for ever) to 3650")
    return FolderOptions(
        folder=folder,
        watch=Watch(_choice(conn, "watch", ("events", "poll"), "events", fail)),
        interval=float(interval),
        readiness=_readiness(conn, fail),
        processed=Disposal(_choice(conn, "processed", ("keep", "move", "delete"), "move", fail)),
        processed_folder=_folder(conn, "processed_folder", base, fail),
        rejected_folder=_folder(conn, "rejected_folder", base, fail),
        journal_days=float(days) if days else None,
    )
