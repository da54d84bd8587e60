"""CFX enumerations with the values the SDK writes (cfx.md §1.2, §3), and their lenient readers.

Every enum is generated into ``protocols.cfx.messages.enums`` from the SDK's contracts and
re-exported here. Members are UPPER_SNAKE; each value is the wire form. Enums with
``StringEnumConverter`` are ``StrEnum`` and written as their C# member name (``"PartialSuccess"``);
those without it (``OperatingSystem``, the SolderWave enums, ``TransportPriority``) are ``IntEnum``
and written as their integer value. ``ResourceState`` is written as its SEMI E10/E58 code inside a
string (``"1100"``); ``resource_state_from_wire`` reads every form senders use.

The lenient reader matches names case-insensitively and also accepts integers (the C# declaration
index), as Newtonsoft's StringEnumConverter does; see ``enum_from_wire``.

String enums are ``StrEnum``: msgspec writes a str-based member about 3x faster than a plain
``Enum`` (it needs no ``.value`` lookup), which matters with ~100 enum values per reflow message.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any, TypeVar

from protocols.cfx.messages import enums as _generated
from protocols.cfx.messages.enums import *  # noqa: F403  (every enum, re-exported)
from protocols.cfx.messages.enums import RESOURCE_STATE_NAMES, ResourceState

E = TypeVar("E", bound=Enum)

# A 2019 SDK mistake wrote these two codes with hex digits (CFX issue #146; cfx.md §1.2).
_LEGACY_STATE_CODES = {"22A0": "2201", "22B0": "2202"}
_STATE_BY_LOWER_NAME = {name.lower(): state for state, name in RESOURCE_STATE_NAMES.items()}


def resource_state_from_wire(value: Any) -> ResourceState:
    """Read a ResourceState the way senders write it.

    Accepts an integer (``1100``), a numeric string (``"1100"``), the C# name in any case
    (``"PRD_RegularWork"``) and the legacy ``"22A0"``/``"22B0"`` (read as 2201/2202).

    Raises:
        ValueError: not a ResourceState the SDK defines (vendor codes such as 3312 fail in C# too).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a ResourceState: {value!r}")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        text = _LEGACY_STATE_CODES.get(text.upper(), text)
        by_name = _STATE_BY_LOWER_NAME.get(text.lower())
        if by_name is not None:
            return by_name
    else:
        raise ValueError(f"not a ResourceState: {value!r}")
    try:
        return ResourceState(text)
    except ValueError:
        raise ValueError(f"not a ResourceState: {value!r}") from None


_LOWER_NAMES: dict[type[Enum], dict[str, Enum]] = {}


def enum_from_wire(cls: type[E], value: Any) -> E:
    """Read an enum value leniently, as Newtonsoft's StringEnumConverter does.

    Accepts the wire name in any case, or an integer (the C# declaration index; the value itself for
    IntEnums). ResourceState is delegated to ``resource_state_from_wire``.

    Raises:
        ValueError: an unknown name or index (the SDK treats the message as malformed).
    """
    if cls is ResourceState:
        state: Any = resource_state_from_wire(value)
        return state  # type: ignore[no-any-return]
    if isinstance(value, bool):
        raise ValueError(f"not a {cls.__name__}: {value!r}")
    if isinstance(value, int):
        if issubclass(cls, IntEnum):
            return cls(value)
        members = list(cls)
        if 0 <= value < len(members):
            return members[value]
        raise ValueError(f"not a {cls.__name__} index: {value!r}")
    if isinstance(value, str):
        table = _LOWER_NAMES.get(cls)
        if table is None:
            table = _LOWER_NAMES[cls] = {_wire_text(m).lower(): m for m in cls}
        found = table.get(value.strip().lower())
        if found is not None:
            return found  # type: ignore[return-value]
        if value.strip().lstrip("-").isdigit():
            return enum_from_wire(cls, int(value))
    raise ValueError(f"unknown {cls.__name__} value {value!r}")


def _wire_text(member: Enum) -> str:
    # IntEnums are matched by their C# member name, recovered from the Python name.
    if isinstance(member, IntEnum):
        return member.name.replace("_", "")
    return str(member.value)


__all__ = [*_generated.__all__, "enum_from_wire", "resource_state_from_wire"]
