"""``linegate cfx``: a CFX linter and formatter for any vendor's messages.

``linegate cfx check FILE...`` reads envelopes from files (``-`` is standard input), prints every
problem as ``FILE: JSON-PATH: [rule] message`` and exits 1 when there is any, 0 when all are clean,
2 when an input cannot be read. ``linegate cfx fmt FILE`` prints the envelope(s) re-encoded exactly
as the CFX SDK writes them. A file may hold one envelope, a JSON array of envelopes (a batch), or
one envelope per line (JSON Lines, as recorders write); gzip files are recognised by their magic.

The rules are those of ``protocols.cfx.validate``; one more, ``decode``, is a safety net: it reports
an envelope the validator passed but the lenient reader still refuses.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import zlib
from dataclasses import dataclass

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
    check.add_argument("files", nargs="+", metavar="FILE", help="envelope file(s); - for standard input")
    check.set_defaults(handler=run_check)
    fmt = commands.add_parser("fmt", help="print envelopes re-encoded in canonical CFX SDK form")
    fmt.add_argument("file", metavar="FILE", help="envelope file; - for standard input")
    fmt.set_defaults(handler=run_fmt)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_UNREADABLE


def run_check(args: argparse.Namespace) -> int:
    """Lint every file; print problems; exit 1 on any problem, 2 on an unreadable input."""
    status = EXIT_CLEAN
    count = 0
    for name in args.files:
        try:
            documents = read_documents(name)
        except UnreadableInput as exc:
            print(f"linegate cfx check: {exc}", file=sys.stderr)
            status = EXIT_UNREADABLE
            continue
        for doc in documents:
            for problem in check_document(doc.data):
                print(f"{doc.where}: {problem}")
                count += 1
    if count and status == EXIT_CLEAN:
        status = EXIT_PROBLEMS
    if count:
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
    return status


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
        out.write(encode_envelopes(envelopes) if batch else encode_envelope(envelopes[0]))
        out.write(b"\n")
    out.flush()
    return EXIT_CLEAN


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
