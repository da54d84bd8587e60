"""The line configuration: one TOML file describing brokers, machines, Hermes links and products.

Every error is a ``ConfigError`` naming the file, the key path (``machines[2].connection.port``)
and what is wrong. Secrets never come from the TOML itself: a key such as ``password`` or
``token`` is refused, and ``password_env`` / ``password_file`` (likewise ``token_*``) say where
to read them at start.

The typed tables it reads into live in :mod:`gateway.config_model` and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from gateway.config_connections import (
    BridgeLinkConfig,
    CfxConnection,
    CfxEvents,
    read_connection,
    read_link,
)
from gateway.config_model import (
    CHANGEOVER_AT,
    DEFAULT_LINK_GRACE,
    DEFAULT_MAX_EVENTS,
    DEFAULT_OUTBOX_PATH,
    DURABILITY,
    FAILOVER,
    INTERLOCKS,
    LIMITED_SERVERS,
    LINK_GRACE_RANGE,
    OVERFLOW,
    PROTOCOLS,
    AmqpConfig,
    ChangeoverAt,
    ChangeoverConfig,
    HermesLink,
    HttpConfig,
    Interlock,
    LineConfig,
    ListenerConfig,
    MachineConfig,
    MqttConfig,
    OutboxConfig,
    PeerLimitsConfig,
    Protocol,
    RecipeRef,
    Secret,
    TlsConfig,
)
from gateway.mqtt_brokers import BrokerListError, parse_mqtt_urls, uses_tls
from gateway.trace.control import parse_control
from protocols.tomlread import KeyReader, Problems, Table, join, kind_of, read_toml

SECRET_KEYS = ("password", "token")
TLS_KEYS = {"ca_file", "cert_file", "key_file", "key_password_env", "key_password_file", "verify_hostname"}
# CFX handles follow Vendor.Model.Instance (reference cfx.md §2.5); keep them to [A-Za-z0-9_.-].
HANDLE_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){2,}$")
MACHINE_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class _Reader(KeyReader):
    """The line config's key-path reader: :class:`~protocols.tomlread.KeyReader` and its secrets."""

    def secret(self, data: Mapping[str, Any], key: str, where: str) -> Secret | None:
        env, file = f"{key}_env", f"{key}_file"
        if env in data and file in data:
            raise self.fail(join(where, key), f"give {env} or {file}, not both")
        if env in data:
            return Secret(env=self.text(data, env, where))
        if file in data:
            return Secret(file=self.text(data, file, where))
        return None

    def no_secrets(self, data: Mapping[str, Any], where: str) -> None:
        for key in SECRET_KEYS:
            if key in data:
                raise self.fail(
                    join(where, key),
                    f"secrets are not read from the config file; use {key}_env (an environment variable)"
                    f" or {key}_file (a file)",
                )


def load_config(path: str | Path) -> LineConfig:
    """Read and check a line configuration file.

    Raises:
        ConfigError: the file is missing, is not TOML, or breaks a rule; the message names the
            file, the key path and the problem.
    """
    path_str = str(path)
    return parse_config(read_toml(path_str), path=path_str)


SECTIONS = frozenset(
    {
        "line",
        "machines",
        "products",
        "hermes",
        "outbox",
        "amqp",
        "mqtt",
        "listener",
        "http",
        "changeover",
        "limits",
        "trace",
        "interlock",
    }
)


