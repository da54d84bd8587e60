"""linegate's one exception tree, sorted by what the caller can do about it.

    LinegateError
    ├── TransportError            the link failed (connect, read, write, timeout): reconnect and retry
    │   ├── RequestTimeout        a request got no answer in time
    │   └── ConnectionClosed      the connection closed (by the peer, us, or a failure) before or
    │                             during the call: the one "closed" error; wait for a new session
    ├── ProtocolError             the bytes or messages break a protocol's rules
    │   ├── RemoteProtocolError   the peer broke it: log, tell the peer if the protocol says how, drop it
    │   └── LocalProtocolError    we broke it (a bug, or a wrong call): do not retry the same thing
    └── ConfigError               a configuration is wrong: names the file, the key path and the problem
        └── ConfigErrors          several are: every one, each a ConfigError (``errors``)

``ConnectionClosed`` is the one "closed" error. Older names stay as aliases of it, so code that
catches them keeps working: Hermes ``HermesConnectionClosed`` (a stream's socket is gone) and
``LaneDisconnected`` (a lane's session ended while a handoff step waited on it) *are*
``ConnectionClosed``; ``HermesPeerTooSlow`` (dropped for not finishing a message) and CFX
``PublisherClosed`` (closed before a message was confirmed) are subclasses of it. The AMQP 1.0
publisher and requester fail what is outstanding with it when their connection ends.

Protocol errors carry an optional ``hint``: what the protocol says to send the peer before
closing (for Hermes, the Notification). Libraries' own exceptions are mapped onto this tree at the
edge where they are caught, chained with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any


class LinegateError(Exception):
    """Base class of every error linegate raises on purpose."""


class TransportError(LinegateError):
    """The connection to a peer or broker failed; reconnecting and retrying may succeed."""


class RequestTimeout(TransportError):
    """A request got no answer within its deadline."""


class ConnectionClosed(TransportError):
    """The connection closed (the peer closed it, we did, or it failed) before or during the call.

    Whatever was under way on it did not complete; a reconnecting endpoint starts a new session.
    """


class ProtocolError(LinegateError):
    """Bytes or messages that break a protocol's rules.

    Args:
        message: what is wrong, naming the message and field where known.
        hint: what the protocol says to send the peer before closing, if anything.
    """

    def __init__(self, message: str, *, hint: Any = None) -> None:
        super().__init__(message)
        self.hint = hint


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""


class LocalProtocolError(ProtocolError):
    """We broke the protocol: a wrong call, or a bug."""


class ConfigError(LinegateError):
    """A configuration (file, map, line description) is wrong.

    Args:
        problem: what is wrong.
        path: the file it was read from, if any.
        key: the key path inside the file, dotted (``machines.oven1.port``).
    """

    def __init__(self, problem: str, *, path: str | None = None, key: str | None = None) -> None:
        self.problem = problem
        self.path = path
        self.key = key
        where = ": ".join(part for part in (path, key) if part)
        super().__init__(f"{where}: {problem}" if where else problem)


class ConfigErrors(ConfigError):
    """Several configuration problems, reported together (``linegate check`` lists every one).

    ``path``, ``key`` and ``problem`` are the first error's; the message has one line per error.
    """

    def __init__(self, errors: list[ConfigError] | tuple[ConfigError, ...]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors = tuple(errors)
        first = self.errors[0]
        super().__init__(first.problem, path=first.path, key=first.key)
        self.args = ("\n".join(str(error) for error in self.errors),)

    def __str__(self) -> str:
        return str(self.args[0])


__all__ = [
    "ConfigError",
    "ConfigErrors",
    "ConnectionClosed",
    "LinegateError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestTimeout",
    "TransportError",
]
