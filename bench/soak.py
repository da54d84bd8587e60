"""Soak: simulated machines through ``linegate run`` for a while, the gateway's memory over time.

The machines run in simulator processes of their own (``--sim-processes``), so the measured
process is the gateway alone: ``linegate run CONFIG``, the production entry point, as a
subprocess with the real sinks (AMQP to RabbitMQ on a unique exchange, drained by a consumer in
this process, and the SQLite outbox). Every ``--interval`` seconds this process reads the
gateway's ``/proc/<pid>/status`` (VmRSS, VmHWM, Threads) and its ``/metrics`` (events committed
to the outbox, outbox backlog), and prints one row of the curve.

The default mix is 100 machines in 40 lines, boards flowing over Hermes through each line and
every machine watched on its Hermes vertical channel (so the normalizer tracks boards):

- 10 full lines like the default line: placement (CFX over AMQP 1.0) → reflow oven (Modbus TCP)
  → selective solder (OPC UA) → coater (serial over TCP);
- 30 short lines: reflow oven → coater (a second-side reflow feeding a coating cell);

that is 10 placement, 40 reflow ovens, 10 selective solder and 40 coaters. ``--machines N``
scales the same proportions (about one full line per ten machines).

At the end: peak RSS, RSS at the end of the warm-up, growth after it, events, and whether every
machine kept producing events after the warm-up. ``--json PATH`` writes every sample and those
figures. ``--tracemalloc`` runs the gateway under tracemalloc (its RSS is then inflated) and prints
what grew between the end of the warm-up and the end.

Run: ``python bench/soak.py [--machines 100] [--seconds 600] [--time-scale 20] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

# Run as a script: bench/ is on sys.path, and the report's module sits beside this one.
from soak_report import TARGET_MB, Sample, bar, compare_snapshots, log_levels, print_report, trend_mb_per_hour

FULL_LINE = ("placement", "reflow_oven", "selective_solder", "coater")
SHORT_LINE = ("reflow_oven", "coater")
SHORT_NAMES = {"placement": "place", "reflow_oven": "oven", "selective_solder": "solder", "coater": "coat"}
PROTOCOLS = {
    "placement": "CFX/AMQP 1.0",
    "reflow_oven": "Modbus TCP",
    "selective_solder": "OPC UA",
    "coater": "serial",
}
# Messages the gateway sends for a machine on its own (presence); they prove nothing flows.
PRESENCE = (".CFX.EndpointConnected", ".CFX.EndpointShuttingDown", ".CFX.Heartbeat")
PASSWORD_ENV = "LINEGATE_SOAK_AMQP_PASSWORD"


@dataclasses.dataclass(frozen=True, slots=True)
class LinePlan:
    """One simulated line: its name, machine kinds in order, and the ids and handles they get."""

    name: str
    kinds: tuple[str, ...]
    seed: int

    def machine_id(self, index: int) -> str:
        return f"{self.name}-{SHORT_NAMES[self.kinds[index]]}{index + 1}"

    def handle(self, index: int) -> str:
        return f"soak.{SHORT_NAMES[self.kinds[index]]}.{self.name}-{index + 1}"


def plan_lines(machines: int, shape: Sequence[str] | None = None) -> list[LinePlan]:
    """About one full line per ten machines, the rest short lines (one odd oven on its own);
    with ``shape``, lines of those kinds only (the last one cut short), to cost one kind."""
    if machines <= 0:
        return []
    if shape:
        cut = [tuple(shape)] * (machines // len(shape))
        if machines % len(shape):
            cut.append(tuple(shape[: machines % len(shape)]))
        return [LinePlan(f"l{i + 1:02d}", k, seed=i + 1) for i, k in enumerate(cut)]
    full = max(1, round(machines / 10)) if machines >= len(FULL_LINE) else 0
    kinds: list[tuple[str, ...]] = [FULL_LINE] * full
    rest = machines - len(FULL_LINE) * full
    kinds += [SHORT_LINE] * (rest // 2)
    if rest % 2:
        kinds.append(("reflow_oven",))
    return [LinePlan(f"l{i + 1:02d}", k, seed=i + 1) for i, k in enumerate(kinds)]


def describe_mix(plans: Sequence[LinePlan]) -> str:
    """``100 machines (10 placement CFX/AMQP 1.0, ...) in 40 lines (10 x a>b, ...)``."""
    kinds = collections.Counter(k for p in plans for k in p.kinds)
    shapes = collections.Counter(" > ".join(SHORT_NAMES[k] for k in p.kinds) for p in plans)
    parts = ", ".join(f"{kinds[k]} {k} ({PROTOCOLS[k]})" for k in PROTOCOLS if kinds[k])
    lines = ", ".join(f"{n} x {shape}" for shape, n in shapes.items())
    return f"{sum(kinds.values())} machines: {parts}; {len(plans)} lines: {lines}"


# --- the simulator processes ----------------------------------------------------------------------


async def serve() -> None:
    """Simulator process: read the lines to run (one JSON line on stdin), start them, print their
    endpoints as one JSON line, start the board sources on ``start``, run until stdin closes."""
    import structlog

    from simulators.line import Line, LineSpec, default_line

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    loop = asyncio.get_running_loop()
    request = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    default = default_line()
    templates = {m.kind: m for m in default.machines}
    async with contextlib.AsyncExitStack() as stack:
        lines: list[tuple[str, Line]] = []
        for item in request["lines"]:
            plan = LinePlan(item["name"], tuple(item["kinds"]), item["seed"])
            machines = []
            for index, kind in enumerate(plan.kinds):
                options = dict(templates[kind].options)
                if kind == "placement":
                    events_port = item["events_ports"][plan.machine_id(index)]
                    options |= {
                        "publish_uri": f"amqp://127.0.0.1:{events_port}",
                        "publish_address": "linegate",
                    }
                machines.append(
                    dataclasses.replace(
                        templates[kind],
                        machine_id=plan.machine_id(index),
                        handle=plan.handle(index),
                        options=options,
                    )
                )
            spec = LineSpec(
                machines=tuple(machines),
                name=plan.name,
                time_scale=request["time_scale"],
                seed=plan.seed,
                source=default.source,
            )
            lines.append((plan.name, await stack.enter_async_context(Line(spec, start_source=False))))
        endpoints = {name: [e.to_json() for e in line.endpoints()] for name, line in lines}
        print(json.dumps(endpoints), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "start"
        for _, line in lines:
            line.start_source()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


def start_simulators(
    plans: Sequence[LinePlan], processes: int, time_scale: float, events_ports: dict[str, int], log: IO[str]
) -> tuple[list[subprocess.Popen[str]], dict[str, list[dict[str, Any]]]]:
    """Start the simulator processes (lines dealt round-robin) and collect every line's endpoints."""
    shares = [plans[i::processes] for i in range(processes)]
    procs = []
    for share in (s for s in shares if s):
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        request = {
            "time_scale": time_scale,
            "lines": [
                {
                    "name": p.name,
                    "kinds": list(p.kinds),
                    "seed": p.seed,
                    "events_ports": {
                        m: port for m, port in events_ports.items() if m.startswith(p.name + "-")
                    },
                }
                for p in share
            ],
        }
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        procs.append(proc)
    endpoints: dict[str, list[dict[str, Any]]] = {}
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a simulator process ended before it started its lines (log: {log.name})")
        endpoints |= json.loads(line)
    return procs, endpoints


