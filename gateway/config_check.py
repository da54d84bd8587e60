"""What ``linegate check`` looks for outside the config file: secrets, files, serial devices.

The typed config (``gateway.config_model``, ``gateway.config_connections``) marks each secret
(a :class:`~gateway.config_model.Secret` field) and each file (``doc(file=True)``); this module
walks it, so a key added to the config is checked without a line here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.config_connections import SerialConnection
from gateway.config_model import LineConfig, Secret
from protocols.errors import ConfigError
from protocols.tomlread import Problems, join


def settings(config: LineConfig) -> Iterator[tuple[str, dataclasses.Field[Any], Any]]:
    """Every documented setting of ``config`` with a value: (key path, field, value)."""
    for section in ("amqp", "mqtt", "listener", "http", "outbox", "changeover"):
        value = getattr(config, section)
        if value is not None:
            yield from _walk(value, section)
    for machine in config.machines:
        yield from _walk(machine, f"machines[{machine.index}]")
    if config.control is not None:
        yield from _walk(config.control, "trace")


def _walk(table: Any, where: str) -> Iterator[tuple[str, dataclasses.Field[Any], Any]]:
    for f in dataclasses.fields(table):
        if "help" not in f.metadata:
            continue
        value = getattr(table, f.name)
        key = join(where, f.metadata.get("key") or f.name)
        yield key, f, value
        if dataclasses.is_dataclass(value) and not isinstance(value, Secret | type):
            yield from _walk(value, key)


def check_resources(config: LineConfig, problems: Problems, *, secrets: bool = True) -> None:
    """Record every secret that does not resolve (unless ``secrets`` is off), every named file
    that is missing, a serial device path that does not exist, and a missing outbox folder."""
    for key, f, value in settings(config):
        if isinstance(value, Secret):
            if secrets:
                with problems.collect():
                    value.resolve(path=config.path, key=key)
        elif f.metadata.get("file") and value is not None:
            if not Path(value).is_file():
                problems.add(
                    ConfigError(f"{value} does not exist or is not a file", path=config.path, key=key)
                )
            elif not os.access(value, os.R_OK):
                problems.add(ConfigError(f"{value} is not readable", path=config.path, key=key))
        elif isinstance(value, SerialConnection) and value.device and not os.path.exists(value.device):
            problems.add(ConfigError(f"no serial device {value.device}", path=config.path, key=f"{key}.url"))
    folder = Path(config.outbox.path).parent
    if not folder.is_dir():
        problems.add(
            ConfigError(f"the outbox's folder {folder} does not exist", path=config.path, key="outbox.path")
        )


__all__ = ["check_resources", "settings"]
