"""Scenario files: timed fault injections on a simulated line, on its virtual clock.

A scenario is a TOML file with a list of ``[[faults]]``, each at a simulated time after the
scenario starts, on one machine of the line, doing one action::

    name = "oven hiccup"

    [[faults]]
    at = 120.0                 # simulated seconds after the start
    machine = "reflow"
    action = "modbus_exception"
    code = 6                   # Server Device Busy

    [[faults]]
    at = 180.0
    machine = "reflow"
    action = "modbus_exception"
    clear = true

The actions and their keys are :data:`ACTIONS`; each maps onto a fault-injection method of the
simulators (``drop_connection``, ``go_silent``, ``garbage_responses`` / ``send_garbage``, ...).
An action a machine kind does not support, an unknown machine, a missing or mistyped key: each
is a :class:`~protocols.errors.ConfigError` naming the file and key path (``faults[1].code``).
Because the faults run on the line's clock, a scenario replays the same way every time on a
stepped clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from protocols.errors import ConfigError
from protocols.tomlread import read_toml
from simulators.clock import Clock
from simulators.machine import FaultSeverity, Machine

log = structlog.get_logger("simulators.scenario")


@dataclass(frozen=True, slots=True)
class Param:
    """One key an action takes: its type, and its default (``required`` if it has none)."""

    kind: type
    default: Any = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    """A fault-injection action: the keys it takes and the machine methods it may call.

    ``methods`` are tried in order; the first one the machine has is used, called by ``call``.
    """

    params: Mapping[str, Param]
    methods: tuple[str, ...]
    call: Callable[[Machine, str, Mapping[str, Any]], None]
    help: str


def _method(*args: str) -> Callable[[Machine, str, Mapping[str, Any]], None]:
    """Call ``machine.<method>(*params[args])``."""

    def call(machine: Machine, method: str, params: Mapping[str, Any]) -> None:
        getattr(machine, method)(*(params[a] for a in args))

    return call


def _garbage(machine: Machine, method: str, params: Mapping[str, Any]) -> None:
    if method == "garbage_responses":
        getattr(machine, method)(params["count"])
    else:
        getattr(machine, method)()


def _modbus_exception(machine: Machine, method: str, params: Mapping[str, Any]) -> None:
    getattr(machine, method)(None if params["clear"] else params["code"])


def _raise_alarm(machine: Machine, method: str, params: Mapping[str, Any]) -> None:
    machine.raise_fault(params["code"], params["text"], FaultSeverity(params["severity"]))


def _refuse(machine: Machine, method: str, params: Mapping[str, Any]) -> None:
    machine.recipes.refuse(params["reason"])


def _accept(machine: Machine, method: str, params: Mapping[str, Any]) -> None:
    machine.recipes.accept()


#: Every action a scenario may use, by name.
ACTIONS: dict[str, Action] = {
    "drop_connection": Action({}, ("drop_connection",), _method(), "close every client connection"),
    "go_silent": Action(
        {"silent": Param(bool, True)},
        ("go_silent",),
        _method("silent"),
        "keep sockets open but answer nothing (silent = false ends it)",
    ),
    "garbage": Action(
        {"count": Param(int, 1)},
        ("garbage_responses", "send_garbage"),
        _garbage,
        "send bytes that are not the protocol (Modbus: the next `count` responses)",
    ),
    "corrupt_checksums": Action(
        {"count": Param(int, 1)},
        ("corrupt_next_checksums",),
        _method("count"),
        "send the next `count` serial frames with a wrong checksum",
    ),
    "split_frames": Action(
        {"parts": Param(int, 2), "gap": Param(float, 0.1)},
        ("split_frames",),
        _method("parts", "gap"),
        "write each serial frame in `parts` pieces `gap` simulated seconds apart (parts = 1 ends it)",
    ),
    "delay": Action(
        {"seconds": Param(float, required=True)},
        ("delay_responses", "delay_methods"),
        _method("seconds"),
        "answer `seconds` of simulated time late (0 ends it)",
    ),
    "modbus_exception": Action(
        {"code": Param(int, 6), "clear": Param(bool, False)},
        ("modbus_exception",),
        _modbus_exception,
        "answer every Modbus request with exception `code` (clear = true ends it)",
    ),
    "raise_alarm": Action(
        {
            "code": Param(str, required=True),
            "text": Param(str, "injected alarm"),
            "severity": Param(str, "Error"),
        },
        ("raise_fault",),
        _raise_alarm,
        "raise a fault (severity Information, Warning, Error or Alarm; Error and Alarm stop the machine)",
    ),
    "clear_alarm": Action(
        {"code": Param(str, required=True)},
        ("clear_fault",),
        _method("code"),
        "clear the fault with `code`",
    ),
    "refuse_recipe": Action(
        {"reason": Param(str, "interlock: operator door open")},
        ("recipes",),
        _refuse,
        "refuse every recipe activation with `reason`",
    ),
    "accept_recipes": Action({}, ("recipes",), _accept, "accept recipe activations again"),
    "run_slow": Action(
        {"factor": Param(float, required=True)},
        ("run_slow",),
        _method("factor"),
        "stretch cycle and transport times by `factor` (1.0 is normal)",
    ),
    "fail_board": Action(
        {"board": Param(int, required=True)},
        ("fail_board",),
        _method("board"),
        "the `board`-th board this station tests or inspects (from 1) fails (ICT, FCT)",
    ),
    "fail_heater": Action(
        {"heater": Param(int, required=True), "failed": Param(bool, True)},
        ("fail_heater",),
        _method("heater", "failed"),
        "a reflow heater loses power (failed = false repairs it)",
    ),
}


@dataclass(frozen=True, slots=True)
class FaultStep:
    """One timed fault: at ``at`` simulated seconds, ``action`` on ``machine`` with ``params``."""

    at: float
    machine: str
    action: str
    params: Mapping[str, Any]
    key: str  # where it is in the file (``faults[2]``), for errors and logs


@dataclass(frozen=True, slots=True)
class AppliedFault:
    """A fault the scenario injected, and the simulated time it did."""

    at: float
    step: FaultStep


def _typed(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _step(item: Any, key: str, path: str | None) -> FaultStep:
    if not isinstance(item, dict):
        raise ConfigError("must be a table", path=path, key=key)
    for name in ("at", "machine", "action"):
        if name not in item:
            raise ConfigError("is required", path=path, key=f"{key}.{name}")
    at, machine, action_name = item["at"], item["machine"], item["action"]
    if not _typed(at, float) or at < 0:
        raise ConfigError(
            f"must be a number of simulated seconds >= 0, not {at!r}", path=path, key=f"{key}.at"
        )
    if not isinstance(machine, str):
        raise ConfigError("must be a machine id (a string)", path=path, key=f"{key}.machine")
    action = ACTIONS.get(action_name) if isinstance(action_name, str) else None
    if action is None:
        known = ", ".join(sorted(ACTIONS))
        raise ConfigError(f"unknown action {action_name!r} (known: {known})", path=path, key=f"{key}.action")
    params: dict[str, Any] = {}
    for name, value in item.items():
        if name in ("at", "machine", "action"):
            continue
        param = action.params.get(name)
        if param is None:
            raise ConfigError(f"{action_name} takes no key {name!r}", path=path, key=f"{key}.{name}")
        if not _typed(value, param.kind):
            raise ConfigError(
                f"must be {param.kind.__name__}, not {type(value).__name__}", path=path, key=f"{key}.{name}"
            )
        params[name] = float(value) if param.kind is float else value
    for name, param in action.params.items():
        if name not in params:
            if param.required:
                raise ConfigError(f"{action_name} needs {name!r}", path=path, key=f"{key}.{name}")
            params[name] = param.default
    if action_name == "raise_alarm" and params["severity"] not in {s.value for s in FaultSeverity}:
        raise ConfigError(
            f"must be one of {', '.join(s.value for s in FaultSeverity)}", path=path, key=f"{key}.severity"
        )
    return FaultStep(float(at), machine, action_name, params, key)


@dataclass(frozen=True, slots=True)
class Scenario:
    """Timed fault injections (see the module docstring), in file order."""

    steps: tuple[FaultStep, ...]
    name: str = "scenario"
    path: str | None = None

    def check(self, machines: Mapping[str, type[Machine]]) -> None:
        """Check every step against the line's machines (id → class).

        Raises:
            ConfigError: a step names a machine the line lacks, or an action its kind cannot do.
        """
        for step in self.steps:
            cls = machines.get(step.machine)
            if cls is None:
                known = ", ".join(machines)
                raise ConfigError(
                    f"no machine {step.machine!r} in the line (machines: {known})",
                    path=self.path,
                    key=f"{step.key}.machine",
                )
            if _method_for(cls, step.action) is None:
                raise ConfigError(
                    f"{step.machine} ({cls.__name__}) cannot do {step.action}",
                    path=self.path,
                    key=f"{step.key}.action",
                )

    def apply(self, machine: Machine, step: FaultStep) -> None:
        """Inject one step's fault on ``machine`` now."""
        method = _method_for(type(machine), step.action)
        if method is None:
            raise ConfigError(
                f"{machine.machine_id} cannot do {step.action}", path=self.path, key=f"{step.key}.action"
            )
        ACTIONS[step.action].call(machine, method, step.params)

    async def run(
        self,
        machines: Mapping[str, Machine],
        clock: Clock,
        on_applied: Callable[[AppliedFault], None] | None = None,
    ) -> list[AppliedFault]:
        """Inject every step at its time on ``clock``, counted from the call; return what was done.

        Raises:
            ConfigError: a step names a machine or action that does not fit (checked first).
        """
        self.check({machine_id: type(machine) for machine_id, machine in machines.items()})
        start = clock.now()
        applied: list[AppliedFault] = []
        for step in sorted(self.steps, key=lambda s: s.at):
            await clock.sleep_until(start + step.at)
            self.apply(machines[step.machine], step)
            done = AppliedFault(clock.now() - start, step)
            applied.append(done)
            log.info("scenario.fault", machine=step.machine, action=step.action, at=done.at, **step.params)
            if on_applied is not None:
                on_applied(done)
        return applied


