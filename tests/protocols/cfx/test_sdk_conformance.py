"""Every envelope the official CFX SDK wrote (shared/conformance/cfx-sdk, see its README).

For each file: it decodes to a modelled message with no value left unknown (no message type, no
subclass); it re-encodes to the same bytes (numbers compared by value where the text differs, as .NET
Framework and .NET Core print some doubles differently); the validator finds nothing in it or in our
output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from protocols.cfx import MESSAGE_TYPES, RawMessage, decode_envelope, encode_envelope, validate_bytes
from protocols.cfx.messages import CFXStruct, UnknownStructure
from tests.protocols.cfx.helpers import conformance_files

FILES = conformance_files()
if not FILES:
    pytest.skip(
        "no CFX SDK conformance set (set LINEGATE_CFX_CONFORMANCE to its folder)", allow_module_level=True
    )
DIRECTORY = FILES[0].parent


def _values(value: Any) -> Iterator[Any]:
    # Every value in a decoded model tree.
    yield value
    if isinstance(value, CFXStruct):
        for field in value.__struct_fields__:
            yield from _values(getattr(value, field))
    elif isinstance(value, list):
        for item in value:
            yield from _values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _values(item)


def _same_json(ours: Any, theirs: Any) -> bool:
    # Members in the same order, the same values; numbers by value (17-digit vs shortest doubles).
    if isinstance(theirs, dict):
        return (
            isinstance(ours, dict)
            and list(ours) == list(theirs)
            and all(_same_json(ours[k], theirs[k]) for k in theirs)
        )
    if isinstance(theirs, list):
        return (
            isinstance(ours, list)
            and len(ours) == len(theirs)
            and all(_same_json(a, b) for a, b in zip(ours, theirs, strict=True))
        )
    return type(ours) is type(theirs) and ours == theirs


def test_the_set_covers_every_message() -> None:
    """514 files, every one of the 183 message types the catalogue (and the SDK) defines."""
    assert len(FILES) == 514
    assert len(MESSAGE_TYPES) == 183
    assert {orjson.loads(path.read_bytes())["MessageName"] for path in FILES} == set(MESSAGE_TYPES)


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_sdk_envelope_round_trips(path: Path) -> None:
    raw = path.read_bytes().strip()
    envelope = decode_envelope(raw)
    assert not isinstance(envelope.body, RawMessage), "message type left unknown"
    unknown = [v for v in _values(envelope.body) if isinstance(v, UnknownStructure)]
    assert not unknown, f"values left unknown: {unknown}"
    ours = encode_envelope(envelope)
    if ours != raw:
        assert _same_json(orjson.loads(ours), orjson.loads(raw)), ours.decode()
    assert validate_bytes(raw) == []
    assert validate_bytes(ours) == []


def test_a_subclass_keeps_its_type_through_the_relay() -> None:
    """StationStateChanged.RelatedFault holding an SMTPlacementFault (cfx.md §0): no downcast."""
    raw = (DIRECTORY / "CFX.ResourcePerformance.StationStateChanged.v1.json").read_bytes().strip()
    body = decode_envelope(raw).body
    fault = msgspec.structs.asdict(body)["related_fault"]  # type: ignore[arg-type]
    assert type(fault).CFX_TYPE == "CFX.Structures.SMTPlacement.SMTPlacementFault"
    assert encode_envelope(decode_envelope(raw)) == raw


def test_decimals_keep_every_digit() -> None:
    """A C# decimal holds 28 significant digits, more than a double: they all survive a round trip."""
    raw = (DIRECTORY / "CFX.Production.Processing.UnitsProcessed.v5.json").read_bytes().strip()
    assert b'"ToolDiameter_SetPoint":3.25' in raw
    wide = raw.replace(
        b'"ToolDiameter_SetPoint":3.25', b'"ToolDiameter_SetPoint":1234.5678901234567890123456'
    )
    assert encode_envelope(decode_envelope(wide)) == wide
    assert validate_bytes(wide) == []
