"""How the gateway starts its trace service: the few calls ``gateway.assemble`` makes.

``open_trace`` opens the store (the embedded SQLite file of ``[trace] db``, by default
``linegate-trace.sqlite`` next to the outbox) and returns the service, to be given to the outbox
as a sink; ``enforce`` then connects the interlocks to where machines ask (the Hermes vertical
channels, the Hermes bridges with a ``downstream`` machine, and the line's control handle on the
CFX listener for ValidateUnitsRequest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from gateway.config_connections import BridgeLinkConfig
from gateway.trace.service import TraceService
from gateway.trace.store import PostgresStore, SqliteStore, Store, StoreError
from protocols.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import LineConfig
    from gateway.outbox import Outbox
    from protocols.cfx.transport import CFXListener

log = structlog.get_logger("linegate.trace")

#: The embedded store's file name, in the outbox's folder unless ``[trace] db`` names one.
DEFAULT_TRACE_DB = "linegate-trace.sqlite"


def trace_db(config: LineConfig) -> Path | None:
    """Where the embedded trace store lives, or None when the line runs no trace service or
    keeps its store in PostgreSQL (``[trace] dsn_env``/``dsn_file``)."""
    control = config.control
    if control is None or not control.enabled or control.dsn is not None:
        return None
    return Path(control.db) if control.db else Path(config.outbox.path).parent / DEFAULT_TRACE_DB


def trace_banner(config: LineConfig) -> str:
    """What ``linegate run`` says about its trace service at start."""
    control = config.control
    rules = len(control.rules) if control else 0
    handle = control.handle if control else "-"
    if control is not None and control.dsn is not None:
        source = control.dsn.env or control.dsn.file
        return (
            f"linegate: trace store in PostgreSQL (DSN from {source}), {rules} interlock rule(s),"
            f" ValidateUnitsRequest at {handle}; query it with linegate trace --dsn ..."
        )
    return (
        f"linegate: trace store {trace_db(config)}, {rules} interlock rule(s),"
        f" ValidateUnitsRequest at {handle}; query it with linegate trace --db {trace_db(config)}"
    )


def bridge_downstream(config: LineConfig) -> dict[str, str]:
    """``[[hermes.bridges]] downstream``: the machine after each bridged one, by bridged machine.

    Raises:
        ConfigError: ``downstream`` names no machine of the line.
    """
    ids = {m.id for m in config.machines}
    out: dict[str, str] = {}
    index = 0
    for link in config.hermes:
        if not isinstance(link.settings, BridgeLinkConfig):
            continue
        downstream = link.settings.downstream
        if downstream is not None:
            if downstream not in ids:
                raise ConfigError(
                    f"must name a machine of the line, not {downstream!r}",
                    path=config.path,
                    key=f"hermes.bridges[{index}].downstream",
                )
            out[link.machine] = downstream
        index += 1
    return out


async def open_trace(config: LineConfig, stack: AsyncExitStack) -> TraceService | None:
    """Open the trace store on ``stack`` and return the service (None without ``[trace]``):
    the embedded SQLite file, or PostgreSQL with ``[trace] dsn_env``/``dsn_file``.

    Raises:
        ConfigError: the store cannot be opened (names ``trace.db`` or ``trace.dsn_*``).
    """
    control = config.control
    if control is None or not control.enabled:
        return None
    store: Store
    if control.dsn is not None:
        key = "trace.dsn"
        store = PostgresStore(control.dsn.resolve(path=config.path, key=key))
        where = f"postgresql (dsn from {control.dsn.env or control.dsn.file})"
    else:
        path = trace_db(config)
        assert path is not None
        key, store, where = "trace.db", SqliteStore(path), str(path)
    try:
        await store.open()
    except StoreError as exc:
        raise ConfigError(f"cannot open the trace store: {exc}", path=config.path, key=key) from exc
    stack.push_async_callback(store.close)
    handles = {m.id: m.handle for m in config.machines}
    service = TraceService(store, control, handles)
    log.info("trace.started", db=where, rules=len(control.rules), handle=control.handle)
    return service


def enforce(
    service: TraceService,
    config: LineConfig,
    outbox: Outbox,
    trackers: Mapping[str, Iterable[object]],
    listener: CFXListener | None,
) -> list[str]:
    """Connect the interlocks to the machines; returns where they are enforced."""
    service.outbox = outbox
    where = service.attach(trackers, bridge_downstream(config))
    if listener is not None and config.control is not None:
        listener.add_handle(config.control.handle, service.validate_units)
        where.append(f"cfx:{config.control.handle}")
    log.info("control.enforced", where=where)
    return where


__all__ = ["DEFAULT_TRACE_DB", "bridge_downstream", "enforce", "open_trace", "trace_banner", "trace_db"]