def parse_config(
    data: Mapping[str, Any], *, path: str = "<config>", problems: Problems | None = None
) -> LineConfig:
    """Check an already-parsed configuration (see ``load_config``).

    Args:
        problems: collect every problem here and return what was valid (a broken machine or
            link left out, a broken section at its default) instead of raising the first.

    Raises:
        ConfigError: without ``problems``: every problem (a ConfigErrors when there are several).
    """
    found = problems if problems is not None else Problems()
    r = _Reader(path)
    with found.collect():
        r.only(data, "", set(SECTIONS))
    line = found.attempt(lambda: r.table(data, "line", "")) or {}
    with found.collect():
        r.only(line, "line", {"name", "link_grace"})
    machines, protocols = _machines(r, data, found)
    ids = set(protocols)
    products = found.attempt(lambda: _products(r, data, ids)) or {}
    hermes = _hermes(r, data, protocols, found)
    amqp = found.attempt(lambda: _amqp(r, data))
    if "amqp" not in data or amqp is not None:
        _cfx_brokers(r, machines, amqp, found)

    def section(read: Any, default: Any) -> Any:
        value = found.attempt(lambda: read(r, data))
        return default if value is None else value

    config = LineConfig(
        path=path,
        name=section(lambda r, d: r.text(line, "name", "line", "line"), "line"),
        machines=machines,
        products=products,
        hermes=hermes,
        changeover=section(lambda r, d: _changeover(r, d, products, hermes), ChangeoverConfig()),
        outbox=section(_outbox, OutboxConfig()),
        amqp=amqp,
        mqtt=found.attempt(lambda: _mqtt(r, data)),
        listener=section(_listener, ListenerConfig()),
        http=section(_http, HttpConfig()),
        limits=section(_limits, {}),
        link_grace=section(lambda r, d: _grace(r, line, "line", DEFAULT_LINK_GRACE), DEFAULT_LINK_GRACE),
        # [trace] and [[interlock]]: parsed by the trace package's own reader (docs/trace.md).
        control=found.attempt(
            lambda: parse_control(
                data,
                path=path,
                machines=ids,
                line=str(line.get("name", "line")) if isinstance(line, dict) else "line",
            )
        ),
    )
    if problems is None:
        found.raise_any()
    return config


def _grace(r: _Reader, data: Mapping[str, Any], where: str, default: float) -> float:
    value = data.get("link_grace", default)
    lo, hi = LINK_GRACE_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise r.fail(join(where, "link_grace"), f"must be a number of seconds, not {kind_of(value)}")
    if not lo <= value <= hi:
        raise r.fail(join(where, "link_grace"), f"must be between {lo:g} and {hi:g} seconds, not {value}")
    return float(value)


