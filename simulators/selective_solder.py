"""Selective soldering machine simulator: an OPC UA server (asyncua) in front of a solder-pot model.

The address space is the vendor manual ``simulators/selective_solder.md``. Everything lives
under one object, ``Objects/SelectiveSolder`` in the namespace :data:`NAMESPACE_URI`, with
string node ids (``ns=<idx>;s=SelectiveSolder.ProcessValues.SolderPotTemperature``) so that a
client can address nodes directly or browse by name.

Alarms are OPC UA events of a custom type (``SolderAlarmEventType``) emitted by the machine
object; each finished board also raises a ``BoardProcessedEventType`` event and updates the
``LastBoard`` variables. Methods ``LoadProgram(ProgramName)`` and ``GetPrograms()`` sit on the
machine object. Security policy ``Basic256Sha256`` (Sign & Encrypt) is selectable; without a
certificate one is generated in memory when the server starts.

asyncua's server is corrected where its defaults answer what a conforming server does not
(``simulators.opcua_server``): method arguments are checked against the declared ones, a write
to a read-only node is Bad_NotWritable, and sessions are anonymous unless users are listed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from asyncua import ua
from asyncua.common.events import Event
from asyncua.common.node import Node
from asyncua.crypto import cert_gen
from asyncua.server.server import Server
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from simulators.clock import Clock
from simulators.machine import (
    Board,
    BoardIn,
    BoardOut,
    FaultCleared,
    FaultOccurred,
    FirstOrder,
    Machine,
    MachineEvent,
    Recipe,
    RecipeActivated,
    RecipeRefused,
    ResourceState,
    StationStateChanged,
    WorkCompleted,
)
from simulators.opcua_server import Identities, checked, make_strict

NAMESPACE_URI = "urn:linegate:simulators:selective-solder"
APPLICATION_URI = "urn:linegate:simulators:selective-solder:server"
ROOT = "SelectiveSolder"
SECURITY_POLICIES = ("None", "Basic256Sha256")

# State names the machine shows on its HMI, by CFX/E10 state.
STATE_NAMES: Mapping[ResourceState, str] = {
    ResourceState.PRD_REGULAR_WORK: "Soldering",
    ResourceState.SBY_NO_PRODUCT_STARVED: "WaitingForBoard",
    ResourceState.SBY_NO_PRODUCT_BLOCKED: "WaitingForDownstream",
    ResourceState.SDT_SETUP: "Setup",
    ResourceState.USD: "Fault",
    ResourceState.NST: "Off",
}

# Variables: relative browse path (dot-separated under SelectiveSolder) → (type, initial value).
_VARIABLES: dict[str, tuple[ua.VariantType, Any]] = {
    "State": (ua.VariantType.String, "Off"),
    "StateCode": (ua.VariantType.UInt32, 6000),
    "ActiveProgram": (ua.VariantType.String, ""),
    "ActiveProgramRevision": (ua.VariantType.Int32, 0),
    "Ready": (ua.VariantType.Boolean, False),
    "BoardsProcessed": (ua.VariantType.UInt32, 0),
    "ActiveAlarms": (ua.VariantType.String, ""),
    "ProcessValues.PreheatTemperature": (ua.VariantType.Double, 25.0),
    "ProcessValues.SolderPotTemperature": (ua.VariantType.Double, 25.0),
    "ProcessValues.SolderPotSetpoint": (ua.VariantType.Double, 0.0),
    "ProcessValues.WaveHeight": (ua.VariantType.Double, 0.0),
    "ProcessValues.NitrogenFlow": (ua.VariantType.Double, 0.0),
    "ProcessValues.NitrogenPurity": (ua.VariantType.Double, 0.0),
    "LastBoard.BoardId": (ua.VariantType.String, ""),
    "LastBoard.Barcode": (ua.VariantType.String, ""),
    "LastBoard.Result": (ua.VariantType.String, ""),
    "LastBoard.CycleTime": (ua.VariantType.Double, 0.0),
    "LastBoard.SolderJoints": (ua.VariantType.Int32, 0),
    "LastBoard.Defects": (ua.VariantType.Int32, 0),
    "LastBoard.PotTemperature": (ua.VariantType.Double, 0.0),
}

_ALARM_FIELDS = [
    ("AlarmCode", ua.VariantType.String),
    ("Active", ua.VariantType.Boolean),
    ("FaultOccurrenceId", ua.VariantType.String),
]
_BOARD_FIELDS = [
    ("BoardId", ua.VariantType.String),
    ("Barcode", ua.VariantType.String),
    ("Result", ua.VariantType.String),
    ("CycleTime", ua.VariantType.Double),
    ("SolderJoints", ua.VariantType.Int32),
    ("Defects", ua.VariantType.Int32),
]
_SEVERITY = {"Information": 100, "Warning": 400, "Error": 700, "Alarm": 900}


def _bad(code: int) -> ua.StatusCode:
    """A method call's result status."""
    return ua.StatusCode(ua.UInt32(code))


