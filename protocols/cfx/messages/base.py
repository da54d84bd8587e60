"""The rules of serialization every CFX model follows; the generated catalogue only lists members.

Models are frozen msgspec Structs (see ``bench/cfx_codec.py`` for why): fields are snake_case and
the codec alone knows the wire spelling. The wire name is the PascalCase of the field name
(cfx.md §1.2: the C# member names, no camelCase resolver), with the acronyms the SDK spells in
capitals (``CFXHandle``, ``SolderedPCBs``); irregular names (``TransactionID`` beside
``TransactionId``, ``Cycle_Time``) are given per field with ``msgspec.field(name=...)``. Members
come in the order Newtonsoft writes them: a subclass's own before its base's, public fields before
properties; so a C# subclass is a separate Struct here that repeats its base's members.

Polymorphism (cfx.md §0, §1.2). Newtonsoft writes ``"$type": "<FullName>, CFX"`` first in a value
only where the resolved TypeNameHandling of its slot is Auto *and* the value's class is not the
slot's declared class; the resolution reads the member's own setting, then the ItemTypeNameHandling
of the property holding the object (the envelope hands Auto to the body's direct members), then the
object's class. Whether a value carries ``$type`` therefore depends on where it sits, so every class
of a polymorphic family has two forms: the one the catalogue declares (untagged) and a tagged twin
(``tagged_form``), a Python subclass with the same members that msgspec writes with ``$type``. A
decoded value keeps the form it was read in, so a relay writes back what it read; a value built in
Python is put in the SDK's form by ``sdk_form`` (``Envelope.create`` calls it).

A slot that can hold a subclass is annotated ``AnyX``: for type checkers the union of the family
(``polymorphic.py``), at run time a marker class whose values the codec's decode hook builds:
``$type`` picks the class through the allow-list; without it, the declared class or, when the value
has members the declared class lacks, the subclass whose members hold them all (the SDK writes
subclasses untagged where the slot is not Auto). A ``$type`` outside the catalogue, or members no
class of the family has, give an ``UnknownStructure`` that keeps the object verbatim: never a
silent downcast.
"""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import msgspec

from protocols.cfx.timefmt import TimeSpan, Timestamp, span_default, time_default, writable_time

if TYPE_CHECKING:
    Time = datetime
    Span = timedelta
    Items = list
else:

    class Items:
        """``Items[X]``: a C# List of a class, which may hold null (the SDK writes it as read).

        Type checkers see ``list[X]`` (readers need not test every element of a list that a sender
        fills); msgspec sees ``list[X | None]`` so that a null element decodes on the fast path.
        """

        def __class_getitem__(cls, item: Any) -> Any:
            return list[item | None]

    # The run-time types of DateTime and TimeSpan members: they keep the wire text they were read from.
    Time = Timestamp
    Span = TimeSpan

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

NIL_UUID = uuid.UUID(int=0)  # Guid.Empty, what a C# receiver puts in a missing Guid member


def wire_name(field: str) -> str:
    """The default JSON name of a snake_case field: PascalCase with the SDK's acronyms."""
    return "".join(_TOKENS.get(part) or part[:1].upper() + part[1:] for part in field.rstrip("_").split("_"))


class CFXStruct(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,  # strict fast path; anything unusual falls back to the lenient reader
    rename=wire_name,
    gc=False,  # frozen value trees hold no cycles; skipping GC tracking makes decoding much cheaper
):
    """Base of every CFX structure and message body."""

    # The .NET full name ("CFX.Structures.Fault"); set on every class.
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


class UnknownStructure:
    """A value in a polymorphic slot that no catalogue class describes, kept verbatim.

    A newer or vendor-specific subclass (``"$type": "Vendor.X, Vendor"``), or members that none of
    the slot's classes has. The codec writes ``value`` back unchanged (key order kept), so a relay
    loses nothing; ``cfx check`` reports it.

    Attributes:
        declared: the slot's declared CFX class (``CFX.Structures.Fault``).
        value: the JSON object as read.
    """

    __slots__ = ("declared", "value")

    def __init__(self, declared: str, value: dict[str, Any]) -> None:
        self.declared = declared
        self.value = value

    @property
    def type_name(self) -> str | None:
        """The ``$type`` it carried, without the assembly (``Vendor.X``), if any."""
        tag = self.value.get("$type")
        return tag.split(",")[0].strip() if isinstance(tag, str) else None

    def as_declared(self) -> CFXStruct:
        """The members the declared class has, read into it (what an SDK reader would make of it).

        A view for readers that only need the base members (a fault's code, a unit's identifier);
        the value itself stays as read.

        Raises:
            ValueError: a member the declared class has holds a value it cannot take.
        """
        from protocols.cfx.lenient import LenientError, build_struct

        cls = STRUCTURE_TYPES.get(self.declared) or MESSAGE_TYPES.get(self.declared)
        if cls is None:
            raise ValueError(f"{self.declared} is not a catalogue class")
        try:
            return build_struct(cls, {k: v for k, v in self.value.items() if k != "$type"}, "$")  # type: ignore[no-any-return]
        except LenientError as exc:
            raise ValueError(str(exc)) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnknownStructure) and (self.declared, self.value) == (
            other.declared,
            other.value,
        )

    def __hash__(self) -> int:
        return hash(self.declared)

    def __repr__(self) -> str:
        return f"UnknownStructure({self.declared!r}, {self.value!r})"


