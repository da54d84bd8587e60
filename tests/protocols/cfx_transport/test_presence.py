"""Presence: EndpointConnected, Heartbeat on a schedule, EndpointShuttingDown on a clean stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from protocols.cfx.codec import decode_envelope, encode_envelope
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import EndpointConnected, EndpointShuttingDown, Fault, Heartbeat
from protocols.cfx.transport import HeartbeatStatus, Presence
from protocols.errors import ConfigError

HANDLE = "ASM.SIPLACE.SX2"


class Recorder:
    """A publish coroutine that records envelopes and lets a test wait for the n-th one."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self._changed = asyncio.Condition()

    async def __call__(self, envelope: Envelope) -> None:
        # Round-trip through the codec: what goes out must be encodable as the SDK reads it.
        self.sent.append(decode_envelope(encode_envelope(envelope)))
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.sent) >= count)


async def test_connected_heartbeats_and_shutting_down() -> None:
    recorder = Recorder()
    fault = Fault(fault_code="E-231")
    async with Presence(
        recorder,
        handle=HANDLE,
        request_uri="amqp://10.20.3.41:5672",
        interval=timedelta(seconds=1),
        status=lambda: HeartbeatStatus(active_faults=[fault], active_recipes=[]),
    ):
        await recorder.wait_for(3, 5)  # connected, an immediate heartbeat, one more a second later
    connected, first, second, shutting_down = recorder.sent
    assert isinstance(connected.body, EndpointConnected)
    assert connected.body.request_network_uri == "amqp://10.20.3.41:5672"
    assert connected.body.request_target_address == HANDLE
    for beat in (first, second):
        assert isinstance(beat.body, Heartbeat)
        assert beat.body.heartbeat_frequency == timedelta(seconds=1)
        assert beat.body.active_faults is not None and beat.body.active_faults[0].fault_code == "E-231"
        assert beat.body.active_recipes == []
        assert beat.source == HANDLE
    assert (second.time_stamp - first.time_stamp) >= timedelta(seconds=0.9)
    assert isinstance(shutting_down.body, EndpointShuttingDown)
    assert shutting_down.body.cfx_handle == HANDLE


async def test_heartbeat_without_status_leaves_lists_unknown() -> None:
    recorder = Recorder()
    async with Presence(recorder, handle=HANDLE):
        await recorder.wait_for(2, 5)
    beat = recorder.sent[1].body
    assert isinstance(beat, Heartbeat)
    assert beat.heartbeat_frequency == timedelta(minutes=1)  # reference §2.6: the SDK default
    assert beat.active_faults is None and beat.active_recipes is None


async def test_no_shutting_down_after_an_error() -> None:
    recorder = Recorder()
    with pytest.raises(RuntimeError):
        async with Presence(recorder, handle=HANDLE):
            await recorder.wait_for(2, 5)
            raise RuntimeError("crash")
    assert not any(isinstance(e.body, EndpointShuttingDown) for e in recorder.sent)


@pytest.mark.parametrize("interval", [timedelta(milliseconds=999), timedelta(minutes=5, seconds=1)])
def test_interval_outside_one_second_to_five_minutes_is_refused(interval: timedelta) -> None:
    with pytest.raises(ConfigError, match="heartbeat"):
        Presence(Recorder(), handle=HANDLE, interval=interval)
