"""Table-driven reading and writing of childless Hermes elements: the pure-Python twin.

A :class:`Shape` describes one message (or nested element) class: its attribute fields, in the
class's field order, each with its kind, reader and writer, and its child fields. The codec
(:mod:`protocols.hermes.codec`) builds the shapes from its own tables and passes the readers
and writers in, so what a shape accepts and writes is the codec's by construction; the compiled
twin (``native._hermes_codec``) only does the common cases in C (plain strings, canonical enum
and integer texts, simple decimals) and calls the same readers and writers for the rest.

- :meth:`Shape.build` makes the object from the attributes of an element that has no child
  elements; unknown attributes are ignored, absent ones take their field's default. It returns
  ``None`` when the object cannot be built (a mandatory attribute missing, a value the reader
  refuses): the codec then takes its explaining path, which raises the error.
- :meth:`Shape.write` gives ``<Tag A="..."/>`` and :meth:`Shape.document` the whole
  ``<Hermes Timestamp="...">`` document in UTF-8, for an object whose list fields are all empty
  and whose class has no other child fields; otherwise ``None`` (the codec writes it).
- :func:`build_message` is :meth:`Shape.build` of a whole parsed document's message, and
  :func:`local_stamp` the envelope's timestamp text of a naive datetime.
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple, cast

#: Field kinds.
STR: Final = 0
ENUM: Final = 1
INT: Final = 2
FLOAT: Final = 3

#: The most attribute and child fields a shape takes (the compiled twin keeps them in C arrays).
MAX_FIELDS: Final = 64


class Field(NamedTuple):
    """One attribute field of a shape."""

    wire: str  #: the attribute's name on the wire
    name: str  #: the dataclass field
    kind: int  #: STR, ENUM, INT or FLOAT
    read: Callable[[str], Any]  #: raw text -> value; ValueError for a refused text
    write: Callable[[Any], str]  #: value -> attribute text (escaped)
    mandatory: bool
    default: Any  #: the value of an absent optional field
    table: Any  #: ENUM: canonical decimal text -> member; INT: the largest value; else None


def _slot(cls: type[Any], name: str) -> Any:
    """The slot member descriptor of ``cls.name``: setting through it bypasses a frozen
    dataclass's ``__setattr__``, as its own ``__init__`` does."""
    for klass in cls.__mro__:
        descriptor = vars(klass).get(name)
        if descriptor is not None:
            if not isinstance(descriptor, types.MemberDescriptorType):
                raise TypeError(f"{cls.__name__}.{name} is not a slot")
            return descriptor
    raise TypeError(f"{cls.__name__} has no slot {name}")


def check_shape(
    cls: type[Any],
    fields: Sequence[Field],
    lists: Sequence[tuple[str, Any]],
    others: Sequence[tuple[str, Any]],
) -> None:
    """Raise TypeError or ValueError for a shape neither twin can handle."""
    if not isinstance(cls, type) or cast(Any, cls).__new__ is not object.__new__:
        raise TypeError(f"{cls!r} must be a class made by object.__new__")
    if len(fields) + len(lists) + len(others) > MAX_FIELDS:
        raise ValueError(f"{cls.__name__} has more than {MAX_FIELDS} fields")
    for field in fields:
        if field.kind not in (STR, ENUM, INT, FLOAT):
            raise ValueError(f"{cls.__name__}.{field.name}: unknown kind {field.kind!r}")
        if field.kind == ENUM and not isinstance(field.table, dict):
            raise TypeError(f"{cls.__name__}.{field.name}: an enum field needs its canonical texts")
        if field.kind == INT and not (isinstance(field.table, int) and 0 <= field.table < 2**63):
            raise TypeError(f"{cls.__name__}.{field.name}: an int field needs its maximum")


def _compile_attributes(fields: Sequence[Field], lists: Sequence[str]) -> Callable[[Any], str | None]:
    """`` Wire="value"`` of the present fields in order, or None when a list field is not
    empty: straight-line code, one block per field (as the codec writes its own writers), since
    a loop's overhead would be paid per message."""
    env: dict[str, Any] = {}

    def load(name: str) -> str:
        return f"value.{name}" if not keyword.iskeyword(name) else f"getattr(value, {name!r})"

    lines = ["def attributes(value):"]
    lines += [f"    if {load(name)}: return None" for name in lists]
    lines.append("    out = ''")
    for index, field in enumerate(fields):
        env[f"write{index}"] = field.write
        lines.append(f"    v = {load(field.name)}")
        prefix = f' {field.wire}="'
        lines.append(f"    if v is not None: out += {prefix!r} + write{index}(v) + '\"'")
    lines.append("    return out")
    exec("\n".join(lines), env)  # the source is built from slot names and escaped wire names only
    return cast(Callable[[Any], str | None], env["attributes"])


