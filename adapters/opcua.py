"""The OPC UA adapter: an asyncua client session described by an OpcUaMap.

Each session connects, looks the map's namespace up in the server's NamespaceArray (the index
is never hard-coded: OPC UA Part 3 §8.2.2 lets it change between server starts), and creates one
subscription with a monitored item per mapped variable and an event monitored item on the
machine object. After a server restart nothing of the old session is reused: the supervisor
reconnects and this code builds the session, the namespace lookup, the event types and the
subscription anew.

A hung server (the socket stays open, nothing comes back) is found two ways: asyncua's own
supervisor probes the server state and reports a loss through ``connection_lost_callback``, and
this adapter probes ``Server_ServerStatus_CurrentTime`` itself and calls ``alive()`` on every
answer and notification, which feeds the base class's liveness watchdog.

asyncua errors (``UaError``, ``UaStatusCodeError``, ``ConnectionError``, timeouts) are mapped
here; nothing above this module sees an asyncua type.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeEvent, OpcEvent, Subscription
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from adapters.base import Adapter, CommandError, Emit, PointValue, RecipeInfo, ReconnectPolicy
from adapters.observations import (
    FaultCleared,
    FaultRaised,
    Observation,
    Reading,
    RecipeActivated,
    SelectiveSolderProcessData,
    Severity,
    StateChanged,
    WorkFinished,
    WorkResult,
)
from adapters.opcua_map import OpcUaMap, OpcUaRecipes
from protocols.errors import TransportError

# Errors asyncua raises when the link or the server fails, as opposed to a refused request.
_LINK_ERRORS = (OSError, TimeoutError, ConnectionError, UaError)
# Events one subscription may hold between two publishes before the server drops the oldest.
EVENT_QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class OpcUaSecurity:
    """Security policy Basic256Sha256 with this client's application instance certificate.

    Args:
        certificate: the client certificate (DER or PEM), a path or the bytes.
        private_key: its private key (PEM), a path or the bytes.
        server_certificate: the server's certificate to trust; None takes it from the
            server's endpoint description (trust on first use, as most SCADA clients do).
        mode: ``"SignAndEncrypt"`` or ``"Sign"``.
        application_uri: must match the URI in the client certificate's subjectAltName.
    """

    certificate: Path | bytes
    private_key: Path | bytes
    server_certificate: Path | bytes | None = None
    mode: str = "SignAndEncrypt"
    application_uri: str = "urn:linegate:adapter"


class OpcUaAdapter(Adapter):
    """A machine with an OPC UA server, described by its map.

    Args:
        machine_id: the machine id.
        device_map: what the nodes and events mean (``builtin_map("selective_solder")``).
        url: the endpoint, ``opc.tcp://host:port/path``.
        security: Basic256Sha256 with a client certificate; None for security policy None.
        username, password: a user name identity token; anonymous when omitted.
        user_certificate, user_private_key: an X.509 identity token instead (paths).
        request_timeout: seconds per OPC UA request.
        probe_interval: seconds between liveness probes of the server.
        policy: reconnect and liveness settings.
    """

    protocol = "opcua"

    def __init__(
        self,
        machine_id: str,
        device_map: OpcUaMap,
        *,
        url: str,
        security: OpcUaSecurity | None = None,
        username: str | None = None,
        password: str | None = None,
        user_certificate: Path | None = None,
        user_private_key: Path | None = None,
        request_timeout: float = 4.0,
        probe_interval: float = 1.0,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        super().__init__(machine_id, policy=policy)
        self.map = device_map
        self.url = url
        self.security = security
        self.username, self.password = username, password
        self.user_certificate, self.user_private_key = user_certificate, user_private_key
        self.request_timeout = request_timeout
        self.probe_interval = probe_interval
        self._client: Client | None = None
        self._nodes: dict[str, Node] = {}
        self._names: dict[ua.NodeId, str] = {}
        self._values: dict[str, Any] = {}
        self._values_changed = asyncio.Condition()
        self._state: int | None = None  # kept across sessions: only changes are reported
        self._faults: set[str] = set()
        # (program, revision) the machine last showed, kept across sessions: a change that is
        # not ours (made at the machine, or while the link was down) is reported.
        self._recipe: tuple[str, str | None] | None = None
        self._activating = 0  # activate_recipe calls running: their switch is reported by them
        self._ns = 0
        self._event_types: dict[ua.NodeId, int] = {}

    @property
    def answer_interval(self) -> float:
        """The liveness probe's interval plus one request timeout."""
        return self.probe_interval + self.request_timeout

    # --- session ----------------------------------------------------------------------------

    async def _new_client(self) -> Client:
        client = Client(self.url, timeout=self.request_timeout, watchdog_intervall=self.probe_interval)
        if self.username is not None:
            client.set_user(self.username)
            client.set_password(self.password or "")
        if self.user_certificate is not None and self.user_private_key is not None:
            await client.load_client_certificate(str(self.user_certificate))
            await client.load_private_key(self.user_private_key)
        if self.security is not None:
            sec = self.security
            client.application_uri = sec.application_uri
            mode = (
                ua.MessageSecurityMode.Sign if sec.mode == "Sign" else ua.MessageSecurityMode.SignAndEncrypt
            )
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=_content(sec.certificate),
                private_key=_content(sec.private_key),
                server_certificate=_content(sec.server_certificate) if sec.server_certificate else None,
                mode=mode,
            )
        return client

    async def _session(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()

        async def on_lost(exc: Exception) -> None:
            if not lost.done():
                lost.set_result(None)

        try:
            client = await self._new_client()
            client.connection_lost_callback = on_lost
            # asyncua opens the socket and waits for the server's answers in one call: a hung
            # server costs a request timeout here, which paces the retries (see
            # Adapter.opened); a refused connection returns at once and still backs off.
            self.opened()
            await client.connect()
        except _LINK_ERRORS as exc:
            raise TransportError(f"cannot connect to {self.url}: {str(exc) or type(exc).__name__}") from exc
        queue: asyncio.Queue[Observation] = asyncio.Queue()
        tasks: list[asyncio.Task[None]] = []
        try:
            subscription = await self._subscribe(client)
            self._client = client
            # Events sent while the link was down are lost with the old subscription: read what
            # the machine shows now (alarms, program) before the new notifications are handled.
            await self._reconcile(queue)
            self.connected()
            tasks = [
                asyncio.create_task(
                    self._notifications(subscription, queue), name=f"adapter[{self.machine_id}].receive"
                ),
                asyncio.create_task(self._probe(client), name=f"adapter[{self.machine_id}].probe"),
                asyncio.create_task(_drain(queue, emit), name=f"adapter[{self.machine_id}].emit"),
            ]
            done, _ = await asyncio.wait({*tasks, lost}, return_when=asyncio.FIRST_COMPLETED)
            if lost in done:
                raise TransportError(f"{self.url}: connection lost")
            for task in done:
                task.result()
            raise TransportError(f"{self.url}: subscription ended")
        except _LINK_ERRORS as exc:
            raise TransportError(f"{self.url}: {exc or type(exc).__name__}") from exc
        finally:
            self._client = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while not queue.empty():
                await emit(queue.get_nowait())
            await _close(client)

    async def _subscribe(self, client: Client) -> Subscription:
        """Resolve the map's nodes and event types in this session, and subscribe to them."""
        device_map = self.map
        try:
            self._ns = await client.get_namespace_index(device_map.namespace)
        except ValueError as exc:  # not (yet) in the NamespaceArray, e.g. a server still starting
            raise TransportError(f"namespace {device_map.namespace!r} not offered by {self.url}") from exc
        self._nodes = {
            name: await self._resolve(client, name, ident) for name, ident in device_map.nodes.items()
        }
        watched = {device_map.state_node, *device_map.readings}
        if device_map.work is not None:
            watched |= set(device_map.work.values.values())
        if device_map.recipes is not None:
            watched |= {device_map.recipes.active, device_map.recipes.revision}
        names = sorted(name for name in watched if name is not None)
        self._names = {self._nodes[name].nodeid: name for name in names}
        self._values.clear()
        subscription = await client.create_subscription(device_map.publishing_interval * 1000, None)
        # A reading is the current value: only the newest sample matters (queue size 1), so a
        # burst of samples never leaves the gateway reporting stale values. State, work and recipe
        # nodes keep every change, since each transition means something.
        current = sorted(set(device_map.readings) & set(names) - (watched - set(device_map.readings)))
        changes = [name for name in names if name not in current]
        if changes:
            await subscription.subscribe_data_change([self._nodes[name] for name in changes])
        if current:
            await subscription.subscribe_data_change([self._nodes[name] for name in current], queuesize=1)
        event_types = [
            await client.nodes.base_event_type.get_child(f"{self._ns}:{section.event_type}")
            for section in (device_map.faults, device_map.work)
            if section is not None
        ]
        if event_types:
            # A queue, so that several alarms or board results within one publishing interval
            # all arrive (OPC UA Part 4 §5.12.1.5: with size 0 or 1 only the newest is kept).
            await subscription.subscribe_events(
                self._nodes[device_map.events_from], event_types, queuesize=EVENT_QUEUE_SIZE
            )
        self._event_types = {t.nodeid: i for i, t in enumerate(event_types)}
        return subscription

    async def _resolve(self, client: Client, name: str, address: str) -> Node:
        """The node a map address names, in this session (namespace indexes and browse paths
        are looked up anew on every connect: a restarted server may number them differently)."""
        try:
            if address.startswith("nsu="):
                uri, _, rest = address[4:].partition(";")
                return client.get_node(f"ns={await client.get_namespace_index(uri)};{rest}")
            if address.startswith("/"):
                path = [await self._browse_name(client, segment) for segment in address[1:].split("/")]
                return await client.nodes.root.get_child(path)
        except ValueError as exc:  # a namespace URI the server does not offer
            raise TransportError(f"node {name!r} ({address}): {exc}") from exc
        except UaStatusCodeError as exc:  # BadNoMatch: no node at that browse path
            raise TransportError(
                f"node {name!r}: browse path {address} not found on {self.url} ({exc})"
            ) from exc
        return client.get_node(_node_id(address, self._ns))

    async def _browse_name(self, client: Client, segment: str) -> str:
        # A segment is a browse name in the map's namespace; "{URI}Name" in another; the
        # standard folders (Objects, Server, Types, Views) are namespace 0's.
        if segment.startswith("{"):
            uri, _, browse_name = segment[1:].partition("}")
            return f"{await client.get_namespace_index(uri)}:{browse_name}"
        if segment in _STANDARD_FOLDERS:
            return f"0:{segment}"
        return f"{self._ns}:{segment}"

    def points(self) -> list[PointValue]:
        """Each node of the map: its address as the map writes it, and the value last reported
        for the nodes the adapter watches (OPC UA values arrive typed: raw and value agree)."""
        readings = self.map.readings
        return [
            PointValue(name, address, self._values.get(name), self._values.get(name), readings.get(name))
            for name, address in self.map.nodes.items()
        ]

    async def _reconcile(self, queue: asyncio.Queue[Observation]) -> None:
        faults, recipes = self.map.faults, self.map.recipes
        at = datetime.now(UTC)
        if faults is not None and faults.active_list is not None:
            listed = await self._nodes[faults.active_list].read_value()
            active = {code for code in str(listed or "").split(faults.list_separator) if code}
            for code in sorted(self._faults - active):
                self._faults.discard(code)
                queue.put_nowait(FaultCleared(machine_id=self.machine_id, at=at, code=code))
            for code in sorted(active - self._faults):
                self._faults.add(code)
                entry = faults.codes.get(code)
                queue.put_nowait(
                    FaultRaised(
                        machine_id=self.machine_id,
                        at=at,
                        code=code,
                        description=entry.description if entry else "",
                        severity=entry.severity if entry else Severity.ERROR,
                        cause=entry.cause if entry else None,
                    )
                )
        if recipes is not None:
            await self._recipe_shown(await self._nodes[recipes.active].read_value(), at, queue)

    async def _recipe_shown(self, program: Any, at: datetime, queue: asyncio.Queue[Observation]) -> None:
        """The machine shows ``program``: report it when it differs from what it showed before
        and no activation of ours is under way (that one reports its own result)."""
        recipes = self.map.recipes
        assert recipes is not None
        if not program:
            return
        revision = None
        if recipes.revision is not None:
            # Read now rather than taken from its own notification, which may come later.
            revision = _text(await self._nodes[recipes.revision].read_value())
        shown = (str(program), revision)
        before, self._recipe = self._recipe, shown
        if before is None or before == shown or self._activating:
            return  # first sight (what it runs when we meet it), no change, or our own switch
        self.log.info("recipe.changed_at_machine", recipe=shown[0], revision=revision)
        queue.put_nowait(
            RecipeActivated(machine_id=self.machine_id, at=at, recipe=shown[0], revision=revision)
        )

    async def _probe(self, client: Client) -> None:
        # Our own sign of life for the watchdog: a server that keeps the socket open but stops
        # answering fails this read within the request timeout.
        current_time = client.get_node(ObjectIds.Server_ServerStatus_CurrentTime)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await current_time.read_value()
            self.alive()
            self.health.last_rtt = loop.time() - started
            await asyncio.sleep(self.probe_interval)

    async def _notifications(self, subscription: Subscription, queue: asyncio.Queue[Observation]) -> None:
        async for item in subscription:
            self.alive()
            if isinstance(item, DataChangeEvent):
                await self._data_change(item, queue)
            elif isinstance(item, OpcEvent):
                self._event(item.event, queue)

    # --- notifications → observations -------------------------------------------------------

    async def _data_change(self, item: DataChangeEvent, queue: asyncio.Queue[Observation]) -> None:
        name = self._names.get(item.node.nodeid)
        if name is None or self._values.get(name, _UNSET) == item.value:
            return
        async with self._values_changed:
            self._values[name] = item.value
            self._values_changed.notify_all()
        at = _aware(item.data.monitored_item.Value.SourceTimestamp)
        device_map = self.map
        if name == device_map.state_node:
            state = device_map.state.translate(item.value)
            if state is not None and state != self._state:
                self._state = state
                reason = device_map.state.names.get(str(item.value))
                queue.put_nowait(StateChanged(machine_id=self.machine_id, at=at, state=state, reason=reason))
        recipes = device_map.recipes
        if recipes is not None and name in (recipes.active, recipes.revision):
            await self._recipe_shown(self._values.get(recipes.active), at, queue)
        if name in device_map.readings and isinstance(item.value, bool | int | float | str):
            unit = device_map.readings[name]
            queue.put_nowait(
                Reading(machine_id=self.machine_id, at=at, name=name, value=item.value, unit=unit)
            )

    def _event(self, event: Any, queue: asyncio.Queue[Observation]) -> None:
        kind = self._event_types.get(getattr(event, "EventType", ua.NodeId()))
        at = _aware(getattr(event, "Time", None))
        faults, work = self.map.faults, self.map.work
        if faults is not None and kind == 0:
            code = str(getattr(event, faults.code, "") or "")
            if not code:
                return
            if getattr(event, faults.active, False):
                self._faults.add(code)
                entry = faults.codes.get(code)
                message = getattr(event, faults.description, None)
                text = getattr(message, "Text", None) or (entry.description if entry else "")
                severity = faults.level(int(getattr(event, faults.severity, 0) or 0))
                cause = entry.cause if entry else None
                queue.put_nowait(
                    FaultRaised(
                        machine_id=self.machine_id,
                        at=at,
                        code=code,
                        description=text,
                        severity=severity,
                        cause=cause,
                    )
                )
            elif code in self._faults:
                self._faults.discard(code)
                queue.put_nowait(FaultCleared(machine_id=self.machine_id, at=at, code=code))
        elif work is not None and kind == (1 if faults is not None else 0):
            board_id = str(getattr(event, work.board_id, "") or "") or None
            barcode = str(getattr(event, work.barcode, "") or "") or None if work.barcode else None
            passed = work.result is None or getattr(event, work.result, None) == work.passed
            values = {field: _float(self._values.get(node)) for field, node in work.values.items()}
            process_time = _float(getattr(event, work.process_time, None)) if work.process_time else None
            queue.put_nowait(
                SelectiveSolderProcessData(
                    machine_id=self.machine_id, at=at, board_id=board_id, process_time=process_time, **values
                )
            )
            result = WorkResult.COMPLETED if passed else WorkResult.FAILED
            queue.put_nowait(
                WorkFinished(
                    machine_id=self.machine_id, at=at, board_id=board_id, barcode=barcode, result=result
                )
            )

    # --- recipes ----------------------------------------------------------------------------

    async def activate_recipe(self, name: str, revision: str | None = None) -> RecipeActivated:
        """Call the load method, wait until the active-program variable shows the program, and
        read the revision from the map's revision node.

        A requested ``revision`` is checked against the revision the load method announces
        (its output, returned before the changeover runs), so a wrong one fails at once rather
        than after the switch; the revision node is checked again once the program is active.

        Raises:
            CommandError: refused (the method's bad status, with the map's reason), a revision
                other than the requested one, not connected, no answer, or no confirmation
                within the map's recipe timeout.
        """
        recipes = self._recipes()
        self._require_client()
        self._activating += 1
        try:
            loaded = await self._activate(recipes, name, revision)
        finally:
            self._activating -= 1
        self.log.info("recipe.activated", recipe=name, revision=loaded)
        return RecipeActivated(machine_id=self.machine_id, at=datetime.now(UTC), recipe=name, revision=loaded)

    async def _activate(self, recipes: OpcUaRecipes, name: str, revision: str | None) -> str | None:
        try:
            result = await self._nodes[recipes.object].call_method(f"{self._ns}:{recipes.load}", name)
        except UaStatusCodeError as exc:
            status = type(exc).__name__
            reason = recipes.refused.get(status, status)
            raise CommandError(f"{recipes.load}({name}) refused: {reason} ({status})", refused=True) from exc
        except _LINK_ERRORS as exc:
            raise CommandError(f"{recipes.load}({name}): {exc or type(exc).__name__}") from exc
        # Only a number or text is a revision (a server may answer a Boolean "accepted").
        announced = _text(result) if isinstance(result, int | str) and not isinstance(result, bool) else None
        if revision is not None and announced is not None and announced != revision:
            raise CommandError(
                f"{recipes.load}({name}) announces revision {announced}, not {revision}", refused=True
            )
        try:
            async with asyncio.timeout(recipes.timeout), self._values_changed:
                await self._values_changed.wait_for(lambda: self._values.get(recipes.active) == name)
        except TimeoutError:
            raise CommandError(
                f"timed out after {recipes.timeout:g} s waiting for {name} to become active"
            ) from None
        loaded = announced
        if recipes.revision is not None:
            try:
                loaded = _text(await self._nodes[recipes.revision].read_value())
            except _LINK_ERRORS as exc:
                raise CommandError(f"reading the revision of {name}: {exc or type(exc).__name__}") from exc
        self._recipe = (name, loaded)  # our own switch: not reported again as a change
        if revision is not None and loaded != revision:
            raise CommandError(f"the machine activated {name} revision {loaded}, not {revision}")
        return loaded

    async def active_recipe(self) -> RecipeInfo | None:
        """The program and revision the machine shows, read now.

        Raises:
            CommandError: not connected, or no answer.
        """
        recipes = self._recipes()
        self._require_client()
        try:
            name = await self._nodes[recipes.active].read_value()
            revision = await self._nodes[recipes.revision].read_value() if recipes.revision else None
        except _LINK_ERRORS as exc:
            raise CommandError(f"reading the active program: {exc or type(exc).__name__}") from exc
        if not name:
            return None
        return RecipeInfo(str(name), None if revision is None else str(revision))

    async def available_recipes(self) -> list[RecipeInfo]:
        """The programs the machine's list method returns.

        Raises:
            CommandError: not connected, refused, or no answer.
        """
        recipes = self._recipes()
        self._require_client()
        try:
            names = await self._nodes[recipes.object].call_method(f"{self._ns}:{recipes.list}")
        except (UaStatusCodeError, *_LINK_ERRORS) as exc:
            raise CommandError(f"{recipes.list}(): {exc or type(exc).__name__}") from exc
        return [RecipeInfo(str(n)) for n in names or []]

    def _recipes(self) -> OpcUaRecipes:
        if self.map.recipes is None:
            raise CommandError("the machine map defines no recipes", refused=True)
        return self.map.recipes

    def _require_client(self) -> Client:
        if self._client is None:
            raise CommandError("not connected to the machine")
        return self._client


_UNSET = object()
# The folders every server has under its root, in namespace 0 (OPC UA Part 5 §8.2).
_STANDARD_FOLDERS = frozenset({"Objects", "Types", "Views", "Server"})


def _node_id(ident: str, ns: int) -> str:
    # "ns=2;i=5" or "i=2258" are complete node ids; anything else is a string id in the map's
    # namespace, as the manual lists them.
    if ident.startswith(("ns=", "i=", "s=", "g=", "b=")):
        return ident
    return f"ns={ns};s={ident}"


def _content(value: Path | bytes) -> str | bytes:
    return value if isinstance(value, bytes) else str(value)


def _aware(moment: Any) -> datetime:
    if not isinstance(moment, datetime):
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def _drain(queue: asyncio.Queue[Observation], emit: Emit) -> None:
    while True:
        await emit(await queue.get())


async def _close(client: Client) -> None:
    # A hung or vanished server must not hold up the reconnect: bound the polite close.
    try:
        async with asyncio.timeout(1.0):
            await client.disconnect()
    except Exception:
        with contextlib.suppress(Exception):
            client.disconnect_socket()


__all__ = ["OpcUaAdapter", "OpcUaSecurity"]
