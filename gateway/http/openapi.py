"""The OpenAPI 3.1 document of the gateway's HTTP server, served at ``/api/openapi.json``.

Written by hand next to the handlers (``gateway.http.api``) and kept true by two tests: one
compares the router's routes with ``paths`` (tests/gateway/test_openapi.py), the other runs
schemathesis against a live gateway, which checks status codes, content types and every JSON
body against the schemas below.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gateway import __version__
from gateway.http import trace_openapi
from gateway.http.openapi_schemas import JSON, NDJSON, SCHEMAS, STR, ref
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": ref("Error")}}}
    if headers:
        response["headers"] = headers
    return response


_ALLOW = {"Allow": {"description": "the methods the path accepts", "schema": STR}}
_CHALLENGE = {"WWW-Authenticate": {"schema": STR}}
_ERRORS = {"500": _error("an unexpected failure in the gateway (logged as http.handler_failed)")}
_WRITE_ERRORS = {
    "400": _error("the body is not a JSON object, or a field is missing or not a non-empty string"),
    "401": _error("no, a malformed, or the wrong bearer token", _CHALLENGE),
    "403": _error("the gateway has no HTTP token configured: write endpoints are disabled"),
    "408": _error("the request body did not arrive in time"),
    "413": _error("the request body is larger than 64 KiB"),
}


def _json_ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


_MACHINE = {
    "name": "machine",
    "in": "path",
    "required": True,
    "description": "the machine's id in the line config",
    "schema": STR,
}


def build(assets: Collection[str] = (), *, writes_enabled: bool = True) -> dict[str, Any]:
    """The OpenAPI document as a JSON-ready dict.

    Args:
        assets: the names of the dashboard's static files (listed as the only valid ``path``s).
        writes_enabled: whether the gateway has a token. Without one the write operations have
            no credentials to present: the document says they answer 403 whatever is sent
            (schemathesis found the document promising a bearer-token 401 that never came).
    """
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "The dashboard page",
                "operationId": "dashboard",
                "responses": {
                    "200": {"description": "the page", "content": {"text/html": {"schema": STR}}},
                    **_ERRORS,
                },
            }
        },
        "/static/{path}": {
            "get": {
                "summary": "The dashboard's assets (shipped in the package)",
                "operationId": "static",
                "parameters": [
                    {
                        "name": "path",
                        "in": "path",
                        "required": True,
                        "description": "the file's name",
                        "schema": {"type": "string", "enum": sorted(assets)} if assets else STR,
                    }
                ],
                "responses": {
                    "200": {"description": "the file", "content": {"*/*": {"schema": STR}}},
                    "404": _error("no such file"),
                    **_ERRORS,
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: 200 once the gateway runs, even degraded",
                "operationId": "healthz",
                "responses": {
                    "200": _json_ok("running (status ok or degraded)", "Health"),
                    "503": _json_ok("starting", "Health"),
                    **_ERRORS,
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: 200 only when every machine answers and every broker is connected",
                "operationId": "readyz",
                "responses": {
                    "200": _json_ok("status ok", "Health"),
                    "503": _json_ok("starting or degraded", "Health"),
                    **_ERRORS,
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text exposition",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "the metrics (docs/metrics.md)",
                        "content": {METRICS_CONTENT_TYPE.split(";")[0]: {"schema": STR}},
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {"type": "object"}}}},
                    **_ERRORS,
                },
            }
        },
        "/api/line": {
            "get": {
                "summary": "The line: machines, links, states, recipes, faults, boards, reflow, outbox",
                "operationId": "line",
                "responses": {"200": _json_ok("the line now", "Line"), **_ERRORS},
            }
        },
        "/api/machines/{machine}/points": {
            "get": {
                "summary": "The point browser: each mapped point's address, raw and mapped value",
                "operationId": "points",
                "parameters": [_MACHINE],
                "responses": {
                    "200": _json_ok("the machine's points", "Points"),
                    "404": _error("no such machine"),
                    **_ERRORS,
                },
            }
        },
        "/api/machines/{machine}/reflow": {
            "get": {
                "summary": "The reflow profiles of an oven's recent boards (newest first), or one board's",
                "operationId": "reflow_profiles",
                "parameters": [
                    _MACHINE,
                    {
                        "name": "board",
                        "in": "query",
                        "required": False,
                        "description": "a board's barcode (or BoardId when it has none)",
                        "schema": STR,
                    },
                ],
                "responses": {
                    "200": _json_ok("the profiles", "BoardProfiles"),
                    "404": _error("no such machine, no event stream, or no profile of that board"),
                    **_ERRORS,
                },
            }
        },
        "/api/alarms": {
            "get": {
                "summary": "The shift's alarm history, newest first, with acknowledgements",
                "operationId": "alarms",
                "responses": {
                    "200": _json_ok("the alarms", "Alarms"),
                    "404": _error("the gateway keeps no event stream"),
                    **_ERRORS,
                },
            }
        },
        "/api/shift": {
            "post": {
                "summary": "Start a new shift: figures from zero, cleared alarms leave the list",
                "operationId": "restart_shift",
                "security": [{"bearer": []}],
                "responses": {
                    "200": _json_ok("the new shift", "Shift"),
                    **_WRITE_ERRORS,
                    "404": _error("the gateway keeps no event stream"),
                    **_ERRORS,
                },
            }
        },
        "/api/machines/{machine}/faults/{fault}/acknowledge": {
            "post": {
                "summary": "Acknowledge an active fault (published as CFX FaultAcknowledged)",
                "operationId": "acknowledge",
                "security": [{"bearer": []}],
                "parameters": [
                    _MACHINE,
                    {
                        "name": "fault",
                        "in": "path",
                        "required": True,
                        "description": "the fault's FaultOccurrenceId",
                        "schema": STR,
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("AcknowledgeRequest")}},
                },
                "responses": {
                    "200": _json_ok("acknowledged (now or before)", "Acknowledged"),
                    **_WRITE_ERRORS,
                    "404": _error("no such machine, or no active fault with that occurrence"),
                    **_ERRORS,
                },
            }
        },
        "/api/events": {
            "get": {
                "summary": "The normalized CFX event stream (server-sent events, live only)",
                "description": (
                    "Each event's id is the outbox sequence number and its data the CFX envelope as "
                    "one line of JSON. A comment every 15 s keeps the stream open. A client a full "
                    "queue behind is dropped."
                ),
                "operationId": "events",
                "parameters": [
                    {
                        "name": "source",
                        "in": "query",
                        "required": False,
                        "description": "only these CFX handles (repeat or comma-separate); all when absent",
                        "schema": {"type": "array", "items": STR},
                        "style": "form",
                        "explode": True,
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the stream: each event's schema",
                        "content": {"text/event-stream": {"schema": ref("Event")}},
                    },
                    "503": _error("the gateway has no SSE sink"),
                    **_ERRORS,
                },
            }
        },
        "/api/machines/{machine}/recipes": {
            "get": {
                "summary": "The active and available recipes, read from the machine now",
                "operationId": "recipes",
                "parameters": [_MACHINE],
                "responses": {
                    "200": _json_ok("the machine's recipes", "Recipes"),
                    "404": _error("no such machine"),
                    "502": _error("the machine did not answer"),
                    **_ERRORS,
                },
            }
        },
        "/api/machines/{machine}/recipe": {
            "post": {
                "summary": "Activate a recipe on one machine",
                "operationId": "activate",
                "security": [{"bearer": []}],
                "parameters": [_MACHINE],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("ActivateRequest")}},
                },
                "responses": {
                    "200": _json_ok("the machine confirmed the recipe", "Outcome"),
                    **_WRITE_ERRORS,
                    "404": _error("no such machine"),
                    "409": {
                        "description": "the recipe did not take effect (refused, timed out: an Outcome), "
                        "or the machine switches at product boundaries and force was not given (an Error)",
                        "content": {JSON: {"schema": {"anyOf": [ref("Outcome"), ref("Error")]}}},
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/changeover": {
            "post": {
                "summary": "Change the whole line over to a product",
                "description": (
                    "With Accept: application/x-ndjson the answer is one JSON line per event: "
                    '{"type": "started"}, {"type": "outcome"} per machine as each finishes, then '
                    '{"type": "done"} with the summary; the status is then 200 whatever the outcome.'
                ),
                "operationId": "changeover",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("ChangeoverRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "every machine confirmed (or the NDJSON progress stream)",
                        "content": {JSON: {"schema": ref("Changeover")}, NDJSON: {"schema": STR}},
                    },
                    **_WRITE_ERRORS,
                    "404": _error("no such product"),
                    "409": _json_ok("a machine did not confirm", "Changeover"),
                    **_ERRORS,
                },
            }
        },
    }
    paths.update(trace_openapi.paths(_WRITE_ERRORS))  # /api/trace/..., /api/control, /api/holds
    for item in paths.values():
        for operation in item.values():
            operation["responses"].setdefault("405", _error("the method is not allowed", _ALLOW))
            if "security" in operation and not writes_enabled:
                del operation["security"]
                del operation["responses"]["401"]
                operation["description"] = (
                    "Disabled on this gateway (its config has no [http] token): every call answers 403. "
                    + operation.get("description", "")
                ).strip()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "linegate HTTP API",
            "version": __version__,
            "description": (
                "The line view, health, metrics, event stream and recipe commands of one running "
                'gateway. Every error is JSON: {"error": {"status": ..., "message": ...}}. '
                "Write endpoints need the bearer token of the config's [http] token."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, **trace_openapi.SCHEMAS},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token of the line config's [http] token",
                }
            },
        },
    }


__all__ = ["build"]
