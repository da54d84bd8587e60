"""The reader accepts what the SDK's reader accepts (cfx.md §1.2, §4), and refuses what it refuses.

The invariant: any bytes either decode to an Envelope or raise CFXDecodeError naming a JSON path.
"""

from __future__ import annotations

import contextlib
import gzip
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.cfx import (
    CFXDecodeError,
    Envelope,
    Fault,
    FaultOccurred,
    Heartbeat,
    MaterialCarrier,
    MaterialsLoaded,
    ProcessData,
    RawMessage,
    ReflowOvenFault,
    ReflowOvenFaultType,
    ReflowProcessData,
    ResourceState,
    SMDTapeFeeder,
    StationStateChanged,
    UnitsArrived,
    UnitsProcessed,
    codec,
    decode_envelope,
    decode_envelopes,
    encode_envelope,
    encode_envelopes,
)
from protocols.cfx.messages import MESSAGE_TYPES, UnknownStructure
from protocols.errors import LocalProtocolError, RemoteProtocolError
from tests.protocols.cfx.helpers import (
    CEST,
    GUID_A,
    SOURCE,
    STAMP,
    UNIQUE,
    envelope,
    reflow_units_processed,
    wire,
)

SSC = "CFX.ResourcePerformance.StationStateChanged"


def state_body(old: str, new: str = '"1100"') -> bytes:
    return wire(SSC, f'"OldState":{old},"OldStateDuration":null,"NewState":{new},"RelatedFault":null')


@pytest.mark.parametrize(
    ("sent", "state"),
    [
        ('"1100"', ResourceState.PRD_REGULAR_WORK),  # what the SDK writes since 2019
        ("5000", ResourceState.USD),  # bare integer (ASM sample, SDK 1.0)
        ('"PRD_RegularWork"', ResourceState.PRD_REGULAR_WORK),  # the C# name
        ('"prd_regularwork"', ResourceState.PRD_REGULAR_WORK),  # names match case-insensitively
        ('"22A0"', ResourceState.SBY_NO_PRODUCT_BLOCKED),  # legacy blocked (issue #146)
        ('"22B0"', ResourceState.SBY_NO_PRODUCT_STARVED),  # legacy starved
        ('"22b0"', ResourceState.SBY_NO_PRODUCT_STARVED),
    ],
)
def test_resource_state_every_form(sent: str, state: ResourceState) -> None:
    """ResourceState reads from int, numeric string, name and legacy 22A0/22B0 codes."""
    body = decode_envelope(state_body(sent)).body
    assert isinstance(body, StationStateChanged)
    assert body.old_state is state


def test_resource_state_is_written_as_numeric_string() -> None:
    """Whatever form came in, it goes out as the code in a string."""
    data = encode_envelope(decode_envelope(state_body("2201")))
    assert b'"OldState":"2201"' in data


def test_unknown_resource_state_names_its_path() -> None:
    """A code the enum lacks (vendor 3312) fails as it does in C#, naming the path."""
    with pytest.raises(CFXDecodeError) as info:
        decode_envelope(state_body('"3312"'))
    assert info.value.path == "$.MessageBody.OldState"
    assert isinstance(info.value, RemoteProtocolError)


def test_unknown_enum_name_is_an_error_with_path() -> None:
    """An unknown enum name is a decode error naming the JSON path (cfx.md §4)."""
    data = wire("CFX.Production.WorkCompleted", f'"TransactionID":"{GUID_A}","Result":"Exploded"')
    with pytest.raises(CFXDecodeError, match=r"\$\.MessageBody\.Result") as info:
        decode_envelope(data)
    assert info.value.path == "$.MessageBody.Result"


def test_enum_names_any_case_and_integers() -> None:
    """StringEnumConverter reads names case-insensitively and integers as the declaration index."""
    body = decode_envelope(
        wire("CFX.Production.WorkCompleted", f'"TransactionID":"{GUID_A}","Result":"aborted"')
    ).body
    assert body.result.value == "Aborted"  # type: ignore[union-attr]
    body = decode_envelope(
        wire("CFX.Production.WorkCompleted", f'"TransactionID":"{GUID_A}","Result":1')
    ).body
    assert body.result.value == "Failed"  # type: ignore[union-attr]


