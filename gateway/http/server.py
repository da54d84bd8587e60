"""The gateway's HTTP server: health, metrics, the line API, the event stream and the dashboard.

``HttpServer`` is an async context manager around an aiohttp application bound to one address
(127.0.0.1 unless configured otherwise)::

    sse = SseSink()                      # one of the gateway's sinks: feeds /api/events
    async with HttpServer(gateway, host="127.0.0.1", port=8080, token=token, sse=sse) as server:
        print(f"dashboard: {server.url}")
        await gateway.run(stop)

Routes (every error is JSON: ``{"error": {"status": ..., "message": ...}}``):

- ``GET /`` the dashboard; ``GET /static/...`` its assets (all shipped in the package).
- ``GET /healthz`` liveness: 200 once the gateway runs (``status`` ok or degraded, the machines
  down, the brokers' connections), 503 before. ``GET /readyz`` readiness: the same body, 200
  only when ``status`` is ok (docs/liveness.md).
- ``GET /metrics`` Prometheus text format.
- ``GET /api/openapi.json`` the OpenAPI 3.1 document of all of these (``gateway.http.openapi``).
- ``GET /api/line`` machines, states, recipes, faults, boards, reflow profiles, outbox.
- ``GET /api/events`` server-sent events, the normalized CFX stream (``?source=HANDLE`` filters).
- ``GET /api/machines/{id}/recipes`` the active and available recipes, read from the machine.
- ``POST /api/machines/{id}/recipe`` ``{"recipe": NAME, "revision": REV}`` (bearer token).
- ``POST /api/changeover`` ``{"product": NAME}`` (bearer token); with ``Accept:
  application/x-ndjson`` one JSON line per machine as each finishes, then a summary line.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import structlog
from aiohttp import web

from gateway.http import api
from gateway.http.sse import SseSink
from gateway.metrics import Metrics
from protocols.errors import ConfigError
from protocols.transport.guard import BACKLOG, PeerGuard, PeerLimits, guard_of

if TYPE_CHECKING:
    from gateway.config import LineConfig
    from gateway.runtime import Gateway

log = structlog.get_logger("linegate.http")

STATIC = Path(__file__).parent / "static"
# Request bodies are a recipe name or a product name; anything larger is a mistake or an attack.
MAX_BODY = 64 * 1024
# Seconds a stopping server waits for open requests (a running changeover) before closing them.
SHUTDOWN_TIMEOUT = 5.0
#: What the HTTP server tolerates: browsers (a few connections each), Prometheus, the CLI.
#: A request's head must arrive within 10 s of the connect or of the previous response (slow
#: headers, idle keep-alive), its body within BODY_TIMEOUT; a client that keeps 256 KiB of
#: response unread for 10 s (an event stream it stopped reading) is dropped.
HTTP_LIMITS = PeerLimits(max_connections=128, handshake_timeout=10.0, idle_timeout=None)
#: Seconds a request body (at most MAX_BODY) may take to arrive once its head has.
BODY_TIMEOUT = 10.0


class HttpServer:
    """The HTTP API and dashboard of one running gateway.

    Args:
        gateway: the gateway to show and command.
        host: the address to bind; 127.0.0.1 keeps the API on this computer.
        port: the TCP port; 0 picks a free one (``url`` then tells which).
        token: the bearer token the write endpoints require; None refuses every write (403).
        sse: the SSE sink among the gateway's sinks; found in ``gateway.sinks`` when omitted.
            Without one, ``/api/events`` answers 503.
        metrics: figures measured by ``TimedSink`` wrappers, shown on ``/metrics``.
        line_name: the line's name, shown on the dashboard.
        limits: what the server tolerates from clients (connection cap, request-head deadline,
            bounded writes); a client past them is dropped and logged (``peer.dropped``).
        body_timeout: seconds a request body may take to arrive.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        sse: SseSink | None = None,
        metrics: Metrics | None = None,
        line_name: str | None = None,
        limits: PeerLimits = HTTP_LIMITS,
        body_timeout: float = BODY_TIMEOUT,
    ) -> None:
        if token is not None and not token.strip():
            raise ValueError("the HTTP token must not be empty")
        if sse is None:
            sse = next((s for s in gateway.sinks if isinstance(s, SseSink)), None)
        self.gateway = gateway
        self.host = host
        self.port = port
        self.sse = sse
        self.app = api.build_app(
            api.Context(gateway=gateway, token=token, sse=sse, metrics=metrics, line_name=line_name),
            static=STATIC,
            max_body=MAX_BODY,
        )
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._lock = asyncio.Lock()
        self.body_timeout = body_timeout
        #: Enforces ``limits``; its ``dropped`` counts the clients dropped, by reason.
        self.guard = PeerGuard(f"http[{host}:{port}]", "http", limits)
        # Innermost, so that errors_as_json still answers what it raises (408, 413) as JSON.
        self.app.middlewares.append(self._guard_request)

    @web.middleware
    async def _guard_request(self, request: web.Request, handler: api.Handler) -> web.StreamResponse:
        """While a request is handled its head deadline is off; its body has ``body_timeout``
        to arrive; once answered, the next request's head deadline starts."""
        guard = guard_of(request.transport)
        if guard is None:
            return await handler(request)
        guard.established()
        try:
            if request.can_read_body:
                try:
                    async with asyncio.timeout(self.body_timeout):
                        await request.read()  # cached: the handler's read() returns it
                except TimeoutError:
                    guard.drop("body_timeout", timeout=self.body_timeout, path=request.path)
                    raise web.HTTPRequestTimeout() from None
            return await handler(request)
        finally:
            guard.expect_handshake()

    @classmethod
    def from_config(
        cls,
        gateway: Gateway,
        config: LineConfig,
        *,
        sse: SseSink | None = None,
        metrics: Metrics | None = None,
        port: int | None = None,
    ) -> HttpServer:
        """A server as the line config's ``[http]`` table says (host, port, token), named after the line.

        Args:
            port: overrides the configured port (``linegate demo`` passes 0 for a free one).

        Raises:
            ConfigError: the token's variable is unset or its file unreadable (names file and key).
        """
        http = config.http
        return cls(
            gateway,
            host=http.host,
            port=http.port if port is None else port,
            token=http_token(config),
            sse=sse,
            metrics=metrics,
            line_name=config.name,
            limits=config.peer_limits("http", HTTP_LIMITS),
        )

    @property
    def url(self) -> str:
        """The dashboard's URL (``http://HOST:PORT/``), with the actual port once started."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> str:
        """Bind and serve; return ``url``.

        Raises:
            RuntimeError: the server is already running.
            OSError: the address cannot be bound (in use, not local).
        """
        async with self._lock:
            if self._runner is not None:
                raise RuntimeError("the HTTP server is already running")
            # handler_cancellation: a client that disconnects cancels its handler, which is how an
            # event stream learns its reader left; write commands shield themselves (api._finish).
            runner = web.AppRunner(
                self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, handler_cancellation=True
            )
            await runner.setup()
            try:
                # Bind the socket ourselves: with port 0 it tells which port the system chose.
                family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
                sock = socket.create_server((self.host, self.port), family=family, backlog=BACKLOG)
                assert runner.server is not None
                try:
                    # Not a SockSite: every connection goes through the guard's protocol proxy.
                    self._server = await asyncio.get_running_loop().create_server(
                        self.guard.wrap(runner.server), sock=sock, backlog=BACKLOG
                    )
                except BaseException:
                    sock.close()
                    raise
            except BaseException:
                await runner.cleanup()
                raise
            self._runner = runner
            self.port = int(sock.getsockname()[1])
            self.guard.server = f"http[{self.host}:{self.port}]"
            log.info("http.started", url=self.url)
            return self.url

    async def close(self) -> None:
        """End the event streams and stop serving (idempotent)."""
        async with self._lock:
            runner, self._runner = self._runner, None
            if runner is None:
                return
            if self.sse is not None:
                self.sse.close()
            server, self._server = self._server, None
            if server is not None:
                server.close()  # no new connections; cleanup below ends the open ones
            await runner.cleanup()
            log.info("http.stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def http_token(config: LineConfig) -> str | None:
    """The write endpoints' token from ``[http] token``, None when none is configured.

    Raises:
        ConfigError: the token's variable is unset, its file unreadable, or it is blank.
    """
    if config.http.token is None:
        return None
    token = config.http.token.resolve(path=config.path, key="http.token")
    if not token.strip():
        raise ConfigError("the HTTP token is empty", path=config.path, key="http.token")
    return token


async def start_http(
    gateway: Gateway,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    sse: SseSink | None = None,
    metrics: Metrics | None = None,
    line_name: str | None = None,
) -> HttpServer:
    """Start an ``HttpServer`` and return it (call ``close()`` when done); ``server.url`` is the
    dashboard's address.

    Raises:
        OSError: the address cannot be bound.
    """
    server = HttpServer(
        gateway, host=host, port=port, token=token, sse=sse, metrics=metrics, line_name=line_name
    )
    await server.start()
    return server


__all__ = ["MAX_BODY", "STATIC", "HttpServer", "http_token", "start_http"]
