"""Interlocks: whether a board may enter a machine, decided from its history alone (sans-IO).

The rules come from the line config (``[[interlock]]``, see :func:`parse_control`); the board's
history from the trace store (``gateway.trace.holds.board_history``); the decision is a pure
function of both (:func:`decide`), so it needs neither the broker nor the machine to answer.

A **step** is a board's latest visit to a machine, reduced to one outcome:

- ``passed``: its inspection/test result there was Passed, or (no result) its work Completed;
- ``failed``: the result (or the work) was anything else (Failed, Error, Aborted, Skipped);
- ``repaired``: it failed there and a successful repair of the board came after;
- ``open``: the board is still in that machine (no completion yet).

Rules, in the order :func:`decide` applies them (the first refusal wins):

1. **holds**: an operator's hold on one of the board's identifiers, or on a reel or lot the
   board got parts from, refuses it at every machine (rule name ``hold``);
2. **route** (``kind = "route"``): before ``machine`` the board must have a step at ``after``
   whose outcome is one of ``results`` (default ``["passed"]``); a board never seen there is
   refused (``skipped``);
3. **time limit** (``kind = "time_limit"``): the board must reach ``machine`` within ``within``
   seconds of its completion at ``after``; a board with no step at ``after`` is left to route
   rules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.config_model import Secret, doc
from protocols.errors import ConfigError

ROUTE: Final = "route"
TIME_LIMIT: Final = "time_limit"
KINDS: Final = (ROUTE, TIME_LIMIT)
OUTCOMES: Final = ("passed", "failed", "repaired", "open")
HOLD_KINDS: Final = ("board", "reel", "lot")
#: The rule name of a refusal because of an operator's hold.
HOLD_RULE: Final = "hold"
#: The rule name of a refusal because the trace store could not be read (fail closed).
STORE_RULE: Final = "trace-store-unavailable"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PASSED = frozenset({"Passed", "Completed"})
_REPAIRED = frozenset({"RepairSuccessful", "Repaired", "Passed"})


@dataclass(frozen=True, slots=True)
class Rule:
    """One interlock rule (see the module docstring).

    Attributes:
        name: named in every refusal (the CFX event, the ValidateUnitsResponse, the log).
        kind: ``route`` or ``time_limit``.
        machine: where it is enforced (machine id in the config; CFX handle once resolved).
        after: the step it looks at (likewise).
        results: accepted outcomes of that step (route rules).
        within_s: seconds from completion at ``after`` to reaching ``machine`` (time limits).
    """

    name: str = field(
        metadata=doc("Named in every refusal (the CFX event, the answer, the log).", '"spi-pass"')
    )
    kind: str = field(
        metadata=doc(
            "route: the board must have passed the step after (with one of results) before machine; "
            "time_limit: it must reach machine within seconds of completing after.",
            '"route"',
            default='"route"',
        ),
    )
    machine: str = field(metadata=doc("Where the rule is enforced (a machine id).", '"solder1"'))
    after: str = field(metadata=doc("The step the rule looks at (a machine id).", '"oven1"'))
    results: frozenset[str] = field(
        default=frozenset({"passed"}),
        metadata=doc(
            'A route rule\'s accepted outcomes of that step: "passed", "repaired".',
            '["passed", "repaired"]',
            default='["passed"]',
        ),
    )
    within_s: float | None = field(
        default=None,
        metadata=doc(
            "A time_limit rule's seconds from completing after to reaching machine.",
            "14400",
            key="within",
            in_example=False,
        ),
    )


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """``[trace]`` and ``[[interlock]]`` of the line config.

    Attributes:
        db: the embedded SQLite trace store (relative paths: to the config file); None puts it
            next to the outbox as ``linegate-trace.sqlite``.
        handle: the CFX handle linegate answers ValidateUnitsRequest on, as the line's MES.
        liquidus_c, heated_length_mm: the reflow figures' settings (``gateway.trace.ingest``).
        rules: the interlocks, in config order.
        enabled: the trace service runs (``[trace] enabled``, default true).
    """

    db: str | None = field(
        default=None,
        metadata=doc(
            "The embedded SQLite trace store (relative to the config file).",
            '"linegate-trace.sqlite"',
            default="linegate-trace.sqlite beside the outbox",
        ),
    )
    dsn: Secret | None = field(
        default=None,
        metadata=doc(
            "A PostgreSQL DSN (postgresql://user:password@host/db) for the store instead of the "
            "SQLite file: one database for many lines and gateways. It carries the password, so "
            "it is read from an environment variable or a file.",
            '"LINEGATE_TRACE_DSN"',
            in_example=False,
        ),
    )
    handle: str = field(
        default="Linegate.Control.line",
        metadata=doc(
            "The CFX handle linegate answers ValidateUnitsRequest on, as the line's MES.",
            '"Acme.Control.line4"',
            default="Linegate.Control.<line name>",
        ),
    )
    liquidus_c: float = field(
        default=217.0,
        metadata=doc(
            "The solder's liquidus, °C, for each board's time above liquidus.", "217.0", key="liquidus"
        ),
    )
    heated_length_mm: float = field(
        default=3600.0,
        metadata=doc(
            "The oven's heated length, mm, with the conveyor speed the time a board spends in a zone.",
            "3600.0",
            key="heated_length",
        ),
    )
    rules: tuple[Rule, ...] = ()  # the [[interlock]] entries, in config order
    enabled: bool = field(default=True, metadata=doc("Run the trace service and its interlocks."))


@dataclass(frozen=True, slots=True)
class Step:
    """A board's latest visit to one machine, as its outcome and when it was done."""

    machine_id: str
    outcome: str
    done_us: int | None


