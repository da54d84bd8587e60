from collections.abc import Sequence
from datetime import datetime
from typing import Any

from native.hermes_codec_pure import ENUM as ENUM
from native.hermes_codec_pure import FLOAT as FLOAT
from native.hermes_codec_pure import INT as INT
from native.hermes_codec_pure import MAX_FIELDS as MAX_FIELDS
from native.hermes_codec_pure import STR as STR
from native.hermes_codec_pure import Field as Field

class Shape:
    cls: type[Any]
    tag: str
    def __init__(
        self,
        cls: type[Any],
        tag: str,
        fields: Sequence[Field],
        lists: Sequence[tuple[str, Any]] = ...,
        others: Sequence[tuple[str, Any]] = ...,
    ) -> None: ...
    def build(self, attrs: dict[str, str]) -> Any | None: ...
    def write(self, value: Any) -> str | None: ...
    def document(self, value: Any, stamp: str) -> bytes | None: ...

def local_stamp(timestamp: datetime) -> str | None: ...
def build_message(shapes: dict[str, Shape], root: Any) -> Any | None: ...