# Allow-lists (cfx.md §4: ``$type`` and MessageName resolve only through these, never by import).
MESSAGE_TYPES: dict[str, type[CFXMessage]] = {}
STRUCTURE_TYPES: dict[str, type[CFXStruct]] = {}

M = TypeVar("M", bound=CFXMessage)
S = TypeVar("S", bound=CFXStruct)


def type_tag(full_name: str) -> str:
    """The ``$type`` value Newtonsoft writes with TypeNameAssemblyFormatHandling.Simple."""
    return f"{full_name}, CFX"


def message(cls: type[M]) -> type[M]:
    """Class decorator: register a message body under its MessageName (taken from its tag)."""
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str) or not tag.endswith(", CFX"):
        raise TypeError(f"{cls.__name__} needs tag=type_tag(<CFX full name>)")
    name = tag[: -len(", CFX")]
    cls.MESSAGE_NAME = name
    cls.CFX_TYPE = name
    MESSAGE_TYPES[name] = cls
    return cls


def structure(full_name: str) -> Callable[[type[S]], type[S]]:
    """Class decorator for a structure (untagged as declared): record its .NET full name."""

    def register(cls: type[S]) -> type[S]:
        cls.CFX_TYPE = full_name
        STRUCTURE_TYPES[full_name] = cls
        return cls

    return register


def catalogue_class(cls: type[S]) -> type[S]:
    """The class the catalogue declares for ``cls`` or its twin."""
    found: Any = STRUCTURE_TYPES.get(cls.CFX_TYPE) or MESSAGE_TYPES.get(cls.CFX_TYPE)
    return found if found is not None else cls


@cache
def tagged_form(cls: type[S]) -> type[S]:
    """The form of ``cls`` that msgspec writes with ``"$type"`` first (a message is already)."""
    cls = catalogue_class(cls)
    if cls.__struct_config__.tag_field is not None:
        return cls
    return _twin(cls, {"tag_field": "$type", "tag": type_tag(cls.CFX_TYPE)}, "Tagged")


@cache
def plain_form(cls: type[S]) -> type[S]:
    """The form of ``cls`` that msgspec writes without ``"$type"`` (a structure is already)."""
    cls = catalogue_class(cls)
    if cls.__struct_config__.tag_field is None:
        return cls
    return _twin(cls, {"tag": False}, "Plain")


def _twin(cls: type[S], config: dict[str, Any], suffix: str) -> type[S]:
    # A subclass with the same members, so isinstance and type checkers see the catalogue class; it
    # equals the catalogue class's value with the same members (the form is how it is written, not
    # what it is).
    def body(namespace: dict[str, Any]) -> None:
        namespace["__eq__"] = _form_blind_eq
        namespace["__hash__"] = _form_blind_hash

    twin: type[S] = types.new_class(cls.__name__, (cls,), {**config, "frozen": True, "kw_only": True}, body)
    twin.__module__ = cls.__module__
    twin.__qualname__ = f"{cls.__qualname__}.{suffix}"
    return twin


def _form_blind_eq(self: CFXStruct, other: object) -> object:
    if not isinstance(other, CFXStruct) or catalogue_class(type(other)) is not catalogue_class(type(self)):
        return NotImplemented
    return all(getattr(self, f) == getattr(other, f) for f in self.__struct_fields__)


def _form_blind_hash(self: CFXStruct) -> int:
    cls = catalogue_class(type(self))
    return hash(cls(**{f: getattr(self, f) for f in self.__struct_fields__}))


def count_of(obj: CFXStruct, field: str, source: str) -> None:
    """Set a computed count (``UnitCount``) to the length of ``source``, as the SDK's getter does."""
    items = getattr(obj, source)
    count = len(items) if items is not None else 0
    if getattr(obj, field) != count:
        msgspec.structs.force_setattr(obj, field, count)


