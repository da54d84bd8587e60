"""CFX codec throughput: typed encode+decode against orjson on the equivalent plain dict.

Two realistic messages: a ~2.5 KB ``UnitsProcessed`` with 8-zone ``ReflowProcessData`` and a
``StationStateChanged``. For each, the same run times

- typed: ``encode_envelope(envelope)`` then ``decode_envelope(bytes)`` (models ↔ SDK-exact JSON);
- baseline: ``orjson.dumps(plain_dict)`` then ``orjson.loads(bytes)`` on the dict the typed JSON parses to,

and prints rates and the ratio baseline_time / typed_time (≥ 1.0 means typed is at least as fast).
Also shows the lenient path (the same message with lower-case keys), which is what odd input costs.

Run: ``python bench/cfx_codec.py``
"""

from __future__ import annotations

import timeit
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import orjson

from protocols.cfx import (
    Envelope,
    ProcessingResult,
    ReflowProcessData,
    ReflowReading,
    ReflowReadingType,
    ReflowSetPoint,
    ReflowSetpointType,
    ReflowSubZoneType,
    ReflowZone,
    ReflowZoneData,
    ReflowZoneType,
    ResourceState,
    StationStateChanged,
    UnitsProcessed,
    decode_envelope,
    encode_body,
    encode_envelope,
)

TZ = timezone(timedelta(hours=2))
STAMP = datetime(2026, 5, 4, 7, 1, 12, 123456, tzinfo=TZ)
ZONE_TYPES = [ReflowZoneType.PRE_HEAT] * 3 + [ReflowZoneType.SOAK] * 2 + [ReflowZoneType.REFLOW] * 2
ZONE_TYPES += [ReflowZoneType.COOL]


def units_processed() -> Envelope:
    """An oven's UnitsProcessed: 8 zones, a setpoint and top/bottom temperature readings each."""
    zones = []
    for i, zone_type in enumerate(ZONE_TYPES, start=1):
        # One whole-zone setpoint and top/bottom readings per zone, as typical oven drivers report.
        setpoints = [
            ReflowSetPoint(
                sub_zone=ReflowSubZoneType.WHOLE_ZONE,
                setpoint_type=ReflowSetpointType.TEMPERATURE,
                setpoint=150.0 + 12.5 * i,
            )
        ]
        readings = [
            ReflowReading(
                sub_zone=sub, reading_type=ReflowReadingType.TEMPERATURE, reading_value=149.6 + 12.5 * i
            )
            for sub in (ReflowSubZoneType.TOP, ReflowSubZoneType.BOTTOM)
        ]
        zone = ReflowZone(reflow_zone_type=zone_type, stage_sequence=i, stage_name=f"Zone{i}")
        zones.append(ReflowZoneData(zone=zone, setpoints=setpoints, readings=readings))
    body = UnitsProcessed(
        transaction_id=uuid.UUID("5f0b2a3e-8c1d-4e6f-9a7b-1c2d3e4f5a6b"),
        overall_result=ProcessingResult.SUCCEEDED,
        common_process_data=ReflowProcessData(
            conveyor_speed=80.0, conveyor_speed_setpoint=80.0, zone_data=zones
        ),
    )
    return Envelope.create(body, source="AcmeThermal.RF-X10.SN20451", time_stamp=STAMP)


def station_state_changed() -> Envelope:
    """A state change PRD → SBY-starved after 10:51.51 in production."""
    body = StationStateChanged(
        old_state=ResourceState.PRD_REGULAR_WORK,
        old_state_duration=timedelta(minutes=10, seconds=51, microseconds=510000),
        new_state=ResourceState.SBY_NO_PRODUCT_STARVED,
    )
    return Envelope.create(body, source="AcmeThermal.RF-X10.SN20451", time_stamp=STAMP)


# --- the alternative considered: frozen slotted dataclasses + orjson ---------------------------
# orjson serializes dataclasses natively, but with the attribute names; CFX needs PascalCase, "$type"
# first and enum/TimeSpan forms, so each object goes through a Python to-dict step, and decoding
# builds every dataclass in Python from orjson's dicts. Only the reflow body tree is mirrored here.


@dataclass(frozen=True, slots=True)
class DCPoint:
    sub_zone: str
    kind: str
    value: float | None


@dataclass(frozen=True, slots=True)
class DCZone:
    reflow_zone_type: str
    stage_sequence: int
    stage_name: str | None
    stage_type: str


@dataclass(frozen=True, slots=True)
class DCZoneData:
    zone: DCZone
    setpoints: list[DCPoint]
    readings: list[DCPoint]


@dataclass(frozen=True, slots=True)
class DCReflow:
    conveyor_speed: float
    conveyor_speed_setpoint: float
    zone_data: list[DCZoneData]


def dc_from(body: UnitsProcessed) -> DCReflow:
    data = body.common_process_data
    assert isinstance(data, ReflowProcessData)
    return DCReflow(
        data.conveyor_speed,
        data.conveyor_speed_setpoint,
        [
            DCZoneData(
                DCZone(
                    z.zone.reflow_zone_type.value,
                    z.zone.stage_sequence,
                    z.zone.stage_name,
                    z.zone.stage_type.value,
                )
                if z.zone
                else DCZone("PreHeat", 0, None, "Work"),
                [DCPoint(p.sub_zone.value, p.setpoint_type.value, p.setpoint) for p in z.setpoints or []],
                [DCPoint(r.sub_zone.value, r.reading_type.value, r.reading_value) for r in z.readings],
            )
            for z in data.zone_data
        ],
    )


