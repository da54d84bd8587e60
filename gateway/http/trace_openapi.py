"""The OpenAPI entries of the trace routes (``gateway.http.trace_api``), merged into the
document by ``gateway.http.openapi.build``."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
_REF = "#/components/schemas/"
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_ID = {"type": "string", "pattern": r"\S", "maxLength": 256}
_TIME = {"type": "string", "format": "date-time"}
_OBJECTS = {"type": "array", "items": {"type": "object"}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": _REF + "Error"}}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": _REF + schema}}}}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


_HOLD = _object(
    {"id": {"type": "integer"}, "kind": {"enum": ["board", "reel", "lot"]}, "value": _STR, "reason": _NSTR,
     "held_by": _NSTR, "held": _STR}
)  # fmt: skip
_REFUSAL = {"type": "object", "required": ["time", "machine", "via", "allowed", "rule", "reason"]}

SCHEMAS: dict[str, Any] = {
    "TraceBoards": _object({"query": _STR, "matches": {"type": "integer", "minimum": 1}, "boards": _OBJECTS}),
    "TraceMaterial": _object({"query": _STR, "boards": _OBJECTS}),
    "TraceWindow": _object({"machine": _STR, "from": _STR, "to": _STR, "boards": _OBJECTS}),
    "TraceFault": _object({"fault": {"type": "object"}, "boards": _OBJECTS}),
    "Hold": _HOLD,
    "Holds": _object({"holds": {"type": "array", "items": {"$ref": _REF + "Hold"}}}),
    "HoldPlaced": _object({"created": {"type": "boolean"}, "hold": {"$ref": _REF + "Hold"}}),
    "HoldsReleased": _object({"released": {"type": "array", "items": {"$ref": _REF + "Hold"}}}),
    "HoldRequest": _object(
        {"kind": {"enum": ["board", "reel", "lot"]}, "value": _ID, "reason": _STR, "by": _STR},
        required=["kind", "value"],
    ),
    "ReleaseRequest": _object(
        {"kind": {"enum": ["board", "reel", "lot"]}, "value": _ID, "by": _STR}, required=["kind", "value"]
    ),
    "Control": _object(
        {
            "handle": _STR,
            "rules": _OBJECTS,
            "decisions": {"type": "integer", "minimum": 0},
            "refused": {"type": "integer", "minimum": 0},
            "ingested": {"type": "integer", "minimum": 0},
            "refusals": {"type": "array", "items": _REFUSAL},
            "holds": {"type": "array", "items": {"$ref": _REF + "Hold"}},
        }
    ),
}

_NO_TRACE = _error("the gateway runs no trace service, or its store failed")


def _param(name: str, where: str, description: str, schema: dict[str, Any] = _ID) -> dict[str, Any]:
    return {"name": name, "in": where, "required": True, "description": description, "schema": schema}


def _get(
    summary: str, op: str, ok: dict[str, Any], params: list[dict[str, Any]], missing: str
) -> dict[str, Any]:
    responses = {
        "200": ok,
        "400": _error("a parameter is empty, too long or not a time"),
        "404": _error(missing),
    }
    responses["503"] = _NO_TRACE
    return {"get": {"summary": summary, "operationId": op, "parameters": params, "responses": responses}}


def paths(write_errors: dict[str, Any]) -> dict[str, Any]:
    """The trace paths; ``write_errors`` are the write endpoints' shared error responses."""
    board = _param("identifier", "path", "a barcode, Hermes BoardId or unit identifier")
    holds_post = {
        "summary": "Put a board, reel or lot on hold: the interlocks refuse it at every machine",
        "operationId": "hold",
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": _REF + "HoldRequest"}}}},
        "responses": {
            "201": _ok("the hold was placed", "HoldPlaced"),
            "200": _ok("it was on hold already: the existing hold", "HoldPlaced"),
            **write_errors,
            "404": _error("the trace store knows no such board, reel or lot"),
            "503": _NO_TRACE,
        },
    }
    found: dict[str, Any] = {
        "/api/trace/boards/{identifier}": _get(
            "Every board the identifier names, oldest first, with its whole genealogy",
            "traceBoard",
            _ok("the boards", "TraceBoards"),
            [board],
            "no board known by the identifier",
        ),
        "/api/trace/boards/{identifier}/report": {
            "get": {
                "summary": "The printable device history record (HTML) of every board the identifier names",
                "operationId": "traceBoardReport",
                "parameters": [board],
                "responses": {
                    "200": {"description": "the page", "content": {"text/html": {"schema": _STR}}},
                    "400": _error("the identifier is empty or too long"),
                    "404": _error("no board known by the identifier"),
                    "503": _NO_TRACE,
                },
            }
        },
        "/api/trace/materials/{identifier}": _get(
            "The boards that got parts from a reel or lot",
            "traceMaterial",
            _ok("the boards", "TraceMaterial"),
            [_param("identifier", "path", "a reel (MaterialPackage UniqueIdentifier) or lot (BatchId)")],
            "no board got parts from it",
        ),
        "/api/trace/window": _get(
            "The boards whose pass through a machine overlaps a time window",
            "traceWindow",
            _ok("the boards", "TraceWindow"),
            [
                _param("machine", "query", "the machine's CFX handle"),
                _param("from", "query", "ISO 8601 (naive: UTC)", _TIME),
                _param("to", "query", "ISO 8601 (naive: UTC); before from: an empty window", _TIME),
            ],
            "no such machine in the store",
        ),
        "/api/trace/faults/{occurrence}": _get(
            "A fault occurrence and the boards in its machine while it was active",
            "traceFault",
            _ok("the fault and the boards", "TraceFault"),
            [_param("occurrence", "path", "the FaultOccurrenceId")],
            "no such fault occurrence",
        ),
        "/api/control": {
            "get": {
                "summary": "Interlocks: rules, decisions, the last refusals and the active holds",
                "operationId": "control",
                "responses": {"200": _ok("the interlocks now", "Control"), "503": _NO_TRACE},
            }
        },
        "/api/holds": {
            "get": {
                "summary": "The active holds",
                "operationId": "holds",
                "responses": {"200": _ok("the holds", "Holds"), "503": _NO_TRACE},
            },
            "post": holds_post,
        },
        "/api/holds/release": {
            "post": {
                "summary": "Release the hold on a board, reel or lot",
                "operationId": "releaseHold",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": {"$ref": _REF + "ReleaseRequest"}}},
                },
                "responses": {
                    "200": _ok("the released holds", "HoldsReleased"),
                    **write_errors,
                    "404": _error("no such board, reel or lot is on hold"),
                    "503": _NO_TRACE,
                },
            }
        },
    }
    for item in found.values():
        for operation in item.values():
            operation["responses"]["500"] = _error("an unexpected failure in the gateway")
    return found


__all__ = ["SCHEMAS", "paths"]
