"""docs/deployment.md's line config loads as it stands, and the systemd unit runs what it says."""

from __future__ import annotations

import re
from pathlib import Path

import gateway
from gateway.config import load_config

ROOT = Path(gateway.__file__).resolve().parent.parent


def test_the_cluster_config_of_the_deployment_page_loads(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "deployment.md").read_text()
    [toml] = re.findall(r"```toml\n(.*?)```", page, re.DOTALL)
    path = tmp_path / "line1.toml"
    path.write_text(toml)
    config = load_config(path)
    assert config.amqp is not None
    assert len(config.amqp.brokers) == 3 and config.amqp.failover == "random"
    assert config.outbox.path.startswith("/var/lib/linegate/line1/")


def test_the_unit_keeps_the_outbox_where_the_page_says() -> None:
    unit = (ROOT / "deploy" / "systemd" / "linegate@.service").read_text()
    assert re.search(r"^ExecStart=\S+/linegate run /etc/linegate/%i\.toml$", unit, re.MULTILINE)
    assert re.search(r"^StateDirectory=linegate/%i$", unit, re.MULTILINE)
    assert re.search(r"^Restart=always$", unit, re.MULTILINE)
    assert re.search(r"^User=linegate$", unit, re.MULTILINE)
