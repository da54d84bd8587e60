"""The MQTT sink: each envelope to ``<prefix>/<handle>/<MessageName>`` at QoS 1, via aiomqtt.

aiomqtt has no reconnect of its own, so this sink connects lazily and drops the client on any
MQTT error; the drain loop's backoff paces the next attempt. A batch is acknowledged only after
the broker's PUBACK for every message in it.
"""

from __future__ import annotations

import asyncio
import ssl
from contextlib import AsyncExitStack, suppress

import aiomqtt
import structlog

from gateway.outbox import StoredEvent
from protocols.errors import TransportError

log = structlog.get_logger("linegate.sink.mqtt")


def mqtt_topic(prefix: str, source: str, message_name: str) -> str:
    """The topic of one event; MQTT wildcards and separators in the names are replaced."""
    safe = str.maketrans({"/": "_", "+": "_", "#": "_"})
    return f"{prefix}/{source.translate(safe)}/{message_name.translate(safe)}"


class MqttSink:
    """Publishes events to an MQTT broker with QoS 1.

    Args:
        host, port: the broker.
        username, password: credentials, if the broker needs them.
        topic_prefix: first topic level (default ``cfx``).
        timeout: seconds to wait for the broker's acknowledgements of one batch.
        tls_context: connect over TLS with this context (trust anchors, client certificate,
            hostname check); plain TCP when None.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        topic_prefix: str = "cfx",
        timeout: float = 10.0,
        name: str = "mqtt",
        identifier: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.topic_prefix = topic_prefix
        self.timeout = timeout
        self.identifier = identifier
        self.tls_context = tls_context
        self._client: aiomqtt.Client | None = None
        self._stack: AsyncExitStack | None = None
        self._tried = False  # connected is unknown until the first attempt

    @property
    def connected(self) -> bool | None:
        """Whether the last connection attempt holds (None before the first), for /healthz."""
        return self._client is not None if self._tried else None

    async def _connect(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        self._tried = True
        stack = AsyncExitStack()
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=self.identifier,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        try:
            await stack.enter_async_context(client)
        except aiomqtt.MqttError as exc:
            await stack.aclose()
            raise TransportError(f"MQTT connect to {self.host}:{self.port} failed: {exc}") from exc
        log.info("connect.complete", host=self.host, port=self.port, tls=self.tls_context is not None)
        self._client, self._stack = client, stack
        return client

    async def _drop(self) -> None:
        stack, self._client, self._stack = self._stack, None, None
        if stack is not None:
            # The connection is usually gone already; there is nothing left to close cleanly.
            with suppress(aiomqtt.MqttError):
                await stack.aclose()

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Publish the batch concurrently and return when the broker acknowledged all of it.

        Raises:
            TransportError: the broker is unreachable or did not acknowledge in time.
        """
        client = await self._connect()
        try:
            # Every publish is awaited to its end (return_exceptions), so none of them leaves an
            # unretrieved exception behind when the connection drops mid-batch.
            outcomes = await asyncio.gather(
                *(
                    client.publish(
                        mqtt_topic(self.topic_prefix, e.source, e.message_name),
                        e.payload,
                        qos=1,
                        timeout=self.timeout,
                    )
                    for e in batch
                ),
                return_exceptions=True,
            )
            failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failed is not None:
                raise failed
        except aiomqtt.MqttError as exc:
            await self._drop()
            raise TransportError(f"MQTT publish to {self.host}:{self.port} failed: {exc}") from exc

    async def aclose(self) -> None:
        """Disconnect from the broker."""
        await self._drop()
