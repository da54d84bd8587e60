"""The HTTP API of the trace service: queries, the per-board report, holds and interlock status.

Answered from the gateway's in-process trace store (``[trace]``); without one every route
answers 503. Reads need no token; placing and releasing holds need the bearer token of
``[http]`` (checked first, as for every write).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http.api import CONTEXT, ApiError, json_response, read_json_object, require_token
from gateway.trace import queries as q
from gateway.trace.control import HOLD_KINDS
from gateway.trace.holds import HoldError, hold_json
from gateway.trace.html_report import board_html
from gateway.trace.service import TraceService
from gateway.trace.store import StoreError

_MAX_ID = 256


def _service(request: web.Request) -> TraceService:
    service = request.app[CONTEXT].gateway.trace
    if service is None:
        raise ApiError(503, "this gateway runs no trace service (add [trace] to its config)")
    return service


def _identifier(request: web.Request, name: str = "identifier") -> str:
    value = request.match_info[name].strip()
    if not value or len(value) > _MAX_ID:
        raise ApiError(400, f"the {name} must be 1 to {_MAX_ID} characters")
    return value


async def _boards(service: TraceService, identifier: str) -> list[dict[str, Any]]:
    try:
        found = await service.store.run(lambda: q.find_boards(identifier))
        if not found:
            raise ApiError(404, f"no board known by {identifier!r}")
        return [await service.store.run(lambda b=b: q.genealogy(b)) for b in found]  # type: ignore[misc]
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc


async def board(request: web.Request) -> web.Response:
    """``GET /api/trace/boards/{identifier}``: every board the identifier names, oldest first."""
    identifier = _identifier(request)
    records = await _boards(_service(request), identifier)
    return json_response({"query": identifier, "matches": len(records), "boards": records})


async def board_report(request: web.Request) -> web.Response:
    """``GET /api/trace/boards/{identifier}/report``: the printable device history record."""
    identifier = _identifier(request)
    records = await _boards(_service(request), identifier)
    return web.Response(text=board_html(identifier, records), content_type="text/html")


async def material(request: web.Request) -> web.Response:
    """``GET /api/trace/materials/{identifier}``: the boards with parts from a reel or lot."""
    identifier = _identifier(request)
    service = _service(request)
    try:
        rows = await service.store.run(lambda: q.material_boards(identifier))
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc
    if not rows:
        raise ApiError(404, f"no board got parts from reel or lot {identifier!r}")
    return json_response({"query": identifier, "boards": rows})


async def window(request: web.Request) -> web.Response:
    """``GET /api/trace/window?machine=&from=&to=``: the boards in a machine during a window."""
    from gateway.commands.trace import parse_time

    service = _service(request)
    machine, start, end = (request.query.get(k, "").strip() for k in ("machine", "from", "to"))
    if not machine or not start or not end:
        raise ApiError(400, "machine, from and to are required")
    try:  # ISO 8601 has no lower-case letters but RFC 3339 allows a t and a z
        start_us, end_us = parse_time(start.upper()), parse_time(end.upper())
    except (ValueError, OverflowError) as exc:
        raise ApiError(400, f"from and to must be ISO 8601 times: {exc}") from None
    if end_us < start_us:  # an empty window: no board was in it
        return json_response({"machine": machine, "from": start, "to": end, "boards": []})
    try:
        rows = await service.store.run(lambda: q.window_boards(machine, start_us, end_us))
        if not rows and machine not in (known := await service.store.run(q.machines)):
            raise ApiError(404, f"no machine {machine!r} in the store; known: {', '.join(known) or 'none'}")
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc
    return json_response({"machine": machine, "from": start, "to": end, "boards": rows})


async def fault(request: web.Request) -> web.Response:
    """``GET /api/trace/faults/{occurrence}``: the fault and the boards in its machine meanwhile."""
    occurrence = _identifier(request, "occurrence")
    service = _service(request)
    try:
        record, rows = await service.store.run(lambda: q.fault_boards(occurrence))
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc
    if not record:
        raise ApiError(404, f"no fault occurrence {occurrence!r}")
    return json_response({"fault": record, "boards": rows})


async def control(request: web.Request) -> web.Response:
    """``GET /api/control``: rules, decision counts, the last refusals and the active holds."""
    service = _service(request)
    try:
        holds = [hold_json(h) for h in await service.holds()]
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc
    return json_response({**service.status(), "holds": holds})


def _hold_fields(data: dict[str, Any]) -> tuple[str, str]:
    kind, value = data.get("kind"), data.get("value")
    if kind not in HOLD_KINDS:
        raise ApiError(400, f"'kind' must be one of {', '.join(HOLD_KINDS)}")
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_ID:
        raise ApiError(400, f"'value' must be a non-empty string of at most {_MAX_ID} characters")
    for key in ("reason", "by"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ApiError(400, f"{key!r} must be a string")
    return kind, value.strip()


async def hold(request: web.Request) -> web.Response:
    """``POST /api/holds``: put a board, reel or lot on hold (201; 200 when held already)."""
    require_token(request)
    service = _service(request)
    data = await read_json_object(request)
    kind, value = _hold_fields(data)
    try:
        placed, created = await service.hold(kind, value, data.get("reason"), data.get("by"))
    except HoldError as exc:
        raise ApiError(404 if exc.not_found else 400, str(exc)) from exc
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc
    return json_response({"created": created, "hold": hold_json(placed)}, 201 if created else 200)


async def release(request: web.Request) -> web.Response:
    """``POST /api/holds/release``: release the hold on a board, reel or lot."""
    require_token(request)
    service = _service(request)
    data = await read_json_object(request)
    kind, value = _hold_fields(data)
    try:
        released = await service.release(kind, value, data.get("by"))
    except HoldError as exc:
        raise ApiError(404 if exc.not_found else 400, str(exc)) from exc
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc
    return json_response({"released": [hold_json(h) for h in released]})


async def holds(request: web.Request) -> web.Response:
    """``GET /api/holds``: the active holds."""
    service = _service(request)
    try:
        active = await service.holds()
    except StoreError as exc:
        raise ApiError(503, f"the trace store failed: {exc}") from exc
    return json_response({"holds": [hold_json(h) for h in active]})


def add_routes(app: web.Application) -> None:
    """Register the trace routes on the API's application."""
    app.router.add_get("/api/trace/boards/{identifier}", board)
    app.router.add_get("/api/trace/boards/{identifier}/report", board_report)
    app.router.add_get("/api/trace/materials/{identifier}", material)
    app.router.add_get("/api/trace/window", window)
    app.router.add_get("/api/trace/faults/{occurrence}", fault)
    app.router.add_get("/api/control", control)
    app.router.add_get("/api/holds", holds)
    app.router.add_post("/api/holds", hold)
    app.router.add_post("/api/holds/release", release)


__all__ = ["add_routes"]
