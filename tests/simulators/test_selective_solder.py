"""The selective solder machine over OPC UA, driven by asyncua's client as selective_solder.md says.

Each server takes about a second to start, so the tests are few and each covers one area.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.crypto import cert_gen
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.uaerrors import UaError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from simulators import Board, Handoff, SteppedClock
from simulators.selective_solder import SelectiveSolder

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

NAMESPACE = "urn:linegate:simulators:selective-solder"  # typed in from the manual
DEADLINE = 5.0  # real seconds; only bounds a broken test


class Events:
    """An asyncua subscription handler that queues event notifications."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def event_notification(self, event: Any) -> None:
        self.queue.put_nowait(event)

    async def next(self) -> Any:
        return await asyncio.wait_for(self.queue.get(), DEADLINE)


async def eventually(read: Callable[[], Awaitable[Any]], expected: Any) -> None:
    """Read until the value is ``expected`` (the server publishes asynchronously), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    value = await read()
    while value != expected:
        assert loop.time() < deadline, f"still {value!r}, expected {expected!r}"
        value = await read()


@pytest.fixture
async def machine(virtual_clock: SteppedClock, handoff: Handoff) -> AsyncIterator[SelectiveSolder]:
    async with SelectiveSolder(clock=virtual_clock, seed=3, board_in=handoff) as simulator:
        yield simulator


@pytest.fixture
async def client(machine: SelectiveSolder) -> AsyncIterator[Client]:
    assert machine.url is not None
    async with Client(machine.url, timeout=2) as connected:
        yield connected


async def node(client: Client, path: str) -> Node:
    idx = await client.get_namespace_index(NAMESPACE)
    return client.get_node(f"ns={idx};s=SelectiveSolder{'.' if path else ''}{path}")


async def value(client: Client, path: str) -> Any:
    return await (await node(client, path)).read_value()


async def test_address_space_warm_up_and_process_values(client: Client, virtual_clock: SteppedClock) -> None:
    """Browse paths match node ids; the machine is in Setup until the pot reaches its setpoint."""
    idx = await client.get_namespace_index(NAMESPACE)
    browsed = await client.nodes.objects.get_child(
        [f"{idx}:SelectiveSolder", f"{idx}:ProcessValues", f"{idx}:SolderPotTemperature"]
    )
    pot = await node(client, "ProcessValues.SolderPotTemperature")
    assert browsed.nodeid == pot.nodeid
    assert await pot.read_data_type_as_variant_type() == ua.VariantType.Double
    assert await value(client, "ActiveProgram") == "PGM-CONN-A"
    assert (await value(client, "State"), await value(client, "StateCode")) == ("Setup", 4500)
    assert await value(client, "Ready") is False
    await virtual_clock.run_for(1800)
    await eventually(lambda: value(client, "Ready"), True)
    assert abs(await pot.read_value() - 280.0) <= 3.0
    assert await value(client, "ProcessValues.SolderPotSetpoint") == 280.0
    assert 100 < await value(client, "ProcessValues.PreheatTemperature") <= 110.5
    assert 3.0 < await value(client, "ProcessValues.WaveHeight") < 4.0
    assert await value(client, "ProcessValues.NitrogenFlow") > 20
    await eventually(lambda: value(client, "StateCode"), 2202)
    assert await value(client, "State") == "WaitingForBoard"


async def test_methods_load_program_and_get_programs(
    client: Client, machine: SelectiveSolder, virtual_clock: SteppedClock
) -> None:
    """GetPrograms lists names; LoadProgram returns the revision, refusals come back as bad status codes."""
    idx = await client.get_namespace_index(NAMESPACE)
    obj = await node(client, "")
    assert await obj.call_method(f"{idx}:GetPrograms") == ["PGM-CONN-A", "PGM-PWR-B"]
    with pytest.raises(ua.uaerrors.BadNotFound):
        await obj.call_method(f"{idx}:LoadProgram", "NO-SUCH-PROGRAM")
    machine.recipes.refuse("pot lid open")
    with pytest.raises(ua.uaerrors.BadInvalidState):
        await obj.call_method(f"{idx}:LoadProgram", "PGM-PWR-B")
    machine.recipes.accept()
    assert await obj.call_method(f"{idx}:LoadProgram", "PGM-PWR-B") == 1
    await virtual_clock.run_for(machine.changeover_time)
    await eventually(lambda: value(client, "ActiveProgram"), "PGM-PWR-B")
    assert await value(client, "ActiveProgramRevision") == 1
    assert await value(client, "ProcessValues.SolderPotSetpoint") == 300.0


async def test_alarm_events_and_board_results(
    client: Client, machine: SelectiveSolder, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """Faults arrive as SolderAlarmEventType events; a board's result as BoardProcessedEventType."""
    idx = await client.get_namespace_index(NAMESPACE)
    alarm_type = await client.nodes.base_event_type.get_child(f"{idx}:SolderAlarmEventType")
    board_type = await client.nodes.base_event_type.get_child(f"{idx}:BoardProcessedEventType")
    events = Events()
    subscription = await client.create_subscription(20, events)
    await subscription.subscribe_events(await node(client, ""), [alarm_type, board_type])
    fault = machine.raise_fault("SS-PUMP", "solder pump overcurrent")
    raised = await events.next()
    assert (raised.AlarmCode, raised.Active, raised.Severity) == ("SS-PUMP", True, 700)
    assert raised.Message.Text == "solder pump overcurrent"
    assert raised.FaultOccurrenceId == str(fault.occurrence_id)
    await eventually(lambda: value(client, "StateCode"), 5000)
    machine.clear_fault("SS-PUMP")
    cleared = await events.next()
    assert (cleared.AlarmCode, cleared.Active) == ("SS-PUMP", False)

    await virtual_clock.run_until(machine.is_ready, within=1800, step=5)
    board = Board(barcode="SS-0001")
    giver = asyncio.create_task(handoff.give_board(board))
    await virtual_clock.run_until(giver.done, within=5)
    await virtual_clock.run_until(lambda: machine.boards_done == 1, within=300)
    done = await events.next()
    assert (done.BoardId, done.Barcode, done.SolderJoints) == (board.board_id, "SS-0001", 48)
    assert done.Result in {"Pass", "Fail"} and done.CycleTime > 30
    await eventually(lambda: value(client, "LastBoard.BoardId"), board.board_id)
    assert await value(client, "BoardsProcessed") == 1


