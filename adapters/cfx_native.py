"""The CFX-native adapter: a machine that already speaks IPC-CFX.

Such a machine publishes its own envelopes and answers CFX requests on its own AMQP 1.0
listener (cfx.md §2.1, §2.4), so the gateway does not normalize it: each envelope is checked
and **passed through**. Events arrive one of two ways (``events=``):

- :class:`BrokerEvents`: the machine publishes to a RabbitMQ topic exchange; we consume a queue
  bound to ``<handle>.#``, the routing keys of its default subject ``<Source>.<MessageName>``
  (cfx.md §2.2), with :class:`~protocols.cfx.transport.CFXSubscriber`;
- :class:`DirectEvents`: the machine publishes straight to an address on our own AMQP 1.0
  listener (the SDK's ``AddListener``, cfx.md §2.1): no broker at all.

**The pass-through API.** ``run(emit, forward=...)`` takes, besides the usual observation
callback, ``forward``: an async callable that receives the accepted envelopes in arrival order,
a batch at a time, and returns once they are committed. Only then is their delivery settled:
on the broker path the subscriber acknowledges when asked for the next one; on the direct path
the listener accepts the batch's transfers (and grants the machine credit for more), so the
machine drops from its spool only what the outbox holds, and one group commit serves a whole
batch. After ``forward`` returns, the adapter ``emit``\\ s the observations the
envelope implies (state, faults, boards, work, recipe): they keep the gateway's view of the
machine current (interlocks count boards in process, the dashboard shows state and recipe), but
they describe envelopes that were already forwarded. ``CFXNativeAdapter.passthrough`` is True
to say so: the gateway must not publish what its normalizer would make of them.

**What is forwarded.** The bytes the machine sent, unchanged (``Envelope.data``): a relay
changes nothing. An envelope is refused (logged as ``envelope.rejected`` and counted in
:attr:`PassthroughStats.rejected`, never forwarded) when its Source is not the machine's handle,
when it is a request or response rather than an event, or when it lacks a UniqueID or TimeStamp
(the lenient reader fills in zeros and DateTime.MinValue). Where it departs from what the CFX SDK
writes (the rules of ``linegate cfx check``), it is forwarded all the same and the findings are
logged as ``envelope.findings`` and counted in :attr:`PassthroughStats.findings`. A MessageName
outside linegate's catalogue is forwarded as received unless ``forward_unknown=False`` (cfx.md
§4: the SDK still delivers it). Deliveries that do not decode at all are dropped by the transport
and counted in :attr:`PassthroughStats.malformed`; redeliveries (same UniqueID, cfx.md §2.3) are
dropped once.

**Commands** are CFX requests to the machine's listener at ``request_uri`` (cfx.md §2.4):
ActivateRecipeRequest, then read-back with GetActiveRecipeRequest until it shows the recipe;
GetActiveRecipeRequest and GetAvailableRecipesRequest for the queries. Each command opens its
own requester, so a session that is being restarted does not cut a changeover short.

**Liveness.** Every envelope is a sign of life. When the machine has been quiet for a third of
the liveness timeout, the session asks ``CFX.AreYouThereRequest``; any answer is a sign of life,
and a machine that answers nothing is ended by the base class's watchdog and reconnected. The
timeout follows the machine: twice the ``HeartbeatFrequency`` of its last ``CFX.Heartbeat``
(before the first, the SDK's default of 1 min, cfx.md §2.6), so one lost heartbeat is
tolerated and two are not; ``liveness_timeout=`` (the machine's ``connection.liveness_timeout``
in the line config) fixes it instead.

**Delivery.** At least once on both paths: a delivery is acknowledged (settled) only after
``forward`` returned, and what was received but not committed when a session ends is released
to the machine, which sends it again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from adapters.base import Adapter, CommandError, Emit, RecipeInfo, ReconnectPolicy
from adapters.cfx_view import MachineView
from adapters.observations import (
    RecipeActivated,
)
from protocols import cfx
from protocols.cfx import Envelope, RawMessage, validate_bytes, validate_envelope
from protocols.cfx.enums import StatusResult
from protocols.cfx.messages import CFXMessage
from protocols.cfx.transport import (
    DEFAULT_WINDOW,
    CFXListener,
    CFXRequester,
    CFXSubscriber,
    MalformedMessage,
    ServerSecurity,
    TLSFiles,
)
from protocols.errors import ConfigError, ProtocolError, RequestTimeout, TransportError

__all__ = [
    "BrokerEvents",
    "CFXNativeAdapter",
    "DirectEvents",
    "Forward",
    "MachineView",
    "PassthroughStats",
]

Forward = Callable[[Sequence[Envelope]], Awaitable[None]]
"""Receives the machine's accepted envelopes, in order, a batch at a time; returns once they are
committed (only then are they acknowledged to the machine)."""

_Response = TypeVar("_Response", bound=CFXMessage)

# How many recent UniqueIDs are remembered to drop redeliveries (cfx.md §2.3: at-least-once,
# consumers de-duplicate on UniqueID). A broker redelivers at most the prefetch window (256).
DEDUP_WINDOW = 1024

# Rules of the output validator that an unknown message breaks by being unknown (cfx.md §4).
_UNKNOWN_RULES = frozenset({"message-unknown", "type-missing"})

# Pause between read-backs while a machine switches recipes after accepting the request.
CONFIRM_INTERVAL = 0.2

# Envelopes forwarded (one outbox group commit) per batch at most, on the direct path.
BATCH = 256

# cfx.md §2.6: an SDK endpoint announces a Heartbeat every HeartbeatFrequency, 1 min by default.
SDK_HEARTBEAT = 60.0
# The liveness timeout is this many announced heartbeat periods: one lost heartbeat is tolerated.
HEARTBEAT_PERIODS = 2.0


@dataclass(frozen=True, slots=True)
class BrokerEvents:
    """Consume the machine's events from a RabbitMQ topic exchange (AMQP 0-9-1).

    Args:
        url: the broker, ``amqp://user:password@host:port/vhost``, or the nodes of a cluster
            (a tuple of such URLs, tried in turn).
        exchange: the topic exchange the machine publishes to.
        queue: our queue; defaults to ``linegate.<handle>``.
        durable: keep the queue (and what the machine sends) while the gateway is down.
        ssl_context: TLS for an ``amqps://`` url (the gateway's ``[amqp.tls]``).
    """

    url: str | tuple[str, ...] = "amqp://guest:guest@127.0.0.1:5672/"
    exchange: str = "cfx"
    queue: str | None = None
    durable: bool = True
    ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True, slots=True)
class DirectEvents:
    """Host an AMQP 1.0 listener the machine publishes its events to (no broker).

    Args:
        host: the interface to bind.
        port: the port; 0 picks a free one on the first session and keeps it afterwards
            (see :attr:`CFXNativeAdapter.events_uri`).
        address: the node address the machine's publish channel targets.
        security: TLS and SASL PLAIN for the listener.
        window: transfers received and not yet committed, at most (the link credit window).
    """

    host: str = "0.0.0.0"
    port: int = 0
    address: str = "linegate"
    security: ServerSecurity | None = None
    window: int = DEFAULT_WINDOW


EventSource = BrokerEvents | DirectEvents


@dataclass(slots=True)
class PassthroughStats:
    """Counters of the machine's event stream, for metrics and tests."""

    received: int = 0  # envelopes decoded from the event source
    forwarded: int = 0  # handed to ``forward``
    rejected: int = 0  # decoded, but not this machine's event (not forwarded)
    findings: int = 0  # forwarded as received, though not as the CFX SDK writes it
    duplicates: int = 0  # UniqueIDs seen before (not forwarded)
    malformed: int = 0  # deliveries that did not decode (dropped by the transport)


