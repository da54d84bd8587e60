"""Builds the running gateway from a line configuration: adapters, outbox, sinks, listener.

The config layer (``gateway.config``) has typed and checked every table already; here each map
is loaded and each adapter built, once by :func:`check_line` (``linegate check``, and ``linegate
run`` before it opens anything) and again by :func:`start_gateway`, so a wrong map fails at start
with the file and key path, never later in a reconnect loop.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from adapters.base import Adapter
from adapters.cfx_native import BrokerEvents, CFXNativeAdapter, DirectEvents
from adapters.hermes_bridge import BridgeAdapter, BridgeState, HermesBridge, ModbusConveyor
from adapters.hermes_supervisory import HermesSupervisoryAdapter
from adapters.maps import (
    FilesMap,
    MachineMap,
    ModbusMap,
    OpcUaMap,
    SerialMap,
    TesterMap,
    builtin_map,
    load_map,
)
from adapters.modbus import ModbusAdapter
from gateway.board_identity import BoardIdentities
from gateway.boundary import BoardGate
from gateway.config import LineConfig, MachineConfig, Secret, parse_config
from gateway.config_check import check_resources
from gateway.config_connections import (
    BridgeLinkConfig,
    CfxConnection,
    CfxEvents,
    ModbusConnection,
    OpcUaConnection,
    OpcUaSecurityConfig,
    ScannerConnection,
    SerialConnection,
    TesterConnection,
    VerticalLinkConfig,
)
from gateway.http import SseSink
from gateway.http.server import http_token
from gateway.metrics import Metrics, TimedSink
from gateway.outbox import Outbox, OverflowPolicy
from gateway.recipes import RecipeService
from gateway.runtime import Gateway, MachineRuntime
from gateway.sinks.amqp import AmqpSink
from gateway.sinks.base import Sink
from gateway.sinks.console import ConsoleSink
from gateway.sinks.jsonl import JsonLinesSink
from gateway.sinks.mqtt import MqttSink
from gateway.trace.wiring import bridge_downstream, enforce, open_trace
from protocols.cfx.transport import CFXListener, CFXPublisher, ServerSecurity, TLSFiles
from protocols.cfx.transport.security import GATE_LIMITS
from protocols.errors import ConfigError
from protocols.hermes.transport.lane import LANE_LIMITS
from protocols.tomlread import Problems, read_toml

if TYPE_CHECKING:
    from adapters.opcua import OpcUaSecurity


@contextmanager
def bind_errors(config: LineConfig, key: str, host: str, port: int) -> Iterator[None]:
    """Turn a listener's failure to bind into a ConfigError naming the address and the config key.

    A port in use is the operator's to fix in the config (or by stopping the other process);
    a traceback would hide which of the gateway's listeners it was.

    Raises:
        ConfigError: binding ``host:port`` failed (in use, not a local address, not permitted).
    """
    try:
        yield
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}", path=config.path, key=key) from exc


def resolve_map(config: LineConfig, machine: MachineConfig, where: str) -> MachineMap:
    """The machine's map: ``builtin:<name>`` or a file path relative to the config file.

    Raises:
        ConfigError: no map given, or the map is wrong: named by the config file and key that
            reference it (``machines[0].map``), followed by the map file and its key path.
    """
    if machine.map is None:
        raise ConfigError(f"a {machine.protocol} machine needs a map", path=config.path, key=f"{where}.map")
    try:
        if machine.map.startswith("builtin:"):
            return builtin_map(machine.map.removeprefix("builtin:"))
        path = Path(machine.map)
        if not path.is_absolute():
            path = Path(config.path).parent / path
        return load_map(path)
    except ConfigError as exc:
        problem = exc.problem if exc.path is None else str(exc)
        raise ConfigError(problem, path=config.path, key=f"{where}.map") from None


#: Set while ``check_line`` builds the adapters: secrets are checked apart, once each.
_SKIP_SECRETS: ContextVar[bool] = ContextVar("linegate_skip_secrets", default=False)


def _resolve(secret: Secret, *, path: str, key: str) -> str:
    return "(not resolved)" if _SKIP_SECRETS.get() else secret.resolve(path=path, key=key)


def _wrong_map(config: LineConfig, where: str, protocol: str, device_map: MachineMap) -> ConfigError:
    kind = type(device_map).__name__.removesuffix("Map").lower()
    return ConfigError(
        f"is a {kind} map; a {protocol} machine needs a {protocol} map", path=config.path, key=f"{where}.map"
    )


def _opcua_security(security: OpcUaSecurityConfig | None) -> OpcUaSecurity | None:
    from adapters.opcua import OpcUaSecurity  # asyncua loads only for lines with OPC UA

    if security is None:
        return None
    return OpcUaSecurity(
        certificate=Path(security.certificate),
        private_key=Path(security.private_key),
        server_certificate=None if security.server_certificate is None else Path(security.server_certificate),
        mode=security.mode,
        application_uri=security.application_uri,
    )


def _optional_path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def build_adapter(config: LineConfig, machine: MachineConfig, index: int) -> Adapter:
    """The adapter for one configured machine (its connection table is checked already).

    Raises:
        ConfigError: the map is missing, wrong or of another protocol, or a secret is unset.
    """
    where = f"machines[{index}]"
    conn = machine.connection
    if isinstance(conn, CfxConnection):
        return _cfx_native(config, machine, conn)
    if isinstance(conn, ScannerConnection | TesterConnection):
        return _report_only(config, machine, conn, where)
    device_map = resolve_map(config, machine, where)
    if isinstance(conn, ModbusConnection):
        if not isinstance(device_map, ModbusMap):
            raise _wrong_map(config, where, "modbus", device_map)
        return ModbusAdapter(machine.id, device_map, host=conn.host, port=conn.port)
    if isinstance(conn, OpcUaConnection):
        from adapters.opcua import OpcUaAdapter

        if not isinstance(device_map, OpcUaMap):
            raise _wrong_map(config, where, "opcua", device_map)
        password = conn.password
        return OpcUaAdapter(
            machine.id,
            device_map,
            url=conn.url,
            username=conn.username,
            password=(
                None
                if password is None
                else _resolve(password, path=config.path, key=f"{where}.connection.password")
            ),
            security=_opcua_security(conn.security),
            user_certificate=_optional_path(conn.user_certificate),
            user_private_key=_optional_path(conn.user_private_key),
        )
    if isinstance(conn, SerialConnection):
        from adapters.serial import SerialAdapter

        if not isinstance(device_map, SerialMap):
            raise _wrong_map(config, where, "serial", device_map)
        return SerialAdapter(machine.id, device_map, url=conn.url)
    from adapters.files import FilesAdapter

    if not isinstance(device_map, FilesMap):
        raise _wrong_map(config, where, "files", device_map)
    return FilesAdapter(machine.id, device_map.result, conn.options())


def _report_only(
    config: LineConfig, machine: MachineConfig, conn: ScannerConnection | TesterConnection, where: str
) -> Adapter:
    """A scanner or a tester: a serial device that only sends lines. A scanner's reads need no
    map; a tester's lines read as its tester map says (``builtin:fct_lines`` when none is given)."""
    from adapters.serial_reports import ScannerAdapter, TestReportAdapter

    if isinstance(conn, ScannerConnection):
        if machine.map is not None:
            raise ConfigError(
                "a scanner reads its device's lines itself; it takes no map",
                path=config.path,
                key=f"{where}.map",
            )
        return ScannerAdapter(
            machine.id, url=conn.url, no_read=conn.no_read, double_read_window=conn.double_read_window
        )
    # Without a map: the TS/TR/TE lines of simulators/fct.md, which testers of that kind send.
    device_map = resolve_map(config, machine, where) if machine.map is not None else builtin_map("fct_lines")
    if not isinstance(device_map, TesterMap):
        raise _wrong_map(config, where, "tester", device_map)
    return TestReportAdapter(machine.id, url=conn.url, tester_map=device_map, method=conn.method)