async def test_delayed_silent_and_dropped(
    client: Client, machine: SelectiveSolder, virtual_clock: SteppedClock
) -> None:
    """A delayed method waits for the clock; a silent server times out; a drop is seen by the client."""
    idx = await client.get_namespace_index(NAMESPACE)
    obj = await node(client, "")
    machine.delay_methods(10.0)
    call = asyncio.ensure_future(obj.call_method(f"{idx}:GetPrograms"))
    await asyncio.wait_for(virtual_clock.wait_for_sleeper(virtual_clock.now() + 10.0), DEADLINE)
    await virtual_clock.run_for(9.9)
    assert not call.done()
    await virtual_clock.run_for(0.1)
    assert await call == ["PGM-CONN-A", "PGM-PWR-B"]
    machine.delay_methods(0)

    assert machine.url is not None
    async with Client(machine.url, timeout=0.5) as quick:
        state = await node(quick, "State")
        machine.go_silent()
        with pytest.raises(asyncio.TimeoutError):
            await state.read_value()
        machine.go_silent(False)

    async with Client(machine.url, timeout=2) as second:
        assert await value(second, "ActiveProgram") == "PGM-CONN-A"
        machine.drop_connection()
        with pytest.raises((ConnectionError, asyncio.TimeoutError, UaError)):
            await value(second, "ActiveProgram")


def _client_certificate(directory: Path) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    certificate = cert_gen.generate_self_signed_app_certificate(
        key,
        "linegate test client",
        {},
        [x509.UniformResourceIdentifier("urn:linegate:tests:client")],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    cert_path, key_path = directory / "client.der", directory / "client.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


async def test_basic256sha256(virtual_clock: SteppedClock, tmp_path: Path) -> None:
    """With Basic256Sha256 selected, a Sign&Encrypt client reads; no endpoint without security exists."""
    async with SelectiveSolder(clock=virtual_clock, security_policy="Basic256Sha256") as machine:
        assert machine.url is not None
        secure = Client(machine.url, timeout=2)
        secure.application_uri = "urn:linegate:tests:client"
        cert_path, key_path = _client_certificate(tmp_path)
        await secure.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=str(cert_path),
            private_key=str(key_path),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )
        async with secure:
            assert await value(secure, "ActiveProgram") == "PGM-CONN-A"
        # The server offers no endpoint without security, so a plain client cannot even start.
        with pytest.raises(UaError, match="No matching endpoints"):
            async with Client(machine.url, timeout=2) as plain:
                await value(plain, "ActiveProgram")


def test_unknown_security_policy_is_refused() -> None:
    """Only None and Basic256Sha256 are offered."""
    with pytest.raises(ValueError, match="security_policy"):
        SelectiveSolder(security_policy="Basic128Rsa15")
