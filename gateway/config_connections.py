"""The typed tables of a machine's ``connection`` (one per protocol) and of the Hermes links.

:func:`read_connection` reads ``[[machines]] connection`` into the table of the machine's
protocol, :func:`read_link` a ``[[hermes.vertical]]`` or ``[[hermes.bridges]]`` entry; every error
names the file and key path. Files named here are resolved relative to the config file; whether
they exist, and whether secrets resolve, is checked by :mod:`gateway.config_check`.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config_model import Protocol, Secret, doc
from gateway.files_config import FilesConnection, read_files_connection
from protocols.tomlread import MISSING, Table

#: pyserial URL schemes the serial adapter opens besides a device path.
SERIAL_SCHEMES = ("socket", "rfc2217", "loop")
#: The CFX TestMethod names a tester's results may carry (CFX.Structures.TestMethod).
TEST_METHODS = ("ICT", "FPT", "FCT", "BST", "Automated", "Human")
OPCUA_POLICIES = ("Basic256Sha256",)
OPCUA_MODES = ("SignAndEncrypt", "Sign")


@dataclass(frozen=True, slots=True)
class ModbusConnection:
    """``protocol = "modbus"``: a Modbus TCP server."""

    host: str = field(metadata=doc("The machine's host name or address.", '"10.0.0.5"'))
    port: int = field(default=502, metadata=doc("The Modbus TCP port (1-65535)."))


@dataclass(frozen=True, slots=True)
class OpcUaSecurityConfig:
    """``connection.security`` of an OPC UA machine: Basic256Sha256 with the client's certificate."""

    certificate: str = field(
        metadata=doc("The client's application certificate (DER or PEM).", '"client.der"', file=True)
    )
    private_key: str = field(metadata=doc("The certificate's private key (PEM).", '"client.pem"', file=True))
    server_certificate: str | None = field(
        default=None,
        metadata=doc(
            "Pin the server's certificate; taken from the endpoint when omitted.", '"server.der"', file=True
        ),
    )
    policy: str = field(default="Basic256Sha256", metadata=doc("The security policy (Basic256Sha256 only)."))
    mode: str = field(
        default="SignAndEncrypt", metadata=doc("The message security mode: SignAndEncrypt or Sign.", '"Sign"')
    )
    application_uri: str = field(
        default="urn:linegate:adapter",
        metadata=doc("The ApplicationUri of the client certificate (its URI subject alt name)."),
    )


@dataclass(frozen=True, slots=True)
class OpcUaConnection:
    """``protocol = "opcua"``: an OPC UA server."""

    url: str = field(metadata=doc("The server's endpoint.", '"opc.tcp://10.0.0.6:4840"'))
    username: str | None = field(default=None, metadata=doc("The user to log in as.", '"linegate"'))
    password: Secret | None = field(
        default=None, metadata=doc("The user's password.", '"LINEGATE_OPCUA_PASSWORD"')
    )
    security: OpcUaSecurityConfig | None = field(
        default=None,
        metadata=doc(
            "Sign (and encrypt) the session; a table, see the OPC UA security section.",
            '{ certificate = "client.der", private_key = "client.pem" }',
        ),
    )
    user_certificate: str | None = field(
        default=None,
        metadata=doc(
            "Log in with an X.509 user certificate (instead of username).",
            '"user.der"',
            file=True,
            in_example=False,
        ),
    )
    user_private_key: str | None = field(
        default=None,
        metadata=doc("The user certificate's private key.", '"user.pem"', file=True, in_example=False),
    )


@dataclass(frozen=True, slots=True)
class SerialConnection:
    """``protocol = "serial"``: a serial line, a serial server or a loopback."""

    url: str = field(
        metadata=doc(
            "A device path (it must exist), socket://host:port, rfc2217://host:port or loop://.",
            '"/dev/ttyUSB0"',
        )
    )

    @property
    def device(self) -> str | None:
        """The device path, when ``url`` names one rather than a URL."""
        return None if "://" in self.url else self.url


