"""The OPC UA adapter against the selective solder simulator, with the shipped map.

An asyncua server takes about a second to start, so the tests are few and each covers one area.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapters.base import AdapterState, CommandError, RecipeInfo, ReconnectPolicy
from adapters.maps import OpcUaMap, builtin_map, parse_map
from adapters.observations import (
    FaultCleared,
    FaultRaised,
    Reading,
    RecipeActivated,
    SelectiveSolderProcessData,
    Severity,
    StateChanged,
    WorkFinished,
)
from adapters.opcua import OpcUaAdapter, OpcUaSecurity
from protocols.errors import ConfigError
from simulators import Board, FaultSeverity, Handoff, SteppedClock
from simulators.selective_solder import SelectiveSolder
from tests.adapters.recorder import Recorder, eventually

DEADLINE = 8.0  # real seconds; only bounds a broken test
QUICK = ReconnectPolicy(base=0.05, cap=0.2, healthy_after=60.0, liveness_timeout=2.0)


def solder_map(recipe_timeout: float = 2.0) -> OpcUaMap:
    device_map = builtin_map("selective_solder")
    assert isinstance(device_map, OpcUaMap) and device_map.recipes is not None
    return dataclasses.replace(
        device_map, recipes=dataclasses.replace(device_map.recipes, timeout=recipe_timeout)
    )


def make_adapter(url: str, **options: object) -> OpcUaAdapter:
    return OpcUaAdapter(
        "solder1",
        solder_map(),
        url=url,
        request_timeout=1.0,
        probe_interval=0.2,
        policy=QUICK,
        **options,  # type: ignore[arg-type]
    )


# The plugin's virtual_clock (gateway.testing.plugin), stepped: time moves when a test advances it.
pytestmark = pytest.mark.linegate_clock(stepped=True)


@pytest.fixture
async def adapter(selective_solder: SelectiveSolder) -> AsyncIterator[tuple[OpcUaAdapter, Recorder]]:
    assert selective_solder.url is not None
    opcua = make_adapter(selective_solder.url)
    recorder = Recorder()
    task = asyncio.create_task(opcua.run(recorder))
    await opcua.wait_connected(DEADLINE)
    yield opcua, recorder
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_state_alarms_and_board_results(
    adapter: tuple[OpcUaAdapter, Recorder], selective_solder: SelectiveSolder, virtual_clock: SteppedClock
) -> None:
    """Monitored items give state and readings; alarm events give faults; board events give results."""
    _, seen = adapter
    assert (await seen.next(StateChanged)).state == 4500  # Setup: the pot is still cold
    pot = await seen.next(Reading, lambda r: r.name == "pot")
    assert (pot.value, pot.unit) == (25.0, "°C")
    selective_solder.raise_fault("SS-PUMP", "solder pump overcurrent", FaultSeverity.ERROR)
    raised = await seen.next(FaultRaised)
    assert (raised.code, raised.severity, raised.description) == (
        "SS-PUMP",
        Severity.ERROR,
        "solder pump overcurrent",
    )
    assert (await seen.next(StateChanged, lambda s: s.state == 5000)).state == 5000
    selective_solder.clear_fault("SS-PUMP")
    assert (await seen.next(FaultCleared)).code == "SS-PUMP"

    await virtual_clock.run_until(selective_solder.is_ready, within=1800, step=5)
    # The machine samples its process values once a simulated second and the subscription reports
    # in real time: let a few simulated seconds pass at temperature, then wait until the adapter
    # has heard the hot pot, before the board's data is taken from what it heard.
    await virtual_clock.run_for(3)
    await seen.next(
        Reading, lambda r: r.name == "pot" and isinstance(r.value, float) and abs(r.value - 280.0) <= 3.0
    )
    board = Board(barcode="SS-0001")
    handoff = selective_solder.board_in  # the plugin's fixture feeds it through a Handoff
    assert isinstance(handoff, Handoff)
    giver = asyncio.create_task(handoff.give_board(board))
    await virtual_clock.run_until(giver.done, within=5)
    await virtual_clock.run_until(lambda: selective_solder.boards_done == 1, within=300)
    finished = await seen.next(WorkFinished)
    assert (finished.board_id, finished.barcode) == (board.board_id, "SS-0001")
    data = await seen.next(SelectiveSolderProcessData)
    assert data.board_id == board.board_id
    assert data.process_time is not None and data.process_time > 30
    assert data.pot_temperature is not None and abs(data.pot_temperature - 280.0) <= 3.0
    assert data.wave_height is not None and 3.0 < data.wave_height < 4.0


async def test_recipes_by_method_calls(
    adapter: tuple[OpcUaAdapter, Recorder], selective_solder: SelectiveSolder, virtual_clock: SteppedClock
) -> None:
    """GetPrograms lists; LoadProgram activates (confirmed by read-back), refuses or times out."""
    opcua, _ = adapter
    assert await opcua.available_recipes() == [RecipeInfo("PGM-CONN-A"), RecipeInfo("PGM-PWR-B")]
    assert await opcua.active_recipe() == RecipeInfo("PGM-CONN-A", "1")
    with pytest.raises(CommandError, match="no program with that name") as unknown:
        await opcua.activate_recipe("NO-SUCH-PROGRAM")
    assert unknown.value.refused
    selective_solder.recipes.refuse("pot lid open")
    with pytest.raises(CommandError, match="BadInvalidState") as refused:
        await opcua.activate_recipe("PGM-PWR-B")
    assert refused.value.refused
    selective_solder.recipes.accept()
    # The clock stands still, so the changeover never ends: no confirmation in time.
    with pytest.raises(CommandError, match="timed out after 2 s waiting for PGM-PWR-B") as late:
        await opcua.activate_recipe("PGM-PWR-B")
    assert not late.value.refused
    await virtual_clock.run_for(selective_solder.changeover_time)
    activation = asyncio.create_task(opcua.activate_recipe("PGM-CONN-A"))
    await asyncio.wait_for(
        virtual_clock.wait_for_sleeper(virtual_clock.now() + selective_solder.changeover_time), DEADLINE
    )
    await virtual_clock.run_for(selective_solder.changeover_time)
    done = await asyncio.wait_for(activation, DEADLINE)
    assert (done.recipe, done.revision) == ("PGM-CONN-A", "1")
    selective_solder.delay_methods(60.0)  # an answer that never comes within the request timeout
    with pytest.raises(CommandError, match=r"GetPrograms\(\)") as slow:
        await opcua.available_recipes()
    assert not slow.value.refused


async def test_drop_hang_and_restart(virtual_clock: SteppedClock) -> None:
    """After a drop, a hung server and a restarted server the session and subscription come back."""
    first = SelectiveSolder(clock=virtual_clock)
    await first.start()
    assert first.url is not None and first.port is not None
    opcua, seen = make_adapter(first.url), Recorder()
    task = asyncio.create_task(opcua.run(seen))
    second: SelectiveSolder | None = None
    try:
        await opcua.wait_connected(DEADLINE)
        first.drop_connection()
        await eventually(lambda: opcua.health.connects >= 2)
        first.raise_fault("SS-N2", "nitrogen low", FaultSeverity.WARNING)
        assert (await seen.next(FaultRaised, lambda f: f.code == "SS-N2")).severity is Severity.WARNING

        first.go_silent()  # the socket stays open, nothing is answered
        await eventually(lambda: opcua.health.failures >= 2)
        first.go_silent(False)
        await eventually(lambda: opcua.health.connects >= 3)

        await first.stop()
        second = SelectiveSolder(clock=virtual_clock, port=first.port)
        await second.start()
        connects = opcua.health.connects
        await eventually(lambda: opcua.health.connects > connects)
        second.raise_fault("SS-FLUX", "flux empty", FaultSeverity.ALARM)
        assert (await seen.next(FaultRaised, lambda f: f.code == "SS-FLUX")).severity is Severity.ALARM
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if second is not None:
            await second.stop()
        else:
            await first.stop()


def _client_certificate(directory: Path, uri: str) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    certificate = cert_gen.generate_self_signed_app_certificate(
        key,
        "linegate adapter test",
        {},
        [x509.UniformResourceIdentifier(uri)],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    cert_path, key_path = directory / "client.der", directory / "client.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


async def test_basic256sha256_with_a_client_certificate(virtual_clock: SteppedClock, tmp_path: Path) -> None:
    """Basic256Sha256 Sign&Encrypt with the application certificate, as a user or with an X.509 identity."""
    uri = "urn:linegate:tests:adapter"
    certificate, key = _client_certificate(tmp_path, uri)
    security = OpcUaSecurity(certificate=certificate, private_key=key, application_uri=uri)
    # The machine's manual says anonymous; this one also has an operator and takes X.509 identities.
    async with SelectiveSolder(
        clock=virtual_clock,
        security_policy="Basic256Sha256",
        users={"operator": "s3cret"},
        certificate_tokens=True,
    ) as machine:
        assert machine.url is not None
        identities: list[dict[str, object]] = [
            {"username": "operator", "password": "s3cret"},  # the password goes out encrypted
            {"user_certificate": certificate, "user_private_key": key},  # an X.509 identity token
        ]
        for identity in identities:
            opcua, seen = make_adapter(machine.url, security=security, **identity), Recorder()
            task = asyncio.create_task(opcua.run(seen))
            try:
                await opcua.wait_connected(DEADLINE)
                assert (await seen.next(StateChanged)).state == 4500
                assert await opcua.active_recipe() == RecipeInfo("PGM-CONN-A", "1")
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def test_alarms_that_changed_while_the_link_was_down_are_reconciled(
    adapter: tuple[OpcUaAdapter, Recorder], selective_solder: SelectiveSolder
) -> None:
    """An alarm that cleared while the server did not answer is cleared on reconnect, and one
    raised meanwhile is raised: the map's ActiveAlarms node is read on every session."""
    opcua, seen = adapter
    selective_solder.raise_fault("SS-PUMP", "solder pump overcurrent", FaultSeverity.ERROR)
    await seen.next(FaultRaised, lambda f: f.code == "SS-PUMP")
    selective_solder.go_silent()
    await eventually(lambda: opcua.health.failures >= 1)
    mark = len(seen.seen)
    selective_solder.clear_fault("SS-PUMP")
    selective_solder.raise_fault("SS-N2", "nitrogen low", FaultSeverity.WARNING)
    selective_solder.go_silent(False)
    assert (await seen.next(FaultCleared, after=mark)).code == "SS-PUMP"
    raised = await seen.next(FaultRaised, after=mark)
    assert raised.code == "SS-N2"
    assert opcua._faults == {"SS-N2"}