@dataclass(frozen=True, slots=True)
class Hold:
    """An operator's hold on a board (any identifier), a reel or a lot."""

    id: int
    kind: str
    value: str
    reason: str | None
    held_by: str | None
    held_us: int


@dataclass(frozen=True, slots=True)
class History:
    """What the decision needs to know about one board (None board: not in the store)."""

    board: int | None
    identifiers: frozenset[str] = frozenset()
    steps: Mapping[str, Step] = dataclasses.field(default_factory=dict)
    reels: frozenset[str] = frozenset()
    lots: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """Pass, or refuse naming the rule and why."""

    allowed: bool
    rule: str | None = None
    reason: str = ""
    #: refused by a route rule whose step is open or unseen: more events may change the answer
    pending: bool = False

    def as_json(self) -> dict[str, Any]:
        """The decision as the HTTP API and the log show it."""
        return {"allowed": self.allowed, "rule": self.rule, "reason": self.reason}


ALLOW: Final = Decision(True, None, "no interlock refuses the board")


def step_outcome(
    work_result: str | None,
    completed: bool,
    result: str | None,
    result_us: int | None,
    repairs: Iterable[tuple[int, str | None]],
) -> str:
    """One step's outcome from the pass's WorkCompleted result, its latest inspection or test
    result (with its time) and the board's repairs (time, result)."""
    if result is not None:
        if result in _PASSED:
            return "passed"
        if result_us is not None and any(t >= result_us and r in _REPAIRED for t, r in repairs):
            return "repaired"
        return "failed"
    if not completed:
        return "open"
    return "passed" if work_result is None or work_result in _PASSED else "failed"


def _held(history: History, holds: Iterable[Hold]) -> Hold | None:
    for hold in holds:
        if hold.kind == "board" and hold.value in history.identifiers:
            return hold
        if hold.kind == "reel" and hold.value in history.reels:
            return hold
        if hold.kind == "lot" and hold.value in history.lots:
            return hold
    return None


