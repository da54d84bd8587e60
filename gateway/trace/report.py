"""Render trace query answers as a text table, JSON or CSV (``linegate trace ... --json/--csv``).

JSON is the whole answer. CSV is one row per item: per board the passes (with the board's
identifiers on every row), per reel, window or fault the boards. The table is for people: a
board's genealogy as sections, lists as aligned columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import orjson

Record = dict[str, Any]


def as_json(answer: Any) -> str:
    """The answer as indented JSON."""
    return orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode()


def as_csv(rows: Sequence[Record]) -> str:
    """Rows as CSV with a header line (the union of the rows' keys, in first-seen order)."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def table(rows: Sequence[Record], columns: Sequence[str] | None = None) -> str:
    """Rows as aligned text columns; ``-`` for a missing value."""
    if not rows:
        return "(none)"
    names = list(columns or rows[0].keys())
    cells = [[_cell(row.get(name)) or "-" for name in names] for row in rows]
    widths = [max(len(name), *(len(r[i]) for r in cells)) for i, name in enumerate(names)]
    lines = ["  ".join(name.ljust(w) for name, w in zip(names, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def board_rows(record: Record) -> list[Record]:
    """A genealogy flattened for CSV: one row per pass, with the board's identifiers."""
    head = {k: record[k] for k in ("board", "barcode", "hermes_id", "work_order")}
    return [{**head, **{k: v for k, v in p.items() if k != "work_order"}} for p in record["passes"]] or [head]


def board_text(record: Record) -> str:
    """A genealogy as sections for a terminal."""
    parts = [
        f"board {record['board']}: barcode {record['barcode'] or '-'}  hermes {record['hermes_id'] or '-'}"
        f"  work order {record['work_order'] or '-'}",
        f"  seen {record['first_seen']} .. {record['last_seen']}",
        "",
        "passes",
        table(
            record["passes"],
            ["machine", "arrived", "started", "completed", "departed", "result", "recipe", "operator"],
        ),
    ]
    if record["process"]:
        parts += ["", "process data"]
        parts.append(
            table(record["process"], ["machine", "time", "kind", "result", "peak_c", "above_liquidus_s"])
        )
        for process in record["process"]:
            if process["zones"]:
                zones = "  ".join(
                    f"{z['name'] or z['sequence']}={_cell(z['peak_c']) or '-'}" for z in process["zones"]
                )
                parts.append(f"  {process['machine']} zone peaks °C: {zones}")
    if record["results"]:
        parts += ["", "inspection and test"]
        parts.append(table(record["results"], ["machine", "time", "kind", "method", "result", "operator"]))
        for result in record["results"]:
            for defect in result["defects"]:
                where = defect["component"] or "-"
                parts.append(f"  defect {defect['code'] or '-'} at {where}: {defect['description'] or ''}")
    if record["repairs"]:
        parts += [
            "",
            "repairs",
            table(record["repairs"], ["machine", "time", "repair", "component", "result"]),
        ]
    if record["materials"]:
        parts += ["", "materials"]
        parts.append(
            table(record["materials"], ["machine", "location", "feeder", "reel", "lot", "part_number"])
        )
    parts += ["", "faults while in a machine"]
    parts.append(
        table(record["faults"], ["machine", "code", "severity", "occurred", "cleared", "occurrence_id"])
    )
    return "\n".join(parts)


__all__ = ["as_csv", "as_json", "board_rows", "board_text", "table"]
