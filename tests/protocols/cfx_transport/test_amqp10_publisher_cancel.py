"""A cancelled AMQP 1.0 publisher connect is cancelled, even when the connect fails in the same pass.

On Python 3.11, ``asyncio.wait_for`` returns (or raises) its inner future's outcome when that
future finished in the loop pass the cancellation arrived in (CPython gh-86296), so the
cancellation turned into the connect's own error. A reconnect loop that retries on that error
then never ended: this is how ``linegate demo`` hung after its boards had finished (the
simulated placement machine's publish loop outlived its stop, logging ``publish.failed``).
"""

from __future__ import annotations

import asyncio

import pytest

from protocols.cfx.transport.amqp10_publisher import AMQP10Publisher
from protocols.transport.ports import free_port


async def test_cancel_arriving_as_the_connect_fails_is_not_lost() -> None:
    """The cancel lands in the pass the refused connect is reported in: the task ends cancelled."""
    publisher = AMQP10Publisher(f"amqp://127.0.0.1:{free_port()}", "linegate", handle="Test.Cancel.1")
    entering = asyncio.create_task(publisher.__aenter__())
    await asyncio.sleep(0)  # one pass: __aenter__ has created the future it will wait on
    opened = publisher._side.opened
    # Runs right after wait_for's own callback on the failed connect, before the task resumes.
    opened.add_done_callback(lambda _: entering.cancel())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(entering, 15)
    assert opened.done() and opened.exception() is not None
