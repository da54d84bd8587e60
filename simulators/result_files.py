"""Result files as inspection stations write them: an AOI's XML, an X-ray's CSV.

Most installed AOI and AXI stations report by dropping one file per board into a folder. This
module writes such files, in the layouts the built-in maps ``aoi_xml`` and ``xray_csv``
read (adapters/maps/), for tests, benchmarks and the simulated line. A file is produced as a
stream of chunks, so a 30 MB result never sits in memory, and :class:`ResultFolder` drops it the
way the station is configured to: written in place, written as ``X.tmp`` and renamed, or
followed by a companion ``X.done``.

Plays the station's role only; it imports nothing of the gateway.
"""

from __future__ import annotations

import csv
import io
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

_CODES = ("MISSING", "SHIFT", "ROTATION", "TOMBSTONE", "BRIDGE", "INSUFFICIENT", "POLARITY", "LIFTED_LEAD")
_VOIDS = ("VOID", "BRIDGE", "HEAD_IN_PILLOW", "INSUFFICIENT")


@dataclass(frozen=True, slots=True)
class Finding:
    """One defect the station flagged; ``review`` is the repair station's verdict so far:
    ``REAL``, ``FALSECALL`` or empty (not reviewed yet)."""

    position: int
    refdes: str
    code: str
    review: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement, with limits."""

    position: int
    name: str
    value: float
    low: float
    high: float
    unit: str = "mm"
    refdes: str = ""


@dataclass(frozen=True, slots=True)
class BoardResult:
    """What the station found on one board (or panel of ``positions`` units)."""

    barcode: str
    positions: int = 1
    findings: tuple[Finding, ...] = ()
    readings: tuple[Reading, ...] = ()
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def failed(self, position: int | None = None) -> bool:
        """Whether a real or unreviewed defect is on the board (or on one position)."""
        return any(
            f.review != "FALSECALL" and (position is None or f.position == position) for f in self.findings
        )


def random_board(
    rng: random.Random,
    barcode: str,
    *,
    positions: int = 1,
    defects: int = 0,
    false_call_rate: float = 0.5,
    readings: int = 0,
) -> BoardResult:
    """A board with ``defects`` findings on random components, a share of them false calls."""
    findings = tuple(
        Finding(
            position=rng.randint(1, positions),
            refdes=f"{rng.choice('RCUDLQ')}{rng.randint(1, 999)}",
            code=rng.choice(_CODES),
            review="FALSECALL" if rng.random() < false_call_rate else "REAL",
        )
        for _ in range(defects)
    )
    measured = tuple(
        Reading(
            position=rng.randint(1, positions),
            name=f"C{i}.offset_x",
            value=round(rng.gauss(0.0, 0.04), 4),
            low=-0.1,
            high=0.1,
            refdes=f"C{i}",
        )
        for i in range(1, readings + 1)
    )
    return BoardResult(barcode, positions, findings, measured)


# --- AOI: XML ---------------------------------------------------------------------------------


def aoi_xml(
    boards: Iterable[BoardResult],
    *,
    program: str = "PROD-A",
    station: str = "AOI-1",
    operator: str = "",
    detail: bool = False,
) -> Iterator[bytes]:
    """An AOI result file (the ``aoi_xml`` map's layout), as chunks of UTF-8.

    With ``detail`` each defect also carries what real AOIs write and the map does not read
    (inspection window, algorithm, image path, package), about 600 bytes a defect.
    """
    head = f"<Inspection program={quoteattr(program)} station={quoteattr(station)}"
    head += f" operator={quoteattr(operator)}>\n" if operator else ">\n"
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n' + head.encode()
    for board in boards:
        yield from _aoi_board(board, detail)
    yield b"</Inspection>\n"


def _detail(board: BoardResult, f: Finding, n: int) -> str:
    return (
        f' x="{(n * 7.31) % 250:.3f}" y="{(n * 3.17) % 180:.3f}" width="1.200" height="0.800" angle="90.0"'
        f' algorithm="{f.code.title()}Check.v4" library="LIB-0402-R-STD" package="0402" window="W{n:06d}"'
        f' image="images/{board.barcode}/{f.refdes}_{n:06d}_top_color_rgb.jpg"'
        f' image3d="images/{board.barcode}/{f.refdes}_{n:06d}_height_map.tif" score="{(n % 100) / 100:.2f}"'
        f' operatorComment="reviewed at repair station RS-2, no further action"'
        f' inspectedBy="{board.barcode}/AOI-1/camera-top-2/lighting-ring-RGB-coaxial/pass-2 of 2"'
        f' program="PROD-A rev 7, library 2026-04-30, thresholds tightened after 8D report 2026-117"'
    )


def _aoi_board(board: BoardResult, detail: bool = False) -> Iterator[bytes]:
    start = board.started.isoformat(timespec="milliseconds")
    result = "FAIL" if board.failed() else "PASS"
    yield (
        f"  <Board barcode={quoteattr(board.barcode)} result={quoteattr(result)} start={quoteattr(start)}"
        f" end={quoteattr(start)}>\n"
    ).encode()
    for position in range(1, board.positions + 1):
        unit = f"{board.barcode}-{position}" if board.positions > 1 else board.barcode
        verdict = "FAIL" if board.failed(position) else "PASS"
        yield f'    <Panel position="{position}" barcode={quoteattr(unit)} result="{verdict}">\n'.encode()
        lines: list[str] = []
        for n, f in enumerate(board.findings):
            if f.position == position:
                extra = _detail(board, f, n) if detail else ""
                text = f"<Text>{f.code.lower()} at {f.refdes}</Text>"
                lines.append(
                    f"      <Defect ref={quoteattr(f.refdes)} code={quoteattr(f.code)}"
                    f" review={quoteattr(f.review)}{extra}>{text}</Defect>\n"
                )
                if len(lines) >= 512:
                    yield "".join(lines).encode()
                    lines.clear()
        for r in board.readings:
            if r.position == position:
                lines.append(
                    f'      <Measurement name={quoteattr(r.name)} value="{r.value}" unit={quoteattr(r.unit)}'
                    f' min="{r.low}" max="{r.high}" ref={quoteattr(r.refdes)}/>\n'
                )
        yield ("".join(lines) + "    </Panel>\n").encode()
    yield b"  </Board>\n"


# --- X-ray: CSV -------------------------------------------------------------------------------

XRAY_COLUMNS = (
    "Barcode",
    "Program",
    "BoardResult",
    "Position",
    "UnitResult",
    "RefDes",
    "Defect",
    "Review",
    "Measure",
    "Value",
    "Unit",
    "Min",
    "Max",
)


def xray_csv(boards: Iterable[BoardResult], *, program: str = "PROD-A") -> Iterator[bytes]:
    """An X-ray result file (the ``xray_csv`` map's layout): one row per finding or reading,
    one row for a position with neither."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(XRAY_COLUMNS)
    for board in boards:
        overall = "FAIL" if board.failed() else "PASS"
        for position in range(1, board.positions + 1):
            unit = "FAIL" if board.failed(position) else "PASS"
            common = [board.barcode, program, overall, position, unit]
            rows = [
                [*common, f.refdes, f.code, f.review, "", "", "", "", ""]
                for f in board.findings
                if f.position == position
            ]
            rows += [
                [*common, r.refdes, "", "", r.name, r.value, r.unit, r.low, r.high]
                for r in board.readings
                if r.position == position
            ]
            writer.writerows(rows or [[*common, "", "", "", "", "", "", "", ""]])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


# --- dropping files ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultFolder:
    """Where a station drops its files, and how it marks them complete.

    Args:
        folder: the output folder.
        convention: ``rename`` (write ``X.tmp``, rename to ``X``), ``companion`` (write ``X``,
            then an empty ``<stem>.done``), or ``plain`` (write ``X`` in place).
    """

    folder: Path
    convention: str = "rename"

    def drop(self, name: str, chunks: Iterable[bytes]) -> Path:
        """Write one result file chunk by chunk and mark it complete; returns its final path."""
        final = self.folder / name
        target = final.with_name(name + ".tmp") if self.convention == "rename" else final
        with target.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if self.convention == "rename":
            os.replace(target, final)
        elif self.convention == "companion":
            final.with_name(final.stem + ".done").write_bytes(b"")
        return final
