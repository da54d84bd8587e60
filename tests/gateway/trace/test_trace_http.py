"""The trace routes of the HTTP API: queries, the per-board report, holds, interlock status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.gateway.http_support import TOKEN, RunningLine, drive_board, running_line

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def call(line: RunningLine, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, line.url + path, **kwargs) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def test_queries_report_and_holds(tmp_path: Path) -> None:
    async with running_line(tmp_path, trace=True) as line:
        await drive_board(line, "B1")
        await drive_board(line, "B2")
        assert line.gateway.trace is not None and line.gateway.outbox is not None
        await line.gateway.outbox.wait_delivered("trace")

        status, body = await call(line, "GET", "/api/trace/boards/SN-B1")
        assert status == 200 and body["matches"] == 1
        assert [p["machine"] for p in body["boards"][0]["passes"]] == [
            "Acme.printer1.1",
            "Acme.oven1.1",
            "Acme.aoi1.1",
        ]
        status, page = await call(line, "GET", "/api/trace/boards/SN-B1/report")
        assert status == 200 and page.startswith("<!doctype html>") and "Acme.oven1.1" in page
        status, body = await call(line, "GET", "/api/trace/boards/SN-NOPE")
        assert status == 404 and body["error"]["message"] == "no board known by 'SN-NOPE'"
        status, body = await call(
            line,
            "GET",
            "/api/trace/window",
            params={"machine": "Acme.oven1.1", "from": "2000-01-01", "to": "2100-01-01"},
        )
        assert status == 200 and [b["barcode"] for b in body["boards"]] == ["SN-B1", "SN-B2"]
        status, body = await call(
            line, "GET", "/api/trace/window", params={"machine": "x", "from": "y", "to": "z"}
        )
        assert status == 400
        status, body = await call(line, "GET", "/api/trace/faults/nope")
        assert status == 404
        status, body = await call(line, "GET", "/api/trace/materials/REEL-NONE")
        assert status == 404

        hold = {"kind": "board", "value": "SN-B2", "reason": "x-ray", "by": "OP-1"}
        status, body = await call(line, "POST", "/api/holds", json=hold)
        assert status == 401  # no token: refused before anything is looked at
        status, body = await call(line, "POST", "/api/holds", json=hold, headers=AUTH)
        assert status == 201 and body["created"] and body["hold"]["value"] == "SN-B2"
        status, body = await call(line, "POST", "/api/holds", json=hold, headers=AUTH)
        assert status == 200 and not body["created"]
        status, body = await call(
            line, "POST", "/api/holds", json={**hold, "value": "SN-GHOST"}, headers=AUTH
        )
        assert status == 404 and "nothing to hold" in body["error"]["message"]
        status, body = await call(line, "POST", "/api/holds", json={**hold, "kind": "pallet"}, headers=AUTH)
        assert status == 400
        decision = await line.gateway.trace.decide("oven1", ["SN-B2"], via="test")
        assert decision.rule == "hold"
        status, body = await call(line, "GET", "/api/control")
        assert status == 200 and body["refused"] == 1 and body["refusals"][0]["board"] == "SN-B2"
        assert [h["value"] for h in body["holds"]] == ["SN-B2"]
        release = {"kind": "board", "value": "SN-B2"}
        status, body = await call(line, "POST", "/api/holds/release", json=release, headers=AUTH)
        assert status == 200 and [h["value"] for h in body["released"]] == ["SN-B2"]
        status, body = await call(line, "POST", "/api/holds/release", json=release, headers=AUTH)
        assert status == 404
        status, body = await call(line, "GET", "/api/holds")
        assert status == 200 and body == {"holds": []}


async def test_without_a_trace_service_the_routes_answer_503(tmp_path: Path) -> None:
    async with running_line(tmp_path) as line:
        for path in ("/api/trace/boards/SN-1", "/api/control", "/api/holds"):
            status, body = await call(line, "GET", path)
            assert status == 503 and "no trace service" in body["error"]["message"]


async def test_an_identifier_naming_several_boards_answers_them_all(tmp_path: Path) -> None:
    from gateway.trace import ingest
    from tests.gateway.trace.conftest import visit

    async with running_line(tmp_path, trace=True) as line:
        trace = line.gateway.trace
        assert trace is not None
        # One label on two boards (two Hermes BoardIds): a reused barcode.
        reused = [*visit("Acme.aoi1.1", "SN-DUP", "H-1", 0), *visit("Acme.aoi1.1", "SN-DUP", "H-2", 10)]
        await trace.store.run(lambda: ingest(reused))
        status, body = await call(line, "GET", "/api/trace/boards/SN-DUP")
        assert status == 200 and body["matches"] == 2
        assert [b["hermes_id"] for b in body["boards"]] == ["H-1", "H-2"]
        status, page = await call(line, "GET", "/api/trace/boards/SN-DUP/report")
        assert status == 200 and "SN-DUP names 2 boards (oldest first)" in page
