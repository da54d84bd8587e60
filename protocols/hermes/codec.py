"""Hermes XML codec: message objects to bytes and back (reference §1 to §2).

Writing (reference §1; each attribute type's reader, writer and check are in
:mod:`protocols.hermes.values`): no XML declaration; ``<Hermes Timestamp="...">`` holding the message
element; the timestamp in local time with milliseconds and no offset, as lib_cpp and the
acceptance tests write it; floats with exactly 3 decimals; integers and enums in decimal;
attribute values escaped (``& < > "`` and tab/CR/LF as references, so they survive attribute
normalization). Optional attributes that are ``None`` and empty lists are left out. A message
that would exceed 65,536 bytes loses its ``<SubBoards>``, as lib_cpp does; if it still does not
fit, :class:`~protocols.errors.LocalProtocolError`.

Both directions take a compiled fast path for an element without child elements (nearly every
message): :mod:`native.hermes_codec` builds or writes it from tables made here, with the readers
and writers below, so what it accepts and writes is what the general path does; anything it
cannot build or write (children, a refused value) takes the general path, which also raises.

Reading is hardened: the XML goes through :mod:`native.hermes_xml` (no DTD, no entities beyond
the five predefined ones and character references, 64 KiB, bounded depth). Then, as lib_cpp and
the acceptance tests do: the first child element of the root is the message; unknown attributes
and child elements are ignored; an unknown message element gives :class:`UnknownMessage`; a
missing mandatory attribute is an error naming message and attribute; the root's ``Timestamp``
is not read. An integer enum value outside its enumeration is read as the enumeration's 0
member, as lib_cpp does (so a 1.7 peer's new code cannot break the session); a value that is
not an integer at all is an error. Every reading error is :class:`HermesDecodeError`, whose
``hint`` is the Notification to send before closing (code 1 ProtocolError, severity 1 Fatal).
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, cast, get_args, get_type_hints

from native.hermes_codec import Field, Shape, build_message, local_stamp
from native.hermes_xml import Element, XmlError, parse
from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.hermes import messages as m
from protocols.hermes.messages import (
    MESSAGE_TYPES,
    Message,
    Notification,
    NotificationCode,
    SeverityType,
    UnknownMessage,
)
from protocols.hermes.values import scalar

#: IPC-HERMES-9852 §3.1 (lib_cpp ``cMAX_MESSAGE_SIZE``): the largest message, in bytes.
MAX_MESSAGE_SIZE = 65536

# Longest Description we put into the Notification hint; a peer's garbage should not be echoed whole.
_MAX_HINT_TEXT = 200


class HermesDecodeError(RemoteProtocolError):
    """The peer sent bytes that are not a valid Hermes message (reference §3: a protocol error).

    Args:
        message: what is wrong, naming the message element and attribute where known.
        tag: the message element, if it was known.
        attribute: the attribute at fault, if any.

    Attributes:
        hint: the :class:`~protocols.hermes.messages.Notification` to send before closing
            (code 1 ProtocolError, severity 1 Fatal, reference §3).
    """

    def __init__(self, message: str, *, tag: str | None = None, attribute: str | None = None) -> None:
        hint = Notification(NotificationCode.PROTOCOL_ERROR, SeverityType.FATAL, message[:_MAX_HINT_TEXT])
        super().__init__(message, hint=hint)
        self.tag = tag
        self.attribute = attribute


# --------------------------------------------------------------------------------------------
# Per-class tables, derived once from the dataclasses in messages.py
# --------------------------------------------------------------------------------------------


def _wire_name(field: str) -> str:
    """``board_id_created_by`` -> ``BoardIdCreatedBy``: the standard's attribute spelling."""
    return "".join(part.capitalize() for part in field.split("_"))


@dataclasses.dataclass(frozen=True, slots=True)
class _Attribute:
    wire: str
    field: str
    read: Callable[[str], Any]
    write: Callable[[Any], str]  # trusts the value: it was checked when the message was built
    check: Callable[[Any], None]  # raises ValueError for a value the wire cannot carry
    mandatory: bool
    kind: int  # native.hermes_codec's STR, ENUM, INT or FLOAT
    table: Any  # ENUM: canonical text -> member; INT: the largest value; else None


