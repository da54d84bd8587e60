"""The connection table of a result-file machine (``protocol = "files"``), typed and checked.

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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.files import Disposal, FolderOptions, Watch
from gateway.config_model import doc
from protocols.errors import ConfigError
from protocols.files import Readiness, ReadyRule
from protocols.tomlread import Table

_DEFAULT_SUFFIX = {ReadyRule.RENAME: ".tmp", ReadyRule.COMPANION: ".done"}
#: Listing intervals accepted, seconds: faster burns CPU on a share, slower delays every result.
INTERVAL_RANGE = (0.05, 600.0)


@dataclass(frozen=True, slots=True)
class FilesConnection:
    """``protocol = "files"``: a folder a station writes its result files to (docs/files.md)."""

    folder: str = field(
        metadata=doc(
            "The watched folder (relative to the config file; not its subfolders).", '"/srv/aoi/out"'
        )
    )
    watch: Watch = field(
        default=Watch.EVENTS,
        metadata=doc("events: the OS reports new files; poll: list the folder (network shares).", '"poll"'),
    )
    interval: float = field(
        default=2.0, metadata=doc("Seconds between listings (0.05 to 600); safety listings with events.")
    )
    ready: Readiness = field(
        default=Readiness(),
        metadata=doc(
            'When a file is complete: "stable", "rename", "companion", or a table '
            "{ rule = ..., checks = ..., suffix = ... }.",
            '{ rule = "rename", suffix = ".part" }',
            default='"stable"',
        ),
    )
    pattern: tuple[str, ...] = field(
        default=(),
        metadata=doc("Only names ending in these suffixes are results (all when empty).", '".xml"'),
    )
    processed: Disposal = field(
        default=Disposal.MOVE,
        metadata=doc("What to do with a processed file: keep, move or delete.", '"keep"'),
    )
    processed_folder: str | None = field(
        default=None,
        metadata=doc("Where processed files are moved.", '"/srv/aoi/done"', default='"<folder>/processed"'),
    )
    rejected_folder: str | None = field(
        default=None,
        metadata=doc(
            "Where malformed files and duplicates go.", '"/srv/aoi/bad"', default='"<folder>/rejected"'
        ),
    )
    journal_days: float = field(
        default=90.0, metadata=doc("Days processed files are remembered (0: for ever; at most 3650).")
    )

    def options(self) -> FolderOptions:
        """What the files adapter takes."""
        return FolderOptions(
            folder=Path(self.folder),
            watch=self.watch,
            interval=self.interval,
            readiness=Readiness(self.ready.rule, self.ready.checks, self.ready.suffix, self.pattern),
            processed=self.processed,
            processed_folder=None if self.processed_folder is None else Path(self.processed_folder),
            rejected_folder=None if self.rejected_folder is None else Path(self.rejected_folder),
            journal_days=self.journal_days or None,
        )


def _choice(t: Table, key: str, choices: tuple[str, ...], default: str) -> str:
    value = t.data.get(key, default)
    if value not in choices:
        raise t.error(f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}", key)
    return str(value)


def _folder(t: Table, key: str, base: Path) -> str | None:
    value = t.data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise t.error("must be a folder path", key)
    return value if Path(value).is_absolute() else str(base / value)


def _number(t: Table, key: str, default: float) -> Any:
    value = t.data.get(key, default)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _readiness(t: Table) -> Readiness:
    value = t.data.get("ready", "stable")
    table = Table({"rule": value} if isinstance(value, str) else value, t.path, t.where("ready"))
    if not isinstance(table.data, dict):
        raise t.error('must be "stable", "rename", "companion" or a table { rule = ... }', "ready")
    table.only({"rule", "checks", "suffix"})
    rule = ReadyRule(_choice(table, "rule", tuple(r.value for r in ReadyRule), "stable"))
    checks = table.data.get("checks", 2)
    if not isinstance(checks, int) or isinstance(checks, bool) or not 2 <= checks <= 100:
        raise table.error("must be a whole number from 2 to 100", "checks")
    suffix = table.data.get("suffix", _DEFAULT_SUFFIX.get(rule, ""))
    if rule is not ReadyRule.STABLE and (not isinstance(suffix, str) or not suffix.startswith(".")):
        raise table.error('must start with "." (".tmp", ".done")', "suffix")
    return Readiness(rule, checks=checks, suffix=suffix)


def read_files_connection(t: Table, base: Path) -> FilesConnection:
    """The connection table of a ``files`` machine; folders relative to ``base``.

    Raises:
        ConfigError: an unknown or wrong key, naming ``<where>.connection.<key>``.
    """
    folder = _folder(t, "folder", base)
    if folder is None:
        raise t.error("is required", "folder")
    interval = _number(t, "interval", 2.0)
    lo, hi = INTERVAL_RANGE
    if interval is None or not lo <= interval <= hi:
        raise t.error(f"must be between {lo:g} and {hi:g} seconds", "interval")
    days = _number(t, "journal_days", 90)
    if days is None or not 0 <= days <= 3650:
        raise t.error("must be a number of days from 0 (for ever) to 3650", "journal_days")
    pattern = t.data.get("pattern", [])
    if isinstance(pattern, str):
        pattern = [pattern]
    if not isinstance(pattern, list) or not all(isinstance(p, str) and p for p in pattern):
        raise t.error('must be a suffix or a list of suffixes (".xml")', "pattern")
    return FilesConnection(
        folder=folder,
        watch=Watch(_choice(t, "watch", ("events", "poll"), "events")),
        interval=float(interval),
        ready=_readiness(t),
        pattern=tuple(pattern),
        processed=Disposal(_choice(t, "processed", ("keep", "move", "delete"), "move")),
        processed_folder=_folder(t, "processed_folder", base),
        rejected_folder=_folder(t, "rejected_folder", base),
        journal_days=float(days),
    )


__all__ = ["INTERVAL_RANGE", "ConfigError", "FilesConnection", "read_files_connection"]
