"""``linegate check CONFIG``: validate a line configuration without starting anything."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit, urlunsplit

from gateway.assemble import check_line, default_events_file
from gateway.commands import Subparsers
from gateway.config import LineConfig, load_config
from protocols.errors import ConfigError


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
    """Print the error (file, key path, problem) and return 1, or a summary and return 0.

    The validation is ``linegate run``'s own (``check_line``): a config found valid here runs.
    """
    try:
        config = load_config(args.config)
        check_line(config, secrets=not args.skip_secrets)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
