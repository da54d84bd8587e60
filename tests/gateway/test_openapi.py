"""The OpenAPI document at /api/openapi.json: it names every route, and schemathesis finds the
live API as the document says (status codes, content types, bodies, auth)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import re
import shutil
import sys
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from adapters import observations as obs
from gateway.http import api, openapi
from gateway.http.line import line_view
from gateway.http.server import STATIC
from gateway.http.sse import Subscription
from tests.gateway.http_support import TOKEN, RunningLine, drive_board, running_line

SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
# aiohttp answers HEAD on every GET route by itself; the document lists the GETs.
IMPLICIT = {"HEAD"}


def routes_of_app() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route the server's router has."""
    context = api.Context(gateway=cast(Any, None), token=None, sse=None, metrics=None, line_name=None)
    app = api.build_app(context, static=STATIC, max_body=1024)
    found = set()
    for route in app.router.routes():
        if route.method in IMPLICIT:
            continue
        assert route.resource is not None
        info = route.resource.get_info()
        path = info.get("path") or info["formatter"]
        found.add((route.method.lower(), path))
    return found


def test_every_route_is_documented_and_nothing_else() -> None:
    document = openapi.build()
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes_of_app() == documented


def test_write_operations_name_the_bearer_scheme_and_their_errors() -> None:
    document = openapi.build()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "the token of the line config's [http] token",
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "500" in responses and "405" in responses, (method, path)
            if method == "post":
                assert operation["security"] == [{"bearer": []}], path
                assert {"400", "401", "403", "413"} <= set(responses), path
            else:
                assert "security" not in operation, path


