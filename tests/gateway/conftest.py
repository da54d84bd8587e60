"""Fixtures shared by the gateway's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture
def keep_logging_config() -> Iterator[None]:
    """The CLI configures structlog globally; put the previous configuration back afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
