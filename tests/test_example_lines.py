"""The example line configs in examples/lines/ pass ``linegate check`` (run's own validation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import load_config
from gateway.config_model import PROTOCOLS

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "lines").glob("*.toml"))
SECRETS = {"LINEGATE_AMQP_PASSWORD": "example-password", "LINEGATE_HTTP_TOKEN": "example-token"}


def test_there_is_a_complete_example() -> None:
    """At least one example, and together they show every protocol and every top-level table."""
    assert EXAMPLES
    configs = [load_config(path) for path in EXAMPLES]
    assert {m.protocol for c in configs for m in c.machines} == set(PROTOCOLS)
    assert any(c.products and c.hermes and c.amqp and c.http.token for c in configs)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_passes_linegate_check(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the outbox's relative path is taken from the working directory
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: line ") and "is valid" in out
    for machine in load_config(path).machines:
        assert machine.handle in out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_without_its_secrets(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without the secrets check names the missing one; --skip-secrets checks the rest."""
    monkeypatch.chdir(tmp_path)
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert main(["check", str(path)]) == 1
    assert "is not set" in capsys.readouterr().err
    assert main(["check", "--skip-secrets", str(path)]) == 0
