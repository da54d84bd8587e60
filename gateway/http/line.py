"""The line at a glance: what ``/api/line`` returns and what the dashboard first draws.

Most of it is read from the running gateway when asked (the normalizer knows each machine's
state, active faults, active recipe and the boards in process; the adapter's ``Health`` knows
the link). What the normalizer does not keep — which boards are inside each machine between
UnitsArrived and UnitsDeparted, and the last reflow profile — ``LineTracker`` follows from the
normalized event stream (the SSE sink feeds it).
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from gateway.http.shift import CATEGORIES, ShiftTracker
from gateway.outbox import StoredEvent
from protocols.cfx.enums import ResourceState

if TYPE_CHECKING:  # the runtime imports nothing of the HTTP package; this is only for types
    from gateway.runtime import Gateway, MachineRuntime
    from protocols.cfx.messages.structures import Fault

# Keep the dashboard's view bounded even if a machine never reports UnitsDeparted.
MAX_BOARDS_PER_MACHINE = 64
#: Reflow profiles kept per oven, one per board, newest last (the dashboard's board picker).
MAX_PROFILES_PER_OVEN = 100

_ARRIVED = "CFX.Production.UnitsArrived"
_DEPARTED = "CFX.Production.UnitsDeparted"
_PROCESSED = "CFX.Production.Processing.UnitsProcessed"
_REFLOW = "CFX.Structures.SolderReflow.ReflowProcessData"


def state_view(state: ResourceState | None, since: datetime | None) -> dict[str, Any]:
    """A ResourceState as JSON: code, enum name, E10 category, since (None when never reported)."""
    if state is None:
        return {"code": None, "name": "unknown", "category": "unknown", "since": None}
    return {
        "code": state.value,
        "name": state.name,
        "category": CATEGORIES.get(state.value[:1], "unknown"),
        "since": since.isoformat() if since else None,
    }


def reflow_profile(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The zones of a UnitsProcessed body that carries ReflowProcessData, or None.

    Each zone: sequence number, name, top/bottom setpoint and reading (°C, None when absent).
    The whole-oven pseudo zone (StageSequence 0, O2 only) becomes ``o2_ppm``.
    """
    data = body.get("CommonProcessData")
    if not isinstance(data, Mapping) or not str(data.get("$type", "")).startswith(_REFLOW):
        return None
    zones: list[dict[str, Any]] = []
    o2: float | None = None
    for entry in data.get("ZoneData") or []:
        zone = entry.get("Zone") or {}
        values: dict[str, float | None] = {
            "setpoint_top": None,
            "setpoint_bottom": None,
            "actual_top": None,
            "actual_bottom": None,
        }
        for sp in entry.get("Setpoints") or []:
            if sp.get("SetpointType") == "Temperature" and sp.get("SubZone") in ("Top", "Bottom"):
                values[f"setpoint_{sp['SubZone'].lower()}"] = sp.get("Setpoint")
        for reading in entry.get("Readings") or []:
            if reading.get("ReadingType") == "O2":
                o2 = reading.get("ReadingValue")
            elif reading.get("ReadingType") == "Temperature" and reading.get("SubZone") in ("Top", "Bottom"):
                values[f"actual_{reading['SubZone'].lower()}"] = reading.get("ReadingValue")
        if any(v is not None for v in values.values()):
            zones.append({"zone": zone.get("StageSequence"), "name": zone.get("StageName"), **values})
    zones.sort(key=lambda z: z["zone"] or 0)
    return {"zones": zones, "conveyor_speed": data.get("ConveyorSpeed"), "o2_ppm": o2}