@dataclasses.dataclass(frozen=True, slots=True)
class _Child:
    """A field carried as a child element: a marker set, a nested element, or a list."""

    wire: str
    field: str
    kind: str  # "markers" (features, optional messages), "element" or "list"
    spec: _Spec  # of the nested element, or of the list's items


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    cls: type[Any]
    tag: str
    attributes: tuple[_Attribute, ...]
    children: dict[str, _Child]
    markers: dict[str, tuple[str, Any]]  # marker element -> (field, value) for feature/flag sets
    # For reading: wire name -> (field, reader or None for a str), and the mandatory wire names.
    readers: dict[str, tuple[str, Callable[[str], Any] | None]]
    mandatory: frozenset[str]


def _optional_inner(hint: Any) -> Any:
    if isinstance(hint, types.UnionType):
        return next(arg for arg in get_args(hint) if arg is not type(None))
    return hint


def _make_spec(cls: type[Any], *, u16_everything: bool = False) -> _Spec:
    hints = get_type_hints(cls, vars(m))
    attributes: list[_Attribute] = []
    children: dict[str, _Child] = {}
    markers: dict[str, tuple[str, Any]] = {}
    for field in dataclasses.fields(cls):
        hint = _optional_inner(hints[field.name])
        wire = _wire_name(field.name)
        mandatory = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if cls in _MARKER_SETS:
            # A feature set: the field's type is the marker class; present = announced.
            markers[hint.TAG] = (field.name, hint())
        elif cls is m.OptionalMessages:
            markers[wire] = (field.name, True)
        elif hint in _NESTED_ELEMENTS:
            nested = _make_spec(hint, u16_everything=hint is m.CapabilityAttributes)
            children[hint.TAG] = _Child(hint.TAG, field.name, _NESTED_ELEMENTS[hint], nested)
        elif getattr(hint, "__origin__", None) is tuple:
            item = get_args(hint)[0]
            children[wire] = _Child(wire, field.name, "list", _make_spec(item))
        else:
            # CapabilityAttributes: every value is a u16 (lib_cpp's Attributes struct).
            read, write, check, kind, table = scalar("port" if u16_everything else field.name, hint)
            attributes.append(_Attribute(wire, field.name, read, write, check, mandatory, kind, table))
    readers = {a.wire: (a.field, None if a.read is str else a.read) for a in attributes}
    mandatory_wires = frozenset(a.wire for a in attributes if a.mandatory)
    tag = getattr(cls, "TAG", cls.__name__)
    return _Spec(cls, tag, tuple(attributes), children, markers, readers, mandatory_wires)


_MARKER_SETS = (m.SupportedFeatures, m.SupervisoryFeatures)
_NESTED_ELEMENTS: dict[Any, str] = {
    m.SupportedFeatures: "markers",
    m.SupervisoryFeatures: "markers",
    m.OptionalMessages: "markers",
    m.CapabilityAttributes: "element",
}

_SPECS: dict[type[Any], _Spec] = {cls: _make_spec(cls) for cls in MESSAGE_TYPES}
#: Message element -> spec: the one dispatch table of the reader.
_BY_TAG: dict[str, _Spec] = {spec.tag: spec for spec in _SPECS.values()}


def _all_specs() -> dict[type[Any], _Spec]:
    found: dict[type[Any], _Spec] = {}
    pending = list(_SPECS.values())
    while pending:
        spec = pending.pop()
        if spec.cls not in found:
            found[spec.cls] = spec
            pending.extend(child.spec for child in spec.children.values())
    return found


#: Class -> its dataclass ``__init__`` without the check: the reader's trusted path (its values
#: come out of the readers, which already refuse what the wire cannot carry).
_UNCHECKED_INIT: dict[type[Any], Callable[..., None]] = {}


def _install_check(spec: _Spec) -> None:
    """Make ``spec.cls(...)`` validate, so that no invalid message object exists (h11's events
    do the same); the writer can then trust what it is given."""
    cls = spec.cls
    unchecked = cls.__init__
    _UNCHECKED_INIT[cls] = unchecked
    init = _compile_init(spec, unchecked)
    if init is None:  # a field the generated __init__ does not handle: wrap the dataclass's
        check = _compile_check(spec)

        @functools.wraps(unchecked)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            unchecked(self, *args, **kwargs)
            check(self)

    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses a direct method assignment


