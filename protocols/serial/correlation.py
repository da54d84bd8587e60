"""Answers matched to commands by tag, for a command/response protocol whose framing we own.

The peer answers commands in order, each with a frame carrying the command's tag (``ST``
answers ``ST``) or its error tag (``ER`` answers anything; coater.md §4, §6). So the first
frame that carries the tag of the oldest waiting command, or the error tag, is that command's
answer; a waiting command older than the one answered has lost its answer and will never get
one, and a frame that answers nothing waiting (a late answer to a command that already timed
out) is the caller's to drop. Sans-IO: the caller keeps its own token (a future) per command.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


# eq=False: two sends of the same command (a retry) are two entries, told apart by identity.
@dataclass(frozen=True, slots=True, eq=False)
class Pending(Generic[T]):
    """One command waiting for its answer: its tag and the caller's token."""

    tag: str
    token: T


class Correlator(Generic[T]):
    """The commands waiting for an answer, oldest first.

    Args:
        error_tag: the tag of the peer's error frame, which answers any command.
    """

    def __init__(self, error_tag: str) -> None:
        self.error_tag = error_tag
        self._waiting: deque[Pending[T]] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    def __iter__(self) -> Iterator[Pending[T]]:
        """Every command still waiting, oldest first (a snapshot: to fail them when the link closes)."""
        return iter(list(self._waiting))

    def expect(self, tag: str, token: T) -> Pending[T]:
        """Record that a command with ``tag`` was sent (call it before writing the command)."""
        entry = Pending(tag, token)
        self._waiting.append(entry)
        return entry

    def forget(self, entry: Pending[T]) -> None:
        """Stop waiting for ``entry`` (answered, timed out or cancelled); nothing if it is gone."""
        with contextlib.suppress(ValueError):
            self._waiting.remove(entry)

    def answer(self, tag: str) -> tuple[Pending[T] | None, list[Pending[T]]]:
        """Match a received frame with ``tag`` to the command it answers.

        Returns:
            ``(answered, skipped)``: the command the frame answers (None: it answers nothing
            waiting), and the older commands that lost their answer. Both are no longer waiting.
        """
        skipped: list[Pending[T]] = []
        while self._waiting:
            entry = self._waiting.popleft()
            if tag == entry.tag or tag == self.error_tag:
                return entry, skipped
            skipped.append(entry)
        return None, skipped


__all__ = ["Correlator", "Pending"]
