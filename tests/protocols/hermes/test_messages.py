"""Hermes message classes match the reference: names, values, mandatory and optional fields (§2)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from protocols.errors import LocalProtocolError
from protocols.hermes import messages as m


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda cls: cls.TAG)
def test_message_classes_are_frozen_slotted_and_named_after_their_element(cls: type[Any]) -> None:
    assert cls.__name__ == cls.TAG
    assert "__slots__" in vars(cls)
    assert cls.__dataclass_params__.frozen
    assert m.MESSAGE_BY_TAG[cls.TAG] is cls


def test_every_message_of_the_reference_exists() -> None:
    # Reference §2.1 to §2.3, in order.
    assert [cls.TAG for cls in m.MESSAGE_TYPES] == [
        "ServiceDescription", "BoardAvailable", "RevokeBoardAvailable", "MachineReady",
        "RevokeMachineReady", "StartTransport", "StopTransport", "TransportFinished",
        "BoardForecast", "QueryBoardInfo", "SendBoardInfo", "Notification", "CheckAlive",
        "Command", "GetConfiguration", "SetConfiguration", "CurrentConfiguration",
        "SupervisoryServiceDescription", "BoardArrived", "BoardDeparted", "QueryWorkOrderInfo",
        "SendWorkOrderInfo", "ReplyWorkOrderInfo", "QueryHermesCapabilities", "SendHermesCapabilities",
    ]  # fmt: skip


def _mandatory(cls: type[Any]) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}


# Reference §2: the attributes marked M (snake_case); every other field is optional.
MANDATORY = {
    m.ServiceDescription: {"machine_id", "lane_id", "version"},
    m.BoardAvailable: {"board_id", "board_id_created_by", "failed_board", "flipped_board"},
    m.RevokeBoardAvailable: set(),
    m.MachineReady: {"failed_board"},
    m.RevokeMachineReady: set(),
    m.StartTransport: {"board_id"},
    m.StopTransport: {"transfer_state", "board_id"},
    m.TransportFinished: {"transfer_state", "board_id"},
    m.BoardForecast: {"failed_board", "flipped_board"},
    m.QueryBoardInfo: set(),
    m.SendBoardInfo: set(),
    m.Notification: {"notification_code", "severity", "description"},
    m.CheckAlive: set(),
    m.Command: {"command"},
    m.GetConfiguration: set(),
    m.SetConfiguration: {"machine_id"},
    m.CurrentConfiguration: set(),
    m.SupervisoryServiceDescription: {"system_id", "version"},
    m.BoardArrived: {
        "machine_id", "upstream_lane_id", "board_transfer", "board_id", "board_id_created_by",
        "failed_board", "flipped_board",
    },
    m.BoardDeparted: {
        "machine_id", "downstream_lane_id", "board_transfer", "board_id", "board_id_created_by",
        "failed_board", "flipped_board",
    },
    m.QueryWorkOrderInfo: {"machine_id"},
    m.SendWorkOrderInfo: set(),
    m.ReplyWorkOrderInfo: {"work_order_id", "status"},
    m.QueryHermesCapabilities: set(),
    m.SendHermesCapabilities: set(),
}  # fmt: skip


EMPTY_DEFAULTS = (
    (),
    m.SupportedFeatures(),
    m.SupervisoryFeatures(),
    m.OptionalMessages(),
    m.CapabilityAttributes(),
)


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda cls: cls.TAG)
def test_mandatory_fields_have_no_default_and_optional_ones_default_to_none(cls: type[Any]) -> None:
    assert _mandatory(cls) == MANDATORY[cls]
    for field in dataclasses.fields(cls):
        if field.name not in MANDATORY[cls] and field.default_factory is dataclasses.MISSING:
            # Optional attributes are None; lists and feature sets default to empty.
            assert field.default is None or field.default in EMPTY_DEFAULTS


def test_enum_values_are_the_wire_values() -> None:
    # Reference §2.4.
    assert [int(x) for x in m.NotificationCode] == list(range(7))
    assert int(m.NotificationCode.PROTOCOL_ERROR) == 1
    assert int(m.NotificationCode.CONNECTION_REFUSED_BECAUSE_OF_ESTABLISHED_CONNECTION) == 2
    assert int(m.NotificationCode.MACHINE_SHUTDOWN) == 5
    assert (m.SeverityType.FATAL, m.SeverityType.ERROR, m.SeverityType.WARNING, m.SeverityType.INFO) == (
        1,
        2,
        3,
        4,
    )
    assert (m.CheckAliveType.PING, m.CheckAliveType.PONG) == (1, 2)
    assert (m.TransferState.NOT_STARTED, m.TransferState.INCOMPLETE, m.TransferState.COMPLETE) == (1, 2, 3)
    assert (m.BoardQuality.ANY, m.BoardQuality.GOOD, m.BoardQuality.FAILED) == (0, 1, 2)
    assert (m.FlippedBoard.TOP_SIDE_IS_UP, m.FlippedBoard.BOTTOM_SIDE_IS_UP) == (1, 2)
    assert [int(x) for x in m.SubBoardState] == [0, 1, 2, 3, 4]
    assert (
        m.BoardArrivedTransfer.TRANSFERRED,
        m.BoardArrivedTransfer.LOADED,
        m.BoardArrivedTransfer.INSERTED,
    ) == (1, 2, 3)
    assert (m.BoardDepartedTransfer.UNLOADED, m.BoardDepartedTransfer.REMOVED) == (2, 3)
    assert [int(x) for x in m.ReplyWorkOrderInfoStatus] == [0, 1, 2]


def test_every_enum_has_a_zero_member_for_out_of_range_values() -> None:
    enums = [m.BoardQuality, m.FlippedBoard, m.TransferState, m.NotificationCode, m.SeverityType,
             m.CheckAliveType, m.SubBoardState, m.BoardArrivedTransfer, m.BoardDepartedTransfer,
             m.ReplyWorkOrderInfoStatus]  # fmt: skip
    for enum in enums:
        assert enum(0) in enum


def test_features_announce_by_presence() -> None:
    none = m.SupportedFeatures()
    assert none.feature_board_forecast is None
    everything = m.SupportedFeatures.all()
    assert all(getattr(everything, f.name) is not None for f in dataclasses.fields(everything))
    vertical = m.SupervisoryFeatures.all()
    assert all(getattr(vertical, f.name) is not None for f in dataclasses.fields(vertical))
    assert m.FeatureCommand() == m.FeatureCommand()


def test_messages_are_hashable_values() -> None:
    a = m.BoardAvailable(
        "b",
        "M",
        m.BoardQuality.GOOD,
        m.FlippedBoard.TOP_SIDE_IS_UP,
        sub_boards=(m.SubBoard(1, m.SubBoardState.GOOD),),
    )
    b = m.BoardAvailable(
        "b",
        "M",
        m.BoardQuality.GOOD,
        m.FlippedBoard.TOP_SIDE_IS_UP,
        sub_boards=(m.SubBoard(1, m.SubBoardState.GOOD),),
    )
    assert a == b and hash(a) == hash(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.board_id = "c"  # type: ignore[misc]


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda cls: cls.TAG)
def test_the_checking_init_takes_the_dataclass_parameters(cls: type[Any]) -> None:
    # The codec replaces each class's __init__ with one that stores and checks in one go; a
    # caller must not see a difference: the same parameters, in order, with the same defaults.
    parameters = list(inspect.signature(cls).parameters.values())
    fields = dataclasses.fields(cls)
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, field in zip(parameters, fields, strict=True):
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        expected = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        assert parameter.default is expected
    with pytest.raises(TypeError, match=rf"^{cls.__name__}\.__init__\(\) got an unexpected keyword"):
        cls(no_such_field=1)


def test_the_checking_init_stores_positional_and_keyword_arguments_alike() -> None:
    good, top = m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP
    by_position = m.BoardAvailable("B1", "UP", good, top, None, None, None, 160.0)
    by_keyword = m.BoardAvailable(
        board_id="B1",
        board_id_created_by="UP",
        failed_board=m.BoardQuality.GOOD,
        flipped_board=m.FlippedBoard.TOP_SIDE_IS_UP,
        length=160.0,
    )
    assert by_position == by_keyword
    assert by_position.length == 160.0 and by_position.product_type_id is None
    assert by_position.sub_boards == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_position.length = 1.0  # type: ignore[misc]


def test_the_checking_init_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError, match=r"^BoardAvailable: mandatory field board_id is None$"):
        m.BoardAvailable(None, "UP", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP)  # type: ignore[arg-type]
    with pytest.raises(
        LocalProtocolError, match=r"^BoardAvailable: field length=nan must be a finite number$"
    ):
        m.BoardAvailable("B1", "UP", m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP, length=float("nan"))
    with pytest.raises(LocalProtocolError, match=r"^StartTransport: field board_id=3 must be a str$"):
        m.StartTransport(board_id=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("sub_boards", [None, 0, ("x",), ["x"]])
def test_the_checking_init_refuses_sub_boards_that_are_not_sub_boards(sub_boards: Any) -> None:
    good, top = m.BoardQuality.GOOD, m.FlippedBoard.TOP_SIDE_IS_UP
    with pytest.raises(LocalProtocolError, match=r"^BoardAvailable: field sub_boards must hold SubBoard$"):
        m.BoardAvailable("B1", "UP", good, top, sub_boards=sub_boards)