def _slot_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    descriptor = vars(cls).get(name)
    if not isinstance(descriptor, types.MemberDescriptorType):
        raise TypeError(f"{cls.__name__}.{name} is not a slot of its own")  # pragma: no cover
    return descriptor.__set__


def _compile_init(spec: _Spec, unchecked: Callable[..., None]) -> Callable[..., None] | None:
    """The dataclass's ``__init__`` and :func:`_compile_check` in one function: the same
    parameters and defaults, each field stored through its slot (a frozen dataclass's own
    ``__init__`` goes through ``object.__setattr__``), then the same refusals, on the
    arguments. Every message a machine sends is built through it. None for a class with a
    field it does not handle (a default factory, keyword-only or not in ``__init__``)."""
    cls = spec.cls
    fields = dataclasses.fields(cls)
    if any(f.default_factory is not dataclasses.MISSING or f.kw_only or not f.init for f in fields):
        return None  # pragma: no cover - no message has one today
    env: dict[str, Any] = {"_refuse": _refuse, "_check_children": _check_children, "_spec": spec}
    parameters = ["self"]
    lines: list[str] = []
    for index, field in enumerate(fields):
        env[f"_set{index}"] = _slot_setter(cls, field.name)
        if field.default is dataclasses.MISSING:
            parameters.append(field.name)
        else:
            env[f"_default{index}"] = field.default
            parameters.append(f"{field.name}=_default{index}")
        lines.append(f"    _set{index}(self, {field.name})")
    for index, attribute in enumerate(spec.attributes):
        env[f"_check{index}"] = attribute.check
        name = attribute.field
        if attribute.mandatory:
            lines.append(f"    if {name} is None: _refuse(_spec, {name!r}, None, None)")
            indent = "    "
        else:
            lines.append(f"    if {name} is not None:")
            indent = "        "
        lines.append(f"{indent}try: _check{index}({name})")
        lines.append(f"{indent}except ValueError as exc: _refuse(_spec, {name!r}, {name}, exc)")
    if spec.children:
        lists = [c.field for c in spec.children.values() if c.kind == "list"]
        if len(lists) == len(spec.children):  # only lists: an empty tuple needs no check
            empty = " and ".join(f"type({name}) is tuple and not {name}" for name in lists)
            lines.append(f"    if not ({empty}): _check_children(_spec, self)")
        else:
            lines.append("    _check_children(_spec, self)")
    init = _compile("__init__", [f"def __init__({', '.join(parameters)}):", *lines], env)
    # What TypeErrors and inspect show: the class's __init__, with the dataclass's annotations.
    qualname = f"{cls.__qualname__}.__init__"
    init.__code__ = init.__code__.replace(co_qualname=qualname)
    init.__qualname__ = qualname
    init.__module__ = cls.__module__
    init.__annotations__ = dict(unchecked.__annotations__)
    return init


def _compile(name: str, lines: list[str], env: dict[str, Any]) -> Callable[..., Any]:
    # Straight-line code, one block per field (as dataclasses writes its __init__): these run
    # for every message built or written, so a loop's overhead would be paid per message.
    exec("\n".join(lines), env)  # the source is built here from field names only
    return cast(Callable[..., Any], env[name])


def _compile_check(spec: _Spec) -> Callable[[Any], None]:
    """``_check(spec, value)`` unrolled: the same refusals, the same texts."""
    env: dict[str, Any] = {"_refuse": _refuse, "_check_children": _check_children, "spec": spec}
    lines = ["def check(value):"]
    for index, attribute in enumerate(spec.attributes):
        env[f"check{index}"] = attribute.check
        field = attribute.field
        lines.append(f"    v = value.{field}")
        if attribute.mandatory:
            lines.append(f"    if v is None: _refuse(spec, {field!r}, v, None)")
            indent = "    "
        else:
            lines.append("    if v is not None:")
            indent = "        "
        lines.append(f"{indent}try: check{index}(v)")
        lines.append(f"{indent}except ValueError as exc: _refuse(spec, {field!r}, v, exc)")
    if spec.children:
        lines.append("    _check_children(spec, value)")
    lines.append("    return None")
    return _compile("check", lines, env)


