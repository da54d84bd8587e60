"""The result-file adapter: a watched folder of inspection and test results, each file counted once.

A station (AOI, X-ray, tester) drops result files into a folder; this adapter watches it,
event-driven with watchfiles where the OS reports changes, or by listing it every ``interval``
seconds (``watch = "poll"``: network shares give no events). Either way the folder is listed
again every ``interval`` seconds, which also moves the stable-size rule on and notices a folder
that went away (a share that is down ends the session; the supervisor retries with backoff and
the gateway reports the link lost after its grace).

For each file the readiness rule (``protocols.files.readiness``) calls complete, the adapter
reads it in chunks, hashing and parsing in one pass (``protocols.files``), and emits one
:class:`~adapters.observations.ResultFileRead` holding every board of the file. The gateway
commits the file's events and its journal entry in one SQLite transaction and returns; only then
is the file kept, moved or deleted. So a kill -9 at any point either loses nothing (the file is
read again) or finds the journal entry on restart (the file is disposed of without publishing
again). A file whose content the journal already holds under another name or time is a
duplicate: it is moved aside, not published. A malformed file is moved to the rejected folder
with a ``.reason`` file beside it, and the next file is read as usual.

Filesystem calls run in a worker thread (``asyncio.to_thread``): the OS has no non-blocking
file I/O, and a hung share must not stop the event loop. Parsing runs on the loop, one chunk at
a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol, TypeVar

from adapters import observations as obs
from adapters.base import Adapter, CommandError, Emit, RecipeInfo, ReconnectPolicy
from protocols.errors import TransportError
from protocols.files import (
    BoardRecord,
    FileStat,
    MalformedResultFile,
    Outcome,
    Readiness,
    ReadinessTracker,
    ResultMap,
    Verdict,
    parser_for,
)

_T = TypeVar("_T")
#: Bytes read and parsed per step: small enough that one step holds the loop for a few
#: milliseconds, large enough that a 30 MB file takes a hundred steps, not thousands.
CHUNK = 256 * 1024
#: Seconds between two prunings of the journal.
_PRUNE_EVERY = 3600.0


class Watch(enum.Enum):
    """How the adapter learns of new files."""

    EVENTS = "events"  # the OS reports changes (inotify, FSEvents, ReadDirectoryChangesW)
    POLL = "poll"  # list the folder every interval (network shares)


class Disposal(enum.Enum):
    """What happens to a processed file."""

    KEEP = "keep"
    MOVE = "move"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class FolderOptions:
    """Where the files are and what to do with them.

    Args:
        folder: the watched folder (not its subfolders).
        watch: events or poll.
        interval: seconds between listings (poll mode), and between safety listings with events.
        readiness: when a file is complete.
        processed: keep, move (to ``processed_folder``) or delete a processed file.
        processed_folder: where processed files go; default ``<folder>/processed``.
        rejected_folder: where malformed files and duplicates go; default ``<folder>/rejected``.
        journal_days: processed files are remembered this long (duplicates older than that are
            not recognised; a kept file older than that is read again after a restart);
            None: for ever.
    """

    folder: Path
    watch: Watch = Watch.EVENTS
    interval: float = 2.0
    readiness: Readiness = field(default_factory=Readiness)
    processed: Disposal = Disposal.MOVE
    processed_folder: Path | None = None
    rejected_folder: Path | None = None
    journal_days: float | None = 90.0

    @property
    def processed_to(self) -> Path:
        return self.processed_folder or self.folder / "processed"

    @property
    def rejected_to(self) -> Path:
        return self.rejected_folder or self.folder / "rejected"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A processed file as the journal remembers it."""

    name: str
    size: int
    mtime_ns: int
    sha256: str
    processed_at: float


class FileJournal(Protocol):
    """Which files were processed. The gateway's journal lives in the outbox's database and is
    written in the same transaction as the file's events (``remember`` is then a no-op)."""

    def seen(self, name: str, size: int, mtime_ns: int) -> bool:
        """Whether this exact file (name, size, mtime) was processed."""
        ...

    def find(self, sha256: str) -> JournalEntry | None:
        """The processed file with this content, if any."""
        ...

    def remember(self, file: obs.ResultFile) -> None:
        """Record ``file`` as processed, after its observation was emitted."""
        ...

    def prune(self, before: float) -> int:
        """Forget files processed before ``before`` (POSIX seconds); returns how many."""
        ...


