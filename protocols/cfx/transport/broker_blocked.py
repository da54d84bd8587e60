"""The broker's ``connection.blocked`` / ``connection.unblocked`` as the publisher's own log lines.

RabbitMQ blocks every publishing connection while a memory or disk alarm is on anywhere in the
cluster. aiormq learns it from the ``connection.blocked`` frame but only writes a line to its
own (stdlib) log and holds further publishes; it offers no callback. :class:`BlockedWatch` is a
filter on that logger that recognizes the two records about one connection and reports them,
so the publisher can log ``publish.blocked`` (node, the broker's reason) and
``publish.unblocked`` (how long it lasted) in linegate's structured log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: The logger aiormq writes the blocked / unblocked records to.
AIORMQ_LOGGER = "aiormq.connection"
_BLOCKED = "Connection %r was blocked by"
_UNBLOCKED = "Connection %r was unblocked"


class BlockedWatch(logging.Filter):
    """Calls ``on_blocked(reason)`` and ``on_unblocked(seconds)`` for records about ``connection``.

    Install with :meth:`install`, remove with :meth:`remove` (on the link's close).
    """

    def __init__(
        self,
        connection: object,
        on_blocked: Callable[[str], None],
        on_unblocked: Callable[[float], None],
    ) -> None:
        super().__init__()
        self.connection = connection
        self.on_blocked = on_blocked
        self.on_unblocked = on_unblocked
        self.blocked_since: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or not args or args[0] is not self.connection:
            return True
        message = str(record.msg)
        if message.startswith(_BLOCKED):
            if self.blocked_since is None:
                self.blocked_since = time.monotonic()
            self.on_blocked(str(args[1]) if len(args) > 1 else "")
        elif message.startswith(_UNBLOCKED):
            since, self.blocked_since = self.blocked_since, None
            self.on_unblocked(0.0 if since is None else time.monotonic() - since)
        return True  # aiormq's own line stays as it was

    def install(self) -> None:
        logger = logging.getLogger(AIORMQ_LOGGER)
        logger.addFilter(self)
        # The records must be created even when the application quiets aiormq's log.
        if not logger.isEnabledFor(logging.WARNING):
            logger.setLevel(logging.WARNING)

    def remove(self) -> None:
        logging.getLogger(AIORMQ_LOGGER).removeFilter(self)
