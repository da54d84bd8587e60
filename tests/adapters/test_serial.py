"""The serial adapter against the coater simulator, on its pty and over ``socket://``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import AdapterState, CommandError, RecipeInfo, ReconnectPolicy
from adapters.maps import SerialMap, builtin_map
from adapters.observations import (
    CoatingProcessData,
    FaultCleared,
    FaultRaised,
    RecipeActivated,
    Severity,
    StateChanged,
    WorkFinished,
    WorkResult,
    WorkStarted,
)
from adapters.serial import SerialAdapter, decode_payload, encode_payload
from protocols.errors import RemoteProtocolError
from simulators import Board, Coater, FaultSeverity, Handoff, SteppedClock
from tests.adapters.recorder import Recorder, StateHistory, eventually

DEADLINE = 5.0  # real seconds; only bounds a broken test
FAST = ReconnectPolicy(base=0.01, cap=0.05, healthy_after=60.0, liveness_timeout=5.0)


def coater_map(**changes: object) -> SerialMap:
    device_map = builtin_map("coater")
    assert isinstance(device_map, SerialMap)
    quick = dict(timeout=0.5, retries=1, poll_interval=0.2) | changes
    return dataclasses.replace(device_map, **quick)  # type: ignore[arg-type]


# The plugin's virtual_clock (gateway.testing.plugin), stepped: time moves when a test advances it.
pytestmark = pytest.mark.linegate_clock(stepped=True)


@pytest.fixture
async def coater(virtual_clock: SteppedClock) -> AsyncIterator[Coater]:
    """A coater on its pty and TCP (the plugin's ``coater`` fixture has no pty)."""
    async with Coater(clock=virtual_clock, seed=7, board_in=Handoff()) as machine:
        yield machine


async def start(
    url: str, device_map: SerialMap | None = None
) -> tuple[SerialAdapter, Recorder, asyncio.Task[None]]:
    adapter = SerialAdapter("coater1", device_map or coater_map(), url=url, policy=FAST)
    recorder = Recorder()
    task = asyncio.create_task(adapter.run(recorder))
    await adapter.wait_connected(DEADLINE)
    return adapter, recorder, task


@pytest.fixture(params=["pty", "tcp"])
async def running(
    request: pytest.FixtureRequest, coater: Coater
) -> AsyncIterator[tuple[SerialAdapter, Recorder]]:
    url = coater.tty_path if request.param == "pty" else f"socket://127.0.0.1:{coater.tcp_port}"
    assert url is not None
    adapter, recorder, task = await start(url)
    yield adapter, recorder
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_payload_syntax_round_trips() -> None:
    """TAG:K=V;K=V encodes and decodes; separators inside values and a field without '=' are refused."""
    payload = encode_payload("RS", {"NAME": "SILICONE-75", "REV": 2})
    assert payload == b"RS:NAME=SILICONE-75;REV=2"
    assert decode_payload(payload) == ("RS", {"NAME": "SILICONE-75", "REV": "2"})
    assert decode_payload(b"ST") == ("ST", {})
    with pytest.raises(ValueError, match="may not contain"):
        encode_payload("RS", {"NAME": "A;B"})
    with pytest.raises(RemoteProtocolError, match="has no '='"):
        decode_payload(b"ST:STATE")


async def test_status_and_recipes(running: tuple[SerialAdapter, Recorder]) -> None:
    """The status poll reports the state; the recipe commands list and name recipes."""
    adapter, seen = running
    state = await seen.next(StateChanged)
    assert state.state == 2202  # standby, starved: waiting for a board
    assert await adapter.active_recipe() == RecipeInfo("ACRYLIC-50", "1")
    assert await adapter.available_recipes() == [RecipeInfo("ACRYLIC-50"), RecipeInfo("SILICONE-75")]
    # The point browser's view: the status fields the map reads, as last answered.
    points = {p.name: p for p in adapter.points()}
    assert (points["state"].address, points["state"].raw) == ("ST STATE", "2202")
    assert (points["recipe"].address, points["recipe"].value) == ("ST RCP", "ACRYLIC-50")
    assert points["alarms"].raw == "-"


async def test_alarms_and_board_events(
    running: tuple[SerialAdapter, Recorder], coater: Coater, virtual_clock: SteppedClock
) -> None:
    """Unsolicited EV frames become faults, work started/finished and coating measurements."""
    _, seen = running
    await seen.next(StateChanged)
    coater.raise_fault("CC-NOZZLE", "nozzle clogged", FaultSeverity.WARNING)
    raised = await seen.next(FaultRaised)
    assert (raised.code, raised.severity, raised.description) == (
        "CC-NOZZLE",
        Severity.WARNING,
        "nozzle clogged",
    )
    coater.clear_fault("CC-NOZZLE")
    assert (await seen.next(FaultCleared)).code == "CC-NOZZLE"
    board = Board(barcode="CC-0001")
    handoff = coater.board_in
    assert isinstance(handoff, Handoff)
    giver = asyncio.create_task(handoff.give_board(board))
    await virtual_clock.run_until(giver.done, within=60)
    await virtual_clock.run_for(coater.conveyor.transport_time(board) + 1)  # into the coating station
    started = await seen.next(WorkStarted)
    assert (started.board_id, started.barcode, started.recipe) == (board.board_id, "CC-0001", "ACRYLIC-50")
    await virtual_clock.run_until(lambda: coater.boards_done == 1, within=300)
    data = await seen.next(CoatingProcessData)
    assert data.board_id == board.board_id
    assert set(data.measurements) == {"thickness_um", "volume_ml", "pressure_kpa", "cycle_time_s"}
    assert 20 < data.measurements["thickness_um"] < 80
    finished = await seen.next(WorkFinished)
    assert finished.board_id == board.board_id and finished.result in (
        WorkResult.COMPLETED,
        WorkResult.FAILED,
    )


async def test_recipe_activation_succeeds_and_is_refused(coater: Coater, virtual_clock: SteppedClock) -> None:
    """RS is answered at once; the call returns when EV:TYPE=RA announces the end of the changeover."""
    adapter, seen, task = await start(f"socket://127.0.0.1:{coater.tcp_port}")
    try:
        activation = asyncio.create_task(adapter.activate_recipe("SILICONE-75"))
        await asyncio.wait_for(
            virtual_clock.wait_for_sleeper(virtual_clock.now() + coater.changeover_time), DEADLINE
        )
        assert not activation.done()
        await virtual_clock.run_for(coater.changeover_time)
        done = await asyncio.wait_for(activation, DEADLINE)
        assert (done.recipe, done.revision) == ("SILICONE-75", "1")
        # The RA event answered the command; it is not reported again as a change at the machine.
        assert not any(isinstance(o, RecipeActivated) for o in seen.seen)

        coater.recipes.refuse("operator door open")
        with pytest.raises(CommandError, match="operator door open") as refused:
            await adapter.activate_recipe("ACRYLIC-50")
        assert refused.value.refused
        coater.recipes.accept()
        with pytest.raises(CommandError, match="refused") as unknown:
            await adapter.activate_recipe("NO-SUCH-RECIPE")
        assert unknown.value.refused
        coater.raise_fault("CC-PUMP", "pump", FaultSeverity.ERROR)
        with pytest.raises(CommandError, match="alarm active") as busy:
            await adapter.activate_recipe("ACRYLIC-50")
        assert busy.value.refused
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_recipe_activation_times_out(coater: Coater) -> None:
    """A changeover that never ends (the clock stands still) fails after the recipe timeout."""
    adapter, _, task = await start(coater.tty_path or "", coater_map(recipe_timeout=0.3))
    try:
        with pytest.raises(CommandError, match=r"timed out after 0.3 s waiting for SILICONE-75") as err:
            await adapter.activate_recipe("SILICONE-75")
        assert not err.value.refused
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_corrupt_frames_and_garbage_are_retried(
    running: tuple[SerialAdapter, Recorder], coater: Coater
) -> None:
    """A reply with a bad checksum is dropped and the command retried; line noise costs nothing."""
    adapter, _ = running
    coater.send_garbage()
    coater.corrupt_next_checksums(1)
    assert await adapter.available_recipes() == [RecipeInfo("ACRYLIC-50"), RecipeInfo("SILICONE-75")]
    assert adapter.health.connects == 1


async def test_silence_retries_and_cancellation(coater: Coater) -> None:
    """A silent machine fails a command after its retries; a cancelled command leaves nothing pending."""
    quiet_poll = coater_map(poll_interval=60.0)  # keep the status poll out of the way
    adapter, seen, task = await start(f"socket://127.0.0.1:{coater.tcp_port}", quiet_poll)
    try:
        await seen.next(StateChanged)
        link = adapter._link
        assert link is not None
        coater.go_silent()
        with pytest.raises(CommandError, match="no answer after 2 attempts"):
            await adapter.available_recipes()
        asking = asyncio.create_task(adapter.available_recipes())
        await eventually(lambda: any(entry.tag == "RL" for entry in link.pending))
        asking.cancel()
        await asyncio.gather(asking, return_exceptions=True)
        assert not link.pending  # cleaned up in finally
        coater.go_silent(False)
        assert await adapter.active_recipe() == RecipeInfo("ACRYLIC-50", "1")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_silent_machine_is_abandoned_and_retried(
    running: tuple[SerialAdapter, Recorder], coater: Coater
) -> None:
    """The status poll is the heartbeat: when it goes unanswered the session ends and is reopened."""
    adapter, _ = running
    coater.go_silent()
    await eventually(lambda: "no answer after 2 attempts" in (adapter.health.last_error or ""))
    coater.go_silent(False)
    await eventually(lambda: adapter.health.connects >= 2 and adapter._link is not None)
    assert await adapter.active_recipe() == RecipeInfo("ACRYLIC-50", "1")


async def test_dropped_links_reconnect(coater: Coater) -> None:
    """A closed TCP link is reopened; a hung-up pty is reopened under its new path."""
    adapter, seen, task = await start(f"socket://127.0.0.1:{coater.tcp_port}")
    try:
        await seen.next(StateChanged)
        coater.drop_connection()
        await eventually(lambda: adapter.health.connects >= 2)
        assert await adapter.active_recipe() == RecipeInfo("ACRYLIC-50", "1")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    adapter, seen, task = await start(coater.tty_path or "")
    try:
        coater.drop_connection()
        await eventually(lambda: adapter.health.failures >= 1)  # the hang-up ended the session
        adapter.url = coater.tty_path or ""
        await eventually(lambda: adapter.health.connects >= 2 and adapter._link is not None)
        assert await adapter.active_recipe() == RecipeInfo("ACRYLIC-50", "1")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_late_and_split_answers_are_awaited(coater: Coater, virtual_clock: SteppedClock) -> None:
    """An answer delayed within the timeout, or written in pieces, still completes the command."""
    quiet_poll = coater_map(timeout=2.0, poll_interval=60.0)
    adapter, seen, task = await start(f"socket://127.0.0.1:{coater.tcp_port}", quiet_poll)
    try:
        await seen.next(StateChanged)
        coater.delay_responses(0.5)
        asking = asyncio.create_task(adapter.available_recipes())
        await asyncio.wait_for(virtual_clock.wait_for_sleeper(virtual_clock.now() + 0.5), DEADLINE)
        assert not asking.done()
        await virtual_clock.run_for(0.5)
        assert await asyncio.wait_for(asking, DEADLINE) == [
            RecipeInfo("ACRYLIC-50"),
            RecipeInfo("SILICONE-75"),
        ]
        coater.delay_responses(0)
        coater.split_frames(3, 0.1)
        active = asyncio.create_task(adapter.active_recipe())
        for _ in range(2):  # two gaps between three pieces
            await asyncio.wait_for(virtual_clock.wait_for_sleeper(virtual_clock.now() + 0.1), DEADLINE)
            await virtual_clock.run_for(0.1)
        assert await asyncio.wait_for(active, DEADLINE) == RecipeInfo("ACRYLIC-50", "1")
        assert adapter.health.connects == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@given(st.binary(max_size=64))
def test_any_payload_parses_or_is_a_remote_protocol_error(payload: bytes) -> None:
    """Whatever a machine sends, decoding parses it or raises RemoteProtocolError, nothing else."""
    try:
        tag, fields = decode_payload(payload)
    except RemoteProtocolError:
        return
    assert isinstance(tag, str) and all(isinstance(v, str) for v in fields.values())


_KEYS = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=";=:"), min_size=1
)
_VALUES = st.text(alphabet="ABCXYZ0123456789-_. ,", max_size=8)


