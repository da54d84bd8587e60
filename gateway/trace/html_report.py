"""A board's genealogy as a printable HTML page: the device history record.

One self-contained page (inline CSS, no script) per query; an identifier naming several boards
gets one section per board, oldest first, and says so at the top. Every value is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

Record = dict[str, Any]

_CSS = """
body { font: 12px/1.4 system-ui, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 18px; } h2 { font-size: 15px; border-bottom: 1px solid #999; } h3 { font-size: 13px; }
table { border-collapse: collapse; margin: 0.5em 0 1em; } td, th { border: 1px solid #bbb; padding: 2px 6px; }
th { background: #eee; text-align: left; } .failed { color: #a00; font-weight: bold; }
section { page-break-after: always; }
@media print { body { margin: 0; } }
"""

_PASSES = "machine lane arrived started completed departed result recipe revision work_order operator"
_PROCESS = "machine time kind result peak_c above_liquidus_s liquidus_c conveyor_speed"
_RESULTS = "machine time kind method unit_identifier result recipe operator"
_REPAIRS = "machine time unit_identifier result operator component repair"
_MATERIALS = "machine time reel lot part_number location feeder quantity designators"
_FAULTS = "machine code severity occurred cleared description occurrence_id"
_SECTIONS = (
    ("Passes", "passes", _PASSES.split()),
    ("Process data", "process", _PROCESS.split()),
    ("Inspection and test", "results", _RESULTS.split()),
    ("Repairs", "repairs", _REPAIRS.split()),
    ("Materials", "materials", _MATERIALS.split()),
    ("Faults while in a machine", "faults", _FAULTS.split()),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = html.escape(", ".join(map(str, value)) if isinstance(value, list) else str(value))
    return f'<span class="failed">{text}</span>' if text in ("Failed", "Error", "Aborted") else text


def _table(rows: Sequence[Record], columns: Sequence[str]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _board(record: Record) -> str:
    idents = ", ".join(f"{i['kind']} {i['value']}" for i in record.get("identifiers", []))
    parts = [
        f"<section><h2>Board {html.escape(str(record.get('barcode') or record.get('board')))}</h2>",
        _table(
            [{**record, "identifiers": idents}],
            (
                "board",
                "barcode",
                "hermes_id",
                "work_order",
                "batch",
                "first_seen",
                "last_seen",
                "identifiers",
            ),
        ),
    ]
    for title, key, columns in _SECTIONS:
        parts.append(f"<h3>{title}</h3>")
        parts.append(_table(record.get(key, []), columns))
        if key == "process":
            for process in record.get(key, []):
                if process.get("zones"):
                    parts.append(f"<p>zones of {html.escape(str(process.get('machine')))}</p>")
                    parts.append(_table(process["zones"], ("sequence", "name", "peak_c", "setpoint_c")))
        if key == "results":
            defects = [
                {**d, "unit": r.get("unit_identifier")}
                for r in record.get(key, [])
                for d in r.get("defects", [])
            ]
            if defects:
                parts.append(_table(defects, ("unit", "check", "code", "component", "description")))
    parts.append("</section>")
    return "".join(parts)


def board_html(identifier: str, records: Sequence[Record]) -> str:
    """The device history record of every board ``identifier`` names, as one HTML page."""
    title = f"Device history record: {html.escape(identifier)}"
    note = (
        f"<p class='failed'>{html.escape(identifier)} names {len(records)} boards (oldest first).</p>"
        if len(records) > 1
        else ""
    )
    body = "".join(_board(r) for r in records)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body><h1>{title}</h1>{note}{body}</body></html>"
    )


__all__ = ["board_html"]
