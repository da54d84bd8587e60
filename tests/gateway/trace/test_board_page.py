"""The dashboard's board page: a search box that shows a board's genealogy from the trace store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.http_support import drive_board, running_line
from tests.gateway.test_dashboard import CHROMIUM, chromium

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


async def test_the_search_box_shows_a_board_and_says_when_none_matches(tmp_path: Path) -> None:
    async with running_line(tmp_path, trace=True) as line:
        await drive_board(line, "B7")
        assert line.gateway.trace is not None
        await line.gateway.outbox.wait_delivered(line.gateway.trace.name)
        async with chromium(line.server.url, tmp_path / "profile") as page:
            await page.wait_until("document.body.dataset.ready === 'true'")
            await page.evaluate(
                "document.getElementById('board-id').value = 'SN-B7';"
                " document.getElementById('board-search').requestSubmit()"
            )
            await page.wait_until("document.getElementById('board-result').dataset.state === 'found'")
            shown = await page.evaluate(
                "(() => { const r = document.getElementById('board-result');"
                " return {passes: r.dataset.passes, report: r.querySelector('a').getAttribute('href'),"
                " machines: [...r.querySelectorAll('table')[0].rows].slice(1)"
                ".map(x => x.cells[0].textContent)}; })()"
            )
            assert shown == {
                "passes": "3",
                "report": "/api/trace/boards/SN-B7/report",
                "machines": ["Acme.printer1.1", "Acme.oven1.1", "Acme.aoi1.1"],
            }
            await page.evaluate(
                "document.getElementById('board-id').value = 'SN-NOPE';"
                " document.getElementById('board-search').requestSubmit()"
            )
            await page.wait_until("document.getElementById('board-result').dataset.state === 'error'")
            text = await page.evaluate("document.getElementById('board-result').textContent")
            assert text == "no board known by 'SN-NOPE'"