@pytest.mark.parametrize("token", [TOKEN, None])
async def test_served_document_is_the_built_one(tmp_path: Path, token: str | None) -> None:
    async with (
        running_line(tmp_path, token=token) as line,
        aiohttp.ClientSession() as session,
        session.get(f"{line.url}/api/openapi.json") as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/json"
        document = await response.json()
    assets = ["dashboard.css", "dashboard.js", "index.html"]
    assert document == openapi.build(assets, writes_enabled=token is not None)
    assert document["paths"]["/static/{path}"]["get"]["parameters"][0]["schema"]["enum"] == assets
    changeover = document["paths"]["/api/changeover"]["post"]
    if token is None:  # nothing to authenticate with: the writes say they are disabled
        assert "security" not in changeover and "401" not in changeover["responses"]
        assert changeover["description"].startswith("Disabled on this gateway")
    else:
        assert changeover["security"] == [{"bearer": []}]


needs_schemathesis = pytest.mark.skipif(
    not os.path.exists(SCHEMATHESIS), reason="schemathesis is not installed (the test extra)"
)


async def schemathesis(url: str, tmp_path: Path, config: str, *options: str, examples: int = 25) -> str:
    """Run ``schemathesis run`` (every check, deterministic data, one worker) on the document
    at ``url``; return its report after asserting that every generated case passed."""
    path = tmp_path / "schemathesis.toml"
    path.write_text(config)
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS,
        "--config-file",
        str(path),
        "run",
        f"{url}/api/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(examples),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
        *options,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    counts = re.search(r"(\d+) generated, (\d+) passed", text)
    assert counts is not None and counts[1] == counts[2], text
    return text


async def fill_the_line_view(line: RunningLine) -> str:
    """Give /api/line something in every field the document describes: departed boards and a
    reflow profile, a board still inside, an active fault, readings (a NaN one among them).
    Returns the occurrence id of an active fault on printer1 (one to acknowledge)."""
    # The SSE sink keeps the boards and profiles: once its subscriber has the last event, its
    # tracker has seen every earlier one.
    subscription = line.sse.subscribe(["Acme.oven1.1"])
    try:
        await drive_board(line, "B1")
        oven = line.runtime("oven1")
        at = datetime.now(UTC)
        await oven.record(obs.BoardArrived(machine_id="oven1", at=at, board_id="B2", barcode="SN-B2", lane=1))
        await oven.record(obs.Reading(machine_id="oven1", at=at, name="o2", value=1650.0, unit="ppm"))
        await oven.record(obs.Reading(machine_id="oven1", at=at, name="zone9", value=math.nan, unit="C"))
        await oven.record(
            obs.FaultRaised(machine_id="oven1", at=at, code="OV-O2-HIGH", description="O2 high")
        )
        await line.runtime("printer1").record(
            obs.FaultRaised(machine_id="printer1", at=at, code="PR-PASTE-LOW", description="paste low")
        )
        async with asyncio.timeout(10):
            while b"CFX.ResourcePerformance.FaultOccurred" not in (await subscription.get(10) or b""):
                pass
    finally:
        line.sse.unsubscribe(subscription)
    view = line_view(line.gateway, line.sse.tracker, "Line 1")
    oven_view = next(m for m in view["machines"] if m["id"] == "oven1")
    assert oven_view["faults"] and oven_view["reflow"] and oven_view["boards_present"]
    assert oven_view["readings"]["zone9"]["value"] is None
    printer = line.runtime("printer1").normalizer.faults["PR-PASTE-LOW"]
    return str(printer.fault.fault_occurrence_id)


async def fill_the_trace_store(line: RunningLine) -> str:
    """Board SN-B1 also names a reel it got parts from (one path parameter serves the board and
    the material routes); returns the oven fault's occurrence id."""
    from gateway.trace import ingest
    from gateway.trace.store import Sql, Work
    from tests.gateway.trace.conftest import envelope

    trace = line.gateway.trace
    assert trace is not None
    await line.gateway.outbox.wait_delivered(trace.name)
    material = envelope(
        "CFX.Production.Assembly.MaterialsInstalled",
        "Acme.printer1.1",
        0,
        {"InstalledMaterials": [{"UnitIdentifier": "SN-B1", "Material": {"UniqueIdentifier": "SN-B1"}}]},
    )
    await trace.store.run(lambda: ingest([material]))

    def occurrence() -> Work[str]:
        rows = yield Sql("SELECT occurrence_id FROM trace_fault WHERE code = 'OV-O2-HIGH'")
        return str(rows[0][0])

    return await trace.store.run(occurrence)


@needs_schemathesis
@pytest.mark.timeout(120)
@pytest.mark.parametrize("token", [TOKEN, None], ids=["writes", "no-token"])
async def test_schemathesis_finds_the_live_api_as_documented(tmp_path: Path, token: str | None) -> None:
    """Every operation but the event stream (next test): with the token, so the write paths
    run past auth (its ignored_auth check retries without it), and on a gateway with no token,
    whose writes all answer 403."""
    # A machine and a product that exist, so the recipe operations run past the lookups (their
    # 404s are covered by test_http): the recipes schemathesis makes up are refused by the machine
    # (409), the changeovers to PCB-A succeed (this line's own gateway: no other test sees them).
    config = '[parameters]\n"path.machine" = "printer1"\n"body.product" = "PCB-A"\n'
    async with running_line(tmp_path, token=token, trace=True) as line:
        fault = await fill_the_line_view(line)
        config += f'"path.fault" = "{fault}"\n'
        # The trace routes find a board, a reel, a fault and a machine that exist.
        occurrence = await fill_the_trace_store(line)
        config += (
            f'"path.identifier" = "SN-B1"\n"path.occurrence" = "{occurrence}"\n'
            '"query.machine" = "Acme.oven1.1"\n"body.kind" = "board"\n"body.value" = "SN-B1"\n'
        )
        text = await schemathesis(
            line.url,
            tmp_path,
            config,
            "--exclude-path",
            "/api/events",
            *(["--header", f"Authorization: Bearer {token}"] if token else []),
            examples=25 if token else 10,  # without a token every write is the same 403
        )
    assert int(re.findall(r"(\d+) generated", text)[-1]) > (100 if token else 50), text
    if token:
        assert "Missing test data" not in text, text


@needs_schemathesis
@pytest.mark.timeout(120)
async def test_schemathesis_reads_the_event_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/api/events never ends: schemathesis reads one event of each stream and checks it (and
    its data, a CFX envelope) against the document. Each time a client subscribes a board goes
    through the line, so there is always an event to read."""
    config = (
        '[parameters]\n"query.source" = "Acme.oven1.1"\n\n'
        '[[operations]]\ninclude-path = "/api/events"\nmax-stream-events = 1\n'
    )
    async with running_line(tmp_path) as line:
        subscribed = asyncio.Event()
        subscribe = line.sse.subscribe

        def subscribing(sources: Collection[str] = ()) -> Subscription:
            subscription = subscribe(sources)
            subscribed.set()
            return subscription

        monkeypatch.setattr(line.sse, "subscribe", subscribing)

        async def boards() -> None:
            for number in itertools.count():
                await subscribed.wait()
                subscribed.clear()
                await drive_board(line, f"B{number}", number)

        feeder = asyncio.create_task(boards())
        try:
            text = await schemathesis(line.url, tmp_path, config, "--include-path", "/api/events")
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
    assert "Selected: 1/" in text and "Tested: 1" in text, text
