"""The read plan covers every point once, within the protocol's per-request limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.modbus import DataType, Point, ReadPlan, Table, encode_point

HR = Table.HOLDING_REGISTERS
IR = Table.INPUT_REGISTERS


def test_adjacent_registers_share_one_request() -> None:
    plan = ReadPlan([Point(f"z{i}", IR, 100 + i, DataType.INT16) for i in range(8)])
    assert [(b.table, b.start, b.count) for b in plan.blocks] == [(IR, 100, 8)]


def test_small_gaps_are_read_through_large_ones_split() -> None:
    plan = ReadPlan([Point("a", HR, 0), Point("b", HR, 5), Point("c", HR, 100)], max_gap=8)
    assert [(b.start, b.count) for b in plan.blocks] == [(0, 6), (100, 1)]
    assert [(b.start, b.count) for b in ReadPlan(plan.points, max_gap=0).blocks] == [(0, 1), (5, 1), (100, 1)]


def test_blocks_never_exceed_125_registers() -> None:
    plan = ReadPlan([Point(f"r{i}", HR, i * 2, DataType.UINT32) for i in range(200)])
    assert all(b.count <= 125 for b in plan.blocks)
    assert sum(b.count for b in plan.blocks) == 400


def test_tables_are_planned_apart() -> None:
    plan = ReadPlan([Point("c", Table.COILS, 0, DataType.BOOL), Point("h", HR, 0), Point("i", IR, 0)])
    assert {b.table for b in plan.blocks} == {Table.COILS, HR, IR}


def test_decode_maps_answers_to_names() -> None:
    points = [
        Point("speed", HR, 0, DataType.UINT16, scale=0.1),
        Point("o2", HR, 1, DataType.FLOAT32),
        Point("ready", HR, 4, DataType.BOOL, bit=0),
    ]
    plan = ReadPlan(points)
    words = [805, *encode_point(points[1], 420.5), 0, 1]
    assert plan.decode([words]) == {"speed": pytest.approx(80.5), "o2": 420.5, "ready": True}


def test_short_answer_is_an_error() -> None:
    plan = ReadPlan([Point("a", HR, 0), Point("b", HR, 3)])
    with pytest.raises(ValueError, match="expected 4 words, got 2"):
        plan.decode([[1, 2]])


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="'a' appears twice"):
        ReadPlan([Point("a", HR, 0), Point("a", HR, 1)])


points_strategy = st.lists(
    st.builds(
        lambda address, dt, table: Point(f"p{address}_{dt.value}_{table.value}", table, address, dt),
        st.integers(0, 2000),
        st.sampled_from([DataType.UINT16, DataType.INT32, DataType.FLOAT64]),
        st.sampled_from([HR, IR]),
    ),
    max_size=120,
    unique_by=lambda p: p.name,
)


@given(points_strategy, st.integers(0, 20), st.integers(4, 125))
def test_every_point_is_covered_once_within_limits(points: list[Point], gap: int, limit: int) -> None:
    plan = ReadPlan(points, max_gap=gap, max_registers=limit)
    covered = [p.name for b in plan.blocks for p, _ in b.slices]
    assert sorted(covered) == sorted(p.name for p in points)
    for block in plan.blocks:
        assert 1 <= block.count <= limit
        for point, offset in block.slices:
            assert point.address == block.start + offset
            assert offset + point.count <= block.count


def test_a_block_is_split_at_its_widest_unread_gap() -> None:
    """Splitting cuts where the block reads registers no point needs, and keeps the rest as is."""
    points = [Point("a", HR, 0), Point("b", HR, 1), Point("c", HR, 6), Point("d", HR, 8), Point("e", HR, 50)]
    plan = ReadPlan(points, max_gap=8)
    assert [(b.start, b.count) for b in plan.blocks] == [(0, 9), (50, 1)]
    split = plan.split(0)
    assert split is not None
    assert [(b.start, b.count) for b in split.blocks] == [(0, 2), (6, 3), (50, 1)]
    assert split.decode([[1, 2], [3, 0, 4], [5]]) == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    assert [(b.start, b.count) for b in plan.blocks] == [(0, 9), (50, 1)]  # the old plan stands


def test_a_block_of_one_point_cannot_be_split() -> None:
    plan = ReadPlan([Point("f", IR, 4, DataType.FLOAT32)])
    assert plan.split(0) is None


@given(st.lists(st.integers(0, 300), min_size=2, max_size=30, unique=True))
def test_splitting_ends_at_single_points_and_covers_all(addresses: list[int]) -> None:
    """Splitting every block until none splits leaves one block per point, every point read."""
    plan: ReadPlan | None = ReadPlan([Point(f"p{a}", HR, a) for a in addresses], max_gap=20)
    assert plan is not None
    index = 0
    while index < len(plan.blocks):
        smaller = plan.split(index)
        if smaller is None:
            index += 1
        else:
            plan = smaller
    assert sorted(b.start for b in plan.blocks) == sorted(addresses)
    assert all(b.count == 1 for b in plan.blocks)
