"""The HTTP API on a running gateway: health, line view, metrics text, tokens, changeover, SSE."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from adapters import observations as obs
from gateway.http.line import reflow_profile
from gateway.http.sse import Subscription, SubscriptionEnded, format_event
from gateway.metrics import Counter, Exposition, Histogram, format_value
from gateway.outbox import Priority, StoredEvent
from tests.gateway.http_support import TOKEN, RunningLine, drive_board, running_line

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[RunningLine]:
    async with running_line(tmp_path) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


# --- a Prometheus text parser, written from the format description -------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> tuple[dict[str, str], dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """Types by family and values by (name, labels); asserts every sample belongs to a typed family."""
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    assert text.endswith("\n")
    for row in text.splitlines():
        if row.startswith("# TYPE "):
            _, _, name, kind = row.split(" ")
            assert name not in types, f"family {name} typed twice"
            types[name] = kind
            continue
        if row.startswith("#"):
            continue
        match = SAMPLE.match(row)
        assert match, f"not a sample line: {row!r}"
        name, labels_text, value = match.group(1), match.group(3) or "", match.group(4)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE line"
        labels = frozenset(LABEL.findall(labels_text))
        samples[(name, labels)] = float(value)
    return types, samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def read_sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str | None, str]]:
    """(id, data) of each event in a text/event-stream response; comments are skipped."""
    event_id: str | None = None
    data: list[str] = []
    async for raw in response.content:
        row = raw.decode().rstrip("\n")
        if not row:
            if data:
                yield event_id, "\n".join(data)
            event_id, data = None, []
        elif row.startswith("id: "):
            event_id = row[4:]
        elif row.startswith("data: "):
            data.append(row[6:])


# --- read endpoints -------------------------------------------------------------------------


async def test_healthz_and_json_errors(line: RunningLine, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{line.url}/healthz") as response:
        assert response.status == 200
        body = await response.json()
    assert body == {
        "status": "ok",
        "machines": 3,
        "connected": 3,
        "machines_down": [],
        "brokers": {},
        "outbox_depth": body["outbox_depth"],
    }
    async with http.get(f"{line.url}/readyz") as response:
        assert response.status == 200 and (await response.json())["status"] == "ok"
    async with http.get(f"{line.url}/api/nothing") as response:
        assert response.status == 404 and response.content_type == "application/json"
        assert (await response.json())["error"]["message"] == "no route for GET /api/nothing"
    async with http.delete(f"{line.url}/api/line") as response:
        assert response.status == 405
        assert "DELETE is not allowed" in (await response.json())["error"]["message"]


async def test_server_binds_loopback_by_default(line: RunningLine) -> None:
    assert line.server.host == "127.0.0.1" and line.server.url.startswith("http://127.0.0.1:")


async def test_line_view_shows_states_recipes_faults_boards_and_reflow(
    line: RunningLine, http: aiohttp.ClientSession
) -> None:
    await drive_board(line, "B-1")
    oven = line.runtime("oven1")
    await oven.record(
        obs.FaultRaised(machine_id="oven1", at=datetime.now(UTC), code="E-231", description="zone 5 high")
    )
    await oven.record(obs.WorkStarted(machine_id="oven1", at=datetime.now(UTC), board_id="B-2"))
    await line.gateway.recipes.activate("printer1", obs_recipe("printer1-A"))
    await line.memory.wait_for("CFX.Production.UnitsDeparted", 3)
    await line.memory.wait_for("CFX.ResourcePerformance.FaultOccurred")
    await wait_sse_caught_up(line)
    async with http.get(f"{line.url}/api/line") as response:
        view = await response.json()
    assert view["line"] == "Line 1" and view["running"] is True and view["writes_enabled"] is True
    assert [m["id"] for m in view["machines"]] == ["printer1", "oven1", "aoi1"]
    by_id = {m["id"]: m for m in view["machines"]}
    assert by_id["aoi1"]["state"]["code"] == "2202" and by_id["aoi1"]["state"]["category"] == "standby"
    assert by_id["oven1"]["link"]["state"] == "connected"
    assert by_id["oven1"]["faults"][0]["code"] == "E-231"
    assert by_id["oven1"]["faults"][0]["description"] == "zone 5 high"
    assert by_id["oven1"]["boards_in_process"] == [{"board_id": "B-2", "barcode": None, "lane": None}]
    assert by_id["printer1"]["active_recipe"] == {"name": "printer1-A", "revision": None}
    assert by_id["aoi1"]["boards_departed"] == 1 and by_id["aoi1"]["boards_present"] == []
    zones = by_id["oven1"]["reflow"]["zones"]
    assert [z["zone"] for z in zones] == list(range(1, 9))
    assert zones[4]["setpoint_top"] == 230.0 and zones[4]["actual_top"] is not None
    assert by_id["oven1"]["reflow"]["o2_ppm"] == 850.0
    assert view["outbox"]["sinks"].keys() == {"memory", "sse"}


def obs_recipe(name: str) -> Any:
    from gateway.config import RecipeRef

    return RecipeRef(name)


async def wait_sse_caught_up(line: RunningLine) -> None:
    """Wait until the SSE sink (which feeds the line tracker) has delivered the whole outbox."""
    async with asyncio.timeout(10):
        while line.gateway.outbox.depth("sse"):
            await line.gateway.outbox.wait_empty()


async def test_metrics_text_parses_and_counts(line: RunningLine, http: aiohttp.ClientSession) -> None:
    await drive_board(line, "B-1")
    await line.memory.wait_for("CFX.Production.UnitsDeparted", 3)
    async with http.get(f"{line.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    types, samples = parse_metrics(text)
    assert types["linegate_link_state"] == "gauge"
    assert types["linegate_sink_publish_seconds"] == "histogram"
    assert types["linegate_outbox_dropped_total"] == "counter"
    assert value(samples, "linegate_link_state", machine="oven1", protocol="test-json") == 1
    assert value(samples, "linegate_recv_observations_total", machine="oven1") == 7
    assert value(samples, "linegate_send_events_total", machine="oven1") >= 7
    assert value(samples, "linegate_link_reconnects_total", machine="oven1") == 0
    assert value(samples, "linegate_machine_state", machine="aoi1") == 2202
    assert value(samples, "linegate_outbox_dropped_total") == 0
    assert ("linegate_outbox_oldest_age_seconds", frozenset()) in samples
    delivered = value(samples, "linegate_sink_send_msgs_total", sink="memory")
    assert delivered >= 21
    count = value(samples, "linegate_sink_publish_seconds_count", sink="memory")
    assert (
        count >= 1
        and value(samples, "linegate_sink_publish_seconds_bucket", sink="memory", le="+Inf") == count
    )
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == "linegate_sink_publish_seconds_bucket"
    )
    assert [v for _, v in buckets] == sorted(v for _, v in buckets), "buckets are cumulative"
    assert (
        value(samples, "linegate_machine_published_events_total", handle="Acme.oven1.1", sink="memory") >= 7
    )


async def test_dashboard_assets_are_served_from_the_package(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_line(tmp_path) as line:
        for path, kind in [
            ("", "text/html"),
            ("static/dashboard.js", "javascript"),
            ("static/dashboard.css", "text/css"),
        ]:
            async with http.get(line.server.url + path) as response:
                assert response.status == 200 and kind in response.headers["Content-Type"]
                text = await response.text()
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
        async with http.get(line.server.url + "static/../server.py") as response:
            assert response.status in (403, 404)


# --- write endpoints: tokens and no side effect ---------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing Authorization header"),
        ({"Authorization": "Bearer wrong"}, "wrong token"),
        ({"Authorization": f"Basic {TOKEN}"}, "must be 'Bearer <token>'"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "wrong token"),
    ],
)
async def test_writes_without_the_token_are_refused_with_no_side_effect(
    line: RunningLine, http: aiohttp.ClientSession, headers: dict[str, str], message: str
) -> None:
    before = {m: machine.active for m, machine in line.machines.items()}
    requests = [
        (f"{line.url}/api/machines/oven1/recipe", {"recipe": "oven1-B"}),
        (f"{line.url}/api/machines/nosuch/recipe", {"recipe": "x"}),  # 401, not 404: learns nothing
        (f"{line.url}/api/changeover", {"product": "PCB-B"}),
    ]
    for url, body in requests:
        async with http.post(url, json=body, headers=headers) as response:
            assert response.status == 401, url
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert message in (await response.json())["error"]["message"]
    assert {m: machine.active for m, machine in line.machines.items()} == before
    await drive_board(line, "B-9")  # the stream still flows; no recipe event was produced
    await line.memory.wait_for("CFX.Production.UnitsDeparted", 3)
    assert not [e for e in line.memory.events if e.message_name == "CFX.Production.RecipeActivated"]


async def test_a_token_with_bytes_that_are_not_utf8_is_a_401_not_a_500(line: RunningLine) -> None:
    """Found by fuzz/http_api.py: the token comparison encoded the header strictly and raised."""
    body = b'{"recipe": "oven1-B"}'
    reader, writer = await asyncio.open_connection("127.0.0.1", line.server.port)
    writer.write(
        b"POST /api/machines/oven1/recipe HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\x88\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    answer = await reader.read()
    writer.close()
    assert answer.split(b" ", 2)[1] == b"401"
    assert b"wrong token" in answer
    assert line.machines["oven1"].active == "oven1-A"


async def test_writes_are_disabled_without_a_configured_token(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_line(tmp_path, token=None) as line:
        async with http.post(
            f"{line.url}/api/machines/oven1/recipe", json={"recipe": "oven1-B"}, headers=AUTH
        ) as r:
            assert r.status == 403 and "no HTTP token configured" in (await r.json())["error"]["message"]
        assert line.machines["oven1"].active == "oven1-A"


async def test_activate_recipe_with_the_token(line: RunningLine, http: aiohttp.ClientSession) -> None:
    url = f"{line.url}/api/machines/oven1/recipe"
    async with http.post(url, json={"recipe": "oven1-B"}, headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()
    assert body["ok"] is True and body["recipe"] == "oven1-B" and "read back" in body["message"]
    assert line.machines["oven1"].active == "oven1-B"
    activated = await line.memory.wait_for("CFX.Production.RecipeActivated")
    assert activated[0].source == "Acme.oven1.1"
    async with http.post(
        f"{line.url}/api/machines/aoi1/recipe", json={"recipe": "aoi1-B"}, headers=AUTH
    ) as response:
        assert response.status == 409
        refused = await response.json()
    assert refused["ok"] is False and "refused" in refused["error"]["message"]
    async with http.post(
        f"{line.url}/api/machines/nosuch/recipe", json={"recipe": "x"}, headers=AUTH
    ) as response:
        assert response.status == 404
        assert (await response.json())["error"][
            "message"
        ] == "no machine 'nosuch'; machines: printer1, oven1, aoi1"
    for body_bytes, message in [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"{}", "'recipe' must be"),
    ]:
        async with http.post(url, data=body_bytes, headers=AUTH) as response:
            assert response.status == 400 and message in (await response.json())["error"]["message"]
    async with http.post(url, data=b"x" * 70_000, headers=AUTH) as response:
        assert response.status == 413 and response.content_type == "application/json"


async def test_recipe_list_reads_the_machine(line: RunningLine, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{line.url}/api/machines/oven1/recipes") as response:
        body = await response.json()
    assert body == {
        "machine": "oven1",
        "active": {"name": "oven1-A", "revision": None},
        "available": [{"name": "oven1-A", "revision": None}, {"name": "oven1-B", "revision": None}],
    }


async def test_changeover_streams_progress_per_machine(
    line: RunningLine, http: aiohttp.ClientSession
) -> None:
    headers = {**AUTH, "Accept": "application/x-ndjson"}
    async with http.post(
        f"{line.url}/api/changeover", json={"product": "PCB-B"}, headers=headers
    ) as response:
        assert response.status == 200
        rows = [orjson.loads(row) async for row in response.content if row.strip()]
    assert rows[0] == {
        "type": "started",
        "product": "PCB-B",
        "at": "now",
        "machines": ["aoi1", "oven1", "printer1"],
    }
    outcomes = {r["machine"]: r for r in rows[1:-1]}
    assert all(r["type"] == "outcome" for r in rows[1:-1]) and outcomes.keys() == {
        "aoi1",
        "oven1",
        "printer1",
    }
    assert outcomes["oven1"]["ok"] and not outcomes["aoi1"]["ok"]
    assert rows[-1]["type"] == "done" and rows[-1]["ok"] is False
    async with http.post(f"{line.url}/api/changeover", json={"product": "PCB-A"}, headers=AUTH) as response:
        assert response.status == 200 and (await response.json())["ok"] is True
    async with http.post(f"{line.url}/api/changeover", json={"product": "PCB-Z"}, headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json())["error"]["message"] == "no product 'PCB-Z'; products: PCB-A, PCB-B"


# --- the event stream -----------------------------------------------------------------------


async def test_sse_stream_carries_the_normalized_events(
    line: RunningLine, http: aiohttp.ClientSession
) -> None:
    async with (
        http.get(f"{line.url}/api/events") as everything,
        http.get(f"{line.url}/api/events?source=Acme.aoi1.1") as only_aoi,
    ):
        assert everything.headers["Content-Type"] == "text/event-stream"
        await line.sse.wait_clients(2)
        await drive_board(line, "B-7")

        async def until_aoi_departs(
            response: aiohttp.ClientResponse,
        ) -> list[tuple[str | None, dict[str, Any]]]:
            got = []
            async for event_id, data in read_sse(response):
                envelope = orjson.loads(data)
                got.append((event_id, envelope))
                if (
                    envelope["MessageName"] == "CFX.Production.UnitsDeparted"
                    and envelope["Source"] == "Acme.aoi1.1"
                ):
                    return got
            raise AssertionError("stream ended")

        received = await asyncio.wait_for(until_aoi_departs(everything), 10)
        filtered = await asyncio.wait_for(until_aoi_departs(only_aoi), 10)
    names = [e["MessageName"] for _, e in received if e["Source"] == "Acme.oven1.1"]
    # State changes are high priority and may overtake unit flow in a batch; each class keeps its order.
    assert [n for n in names if "StationStateChanged" not in n] == [
        "CFX.Production.UnitsArrived",
        "CFX.Production.WorkStarted",
        "CFX.Production.Processing.UnitsProcessed",
        "CFX.Production.WorkCompleted",
        "CFX.Production.UnitsDeparted",
    ]
    assert names.count("CFX.ResourcePerformance.StationStateChanged") == 2
    ids = [int(i) for i, _ in received if i is not None]
    assert len(ids) == len(received) == len(set(ids))
    assert {e["Source"] for _, e in filtered} == {"Acme.aoi1.1"}
    await line.sse.wait_clients(0)


def big_event(seq: int, size: int) -> StoredEvent:
    payload = orjson.dumps({"MessageName": "Test.Big", "Seq": seq, "Pad": "x" * size})
    return StoredEvent(seq, "Acme.test.1", "Test.Big", str(seq), payload, Priority.BULK, 0.0)


async def test_a_slow_sse_client_is_dropped_and_never_blocks_the_others(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_line(tmp_path, client_queue=8) as line:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it never reads
        slow.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(slow, ("127.0.0.1", line.server.port))
        await loop.sock_sendall(slow, b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        received: list[int] = []
        arrived = asyncio.Condition()
        async with http.get(f"{line.url}/api/events") as fast:
            await line.sse.wait_clients(2)

            async def read_fast() -> None:
                async for _, data in read_sse(fast):
                    async with arrived:
                        received.append(orjson.loads(data)["Seq"])
                        arrived.notify_all()

            reader = asyncio.create_task(read_fast())
            seq = 0

            def caught_up() -> bool:
                return len(received) == seq

            # 4 events of 32 KiB per round; the fast client keeps up, the slow one fills its socket
            # buffers and then its 8-event queue. 400 rounds (50 MiB) is far beyond any buffer.
            for _ in range(400):
                await line.sse.publish([big_event(seq + i, 32 * 1024) for i in range(4)])
                seq += 4
                async with asyncio.timeout(10), arrived:
                    await arrived.wait_for(caught_up)
                if line.sse.dropped_clients:
                    break
            reader.cancel()
        assert line.sse.dropped_clients == 1, "the slow client was never dropped"
        assert received == list(range(seq)), "the fast client got every event, in order"
        # The slow client's connection was aborted: reading it ends (reset or EOF).
        async with asyncio.timeout(10):
            try:
                while await loop.sock_recv(slow, 65536):
                    pass
            except ConnectionResetError:
                pass
        slow.close()


# --- small parts ----------------------------------------------------------------------------


async def test_subscription_queue_bound_and_end() -> None:
    sub = Subscription(limit=2)
    assert sub.offer(b"a") and sub.offer(b"b") and not sub.offer(b"c")
    assert await sub.get(1) == b"a"
    assert await sub.get(0.01) == b"b"
    assert await sub.get(0.01) is None  # nothing within the timeout: time for a keepalive
    from gateway.http.sse import StreamEnd

    sub.end(StreamEnd.CLOSED)
    with pytest.raises(SubscriptionEnded):
        await sub.get(1)


def test_sse_format_splits_multiline_data() -> None:
    event = StoredEvent(7, "S", "N", "u", b'{"a":1}\n{"b":2}', Priority.HIGH, 0.0)
    assert format_event(event) == b'id: 7\ndata: {"a":1}\ndata: {"b":2}\n\n'


def test_histogram_and_counter_exposition() -> None:
    histogram = Histogram("lat_seconds", "latency", buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(v, {"sink": 'a"b'})
    counter = Counter("things_total", "things")
    counter.inc(2, {"k": "v"})
    with pytest.raises(ValueError):
        counter.inc(-1)
    out = Exposition()
    histogram.write(out)
    counter.write(out)
    text = out.text()
    assert 'linegate_lat_seconds_bucket{le="0.1",sink="a\\"b"} 2' in text
    assert 'linegate_lat_seconds_bucket{le="1",sink="a\\"b"} 3' in text
    assert 'linegate_lat_seconds_bucket{le="+Inf",sink="a\\"b"} 4' in text
    assert 'linegate_lat_seconds_count{sink="a\\"b"} 4' in text
    assert 'linegate_things_total{k="v"} 2' in text
    assert format_value(float("inf")) == "+Inf" and format_value(0.25) == "0.25"
    with pytest.raises(ValueError, match="written twice"):
        counter.write(out)
    with pytest.raises(ValueError):
        Histogram("h", "h", buckets=(1.0, 0.5))


def test_reflow_profile_ignores_other_process_data() -> None:
    assert (
        reflow_profile({"CommonProcessData": {"$type": "CFX.Structures.Coating.CoatingProcessData, CFX"}})
        is None
    )
    assert reflow_profile({}) is None


async def test_a_busy_port_is_an_oserror_and_the_config_gives_host_port_token(
    line: RunningLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.config import HttpConfig, LineConfig, Secret
    from gateway.http import HttpServer
    from protocols.errors import ConfigError

    with pytest.raises(OSError):
        await HttpServer(line.gateway, port=line.server.port).start()
    config = LineConfig(
        path="line.toml",
        name="Line 7",
        machines=(),
        products={},
        http=HttpConfig(host="127.0.0.1", port=0, token=Secret(env="LINEGATE_TEST_HTTP_TOKEN")),
    )
    with pytest.raises(ConfigError, match="LINEGATE_TEST_HTTP_TOKEN is not set"):
        HttpServer.from_config(line.gateway, config)
    monkeypatch.setenv("LINEGATE_TEST_HTTP_TOKEN", "t0ken")
    async with HttpServer.from_config(line.gateway, config) as server, aiohttp.ClientSession() as http:
        assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}/"
        async with http.post(
            f"{server.url}api/machines/oven1/recipe", json={"recipe": "oven1-B"}, headers=AUTH
        ) as response:
            assert response.status == 401  # the configured token, not the test line's
        async with http.get(f"{server.url}api/line") as response:
            assert (await response.json())["line"] == "Line 7"
