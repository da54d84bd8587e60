"""Sinks deliver the outbox's events to the outside: AMQP, MQTT, console, JSON-lines file.

Each sink drains its own cursor of the outbox (``drain``): it takes the next batch, publishes it,
and acknowledges it only when the far side confirmed it. A failed batch is offered again.
"""

from gateway.sinks.base import Sink, drain
from gateway.sinks.console import ConsoleSink
from gateway.sinks.jsonl import JsonLinesSink
from gateway.sinks.mqtt import MqttSink, mqtt_topic

__all__ = ["ConsoleSink", "JsonLinesSink", "MqttSink", "Sink", "drain", "mqtt_topic"]
