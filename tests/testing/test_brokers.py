"""``linegate_broker`` skips a test at once when the broker is away, or fails it when asked to."""

from __future__ import annotations

import time

import pytest

from gateway.testing import free_port
from tests.testing.support import PLUGIN, setup

NEEDS_MQTT = """
import pytest

@pytest.mark.linegate_broker("mqtt")
def test_needs_mosquitto():
    pass

@pytest.mark.linegate_broker("zeromq")
def test_unknown_broker():
    pass
"""


def test_an_absent_broker_skips_quickly_and_says_where_it_looked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(pytester)
    port = free_port()  # nothing listens there
    monkeypatch.setenv("LINEGATE_MOSQUITTO", f"127.0.0.1:{port}")
    monkeypatch.delenv("LINEGATE_REQUIRE_BROKERS", raising=False)
    pytester.makepyfile(NEEDS_MQTT)
    started = time.monotonic()
    result = pytester.runpytest("-p", PLUGIN, "-rs")
    assert time.monotonic() - started < 10
    result.assert_outcomes(skipped=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*unknown broker 'zeromq' (known: *mosquitto*rabbitmq)*",
            f"*linegate_broker: mosquitto is not reachable at 127.0.0.1:{port}*LINEGATE_MOSQUITTO=HOST:PORT*",
        ]
    )


def test_an_absent_broker_fails_when_brokers_are_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(pytester)
    monkeypatch.setenv("LINEGATE_MOSQUITTO", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("LINEGATE_REQUIRE_BROKERS", "1")
    pytester.makepyfile(NEEDS_MQTT)
    result = pytester.runpytest("-p", PLUGIN, "-k", "mosquitto")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*linegate_broker: mosquitto is not reachable*"])
