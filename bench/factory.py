"""A simulated factory: N lines of M machines, one ``linegate run`` per line, a three-node cluster.

What runs, each in processes of its own:

- a three-node RabbitMQ cluster (``gateway.testing.rabbitmq_cluster``, ports of its own, data
  under the work directory);
- the simulated lines: ``linegate simulate --factory FILE`` in ``--sim-processes`` processes,
  the lines dealt round-robin (one line file per line, written here);
- one ``linegate run`` per line, ``[amqp] urls`` naming the three nodes: the first line's
  gateway lists them in order (so it is on the first node), the others with
  ``failover = "random"`` (spread over the cluster); each also writes every event it commits
  to a JSON-lines file (``--events-file``), the record of what it committed;
- in this process, the consumer: one quorum queue bound to the exchange, read on the third node.

With ``--kill-node``, the node the first gateway is connected to is killed (``kill -9`` of its
Erlang VM) halfway through.

At the end the gateways are stopped (SIGTERM: they deliver what their outbox holds) and the
figures printed: ``lost N`` (events some gateway committed that the consumer never got), events/s,
end-to-end latency (the CFX envelope's TimeStamp, stamped by the machine or, for a machine that
does not speak CFX, by the gateway when it observed the change, to the consumer's receive
time; p50, p99, max), CPU and RSS of each gateway, and what the node kill did: which gateways
moved, how long until each published again, how long the events stamped around the kill took
to reach the consumer (per event: a gap between arrivals may only be the machines being quiet).

Run: ``python bench/factory.py --lines 2 --machines 5 --seconds 60 --kill-node``
(``--time-scale`` speeds the simulated machines up; 1 is their normal pace).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

# Run as a script: bench/ is on sys.path, the repository one level up.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from soak import SHORT_NAMES, cpu_seconds, free_port, machine_config, proc_status

from gateway.testing.rabbitmq_cluster import RabbitMQCluster, RabbitNode

#: The machine kinds a line is made of, in order, repeated up to ``--machines``.
SHAPE = ("placement", "reflow_oven", "selective_solder", "coater")
#: Options the default line gives these kinds (simulators/lines/default.toml).
OPTIONS: dict[str, dict[str, float]] = {
    "reflow_oven": {"tunnel_mm": 600.0, "tau": 60.0},
    "selective_solder": {"tau": 60.0},
}
PASSWORD_ENV = "LINEGATE_FACTORY_AMQP_PASSWORD"
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 120.0
#: Seconds after the node kill whose events the kill report follows.
KILL_WINDOW = 15.0


@dataclasses.dataclass
class LineRun:
    """One line: its plan, files and (once started) its gateway."""

    name: str
    kinds: tuple[str, ...]
    directory: Path
    events_ports: dict[str, int] = dataclasses.field(default_factory=dict)
    gateway: subprocess.Popen[bytes] | None = None
    cpu: float = 0.0
    rss_peak_kb: int = 0
    rss_last_kb: int = 0
    confirm_ms: float | None = None

    def machine_id(self, index: int) -> str:
        return f"{self.name}-{SHORT_NAMES[self.kinds[index]]}{index + 1}"

    def handle(self, index: int) -> str:
        return f"factory.{self.name}.{SHORT_NAMES[self.kinds[index]]}{index + 1}"

    @property
    def log(self) -> Path:
        return self.directory / "gateway.log"

    @property
    def events_file(self) -> Path:
        return self.directory / "events.jsonl"

    @property
    def outbox(self) -> Path:
        return self.directory / "outbox.sqlite"


# --- the simulated lines ---------------------------------------------------------------------------


def write_line_file(line: LineRun, time_scale: float, seed: int) -> Path:
    """The line file ``linegate simulate`` reads; placement machines push to the gateway's listener."""
    out = [
        f'name = "{line.name}"',
        f"time_scale = {time_scale}",
        f"seed = {seed}",
        "",
        "[source]",
        f'barcode_prefix = "{line.name.upper()}-"',
    ]
    for index, kind in enumerate(line.kinds):
        options: dict[str, Any] = dict(OPTIONS.get(kind, {}))
        if kind == "placement":
            options |= {
                "publish_uri": f"amqp://127.0.0.1:{line.events_ports[line.machine_id(index)]}",
                "publish_address": "linegate",
            }
        out += [
            "",
            "[[machines]]",
            f'kind = "{kind}"',
            f'id = "{line.machine_id(index)}"',
            f'handle = "{line.handle(index)}"',
        ]
        if options:
            out.append("[machines.options]")
            out += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    path = line.directory / "line-sim.toml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def start_simulators(
    lines: list[LineRun], processes: int, time_scale: float, workdir: Path
) -> tuple[list[subprocess.Popen[bytes]], dict[str, list[dict[str, Any]]]]:
    """``linegate simulate --factory`` per share of the lines; every line's endpoints."""
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    for n in range(processes):
        share = lines[n::processes]
        if not share:
            continue
        factory = workdir / f"factory-{n + 1}.toml"
        files = [str(write_line_file(line, time_scale, seed=i + 1)) for i, line in enumerate(share)]
        factory.write_text(f'name = "share{n + 1}"\nlines = {json.dumps(files)}\n', encoding="utf-8")
        endpoints = workdir / f"endpoints-{n + 1}.json"
        log = (workdir / f"simulate-{n + 1}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "simulate",
                "--factory",
                str(factory),
                "--endpoints-json",
                str(endpoints),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LINEGATE_LOG_LEVEL": "error"},
        )
        procs.append((proc, endpoints))
    found: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + 180
    for proc, path in procs:
        while not path.exists():  # written by rename once every machine listens
            if proc.poll() is not None:
                raise RuntimeError(f"linegate simulate exited with {proc.returncode} (log in {workdir})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the simulated lines did not start (log in {workdir})")
            time.sleep(0.2)
        document = json.loads(path.read_text(encoding="utf-8"))
        for line in document.get("lines", [document]):
            found[line["line"]] = line["machines"]
    return [p for p, _ in procs], found


