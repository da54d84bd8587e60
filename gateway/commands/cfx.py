"""``linegate cfx``: a CFX linter and formatter for any vendor's messages.

``linegate cfx check [PATH...]`` reads envelopes from files and directories (every ``*.json``,
``*.jsonl`` and ``*.gz`` below them; ``-`` or no PATH is standard input), prints every problem as
``FILE: JSON-PATH: [rule] message`` (``--format json``: one JSON document for CI) and a one-line
summary, and exits 1 when there is any problem, 0 when all are clean, 2 when an input cannot be
read. ``linegate cfx fmt FILE`` prints the envelope(s) re-encoded exactly as the CFX SDK writes them
(``--indent N``: indented as the SDK's Formatting.Indented, for reading). A file may hold one
envelope, a JSON array of envelopes (a batch), or one envelope per line (JSON Lines, as recorders
write); gzip files are recognised by their magic.

The rules are those of ``protocols.cfx.validate``; one more, ``decode``, is a safety net: it reports
an envelope the validator passed but the lenient reader still refuses.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson

from gateway.commands import Subparsers
from protocols.cfx.codec import CFXDecodeError, decode_envelopes, encode_envelope, encode_envelopes
from protocols.cfx.validate import Problem, validate_bytes

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2
_GZIP_MAGIC = b"\x1f\x8b"


class UnreadableInput(Exception):
    """An input file cannot be read at all (missing, unreadable, broken gzip)."""


@dataclass(frozen=True, slots=True)
class Document:
    """One JSON document of an input and where it came from (line number for JSON Lines)."""

    data: bytes
    where: str


def register(subparsers: Subparsers) -> None:
    """Add ``linegate cfx check`` and ``linegate cfx fmt``."""
    parser = subparsers.add_parser("cfx", help="check or re-format CFX envelopes (IPC-2591)")
    commands = parser.add_subparsers(title="cfx commands", metavar="COMMAND")
    check = commands.add_parser("check", help="report every departure from what the CFX SDK writes")
    check.add_argument(
        "files",
        nargs="*",
        default=["-"],
        metavar="PATH",
        help="envelope files or directories; - (the default) for standard input",
    )
    check.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one line per problem (default); json: one document with every problem, for CI",
    )
    check.set_defaults(handler=run_check)
    fmt = commands.add_parser("fmt", help="print envelopes re-encoded in canonical CFX SDK form")
    fmt.add_argument("file", metavar="FILE", help="envelope file; - for standard input")
    fmt.add_argument(
        "--indent",
        type=int,
        default=0,
        metavar="N",
        help="indent by N spaces (0, the default: the wire form)",
    )
    fmt.set_defaults(handler=run_fmt)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_UNREADABLE


def run_check(args: argparse.Namespace) -> int:
    """Lint every input; print problems and a summary; exit 1 on any problem, 2 on an unreadable input."""
    status = EXIT_CLEAN
    found: list[tuple[str, Problem]] = []
    unreadable: list[str] = []
    files = envelopes = 0
    for name in expand_paths(args.files, unreadable):
        try:
            documents = read_documents(name)
        except UnreadableInput as exc:
            unreadable.append(str(exc))
            continue
        files += 1
        for doc in documents:
            envelopes += _count_envelopes(doc.data)
            found.extend((doc.where, problem) for problem in check_document(doc.data))
    if unreadable:
        status = EXIT_UNREADABLE
    elif found:
        status = EXIT_PROBLEMS
    if args.format == "json":
        report = {
            "files": files,
            "envelopes": envelopes,
            "unreadable": unreadable,
            "problems": [
                {"where": where, "path": p.path, "rule": p.rule, "message": p.message} for where, p in found
            ],
        }
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return status
    for message in unreadable:
        print(f"linegate cfx check: {message}", file=sys.stderr)
    for where, problem in found:
        print(f"{where}: {problem}")
    summary = (
        f"{envelopes} envelope{'s' if envelopes != 1 else ''} in {files} file{'s' if files != 1 else ''}"
    )
    if found:
        print(f"{len(found)} problem{'s' if len(found) != 1 else ''} found ({summary})", file=sys.stderr)
    elif not unreadable:
        print(f"{summary}: no problems")
    return status


def expand_paths(names: list[str], unreadable: list[str]) -> list[str]:
    """Files as given; a directory as every envelope file below it, in name order."""
    out: list[str] = []
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            found = sorted(
                str(p) for p in path.rglob("*") if p.is_file() and p.name.endswith((".json", ".jsonl", ".gz"))
            )
            if not found:
                unreadable.append(f"{name}: no *.json, *.jsonl or *.gz files in this directory")
            out.extend(found)
        else:
            out.append(name)
    return out


def _count_envelopes(data: bytes) -> int:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return 1
    return len(value) if isinstance(value, list) else 1


def check_document(data: bytes) -> list[Problem]:
    """Validate one document; when the validator is satisfied, also prove the lenient reader is."""
    problems = validate_bytes(data)
    if not problems:
        try:
            decode_envelopes(data)
        except CFXDecodeError as exc:
            problems.append(Problem(exc.path, "decode", str(exc)))
    return problems


def run_fmt(args: argparse.Namespace) -> int:
    """Print the canonical encoding; exit 1 when an envelope cannot be decoded, 2 when unreadable."""
    try:
        documents = read_documents(args.file)
    except UnreadableInput as exc:
        print(f"linegate cfx fmt: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    out = sys.stdout.buffer
    for doc in documents:
        try:
            envelopes = decode_envelopes(doc.data)
        except CFXDecodeError as exc:
            print(f"linegate cfx fmt: {doc.where}: {exc}", file=sys.stderr)
            return EXIT_PROBLEMS
        batch = doc.data.lstrip()[:1] == b"["
        data = encode_envelopes(envelopes) if batch else encode_envelope(envelopes[0])
        out.write(_indented(data, args.indent) if args.indent > 0 else data)
        out.write(b"\n")
    out.flush()
    return EXIT_CLEAN


def _indented(data: bytes, indent: int) -> bytes:
    # Reformats the canonical text without re-reading its values, so numbers keep their digits.
    formatted: Any = msgspec.json.format(data, indent=indent)
    return bytes(formatted)


def read_documents(name: str) -> list[Document]:
    """Read one input into JSON documents: the whole file, or one per line when it is JSON Lines.

    Raises:
        UnreadableInput: the file cannot be opened or read, or its gzip is broken.
    """
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(name, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        raise UnreadableInput(f"{name}: {exc.strerror or exc}") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableInput(f"{name}: broken gzip: {exc}") from None
    label = "<stdin>" if name == "-" else name
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) > 1 and not _parses(data) and all(_parses(line) for line in lines):
        numbered = [(i, line) for i, line in enumerate(data.splitlines(), start=1) if line.strip()]
        return [Document(line, f"{label}:{i}") for i, line in numbered]
    return [Document(data, label)]


def _parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True