def _method_for(cls: type[Machine], action: str) -> str | None:
    for name in ACTIONS[action].methods:
        if name == "recipes" or hasattr(cls, name):
            return name
    return None


def parse_scenario(data: Mapping[str, Any], *, path: str | None = None) -> Scenario:
    """Build a :class:`Scenario` from a parsed scenario file.

    Raises:
        ConfigError: naming ``path`` and the key path of the first problem.
    """
    for name in data:
        if name not in ("name", "faults"):
            raise ConfigError("unknown key (known: faults, name)", path=path, key=name)
    faults = data.get("faults", [])
    if not isinstance(faults, list):
        raise ConfigError("must be an array of tables ([[faults]])", path=path, key="faults")
    name = data.get("name", Path(path).stem if path else "scenario")
    if not isinstance(name, str):
        raise ConfigError("must be a string", path=path, key="name")
    steps = tuple(_step(item, f"faults[{index}]", path) for index, item in enumerate(faults))
    return Scenario(steps, name, path)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (TOML).

    Raises:
        ConfigError: the file cannot be read, is not TOML, or a step is wrong.
    """
    return parse_scenario(read_toml(path), path=str(path))


__all__ = [
    "ACTIONS",
    "Action",
    "AppliedFault",
    "FaultStep",
    "Param",
    "Scenario",
    "load_scenario",
    "parse_scenario",
]
