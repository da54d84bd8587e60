"""The route handlers of the HTTP API and the rules they share: JSON errors and bearer tokens.

Write endpoints check the token before anything else (before the machine or product is looked
up, before the body is read), so a refused request has no side effect and learns nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import structlog
from aiohttp import web

from adapters.observations import FaultAcknowledged
from gateway.config import CHANGEOVER_AT, RecipeRef
from gateway.http import openapi
from gateway.http.collect import render_metrics
from gateway.http.line import LineTracker, line_view
from gateway.http.sse import KEEPALIVE_SECONDS, SseSink, SubscriptionEnded
from gateway.metrics import CONTENT_TYPE, Metrics
from gateway.recipes import Outcome
from protocols.errors import LinegateError

if TYPE_CHECKING:
    from gateway.runtime import Gateway, MachineRuntime

log = structlog.get_logger("linegate.http")

NDJSON = "application/x-ndjson"
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Context:
    """What the handlers need: the gateway and the server's settings."""

    gateway: Gateway
    token: str | None
    sse: SseSink | None
    metrics: Metrics | None
    line_name: str | None


CONTEXT = web.AppKey("linegate.context", Context)
CONTEXT_MAX_BODY = web.AppKey("linegate.max_body", int)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


class ApiError(Exception):
    """An error answered as ``{"error": {"status": ..., "message": ...}}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        """The JSON error response."""
        body = {"error": {"status": self.status, "message": self.message}}
        return json_response(body, self.status, self.headers)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer ``ApiError``, aiohttp's own errors (404, 405, 413) and unexpected exceptions as JSON."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 404:
            message = f"no route for {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        elif exc.status == 413:
            message = f"the request body is too large (limit {request.app[CONTEXT_MAX_BODY]} bytes)"
        return ApiError(exc.status, message, _keep(exc.headers)).response()
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        log.error("http.handler_failed", path=request.path, error=repr(exc), exc_info=exc)
        return ApiError(500, f"internal error: {type(exc).__name__}").response()


def _keep(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() == "allow"}


def require_token(request: web.Request) -> None:
    """Check ``Authorization: Bearer <token>``.

    Raises:
        ApiError: 403 when no token is configured (writes disabled), 401 when the header is
            missing, malformed or carries another token.
    """
    expected = request.app[CONTEXT].token
    if expected is None:
        raise ApiError(403, "write endpoints are disabled: the gateway has no HTTP token configured")
    challenge = {"WWW-Authenticate": 'Bearer realm="linegate"'}
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if not header:
        reason = "missing Authorization header; send 'Authorization: Bearer <token>'"
    elif scheme.lower() != "bearer" or not presented.strip():
        reason = "the Authorization header must be 'Bearer <token>'"
    # Constant-time comparison: response timing must not reveal how much of a guess was right.
    # aiohttp decodes header bytes that are not UTF-8 as surrogates: surrogateescape gives the
    # bytes back, where a strict encode raised and the client got a 500 instead of a 401.
    elif not hmac.compare_digest(presented.strip().encode("utf-8", "surrogateescape"), expected.encode()):
        reason = "wrong token"
    else:
        return
    # Who tried and why, never what they presented (a near miss is almost the token).
    log.warning("http.auth_refused", path=request.path, peer=request.remote, reason=reason)
    raise ApiError(401, reason, challenge)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        ApiError: 400 when the body is not a JSON object.
    """
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _text_field(data: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{key!r} must be a non-empty string")
    return value.strip()


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """One recipe activation's outcome as JSON."""
    return {
        "machine": outcome.machine_id,
        "recipe": outcome.recipe.name,
        "revision": outcome.recipe.revision,
        "ok": outcome.ok,
        "result": outcome.result.result.value,
        "result_code": outcome.result.result_code,
        "message": outcome.result.message,
    }


# --- read endpoints -----------------------------------------------------------------------


def health_report(gateway: Gateway) -> dict[str, Any]:
    """What ``/healthz`` and ``/readyz`` answer: the gateway's own status and what is down.

    ``status`` is ``starting`` before the gateway runs, ``degraded`` when a machine is down (it
    was reported lost after its grace period, or its link is not up where no grace applies) or a
    broker sink is not connected, and ``ok`` otherwise.
    """
    runtimes = list(gateway.machines.values())
    connected = sum(1 for r in runtimes if r.adapter.health.state.value == "connected")
    down = sorted(r.machine_id for r in runtimes if _machine_down(r))
    links = {sink.name: getattr(sink, "connected", None) for sink in gateway.sinks}
    brokers = {name: bool(up) for name, up in links.items() if up is not None}
    running = gateway.started.is_set()
    if not running:
        status = "starting"
    elif down or not all(brokers.values()):
        status = "degraded"
    else:
        status = "ok"
    return {
        "status": status,
        "machines": len(runtimes),
        "connected": connected,
        "machines_down": down,
        "brokers": brokers,
        "outbox_depth": gateway.outbox.depth(),
    }


def _machine_down(runtime: MachineRuntime) -> bool:
    if runtime.passthrough or runtime.link_grace is None:
        return runtime.adapter.health.state.value != "connected"
    return not runtime.normalizer.reachable


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 once the gateway runs, even ``degraded`` (503 ``starting`` before)."""
    body = health_report(request.app[CONTEXT].gateway)
    return json_response(body, 503 if body["status"] == "starting" else 200)


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 only when ``ok`` (every machine answers, every broker connected), else 503."""
    body = health_report(request.app[CONTEXT].gateway)
    return json_response(body, 200 if body["status"] == "ok" else 503)


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus exposition."""
    ctx = request.app[CONTEXT]
    text = render_metrics(ctx.gateway, ctx.metrics, ctx.sse)
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI document of every route (``gateway.http.openapi``)."""
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def line(request: web.Request) -> web.Response:
    """The line view (``gateway.http.line.line_view``)."""
    ctx = request.app[CONTEXT]
    tracker = ctx.sse.tracker if ctx.sse is not None else LineTracker()
    view = line_view(ctx.gateway, tracker, ctx.line_name)
    view["sse_clients"] = len(ctx.sse.clients) if ctx.sse is not None else None
    view["writes_enabled"] = ctx.token is not None
    return json_response(view)


def _tracker(request: web.Request) -> LineTracker:
    ctx = request.app[CONTEXT]
    if ctx.sse is None:
        raise ApiError(404, "the gateway keeps no event stream here, so no shift figures or alarm list")
    return ctx.sse.tracker


async def alarms(request: web.Request) -> web.Response:
    """The alarm history of the shift, newest first, with each alarm's acknowledgement."""
    tracker = _tracker(request)
    return json_response({"shift_started": tracker.shift.started_at, "alarms": tracker.shift.alarm_list()})


async def restart_shift(request: web.Request) -> web.Response:
    """Start a new shift now: the figures start from zero, cleared alarms leave the list."""
    require_token(request)
    tracker = _tracker(request)
    tracker.shift.restart(time.time())
    log.info("shift.restarted")
    return json_response({"shift_started": tracker.shift.started_at})


async def acknowledge(request: web.Request) -> web.Response:
    """An operator acknowledges an active fault; CFX FaultAcknowledged names the operator."""
    require_token(request)
    machine_id = _machine(request)
    data = await read_json_object(request)
    operator = _text_field(data, "operator", required=True)
    assert operator is not None
    if len(operator) > 256:
        raise ApiError(400, "'operator' must be at most 256 characters")
    occurrence = request.match_info["fault"]
    runtime = request.app[CONTEXT].gateway.machines[machine_id]
    active = next(
        (
            (code, fault)
            for code, fault in runtime.normalizer.faults.items()
            if str(fault.fault.fault_occurrence_id) == occurrence
        ),
        None,
    )
    if active is None:
        raise ApiError(404, f"no active fault with occurrence {occurrence!r} on {machine_id}")
    code, fault = active
    if fault.acknowledged_at is None:
        await runtime.record(
            FaultAcknowledged(machine_id=machine_id, at=datetime.now(UTC), code=code, operator=operator)
        )
        log.info(
            "fault.acknowledged", machine=machine_id, code=code, occurrence=occurrence, operator=operator
        )
    assert fault.acknowledged_at is not None
    return json_response(
        {
            "machine": machine_id,
            "code": code,
            "occurrence_id": occurrence,
            "acknowledged_by": fault.acknowledged_by,
            "acknowledged_at": fault.acknowledged_at.isoformat(),
        }
    )


async def events(request: web.Request) -> web.StreamResponse:
    """The live event stream as ``text/event-stream``, until the client or the server goes."""
    sse = request.app[CONTEXT].sse
    if sse is None:
        raise ApiError(503, "the event stream is not enabled: the gateway has no SSE sink")
    sources = [s for value in request.query.getall("source", []) for s in value.split(",") if s]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # tell a reverse proxy not to buffer the stream
        }
    )
    await response.prepare(request)
    subscription = sse.subscribe(sources)
    transport = request.transport
    if transport is not None:
        subscription.abort = transport.abort
    try:
        # retry: how long a browser waits before reconnecting; the comment flushes the headers.
        await response.write(b"retry: 2000\n: linegate event stream\n\n")
        while True:
            message = await subscription.get(KEEPALIVE_SECONDS)
            await response.write(message if message is not None else b": keepalive\n\n")
    except SubscriptionEnded:
        pass
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away (or was dropped and its socket aborted)
    finally:
        sse.unsubscribe(subscription)
    return response


