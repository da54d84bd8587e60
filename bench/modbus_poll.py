"""Modbus polling cost: 200 simulated reflow ovens, every register polled once a second.

The ovens run in separate processes (two by default, so the simulators do not compete with the
measured process for one core); this process runs the pollers. Two phases, same devices, same
blocks, same rate, each measured with getrusage over a fixed window:

- baseline: bare pymodbus clients reading the four blocks in a loop (no decoding, no observations);
- adapter: one ``ModbusAdapter`` per oven with a map covering every address of the four tables
  (26 holding registers, 36 input registers, 16 coils, 16 discrete inputs: 94 points, read in
  4 requests), with change detection and observations emitted into a counter.

Prints the CPU of this process as % of one core for each phase and the ratio adapter/baseline.
Run: ``python bench/modbus_poll.py [--devices 200] [--seconds 15]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import subprocess
import sys
import time
from typing import Any

import structlog
from pymodbus.client import AsyncModbusTcpClient

from adapters.base import ReconnectPolicy
from adapters.maps import ModbusMap, parse_map
from adapters.modbus import ModbusAdapter
from adapters.observations import Observation
from simulators.reflow_oven import ReflowOven

HOLDING, INPUT, BITS = 26, 36, 16  # the oven's table sizes (reflow_oven.md §1)


def bench_map() -> dict[str, Any]:
    """A map with one point per address of every table, all reported as readings."""
    points: dict[str, Any] = {}
    for table, count in (("holding_registers", HOLDING), ("input_registers", INPUT)):
        points |= {f"{table}_{a}": {"table": table, "address": a} for a in range(count)}
    for table in ("coils", "discrete_inputs"):
        points |= {f"{table}_{a}": {"table": table, "address": a} for a in range(BITS)}
    return {
        "machine": {"protocol": "modbus"},
        "modbus": {"poll_interval": 1.0, "timeout": 2.0, "max_gap": 8},
        "points": points,
        "state": {
            "point": "input_registers_0",
            "codes": {"1": 4500, "2": 2202, "3": 1100, "4": 2201, "5": 5000},
        },
        "readings": {name: "" for name in points},
    }


# --- the simulator processes ----------------------------------------------------------------------


async def serve(count: int) -> None:
    """Start ``count`` ovens, print their ports as JSON, run until stdin closes."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    ovens = [ReflowOven(f"oven{i}") for i in range(count)]
    for oven in ovens:
        await oven.start()
    print(json.dumps([oven.port for oven in ovens]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for oven in ovens:
        await oven.stop()


def start_simulators(devices: int, processes: int) -> tuple[list[subprocess.Popen[str]], list[int]]:
    procs, ports = [], []
    share = -(-devices // processes)
    for index in range(processes):
        count = min(share, devices - index * share)
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
    for proc in procs:
        assert proc.stdout is not None
        ports += json.loads(proc.stdout.readline())
    return procs, ports


# --- the measured phases ------------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(seconds: float) -> float:
    """CPU of this process over ``seconds`` of wall time, as % of one core."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.sleep(seconds)
    return 100.0 * (cpu_seconds() - cpu) / (time.perf_counter() - wall)


async def baseline(ports: list[int], seconds: float) -> tuple[float, int]:
    requests = 0

    async def poll(port: int) -> None:
        nonlocal requests
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2.0, retries=0, reconnect_delay=0)
        await client.connect()
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        try:
            while True:
                await client.read_holding_registers(0, count=HOLDING)
                await client.read_input_registers(0, count=INPUT)
                await client.read_coils(0, count=BITS)
                await client.read_discrete_inputs(0, count=BITS)
                requests += 4
                deadline += 1.0
                await asyncio.sleep(max(0.0, deadline - loop.time()))
        finally:
            client.close()

    tasks = [asyncio.create_task(poll(port)) for port in ports]
    await asyncio.sleep(2.0)  # connect and settle
    start = requests
    figure = await measure(seconds)
    done = requests - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return figure, done


async def adapters(ports: list[int], seconds: float) -> tuple[float, int, int]:
    device_map = parse_map(bench_map())
    assert isinstance(device_map, ModbusMap)
    observations = 0

    async def count(_: Observation) -> None:
        nonlocal observations
        observations += 1

    policy = ReconnectPolicy(liveness_timeout=10.0)
    pollers = [
        ModbusAdapter(f"oven{i}", device_map, host="127.0.0.1", port=port, policy=policy)
        for i, port in enumerate(ports)
    ]
    tasks = [asyncio.create_task(poller.run(count)) for poller in pollers]
    await asyncio.gather(*(poller.wait_connected(30) for poller in pollers))
    await asyncio.sleep(2.0)
    start = observations
    figure = await measure(seconds)
    seen = observations - start
    reconnects = sum(poller.health.connects - 1 for poller in pollers)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return figure, seen, reconnects


async def main(devices: int, seconds: float, processes: int) -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    procs, ports = start_simulators(devices, processes)
    try:
        base_cpu, requests = await baseline(ports, seconds)
        adapter_cpu, observations, reconnects = await adapters(ports, seconds)
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            proc.wait(timeout=30)
    print(f"devices: {devices} reflow ovens in {processes} simulator processes, polled at 1 Hz")
    print(f"points per device: {HOLDING + INPUT} registers + {2 * BITS} bits in 4 requests")
    print(
        f"baseline (bare pymodbus reads): {base_cpu:5.1f} % of one core, {requests / seconds:.0f} requests/s"
    )
    print(
        f"ModbusAdapter:                  {adapter_cpu:5.1f} % of one core, "
        f"{observations / seconds:.0f} observations/s, {reconnects} reconnects"
    )
    print(f"adapter / baseline: {adapter_cpu / base_cpu:.2f}x   (target: adapter <= 10 % of one core)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
    else:
        asyncio.run(main(args.devices, args.seconds, args.processes))
