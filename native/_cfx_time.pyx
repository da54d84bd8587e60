# cython: language_level=3
"""Compiled CFX DateTime and TimeSpan readers for the SDK's own forms.

The pure-Python twin is ``native.cfx_time_pure`` (its docstring states the contract); both must give
identical results. A DateTime is built through the datetime C API's constructor with the caller's
subclass, which is what makes this cheaper than the twin.
"""

from cpython.datetime cimport import_datetime, PyDateTimeAPI
from cpython.object cimport PyTypeObject

from datetime import UTC, timedelta, timezone

import_datetime()

cdef dict _ZONES = {0: UTC}


cdef inline int _digits(str text, Py_ssize_t start, Py_ssize_t end):
    cdef int value = 0
    cdef Py_UCS4 c
    cdef Py_ssize_t i
    for i in range(start, end):
        c = text[i]
        if c < 48 or c > 57:
            return -1
        value = value * 10 + (<int>c - 48)
    return value


cdef object _zone(int minutes):
    zone = _ZONES.get(minutes)
    if zone is None:
        zone = timezone(timedelta(minutes=minutes))
        _ZONES[minutes] = zone
    return zone


cdef inline int _fraction_us(str text, Py_ssize_t start, Py_ssize_t end):
    cdef Py_ssize_t count = end - start
    cdef int ticks, i
    if count < 1 or count > 7:
        return -1
    ticks = _digits(text, start, end)
    if ticks < 0:
        return -1
    for i in range(7 - count):
        ticks *= 10
    return (ticks + 5) // 10


def parse_timestamp(str text, cls):
    return _timestamp(text, cls)


def parse_timespan(str text, cls):
    return _timespan(text, cls)


cdef class DecodeHook:
    """A msgspec ``dec_hook``: DateTime and TimeSpan texts in the SDK's forms are read here, in C;
    any other kind, or another form, goes to ``other(kind, obj)``."""

    cdef object timestamp_cls
    cdef object timespan_cls
    cdef object other

    def __init__(self, timestamp_cls, timespan_cls, other):
        self.timestamp_cls = timestamp_cls
        self.timespan_cls = timespan_cls
        self.other = other

    def __call__(self, kind, obj):
        cdef object value
        if type(obj) is str:
            if kind is self.timestamp_cls:
                value = _timestamp(<str>obj, kind)
                if value is not None:
                    return value
            elif kind is self.timespan_cls:
                value = _timespan(<str>obj, kind)
                if value is not None:
                    return value
        return self.other(kind, obj)


cdef object _timestamp(str text, cls):
    cdef Py_ssize_t size = len(text)
    cdef Py_ssize_t end
    cdef int offset, hours, mins, micro = 0
    cdef int year, month, day, hour, minute, second
    if size < 20 or text[4] != u"-" or text[7] != u"-" or text[10] != u"T" or text[13] != u":" or text[16] != u":":
        return None
    if text[size - 1] == u"Z":
        offset = 0
        end = size - 1
    elif size >= 25 and text[size - 3] == u":" and (text[size - 6] == u"+" or text[size - 6] == u"-"):
        hours = _digits(text, size - 5, size - 3)
        mins = _digits(text, size - 2, size)
        if hours < 0 or mins < 0 or mins > 59 or hours > 14:
            return None
        offset = hours * 60 + mins
        if text[size - 6] == u"-":
            offset = -offset
        end = size - 6
    else:
        return None
    if end != 19:
        if text[19] != u".":
            return None
        micro = _fraction_us(text, 20, end)
        if micro < 0:
            return None
    year = _digits(text, 0, 4)
    month = _digits(text, 5, 7)
    day = _digits(text, 8, 10)
    hour = _digits(text, 11, 13)
    minute = _digits(text, 14, 16)
    second = _digits(text, 17, 19)
    if year < 0 or month < 0 or day < 0 or hour < 0 or minute < 0 or second < 0:
        return None
    if micro == 1000000:
        return None
    try:
        value = PyDateTimeAPI.DateTime_FromDateAndTime(
            year, month, day, hour, minute, second, micro, _zone(offset), <PyTypeObject*>cls
        )
    except (ValueError, OverflowError):
        return None
    value._text = text
    return value


cdef object _timespan(str text, cls):
    cdef Py_ssize_t size = len(text)
    cdef Py_ssize_t start = 1 if size and text[0] == u"-" else 0
    cdef Py_ssize_t dot, colon
    cdef long long days = 0, total
    cdef int hours, minutes, seconds, micro = 0
    dot = text.find(u".", start)
    colon = text.find(u":", start)
    if colon < 0:
        return None
    if 0 <= dot < colon:
        if dot == start or dot - start > 8:
            return None
        days = _digits(text, start, dot)
        if days < 0:
            return None
        start = dot + 1
    if size - start < 8 or text[start + 2] != u":" or text[start + 5] != u":":
        return None
    hours = _digits(text, start, start + 2)
    minutes = _digits(text, start + 3, start + 5)
    seconds = _digits(text, start + 6, start + 8)
    if hours < 0 or minutes < 0 or seconds < 0 or hours > 23 or minutes > 59 or seconds > 59:
        return None
    if size != start + 8:
        if text[start + 8] != u".":
            return None
        micro = _fraction_us(text, start + 9, size)
        if micro < 0:
            return None
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if size and text[0] == u"-":
        total = -total
        micro = -micro
    try:
        value = PyDateTimeAPI.Delta_FromDelta(
            <int>(total // 86400), <int>(total % 86400), micro, 1, <PyTypeObject*>cls
        )
    except OverflowError:
        return None
    value._text = text
    return value
