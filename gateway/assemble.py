"""Builds the running gateway from a line configuration: adapters, outbox, sinks, listener.

Each protocol's connection table is checked here, so a wrong key fails at start (and in
``linegate check``) with the file and key path, never later in a reconnect loop.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from adapters.base import Adapter
from adapters.cfx_native import BrokerEvents, CFXNativeAdapter, DirectEvents
from adapters.hermes_bridge import BridgeAdapter, BridgeState, HermesBridge, ModbusConveyor
from adapters.hermes_supervisory import HermesSupervisoryAdapter
from adapters.maps import FilesMap, MachineMap, ModbusMap, OpcUaMap, SerialMap, builtin_map, load_map
from adapters.modbus import ModbusAdapter
from gateway.board_identity import BoardIdentities
from gateway.boundary import BoardGate
from gateway.config import LineConfig, MachineConfig, Secret
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
from protocols.cfx.transport import CFXListener, CFXPublisher, ServerSecurity, TLSFiles
from protocols.cfx.transport.security import GATE_LIMITS
from protocols.errors import ConfigError
from protocols.hermes.transport.lane import LANE_LIMITS

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
        ConfigError: no map given, or the map is wrong (naming the map file and key path).
    """
    if machine.map is None:
        raise ConfigError(f"a {machine.protocol} machine needs a map", path=config.path, key=f"{where}.map")
    if machine.map.startswith("builtin:"):
        try:
            return builtin_map(machine.map.removeprefix("builtin:"))
        except ConfigError as exc:
            raise ConfigError(exc.problem, path=config.path, key=f"{where}.map") from None
    path = Path(machine.map)
    if not path.is_absolute():
        path = Path(config.path).parent / path
    return load_map(path)


def _text(
    config: LineConfig, conn: Mapping[str, Any], key: str, where: str, default: str | None = None
) -> str:
    value = conn.get(key, default)
    if not isinstance(value, str) or not value:
        problem = "is required" if value is None else "must be a non-empty string"
        raise ConfigError(problem, path=config.path, key=f"{where}.connection.{key}")
    return value


