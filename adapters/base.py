"""The adapter contract: one machine connection, supervised, reporting observations.

An adapter implements ``_session`` (connect, then read until the connection breaks) and the
recipe commands. ``run`` supervises it: a session that fails is retried after a jittered,
capped exponential backoff that resets once a session has stayed healthy for a while, so a
machine that is down costs no busy loop and one that drops now and then reconnects quickly. A
liveness watchdog ends a session whose peer keeps the socket open but stops answering.

A session is "connected" only once the machine has answered: an adapter whose transport can
open without the machine (a TCP accept by a hung device, a serial port with nothing behind it)
calls ``opened()`` after opening it, and the first ``alive()`` then marks the session
connected. A session that opened its transport and waited on it for a while (the machine hung
but its host is reachable) does not grow the backoff: its own request timeouts already pace
the retries, and a growing backoff would keep a machine that answers again away for many
seconds.

Adapter errors are mapped at the edge onto ``protocols.errors`` (TransportError for the link,
RemoteProtocolError for a peer that breaks its protocol); library exceptions never leave an
adapter.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import structlog

from adapters.observations import Observation, RecipeActivated
from protocols.backoff import full_jitter
from protocols.errors import LinegateError, ProtocolError, TransportError

Emit = Callable[[Observation], Awaitable[None]]


class AdapterState(enum.Enum):
    """Where the adapter's connection stands."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKING_OFF = "backing_off"


