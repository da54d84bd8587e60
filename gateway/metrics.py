"""Metrics kept by the gateway and their Prometheus text exposition (format 0.0.4), no library.

Two kinds of figures exist. Most are read at scrape time from objects that already count
(an adapter's ``Health``, a ``MachineRuntime``'s counters, the outbox); they are written with
``Exposition``. The rest are measured where nothing else counts them: ``Counter`` and
``Histogram`` hold them, and ``TimedSink`` wraps a sink to measure how long each publish takes
until the far side confirms it (the publish-confirm latency).

Names follow EMQ Neuron's node statistics where one fits (``link_state``, ``last_rtt_ms``,
``send_msgs_total``, ``send_msg_errors_total``, ``recv_msgs_total``), prefixed ``linegate_``.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.outbox import StoredEvent
from gateway.sinks.base import Sink

PREFIX = "linegate_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Broker confirms on a LAN take about a millisecond; a stalled broker takes seconds. The buckets
# span both, as Prometheus client libraries' defaults do (5 ms … 10 s) with finer steps below.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Mapping[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def escape_label(value: str) -> str:
    """A label value escaped as the text format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as the text format writes it (integers without a fraction, +Inf, NaN)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def format_labels(labels: Labels) -> str:
    """``{a="1",b="2"}``, or nothing when there are no labels."""
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels) + "}"


class Exposition:
    """Builds one exposition: metric families, each with HELP, TYPE and its samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._families: set[str] = set()

    def family(self, name: str, kind: str, help_text: str) -> None:
        """Start the family ``linegate_<name>`` of type counter, gauge or histogram.

        Raises:
            ValueError: the family was already started (the format allows each name once).
        """
        full = PREFIX + name
        if full in self._families:
            raise ValueError(f"metric family {full} written twice")
        self._families.add(full)
        self._lines.append(f"# HELP {full} {help_text}")
        self._lines.append(f"# TYPE {full} {kind}")

    def sample(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """One sample line of ``linegate_<name>``."""
        self._lines.append(f"{PREFIX}{name}{format_labels(_labels(labels))} {format_value(value)}")

    def gauge(self, name: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        """A gauge family with its samples."""
        self.family(name, "gauge", help_text)
        for labels, value in samples:
            self.sample(name, value, labels)

    def counter(self, name: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        """A counter family (``name`` ends in ``_total``) with its samples."""
        self.family(name, "counter", help_text)
        for labels, value in samples:
            self.sample(name, value, labels)

    def text(self) -> str:
        """The exposition, newline-terminated."""
        return "\n".join(self._lines) + "\n"


@dataclass(slots=True)
class Counter:
    """A monotonically increasing count per label set."""

    name: str
    help_text: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Add ``amount`` (never negative) to the count of ``labels``.

        Raises:
            ValueError: ``amount`` is negative.
        """
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = _labels(labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, labels: Mapping[str, str] | None = None) -> float:
        """The current count of ``labels`` (0 if never incremented)."""
        return self.values.get(_labels(labels), 0.0)

    def write(self, out: Exposition) -> None:
        """Append this counter's family to ``out``."""
        out.counter(self.name, self.help_text, ((dict(k), v) for k, v in sorted(self.values.items())))


@dataclass(slots=True)
class _Buckets:
    counts: list[int]
    total: float = 0.0
    count: int = 0


@dataclass(slots=True)
class Histogram:
    """Observations counted into cumulative buckets per label set (upper bounds in seconds)."""

    name: str
    help_text: str
    buckets: Sequence[float] = DEFAULT_BUCKETS
    series: dict[Labels, _Buckets] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if list(self.buckets) != sorted(set(self.buckets)) or not self.buckets:
            raise ValueError("histogram buckets must be distinct and increasing")

    def observe(self, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Count one observation of ``value`` for ``labels``."""
        key = _labels(labels)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Buckets([0] * len(self.buckets))
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.buckets):
            series.counts[index] += 1
        series.total += value
        series.count += 1

    def count(self, labels: Mapping[str, str] | None = None) -> int:
        """How many observations ``labels`` has."""
        series = self.series.get(_labels(labels))
        return series.count if series else 0

    def write(self, out: Exposition) -> None:
        """Append this histogram's family: ``_bucket`` lines (cumulative, ``le``), ``_sum``, ``_count``."""
        out.family(self.name, "histogram", self.help_text)
        for key, series in sorted(self.series.items()):
            cumulative = 0
            for bound, n in zip(self.buckets, series.counts, strict=True):
                cumulative += n
                out.sample(f"{self.name}_bucket", cumulative, {**dict(key), "le": format_value(bound)})
            out.sample(f"{self.name}_bucket", series.count, {**dict(key), "le": "+Inf"})
            out.sample(f"{self.name}_sum", series.total, dict(key))
            out.sample(f"{self.name}_count", series.count, dict(key))


class Metrics:
    """The figures measured by the gateway itself (the rest are read at scrape time)."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.started = time.time()
        self.publish_seconds = Histogram(
            "sink_publish_seconds",
            "Time from handing a batch to a sink until the far side confirmed it",
            buckets,
        )
        self.sent = Counter("sink_send_msgs_total", "Events a sink delivered (confirmed)")
        self.send_errors = Counter(
            "sink_send_msg_errors_total", "Events in batches a sink failed to deliver (retried)"
        )
        self.published = Counter(
            "machine_published_events_total", "Events of a CFX handle delivered by a sink (confirmed)"
        )

    def write(self, out: Exposition) -> None:
        """Append every measured family to ``out``."""
        for metric in (self.sent, self.send_errors, self.published):
            metric.write(out)
        self.publish_seconds.write(out)


class TimedSink:
    """A sink that measures another: publish-confirm latency, events delivered and failed.

    It has the wrapped sink's ``name``, so the outbox cursor is the same.

    Args:
        sink: the sink to measure.
        metrics: where the figures go.
    """

    def __init__(self, sink: Sink, metrics: Metrics) -> None:
        self.sink = sink
        self.name = sink.name
        self.metrics = metrics
        # Keep the wrapped sink's pipelining (see gateway.sinks.base.drain).
        self.pipeline_depth = int(getattr(sink, "pipeline_depth", 1))

    @property
    def connected(self) -> bool | None:
        """The wrapped sink's broker connection (None where it has none), for /healthz."""
        up = getattr(self.sink, "connected", None)
        return None if up is None else bool(up)

    async def publish(self, batch: list[StoredEvent]) -> None:
        """Publish through the wrapped sink; errors propagate unchanged after being counted."""
        labels = {"sink": self.name}
        started = time.perf_counter()
        try:
            await self.sink.publish(batch)
        except Exception:
            self.metrics.send_errors.inc(len(batch), labels)
            raise
        self.metrics.publish_seconds.observe(time.perf_counter() - started, labels)
        self.metrics.sent.inc(len(batch), labels)
        for event in batch:
            self.metrics.published.inc(1, {"handle": event.source, "sink": self.name})


__all__ = [
    "CONTENT_TYPE",
    "Counter",
    "Exposition",
    "Histogram",
    "Metrics",
    "TimedSink",
    "escape_label",
    "format_labels",
    "format_value",
]
