"""The compiled CFX DateTime/TimeSpan readers and their pure-Python twin agree, and read what .NET writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native import cfx_time_pure
from protocols.cfx.timefmt import TimeSpan, Timestamp, format_timespan
from tests.native.twins import compiled_module


@pytest.fixture(params=["cython", "python"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return compiled_module("_cfx_time") if request.param == "cython" else cfx_time_pure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2026-05-04T07:01:12.1234567+02:00",
            datetime(2026, 5, 4, 7, 1, 12, 123457, timezone(timedelta(hours=2))),
        ),
        ("2026-05-04T07:01:12Z", datetime(2026, 5, 4, 7, 1, 12, tzinfo=UTC)),
        ("2026-05-04T07:01:12+00:00", datetime(2026, 5, 4, 7, 1, 12, tzinfo=UTC)),
        (
            "2026-05-04T07:01:12.5-05:30",
            datetime(2026, 5, 4, 7, 1, 12, 500000, timezone(timedelta(hours=-5, minutes=-30))),
        ),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_reads_the_sdk_forms(impl: ModuleType, text: str, expected: datetime) -> None:
    stamp = impl.parse_timestamp(text, Timestamp)
    assert type(stamp) is Timestamp
    assert stamp == expected
    assert stamp.wire() == text  # the text is kept, 7th digit and offset form included


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-04T07:01:12",  # naive: the general parser's case
        "2026-05-04T07:01:12.12345678Z",  # 8 digits
        "2026-05-04 07:01:12Z",
        "2026-05-04T07:01:12.Z",
        "2026-13-04T07:01:12Z",
        "2026-05-04T07:01:12+2:00",
        "2026-05-04T07:01:12.9999999Z",  # rounds into the next second
        "",
        "x" * 40,
    ],
)
def test_leaves_other_forms_to_the_general_parser(impl: ModuleType, text: str) -> None:
    assert impl.parse_timestamp(text, Timestamp) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:01:30.5000001", timedelta(seconds=90, microseconds=500000)),
        ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("-00:00:01.5", -timedelta(seconds=1.5)),
        ("10675199.02:48:05.4775807", timedelta(days=10675199, seconds=10085, microseconds=477581)),
    ],
)
def test_reads_timespans(impl: ModuleType, text: str, expected: timedelta) -> None:
    span = impl.parse_timespan(text, TimeSpan)
    assert type(span) is TimeSpan
    assert span == expected
    assert span.wire() == text


@pytest.mark.parametrize(
    "text", ["1:02:03", "00:60:00", "24:00:00", "00:00:00.", "00:00:00.12345678", ".00:00:00", "1:00:00:00"]
)
def test_leaves_other_timespans_to_the_general_parser(impl: ModuleType, text: str) -> None:
    assert impl.parse_timespan(text, TimeSpan) is None


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES),
    st.integers(0, 9),
)
def test_twins_agree_on_timestamps(value: datetime, tick: int) -> None:
    base = value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    text = base[:26] + str(tick) + base[26:]  # a 7th fractional digit, as .NET writes ticks
    compiled = compiled_module("_cfx_time").parse_timestamp(text, Timestamp)
    twin = cfx_time_pure.parse_timestamp(text, Timestamp)
    assert compiled == twin
    assert (compiled is None) == (twin is None)


@given(st.timedeltas(min_value=timedelta(days=-99999), max_value=timedelta(days=99999)))
def test_twins_agree_on_timespans(value: timedelta) -> None:
    text = format_timespan(value)
    compiled = compiled_module("_cfx_time").parse_timespan(text, TimeSpan)
    twin = cfx_time_pure.parse_timespan(text, TimeSpan)
    assert compiled == twin == value


@given(st.text(max_size=40))
def test_twins_agree_on_any_text(text: str) -> None:
    compiled = compiled_module("_cfx_time")
    assert compiled.parse_timestamp(text, Timestamp) == cfx_time_pure.parse_timestamp(text, Timestamp)
    assert compiled.parse_timespan(text, TimeSpan) == cfx_time_pure.parse_timespan(text, TimeSpan)


def test_decode_hook_reads_the_sdk_forms_and_hands_on_the_rest(impl: ModuleType) -> None:
    """The hook answers DateTime/TimeSpan texts itself; other kinds and forms go to ``other``."""
    handed: list[tuple[object, object]] = []

    def other(kind: object, obj: object) -> object:
        handed.append((kind, obj))
        return "other"

    hook = impl.DecodeHook(Timestamp, TimeSpan, other)
    stamp = hook(Timestamp, "2026-05-04T07:01:12.1234567Z")
    assert type(stamp) is Timestamp
    assert stamp.wire() == "2026-05-04T07:01:12.1234567Z"
    span = hook(TimeSpan, "00:01:30.5000000")
    assert type(span) is TimeSpan
    assert span == timedelta(seconds=90.5)
    assert hook(Timestamp, "2026-05-04T07:01:12") == "other"  # naive: another form
    assert hook(TimeSpan, 90) == "other"  # not a string
    assert hook(int, "7") == "other"
    assert handed == [(Timestamp, "2026-05-04T07:01:12"), (TimeSpan, 90), (int, "7")]