def coerce_times(obj: CFXStruct, *fields: str) -> None:
    """Turn plain datetime/timedelta values of ``fields`` into the types the codec writes.

    Called from ``__post_init__`` of classes with such members; values decoded from the wire are
    already of those types and pass untouched.
    """
    for name in fields:
        value = getattr(obj, name)
        kind = type(value)
        if value is None or kind is Timestamp or kind is TimeSpan:
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


def now() -> datetime:
    """The aware local time: the C# constructors' ``DateTime.Now``."""
    return datetime.now().astimezone()


# --- polymorphic slots ------------------------------------------------------------------------


class _SlotType(type):
    # msgspec checks that the decode hook's result is an instance of the annotated type; a slot's
    # value is any class of its family, an UnknownStructure or None (a C# List of a class may hold
    # null). (Cheaper than registering virtual subclasses with ABCMeta, measured.)
    def __instancecheck__(cls, value: object) -> bool:
        return value is None or isinstance(value, CFXStruct | UnknownStructure)


def is_polymorphic_slot(annotation: Any) -> bool:
    """True for the run-time annotation of a polymorphic slot (``AnyFault``).

    (``issubclass(x, PolymorphicSlot)`` would not do: every model is a virtual subclass of a slot.)
    """
    return type(annotation) is _SlotType and annotation is not PolymorphicSlot


class PolymorphicSlot(metaclass=_SlotType):
    """Run-time annotation of a slot that may hold a subclass of ``DECLARED``; see the module docstring."""

    DECLARED: ClassVar[str] = ""


@cache
def polymorphic(declared: str) -> type[PolymorphicSlot]:
    """The marker class for slots declared as the CFX class ``declared``."""
    name = "Any" + declared.rsplit(".", 1)[1].replace("+", "")
    slot = _SlotType(name, (PolymorphicSlot,), {"DECLARED": declared, "__slots__": ()})
    return cast(type[PolymorphicSlot], slot)


@cache
def family(declared: str) -> tuple[type[CFXStruct], ...]:
    """The concrete catalogue classes a slot declared as ``declared`` may hold (declared first)."""
    from protocols.cfx.messages.polymorphic import FAMILIES

    names = FAMILIES.get(declared, (declared,))
    found = (STRUCTURE_TYPES.get(name) or MESSAGE_TYPES.get(name) for name in names)
    return tuple(cls for cls in found if cls is not None)


@cache
def _members(cls: type[CFXStruct]) -> frozenset[str]:
    # Lower case: Newtonsoft matches member names case-insensitively on input.
    return frozenset(f.encode_name.lower() for f in msgspec.structs.fields(cls))


@cache
def needs_hook(cls: Any) -> bool:
    """True when decoding ``cls`` calls the codec's decode hook: a DateTime, TimeSpan or polymorphic
    member anywhere below it."""
    return reaches(cls, lambda tp: tp is Timestamp or tp is TimeSpan or is_polymorphic_slot(tp), follow=False)


def reaches(cls: Any, found: Callable[[Any], bool], *, follow: bool = True) -> bool:
    """Whether a member type below ``cls`` satisfies ``found``; with ``follow``, polymorphic slots
    are followed into every class of their family."""
    seen: set[Any] = set()

    def walk(tp: Any) -> bool:
        if tp in seen:
            return False
        seen.add(tp)
        if found(tp):
            return True
        if follow and is_polymorphic_slot(tp):
            return any(walk(member) for member in family(tp.DECLARED))
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            return any(walk(f.type) for f in msgspec.structs.fields(tp))
        return any(walk(arg) for arg in typing.get_args(tp))

    return walk(cls)


def build_polymorphic(
    declared: str, obj: Any, convert: Callable[[Any, type[Any]], Any]
) -> CFXStruct | UnknownStructure:
    """Build the value of a slot declared as ``declared`` from a decoded JSON object.

    Args:
        declared: the slot's declared CFX class.
        obj: the JSON object (a dict, key order as read).
        convert: builds a class from the object (the codec's strict or lenient builder).

    Raises:
        ValueError, TypeError, msgspec.ValidationError: from ``convert``, a member the class refuses.
    """
    if type(obj) is not dict:
        raise TypeError(f"expected an object for {declared}")
    # The class depends only on the slot, the "$type" and the member names read: remember it.
    first = next(iter(obj), None)
    key = (declared, obj[first]) if first == "$type" else (declared, *obj)
    cls = _CHOSEN.get(key)
    if cls is None:
        if len(_CHOSEN) >= _CHOSEN_LIMIT:
            _CHOSEN.clear()  # bounded: member names come from the sender
        cls = _CHOSEN[key] = _choose(declared, obj)
    if cls is UnknownStructure:
        return UnknownStructure(declared, obj)
    return convert(obj, cls)  # type: ignore[no-any-return]