def _refused(result: cfx.RequestResult | None) -> bool:
    # An answer without a Result (the SDK's constructors leave it null) refuses nothing.
    return result is not None and result.result is StatusResult.FAILED


def _result_text(result: cfx.RequestResult | None, what: str) -> str:
    # The machine's own words first: they are what an operator can act on (cfx.md §3.1).
    if result is None:
        return f"{what} (no Result given)"
    message = (result.message or "").strip()
    return f"{what}: {message}" if message else f"{what} ({result.result.value}, code {result.result_code})"


class CFXNativeAdapter(Adapter):
    """A machine that publishes CFX itself and answers CFX requests.

    Args:
        machine_id: the machine id from the line config.
        handle: the machine's CFX handle (the Source of its envelopes, the Target of requests).
        events: where its events arrive: :class:`BrokerEvents` or :class:`DirectEvents`.
        request_uri: the machine's request listener, ``amqp[s]://host:port`` (cfx.md §2.4);
            None if it takes no requests (no commands, no AreYouThere probing).
        our_handle: the CFX handle we send requests as.
        request_timeout: seconds to wait for each response (the SDK default is 30).
        confirm_timeout: seconds the read-back may take to show an activated recipe.
        lane: the Lane put into recipe requests (None: the whole station).
        stage: the Stage name put into recipe requests.
        forward_unknown: forward MessageNames outside linegate's catalogue (cfx.md §4).
        gzip_requests: gzip request bodies, as the SDK does by default (cfx.md §2.2).
        tls: trust anchors for an ``amqps://`` request URI.
        liveness_timeout: seconds of silence that end a session; None follows the machine's
            announced HeartbeatFrequency (see the module docstring).
        policy: reconnect settings (its liveness timeout is not used, see ``liveness_timeout``).
    """

    protocol = "cfx"
    reports_work = True  # the machine says when work on a board starts and ends
    #: Observations of this adapter describe envelopes already forwarded: do not publish them.
    passthrough: ClassVar[bool] = True

    def __init__(
        self,
        machine_id: str,
        *,
        handle: str,
        events: EventSource,
        request_uri: str | None = None,
        our_handle: str = "linegate",
        request_timeout: float = 10.0,
        confirm_timeout: float = 10.0,
        lane: int | None = None,
        stage: str | None = None,
        forward_unknown: bool = True,
        gzip_requests: bool = True,
        tls: TLSFiles | None = None,
        liveness_timeout: float | None = None,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        super().__init__(machine_id, policy=policy)
        if liveness_timeout is not None and not liveness_timeout > 0:
            raise ConfigError(
                "must be a positive number of seconds",
                key=f"machines.{machine_id}.connection.liveness_timeout",
            )
        self.fixed_liveness = liveness_timeout
        self.heartbeat_frequency = SDK_HEARTBEAT  # as last announced by the machine
        if not handle:
            raise ConfigError(
                "a CFX-native machine needs its CFX handle", key=f"machines.{machine_id}.handle"
            )
        self.handle = handle
        self.events = events
        self.request_uri = request_uri
        self.our_handle = our_handle
        self.request_timeout = request_timeout
        self.confirm_timeout = confirm_timeout
        self.lane = lane
        self.stage = stage
        self.forward_unknown = forward_unknown
        self.gzip_requests = gzip_requests
        self.tls = tls
        self.view = MachineView(machine_id)
        self.log = self.log.bind(handle=handle)
        self._stats = PassthroughStats()
        self._forward: Forward | None = None
        self._listener: CFXListener | None = None
        self._listener_malformed = 0
        self._listen_port = events.port if isinstance(events, DirectEvents) else 0
        self._recent: collections.deque[str] = collections.deque(maxlen=DEDUP_WINDOW)
        self._recent_set: set[str] = set()
        self._last_heard = 0.0

    # --- public surface ----------------------------------------------------------------------

    @property
    def stats(self) -> PassthroughStats:
        """The stream's counters (``malformed`` includes what the listener dropped so far)."""
        self._sync_malformed()
        return self._stats

    @property
    def events_uri(self) -> str | None:
        """With :class:`DirectEvents`: the URI the machine's publish channel should use, once bound."""
        if not isinstance(self.events, DirectEvents) or not self._listen_port:
            return None
        return f"amqp://{self.events.host}:{self._listen_port}"

    async def run(self, emit: Emit, *, forward: Forward | None = None) -> None:
        """Run sessions until cancelled (see :meth:`Adapter.run`), passing envelopes to ``forward``.

        Args:
            emit: receives the observations derived from the envelopes (the gateway's view).
            forward: receives every accepted envelope, in order, before its observations.

        Raises:
            ConfigError: no ``forward`` was given: the machine's stream would be lost.
        """
        if forward is None:
            raise ConfigError(
                "a CFX-native adapter passes envelopes through: run it with forward=...",
                key=f"machines.{self.machine_id}",
            )
        self._forward = forward
        try:
            await super().run(emit)
        finally:
            self._forward = None

    # --- the session -------------------------------------------------------------------------

    async def _session(self, emit: Emit) -> None:
        forward = self._forward
        assert forward is not None, "use run(emit, forward=...)"
        async with contextlib.AsyncExitStack() as stack:
            source = await self._open_events(stack)
            requester = None
            if self.request_uri is not None:
                requester = await stack.enter_async_context(
                    CFXRequester(self.our_handle, gzip=self.gzip_requests, tls=self.tls)
                )
            self.connected()
            self._heard()
            if requester is not None:
                probe = asyncio.create_task(self._probe(requester), name=f"adapter[{self.handle}].probe")
                stack.push_async_callback(_cancel, probe)
            if isinstance(source, CFXListener):
                while batch := await source.receive(BATCH):
                    await self._accept(batch.envelopes, emit, forward)
                    # Committed (or deliberately dropped): now, and only now, the machine may
                    # forget them, and gets credit for as many more.
                    source.settle(batch)
            else:
                # The subscriber acknowledges each delivery when asked for the next one.
                async for envelope in source:
                    await self._accept([envelope], emit, forward)
        raise TransportError("the CFX event source closed")

    async def _open_events(self, stack: contextlib.AsyncExitStack) -> CFXListener | CFXSubscriber:
        events = self.events
        if isinstance(events, BrokerEvents):
            subscriber = CFXSubscriber(
                events.url,
                queue=events.queue or f"linegate.{self.handle}",
                # cfx.md §2.2: the routing key is the subject "<Source>.<MessageName>".
                bindings=(f"{self.handle}.#",),
                exchange=events.exchange,
                durable=events.durable,
                on_malformed=self._on_malformed,
                ssl_context=events.ssl_context,
            )
            return await stack.enter_async_context(subscriber)
        listener = CFXListener(
            events.host,
            self._listen_port,
            event_addresses=(events.address,),
            security=events.security,
            intake_window=events.window,
        )
        try:
            await stack.enter_async_context(listener)
        except OSError as exc:
            raise TransportError(f"cannot listen on {events.host}:{self._listen_port}: {exc}") from exc
        # Keep the port: the machine's publish channel is configured with it.
        self._listen_port = listener.port
        self._listener, self._listener_malformed = listener, 0
        stack.callback(self._drop_listener)
        return listener

    @property
    def intake_backlog(self) -> int:
        """Envelopes' transfers received from the machine and not yet committed (direct path)."""
        listener = self._listener
        return listener.backlog if listener is not None else 0

    @property
    def liveness_timeout(self) -> float:
        """The configured timeout, else twice the machine's announced HeartbeatFrequency."""
        if self.fixed_liveness is not None:
            return self.fixed_liveness
        return HEARTBEAT_PERIODS * self.heartbeat_frequency

    def _drop_listener(self) -> None:
        self._sync_malformed()
        self._listener = None

    def _sync_malformed(self) -> None:
        listener = self._listener
        if listener is not None and listener.malformed_count > self._listener_malformed:
            self._stats.malformed += listener.malformed_count - self._listener_malformed
            self._listener_malformed = listener.malformed_count

    def _on_malformed(self, report: MalformedMessage) -> None:
        # The subscriber already logged and acknowledged it (cfx.md §2.3); we only count it.
        self._stats.malformed += 1

    async def _accept(self, envelopes: Sequence[Envelope], emit: Emit, forward: Forward) -> None:
        """Check a batch, forward what passes in one commit, then emit the observations."""
        self._heard()
        self._stats.received += len(envelopes)
        passed: list[Envelope] = []
        batch_ids: set[str] = set()
        for envelope in envelopes:
            unique_id = str(envelope.unique_id)
            if self._refused(envelope, unique_id, batch_ids):
                continue
            batch_ids.add(unique_id)
            passed.append(envelope)
        if not passed:
            return
        await forward(passed)
        for envelope in passed:
            self._remember(str(envelope.unique_id))
            self._stats.forwarded += 1
            if isinstance(envelope.body, cfx.Heartbeat):
                self._announced(envelope.body)
            for observation in self.view.observe(envelope):
                await emit(observation)

    def _refused(self, envelope: Envelope, unique_id: str, batch_ids: set[str]) -> bool:
        problems = self.problems(envelope)
        if problems:
            self._stats.rejected += 1
            self.log.warning(
                "envelope.rejected",
                message_name=envelope.message_name,
                unique_id=unique_id,
                source=envelope.source,
                problems=problems[:5],
            )
            return True
        if unique_id in self._recent_set or unique_id in batch_ids:
            self._stats.duplicates += 1
            self.log.debug("envelope.duplicate", message_name=envelope.message_name, unique_id=unique_id)
            return True
        findings = self.findings(envelope)
        if findings:
            # Forwarded all the same, as received: a relay changes nothing (issue 15); the MES
            # owner learns here what `linegate cfx check` would say about the machine's output.
            self._stats.findings += 1
            self.log.warning(
                "envelope.findings",
                message_name=envelope.message_name,
                unique_id=unique_id,
                findings=findings[:5],
                count=len(findings),
            )
        return False

    def _announced(self, heartbeat: cfx.Heartbeat) -> None:
        # cfx.md §2.6: 0 disables the SDK's heartbeat; the SDK's own range is 1 s to 5 min.
        seconds = heartbeat.heartbeat_frequency.total_seconds()
        if seconds >= 1 and seconds != self.heartbeat_frequency:
            self.heartbeat_frequency = seconds
            self.log.info("heartbeat.announced", every=seconds, liveness_timeout=self.liveness_timeout)
            self.liveness_changed()

    def problems(self, envelope: Envelope) -> list[str]:
        """Why ``envelope`` must not be forwarded as this machine's event (empty: forward it).

        These are about what the envelope is, not how it is written: another endpoint's message,
        a request or response, an event without identity or time, or (``forward_unknown=False``) a
        message outside the catalogue. How it is written is ``findings``.
        """
        if envelope.source != self.handle:
            # A queue bound to "<handle>.#" or a shared listener address can carry another
            # endpoint's messages; passing them on under this machine would misattribute them.
            return [f"$.Source: {envelope.source!r} is not this machine's handle {self.handle!r}"]
        if (
            envelope.target is not None
            or envelope.request_id is not None
            or cfx.is_request(envelope.message_name)
            or envelope.message_name.endswith("Response")
        ):
            # cfx.md §1.1: Target and RequestID belong to request/response only, never to events.
            return [f"$: {envelope.message_name} is a request or response, not an event"]
        if envelope.unique_id.int == 0:
            # The lenient reader fills a missing UniqueID with zeros; consumers de-duplicate on
            # it (cfx.md §1.1, §2.3), so every such message would look like the first one.
            return ["$.UniqueID: missing (all zeros)"]
        if envelope.time_stamp.year == 1:
            # A missing TimeStamp reads as DateTime.MinValue: the event's time is unknown (§1.3).
            return ["$.TimeStamp: missing (DateTime.MinValue)"]
        if isinstance(envelope.body, RawMessage) and not self.forward_unknown:
            return [f"$.MessageName: {envelope.message_name!r} is not in linegate's catalogue"]
        return []

    def findings(self, envelope: Envelope) -> list[str]:
        """Where ``envelope`` departs from what the CFX SDK writes (``linegate cfx check``'s rules).

        Checked on the bytes received when a transport kept them (what is forwarded), else on
        the encoding. An unknown message's body cannot be checked, which is not a finding.
        """
        found = validate_bytes(envelope.data) if envelope.data is not None else validate_envelope(envelope)
        tolerated = _UNKNOWN_RULES if isinstance(envelope.body, RawMessage) else frozenset()
        return [str(p) for p in found if p.rule not in tolerated]

    def _remember(self, unique_id: str) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(unique_id)
        self._recent_set.add(unique_id)

    def _heard(self) -> None:
        self._last_heard = asyncio.get_running_loop().time()
        self.alive()

    async def _probe(self, requester: CFXRequester) -> None:
        # Ask only when the machine has been quiet: its own events already prove it is there.
        loop = asyncio.get_running_loop()
        assert self.request_uri is not None
        while True:
            quiet = self.liveness_timeout / 3
            wait = self._last_heard + quiet - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # a timer, not synchronization
                continue
            request = cfx.new_request(
                cfx.AreYouThereRequest(cfx_handle=self.handle), source=self.our_handle, target=self.handle
            )
            started = loop.time()
            try:
                await requester.request(self.request_uri, request, timeout=quiet)
            except (TransportError, ProtocolError) as exc:
                # No sign of life; the base watchdog decides when the session is over. Pause so a
                # refused connection does not turn into a busy loop.
                self.log.info("probe.failed", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(quiet)  # a timer, not synchronization
                continue
            self.health.last_rtt = loop.time() - started
            self._heard()

    # --- commands ----------------------------------------------------------------------------

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        """Send ActivateRecipeRequest, then read back with GetActiveRecipeRequest until it shows ``name``.

        Returns:
            The activation as the read-back reports it (its revision is the machine's).

        Raises:
            CommandError: the machine refused (``refused=True``, with its RequestResult message),
                did not answer in time, or does not report the recipe within ``confirm_timeout``.
        """
        stage = cfx.Stage(stage_name=self.stage) if self.stage else None
        async with self._requester() as requester:
            answer = await self._ask(
                requester,
                cfx.ActivateRecipeRequest(recipe_name=name, revision=revision, lane=self.lane, stage=stage),
                cfx.ActivateRecipeResponse,
            )
            if _refused(answer.result):
                reason = _result_text(answer.result, f"{self.handle} refused recipe {name}")
                self.log.warning("recipe.refused", recipe=name, revision=revision, reason=reason)
                raise CommandError(reason, refused=True)
            active = await self._confirm(requester, name, revision)
        self.log.info("recipe.activated", recipe=active.name, revision=active.revision)
        return RecipeActivated(
            machine_id=self.machine_id,
            at=datetime.now(UTC),
            recipe=active.name,
            revision=active.revision,
            lane=self.lane,
        )

    async def _confirm(self, requester: CFXRequester, name: str, revision: str | None) -> RecipeInfo:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_timeout
        while True:
            active = await self._read_active(requester)
            if active is not None and active.name == name and revision in (None, active.revision):
                return active
            if loop.time() + CONFIRM_INTERVAL > deadline:
                shown = f"{active.name} revision {active.revision}" if active else "no recipe"
                wanted = f"{name} revision {revision}" if revision else name
                raise CommandError(
                    f"{self.handle} accepted {wanted} but reports {shown} active after "
                    f"{self.confirm_timeout:g} s"
                )
            # The machine may switch after answering; poll it, as an operator would look again.
            await asyncio.sleep(CONFIRM_INTERVAL)

    async def active_recipe(self) -> RecipeInfo | None:
        """Ask the machine (GetActiveRecipeRequest) which recipe is active.

        Raises:
            CommandError: no answer, or the machine could not say.
        """
        async with self._requester() as requester:
            return await self._read_active(requester)

    async def _read_active(self, requester: CFXRequester) -> RecipeInfo | None:
        stage = cfx.Stage(stage_name=self.stage) if self.stage else None
        answer = await self._ask(
            requester, cfx.GetActiveRecipeRequest(lane=self.lane, stage=stage), cfx.GetActiveRecipeResponse
        )
        if _refused(answer.result):
            raise CommandError(_result_text(answer.result, f"{self.handle} cannot report its active recipe"))
        if not answer.active_recipe_name:
            return None
        return RecipeInfo(answer.active_recipe_name, answer.active_recipe_revision)

    async def available_recipes(self) -> list[RecipeInfo]:
        """Ask the machine (GetAvailableRecipesRequest) which recipes it holds.

        Raises:
            CommandError: no answer, or the machine refused.
        """
        async with self._requester() as requester:
            answer = await self._ask(
                requester, cfx.GetAvailableRecipesRequest(), cfx.GetAvailableRecipesResponse
            )
        if _refused(answer.result):
            raise CommandError(
                _result_text(answer.result, f"{self.handle} cannot list its recipes"), refused=True
            )
        return [
            RecipeInfo(r.recipe_name, r.revision) for r in answer.recipes or [] if r.recipe_name is not None
        ]

    def _requester(self) -> CFXRequester:
        if self.request_uri is None:
            raise CommandError(f"{self.handle} has no request URI configured", refused=True)
        return CFXRequester(self.our_handle, gzip=self.gzip_requests, tls=self.tls)

    async def _ask(self, requester: CFXRequester, body: CFXMessage, expected: type[_Response]) -> _Response:
        """Send one request and return the expected response body, mapping every failure."""
        assert self.request_uri is not None
        request = cfx.new_request(body, source=self.our_handle, target=self.handle)
        what = request.message_name.rpartition(".")[2]
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await requester.request(self.request_uri, request, timeout=self.request_timeout)
        except RequestTimeout as exc:
            raise CommandError(
                f"{self.handle} did not answer {what} within {self.request_timeout:g} s"
            ) from exc
        except TransportError as exc:
            raise CommandError(f"{self.handle} unreachable for {what}: {exc}") from exc
        except ProtocolError as exc:
            raise CommandError(f"{self.handle} answered {what} with an undecodable response: {exc}") from exc
        self.health.last_rtt = loop.time() - started
        self._heard()
        answer = response.body
        if isinstance(answer, cfx.NotSupportedResponse):
            raise CommandError(
                _result_text(answer.request_result, f"{self.handle} does not support {what}"), refused=True
            )
        if not isinstance(answer, expected):
            raise CommandError(f"{self.handle} answered {what} with {response.message_name}")
        return answer


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
