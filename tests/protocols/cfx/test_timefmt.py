"""DateTime and TimeSpan text exactly as Newtonsoft writes them, and every form readers accept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.cfx.timefmt import format_timespan, format_timestamp, parse_timespan, parse_timestamp
from protocols.errors import LocalProtocolError

EST = timezone(timedelta(hours=-4))
IST = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2018, 3, 26, 16, 52, 25, 376953, tzinfo=EST), "2018-03-26T16:52:25.376953-04:00"),
        (datetime(2026, 5, 4, 7, 19, 44, tzinfo=IST), "2026-05-04T07:19:44+05:30"),  # no fraction when zero
        (
            datetime(2026, 5, 4, 7, 19, 44, 500000, tzinfo=UTC),
            "2026-05-04T07:19:44.5Z",
        ),  # trailing zeros dropped
        (datetime(2026, 5, 4, 7, 19, 44, 120, tzinfo=timezone(timedelta(0))), "2026-05-04T07:19:44.00012Z"),
    ],
)
def test_format_timestamp(value: datetime, text: str) -> None:
    """ISO 8601, up to 7 digits without trailing zeros, Z for zero offset, else ±hh:mm."""
    assert format_timestamp(value) == text


def test_format_timestamp_refuses_naive() -> None:
    """The zone designator is required (cfx.md §1.3)."""
    with pytest.raises(LocalProtocolError):
        format_timestamp(datetime(2026, 5, 4))


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(minutes=1), "00:01:00"),
        (timedelta(minutes=10, seconds=51, microseconds=510000), "00:10:51.5100000"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1.02:03:04"),
        (timedelta(0), "00:00:00"),
        (-timedelta(seconds=1, microseconds=500000), "-00:00:01.5000000"),
        (-timedelta(days=2, hours=1), "-2.01:00:00"),
    ],
)
def test_timespan_c_format(span: timedelta, text: str) -> None:
    """.NET "c": [-][d.]hh:mm:ss[.fffffff], all seven fraction digits when present."""
    assert format_timespan(span) == text
    assert parse_timespan(text) == span


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("5", timedelta(days=5)),
        ("0:1", timedelta(minutes=1)),
        ("1:02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("00:00:00.1", timedelta(microseconds=100000)),
        (" 01:00:00 ", timedelta(hours=1)),
    ],
)
def test_timespan_parse_forms(text: str, span: timedelta) -> None:
    """Every TimeSpan.Parse form a sender may use is read."""
    assert parse_timespan(text) == span


@pytest.mark.parametrize("text", ["", "PT1M", "25:00:00", "00:61:00", "abc", "1.2.3"])
def test_timespan_rejects(text: str) -> None:
    """What TimeSpan.Parse refuses is refused."""
    with pytest.raises(ValueError):
        parse_timespan(text)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-05-04"])
def test_timestamp_rejects(text: str) -> None:
    """Non-timestamps raise ValueError."""
    with pytest.raises(ValueError):
        parse_timestamp(text)


@given(st.timedeltas(min_value=timedelta(days=-9999), max_value=timedelta(days=9999)))
def test_timespan_round_trip(span: timedelta) -> None:
    """format then parse is the identity for any TimeSpan in range."""
    assert parse_timespan(format_timespan(span)) == span


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_timestamp_round_trip(moment: datetime, offset_minutes: int) -> None:
    """format then parse keeps instant and offset."""
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    back = parse_timestamp(format_timestamp(aware))
    assert back == aware
    assert back.utcoffset() == aware.utcoffset()
