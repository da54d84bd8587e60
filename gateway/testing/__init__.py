"""Test support for line integrators: the linegate pytest plugin and what its fixtures hand out.

The plugin module is :mod:`gateway.testing.plugin` (loaded through the ``pytest11`` entry point);
this package also exports the pieces a test may use directly.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.testing.brokers import BROKERS, Broker, unreachable
    from gateway.testing.events import CFXEventCollector, EnvelopeDict, EventNotSeen
    from gateway.testing.harness import (
        LinegateGateway,
        SimulatedLine,
        free_port,
        line_products,
        line_spec,
        wire_gateway,
    )
    from gateway.testing.tcpproxy import TcpProxy

# Imported on first use: the pytest plugin imports this package at pytest start, and the
# harness pulls in the simulators and the gateway (about a second).
_WHERE = {
    "BROKERS": "brokers",
    "Broker": "brokers",
    "unreachable": "brokers",
    "CFXEventCollector": "events",
    "EnvelopeDict": "events",
    "EventNotSeen": "events",
    "LinegateGateway": "harness",
    "SimulatedLine": "harness",
    "free_port": "harness",
    "line_products": "harness",
    "line_spec": "harness",
    "wire_gateway": "harness",
    "TcpProxy": "tcpproxy",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"gateway.testing.{module}"), name)


__all__ = [
    "BROKERS",
    "Broker",
    "CFXEventCollector",
    "EnvelopeDict",
    "EventNotSeen",
    "LinegateGateway",
    "SimulatedLine",
    "TcpProxy",
    "free_port",
    "line_products",
    "line_spec",
    "unreachable",
    "wire_gateway",
]
