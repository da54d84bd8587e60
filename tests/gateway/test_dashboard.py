"""The dashboard in real headless Chromium, driven over the Chrome DevTools protocol.

A running line (``http_support``) serves the page; boards flow through it while the test asks
the page, through ``Runtime.evaluate``, whether the line, the machine states, the faults, the
recipe and the reflow chart show what the gateway knows. Every request the page makes must go
to the gateway itself. A screenshot is written to ``artifacts/dashboard.png``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters import observations as obs
from gateway.config import RecipeRef
from tests.gateway.http_support import RunningLine, drive_board, running_line, zones

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)


class DevTools:
    """A minimal CDP client over one page's websocket: commands by id, events kept in a list."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            future = self.pending.pop(data["id"], None) if "id" in data else None
            if future is not None and not future.done():
                future.set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def call(self, method: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        request_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.ws.send_str(json.dumps({"id": request_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def evaluate(self, expression: str, timeout: float = 10) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = await self.call(
            "Runtime.evaluate", timeout, expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_until(self, condition: str, timeout: float = 10) -> None:
        """Wait in the page until ``condition`` (a JS expression) is truthy, checking every 25 ms."""
        deadline = int(timeout * 1000)
        quoted = json.dumps(condition)
        script = (
            f"new Promise((resolve, reject) => {{ const end = Date.now() + {deadline};"
            f" const check = () => {{ let ok = false; try {{ ok = Boolean({condition}); }} catch (e) {{}}"
            f" if (ok) resolve(true); else if (Date.now() > end) reject(new Error('timed out: ' + {quoted}));"
            " else setTimeout(check, 25); }; check(); })"
        )
        await self.evaluate(script, timeout + 5)


@contextlib.asynccontextmanager
async def chromium(url: str, profile: Path) -> AsyncIterator[DevTools]:
    """Headless Chromium showing ``url``; yields a DevTools session on that page."""
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(20):
            while True:
                row = (await process.stderr.readline()).decode()
                if not row:
                    raise AssertionError("chromium exited before opening DevTools")
                match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", row)
                if match:
                    port = int(match.group(1))
                    break
        drain = asyncio.create_task(_drain(process.stderr))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                pages = [t for t in await response.json() if t["type"] == "page"]
            async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=64 * 2**20) as ws:
                devtools = DevTools(ws)
                await devtools.call("Network.enable")
                await devtools.call("Page.enable")
                await devtools.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=1400,
                    height=900,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await devtools.call("Page.navigate", url=url)
                try:
                    yield devtools
                finally:
                    devtools.reader.cancel()
        drain.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass  # keep chromium's stderr pipe from filling up


async def keep_boards_flowing(line: RunningLine, stop: asyncio.Event) -> None:
    """Boards through the line, one after another, until ``stop``."""
    for step in itertools.count():
        await drive_board(line, f"B-{step}", step)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.15):  # pace the line: a board every 150 ms
                await stop.wait()
        if stop.is_set():
            return


def machine(machine_id: str) -> str:
    return f"document.querySelector('[data-machine=\"{machine_id}\"]')"


async def test_dashboard_renders_and_follows_the_line(tmp_path: Path) -> None:
    async with running_line(tmp_path) as line, chromium(line.server.url, tmp_path / "profile") as page:
        await page.wait_until("document.body.dataset.ready === 'true'")
        # The line, left to right, in configuration order, joined by conveyors.
        order = await page.evaluate(
            "[...document.querySelectorAll('#line .machine')].map(n => n.dataset.machine)"
        )
        assert order == ["printer1", "oven1", "aoi1"]
        assert await page.evaluate("document.querySelectorAll('#line .conveyor').length") == 2
        assert await page.evaluate(f"{machine('oven1')}.dataset.category") == "unknown"
        assert await page.evaluate("document.getElementById('line-name').textContent") == "Line 1"

        stop = asyncio.Event()
        flow = asyncio.create_task(keep_boards_flowing(line, stop))
        try:
            # Machine states by colour (E10 category) as boards flow.
            await page.wait_until(f"{machine('printer1')}.dataset.category !== 'unknown'")
            # The reflow chart draws and then keeps updating with each board's zone data.
            await page.wait_until("Number(document.getElementById('reflow-chart').dataset.updates) >= 1")
            first = await page.evaluate("Number(document.getElementById('reflow-chart').dataset.updates)")
            await page.wait_until(
                f"Number(document.getElementById('reflow-chart').dataset.updates) >= {first + 3}"
            )
            chart = await page.evaluate(
                "(() => { const c = document.getElementById('reflow-chart');"
                " return {zones: c.dataset.zones, machine: c.dataset.machine,"
                " series: [...c.querySelectorAll('path')].map(p => p.dataset.series),"
                " dots: c.querySelectorAll('circle').length}; })()"
            )
            assert chart == {
                "zones": "8",
                "machine": "oven1",
                "series": ["setpoint", "actual-top", "actual-bottom"],
                "dots": 16,
            }
            # Boards move between machines.
            await page.wait_until("Number(document.body.dataset.flights || 0) >= 2")
        finally:
            stop.set()
            await asyncio.wait_for(flow, 10)

        # A fault and the resulting state show on the oven's card; clearing it removes it.
        oven = line.runtime("oven1")
        now = datetime.now(UTC)
        await oven.record(
            obs.FaultRaised(machine_id="oven1", at=now, code="E-231", description="zone 5 over temperature")
        )
        await oven.record(obs.StateChanged(machine_id="oven1", at=now, state=5300))
        await page.wait_until(f"{machine('oven1')}.dataset.category === 'unscheduled_downtime'")
        await page.wait_until(f"{machine('oven1')}.querySelector('.faults li[data-code=\"E-231\"]') !== null")
        fault_text = await page.evaluate(f"{machine('oven1')}.querySelector('.faults li').textContent")
        assert fault_text == "E-231 — zone 5 over temperature"
        assert await page.evaluate(f"{machine('oven1')}.querySelector('.state').textContent") == "USD REPAIR"

        # A recipe activated through the gateway appears on the card.
        outcome = await line.gateway.recipes.activate("printer1", RecipeRef("printer1-B", "3"))
        assert outcome.ok
        await page.wait_until(
            f"{machine('printer1')}.querySelector('.recipe').textContent === 'printer1-B rev 3'"
        )
        await page.wait_until("document.body.dataset.stream === 'live'")

        ARTIFACTS.mkdir(exist_ok=True)
        shot = await page.call("Page.captureScreenshot", 20, format="png")
        (ARTIFACTS / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))

        await oven.record(obs.FaultCleared(machine_id="oven1", at=datetime.now(UTC), code="E-231"))
        await page.wait_until(f"{machine('oven1')}.dataset.faults === '0'")

        # Nothing was fetched from anywhere but the gateway.
        urls = {
            e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"
        }
        outside = {u for u in urls if not u.startswith(line.server.url) and not u.startswith("data:")}
        assert not outside, f"the page fetched from outside the gateway: {sorted(outside)}"
        assert {line.server.url + p for p in ("static/dashboard.js", "static/dashboard.css", "api/line")} <= {
            u.split("?")[0] for u in urls
        }
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


async def test_dashboard_speaks_the_floor_s_language(tmp_path: Path) -> None:
    """Boards by barcode, event lines with their fault and board, the time the event came, a
    readable conveyor speed, each link's record in its tooltip, and no stale "connected" once
    the gateway is gone."""
    async with running_line(tmp_path) as line, chromium(line.server.url, tmp_path / "profile") as page:
        await page.wait_until("document.body.dataset.ready === 'true'")
        oven = line.runtime("oven1")
        # A machine whose clock runs elsewhere (a simulator's accelerated clock): 2020.
        stamped = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
        await oven.record(obs.BoardArrived(machine_id="oven1", at=stamped, board_id="B-77", barcode="SN-77"))
        await page.wait_until(f"{machine('oven1')}.querySelector('.board[data-board=\"B-77\"]') !== null")
        chip = await page.evaluate(
            f"(() => {{ const b = {machine('oven1')}.querySelector('.board[data-board=\"B-77\"]');"
            " return [b.title, b.dataset.barcode]; })()"
        )
        assert chip == ["SN-77", "SN-77"]
        arrived = await page.evaluate(
            "(() => { const li = [...document.querySelectorAll('#event-log li')]"
            ".find(li => li.textContent.includes('UnitsArrived'));"
            " const t = li.querySelector('time');"
            " return {detail: li.querySelector('.detail').textContent, stamp: t.dataset.machineTime,"
            " shown: t.textContent, now: new Date().toLocaleTimeString(),"
            " then: new Date(t.dataset.machineTime).toLocaleTimeString()}; })()"
        )
        assert arrived["detail"] == "SN-77"
        assert arrived["stamp"].startswith("2020-01-02T03:04:05")
        assert arrived["shown"] != arrived["then"]  # shown: when it came, not the machine's stamp

        await oven.record(
            obs.FaultRaised(machine_id="oven1", at=datetime.now(UTC), code="E-231", description="zone 5 high")
        )
        await page.wait_until(
            "[...document.querySelectorAll('#event-log li .detail')]"
            ".some(d => d.textContent === 'E-231 zone 5 high')"
        )
        odd_speed = 10.266666666666666
        await oven.record(
            obs.ReflowProcessData(
                machine_id="oven1",
                at=datetime.now(UTC),
                board_id="B-77",
                zones=zones(0),
                conveyor_speed=odd_speed,
                o2_ppm=850.0,
            )
        )
        await page.wait_until("document.getElementById('reflow-extra').textContent.includes('conveyor')")
        assert await page.evaluate("document.getElementById('reflow-extra').textContent") == (
            "conveyor 10.3 mm/s · O₂ 850 ppm"
        )
        title = await page.evaluate(f"{machine('printer1')}.querySelector('.link').title")
        assert title.startswith("connects 1 · failures 0")

        # The alarm list: the oven's alarm, then acknowledged by an operator.
        occurrence = str(oven.normalizer.faults["E-231"].fault.fault_occurrence_id)
        row = f"document.querySelector('#alarm-list tr[data-occurrence=\"{occurrence}\"]')"
        await page.wait_until(f"{row} !== null")
        assert await page.evaluate(f"{row}.querySelector('.ack').textContent") == "no"
        await oven.record(
            obs.FaultAcknowledged(machine_id="oven1", at=datetime.now(UTC), code="E-231", operator="kim")
        )
        await page.wait_until(f"{row}.querySelector('.ack').textContent === 'kim'")
        assert await page.evaluate(f"{row}.dataset.active") == "true"

        # A changeover in progress shows as a banner naming the machines still waiting.
        async with line.gateway.recipes.lock("aoi1"):  # aoi1 busy: its switch waits
            change = asyncio.create_task(line.gateway.recipes.changeover("PCB-A"))
            await page.wait_until(
                "!document.getElementById('changeover').hidden"
                " && document.getElementById('changeover').textContent.includes('waiting (aoi1)')",
                timeout=15,
            )
            banner = await page.evaluate("document.getElementById('changeover').textContent")
            assert banner.startswith("changeover to PCB-A (now): 2 switched, 1 waiting")
        assert all(o.ok for o in await asyncio.wait_for(change, 10))
        await page.wait_until("document.getElementById('changeover').hidden", timeout=15)
        # The shift's figures on the cards and the product each machine now runs.
        await drive_board(line, "B-78")
        await page.wait_until(
            f"{machine('aoi1')}.querySelector('[data-figure=\"boards\"]').textContent === '1'", timeout=15
        )
        assert await page.evaluate(f"{machine('aoi1')}.querySelector('.product').textContent") == "PCB-A"
        assert await page.evaluate("document.getElementById('boards-out').textContent") == "1"
        # The point browser: a card's "points" button lists the machine's mapped points, live.
        await page.evaluate(f"{machine('printer1')}.querySelector('button.browse').click()")
        cell = "document.querySelector('#point-list tr[data-point=\"active_recipe\"] .value')"
        await page.wait_until(f"{cell} !== null && {cell}.textContent === 'printer1-A'")
        assert line.machines["printer1"].port != 0
        row = "document.querySelector('#point-list tr[data-point=\"active_recipe\"]')"
        address = await page.evaluate(f"{row}.querySelector('td:nth-child(2)').textContent")
        assert address == f"json 127.0.0.1:{line.machines['printer1'].port} active"

        # One board's reflow profile: pick B-77 (its odd conveyor speed) among the oven's boards;
        # the chart stays on it while other boards pass, until "live" is picked again.
        await page.wait_until("Number(document.getElementById('reflow-board').dataset.boards || 0) >= 2", 15)
        await page.evaluate(
            "(() => { const s = document.getElementById('reflow-board'); s.value = 'B-77';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        await page.wait_until("document.getElementById('reflow-chart').dataset.board === 'B-77'")
        assert await page.evaluate("document.getElementById('reflow-extra').textContent") == (
            "conveyor 10.3 mm/s · O₂ 850 ppm"
        )
        await drive_board(line, "B-79")
        await line.memory.wait_for("CFX.Production.Processing.UnitsProcessed", 3)
        assert await page.evaluate("document.getElementById('reflow-chart').dataset.board") == "B-77"
        ARTIFACTS.mkdir(exist_ok=True)
        shot = await page.call("Page.captureScreenshot", 20, format="png")
        (ARTIFACTS / "dashboard-floor.png").write_bytes(base64.b64decode(shot["data"]))
        await page.evaluate(
            "(() => { const s = document.getElementById('reflow-board'); s.value = '';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        await drive_board(line, "B-80")
        await page.wait_until("document.getElementById('reflow-chart').dataset.board === 'SN-B-80'")

        await line.server.close()  # the gateway's API goes away; the page must not keep claiming links
        await page.wait_until("document.body.dataset.gateway === 'unreachable'", timeout=15)
        links = await page.evaluate("[...document.querySelectorAll('#line .link')].map(l => l.dataset.state)")
        assert links == ["unknown", "unknown", "unknown"]
        shot = await page.call("Page.captureScreenshot", 20, format="png")
        (ARTIFACTS / "dashboard-gateway-gone.png").write_bytes(base64.b64decode(shot["data"]))


class _Announcing(io.StringIO):
    """The demo's output; ``url`` resolves when the demo prints its dashboard URL."""

    def __init__(self) -> None:
        super().__init__()
        self.url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.open = asyncio.Event()  # the boards are through; the dashboard stays up

    def write(self, text: str) -> int:
        match = re.search(r"dashboard at (http://\S+)", text)
        if match and not self.url.done():
            self.url.set_result(match.group(1))
        if "stays open" in text:
            self.open.set()
        return super().write(text)


@pytest.mark.timeout(180)  # the whole eleven-machine line and a browser on a loaded machine
async def test_dashboard_follows_the_demo_line(tmp_path: Path) -> None:
    """The page of ``linegate demo``: the default line's machines in line order, their states,
    boards moving, the oven's reflow chart updating while the simulated line runs, and each
    inspection and test station's verdicts on its card."""
    from gateway.demo import DemoOptions, run_demo
    from simulators import default_line

    out = _Announcing()
    # keep_open: on a slow machine the boards can be through before the page has seen all it
    # checks; the dashboard then still shows the end state instead of going away.
    options = DemoOptions(
        boards=10, time_scale=120, quiet=True, keep_open=True, summary_json=str(tmp_path / "summary.json")
    )
    demo = asyncio.create_task(run_demo(options, out=out))
    try:
        url = await asyncio.wait_for(asyncio.shield(out.url), 60)
        async with chromium(url, tmp_path / "profile") as page:
            await page.wait_until("document.body.dataset.ready === 'true'", 20)
            order = await page.evaluate(
                "[...document.querySelectorAll('#line .machine')].map(n => n.dataset.machine)"
            )
            assert order == [m.machine_id for m in default_line().machines]
            # Every machine has a state: reported, or derived from its work for the stations
            # whose protocol tells none (the scanner, the result-file and serial test stations).
            for machine_id in order:
                await page.wait_until(f"{machine(machine_id)}.dataset.category !== 'unknown'", 30)
            await page.wait_until("Number(document.getElementById('reflow-chart').dataset.updates) >= 2", 60)
            assert await page.evaluate("document.getElementById('reflow-chart').dataset.machine") == "reflow"
            await page.wait_until("Number(document.body.dataset.flights || 0) >= 1", 30)
            # The oven map's [readings] (no CFX events) come with the periodic /api/line refresh.
            reading = f"{machine('reflow')}.querySelector('[data-reading=zone1_top_actual]')"
            await page.wait_until(f"{reading} !== null && {reading}.textContent.endsWith('°C')", 30)
            # Inspection and test stations: units passed and failed on the card, once judged.
            for station in ("spi", "aoi", "xray", "ict", "fct"):
                units = f"{machine(station)}.querySelector('[data-figure=units]')"
                await page.wait_until(
                    f"{units} !== null && /^[1-9]\\d* passed, \\d+ failed$/.test({units}.textContent)", 60
                )
            await page.wait_until(
                f"{machine('ict')}.querySelector('[data-figure=units]').textContent.endsWith(', 1 failed')",
                60,
            )
            assert await page.evaluate(f"{machine('placement')}.querySelector('[data-figure=units]')") is None
            ARTIFACTS.mkdir(exist_ok=True)
            shot = await page.call("Page.captureScreenshot", 20, format="png")
            (ARTIFACTS / "dashboard-demo.png").write_bytes(base64.b64decode(shot["data"]))
        await asyncio.wait_for(out.open.wait(), 120)
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["boards"] == 10
        assert summary["outcomes"]["ict"] == {"passed": 9, "failed": 1}  # the line file fails the 7th
    finally:
        if not demo.done():
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