@dataclass(frozen=True, slots=True)
class ScannerConnection:
    """``protocol = "scanner"``: a barcode scanner or laser-marker reader that sends each read as
    a line (AIM symbology prefix optional); no map (docs/identification-and-test.md)."""

    url: str = field(
        metadata=doc(
            "A device path (it must exist), socket://host:port, rfc2217://host:port or loop://.",
            '"/dev/ttyACM0"',
        )
    )
    no_read: str = field(default="NOREAD", metadata=doc("What the scanner sends when it read nothing."))
    double_read_window: float = field(
        default=2.0, metadata=doc("Seconds within which the same code read again is one read.", "1.5")
    )


@dataclass(frozen=True, slots=True)
class TesterConnection:
    """``protocol = "tester"``: a test station that reports each unit as lines on a serial line,
    read as its tester map says (``map``; builtin:fct_lines, the TS/TR/TE lines, when none is
    given; docs/identification-and-test.md)."""

    url: str = field(
        metadata=doc(
            "A device path (it must exist), socket://host:port, rfc2217://host:port or loop://.",
            '"socket://10.0.0.7:4001"',
        )
    )
    method: str | None = field(
        default=None,
        metadata=doc(
            "The CFX TestMethod of its results, instead of its map's [lines] method.",
            '"ICT"',
            default="the map's",
            in_example=False,
        ),
    )


class CfxEvents(enum.StrEnum):
    """Where a CFX machine's events come from."""

    BROKER = "broker"  # it publishes to a broker exchange; we consume a queue bound to it
    DIRECT = "direct"  # it sends them to an AMQP 1.0 listener of ours


@dataclass(frozen=True, slots=True)
class CfxConnection:
    """``protocol = "cfx"``: a machine that speaks CFX itself."""

    request_uri: str | None = field(
        default=None,
        metadata=doc("The machine's own AMQP 1.0 request listener.", '"amqp://10.0.0.8:5672"'),
    )
    events: CfxEvents = field(
        default=CfxEvents.BROKER,
        metadata=doc(
            "broker: read its events from the [amqp] broker; direct: it sends them to listen_port.",
            '"direct"',
        ),
    )
    exchange: str | None = field(
        default=None,
        metadata=doc(
            "events = broker: the exchange it publishes to (not [amqp] exchange).",
            '"machines"',
            default="[amqp] exchange",
            in_example=False,
        ),
    )
    queue: str | None = field(
        default=None,
        metadata=doc(
            "events = broker: a named queue (a server-named one when omitted).",
            '"line4.placer"',
            in_example=False,
        ),
    )
    listen_host: str = field(default="0.0.0.0", metadata=doc("events = direct: the address to listen on."))
    listen_port: int = field(default=5701, metadata=doc("events = direct: the port to listen on."))
    address: str = field(default="linegate", metadata=doc("events = direct: the AMQP address it sends to."))
    liveness_timeout: float | None = field(
        default=None,
        metadata=doc(
            "Seconds of silence that end its session; twice its announced heartbeat when omitted.",
            "45",
        ),
    )


@dataclass(frozen=True, slots=True)
class VerticalLinkConfig:
    """``[[hermes.vertical]]``: the machine's Hermes SupervisorySystemPort."""

    host: str = field(metadata=doc("The machine's host name or address.", '"10.0.0.5"'))
    port: int = field(metadata=doc("Its SupervisorySystemPort.", "50200"))


@dataclass(frozen=True, slots=True)
class BridgeLinkConfig:
    """``[[hermes.bridges]]``: a Hermes lane stood in for a Modbus machine without Hermes."""

    upstream_host: str = field(metadata=doc("The upstream machine's Hermes host.", '"10.0.0.4"'))
    upstream_port: int = field(
        metadata=doc("The upstream machine's Hermes port.", "50101", default="50100 + lane_id")
    )
    listen_port: int = field(
        metadata=doc("The port the downstream machine connects to.", "50111", default="50100 + lane_id")
    )
    listen_host: str = field(default="0.0.0.0", metadata=doc("Where the downstream machine connects."))
    lane_id: int = field(default=1, metadata=doc("The Hermes LaneId (1-65535).", "2"))
    downstream: str | None = field(
        default=None,
        metadata=doc(
            "The machine after the bridged one: a board the line's interlocks refuse there is not "
            "offered downstream ([[interlock]], docs/trace.md).",
            '"solder1"',
        ),
    )


