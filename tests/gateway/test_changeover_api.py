"""Where users ask for a changeover at the product boundary: the HTTP API and ``linegate recipe``.

The gateway here has no board gate (its machines have no Hermes vertical channel), so a
changeover at the boundary switches nothing and says so per machine, and nothing changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import orjson
import pytest

from gateway.recipes import CODE_NO_BOUNDARY
from tests.gateway.http_support import TOKEN, RunningLine, run_cli

pytestmark = pytest.mark.usefixtures("keep_logging_config")

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def test_changeover_at_the_boundary_without_a_gate_is_refused_per_machine(
    line: RunningLine,
    http: aiohttp.ClientSession,
) -> None:
    before = {machine_id: machine.active for machine_id, machine in line.machines.items()}
    headers = {**AUTH, "Accept": "application/x-ndjson"}
    body = {"product": "PCB-B", "at": "boundary"}
    async with http.post(f"{line.url}/api/changeover", json=body, headers=headers) as response:
        assert response.status == 200
        rows = [orjson.loads(row) async for row in response.content if row.strip()]
    assert rows[0]["at"] == "boundary" and rows[-1]["at"] == "boundary" and rows[-1]["ok"] is False
    outcomes = [row for row in rows if row["type"] == "outcome"]
    assert sorted(o["machine"] for o in outcomes) == ["aoi1", "oven1", "printer1"]
    assert all(not o["ok"] and o["result_code"] == CODE_NO_BOUNDARY for o in outcomes), outcomes
    assert {machine_id: machine.active for machine_id, machine in line.machines.items()} == before
    async with http.post(
        f"{line.url}/api/changeover", json={"product": "PCB-B", "at": "soon"}, headers=AUTH
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["message"] == "'at' must be one of now, boundary"


async def test_recipe_changeover_at_the_boundary_from_the_cli(
    line: RunningLine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    keep_logging_config: Iterator[None],
) -> None:
    monkeypatch.setenv("LINEGATE_HTTP_TOKEN", TOKEN)
    status, out, err = await run_cli(
        capsys, "recipe", "changeover", "PCB-A", "--at", "boundary", "--url", line.url
    )
    assert status == 1 and "changeover to PCB-A failed on: aoi1, oven1, printer1" in err
    assert "no board gate" in out
    status, _, err = await run_cli(capsys, "recipe", "changeover", "PCB-A", "--at", "now", "--url", line.url)
    assert status == 0, err