def decide(
    history: History, machine_id: str, now_us: int, rules: Iterable[Rule], holds: Iterable[Hold] = ()
) -> Decision:
    """May the board of ``history`` enter ``machine`` (same naming as the rules) at ``now_us``?"""
    hold = _held(history, holds)
    if hold is not None:
        why = f" ({hold.reason})" if hold.reason else ""
        by = f" by {hold.held_by}" if hold.held_by else ""
        return Decision(False, HOLD_RULE, f"{hold.kind} {hold.value} is on hold{by}{why}")
    applicable = [rule for rule in rules if rule.machine == machine_id]
    for rule in applicable:
        if rule.kind != ROUTE:
            continue
        step = history.steps.get(rule.after)
        outcome = step.outcome if step is not None else "skipped"
        if outcome not in rule.results:
            wanted = " or ".join(sorted(rule.results))
            reason = f"the board's step at {rule.after} is {outcome}, needs {wanted}"
            return Decision(False, rule.name, reason, pending=outcome in ("open", "skipped"))
    for rule in applicable:
        if rule.kind != TIME_LIMIT or rule.within_s is None:
            continue
        step = history.steps.get(rule.after)
        if step is None or step.done_us is None:
            continue
        elapsed = (now_us - step.done_us) / 1e6
        if elapsed > rule.within_s:
            return Decision(
                False,
                rule.name,
                f"{elapsed:.0f} s since {rule.after}, the limit is {rule.within_s:g} s",
            )
    return ALLOW


def resolve(rules: Iterable[Rule], handles: Mapping[str, str]) -> tuple[Rule, ...]:
    """The rules with machine ids replaced by CFX handles (the trace store's machine names)."""
    return tuple(
        dataclasses.replace(rule, machine=handles[rule.machine], after=handles[rule.after]) for rule in rules
    )


# --- the line config --------------------------------------------------------------------------

_TRACE_KEYS = {"enabled", "db", "dsn_env", "dsn_file", "handle", "liquidus", "heated_length"}
_RULE_KEYS = {"name", "kind", "machine", "after", "results", "within"}


def parse_control(
    data: Mapping[str, Any], *, path: str, machines: Iterable[str], line: str
) -> ControlConfig | None:
    """``[trace]`` and ``[[interlock]]`` from a parsed line config; None when neither is there.

    Raises:
        ConfigError: a wrong key or value, naming the key path.
    """
    if "trace" not in data and "interlock" not in data:
        return None
    ids = set(machines)
    table = data.get("trace", {})
    if not isinstance(table, dict):
        raise ConfigError("must be a table", path=path, key="trace")
    if "dsn" in table:  # before the unknown-key check: say why, not only that
        raise ConfigError(
            "a DSN carries the password: use dsn_env (an environment variable) or dsn_file (a file)",
            path=path,
            key="trace.dsn",
        )
    for key in table:
        if key not in _TRACE_KEYS:
            raise ConfigError(
                f"unknown key (expected one of {', '.join(sorted(_TRACE_KEYS))})",
                path=path,
                key=f"trace.{key}",
            )
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("must be true or false", path=path, key="trace.enabled")
    db = table.get("db")
    if db is not None:
        if not isinstance(db, str) or not db:
            raise ConfigError("must be a file path", path=path, key="trace.db")
        if not Path(db).is_absolute():
            db = str(Path(path).parent / db)
    dsn = _dsn(table, path)
    if dsn is not None and db is not None:
        raise ConfigError(
            "give db (SQLite) or dsn_env/dsn_file (PostgreSQL), not both", path=path, key="trace.db"
        )
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", line) or "line"
    handle = table.get("handle", f"Linegate.Control.{safe}")
    if not isinstance(handle, str) or not re.match(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){2,}$", handle):
        raise ConfigError("must be a CFX handle (Vendor.Model.Instance)", path=path, key="trace.handle")
    rules = data.get("interlock", [])
    if not isinstance(rules, list):
        raise ConfigError("must be an array of tables ([[interlock]])", path=path, key="interlock")
    parsed = [_rule(item, f"interlock[{i}]", path, ids) for i, item in enumerate(rules)]
    names = [rule.name for rule in parsed]
    for index, name in enumerate(names):
        if name in names[:index] or name in (HOLD_RULE, STORE_RULE):
            raise ConfigError(f"the rule name {name!r} is taken", path=path, key=f"interlock[{index}].name")
    return ControlConfig(
        db=db,
        dsn=dsn,
        handle=handle,
        liquidus_c=_number(table, "liquidus", "trace", path, 217.0),
        heated_length_mm=_number(table, "heated_length", "trace", path, 3600.0),
        rules=tuple(parsed),
        enabled=enabled,
    )


