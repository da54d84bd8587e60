"""Fixtures of the hardening tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.hardening.support import Burst


@pytest.fixture(autouse=True)
async def _close_bursts() -> AsyncIterator[None]:
    """A test that failed before closing its burst must not leave 1,000 sockets to the next."""
    yield
    for burst in list(Burst.alive):
        await burst.close()
