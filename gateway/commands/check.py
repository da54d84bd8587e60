"""``linegate check CONFIG``: validate a line configuration without starting anything."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from gateway.assemble import default_events_file, load_checked
from gateway.commands import Subparsers
from gateway.config import LineConfig
from protocols.errors import ConfigError, ConfigErrors


def register(subparsers: Subparsers) -> None:
    """Add ``linegate check``."""
    parser = subparsers.add_parser("check", help="validate a line configuration file")
    parser.add_argument("config", metavar="CONFIG", help="the line's TOML file")
    parser.add_argument(
        "--skip-secrets",
        action="store_true",
        help="do not resolve passwords and tokens (a CI machine without the line's secrets)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print every error (file, key path, problem) and return 1, or a summary and return 0.

    The validation is ``linegate run``'s own (``load_checked``): a config found valid here runs.
    """
    try:
        config = load_checked(args.config, secrets=not args.skip_secrets)
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    print(f"{config.path}: line {config.name!r} is valid")
    for machine in config.machines:
        print(f"  {machine.id:<16} {machine.protocol:<8} {machine.handle}")
    if config.amqp is not None and config.amqp.urls:
        print(f"  amqp: {len(config.amqp.urls)} broker nodes, failover {config.amqp.failover}")
    if config.mqtt is not None and config.mqtt.brokers:
        print(f"  mqtt: {len(config.mqtt.brokers)} brokers, failover {config.mqtt.failover}")
    if config.products:
        print(f"  products: {', '.join(sorted(config.products))}")
    for destination in destinations(config):
        print(f"  events -> {destination}")
    print(f"  dashboard -> http://{config.http.host}:{config.http.port}/")
    if args.skip_secrets:
        print("  (secrets not resolved: --skip-secrets)")
    return 0


def print_config_error(exc: ConfigError, file: TextIO | None = None) -> None:
    """One ``error:`` line per problem (file, key path, problem), then how many there were."""
    out = file or sys.stderr
    errors = exc.errors if isinstance(exc, ConfigErrors) else (exc,)
    for error in errors:
        print(f"error: {error}", file=out)
    if len(errors) > 1:
        print(f"{len(errors)} problems", file=out)


def destinations(config: LineConfig) -> list[str]:
    """Where ``linegate run`` (without options) delivers the events of this config."""
    found = [f"outbox {config.outbox.path}"]
    if config.amqp is not None:
        found.append(f"AMQP exchange {config.amqp.exchange!r} at {redacted(config.amqp.url)}")
    if config.mqtt is not None:
        brokers = config.mqtt.brokers or ((config.mqtt.host, config.mqtt.port),)
        found.append("MQTT " + ", ".join(f"{host}:{port}" for host, port in brokers))
    events_file = default_events_file(config)
    if events_file is not None:
        found.append(f"{events_file} (JSON lines; no broker configured)")
    return found


def redacted(url: str) -> str:
    """``url`` without a password it may carry (a summary is pasted into tickets)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
