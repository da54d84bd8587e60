"""The trace service in ``linegate demo --trace-db PATH``.

The demo line's SPI (the default line has one; a line without gets a solder paste printer and an
SPI in front, as in ``simulators/lines/print-inspect.toml``) then fails its third board; an interlock
(``spi-before-placement``) refuses it at the placement machine, which asks over its Hermes
vertical channel (QueryWorkOrderInfo, answered with ``FailedBoard = 2``) and the refusal is
published as FaultOccurred. The store is the SQLite file at PATH (replaced if it exists), which
``linegate trace --db PATH ...`` queries after the demo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gateway.trace.control import ControlConfig, Rule
from gateway.trace.service import TraceService
from simulators.line_spec import LineSpec, MachineSpec

#: The SPI's board that fails (counted from 1): two pads with insufficient paste.
FAILING_BOARD = 3
DEMO_RULES = (Rule("spi-before-placement", "route", "placement", "spi"),)
#: The demo's ``[trace]`` and ``[[interlock]]`` (its store's path is --trace-db).
DEMO_CONTROL = ControlConfig(handle="Linegate.Control.demo", rules=DEMO_RULES)


def with_inspection(spec: LineSpec) -> LineSpec:
    """``spec`` with its SPI failing board ``FAILING_BOARD``; a line without an SPI gets a printer
    and an SPI in front."""
    if any(m.kind == "spi" for m in spec.machines):
        machines = tuple(
            dataclasses.replace(m, options={**m.options, "fail_boards": [FAILING_BOARD]})
            if m.kind == "spi"
            else m
            for m in spec.machines
        )
        return dataclasses.replace(spec, machines=machines)
    front = (
        MachineSpec("printer", "printer", "linegate.printer.1", {"clean_every": 4, "clean_time": 15.0}),
        MachineSpec("spi", "spi", "linegate.spi.1", {"fail_boards": [FAILING_BOARD]}),
    )
    return dataclasses.replace(spec, machines=(*front, *spec.machines))


def print_trace(service: TraceService, path: str | Path, barcodes: Sequence[str], out: TextIO) -> None:
    """The demo summary's trace lines: the refusals and how to query the store."""
    print(f"  trace store: {path}", file=out)
    for refusal in service.status()["refusals"]:
        print(
            f"    refused {refusal['board']} at {refusal['machine']} ({refusal['via']}):"
            f" {refusal['rule']}: {refusal['reason']}",
            file=out,
        )
    example = next((r["board"] for r in service.status()["refusals"]), barcodes[0] if barcodes else "ID")
    print(f"    query it: linegate trace board {example} --db {path}", file=out)


__all__ = ["DEMO_CONTROL", "DEMO_RULES", "FAILING_BOARD", "print_trace", "with_inspection"]
