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
from gateway.config_model import CHANGEOVER_AT
from gateway.http import trace_openapi
from gateway.http.line import CATEGORIES
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

JSON = "application/json"
NDJSON = "application/x-ndjson"

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


_STR = {"type": "string"}
_INT = {"type": "integer", "minimum": 0}
_NUM = {"type": "number"}
_TIME = {"type": "string", "format": "date-time"}
_NSTR = {"type": ["string", "null"]}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_NNUM = {"type": ["number", "null"]}
# A non-empty name: the handlers strip it and refuse what is left empty.
_NAME = {"type": "string", "pattern": r"\S", "maxLength": 256}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "description": "Every error the server answers: 4xx and 5xx, JSON whatever the route.",
        **_object(
            {
                "error": _object(
                    {"status": {"type": "integer", "minimum": 400, "maximum": 599}, "message": _STR}
                )
            }
        ),
    },
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["starting", "ok", "degraded"]},
            "machines": _INT,
            "connected": _INT,
            "machines_down": {"type": "array", "items": _STR},
            "brokers": {
                "type": "object",
                "description": "Each broker sink's connection (true: connected).",
                "additionalProperties": {"type": "boolean"},
            },
            "outbox_depth": _INT,
        }
    ),
    "Envelope": {
        "description": "A CFX envelope as the CFX SDK writes it (docs/cfx.md), as the outbox stored it.",
        **_object(
            {
                "MessageName": {"type": "string", "pattern": r"^CFX\."},
                "Version": _STR,
                "TimeStamp": _TIME,
                "UniqueID": {"type": "string", "format": "uuid"},
                "Source": _NSTR,
                "Target": _NSTR,
                "RequestID": _NSTR,
                "MessageBody": _object({"$type": _STR}),
            },
            required=["MessageName", "Version", "TimeStamp", "UniqueID", "Source", "MessageBody"],
        ),
    },
    "Event": {
        "description": "One server-sent event of /api/events.",
        **_object(
            {
                "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the outbox sequence number"},
                "event": _STR,
                "data": {
                    "type": "string",
                    "contentMediaType": JSON,
                    "contentSchema": _ref("Envelope"),
                },
            },
            required=["id", "data"],
        ),
    },
    "Recipe": _object({"name": _STR, "revision": _NSTR}),
    "State": _object(
        {
            "code": {**_NSTR, "description": "SEMI E10 ResourceState code, e.g. 1100 (None: never reported)"},
            "name": _STR,
            "category": {"type": "string", "enum": [*CATEGORIES.values(), "unknown"]},
            "since": _NTIME,
        }
    ),
    "Link": _object(
        {
            "state": {"type": "string", "enum": ["stopped", "connecting", "connected", "backing_off"]},
            "since": _TIME,
            "connects": _INT,
            "failures": _INT,
            "last_error": _NSTR,
            "last_rtt_ms": _NNUM,
        }
    ),
    "Fault": _object(
        {
            "code": _NSTR,
            "severity": _STR,
            "description": _NSTR,
            "occurrence_id": _STR,
            "occurred_at": _NTIME,
        }
    ),
    "Zone": _object(
        {
            "zone": {"type": ["integer", "null"]},
            "name": _NSTR,
            "setpoint_top": _NNUM,
            "setpoint_bottom": _NNUM,
            "actual_top": _NNUM,
            "actual_bottom": _NNUM,
        }
    ),
    "Reflow": _object(
        {
            "zones": {"type": "array", "items": _ref("Zone")},
            "conveyor_speed": _NNUM,
            "o2_ppm": _NNUM,
            "time": _NSTR,
            "transaction_id": _NSTR,
        }
    ),
    "Reading": _object(
        {
            "value": {"type": ["boolean", "number", "string", "null"]},
            "unit": _NSTR,
            "at": _TIME,
        }
    ),
    "Machine": _object(
        {
            "id": _STR,
            "handle": {**_STR, "description": "the machine's CFX handle (the events' source)"},
            "protocol": _STR,
            "link": _ref("Link"),
            "state": _ref("State"),
            "active_recipe": _nullable(_ref("Recipe")),
            "faults": {"type": "array", "items": _ref("Fault")},
            "boards_in_process": {
                "type": "array",
                "items": _object(
                    {"board_id": _NSTR, "barcode": _NSTR, "lane": {"type": ["integer", "null"]}}
                ),
            },
            "boards_present": {
                "type": "array",
                "items": _object(
                    {
                        "board_id": _NSTR,
                        "barcode": _NSTR,
                        "lane": {"type": ["integer", "null"]},
                        "since": _NSTR,
                    }
                ),
            },
            "boards_departed": _INT,
            "reflow": _nullable(_ref("Reflow")),
            "readings": {"type": "object", "additionalProperties": _ref("Reading")},
            "observations": _INT,
            "events": _INT,
            "crashes": _INT,
        }
    ),
    "Line": _object(
        {
            "line": _NSTR,
            "time": _TIME,
            "running": {"type": "boolean"},
            "machines": {"type": "array", "items": _ref("Machine")},
            "outbox": _object(
                {
                    "depth": _INT,
                    "oldest_age_seconds": {"type": "number", "minimum": 0},
                    "dropped": _INT,
                    "sinks": {"type": "object", "additionalProperties": _INT},
                }
            ),
            "sse_clients": {"type": ["integer", "null"], "minimum": 0},
            "writes_enabled": {"type": "boolean"},
        }
    ),
    "Recipes": _object(
        {
            "machine": _STR,
            "active": _nullable(_ref("Recipe")),
            "available": {"type": "array", "items": _ref("Recipe")},
        }
    ),
    "ActivateRequest": _object(
        {"recipe": _NAME, "revision": {"anyOf": [_NAME, {"type": "null"}]}}, required=["recipe"]
    ),
    "Outcome": _object(
        {
            "machine": _STR,
            "recipe": _STR,
            "revision": _NSTR,
            "ok": {"type": "boolean"},
            "result": _STR,
            "result_code": {"type": "integer"},
            "message": _NSTR,
            # Present on a 409: the Error's inner object (a JSON pointer keeps one definition).
            "error": _ref("Error/properties/error"),
        },
        required=["machine", "recipe", "revision", "ok", "result", "result_code", "message"],
    ),
    "ChangeoverRequest": _object(
        {
            "product": _NAME,
            "at": {
                "type": ["string", "null"],
                "enum": [*CHANGEOVER_AT, None],
                "description": "when each machine switches; the default is the config's [changeover] at",
            },
        },
        required=["product"],
    ),
    "Changeover": _object(
        {
            "product": _STR,
            "at": {"type": "string", "enum": list(CHANGEOVER_AT)},
            "machines": {"type": "array", "items": _STR},
            "ok": {"type": "boolean"},
            "outcomes": {"type": "array", "items": _ref("Outcome")},
        }
    ),
}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ref("Error")}}}
    if headers:
        response["headers"] = headers
    return response


