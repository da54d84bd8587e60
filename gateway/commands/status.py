"""``linegate status``: the line at a glance from a running gateway's HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from gateway.commands import Subparsers
from gateway.http.client import ApiClient, add_client_options, client_logging, format_table
from protocols.errors import LinegateError


def register(subparsers: Subparsers) -> None:
    """Add ``linegate status``."""
    parser = subparsers.add_parser(
        "status",
        help="show every machine's link, state, recipe, faults and boards (from a running gateway)",
    )
    add_client_options(parser)
    parser.add_argument("--json", action="store_true", help="print the raw /api/line document")
    parser.set_defaults(handler=run)


def render(view: dict[str, Any]) -> str:
    """The line as a readable report: a summary line, a machine table, then the active faults."""
    outbox = view["outbox"]
    head = (
        f"line {view.get('line') or '-'}: {'running' if view.get('running') else 'starting'}, "
        f"outbox {outbox['depth']} event(s) (oldest {outbox['oldest_age_seconds']:.1f} s, "
        f"dropped {outbox['dropped']})"
    )
    rows = []
    faults = []
    troubled = []
    for m in view["machines"]:
        state = m["state"]
        recipe = m["active_recipe"]
        recipe_text = None
        if recipe:
            recipe_text = recipe["name"] + (f" rev {recipe['revision']}" if recipe.get("revision") else "")
        rtt = m["link"]["last_rtt_ms"]
        rows.append(
            [
                m["id"],
                m["link"]["state"],
                f"{state['code']} {state['name']}" if state["code"] else "unknown",
                recipe_text,
                len(m["faults"]),
                len(m["boards_in_process"]),
                m["boards_departed"],
                None if rtt is None else f"{rtt:g} ms",
            ]
        )
        link = m["link"]
        if link.get("last_error") and (link["state"] != "connected" or link.get("failures")):
            troubled.append([m["id"], link["state"], link.get("failures", 0), link["last_error"]])
        faults += [
            [m["id"], f["code"], f["severity"], f.get("description") or None, f.get("occurred_at")]
            for f in m["faults"]
        ]
    parts = [
        head,
        "",
        format_table(["MACHINE", "LINK", "STATE", "RECIPE", "FAULTS", "IN PROCESS", "DONE", "RTT"], rows),
    ]
    if troubled:
        parts += [
            "",
            "link errors:",
            format_table(["MACHINE", "LINK", "FAILURES", "LAST ERROR"], troubled),
        ]
    if faults:
        parts += [
            "",
            "active faults:",
            format_table(["MACHINE", "CODE", "SEVERITY", "DESCRIPTION", "SINCE"], faults),
        ]
    return "\n".join(parts)


async def _status(args: argparse.Namespace) -> dict[str, Any]:
    async with ApiClient(args.url) as client:
        view: dict[str, Any] = await client.get("/api/line")
        return view


def run(args: argparse.Namespace) -> int:
    """Print the report; 0 on success, 1 when the gateway cannot be asked."""
    client_logging()
    try:
        view = asyncio.run(_status(args))
    except LinegateError as exc:
        print(f"linegate status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(view))
    return 0


__all__ = ["register", "render", "run"]
