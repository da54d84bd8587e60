"""Logging set up once for the whole process, with structlog.

JSON lines (rendered by orjson) when stdout is not a terminal, the console renderer when it is.
The level comes from ``LINEGATE_LOG_LEVEL`` (default ``info``). Disabled levels cost a no-op
call because ``make_filtering_bound_logger`` turns them into ``return None``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import orjson
import structlog

LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


def level_from_env(default: str = "info") -> int:
    """The numeric level named by ``LINEGATE_LOG_LEVEL``.

    Raises:
        ValueError: the variable names no known level.
    """
    name = os.environ.get("LINEGATE_LOG_LEVEL", default).strip().lower()
    if name not in LEVELS:
        raise ValueError(f"LINEGATE_LOG_LEVEL={name!r} is not one of {', '.join(LEVELS)}")
    return LEVELS[name]


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def configure_logging(
    level: int | None = None, stream: TextIO | None = None, json: bool | None = None
) -> None:
    """Configure structlog for this process.

    Args:
        level: minimum level; defaults to ``LINEGATE_LOG_LEVEL``.
        stream: where log lines go; defaults to stdout.
        json: force JSON (True) or console (False) rendering; defaults to JSON unless ``stream`` is a TTY.
    """
    out = stream if stream is not None else sys.stdout
    if level is None:
        level = level_from_env()
    if json is None:
        json = not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Without an explicit stream, resolve sys.stdout per logger rather than pinning the
        # object seen now (tests and daemons replace sys.stdout).
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (aio-pika, asyncua, pymodbus) follow the same level.
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr, format="%(name)s: %(message)s")
    # pymodbus logs every request timeout at ERROR; the Modbus adapter reports them itself.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL if level > logging.DEBUG else logging.DEBUG)
    # asyncua warns about every unencrypted endpoint and session timeout it adjusts; the OPC UA
    # adapter logs what matters.
    logging.getLogger("asyncua").setLevel(logging.ERROR if level > logging.DEBUG else logging.DEBUG)
