"""What ``ResourceState`` (a generated enum) knows of its SEMI E10/E58 codes."""

from __future__ import annotations

from typing import Any


class SemiState:
    """Mixin of ``ResourceState``: members are the SEMI codes written as strings (``"1100"``)."""

    value: Any

    @property
    def code(self) -> int:
        """The numeric SEMI code (1100)."""
        return int(self.value)

    @property
    def sdk_name(self) -> str:
        """The C# member name (``PRD_RegularWork``)."""
        from protocols.cfx.messages.enums import RESOURCE_STATE_NAMES

        return RESOURCE_STATE_NAMES[self]  # type: ignore[index]

    @property
    def e10_class(self) -> Any:
        """The SEMI E10 class (code rounded down to thousands)."""
        return type(self)(str(self.code // 1000 * 1000))  # type: ignore[call-arg]


__all__ = ["SemiState"]