# --- the gateways ----------------------------------------------------------------------------------


def write_gateway_config(
    line: LineRun, endpoints: list[dict[str, Any]], urls: list[str], failover: str, exchange: str
) -> Path:
    """``linegate run``'s config for one line: every machine, its Hermes vertical channel, the cluster."""
    listed = ", ".join(f'"{url}"' for url in urls)
    out = [
        f'[line]\nname = "{line.name}"\n',
        f'[outbox]\npath = "{line.outbox}"\n',
        f'[amqp]\nurls = [{listed}]\nfailover = "{failover}"\npassword_env = "{PASSWORD_ENV}"\n'
        f'exchange = "{exchange}"\n',
        "[listener]\nport = 0\n",
        "[http]\nport = 0\n",
    ]
    for end in endpoints:
        out.append(machine_config(end, line.events_ports))
    path = line.directory / "line.toml"
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def start_gateway(line: LineRun, config: Path, env: dict[str, str]) -> None:
    """``linegate run CONFIG`` for one line, its log and the record of what it committed beside."""
    with line.log.open("wb") as out:
        line.gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", str(config), "--events-file", str(line.events_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def confirm_ms(log: Path) -> float | None:
    """The gateway's mean AMQP publish-to-confirm time per batch so far, from its /metrics."""
    import urllib.request

    prefix = "linegate: dashboard at "
    rows = log.read_text(errors="replace").splitlines()
    base = next((t.removeprefix(prefix).strip() for t in rows if t.startswith(prefix)), None)
    if base is None:
        return None
    with urllib.request.urlopen(base.rstrip("/") + "/metrics", timeout=10) as response:
        text = response.read().decode()
    total = count = 0.0
    for row in text.splitlines():
        if 'sink="amqp"' in row and row.startswith("linegate_sink_publish_seconds_sum"):
            total = float(row.rpartition(" ")[2])
        elif 'sink="amqp"' in row and row.startswith("linegate_sink_publish_seconds_count"):
            count = float(row.rpartition(" ")[2])
    return round(1000 * total / count, 1) if count else None


