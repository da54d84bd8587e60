"""Two pytest processes using the fixtures at the same time do not trip over each other's ports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testing.support import INI, PLUGIN, SMALL_LINE

INNER = """
import json, os
from pathlib import Path
import pytest

@pytest.mark.parametrize("round", range(3))
async def test_machines(round, reflow_oven, placement_machine, coater):
    with Path("ports.jsonl").open("a") as out:
        out.write(json.dumps([reflow_oven.port, placement_machine.port, coater.tcp_port]) + "\\n")

@pytest.mark.linegate_line("small.toml", boards=2)
async def test_line_and_gateway(linegate_gateway, cfx_events):
    await linegate_gateway.line.wait_departed(2, timeout=30)
    await cfx_events.wait_for("CFX.Production.WorkCompleted", source="test.coater.1", timeout=20)
    with Path("ports.jsonl").open("a") as out:
        out.write(json.dumps([linegate_gateway.line.events_port]) + "\\n")
"""


def _session(folder: Path) -> subprocess.Popen[str]:
    folder.mkdir()
    (folder / "pytest.ini").write_text(INI, encoding="utf-8")
    (folder / "small.toml").write_text(SMALL_LINE, encoding="utf-8")
    (folder / "test_inner.py").write_text(INNER, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", PLUGIN, "-q", "-p", "no:logging"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_sessions_in_parallel_processes(pytester: pytest.Pytester) -> None:
    folders = [pytester.path / "a", pytester.path / "b"]
    sessions = [_session(folder) for folder in folders]  # both start before either is waited on
    outputs = [session.communicate(timeout=50)[0] for session in sessions]
    for session, output in zip(sessions, outputs, strict=True):
        assert session.returncode == 0, output
        assert "4 passed" in output, output
    for folder in folders:
        rows = [json.loads(line) for line in (folder / "ports.jsonl").read_text().splitlines()]
        assert len(rows) == 4
        assert all(len(set(row)) == len(row) and all(port > 0 for port in row) for row in rows)