async def test_a_program_changed_at_the_machine_is_reported(
    adapter: tuple[OpcUaAdapter, Recorder], selective_solder: SelectiveSolder, virtual_clock: SteppedClock
) -> None:
    """A program loaded at the machine's own panel becomes RecipeActivated with the revision the
    revision node shows; one the gateway activated is reported by the command, not again."""
    opcua, seen = adapter  # connected: the program it runs now is known (not a change)
    switch = asyncio.create_task(selective_solder.activate_recipe("PGM-PWR-B"))
    await asyncio.wait_for(
        virtual_clock.wait_for_sleeper(virtual_clock.now() + selective_solder.changeover_time), DEADLINE
    )
    await virtual_clock.run_for(selective_solder.changeover_time)
    await switch
    changed = await seen.next(RecipeActivated)
    assert (changed.recipe, changed.revision) == ("PGM-PWR-B", "1")

    mark = len(seen.seen)
    activation = asyncio.create_task(opcua.activate_recipe("PGM-CONN-A"))
    await asyncio.wait_for(
        virtual_clock.wait_for_sleeper(virtual_clock.now() + selective_solder.changeover_time), DEADLINE
    )
    await virtual_clock.run_for(selective_solder.changeover_time)
    done = await asyncio.wait_for(activation, DEADLINE)
    assert (done.recipe, done.revision) == ("PGM-CONN-A", "1")
    # Let the revision node's own notification arrive too, then check nothing was reported.
    await eventually(lambda: opcua._values.get("active_program") == "PGM-CONN-A")
    assert not any(isinstance(o, RecipeActivated) for o in seen.seen[mark:])


