"""Quick broker reachability checks for the ``linegate_broker`` marker.

A test that needs RabbitMQ or Mosquitto must report the missing broker in a second, not hang
in a client's reconnect loop until the test timeout. The check is a plain TCP connect with a
short timeout, done once per broker per session.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

#: Environment variable that turns a missing broker into a failure instead of a skip (CI).
REQUIRE_ENV = "LINEGATE_REQUIRE_BROKERS"


@dataclass(frozen=True, slots=True)
class Broker:
    """A broker a test may need: its name, the variable that moves it, and its default address."""

    name: str
    env: str
    host: str
    port: int

    def address(self) -> tuple[str, int]:
        """(host, port), from ``env`` (``HOST:PORT``) when set."""
        value = os.environ.get(self.env, "").strip()
        if not value:
            return self.host, self.port
        host, _, port = value.rpartition(":")
        return (host or self.host), int(port)


#: The brokers by the names the marker accepts.
BROKERS: dict[str, Broker] = {
    b.name: b
    for b in (
        Broker("rabbitmq", "LINEGATE_RABBITMQ", "127.0.0.1", 5672),
        Broker("mosquitto", "LINEGATE_MOSQUITTO", "127.0.0.1", 1883),
    )
}
ALIASES = {"amqp": "rabbitmq", "broker": "rabbitmq", "mqtt": "mosquitto"}


def resolve(name: str) -> Broker:
    """The broker called ``name`` (``rabbitmq``/``amqp``, ``mosquitto``/``mqtt``).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    broker = BROKERS.get(ALIASES.get(name, name))
    if broker is None:
        known = ", ".join(sorted({*BROKERS, *ALIASES}))
        raise ValueError(f"linegate_broker: unknown broker {name!r} (known: {known})")
    return broker


def unreachable(broker: Broker, timeout: float = 1.0) -> str | None:
    """None when ``broker`` accepts a TCP connection within ``timeout``; else why not."""
    host, port = broker.address()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return f"{broker.name} is not reachable at {host}:{port} ({reason}); set {broker.env}=HOST:PORT"
