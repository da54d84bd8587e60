"""The schemas of the OpenAPI document (``gateway.http.openapi``): every JSON body the gateway
sends or accepts, and the small helpers they are written with."""

from __future__ import annotations

from typing import Any

from gateway.config_model import CHANGEOVER_AT
from gateway.http.line import CATEGORIES

JSON = "application/json"
NDJSON = "application/x-ndjson"

REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def json_object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


STR = {"type": "string"}
INT = {"type": "integer", "minimum": 0}
NUM = {"type": "number"}
TIME = {"type": "string", "format": "date-time"}
NSTR = {"type": ["string", "null"]}
NTIME = {"type": ["string", "null"], "format": "date-time"}
NNUM = {"type": ["number", "null"]}
NRATIO = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
# A non-empty name: the handlers strip it and refuse what is left empty.
NAME = {"type": "string", "pattern": r"\S", "maxLength": 256}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "description": "Every error the server answers: 4xx and 5xx, JSON whatever the route.",
        **json_object(
            {
                "error": json_object(
                    {"status": {"type": "integer", "minimum": 400, "maximum": 599}, "message": STR}
                )
            }
        ),
    },
    "Health": json_object(
        {
            "status": {"type": "string", "enum": ["starting", "ok", "degraded"]},
            "machines": INT,
            "connected": INT,
            "machines_down": {"type": "array", "items": STR},
            "brokers": {
                "type": "object",
                "description": "Each broker sink's connection (true: connected).",
                "additionalProperties": {"type": "boolean"},
            },
            "outbox_depth": INT,
        }
    ),
    "Envelope": {
        "description": "A CFX envelope as the CFX SDK writes it (docs/cfx.md), as the outbox stored it.",
        **json_object(
            {
                "MessageName": {"type": "string", "pattern": r"^CFX\."},
                "Version": STR,
                "TimeStamp": TIME,
                "UniqueID": {"type": "string", "format": "uuid"},
                "Source": NSTR,
                "Target": NSTR,
                "RequestID": NSTR,
                "MessageBody": json_object({"$type": STR}),
            },
            required=["MessageName", "Version", "TimeStamp", "UniqueID", "Source", "MessageBody"],
        ),
    },
    "Event": {
        "description": "One server-sent event of /api/events.",
        **json_object(
            {
                "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the outbox sequence number"},
                "event": STR,
                "data": {
                    "type": "string",
                    "contentMediaType": JSON,
                    "contentSchema": ref("Envelope"),
                },
            },
            required=["id", "data"],
        ),
    },
    "Recipe": json_object({"name": STR, "revision": NSTR}),
    "State": json_object(
        {
            "code": {**NSTR, "description": "SEMI E10 ResourceState code, e.g. 1100 (None: never reported)"},
            "name": STR,
            "category": {"type": "string", "enum": [*CATEGORIES.values(), "unknown"]},
            "since": NTIME,
        }
    ),
    "Link": json_object(
        {
            "state": {"type": "string", "enum": ["stopped", "connecting", "connected", "backing_off"]},
            "since": TIME,
            "connects": INT,
            "failures": INT,
            "last_error": NSTR,
            "last_rtt_ms": NNUM,
        }
    ),
    "Fault": json_object(
        {
            "code": NSTR,
            "severity": STR,
            "description": NSTR,
            "occurrence_id": STR,
            "occurred_at": NTIME,
            "acknowledged_by": NSTR,
            "acknowledged_at": NTIME,
        }
    ),
    "Zone": json_object(
        {
            "zone": {"type": ["integer", "null"]},
            "name": NSTR,
            "setpoint_top": NNUM,
            "setpoint_bottom": NNUM,
            "actual_top": NNUM,
            "actual_bottom": NNUM,
        }
    ),
    "Reflow": json_object(
        {
            "zones": {"type": "array", "items": ref("Zone")},
            "conveyor_speed": NNUM,
            "o2_ppm": NNUM,
            "time": NSTR,
            "transaction_id": NSTR,
        },
        required=["zones", "conveyor_speed", "o2_ppm", "time", "transaction_id"],
    ),
    "BoardProfiles": json_object(
        {
            "machine": STR,
            "profiles": {
                "type": "array",
                "items": {
                    "allOf": [
                        ref("Reflow"),
                        json_object(
                            {"board": {**STR, "description": "the board's barcode, else its BoardId"}}
                        ),
                    ]
                },
            },
        }
    ),
    "Reading": json_object(
        {
            "value": {"type": ["boolean", "number", "string", "null"]},
            "unit": NSTR,
            "at": TIME,
        }
    ),
    "Machine": json_object(
        {
            "id": STR,
            "handle": {**STR, "description": "the machine's CFX handle (the events' source)"},
            "protocol": STR,
            "link": ref("Link"),
            "state": ref("State"),
            "active_recipe": nullable(ref("Recipe")),
            "faults": {"type": "array", "items": ref("Fault")},
            "boards_in_process": {
                "type": "array",
                "items": json_object(
                    {"board_id": NSTR, "barcode": NSTR, "lane": {"type": ["integer", "null"]}}
                ),
            },
            "boards_present": {
                "type": "array",
                "items": json_object(
                    {
                        "board_id": NSTR,
                        "barcode": NSTR,
                        "lane": {"type": ["integer", "null"]},
                        "since": NSTR,
                    }
                ),
            },
            "boards_departed": INT,
            "product": {**NSTR, "description": "the product the active recipe is for (None: unknown)"},
            "shift": ref("MachineShift"),
            "reflow": nullable(ref("Reflow")),
            "readings": {"type": "object", "additionalProperties": ref("Reading")},
            "observations": INT,
            "events": INT,
            "crashes": INT,
        }
    ),
    "Line": json_object(
        {
            "line": NSTR,
            "time": TIME,
            "running": {"type": "boolean"},
            "machines": {"type": "array", "items": ref("Machine")},
            "outbox": json_object(
                {
                    "depth": INT,
                    "oldest_age_seconds": {"type": "number", "minimum": 0},
                    "dropped": INT,
                    "sinks": {"type": "object", "additionalProperties": INT},
                }
            ),
            "shift": json_object(
                {
                    "started": TIME,
                    "boards_out": INT,
                    "rolled_throughput_yield": NRATIO,
                    "active_alarms": INT,
                    "unacknowledged_alarms": INT,
                }
            ),
            "changeover": nullable(
                json_object(
                    {
                        "product": STR,
                        "at": {"type": "string", "enum": ["now", "boundary"]},
                        "started": TIME,
                        "waiting": {"type": "array", "items": STR},
                        "switched": {"type": "array", "items": STR},
                        "failed": {"type": "array", "items": STR},
                    }
                )
            ),
            "sse_clients": {"type": ["integer", "null"], "minimum": 0},
            "writes_enabled": {"type": "boolean"},
        }
    ),
    "MachineShift": json_object(
        {
            "boards_completed": INT,
            "boards_failed": INT,
            "units_passed": INT,
            "units_failed": INT,
            "first_pass_yield": NRATIO,
            "cycle_seconds": json_object({"last": NNUM, "mean": NNUM, "best": NNUM}),
            "seconds_by_class": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
            "availability": {**NRATIO, "description": "E10 uptime over uptime plus downtime"},
            "oee": {
                **NRATIO,
                "description": "availability x performance (best cycle / mean cycle) x quality",
            },
            "work_order": NSTR,
        }
    ),
    "Points": json_object(
        {
            "machine": STR,
            "protocol": STR,
            "points": {
                "type": "array",
                "items": json_object(
                    {
                        "name": STR,
                        "address": {
                            **STR,
                            "description": "where the machine keeps it, in its protocol's terms",
                        },
                        "raw": {"description": "as read off the wire (None: not read yet)"},
                        "value": {"description": "as the map makes it (None: not read yet)"},
                        "unit": NSTR,
                    }
                ),
            },
        }
    ),
    "Alarm": json_object(
        {
            "source": STR,
            "occurrence_id": STR,
            "code": NSTR,
            "severity": NSTR,
            "description": NSTR,
            "occurred_at": TIME,
            "acknowledged": {"type": "boolean"},
            "acknowledged_by": NSTR,
            "acknowledged_at": NTIME,
            "cleared_at": NTIME,
            "active": {"type": "boolean"},
        }
    ),
    "Alarms": json_object({"shift_started": TIME, "alarms": {"type": "array", "items": ref("Alarm")}}),
    "Shift": json_object({"shift_started": TIME}),
    "AcknowledgeRequest": json_object({"operator": NAME}),
    "Acknowledged": json_object(
        {
            "machine": STR,
            "code": STR,
            "occurrence_id": STR,
            "acknowledged_by": NSTR,
            "acknowledged_at": TIME,
        }
    ),
    "Recipes": json_object(
        {
            "machine": STR,
            "active": nullable(ref("Recipe")),
            "available": {"type": "array", "items": ref("Recipe")},
        }
    ),
    "ActivateRequest": json_object(
        {
            "recipe": NAME,
            "revision": {"anyOf": [NAME, {"type": "null"}]},
            "force": {
                "type": "boolean",
                "description": "activate even where the product-boundary gate would switch the recipe back",
            },
        },
        required=["recipe"],
    ),
    "Outcome": json_object(
        {
            "machine": STR,
            "recipe": STR,
            "revision": NSTR,
            "ok": {"type": "boolean"},
            "result": STR,
            "result_code": {"type": "integer"},
            "message": NSTR,
            # Present on a 409: the Error's inner object (a JSON pointer keeps one definition).
            "error": ref("Error/properties/error"),
        },
        required=["machine", "recipe", "revision", "ok", "result", "result_code", "message"],
    ),
    "ChangeoverRequest": json_object(
        {
            "product": NAME,
            "at": {
                "type": ["string", "null"],
                "enum": [*CHANGEOVER_AT, None],
                "description": "when each machine switches; the default is the config's [changeover] at",
            },
        },
        required=["product"],
    ),
    "Changeover": json_object(
        {
            "product": STR,
            "at": {"type": "string", "enum": list(CHANGEOVER_AT)},
            "machines": {"type": "array", "items": STR},
            "ok": {"type": "boolean"},
            "outcomes": {"type": "array", "items": ref("Outcome")},
        }
    ),
}


__all__ = [
    "INT",
    "JSON",
    "NAME",
    "NDJSON",
    "NNUM",
    "NRATIO",
    "NSTR",
    "NTIME",
    "NUM",
    "REF",
    "SCHEMAS",
    "STR",
    "TIME",
    "json_object",
    "nullable",
    "ref",
]
