"""Valid messages the campaigns start from, built with the project's own encoders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from protocols.hermes import messages as m
from protocols.hermes.codec import encode
from protocols.hermes.enums import BoardQuality, FlippedBoard, NotificationCode, SeverityType, TransferState

_STAMP = datetime(2024, 5, 14, 8, 15, 2, 117000)


def hermes_messages() -> list[bytes]:
    """One encoded message of each common kind, as a peer sends them."""
    board = "4711-0815"
    messages: list[m.Message] = [
        m.ServiceDescription(machine_id="Oven 1", lane_id=1, version="1.5"),
        m.BoardAvailable(
            board_id=board,
            board_id_created_by="Printer",
            failed_board=BoardQuality.GOOD,
            flipped_board=FlippedBoard.TOP_SIDE_IS_UP,
            product_type_id="PCB-A",
            length=120.5,
            width=80.0,
        ),
        m.MachineReady(failed_board=BoardQuality.GOOD),
        m.StartTransport(board_id=board, conveyor_speed=300.0),
        m.TransportFinished(transfer_state=TransferState.COMPLETE, board_id=board),
        m.StopTransport(transfer_state=TransferState.COMPLETE, board_id=board),
        m.RevokeBoardAvailable(),
        m.RevokeMachineReady(),
        m.Notification(
            notification_code=NotificationCode.UNSPECIFIC,
            severity=SeverityType.INFO,
            description="warming up",
        ),
        m.CheckAlive(),
    ]
    return [encode(message, timestamp=_STAMP) for message in messages]


def hermes_hostile() -> list[bytes]:
    """Hostile documents: DTD, entities, deep nesting, bad UTF-8, a declaration, a comment."""
    return [
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<Hermes><Notification Description="&b;"/></Hermes>',
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Hermes><CheckAlive Id="&e;"/></Hermes>',
        b"<Hermes>" + b"<a>" * 40 + b"</a>" * 40 + b"</Hermes>",
        b'<Hermes><Notification Description="\xc3\x28\xff"/></Hermes>',
        b'<?xml version="1.0" encoding="utf-8"?>\r\n<Hermes Timestamp="x"><!-- c --><CheckAlive/></Hermes>',
        b"<Hermes><![CDATA[x]]></Hermes>",
        b'<Hermes><Notification Description="&#0;&#x41;&lt;"/></Hermes>',
    ]


def cfx_envelopes() -> list[bytes]:
    """CFX envelopes as the SDK writes them, one batch, and one only the lenient path reads."""
    from protocols.cfx.codec import encode_envelope, encode_envelopes
    from protocols.cfx.envelope import Envelope
    from protocols.cfx.messages.core import AreYouThereRequest, Heartbeat
    from protocols.cfx.messages.production import ActivateRecipeRequest, WorkStarted
    from protocols.cfx.messages.resource_performance import StationStateChanged

    source = "Acme.Oven.1"
    bodies = [
        AreYouThereRequest(cfx_handle=source),
        ActivateRecipeRequest(recipe_name="PCB-A", revision="2", lane=1),
        WorkStarted(
            primary_identifier="PCB-0001",
            hermes_identifier="4711",
            transaction_id=uuid.UUID(int=7),
            lane=1,
            recipe_name="PCB-A",
        ),
        StationStateChanged(),
        Heartbeat(cfx_handle=source),
    ]
    # Fixed header fields: the same seeds on every call (hypothesis samples from them).
    stamp = datetime(2026, 5, 4, 7, 1, 12, 123456, tzinfo=UTC)
    envelopes = [
        Envelope(body.MESSAGE_NAME, stamp, uuid.UUID(int=i + 1), source, None, f"req-{i}", body)
        for i, body in enumerate(bodies)
    ]
    lenient = (
        b'{"messagename":"CFX.ResourcePerformance.StationStateChanged","version":"2.1",'
        b'"timestamp":"2026-05-04T07:01:12.1234567","uniqueid":"{B7E1A0C2-9D3F-4E5A-8B6C-1D2E3F4A5B63}",'
        b'"source":"Acme.Oven.1","target":null,"requestid":null,"messagebody":{"newstate":"1100",'
        b'"oldstate":"ReadyProcessingExecuting","oldstateduration":"00:01:02.5"}}'
    )
    return [*(encode_envelope(e) for e in envelopes), encode_envelopes(envelopes[:3]), lenient]
