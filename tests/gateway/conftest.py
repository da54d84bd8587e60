"""Fixtures shared by the gateway's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog

from tests.gateway.http_support import RunningLine, running_line


@pytest.fixture
def keep_logging_config() -> Iterator[None]:
    """The CLI configures structlog globally; put the previous configuration back afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[RunningLine]:
    """Three loopback machines, a gateway and its HTTP server (``http_support.running_line``)."""
    async with running_line(tmp_path) as running:
        yield running
