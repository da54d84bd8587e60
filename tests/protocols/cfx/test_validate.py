"""The output validator: each rule fires on its defect, names the JSON path, and stays quiet on SDK text."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from protocols.cfx import CFXMessage, Envelope, Heartbeat, UnitPosition, UnitsArrived, encode_envelope
from protocols.cfx.validate import Problem, validate_bytes, validate_envelope, validate_json
from tests.protocols.cfx.helpers import GUID_A, SOURCE, UNIQUE, envelope, wire
from tests.protocols.cfx.test_models import CASES

SSC = "CFX.ResourcePerformance.StationStateChanged"
SSC_BODY = '"OldState":"1100","OldStateDuration":"00:01:00","NewState":"2202","RelatedFault":null'


def problems_of(data: bytes) -> set[tuple[str, str]]:
    return {(p.path, p.rule) for p in validate_bytes(data)}


@pytest.mark.parametrize("body", [b for b, _ in CASES], ids=[f"{i}" for i in range(len(CASES))])
def test_our_output_is_clean(body: CFXMessage) -> None:
    """Everything the encoder writes for the hand-written cases passes every rule."""
    assert validate_envelope(envelope(body)) == []


def test_hand_written_sdk_text_is_clean() -> None:
    """The reference's example shape (cfx.md §1.4) passes."""
    text = (
        b'{"MessageName":"CFX.ResourcePerformance.FaultCleared","Version":"2.1",'
        b'"TimeStamp":"2026-05-04T07:19:44.0000000+02:00","UniqueID":"b7e1a0c2-9d3f-4e5a-8b6c-1d2e3f4a5b63",'
        b'"Source":"AcmeThermal.RF-X10.SN20451","Target":null,"RequestID":null,'
        b'"MessageBody":{"$type":"CFX.ResourcePerformance.FaultCleared, CFX",'
        b'"FaultOccurrenceId":"c0ffee00-1234-4abc-9def-0123456789ab",'
        b'"Operator":{"OperatorIdentifier":"BADGE-0231","ActorType":"Human","LastName":"Keller",'
        b'"FirstName":"Mara","LoginName":"mkeller"}}}'
    )
    assert validate_bytes(text) == []


@pytest.mark.parametrize(
    ("old", "new", "path", "rule"),
    [
        # rule: key-casing (cfx.md §1.2: exact PascalCase on output)
        ('"OldState":"1100"', '"oldState":"1100"', "$.MessageBody.oldState", "key-casing"),
        # rule: unknown-member
        ('"NewState":"2202"', '"NewState":"2202","Mood":"good"', "$.MessageBody.Mood", "unknown-member"),
        # rule: missing-member (the SDK writes nulls explicitly)
        (',"RelatedFault":null', "", "$.MessageBody.RelatedFault", "missing-member"),
        # rule: enum-form (ResourceState as its code in a string)
        ('"OldState":"1100"', '"OldState":1100', "$.MessageBody.OldState", "enum-form"),
        ('"OldState":"1100"', '"OldState":"PRD_RegularWork"', "$.MessageBody.OldState", "enum-form"),
        ('"NewState":"2202"', '"NewState":"22B0"', "$.MessageBody.NewState", "enum-form"),
        # rule: enum-unknown
        ('"OldState":"1100"', '"OldState":"3312"', "$.MessageBody.OldState", "enum-unknown"),
        # rule: timespan-format
        ('"00:01:00"', '"PT1M"', "$.MessageBody.OldStateDuration", "timespan-format"),
        ('"00:01:00"', '"0:1:0"', "$.MessageBody.OldStateDuration", "timespan-format"),
        # rule: null-not-allowed (ResourceState is a C# value type)
        ('"NewState":"2202"', '"NewState":null', "$.MessageBody.NewState", "null-not-allowed"),
        # rule: json-type
        ('"RelatedFault":null', '"RelatedFault":"none"', "$.MessageBody.RelatedFault", "json-type"),
    ],
)
def test_body_rules(old: str, new: str, path: str, rule: str) -> None:
    """Each body defect is reported once, at its path, under its rule."""
    assert problems_of(wire(SSC, SSC_BODY.replace(old, new))) == {(path, rule)}


def test_type_missing_on_body() -> None:
    """MessageBody must start with "$type" (the SDK always writes it)."""
    data = wire(SSC, SSC_BODY).replace(f'"$type":"{SSC}, CFX",'.encode(), b"")
    assert problems_of(data) == {("$.MessageBody", "type-missing")}


def test_type_not_first() -> None:
    """A "$type" after other keys is ignored by C# readers (no MetadataPropertyHandling)."""
    data = wire(SSC, SSC_BODY).replace(f'"$type":"{SSC}, CFX",'.encode(), b"")
    data = data.replace(b'"RelatedFault":null}', f'"RelatedFault":null,"$type":"{SSC}, CFX"}}'.encode())
    assert problems_of(data) == {("$.MessageBody.$type", "type-not-first")}


def test_type_mismatch_and_message_unknown() -> None:
    """Body "$type" must name MessageName's class; unknown messages are flagged, not checked."""
    data = wire(SSC, SSC_BODY).replace(f'"$type":"{SSC}, CFX"'.encode(), b'"$type":"CFX.Heartbeat, CFX"')
    assert problems_of(data) == {("$.MessageBody.$type", "type-mismatch")}
    assert problems_of(wire("CFX.Vendor.Thing", '"A":1')) == {("$.MessageName", "message-unknown")}


