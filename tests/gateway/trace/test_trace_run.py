"""``linegate run`` with ``[trace]``: the trace service in-process, fed from the gateway's own
events with no broker, answering ValidateUnitsRequest on the line's control handle."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import observations as obs
from gateway.assemble import check_line, start_gateway
from gateway.cli import main
from gateway.config import LineConfig, load_config
from gateway.trace.wiring import trace_banner, trace_db
from protocols.cfx.messages import ValidateUnitsRequest, ValidateUnitsResponse
from protocols.cfx.messages.enums import StatusResult
from protocols.cfx.requests import new_request
from protocols.cfx.transport.requester import request
from protocols.errors import ConfigError
from tests.gateway.http_support import JsonAdapter, JsonMachine
from tests.gateway.trace.conftest import PgSchema

CONFIG = """
[line]
name = "Line 7"

[outbox]
path = "outbox.sqlite"

[listener]
port = 0

[trace]
{store}

[[interlock]]
name = "aoi-before-reflow"
machine = "oven1"
after = "aoi1"
results = ["passed", "repaired"]
{machines}
"""

MACHINE = """
[[machines]]
id = "{id}"
handle = "Acme.{id}.1"
protocol = "modbus"
map = "builtin:reflow_oven"
connection = {{ host = "127.0.0.1" }}
"""


SQLITE = 'db = "trace.sqlite"'
DSN_ENV = "LINEGATE_TEST_TRACE_DSN"


def write_config(tmp_path: Path, extra: str = "", store: str = SQLITE) -> Path:
    machines = "".join(MACHINE.format(id=m) for m in ("printer1", "aoi1", "oven1"))
    path = tmp_path / "line.toml"
    path.write_text(CONFIG.format(machines=machines, store=store) + extra, encoding="utf-8")
    return path


async def visit(adapter_runtime: object, board: str, outcome: obs.Outcome | None = None) -> None:
    runtime = adapter_runtime
    machine = runtime.machine_id  # type: ignore[attr-defined]
    at = datetime.now(UTC)
    barcode = f"SN-{board}"
    record = runtime.record  # type: ignore[attr-defined]
    await record(obs.BoardArrived(machine_id=machine, at=at, board_id=board, barcode=barcode))
    await record(obs.WorkStarted(machine_id=machine, at=at, board_id=board, barcode=barcode))
    if outcome is not None:
        position = obs.InspectedPosition(barcode=barcode, outcome=outcome)
        await record(
            obs.InspectionResult(
                machine_id=machine,
                at=at,
                barcode=barcode,
                board_id=board,
                outcome=outcome,
                positions=(position,),
            )
        )
    later = at + timedelta(milliseconds=5)
    await record(obs.WorkFinished(machine_id=machine, at=later, board_id=board, barcode=barcode))
    await record(obs.BoardDeparted(machine_id=machine, at=later, board_id=board, barcode=barcode))


async def test_run_feeds_the_store_and_refuses_the_board_that_failed_aoi(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(write_config(tmp_path))
    check_line(config, secrets=False)
    assert trace_db(config) == tmp_path / "trace.sqlite"
    banner = trace_banner(config)
    assert f"trace store {tmp_path / 'trace.sqlite'}, 1 interlock rule(s)" in banner
    assert "ValidateUnitsRequest at Linegate.Control.Line_7" in banner
    await run_and_check(config, tmp_path, capsys, ["--db", str(tmp_path / "trace.sqlite")])


async def test_run_keeps_the_store_in_postgresql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, pg_schema: PgSchema
) -> None:
    """A factory's gateways share one PostgreSQL database: ``[trace] dsn_env`` names the DSN."""
    monkeypatch.setenv(DSN_ENV, pg_schema.dsn)
    config = load_config(write_config(tmp_path, store=f'dsn_env = "{DSN_ENV}"'))
    check_line(config, secrets=True)
    assert trace_db(config) is None
    assert f"trace store in PostgreSQL (DSN from {DSN_ENV})" in trace_banner(config)
    await run_and_check(config, tmp_path, capsys, ["--dsn", pg_schema.dsn])
    tables = await pg_schema.admin.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (pg_schema.name,)
    )
    assert (await tables.fetchone())[0] > 0  # the gateway migrated the schema there
    assert not (tmp_path / "linegate-trace.sqlite").exists()  # and kept no embedded store


