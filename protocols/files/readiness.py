"""When is a result file complete? The readiness rules, sans-IO.

A station writes its result file while the gateway watches the folder; reading it half-written
would publish half a board. Stations signal completeness in one of three ways, and the line
file names which (docs/files.md):

- ``stable``: the file's size and modification time stay the same over ``checks`` consecutive
  observations (the adapter observes the folder every poll interval). The fallback for stations
  that just write and close.
- ``rename``: the station writes ``X.tmp`` and renames it to ``X`` when done (an atomic rename
  on the same file system). Files ending in the temporary suffix are never ready.
- ``companion``: ``X.xml`` is ready once ``X.done`` exists beside it (the station writes the
  companion after closing the result). The companion itself is never a result.

:class:`ReadinessTracker` is fed what the adapter saw in the folder (a listing of name → size and
mtime) and answers which names are ready now. No I/O and no clock: the adapter lists the folder
and decides when to look again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class ReadyRule(enum.Enum):
    """How a station says its result file is complete."""

    STABLE = "stable"
    RENAME = "rename"
    COMPANION = "companion"


@dataclass(frozen=True, slots=True)
class Readiness:
    """A readiness rule and its parameters.

    Args:
        rule: which convention the station follows.
        checks: ``stable``: consecutive observations with the same size and mtime (at least 2:
            one observation alone proves nothing).
        suffix: ``rename``: the temporary suffix (``.tmp``); ``companion``: the companion's
            suffix, which replaces the result's own (``X.xml`` → ``X.done``).
        pattern: only names ending in one of these suffixes are results (empty: any name).
    """

    rule: ReadyRule = ReadyRule.STABLE
    checks: int = 2
    suffix: str = ""
    pattern: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rule is ReadyRule.STABLE and self.checks < 2:
            raise ValueError("a stable-size rule needs at least 2 observations")
        if self.rule is not ReadyRule.STABLE and not self.suffix.startswith("."):
            raise ValueError(f"the {self.rule.value} rule needs a suffix that starts with '.'")

    def is_candidate(self, name: str) -> bool:
        """Whether ``name`` can be a result at all (not a temporary file, not a companion)."""
        if name.startswith("."):
            return False  # hidden files: editors' and copy tools' own temporaries
        if self.rule is not ReadyRule.STABLE and name.endswith(self.suffix):
            return False
        return not self.pattern or name.endswith(self.pattern)

    def companion_of(self, name: str) -> str | None:
        """The companion file's name for result ``name`` (``companion`` rule), else None."""
        if self.rule is not ReadyRule.COMPANION:
            return None
        stem = name.rsplit(".", 1)[0] if "." in name else name
        return stem + self.suffix


@dataclass(frozen=True, slots=True)
class FileStat:
    """What a folder listing says of one file."""

    size: int
    mtime_ns: int


@dataclass(slots=True)
class _Seen:
    stat: FileStat
    same: int = 1  # consecutive observations with this stat


@dataclass(slots=True)
class ReadinessTracker:
    """Decides, from successive folder listings, which files are complete.

    Feed :meth:`observe` each listing; it returns the names that became (or still are) ready
    and that :meth:`done` has not retired. Retire a name once it is processed (or rejected), so
    a later file of the same name is judged afresh.
    """

    readiness: Readiness
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _retired: dict[str, FileStat] = field(default_factory=dict)  # handled, left in place

    def observe(self, listing: Mapping[str, FileStat]) -> list[str]:
        """The ready result files in ``listing`` (every file of the folder), oldest first.

        Args:
            listing: name → size and mtime of every file in the folder now.

        Returns:
            Names of complete result files, ordered by mtime then name (the station's order).
        """
        rule = self.readiness
        for name in list(self._seen):
            if name not in listing:
                del self._seen[name]  # gone (moved away by someone else, or renamed)
        for name in list(self._retired):
            if listing.get(name) != self._retired[name]:
                del self._retired[name]  # gone, or a new file under the same name
        ready: list[str] = []
        for name, stat in listing.items():
            if not rule.is_candidate(name) or name in self._retired:
                continue
            seen = self._seen.get(name)
            if seen is None or seen.stat != stat:
                self._seen[name] = seen = _Seen(stat)
            else:
                seen.same += 1
            if self._is_ready(name, seen, listing):
                ready.append(name)
        ready.sort(key=lambda n: (listing[n].mtime_ns, n))
        return ready

    def _is_ready(self, name: str, seen: _Seen, listing: Mapping[str, FileStat]) -> bool:
        rule = self.readiness
        if rule.rule is ReadyRule.STABLE:
            return seen.same >= rule.checks
        if rule.rule is ReadyRule.COMPANION:
            return rule.companion_of(name) in listing
        return True  # rename: a name without the temporary suffix was renamed complete

    @property
    def waiting(self) -> int:
        """Candidates seen but not ready yet (the adapter looks again soon while any wait)."""
        rule = self.readiness
        if rule.rule is ReadyRule.STABLE:
            return sum(1 for s in self._seen.values() if s.same < rule.checks)
        return 0 if rule.rule is ReadyRule.RENAME else len(self._seen)

    def done(self, name: str, stat: FileStat | None = None) -> None:
        """Retire ``name``: it was processed or moved aside. With ``stat`` (the file stays in
        the folder), it is not reported again until it changes or goes away."""
        self._seen.pop(name, None)
        if stat is not None:
            self._retired[name] = stat