def log_records(log: Path, name: str) -> list[dict[str, Any]]:
    """The gateway's JSON log records called ``name``."""
    records = []
    for text in log.read_text(errors="replace").splitlines():
        if text.startswith("{") and f'"{name}"' in text:
            with contextlib.suppress(ValueError):
                record = json.loads(text)
                if record.get("event") == name:
                    records.append(record)
    return records


def publisher_connects(log: Path) -> list[dict[str, Any]]:
    """The AMQP publisher's ``connect.complete`` records (they name the node; others do not)."""
    return [r for r in log_records(log, "connect.complete") if "node" in r]


def record_time(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["timestamp"])).timestamp()


def node_of(cluster: RabbitMQCluster, url: str) -> RabbitNode:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    return cluster.node_for_port(port)


def committed_ids(events_file: Path) -> set[str]:
    ids = set()
    with contextlib.suppress(FileNotFoundError):
        for raw in events_file.read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                ids.add(json.loads(raw)["UniqueID"])
    return ids


def pending_amqp(outbox: Path) -> int:
    db = sqlite3.connect(outbox)
    try:
        return int(db.execute("SELECT count(*) FROM pending WHERE sink = 'amqp'").fetchone()[0])
    finally:
        db.close()


# --- the consumer ----------------------------------------------------------------------------------