def test_keys_match_case_insensitively() -> None:
    """Member names in any case are read (Newtonsoft falls back to a case-insensitive match)."""
    data = (
        b'{"messagename":"CFX.Heartbeat","VERSION":"2.1","timestamp":"2026-05-04T07:01:12.123456+02:00",'
        b'"uniqueid":"b7e1a0c2-9d3f-4e5a-8b6c-1d2e3f4a5b63","source":"AcmeThermal.RF-X10.SN20451",'
        b'"messagebody":{"cfxhandle":"Acme.RF.1","HEARTBEATFREQUENCY":"00:02:00"}}'
    )
    got = decode_envelope(data)
    assert got == envelope(Heartbeat(cfx_handle="Acme.RF.1", heartbeat_frequency=timedelta(minutes=2)))


def test_body_without_type_is_read_by_message_name() -> None:
    """Older SDKs sent no "$type" on MessageBody; MessageName decides (CFXEnvelope.FromJson)."""
    data = wire("CFX.Heartbeat", '"CFXHandle":"x"').replace(b'"$type":"CFX.Heartbeat, CFX",', b"")
    assert decode_envelope(data).body == Heartbeat(cfx_handle="x")


def test_unknown_members_ignored_and_missing_members_defaulted() -> None:
    """Newer senders' members are ignored; absent members get the C# defaults."""
    data = wire(SSC, '"NewState":"1100","FutureMember":{"x":[1,2]},"AnotherOne":3')
    body = decode_envelope(data).body
    assert body == StationStateChanged(new_state=ResourceState.PRD_REGULAR_WORK)
    assert body.old_state is ResourceState.NST  # StateConverter.DefaultResourceState


def test_unknown_message_name_keeps_raw_body() -> None:
    """An unknown MessageName is not an error: the envelope carries its raw body (cfx.md §4)."""
    data = wire("CFX.Vendor.Acme.OvenSecretSauce", '"Sauce":[1,2,3],"Nested":{"A":null}')
    got = decode_envelope(data)
    assert got.message_name == "CFX.Vendor.Acme.OvenSecretSauce"
    assert got.body == RawMessage(
        "CFX.Vendor.Acme.OvenSecretSauce",
        {"$type": "CFX.Vendor.Acme.OvenSecretSauce, CFX", "Sauce": [1, 2, 3], "Nested": {"A": None}},
    )
    assert encode_envelope(got) == data  # and it is forwarded unchanged


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-04T07:01:12+02:00", datetime(2026, 5, 4, 7, 1, 12, tzinfo=CEST)),
        ("2026-05-04T07:01:12.5+02:00", datetime(2026, 5, 4, 7, 1, 12, 500000, tzinfo=CEST)),
        ("2026-05-04T07:01:12.1234567+02:00", datetime(2026, 5, 4, 7, 1, 12, 123457, tzinfo=CEST)),
        ("2026-05-04T05:01:12.1234567Z", datetime(2026, 5, 4, 5, 1, 12, 123457, tzinfo=UTC)),
        ("2026-05-04T05:01:12z", datetime(2026, 5, 4, 5, 1, 12, tzinfo=UTC)),
        ("2026-05-04T07:01:12.0000000+02:00", datetime(2026, 5, 4, 7, 1, 12, tzinfo=CEST)),
    ],
)
def test_timestamps_with_0_to_7_fraction_digits(text: str, expected: datetime) -> None:
    """TimeStamp reads 0-7 fractional digits with Z or an offset; the instant is kept."""
    data = wire("CFX.Heartbeat", '"CFXHandle":"x"').replace(
        b"2026-05-04T07:01:12.123456+02:00", text.encode()
    )
    got = decode_envelope(data).time_stamp
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()


def test_timestamp_without_offset_is_read_as_local_time() -> None:
    """A missing offset is ambiguous; it is taken as local time and made aware (cfx.md §1.3)."""
    data = wire("CFX.Heartbeat", '"CFXHandle":"x"').replace(b"07:01:12.123456+02:00", b"07:01:12")
    got = decode_envelope(data).time_stamp
    assert got.utcoffset() is not None
    assert got.replace(tzinfo=None) == datetime(2026, 5, 4, 7, 1, 12)


def test_guids_in_upper_case_and_braces() -> None:
    """Newtonsoft accepts upper-case and braced GUIDs on input (cfx.md §1.1)."""
    upper = str(UNIQUE).upper()
    data = wire("CFX.Heartbeat", '"CFXHandle":"x"').replace(
        str(UNIQUE).encode(), ("{" + upper + "}").encode()
    )
    assert decode_envelope(data).unique_id == UNIQUE