def _dsn(table: Mapping[str, Any], path: str) -> Secret | None:
    """``dsn_env`` or ``dsn_file``: where the PostgreSQL DSN is read from (never the file itself)."""
    env, file = table.get("dsn_env"), table.get("dsn_file")
    if env is not None and file is not None:
        raise ConfigError("give dsn_env or dsn_file, not both", path=path, key="trace.dsn")
    for key, value in (("dsn_env", env), ("dsn_file", file)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError("must be a non-empty string", path=path, key=f"trace.{key}")
    if env is not None:
        return Secret(env=env)
    if file is not None:
        return Secret(file=file if Path(file).is_absolute() else str(Path(path).parent / file))
    return None


def _number(table: Mapping[str, Any], key: str, where: str, path: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError("must be a positive number", path=path, key=f"{where}.{key}")
    return float(value)


def _rule(item: object, where: str, path: str, ids: set[str]) -> Rule:
    if not isinstance(item, dict):
        raise ConfigError("must be a table", path=path, key=where)
    for key in item:
        if key not in _RULE_KEYS:
            raise ConfigError(
                f"unknown key (expected one of {', '.join(sorted(_RULE_KEYS))})",
                path=path,
                key=f"{where}.{key}",
            )
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            "is required: letters, digits, '.', '_', '-' (1-64)", path=path, key=f"{where}.name"
        )
    kind = item.get("kind", ROUTE)
    if kind not in KINDS:
        raise ConfigError(f"must be one of {', '.join(KINDS)}, not {kind!r}", path=path, key=f"{where}.kind")
    for key in ("machine", "after"):
        value = item.get(key)
        if value not in ids:
            raise ConfigError(
                f"must name a machine of the line ({', '.join(sorted(ids))}), not {value!r}",
                path=path,
                key=f"{where}.{key}",
            )
    if item["machine"] == item["after"]:
        raise ConfigError("must differ from machine", path=path, key=f"{where}.after")
    results = item.get("results", ["passed"])
    if (
        (kind != ROUTE and "results" in item)
        or not isinstance(results, list)
        or not results
        or any(r not in ("passed", "repaired") for r in results)
    ):
        raise ConfigError(
            'a route rule\'s accepted outcomes: a list of "passed" and "repaired"',
            path=path,
            key=f"{where}.results",
        )
    within = item.get("within")
    if kind == TIME_LIMIT:
        if isinstance(within, bool) or not isinstance(within, int | float) or not within > 0:
            raise ConfigError(
                "a time limit needs a positive number of seconds", path=path, key=f"{where}.within"
            )
    elif within is not None:
        raise ConfigError("only a time_limit rule has a limit", path=path, key=f"{where}.within")
    return Rule(
        name=name,
        kind=kind,
        machine=item["machine"],
        after=item["after"],
        results=frozenset(results),
        within_s=float(within) if within is not None else None,
    )


__all__ = [
    "ALLOW",
    "HOLD_KINDS",
    "HOLD_RULE",
    "KINDS",
    "OUTCOMES",
    "ROUTE",
    "STORE_RULE",
    "TIME_LIMIT",
    "ControlConfig",
    "Decision",
    "History",
    "Hold",
    "Rule",
    "Step",
    "decide",
    "parse_control",
    "resolve",
    "step_outcome",
]