def free_port(taken: set[int]) -> int:
    """A TCP port free on 127.0.0.1 now, below Linux's ephemeral range (32768-60999).

    The gateway binds it only once it runs; a port from the ephemeral range could be taken
    before that by one of the hundreds of sockets the simulators and the gateway open.
    """
    import random
    import socket

    while True:
        port = random.randrange(20000, 32000)
        if port in taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port


# --- the gateway ----------------------------------------------------------------------------------


def machine_config(end: dict[str, Any], events_ports: dict[str, int]) -> str:
    """One simulated machine's ``[[machines]]`` table and its Hermes vertical channel, from its
    endpoint (``Endpoint.to_json``); a placement machine publishes to its port in ``events_ports``."""
    out = [f'[[machines]]\nid = "{end["machine_id"]}"\nhandle = "{end["cfx_handle"]}"\n']
    kind = end["kind"]
    if kind == "placement":
        out.append(
            'protocol = "cfx"\n'
            f'connection = {{ request_uri = "{end["url"]}", events = "direct", '
            f'listen_host = "127.0.0.1", listen_port = {events_ports[end["machine_id"]]}, '
            'address = "linegate" }\n'
        )
    elif kind == "reflow_oven":
        out.append(
            'protocol = "modbus"\nmap = "builtin:reflow_oven"\n'
            f'connection = {{ host = "127.0.0.1", port = {end["port"]} }}\n'
        )
    elif kind == "selective_solder":
        out.append(
            f'protocol = "opcua"\nmap = "builtin:selective_solder"\nconnection = {{ url = "{end["url"]}" }}\n'
        )
    else:
        out.append(
            'protocol = "serial"\nmap = "builtin:coater"\n'
            f'connection = {{ url = "socket://127.0.0.1:{end["port"]}" }}\n'
        )
    out.append(
        f'[[hermes.vertical]]\nmachine = "{end["machine_id"]}"\nhost = "127.0.0.1"\n'
        f"port = {end['hermes']['vertical_port']}\n"
    )
    return "".join(out)


