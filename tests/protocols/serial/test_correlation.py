"""Answers matched to commands by tag (coater.md §4, §6): in order, the error tag answers anything."""

from __future__ import annotations

from protocols.serial import Correlator


def test_an_answer_with_the_commands_tag_answers_it() -> None:
    """``ST`` answers the waiting ``ST``; nothing is skipped and nothing waits afterwards."""
    pending: Correlator[str] = Correlator("ER")
    pending.expect("ST", "first")
    answered, skipped = pending.answer("ST")
    assert answered is not None and (answered.tag, answered.token) == ("ST", "first")
    assert skipped == [] and len(pending) == 0


def test_the_error_tag_answers_the_oldest_command() -> None:
    """``ER`` answers whatever command is oldest."""
    pending: Correlator[int] = Correlator("ER")
    pending.expect("RS", 1)
    pending.expect("ST", 2)
    answered, skipped = pending.answer("ER")
    assert answered is not None and answered.token == 1 and skipped == []
    assert [entry.token for entry in pending] == [2]


def test_older_commands_lose_their_answer() -> None:
    """An answer to a later command means the older ones were never answered: they are skipped."""
    pending: Correlator[int] = Correlator("ER")
    for token, tag in enumerate(("RL", "RQ", "ST")):
        pending.expect(tag, token)
    answered, skipped = pending.answer("ST")
    assert answered is not None and answered.token == 2
    assert [(entry.tag, entry.token) for entry in skipped] == [("RL", 0), ("RQ", 1)]
    assert len(pending) == 0


def test_a_late_answer_answers_nothing() -> None:
    """With nothing waiting, or nothing with that tag, the frame answers nothing; the waiting
    commands it passed are skipped (the peer answers in order, so theirs will not come)."""
    pending: Correlator[int] = Correlator("ER")
    assert pending.answer("ST") == (None, [])
    pending.expect("RL", 7)
    answered, skipped = pending.answer("ST")
    assert answered is None and [entry.token for entry in skipped] == [7]


def test_forget_removes_once_and_tolerates_a_gone_entry() -> None:
    """A timed-out command is forgotten in ``finally``; forgetting an answered one does nothing."""
    pending: Correlator[str] = Correlator("ER")
    first = pending.expect("ST", "a")
    second = pending.expect("ST", "b")
    pending.forget(first)
    pending.forget(first)
    assert list(pending) == [second]
    answered, _ = pending.answer("ST")
    pending.forget(second)
    assert answered == second and len(pending) == 0


def test_two_commands_with_the_same_tag_are_told_apart() -> None:
    """Entries are distinct even when tag and token are equal (a retry of the same command)."""
    pending: Correlator[None] = Correlator("ER")
    first = pending.expect("ST", None)
    second = pending.expect("ST", None)
    pending.forget(second)
    assert len(pending) == 1 and next(iter(pending)) is first
