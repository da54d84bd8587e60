"""``bench/factory.py``'s files and parsing, without the cluster (the bench itself runs minutes).

The line files it writes are what ``linegate simulate --factory`` accepts, the gateway configs
what ``linegate run`` accepts, and the consumer reads CFX TimeStamps as the SDK writes them.
"""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from gateway.config import load_config
from simulators.factory_spec import check_lines
from simulators.line_spec import load_line

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def factory() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("factory")
    finally:
        sys.path.remove(str(BENCH))


def test_cfx_timestamps_are_read_to_the_microsecond(factory: ModuleType) -> None:
    expected = datetime(2026, 12, 6, 10, 44, 32, 400197, tzinfo=UTC).timestamp()
    assert factory.stamp_seconds("2026-12-06T10:44:32.4001977Z") == pytest.approx(expected)
    assert factory.stamp_seconds("2026-12-06T11:44:32.400197+01:00") == pytest.approx(expected)
    assert factory.stamp_seconds("2026-12-06T10:44:32Z") == pytest.approx(expected - 0.400197)
    with pytest.raises(ValueError, match="not a CFX TimeStamp"):
        factory.stamp_seconds("yesterday")


def test_the_line_files_run_side_by_side_and_the_configs_load(factory: ModuleType, tmp_path: Path) -> None:
    kinds = tuple(factory.SHAPE[i % len(factory.SHAPE)] for i in range(6))
    lines = []
    for n in (1, 2):
        line = factory.LineRun(f"l{n:02d}", kinds, tmp_path / f"l{n:02d}")
        line.directory.mkdir()
        line.events_ports = {
            line.machine_id(i): 21000 + 10 * n + i for i, k in enumerate(kinds) if k == "placement"
        }
        lines.append(line)
    specs = [load_line(factory.write_line_file(line, 1.0, seed=1)) for line in lines]
    check_lines(specs)  # distinct names and CFX handles
    assert [m.kind for m in specs[0].machines] == list(kinds)
    placement = specs[0].machines[0]
    assert placement.options["publish_uri"] == "amqp://127.0.0.1:21010"
    endpoints = [
        {
            "machine_id": m.machine_id,
            "cfx_handle": m.handle,
            "kind": m.kind,
            "url": "opc.tcp://127.0.0.1:4840" if m.kind == "selective_solder" else "amqp://127.0.0.1:5800",
            "port": 1502 + i,
            "hermes": {"vertical_port": 50200 + i},
        }
        for i, m in enumerate(specs[0].machines)
    ]
    urls = ["amqp://guest@127.0.0.1:30001/", "amqp://guest@127.0.0.1:30002/", "amqp://guest@127.0.0.1:30003/"]
    config = load_config(factory.write_gateway_config(lines[0], endpoints, urls, "random", "factory-x"))
    assert config.amqp is not None and config.amqp.brokers == tuple(urls) and config.amqp.failover == "random"
    assert [m.id for m in config.machines] == [m.machine_id for m in specs[0].machines]
    assert config.outbox.path == str(lines[0].outbox)
