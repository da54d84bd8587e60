"""The linegate pytest plugin: simulator-backed fixtures for line integration tests.

Loaded automatically when linegate is installed (the ``pytest11`` entry point named
``gateway.testing.plugin``, after the module), or explicitly with
``pytest_plugins = ["gateway.testing.plugin"]``. See ``docs/testing.md``.

Fixtures (all function-scoped; every server binds 127.0.0.1 on a free port):

- ``virtual_clock``: the simulated clock; a ``ScaledClock`` (``DEFAULT_TIME_SCALE`` simulated
  seconds per real second) or, with ``@pytest.mark.linegate_clock(stepped=True)``, a
  ``SteppedClock`` the test advances.
- ``reflow_oven``, ``placement_machine``, ``selective_solder``, ``coater``: one started
  simulator each, fed through a ``Handoff`` (``machine.board_in``); the value is the simulator,
  so its fault injection (``raise_fault``, ``clear_fault``, ``go_silent``,
  ``drop_connection``, ``recipes.refuse``, ...) is a method call away.
- ``simulated_line``: a :class:`~gateway.testing.harness.SimulatedLine` running the default
  line, a line file named by ``@pytest.mark.linegate_line("path.toml")``, or the path or
  ``LineSpec`` given by indirect parametrization.
- ``linegate_gateway``: a :class:`~gateway.testing.harness.LinegateGateway` against
  ``simulated_line``, started from the line config ``linegate run`` would read for that line,
  through run's own assembly (embedded SQLite outbox, HTTP API, CFX request listener, recipe
  service with the line's products).
- ``cfx_events``: the :class:`~gateway.testing.events.CFXEventCollector` the gateway delivers to.
- ``rabbitmq_cluster``: a :class:`~gateway.testing.rabbitmq_cluster.RabbitMQCluster`, three
  RabbitMQ nodes of the installed rabbitmq-server clustered on loopback ports; started once per
  session (20 to 40 s on a busy 2-core machine), every node running again (no partition left,
  the default net_ticktime) before each test that uses it. Skipped when rabbitmq-server is
  not installed (failed instead when ``LINEGATE_REQUIRE_BROKERS=1``).
- ``linegate_sinks``: extra sinks for the gateway (default none); override it in a test module
  or conftest to add an AMQP or MQTT sink.

Markers: ``linegate_line``, ``linegate_clock``, ``linegate_broker`` (see ``pytest_configure``).

The kit needs pytest-asyncio (``pip install linegate[testing]``). Installed without it, the
plugin still loads (pytest loads it in every session of the venv, linegate's tests or not) and
stays inert: each fixture fails with one message that says what to install, and nothing else
changes.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import pytest

from gateway.testing.brokers import REQUIRE_ENV, resolve, unreachable

# The simulators, the gateway and their protocol libraries take about a second to import; the
# plugin loads in every pytest session of a project that installs linegate, so they are
# imported when a fixture first needs them, not when pytest starts.
if TYPE_CHECKING:
    from gateway.sinks.base import Sink
    from gateway.testing.events import CFXEventCollector
    from gateway.testing.harness import LinegateGateway, SimulatedLine
    from gateway.testing.rabbitmq_cluster import RabbitMQCluster
    from simulators import Clock, Coater, LineSpec, PlacementMachine, ReflowOven, SelectiveSolder

#: Simulated seconds per real second of the default ``virtual_clock``.
DEFAULT_TIME_SCALE = 400.0
#: Boards the source of ``simulated_line`` makes unless the line file or marker says otherwise.
DEFAULT_BOARDS = 20

_MARKERS = (
    "linegate_line(path=None, *, boards=..., time_scale=...): run simulated_line from this line "
    "file (relative to the test file) instead of the default line; boards=None for no limit",
    "linegate_clock(*, stepped=False, time_scale=400.0): the virtual_clock the simulators run on",
    "linegate_broker(*names): needs these brokers ('rabbitmq'/'amqp', 'mosquitto'/'mqtt'); "
    f"skipped when one is unreachable, failed instead when {REQUIRE_ENV}=1",
)
_BROKER_CHECKS = pytest.StashKey[dict[str, str | None]]()

F = TypeVar("F", bound=Callable[..., Any])


def _missing_kit() -> str | None:
    """Why the fixtures cannot run (a kit dependency is not installed), or None when they can."""
    try:
        import pytest_asyncio  # noqa: F401
    except ImportError as exc:
        return (
            f"linegate's pytest fixtures need pytest-asyncio ({exc}); "
            "install the test kit with: pip install 'linegate[testing]'"
        )
    return None


#: Set when a kit dependency is missing: the plugin then stays inert (see the module docstring).
MISSING = _missing_kit()


def _async_fixture(func: F) -> F:
    """``pytest_asyncio.fixture``; without pytest-asyncio, a fixture that fails saying so."""
    if MISSING is None:
        import pytest_asyncio

        return cast(F, pytest_asyncio.fixture(func))

    message = MISSING

    # No parameters on purpose: the fixtures it stands for would start machines first.
    def unavailable() -> NoReturn:
        pytest.fail(message, pytrace=False)

    unavailable.__doc__ = func.__doc__
    return cast(F, pytest.fixture(name=func.__name__)(unavailable))


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers (so ``--strict-markers`` accepts them)."""
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    config.stash[_BROKER_CHECKS] = {}


