"""The simulated line: the default line end to end on a stepped clock, observed over Hermes by
independent clients; open ends driven by an outside SenderLane/ReceiverLane; line files."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocols.errors import ConfigError
from protocols.hermes import messages as m
from protocols.hermes.transport import ReceiverLane, SenderLane, VerticalClient
from simulators.clock import SteppedClock
from simulators.line import MACHINE_KINDS, Line, LineSpec, default_line, load_line, parse_line, small_line

WAIT = 5.0  # real seconds; only bounds a broken test
PLACEMENT = MACHINE_KINDS["placement"].available()


class Observer:
    """An independent supervisory client on one machine that records board tracking."""

    def __init__(self, client: VerticalClient) -> None:
        self.client = client
        self.arrived: list[m.BoardArrived] = []
        self.departed: list[m.BoardDeparted] = []
        self.changed = asyncio.Event()

    async def run(self) -> None:
        while True:
            message = await self.client.receive()
            if isinstance(message, m.BoardArrived):
                self.arrived.append(message)
            elif isinstance(message, m.BoardDeparted):
                self.departed.append(message)
            self.changed.set()

    async def wait_departed(self, count: int) -> None:
        while len(self.departed) < count:
            self.changed.clear()
            await self.changed.wait()


@contextlib.asynccontextmanager
async def observers(line: Line) -> AsyncIterator[dict[str, Observer]]:
    """A board-tracking client on every machine's vertical channel."""
    features = m.SupervisoryFeatures(feature_board_tracking=m.FeatureBoardTracking())
    async with contextlib.AsyncExitStack() as stack:
        found: dict[str, Observer] = {}
        for endpoint in line.endpoints():
            description = m.SupervisoryServiceDescription("TEST-MES", "1.6", features)
            client = VerticalClient(line.host, endpoint.hermes.vertical_port, description, timeout=WAIT)
            found[endpoint.machine_id] = Observer(await stack.enter_async_context(client))
        for channel in line.channels.values():
            await asyncio.wait_for(channel.server.wait_for_clients(1), WAIT)
        tasks = [asyncio.create_task(o.run()) for o in found.values()]
        try:
            yield found
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_small_line_runs_100_boards_end_to_end() -> None:
    """100 boards through the small line on a stepped clock (the default line's whole run goes
    through the gateway in tests/gateway/test_full_line.py): the sink gets every BoardId the source
    made, once, in order, with its barcode and work order; each machine's vertical channel reports
    every board arriving and departing, as seen by an independent supervisory client."""
    spec = dataclasses.replace(small_line(), boards=100)
    clock = SteppedClock()
    async with Line(spec, clock=clock, start_source=False) as line, observers(line) as seen:
        line.start_source()
        assert line.sink is not None and line.source is not None
        sink = line.sink
        await clock.run_until(lambda: len(sink.received) >= 100, within=50_000, step=1.0)
        # The last BoardDeparted follows the last handoff; give the observers its bytes.
        async with asyncio.timeout(WAIT):
            for observer in seen.values():
                await observer.wait_departed(100)
        source = line.source
    assert sink.board_ids == source.sent and len(set(source.sent)) == 100
    assert sink.repeats == 0
    assert [b.top_barcode for b in sink.received] == [f"PCB{n:06d}" for n in range(1, 101)]
    assert {b.work_order_id for b in sink.received} == {"WO-24-0001", "WO-24-0002"}
    assert all(b.board_id_created_by == "source" for b in sink.received)
    expected = ["placement", "reflow", "solder", "coater"] if PLACEMENT else ["reflow", "solder", "coater"]
    assert list(seen) == expected
    for machine_id, observer in seen.items():
        assert [a.board_id for a in observer.arrived] == source.sent, machine_id
        assert [d.board_id for d in observer.departed] == source.sent, machine_id
        assert all(a.machine_id == machine_id for a in observer.arrived)
    assert line.departed == source.sent