@given(st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_fields_round_trip(fields: dict[str, str]) -> None:
    """Fields encoded by the adapter decode to the same fields."""
    assert decode_payload(encode_payload("RS", fields)) == ("RS", fields)


async def test_a_silent_machine_is_never_connected(coater: Coater) -> None:
    """An open port with a machine that answers nothing is not a connection; the first answer is."""
    coater.go_silent()
    url = f"socket://127.0.0.1:{coater.tcp_port}"
    adapter = SerialAdapter("coater1", coater_map(timeout=0.1, retries=0), url=url, policy=FAST)
    adapter.health = history = StateHistory()
    task = asyncio.create_task(adapter.run(Recorder()))
    try:
        await eventually(lambda: history.failures >= 3)
        assert AdapterState.CONNECTED not in history.states, history.states
        assert adapter.health.connects == 0
        coater.go_silent(False)
        await adapter.wait_connected(DEADLINE)
        assert adapter.health.connects == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_recipe_changed_while_silent_is_reported_from_the_status(
    coater: Coater, virtual_clock: SteppedClock
) -> None:
    """The RA event of a changeover at the machine is lost while the line is silent; the next
    status answer names the new recipe, and that is reported as RecipeActivated."""
    _, seen, task = await start(f"socket://127.0.0.1:{coater.tcp_port}")
    try:
        await seen.next(StateChanged)
        coater.go_silent()
        switch = asyncio.create_task(coater.activate_recipe("SILICONE-75"))
        await asyncio.wait_for(
            virtual_clock.wait_for_sleeper(virtual_clock.now() + coater.changeover_time), DEADLINE
        )
        await virtual_clock.run_for(coater.changeover_time)
        await switch
        coater.go_silent(False)
        changed = await seen.next(RecipeActivated)
        assert (changed.recipe, changed.revision) == ("SILICONE-75", "1")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