async def test_a_wrong_revision_is_refused_before_the_changeover(
    adapter: tuple[OpcUaAdapter, Recorder],
) -> None:
    """LoadProgram announces the revision it will activate; a request for another fails at once
    (the clock stands still, so waiting for the switch would only time out)."""
    opcua, _ = adapter
    with pytest.raises(CommandError, match="announces revision 1, not 7") as wrong:
        await opcua.activate_recipe("PGM-PWR-B", revision="7")
    assert wrong.value.refused


async def test_alarms_of_a_restarted_server_are_reconciled(virtual_clock: SteppedClock) -> None:
    """A server restarted without the alarm that was active before: FaultCleared on reconnect."""
    first = SelectiveSolder(clock=virtual_clock)
    await first.start()
    assert first.url is not None and first.port is not None
    opcua, seen = make_adapter(first.url), Recorder()
    task = asyncio.create_task(opcua.run(seen))
    second: SelectiveSolder | None = None
    try:
        await opcua.wait_connected(DEADLINE)
        first.raise_fault("SS-PUMP", "solder pump overcurrent", FaultSeverity.ERROR)
        await seen.next(FaultRaised, lambda f: f.code == "SS-PUMP")
        await first.stop()
        second = SelectiveSolder(clock=virtual_clock, port=first.port)
        await second.start()
        assert (await seen.next(FaultCleared)).code == "SS-PUMP"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await (second or first).stop()


class _Longest(random.Random):
    """Every jittered delay at its ceiling: the worst case, every time."""

    def uniform(self, a: float, b: float) -> float:
        return b