def _compile_attributes(spec: _Spec) -> Callable[[Any], str]:
    """The attributes of an element, `` Wire="value"`` each, present ones only, in field order."""
    env: dict[str, Any] = {}
    lines = ["def attributes(value):", "    out = ''"]
    for index, attribute in enumerate(spec.attributes):
        env[f"write{index}"] = attribute.write
        prefix = f' {attribute.wire}="'
        lines.append(f"    v = value.{attribute.field}")
        lines.append(f"    if v is not None: out += {prefix!r} + write{index}(v) + '\"'")
    lines.append("    return out")
    return _compile("attributes", lines, env)


def _trusted(cls: type[Any], kwargs: dict[str, Any]) -> Any:
    unchecked = _UNCHECKED_INIT.get(cls)
    if unchecked is None:  # nothing to check (a feature set)
        return cls(**kwargs)
    value = object.__new__(cls)
    unchecked(value, **kwargs)
    return value


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _missing(spec: _Spec, attrs: dict[str, str], message_tag: str) -> HermesDecodeError:
    wire = next(a.wire for a in spec.attributes if a.mandatory and a.wire not in attrs)
    # Reference §2: lib says "missing attribute X", a protocol error.
    return HermesDecodeError(f"{message_tag}: missing attribute {wire}", tag=message_tag, attribute=wire)


def _build(spec: _Spec, element: Element, message_tag: str) -> Any:
    _, attrs, children = element
    if not children:
        shape = _SHAPES.get(spec.cls)
        if shape is not None:
            built = shape.build(attrs)
            if built is not None:
                return built
            # Not buildable: the path below raises the error that says why.
    if not spec.mandatory <= attrs.keys():
        raise _missing(spec, attrs, message_tag)
    kwargs: dict[str, Any] = {}
    readers = spec.readers
    for wire, raw in attrs.items():
        reader = readers.get(wire)
        if reader is None:
            continue  # unknown attributes are ignored (reference §2)
        field, read = reader
        if read is None:
            kwargs[field] = raw
            continue
        try:
            kwargs[field] = read(raw)
        except ValueError as exc:
            raise HermesDecodeError(
                f"{message_tag}: attribute {wire}={raw[:40]!r} is invalid: {exc}",
                tag=message_tag,
                attribute=wire,
            ) from None
    if children and (spec.children or spec.markers):
        for child in children:
            child_tag = child[0]
            marker = spec.markers.get(child_tag)
            if marker is not None:
                kwargs[marker[0]] = marker[1]
                continue
            nested = spec.children.get(child_tag)
            if nested is None:
                continue  # unknown child elements are ignored (reference §2)
            if nested.kind == "list":
                item_tag = nested.spec.tag
                items = [_build(nested.spec, item, message_tag) for item in child[2] if item[0] == item_tag]
                kwargs[nested.field] = tuple(items)
            else:
                kwargs[nested.field] = _build(nested.spec, child, message_tag)
    return _trusted(spec.cls, kwargs)


def message_from_tree(root: Element) -> Message | UnknownMessage:
    """Turn a parsed ``<Hermes>`` tree into its message object.

    Args:
        root: the tree from :func:`native.hermes_xml.parse`.

    Returns:
        The message, or :class:`UnknownMessage` for an element this codec does not know.

    Raises:
        HermesDecodeError: the root is not ``Hermes``, holds no message, or the message lacks a
            mandatory attribute or has a malformed value.
    """
    built: Message | None = build_message(_MESSAGE_SHAPES_BY_TAG, root)  # the common case
    if built is not None:
        return built
    return _from_tree(root)


def _from_tree(root: Element) -> Message | UnknownMessage:
    """The general path of :func:`message_from_tree`: children, unknown tags and every error."""
    tag, _, children = root
    if tag != "Hermes":
        raise HermesDecodeError(f"root element is {tag[:40]!r}, not 'Hermes'")
    if not children:
        raise HermesDecodeError("the Hermes element holds no message")
    message = children[0]  # lib_cpp: the message is the root's first child element
    spec = _BY_TAG.get(message[0])
    if spec is None:
        return UnknownMessage(message[0])
    result: Message = _build(spec, message, spec.tag)
    return result