def write_config(
    path: Path,
    plans: Sequence[LinePlan],
    endpoints: dict[str, list[dict[str, Any]]],
    events_ports: dict[str, int],
    *,
    amqp_url: str,
    exchange: str,
) -> None:
    """The ``linegate run`` configuration for every machine, its Hermes vertical channel, the sinks."""
    out = [
        '[line]\nname = "soak"\n',
        f'[outbox]\npath = "{path.parent / "outbox.sqlite"}"\n',
        f'[amqp]\nurl = "{amqp_url}"\npassword_env = "{PASSWORD_ENV}"\nexchange = "{exchange}"\n',
        "[listener]\nport = 0\n",
        "[http]\nport = 0\n",
    ]
    for plan in plans:
        for end in endpoints[plan.name]:
            out.append(machine_config(end, events_ports))
    path.write_text("\n".join(out), encoding="utf-8")


def gateway_command(config: Path, traced: bool, loop: str = "asyncio") -> list[str]:
    """``linegate run CONFIG`` (the installed script beside this interpreter, else ``-m gateway``)."""
    if traced:
        return [sys.executable, __file__, "--traced-gateway", str(config)]
    wrapper = os.environ.get("SOAK_GATEWAY_WRAPPER")
    if wrapper:  # a script that takes CONFIG and runs the gateway with diagnostics of its own
        return [sys.executable, wrapper, str(config)]
    script = Path(sys.executable).with_name("linegate")
    if script.exists():
        return [str(script), "run", str(config), "--loop", loop]
    return [sys.executable, "-m", "gateway", "run", str(config), "--loop", loop]


def traced_gateway(config: str) -> int:
    """``linegate run CONFIG`` under tracemalloc; SIGUSR1 writes a snapshot to
    ``<config dir>/snapshot-<n>.pickle`` (the parent compares them)."""
    import tracemalloc

    from gateway.cli import main

    tracemalloc.start(12)
    taken = 0

    def dump(_signum: int, _frame: object) -> None:
        nonlocal taken
        taken += 1
        target = Path(config).parent / f"snapshot-{taken}.pickle"
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        snapshot.dump(str(target.with_suffix(".tmp")))
        target.with_suffix(".tmp").replace(target)

    signal.signal(signal.SIGUSR1, dump)
    return main(["run", config])


async def wait_for_dashboard(log_path: Path, proc: asyncio.subprocess.Process, timeout: float) -> str:
    """The HTTP URL ``linegate run`` prints once it is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode} (log: {log_path})")
        text = await asyncio.to_thread(log_path.read_text, encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if line.startswith("linegate: dashboard at "):
                return line.removeprefix("linegate: dashboard at ").strip().rstrip("/")
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the gateway did not come up in {timeout:.0f} s (log: {log_path})")


def parse_metrics(text: str) -> dict[str, list[tuple[str, float]]]:
    """Prometheus text → samples by metric name, each as (label text, value)."""
    found: dict[str, list[tuple[str, float]]] = collections.defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        found[name].append((labels.rstrip("}"), float(value)))
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (``/proc/<pid>/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name (field 2) may hold spaces; the fields after its ")" are plain.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile (KiB) and Threads from ``/proc/<pid>/status``."""
    wanted = {"VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"}
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in wanted:
                values[key] = int(rest.split()[0])
    return values