class MemoryJournal:
    """A journal that lasts as long as the process (tests, and an adapter run without a gateway)."""

    def __init__(self) -> None:
        self._by_hash: dict[str, JournalEntry] = {}

    def seen(self, name: str, size: int, mtime_ns: int) -> bool:
        return any((e.name, e.size, e.mtime_ns) == (name, size, mtime_ns) for e in self._by_hash.values())

    def find(self, sha256: str) -> JournalEntry | None:
        return self._by_hash.get(sha256)

    def remember(self, file: obs.ResultFile) -> None:
        now = datetime.now(UTC).timestamp()
        self._by_hash.setdefault(
            file.sha256, JournalEntry(file.name, file.size, file.mtime_ns, file.sha256, now)
        )

    def prune(self, before: float) -> int:
        old = [key for key, entry in self._by_hash.items() if entry.processed_at < before]
        for key in old:
            del self._by_hash[key]
        return len(old)


@dataclass(slots=True)
class FileStats:
    """Counts for /metrics: files processed, rejected as malformed, refused as duplicates."""

    processed: int = 0
    rejected: int = 0
    duplicates: int = 0
    boards: int = 0


_OUTCOME = {
    Outcome.PASSED: obs.Outcome.PASSED,
    Outcome.FAILED: obs.Outcome.FAILED,
    Outcome.ERROR: obs.Outcome.ERROR,
    Outcome.SKIPPED: obs.Outcome.SKIPPED,
}
_VERDICT = {
    Verdict.UNVERIFIED: obs.Verification.UNVERIFIED,
    Verdict.CONFIRMED: obs.Verification.CONFIRMED,
    Verdict.FALSE_CALL: obs.Verification.FALSE_CALL,
}


def _outcome(value: Outcome | None) -> obs.Outcome | None:
    return None if value is None else _OUTCOME[value]


def inspection_result(machine_id: str, at: datetime, method: str, board: BoardRecord) -> obs.InspectionResult:
    """The observation of one board record."""
    positions = tuple(
        obs.InspectedPosition(
            position=unit.position,
            barcode=unit.barcode,
            outcome=_outcome(unit.outcome),
            defects=tuple(
                obs.FoundDefect(
                    d.code, d.refdes, _VERDICT[d.verdict], d.description, d.category, d.part_number
                )
                for d in unit.defects
            ),
            measurements=tuple(
                obs.Measured(m.name, m.value, m.unit, m.low, m.high, _outcome(m.outcome), m.refdes)
                for m in unit.measurements
            ),
        )
        for unit in board.units
    )
    return obs.InspectionResult(
        machine_id=machine_id,
        at=at,
        barcode=board.barcode,
        outcome=_outcome(board.outcome),
        method=method,
        recipe=board.recipe,
        inspector=board.inspector,
        started=board.started,
        ended=board.ended,
        positions=positions,
    )


class _Changed(Exception):
    """The file changed while it was read: not complete after all."""