def test_polymorphic_type_rules() -> None:
    """A subclass value needs "$type"; a foreign "$type" is refused (allow-list, cfx.md §4)."""
    fault = (
        '"Fault":{"ReflowOvenFaultType":"LowBeltSpeed","TransactionID":null,"Cause":"ProcessError",'
        f'"Severity":"Error","FaultCode":null,"FaultOccurrenceId":"{GUID_A}","Lane":null,"Stage":null,'
        '"SideLocation":"Unknown","AccessType":"Unknown","Description":null,"DescriptionTranslations":null,'
        '"OccurredAt":"2026-05-04T07:19:44+02:00","DueDateTime":null}'
    )
    name = "CFX.ResourcePerformance.FaultOccurred"
    assert problems_of(wire(name, fault)) == {("$.MessageBody.Fault", "type-missing")}
    foreign = fault.replace('"Fault":{', '"Fault":{"$type":"System.IO.File, mscorlib",')
    got = problems_of(wire(name, foreign))
    assert ("$.MessageBody.Fault.$type", "type-unknown") in got
    good = fault.replace('"Fault":{', '"Fault":{"$type":"CFX.Structures.SolderReflow.ReflowOvenFault, CFX",')
    assert problems_of(wire(name, good)) == set()


def test_envelope_rules() -> None:
    """Envelope order, casing, timestamps and GUIDs."""
    good = wire(SSC, SSC_BODY)
    obj = orjson.loads(good)
    reordered = {"Version": obj["Version"], **{k: v for k, v in obj.items() if k != "Version"}}
    assert problems_of(orjson.dumps(reordered)) == {("$", "envelope-order")}
    assert problems_of(good.replace(b'"UniqueID"', b'"UniqueId"')) == {("$.UniqueId", "key-casing")}
    naive = good.replace(b".123456+02:00", b".123456")
    assert problems_of(naive) == {("$.TimeStamp", "timestamp-naive")}
    long = good.replace(b".123456+02:00", b".123456789+02:00")
    assert problems_of(long) == {("$.TimeStamp", "timestamp-format")}
    assert problems_of(good.replace(b"2026-05-04T07:01:12", b"04/05/2026 07:01:12")) == {
        ("$.TimeStamp", "timestamp-format")
    }
    assert problems_of(good.replace(b"2026-05-04T07", b"2026-02-30T07")) == {
        ("$.TimeStamp", "timestamp-format")
    }
    upper = good.replace(str(UNIQUE).encode(), str(UNIQUE).upper().encode())
    assert problems_of(upper) == {("$.UniqueID", "guid-format")}
    assert problems_of(good.replace(str(UNIQUE).encode(), b"not-a-guid")) == {("$.UniqueID", "guid-format")}


def test_double_base64_and_unit_count() -> None:
    """Doubles with a decimal point, byte[] as base64, UnitCount = len(Units)."""
    units = UnitsArrived(units=[UnitPosition(unit_identifier="A")])
    data = encode_envelope(envelope(units))
    assert problems_of(data.replace(b'"X":0.0', b'"X":0')) == {("$.MessageBody.Units[0].X", "double-format")}
    assert problems_of(data.replace(b'"UnitCount":1', b'"UnitCount":2')) == {
        ("$.MessageBody.UnitCount", "unit-count")
    }
    recipe = wire("CFX.Production.GetRecipeResponse", '"Result":null,"Recipe":null')
    bad = recipe.replace(
        b'"Recipe":null',
        b'"Recipe":{"Name":null,"Revision":null,"ExpectedCycleTime":0.0,"ExpectedWorkTime":null,'
        b'"ExpectedUnitsPerWorkTransaction":0.0,"UnitLength":null,"UnitWidth":null,"UnitHeight":null,'
        b'"MimeType":null,"RecipeData":"***"}',
    )
    assert ("$.MessageBody.Recipe.RecipeData", "base64") in problems_of(bad)


def test_json_rule_and_batches() -> None:
    """Unparsable input is one "json" problem; array elements are checked with their index."""
    assert problems_of(b"{nope") == {("$", "json")}
    assert problems_of(b"[1]") == {("$[0]", "json")}
    good = wire(SSC, SSC_BODY)
    bad = good.replace(b'"OldState"', b'"oldstate"')
    assert problems_of(b"[" + good + b"," + bad + b"]") == {("$[1].MessageBody.oldstate", "key-casing")}


def test_validate_envelope_reports_naive_time() -> None:
    """Our own envelope with a naive timestamp is reported, not raised."""
    env = Envelope("CFX.Heartbeat", datetime(2026, 5, 4), UNIQUE, SOURCE, None, None, Heartbeat())
    assert [p.rule for p in validate_envelope(env)] == ["timestamp-naive"]


def test_problem_text() -> None:
    """A problem prints as PATH: [rule] message."""
    problem = validate_json({"MessageName": 3})[0]
    assert isinstance(problem, Problem)
    assert str(problem).startswith("$.")
    assert "[" in str(problem)