def _port(config: LineConfig, conn: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = conn.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ConfigError(
            "must be a port number (1-65535)", path=config.path, key=f"{where}.connection.{key}"
        )
    return value


def _only(config: LineConfig, conn: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    for key in conn:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise ConfigError(
                f"unknown key (expected {expected})", path=config.path, key=f"{where}.connection.{key}"
            )


#: Set while ``check_line(secrets=False)`` builds the adapters: their secrets stand unresolved.
_SKIP_SECRETS: ContextVar[bool] = ContextVar("linegate_skip_secrets", default=False)


def _resolve(secret: Secret, *, path: str, key: str) -> str:
    return "(not resolved)" if _SKIP_SECRETS.get() else secret.resolve(path=path, key=key)


def _secret(config: LineConfig, conn: Mapping[str, Any], key: str, where: str) -> str | None:
    env, file = conn.get(f"{key}_env"), conn.get(f"{key}_file")
    if env is None and file is None:
        return None
    return _resolve(Secret(env=env, file=file), path=config.path, key=f"{where}.connection.{key}")


def _file(config: LineConfig, table: Mapping[str, Any], key: str, where: str) -> Path | None:
    """An existing file named by ``table[key]``, relative to the config file; None if absent."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a file path", path=config.path, key=f"{where}.{key}")
    path = Path(value)
    if not path.is_absolute():
        path = Path(config.path).parent / path
    if not path.is_file():
        raise ConfigError(f"{path} does not exist or is not a file", path=config.path, key=f"{where}.{key}")
    return path


OPCUA_SECURITY_KEYS = {
    "policy",
    "mode",
    "certificate",
    "private_key",
    "server_certificate",
    "application_uri",
}


def _opcua_security(config: LineConfig, conn: Mapping[str, Any], where: str) -> OpcUaSecurity | None:
    """``connection.security``: Basic256Sha256 with the client's application certificate
    (``certificate``, ``private_key``; ``server_certificate`` to pin the server's, else it is
    taken from the endpoint; ``mode`` SignAndEncrypt by default).

    Raises:
        ConfigError: an unknown key or policy, or a missing file (names the key path).
    """
    from adapters.opcua import OpcUaSecurity  # asyncua loads only for lines with OPC UA

    table = conn.get("security")
    at = f"{where}.connection.security"
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("must be a table", path=config.path, key=at)
    for key in table:
        if key not in OPCUA_SECURITY_KEYS:
            expected = ", ".join(sorted(OPCUA_SECURITY_KEYS))
            raise ConfigError(f"unknown key (expected {expected})", path=config.path, key=f"{at}.{key}")
    if table.get("policy", "Basic256Sha256") != "Basic256Sha256":
        raise ConfigError("the supported policy is Basic256Sha256", path=config.path, key=f"{at}.policy")
    mode = table.get("mode", "SignAndEncrypt")
    if mode not in ("SignAndEncrypt", "Sign"):
        raise ConfigError(f"must be SignAndEncrypt or Sign, not {mode!r}", path=config.path, key=f"{at}.mode")
    uri = table.get("application_uri", "urn:linegate:adapter")
    if not isinstance(uri, str) or not uri:
        raise ConfigError("must be a non-empty string", path=config.path, key=f"{at}.application_uri")
    certificate = _file(config, table, "certificate", at)
    private_key = _file(config, table, "private_key", at)
    if certificate is None or private_key is None:
        missing = "certificate" if certificate is None else "private_key"
        raise ConfigError("is required", path=config.path, key=f"{at}.{missing}")
    return OpcUaSecurity(
        certificate=certificate,
        private_key=private_key,
        server_certificate=_file(config, table, "server_certificate", at),
        mode=mode,
        application_uri=uri,
    )


def _wrong_map(config: LineConfig, where: str, protocol: str, device_map: MachineMap) -> ConfigError:
    kind = type(device_map).__name__.removesuffix("Map").lower()
    return ConfigError(
        f"is a {kind} map; a {protocol} machine needs a {protocol} map", path=config.path, key=f"{where}.map"
    )


def build_adapter(config: LineConfig, machine: MachineConfig, index: int) -> Adapter:
    """The adapter for one configured machine.

    Raises:
        ConfigError: a connection key or the map is wrong.
    """
    where = f"machines[{index}]"
    conn = machine.connection
    if machine.protocol == "cfx":
        return _cfx_native(config, machine, where)
    device_map = resolve_map(config, machine, where)
    if machine.protocol == "modbus":
        from adapters.modbus import ModbusAdapter

        if not isinstance(device_map, ModbusMap):
            raise _wrong_map(config, where, "modbus", device_map)
        _only(config, conn, where, {"host", "port"})
        return ModbusAdapter(
            machine.id,
            device_map,
            host=_text(config, conn, "host", where),
            port=_port(config, conn, "port", where, 502),
        )
    if machine.protocol == "opcua":
        from adapters.opcua import OpcUaAdapter

        if not isinstance(device_map, OpcUaMap):
            raise _wrong_map(config, where, "opcua", device_map)
        _only(
            config,
            conn,
            where,
            {
                "url",
                "username",
                "password_env",
                "password_file",
                "security",
                "user_certificate",
                "user_private_key",
            },
        )
        return OpcUaAdapter(
            machine.id,
            device_map,
            url=_text(config, conn, "url", where),
            username=conn.get("username"),
            password=_secret(config, conn, "password", where),
            security=_opcua_security(config, conn, where),
            user_certificate=_file(config, conn, "user_certificate", f"{where}.connection"),
            user_private_key=_file(config, conn, "user_private_key", f"{where}.connection"),
        )
    if machine.protocol == "serial":
        from adapters.serial import SerialAdapter

        if not isinstance(device_map, SerialMap):
            raise _wrong_map(config, where, "serial", device_map)
        _only(config, conn, where, {"url"})
        return SerialAdapter(machine.id, device_map, url=_text(config, conn, "url", where))
    if machine.protocol == "files":
        from adapters.files import FilesAdapter
        from gateway.files_config import folder_options

        if not isinstance(device_map, FilesMap):
            raise _wrong_map(config, where, "files", device_map)
        return FilesAdapter(machine.id, device_map.result, folder_options(config.path, conn, where))
    raise ConfigError(f"unknown protocol {machine.protocol!r}", path=config.path, key=f"{where}.protocol")


def _cfx_native(config: LineConfig, machine: MachineConfig, where: str) -> Adapter:
    """A machine that speaks CFX: its events from the broker or pushed to our listener.

    ``connection``: ``request_uri`` (its AMQP 1.0 listener), ``events`` = ``"broker"`` (with
    ``exchange``, ``queue``) or ``"direct"`` (with ``listen_host``, ``listen_port``, ``address``),
    and ``liveness_timeout`` (seconds of silence that end a session; by default twice the
    HeartbeatFrequency the machine announces).
    """
    conn = machine.connection
    _only(
        config,
        conn,
        where,
        {
            "request_uri",
            "events",
            "exchange",
            "queue",
            "listen_host",
            "listen_port",
            "address",
            "liveness_timeout",
        },
    )
    liveness = conn.get("liveness_timeout")
    if liveness is not None and (
        not isinstance(liveness, int | float) or isinstance(liveness, bool) or not liveness > 0
    ):
        raise ConfigError(
            "must be a positive number of seconds",
            path=config.path,
            key=f"{where}.connection.liveness_timeout",
        )
    mode = conn.get("events", "broker")
    events: BrokerEvents | DirectEvents
    if mode == "broker":
        if config.amqp is None:
            raise ConfigError(
                'events = "broker" needs the [amqp] broker',
                path=config.path,
                key=f"{where}.connection.events",
            )
        urls = config.amqp.brokers
        if config.amqp.password is not None:
            secret = _resolve(config.amqp.password, path=config.path, key="amqp.password")
            urls = tuple(with_password(url, secret) for url in urls)
        exchange = _text(config, conn, "exchange", where, config.amqp.exchange)
        if exchange == config.amqp.exchange:
            # We republish the machine's envelopes to [amqp].exchange under its own routing keys:
            # reading them from the same exchange would read our own publications back.
            raise ConfigError(
                f"must differ from amqp.exchange ({exchange!r}): let the machine publish to its own exchange",
                path=config.path,
                key=f"{where}.connection.exchange",
            )
        tls = config.amqp.tls
        events = BrokerEvents(
            url=urls[0] if len(urls) == 1 else urls,
            exchange=_text(config, conn, "exchange", where, config.amqp.exchange),
            queue=conn.get("queue"),
            ssl_context=tls.context(path=config.path, where="amqp.tls") if tls else None,
        )
    elif mode == "direct":
        events = DirectEvents(
            host=_text(config, conn, "listen_host", where, "0.0.0.0"),
            port=_port(config, conn, "listen_port", where, 5701),
            address=_text(config, conn, "address", where, "linegate"),
        )
    else:
        raise ConfigError('must be "broker" or "direct"', path=config.path, key=f"{where}.connection.events")
    request_uri = conn.get("request_uri")
    if request_uri is not None and not (
        isinstance(request_uri, str) and request_uri.startswith(("amqp://", "amqps://"))
    ):
        raise ConfigError(
            "must be an amqp:// or amqps:// URI", path=config.path, key=f"{where}.connection.request_uri"
        )
    return CFXNativeAdapter(
        machine.id,
        handle=machine.handle,
        events=events,
        request_uri=request_uri,
        liveness_timeout=None if liveness is None else float(liveness),
    )


def _link_port(
    config: LineConfig, settings: Mapping[str, Any], key: str, where: str, default: int | None
) -> int:
    value = settings.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ConfigError("must be a port number (1-65535)", path=config.path, key=f"{where}.{key}")
    return value


def _link_host(
    config: LineConfig, settings: Mapping[str, Any], key: str, where: str, default: str | None
) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError("is required", path=config.path, key=f"{where}.{key}")
    return value


def build_trackers(
    config: LineConfig, adapters: Mapping[str, Adapter] | None = None
) -> dict[str, list[Adapter]]:
    """The Hermes vertical channels (``[[hermes.vertical]]``) and bridges (``[[hermes.bridges]]``)
    by machine id. A bridge drives its legacy machine's conveyor through that machine's Modbus
    adapter (from ``adapters``; without it, only the settings are checked).

    Raises:
        ConfigError: a link's key is missing or wrong, or a bridge's machine is not Modbus.
    """
    trackers: dict[str, list[Adapter]] = {}
    counters = {"vertical": 0, "bridge": 0}
    for link in config.hermes:
        table = "vertical" if link.kind == "vertical" else "bridges"
        where = f"hermes.{table}[{counters[link.kind]}]"
        counters[link.kind] += 1
        settings = link.settings
        if link.kind == "vertical":
            allowed = {"host", "port"}
        else:
            allowed = {"upstream_host", "upstream_port", "listen_host", "listen_port", "lane_id"}
        for key in settings:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                raise ConfigError(
                    f"unknown key (expected {expected})", path=config.path, key=f"{where}.{key}"
                )
        if link.kind == "vertical":
            host = _link_host(config, settings, "host", where, None)
            port = _link_port(config, settings, "port", where, None)
            trackers.setdefault(link.machine, []).append(
                HermesSupervisoryAdapter(link.machine, host=host, port=port)
            )
            continue
        lane_id = _link_port(config, settings, "lane_id", where, 1)
        upstream_host = _link_host(config, settings, "upstream_host", where, None)
        upstream_port = _link_port(config, settings, "upstream_port", where, 50100 + lane_id)
        listen_host = _link_host(config, settings, "listen_host", where, "0.0.0.0")
        listen_port = _link_port(config, settings, "listen_port", where, 50100 + lane_id)
        if config.machine(link.machine).protocol != "modbus":
            raise ConfigError(
                "a Hermes bridge drives a Modbus machine's conveyor; this machine is not Modbus",
                path=config.path,
                key=f"{where}.machine",
            )
        adapter = (adapters or {}).get(link.machine)
        if not isinstance(adapter, ModbusAdapter):
            continue  # checking only: the machine's adapter is built when the gateway starts
        conveyor = ModbusConveyor(adapter)

        def make_bridge(
            state: BridgeState,
            machine: str = link.machine,
            conveyor: ModbusConveyor = conveyor,
            up: tuple[str, int] = (upstream_host, upstream_port),
            listen: tuple[str, int] = (listen_host, listen_port),
            lane: int = lane_id,
        ) -> HermesBridge:
            return HermesBridge(
                machine,
                conveyor,
                upstream_host=up[0],
                upstream_port=up[1],
                listen_host=listen[0],
                listen_port=listen[1],
                lane_id=lane,
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


def check_line(config: LineConfig, *, secrets: bool = True) -> None:
    """The one validation of a line config, made by ``linegate check`` and by ``linegate run``
    before it opens anything: what passes here, ``run`` runs (short of a port in use or a
    machine that does not answer).

    Every adapter is built once (no connection is made), so config and map errors surface now;
    TLS files are read, secrets resolved, the outbox's folder looked at.

    Args:
        secrets: resolve every secret (broker passwords, the HTTP token, the listener's SASL
            password); ``linegate check --skip-secrets`` checks a config where they are not set.

    Raises:
        ConfigError: the first problem, with file and key path.
    """
    skipping = _SKIP_SECRETS.set(not secrets)
    try:
        for index, machine in enumerate(config.machines):
            adapter = build_adapter(config, machine, index)
            _check_grace(config, machine, index, adapter)
    finally:
        _SKIP_SECRETS.reset(skipping)
    build_trackers(config)
    # TLS files are read now, so a missing or malformed one is reported with its key path.
    if config.amqp is not None and config.amqp.tls is not None:
        config.amqp.tls.context(path=config.path, where="amqp.tls")
    if config.mqtt is not None and config.mqtt.tls is not None:
        config.mqtt.tls.context(path=config.path, where="mqtt.tls")
    listener_security(config, credentials=secrets)
    if secrets:
        for key, secret in (
            ("amqp.password", config.amqp.password if config.amqp else None),
            ("mqtt.password", config.mqtt.password if config.mqtt else None),
        ):
            if secret is not None:
                secret.resolve(path=config.path, key=key)
        http_token(config)
    folder = Path(config.outbox.path).parent
    if not folder.is_dir():
        raise ConfigError(f"the outbox's folder {folder} does not exist", path=config.path, key="outbox.path")


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
    with bind_errors(config, "listener.port", config.listener.host, config.listener.port):
        await stack.enter_async_context(listener)
    return Gateway(outbox, runtimes, sinks, recipes, listener=listener), listener
