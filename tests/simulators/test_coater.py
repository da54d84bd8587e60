"""The coater over its real links: pyserial on the pty and on socket://, checked against coater.md."""

from __future__ import annotations

import asyncio
import functools
import operator
from collections.abc import AsyncIterator, Iterator

import pytest
import serial

from simulators import Board, Coater, Handoff, ScaledClock, SteppedClock

# Every simulator here runs on the plugin's virtual_clock, stepped: time moves only when the test says.
pytestmark = pytest.mark.linegate_clock(stepped=True)

# Replies arrive in milliseconds; this only bounds a broken test.
READ_TIMEOUT = 5.0


class Host:
    """A minimal host written from coater.md alone: frames, XOR-8 checksum, fields."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self.pending = bytearray()

    @staticmethod
    def frame(payload: bytes) -> bytes:
        xor = functools.reduce(operator.xor, payload, 0)
        return b"\x02" + payload + b"\x03" + b"%02X" % xor

    def send(self, payload: bytes) -> None:
        self.port.write(self.frame(payload))
        self.port.flush()

    def _read_frame(self, timeout: float) -> bytes:
        self.port.timeout = timeout
        while True:
            start = self.pending.find(b"\x02")
            end = self.pending.find(b"\x03", start + 1) if start >= 0 else -1
            if end >= 0 and len(self.pending) >= end + 3:
                payload = bytes(self.pending[start + 1 : end])
                digits = bytes(self.pending[end + 1 : end + 3])
                del self.pending[: end + 3]
                xor = functools.reduce(operator.xor, payload, 0)
                if digits != b"%02X" % xor:
                    raise ValueError(f"bad checksum on {payload!r}")
                return payload
            chunk = self.port.read(max(1, self.port.in_waiting))
            if not chunk:
                raise TimeoutError("no frame")
            self.pending += chunk

    async def recv(self, timeout: float = READ_TIMEOUT) -> bytes:
        return await asyncio.to_thread(self._read_frame, timeout)

    async def ask(self, payload: bytes) -> bytes:
        self.send(payload)
        return await self.recv()


def fields(payload: bytes) -> dict[str, str]:
    _, _, body = payload.decode().partition(":")
    return dict(item.split("=", 1) for item in body.split(";") if item)


@pytest.fixture
async def coater(virtual_clock: SteppedClock, handoff: Handoff) -> AsyncIterator[Coater]:
    async with Coater(clock=virtual_clock, seed=7, board_in=handoff) as machine:
        yield machine


@pytest.fixture
def pty_host(coater: Coater) -> Iterator[Host]:
    assert coater.tty_path is not None
    port = serial.Serial(coater.tty_path, baudrate=9600, timeout=READ_TIMEOUT)
    yield Host(port)
    port.close()


@pytest.fixture
def tcp_host(coater: Coater) -> Iterator[Host]:
    port = serial.serial_for_url(f"socket://127.0.0.1:{coater.tcp_port}", timeout=READ_TIMEOUT)
    yield Host(port)
    port.close()


async def test_status_recipe_list_and_query_on_the_pty(pty_host: Host) -> None:
    """ST, RL and RQ answer with the fields the manual lists."""
    status = await pty_host.ask(b"ST")
    assert status.startswith(b"ST:")
    assert fields(status) == {"STATE": "2202", "RCP": "ACRYLIC-50", "REV": "1", "BOARDS": "0", "ALARMS": "-"}
    assert fields(await pty_host.ask(b"RL")) == {"COUNT": "2", "NAMES": "ACRYLIC-50,SILICONE-75"}
    query = fields(await pty_host.ask(b"RQ:NAME=SILICONE-75"))
    assert query["NAME"] == "SILICONE-75" and query["THK"] == "75.0" and query["TOL"] == "12.0"


async def test_recipe_select_changes_over_and_reports(
    pty_host: Host, coater: Coater, virtual_clock: SteppedClock
) -> None:
    """RS is acknowledged at once; the state is setup (4500) until EV TYPE=RA after the changeover."""
    assert fields(await pty_host.ask(b"RS:NAME=SILICONE-75")) == {
        "NAME": "SILICONE-75",
        "REV": "1",
        "RESULT": "OK",
    }
    assert fields(await pty_host.ask(b"ST"))["STATE"] == "4500"
    await virtual_clock.run_for(coater.changeover_time)
    assert fields(await pty_host.recv()) == {"TYPE": "RA", "NAME": "SILICONE-75", "REV": "1"}
    status = fields(await pty_host.ask(b"ST"))
    assert (status["RCP"], status["STATE"]) == ("SILICONE-75", "2202")


async def test_recipe_refused_and_unknown(pty_host: Host, coater: Coater) -> None:
    """An unknown recipe and an injected refusal both answer ER CODE=4 and change nothing."""
    assert fields(await pty_host.ask(b"RS:NAME=NOPE"))["CODE"] == "4"
    coater.recipes.refuse("door open")
    assert fields(await pty_host.ask(b"RS:NAME=SILICONE-75")) == {"CODE": "4", "TEXT": "door open"}
    assert fields(await pty_host.ask(b"ST"))["RCP"] == "ACRYLIC-50"


async def test_bad_frames_get_error_responses_and_sync_holds(pty_host: Host) -> None:
    """Unknown command → CODE=1; bad checksum and line noise → CODE=2; the next command works."""
    assert fields(await pty_host.ask(b"ZZ"))["CODE"] == "1"
    pty_host.port.write(b"\x02ST\x0300")
    assert fields(await pty_host.recv())["CODE"] == "2"
    pty_host.port.write(b"noise")
    assert fields(await pty_host.recv())["CODE"] == "2"
    assert (await pty_host.ask(b"ST")).startswith(b"ST:")


async def test_board_start_and_done_over_tcp(
    tcp_host: Host, coater: Coater, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """A board handed in produces EV BS, then EV BD with thickness, volume, pressure and result."""
    await tcp_host.ask(b"ST")  # the link is registered before events flow
    board = Board(barcode="PCB-0001")
    giver = asyncio.create_task(handoff.give_board(board))
    await virtual_clock.run_until(giver.done, within=5)
    await virtual_clock.run_for(coater.conveyor.transport_time(board))
    start = fields(await tcp_host.recv())
    assert start == {"TYPE": "BS", "ID": board.board_id, "BC": "PCB-0001"}
    await virtual_clock.run_for(120)
    done = fields(await tcp_host.recv())
    assert done["TYPE"] == "BD" and done["ID"] == board.board_id
    assert done["RESULT"] in {"PASS", "FAIL"}
    assert 20.0 < float(done["THK"]) < 80.0 and float(done["VOL"]) > 0 and float(done["PRS"]) > 100


async def test_alarm_raise_and_clear_are_unsolicited(tcp_host: Host, coater: Coater) -> None:
    """raise_fault sends EV AS and sets the state down; clear_fault sends EV AC."""
    await tcp_host.ask(b"ST")
    coater.raise_fault("E231", "nozzle clogged")
    assert fields(await tcp_host.recv()) == {
        "TYPE": "AS",
        "CODE": "E231",
        "SEV": "Error",
        "TEXT": "nozzle clogged",
    }
    status = fields(await tcp_host.ask(b"ST"))
    assert (status["STATE"], status["ALARMS"]) == ("5000", "E231")
    assert fields(await tcp_host.ask(b"RS:NAME=SILICONE-75"))["CODE"] == "5"
    coater.clear_fault("E231")
    assert fields(await tcp_host.recv()) == {"TYPE": "AC", "CODE": "E231"}


async def test_silent_keeps_the_socket_open(tcp_host: Host, coater: Coater) -> None:
    """go_silent: commands get no answer but the link stays up; afterwards answers resume."""
    coater.go_silent()
    tcp_host.send(b"ST")
    with pytest.raises(TimeoutError):
        await tcp_host.recv(timeout=0.3)
    assert tcp_host.port.is_open
    coater.go_silent(False)
    assert (await tcp_host.ask(b"ST")).startswith(b"ST:")


async def test_corrupt_checksum_and_garbage_reach_the_client(pty_host: Host, coater: Coater) -> None:
    """An injected bad checksum is seen by the host; injected garbage precedes the next frame."""
    coater.corrupt_next_checksums(1)
    pty_host.send(b"ST")
    with pytest.raises(ValueError, match="bad checksum"):
        await pty_host.recv()
    coater.send_garbage(b"\xff\xfe")
    assert (await pty_host.ask(b"RL")).startswith(b"RL:")
    # The host's own scan skipped the garbage; it was on the wire in front of the frame.


async def test_delayed_and_split_frames_follow_the_clock(
    pty_host: Host, coater: Coater, virtual_clock: SteppedClock
) -> None:
    """A delayed reply arrives only after the clock passes the delay; a split reply still parses."""
    coater.delay_responses(3.0)
    pty_host.send(b"ST")
    reply = asyncio.create_task(pty_host.recv())
    await asyncio.wait_for(virtual_clock.wait_for_sleeper(virtual_clock.now() + 3.0), READ_TIMEOUT)
    await virtual_clock.run_for(2.9)
    assert not reply.done()
    await virtual_clock.run_for(0.1)
    assert (await reply).startswith(b"ST:")
    coater.delay_responses(0)
    coater.split_frames(parts=3, gap=1.0)
    pty_host.send(b"RL")
    reply = asyncio.create_task(pty_host.recv())
    for _gap in range(2):  # three parts, two gaps: each gap is a sleep on the clock
        await asyncio.wait_for(virtual_clock.wait_for_sleeper(virtual_clock.now() + 1.0), READ_TIMEOUT)
        assert not reply.done()
        await virtual_clock.run_for(1.0)
    assert (await reply).startswith(b"RL:")


async def test_drop_connection_closes_tcp(tcp_host: Host, coater: Coater) -> None:
    """drop_connection closes the TCP link: the client's next read fails or returns nothing."""
    await tcp_host.ask(b"ST")
    coater.drop_connection()
    with pytest.raises((serial.SerialException, TimeoutError)):
        await tcp_host.recv(timeout=1.0)


