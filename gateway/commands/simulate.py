"""``linegate simulate [LINE_FILE ...]``: run simulated lines until stopped.

Starts every machine of the line (the default line, or the one a line file describes), prints
where each one listens, and runs until SIGINT/SIGTERM, or until ``--boards N`` boards have
left the last machine. ``--endpoints-json PATH`` writes the same endpoints as JSON for scripts.

Several line files, or ``--factory FILE`` (a factory file listing line files,
``simulators.factory_spec``), run several lines side by side in this one process: each line
prints its own block, ``--boards N`` waits for N boards from every line, and the endpoints JSON
is ``{"factory": NAME, "lines": [one line's document, ...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.commands import Subparsers
from protocols.errors import ConfigError

if TYPE_CHECKING:
    from simulators.factory_spec import FactorySpec
    from simulators.line import Endpoint, Line
    from simulators.line_spec import LineSpec
    from simulators.scenario import Scenario

# The simulators (asyncua, pymodbus, ...) are imported when the command runs, not when the CLI
# builds its parser: every other subcommand would pay for them at start-up.


def register(subparsers: Subparsers) -> None:
    """Add ``linegate simulate``."""
    parser = subparsers.add_parser(
        "simulate",
        help="run simulated lines (machines with Hermes between them) until stopped",
        description="Run simulated lines until SIGINT/SIGTERM and print where every machine listens.",
    )
    parser.add_argument(
        "line_files",
        nargs="*",
        metavar="LINE_FILE",
        help="line files (TOML), one line each, run side by side; the default line if none",
    )
    parser.add_argument(
        "--factory", metavar="FILE", help="a factory file (TOML) listing line files to run side by side"
    )
    parser.add_argument("--endpoints-json", metavar="PATH", help="also write the endpoints to PATH as JSON")
    parser.add_argument("--time-scale", type=float, metavar="X", help="simulated seconds per real second")
    parser.add_argument(
        "--boards", type=int, metavar="N", help="stop after N boards have left the last machine"
    )
    parser.add_argument(
        "--open-ends",
        action="store_true",
        help="no built-in source and sink: the first machine connects upstream to an outside Hermes "
        "sender, the last machine's downstream server waits for an outside receiver",
    )
    parser.add_argument(
        "--upstream",
        metavar="HOST:PORT",
        help="with --open-ends: the outside sender (default from the line file)",
    )
    parser.add_argument("--scenario", metavar="FILE", help="a scenario file of timed fault injections (TOML)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address every server listens on (default 127.0.0.1)"
    )
    parser.set_defaults(handler=run)


def _factory(args: argparse.Namespace) -> FactorySpec:
    """The lines to run: the factory file's, the line files', or the default line."""
    from simulators.factory_spec import FactorySpec, check_lines, load_factory
    from simulators.line_spec import default_line, load_line

    if args.factory and args.line_files:
        raise ConfigError("give line files or --factory, not both")
    if args.factory:
        factory = load_factory(args.factory)
    elif args.line_files:
        lines = tuple(load_line(path) for path in args.line_files)
        check_lines(lines)
        factory = FactorySpec(lines[0].name if len(lines) == 1 else "factory", lines)
    else:
        factory = FactorySpec("default", (default_line(),))
    if len(factory.lines) > 1:
        for option, given in (
            ("--open-ends", args.open_ends),
            ("--upstream", args.upstream),
            ("--scenario", args.scenario),
        ):
            if given:
                raise ConfigError(f"{option} applies to one line; {len(factory.lines)} lines were given")
    if args.time_scale is not None and args.time_scale <= 0:
        raise ConfigError("--time-scale must be positive")
    if args.boards is not None and args.boards < 1:
        raise ConfigError("--boards must be at least 1")
    return dataclasses.replace(factory, lines=tuple(_override(args, spec) for spec in factory.lines))


def _override(args: argparse.Namespace, spec: LineSpec) -> LineSpec:
    if args.time_scale is not None:
        spec = dataclasses.replace(spec, time_scale=args.time_scale)
    if args.boards is not None:
        spec = dataclasses.replace(spec, boards=args.boards)
    return spec


def _upstream(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--upstream must be HOST:PORT, not {value!r}")
    return host, int(port)


def format_endpoints(endpoints: list[Endpoint]) -> str:
    """One line per machine: id, kind, where its protocol listens, CFX handle, Hermes ports."""
    lines = []
    for e in endpoints:
        where = e.url or (f"{e.host}:{e.port}" if e.port is not None else "-")
        if e.tty_path:
            where = f"{e.tty_path} and socket://{e.host}:{e.port}"
        hermes = e.hermes
        upstream = f"{hermes.upstream_host}:{hermes.upstream_port}" if hermes.upstream_port else "-"
        downstream = f"{e.host}:{hermes.downstream_port}" if hermes.downstream_port else "-"
        lines.append(
            f"{e.machine_id:<12} {e.kind:<17} {e.protocol:<12} {where}  handle={e.cfx_handle or '-'}  "
            f"hermes lane {hermes.lane_id}: upstream->{upstream} downstream={downstream} "
            f"vertical={e.host}:{hermes.vertical_port}"
        )
    return "\n".join(lines)


def _line_document(line: Line) -> dict[str, Any]:
    return {
        "line": line.spec.name,
        "time_scale": line.spec.time_scale,
        "open_ends": line.open_ends,
        "machines": [e.to_json() for e in line.endpoints()],
    }


def _write_json(path: str, factory: FactorySpec, lines: list[Line]) -> None:
    document: dict[str, Any] = (
        _line_document(lines[0])
        if len(lines) == 1
        else {"factory": factory.name, "lines": [_line_document(line) for line in lines]}
    )
    target = Path(path)
    # Write, then rename: a script polling for the file never reads half of it.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(target)


async def _simulate(args: argparse.Namespace, factory: FactorySpec, scenario: Scenario | None) -> int:
    from simulators.line import Line

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            lines: list[Line] = []
            for spec in factory.lines:
                line = Line(spec, host=args.host, open_ends=args.open_ends, upstream=_upstream(args.upstream))
                lines.append(await stack.enter_async_context(line))
                print(
                    f"line {spec.name}: {len(line.machines)} machines, time scale {spec.time_scale:g}",
                    flush=True,
                )
                print(format_endpoints(line.endpoints()), flush=True)
            if args.endpoints_json:
                _write_json(args.endpoints_json, factory, lines)
            if scenario is not None:
                lines[0].start_scenario(scenario)
            waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
            boards = [(line, line.spec.boards) for line in lines if line.spec.boards is not None]
            if boards:
                waiters.append(asyncio.create_task(_all_departed(boards)))
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            for line in lines:
                prefix = "" if len(lines) == 1 else f"line {line.spec.name}: "
                print(f"{prefix}stopping: {len(line.departed)} boards left the line", flush=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


async def _all_departed(lines: list[tuple[Line, int]]) -> None:
    await asyncio.gather(*(line.wait_departed(boards) for line, boards in lines))


def run(args: argparse.Namespace) -> int:
    """Run the lines; 0 after a clean stop, 2 for a configuration error."""
    from simulators.line_spec import machine_classes
    from simulators.scenario import load_scenario

    try:
        factory = _factory(args)
        scenario = load_scenario(args.scenario) if args.scenario else None
        if scenario is not None:
            scenario.check(machine_classes(factory.lines[0]))
        _upstream(args.upstream)
    except ConfigError as exc:
        print(f"linegate simulate: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_simulate(args, factory, scenario))
    except ConfigError as exc:
        print(f"linegate simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"linegate simulate: cannot start the line: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        return 130


__all__ = ["format_endpoints", "register", "run"]