_STAMP = re.compile(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def stamp_seconds(text: str) -> float:
    """A CFX TimeStamp (ISO 8601, up to 7 fraction digits) as POSIX seconds."""
    match = _STAMP.match(text)
    if match is None:
        raise ValueError(f"not a CFX TimeStamp: {text!r}")
    head, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(f"{head}.{(fraction or '0')[:6].ljust(6, '0')}{zone}").timestamp()


class Consumer:
    """Every event's UniqueID, arrival and latency; duplicates counted."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.duplicates = 0
        # (arrival, TimeStamp, MessageName), both POSIX seconds
        self.stamps: list[tuple[float, float, str]] = []
        self.arrivals: list[float] = []
        self.arrived = asyncio.Event()

    def take(self, body: bytes) -> None:
        now = time.time()
        envelope = json.loads(body)
        unique_id = envelope["UniqueID"]
        if unique_id in self.seen:
            self.duplicates += 1
            return
        self.seen.add(unique_id)
        self.arrivals.append(now)
        self.arrived.set()
        with contextlib.suppress(KeyError, ValueError):
            self.stamps.append((now, stamp_seconds(envelope["TimeStamp"]), envelope["MessageName"]))


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- the run ---------------------------------------------------------------------------------------


async def run_factory(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import aio_pika

    kinds = tuple(SHAPE[i % len(SHAPE)] for i in range(args.machines))
    lines = [LineRun(f"l{n + 1:02d}", kinds, workdir / f"l{n + 1:02d}") for n in range(args.lines)]
    taken: set[int] = set()
    for line in lines:
        line.directory.mkdir(parents=True)
        line.events_ports = {
            line.machine_id(i): free_port(taken) for i, kind in enumerate(kinds) if kind == "placement"
        }
    print(
        f"factory: {args.lines} lines x {args.machines} machines "
        f"({' > '.join(SHORT_NAMES[k] for k in kinds)}), "
        f"time scale {args.time_scale:g}, {args.seconds:g} s, {args.sim_processes} simulator process(es), "
        f"workdir {workdir}",
        flush=True,
    )
    cluster = RabbitMQCluster(workdir / "cluster")
    await asyncio.to_thread(cluster.start)
    print(
        f"factory: cluster of 3 nodes up in {cluster.start_seconds:.1f} s: {', '.join(cluster.urls)}",
        flush=True,
    )
    sims: list[subprocess.Popen[bytes]] = []
    consumer = Consumer()
    report: dict[str, Any] = {"lines": args.lines, "machines": args.machines, "time_scale": args.time_scale}
    exchange = f"factory-{uuid.uuid4().hex[:8]}"
    urls = [f"amqp://guest@127.0.0.1:{node.amqp_port}/" for node in cluster.nodes]
    kill_at: float | None = None
    killed: RabbitNode | None = None
    try:
        connection = await aio_pika.connect(cluster.nodes[2].url)
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            f"{exchange}.mes", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(ex, "#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            consumer.take(message.body)

        await queue.consume(on_message, no_ack=True)
        sims, endpoints = await asyncio.to_thread(
            start_simulators, lines, args.sim_processes, args.time_scale, workdir
        )
        env = {**os.environ, PASSWORD_ENV: "guest", "LINEGATE_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"}
        for index, line in enumerate(lines):
            config = write_gateway_config(
                line, endpoints[line.name], urls, "in_order" if index == 0 else "random", exchange
            )
            start_gateway(line, config, env)
        # Counted from when every gateway publishes: on a busy machine ten of them take a while.
        started = time.monotonic()
        for line in lines:
            while not publisher_connects(line.log):
                assert line.gateway is not None
                if line.gateway.poll() is not None or time.monotonic() - started > 300:
                    raise RuntimeError(f"the gateway of {line.name} did not come up: {line.log}")
                await asyncio.sleep(0.5)
        print(
            f"factory: {len(lines)} gateways publishing after {time.monotonic() - started:.1f} s", flush=True
        )
        began = time.monotonic()
        measure_from = time.time() + args.warmup
        # CPU from here on: the start-up (imports, connects) is not the running cost.
        cpu_at_start = {
            line.name: cpu_seconds(line.gateway.pid) for line in lines if line.gateway is not None
        }
        print(
            f"\n{'t (s)':>6} {'events':>8} {'ev/s':>7} {'RSS max MB':>10} {'CPU % (all gateways)':>21}",
            flush=True,
        )
        previous_t, previous_events, previous_cpu = 0.0, 0, 0.0
        while (t := time.monotonic() - began) < args.seconds:
            await asyncio.sleep(min(args.interval, max(0.0, args.seconds - t)))
            t = time.monotonic() - began
            cpu_total = 0.0
            for line in lines:
                assert line.gateway is not None
                if line.gateway.poll() is not None:
                    raise RuntimeError(
                        f"the gateway of {line.name} exited with {line.gateway.returncode}: {line.log}"
                    )
                status = proc_status(line.gateway.pid)
                line.cpu = cpu_seconds(line.gateway.pid) - cpu_at_start[line.name]
                line.rss_last_kb, line.rss_peak_kb = status["VmRSS"], status["VmHWM"]
                cpu_total += line.cpu
            events = len(consumer.seen)
            rate = (events - previous_events) / (t - previous_t)
            cpu_share = 100.0 * (cpu_total - previous_cpu) / (t - previous_t)
            rss_max = max(line.rss_last_kb for line in lines) / 1024
            print(f"{t:6.0f} {events:8d} {rate:7.1f} {rss_max:10.1f} {cpu_share:21.1f}", flush=True)
            previous_t, previous_events, previous_cpu = t, events, cpu_total
            if args.kill_node and kill_at is None and t >= args.seconds / 2:
                connected = publisher_connects(lines[0].log)
                if connected:
                    killed = node_of(cluster, str(connected[-1]["node"]))
                    kill_at = time.time()
                    await asyncio.to_thread(cluster.kill, killed)
                    print(
                        f"factory: kill -9 of {killed.name} (the first gateway's node) at t={t:.0f} s",
                        flush=True,
                    )
        run_seconds = time.monotonic() - began
        for line in lines:
            line.confirm_ms = await asyncio.to_thread(confirm_ms, line.log)
        # Stop the gateways: each delivers what its outbox holds, then exits.
        for line in lines:
            assert line.gateway is not None
            line.gateway.send_signal(signal.SIGTERM)
        for line in lines:
            assert line.gateway is not None
            code = await asyncio.to_thread(line.gateway.wait, 90)
            if code != 0:
                print(f"factory: the gateway of {line.name} exited with {code}", flush=True)
        left = {line.name: pending_amqp(line.outbox) for line in lines}
        committed = set().union(*(committed_ids(line.events_file) for line in lines))
        with contextlib.suppress(TimeoutError):  # the last deliveries on their way through the queue
            async with asyncio.timeout(30):
                while committed - consumer.seen:
                    consumer.arrived.clear()
                    await consumer.arrived.wait()
        lost = committed - consumer.seen
        await queue.delete(if_unused=False, if_empty=False)
        await ex.delete(if_unused=False)
        await connection.close()
    finally:
        for line in lines:
            if line.gateway is not None and line.gateway.poll() is None:
                line.gateway.kill()
                line.gateway.wait()
        for sim in sims:
            sim.send_signal(signal.SIGTERM)
        for sim in sims:
            try:
                await asyncio.to_thread(sim.wait, 60)
            except subprocess.TimeoutExpired:
                sim.kill()
        await asyncio.to_thread(cluster.stop)

    # Events a machine stamped before its gateway ran (a CFX machine keeps them until the
    # gateway's listener is up) or during the warm-up measure the start, not the path.
    measured = [(at, at - stamp, name) for at, stamp, name in consumer.stamps if stamp >= measure_from]
    latencies = [seconds for _, seconds, _ in measured]
    steady = [s for at, s, _ in measured if kill_at is None or not kill_at - 1 <= at <= kill_at + 15]
    by_name: dict[str, list[float]] = {}
    for _, seconds, name in measured:
        by_name.setdefault(name, []).append(seconds)
    report |= {
        "run_seconds": round(run_seconds, 1),
        "committed": len(committed),
        "delivered": len(committed & consumer.seen),
        "lost": len(lost),
        "duplicates": consumer.duplicates,
        "left_in_outboxes": sum(left.values()),
        "events_per_s": round(len(consumer.seen) / run_seconds, 1),
        "latency_events": len(measured),
        "latency_ms": {
            "p50": round(1000 * percentile(latencies, 0.50), 1),
            "p99": round(1000 * percentile(latencies, 0.99), 1),
            "max": round(1000 * max(latencies, default=float("nan")), 1),
            "p99_outside_kill": round(1000 * percentile(steady, 0.99), 1),
            "by_message": {
                name: {
                    "count": len(v),
                    "p50": round(1000 * percentile(v, 0.5), 1),
                    "max": round(1000 * max(v), 1),
                }
                for name, v in sorted(by_name.items(), key=lambda item: -max(item[1]))
            },
        },
        "gateways": {
            line.name: {
                "cpu_percent": round(100 * line.cpu / run_seconds, 1),
                "rss_mb": round(line.rss_last_kb / 1024, 1),
                "rss_peak_mb": round(line.rss_peak_kb / 1024, 1),
                "amqp_confirm_ms_mean": line.confirm_ms,
            }
            for line in lines
        },
    }
    if killed is not None and kill_at is not None:
        report["kill"] = kill_report(lines, cluster, killed, kill_at, consumer)
    return report


def kill_report(
    lines: list[LineRun], cluster: RabbitMQCluster, killed: RabbitNode, at: float, consumer: Consumer
) -> dict[str, Any]:
    """Which gateways were on the killed node, when each published again, the consumer's longest wait."""
    moved = {}
    for line in lines:
        before = [r for r in publisher_connects(line.log) if record_time(r) < at]
        if not before or node_of(cluster, str(before[-1]["node"])) is not killed:
            continue
        after = [r for r in publisher_connects(line.log) if record_time(r) >= at]
        moved[line.name] = (
            {
                "to": node_of(cluster, str(after[0]["node"])).name,
                "after_s": round(record_time(after[0]) - at, 2),
            }
            if after
            else None
        )
    # What the consumer waited for is measured per event (stamp to arrival): a gap between
    # arrivals is no stall when the machines had nothing to say (at their normal pace the
    # whole factory is quiet for 20 s at a time), and it hides an event held back behind one.
    window = [
        (arrival, stamp) for arrival, stamp, _ in consumer.stamps if at - 2 <= stamp <= at + KILL_WINDOW
    ]
    later = [(stamp, arrival) for arrival, stamp, _ in consumer.stamps if stamp >= at]
    first = min(later, default=None)
    around = [a for a in consumer.arrivals if at - 5 <= a <= at + 30]
    gaps = [b - a for a, b in itertools.pairwise(around)]
    stalled = sum(len(log_records(line.log, "publish.confirms_stalled")) for line in lines)
    return {
        "node": killed.name,
        "gateways_moved": moved,
        "window_events": len(window),
        "window_longest_wait_s": round(max((a - s for a, s in window), default=0.0), 2),
        "first_after": None
        if first is None
        else {"stamped_s": round(first[0] - at, 2), "waited_s": round(first[1] - first[0], 2)},
        "consumer_longest_gap_s": round(max(gaps, default=0.0), 2),
        "confirms_stalled_logs": stalled,
    }


def print_report(report: dict[str, Any]) -> None:
    latency = report["latency_ms"]
    print(f"\nlost {report['lost']}")
    print(
        f"committed {report['committed']}, delivered {report['delivered']}, "
        f"duplicates {report['duplicates']}, left in outboxes after the stop {report['left_in_outboxes']}"
    )
    print(f"events/s {report['events_per_s']} (over {report['run_seconds']} s)")
    print(f"latency of the {report['latency_events']} events stamped after the warm-up:")
    p99_ok = "ok" if latency["p99"] <= TARGET_P99_MS else f"over the {TARGET_P99_MS:g} ms target"
    print(
        f"latency machine event -> consumer: p50 {latency['p50']} ms, p99 {latency['p99']} ms ({p99_ok}), "
        f"max {latency['max']} ms; p99 outside the kill window {latency['p99_outside_kill']} ms"
    )
    print(
        "slowest message kinds (ms): "
        + "; ".join(
            f"{name} n={v['count']} p50 {v['p50']} max {v['max']}"
            for name, v in list(latency["by_message"].items())[:4]
        )
    )
    print(f"{'gateway':<8} {'CPU %':>6} {'RSS MB':>7} {'peak MB':>8} {'confirm ms':>10}")
    for name, g in report["gateways"].items():
        flag = "" if g["rss_peak_mb"] <= TARGET_RSS_MB else f"  over {TARGET_RSS_MB:g} MB"
        confirm = "-" if g["amqp_confirm_ms_mean"] is None else f"{g['amqp_confirm_ms_mean']:.1f}"
        figures = f"{g['cpu_percent']:6.1f} {g['rss_mb']:7.1f} {g['rss_peak_mb']:8.1f} {confirm:>10}"
        print(f"{name:<8} {figures}{flag}")
    kill = report.get("kill")
    if kill:
        print(f"node kill: {kill['node']}; gateways on it: {len(kill['gateways_moved'])}")
        for name, moved in kill["gateways_moved"].items():
            print(
                f"  {name}: "
                + (f"on {moved['to']} {moved['after_s']} s after the kill" if moved else "did not reconnect")
            )
        first = kill["first_after"]
        print(
            f"  events stamped from 2 s before to {KILL_WINDOW:g} s after the kill: {kill['window_events']}, "
            f"the slowest reached the consumer {kill['window_longest_wait_s']} s after its stamp; "
            + (
                "no event stamped after the kill"
                if first is None
                else f"the first stamped after it ({first['stamped_s']} s after) took {first['waited_s']} s"
            )
        )
        print(
            f"  longest gap between arrivals around the kill {kill['consumer_longest_gap_s']} s "
            "(idle machines included: not a stall by itself); "
            f"publish.confirms_stalled logged {kill['confirms_stalled_logs']} time(s)"
        )
    load = os.getloadavg()
    print(
        f"load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs (shared)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=2, help="simulated lines, one gateway each")
    parser.add_argument("--machines", type=int, default=5, help="machines per line")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the lines run")
    parser.add_argument("--kill-node", action="store_true", help="kill -9 the first gateway's node halfway")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--sim-processes", type=int, default=2, help="linegate simulate processes")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds after the gateways start before latency counts"
    )
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between progress rows")
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.lines < 1 or args.machines < 1 or args.seconds <= 0 or args.sim_processes < 1:
        parser.error("--lines, --machines, --sim-processes must be at least 1 and --seconds positive")
    args.sim_processes = min(args.sim_processes, args.lines)
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="linegate-factory-")))
        else:
            workdir = args.workdir
            workdir.mkdir(parents=True, exist_ok=False)
        report = asyncio.run(run_factory(args, workdir))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