def _machine(request: web.Request) -> str:
    machine_id = request.match_info["machine"]
    if machine_id not in request.app[CONTEXT].gateway.machines:
        known = ", ".join(request.app[CONTEXT].gateway.machines) or "none"
        raise ApiError(404, f"no machine {machine_id!r}; machines: {known}")
    return machine_id


async def recipes(request: web.Request) -> web.Response:
    """The active and available recipes, read from the machine now (502 if it cannot answer)."""
    machine_id = _machine(request)
    adapter = request.app[CONTEXT].gateway.machines[machine_id].adapter
    try:
        active = await adapter.active_recipe()
        available = await adapter.available_recipes()
    except LinegateError as exc:
        raise ApiError(502, f"machine {machine_id} did not answer: {exc}") from None
    return json_response(
        {
            "machine": machine_id,
            "active": {"name": active.name, "revision": active.revision} if active else None,
            "available": [{"name": r.name, "revision": r.revision} for r in available],
        }
    )


def _plain(value: Any) -> Any:
    # What a point holds, as JSON: numbers, text, flags and lists of them; NaN and the other
    # types an OPC UA server may send (times, ids, structures) as their text.
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


async def points(request: web.Request) -> web.Response:
    """The point browser: every mapped point with its address, raw and mapped value."""
    machine_id = _machine(request)
    adapter = request.app[CONTEXT].gateway.machines[machine_id].adapter
    return json_response(
        {
            "machine": machine_id,
            "protocol": adapter.protocol,
            "points": [
                {
                    "name": p.name,
                    "address": p.address,
                    "raw": _plain(p.raw),
                    "value": _plain(p.value),
                    "unit": p.unit,
                }
                for p in adapter.points()
            ],
        }
    )


