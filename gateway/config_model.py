"""The line configuration's typed tables: what ``gateway.config`` reads a line file into.

Frozen dataclasses, one per table of the file (``[amqp]``, ``[[machines]]``, ``[limits.http]``,
...), with the choices each key allows. :func:`gateway.config.load_config` builds them and
checks every value; nothing here reads a file, except that a :class:`Secret` reads its variable
or file when resolved and a :class:`TlsConfig` loads its PEM files when it makes a context.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.presence import MAX_GRACE, MIN_GRACE
from protocols.errors import ConfigError
from protocols.failover import FAILOVER
from protocols.transport.guard import PeerLimits

if TYPE_CHECKING:
    from gateway.config_connections import Connection, LinkSettings
    from gateway.trace.control import ControlConfig


def doc(
    help: str,
    example: str | None = None,
    *,
    key: str | None = None,
    default: str | None = None,
    file: bool = False,
    in_example: bool = True,
) -> dict[str, Any]:
    """A key's documentation, kept on its field: docs/configuration.md is generated from it.

    Args:
        help: what the key does, one or two sentences.
        example: a TOML value for the reference's example (the default's when omitted).
        key: the TOML key when it differs from the field's name.
        default: the default as written in the reference, where the field has none of its own.
        file: the value names a file that must exist (``linegate check`` looks for it).
        in_example: show the key in the reference's example (not one that excludes another).
    """
    return {
        "help": help,
        "example": example,
        "key": key,
        "default": default,
        "file": file,
        "in_example": in_example,
    }


class Protocol(enum.StrEnum):
    """How the gateway talks to a machine (``[[machines]] protocol``)."""

    MODBUS = "modbus"
    OPCUA = "opcua"
    SERIAL = "serial"
    CFX = "cfx"
    FILES = "files"
    SCANNER = "scanner"  # a barcode scanner that only sends its reads (serial)
    TESTER = "tester"  # a test station that only sends its reports (serial, TS/TR/TE lines)


class Interlock(enum.StrEnum):
    """What a recipe change does while boards are in process (``[[machines]] interlock``)."""

    FINISH_BOARD = "finish_board"
    REFUSE = "refuse"


class ChangeoverAt(enum.StrEnum):
    """When a line changeover switches each machine (``[changeover] at``)."""

    NOW = "now"
    BOUNDARY = "boundary"


PROTOCOLS = tuple(p.value for p in Protocol)
INTERLOCKS = tuple(i.value for i in Interlock)
CHANGEOVER_AT = tuple(c.value for c in ChangeoverAt)
OVERFLOW = ("drop_oldest_bulk", "refuse_new")
DURABILITY = ("process", "power")


@dataclass(frozen=True, slots=True)
class Secret:
    """Where a secret is read from: an environment variable or a file (first line)."""

    env: str | None = None
    file: str | None = None

    def resolve(self, *, path: str, key: str) -> str:
        """The secret's value.

        Raises:
            ConfigError: the variable is unset or the file cannot be read.
        """
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set", path=path, key=f"{key}_env")
            return value
        assert self.file is not None
        try:
            return Path(self.file).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ConfigError(
                f"cannot read secret file {self.file}: {exc}", path=path, key=f"{key}_file"
            ) from None


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS to a broker (``[amqp.tls]``, ``[mqtt.tls]``).

    Args:
        ca_file: PEM trust anchors that verify the broker; the system's when omitted.
        cert_file: PEM client certificate (mutual TLS), with ``key_file``.
        key_file: PEM private key of ``cert_file``.
        key_password: where the key's password is read from, if the key is encrypted.
        verify_hostname: check the broker's certificate names the host dialled (default on).
    """

    ca_file: str | None = field(
        default=None,
        metadata=doc(
            "PEM trust anchors (relative to the config file); the system's when omitted.",
            '"ca.pem"',
            file=True,
        ),
    )
    cert_file: str | None = field(
        default=None,
        metadata=doc("PEM client certificate for mutual TLS, with key_file.", '"client.pem"', file=True),
    )
    key_file: str | None = field(
        default=None, metadata=doc("PEM private key of cert_file.", '"client.key"', file=True)
    )
    key_password: Secret | None = field(
        default=None, metadata=doc("The password of an encrypted key_file.", '"LINEGATE_KEY_PASSWORD"')
    )
    verify_hostname: bool = field(
        default=True, metadata=doc("Check that the peer's certificate names the host dialled.")
    )

    def context(self, *, path: str, where: str) -> ssl.SSLContext:
        """A client TLS context that verifies the broker as configured.

        Raises:
            ConfigError: a file is missing or not PEM of the right kind (names the key path,
                e.g. ``amqp.tls.ca_file``), or the key's password is unreadable.
        """
        for key, file in (
            ("ca_file", self.ca_file),
            ("cert_file", self.cert_file),
            ("key_file", self.key_file),
        ):
            if file is not None and not Path(file).is_file():
                raise ConfigError(f"{file} does not exist or is not a file", path=path, key=f"{where}.{key}")
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load CA file {self.ca_file}: {exc}", path=path, key=f"{where}.ca_file"
            ) from None
        context.check_hostname = self.verify_hostname
        if self.cert_file is not None:
            password = (
                self.key_password.resolve(path=path, key=f"{where}.key_password")
                if self.key_password is not None
                else None
            )
            try:
                context.load_cert_chain(self.cert_file, self.key_file, password)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"cannot load client certificate {self.cert_file} with key {self.key_file}: {exc}",
                    path=path,
                    key=f"{where}.cert_file",
                ) from None
        return context