def _machines(
    r: _Reader, data: Mapping[str, Any], problems: Problems
) -> tuple[tuple[MachineConfig, ...], dict[str, str]]:
    """The valid machines, and the protocol named by every machine with an id (valid or not),
    so a broken machine is reported once, not again by each table that names it."""
    items = data.get("machines", [])
    if not isinstance(items, list):
        problems.add(r.fail("machines", "must be an array of tables ([[machines]])"))
        return (), {}
    named = {
        item["id"]: str(item.get("protocol"))
        for item in items
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    machines: list[MachineConfig] = []
    seen_ids: dict[str, str] = {}
    seen_handles: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"machines[{index}]"
        machine = problems.attempt(_machine, r, item, where, seen_ids, seen_handles)
        if machine is not None:
            connection = problems.attempt(_connection, r, item, where, machine.protocol)
            if connection is not None:
                machines.append(dataclasses.replace(machine, connection=connection, index=index))
    return tuple(machines), named


def _machine(
    r: _Reader, item: Any, where: str, seen_ids: dict[str, str], seen_handles: dict[str, str]
) -> MachineConfig:
    if not isinstance(item, dict):
        raise r.fail(where, "must be a table")
    r.only(item, where, {"id", "handle", "protocol", "connection", "map", "interlock", "name", "link_grace"})
    machine_id = r.text(item, "id", where)
    if not MACHINE_ID_RE.match(machine_id):
        raise r.fail(f"{where}.id", f"{machine_id!r} must start with a letter and use only A-Z a-z 0-9 _ -")
    handle = r.text(item, "handle", where)
    if not HANDLE_RE.match(handle):
        raise r.fail(
            f"{where}.handle",
            f"{handle!r} is not a CFX handle (Vendor.Model.Instance, A-Z a-z 0-9 _ - .)",
        )
    if machine_id in seen_ids:
        raise r.fail(f"{where}.id", f"{machine_id!r} is already used by {seen_ids[machine_id]}")
    if handle in seen_handles:
        raise r.fail(f"{where}.handle", f"{handle!r} is already used by {seen_handles[handle]}")
    seen_ids[machine_id] = seen_handles[handle] = where
    return MachineConfig(
        id=machine_id,
        handle=handle,
        protocol=Protocol(r.choice(item, "protocol", where, PROTOCOLS, None)),
        connection=CfxConnection(),  # replaced by the machine's own (read apart, see _machines)
        map=r.opt_text(item, "map", where),
        interlock=Interlock(r.choice(item, "interlock", where, INTERLOCKS, "finish_board")),
        name=r.opt_text(item, "name", where),
        link_grace=_grace(r, item, where, 0.0) if "link_grace" in item else None,
    )


def _connection(r: _Reader, item: dict[str, Any], where: str, protocol: Protocol) -> Any:
    connection = r.table(item, "connection", where, required=True)
    r.no_secrets(connection, f"{where}.connection")
    return read_connection(protocol, Table(connection, r.path, f"{where}.connection"), Path(r.path).parent)


def _cfx_brokers(
    r: _Reader, machines: tuple[MachineConfig, ...], amqp: AmqpConfig | None, problems: Problems
) -> None:
    """A CFX machine read from the broker needs ``[amqp]``, and its own exchange."""
    for machine in machines:
        conn = machine.connection
        if not isinstance(conn, CfxConnection) or conn.events is not CfxEvents.BROKER:
            continue
        where = f"machines[{machine.index}].connection"
        if amqp is None:
            problems.add(r.fail(f"{where}.events", 'events = "broker" needs the [amqp] broker'))
        elif (conn.exchange or amqp.exchange) == amqp.exchange:
            # We republish the machine's envelopes to [amqp].exchange under its own routing keys:
            # reading them from the same exchange would read our own publications back.
            problems.add(
                r.fail(
                    f"{where}.exchange",
                    f"must differ from amqp.exchange ({amqp.exchange!r}): let the machine publish to "
                    "its own exchange",
                )
            )


def parse_products(
    data: Mapping[str, Any], machine_ids: set[str], *, path: str = "<config>"
) -> dict[str, dict[str, RecipeRef]]:
    """The ``[products]`` table of a parsed TOML document (product → machine id → recipe).

    The line config's format, also read from a simulated line file by the test kit.

    Raises:
        ConfigError: naming ``path`` and the key path (``products.<product>.<machine>``).
    """
    return _products(_Reader(path), data, machine_ids)


def _products(r: _Reader, data: Mapping[str, Any], ids: set[str]) -> dict[str, dict[str, RecipeRef]]:
    products: dict[str, dict[str, RecipeRef]] = {}
    for product, recipes in r.table(data, "products", "").items():
        where = f"products.{product}"
        if not isinstance(recipes, dict):
            raise r.fail(where, "must be a table of machine id = recipe")
        refs: dict[str, RecipeRef] = {}
        for machine_id, spec in recipes.items():
            key = f"{where}.{machine_id}"
            if machine_id not in ids:
                raise r.fail(key, f"no machine with id {machine_id!r}")
            if isinstance(spec, str) and spec:
                refs[machine_id] = RecipeRef(spec)
            elif isinstance(spec, dict):
                r.only(spec, key, {"name", "revision"})
                refs[machine_id] = RecipeRef(r.text(spec, "name", key), r.opt_text(spec, "revision", key))
            else:
                raise r.fail(key, "must be a recipe name or a table {name = ..., revision = ...}")
        products[product] = refs
    return products


def _hermes(
    r: _Reader, data: Mapping[str, Any], protocols: Mapping[str, str], problems: Problems
) -> tuple[HermesLink, ...]:
    hermes = problems.attempt(lambda: r.table(data, "hermes", ""))
    if hermes is None:
        return ()
    with problems.collect():
        r.only(hermes, "hermes", {"vertical", "bridges"})
    links: list[HermesLink] = []
    for kind, key in (("vertical", "vertical"), ("bridge", "bridges")):
        items = hermes.get(key, [])
        if not isinstance(items, list):
            problems.add(r.fail(f"hermes.{key}", f"must be an array of tables ([[hermes.{key}]])"))
            continue
        for index, item in enumerate(items):
            link = problems.attempt(_link, r, item, kind, f"hermes.{key}[{index}]", protocols)
            if link is not None:
                links.append(link)
    return tuple(links)


def _link(r: _Reader, item: Any, kind: str, where: str, protocols: Mapping[str, str]) -> HermesLink:
    if not isinstance(item, dict):
        raise r.fail(where, "must be a table")
    machine_id = r.text(item, "machine", where)
    if machine_id not in protocols:
        raise r.fail(f"{where}.machine", f"no machine with id {machine_id!r}")
    settings = read_link(kind, Table(item, r.path, where))
    if isinstance(settings, BridgeLinkConfig) and protocols[machine_id] != Protocol.MODBUS:
        raise r.fail(
            f"{where}.machine",
            "a Hermes bridge drives a Modbus machine's conveyor; this machine is not Modbus",
        )
    return HermesLink(machine_id, kind, settings)


def _changeover(
    r: _Reader,
    data: Mapping[str, Any],
    products: Mapping[str, Mapping[str, RecipeRef]],
    hermes: tuple[HermesLink, ...],
) -> ChangeoverConfig:
    t = r.table(data, "changeover", "")
    r.only(t, "changeover", {"at", "timeout"})
    at = ChangeoverAt(r.choice(t, "at", "changeover", CHANGEOVER_AT, "now"))
    if at is ChangeoverAt.BOUNDARY:
        # The switch follows the boards only where the gateway sees them and can hold them.
        vertical = {link.machine for link in hermes if link.kind == "vertical"}
        blind = sorted({m for recipes in products.values() for m in recipes} - vertical)
        if blind:
            raise r.fail(
                "changeover.at",
                '"boundary" needs a [[hermes.vertical]] link for every machine in [products]; '
                f"none for {', '.join(blind)}",
            )
    return ChangeoverConfig(at=at, timeout=r.integer(t, "timeout", "changeover", 600, 1, 86400))


def _outbox(r: _Reader, data: Mapping[str, Any]) -> OutboxConfig:
    t = r.table(data, "outbox", "")
    r.only(t, "outbox", {"path", "max_events", "overflow", "durability"})
    return OutboxConfig(
        path=r.text(t, "path", "outbox", DEFAULT_OUTBOX_PATH),
        max_events=r.integer(t, "max_events", "outbox", DEFAULT_MAX_EVENTS, 1, 10**9),
        overflow=r.choice(t, "overflow", "outbox", OVERFLOW, "drop_oldest_bulk"),
        durability=r.choice(t, "durability", "outbox", DURABILITY, "process"),
    )


def _amqp(r: _Reader, data: Mapping[str, Any]) -> AmqpConfig | None:
    if "amqp" not in data:
        return None
    t = r.table(data, "amqp", "")
    r.no_secrets(t, "amqp")
    r.only(
        t,
        "amqp",
        {
            "url",
            "urls",
            "failover",
            "cluster_name",
            "exchange",
            "gzip",
            "password_env",
            "password_file",
            "tls",
        },
    )
    if "url" in t and "urls" in t:
        raise r.fail("amqp.urls", "give url (one broker) or urls (the nodes of a cluster), not both")
    if "url" in t or "urls" not in t:
        urls: tuple[str, ...] = (_broker_url(r, r.text(t, "url", "amqp"), "amqp.url"),)
        if "failover" in t:
            raise r.fail("amqp.failover", "needs urls (several broker nodes); url names one")
    else:
        urls = _broker_urls(r, t["urls"])
    failover = r.choice(t, "failover", "amqp", FAILOVER, "in_order")
    tls = _tls(r, t, "amqp")
    url = urls[0]
    if tls is not None and not url.startswith("amqps://"):
        raise r.fail("amqp.tls", f"needs an amqps:// url, not {url!r}")
    if tls is None and url.startswith("amqps://"):
        tls = TlsConfig()  # the system's trust anchors, hostname verified
    return AmqpConfig(
        url=url,
        urls=urls if "urls" in t else (),
        failover=failover,
        cluster_name=r.opt_text(t, "cluster_name", "amqp"),
        exchange=r.text(t, "exchange", "amqp", "cfx"),
        gzip=r.flag(t, "gzip", "amqp", False),
        password=r.secret(t, "password", "amqp"),
        tls=tls,
    )


def _broker_url(r: _Reader, url: str, key: str) -> str:
    if not url.startswith(("amqp://", "amqps://")):
        raise r.fail(key, f"must start with amqp:// or amqps://, not {url!r}")
    if re.match(r"^amqps?://[^/@]*:[^/@]*@", url):
        raise r.fail(key, "must not contain a password; use amqp.password_env or amqp.password_file")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        raise r.fail(key, f"is not a valid URL ({exc}): {url!r}") from None
    if not parts.hostname:
        raise r.fail(key, f"names no host: {url!r}")
    return url


def _broker_key(url: str) -> tuple[str, str, int, str, str]:
    """What makes two broker URLs the same node: scheme, host, port (defaulted), vhost, user."""
    parts = urlsplit(url)
    tls = parts.scheme == "amqps"
    port = parts.port or (5671 if tls else 5672)
    return (
        parts.scheme,
        (parts.hostname or "").lower(),
        port,
        unquote(parts.path or "/"),
        parts.username or "",
    )


def _broker_urls(r: _Reader, value: object) -> tuple[str, ...]:
    """``[amqp] urls``: the nodes of one cluster, each a URL; same scheme, virtual host and user."""
    if not isinstance(value, list):
        raise r.fail("amqp.urls", f"must be a list of broker URLs, not {kind_of(value)}")
    if not value:
        raise r.fail("amqp.urls", "must name at least one broker node")
    urls: list[str] = []
    seen: dict[tuple[str, str, int, str, str], int] = {}
    for index, item in enumerate(value):
        key = f"amqp.urls[{index}]"
        if not isinstance(item, str) or not item:
            raise r.fail(key, f"must be a non-empty string, not {kind_of(item)}")
        url = _broker_url(r, item, key)
        node = _broker_key(url)
        if node[:3] in {k[:3] for k in seen}:
            first = next(i for k, i in seen.items() if k[:3] == node[:3])
            raise r.fail(key, f"{url!r} is the same node as amqp.urls[{first}]")
        if seen:
            scheme, _, _, vhost, user = next(iter(seen))
            if node[0] != scheme:
                raise r.fail(
                    key,
                    f"every node of the cluster must use the same scheme ({scheme}://): {url!r} "
                    "(TLS to some nodes only would send the password in the clear to the others)",
                )
            if node[3] != vhost:
                raise r.fail(key, f"virtual host {node[3]!r} differs from amqp.urls[0]'s {vhost!r}")
            if node[4] != user:
                raise r.fail(
                    key, f"user {node[4] or 'guest'!r} differs from amqp.urls[0]'s {user or 'guest'!r}"
                )
        seen[node] = index
        urls.append(url)
    return tuple(urls)


def _mqtt(r: _Reader, data: Mapping[str, Any]) -> MqttConfig | None:
    if "mqtt" not in data:
        return None
    t = r.table(data, "mqtt", "")
    r.no_secrets(t, "mqtt")
    r.only(
        t,
        "mqtt",
        {
            "host",
            "port",
            "urls",
            "failover",
            "username",
            "password_env",
            "password_file",
            "topic_prefix",
            "tls",
        },
    )
    tls = _tls(r, t, "mqtt")
    brokers: tuple[tuple[str, int], ...] = ()
    if "urls" in t:  # several brokers (gateway.mqtt_brokers); host and port are then the first
        if "host" in t or "port" in t:
            raise r.fail("mqtt.urls", "give host and port (one broker) or urls (several), not both")
        try:
            brokers = parse_mqtt_urls(t["urls"])
        except BrokerListError as exc:
            raise r.fail("mqtt.urls" + ("" if exc.index is None else f"[{exc.index}]"), exc.problem) from None
        if tls is not None and not uses_tls(t["urls"]):
            raise r.fail("mqtt.tls", "needs mqtts:// urls")
        if tls is None and uses_tls(t["urls"]):
            tls = TlsConfig()  # the system's trust anchors, hostname verified
    elif "failover" in t:
        raise r.fail("mqtt.failover", "needs urls (several brokers); host names one")
    return MqttConfig(
        host=brokers[0][0] if brokers else r.text(t, "host", "mqtt"),
        # MQTT over TLS listens on 8883 by IANA's assignment (MQTT 5.0 §4.2).
        port=brokers[0][1]
        if brokers
        else r.integer(t, "port", "mqtt", 1883 if tls is None else 8883, 1, 65535),
        brokers=brokers,
        failover=r.choice(t, "failover", "mqtt", FAILOVER, "in_order"),
        username=r.opt_text(t, "username", "mqtt"),
        password=r.secret(t, "password", "mqtt"),
        topic_prefix=r.text(t, "topic_prefix", "mqtt", "cfx"),
        tls=tls,
    )


def _tls(r: _Reader, data: Mapping[str, Any], where: str) -> TlsConfig | None:
    """``[<where>.tls]``: a table of files (relative to the config file), or ``true`` for the
    system's trust anchors."""
    value = data.get("tls")
    if value is None or value is False:
        return None
    if value is True:
        return TlsConfig()
    at = join(where, "tls")
    t = r.table(data, "tls", where)
    if "key_password" in t:
        raise r.fail(
            join(at, "key_password"),
            "secrets are not read from the config file; use key_password_env or key_password_file",
        )
    r.only(t, at, TLS_KEYS)
    tls = TlsConfig(
        ca_file=r.opt_path(t, "ca_file", at),
        cert_file=r.opt_path(t, "cert_file", at),
        key_file=r.opt_path(t, "key_file", at),
        key_password=r.secret(t, "key_password", at),
        verify_hostname=r.flag(t, "verify_hostname", at, True),
    )
    if (tls.cert_file is None) != (tls.key_file is None):
        missing = "key_file" if tls.key_file is None else "cert_file"
        raise r.fail(join(at, missing), "is required with a client certificate (cert_file and key_file)")
    return tls


def _limits(r: _Reader, data: Mapping[str, Any]) -> dict[str, PeerLimitsConfig]:
    t = r.table(data, "limits", "")
    r.only(t, "limits", set(LIMITED_SERVERS))
    limits: dict[str, PeerLimitsConfig] = {}
    for server in LIMITED_SERVERS:
        if server not in t:
            continue
        where = f"limits.{server}"
        table = r.table(t, server, "limits")
        r.only(table, where, {f.name for f in dataclasses.fields(PeerLimitsConfig)})
        timeouts = {
            name: _seconds(r, table, name, where)
            for name in ("handshake_timeout", "idle_timeout", "drain_timeout")
            if name in table
        }
        limits[server] = PeerLimitsConfig(
            max_connections=(
                r.integer(table, "max_connections", where, 1, 1, 100_000)
                if "max_connections" in table
                else None
            ),
            write_buffer_limit=(
                r.integer(table, "write_buffer_limit", where, 1, 1024, 64 * 1024 * 1024)
                if "write_buffer_limit" in table
                else None
            ),
            **timeouts,
        )
    return limits


def _seconds(r: _Reader, data: Mapping[str, Any], key: str, where: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86_400:
        raise r.fail(join(where, key), f"must be seconds from 0 (off) to 86400, not {value!r}")
    return float(value)


def _listener(r: _Reader, data: Mapping[str, Any]) -> ListenerConfig:
    t = r.table(data, "listener", "")
    r.no_secrets(t, "listener")
    r.only(
        t, "listener", {"host", "port", "advertised_uri", "username", "password_env", "password_file", "tls"}
    )
    username = r.opt_text(t, "username", "listener")
    password = r.secret(t, "password", "listener")
    if (username is None) != (password is None):
        raise r.fail(
            "listener.password" if password is None else "listener.username", "is required with SASL login"
        )
    tls = _tls(r, t, "listener")
    if tls is not None and (tls.cert_file is None or tls.key_file is None):
        raise r.fail(
            "listener.tls.cert_file", "is required: the listener serves TLS with its own certificate"
        )
    return ListenerConfig(
        host=r.text(t, "host", "listener", "127.0.0.1"),
        port=r.integer(t, "port", "listener", 5700, 0, 65535),
        advertised_uri=r.opt_text(t, "advertised_uri", "listener"),
        username=username,
        password=password,
        tls=tls,
    )


def _http(r: _Reader, data: Mapping[str, Any]) -> HttpConfig:
    t = r.table(data, "http", "")
    r.no_secrets(t, "http")
    r.only(t, "http", {"host", "port", "token_env", "token_file"})
    return HttpConfig(
        host=r.text(t, "host", "http", "127.0.0.1"),
        port=r.integer(t, "port", "http", 8080, 0, 65535),
        token=r.secret(t, "token", "http"),
    )


__all__ = [
    "CHANGEOVER_AT",
    "DEFAULT_LINK_GRACE",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_OUTBOX_PATH",
    "DURABILITY",
    "HANDLE_RE",
    "INTERLOCKS",
    "LIMITED_SERVERS",
    "LINK_GRACE_RANGE",
    "MACHINE_ID_RE",
    "OVERFLOW",
    "PROTOCOLS",
    "SECRET_KEYS",
    "SECTIONS",
    "TLS_KEYS",
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
    "load_config",
    "parse_config",
]