async def test_endpoints_say_where_every_machine_listens() -> None:
    """Each endpoint names its protocol's port (or tty), CFX handle and Hermes ports, and the
    Hermes ports chain: each machine's upstream connects to the previous downstream server."""
    clock = SteppedClock()
    async with Line(small_line(), clock=clock, start_source=False) as line:
        endpoints = {e.machine_id: e for e in line.endpoints()}
        ordered = list(endpoints.values())
    oven, solder, coater = endpoints["reflow"], endpoints["solder"], endpoints["coater"]
    assert (oven.protocol, oven.cfx_handle) == ("modbus-tcp", "linegate.reflow.1")
    assert solder.url is not None and solder.url.startswith(f"opc.tcp://127.0.0.1:{solder.port}/")
    assert coater.tty_path is not None and coater.tty_path.startswith("/dev/")
    for before, after in itertools.pairwise(ordered):
        assert after.hermes.upstream_port == before.hermes.downstream_port
    ports = [p for e in ordered for p in (e.port, e.hermes.downstream_port, e.hermes.vertical_port)]
    assert len(set(ports)) == len(ports)
    if not PLACEMENT:
        pytest.skip("simulators.placement is not available: its CFX endpoint is not checked")
    placement = endpoints["placement"]
    assert (placement.protocol, placement.url) == ("cfx-amqp1.0", f"amqp://127.0.0.1:{placement.port}")


def coaters(*ids: str, legacy_oven_after: int | None = None) -> LineSpec:
    """A small, quick line of coaters (optionally with a legacy oven in the middle)."""
    machines: list[dict[str, Any]] = [{"kind": "coater", "id": machine_id} for machine_id in ids]
    if legacy_oven_after is not None:
        oven = {
            "kind": "reflow_oven",
            "id": "oven",
            "options": {"legacy": True, "tau": 10.0, "tunnel_mm": 300.0},
        }
        machines.insert(legacy_oven_after + 1, oven)
    return parse_line({"seed": 3, "machines": machines})


async def test_open_ends_are_driven_by_outside_hermes_peers() -> None:
    """With open ends the first machine's upstream joins an outside sender and the last machine's
    downstream server serves an outside receiver; boards pass through in order, attributes kept."""
    clock = SteppedClock()
    async with SenderLane(machine_id="OUT-UP", lane_id=1, host="127.0.0.1", port=0) as outside_up:
        spec = coaters("c1", "c2")
        async with Line(spec, clock=clock, open_ends=True, upstream=("127.0.0.1", outside_up.port)) as line:
            assert line.source is None and line.sink is None
            last = line.endpoints()[-1]
            assert last.hermes.downstream_port is not None
            async with ReceiverLane(
                "127.0.0.1", last.hermes.downstream_port, machine_id="OUT-DOWN", lane_id=1, fast_retry=0.01
            ) as outside_down:
                boards = [
                    m.BoardAvailable(
                        board_id=str(uuid.uuid4()),
                        board_id_created_by="OUT-UP",
                        failed_board=m.BoardQuality.GOOD,
                        flipped_board=m.FlippedBoard.TOP_SIDE_IS_UP,
                        top_barcode=f"EXT{n}",
                        work_order_id="WO-EXT",
                    )
                    for n in range(3)
                ]

                async def send_all() -> None:
                    for board in boards:
                        await outside_up.hand_over(board)

                async def take_all() -> list[m.BoardAvailable]:
                    return [await outside_down.take_over() for _ in boards]

                sending = asyncio.create_task(send_all())
                taking = asyncio.create_task(take_all())
                await clock.run_until(taking.done, within=5_000, step=1.0)
                got = taking.result()
                await sending
    assert [b.board_id for b in got] == [b.board_id for b in boards]
    assert [(b.top_barcode, b.board_id_created_by, b.work_order_id) for b in got] == [
        (f"EXT{n}", "OUT-UP", "WO-EXT") for n in range(3)
    ]


async def test_legacy_oven_between_hermes_machines() -> None:
    """A reflow oven in legacy mode (no Hermes) in the middle: its neighbours hand over in memory,
    the line drives its coils once it is ready, and every board still reaches the sink once."""
    spec = dataclasses.replace(coaters("c1", "c2", legacy_oven_after=0), boards=3)
    clock = SteppedClock()
    async with Line(spec, clock=clock) as line:
        assert line.sink is not None and line.source is not None
        sink = line.sink
        await clock.run_until(lambda: len(sink.received) >= 3, within=20_000, step=1.0)
        oven = line.endpoints()[1]
        assert (oven.hermes.upstream_port, oven.hermes.downstream_port) == (None, None)
        assert line.endpoints()[0].hermes.downstream_port is None  # hands over in memory
        assert "OV-ENTRY-OUT-OF-TOL" not in line.machine("oven").faults
        assert sink.board_ids == line.source.sent