Connection = (
    ModbusConnection
    | OpcUaConnection
    | SerialConnection
    | CfxConnection
    | FilesConnection
    | ScannerConnection
    | TesterConnection
)
LinkSettings = VerticalLinkConfig | BridgeLinkConfig

#: The connection table of each protocol.
CONNECTIONS: dict[Protocol, type[Any]] = {
    Protocol.MODBUS: ModbusConnection,
    Protocol.OPCUA: OpcUaConnection,
    Protocol.SERIAL: SerialConnection,
    Protocol.CFX: CfxConnection,
    Protocol.FILES: FilesConnection,
    Protocol.SCANNER: ScannerConnection,
    Protocol.TESTER: TesterConnection,
}


def toml_keys(cls: type[Any]) -> frozenset[str]:
    """The keys a table of ``cls`` takes: a secret's as ``<name>_env`` and ``<name>_file``."""
    keys: set[str] = set()
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        key = f.metadata.get("key") or f.name
        if "Secret" in str(f.type):
            keys.update((f"{key}_env", f"{key}_file"))
        else:
            keys.add(key)
    return frozenset(keys)


def read_secret(t: Table, name: str) -> Secret | None:
    """``<name>_env`` (an environment variable) or ``<name>_file`` (a file), or None."""
    env, file = f"{name}_env", f"{name}_file"
    if t.has(env) and t.has(file):
        raise t.error(f"give {env} or {file}, not both", name)
    if t.has(env):
        return Secret(env=t.text(env))
    if t.has(file):
        return Secret(file=t.text(file))
    return None


def _port(t: Table, name: str, default: Any = MISSING) -> int:
    if not t.has(name):
        if default is MISSING:
            raise t.error("is required", name)
        return int(default)
    value = t.data[name]
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise t.error("must be a port number (1-65535)", name)
    return value


def _path(t: Table, name: str, base: Path) -> str | None:
    value: str | None = t.text(name, None)
    if value is None or Path(value).is_absolute():
        return value
    return str(base / value)


def _required_path(t: Table, name: str, base: Path) -> str:
    value = _path(t, name, base)
    if value is None:
        raise t.error("is required", name)
    return value


def read_connection(protocol: Protocol, t: Table, base: Path) -> Connection:
    """The ``connection`` table of a ``protocol`` machine; files relative to ``base``.

    Raises:
        ConfigError: an unknown, missing or wrong key (naming its key path).
    """
    t.only(toml_keys(CONNECTIONS[protocol]))
    if protocol is Protocol.MODBUS:
        return ModbusConnection(host=t.text("host"), port=_port(t, "port", 502))
    if protocol is Protocol.OPCUA:
        security = t.section("security")
        return OpcUaConnection(
            url=t.text("url"),
            username=t.text("username", None),
            password=read_secret(t, "password"),
            security=None if security is None else _opcua_security(security, base),
            user_certificate=_path(t, "user_certificate", base),
            user_private_key=_path(t, "user_private_key", base),
        )
    if protocol is Protocol.SERIAL:
        return SerialConnection(url=serial_url(t, "url"))
    if protocol is Protocol.CFX:
        return _cfx(t)
    if protocol is Protocol.SCANNER:
        window = t.get("double_read_window", (int, float), 2.0)
        if isinstance(window, bool) or not 0 <= window <= 60:
            raise t.error("must be a number of seconds from 0 to 60", "double_read_window")
        return ScannerConnection(
            url=serial_url(t, "url"), no_read=t.text("no_read", "NOREAD"), double_read_window=float(window)
        )
    if protocol is Protocol.TESTER:
        method = t.get("method", str, None)
        if method is not None and method not in TEST_METHODS:
            raise t.error(f"must be one of {', '.join(TEST_METHODS)}", "method")
        return TesterConnection(url=serial_url(t, "url"), method=method)
    return read_files_connection(t, base)