_CHOSEN: dict[tuple[Any, ...], type[Any]] = {}
_CHOSEN_LIMIT = 4096


def _choose(declared: str, obj: dict[str, Any]) -> type[Any]:
    classes = family(declared)
    tag = obj.get("$type")
    if tag is not None and next(iter(obj)) == "$type":
        # Newtonsoft reads $type only as the first key (cfx.md §1.2); elsewhere it is an unknown member.
        found = (
            (STRUCTURE_TYPES.get(tag.split(",")[0].strip()) or MESSAGE_TYPES.get(tag.split(",")[0].strip()))
            if isinstance(tag, str)
            else None
        )
        if found is None or found not in classes or not tag.endswith(", CFX"):
            return UnknownStructure
        return tagged_form(found)
    keys = frozenset(key.lower() for key in obj) - {"$type"}
    # The declared class when it has every member read; else the subclass with the fewest members
    # that has them all (its own members name it).
    fits = [cls for cls in classes if keys <= _members(cls)]
    if not fits:
        return UnknownStructure
    if fits[0] is classes[0]:
        return plain_form(classes[0])
    return plain_form(min(fits, key=lambda cls: len(_members(cls))))


# --- constructed values in the SDK's form -----------------------------------------------------

ENVELOPE_BODY_ITEM_HANDLING = "Auto"  # CFXEnvelope.MessageBody: ItemTypeNameHandling=Auto


def sdk_form(body: S) -> S:
    """Put every polymorphic value under ``body`` in the form the SDK writes at its place.

    A value's class decides whether msgspec writes ``$type``; the SDK decides by the slot (see the
    module docstring). For a message built in Python this swaps values for their tagged or untagged
    twin where the slot asks for the other. Decoded messages need nothing: they keep what was read.
    Changes ``body`` in place (its members are replaced) and returns it.
    """
    _fix(body, ENVELOPE_BODY_ITEM_HANDLING)
    return body


def _fix(obj: CFXStruct, holder_item_handling: str | None) -> None:
    from protocols.cfx.messages.polymorphic import SLOTS

    entry = SLOTS.get(obj.CFX_TYPE)
    if entry is None:
        return
    class_item_handling, slots = entry
    for field, shape, declared, own, item in slots:
        value = getattr(obj, field)
        if value is None:
            continue
        if shape == "one":
            auto = (own or holder_item_handling or class_item_handling) == "Auto"
            fixed = _fixed_value(value, declared, auto, item)
            if fixed is not value:
                msgspec.structs.force_setattr(obj, field, fixed)
        elif shape == "list":
            # Items: Newtonsoft resolves from the list member's ItemTypeNameHandling alone.
            auto = item == "Auto"
            items = [_fixed_value(v, declared, auto, None) for v in value]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                msgspec.structs.force_setattr(obj, field, items)
        else:
            auto = item == "Auto"
            fixed_map = {k: _fixed_value(v, declared, auto, None) for k, v in value.items()}
            if any(fixed_map[k] is not v for k, v in value.items()):
                msgspec.structs.force_setattr(obj, field, fixed_map)


def _fixed_value(value: Any, declared: str, auto: bool, item_handling: str | None) -> Any:
    if not isinstance(value, CFXStruct):
        return value
    wanted = tagged_form(type(value)) if auto and declared != value.CFX_TYPE else plain_form(type(value))
    if type(value) is not wanted:
        value = wanted(**{f: getattr(value, f) for f in value.__struct_fields__})
    _fix(value, item_handling)
    return value


__all__ = [
    "MESSAGE_TYPES",
    "NIL_UUID",
    "STRUCTURE_TYPES",
    "CFXMessage",
    "CFXStruct",
    "Items",
    "PolymorphicSlot",
    "Span",
    "Time",
    "UnknownStructure",
    "build_polymorphic",
    "catalogue_class",
    "coerce_times",
    "count_of",
    "family",
    "is_polymorphic_slot",
    "message",
    "now",
    "plain_form",
    "polymorphic",
    "reaches",
    "sdk_form",
    "span_default",
    "structure",
    "tagged_form",
    "time_default",
    "type_tag",
    "wire_name",
]
