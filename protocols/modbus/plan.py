"""The read plan: points coalesced into as few read requests as the protocol allows.

Compiled once per connection (as structlog's ``TimeStamper`` decides its format in
``__init__``), so the poll loop only issues the blocks and slices the answers, with no lookups.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols.modbus.registermap import Point, Table, Value, decode_point

# Modbus Application Protocol v1.1b3, §6.3/§6.4: at most 125 registers per Read Holding/Input
# Registers request (the 253-byte PDU); §6.1/§6.2: at most 2000 coils or discrete inputs.
MAX_READ_REGISTERS = 125
MAX_READ_BITS = 2000


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers or bits of ``table`` from ``start``.

    ``slices`` gives, per point, its offset into the block's answer.
    """

    table: Table
    start: int
    count: int
    slices: tuple[tuple[Point, int], ...]

    def decode(self, words: Sequence[int]) -> dict[str, Value]:
        """Every point's value from this block's answer.

        Raises:
            ValueError: the answer is shorter than the block.
        """
        if len(words) < self.count:
            where = f"{self.table.value}@{self.start}"
            raise ValueError(f"{where}: expected {self.count} words, got {len(words)}")
        return {p.name: decode_point(p, words[i : i + p.count]) for p, i in self.slices}


class ReadPlan:
    """The blocks that read every point, each within the protocol's size limit.

    Args:
        points: the points to read.
        max_gap: unread registers a block may span to join two neighbours (reading a few unused
            registers is cheaper than a second round trip; some devices refuse gaps: use 0).
        max_registers, max_bits: per-request limits, lowered for devices that need smaller reads.
    """

    def __init__(
        self,
        points: Iterable[Point],
        *,
        max_gap: int = 8,
        max_registers: int = MAX_READ_REGISTERS,
        max_bits: int = MAX_READ_BITS,
    ) -> None:
        if not 1 <= max_registers <= MAX_READ_REGISTERS:
            raise ValueError(f"max_registers must be 1..{MAX_READ_REGISTERS}")
        if not 1 <= max_bits <= MAX_READ_BITS:
            raise ValueError(f"max_bits must be 1..{MAX_READ_BITS}")
        if max_gap < 0:
            raise ValueError("max_gap must not be negative")
        self.points = tuple(points)
        names = [p.name for p in self.points]
        if len(set(names)) != len(names):
            duplicate = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"point {duplicate!r} appears twice")
        blocks: list[ReadBlock] = []
        for table in Table:
            limit = max_bits if table.is_bits else max_registers
            members = sorted((p for p in self.points if p.table is table), key=lambda p: (p.address, p.count))
            blocks += _coalesce(table, members, limit, max_gap)
        self.blocks: tuple[ReadBlock, ...] = tuple(blocks)

    def split(self, index: int) -> ReadPlan | None:
        """This plan with block ``index`` read as two blocks, cut at its widest unread gap.

        For a device that refuses a block spanning a hole in its map (exception 02): the caller
        splits the failing block and keeps the new plan, so each hole costs one failure once.
        Repeated splits end at blocks of one point (or of points sharing registers).

        Returns:
            The new plan, or None when the block cannot be split.
        """
        halves = split_block(self.blocks[index])
        if halves is None:
            return None
        plan = object.__new__(ReadPlan)
        plan.points = self.points
        plan.blocks = self.blocks[:index] + halves + self.blocks[index + 1 :]
        return plan

    def decode(self, answers: Sequence[Sequence[int]]) -> dict[str, Value]:
        """All values, from one answer per block in ``blocks`` order."""
        if len(answers) != len(self.blocks):
            raise ValueError(f"expected {len(self.blocks)} answers, got {len(answers)}")
        values: dict[str, Value] = {}
        for block, words in zip(self.blocks, answers, strict=True):
            values.update(block.decode(words))
        return values


def _coalesce(table: Table, points: list[Point], limit: int, max_gap: int) -> list[ReadBlock]:
    blocks: list[ReadBlock] = []
    start = end = 0  # end is exclusive
    members: list[Point] = []
    for point in points:
        if point.count > limit:
            raise ValueError(f"{point.name}: {point.count} registers exceed one request ({limit})")
        p_end = point.address + point.count
        if members and point.address - end <= max_gap and max(end, p_end) - start <= limit:
            end = max(end, p_end)
            members.append(point)
            continue
        if members:
            blocks.append(_block(table, start, end, members))
        start, end, members = point.address, p_end, [point]
    if members:
        blocks.append(_block(table, start, end, members))
    return blocks


def split_block(block: ReadBlock) -> tuple[ReadBlock, ReadBlock] | None:
    """``block`` as two blocks, cut at the widest run of unread registers between its points.

    A hole in the device's map is most likely where the block reads registers no point needs;
    among equal gaps the cut nearest the middle keeps repeated splits few. Points that share
    registers stay together. Returns None when there is no place to cut.
    """
    members = sorted((p for p, _ in block.slices), key=lambda p: (p.address, p.count))
    best: tuple[int, int, int] | None = None  # (gap, -distance from the middle, cut)
    end = members[0].address
    for cut in range(1, len(members)):
        end = max(end, members[cut - 1].address + members[cut - 1].count)
        gap = members[cut].address - end
        if gap < 0:
            continue
        key = (gap, -abs(2 * cut - len(members)), cut)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        return None
    first, second = members[: best[2]], members[best[2] :]
    return _members_block(block.table, first), _members_block(block.table, second)


def _members_block(table: Table, members: list[Point]) -> ReadBlock:
    return _block(table, members[0].address, max(p.address + p.count for p in members), members)


def _block(table: Table, start: int, end: int, members: list[Point]) -> ReadBlock:
    return ReadBlock(table, start, end - start, tuple((p, p.address - start) for p in members))
