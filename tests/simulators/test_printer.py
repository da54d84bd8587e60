"""The solder paste printer, driven by independent CFX peers as printer.md describes it.

Events land on a :class:`CFXListener` standing in for linegate; requests go out through an
SDK-style :class:`CFXRequester`. Time is a stepped clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from protocols.cfx import (
    ActivateRecipeRequest,
    ActivateRecipeResponse,
    CleaningState,
    CleanSqueegeeRequest,
    CleanStencilRequest,
    CleanStencilResponse,
    Envelope,
    FaultCause,
    FaultCleared,
    FaultOccurred,
    GetActiveRecipeRequest,
    GetActiveRecipeResponse,
    ProcessingResult,
    RecipeActivated,
    ResourceState,
    SMTSolderPastePrintingFault,
    SMTSolderPastePrintingFaultType,
    SMTStencilCleanMode,
    SolderPastePrintingPCBProcessData,
    SqueegeeCleaned,
    StationStateChanged,
    StatusResult,
    StencilCleaned,
    UnitsDeparted,
    UnitsProcessed,
    WorkCompleted,
    WorkStarted,
    new_request,
    validate_bytes,
)
from protocols.cfx.transport import CFXListener, CFXRequester
from simulators import Board, Handoff, SteppedClock
from simulators.printer import PASTE_EMPTY, SolderPastePrinter
from tests.simulators.test_placement import CONTROLLER, EVENTS, Inbox, feed

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

HANDLE = "Test.SP700.3"


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    async with CFXListener(event_addresses=[EVENTS]) as listener:
        yield Inbox(listener)


@pytest.fixture
async def printer(
    virtual_clock: SteppedClock, handoff: Handoff, inbox: Inbox
) -> AsyncIterator[SolderPastePrinter]:
    async with SolderPastePrinter(
        handle=HANDLE,
        clock=virtual_clock,
        board_in=handoff,
        publish_uri=inbox.listener.uri,
        publish_address=EVENTS,
        changeover_time=10.0,
        spread=0.0,
        clean_every=3,
        clean_time=15.0,
    ) as machine:
        yield machine


def findings(envelopes: list[Envelope]) -> list[tuple[str, list[str]]]:
    """What the validator finds in each envelope as it came over the wire (none: SDK-clean)."""
    found = []
    for envelope in envelopes:
        assert envelope.data is not None
        problems = validate_bytes(envelope.data)
        if problems:
            found.append((envelope.message_name, problems))
    return found


async def ask(printer: SolderPastePrinter, body: Any) -> Any:
    assert printer.request_uri is not None
    async with CFXRequester(CONTROLLER) as requester:
        request = new_request(body, source=CONTROLLER, target=HANDLE)
        return (await requester.request(printer.request_uri, request, timeout=5.0)).body


async def test_each_print_reports_its_process_data_in_the_boards_transaction(
    printer: SolderPastePrinter, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """WorkStarted, UnitsProcessed(SolderPastePrintingPCBProcessData), WorkCompleted share a TransactionID."""
    boards = [Board(barcode=f"SN-{n}") for n in range(2)]
    feeding = asyncio.create_task(feed(handoff, boards))
    await virtual_clock.run_until(lambda: printer.boards_done == 2, within=600)
    await feeding
    read = await inbox.until(UnitsDeparted, 2)
    flow = [e.body for e in read if isinstance(e.body, WorkStarted | UnitsProcessed | WorkCompleted)]
    assert [type(b) for b in flow] == [WorkStarted, UnitsProcessed, WorkCompleted] * 2
    directions = []
    for n in range(2):
        started, processed, completed = flow[3 * n : 3 * n + 3]
        assert started.transaction_id == processed.transaction_id == completed.transaction_id
        assert started.primary_identifier == f"SN-{n}" and started.recipe_name == "PCB-CTRL-A"
        assert processed.overall_result == ProcessingResult.SUCCEEDED
        data = processed.common_process_data
        assert isinstance(data, SolderPastePrintingPCBProcessData)
        assert data.recipe_name == "PCB-CTRL-A" and data.cycle_time == timedelta(seconds=25)
        [stroke] = data.strokes or []
        assert (stroke.print_speed, stroke.print_pressure) == (60.0, 6.0)
        assert data.separation is not None and data.separation.separation_speed == 2.0
        [cleaning] = data.periodic_cleanings or []
        assert (cleaning.clean_frequency, cleaning.clean_mode) == (3, "W")
        assert data.offset_x is not None and abs(data.offset_x) < 0.1
        directions.append(data.first_print_direction)
    assert directions == ["Forward", "Backward"]  # the squeegee alternates
    # $type on the process data, and nothing the SDK would write differently.
    assert findings(read) == []
    assert b"SolderPastePrintingPCBProcessData, CFX" in next(
        e.data for e in read if isinstance(e.body, UnitsProcessed) and e.data is not None
    )


async def test_stencil_is_cleaned_every_n_boards_in_maintenance_state(
    printer: SolderPastePrinter, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """After the 3rd board leaves: state 4300 for clean_time, StencilCleaned, then production resumes."""
    feeding = asyncio.create_task(feed(handoff, [Board(barcode=f"SN-{n}") for n in range(4)]))
    await virtual_clock.run_until(lambda: printer.cleanings == 1, within=900)
    read = await inbox.until(StencilCleaned, 1)
    cleaned = read[-1].body
    assert isinstance(cleaned, StencilCleaned)
    assert cleaned.stencil is not None and cleaned.stencil.cleaning_state == CleaningState.CLEANED
    assert cleaned.stencil.unique_identifier == "STN-CTRL-A-120"
    assert cleaned.stencil_clean_mode == SMTStencilCleanMode.W
    assert cleaned.cycles_since_last_clean == 3 and cleaned.stencil_clean_time == timedelta(seconds=15)
    states = [e.body.new_state for e in read if isinstance(e.body, StationStateChanged)]
    assert ResourceState("4300") in states
    maintenance = next(
        e
        for e in read
        if isinstance(e.body, StationStateChanged) and e.body.new_state == ResourceState("4300")
    )
    departed_third = [e for e in read if isinstance(e.body, UnitsDeparted)][2]
    assert maintenance.time_stamp >= departed_third.time_stamp
    await virtual_clock.run_until(lambda: printer.boards_done == 4, within=600)
    await feeding
    assert printer.prints_since_clean == 1
    assert findings(inbox.seen) == []


async def test_empty_paste_cartridge_stops_the_printer_until_refilled(
    printer: SolderPastePrinter, inbox: Inbox, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """Paste for one board: the 2nd raises PasteError (DOWN); add_paste clears that same occurrence."""
    printer.paste_grams = 1.0  # PCB-CTRL-A takes 0.8 g per print
    feeding = asyncio.create_task(feed(handoff, [Board(barcode="SN-A"), Board(barcode="SN-B")]))
    await virtual_clock.run_until(lambda: PASTE_EMPTY in printer.faults, within=600)
    occurred = await inbox.next_of(FaultOccurred)
    fault = occurred.body.fault
    assert isinstance(fault, SMTSolderPastePrintingFault)
    assert fault.printing_fault_type == SMTSolderPastePrintingFaultType.PASTE_ERROR
    assert (fault.fault_code, fault.cause) == (PASTE_EMPTY, FaultCause.REFILL)
    assert printer.state.code == 5000
    await virtual_clock.run_for(300)
    assert printer.boards_done == 1
    printer.add_paste()
    cleared = await inbox.next_of(FaultCleared)
    assert cleared.body.fault_occurrence_id == fault.fault_occurrence_id
    await virtual_clock.run_until(lambda: printer.boards_done == 2, within=600)
    await feeding
    assert printer.paste_grams == pytest.approx(1.0 - 0.8 + 500.0 - 0.8)
    assert findings(inbox.seen) == []


async def test_print_programs_are_recipes_and_cleaning_can_be_requested(
    printer: SolderPastePrinter, inbox: Inbox, virtual_clock: SteppedClock
) -> None:
    """ActivateRecipe changes the print program; CleanStencil / CleanSqueegee requests are carried out."""
    refused = await ask(printer, ActivateRecipeRequest(recipe_name="NO-SUCH-PROGRAM"))
    assert isinstance(refused, ActivateRecipeResponse) and refused.result.result == StatusResult.FAILED
    accepted = await ask(printer, ActivateRecipeRequest(recipe_name="PCB-PWR-B"))
    assert isinstance(accepted, ActivateRecipeResponse) and accepted.result.result == StatusResult.SUCCESS
    await virtual_clock.run_for(printer.changeover_time)
    activated = await inbox.next_of(RecipeActivated)
    assert (activated.body.recipe_name, activated.body.expected_cycle_time) == ("PCB-PWR-B", 30000.0)
    active = await ask(printer, GetActiveRecipeRequest())
    assert isinstance(active, GetActiveRecipeResponse) and active.active_recipe_name == "PCB-PWR-B"
    answer = await ask(printer, CleanStencilRequest(clean_type_requested=SMTStencilCleanMode.D))
    assert isinstance(answer, CleanStencilResponse) and answer.result.result == StatusResult.SUCCESS
    busy = await ask(printer, CleanStencilRequest())
    assert busy.result.result == StatusResult.FAILED  # one cleaning at a time
    await virtual_clock.run_for(printer.clean_time)
    cleaned = (await inbox.next_of(StencilCleaned)).body
    assert cleaned.stencil_clean_mode == SMTStencilCleanMode.D
    assert cleaned.stencil.unique_identifier == "STN-PWR-B-150"
    await ask(printer, CleanSqueegeeRequest())
    squeegee = (await inbox.next_of(SqueegeeCleaned)).body
    assert squeegee.squeegee is not None and squeegee.squeegee.cleaning_state == CleaningState.CLEANED
    assert findings(inbox.seen) == []


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="clean_every"):
        SolderPastePrinter(clean_every=-1)
    with pytest.raises(ValueError, match="heartbeat_interval"):
        SolderPastePrinter(heartbeat_interval=0.5)