def _ns0(identifier: int) -> ua.NodeId:
    """A node id in namespace 0 (the OPC UA standard nodes)."""
    return ua.NodeId.from_string(f"i={identifier}")


def _self_signed(host: str) -> tuple[bytes, bytes]:
    """Return (certificate PEM, private key PEM) for the server's application URI and host."""
    key = cert_gen.generate_private_key()
    certificate = cert_gen.generate_self_signed_app_certificate(
        key,
        "linegate selective solder simulator",
        {},
        [x509.UniformResourceIdentifier(APPLICATION_URI), x509.DNSName(host)],
        extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    return certificate.public_bytes(serialization.Encoding.PEM), cert_gen.dump_private_key_as_pem(key)


class SelectiveSolder(Machine):
    """A selective soldering machine with an OPC UA interface (see ``selective_solder.md``).

    Use it as ``async with SelectiveSolder(...) as machine``; ``machine.url`` is then the
    endpoint URL.

    Args:
        machine_id: the machine's name.
        clock: the simulated clock.
        seed: random seed for cycle times and defects.
        board_in: where boards come from.
        board_out: where boards go.
        host: address to listen on.
        port: TCP port (0 = a free one).
        security_policy: ``"None"`` or ``"Basic256Sha256"`` (Sign & Encrypt only).
        certificate: PEM or DER server certificate; generated at start if omitted.
        private_key: PEM private key matching ``certificate``.
        defect_rate: probability that one joint is defective.
        tau: thermal time constant of the solder pot, simulated seconds.
        users: user name → password of the user name tokens to accept besides anonymous
            sessions (the manual's machine is anonymous only; tests of clients that log in
            list their users here).
        certificate_tokens: accept X.509 identity tokens too, likewise.

    Raises:
        ValueError: an unknown security policy.
    """

    def __init__(
        self,
        machine_id: str = "selective-solder",
        *,
        clock: Clock | None = None,
        seed: int = 0,
        board_in: BoardIn | None = None,
        board_out: BoardOut | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        security_policy: str = "None",
        certificate: bytes | None = None,
        private_key: bytes | None = None,
        defect_rate: float = 0.001,
        tau: float = 240.0,
        changeover_time: float = 15.0,
        users: Mapping[str, str] | None = None,
        certificate_tokens: bool = False,
    ) -> None:
        if security_policy not in SECURITY_POLICIES:
            raise ValueError(f"security_policy must be one of {SECURITY_POLICIES}, not {security_policy!r}")
        super().__init__(
            machine_id,
            clock=clock,
            seed=seed,
            board_in=board_in,
            board_out=board_out,
            changeover_time=changeover_time,
        )
        self.host, self._port = host, port
        self.security_policy = security_policy
        self._certificate, self._private_key = certificate, private_key
        self.defect_rate = defect_rate
        self.pot = FirstOrder(25.0, tau)
        self.preheat = FirstOrder(25.0, tau / 4)
        self.url: str | None = None
        self.port: int | None = None
        self.server: Server | None = None
        self._nodes: dict[str, Node] = {}
        self._machine_node: Node | None = None
        self._alarm_events: Event | None = None
        self._board_events: Event | None = None
        self._updates: asyncio.Queue[MachineEvent | None] = asyncio.Queue()
        self._method_delay = 0.0
        self.identities = Identities(users, certificate_tokens)
        for name, preheat, pot, wave, joints, cycle in _PROGRAMS:
            self.recipes.add(
                name, cycle_time=cycle, preheat_c=preheat, pot_c=pot, wave_mm=wave, solder_joints=joints
            )
        self.subscribe(self._updates.put_nowait)

    # -- model -------------------------------------------------------------------------------

    def apply_recipe(self, recipe: Recipe) -> None:
        """Take over the program's preheat and solder pot setpoints."""
        now = self.clock.now()
        self.pot.set_target(float(recipe.parameters["pot_c"]), now)
        self.preheat.set_target(float(recipe.parameters["preheat_c"]), now)

    def is_ready(self) -> bool:
        """Ready once a program is loaded and the solder pot is within 3 °C of its setpoint."""
        active = self.recipes.active
        now = self.clock.now()
        return active is not None and abs(self.pot.value(now) - self.pot.target) <= 3.0

    def process_values(self) -> dict[str, float]:
        """The process values as the ``ProcessValues`` folder shows them."""
        now = self.clock.now()
        active = self.recipes.active
        wave = float(active.parameters["wave_mm"]) if active else 0.0
        return {
            "ProcessValues.PreheatTemperature": round(self.preheat.value(now), 2),
            "ProcessValues.SolderPotTemperature": round(self.pot.value(now), 2),
            "ProcessValues.SolderPotSetpoint": self.pot.target,
            "ProcessValues.WaveHeight": round(wave + self.rng.gauss(0, 0.05), 2) if active else 0.0,
            "ProcessValues.NitrogenFlow": round(25.0 + self.rng.gauss(0, 0.3), 2),
            "ProcessValues.NitrogenPurity": round(max(0.0, 50.0 + self.rng.gauss(0, 5.0)), 1),
        }

    async def process_board(self, board: Board, cycle_time: float) -> tuple[bool, Mapping[str, Any]]:
        """Solder every joint of the program; a board with any defective joint fails."""
        await self.clock.sleep(cycle_time)
        active = self.recipes.active
        joints = int(active.parameters["solder_joints"]) if active else 0
        defects = sum(self.rng.random() < self.defect_rate for _ in range(joints))
        return defects == 0, {
            "cycle_time_s": round(cycle_time, 2),
            "solder_joints": joints,
            "defects": defects,
            "pot_c": round(self.pot.value(self.clock.now()), 1),
        }

    # -- fault injection ---------------------------------------------------------------------

    def drop_connection(self) -> None:
        """Close every client's TCP connection; the server keeps listening."""
        if self.server is not None:
            for transport in list(self.server.iserver.asyncio_transports):
                transport.close()

    def go_silent(self, silent: bool = True) -> None:
        """Stop reading client requests with the sockets open (``False`` resumes)."""
        if self.server is not None:
            for transport in list(self.server.iserver.asyncio_transports):
                if silent:
                    transport.pause_reading()
                else:
                    transport.resume_reading()

    def delay_methods(self, seconds: float) -> None:
        """Answer method calls ``seconds`` of simulated time late (0 undoes it)."""
        self._method_delay = seconds

    # -- OPC UA ------------------------------------------------------------------------------

    async def _build(self) -> None:
        server = Server()
        await server.init()
        make_strict(server, self.identities)
        server.set_endpoint(f"opc.tcp://{self.host}:{self._port}/linegate/selective-solder")
        server.set_server_name("linegate selective solder simulator")
        await server.set_application_uri(APPLICATION_URI)
        if self.security_policy == "Basic256Sha256":
            if self._certificate is None or self._private_key is None:
                # RSA-2048 key generation takes a few tens of ms; done only when security is asked for.
                self._certificate, self._private_key = _self_signed(socket.gethostname())
            pem = self._certificate.lstrip().startswith(b"-----BEGIN")
            await server.load_certificate(self._certificate, format="pem" if pem else None)
            await server.load_private_key(self._private_key, format="pem")
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NAMESPACE_URI)
        machine = await server.nodes.objects.add_object(f"ns={idx};s={ROOT}", f"{idx}:{ROOT}")
        await machine.set_event_notifier([ua.EventNotifier.SubscribeToEvents])
        folders: dict[str, Node] = {}
        for path, (variant, initial) in _VARIABLES.items():
            parent = machine
            if "." in path:
                folder = path.split(".")[0]
                if folder not in folders:
                    folders[folder] = await machine.add_folder(
                        f"ns={idx};s={ROOT}.{folder}", f"{idx}:{folder}"
                    )
                parent = folders[folder]
            name = path.rsplit(".", 1)[-1]
            node = await parent.add_variable(f"ns={idx};s={ROOT}.{path}", f"{idx}:{name}", initial, variant)
            self._nodes[path] = node
        await self._add_methods(machine, idx)
        alarm_type = await server.create_custom_event_type(
            idx, "SolderAlarmEventType", ObjectIds.BaseEventType, _ALARM_FIELDS
        )
        board_type = await server.create_custom_event_type(
            idx, "BoardProcessedEventType", ObjectIds.BaseEventType, _BOARD_FIELDS
        )
        self._alarm_generator = await server.get_event_generator(alarm_type, machine.nodeid)
        self._board_generator = await server.get_event_generator(board_type, machine.nodeid)
        self._machine_node = machine
        self.server = server

    async def _add_methods(self, machine: Node, idx: int) -> None:
        name_arg = ua.Argument(Name="ProgramName", DataType=_ns0(ObjectIds.String), ValueRank=-1)
        revision_arg = ua.Argument(Name="Revision", DataType=_ns0(ObjectIds.Int32), ValueRank=-1)
        programs_arg = ua.Argument(Name="Programs", DataType=_ns0(ObjectIds.String), ValueRank=1)
        await machine.add_method(
            f"ns={idx};s={ROOT}.LoadProgram",
            f"{idx}:LoadProgram",
            checked(self._load_program, [name_arg]),
            [name_arg],
            [revision_arg],
        )
        await machine.add_method(
            f"ns={idx};s={ROOT}.GetPrograms",
            f"{idx}:GetPrograms",
            checked(self._get_programs, []),
            [],
            [programs_arg],
        )

    async def _load_program(self, _parent: ua.NodeId, name: ua.Variant) -> list[ua.Variant] | ua.StatusCode:
        # A returned StatusCode becomes the call's result status (asyncua maps a raised
        # exception to BadUnexpectedError instead): BadNotFound for an unknown program,
        # BadInvalidState when the machine refuses (interlock, fault active). ``checked``
        # has made sure that ``name`` is one scalar String.
        if self._method_delay > 0:
            await self.clock.sleep(self._method_delay)
        program = str(name.Value)
        try:
            recipe = self.recipes.get(program)
        except RecipeRefused:
            return _bad(StatusCodes.BadNotFound)
        try:
            self.recipes.check(program)
        except RecipeRefused:
            return _bad(StatusCodes.BadInvalidState)
        if self.state == ResourceState.USD:
            return _bad(StatusCodes.BadInvalidState)
        # Accepted: the changeover runs on; ActiveProgram and State show its progress.
        self.start_task(self.activate_recipe(recipe.name), f"changeover.{recipe.name}")
        return [ua.Variant(recipe.revision, ua.VariantType.Int32)]

    async def _get_programs(self, _parent: ua.NodeId) -> list[ua.Variant]:
        if self._method_delay > 0:
            await self.clock.sleep(self._method_delay)
        return [ua.Variant(self.recipes.names(), ua.VariantType.String)]

    async def _write(self, path: str, value: Any) -> None:
        variant = _VARIABLES[path][0]
        await self._nodes[path].write_value(ua.Variant(value, variant))

    async def _publish(self) -> None:
        # Machine events arrive synchronously from the core; one task writes them out in order.
        while True:
            event = await self._updates.get()
            if event is not None:
                await self._publish_event(event)
            await self._write_status()

    async def _publish_event(self, event: MachineEvent) -> None:
        if isinstance(event, FaultOccurred | FaultCleared):
            fault = event.fault
            generator = self._alarm_generator
            generator.event.AlarmCode = fault.code
            generator.event.Active = isinstance(event, FaultOccurred)
            generator.event.FaultOccurrenceId = str(fault.occurrence_id)
            generator.event.Severity = _SEVERITY[fault.severity.value]
            generator.event.Message = ua.LocalizedText(fault.text)
            await generator.trigger(time_attr=event.at.astimezone(UTC))
        elif isinstance(event, WorkCompleted):
            await self._publish_board(event)
        elif isinstance(event, RecipeActivated | StationStateChanged):
            pass  # _write_status shows them

    async def _publish_board(self, event: WorkCompleted) -> None:
        result = "Pass" if event.passed else "Fail"
        values = {
            "LastBoard.BoardId": event.board.board_id,
            "LastBoard.Barcode": event.board.barcode or "",
            "LastBoard.Result": result,
            "LastBoard.CycleTime": float(event.data["cycle_time_s"]),
            "LastBoard.SolderJoints": int(event.data["solder_joints"]),
            "LastBoard.Defects": int(event.data["defects"]),
            "LastBoard.PotTemperature": float(event.data["pot_c"]),
        }
        for path, value in values.items():
            await self._write(path, value)
        generator = self._board_generator
        generator.event.BoardId = event.board.board_id
        generator.event.Barcode = event.board.barcode or ""
        generator.event.Result = result
        generator.event.CycleTime = values["LastBoard.CycleTime"]
        generator.event.SolderJoints = values["LastBoard.SolderJoints"]
        generator.event.Defects = values["LastBoard.Defects"]
        generator.event.Severity = 100
        generator.event.Message = ua.LocalizedText(f"board {event.board.board_id} {result}")
        await generator.trigger(time_attr=event.at.astimezone(UTC))

    async def _write_status(self) -> None:
        active = self.recipes.active
        await self._write("State", STATE_NAMES[self.state])
        await self._write("StateCode", int(self.state))
        await self._write("ActiveProgram", active.name if active else "")
        await self._write("ActiveProgramRevision", active.revision if active else 0)
        await self._write("Ready", self.is_ready())
        await self._write("BoardsProcessed", self.boards_done)
        await self._write("ActiveAlarms", ",".join(self.faults))
        for path, value in self.process_values().items():
            await self._write(path, value)

    async def _sample(self) -> None:
        # Process values change with time alone; sample them once a simulated second.
        while True:
            await self.clock.sleep(1.0)
            self.refresh_state()
            self._updates.put_nowait(None)

    # -- lifetime ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the address space, start listening, load the first program, start the machine."""
        await self._build()
        assert self.server is not None
        await self.server.start()
        assert self.server.bserver is not None  # start() made it
        self.port = self.server.bserver.port
        self.url = f"opc.tcp://{self.host}:{self.port}/linegate/selective-solder"
        first = self.recipes.get(self.recipes.names()[0])
        self.recipes.active = first
        self.apply_recipe(first)
        await super().start()
        self.start_task(self._publish(), "publish")
        self.start_task(self._sample(), "sample")
        self._updates.put_nowait(None)

    async def stop(self) -> None:
        """Stop the machine and the server."""
        try:
            await super().stop()
        finally:
            if self.server is not None:
                await self.server.stop()
                self.server = None


# The programs a new machine ships with: name, preheat °C, pot °C, wave mm, joints, cycle s.
_PROGRAMS = [
    ("PGM-CONN-A", 110.0, 280.0, 3.5, 48, 40.0),
    ("PGM-PWR-B", 120.0, 300.0, 4.0, 96, 70.0),
]

__all__ = ["NAMESPACE_URI", "SelectiveSolder"]
