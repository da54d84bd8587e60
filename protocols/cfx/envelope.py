"""The CFX envelope (``CFX.CFXEnvelope``, cfx.md §1.1) and the raw body of an unknown message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from protocols.cfx.messages.base import CFXMessage, sdk_form
from protocols.errors import LocalProtocolError

# CFXEnvelope.CFXVERSION in SDK 2.1.1: the standard revision, not the DLL version (cfx.md §1.1).
CFX_VERSION = "2.1"


@dataclass(frozen=True, slots=True)
class RawMessage:
    """The body of a message whose MessageName linegate does not model (cfx.md §4).

    The SDK keeps such a body as a raw JObject and still delivers the envelope; so do we.

    Attributes:
        message_name: the envelope's MessageName.
        body: the MessageBody object as decoded JSON (key order kept), ``$type`` included if sent.
    """

    message_name: str
    body: dict[str, Any] = field(default_factory=dict)


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """One CFX message with its addressing: the JSON object the SDK sends.

    Attributes:
        message_name: ``"CFX.Production.WorkStarted"``: the body's .NET full name.
        time_stamp: when the event happened (timezone-aware).
        unique_id: for de-duplication and reference.
        source: CFX handle of the sender.
        target: CFX handle of the addressee (requests and responses only).
        request_id: ``"REQUEST-<guid>"``, echoed by the response.
        body: the typed body, or RawMessage for an unknown MessageName.
        version: the CFX standard revision written (``"2.1"``); kept as received when decoding.
        data: the bytes a transport decoded this envelope from (gunzipped; one element of a
            batch), or None for an envelope made here. A relay forwards these bytes unchanged
            (issue 15: a relay changes nothing, whatever a validator thinks of them).

    A frozen msgspec Struct (cheap to build on the decode hot path). ``create`` and the encoder
    refuse a naive ``time_stamp``.
    """

    message_name: str
    time_stamp: datetime
    unique_id: uuid.UUID
    source: str | None
    target: str | None
    request_id: str | None
    body: CFXMessage | RawMessage
    version: str = CFX_VERSION
    data: bytes | None = None

    def __eq__(self, other: object) -> bool:
        # ``data`` says where an envelope came from, not what it is: a received envelope equals
        # the one made here with the same members.
        if not isinstance(other, Envelope):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((self.message_name, self.unique_id))

    def _identity(self) -> tuple[object, ...]:
        return (
            self.message_name,
            self.time_stamp,
            self.unique_id,
            self.source,
            self.target,
            self.request_id,
            self.body,
            self.version,
        )

    @classmethod
    def create(
        cls,
        body: CFXMessage,
        *,
        source: str,
        target: str | None = None,
        request_id: str | None = None,
        time_stamp: datetime | None = None,
    ) -> Envelope:
        """Wrap a body as the SDK's ``new CFXEnvelope(msg)`` does.

        Args:
            body: the message.
            source: our CFX handle.
            target: the addressee's handle (requests/responses).
            request_id: the request correlation id.
            time_stamp: event time; defaults to the aware local "now" (the SDK's DateTime.Now).

        Returns:
            A new envelope with a fresh UniqueID.

        Raises:
            LocalProtocolError: ``body`` is not a registered message, or ``time_stamp`` is naive.
        """
        name = type(body).MESSAGE_NAME
        if not name:
            raise LocalProtocolError(f"{type(body).__name__} is not a CFX message body")
        if time_stamp is not None and time_stamp.utcoffset() is None:
            # cfx.md §1.3: the SDK doc comment requires a zone designator on TimeStamp.
            raise LocalProtocolError("Envelope time_stamp must be timezone-aware")
        return cls(
            message_name=name,
            time_stamp=time_stamp if time_stamp is not None else datetime.now().astimezone(),
            unique_id=uuid.uuid4(),
            source=source,
            target=target,
            request_id=request_id,
            body=sdk_form(body),
        )


__all__ = ["CFX_VERSION", "Envelope", "RawMessage"]