@pytest.mark.parametrize(
    ("document", "key", "problem"),
    [
        ({"machines": [{"kind": "mixer", "id": "a"}]}, "machines[0].kind", "unknown machine kind"),
        ({"machines": [{"kind": "coater"}]}, "machines[0].id", "is required"),
        (
            {"machines": [{"kind": "coater", "id": "a"}, {"kind": "coater", "id": "a"}]},
            "machines[1].id",
            "repeated",
        ),
        (
            {"machines": [{"kind": "coater", "id": "a", "options": {"tau": 1}}]},
            "machines[0].options.tau",
            "no option",
        ),
        (
            {"machines": [{"kind": "coater", "id": "a", "hermes_port": 70000}]},
            "machines[0].hermes_port",
            "port",
        ),
        (
            {"machines": [{"kind": "reflow_oven", "id": "o", "options": {"legacy": True}}]},
            "machines[0].options.legacy",
            "without Hermes",
        ),
        (
            {"machines": [{"kind": "coater", "id": "a"}], "time_scale": "fast"},
            "time_scale",
            "must be a number",
        ),
        (
            {"machines": [{"kind": "coater", "id": "a"}], "source": {"work_orders": [{"id": "W"}]}},
            "source.work_orders[0].product",
            "required",
        ),
        ({"machines": []}, "machines", "at least one"),
        ({"machines": [{"kind": "coater", "id": "a"}], "colour": "red"}, "colour", "unknown key"),
    ],
)
def test_line_file_errors_name_file_and_key(document: dict[str, Any], key: str, problem: str) -> None:
    """Every mistake in a line file is a ConfigError naming the file and the key path."""
    with pytest.raises(ConfigError) as caught:
        parse_line(document, path="lines/bad.toml")
    assert (caught.value.path, caught.value.key) == ("lines/bad.toml", key)
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"lines/bad.toml: {key}: ")


def test_line_file_is_read_from_toml(tmp_path: Path) -> None:
    """A line file on disk: machines in order with ids, handles, options and ports; broken TOML
    and a missing file are ConfigErrors naming the file."""
    path = tmp_path / "two.toml"
    path.write_text(
        'name = "two"\ntime_scale = 60\nboards = 5\n'
        '[[machines]]\nkind = "coater"\nid = "c1"\nhandle = "acme.coater.1"\nvertical_port = 0\n'
        '[[machines]]\nkind = "selective_solder"\nid = "s1"\n[machines.options]\ntau = 30\n',
        encoding="utf-8",
    )
    spec = load_line(path)
    assert (spec.name, spec.time_scale, spec.boards) == ("two", 60.0, 5)
    assert [(s.kind, s.machine_id, s.handle) for s in spec.machines] == [
        ("coater", "c1", "acme.coater.1"),
        ("selective_solder", "s1", None),
    ]
    assert spec.machines[1].options == {"tau": 30}
    (tmp_path / "broken.toml").write_text("machines = [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: is not valid TOML at the end of the file"):
        load_line(tmp_path / "broken.toml")
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        load_line(tmp_path / "missing.toml")


def test_default_line_file_matches_the_issue() -> None:
    """The shipped default line is the whole SMT line (issue 16): scanner → printer → SPI →
    placement → AOI → reflow → X-ray → selective solder → coater → ICT → FCT; the small line
    placement → reflow → selective solder → coater (placement left out of either only when its
    simulator is not installed)."""
    lines = Path(__file__).parents[2] / "simulators" / "lines"
    kinds = [s.kind for s in load_line(lines / "default.toml").machines]
    assert kinds == [
        "scanner", "printer", "spi", "placement", "aoi", "reflow_oven", "xray",
        "selective_solder", "coater", "ict", "fct",
    ]  # fmt: skip
    small = [s.kind for s in load_line(lines / "small.toml").machines]
    assert small == ["placement", "reflow_oven", "selective_solder", "coater"]
    for shipped, spec in ((kinds, default_line()), (small, small_line())):
        expected = shipped if PLACEMENT else [k for k in shipped if k != "placement"]
        assert [s.kind for s in spec.machines] == expected
