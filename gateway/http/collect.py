"""``/metrics``: the gateway's figures in Prometheus text format, read at scrape time.

Per machine (label ``machine``, the config id): link state (Neuron's ``link_state``: 1 connected,
0 not), observations received, CFX events produced, reconnects, adapter errors and crashes, last
round-trip time, the SEMI E10 state code, active faults and boards in process, and for a machine
that pushes its own CFX to our listener the intake backlog (transfers received and not yet
committed, bounded by the listener's credit window). For the outbox:
depth (total and per sink), age of the oldest event and events dropped at the bound. Then the
figures measured by ``gateway.metrics.Metrics`` (publish-confirm latency histogram and per-sink
delivery counts) and the SSE fan-out. For result-file machines: files processed, rejected
and refused as duplicates, and results for boards the gateway never saw. Last, the peers each
kind of server dropped (hostile or broken: ``protocols.transport.guard``), by reason.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from adapters.base import AdapterState
from adapters.cfx_native import CFXNativeAdapter
from adapters.files import FilesAdapter
from adapters.serial_reports import ScannerAdapter, TestReportAdapter
from gateway.metrics import Exposition, Metrics
from protocols.transport.guard import DROPS

if TYPE_CHECKING:
    from gateway.http.sse import SseSink
    from gateway.runtime import Gateway


def render_metrics(gateway: Gateway, metrics: Metrics | None, sse: SseSink | None) -> str:
    """The exposition text for one scrape."""
    out = Exposition()
    now = time.time()
    if metrics is not None:
        out.gauge(
            "uptime_seconds",
            "Seconds since the gateway's metrics started",
            [({}, round(now - metrics.started, 3))],
        )
    runtimes = list(gateway.machines.values())

    def per_machine(values: list[float]) -> list[tuple[dict[str, str], float]]:
        return [({"machine": r.machine_id}, v) for r, v in zip(runtimes, values, strict=True)]

    out.gauge(
        "link_state",
        "Machine link: 1 connected, 0 disconnected (connecting, backing off or stopped)",
        [
            (
                {"machine": r.machine_id, "protocol": r.adapter.protocol},
                float(r.adapter.health.state is AdapterState.CONNECTED),
            )
            for r in runtimes
        ],
    )
    out.gauge(
        "machine_reachable",
        "0 once the machine has been silent for its grace period and is reported lost in CFX, else 1",
        per_machine([float(r.normalizer.reachable) for r in runtimes]),
    )
    out.counter(
        "recv_observations_total",
        "Observations received from the machine's adapter",
        per_machine([r.observations for r in runtimes]),
    )
    out.counter(
        "send_events_total",
        "CFX events the machine's observations produced (committed to the outbox)",
        per_machine([r.events for r in runtimes]),
    )
    out.counter(
        "link_reconnects_total",
        "Sessions established after the first one",
        per_machine([max(0, r.adapter.health.connects - 1) for r in runtimes]),
    )
    out.counter(
        "adapter_errors_total",
        "Adapter sessions that ended in an error (link lost, no answer, protocol error)",
        per_machine([r.adapter.health.failures for r in runtimes]),
    )
    out.counter(
        "adapter_crashes_total",
        "Adapter supervisors restarted after an unexpected exception",
        per_machine([gateway.crashes.get(r.machine_id, 0) for r in runtimes]),
    )
    out.gauge(
        "last_rtt_ms",
        "Round-trip time of the adapter's most recent request/response, milliseconds",
        [
            ({"machine": r.machine_id}, round(r.adapter.health.last_rtt * 1000, 3))
            for r in runtimes
            if r.adapter.health.last_rtt is not None
        ],
    )
    out.gauge(
        "machine_state",
        "SEMI E10 ResourceState code the machine last reported (CFX StationStateChanged)",
        [
            ({"machine": r.machine_id}, float(r.normalizer.state.value))
            for r in runtimes
            if r.normalizer.state is not None
        ],
    )
    out.gauge(
        "reading",
        "A machine's latest plain reading ([readings] of its map), in the unit its label names",
        [
            ({"machine": r.machine_id, "name": name, "unit": latest.unit or ""}, float(latest.value))
            for r in runtimes
            for name, latest in r.normalizer.readings.items()
            if isinstance(latest.value, bool | int | float)  # text readings: /api/line only
        ],
    )
    out.gauge(
        "active_faults",
        "Faults raised and not cleared",
        per_machine([len(r.normalizer.faults) for r in runtimes]),
    )
    out.gauge(
        "boards_in_process",
        "Boards between WorkStarted and WorkCompleted",
        per_machine([r.boards_in_process() for r in runtimes]),
    )
    out.gauge(
        "intake_backlog",
        "Envelopes' transfers a CFX machine pushed to us, received and not yet committed (not yet"
        " acknowledged to the machine); at most the listener's credit window",
        [
            ({"machine": r.machine_id}, float(r.adapter.intake_backlog))
            for r in runtimes
            if isinstance(r.adapter, CFXNativeAdapter)
        ],
    )
    files = [r for r in runtimes if isinstance(r.adapter, FilesAdapter)]
    out.counter(
        "result_files_total",
        "Result files handled: processed (events committed), rejected (malformed, moved aside with"
        " a reason), duplicate (content already processed, moved aside)",
        [
            ({"machine": r.machine_id, "outcome": outcome}, float(getattr(r.adapter.stats, attr)))
            for r in files
            if isinstance(r.adapter, FilesAdapter)
            for outcome, attr in (
                ("processed", "processed"),
                ("rejected", "rejected"),
                ("duplicate", "duplicates"),
            )
        ],
    )
    reports = [r for r in runtimes if isinstance(r.adapter, ScannerAdapter | TestReportAdapter)]
    out.counter(
        "serial_report_lines_total",
        "Lines from report-only serial devices that published nothing: garbage (not what the"
        " device sends), double_read (a scanner's repeat within its window), no_read (published"
        " as IdentifiersNotRead)",
        [
            ({"machine": r.machine_id, "outcome": outcome}, float(getattr(r.adapter, attr, 0)))
            for r in reports
            for outcome, attr in (
                ("garbage", "garbage_lines"),
                ("double_read", "double_reads"),
                ("no_read", "no_reads"),
            )
        ],
    )
    out.counter(
        "unknown_board_results_total",
        "Inspection and test results for boards the gateway never saw (published with the nil TransactionId)",
        [({"machine": r.machine_id}, float(r.normalizer.unknown_boards)) for r in [*files, *reports]],
    )
    outbox = gateway.outbox
    out.gauge("outbox_depth", "Events stored in the outbox", [({}, outbox.depth())])
    out.gauge(
        "outbox_sink_depth",
        "Events a sink has still to deliver",
        [({"sink": s}, outbox.depth(s)) for s in outbox.sinks],
    )
    out.gauge(
        "outbox_oldest_age_seconds",
        "Seconds since the oldest stored event was put (0 when empty)",
        [({}, round(outbox.oldest_age(now), 3))],
    )
    out.counter("outbox_dropped_total", "Events dropped at the outbox bound", [({}, outbox.dropped)])
    if metrics is not None:
        metrics.write(out)
    if sse is not None:
        out.gauge("sse_clients", "Clients connected to /api/events", [({}, len(sse.clients))])
        out.counter(
            "sse_dropped_clients_total",
            "Event-stream clients dropped for reading too slowly",
            [({}, sse.dropped_clients)],
        )
    out.counter(
        "peer_drops_total",
        "Peers a server dropped: past its connection cap, or too slow to handshake, send or read",
        [({"server": kind, "reason": reason}, count) for (kind, reason), count in sorted(DROPS.items())],
    )
    return out.text()


__all__ = ["render_metrics"]