def test_polymorphic_subclass_is_resolved_through_the_allow_list() -> None:
    """ "$type" picks ReflowOvenFault even when it is not the first key or the case differs elsewhere."""
    data = wire(
        "CFX.ResourcePerformance.FaultOccurred",
        '"fault":{"reflowovenfaulttype":"HighBeltSpeed",'
        '"$type":"CFX.Structures.SolderReflow.ReflowOvenFault, CFX",'
        f'"FaultOccurrenceId":"{GUID_A}","OccurredAt":"2026-05-04T07:19:44+02:00"}}',
    )
    fault = decode_envelope(data).body.fault  # type: ignore[union-attr]
    assert isinstance(fault, ReflowOvenFault)
    assert fault.reflow_oven_fault_type is ReflowOvenFaultType.HIGH_BELT_SPEED
    assert fault.fault_occurrence_id == GUID_A


@pytest.mark.parametrize(
    "tag",
    [
        "System.Diagnostics.Process, System",  # never instantiated: not on the allow-list
        "CFX.Structures.SMTPlacement.SMDTapeFeeder, CFX",  # allowed class, wrong family for a Fault slot
        "Vendor.Line.SpecialFault, Vendor",  # a vendor's subclass linegate does not know
    ],
)
def test_type_outside_the_family_is_kept_verbatim(tag: str) -> None:
    """An unknown or foreign "$type" never selects a class: the value is kept as read and written back."""
    data = wire(
        "CFX.ResourcePerformance.FaultOccurred",
        f'"Fault":{{"$type":"{tag}","FaultOccurrenceId":"{GUID_A}","Description":"d","VendorCode":7}}',
    )
    envelope = decode_envelope(data)
    fault = envelope.body.fault  # type: ignore[union-attr]
    assert isinstance(fault, UnknownStructure)
    assert fault.declared == "CFX.Structures.Fault"
    assert fault.type_name == tag.split(",")[0]
    assert encode_envelope(envelope) == data


def test_the_base_class_itself_may_carry_its_type() -> None:
    """ "$type" naming the declared class builds it (Newtonsoft reads it the same)."""
    data = wire(
        "CFX.ResourcePerformance.FaultOccurred",
        f'"Fault":{{"$type":"CFX.Structures.Fault, CFX","FaultOccurrenceId":"{GUID_A}","Description":"d"}}',
    )
    fault = decode_envelope(data).body.fault  # type: ignore[union-attr]
    assert isinstance(fault, Fault)
    assert fault.description == "d"


def test_base_process_data_and_carrier_without_type() -> None:
    """Base values in polymorphic slots (no "$type") decode as the base classes."""
    up = wire(
        "CFX.Production.Processing.UnitsProcessed", f'"TransactionId":"{GUID_A}","CommonProcessData":{{}}'
    )
    assert decode_envelope(up).body.common_process_data == ProcessData()  # type: ignore[union-attr]
    ml = wire("CFX.Materials.Storage.MaterialsLoaded", '"Materials":[{"CarrierInformation":{"Name":"C1"}}]')
    body = decode_envelope(ml).body
    assert isinstance(body, MaterialsLoaded)
    assert body.materials is not None
    assert body.materials[0].carrier_information == MaterialCarrier(name="C1")


def test_tape_feeder_with_type() -> None:
    """SMDTapeFeeder in MaterialLocation.CarrierInformation is read via its "$type"."""
    ml = wire(
        "CFX.Materials.Storage.MaterialsLoaded",
        '"Materials":[{"CarrierInformation":{"$type":"CFX.Structures.SMTPlacement.SMDTapeFeeder, CFX",'
        '"LaneNumber":3}}]',
    )
    body = decode_envelope(ml).body
    assert body.materials[0].carrier_information == SMDTapeFeeder(lane_number=3)  # type: ignore[union-attr]


def test_unit_count_in_json_is_ignored() -> None:
    """UnitCount is recomputed from Units; a wrong count in the JSON changes nothing."""
    data = wire("CFX.Production.UnitsArrived", '"UnitCount":99,"Units":[{"UnitIdentifier":"A"}]')
    body = decode_envelope(data).body
    assert isinstance(body, UnitsArrived)
    assert body.unit_count == 1


def test_lenient_numbers_strings_and_base64() -> None:
    """Numbers in strings, ints for doubles and base64 byte[] are read as Newtonsoft reads them."""
    data = wire(
        "CFX.Production.GetRecipeResponse",
        '"Recipe":{"Name":"R","ExpectedCycleTime":"42000","UnitLength":12,"RecipeData":"AAF6b25l"}',
    )
    recipe = decode_envelope(data).body.recipe  # type: ignore[union-attr]
    assert recipe.expected_cycle_time == 42000.0
    assert isinstance(recipe.unit_length, float)
    assert recipe.recipe_data == b"\x00\x01zone"