#: The fixtures that start something (a test using one pays seconds before its body runs).
_STARTING = frozenset(
    {"reflow_oven", "placement_machine", "selective_solder", "coater", "simulated_line"}
    | {"linegate_gateway", "cfx_events"}
)


def _unrun_coroutine(item: pytest.Item) -> str | None:
    """Why pytest-asyncio will not run this ``async def`` test using the fixtures, or None."""
    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
        return None
    if MISSING is not None or not _STARTING.intersection(item.fixturenames):
        return None
    # pytest-asyncio runs a coroutine test only with its asyncio marker, which its auto mode
    # adds to every one at collection; strict mode needs it written.
    if item.get_closest_marker("asyncio") is not None:
        return None
    return (
        f"{item.name} is an async def test, which pytest-asyncio runs only when marked "
        '@pytest.mark.asyncio (or with asyncio_mode = "auto"); linegate stops it before its '
        "fixtures start the simulators"
    )


@pytest.hookimpl(tryfirst=True)  # before any fixture tries to connect
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Stop, before its fixtures start machines, a test that cannot or need not run.

    Fails an ``async def`` test that pytest-asyncio would not run; skips (or fails) a
    ``linegate_broker`` test at once when its broker does not answer.
    """
    unrun = _unrun_coroutine(item)
    if unrun is not None:
        pytest.fail(unrun, pytrace=False)
    checks = item.config.stash.get(_BROKER_CHECKS, {})
    for marker in item.iter_markers("linegate_broker"):
        for name in marker.args or ("rabbitmq",):
            try:
                broker = resolve(str(name))
            except ValueError as exc:
                pytest.fail(str(exc), pytrace=False)
            if broker.name not in checks:
                checks[broker.name] = unreachable(broker)
            problem = checks[broker.name]
            if problem is None:
                continue
            if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
                pytest.fail(f"linegate_broker: {problem}", pytrace=False)
            pytest.skip(f"linegate_broker: {problem}")


# -- clock and single machines --------------------------------------------------------------


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest) -> Clock:
    """The simulated clock every linegate simulator of the test runs on.

    ``@pytest.mark.linegate_clock(stepped=True)`` gives a ``SteppedClock`` (time moves only on
    ``advance``/``run_for``); otherwise a ``ScaledClock`` at ``time_scale`` (default 400).
    """
    from simulators import ScaledClock, SteppedClock

    marker = request.node.get_closest_marker("linegate_clock")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    if options.pop("stepped", False):
        return SteppedClock()
    return ScaledClock(float(options.pop("time_scale", DEFAULT_TIME_SCALE)))


@_async_fixture
async def reflow_oven(virtual_clock: Clock) -> AsyncIterator[ReflowOven]:
    """A started Modbus TCP reflow oven (``.port``); feed boards through ``.board_in``."""
    from simulators import Handoff, ReflowOven

    async with ReflowOven(clock=virtual_clock, board_in=Handoff()) as oven:
        yield oven


@_async_fixture
async def placement_machine(virtual_clock: Clock) -> AsyncIterator[PlacementMachine]:
    """A started CFX placement machine (``.request_uri``, ``.handle``); it publishes nothing."""
    from simulators import Handoff, PlacementMachine

    async with PlacementMachine(clock=virtual_clock, board_in=Handoff()) as machine:
        yield machine


@_async_fixture
async def selective_solder(virtual_clock: Clock) -> AsyncIterator[SelectiveSolder]:
    """A started OPC UA selective solder machine (``.url``)."""
    from simulators import Handoff, SelectiveSolder

    async with SelectiveSolder(clock=virtual_clock, board_in=Handoff()) as machine:
        yield machine


@_async_fixture
async def coater(virtual_clock: Clock) -> AsyncIterator[Coater]:
    """A started serial coater on TCP (``.tcp_port``, ``socket://127.0.0.1:<port>``), no pty."""
    from simulators import Coater, Handoff

    async with Coater(clock=virtual_clock, board_in=Handoff(), pty=False) as machine:
        yield machine


# -- the line and the gateway ---------------------------------------------------------------


def _resolve(path: str | Path, request: pytest.FixtureRequest) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute():
        beside = Path(request.path).parent / candidate
        if beside.exists():
            return beside
    return candidate


def _requested_spec(request: pytest.FixtureRequest) -> tuple[LineSpec, dict[str, Any]]:
    from simulators import LineSpec, default_line, load_line

    marker = request.node.get_closest_marker("linegate_line")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    source: object = getattr(request, "param", None)
    if source is None and marker is not None and marker.args:
        source = marker.args[0]
    if source is None:
        return default_line(), options
    if isinstance(source, LineSpec):
        return source, options
    if isinstance(source, (str, Path)):
        return load_line(_resolve(source, request)), options
    raise TypeError(f"simulated_line: expected a line file path or a LineSpec, not {source!r}")


@_async_fixture
async def simulated_line(
    request: pytest.FixtureRequest, virtual_clock: Clock
) -> AsyncIterator[SimulatedLine]:
    """The running simulated line (default line, ``linegate_line`` marker, or indirect parameter).

    With ``linegate_gateway`` in the test, boards start once the gateway is connected to every
    machine (none goes unobserved); otherwise at once.
    """
    from gateway.testing.harness import SimulatedLine, free_port, line_products, line_spec
    from simulators import Line, ScaledClock

    spec, options = _requested_spec(request)
    products = line_products(spec)  # a bad [products] table fails before the line starts
    boards = options.get("boards", spec.boards if spec.boards is not None else DEFAULT_BOARDS)
    scale = getattr(virtual_clock, "time_scale", spec.time_scale)
    events_port = free_port()
    spec = line_spec(
        spec, time_scale=float(options.get("time_scale", scale)), boards=boards, events_port=events_port
    )
    clock = virtual_clock
    if "time_scale" in options and isinstance(clock, ScaledClock):
        clock = ScaledClock(spec.time_scale)
    autostart = "linegate_gateway" not in request.fixturenames
    async with Line(spec, clock=clock, start_source=autostart) as line:
        yield SimulatedLine(line, events_port, products)


@pytest.fixture
def linegate_sinks() -> list[Sink]:
    """Sinks the gateway delivers to besides ``cfx_events`` (none); override to add some."""
    return []


@pytest.fixture
def _linegate_collector() -> CFXEventCollector:
    from gateway.testing.events import CFXEventCollector

    return CFXEventCollector()


@_async_fixture
async def linegate_gateway(
    simulated_line: SimulatedLine,
    _linegate_collector: CFXEventCollector,
    linegate_sinks: list[Sink],
    tmp_path: Path,
) -> AsyncIterator[LinegateGateway]:
    """A running gateway against ``simulated_line``, every adapter connected, boards flowing."""
    from gateway.testing.harness import wire_gateway

    async with AsyncExitStack() as stack:
        yield await wire_gateway(
            stack, simulated_line, tmp_path / "outbox.sqlite", [_linegate_collector, *linegate_sinks]
        )


@pytest.fixture
def cfx_events(
    linegate_gateway: LinegateGateway, _linegate_collector: CFXEventCollector
) -> CFXEventCollector:
    """The normalized CFX envelopes the gateway delivers; ``await cfx_events.wait_for(...)``."""
    return _linegate_collector


# -- a RabbitMQ cluster ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def _linegate_rabbitmq_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQCluster]:
    from gateway.testing.rabbitmq_cluster import RabbitMQCluster, ServerMissing

    try:
        cluster = RabbitMQCluster(tmp_path_factory.mktemp("rabbitmq-cluster"))
    except ServerMissing as exc:
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"rabbitmq_cluster: {exc}", pytrace=False)
        pytest.skip(f"rabbitmq_cluster: {exc}")
    with cluster:
        yield cluster


@pytest.fixture
def rabbitmq_cluster(_linegate_rabbitmq_cluster: RabbitMQCluster) -> RabbitMQCluster:
    """Three clustered RabbitMQ nodes (``.nodes[i].url``, ``.kill``, ``.stop_app``,
    ``.partition``, ``.heal``).

    One cluster serves the whole session; before each test every node runs again (a node a
    previous test killed, stopped or partitioned is brought back), so a test may break nodes
    freely.
    """
    _linegate_rabbitmq_cluster.heal()
    return _linegate_rabbitmq_cluster
