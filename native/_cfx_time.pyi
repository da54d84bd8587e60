from datetime import datetime, timedelta
from typing import TypeVar

D = TypeVar("D", bound=datetime)
T = TypeVar("T", bound=timedelta)

def parse_timestamp(text: str, cls: type[D]) -> D | None: ...
def parse_timespan(text: str, cls: type[T]) -> T | None: ...