class _HangingProxy:
    """127.0.0.1:<port> forwarded to the simulator; while ``hung`` it accepts connections and
    passes nothing either way (a server that hangs with its sockets open), all on real sockets."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.hung = False
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.hung:
                await self._pipe(reader, None)
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                up_writer.close()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None) -> None:
        while data := await reader.read(65536):
            if writer is not None and not self.hung:  # hung: swallowed
                writer.write(data)
                await writer.drain()
        if writer is not None:
            writer.close()


async def test_back_within_2_s_after_a_hang(selective_solder: SelectiveSolder) -> None:
    """With the production backoff (0.5 s growing to 30 s, worst jitter draw), a server that
    accepted connections but answered nothing for several sessions is connected within 2 s of
    answering again (the simulator's go_silent mutes only the connections it has, so the hang
    is a proxy in front of it that swallows everything)."""
    assert selective_solder.port is not None
    proxy = _HangingProxy(selective_solder.port)
    await proxy.start()
    policy = ReconnectPolicy(base=0.5, cap=30.0, healthy_after=30.0, liveness_timeout=15.0, rng=_Longest())
    url = f"opc.tcp://127.0.0.1:{proxy.port}/linegate/selective-solder"
    opcua = OpcUaAdapter(
        "solder1", solder_map(), url=url, request_timeout=0.5, probe_interval=0.2, policy=policy
    )
    task = asyncio.create_task(opcua.run(Recorder()))
    try:
        await opcua.wait_connected(DEADLINE)
        proxy.hung = True
        # Hung long enough for the old backoff to reach 4 s; answering again while the adapter
        # waits in it.
        await eventually(
            lambda: opcua.health.failures >= 4 and opcua.health.state is AdapterState.BACKING_OFF,
            deadline=30,
        )
        connects = opcua.health.connects
        loop = asyncio.get_running_loop()
        answering = loop.time()
        proxy.hung = False
        await eventually(lambda: opcua.health.connects > connects, deadline=10)
        back = loop.time() - answering
        print(f"OPC UA back {back:.3f} s after the hang ended")
        assert back <= 2.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await proxy.stop()


NAMESPACE = "urn:linegate:simulators:selective-solder"


async def test_nodes_by_browse_path_and_namespace_uri(selective_solder: SelectiveSolder) -> None:
    """A map may name nodes by browse path from Objects and by namespace URI instead of index:
    the adapter resolves them on connect and reads the same machine."""
    shipped = solder_map()
    nodes = dict(shipped.nodes)
    nodes["machine"] = "/Objects/{" + NAMESPACE + "}SelectiveSolder"
    nodes["state_code"] = f"nsu={NAMESPACE};s=SelectiveSolder.StateCode"
    nodes["pot"] = "/Objects/SelectiveSolder/ProcessValues/SolderPotTemperature"
    assert selective_solder.url is not None
    opcua = OpcUaAdapter(
        "solder1",
        dataclasses.replace(shipped, nodes=nodes),
        url=selective_solder.url,
        request_timeout=1.0,
        policy=QUICK,
    )
    seen = Recorder()
    task = asyncio.create_task(opcua.run(seen))
    try:
        assert (await seen.next(StateChanged)).state == 4500
        pot = await seen.next(Reading, lambda r: r.name == "pot")
        assert (pot.value, pot.unit) == (25.0, "°C")
        selective_solder.raise_fault("SS-PUMP", "solder pump overcurrent", FaultSeverity.ERROR)
        assert (await seen.next(FaultRaised)).code == "SS-PUMP"  # events from the object found by path
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_browse_path_the_server_lacks_is_a_link_error_that_names_it(
    selective_solder: SelectiveSolder,
) -> None:
    nodes = dict(solder_map().nodes)
    nodes["pot"] = "/Objects/SelectiveSolder/ProcessValues/NoSuchNode"
    assert selective_solder.url is not None
    opcua = OpcUaAdapter(
        "solder1",
        dataclasses.replace(solder_map(), nodes=nodes),
        url=selective_solder.url,
        request_timeout=1.0,
        policy=QUICK,
    )
    task = asyncio.create_task(opcua.run(Recorder()))
    try:
        await eventually(lambda: opcua.health.failures >= 1, DEADLINE)
        assert opcua.health.last_error is not None
        assert "node 'pot': browse path /Objects/SelectiveSolder/ProcessValues/NoSuchNode not found" in (
            opcua.health.last_error
        )
        assert opcua.health.state is not AdapterState.CONNECTED
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("nsu=urn:x", "must be nsu=URI;i=N"),
        ("nsu=;i=3", "must be nsu=URI;i=N"),
        ("/Objects//Pot", "a name between every two slashes"),
        ("/", "a name between every two slashes"),
        ("/Objects/{urn:x", "write {URI}Name"),
    ],
)
def test_a_malformed_node_address_is_refused_with_its_key(address: str, problem: str) -> None:
    data = {
        "machine": {"protocol": "opcua"},
        "opcua": {"namespace": NAMESPACE, "events_from": "machine"},
        "nodes": {"machine": "SelectiveSolder", "pot": address},
    }
    with pytest.raises(ConfigError, match=problem) as refused:
        parse_map(data, path="solder.toml")
    assert refused.value.key == "nodes.pot"
