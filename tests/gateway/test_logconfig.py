"""Logging renders JSON lines off a terminal, filters by level, and merges bound context."""

from __future__ import annotations

import io

import orjson
import pytest
import structlog

from gateway.logconfig import configure_logging, level_from_env


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    configure_logging(level=20, stream=out)
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        structlog.get_logger().bind(machine="Acme.Oven.1").info("connect.complete", port=502)
    record = orjson.loads(out.getvalue().splitlines()[-1])
    assert record["event"] == "connect.complete"
    assert record["machine"] == "Acme.Oven.1"
    assert record["request_id"] == "r-1"
    assert record["port"] == 502
    assert record["level"] == "info"
    assert "timestamp" in record


def test_disabled_levels_print_nothing() -> None:
    out = io.StringIO()
    configure_logging(level=30, stream=out)
    structlog.get_logger().info("hidden")
    structlog.get_logger().warning("shown")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert orjson.loads(lines[0])["event"] == "shown"


def test_console_renderer_on_a_tty() -> None:
    out = _Tty()
    configure_logging(level=20, stream=out)
    structlog.get_logger().info("hello", machine="M1")
    text = out.getvalue()
    assert "hello" in text and "machine" in text
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)


def test_level_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEGATE_LOG_LEVEL", "DEBUG")
    assert level_from_env() == 10
    monkeypatch.setenv("LINEGATE_LOG_LEVEL", "chatty")
    with pytest.raises(ValueError, match="chatty"):
        level_from_env()