class LineTracker:
    """Follows the event stream for what the normalizer does not keep: boards inside each machine
    and each oven's last reflow profile."""

    def __init__(self) -> None:
        #: Shift figures and the alarm history, fed from the same stream.
        self.shift = ShiftTracker(time.time())
        self.boards: dict[str, collections.OrderedDict[str, dict[str, Any]]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        #: Per oven: the profiles of its recent boards, by board (BoardId, else barcode).
        self.board_profiles: dict[str, collections.OrderedDict[str, dict[str, Any]]] = {}
        self.departed: collections.Counter[str] = collections.Counter()

    def feed(self, event: StoredEvent) -> None:
        """Update the view from one stored envelope (other message names cost no parsing)."""
        self.shift.feed(event)
        if event.message_name not in (_ARRIVED, _DEPARTED, _PROCESSED):
            return
        envelope = orjson.loads(event.payload)
        body = envelope.get("MessageBody") or {}
        source = event.source
        if event.message_name == _PROCESSED:
            profile = reflow_profile(body)
            if profile is not None:
                profile["time"] = envelope.get("TimeStamp")
                profile["transaction_id"] = body.get("TransactionId")
                self.profiles[source] = profile
                self._keep_board_profile(source, body, profile)
            return
        key = body.get("HermesIdentifier") or body.get("PrimaryIdentifier")
        if not key:
            return
        inside = self.boards.setdefault(source, collections.OrderedDict())
        if event.message_name == _ARRIVED:
            inside[key] = {
                "board_id": body.get("HermesIdentifier"),
                "barcode": body.get("PrimaryIdentifier"),
                "lane": body.get("Lane"),
                "since": envelope.get("TimeStamp"),
            }
            while len(inside) > MAX_BOARDS_PER_MACHINE:
                inside.popitem(last=False)
        else:
            inside.pop(key, None)
            self.departed[source] += 1

    def _keep_board_profile(self, source: str, body: Mapping[str, Any], profile: dict[str, Any]) -> None:
        # Each board's own profile, so a supervisor can look at the zones a given board saw.
        key = _unit_of(body) or str(profile.get("transaction_id") or profile.get("time"))
        kept = self.board_profiles.setdefault(source, collections.OrderedDict())
        kept.pop(key, None)
        kept[key] = {**profile, "board": key}
        while len(kept) > MAX_PROFILES_PER_OVEN:
            kept.popitem(last=False)


def _unit_of(body: Mapping[str, Any]) -> str | None:
    """The board a UnitsProcessed is about: its first unit's identifier (the gateway writes the
    barcode there, or the Hermes BoardId when the board has no barcode)."""
    units = body.get("UnitProcessData") or []
    first = units[0] if units and isinstance(units[0], Mapping) else {}
    unit = first.get("UnitIdentifier")
    return str(unit) if unit else None


def machine_view(
    runtime: MachineRuntime,
    tracker: LineTracker,
    crashes: int,
    product: str | None = None,
    now: float | None = None,
    interlock: Sequence[Fault] = (),
) -> dict[str, Any]:
    """One machine as ``/api/line`` shows it; ``product``: the product its active recipe is for;
    ``interlock``: the interlock refusal fault open there (raised by the trace service, not by
    the machine), listed with the machine's own faults."""
    normalizer = runtime.normalizer
    health = runtime.adapter.health
    recipe = normalizer.active_recipe
    return {
        "id": runtime.machine_id,
        "handle": runtime.handle,
        "protocol": runtime.adapter.protocol,
        "link": {
            "state": health.state.value,
            "since": health.since.isoformat(),
            "connects": health.connects,
            "failures": health.failures,
            "last_error": health.last_error,
            "last_rtt_ms": None if health.last_rtt is None else round(health.last_rtt * 1000, 3),
        },
        "state": state_view(normalizer.state, normalizer.state_since),
        "active_recipe": (
            {"name": recipe.recipe_name, "revision": recipe.revision} if recipe is not None else None
        ),
        "product": product,
        "shift": tracker.shift.machine_view(runtime.handle, time.time() if now is None else now),
        "faults": [
            {
                "code": active.fault.fault_code,
                "severity": active.fault.severity.value,
                "description": active.fault.description,
                "occurrence_id": str(active.fault.fault_occurrence_id),
                "occurred_at": active.fault.occurred_at.isoformat() if active.fault.occurred_at else None,
                "acknowledged_by": active.acknowledged_by,
                "acknowledged_at": active.acknowledged_at.isoformat() if active.acknowledged_at else None,
            }
            for active in normalizer.faults.values()
        ]
        + [
            {
                "code": fault.fault_code,
                "severity": fault.severity.value,
                "description": fault.description,
                "occurrence_id": str(fault.fault_occurrence_id),
                "occurred_at": fault.occurred_at.isoformat() if fault.occurred_at else None,
                "acknowledged_by": None,
                "acknowledged_at": None,
            }
            for fault in interlock
        ],
        "boards_in_process": [
            {"board_id": tx.board_id, "barcode": tx.barcode, "lane": tx.lane}
            for tx in normalizer.transactions.values()
        ],
        "boards_present": list(tracker.boards.get(runtime.handle, {}).values()),
        "boards_departed": tracker.departed[runtime.handle],
        "reflow": tracker.profiles.get(runtime.handle),
        "readings": {
            name: {"value": _json_value(latest.value), "unit": latest.unit, "at": latest.at.isoformat()}
            for name, latest in normalizer.readings.items()
        },
        "observations": runtime.observations,
        "events": runtime.events,
        "crashes": crashes,
    }


def _json_value(value: bool | int | float | str) -> bool | int | float | str | None:
    # JSON has no NaN or infinity: a failed sensor's NaN is shown as no value.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def product_of(gateway: Gateway, runtime: MachineRuntime) -> str | None:
    """The product whose recipe for this machine is the one active on it (None: none, or the
    recipe is shared by several products and does not tell)."""
    recipe = runtime.normalizer.active_recipe
    if recipe is None:
        return None
    matches = [
        product
        for product, recipes in gateway.recipes.products.items()
        if (ref := recipes.get(runtime.machine_id)) is not None
        and ref.name == recipe.recipe_name
        and (ref.revision is None or ref.revision == recipe.revision)
    ]
    return matches[0] if len(matches) == 1 else None


def line_view(gateway: Gateway, tracker: LineTracker, name: str | None = None) -> dict[str, Any]:
    """The whole line, machines in configuration order (left to right on the dashboard)."""
    outbox = gateway.outbox
    now = time.time()
    runtimes = list(gateway.machines.values())
    return {
        "line": name,
        "time": datetime.now(UTC).isoformat(),
        "running": gateway.started.is_set(),
        "machines": [
            machine_view(
                runtime,
                tracker,
                gateway.crashes.get(runtime.machine_id, 0),
                product_of(gateway, runtime),
                now,
                gateway.trace.active_faults(runtime.machine_id) if gateway.trace is not None else (),
            )
            for runtime in runtimes
        ],
        "shift": tracker.shift.line_view([r.handle for r in runtimes], now),
        "changeover": gateway.recipes.changeover_progress,
        "outbox": {
            "depth": outbox.depth(),
            "oldest_age_seconds": round(outbox.oldest_age(time.time()), 3),
            "dropped": outbox.dropped,
            "sinks": {sink: outbox.depth(sink) for sink in outbox.sinks},
        },
    }


__all__ = ["CATEGORIES", "LineTracker", "line_view", "machine_view", "reflow_profile", "state_view"]