async def reflow_profiles(request: web.Request) -> web.Response:
    """The reflow profiles of an oven's recent boards, newest first; ``?board=`` picks one."""
    machine_id = _machine(request)
    runtime = request.app[CONTEXT].gateway.machines[machine_id]
    kept: dict[str, dict[str, Any]] = dict(_tracker(request).board_profiles.get(runtime.handle, {}))
    board = request.query.get("board")
    if board is not None:
        profile = kept.get(board)
        if profile is None:
            raise ApiError(404, f"no reflow profile of board {board!r} at {machine_id} (recent boards only)")
        return json_response({"machine": machine_id, "profiles": [profile]})
    return json_response({"machine": machine_id, "profiles": list(reversed(kept.values()))})


# --- write endpoints ----------------------------------------------------------------------


async def activate(request: web.Request) -> web.Response:
    """Activate a recipe on one machine; 200 with the outcome, or 409 when it did not take effect."""
    require_token(request)
    machine_id = _machine(request)
    data = await read_json_object(request)
    name = _text_field(data, "recipe", required=True)
    assert name is not None
    revision = _text_field(data, "revision", required=False)
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise ApiError(400, "'force' must be true or false")
    service = request.app[CONTEXT].gateway.recipes
    if service.boundary is not None and service.boundary.gated(machine_id) and not force:
        # The gate sets each board's product recipe before the machine builds it, so a manual
        # recipe would last only until the next board: say so instead of switching silently.
        raise ApiError(
            409,
            f'{machine_id} changes recipe at product boundaries ([changeover] at = "boundary"): '
            "the gate will switch it back to the next board's product recipe; "
            "send force=true to activate anyway",
        )
    outcome = await _finish(service.activate(machine_id, RecipeRef(name, revision)))
    body = outcome_json(outcome)
    if not outcome.ok:
        body["error"] = {"status": 409, "message": outcome.result.message}
    return json_response(body, 200 if outcome.ok else 409)


