"""The proton thread bridge: calls cross into the reactor thread and results come back."""

from __future__ import annotations

import threading

import pytest
from proton.handlers import MessagingHandler

from protocols.cfx.transport.proton_bridge import BridgeClosed, ProtonBridge


class _Nothing(MessagingHandler):
    """A handler with no behaviour; the tests only use the bridge."""


async def test_run_in_reactor_runs_on_the_reactor_thread_and_returns() -> None:
    bridge = ProtonBridge(_Nothing(), name="test-bridge")
    await bridge.start()
    try:
        name = await bridge.run_in_reactor(lambda: threading.current_thread().name)
        assert name == "test-bridge"
        assert threading.current_thread().name != "test-bridge"
    finally:
        await bridge.stop()
    assert not bridge.running


async def test_exceptions_cross_back_and_the_reactor_survives() -> None:
    bridge = ProtonBridge(_Nothing(), name="test-bridge-exc")
    await bridge.start()
    try:

        def boom() -> int:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await bridge.run_in_reactor(boom)
        assert await bridge.run_in_reactor(lambda: 42) == 42
    finally:
        await bridge.stop()


async def test_calls_run_in_order() -> None:
    bridge = ProtonBridge(_Nothing(), name="test-bridge-order")
    await bridge.start()
    seen: list[int] = []
    try:
        for index in range(100):
            bridge.call_in_reactor(lambda index=index: seen.append(index))  # type: ignore[misc]
        await bridge.run_in_reactor(lambda: None)
        assert seen == list(range(100))
    finally:
        await bridge.stop()


async def test_calling_a_stopped_bridge_raises() -> None:
    bridge = ProtonBridge(_Nothing(), name="test-bridge-stopped")
    with pytest.raises(BridgeClosed):
        bridge.call_in_reactor(lambda: None)
    await bridge.start()
    await bridge.stop()
    with pytest.raises(BridgeClosed):
        await bridge.run_in_reactor(lambda: None)


async def test_wake_pipe_is_closed_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # proton closes the waker itself and the bridge closes it again on exit; a second close could
    # hit a descriptor another thread has been given in between.
    import os

    from proton.handlers import MessagingHandler

    from protocols.cfx.transport.proton_bridge import ProtonBridge

    closed: list[int] = []
    real_close = os.close

    def spy(fd: int) -> None:
        closed.append(fd)
        real_close(fd)

    monkeypatch.setattr(os, "close", spy)
    bridge = ProtonBridge(MessagingHandler(), name="test-waker")
    await bridge.start()
    fds = {bridge._waker._read_fd, bridge._waker._write_fd}
    await bridge.stop()
    assert sorted(fd for fd in closed if fd in fds) == sorted(fds)
