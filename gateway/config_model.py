"""The line configuration's typed tables: what ``gateway.config`` reads a line file into.

Frozen dataclasses, one per table of the file (``[amqp]``, ``[[machines]]``, ``[limits.http]``,
...), with the choices each key allows. :func:`gateway.config.load_config` builds them and
checks every value; nothing here reads a file, except that a :class:`Secret` reads its variable
or file when resolved and a :class:`TlsConfig` loads its PEM files when it makes a context.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.presence import MAX_GRACE, MIN_GRACE
from protocols.errors import ConfigError
from protocols.transport.guard import PeerLimits

if TYPE_CHECKING:
    from gateway.trace.control import ControlConfig

PROTOCOLS = ("modbus", "opcua", "serial", "cfx", "files")
INTERLOCKS = ("finish_board", "refuse")
CHANGEOVER_AT = ("now", "boundary")  # when a line changeover switches each machine
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

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: Secret | None = None
    verify_hostname: bool = True

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
FAILOVER = ("in_order", "random")


@dataclass(frozen=True, slots=True)
class AmqpConfig:
    """The northbound AMQP 0-9-1 publisher (TLS with ``amqps://`` urls, one TLS table for all).

    ``url`` is the broker (the first node when ``urls`` is given); ``urls`` the nodes of a
    cluster (empty for one broker); ``failover`` the order the publisher tries them in.
    """

    url: str
    urls: tuple[str, ...] = ()
    failover: str = "in_order"
    exchange: str = "cfx"
    gzip: bool = False
    password: Secret | None = None
    tls: TlsConfig | None = None

    @property
    def brokers(self) -> tuple[str, ...]:
        """Every broker node's URL (just ``url`` for one broker), in the configured order."""
        return self.urls or (self.url,)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """The MQTT mirror of the event stream (TLS when ``tls`` is set; port 8883 by default then)."""

    host: str
    port: int = 1883
    username: str | None = None
    password: Secret | None = None
    topic_prefix: str = "cfx"
    tls: TlsConfig | None = None


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """The CFX request listener (AMQP 1.0) that hosts one handle per machine.

    With ``username`` and ``password``, requesters must log in with SASL PLAIN (the CFX SDK
    does when its URI carries user info); with ``tls`` (``cert_file`` and ``key_file``
    required) it serves ``amqps://``.
    """

    host: str = "127.0.0.1"
    port: int = 5700
    advertised_uri: str | None = None
    username: str | None = None
    password: Secret | None = None
    tls: TlsConfig | None = None


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The HTTP API and dashboard."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: Secret | None = None


DEFAULT_OUTBOX_PATH = "linegate-outbox.sqlite"
DEFAULT_MAX_EVENTS = 1_000_000


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """The durable outbox."""

    path: str = DEFAULT_OUTBOX_PATH
    max_events: int = DEFAULT_MAX_EVENTS
    overflow: str = "drop_oldest_bulk"
    durability: str = "process"


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """One machine of the line."""

    id: str
    handle: str
    protocol: str
    connection: Mapping[str, Any]
    map: str | None = None
    interlock: str = "finish_board"
    name: str | None = None
    link_grace: float | None = None  # None: the line's


#: seconds of silence before a machine is reported lost (``[line] link_grace``)
DEFAULT_LINK_GRACE = 10.0
LINK_GRACE_RANGE = (MIN_GRACE, MAX_GRACE)


@dataclass(frozen=True, slots=True)
class RecipeRef:
    """A recipe of one machine: name and optional revision."""

    name: str
    revision: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeoverConfig:
    """How line changeovers run (``[changeover]``).

    ``at`` = ``"now"``: each machine switches once its boards in process are done;
    ``"boundary"``: each machine switches when the first board of the new product reaches it
    (every machine in ``[products]`` then needs a ``[[hermes.vertical]]`` link). ``timeout``:
    seconds a changeover waits for boards to finish, or for the product's boards to arrive.
    """

    at: str = "now"
    timeout: int = 600


@dataclass(frozen=True, slots=True)
class HermesLink:
    """A Hermes vertical link to a machine, or a bridge standing in for one."""

    machine: str
    kind: str  # "vertical" or "bridge"
    settings: Mapping[str, Any] = field(default_factory=dict)


#: The servers whose peer limits ``[limits.<server>]`` adjusts.
LIMITED_SERVERS = ("http", "listener", "hermes")


@dataclass(frozen=True, slots=True)
class PeerLimitsConfig:
    """``[limits.<server>]``: what to change in a server's peer limits (docs/security.md).

    Each field left None keeps the server's default; a timeout of 0 turns that deadline off.
    """

    max_connections: int | None = None
    handshake_timeout: float | None = None
    idle_timeout: float | None = None
    drain_timeout: float | None = None
    write_buffer_limit: int | None = None

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
    name: str
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
    link_grace: float = DEFAULT_LINK_GRACE
    #: ``[trace]`` and ``[[interlock]]`` (``gateway.trace.control``); None when neither is set.
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
    "ChangeoverConfig",
    "HermesLink",
    "HttpConfig",
    "LineConfig",
    "ListenerConfig",
    "MachineConfig",
    "MqttConfig",
    "OutboxConfig",
    "PeerLimitsConfig",
    "RecipeRef",
    "Secret",
    "TlsConfig",
]
