"""The board handoff every simulator test module feeds its machine through.

The clock is the plugin's ``virtual_clock``; each module marks itself
``linegate_clock(stepped=True)`` so that time moves only when the test advances it.
"""

from __future__ import annotations

import pytest

from simulators import Handoff


@pytest.fixture
def handoff() -> Handoff:
    """The board handoff into the machine under test."""
    return Handoff()
