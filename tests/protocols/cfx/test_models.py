"""Every modelled message, encoded byte for byte as the CFX SDK writes it, and decoded back.

The cases (model, hand-written SDK text) are in ``model_cases.py``; each text was written by hand
from cfx.md §1-§3 (and the SDK's member lists), not produced by the codec.
"""

from __future__ import annotations

import pytest

from protocols.cfx import (
    CFXMessage,
    StatusResult,
    UnitsArrived,
    UnitStatus,
    WorkStarted,
    decode_envelope,
    encode_envelope,
)
from protocols.cfx.messages import MESSAGE_TYPES
from tests.protocols.cfx.helpers import envelope, wire
from tests.protocols.cfx.model_cases import CASES
from tests.protocols.cfx.model_parts import UNIT


@pytest.mark.parametrize(
    ("body", "text"), CASES, ids=[f"{i}-{type(b).__name__}" for i, (b, _) in enumerate(CASES)]
)
def test_encodes_as_the_sdk_writes(body: CFXMessage, text: str) -> None:
    """The encoder's bytes equal the hand-written SDK text, member for member."""
    assert encode_envelope(envelope(body)).decode() == wire(body.MESSAGE_NAME, text).decode()


@pytest.mark.parametrize(
    ("body", "text"), CASES, ids=[f"{i}-{type(b).__name__}" for i, (b, _) in enumerate(CASES)]
)
def test_decodes_the_sdk_text(body: CFXMessage, text: str) -> None:
    """Decoding the hand-written text gives back the model."""
    assert decode_envelope(wire(body.MESSAGE_NAME, text)) == envelope(body)


def test_every_case_is_a_catalogue_message() -> None:
    """The cases above are the messages linegate emits; the SDK conformance set covers all 183."""
    covered = {type(body).MESSAGE_NAME for body, _ in CASES}
    assert len(covered) == 53
    assert covered <= set(MESSAGE_TYPES)


def test_unit_count_is_computed_from_units() -> None:
    """UnitCount is Units.Count whatever the constructor is given (cfx.md §1.2)."""
    assert UnitsArrived(units=[UNIT, UNIT], unit_count=7).unit_count == 2
    assert WorkStarted(units=[]).unit_count == 0


def test_status_result_wire_names() -> None:
    """StatusResult members carry the SDK's names (the interface contract)."""
    assert [m.value for m in StatusResult] == ["Success", "PartialSuccess", "Failed", "Warning"]
    assert UnitStatus.SKIP.value == "Skip"
