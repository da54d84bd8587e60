"""The MQTT sink: each envelope to ``<prefix>/<handle>/<MessageName>`` at QoS 1, via aiomqtt.

aiomqtt has no reconnect of its own, so this sink connects lazily and drops the client on any
MQTT error; the drain loop's backoff paces the next attempt. A batch is acknowledged only after
the broker's PUBACK for every message in it.

With several brokers (``[mqtt] urls``) a connection attempt tries them in turn, as the AMQP
publisher does: ``in_order`` from the first and, after losing one, from the next one in the list
(the lost broker comes last); ``random`` in a fresh shuffle per round, the lost one last. A
batch that was not acknowledged is published again on the next broker, whole and in order, so a
consumer may see a few events twice (same ``UniqueID``) and misses none. The brokers are not a
cluster: a consumer subscribes to every one of them.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress

import aiomqtt
import structlog

from gateway.outbox import StoredEvent
from protocols.errors import TransportError
from protocols.failover import FAILOVER, next_round

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
        brokers: every broker as (host, port), in the configured order; ``host`` and ``port``
            are used when it is empty.
        failover: ``"in_order"`` or ``"random"``: the order the brokers are tried in.
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
        brokers: Sequence[tuple[str, int]] = (),
        failover: str = "in_order",
    ) -> None:
        if failover not in FAILOVER:
            raise ValueError(f"failover must be one of {', '.join(FAILOVER)}, not {failover!r}")
        self.name = name
        self.brokers = tuple(brokers) or ((host, port),)
        self.failover = failover
        # The broker of the current (or last) connection; the first one until then.
        self.host, self.port = self.brokers[0]
        self.node: tuple[str, int] | None = None
        self._order: list[tuple[str, int]] = []
        self._random = random.Random()
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

    def _new_round(self) -> None:
        self._order = next_round(self.brokers, self.node, self.failover, self._random)

    async def _connect(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        self._tried = True
        if not self._order:
            self._new_round()
        failures = []
        while self._order:
            host, port = self._order.pop(0)
            try:
                client, stack = await self._connect_to(host, port)
            except TransportError as exc:
                failures.append(str(exc))
                if len(self.brokers) > 1:
                    log.warning("connect.failed", host=host, port=port, error=str(exc))
                continue
            previous, self.node = self.node, (host, port)
            self.host, self.port = host, port
            if previous is not None and previous != self.node:
                log.warning("connect.failover", host=host, port=port, previous=f"{previous[0]}:{previous[1]}")
            log.info("connect.complete", host=host, port=port, tls=self.tls_context is not None)
            self._client, self._stack = client, stack
            return client
        self._new_round()  # the next attempt, after the drain loop's backoff, starts a new round
        if len(failures) == 1:
            raise TransportError(failures[0])
        raise TransportError(f"no MQTT broker reachable: {'; '.join(failures)}")

    async def _connect_to(self, host: str, port: int) -> tuple[aiomqtt.Client, AsyncExitStack]:
        stack = AsyncExitStack()
        client = aiomqtt.Client(
            host,
            port,
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
            raise TransportError(f"MQTT connect to {host}:{port} failed: {exc}") from exc
        return client, stack

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
            self._new_round()  # this broker is tried last
            raise TransportError(f"MQTT publish to {self.host}:{self.port} failed: {exc}") from exc

    async def aclose(self) -> None:
        """Disconnect from the broker."""
        await self._drop()