def test_batch_array_decodes_to_a_list() -> None:
    """A JSON array of envelopes (MaxMessagesPerTransmit > 1) decodes to a list, in order."""
    first = envelope(Heartbeat(cfx_handle="a"))
    second = envelope(StationStateChanged(new_state=ResourceState.SDT_SETUP))
    data = encode_envelopes([first, second])
    assert decode_envelopes(b"  \n" + data) == [first, second]
    assert decode_envelopes(encode_envelope(first)) == [first]
    with pytest.raises(CFXDecodeError, match="decode_envelopes"):
        decode_envelope(data)


def test_batch_error_names_the_element() -> None:
    """A bad element of a batch is reported with its index in the path."""
    good = encode_envelope(envelope(Heartbeat(cfx_handle="a")))
    bad = state_body('"Nope"')
    with pytest.raises(CFXDecodeError) as info:
        decode_envelopes(b"[" + good + b"," + bad + b"]")
    assert info.value.path == "$[1].MessageBody.OldState"


def test_gzip_when_told() -> None:
    """content-encoding gzip (any case) gunzips first; a non-gzip body then fails cleanly."""
    env = envelope(Heartbeat(cfx_handle="a"))
    packed = gzip.compress(encode_envelope(env))
    assert decode_envelope(packed, content_encoding="GZip") == env
    assert decode_envelopes(packed, content_encoding="gzip") == [env]
    with pytest.raises(CFXDecodeError, match="gzip"):
        decode_envelope(encode_envelope(env), content_encoding="gzip")


def test_gzip_inflation_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip body that inflates beyond the limit is refused before it is held (a gzip bomb)."""
    monkeypatch.setattr(codec, "MAX_INFLATED_SIZE", 4096)
    env = envelope(Heartbeat(cfx_handle="a"))
    assert decode_envelope(gzip.compress(encode_envelope(env)), content_encoding="gzip") == env
    bomb = gzip.compress(b" " * 5000 + encode_envelope(env))
    with pytest.raises(CFXDecodeError, match="inflates beyond 4096"):
        decode_envelope(bomb, content_encoding="gzip")
    with pytest.raises(CFXDecodeError, match="truncated"):
        decode_envelopes(gzip.compress(encode_envelope(env))[:-12], content_encoding="gzip")


@pytest.mark.parametrize("data", [b"", b"not json", b"{", b"[1", "\ufeff{".encode(), b"42", b'"x"', b"{}"])
def test_garbage_raises_decode_error(data: bytes) -> None:
    """Anything that is not an envelope raises CFXDecodeError, never another exception."""
    with pytest.raises(CFXDecodeError):
        decode_envelope(data)


def test_bom_and_str_input() -> None:
    """A UTF-8 BOM is tolerated, and str input is accepted."""
    env = envelope(Heartbeat(cfx_handle="a"))
    data = encode_envelope(env)
    assert decode_envelope(b"\xef\xbb\xbf" + data) == env
    assert decode_envelope(data.decode()) == env


def test_naive_timestamp_refused_on_output() -> None:
    """We never write a DateTime without a zone designator (cfx.md §1.3)."""
    naive = datetime(2026, 5, 4, 7, 1, 12)
    with pytest.raises(LocalProtocolError):
        Envelope.create(Heartbeat(), source=SOURCE, time_stamp=naive)
    env = Envelope("CFX.Heartbeat", naive, UNIQUE, SOURCE, None, None, Heartbeat())
    with pytest.raises(LocalProtocolError, match="naive"):
        encode_envelope(env)


def test_create_fills_header_like_the_sdk() -> None:
    """Envelope.create: MessageName from the class, fresh UniqueID, aware now, Version 2.1."""
    env = Envelope.create(FaultOccurred(fault=Fault()), source=SOURCE)
    assert env.message_name == "CFX.ResourcePerformance.FaultOccurred"
    assert env.version == "2.1"
    assert env.time_stamp.utcoffset() is not None
    assert env.unique_id.version == 4
    assert (env.target, env.request_id) == (None, None)


def test_utc_written_as_z_and_trailing_zeros_dropped() -> None:
    """Zero offset → Z (Kind=Utc); fraction trimmed as Newtonsoft's WriteDefaultIsoDate does."""
    stamp = datetime(2026, 5, 4, 5, 1, 12, 120000, tzinfo=UTC)
    data = encode_envelope(Envelope.create(Heartbeat(), source=SOURCE, time_stamp=stamp))
    assert b'"TimeStamp":"2026-05-04T05:01:12.12Z"' in data


