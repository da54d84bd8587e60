"""The AMQP sink: the outbox's events to the RabbitMQ topic exchange through ``CFXPublisher``.

The payload stored in the outbox is the envelope's canonical JSON, so the sink publishes the
bytes as they are (routing key ``<Source handle>.<MessageName>``, message-id = UniqueID) and
acknowledges a batch only when the broker confirmed every message of it.
"""

from __future__ import annotations

from gateway.outbox import StoredEvent
from protocols.cfx.transport import CFXPublisher, EncodedMessage
from protocols.cfx.transport.wire import routing_key


class AmqpSink:
    """Publishes batches through a running ``CFXPublisher`` (entered by the caller)."""

    def __init__(self, publisher: CFXPublisher, *, name: str = "amqp", pipeline_depth: int = 4) -> None:
        self.name = name
        self.publisher = publisher
        # The publisher keeps order and retries across reconnects itself, so several batches
        # may wait for confirms at once; only a broker nack fails a batch.
        self.pipeline_depth = pipeline_depth

    @property
    def connected(self) -> bool:
        """True while the publisher has a confirming channel to the broker (for /healthz)."""
        return self.publisher.connected

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Publish the batch as one run through the publisher's confirm window; return when all
        are confirmed.

        While the broker is away the publisher keeps retrying, so this waits (the outbox keeps
        the backlog); a broker nack (or return) raises ``PublishError`` (a TransportError) and the
        batch is offered again.
        """
        await self.publisher.publish_raw_many(
            EncodedMessage(event.payload, routing_key(event.source, event.message_name), event.unique_id)
            for event in batch
        )