def _cfx_native(config: LineConfig, machine: MachineConfig, conn: CfxConnection) -> Adapter:
    """A machine that speaks CFX: its events from the broker or pushed to our listener."""
    events: BrokerEvents | DirectEvents
    if conn.events is CfxEvents.BROKER:
        amqp = config.amqp
        assert amqp is not None  # gateway.config refuses events = "broker" without [amqp]
        urls = amqp.brokers
        if amqp.password is not None:
            secret = _resolve(amqp.password, path=config.path, key="amqp.password")
            urls = tuple(with_password(url, secret) for url in urls)
        tls = amqp.tls
        events = BrokerEvents(
            url=urls[0] if len(urls) == 1 else urls,
            exchange=conn.exchange or amqp.exchange,
            queue=conn.queue,
            ssl_context=tls.context(path=config.path, where="amqp.tls") if tls else None,
        )
    else:
        events = DirectEvents(host=conn.listen_host, port=conn.listen_port, address=conn.address)
    return CFXNativeAdapter(
        machine.id,
        handle=machine.handle,
        events=events,
        request_uri=conn.request_uri,
        liveness_timeout=conn.liveness_timeout,
    )


def build_trackers(
    config: LineConfig, adapters: Mapping[str, Adapter] | None = None
) -> dict[str, list[Adapter]]:
    """The Hermes vertical channels (``[[hermes.vertical]]``) and bridges (``[[hermes.bridges]]``)
    by machine id. A bridge drives its legacy machine's conveyor through that machine's Modbus
    adapter (from ``adapters``; without it, no bridge is built: only checking).
    """
    trackers: dict[str, list[Adapter]] = {}
    for link in config.hermes:
        settings = link.settings
        if isinstance(settings, VerticalLinkConfig):
            trackers.setdefault(link.machine, []).append(
                HermesSupervisoryAdapter(link.machine, host=settings.host, port=settings.port)
            )
            continue
        adapter = (adapters or {}).get(link.machine)
        if not isinstance(adapter, ModbusAdapter):
            continue  # checking only: the machine's adapter is built when the gateway starts
        conveyor = ModbusConveyor(adapter)

        def make_bridge(
            state: BridgeState,
            machine: str = link.machine,
            conveyor: ModbusConveyor = conveyor,
            bridge: BridgeLinkConfig = settings,
        ) -> HermesBridge:
            return HermesBridge(
                machine,
                conveyor,
                upstream_host=bridge.upstream_host,
                upstream_port=bridge.upstream_port,
                listen_host=bridge.listen_host,
                listen_port=bridge.listen_port,
                lane_id=bridge.lane_id,
                state=state,
                limits=config.peer_limits("hermes", LANE_LIMITS),
            )

        trackers.setdefault(link.machine, []).append(BridgeAdapter(link.machine, make_bridge))
    return trackers


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` put into its user info (the user defaults to ``guest``)."""
    parts = urlsplit(url)
    user = parts.username or "guest"
    host = parts.hostname or ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def listener_security(config: LineConfig, *, credentials: bool = True) -> ServerSecurity:
    """The CFX listener's TLS files and SASL credentials from ``[listener]``.

    Args:
        credentials: read the SASL password (``linegate check`` only checks the TLS files).

    Raises:
        ConfigError: the password is unreadable, or a TLS file is missing or bad (key path named).
    """
    listener = config.listener
    users = None
    if credentials and listener.username is not None and listener.password is not None:
        users = {listener.username: listener.password.resolve(path=config.path, key="listener.password")}
    tls = listener.tls
    if tls is None:
        return ServerSecurity(credentials=users)
    key_password = (
        tls.key_password.resolve(path=config.path, key="listener.tls.key_password")
        if tls.key_password
        else None
    )
    files = TLSFiles(
        cert_file=tls.cert_file, key_file=tls.key_file, ca_file=tls.ca_file, key_password=key_password
    )
    security = ServerSecurity(tls=files, credentials=users)
    try:
        security.server_context()
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the listener's certificate {tls.cert_file} with key {tls.key_file}: {exc}",
            path=config.path,
            key="listener.tls.cert_file",
        ) from None
    return security


def check_line(config: LineConfig, *, secrets: bool = True, problems: Problems | None = None) -> None:
    """The one validation of a line config, made by ``linegate check`` and by ``linegate run``
    before it opens anything: what passes here, ``run`` runs (short of a port in use or a
    machine that does not answer).

    Every adapter is built once (no connection is made), so map errors surface now; TLS files
    are read, files and serial devices looked for, secrets resolved, the outbox's folder looked at.

    Args:
        secrets: resolve every secret (broker passwords, the HTTP token, the listener's SASL
            password); ``linegate check --skip-secrets`` checks a config where they are not set.
        problems: collect every problem here instead of raising.

    Raises:
        ConfigError: without ``problems``: every problem, with file and key path (a
            ConfigErrors when there are several).
    """
    found = problems if problems is not None else Problems()
    skipping = _SKIP_SECRETS.set(True)  # checked once each by check_resources
    try:
        for machine in config.machines:
            with found.collect():
                adapter = build_adapter(config, machine, machine.index)
                _check_grace(config, machine, machine.index, adapter)
    finally:
        _SKIP_SECRETS.reset(skipping)
    check_resources(config, found, secrets=secrets)
    with found.collect():
        bridge_downstream(config)
    # TLS files are read now, so a malformed one is reported with its key path.
    for where, tls in (
        ("amqp.tls", config.amqp.tls if config.amqp else None),
        ("mqtt.tls", config.mqtt.tls if config.mqtt else None),
    ):
        if tls is not None:
            with found.collect():
                tls.context(path=config.path, where=where)
    with found.collect():
        listener_security(config, credentials=secrets)
    if secrets:
        with found.collect():
            http_token(config)  # also refuses a blank token
    if problems is None:
        found.raise_any()


def load_checked(path: str | Path, *, secrets: bool = True) -> LineConfig:
    """Read a line config and check it as ``check_line`` does, collecting every problem.

    Raises:
        ConfigError: the file cannot be read or parsed, or every problem found (a ConfigErrors
            when there are several, in the order of the file), each with file and key path.
    """
    path_str = str(path)
    data = read_toml(path_str)
    problems = Problems()
    config = parse_config(data, path=path_str, problems=problems)
    check_line(config, secrets=secrets, problems=problems)
    problems.errors.sort(key=lambda error: _file_order(list(data), error.key))
    problems.raise_any()
    return config


def _file_order(tables: list[str], key: str | None) -> tuple[int, int]:
    """Where ``key`` (``machines[2].map``) comes in a file whose top-level tables are ``tables``,
    in their order: by table, then by entry of an array of tables."""
    if key is None:
        return (-1, 0)
    head = key.split(".", 1)[0]
    name, _, index = head.partition("[")
    position = tables.index(name) if name in tables else len(tables)
    return (position, int(index.rstrip("]")) if index.rstrip("]").isdigit() else 0)


#: The JSON-lines file ``linegate run`` appends every event to when no broker is configured,
#: in the outbox's folder.
DEFAULT_EVENTS_FILE = "linegate-events.jsonl"


def default_events_file(config: LineConfig) -> str | None:
    """Where ``linegate run`` writes events when the config names no broker (None when it does)."""
    if config.amqp is not None or config.mqtt is not None:
        return None
    return str(Path(config.outbox.path).parent / DEFAULT_EVENTS_FILE)


def _check_grace(config: LineConfig, machine: MachineConfig, index: int, adapter: Adapter) -> None:
    # A grace no longer than the gap between two answers of a healthy machine would report
    # every slow poll as a lost link.
    grace, needed = config.grace_for(machine), adapter.answer_interval
    if grace > needed:
        return
    key = f"machines[{index}].link_grace" if machine.link_grace is not None else "line.link_grace"
    raise ConfigError(
        f"{grace:g} s is too short for machine {machine.id!r}: a healthy {adapter.protocol} machine "
        f"may stay silent {needed:g} s between answers (poll interval plus request timeouts)",
        path=config.path,
        key=key,
    )


async def start_gateway(
    config: LineConfig,
    stack: AsyncExitStack,
    *,
    console: bool = False,
    events_file: str | None = None,
    extra_sinks: list[Sink] | None = None,
    metrics: Metrics | None = None,
    sse: SseSink | None = None,
    adapter_factory: Callable[[LineConfig, MachineConfig, int], Adapter] = build_adapter,
) -> tuple[Gateway, CFXListener]:
    """Open everything the configured gateway needs on ``stack`` and return it, not yet running.

    Args:
        metrics: when given, every delivering sink is measured (publish latency, counts).
        sse: the dashboard's event stream, fed like a sink (it does not count as a delivery sink).

    Raises:
        ConfigError: a configuration problem found while building.
    """
    sinks: list[Sink] = list(extra_sinks or [])
    if config.amqp is not None:
        urls = list(config.amqp.brokers)
        if config.amqp.password is not None:
            secret = config.amqp.password.resolve(path=config.path, key="amqp.password")
            urls = [with_password(url, secret) for url in urls]
        tls = config.amqp.tls
        publisher = await stack.enter_async_context(
            CFXPublisher(
                urls,
                failover=config.amqp.failover,
                cluster_name=config.amqp.cluster_name,
                exchange=config.amqp.exchange,
                gzip=config.amqp.gzip,
                ssl_context=tls.context(path=config.path, where="amqp.tls") if tls else None,
            )
        )
        sinks.append(AmqpSink(publisher))
    if config.mqtt is not None:
        password = (
            config.mqtt.password.resolve(path=config.path, key="mqtt.password")
            if config.mqtt.password
            else None
        )
        mqtt_tls = config.mqtt.tls
        mqtt = MqttSink(
            config.mqtt.host,
            config.mqtt.port,
            username=config.mqtt.username,
            password=password,
            topic_prefix=config.mqtt.topic_prefix,
            tls_context=mqtt_tls.context(path=config.path, where="mqtt.tls") if mqtt_tls else None,
            brokers=config.mqtt.brokers,
            failover=config.mqtt.failover,
        )
        stack.push_async_callback(mqtt.aclose)
        sinks.append(mqtt)
    if console:
        sinks.append(ConsoleSink())
    if events_file:
        sinks.append(JsonLinesSink(events_file))
    if not sinks:
        raise ConfigError(
            "no sink: configure [amqp] or [mqtt], or pass --console / --events-file", path=config.path
        )
    if metrics is not None:
        sinks = [TimedSink(sink, metrics) for sink in sinks]
    if sse is not None:
        sinks.append(sse)
    # The trace service ([trace], [[interlock]]) is fed by the outbox like a sink (docs/trace.md).
    trace = await open_trace(config, stack)
    if trace is not None:
        sinks.append(trace)
    outbox = Outbox(
        config.outbox.path,
        sinks=[s.name for s in sinks],
        max_events=config.outbox.max_events,
        overflow=OverflowPolicy(config.outbox.overflow),
        durability=config.outbox.durability,
    )
    await stack.enter_async_context(outbox)
    adapters = {m.id: adapter_factory(config, m, i) for i, m in enumerate(config.machines)}
    for index, m in enumerate(config.machines):
        _check_grace(config, m, index, adapters[m.id])  # as linegate check does
    trackers = build_trackers(config, adapters)
    runtimes = []
    for m in config.machines:
        adapter = adapters[m.id]
        runtimes.append(
            MachineRuntime(
                m.id,
                m.handle,
                adapter,
                outbox,
                m.interlock,
                trackers=trackers.get(m.id, ()),
                # With a vertical channel, work the machine's protocol does not report is derived
                # from the boards' arrival and departure.
                synthesize_work=m.id in trackers and not adapter.reports_work,
                # A machine that tells no state either gets one from that work (with no vertical
                # channel the gateway knows nothing of its boards, and leaves its state unknown).
                derive_state=m.id in trackers and not adapter.reports_state,
                link_grace=config.grace_for(m),
            )
        )
    identities = BoardIdentities()  # one link of barcodes, BoardIds and transactions per line
    for runtime in runtimes:
        runtime.normalizer.identity = identities
    recipes = RecipeService(
        {r.machine_id: r for r in runtimes},
        config.products,
        drain_timeout=config.changeover.timeout,
        changeover_at=config.changeover.at,
    )
    if config.changeover.at == "boundary":
        # Each machine's vertical channel holds its boards until it runs their product's recipe.
        BoardGate(recipes).attach(trackers)
    listener = CFXListener(
        config.listener.host,
        config.listener.port,
        advertised_uri=config.listener.advertised_uri,
        security=listener_security(config),
        limits=config.peer_limits("listener", GATE_LIMITS),
    )
    for runtime in runtimes:
        if not runtime.passthrough:  # a CFX machine hosts its own handle
            listener.add_handle(runtime.handle, recipes.handler_for(runtime.handle))
    if trace is not None:
        enforce(trace, config, outbox, trackers, listener)
    with bind_errors(config, "listener.port", config.listener.host, config.listener.port):
        await stack.enter_async_context(listener)
    gateway = Gateway(outbox, runtimes, sinks, recipes, listener=listener)
    gateway.trace = trace
    return gateway, listener