def test_reflow_data_survives_lenient_path() -> None:
    """Lower-case keys everywhere (slow path) give the same model as the canonical text."""
    env = envelope(reflow_units_processed())
    data = encode_envelope(env)

    def lower(value: object) -> object:
        if isinstance(value, dict):
            return {k if k == "$type" else k.lower(): lower(v) for k, v in value.items()}
        if isinstance(value, list):
            return [lower(v) for v in value]
        return value

    got = decode_envelope(orjson.dumps(lower(orjson.loads(data))))
    assert got == env
    assert isinstance(got.body, UnitsProcessed)
    assert isinstance(got.body.common_process_data, ReflowProcessData)
    assert got.unique_id == env.unique_id and isinstance(got.unique_id, uuid.UUID)
    assert STAMP.tzinfo is not None


def test_direct_member_of_the_body_resolves_type() -> None:
    """The envelope hands ItemTypeNameHandling=Auto to the body's members: RelatedFault keeps its subclass."""
    data = wire(
        "CFX.ResourcePerformance.StationStateChanged",
        '"NewState":"1100","RelatedFault":{"$type":"CFX.Structures.SolderReflow.ReflowOvenFault, CFX",'
        f'"ReflowOvenFaultType":"LowBeltSpeed","FaultOccurrenceId":"{GUID_A}"}}',
    )
    envelope = decode_envelope(data)
    fault = envelope.body.related_fault  # type: ignore[union-attr]
    assert isinstance(fault, ReflowOvenFault)
    assert fault.reflow_oven_fault_type is ReflowOvenFaultType.LOW_BELT_SPEED
    assert fault.fault_occurrence_id == GUID_A


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TRICKY_TEXT = st.sampled_from(
    [
        "99999999.00:00:00",
        "9999-12-31T23:59:59.9999999-14:00",
        "0001-01-01T00:00:00+14:00",
        "22A0",
        "{x}",
        "-1",
    ]
)


@st.composite
def envelope_shaped(draw: st.DrawFn) -> bytes:
    """A known message's envelope whose members hold arbitrary JSON."""
    cls = draw(st.sampled_from(sorted(MESSAGE_TYPES.values(), key=lambda c: c.MESSAGE_NAME)))
    names = [f.encode_name for f in msgspec.structs.fields(cls)]
    members = draw(
        st.dictionaries(st.sampled_from(names) if names else st.just("X"), JSON_VALUES | TRICKY_TEXT)
    )
    doc = {
        "MessageName": cls.MESSAGE_NAME,
        "TimeStamp": draw(TRICKY_TEXT | st.just("2026-05-04T07:01:12Z")),
        "UniqueID": str(UNIQUE),
        "MessageBody": {"$type": f"{cls.MESSAGE_NAME}, CFX", **members},
    }
    return orjson.dumps(doc)


@given(envelope_shaped())
def test_fuzz_members_decode_or_raise_decode_error(data: bytes) -> None:
    """Any JSON in any member: decodes to an Envelope, or raises CFXDecodeError (nothing else)."""
    try:
        assert isinstance(decode_envelope(data), Envelope)
    except CFXDecodeError as exc:
        assert exc.path.startswith("$")


@given(st.binary(max_size=64))
def test_fuzz_bytes(data: bytes) -> None:
    """Arbitrary bytes, plain or claimed gzip, raise only CFXDecodeError."""
    for encoding in (None, "gzip"):
        with contextlib.suppress(CFXDecodeError):
            decode_envelopes(data, content_encoding=encoding)


def test_null_list_reads_as_null() -> None:
    """A null List member (C# allows it) stays null, and UnitCount counts it as empty."""
    data = wire("CFX.Production.UnitsArrived", '"UnitCount":0,"Units":null')
    body = decode_envelope(data).body
    assert isinstance(body, UnitsArrived)
    assert body.units is None
    assert body.unit_count == 0


@pytest.mark.parametrize("value", ["[]", "{}", "42", "true"])
def test_a_timestamp_of_another_json_type_is_a_decode_error(value: str) -> None:
    """Found by hypothesis: an array in a DateTime member raised AttributeError on the pure twin."""
    data = wire("CFX.Maintenance.ResourceInformationEvent", f'"EventDateTime":{value}')
    with pytest.raises(CFXDecodeError, match="EventDateTime"):
        decode_envelope(data)