async def test_drop_connection_hangs_up_the_pty(pty_host: Host, coater: Coater) -> None:
    """On the pty, drop_connection hangs up: the old port fails, a new tty path answers."""
    old_path = coater.tty_path
    assert (await pty_host.ask(b"ST")).startswith(b"ST:")
    coater.drop_connection()
    assert coater.tty_path is not None and coater.tty_path != old_path
    with pytest.raises((serial.SerialException, OSError)):
        await pty_host.ask(b"ST")
    port = serial.Serial(coater.tty_path, timeout=READ_TIMEOUT)
    try:
        assert (await Host(port).ask(b"RL")).startswith(b"RL:")
    finally:
        port.close()


async def test_runs_on_an_accelerated_real_clock() -> None:
    """With ScaledClock(1000) a 45 s coating cycle takes about 45 real milliseconds."""
    handoff = Handoff()
    async with Coater(clock=ScaledClock(time_scale=1000), board_in=handoff, pty=False) as coater:
        port = serial.serial_for_url(f"socket://127.0.0.1:{coater.tcp_port}", timeout=READ_TIMEOUT)
        try:
            host = Host(port)
            await host.ask(b"ST")
            await asyncio.wait_for(handoff.give_board(Board(barcode="FAST")), READ_TIMEOUT)
            assert fields(await host.recv())["TYPE"] == "BS"
            assert fields(await host.recv())["TYPE"] == "BD"
        finally:
            port.close()
    assert coater.tty_path is None


async def test_run_slow_shows_in_the_reported_cycle_time(
    tcp_host: Host, coater: Coater, virtual_clock: SteppedClock, handoff: Handoff
) -> None:
    """run_slow(2) doubles the cycle time the coater reports in EV TYPE=BD (nominal 45 s)."""
    await tcp_host.ask(b"ST")
    coater.run_slow(2.0)
    giver = asyncio.create_task(handoff.give_board(Board()))
    await virtual_clock.run_until(giver.done, within=5)
    await virtual_clock.run_until(lambda: coater.boards_done == 1, within=400)
    assert fields(await tcp_host.recv())["TYPE"] == "BS"
    done = fields(await tcp_host.recv())
    assert 80.0 < float(done["CT"]) < 100.0