_ALLOW = {"Allow": {"description": "the methods the path accepts", "schema": _STR}}
_CHALLENGE = {"WWW-Authenticate": {"schema": _STR}}
_ERRORS = {"500": _error("an unexpected failure in the gateway (logged as http.handler_failed)")}
_WRITE_ERRORS = {
    "400": _error("the body is not a JSON object, or a field is missing or not a non-empty string"),
    "401": _error("no, a malformed, or the wrong bearer token", _CHALLENGE),
    "403": _error("the gateway has no HTTP token configured: write endpoints are disabled"),
    "408": _error("the request body did not arrive in time"),
    "413": _error("the request body is larger than 64 KiB"),
}


def _json_ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


_MACHINE = {
    "name": "machine",
    "in": "path",
    "required": True,
    "description": "the machine's id in the line config",
    "schema": _STR,
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
                    "200": {"description": "the page", "content": {"text/html": {"schema": _STR}}},
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
                        "schema": {"type": "string", "enum": sorted(assets)} if assets else _STR,
                    }
                ],
                "responses": {
                    "200": {"description": "the file", "content": {"*/*": {"schema": _STR}}},
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
                        "content": {METRICS_CONTENT_TYPE.split(";")[0]: {"schema": _STR}},
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
                        "schema": {"type": "array", "items": _STR},
                        "style": "form",
                        "explode": True,
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the stream: each event's schema",
                        "content": {"text/event-stream": {"schema": _ref("Event")}},
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
                    "content": {JSON: {"schema": _ref("ActivateRequest")}},
                },
                "responses": {
                    "200": _json_ok("the machine confirmed the recipe", "Outcome"),
                    **_WRITE_ERRORS,
                    "404": _error("no such machine"),
                    "409": _json_ok("the recipe did not take effect (refused, timed out)", "Outcome"),
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
                    "content": {JSON: {"schema": _ref("ChangeoverRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "every machine confirmed (or the NDJSON progress stream)",
                        "content": {JSON: {"schema": _ref("Changeover")}, NDJSON: {"schema": _STR}},
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