async def changeover(request: web.Request) -> web.StreamResponse:
    """Change the whole line over to a product; streams per-machine progress as NDJSON if asked.

    The body is ``{"product": NAME}``, optionally with ``"at": "now"`` or ``"boundary"`` (each
    machine switches at the product's first board; the default is the line config's
    ``[changeover] at``). 200 when every machine confirmed, else 409.
    """
    require_token(request)
    data = await read_json_object(request)
    product = _text_field(data, "product", required=True)
    assert product is not None
    at = _text_field(data, "at", required=False)
    if at is not None and at not in CHANGEOVER_AT:
        raise ApiError(400, f"'at' must be one of {', '.join(CHANGEOVER_AT)}")
    service = request.app[CONTEXT].gateway.recipes
    at = at or service.changeover_at
    plan = service.products.get(product)
    if plan is None:
        known = ", ".join(sorted(service.products)) or "none"
        raise ApiError(404, f"no product {product!r}; products: {known}")
    machines = sorted(plan)
    if NDJSON not in request.headers.get("Accept", ""):
        outcomes = await _finish(service.changeover(product, at=at))
        summary = _summary(product, machines, outcomes, at)
        return json_response(summary, 200 if summary["ok"] else 409)
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-cache"})
    await response.prepare(request)
    started = {"type": "started", "product": product, "at": at, "machines": machines}
    await response.write(orjson.dumps(started) + b"\n")

    async def progress(outcome: Outcome) -> None:
        # The client may have gone; the changeover carries on regardless.
        with contextlib.suppress(ConnectionError):
            await response.write(orjson.dumps({"type": "outcome", **outcome_json(outcome)}) + b"\n")

    outcomes = await _finish(service.changeover(product, progress=progress, at=at))
    await response.write(orjson.dumps({"type": "done", **_summary(product, machines, outcomes, at)}) + b"\n")
    await response.write_eof()
    return response


_RUNNING: set[asyncio.Task[Any]] = set()


async def _finish(operation: Coroutine[Any, Any, T]) -> T:
    """Await a command in its own task, shielded: a client that disconnects (which cancels its
    handler) must not leave a machine half way through a recipe change."""
    task = asyncio.ensure_future(operation)
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return await asyncio.shield(task)


def _summary(product: str, machines: list[str], outcomes: list[Outcome], at: str) -> dict[str, Any]:
    return {
        "product": product,
        "at": at,
        "machines": machines,
        "ok": all(o.ok for o in outcomes),
        "outcomes": [outcome_json(o) for o in outcomes],
    }


# --- the dashboard ------------------------------------------------------------------------


async def dashboard(request: web.Request) -> web.FileResponse:
    """The dashboard page."""
    return web.FileResponse(request.app[STATIC_DIR] / "index.html", headers={"Cache-Control": "no-cache"})


async def asset(request: web.Request) -> web.FileResponse:
    """One of the dashboard's assets: only the files the package ships, looked up by name.

    (aiohttp's static route answered a missing file with an empty ``application/octet-stream``
    404 that bypassed ``errors_as_json``; schemathesis found it.)
    """
    name = request.match_info["path"]
    path = request.app[ASSETS].get(name)
    if path is None:
        raise ApiError(404, f"no static file {name!r}")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


STATIC_DIR = web.AppKey("linegate.static", Path)
ASSETS = web.AppKey("linegate.assets", dict[str, Path])
OPENAPI = web.AppKey("linegate.openapi", bytes)


def build_app(context: Context, *, static: Path, max_body: int) -> web.Application:
    """The aiohttp application with every route."""
    app = web.Application(middlewares=[errors_as_json], client_max_size=max_body)
    app[CONTEXT] = context
    app[CONTEXT_MAX_BODY] = max_body
    app[STATIC_DIR] = static
    assets = {p.name: p for p in sorted(static.iterdir()) if p.is_file() and not p.is_symlink()}
    app[ASSETS] = assets
    app[OPENAPI] = orjson.dumps(openapi.build(list(assets), writes_enabled=context.token is not None))
    app.router.add_get("/", dashboard)
    app.router.add_get("/static/{path}", asset)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/openapi.json", openapi_document)
    app.router.add_get("/api/line", line)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/machines/{machine}/recipes", recipes)
    app.router.add_get("/api/machines/{machine}/points", points)
    app.router.add_get("/api/machines/{machine}/reflow", reflow_profiles)
    app.router.add_post("/api/machines/{machine}/recipe", activate)
    app.router.add_post("/api/changeover", changeover)
    app.router.add_get("/api/alarms", alarms)
    app.router.add_post("/api/shift", restart_shift)
    app.router.add_post("/api/machines/{machine}/faults/{fault}/acknowledge", acknowledge)
    from gateway.http import trace_api  # it imports this module's helpers

    trace_api.add_routes(app)
    return app


__all__ = ["CONTEXT", "ApiError", "Context", "build_app", "outcome_json", "require_token"]