def test_an_unset_dsn_is_a_check_error_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    config = load_config(write_config(tmp_path, store=f'dsn_env = "{DSN_ENV}"'))
    with pytest.raises(ConfigError, match=f"trace.dsn_env: environment variable {DSN_ENV} is not set"):
        check_line(config, secrets=True)
    with pytest.raises(ConfigError, match=r"trace\.dsn: a DSN carries the password"):
        load_config(write_config(tmp_path, store='dsn = "postgresql://u:p@h/db"'))
    with pytest.raises(ConfigError, match=r"trace\.db: give db \(SQLite\) or dsn_env/dsn_file"):
        load_config(write_config(tmp_path, store=f'db = "t.sqlite"\ndsn_env = "{DSN_ENV}"'))


async def run_and_check(
    config: LineConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: list[str]
) -> None:
    """Run the line, ask for boards 1 (passed AOI) and 2 (failed), and read the store back."""
    machines = {m.id: JsonMachine(["R-A"]) for m in config.machines}
    for machine in machines.values():
        await machine.start()
    async with AsyncExitStack() as stack:
        gateway, listener = await start_gateway(
            config,
            stack,
            events_file=str(tmp_path / "events.jsonl"),
            adapter_factory=lambda _c, m, _i: JsonAdapter(m.id, machines[m.id]),
        )
        assert gateway.trace is not None and "Linegate.Control.Line_7" in listener.handles
        stop = asyncio.Event()
        running = asyncio.create_task(gateway.run(stop))
        try:
            await asyncio.wait_for(gateway.started.wait(), 10)
            for board, outcome in (("1", obs.Outcome.PASSED), ("2", obs.Outcome.FAILED)):
                await visit(gateway.machines["printer1"], board)
                await visit(gateway.machines["aoi1"], board, outcome)
            answers = {}
            for board in ("1", "2"):
                body = ValidateUnitsRequest(primary_identifier=f"SN-{board}")
                req = new_request(body, source="Acme.oven1.1", target="Linegate.Control.Line_7")
                answers[board] = (await request(listener.uri, req, timeout=10)).body
            await asyncio.wait_for(gateway.outbox.wait_delivered("trace"), 10)
        finally:
            stop.set()
            await asyncio.wait_for(running, 15)
    passed, refused = answers["1"], answers["2"]
    assert isinstance(passed, ValidateUnitsResponse) and passed.result is not None
    assert passed.result.result is StatusResult.SUCCESS
    assert isinstance(refused, ValidateUnitsResponse) and refused.result is not None
    assert refused.result.result is StatusResult.FAILED
    assert refused.result.message is not None and "interlock aoi-before-reflow" in refused.result.message
    # The store is a file the CLI reads after the gateway stopped: the board's genealogy, and
    # the refusal as a fault on the oven.
    capsys.readouterr()  # the gateway's log so far
    argv = ["trace", "board", "SN-2", *where, "--json"]
    assert await asyncio.to_thread(main, argv) == 0
    record = json.loads(capsys.readouterr().out)["boards"][0]
    assert [p["machine"] for p in record["passes"]] == ["Acme.printer1.1", "Acme.aoi1.1"]
    assert [r["result"] for r in record["results"]] == ["Failed"]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    faults = [e for e in events if e["MessageName"] == "CFX.ResourcePerformance.FaultOccurred"]
    assert [f["MessageBody"]["Fault"]["FaultCode"] for f in faults] == ["INTERLOCK.aoi-before-reflow"]


def test_a_bridge_downstream_must_be_a_machine(tmp_path: Path) -> None:
    extra = """
[[hermes.bridges]]
machine = "oven1"
upstream_host = "127.0.0.1"
downstream = "nowhere"
"""
    config = load_config(write_config(tmp_path, extra))
    with pytest.raises(ConfigError) as caught:
        check_line(config, secrets=False)
    assert caught.value.key == "hermes.bridges[0].downstream"
