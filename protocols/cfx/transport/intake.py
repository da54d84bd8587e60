"""How much AMQP 1.0 link credit the listener's event links hold; sans-IO.

A CFX publisher (the SDK's publish channel, cfx.md §2.3) drops an envelope from its spool once
our listener has accepted the transfer, so a transfer is settled only after the envelope is
committed to the outbox, and link credit is the brake that keeps a fast machine from filling our
memory: the peer may only send as many transfers as it holds credit for.

:class:`IntakeCredit` is the whole policy, kept apart from proton so that the move of AMQP 1.0
onto proton's engine (no reactor thread) reuses it unchanged. Its one invariant:

    deliveries received and not yet settled + credit granted and not yet used <= window

so the backlog of received-but-uncommitted deliveries never exceeds ``window``, however long the
outbox stalls. Credit comes back only when the consumer settles deliveries (:meth:`settled`),
and is shared out among the open event links in turn, each holding at most ``link_credit``: a
receiver cannot take credit back, so an idle link must not hold the whole window while another
link (a machine that reconnected, a request on an address that also takes events) waits.
"""

from __future__ import annotations

__all__ = ["DEFAULT_WINDOW", "IntakeCredit"]

# Deliveries one listener holds unsettled at most. The SDK's own listener grants 100 credits per
# link (cfx.md §2.4); a group commit of the outbox takes a few milliseconds, so at 5,000
# envelopes/s a window of a few hundred keeps the pipe full while bounding memory to a few MB.
DEFAULT_WINDOW = 500


class IntakeCredit:
    """The credit ledger of one listener's event links.

    Args:
        window: deliveries received-but-unsettled plus credit outstanding, at most.
        link_credit: credit one link holds at most; half the window by default.

    Links are named by any hashable key the caller picks (an int per proton link). Every method
    that can free room returns the grants to make, ``{link: credit to add}``; the caller issues
    them (``link.flow(n)`` in proton) and nothing else.
    """

    def __init__(self, window: int = DEFAULT_WINDOW, link_credit: int | None = None) -> None:
        if window < 1:
            raise ValueError("the intake window must be at least 1")
        self.window = window
        self.link_credit = max(1, window // 2) if link_credit is None else max(1, min(link_credit, window))
        self._credit: dict[int, int] = {}  # per open link: credit granted and not yet used
        self._unsettled = 0
        self._turn = 0  # which link is served first on the next refill (round robin)

    @property
    def backlog(self) -> int:
        """Deliveries received and not yet settled (the intake backlog)."""
        return self._unsettled

    @property
    def outstanding(self) -> int:
        """Credit granted to open links and not yet used."""
        return sum(self._credit.values())

    def opened(self, link: int) -> dict[int, int]:
        """A new event link; returns the grants (its share of what is free)."""
        self._credit.setdefault(link, 0)
        return self._refill()

    def received(self, link: int) -> None:
        """One transfer arrived on ``link`` (it used one credit)."""
        if link in self._credit and self._credit[link] > 0:
            self._credit[link] -= 1
        # A transfer beyond the credit is the peer's fault; it is counted all the same, so the
        # bound holds for what we keep, and no credit is granted until it has been settled.
        self._unsettled += 1

    def settled(self, count: int = 1) -> dict[int, int]:
        """``count`` deliveries were settled (committed, refused, or released); returns the grants."""
        self._unsettled = max(0, self._unsettled - count)
        return self._refill()

    def closed(self, link: int) -> dict[int, int]:
        """``link`` closed: its unused credit is free again for the others.

        Its unsettled deliveries still count until :meth:`settled`: their envelopes may still be
        on their way to the outbox, and the window bounds what we hold, not what the link holds.
        """
        self._credit.pop(link, None)
        return self._refill()

    def _refill(self) -> dict[int, int]:
        free = self.window - self._unsettled - self.outstanding
        links = list(self._credit)
        if free <= 0 or not links:
            return {}
        share = max(1, min(self.link_credit, self.window // len(links)))
        grants: dict[int, int] = {}
        start = self._turn % len(links)
        for link in links[start:] + links[:start]:
            give = min(free, share - self._credit[link])
            if give > 0:
                self._credit[link] += give
                grants[link] = give
                free -= give
            if free == 0:
                break
        self._turn += 1
        return grants
