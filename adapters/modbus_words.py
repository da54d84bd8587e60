"""Pure helpers of the Modbus adapter's poll and write paths: which words changed, which writes join.

A poll group keeps the words of its previous poll and, per word, the points that word belongs
to, so a changed word leads straight to the points to decode again; a recipe step's writes are
encoded and joined into one request per run of adjacent addresses. No pymodbus, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.base import CommandError
from adapters.modbus_map import NUMBER, ModbusStep
from protocols.modbus import Point, ReadBlock, ReadPlan, Table, decode_point, encode_point
from protocols.modbus.registermap import Value


@dataclass(slots=True)
class GroupWords:
    """One poll group: its interval, its read plan, and the words each block read last time."""

    interval: float
    plan: ReadPlan
    last: list[list[int] | None]  # per block: the words of the previous poll
    # per block, per word offset: the (point, offset, count) slices that word belongs to, so a
    # changed word leads straight to the points to decode again
    cover: list[list[list[tuple[Point, int, int]]]]


def block_cover(block: ReadBlock) -> list[list[tuple[Point, int, int]]]:
    """Per word of ``block``: the (point, offset, count) slices that word belongs to."""
    cover: list[list[tuple[Point, int, int]]] = [[] for _ in range(block.count)]
    for point, offset in block.slices:
        for i in range(offset, offset + point.count):
            cover[i].append((point, offset, point.count))
    return cover


def same_value(old: object, new: Value) -> bool:
    """Whether a point's value is unchanged (two NaNs are the same value)."""
    # NaN != NaN: a float point that reads NaN (a failed sensor) would count as changed
    # whenever its words are read again; every NaN is one value here.
    if isinstance(new, float) and isinstance(old, float) and math.isnan(new) and math.isnan(old):
        return True
    return old == new


def changed_points(
    cover: list[list[tuple[Point, int, int]]], words: list[int], last: list[int]
) -> Iterable[tuple[str, Value]]:
    """Decode only the points whose words differ from the last poll."""
    touched: dict[str, tuple[Point, int, int]] = {}
    for i, (new, old) in enumerate(zip(words, last, strict=False)):
        if new != old:
            for entry in cover[i]:
                touched[entry[0].name] = entry
    return [(name, decode_point(p, words[o : o + n])) for name, (p, o, n) in touched.items()]


def describe_step(step: ModbusStep, number: int) -> str:
    """What a recipe activation step is doing, for an error message (recipe ``number``)."""
    if step.kind == "write":
        return "writing " + ", ".join(f"{k}={number if v == NUMBER else v}" for k, v in step.values.items())
    if step.kind == "pulse":
        return f"pulsing {step.point}"
    until = ", ".join(str(number if v == NUMBER else v) for v in step.until)
    return f"waiting for {step.point} to read {until}"


def write_runs(points: Sequence[tuple[Point, Any]]) -> list[tuple[Table, int, list[int]]]:
    """Encode the values and join adjacent addresses of one table into one write each."""
    cells: dict[Table, dict[int, int]] = {}
    for point, value in points:
        if not point.table.writable:
            raise CommandError(f"{point.name} is in {point.table.value}, which cannot be written")
        words = encode_point(point, value)
        for offset, word in enumerate(words):
            cells.setdefault(point.table, {})[point.address + offset] = word
    runs: list[tuple[Table, int, list[int]]] = []
    for table, by_address in cells.items():
        for address in sorted(by_address):
            if runs and runs[-1][0] is table and runs[-1][1] + len(runs[-1][2]) == address:
                runs[-1][2].append(by_address[address])
            else:
                runs.append((table, address, [by_address[address]]))
    return runs


def describe_point(point: Point) -> str:
    """The point as a manual's register table says it: table, address, how the words are read."""
    parts = [f"{point.table.value} {point.address}", point.data_type.value]
    if point.count > 1 and point.data_type.value not in ("string", "bool"):
        parts.append(f"{point.word_order.value} word first")
    if point.bit is not None:
        parts.append(f"bit {point.bit}")
    if point.scale != 1.0 or point.offset != 0.0:
        parts.append(f"x {point.scale:g}" + (f" + {point.offset:g}" if point.offset else ""))
    return ", ".join(parts)


__all__ = [
    "GroupWords",
    "block_cover",
    "changed_points",
    "describe_point",
    "describe_step",
    "same_value",
    "write_runs",
]