class CommandError(LinegateError):
    """A command (activate a recipe, ...) did not take effect; ``reason`` says why, for the response."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused  # the machine said no (vs. it did not answer or did not confirm)


@dataclass(frozen=True, slots=True)
class RecipeInfo:
    """A recipe as the machine names it."""

    name: str
    revision: str | None = None


@dataclass(frozen=True, slots=True)
class PointValue:
    """One mapped point as the machine holds it now, for the point browser.

    ``address`` says where the machine keeps it in its protocol's terms; ``raw`` is what came
    off the wire (Modbus registers, an OPC UA value) and ``value`` what the map makes of it;
    both None until the point was first read.
    """

    name: str
    address: str
    raw: Any
    value: Any
    unit: str | None = None


@dataclass(slots=True)
class Health:
    """What the supervisor knows about the connection, for metrics and the dashboard."""

    state: AdapterState = AdapterState.STOPPED
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    connects: int = 0
    failures: int = 0
    last_error: str | None = None
    last_rtt: float | None = None  # seconds, of the most recent request/response

    def enter(self, state: AdapterState) -> None:
        self.state = state
        self.since = datetime.now(UTC)


@dataclass(slots=True)
class ReconnectPolicy:
    """Backoff between sessions.

    Args:
        base: first delay cap, seconds; each failure doubles it up to ``cap``.
        cap: the largest delay, seconds.
        healthy_after: a session that lasted this long resets the backoff to ``base``.
        liveness_timeout: a session with no sign of life (``Adapter.alive``) this long is ended.
    """

    base: float = 0.5
    cap: float = 30.0
    healthy_after: float = 30.0
    liveness_timeout: float = 15.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, failures: int) -> float:
        """Full-jitter delay after ``failures`` consecutive failed sessions (never below base/4)."""
        return full_jitter(failures, self.base, self.cap, self.rng)


class Adapter(abc.ABC):
    """One machine connection. Subclasses implement ``_session`` and the commands.

    Args:
        machine_id: the machine id from the line config (bound into every log line).
        policy: reconnect and liveness settings.
    """

    protocol: str = "?"
    #: True for an adapter whose machine publishes its own CFX (run with ``forward=``); its
    #: observations then only keep the gateway's view of the machine current.
    passthrough: ClassVar[bool] = False
    #: True when the machine's protocol says when work on a board starts and ends; otherwise the
    #: gateway derives the work from the boards' arrival and departure (Hermes).
    reports_work: ClassVar[bool] = False
    #: False: the protocol tells no machine state (a folder of result files, a scanner's reads);
    #: the gateway derives one from the machine's work (``MachineNormalizer.derive_state``).
    reports_state: ClassVar[bool] = True

    def __init__(self, machine_id: str, *, policy: ReconnectPolicy | None = None) -> None:
        self.machine_id = machine_id
        self.policy = policy or ReconnectPolicy()
        self.health = Health()
        self.log = structlog.get_logger("linegate.adapter").bind(machine=machine_id, protocol=self.protocol)
        self._last_alive = 0.0
        #: loop time of the machine's last answer (``alive``), for the gateway's presence watch
        self.last_answer = 0.0
        self._answered = asyncio.Event()
        self._awaiting_answer = False  # transport open, no answer yet this session
        self._opened_at: float | None = None
        self._connected = asyncio.Event()
        self._rearm = asyncio.Event()  # the liveness timeout changed: the watchdog re-reads it

    # --- what subclasses implement ---------------------------------------------------------

    @abc.abstractmethod
    async def _session(self, emit: Emit) -> None:
        """Connect, call ``self.connected()``, then read and ``emit`` observations until the
        connection breaks (raise TransportError) or the task is cancelled. Call ``self.alive()``
        whenever the peer answers."""

    @abc.abstractmethod
    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        """Activate a recipe and return only after read-back confirms it.

        Raises:
            CommandError: refused, timed out or not confirmed, with the reason.
        """

    @abc.abstractmethod
    async def active_recipe(self) -> RecipeInfo | None:
        """The recipe the machine runs now, read from the machine."""

    @abc.abstractmethod
    async def available_recipes(self) -> list[RecipeInfo]:
        """The recipes the machine can run."""

    def points(self) -> list[PointValue]:
        """Every point the machine's map names, with its latest raw and mapped value (for
        integrators writing a map). Adapters without a point map return none."""
        return []

    # --- helpers for subclasses ------------------------------------------------------------

    @property
    def liveness_timeout(self) -> float:
        """Seconds without a sign of life after which the session is ended (the policy's, unless
        the machine says how often it speaks)."""
        return self.policy.liveness_timeout

    def liveness_changed(self) -> None:
        """Tell the watchdog that :attr:`liveness_timeout` changed (it waits on the old one)."""
        self._rearm.set()

    def alive(self) -> None:
        """Record a sign of life from the peer (feeds the liveness watchdog); the first one
        after ``opened()`` marks the session connected."""
        self._last_alive = self.last_answer = asyncio.get_running_loop().time()
        self._answered.set()
        if self._awaiting_answer:
            self._awaiting_answer = False
            self.connected()

    def opened(self) -> None:
        """The transport is open, but the machine has not answered yet: the session counts as
        connected at its first ``alive()``, not now (a hung device still accepts TCP)."""
        self._opened_at = asyncio.get_running_loop().time()
        self._awaiting_answer = True

    async def wait_answer(self, after: float) -> None:
        """Return once the machine has answered (``alive``) later than loop time ``after``."""
        while self.last_answer <= after:
            self._answered.clear()
            await self._answered.wait()

    @property
    def answer_interval(self) -> float:
        """Seconds between two answers of a healthy machine (its slowest poll or probe); a
        presence grace period must be longer. 0 where the adapter does not poll."""
        return 0.0

    def connected(self) -> None:
        """Mark the session established."""
        self._awaiting_answer = False
        self.health.connects += 1
        self.health.enter(AdapterState.CONNECTED)
        self._connected.set()
        self.alive()
        self.log.info("connect.complete", connects=self.health.connects)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once a session is established."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    # --- supervision -----------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        """Run sessions until cancelled, reconnecting with backoff; never raises TransportError."""
        loop = asyncio.get_running_loop()
        failures = 0
        if not self.last_answer:
            self.last_answer = loop.time()  # silence counts from the start, not from the epoch
        try:
            while True:
                self.health.enter(AdapterState.CONNECTING)
                self.log.info("connect.started")
                started = loop.time()
                self._opened_at = None
                try:
                    await self._watched_session(emit)
                    error = "session ended"
                except (TransportError, ProtocolError, OSError) as exc:
                    # A peer that breaks its protocol ends the session like a dropped link.
                    error = str(exc) or type(exc).__name__
                finally:
                    self._connected.clear()
                    self._awaiting_answer = False
                ended = loop.time()
                if ended - started >= self.policy.healthy_after:
                    failures = 0
                elif self._opened_at is not None and ended - self._opened_at >= self.policy.base:
                    # The transport was up and the session waited on it (timeouts): that wait
                    # paced the retry already. A growing backoff here kept a machine that had
                    # come back from a hang away for 8 to 13 s.
                    failures = 0
                failures += 1
                self.health.failures += 1
                self.health.last_error = error
                delay = self.policy.delay(failures)
                self.health.enter(AdapterState.BACKING_OFF)
                self.log.warning("connect.failed", error=error, retry_in=round(delay, 3), failures=failures)
                await asyncio.sleep(delay)
        finally:
            self.health.enter(AdapterState.STOPPED)

    async def _watched_session(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        self._last_alive = loop.time()
        session = asyncio.create_task(self._session(emit), name=f"adapter[{self.machine_id}].session")
        rearm = asyncio.ensure_future(self._rearm.wait())
        try:
            while not session.done():
                timeout = self.liveness_timeout
                remaining = self._last_alive + timeout - loop.time()
                if remaining <= 0:
                    session.cancel()
                    raise TransportError(f"no answer from the machine for {timeout:g} s")
                if rearm.done():
                    self._rearm.clear()
                    rearm = asyncio.ensure_future(self._rearm.wait())
                await asyncio.wait({session, rearm}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            session.result()
        finally:
            rearm.cancel()
            if not session.done():
                session.cancel()
            # Wait for the session's own cleanup (closing sockets) before reconnecting.
            await asyncio.gather(session, return_exceptions=True)
