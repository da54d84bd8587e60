"""``linegate events tail``: follow the normalized event stream, from the gateway or the broker.

By default it reads the gateway's server-sent events (``/api/events`` at ``--url``); with
``--amqp URL`` it binds a temporary queue to the CFX topic exchange on the broker instead, as an
MES consumer would, and shows what actually reached the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.commands import Subparsers
from gateway.event_text import event_facts
from gateway.http.client import ApiClient, add_client_options, client_logging
from protocols.cfx import encode_envelope
from protocols.errors import LinegateError


def register(subparsers: Subparsers) -> None:
    """Add ``linegate events tail``."""
    parser = subparsers.add_parser("events", help="follow the normalized CFX event stream")
    commands = parser.add_subparsers(title="events commands", metavar="COMMAND")
    tail = commands.add_parser(
        "tail",
        help="print events as they happen (from the gateway's SSE stream, or from the broker with --amqp)",
    )
    add_client_options(tail)
    tail.add_argument(
        "--amqp", metavar="URL", help="read from the broker (amqp://user:password@host:port/vhost) instead"
    )
    tail.add_argument("--exchange", default="cfx", help="with --amqp: the CFX topic exchange (default cfx)")
    tail.add_argument(
        "--source", action="append", default=[], metavar="HANDLE", help="only this CFX handle (repeatable)"
    )
    tail.add_argument("--json", action="store_true", help="print each envelope as one line of JSON")
    tail.add_argument("--count", type=int, metavar="N", help="stop after N events")
    tail.set_defaults(handler=run_tail)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def summarize(envelope: dict[str, Any]) -> str:
    """One readable line: time, source, message name (without ``CFX.``) and its key facts."""
    body = envelope.get("MessageBody") or {}
    name = str(envelope.get("MessageName", "?"))
    facts = event_facts(name, body)
    short = name.removeprefix("CFX.")
    when, source = envelope.get("TimeStamp", "-"), envelope.get("Source", "-")
    return f"{when:<28}  {source:<20}  {short}  {'  '.join(facts)}".rstrip()


async def _from_gateway(args: argparse.Namespace) -> AsyncIterator[bytes]:
    async with ApiClient(args.url) as client:
        print(f"following {client.url}/api/events", file=sys.stderr, flush=True)
        async for data in client.events(args.source):
            yield data


async def _from_broker(args: argparse.Namespace) -> AsyncIterator[bytes]:
    # Imported here: the AMQP stack is heavy, and every linegate command imports this module.
    from protocols.cfx.transport import CFXSubscriber
    from protocols.cfx.transport.wire import redact_url

    bindings = [f"{handle}.#" for handle in args.source] or ["#"]
    queue = f"linegate-tail-{uuid.uuid4().hex[:12]}"
    async with CFXSubscriber(
        args.amqp, queue=queue, bindings=bindings, exchange=args.exchange, durable=False, auto_delete=True
    ) as subscriber:
        print(
            f"listening on exchange {args.exchange} at {redact_url(args.amqp)} (queue {queue})",
            file=sys.stderr,
            flush=True,
        )
        async for envelope in subscriber:
            yield encode_envelope(envelope)


async def _tail(args: argparse.Namespace) -> int:
    seen = 0
    stream = _from_broker(args) if args.amqp else _from_gateway(args)
    async for data in stream:
        if args.json:
            sys.stdout.write(data.decode() + "\n")
        else:
            try:
                sys.stdout.write(summarize(orjson.loads(data)) + "\n")
            except orjson.JSONDecodeError:
                sys.stdout.write(f"(not JSON) {data[:80]!r}\n")
        sys.stdout.flush()
        seen += 1
        if args.count is not None and seen >= args.count:
            break
    else:
        print("the event stream ended", file=sys.stderr)
        return 1
    return 0


def run_tail(args: argparse.Namespace) -> int:
    """Print events until interrupted (or ``--count``); 1 when the stream cannot be read or ends."""
    client_logging()
    if args.count is not None and args.count < 1:
        print("linegate events tail: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_tail(args))
    except LinegateError as exc:
        print(f"linegate events tail: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


__all__ = ["register", "run_tail", "summarize"]
