"""The HTTP API under fuzz: raw request bytes through aiohttp's server into our handlers.

The app is the one ``gateway.http.HttpServer`` builds (routes, error middleware, body limit,
token, SSE sink), run as ``HttpServer.start`` runs it (handler cancellation), over a real
``Gateway`` with a real SQLite outbox and one in-memory machine whose recipe commands are
refused at once. Each input is the bytes a client sends on one
connection; aiohttp's own request parser (llhttp) and protocol handler take them from a
transport that only collects what the server writes back, so no socket is involved.

Invariant: every request is answered with a status below 500 (or 502/503, which the handlers
answer on purpose), or refused by aiohttp's parser with 4xx; a 500 means an exception escaped
a handler (``internal error: <type>``) and counts as a crash. Rejections are the 4xx answers.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters import observations as obs
from adapters.base import Adapter, CommandError, Emit, RecipeInfo
from fuzz.harness import Crash, Harness, Target
from gateway.config import RecipeRef
from gateway.http import HttpServer, SseSink
from gateway.metrics import Metrics
from gateway.outbox import Outbox
from gateway.recipes import RecipeService
from gateway.runtime import Gateway, MachineRuntime

TOKEN = "fuzz-token"
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")
_ERROR = re.compile(rb'"message":"[^"]*"')
_ON_PURPOSE = {502, 503}


class Rejected(Exception):
    """The server answered 4xx."""


class _Machine(Adapter):
    """A machine that is never connected and refuses every recipe at once."""

    protocol = "fuzz"

    async def _session(self, emit: Emit) -> None:
        await asyncio.Event().wait()

    async def activate_recipe(self, name: str, revision: str | None = None) -> obs.RecipeActivated:
        raise CommandError(f"recipe {name} refused", refused=True)

    async def active_recipe(self) -> RecipeInfo | None:
        return RecipeInfo("A")

    async def available_recipes(self) -> list[RecipeInfo]:
        return [RecipeInfo("A"), RecipeInfo("B")]


class _Inline(concurrent.futures.ThreadPoolExecutor):
    """Runs executor work at once on the loop's thread, so "nothing runnable" means idle."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _Transport(asyncio.Transport):
    """Collects what the server writes; closing marks the connection done."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()
        self.closed = asyncio.Event()
        self.protocol: asyncio.BaseProtocol | None = None

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def write(self, data: Any) -> None:
        self.sent += data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.sent += data

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def close(self) -> None:
        self.closed.set()

    def abort(self) -> None:
        self.closed.set()

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


def make() -> Target:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_default_executor(_Inline())
    folder = Path(tempfile.mkdtemp(prefix="linegate-fuzz-http-"))
    atexit.register(shutil.rmtree, folder, True)
    outbox = Outbox(folder / "outbox.sqlite", sinks=["memory"])
    outbox.open()
    runtime = MachineRuntime("oven1", "Acme.Oven.1", _Machine("oven1"), outbox, "refuse")
    recipes = RecipeService({"oven1": runtime}, {"PCB-A": {"oven1": RecipeRef("A", "2")}}, drain_timeout=1)
    gateway = Gateway(outbox, [runtime], [], recipes, heartbeat=None)
    sse = SseSink(client_queue=16)
    server = HttpServer(gateway, port=0, token=TOKEN, sse=sse, metrics=Metrics(), line_name="Line 1")
    # As HttpServer.start runs it: a client that goes away cancels its handler.
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False, handler_cancellation=True)
    loop.run_until_complete(runner.setup())
    assert runner.server is not None
    factory = runner.server

    async def serve(data: bytes) -> bytes:
        transport = _Transport()
        protocol = factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(data)
        protocol.eof_received()
        protocol.close()  # answer what arrived, then end: as a client that sent and hung up
        task = protocol._task_handler
        ready: Any = loop._ready  # type: ignore[attr-defined]
        # Let the handlers run until they finish or nothing is runnable any more (each waits
        # for bytes that will never come); then the connection goes, as asyncio does after EOF.
        for _ in range(100_000):
            if task is None or task.done() or not ready:
                break
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        if task is not None:
            done, _ = await asyncio.wait([task], timeout=1.0)
            if not done:
                raise Crash("the request handler outlived its connection by 1 s")
        return bytes(transport.sent)

    def one(data: bytes) -> None:
        sent = loop.run_until_complete(serve(data))
        for match in _STATUS.finditer(sent):
            status = int(match.group(1))
            if status >= 500 and status not in _ON_PURPOSE:
                error = _ERROR.search(sent, match.end())
                raise Crash(f"answered {status}: {error.group(0) if error else sent[:200]!r}")
        statuses = [int(m.group(1)) for m in _STATUS.finditer(sent)]
        if statuses and all(400 <= s < 500 for s in statuses):
            raise Rejected(statuses[-1])

    return one


def seeds() -> list[bytes]:
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()

    def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
        head = f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n".encode()
        return head + auth + extra + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    return [
        b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET /api/line HTTP/1.1\r\nHost: gw\r\nAccept: application/json\r\n\r\n",
        b"GET /api/events?source=oven1,printer HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET /api/machines/oven1/recipes HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET /static/dashboard.js HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: gw\r\n\r\nGET /api/line HTTP/1.1\r\nHost: gw\r\n\r\n",
        post("/api/machines/oven1/recipe", b'{"recipe": "A", "revision": "2"}'),
        post("/api/changeover", b'{"product": "PCB-A"}'),
        post("/api/changeover", b'{"product": "PCB-A"}', b"Accept: application/x-ndjson\r\n"),
        post("/api/machines/oven1/recipe", b"[1, 2]"),
        b"POST /api/changeover HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic eDp5\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        b"DELETE /api/line?x=%00%ff HTTP/1.1\r\nHost: gw\r\n\r\n",
    ]


HARNESSES = [
    Harness(
        "http-api",
        "aiohttp server -> gateway/http/api.py (routes, middleware, token, JSON bodies)",
        make,
        (Rejected,),
        seeds,
        max_len=4096,
    )
]