class Shape:
    """The reading and writing table of one class (see the module docstring).

    Args:
        cls: the frozen slots dataclass.
        tag: its element name.
        fields: its attribute fields, in field order.
        lists: ``(field, default)`` of its list fields (written only when empty).
        others: ``(field, default)`` of its other child fields (a class with any is never
            written here).
    """

    __slots__ = ("_attributes", "_index", "_mandatory", "_others", "_rest", "cls", "tag")

    def __init__(
        self,
        cls: type[Any],
        tag: str,
        fields: Sequence[Field],
        lists: Sequence[tuple[str, Any]] = (),
        others: Sequence[tuple[str, Any]] = (),
    ) -> None:
        fields = [Field(*field) for field in fields]
        check_shape(cls, fields, lists, others)
        self.cls = cls
        self.tag = tag
        # wire -> (slot, kind, reader, table) for reading.
        self._index: dict[str, tuple[Any, int, Callable[[str], Any], Any]] = {
            f.wire: (_slot(cls, f.name), f.kind, f.read, f.table) for f in fields
        }
        self._mandatory = frozenset(f.wire for f in fields if f.mandatory)
        # (wire, slot, default) of the optional attribute fields and of the child fields.
        self._rest: tuple[tuple[str | None, Any, Any], ...] = tuple(
            [(f.wire, _slot(cls, f.name), f.default) for f in fields if not f.mandatory]
            + [(None, _slot(cls, name), default) for name, default in (*lists, *others)]
        )
        for name in [f.name for f in fields] + [name for name, _ in lists]:
            _slot(cls, name)  # a slot, so an identifier
        self._attributes = _compile_attributes(fields, [name for name, _ in lists])
        self._others = bool(others)

    def build(self, attrs: dict[str, str]) -> Any | None:
        """The object of an element without children with these attributes, or None."""
        if not self._mandatory <= attrs.keys():
            return None
        value = object.__new__(self.cls)
        index = self._index
        for wire, raw in attrs.items():
            entry = index.get(wire)
            if entry is None:
                continue  # unknown attributes are ignored
            slot, kind, read, table = entry
            if kind == STR:
                slot.__set__(value, raw)
                continue
            if kind == ENUM:
                member = table.get(raw)
                if member is not None:
                    slot.__set__(value, member)
                    continue
            try:
                slot.__set__(value, read(raw))
            except ValueError:
                return None
        for rest_wire, slot, default in self._rest:
            if rest_wire is None or rest_wire not in attrs:
                slot.__set__(value, default)
        return value

    def _attribute_text(self, value: Any) -> str | None:
        if type(value) is not self.cls or self._others:  # a subclass may have other slots
            return None
        return self._attributes(value)

    def write(self, value: Any) -> str | None:
        """``<Tag A="..." .../>`` for ``value``, or None when it has child elements to write
        or is not exactly a ``cls``."""
        attributes = self._attribute_text(value)
        if attributes is None:
            return None
        return f"<{self.tag}{attributes}/>"

    def document(self, value: Any, stamp: str) -> bytes | None:
        """``<Hermes Timestamp="stamp"><Tag .../></Hermes>`` in UTF-8, or None as :meth:`write`."""
        attributes = self._attribute_text(value)
        if attributes is None:
            return None
        return f'<Hermes Timestamp="{stamp}"><{self.tag}{attributes}/></Hermes>'.encode()


def build_message(shapes: dict[str, Shape], root: Any) -> Any | None:
    """The message of a parsed ``<Hermes>`` tree (``(tag, attrs, children)`` tuples) whose
    message element, the root's first child, has no children and a shape in ``shapes`` (by
    element name) that builds it; else None."""
    # The compiled twin reads the tuples and lists in place, so it takes nothing else.
    if type(root) is not tuple or len(root) != 3 or root[0] != "Hermes":
        return None
    messages = root[2]
    if type(messages) is not list or not messages:
        return None
    message = messages[0]
    if type(message) is not tuple or len(message) != 3:
        return None
    tag, attrs, children = message
    if type(children) is not list or children:
        return None
    shape = shapes.get(tag)
    if shape is None:
        return None
    return shape.build(attrs)


# The formatted second of the last timestamp: messages come many per second, and strftime is
# most of the cost of the text.
_last_second: tuple[tuple[int, ...], str] = ((), "")


def local_stamp(timestamp: datetime) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS.mmm`` of a naive ``datetime`` (the class itself, no subclass) of the
    years 1000 and later; None for any other (the codec formats those itself)."""
    global _last_second
    if type(timestamp) is not datetime or timestamp.tzinfo is not None or timestamp.year < 1000:
        return None
    second = (
        timestamp.year,
        timestamp.month,
        timestamp.day,
        timestamp.hour,
        timestamp.minute,
        timestamp.second,
    )
    cached, prefix = _last_second
    if second != cached:
        prefix = f"{timestamp:%Y-%m-%dT%H:%M:%S}"
        _last_second = (second, prefix)  # one store: a reader never sees half an update
    return f"{prefix}.{timestamp.microsecond // 1000:03d}"


__all__ = [
    "ENUM",
    "FLOAT",
    "INT",
    "MAX_FIELDS",
    "STR",
    "Field",
    "Shape",
    "build_message",
    "check_shape",
    "local_stamp",
]
