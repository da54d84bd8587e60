"""asyncio configuration service (reference §1, §2.2): the machine's server and a client.

The machine listens on TCP 1248 by default. :class:`ConfigurationServer` answers
GetConfiguration with its CurrentConfiguration and applies SetConfiguration through an
``apply`` callback; a callback that raises :class:`ConfigurationRejected` makes the server
answer Notification code 4 (ConfigurationError). The client functions do as lib's client does:
one TCP connection per call, and a SetConfiguration is followed by a GetConfiguration that
reads the result back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from protocols.errors import LinegateError, ProtocolError, RequestTimeout, TransportError
from protocols.hermes.configuration import (
    CONFIGURATION_PORT,
    ConfigurationConnection,
    ConfigurationRole,
)
from protocols.hermes.messages import (
    CurrentConfiguration,
    GetConfiguration,
    Notification,
    NotificationCode,
    SetConfiguration,
)
from protocols.hermes.transport.stream import HermesConnectionClosed, HermesStream
from protocols.transport.guard import PeerGuard, PeerLimits, start_guarded_server

#: What the configuration service tolerates: a setup tool connects, asks or sets, and leaves
#: (reference §2.6), so a session quiet for 30 s is a stuck or hostile one.
CONFIGURATION_LIMITS = PeerLimits(max_connections=8, handshake_timeout=10.0, idle_timeout=30.0)

#: What a machine reports before anything was configured.
EMPTY_CONFIGURATION = CurrentConfiguration()


class ConfigurationRejected(LinegateError):
    """The machine refused a SetConfiguration (Notification code 4), or ``apply`` did.

    Args:
        description: why, as the Notification's Description says it.
    """

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def take_as_is(new: SetConfiguration) -> CurrentConfiguration:
    """The default ``apply``: the machine's configuration becomes what was set."""
    return CurrentConfiguration(
        machine_id=new.machine_id,
        supervisory_system_port=new.supervisory_system_port,
        upstream_configurations=new.upstream_configurations,
        downstream_configurations=new.downstream_configurations,
    )


class ConfigurationServer:
    """The machine's configuration service: a TCP server, port 1248 by default.

    Args:
        configuration: the configuration reported until a SetConfiguration changes it.
        apply: called with each SetConfiguration; returns the new CurrentConfiguration or raises
            :class:`ConfigurationRejected`. Default: take the new values as they are.
        host: the address to listen on.
        port: the TCP port (0 picks a free one, see :attr:`port`).
        limits: what the server tolerates from peers (connection cap, first-message and idle
            deadlines, write buffer); a peer past them is dropped and logged (``peer.dropped``).
    """

    def __init__(
        self,
        configuration: CurrentConfiguration = EMPTY_CONFIGURATION,
        *,
        apply: Callable[[SetConfiguration], CurrentConfiguration] | None = None,
        host: str = "0.0.0.0",
        port: int = CONFIGURATION_PORT,
        limits: PeerLimits = CONFIGURATION_LIMITS,
    ) -> None:
        self.configuration = configuration
        self.apply = apply or take_as_is
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Enforces ``limits``; its ``dropped`` counts the peers dropped, by reason.
        self.guard = PeerGuard(f"hermes[config:{port}]", "hermes.config", limits)

    async def __aenter__(self) -> Self:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        try:
            self._server = await start_guarded_server(
                self.guard, self._on_connect, self.host, self.port, reuse_address=True, family=socket.AF_INET
            )
        except BaseException as exc:
            await self._tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._tg is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        tg, self._tg = self._tg, None
        await tg.__aexit__(None, None, None)  # the body's own exception propagates by itself
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._server.wait_closed()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tg is None:
            writer.close()
            return
        task = self._tg.create_task(self._serve(reader, writer), name=f"hermes[config:{self.port}].receive")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = HermesStream(reader, writer, ConfigurationConnection(ConfigurationRole.SERVICE))
        assert isinstance(stream.connection, ConfigurationConnection)
        try:
            while True:
                message = await stream.receive()
                stream.established()  # the first message is the handshake of this service
                if isinstance(message, GetConfiguration):
                    await stream.send(self.configuration)
                elif isinstance(message, SetConfiguration):
                    try:
                        self.configuration = self.apply(message)
                    except ConfigurationRejected as exc:
                        await stream.write_raw(
                            stream.connection.reject(exc.description, timestamp=datetime.now())
                        )
        except (ProtocolError, HermesConnectionClosed):
            pass
        finally:
            await stream.aclose()


async def _exchange(
    host: str, port: int, timeout: float, *requests: GetConfiguration | SetConfiguration
) -> CurrentConfiguration:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            stream = HermesStream(reader, writer, ConfigurationConnection(ConfigurationRole.CLIENT))
            try:
                for request in requests:
                    await stream.send(request)
                while True:
                    message = await stream.receive()
                    if isinstance(message, CurrentConfiguration):
                        return message
                    if isinstance(message, Notification) and (
                        message.notification_code == NotificationCode.CONFIGURATION_ERROR
                    ):
                        raise ConfigurationRejected(message.description)
            finally:
                await stream.aclose()
    except TimeoutError as exc:
        raise RequestTimeout(f"configuration service {host}:{port} did not answer in {timeout} s") from exc
    except OSError as exc:
        raise TransportError(f"configuration service {host}:{port}: {exc}") from exc


async def get_configuration(
    host: str, *, port: int = CONFIGURATION_PORT, timeout: float = 10.0
) -> CurrentConfiguration:
    """Read a machine's configuration (GetConfiguration → CurrentConfiguration).

    Raises:
        RequestTimeout: no answer within ``timeout`` seconds (lib's default is 10 s).
        TransportError: the connection failed.
        RemoteProtocolError: the machine broke the protocol.
    """
    return await _exchange(host, port, timeout, GetConfiguration())


async def set_configuration(
    host: str, configuration: SetConfiguration, *, port: int = CONFIGURATION_PORT, timeout: float = 10.0
) -> CurrentConfiguration:
    """Change a machine's configuration, then read it back (as lib's client does).

    Returns:
        the configuration the machine reports afterwards.

    Raises:
        ConfigurationRejected: the machine answered Notification code 4.
        RequestTimeout: no answer within ``timeout`` seconds.
        TransportError: the connection failed.
    """
    return await _exchange(host, port, timeout, configuration, GetConfiguration())


__all__ = [
    "EMPTY_CONFIGURATION",
    "ConfigurationRejected",
    "ConfigurationServer",
    "get_configuration",
    "set_configuration",
    "take_as_is",
]