# --- the run --------------------------------------------------------------------------------------


class Consumer:
    """Drains the soak's exchange and counts the events of each source handle."""

    def __init__(self) -> None:
        self.total = 0
        self.by_handle: collections.Counter[str] = collections.Counter()
        self.flow_by_handle: collections.Counter[str] = collections.Counter()

    def on_message(self, routing_key: str) -> None:
        self.total += 1
        # The routing key is "<handle>.<MessageName>", and every MessageName starts with "CFX.".
        handle = routing_key.partition(".CFX.")[0]
        self.by_handle[handle] += 1
        if not routing_key.endswith(PRESENCE):
            self.flow_by_handle[handle] += 1


async def soak(
    args: argparse.Namespace, workdir: Path, sim_log: IO[str], gateway_log: IO[bytes]
) -> dict[str, Any]:
    """Run the soak; return its figures and samples (see ``summarize``)."""
    import aio_pika
    import aiohttp

    plans = plan_lines(args.machines, args.shape.split(",") if args.shape else None)
    handles = [p.handle(i) for p in plans for i in range(len(p.kinds))]
    taken: set[int] = set()
    events_ports = {
        p.machine_id(i): free_port(taken)
        for p in plans
        for i, kind in enumerate(p.kinds)
        if kind == "placement"
    }
    warmup = args.warmup if args.warmup is not None else 0.2 * args.seconds
    exchange = f"linegate-soak-{uuid.uuid4().hex[:8]}"
    url = urlsplit(args.amqp)
    password = url.password or "guest"
    netloc = f"{url.username or 'guest'}@{url.hostname}:{url.port or 5672}"
    config_url = urlunsplit(url._replace(netloc=netloc))
    print(f"soak: {describe_mix(plans) if plans else '0 machines (idle gateway)'}", flush=True)
    print(
        f"soak: {args.sim_processes} simulator process(es), time scale {args.time_scale:g}, "
        f"{args.seconds:g} s (warm-up {warmup:g} s), a sample every {args.interval:g} s, workdir {workdir}",
        flush=True,
    )
    procs: list[subprocess.Popen[str]] = []
    gateway: asyncio.subprocess.Process | None = None
    consumer = Consumer()
    samples: list[Sample] = []
    flow_at_warmup: dict[str, int] | None = None
    started = time.monotonic()
    connection = await aio_pika.connect(args.amqp)
    try:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"{exchange}.all", exclusive=True, auto_delete=True)
        await queue.bind(ex, "#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            consumer.on_message(message.routing_key or "")

        consumer_tag = await queue.consume(on_message, no_ack=True)
        if plans:
            procs, endpoints = await asyncio.to_thread(
                start_simulators, plans, args.sim_processes, args.time_scale, events_ports, sim_log
            )
        else:
            endpoints = {}
        config = workdir / "line.toml"
        write_config(config, plans, endpoints, events_ports, amqp_url=config_url, exchange=exchange)
        env = {**os.environ, PASSWORD_ENV: password, "LINEGATE_LOG_LEVEL": args.log_level}
        gateway = await asyncio.create_subprocess_exec(
            *gateway_command(config, args.tracemalloc, args.loop),
            stdout=gateway_log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = await wait_for_dashboard(
            workdir / "gateway.log", gateway, timeout=600 if args.tracemalloc else 120
        )
        async with aiohttp.ClientSession() as http:

            async def scrape() -> dict[str, list[tuple[str, float]]]:
                async with http.get(f"{base}/metrics") as response:
                    return parse_metrics(await response.text())

            # Every machine connected before the boards start, so each sees them from the first.
            deadline = time.monotonic() + 120
            while True:
                links = (await scrape()).get("linegate_link_state", [])
                if sum(v for _, v in links) >= len(handles) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            connected = int(sum(v for _, v in links))
            print(
                f"soak: gateway pid {gateway.pid} up, {connected}/{len(handles)} machines connected",
                flush=True,
            )
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("start\n")
                proc.stdin.flush()
            print(
                f"\n{'t (s)':>6} {'RSS MB':>7} {'HWM MB':>7} {'anon':>6} {'file':>5} {'thr':>4} "
                f"{'fds':>5} {'cpu %':>5} {'ev/s in':>8} {'ev/s out':>8} {'backlog':>7} {'boards':>6}  "
                f"RSS (bar: {TARGET_MB:g} MB)",
                flush=True,
            )
            began = time.monotonic()
            previous: Sample | None = None
            cpu_before = 0.0
            snapshots = 0
            next_at = began
            while True:
                t = time.monotonic() - began
                metrics = await scrape()
                status = proc_status(gateway.pid)
                cpu = cpu_seconds(gateway.pid)
                committed = int(sum(v for _, v in metrics.get("linegate_send_events_total", [])))
                backlog = int(sum(v for _, v in metrics.get("linegate_outbox_depth", [])))
                open_boards = metrics.get("linegate_boards_in_process", [])
                span = (t - previous.t) if previous else 0.0
                rate_in = (committed - previous.committed) / span if previous else 0.0
                rate_out = (consumer.total - previous.delivered) / span if previous else 0.0
                sample = Sample(
                    t=round(t, 1),
                    rss_mb=round(status["VmRSS"] / 1024, 1),
                    hwm_mb=round(status["VmHWM"] / 1024, 1),
                    anon_mb=round(status["RssAnon"] / 1024, 1),
                    file_mb=round(status["RssFile"] / 1024, 1),
                    threads=status["Threads"],
                    fds=len(os.listdir(f"/proc/{gateway.pid}/fd")),
                    cpu_percent=round(100.0 * (cpu - cpu_before) / span, 1) if previous else 0.0,
                    committed=committed,
                    delivered=consumer.total,
                    backlog=backlog,
                    boards=int(sum(v for _, v in open_boards)),
                    committed_per_s=round(rate_in, 1),
                    delivered_per_s=round(rate_out, 1),
                )
                samples.append(sample)
                previous, cpu_before = sample, cpu
                print(
                    f"{sample.t:6.0f} {sample.rss_mb:7.1f} {sample.hwm_mb:7.1f} {sample.anon_mb:6.1f} "
                    f"{sample.file_mb:5.1f} {sample.threads:4d} {sample.fds:5d} {sample.cpu_percent:5.1f} "
                    f"{sample.committed_per_s:8.1f} {sample.delivered_per_s:8.1f} "
                    f"{sample.backlog:7d} {sample.boards:6d}  {bar(sample.rss_mb)}",
                    flush=True,
                )
                if flow_at_warmup is None and t >= warmup:
                    flow_at_warmup = dict(consumer.flow_by_handle)
                    if args.tracemalloc:
                        gateway.send_signal(signal.SIGUSR1)
                        snapshots += 1
                if t >= args.seconds:
                    break
                next_at += args.interval
                # Pacing the sampler, not synchronizing with anything.
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if args.tracemalloc:
                gateway.send_signal(signal.SIGUSR1)
                snapshots += 1
                await wait_for_snapshots(workdir, snapshots)
        gateway.send_signal(signal.SIGTERM)
        await asyncio.wait_for(gateway.wait(), 60)
        # What the gateway delivered while stopping (EndpointShuttingDown) reaches the consumer.
        await asyncio.sleep(1.0)
        await queue.cancel(consumer_tag)
        await queue.delete(if_unused=False, if_empty=False)
        await ex.delete(if_unused=False)
    finally:
        if gateway is not None and gateway.returncode is None:
            gateway.kill()
            await gateway.wait()
        for proc in procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, 60)
            except subprocess.TimeoutExpired:
                proc.kill()
        await connection.close()
    report = summarize(args, plans, handles, samples, consumer, flow_at_warmup or {}, warmup, workdir)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    if args.tracemalloc:
        report["tracemalloc_top"] = compare_snapshots(workdir)
    return report


async def wait_for_snapshots(workdir: Path, count: int, timeout: float = 120.0) -> None:
    """Wait until the traced gateway has written ``count`` snapshots."""
    deadline = time.monotonic() + timeout
    while not (workdir / f"snapshot-{count}.pickle").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the traced gateway wrote no snapshot")
        await asyncio.sleep(0.5)


def summarize(
    args: argparse.Namespace,
    plans: Sequence[LinePlan],
    handles: Sequence[str],
    samples: Sequence[Sample],
    consumer: Consumer,
    flow_at_warmup: dict[str, int],
    warmup: float,
    workdir: Path,
) -> dict[str, Any]:
    """The figures of the run (printed by ``print_report``)."""
    after = [s for s in samples if s.t >= warmup]
    at_warmup = after[0] if after else samples[-1]
    end = samples[-1]
    growth = 100.0 * (end.rss_mb - at_warmup.rss_mb) / at_warmup.rss_mb
    # A machine counts only with events it caused: presence messages come from the gateway alone.
    silent = [h for h in handles if consumer.flow_by_handle[h] == 0]
    stalled = [h for h in handles if consumer.flow_by_handle[h] <= flow_at_warmup.get(h, 0)]
    duration = end.t - samples[0].t
    return {
        "mix": describe_mix(plans) if plans else "0 machines",
        "machines": len(handles),
        "lines": len(plans),
        "sim_processes": args.sim_processes,
        "time_scale": args.time_scale,
        "seconds": args.seconds,
        "warmup_seconds": warmup,
        "interval": args.interval,
        "tracemalloc": args.tracemalloc,
        "peak_rss_mb": max(s.hwm_mb for s in samples),
        "peak_sampled_rss_mb": max(s.rss_mb for s in samples),
        "rss_at_warmup_mb": at_warmup.rss_mb,
        "rss_at_end_mb": end.rss_mb,
        "max_rss_after_warmup_mb": max(s.rss_mb for s in after) if after else end.rss_mb,
        "growth_after_warmup_percent": round(growth, 2),
        "trend_after_warmup_mb_per_hour": round(trend_mb_per_hour(after), 2),
        "events_committed": end.committed,
        "events_delivered": consumer.total,
        "events_per_second": round(end.committed / duration, 1) if duration > 0 else 0.0,
        "cpu_percent_mean": round(sum(s.cpu_percent for s in samples[1:]) / max(1, len(samples) - 1), 1),
        "backlog_at_end": end.backlog,
        "machines_with_events": len(handles) - len(silent),
        "machines_flowing_after_warmup": len(handles) - len(stalled),
        "silent_machines": silent,
        "stalled_after_warmup": stalled,
        "events_by_handle": dict(sorted(consumer.by_handle.items())),
        "gateway_log": {k: v for k, v in log_levels(workdir / "gateway.log").most_common()},
        "workdir": str(workdir),
        "samples": [dataclasses.asdict(s) for s in samples],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--machines", type=int, default=int(os.environ.get("SOAK_MACHINES", "100")))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds of warm-up before growth is measured (default: a fifth of the run)",
    )
    parser.add_argument("--time-scale", type=float, default=float(os.environ.get("SOAK_TIME_SCALE", "20")))
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--sim-processes", type=int, default=2)
    parser.add_argument(
        "--shape",
        metavar="KIND,...",
        help=f"every line made of these kinds ({', '.join(PROTOCOLS)}) instead of the default mix",
    )
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--log-level", default="info", help="the gateway's LINEGATE_LOG_LEVEL")
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the gateway's event loop"
    )
    parser.add_argument("--json", metavar="PATH", help="write the samples and figures as JSON")
    parser.add_argument("--tracemalloc", action="store_true", help="trace the gateway's allocations")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (config, logs, outbox)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--traced-gateway", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return 0
    if args.traced_gateway:
        return traced_gateway(args.traced_gateway)
    workdir = Path(tempfile.mkdtemp(prefix="linegate-soak-"))
    with (
        open(workdir / "simulators.log", "w", encoding="utf-8") as sim_log,
        open(workdir / "gateway.log", "wb") as gateway_log,
    ):
        # On an error the workdir stays, with both logs and the config, for a look.
        report = asyncio.run(soak(args, workdir, sim_log, gateway_log))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"samples and figures: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