class FilesAdapter(Adapter):
    """A folder of result files as one machine.

    Args:
        machine_id: the machine id.
        result_map: how the files read.
        options: the folder and its rules.
        journal: the processed-files journal; the gateway sets its own (``journal`` attribute).
    """

    protocol = "files"
    reports_state = False  # a result file tells what was found, not what the machine is doing

    def __init__(
        self,
        machine_id: str,
        result_map: ResultMap,
        options: FolderOptions,
        *,
        journal: FileJournal | None = None,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        super().__init__(machine_id, policy=policy)
        self.map = result_map
        self.options = options
        self.journal: FileJournal = journal or MemoryJournal()
        self.stats = FileStats()
        self.tracker = ReadinessTracker(options.readiness)
        self.log = self.log.bind(folder=str(options.folder))
        self._wake = asyncio.Event()
        #: listings of the folder so far (``wait_scans`` lets a test wait for the next one)
        self.scans = 0
        self._scanned = asyncio.Event()
        self._pruned_at = 0.0  # loop time of the last journal pruning

    # --- the machine's "commands": a folder has no recipes -------------------------------------

    async def activate_recipe(self, name: str, revision: str | None = None) -> obs.RecipeActivated:
        raise CommandError("a result-file station takes no recipe from the gateway", refused=True)

    async def active_recipe(self) -> RecipeInfo | None:
        return None

    async def available_recipes(self) -> list[RecipeInfo]:
        return []

    @property
    def answer_interval(self) -> float:
        return self.options.interval

    @property
    def liveness_timeout(self) -> float:
        # Every listing is a sign of life; a listing that hangs (a dead share) ends the session.
        return max(self.policy.liveness_timeout, 4 * self.options.interval)

    # --- the session ---------------------------------------------------------------------------

    async def _session(self, emit: Emit) -> None:
        folder = self.options.folder
        if not await _fs(folder.is_dir):
            raise TransportError(f"folder {folder} is not there (or not a folder)")
        self.connected()
        watcher = None
        if self.options.watch is Watch.EVENTS:
            watcher = asyncio.create_task(self._watch(), name=f"adapter[{self.machine_id}].watch")
        try:
            while True:
                self._wake.clear()
                await self._scan(emit)
                await self._wait()
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)

    async def _wait(self) -> None:
        interval = self.options.interval
        if self.options.watch is Watch.EVENTS and self.tracker.waiting:
            interval = min(interval, 0.25)  # a file settling: look again soon
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await self._wake.wait()

    async def _watch(self) -> None:
        import watchfiles  # only the events mode needs it

        stop = asyncio.Event()
        try:
            async for _ in watchfiles.awatch(
                self.options.folder, stop_event=stop, recursive=False, debounce=50, step=20, rust_timeout=500
            ):
                self._wake.set()
        except (OSError, RuntimeError) as exc:
            # The folder went away under the watcher; the next listing ends the session.
            self.log.info("files.watch_ended", error=str(exc))
            self._wake.set()
        finally:
            stop.set()

    async def _scan(self, emit: Emit) -> None:
        try:
            listing = await _fs(_list, self.options.folder)
        except OSError as exc:
            raise TransportError(f"cannot list folder {self.options.folder}: {exc.strerror or exc}") from exc
        self.alive()
        self._prune()
        for name in self.tracker.observe(listing):
            if name not in listing:
                continue
            await self._handle(name, listing[name], emit)
            self.alive()
        self.scans += 1
        self._scanned.set()

    def _prune(self) -> None:
        # Once an hour: the journal would otherwise grow with every file for ever.
        days = self.options.journal_days
        now = asyncio.get_running_loop().time()
        if days is None or (self._pruned_at and now - self._pruned_at < _PRUNE_EVERY):
            return
        self._pruned_at = now
        forgotten = self.journal.prune(datetime.now(UTC).timestamp() - days * 86400)
        if forgotten:
            self.log.info("files.journal_pruned", forgotten=forgotten, journal_days=days)

    def rescan(self) -> None:
        """List the folder now rather than at the next interval."""
        self._wake.set()

    async def wait_scans(self, count: int) -> None:
        """Return once the folder has been listed (and its ready files handled) ``count`` times."""
        while self.scans < count:
            self._scanned.clear()
            await self._scanned.wait()

    # --- one file ------------------------------------------------------------------------------

    async def _handle(self, name: str, stat: FileStat, emit: Emit) -> None:
        path = self.options.folder / name
        log = self.log.bind(file=name, size=stat.size)
        # The journal is read on the loop: the gateway's shares the outbox's connection.
        if self.journal.seen(name, stat.size, stat.mtime_ns):
            # Processed before a restart that came before its disposal (or kept on purpose).
            log.info("files.already_processed")
            await self._dispose(name, stat)
            return
        try:
            file, boards = await self._read(path, name, stat)
        except _Changed:
            log.info("files.still_changing")
            self.tracker.done(name)
            return
        except MalformedResultFile as exc:
            self.stats.rejected += 1
            log.warning("files.rejected", reason=exc.reason, line=exc.line, offset=exc.offset)
            await self._reject(name, str(exc))
            return
        except FileNotFoundError:
            self.tracker.done(name)
            return
        except PermissionError as exc:
            # This file's, not the folder's: set aside like a malformed one, so it blocks nothing.
            self.stats.rejected += 1
            log.warning("files.rejected", reason=f"cannot read: {exc.strerror or exc}")
            await self._reject(name, f"{name}: cannot read: {exc.strerror or exc}")
            return
        except OSError as exc:
            raise TransportError(f"cannot read {path}: {exc.strerror or exc}") from exc
        earlier = self.journal.find(file.sha256)
        if earlier is not None:
            self.stats.duplicates += 1
            when = datetime.fromtimestamp(earlier.processed_at, UTC).isoformat(timespec="seconds")
            log.warning("files.duplicate", sha256=file.sha256, duplicate_of=earlier.name, processed_at=when)
            await self._reject(name, f"duplicate of {earlier.name} (same content), processed {when}")
            return
        now = datetime.now(UTC)
        defects = sum(b.defect_count for b in boards)
        results = tuple(inspection_result(self.machine_id, now, self.map.method, board) for board in boards)
        boards.clear()  # the records are observations now: do not hold a large file twice
        await emit(obs.ResultFileRead(machine_id=self.machine_id, at=now, file=file, results=results))
        self.journal.remember(file)
        self.stats.processed += 1
        self.stats.boards += len(results)
        log.info("files.processed", boards=len(results), defects=defects)
        await self._dispose(name, stat)

    async def _read(self, path: Path, name: str, stat: FileStat) -> tuple[obs.ResultFile, list[BoardRecord]]:
        digest = hashlib.sha256()
        parser = parser_for(self.map, name=name)
        boards: list[BoardRecord] = []
        stream: IO[bytes] = await _fs(path.open, "rb")
        try:
            while chunk := await _fs(stream.read, CHUNK):
                digest.update(chunk)
                boards.extend(parser.feed(chunk))
                self.alive()  # reading is progress: a large file must not look like a hung share
            after = await _fs(os.fstat, stream.fileno())
        finally:
            await _fs(stream.close)
        if (after.st_size, after.st_mtime_ns) != (stat.size, stat.mtime_ns):
            raise _Changed
        boards.extend(parser.close())
        return obs.ResultFile(name, stat.size, stat.mtime_ns, digest.hexdigest()), boards

    def _companions(self, name: str) -> list[str]:
        companion = self.options.readiness.companion_of(name)
        return [companion] if companion else []

    async def _dispose(self, name: str, stat: FileStat) -> None:
        how = self.options.processed
        if how is Disposal.KEEP:
            self.tracker.done(name, stat)
            return
        for each in (name, *self._companions(name)):
            source = self.options.folder / each
            try:
                if how is Disposal.DELETE:
                    await _fs(source.unlink, True)
                else:
                    await _fs(_move, source, self.options.processed_to)
            except OSError as exc:
                raise TransportError(f"cannot {how.value} {source}: {exc.strerror or exc}") from exc
        self.tracker.done(name)

    async def _reject(self, name: str, reason: str) -> None:
        # Moved aside with a .reason file beside it, so the next file is read as usual.
        target = self.options.rejected_to
        try:
            for each in (name, *self._companions(name)):
                moved = await _fs(_move, self.options.folder / each, target)
                if each == name and moved is not None:
                    stamp = datetime.now(UTC).isoformat(timespec="seconds")
                    await _fs(
                        moved.with_name(moved.name + ".reason").write_text, f"{stamp} {reason}\n", "utf-8"
                    )
        except OSError as exc:
            raise TransportError(f"cannot move {name} to {target}: {exc.strerror or exc}") from exc
        self.tracker.done(name)


async def _fs(call: Callable[..., _T], *args: object) -> _T:
    # Every filesystem call goes to a worker thread: a hung network share blocks that thread,
    # not the event loop (and the liveness watchdog ends the session).
    return await asyncio.to_thread(call, *args)


def _list(folder: Path) -> dict[str, FileStat]:
    listing: dict[str, FileStat] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    listing[entry.name] = FileStat(st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                continue  # went away while listing
    return listing


def _move(source: Path, folder: Path) -> Path | None:
    """Move ``source`` into ``folder`` under a name not yet taken there; None if it is gone."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    n = 1
    while target.exists() or target.with_name(target.name + ".reason").exists():
        target = folder / f"{source.name}.{n}"
        n += 1
    try:
        os.replace(source, target)
    except FileNotFoundError:
        return None
    return target
