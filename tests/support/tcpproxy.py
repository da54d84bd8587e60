"""A loopback TCP proxy for outage tests (the same one line integrators get from the plugin)."""

from gateway.testing.tcpproxy import TcpProxy

__all__ = ["TcpProxy"]
