"""``linegate trace hold|release|holds``: operators' holds on boards, reels and lots.

A hold is written to the trace store the gateway's interlocks read at every decision, so it
takes effect at the next board any machine asks about (docs/trace.md, "Interlocks"). Through a
running gateway's HTTP API the same is ``POST /api/holds`` (token-guarded).

Exit status: 0 done, 1 nothing by that name (a hold on something the store never saw, a release
of what is not held) or the database failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from gateway.logconfig import configure_logging

KINDS = ("board", "reel", "lot")


def add_hold_commands(commands: Any, store_options: Any) -> None:
    """Add ``hold``, ``release`` and ``holds`` to ``linegate trace``'s subcommands."""
    hold = commands.add_parser("hold", help="put a board, reel or lot on hold: refused at every machine")
    hold.add_argument("kind", choices=KINDS)
    hold.add_argument(
        "identifier", metavar="ID", help="a board (barcode, Hermes BoardId, unit id), reel or lot"
    )
    hold.add_argument("--reason", help="why (shown in every refusal)")
    hold.add_argument("--by", help="who holds it (operator)")
    release = commands.add_parser("release", help="release a hold")
    release.add_argument("kind", choices=KINDS)
    release.add_argument("identifier", metavar="ID")
    release.add_argument("--by", help="who releases it (operator)")
    holds = commands.add_parser("holds", help="list the active holds")
    for sub, handler in ((hold, _hold), (release, _release), (holds, _list)):
        store_options(sub)
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(handler=handler, command=sub.prog)


def _run(args: argparse.Namespace, work: Any) -> int:
    from gateway.commands.trace import Fail, run_with_store
    from gateway.trace.holds import HoldError

    configure_logging(level=logging.WARNING, stream=sys.stderr)

    async def body(store: Any) -> None:
        try:
            answer = await work(store)
        except HoldError as exc:
            raise Fail(str(exc), 1 if exc.not_found else 2) from exc
        print(json.dumps(answer, indent=2) if args.json else answer["text"])

    return run_with_store(args, body, must_exist=True)


def _hold(args: argparse.Namespace) -> int:
    from gateway.trace.holds import hold_json, place_hold

    async def work(store: Any) -> dict[str, Any]:
        hold, created = await store.run(lambda: place_hold(args.kind, args.identifier, args.reason, args.by))
        state = "on hold" if created else "was on hold already"
        return {"created": created, "hold": hold_json(hold), "text": f"{args.kind} {args.identifier} {state}"}

    return _run(args, work)


def _release(args: argparse.Namespace) -> int:
    from gateway.trace.holds import hold_json, release_hold

    async def work(store: Any) -> dict[str, Any]:
        released = await store.run(lambda: release_hold(args.kind, args.identifier, args.by))
        text = f"{args.kind} {args.identifier} released"
        return {"released": [hold_json(h) for h in released], "text": text}

    return _run(args, work)


def _list(args: argparse.Namespace) -> int:
    from gateway.trace.holds import active_holds, hold_json
    from gateway.trace.report import table

    async def work(store: Any) -> dict[str, Any]:
        holds = [hold_json(h) for h in await store.run(active_holds)]
        text = f"{len(holds)} active holds\n" + table(holds) if holds else "no active holds"
        return {"holds": holds, "text": text}

    return _run(args, work)


__all__ = ["add_hold_commands"]