def _opcua_security(t: Table, base: Path) -> OpcUaSecurityConfig:
    t.only(toml_keys(OpcUaSecurityConfig))
    if t.get("policy", str, "Basic256Sha256") not in OPCUA_POLICIES:
        raise t.error("the supported policy is Basic256Sha256", "policy")
    mode: str = t.get("mode", str, "SignAndEncrypt")
    if mode not in OPCUA_MODES:
        raise t.error(f"must be SignAndEncrypt or Sign, not {mode!r}", "mode")
    return OpcUaSecurityConfig(
        certificate=_required_path(t, "certificate", base),
        private_key=_required_path(t, "private_key", base),
        server_certificate=_path(t, "server_certificate", base),
        mode=mode,
        application_uri=t.text("application_uri", "urn:linegate:adapter"),
    )


def serial_url(t: Table, name: str) -> str:
    """A device path or a pyserial URL the adapter opens (socket:// and rfc2217:// with host:port)."""
    url: str = t.text(name)
    if "://" not in url:
        return url  # a device path: gateway.config_check looks for it
    scheme = url.partition("://")[0]
    if scheme not in SERIAL_SCHEMES:
        raise t.error(
            f"{scheme}:// is not a serial URL the adapter opens (a device path, "
            f"{', '.join(s + '://' for s in SERIAL_SCHEMES)})",
            name,
        )
    if scheme in ("socket", "rfc2217"):
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            port = None
            parts = urlsplit("")
        if not parts.hostname or port is None:
            raise t.error(f"must be {scheme}://host:port, not {url!r}", name)
    return url


def _cfx(t: Table) -> CfxConnection:
    liveness = t.data.get("liveness_timeout")
    if liveness is not None and (
        not isinstance(liveness, int | float) or isinstance(liveness, bool) or not liveness > 0
    ):
        raise t.error("must be a positive number of seconds", "liveness_timeout")
    events = t.data.get("events", CfxEvents.BROKER.value)
    if events not in tuple(CfxEvents):
        raise t.error('must be "broker" or "direct"', "events")
    request_uri = t.data.get("request_uri")
    if request_uri is not None and not (
        isinstance(request_uri, str) and request_uri.startswith(("amqp://", "amqps://"))
    ):
        raise t.error("must be an amqp:// or amqps:// URI", "request_uri")
    return CfxConnection(
        request_uri=request_uri,
        events=CfxEvents(events),
        exchange=t.text("exchange", None),
        queue=t.text("queue", None),
        listen_host=t.text("listen_host", "0.0.0.0"),
        listen_port=_port(t, "listen_port", 5701),
        address=t.text("address", "linegate"),
        liveness_timeout=None if liveness is None else float(liveness),
    )


def read_link(kind: str, t: Table) -> LinkSettings:
    """A Hermes link's settings (``kind`` ``vertical`` or ``bridge``), without its ``machine``.

    Raises:
        ConfigError: an unknown, missing or wrong key.
    """
    if kind == "vertical":
        t.only(toml_keys(VerticalLinkConfig) | {"machine"})
        return VerticalLinkConfig(host=t.text("host"), port=_port(t, "port"))
    t.only(toml_keys(BridgeLinkConfig) | {"machine"})
    lane_id = _port(t, "lane_id", 1)
    return BridgeLinkConfig(
        upstream_host=t.text("upstream_host"),
        upstream_port=_port(t, "upstream_port", 50100 + lane_id),
        listen_host=t.text("listen_host", "0.0.0.0"),
        listen_port=_port(t, "listen_port", 50100 + lane_id),
        lane_id=lane_id,
        downstream=t.text("downstream", None),
    )


__all__ = [
    "CONNECTIONS",
    "OPCUA_MODES",
    "OPCUA_POLICIES",
    "SERIAL_SCHEMES",
    "TEST_METHODS",
    "BridgeLinkConfig",
    "CfxConnection",
    "CfxEvents",
    "Connection",
    "LinkSettings",
    "ModbusConnection",
    "OpcUaConnection",
    "OpcUaSecurityConfig",
    "ScannerConnection",
    "SerialConnection",
    "TesterConnection",
    "VerticalLinkConfig",
    "read_connection",
    "read_link",
    "read_secret",
    "serial_url",
    "toml_keys",
]
