"""The gateway's HTTP surface: API, server-sent events, Prometheus metrics and the dashboard.

Entry points for ``linegate run`` and ``linegate demo``::

    from gateway.http import HttpServer, SseSink
    from gateway.metrics import Metrics, TimedSink

    metrics = Metrics()
    sse = SseSink()
    sinks = [TimedSink(s, metrics) for s in broker_sinks] + [sse]
    outbox = Outbox(path, sinks=[s.name for s in sinks])
    gateway = Gateway(outbox, runtimes, sinks, recipes)
    async with HttpServer(gateway, host=..., port=..., token=..., sse=sse, metrics=metrics) as http:
        print(f"dashboard: {http.url}")
        await gateway.run(stop)
"""

from __future__ import annotations

from gateway.http.line import LineTracker
from gateway.http.server import HttpServer, start_http
from gateway.http.sse import SseSink

__all__ = ["HttpServer", "LineTracker", "SseSink", "start_http"]
