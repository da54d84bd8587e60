"""``linegate recipe``: activate a recipe, list a machine's recipes, change the line over.

Clients of a running gateway's HTTP API. ``activate`` and ``changeover`` need the API token
(``LINEGATE_HTTP_TOKEN`` or ``--token-file``); ``changeover`` shows a progress bar while the
machines switch, then one row per machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gateway.commands import Subparsers
from gateway.config import CHANGEOVER_AT
from gateway.http.client import (
    ApiClient,
    GatewayError,
    Progress,
    add_client_options,
    client_logging,
    format_table,
    resolve_token,
)
from protocols.errors import LinegateError

EXIT_OK = 0
EXIT_FAILED = 1  # the gateway answered: the change did not happen (on every machine)
EXIT_ERROR = 2  # the request could not be made (no token, gateway unreachable, unknown name)


def register(subparsers: Subparsers) -> None:
    """Add ``linegate recipe activate|list|changeover``."""
    parser = subparsers.add_parser(
        "recipe", help="activate recipes and change the line over (running gateway)"
    )
    commands = parser.add_subparsers(title="recipe commands", metavar="COMMAND")
    activate = commands.add_parser("activate", help="activate a recipe on one machine (read back to confirm)")
    activate.add_argument("machine", metavar="MACHINE", help="the machine id from the line config")
    activate.add_argument("recipe", metavar="RECIPE", help="the recipe name as the machine knows it")
    activate.add_argument("revision", nargs="?", metavar="REV", help="the recipe revision")
    activate.add_argument(
        "--force",
        action="store_true",
        help="activate even on a machine whose recipe the product-boundary gate sets per board "
        "(the gate switches it back at the next board)",
    )
    add_client_options(activate, token=True)
    activate.set_defaults(handler=run_activate)
    listing = commands.add_parser("list", help="the active and available recipes of one machine")
    listing.add_argument("machine", metavar="MACHINE")
    add_client_options(listing)
    listing.set_defaults(handler=run_list)
    changeover = commands.add_parser("changeover", help="activate every machine's recipe for a product")
    changeover.add_argument("product", metavar="PRODUCT", help="a product from the line config")
    changeover.add_argument(
        "--at",
        choices=CHANGEOVER_AT,
        help="now: switch each machine once its boards in process are done; boundary: switch each "
        "machine when the product's first board reaches it (default: the config's [changeover] at)",
    )
    add_client_options(changeover, token=True)
    changeover.set_defaults(handler=run_changeover)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_ERROR


def _recipe_text(name: str | None, revision: str | None) -> str | None:
    if name is None:
        return None
    return name + (f" rev {revision}" if revision else "")


def _outcome_rows(outcomes: list[dict[str, Any]]) -> str:
    rows = [
        [
            o["machine"],
            _recipe_text(o["recipe"], o.get("revision")),
            "ok" if o["ok"] else "FAILED",
            o["message"],
        ]
        for o in sorted(outcomes, key=lambda o: str(o["machine"]))
    ]
    return format_table(["MACHINE", "RECIPE", "RESULT", "MESSAGE"], rows)


def _fail(command: str, exc: LinegateError) -> int:
    print(f"linegate recipe {command}: {exc}", file=sys.stderr)
    return EXIT_ERROR


# --- activate -----------------------------------------------------------------------------


async def _activate(args: argparse.Namespace, token: str) -> dict[str, Any]:
    body: dict[str, Any] = {"recipe": args.recipe, "revision": args.revision}
    if args.force:
        body["force"] = True
    async with ApiClient(args.url, token, timeout=660) as client:  # a finish_board interlock may wait
        try:
            answer: dict[str, Any] = await client.post(f"/api/machines/{args.machine}/recipe", body)
        except GatewayError as exc:
            if exc.status == 409 and isinstance(exc.body, dict) and "result_code" in exc.body:
                return exc.body  # the machine answered: an outcome, not a failed request
            raise
        return answer


def run_activate(args: argparse.Namespace) -> int:
    """Activate and print the outcome; 0 when confirmed, 1 when refused, 2 on a request error."""
    client_logging()
    try:
        outcome = asyncio.run(_activate(args, resolve_token(args.token_file)))
    except LinegateError as exc:
        return _fail("activate", exc)
    print(_outcome_rows([outcome]))
    return EXIT_OK if outcome["ok"] else EXIT_FAILED


# --- list ---------------------------------------------------------------------------------


async def _list(args: argparse.Namespace) -> dict[str, Any]:
    async with ApiClient(args.url) as client:
        answer: dict[str, Any] = await client.get(f"/api/machines/{args.machine}/recipes")
        return answer


def run_list(args: argparse.Namespace) -> int:
    """Print the machine's recipes, the active one marked with ``*``."""
    client_logging()
    try:
        listing = asyncio.run(_list(args))
    except LinegateError as exc:
        return _fail("list", exc)
    active = listing.get("active") or {}
    rows = [
        [
            "*" if (r["name"], r.get("revision")) == (active.get("name"), active.get("revision")) else "",
            r["name"],
            r.get("revision"),
        ]
        for r in listing["available"]
    ]
    print(
        f"{listing['machine']}: active {_recipe_text(active.get('name'), active.get('revision')) or 'none'}"
    )
    print(format_table(["", "RECIPE", "REVISION"], rows))
    return EXIT_OK


# --- changeover ---------------------------------------------------------------------------


async def _changeover(args: argparse.Namespace, token: str) -> dict[str, Any]:
    progress: Progress | None = None
    async with ApiClient(args.url, token, timeout=660) as client:
        body = {"product": args.product} if args.at is None else {"product": args.product, "at": args.at}
        async for row in client.post_lines("/api/changeover", body):
            if row["type"] == "started":
                progress = Progress(len(row["machines"]), f"changeover to {row['product']}")
            elif row["type"] == "outcome" and progress is not None:
                progress.step(f"{row['machine']} {'ok' if row['ok'] else 'FAILED'}")
            elif row["type"] == "done":
                return row
    raise LinegateError("the gateway ended the changeover stream without a summary")


def run_changeover(args: argparse.Namespace) -> int:
    """Change over with a progress bar, then print one row per machine; 0 when all confirmed."""
    client_logging()
    try:
        summary = asyncio.run(_changeover(args, resolve_token(args.token_file)))
    except LinegateError as exc:
        return _fail("changeover", exc)
    print(_outcome_rows(summary["outcomes"]))
    failed = [o["machine"] for o in summary["outcomes"] if not o["ok"]]
    if failed:
        print(f"changeover to {summary['product']} failed on: {', '.join(sorted(failed))}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


__all__ = ["register", "run_activate", "run_changeover", "run_list"]
