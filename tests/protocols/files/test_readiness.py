"""The readiness rules: a result file is read only once the station has finished writing it."""

from __future__ import annotations

import pytest

from protocols.files import FileStat, Readiness, ReadinessTracker, ReadyRule


def test_stable_waits_for_the_same_size_over_n_observations() -> None:
    tracker = ReadinessTracker(Readiness(ReadyRule.STABLE, checks=3))
    assert tracker.observe({"a.xml": FileStat(10, 1)}) == []
    assert tracker.observe({"a.xml": FileStat(20, 2)}) == []  # still growing: count restarts
    assert tracker.observe({"a.xml": FileStat(20, 2)}) == []
    assert tracker.waiting == 1
    assert tracker.observe({"a.xml": FileStat(20, 2)}) == ["a.xml"]


def test_a_retired_file_is_not_ready_again_until_it_changes() -> None:
    tracker = ReadinessTracker(Readiness(ReadyRule.STABLE, checks=2))
    listing = {"a.xml": FileStat(10, 1)}
    tracker.observe(listing)
    assert tracker.observe(listing) == ["a.xml"]
    tracker.done("a.xml", FileStat(10, 1))
    assert tracker.observe(listing) == [] and tracker.observe(listing) == []
    changed = {"a.xml": FileStat(11, 5)}
    tracker.observe(changed)
    assert tracker.observe(changed) == ["a.xml"]


def test_rename_ignores_temporaries_and_hidden_files() -> None:
    tracker = ReadinessTracker(Readiness(ReadyRule.RENAME, suffix=".tmp"))
    listing = {"b.xml.tmp": FileStat(5, 1), ".a.xml": FileStat(5, 1), "a.xml": FileStat(5, 1)}
    assert tracker.observe(listing) == ["a.xml"]


def test_companion_waits_for_the_done_file_and_is_never_a_result_itself() -> None:
    tracker = ReadinessTracker(Readiness(ReadyRule.COMPANION, suffix=".done", pattern=(".xml",)))
    assert tracker.observe({"a.xml": FileStat(5, 1)}) == []
    assert tracker.observe({"a.xml": FileStat(5, 1), "a.done": FileStat(0, 2), "x.log": FileStat(1, 1)}) == [
        "a.xml"
    ]


def test_ready_files_come_oldest_first() -> None:
    tracker = ReadinessTracker(Readiness(ReadyRule.RENAME, suffix=".tmp"))
    assert tracker.observe({"b": FileStat(1, 1), "a": FileStat(1, 2), "c": FileStat(1, 1)}) == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("rule", "kwargs"),
    [(ReadyRule.STABLE, {"checks": 1}), (ReadyRule.RENAME, {}), (ReadyRule.COMPANION, {"suffix": "done"})],
)
def test_a_rule_without_its_parameter_is_refused(rule: ReadyRule, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Readiness(rule, **kwargs)  # type: ignore[arg-type]
