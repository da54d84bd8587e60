"""The Hermes XML parser, both twins, under fuzz.

Invariants: ``native.hermes_xml_pure.parse`` and ``native._hermes_xml.parse`` each return a
tree or raise XmlError; the compiled one also gives the very same tree, or the same error
reason and offset, as the pure twin (a difference is a crash).
"""

from __future__ import annotations

import importlib

from fuzz.harness import Crash, Harness, Target
from fuzz.seeds import hermes_hostile, hermes_messages
from native import hermes_xml_pure
from native.xml_errors import XmlError


def make_pure() -> Target:
    return hermes_xml_pure.parse


def make_cython() -> Target:
    compiled = importlib.import_module("native._hermes_xml")
    pure = hermes_xml_pure.parse

    def one(data: bytes) -> None:
        try:
            tree = compiled.parse(data)
        except XmlError as exc:
            try:
                pure(data)
            except XmlError as twin:
                if (exc.reason, exc.offset) != (twin.reason, twin.offset):
                    raise Crash(f"twins differ: {exc} / {twin}") from None
                raise
            raise Crash(f"compiled refused what the pure twin accepts: {exc}") from None
        try:
            twin_tree = pure(data)
        except XmlError as twin:
            raise Crash(f"pure twin refused what the compiled accepts: {twin}") from None
        if tree != twin_tree:
            raise Crash("twins give different trees")

    return one


def seeds() -> list[bytes]:
    return [*hermes_messages(), *hermes_hostile()]


HARNESSES = [
    Harness("hermes-xml-pure", "native/hermes_xml_pure.py", make_pure, (XmlError,), seeds),
    Harness(
        "hermes-xml-cython",
        "native/_hermes_xml.pyx (checked against the pure twin)",
        make_cython,
        (XmlError,),
        seeds,
    ),
]
