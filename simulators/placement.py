"""SMT placement machine simulator that speaks IPC-CFX natively, over AMQP 1.0 (``placement.md``).

Like real CFX equipment (reference/cfx.md §2), the machine is a CFX endpoint of its own (the
endpoint half is :class:`~simulators.cfx_endpoint.CFXEndpointMachine`, shared with the printer
and the SPI):

- it **publishes** its events to one AMQP 1.0 node: a broker address (``/exchange/cfx`` on
  RabbitMQ) or another endpoint's listener, so it runs with no broker at all. Envelopes go
  through an in-memory spool, one at a time, and leave the spool only when the peer has
  accepted them; a lost connection is retried every ``reconnect_interval`` (the SDK's
  ReconnectInterval, 5 s) and the backlog drains in order (§2.3: at-least-once);
- it **hosts a request listener** for its CFX handle (§2.4): ActivateRecipe, GetActiveRecipe,
  GetAvailableRecipes and AreYouThere are answered, anything else gets NotSupportedResponse.
  The advertised request port is a byte relay in front of a :class:`CFXListener`, so that
  fault injection can act on the wire (go silent with the sockets open, drop connections).

The placement model: a recipe is a list of (reference designator, part number); feeders
(SMDTapeFeeder carriers, one reel each) hold part numbers and quantities, and each board takes
its parts from them. A feeder running empty stops the machine with an ``SMTPlacementFault``
(MissingComponent / PartsExhaust) until :meth:`PlacementMachine.refill` loads a new reel.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import protocols.cfx as cfx
from simulators.cfx_endpoint import CFXEndpointMachine, failed_result
from simulators.clock import Clock
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    Fault,
    FaultCleared,
    FaultSeverity,
    MachineEvent,
    Recipe,
)
from simulators.placement_cfx import primary, recipe_activated, with_identity
from simulators.placement_material import (
    MISSING_COMPONENT_CODE,
    RECIPES,
    Feeder,
    Installed,
    default_feeders,
    installed_materials,
    missing_component,
)

# CFX SDK, ComponentsPlaced: "This sample time window shall not exceed 10 minutes."
MAX_SAMPLE_WINDOW = 600.0
# ActivateRecipeResponse.Result.ResultCode for a missing part (placement.md §4; the other codes
# are simulators.cfx_endpoint's).
RESULT_SETUP = 3


class PlacementMachine(CFXEndpointMachine):
    """A CFX-native SMT placement machine (see ``placement.md``).

    Use it as ``async with PlacementMachine(...) as machine``; then ``machine.request_uri`` is
    its CFX request URI (``RequestNetworkUri``) and ``machine.handle`` its CFX handle.

    Args:
        machine_id: the machine's name.
        handle: the CFX handle (``Vendor.Model.Instance``; reference §2.5).
        clock: the simulated clock.
        seed: random seed for cycle times.
        board_in: where boards come from.
        board_out: where boards go.
        publish_uri: ``amqp://[user:password@]host:port`` of the broker or listener to publish
            to; None publishes nothing.
        publish_address: the AMQP 1.0 target node (``/exchange/cfx``, a listener address).
        gzip: gzip published bodies (the SDK's default codec, reference §2.2).
        host: address the request listener binds.
        port: request listener port (0 = a free one).
        heartbeat_interval: simulated seconds between heartbeats, 1 to 300.
        reconnect_interval: simulated seconds between publish connection attempts.
        changeover_time: simulated seconds of SETUP after an accepted ActivateRecipe.
        spread: coefficient of variation of cycle times (0 = always nominal).
        placement_report_interval: simulated seconds per ComponentsPlaced sample window, up to 600.
        feeders: the feeder setup; the default setup covers the shipped recipes.

    Raises:
        ValueError: ``heartbeat_interval`` outside 1 - 300 s, or a report interval outside 0 - 600 s.
    """

    MODEL = "PX-20"
    FRIENDLY_NAME = "linegate PX-20 placement simulator"

    def __init__(
        self,
        machine_id: str = "placement",
        *,
        handle: str = "Linegate.PX20.1",
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        publish_uri: str | None = None,
        publish_address: str = "/exchange/cfx",
        gzip: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 60.0,
        reconnect_interval: float = 5.0,
        changeover_time: float = 20.0,
        spread: float = 0.05,
        placement_report_interval: float = 60.0,
        feeders: Iterable[Feeder] | None = None,
    ) -> None:
        if not 0 < placement_report_interval <= MAX_SAMPLE_WINDOW:
            raise ValueError(
                f"placement_report_interval must be in (0, 600] s, not {placement_report_interval!r}"
            )
        super().__init__(
            machine_id,
            handle=handle,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            publish_uri=publish_uri,
            publish_address=publish_address,
            gzip=gzip,
            host=host,
            port=port,
            heartbeat_interval=heartbeat_interval,
            reconnect_interval=reconnect_interval,
            changeover_time=changeover_time,
            spread=spread,
            conveyor_length_mm=600.0,
            conveyor_speed_mm_s=190.0,
        )
        self.placement_report_interval = placement_report_interval
        self._placed_in_window = 0
        self.feeders: dict[str, Feeder] = {}
        for feeder in feeders if feeders is not None else default_feeders():
            self.feeders[feeder.slot] = feeder
        for name, cycle, components in RECIPES:
            self.recipes.add(name, cycle_time=cycle, components=components)
        self.recipes.active = self.recipes.get(RECIPES[0][0])
        self._feeders_changed = asyncio.Event()
        self._placement_faults: dict[str, cfx.SMTPlacementFault] = {}  # prepared before raising
        self.subscribe(self._on_placement_event)

    # -- feeders -----------------------------------------------------------------------------

    def load_feeder(self, feeder: Feeder) -> None:
        """Put ``feeder`` (with its reel) into its slot, replacing what was there.

        Publishes MaterialsLoaded, and clears a missing-component fault on that slot.
        """
        self.feeders[feeder.slot] = feeder
        self._feeder_loaded(feeder)

    def refill(self, slot: str, quantity: int | None = None) -> Feeder:
        """Splice a new reel of the same part into feeder ``slot`` (``reel_size`` parts by default).

        Publishes MaterialsLoaded for the new reel, then FaultCleared for the slot's
        missing-component fault if one is active (same FaultOccurrenceId as its FaultOccurred).

        Raises:
            KeyError: no feeder in ``slot``.
        """
        old = self.feeders[slot]
        reel = old.reel_size if quantity is None else quantity
        # An empty reel_id makes the new reel number itself (Feeder.__post_init__).
        feeder = dataclasses.replace(old, quantity=reel, reel_id="", reels_loaded=old.reels_loaded + 1)
        self.feeders[slot] = feeder
        self._feeder_loaded(feeder)
        return feeder

    def _feeder_loaded(self, feeder: Feeder) -> None:
        # reference §3.5: there is no FeederLoaded; loading is MaterialsLoaded (package in a carrier).
        self.publish(cfx.MaterialsLoaded(materials=[feeder.location()]), self.clock.wall())
        self.clear_fault(f"{MISSING_COMPONENT_CODE}-{feeder.slot}")
        self._feeders_changed.set()

    def _feeder_for(self, part_number: str) -> Feeder | None:
        # Slot order: the first feeder holding the part with parts left (placement.md §6).
        ready = (self.feeders[slot] for slot in sorted(self.feeders))
        return next((f for f in ready if f.part_number == part_number and f.quantity > 0), None)

    def missing_parts(self, recipe: Recipe) -> list[str]:
        """Part numbers ``recipe`` needs that no feeder holds (empty reels count as held)."""
        loaded = {f.part_number for f in self.feeders.values()}
        return sorted({part for _, part in recipe.parameters.get("components", ()) if part not in loaded})

    # -- placing -----------------------------------------------------------------------------

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Place the active recipe's components, part by part, taking them from the feeders.

        A part with no loaded reel left raises the slot's missing-component fault and waits for
        a refill; the board stays in the machine. Publishes MaterialsInstalled for the board
        before the core reports WorkCompleted.
        """
        recipe = self.recipes.active
        components: Sequence[tuple[str, str]] = recipe.parameters.get("components", ()) if recipe else ()
        by_part: dict[str, list[tuple[int, str]]] = {}
        for step, (designator, part) in enumerate(components, start=1):
            by_part.setdefault(part, []).append((step, designator))
        installed: list[Installed] = []
        for part, steps in by_part.items():
            remaining = list(steps)
            while remaining:
                feeder = await self._wait_for_part(part, remaining[0], board)
                take = min(len(remaining), feeder.quantity)
                placing, remaining = remaining[:take], remaining[take:]
                feeder.quantity -= take
                # Placement time is shared out by component count.
                await self.clock.sleep(cycle_time * take / len(components))
                self._placed_in_window += take
                now = self.clock.wall()
                installed.append(
                    Installed(feeder, feeder.reel_id, feeder.quantity, [(d, now) for _, d in placing])
                )
        if not components:
            await self.clock.sleep(cycle_time)
        self._publish_installed(board, installed)
        return True, {"components_placed": len(components), "cycle_time_s": round(cycle_time, 2)}

    async def _wait_for_part(self, part: str, step: tuple[int, str], board: Board) -> Feeder:
        code: str | None = None
        while (feeder := self._feeder_for(part)) is None:
            slot = next((s for s in sorted(self.feeders) if self.feeders[s].part_number == part), "none")
            code = f"{MISSING_COMPONENT_CODE}-{slot}"
            if code not in self.faults:
                transaction = self.transaction.transaction_id if self.transaction else None
                missing = missing_component(self.feeders.get(slot), part, step, primary(board), transaction)
                self._placement_faults[code] = missing
                self.raise_fault(code, f"parts exhausted: {part} in feeder {slot}", FaultSeverity.ERROR)
            self._feeders_changed.clear()
            await self._feeders_changed.wait()
        if code is not None:
            self.clear_fault(code)  # a reel of the part turned up elsewhere than in the empty slot
        return feeder

    def _publish_installed(self, board: Board, installed: list[Installed]) -> None:
        materials = installed_materials(primary(board), installed)
        now = self.clock.wall()
        transaction = self.transaction.transaction_id if self.transaction else cfx.NIL_UUID
        self.publish(cfx.MaterialsInstalled(transaction_id=transaction, installed_materials=materials), now)

    async def _report_placements(self) -> None:
        # CFX ComponentsPlaced: sent periodically, for a sample window of at most 10 minutes; a
        # window in which nothing was placed is not reported.
        window_start = self.clock.wall()
        while True:
            await self.clock.sleep(self.placement_report_interval)
            now, placed = self.clock.wall(), self._placed_in_window
            if placed:
                self._placed_in_window = 0
                self.publish(
                    cfx.ComponentsPlaced(
                        start_time=window_start,
                        end_time=now,
                        total_components_placed=placed,
                        total_components_not_placed=0,
                    ),
                    now,
                )
            window_start = now

    # -- the CFX endpoint's hooks -------------------------------------------------------------

    def _on_placement_event(self, event: MachineEvent) -> None:
        if isinstance(event, FaultCleared):
            # A missing-component fault reset by hand: the waiting board checks its feeders again.
            self._feeders_changed.set()

    def cfx_fault(self, fault: Fault, severity: cfx.FaultSeverity) -> cfx.AnyFault:
        """The SMTPlacementFault prepared for a missing component, else a plain Fault."""
        prepared = self._placement_faults.pop(fault.code, None)
        if prepared is not None:
            return with_identity(prepared, fault, severity)
        return super().cfx_fault(fault, severity)

    def cfx_recipe_activated(self, recipe: Recipe) -> cfx.RecipeActivated:
        """RecipeActivated with the program's components per unit."""
        return recipe_activated(recipe)

    def check_activation(self, recipe: Recipe) -> cfx.RequestResult | None:
        """Refuse a program whose parts no feeder holds (ResultCode 3)."""
        missing = self.missing_parts(recipe)
        if missing:
            return failed_result(RESULT_SETUP, f"setup incomplete, no feeder for: {', '.join(missing)}")
        return None

    def start_cfx_tasks(self) -> None:
        """Report ComponentsPlaced per sample window."""
        self.start_task(self._report_placements(), "components-placed")


__all__ = ["MISSING_COMPONENT_CODE", "Feeder", "PlacementMachine"]
