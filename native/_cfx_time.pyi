from datetime import datetime, timedelta
from typing import TypeVar

D = TypeVar("D", bound=datetime)
T = TypeVar("T", bound=timedelta)

def parse_timestamp(text: str, cls: type[D]) -> D | None: ...
def parse_timespan(text: str, cls: type[T]) -> T | None: ...

class DecodeHook:
    def __init__(
        self, timestamp_cls: type[datetime], timespan_cls: type[timedelta], other: object
    ) -> None: ...
    def __call__(self, kind: object, obj: object) -> object: ...