def dc_encode(body: DCReflow) -> bytes:
    def point(p: DCPoint, kind: str, value: str) -> dict[str, Any]:
        return {"SubZone": p.sub_zone, kind: p.kind, value: p.value}

    return orjson.dumps(
        {
            "$type": "CFX.Structures.SolderReflow.ReflowProcessData, CFX",
            "ConveyorSpeed": body.conveyor_speed,
            "ConveyorSpeedSetpoint": body.conveyor_speed_setpoint,
            "ZoneData": [
                {
                    "Zone": {
                        "ReflowZoneType": z.zone.reflow_zone_type,
                        "StageSequence": z.zone.stage_sequence,
                        "StageName": z.zone.stage_name,
                        "StageType": z.zone.stage_type,
                    },
                    "Setpoints": [point(p, "SetpointType", "Setpoint") for p in z.setpoints],
                    "Readings": [point(r, "ReadingType", "ReadingValue") for r in z.readings],
                }
                for z in body.zone_data
            ],
        }
    )


def dc_decode(data: bytes) -> DCReflow:
    obj = orjson.loads(data)
    return DCReflow(
        obj["ConveyorSpeed"],
        obj["ConveyorSpeedSetpoint"],
        [
            DCZoneData(
                DCZone(**{k: z["Zone"][w] for k, w in _ZONE_KEYS}),
                [DCPoint(p["SubZone"], p["SetpointType"], p["Setpoint"]) for p in z["Setpoints"]],
                [DCPoint(r["SubZone"], r["ReadingType"], r["ReadingValue"]) for r in z["Readings"]],
            )
            for z in obj["ZoneData"]
        ],
    )


_ZONE_KEYS = [
    ("reflow_zone_type", "ReflowZoneType"),
    ("stage_sequence", "StageSequence"),
    ("stage_name", "StageName"),
    ("stage_type", "StageType"),
]


def compare_model_types(envelope: Envelope) -> None:
    """Body-only encode+decode of the reflow data: msgspec Structs vs hand-mapped dataclasses."""
    body = envelope.body
    assert isinstance(body, UnitsProcessed)
    data = body.common_process_data
    dc = dc_from(body)
    dc_data = dc_encode(dc)
    assert dc_decode(dc_data) == dc
    struct_data = encode_body(body)
    decoder = msgspec.json.Decoder(ReflowProcessData)
    raw = msgspec.json.encode(data)
    assert orjson.loads(raw) == orjson.loads(dc_data)  # the same document both ways
    structs = best(lambda: decoder.decode(msgspec.json.encode(data)), 5000)
    classes = best(lambda: dc_decode(dc_encode(dc)), 5000)
    print("model type for the ReflowProcessData tree (encode+decode, same JSON):")
    print(
        f"  msgspec Structs {structs:7.2f} us   frozen slotted dataclasses + orjson {classes:7.2f} us", end=""
    )
    print(f"   -> Structs {classes / structs:.1f}x faster")
    assert struct_data


def best(func: Callable[[], Any], number: int) -> float:
    """Best per-call time in microseconds over 5 repeats."""
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k if k == "$type" else k.lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def run(name: str, envelope: Envelope, number: int) -> float:
    data = encode_envelope(envelope)
    plain = orjson.loads(data)
    assert decode_envelope(data) == envelope
    assert orjson.dumps(plain) == data  # the baseline handles the very same document
    lenient = orjson.dumps(lower_keys(plain))

    enc = best(lambda: encode_envelope(envelope), number)
    dec = best(lambda: decode_envelope(data), number)
    o_enc = best(lambda: orjson.dumps(plain), number)
    o_dec = best(lambda: orjson.loads(data), number)
    slow = best(lambda: decode_envelope(lenient), max(number // 10, 1))
    typed, base = enc + dec, o_enc + o_dec
    print(f"{name} ({len(data)} bytes)")
    print(f"  typed   encode {enc:7.2f} us  decode {dec:7.2f} us  total {typed:7.2f} us")
    print(f"  orjson  dumps  {o_enc:7.2f} us  loads  {o_dec:7.2f} us  total {base:7.2f} us")
    print(
        f"  ratio (orjson time / typed time): encode {o_enc / enc:.2f}x  decode {o_dec / dec:.2f}x  ", end=""
    )
    print(f"encode+decode {base / typed:.2f}x")
    print(f"  lenient decode (lower-case keys): {slow:7.2f} us  ({o_dec / slow:.2f}x orjson.loads)")
    return base / typed


def main() -> None:
    ratios = [run("UnitsProcessed, 8-zone reflow", units_processed(), 5000)]
    ratios.append(run("StationStateChanged", station_state_changed(), 20000))
    print(f"encode+decode ratios: {', '.join(f'{r:.2f}x' for r in ratios)} (target >= 1.0x)")
    compare_model_types(units_processed())


if __name__ == "__main__":
    main()
