"""Base classes of every CFX model, the wire-name rule and the allow-lists the codec resolves through.

Models are frozen msgspec Structs (see ``bench/cfx_codec.py`` for why): fields are snake_case and
the codec alone knows the wire spelling. The wire name is the PascalCase of the field name
(cfx.md §1.2: the C# property names, no camelCase resolver), with the acronyms the SDK spells in
capitals (``CFXHandle``, ``SolderedPCBs``); the few irregular names (``TransactionID`` beside
``TransactionId``, ``Cycle_Time``) are given per field with ``msgspec.field(name=...)``.

Polymorphism (cfx.md §1.2): Newtonsoft writes ``"$type": "<FullName>, CFX"`` as the first key of a
value only where the SDK asks for TypeNameHandling.Auto *and* the runtime type differs from the
declared one. So a base class (``Fault``, ``Stage``, ``ProcessData``) is untagged and its subclasses
in such slots are tagged; every message body is tagged (``MessageBody`` is declared ``object``).
A C# subclass lists its own members before its base's (reflection order), so subclasses here are
separate Structs that repeat the base fields after their own rather than Python subclasses.

A polymorphic slot is annotated with an ``AnyX`` alias (``AnyFault``, ``AnyProcessData``): for type
checkers the base plus its subclasses; at run time, for msgspec, the union of the tagged subclasses
only, so msgspec's fast path requires ``$type`` there and a base value (which the SDK writes without
``$type``) takes the lenient path, which resolves the family through ``POLYMORPHIC_BASE``. A family
needs at least two tagged subclasses: msgspec does not require the tag of a lone tagged Struct.
Plain slots (declared ``Fault``, ``Stage`` without TypeNameHandling) always hold the declared class.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

import msgspec

from protocols.cfx.timefmt import TimeSpan, Timestamp, writable_time

# Field-name parts the SDK spells other than Capitalized (cfx.md §1.2, §2.6, §3.3).
_TOKENS = {
    "cfx": "CFX",
    "pcb": "PCB",
    "pcbs": "PCBs",
    "smd": "SMD",
    "e58": "E58",
    "ryb": "RYB",
    "o2": "O2",
    "bom": "BOM",
}


def wire_name(field: str) -> str:
    """The default JSON name of a snake_case field: PascalCase with the SDK's acronyms."""
    return "".join(_TOKENS.get(part) or part[:1].upper() + part[1:] for part in field.split("_"))


class CFXStruct(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,  # strict fast path; anything unusual falls back to the lenient reader
    rename=wire_name,
    gc=False,  # frozen value trees hold no cycles; skipping GC tracking makes decoding much cheaper
):
    """Base of every CFX structure and message body."""

    # The .NET full name for ``$type`` ("CFX.Structures.Fault"); set on every class.
    CFX_TYPE: ClassVar[str] = ""


class CFXMessage(
    CFXStruct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename=wire_name,
    gc=False,
    tag_field="$type",
):
    """Base of every message body; ``MESSAGE_NAME`` is the envelope's MessageName.

    Every body is written with ``"$type": "<MessageName>, CFX"`` first (cfx.md §1.2).
    """

    MESSAGE_NAME: ClassVar[str] = ""


# Allow-lists (cfx.md §4: ``$type`` and MessageName resolve only through these, never by import).
MESSAGE_TYPES: dict[str, type[CFXMessage]] = {}
STRUCTURE_TYPES: dict[str, type[CFXStruct]] = {}
# Tagged subclass -> the base class of its polymorphic family (for the lenient reader and validator).
POLYMORPHIC_BASE: dict[type[CFXStruct], type[CFXStruct]] = {}
# Base class -> its registered subclasses, in registration order.
POLYMORPHIC_SUBCLASSES: dict[type[CFXStruct], list[type[CFXStruct]]] = {}

M = TypeVar("M", bound=CFXMessage)
S = TypeVar("S", bound=CFXStruct)


def type_tag(full_name: str) -> str:
    """The ``$type`` value Newtonsoft writes with TypeNameAssemblyFormatHandling.Simple."""
    return f"{full_name}, CFX"


def _tag_name(cls: type[CFXStruct]) -> str:
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str) or not tag.endswith(", CFX"):
        raise TypeError(f"{cls.__name__} needs tag=type_tag(<CFX full name>)")
    return tag[: -len(", CFX")]


def message(cls: type[M]) -> type[M]:
    """Class decorator: register a message body under its MessageName (taken from its tag)."""
    name = _tag_name(cls)
    cls.MESSAGE_NAME = name
    cls.CFX_TYPE = name
    MESSAGE_TYPES[name] = cls
    return cls


def structure(full_name: str) -> Callable[[type[S]], type[S]]:
    """Class decorator for an untagged structure: record its .NET full name."""

    def register(cls: type[S]) -> type[S]:
        cls.CFX_TYPE = full_name
        STRUCTURE_TYPES[full_name] = cls
        return cls

    return register


def subclass_of(base: type[CFXStruct]) -> Callable[[type[S]], type[S]]:
    """Class decorator for a tagged polymorphic subclass: register it under its tag and its base."""

    def register(cls: type[S]) -> type[S]:
        name = _tag_name(cls)
        cls.CFX_TYPE = name
        STRUCTURE_TYPES[name] = cls
        POLYMORPHIC_BASE[cls] = base
        POLYMORPHIC_SUBCLASSES.setdefault(base, []).append(cls)
        return cls

    return register


def coerce_times(obj: CFXStruct, *fields: str) -> None:
    """Turn plain datetime/timedelta values of ``fields`` into the types the codec writes.

    Called from ``__post_init__`` only on classes that have such fields, so other classes decode
    without any Python call.
    """
    for name in fields:
        value = getattr(obj, name)
        if value is None:
            continue
        fixed = _coerce(value)
        if fixed is not value:
            msgspec.structs.force_setattr(obj, name, fixed)


def _coerce(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # cfx.md §1.3: a missing offset is ambiguous; take it as line-local time.
            value = value.astimezone()
        return value if type(value) is Timestamp else writable_time(value)
    if isinstance(value, timedelta):
        return value if type(value) is TimeSpan else TimeSpan.of(value)
    return value


__all__ = [
    "MESSAGE_TYPES",
    "POLYMORPHIC_BASE",
    "POLYMORPHIC_SUBCLASSES",
    "STRUCTURE_TYPES",
    "CFXMessage",
    "CFXStruct",
    "coerce_times",
    "message",
    "structure",
    "subclass_of",
    "type_tag",
    "wire_name",
]
