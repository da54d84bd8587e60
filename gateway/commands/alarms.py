"""``linegate alarms``: the shift's alarm history, and acknowledging an alarm (running gateway)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from gateway.commands import Subparsers
from gateway.http.client import ApiClient, add_client_options, client_logging, format_table, resolve_token
from protocols.errors import LinegateError

EXIT_OK = 0
EXIT_ERROR = 2


def register(subparsers: Subparsers) -> None:
    """Add ``linegate alarms [list] | alarms ack``."""
    parser = subparsers.add_parser(
        "alarms", help="the shift's alarms and their acknowledgement (running gateway)"
    )
    commands = parser.add_subparsers(title="alarms commands", metavar="COMMAND")
    listing = commands.add_parser("list", help="every alarm of the shift, newest first (the default)")
    listing.add_argument("--active", action="store_true", help="only alarms not cleared yet")
    listing.add_argument("--json", action="store_true", help="print the raw /api/alarms document")
    add_client_options(listing)
    listing.set_defaults(handler=run_list)
    ack = commands.add_parser("ack", help="acknowledge an active alarm (published as CFX FaultAcknowledged)")
    ack.add_argument("machine", metavar="MACHINE", help="the machine id from the line config")
    ack.add_argument("occurrence", metavar="OCCURRENCE", help="the alarm's occurrence id (see alarms list)")
    ack.add_argument("--operator", required=True, help="who acknowledges (the operator's login name)")
    add_client_options(ack, token=True)
    ack.set_defaults(handler=run_ack)
    add_client_options(parser)
    parser.set_defaults(handler=run_list, active=False, json=False)


def render(alarms: list[dict[str, Any]]) -> str:
    """The alarms as a table: what, where, since when, acknowledged by whom, cleared when."""
    rows = [
        [
            a["source"],
            a["code"],
            a["severity"],
            a["description"],
            a["occurred_at"],
            a["acknowledged_by"] or ("yes" if a["acknowledged"] else "no"),
            a["cleared_at"] or "active",
            a["occurrence_id"],
        ]
        for a in alarms
    ]
    header = ["SOURCE", "CODE", "SEVERITY", "DESCRIPTION", "SINCE", "ACK", "CLEARED", "OCCURRENCE"]
    return format_table(header, rows)


async def _list(args: argparse.Namespace) -> dict[str, Any]:
    async with ApiClient(args.url) as client:
        answer: dict[str, Any] = await client.get("/api/alarms")
        return answer


def run_list(args: argparse.Namespace) -> int:
    """Print the alarms; 0 on success, 2 when the gateway cannot be asked."""
    client_logging()
    try:
        answer = asyncio.run(_list(args))
    except LinegateError as exc:
        print(f"linegate alarms: {exc}", file=sys.stderr)
        return EXIT_ERROR
    alarms = [a for a in answer["alarms"] if a["active"] or not args.active]
    if args.json:
        sys.stdout.write(
            orjson.dumps({**answer, "alarms": alarms}, option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    elif alarms:
        print(f"alarms since {answer['shift_started']}:")
        print(render(alarms))
    else:
        print(f"no {'active ' if args.active else ''}alarms since {answer['shift_started']}")
    return EXIT_OK


async def _ack(args: argparse.Namespace, token: str) -> dict[str, Any]:
    async with ApiClient(args.url, token) as client:
        path = f"/api/machines/{args.machine}/faults/{args.occurrence}/acknowledge"
        answer: dict[str, Any] = await client.post(path, {"operator": args.operator})
        return answer


def run_ack(args: argparse.Namespace) -> int:
    """Acknowledge one alarm; 0 when acknowledged (now or before), 2 otherwise."""
    client_logging()
    try:
        answer = asyncio.run(_ack(args, resolve_token(args.token_file)))
    except LinegateError as exc:
        print(f"linegate alarms ack: {exc}", file=sys.stderr)
        return EXIT_ERROR
    who, when = answer["acknowledged_by"], answer["acknowledged_at"]
    print(f"{answer['machine']} {answer['code']}: acknowledged by {who} at {when}")
    return EXIT_OK


__all__ = ["register", "render", "run_ack", "run_list"]