def decode(data: bytes | bytearray | memoryview) -> Message | UnknownMessage:
    """Decode one framed Hermes message (as :class:`~protocols.hermes.framing.Framer` cuts it).

    Args:
        data: one XML document, ``<Hermes ...>...</Hermes>``; a leading declaration is allowed.

    Returns:
        The message object, or :class:`UnknownMessage` for an unknown message element.

    Raises:
        HermesDecodeError: not well-formed or refused XML (DTD, entity, over 65,536 bytes, ...),
            or not a valid Hermes message; ``hint`` is the Notification to send before closing.
    """
    try:
        root = parse(data)
    except XmlError as exc:
        raise HermesDecodeError(f"malformed XML: {exc}") from exc
    built: Message | None = build_message(_MESSAGE_SHAPES_BY_TAG, root)  # the common case
    if built is not None:
        return built
    return _from_tree(root)  # children, unknown tags, errors


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def format_timestamp(timestamp: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmm`` in local time, no offset (reference §1, as lib_cpp writes it).

    An aware datetime is converted to local time first; a naive one is taken as local time.
    """
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone()
    text = local_stamp(timestamp)
    if text is None:  # a datetime subclass, or a year before 1000
        text = f"{timestamp:%Y-%m-%dT%H:%M:%S}.{timestamp.microsecond // 1000:03d}"
    return text


def _refuse(spec: _Spec, field: str, value: Any, problem: ValueError | None) -> NoReturn:
    if problem is None:
        raise LocalProtocolError(f"{spec.tag}: mandatory field {field} is None")
    raise LocalProtocolError(f"{spec.tag}: field {field}={value!r} {problem}") from None


def _check(spec: _Spec, value: Any) -> None:
    """Raise LocalProtocolError if ``value`` (an instance of ``spec.cls``) cannot go on the wire.

    Run once, when the object is built (h11's events validate in ``__init__`` too); the writer
    then trusts it. :func:`_compile_check` makes the same check as straight-line code per class.
    """
    for attribute in spec.attributes:
        field_value = getattr(value, attribute.field)
        if field_value is None:
            if attribute.mandatory:
                _refuse(spec, attribute.field, None, None)
            continue
        try:
            attribute.check(field_value)
        except ValueError as exc:
            _refuse(spec, attribute.field, field_value, exc)
    _check_children(spec, value)


def _check_children(spec: _Spec, value: Any) -> None:
    tag = spec.tag
    for child in spec.children.values():
        field_value = getattr(value, child.field)
        if child.kind == "list":
            if not isinstance(field_value, tuple | list) or not all(
                isinstance(item, child.spec.cls) for item in field_value
            ):
                raise LocalProtocolError(f"{tag}: field {child.field} must hold {child.spec.cls.__name__}")
        elif not isinstance(field_value, child.spec.cls):
            raise LocalProtocolError(f"{tag}: field {child.field} must be a {child.spec.cls.__name__}")


def _write(spec: _Spec, value: Any, parts: list[str]) -> None:
    shape = _SHAPES.get(spec.cls)
    if shape is not None:
        text = shape.write(value)
        if text is not None:
            parts.append(text)
            return
    parts.append("<")
    parts.append(spec.tag)
    parts.append(_ATTRIBUTES[spec.cls](value))
    if not spec.children:
        parts.append("/>")
        return
    inner: list[str] = []
    for child in spec.children.values():
        field_value = getattr(value, child.field)
        if child.kind == "list":
            if field_value:
                inner.append(f"<{child.wire}>")
                for item in field_value:
                    _write(child.spec, item, inner)
                inner.append(f"</{child.wire}>")
        elif child.kind == "markers":
            present = [
                f"<{marker}/>"
                for marker, (field, _) in child.spec.markers.items()
                if getattr(field_value, field)
            ]
            inner.append(
                f"<{child.wire}>{''.join(present)}</{child.wire}>" if present else f"<{child.wire}/>"
            )
        else:
            _write(child.spec, field_value, inner)
    if inner:
        parts.append(">")
        parts.extend(inner)
        parts.append(f"</{spec.tag}>")
    else:
        parts.append("/>")


def _encode_once(message: Message, stamp: str) -> bytes:
    spec = _SPECS.get(type(message))
    if spec is None:
        raise LocalProtocolError(f"{type(message).__name__} is not a Hermes message")
    parts = [f'<Hermes Timestamp="{stamp}">']
    _write(spec, message, parts)
    parts.append("</Hermes>")
    return "".join(parts).encode("utf-8")


def encode(message: Message, *, timestamp: datetime | None = None) -> bytes:
    """Encode one message as ``<Hermes Timestamp="..."><Tag .../></Hermes>`` (no declaration).

    Args:
        message: the message object.
        timestamp: the envelope's time; ``None`` reads the local clock (``datetime.now()``).

    Returns:
        The UTF-8 bytes, at most :data:`MAX_MESSAGE_SIZE`. A message that would be larger is
        sent without its ``<SubBoards>``, as lib_cpp does (reference §1).

    Raises:
        LocalProtocolError: a mandatory field is ``None``, a value is out of range or holds a
            character XML cannot carry, or the message is too large even without sub-boards.
    """
    if timestamp is None:
        timestamp = datetime.now()
    stamp = local_stamp(timestamp)  # a naive datetime: format_timestamp's work without a call
    if stamp is None:
        stamp = format_timestamp(timestamp)
    shape = _MESSAGE_SHAPES.get(type(message))
    if shape is not None:
        fast = shape.document(message, stamp)
        if fast is not None and len(fast) <= MAX_MESSAGE_SIZE:
            return fast
        # Children to write, or too large: the general path writes it or says why not.
    data = _encode_once(message, stamp)
    if len(data) > MAX_MESSAGE_SIZE and getattr(message, "sub_boards", None):
        # Reference §1: lib drops <SubBoards> rather than exceed 64 KiB.
        data = _encode_once(dataclasses.replace(cast(Any, message), sub_boards=()), stamp)
    if len(data) > MAX_MESSAGE_SIZE:
        raise LocalProtocolError(
            f"{type(message).__name__} is {len(data)} bytes encoded, more than {MAX_MESSAGE_SIZE}"
        )
    return data


#: Class -> its attributes' writer (:func:`_compile_attributes`).
_ATTRIBUTES: dict[type[Any], Callable[[Any], str]] = {}

for _spec in _all_specs().values():
    _ATTRIBUTES[_spec.cls] = _compile_attributes(_spec)
    if _spec.attributes or _spec.children:
        _install_check(_spec)


def _make_shape(spec: _Spec, make: Callable[..., Shape] = Shape) -> Shape | None:
    """The table of :mod:`native.hermes_codec` for ``spec``: it reads and writes the elements
    without children; None for a feature set (markers) or a field without a plain default.
    ``make`` is the ``Shape`` class of the implementation (the tests build both twins')."""
    if spec.markers:
        return None
    fields = {field.name: field for field in dataclasses.fields(spec.cls)}
    if any(field.default_factory is not dataclasses.MISSING for field in fields.values()):
        return None  # a fresh object per message: the shapes share one default
    attributes = [
        Field(a.wire, a.field, a.kind, a.read, a.write, a.mandatory, fields[a.field].default, a.table)
        for a in spec.attributes
    ]
    lists: list[tuple[str, Any]] = []
    others: list[tuple[str, Any]] = []
    for child in spec.children.values():
        default = fields[child.field].default
        if default is dataclasses.MISSING:
            return None
        (lists if child.kind == "list" else others).append((child.field, default))
    return make(spec.cls, spec.tag, attributes, lists, others)


#: Class -> its shape (messages and nested elements): the fast path of childless elements.
_SHAPES: dict[type[Any], Shape] = {
    spec.cls: shape for spec in _all_specs().values() if (shape := _make_shape(spec)) is not None
}
_MESSAGE_SHAPES: dict[type[Any], Shape] = {cls: _SHAPES[cls] for cls in _SPECS if cls in _SHAPES}
_MESSAGE_SHAPES_BY_TAG: dict[str, Shape] = {shape.tag: shape for shape in _MESSAGE_SHAPES.values()}


__all__ = [
    "MAX_MESSAGE_SIZE",
    "HermesDecodeError",
    "decode",
    "encode",
    "format_timestamp",
    "message_from_tree",
]
