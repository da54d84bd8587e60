"""The facts docs/architecture.md, docs/troubleshooting.md and docs/http-api.md state, checked
against the code."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.base import AdapterState, ReconnectPolicy
from gateway.config_model import DEFAULT_LINK_GRACE
from gateway.http import openapi

ROOT = Path(__file__).resolve().parents[1]
PATH = re.compile(r"`((?:adapters|gateway|protocols|native|simulators|tests|examples|docs)/[\w./<>-]*)`")


def test_every_path_the_architecture_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    paths = {p for p in PATH.findall(text) if "<" not in p}
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing


def test_troubleshooting_states_and_figures_match_the_code() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert table == {state.value for state in AdapterState}
    policy = ReconnectPolicy()
    assert (policy.base, policy.cap, policy.healthy_after, policy.liveness_timeout) == (0.5, 30.0, 30.0, 15.0)
    assert "starts at 0.5 s and doubles" in text and "up to 30 s, never below 0.125 s" in text
    assert "stayed up for 30 s" in text and "liveness timeout (15 s" in text
    assert DEFAULT_LINK_GRACE == 10 and "default 10 s" in text
    for path in re.findall(r"docs/[\w-]+\.md", text):
        assert (ROOT / path).exists(), path


def test_the_http_api_page_lists_every_route() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(GET|POST) (/[^`]*)` \|", text, re.MULTILINE))
    documented = {
        (method.upper(), path) for path, item in openapi.build()["paths"].items() for method in item
    }
    assert rows == documented
