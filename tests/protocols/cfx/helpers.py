"""Shared fixtures for the CFX tests: a fixed envelope header, written by hand from cfx.md §1."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from protocols.cfx import (
    CFXMessage,
    Envelope,
    ReflowProcessData,
    ReflowReading,
    ReflowReadingType,
    ReflowSetPoint,
    ReflowSetpointType,
    ReflowSubZoneType,
    ReflowZone,
    ReflowZoneData,
    ReflowZoneType,
    UnitsProcessed,
)
from protocols.cfx.messages.base import sdk_form

CEST = timezone(timedelta(hours=2))
STAMP = datetime(2026, 5, 4, 7, 1, 12, 123456, tzinfo=CEST)
STAMP_TEXT = "2026-05-04T07:01:12.123456+02:00"
UNIQUE = uuid.UUID("b7e1a0c2-9d3f-4e5a-8b6c-1d2e3f4a5b63")
SOURCE = "AcmeThermal.RF-X10.SN20451"
GUID_A = uuid.UUID("c0ffee00-1234-4abc-9def-0123456789ab")
GUID_B = uuid.UUID("5f0b2a3e-8c1d-4e6f-9a7b-1c2d3e4f5a6b")


def envelope(body: CFXMessage, *, target: str | None = None, request_id: str | None = None) -> Envelope:
    """The body in an envelope with the fixed header fields."""
    return Envelope(body.MESSAGE_NAME, STAMP, UNIQUE, SOURCE, target, request_id, sdk_form(body))


def wire(name: str, body: str, *, target: str | None = None, request_id: str | None = None) -> bytes:
    """The SDK's unindented envelope text around a hand-written body (without its "$type")."""
    tgt = "null" if target is None else f'"{target}"'
    rid = "null" if request_id is None else f'"{request_id}"'
    head = (
        f'{{"MessageName":"{name}","Version":"2.1","TimeStamp":"{STAMP_TEXT}",'
        f'"UniqueID":"{UNIQUE}","Source":"{SOURCE}","Target":{tgt},"RequestID":{rid},'
    )
    inner = f",{body}" if body else ""
    return f'{head}"MessageBody":{{"$type":"{name}, CFX"{inner}}}}}'.encode()


def reflow_units_processed(zones: int = 8) -> UnitsProcessed:
    """A realistic oven UnitsProcessed: per zone, top/bottom setpoints and readings."""
    kinds = list(ReflowZoneType)[:4]
    data = [
        ReflowZoneData(
            zone=ReflowZone(
                reflow_zone_type=kinds[min(i // 2, 3)], stage_sequence=i + 1, stage_name=f"Zone{i + 1}"
            ),
            setpoints=[
                ReflowSetPoint(
                    sub_zone=sub, setpoint_type=ReflowSetpointType.TEMPERATURE, setpoint=150.0 + 10.0 * i
                )
                for sub in (ReflowSubZoneType.TOP, ReflowSubZoneType.BOTTOM)
            ],
            readings=[
                ReflowReading(
                    sub_zone=sub, reading_type=ReflowReadingType.TEMPERATURE, reading_value=149.5 + 10.0 * i
                )
                for sub in (ReflowSubZoneType.TOP, ReflowSubZoneType.BOTTOM)
            ],
        )
        for i in range(zones)
    ]
    return UnitsProcessed(
        transaction_id=GUID_B,
        common_process_data=ReflowProcessData(
            conveyor_speed=80.0, conveyor_speed_setpoint=80.0, zone_data=data
        ),
    )


def conformance_files() -> list[Path]:
    """The CFX SDK's own envelopes (shared/conformance/cfx-sdk; ``LINEGATE_CFX_CONFORMANCE``).

    Empty when the set is not beside this checkout; CI always has it, so there a missing set is
    an error rather than a skip.

    Raises:
        RuntimeError: the set is missing and ``CI`` is set.
    """
    configured = os.environ.get("LINEGATE_CFX_CONFORMANCE")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "cfx-sdk")
    found = next((path for path in candidates if path.is_dir()), None)
    files = sorted(found.glob("*.json")) if found else []
    if not files and os.environ.get("CI"):
        raise RuntimeError("the CFX SDK conformance set (shared/conformance/cfx-sdk) is missing")
    return files
