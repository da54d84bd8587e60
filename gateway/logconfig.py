"""Logging set up once for the whole process, with structlog.

JSON lines (rendered by orjson) on stderr when it is not a terminal, the console renderer when it
is; the standard ``logging`` of libraries goes through the same pipeline.
The level comes from ``LINEGATE_LOG_LEVEL`` (default ``info``). Disabled levels cost a no-op
call because ``make_filtering_bound_logger`` turns them into ``return None``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
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


class _StderrLogger(structlog.PrintLogger):
    """A PrintLogger on ``sys.stderr`` as it is when each line is written (tests and daemons
    replace ``sys.stderr``)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return _StderrLogger()


class _LateStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler on the given stream, or on ``sys.stderr`` as it is at each record."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed if self._fixed is not None else sys.stderr
        super().emit(record)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
    logging.getLogger("linegate.thread").error("thread %s crashed", name, exc_info=exc_info)


def configure_logging(
    level: int | None = None, stream: TextIO | None = None, json: bool | None = None
) -> None:
    """Configure structlog, and the standard ``logging`` of the libraries, for this process.

    Log lines go to stderr: stdout is the commands' output (``linegate run --console`` events,
    ``check`` summaries, ``cfx fmt`` envelopes), which a pipe must get unmixed. Records of the
    standard ``logging`` module (asyncua, proton, aio-pika, aiohttp, asyncio, warnings) go
    through the same processors, so a library's traceback is one JSON line with an
    ``exception`` field, not free text between the JSON lines.

    Args:
        level: minimum level; defaults to ``LINEGATE_LOG_LEVEL``.
        stream: where log lines go; defaults to stderr.
        json: force JSON (True) or console (False) rendering; defaults to JSON unless ``stream`` is a TTY.
    """
    out = stream if stream is not None else sys.stderr
    if level is None:
        level = level_from_env()
    if json is None:
        json = not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Without an explicit stream, resolve sys.stderr per logger rather than pinning the
        # object seen now.
        logger_factory=structlog.PrintLoggerFactory(file=stream) if stream is not None else _stderr_logger,
        cache_logger_on_first_use=False,
    )
    # The standard library's records: the same fields (logger name added), rendered alike.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = _LateStreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LateStreamHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries that log through the standard library follow the same level (at least warnings).
    root.setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    # An exception that ends a thread (a library's worker, the proton reactor) would be printed
    # as a bare traceback; it becomes one error record like any other.
    threading.excepthook = _log_thread_exception
    # pymodbus logs every request timeout at ERROR; the Modbus adapter reports them itself.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL if level > logging.DEBUG else logging.DEBUG)
    # asyncua warns about every unencrypted endpoint and session timeout it adjusts; the OPC UA
    # adapter logs what matters.
    logging.getLogger("asyncua").setLevel(logging.ERROR if level > logging.DEBUG else logging.DEBUG)