#: How the publisher picks the next node of ``[amqp] urls``: the list's order, or a shuffle.


@dataclass(frozen=True, slots=True)
class AmqpConfig:
    """The northbound AMQP 0-9-1 publisher (TLS with ``amqps://`` urls, one TLS table for all).

    ``url`` is the broker (the first node when ``urls`` is given); ``urls`` the nodes of a
    cluster (empty for one broker); ``failover`` the order the publisher tries them in.
    """

    url: str = field(
        metadata=doc(
            "The broker (amqp:// or amqps://, no password in it); give url or urls.",
            '"amqps://linegate@broker.local/"',
        )
    )
    urls: tuple[str, ...] = field(
        default=(),
        metadata=doc(
            "The nodes of one cluster (same scheme, virtual host and user); instead of url.",
            '["amqp://linegate@mq1/", "amqp://linegate@mq2/"]',
            in_example=False,
        ),
    )
    failover: str = field(
        default="in_order",
        metadata=doc("With urls: try the nodes in_order or in random order.", '"random"', in_example=False),
    )
    cluster_name: str | None = field(
        default=None,
        metadata=doc(
            "The RabbitMQ cluster the nodes must belong to (rabbitmqctl cluster_status names it); a "
            "node that reports another is refused, so events never land in a cluster nobody reads.",
            '"rabbit@mq1"',
            in_example=False,
        ),
    )
    exchange: str = field(default="cfx", metadata=doc("The exchange the CFX envelopes are published to."))
    gzip: bool = field(default=False, metadata=doc("Compress every message body with gzip."))
    password: Secret | None = field(
        default=None, metadata=doc("The broker password.", '"LINEGATE_AMQP_PASSWORD"')
    )
    tls: TlsConfig | None = field(
        default=None,
        metadata=doc(
            "TLS to the broker: true (system trust anchors) or a table (see [amqp.tls]); "
            "on by itself for amqps:// urls.",
            "true",
        ),
    )

    @property
    def brokers(self) -> tuple[str, ...]:
        """Every broker node's URL (just ``url`` for one broker), in the configured order."""
        return self.urls or (self.url,)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """The MQTT mirror of the event stream (TLS when ``tls`` is set; port 8883 by default then).

    ``host`` and ``port`` are the broker (the first one when ``brokers`` is given); ``brokers``
    every broker of ``[mqtt] urls`` (empty for one); ``failover`` the order the sink tries them in.
    """

    host: str = field(
        metadata=doc(
            "The MQTT broker's host name or address; give host (and port) or urls.", '"broker.local"'
        )
    )
    port: int = field(default=1883, metadata=doc("The broker's port (8883 by default with tls).", "8883"))
    brokers: tuple[tuple[str, int], ...] = field(
        default=(),
        metadata=doc(
            "Several brokers, mqtt://host[:port] (or mqtts:// with TLS), no credentials; instead of "
            "host and port.",
            '["mqtt://mq1.plant:1883", "mqtt://mq2.plant:1883"]',
            key="urls",
            in_example=False,
        ),
    )
    failover: str = field(
        default="in_order",
        metadata=doc("With urls: try the brokers in_order or in random order.", '"random"', in_example=False),
    )
    username: str | None = field(default=None, metadata=doc("The MQTT user name.", '"linegate"'))
    password: Secret | None = field(
        default=None, metadata=doc("The MQTT password.", '"LINEGATE_MQTT_PASSWORD"')
    )
    topic_prefix: str = field(default="cfx", metadata=doc("The first level of every topic published."))
    tls: TlsConfig | None = field(
        default=None,
        metadata=doc("TLS to the broker: true or a table (see [mqtt.tls]).", "true"),
    )


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """The CFX request listener (AMQP 1.0) that hosts one handle per machine.

    With ``username`` and ``password``, requesters must log in with SASL PLAIN (the CFX SDK
    does when its URI carries user info); with ``tls`` (``cert_file`` and ``key_file``
    required) it serves ``amqps://``.
    """

    host: str = field(default="127.0.0.1", metadata=doc("The address the CFX request listener binds."))
    port: int = field(default=5700, metadata=doc("The listener's port (0: any free port)."))
    advertised_uri: str | None = field(
        default=None,
        metadata=doc(
            "The URI announced to requesters when it differs from host:port (NAT, a proxy).",
            '"amqp://gateway.line4.local:5700"',
        ),
    )
    username: str | None = field(
        default=None, metadata=doc("The SASL PLAIN user requesters log in as (with password).", '"mes"')
    )
    password: Secret | None = field(
        default=None, metadata=doc("The SASL PLAIN password (with username).", '"LINEGATE_LISTENER_PASSWORD"')
    )
    tls: TlsConfig | None = field(
        default=None,
        metadata=doc(
            "Serve amqps://: a table with cert_file and key_file (see [listener.tls]).",
            '{ cert_file = "gateway.pem", key_file = "gateway.key" }',
        ),
    )


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The HTTP API and dashboard."""

    host: str = field(default="127.0.0.1", metadata=doc("The address the HTTP API and dashboard bind."))
    port: int = field(default=8080, metadata=doc("The HTTP port (0: any free port)."))
    token: Secret | None = field(
        default=None,
        metadata=doc("The bearer token the API's write requests need.", '"LINEGATE_HTTP_TOKEN"'),
    )


DEFAULT_OUTBOX_PATH = "linegate-outbox.sqlite"
DEFAULT_MAX_EVENTS = 1_000_000


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """The durable outbox."""

    path: str = field(
        default=DEFAULT_OUTBOX_PATH, metadata=doc("The outbox's SQLite file; its folder must exist.")
    )
    max_events: int = field(
        default=DEFAULT_MAX_EVENTS, metadata=doc("Events kept undelivered at most (1 to 10^9).")
    )
    overflow: str = field(
        default="drop_oldest_bulk",
        metadata=doc(
            "When full: drop_oldest_bulk (drop the oldest bulk data first) or refuse_new.", '"refuse_new"'
        ),
    )
    durability: str = field(
        default="process",
        metadata=doc(
            "process: events survive the gateway's crash; power: also a power loss (slower).", '"power"'
        ),
    )


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """One machine of the line."""

    id: str = field(
        metadata=doc("The machine's id in the line: a letter, then A-Z a-z 0-9 _ - (64 at most).", '"oven1"')
    )
    handle: str = field(metadata=doc("Its CFX handle (Vendor.Model.Instance).", '"Acme.Reflow.1"'))
    protocol: Protocol = field(metadata=doc("How the gateway talks to it.", '"modbus"'))
    connection: Connection = field(
        metadata=doc(
            "Where and how to reach it; the keys depend on protocol (see the connection sections).",
            '{ host = "10.0.0.5", port = 502 }',
        )
    )
    map: str | None = field(
        default=None,
        metadata=doc(
            "What its registers, nodes, frames, files or report lines mean: builtin:<name> or a map "
            "file (relative to the config file); cfx and scanner take none, tester defaults to "
            "builtin:fct_lines, every other protocol needs one.",
            '"maps/oven.toml"',
        ),
    )
    interlock: Interlock = field(
        default=Interlock.FINISH_BOARD,
        metadata=doc("A recipe change with boards in process: finish_board first, or refuse.", '"refuse"'),
    )
    name: str | None = field(default=None, metadata=doc("A name for people.", '"Reflow oven"'))
    link_grace: float | None = field(  # None: the line's
        default=None, metadata=doc("This machine's link_grace (the line's when omitted).", "30")
    )
    index: int = 0  # its place in [[machines]], for key paths (machines[2].map)


#: seconds of silence before a machine is reported lost (``[line] link_grace``)
DEFAULT_LINK_GRACE = 10.0
LINK_GRACE_RANGE = (MIN_GRACE, MAX_GRACE)


@dataclass(frozen=True, slots=True)
class RecipeRef:
    """A recipe of one machine: name and optional revision."""

    name: str = field(metadata=doc("The recipe's name on the machine.", '"PROFILE-A"'))
    revision: str | None = field(
        default=None, metadata=doc("The revision the machine must report (any when omitted).", '"3"')
    )


@dataclass(frozen=True, slots=True)
class ChangeoverConfig:
    """How line changeovers run (``[changeover]``).

    ``at`` = ``"now"``: each machine switches once its boards in process are done;
    ``"boundary"``: each machine switches when the first board of the new product reaches it
    (every machine in ``[products]`` then needs a ``[[hermes.vertical]]`` link). ``timeout``:
    seconds a changeover waits for boards to finish, or for the product's boards to arrive.
    """

    at: ChangeoverAt = field(
        default=ChangeoverAt.NOW,
        metadata=doc(
            "now: each machine switches once its boards are done; boundary: when the first board "
            "of the new product reaches it (needs [[hermes.vertical]] links).",
            '"boundary"',
        ),
    )
    timeout: int = field(
        default=600,
        metadata=doc("Seconds a changeover waits for boards to finish or to arrive (1 to 86400)."),
    )


@dataclass(frozen=True, slots=True)
class HermesLink:
    """A Hermes vertical link to a machine, or a bridge standing in for one."""

    machine: str = field(metadata=doc("The id of the machine the link belongs to.", '"oven1"'))
    kind: str  # "vertical" or "bridge"
    settings: LinkSettings


#: The servers whose peer limits ``[limits.<server>]`` adjusts.
LIMITED_SERVERS = ("http", "listener", "hermes")


@dataclass(frozen=True, slots=True)
class PeerLimitsConfig:
    """``[limits.<server>]``: what to change in a server's peer limits (docs/security.md).

    Each field left None keeps the server's default; a timeout of 0 turns that deadline off.
    """

    max_connections: int | None = field(
        default=None, metadata=doc("Connections served at once (1 to 100000).", "64")
    )
    handshake_timeout: float | None = field(
        default=None, metadata=doc("Seconds a new peer has to complete its handshake (0: no limit).", "10")
    )
    idle_timeout: float | None = field(
        default=None, metadata=doc("Seconds of silence after which a peer is dropped (0: never).", "300")
    )
    drain_timeout: float | None = field(
        default=None,
        metadata=doc("Seconds a peer that does not read may hold our writes (0: no limit).", "30"),
    )
    write_buffer_limit: int | None = field(
        default=None, metadata=doc("Bytes buffered for a slow peer (1024 to 67108864).", "1048576")
    )

    def apply(self, limits: PeerLimits) -> PeerLimits:
        """``limits`` with the configured values in place."""
        changes: dict[str, Any] = {}
        for name in (
            "max_connections",
            "handshake_timeout",
            "idle_timeout",
            "drain_timeout",
            "write_buffer_limit",
        ):
            value = getattr(self, name)
            if value is not None:
                changes[name] = None if name.endswith("_timeout") and value == 0 else value
        return dataclasses.replace(limits, **changes)


@dataclass(frozen=True, slots=True)
class LineConfig:
    """The whole configuration of one line."""

    path: str
    name: str = field(
        metadata=doc("The line's name, shown on the dashboard and in logs.", '"Line 4"', default='"line"')
    )
    machines: tuple[MachineConfig, ...]
    products: Mapping[str, Mapping[str, RecipeRef]]
    hermes: tuple[HermesLink, ...] = ()
    outbox: OutboxConfig = OutboxConfig()
    amqp: AmqpConfig | None = None
    mqtt: MqttConfig | None = None
    listener: ListenerConfig = ListenerConfig()
    http: HttpConfig = HttpConfig()
    changeover: ChangeoverConfig = ChangeoverConfig()
    limits: Mapping[str, PeerLimitsConfig] = field(default_factory=dict)
    link_grace: float = field(
        default=DEFAULT_LINK_GRACE,
        metadata=doc(
            "Seconds of silence before a machine is reported lost; longer than its slowest poll.",
        ),
    )
    #: ``[trace]`` and ``[[interlock]]`` (``gateway.trace.control``, documented in docs/trace.md);
    #: None when neither is set.
    control: ControlConfig | None = None

    def grace_for(self, machine: MachineConfig) -> float:
        """Seconds of silence after which ``machine`` is reported lost in CFX."""
        return self.link_grace if machine.link_grace is None else machine.link_grace

    def peer_limits(self, server: str, default: PeerLimits) -> PeerLimits:
        """``default`` with ``[limits.<server>]`` applied."""
        configured = self.limits.get(server)
        return default if configured is None else configured.apply(default)

    def machine(self, machine_id: str) -> MachineConfig:
        """The machine with this id.

        Raises:
            KeyError: no such machine.
        """
        for m in self.machines:
            if m.id == machine_id:
                return m
        raise KeyError(f"no machine {machine_id!r} in {self.path}")


__all__ = [
    "CHANGEOVER_AT",
    "DEFAULT_LINK_GRACE",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_OUTBOX_PATH",
    "DURABILITY",
    "FAILOVER",
    "INTERLOCKS",
    "LIMITED_SERVERS",
    "LINK_GRACE_RANGE",
    "OVERFLOW",
    "PROTOCOLS",
    "AmqpConfig",
    "ChangeoverAt",
    "ChangeoverConfig",
    "HermesLink",
    "HttpConfig",
    "Interlock",
    "LineConfig",
    "ListenerConfig",
    "MachineConfig",
    "MqttConfig",
    "OutboxConfig",
    "PeerLimitsConfig",
    "Protocol",
    "RecipeRef",
    "Secret",
    "TlsConfig",
    "doc",
]
