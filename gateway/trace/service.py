"""The trace service inside the gateway: the store fed from the gateway's own events, and the
interlocks enforced where machines ask.

:class:`TraceService` is an outbox sink (``name = "trace"``): every envelope the gateway
commits reaches the store at least once, in order, while the broker may be down; the ingest is
idempotent on UniqueID. While the store is unavailable the sink fails and the outbox keeps the
events (``gateway.sinks.base.drain`` retries).

It is also the interlock: :meth:`TraceService.decide` reads the board's history from the store
and applies :func:`gateway.trace.control.decide`. It is asked

- by a CFX machine's ``ValidateUnitsRequest`` to the line's control handle (``[trace] handle``),
  answered as an MES would (:meth:`validate_units`);
- by a machine's Hermes vertical channel, whose QueryWorkOrderInfo about a refused board is
  answered with ``FailedBoard = 2`` (:meth:`plan_for`);
- by a Hermes bridge before it offers a board downstream (:meth:`bridge_check`).

Before deciding it waits (at most ``fresh_timeout``) until the events committed before the
decision reached the store (not those that keep coming), so an inspection result published a
moment ago counts. A refusal publishes a CFX ``FaultOccurred`` (cause QualityCheck, fault code
``INTERLOCK.<rule>``, the reason as description) from the refusing machine's handle, cleared by
``FaultCleared`` when that machine next lets a board pass; the same board refused there again by
the same rule while that fault is open (a bridge asks every ``retry_delay``) is that refusal
still, not a new one. The last refusals show in :meth:`status` (``GET /api/control``). If the
store cannot be read the decision fails closed (rule ``trace-store-unavailable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from gateway.trace.control import STORE_RULE, ControlConfig, Decision, Hold, decide, resolve
from gateway.trace.holds import active_holds, board_history, place_hold, release_hold
from gateway.trace.ingest import TraceSettings, ingest
from gateway.trace.queries import iso
from gateway.trace.store import Store, StoreError, now_us
from protocols.cfx import CFXDecodeError, Envelope, decode_envelope
from protocols.cfx.messages import (
    FaultCleared,
    FaultOccurred,
    RequestResult,
    ValidateUnitsRequest,
    ValidateUnitsResponse,
    ValidationResult,
)
from protocols.cfx.messages.base import CFXMessage
from protocols.cfx.messages.enums import FaultCause, FaultSeverity, StatusResult, ValidationStatus
from protocols.cfx.messages.structures import Fault, UnitInfo, UnitPosition
from protocols.errors import TransportError

if TYPE_CHECKING:
    from adapters.hermes_bridge import BoardCheck
    from adapters.hermes_supervisory import WorkOrder, WorkOrderPlan, WorkOrderQuery
    from gateway.outbox import Outbox, StoredEvent
    from protocols.hermes.messages import BoardAvailable

log = structlog.get_logger("linegate.trace.control")

#: ValidationResult.FailureCode of a refusal, by what refused.
FAILURE_CODES = {"hold": 1, "route": 2, "time_limit": 3, STORE_RULE: 4, "unknown-machine": 5}
_RECENT = 100


class TraceService:
    """The in-process trace store and interlocks (see the module docstring).

    Args:
        store: an open trace store.
        config: ``[trace]`` and the ``[[interlock]]`` rules (machine ids).
        handles: CFX handle by machine id.
        fresh_timeout: seconds a decision waits for committed events to reach the store.
        settle_timeout: seconds a refusal for a step still open or unseen waits for it (0: none).
    """

    name = "trace"

    def __init__(
        self,
        store: Store,
        config: ControlConfig,
        handles: Mapping[str, str],
        *,
        fresh_timeout: float = 1.0,
        settle_timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.config = config
        self.handles = dict(handles)
        self.by_handle = {handle: machine for machine, handle in handles.items()}
        self.rules = resolve(config.rules, self.handles)
        self._kinds = {rule.name: rule.kind for rule in config.rules}
        self.settings = TraceSettings(liquidus_c=config.liquidus_c, heated_length_mm=config.heated_length_mm)
        self.fresh_timeout = fresh_timeout
        self.settle_timeout = settle_timeout
        #: Set by the gateway's assembly: refusal events go here, and decisions wait on it.
        self.outbox: Outbox | None = None
        self.decisions = 0
        self.refused = 0
        self.ingested = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=_RECENT)
        # The open refusal fault per machine id, and the board and rule it is for.
        self._faults: dict[str, tuple[Fault, tuple[str, ...], str | None]] = {}
        self._through = 0  # the newest outbox sequence number ingested
        self.sources: set[str] = set()  # the CFX handles with an envelope ingested
        self._progress = asyncio.Condition()

    # --- the outbox sink ---------------------------------------------------------------------

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Ingest a batch of the gateway's events (one transaction; an empty batch: nothing).

        Raises:
            TransportError: the store failed; the outbox offers the batch again.
        """
        if not batch:
            return
        envelopes: list[Envelope] = []
        for event in batch:
            try:
                envelopes.append(decode_envelope(event.payload))
            except CFXDecodeError as exc:  # cannot happen for our own events; never block on one
                log.error("trace.sink.malformed", unique_id=event.unique_id, error=str(exc))
        try:
            stats = await self.store.run(lambda: ingest(envelopes, self.settings))
        except StoreError as exc:
            raise TransportError(f"trace store: {exc}") from exc
        self.ingested += stats.stored
        async with self._progress:
            self.sources.update(e.source for e in envelopes if e.source)
            self._through = max(self._through, *(event.seq for event in batch))
            self._progress.notify_all()

    async def wait_sources(self, handles: Iterable[str], timeout: float) -> bool:
        """Wait until an envelope from each of ``handles`` reached the store; False on timeout."""
        wanted = set(handles)
        try:
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(lambda: wanted <= self.sources)
        except TimeoutError:
            log.warning("trace.sources_missing", missing=sorted(wanted - self.sources))
            return False
        return True

    # --- decisions ---------------------------------------------------------------------------

    async def _fresh(self) -> None:
        # The events committed before this decision, not those that keep coming: wait until
        # the sink has ingested through the newest sequence number stored now.
        outbox = self.outbox
        if outbox is None or outbox.depth(self.name) == 0:
            return
        await outbox.flush()
        row = outbox.db.execute("SELECT MAX(seq) FROM events").fetchone()
        target = int(row[0] or 0) if row else 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.fresh_timeout), self._progress:
                await self._progress.wait_for(lambda: self._through >= target or outbox.depth(self.name) == 0)

    async def decide(self, machine_id: str, identifiers: Sequence[str | None], *, via: str) -> Decision:
        """Whether the board named by ``identifiers`` may enter ``machine`` (a machine id).

        A refusal is published as FaultOccurred and logged (``control.refused``).
        """
        await self._fresh()
        named = list(dict.fromkeys(i for i in identifiers if i))
        decision = await self._judge(machine_id, named)
        if decision.pending and self.settle_timeout > 0:
            # The step a route rule needs is open or unseen: its events may still be on their
            # way (a machine's own CFX publisher lags its Hermes handoff). Judge again as the
            # store takes in events, for a while, before refusing.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.settle_timeout
            while decision.pending and (left := deadline - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left), self._progress:
                        await self._progress.wait()
                decision = await self._judge(machine_id, named)
        return self._record(machine_id, named, decision, via, 0.0)

    async def decide_now(self, machine_id: str, identifiers: Sequence[str | None], *, via: str) -> Decision:
        """:meth:`decide` without waiting for events in flight (the benchmark measures this)."""
        started = time.perf_counter()
        named = list(dict.fromkeys(i for i in identifiers if i))
        decision = await self._judge(machine_id, named)
        return self._record(machine_id, named, decision, via, (time.perf_counter() - started) * 1000)

    async def _judge(self, machine_id: str, named: list[str]) -> Decision:
        handle = self.handles.get(machine_id, machine_id)
        try:
            history, holds = await self.store.run(lambda: board_history(named))
            return decide(history, handle, now_us(), self.rules, holds)
        except StoreError as exc:
            log.error("control.store_unavailable", machine=machine_id, board=named, error=str(exc))
            return Decision(False, STORE_RULE, f"the trace store cannot be read: {exc}")

    def _record(self, machine_id: str, named: list[str], decision: Decision, via: str, ms: float) -> Decision:
        self.decisions += 1
        elapsed_ms = round(ms, 3)
        if decision.allowed:
            log.debug("control.allowed", machine=machine_id, board=named, via=via, ms=elapsed_ms)
            self._clear(machine_id)
            return decision
        open_fault = self._faults.get(machine_id)
        if open_fault is not None and open_fault[1:] == (tuple(named), decision.rule):
            # The same board asked about again (a bridge asks every retry_delay) and refused by
            # the same rule: the refusal it already has, not another fault, entry and warning.
            log.debug("control.refused_again", machine=machine_id, board=named, via=via, rule=decision.rule)
            return decision
        self.refused += 1
        log.warning(
            "control.refused",
            machine=machine_id,
            board=named,
            via=via,
            rule=decision.rule,
            reason=decision.reason,
        )
        self.recent.appendleft(
            {
                "time": iso(now_us()),
                "machine": machine_id,
                "board": named[0] if named else None,
                "identifiers": named,
                "via": via,
                **decision.as_json(),
            }
        )
        self._raise_fault(machine_id, named, decision)
        return decision

    def _emit(self, machine_id: str, body: CFXMessage) -> None:
        from gateway.runtime import outbox_item  # the runtime imports the trace package lazily too

        if self.outbox is None or machine_id not in self.handles:
            return
        envelope = Envelope.create(body, source=self.handles[machine_id])
        future = self.outbox.submit(outbox_item(envelope))
        future.add_done_callback(lambda done: None if done.cancelled() else done.exception())

    def _raise_fault(self, machine_id: str, named: Sequence[str], decision: Decision) -> None:
        self._clear(machine_id)
        board = named[0] if named else "(unnamed)"
        fault = Fault(
            cause=FaultCause.QUALITY_CHECK,
            severity=FaultSeverity.WARNING,
            fault_code=f"INTERLOCK.{decision.rule}",
            fault_occurrence_id=uuid.uuid4(),
            description=f"board {board} refused by interlock {decision.rule}: {decision.reason}",
            occurred_at=datetime.now(UTC),
        )
        self._faults[machine_id] = (fault, tuple(named), decision.rule)
        self._emit(machine_id, FaultOccurred(fault=fault))

    def _clear(self, machine_id: str) -> None:
        open_fault = self._faults.pop(machine_id, None)
        if open_fault is not None:
            self._emit(machine_id, FaultCleared(fault_occurrence_id=open_fault[0].fault_occurrence_id))

    def active_faults(self, machine_id: str) -> list[Fault]:
        """The interlock fault open at ``machine`` (a machine id), if any: ``/api/line`` lists it
        with the machine's own faults, so a dashboard opened after the refusal shows it too."""
        open_fault = self._faults.get(machine_id)
        return [open_fault[0]] if open_fault is not None else []

    # --- where machines ask ------------------------------------------------------------------

    async def validate_units(self, request: Envelope) -> CFXMessage | None:
        """Answer a ValidateUnitsRequest for the machine that sent it (its Source); None for any
        other request (the listener answers NotSupported)."""
        body = request.body
        if not isinstance(body, ValidateUnitsRequest):
            return None
        # (identifier, position) of each unit; an unmodelled unit structure names none.
        units = [
            (u.unit_identifier, u.position_number)
            for u in body.units or ()
            if isinstance(u, UnitPosition | UnitInfo) and u.unit_identifier
        ]
        identifiers = [body.primary_identifier, body.hermes_identifier, *(uid for uid, _ in units)]
        machine = self.by_handle.get(request.source or "")
        if machine is None:
            log.warning("control.unknown_requester", source=request.source, board=body.primary_identifier)
            decision = Decision(False, "unknown-machine", f"{request.source!r} is not a machine of this line")
        else:
            decision = await self.decide(machine, identifiers, via="cfx")
        status = ValidationStatus.PASSED if decision.allowed else ValidationStatus.FAILED
        code = 0 if decision.allowed else self._code(decision)
        message = decision.reason if decision.allowed else f"interlock {decision.rule}: {decision.reason}"
        primary = ValidationResult(
            unique_identifier=body.primary_identifier, result=status, failure_code=code, message=message
        )
        return ValidateUnitsResponse(
            result=RequestResult(
                result=StatusResult.SUCCESS if decision.allowed else StatusResult.FAILED,
                result_code=code,
                message=message,
            ),
            primary_result=primary,
            validation_results=[
                ValidationResult(
                    unique_identifier=uid,
                    position_number=position,
                    result=status,
                    failure_code=code,
                    message=message,
                )
                for uid, position in units
            ],
        )

    def _code(self, decision: Decision) -> int:
        rule = decision.rule or ""
        return FAILURE_CODES.get(rule, FAILURE_CODES.get(self._kinds.get(rule, ""), 9))

    def plan_for(self, machine_id: str, inner: WorkOrderPlan | None) -> WorkOrderPlan:
        """A Hermes work-order plan for ``machine``: a refused board gets ``FailedBoard = 2``;
        any other goes on to ``inner`` (the changeover gate, or nothing planned)."""
        from adapters.hermes_supervisory import WorkOrder
        from protocols.hermes.enums import BoardQuality

        async def plan(query: WorkOrderQuery) -> WorkOrder | None:
            decision = await self.decide(machine_id, [query.barcode, query.board_id], via="hermes-vertical")
            if not decision.allowed:
                return WorkOrder(
                    work_order_id=query.work_order_id,
                    batch_id=query.batch_id,
                    barcode=query.barcode,
                    failed_board=BoardQuality.FAILED,
                )
            return await inner(query) if inner is not None else None

        return plan

    def bridge_check(self, downstream: str) -> BoardCheck:
        """A Hermes bridge's check before it offers a board to ``downstream`` (a machine id)."""

        async def check(board: BoardAvailable) -> str | None:
            barcode = board.top_barcode or board.bottom_barcode
            decision = await self.decide(downstream, [barcode, board.board_id], via="hermes-bridge")
            return None if decision.allowed else f"interlock {decision.rule}: {decision.reason}"

        return check

    def attach(self, trackers: Mapping[str, Iterable[object]], bridges: Mapping[str, str]) -> list[str]:
        """Enforce at every Hermes vertical channel and at the bridges with a downstream machine
        (``bridges``: downstream machine id by bridged machine id); returns where."""
        from adapters.hermes_bridge import BridgeAdapter
        from adapters.hermes_supervisory import HermesSupervisoryAdapter

        where: list[str] = []
        for machine, adapters in trackers.items():
            for adapter in adapters:
                if isinstance(adapter, HermesSupervisoryAdapter):
                    adapter.work_orders = self.plan_for(machine, adapter.work_orders)
                    where.append(f"{machine}:vertical")
                elif isinstance(adapter, BridgeAdapter) and machine in bridges:
                    adapter.admit = self.bridge_check(bridges[machine])
                    where.append(f"{machine}:bridge->{bridges[machine]}")
        return where

    # --- holds and status --------------------------------------------------------------------

    async def hold(self, kind: str, value: str, reason: str | None, by: str | None) -> tuple[Hold, bool]:
        """Put a board, reel or lot on hold (``gateway.trace.holds.place_hold``)."""
        return await self.store.run(lambda: place_hold(kind, value, reason, by))

    async def release(self, kind: str, value: str, by: str | None) -> list[Hold]:
        """Release a hold (``gateway.trace.holds.release_hold``)."""
        return await self.store.run(lambda: release_hold(kind, value, by))

    async def holds(self) -> list[Hold]:
        """The active holds."""
        return await self.store.run(active_holds)

    def status(self) -> dict[str, Any]:
        """Rules, counters and the last refusals, for ``GET /api/control`` and the dashboard."""
        return {
            "handle": self.config.handle,
            "rules": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "machine": r.machine,
                    "after": r.after,
                    "results": sorted(r.results),
                    "within_s": r.within_s,
                }
                for r in self.config.rules
            ],
            "decisions": self.decisions,
            "refused": self.refused,
            "ingested": self.ingested,
            "refusals": list(self.recent),
        }


__all__ = ["FAILURE_CODES", "TraceService"]
