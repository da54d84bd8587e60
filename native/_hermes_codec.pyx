# cython: language_level=3
"""Compiled twin of ``native.hermes_codec_pure``: its docstring describes shapes and results.

Both twins must give equal objects (with the same field types) and identical texts. This one
reads and writes the common forms in C and calls the codec's own readers and writers for
everything else, so the two can only differ in what C accepts or formats itself:

- reading: a str field takes the text as is; an enum field's canonical decimal text is looked up
  (else the reader); an int field's plain ASCII digits (at most 18) are parsed and range-checked
  (else the reader); a float field's ASCII text without ``_`` goes through ``float()``'s own
  conversion (``PyOS_string_to_double``, all of the text) and must be finite (else the reader);
  a short plain decimal is divided out exactly as that conversion rounds it.
- writing: a str needing no escape is copied as UTF-8 (else the writer); an int (or IntEnum,
  whose ``int()`` is its value) is written in decimal; a float as ``format(v, ".3f")`` does
  (``PyOS_double_to_string(v, 'f', 3, 0)``; a multiple of 1/8 has exact digits of its own);
  anything else goes to the writer.

The object is made as ``object.__new__(cls)`` does (``tp_alloc``) and its slots are filled
directly, as the slot descriptors would (the class is checked to be a plain slots class).
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_AsLongLong, PyLong_FromLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_CheckExact, PyUnicode_DecodeUTF8
from cpython.datetime cimport (
    PyDateTime_CheckExact,
    PyDateTime_DATE_GET_HOUR,
    PyDateTime_DATE_GET_MICROSECOND,
    PyDateTime_DATE_GET_MINUTE,
    PyDateTime_DATE_GET_SECOND,
    PyDateTime_GET_DAY,
    PyDateTime_GET_MONTH,
    PyDateTime_GET_YEAR,
    datetime_tzinfo,
    import_datetime,
)
from libc.math cimport fabs, isfinite, signbit, trunc
from libc.string cimport memchr, memcpy, strlen

from native.hermes_codec_pure import ENUM, FLOAT, INT, MAX_FIELDS, STR, Field, check_shape

import_datetime()

cdef extern from *:
    """
    #include "structmember.h"

    /* The offset of a writable object slot behind a member descriptor, else -1. */
    static Py_ssize_t hc_slot_offset(PyObject *descr) {
        PyMemberDef *member;
        if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
        member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY)) return -1;
        return member->offset;
    }

    /* object.__new__(cls) without the argument checks (the class is checked once). */
    static PyObject *hc_alloc(PyObject *cls) {
        PyTypeObject *type = (PyTypeObject *)cls;
        return type->tp_alloc(type, 0);
    }

    #define HC_SLOT(obj, offset) ((PyObject **)((char *)(obj) + (offset)))

    /* True when int(v) is v's own integer value: an int or a subclass (IntEnum, bool) that
       does not override __int__. */
    static int hc_plain_int(PyObject *v) {
        return PyLong_Check(v)
            && Py_TYPE(v)->tp_as_number->nb_int == PyLong_Type.tp_as_number->nb_int;
    }
    """
    Py_ssize_t hc_slot_offset(object descr)
    object hc_alloc(object cls)
    PyObject** HC_SLOT(object obj, Py_ssize_t offset)
    bint hc_plain_int(object v)

cdef extern from "Python.h":
    PyObject* PyDict_GetItemWithError(object d, object key) except? NULL
    bint PyUnicode_IS_ASCII(object u)
    Py_ssize_t PyUnicode_GET_LENGTH(object u)
    const unsigned char* PyUnicode_1BYTE_DATA(object u)
    double PyOS_string_to_double(const char* text, char** end, PyObject* overflow_exception)
    object PyFloat_FromDouble(double value)
    PyObject* PyErr_Occurred()
    void PyErr_Clear()
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags, int* ptype) except NULL
    bytes PyBytes_FromStringAndSize(const char* data, Py_ssize_t size)
    str PyUnicode_DecodeASCII(const char* data, Py_ssize_t size, const char* errors)

DEF C_MAX_FIELDS = 64
if MAX_FIELDS != C_MAX_FIELDS:
    raise ImportError("native.hermes_codec_pure.MAX_FIELDS differs from the compiled twin's")

cdef int K_STR = STR
cdef int K_ENUM = ENUM
cdef int K_INT = INT
cdef int K_FLOAT = FLOAT

# Bytes of a UTF-8 text that make an attribute value need the writer: & < > " and C0 controls;
# 0xEF starts U+FFFE/U+FFFF (checked further). Surrogates never reach here (no UTF-8 for them).
cdef unsigned char ESCAPE[256]


cdef void _build_escape() noexcept:
    cdef int c
    for c in range(256):
        ESCAPE[c] = c < 0x20 or c == 38 or c == 60 or c == 62 or c == 34 or c == 0xEF


_build_escape()


cdef bint _needs_writer(const unsigned char* text, Py_ssize_t size) noexcept:
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(size):
        c = text[i]
        if ESCAPE[c]:
            if c != 0xEF:
                return True
            # U+FFFE/U+FFFF: EF BF BE / EF BF BF (0xEF is never a continuation byte).
            if i + 2 < size and text[i + 1] == 0xBF and (text[i + 2] == 0xBE or text[i + 2] == 0xBF):
                return True
    return False


# 10**0 .. 10**22: every one is a double exactly.
cdef double POWERS[23]


cdef void _build_powers() noexcept:
    cdef int k
    POWERS[0] = 1.0
    for k in range(1, 23):
        POWERS[k] = POWERS[k - 1] * 10.0


_build_powers()


cdef bint _short_decimal(const unsigned char* text, Py_ssize_t size, double* out) noexcept:
    """``[+-]digits[.digits]`` with at most 15 digits: its value, correctly rounded as float()
    rounds it. The digits make an integer below 2**53 and 10**k (k <= 15) is exact, so one IEEE
    division (correctly rounded) gives the nearest double of the decimal (Clinger's fast path)."""
    cdef Py_ssize_t i = 0
    cdef long long mantissa = 0
    cdef int digits = 0, fraction = 0
    cdef bint negative = False, point = False
    cdef unsigned char c
    if size > 0 and (text[0] == 45 or text[0] == 43):
        negative = text[0] == 45
        i = 1
    while i < size:
        c = text[i]
        if 48 <= c <= 57:
            digits += 1
            if digits > 15:
                return False
            mantissa = mantissa * 10 + (c - 48)
            if point:
                fraction += 1
        elif c == 46 and not point:
            point = True
        else:
            return False
        i += 1
    if digits == 0:
        return False
    out[0] = -(mantissa / POWERS[fraction]) if negative else mantissa / POWERS[fraction]
    return True


# The output: a growable byte buffer, on the stack while small.
DEF LOCAL_SIZE = 512

cdef struct Out:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity
    char local[LOCAL_SIZE]


cdef inline void _out_init(Out* out) noexcept:
    out.data = out.local
    out.size = 0
    out.capacity = LOCAL_SIZE


cdef inline void _out_free(Out* out) noexcept:
    if out.data != out.local:
        PyMem_Free(out.data)


cdef int _out_add(Out* out, const char* text, Py_ssize_t size) except -1:
    cdef Py_ssize_t need = out.size + size
    cdef Py_ssize_t capacity
    cdef char* grown
    if need > out.capacity:
        capacity = out.capacity * 2
        while capacity < need:
            capacity *= 2
        if out.data == out.local:
            grown = <char*>PyMem_Malloc(capacity)
            if grown != NULL:
                memcpy(grown, out.local, out.size)
        else:
            grown = <char*>PyMem_Realloc(out.data, capacity)
        if grown == NULL:
            raise MemoryError()
        out.data = grown
        out.capacity = capacity
    memcpy(out.data + out.size, text, size)
    out.size = need
    return 0


cdef int _out_text(Out* out, object text) except -1:
    """Append a str as UTF-8 (no escaping: the writers' results and the stamp)."""
    if not isinstance(text, str):
        raise TypeError(f"a writer returned {type(text).__name__}, not str")
    if PyUnicode_IS_ASCII(text):
        return _out_add(out, <const char*>PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text))
    encoded = PyUnicode_AsUTF8String(text)
    return _out_add(out, <bytes>encoded, len(<bytes>encoded))


cdef int _out_integer(Out* out, long long value) except -1:
    cdef char digits[24]
    cdef int position = 24
    cdef bint negative = value < 0
    cdef unsigned long long rest = <unsigned long long>(-(value + 1)) + 1 if negative else <unsigned long long>value
    while True:
        position -= 1
        digits[position] = <char>(48 + rest % 10)
        rest //= 10
        if rest == 0:
            break
    if negative:
        position -= 1
        digits[position] = 45
    return _out_add(out, &digits[position], 24 - position)


cdef int _out_eighths(Out* out, double value) except -1:
    """Write ``format(value, ".3f")`` of a multiple of 1/8 below 2**50: exactly the doubles
    with at most three decimals (1000 = 8 * 125), so the digits need no rounding. 0 for any
    other value (PyOS_double_to_string writes it)."""
    cdef double eighths = value * 8.0  # exact: a power of two
    cdef long long count
    cdef char text[24]
    cdef int position = 24, fraction, i
    if not (fabs(eighths) < 9007199254740992.0 and eighths == trunc(eighths)):
        return 0
    count = <long long>fabs(eighths)
    fraction = <int>(count % 8) * 125
    count //= 8
    for i in range(3):
        position -= 1
        text[position] = <char>(48 + fraction % 10)
        fraction //= 10
    position -= 1
    text[position] = 46  # .
    while True:
        position -= 1
        text[position] = <char>(48 + count % 10)
        count //= 10
        if count == 0:
            break
    if signbit(value):  # "-0.000" too, as format() writes it
        position -= 1
        text[position] = 45
    _out_add(out, &text[position], 24 - position)
    return 1


cdef class Shape:
    """See ``native.hermes_codec_pure.Shape``."""

    cdef readonly object cls
    cdef readonly str tag
    cdef dict _index  # wire name -> position
    cdef Py_ssize_t _count  # attribute fields: positions 0.._count-1
    cdef Py_ssize_t _list_end  # list fields: _count.._list_end-1; other child fields to _total-1
    cdef Py_ssize_t _total
    cdef Py_ssize_t _offsets[C_MAX_FIELDS]
    cdef int _kinds[C_MAX_FIELDS]
    cdef bint _mandatory[C_MAX_FIELDS]
    cdef long long _maxima[C_MAX_FIELDS]
    cdef tuple _readers
    cdef tuple _writers
    cdef tuple _tables
    cdef tuple _defaults  # of every position; None for mandatory ones
    cdef tuple _prefixes  # b' Wire="' per attribute field
    cdef bytes _open  # b"<Tag"

    def __init__(self, cls, str tag, fields, lists=(), others=()):
        cdef Py_ssize_t position
        fields = [Field(*field) for field in fields]
        lists = [tuple(child) for child in lists]
        others = [tuple(child) for child in others]
        check_shape(cls, fields, lists, others)
        self.cls = cls
        self.tag = tag
        self._open = f"<{tag}".encode()
        self._count = len(fields)
        self._list_end = self._count + len(lists)
        self._total = self._list_end + len(others)
        self._index = {field.wire: position for position, field in enumerate(fields)}
        names = [field.name for field in fields] + [name for name, _ in lists] + [name for name, _ in others]
        for position, name in enumerate(names):
            offset = hc_slot_offset(_slot(cls, name))
            if offset < 0:
                raise TypeError(f"{cls.__name__}.{name} is not a writable object slot")
            self._offsets[position] = offset
        for position, field in enumerate(fields):
            self._kinds[position] = field.kind
            self._mandatory[position] = bool(field.mandatory)
            self._maxima[position] = field.table if field.kind == K_INT else 0
        for position in range(self._count, self._total):
            self._mandatory[position] = False
        self._readers = tuple(field.read for field in fields)
        self._writers = tuple(field.write for field in fields)
        self._tables = tuple(field.table for field in fields)
        self._defaults = tuple(
            [None if field.mandatory else field.default for field in fields]
            + [default for _, default in lists]
            + [default for _, default in others]
        )
        self._prefixes = tuple(f' {field.wire}="'.encode() for field in fields)

    # -- reading ----------------------------------------------------------------------------

    cdef object _convert(self, Py_ssize_t position, object raw):
        """The value of an attribute text, or None when the reader refuses it."""
        cdef int kind = self._kinds[position]
        cdef PyObject* member
        cdef const unsigned char* text
        cdef Py_ssize_t size, i
        cdef unsigned long long value
        cdef double number
        cdef char* end
        if kind == K_STR:
            return raw
        if kind == K_ENUM:
            member = PyDict_GetItemWithError(<dict>self._tables[position], raw)
            if member != NULL:
                return <object>member
        elif PyUnicode_CheckExact(raw) and PyUnicode_IS_ASCII(raw):
            text = PyUnicode_1BYTE_DATA(raw)
            size = PyUnicode_GET_LENGTH(raw)
            if kind == K_INT:
                if 0 < size <= 18:
                    value = 0
                    for i in range(size):
                        if not 48 <= text[i] <= 57:
                            break
                        value = value * 10 + (text[i] - 48)
                    else:
                        if value <= <unsigned long long>self._maxima[position]:
                            return PyLong_FromLongLong(<long long>value)
            elif _short_decimal(text, size, &number):
                return PyFloat_FromDouble(number)
            elif size > 0 and memchr(text, 95, size) == NULL:  # "1_0": float() takes it, the reader not
                # float()'s own conversion, on text it would not strip: a result here is float()'s.
                number = PyOS_string_to_double(<const char*>text, &end, NULL)
                if number == -1.0 and PyErr_Occurred():
                    PyErr_Clear()
                elif end == <const char*>text + size and isfinite(number):
                    return PyFloat_FromDouble(number)
        try:
            return self._readers[position](raw)
        except ValueError:
            return None

    def build(self, dict attrs):
        """See ``native.hermes_codec_pure.Shape.build``."""
        cdef Py_ssize_t cursor = 0, position
        cdef PyObject* key
        cdef PyObject* raw
        cdef PyObject* found
        cdef PyObject** slot
        value = hc_alloc(self.cls)
        while PyDict_Next(attrs, &cursor, &key, &raw):
            found = PyDict_GetItemWithError(self._index, <object>key)
            if found == NULL:
                continue  # unknown attributes are ignored
            position = <Py_ssize_t><object>found
            field_value = self._convert(position, <object>raw)
            if field_value is None:
                return None
            slot = HC_SLOT(value, self._offsets[position])
            Py_INCREF(field_value)
            Py_XDECREF(slot[0])  # NULL: each wire name is one dict key
            slot[0] = <PyObject*>field_value
        for position in range(self._total):
            slot = HC_SLOT(value, self._offsets[position])
            if slot[0] == NULL:
                if self._mandatory[position]:
                    return None
                default = self._defaults[position]
                Py_INCREF(default)
                slot[0] = <PyObject*>default
        return value

    # -- writing ----------------------------------------------------------------------------

    cdef int _attributes(self, object value, Out* out) except -1:
        """Append `` Wire="..."`` of every present field; 1 (nothing appended or a partial
        text) when the codec must write this object itself."""
        cdef Py_ssize_t position
        cdef PyObject* field
        cdef int kind
        cdef long long number
        cdef char* formatted
        cdef bytes prefix
        if type(value) is not self.cls:
            return 1  # a subclass may have other slots
        if self._total > self._list_end:
            return 1  # markers and nested elements are always written
        for position in range(self._count, self._list_end):
            field = HC_SLOT(value, self._offsets[position])[0]
            if field == NULL or <object>field:
                return 1
        for position in range(self._count):
            field = HC_SLOT(value, self._offsets[position])[0]
            if field == NULL:
                return 1  # an unset slot: the codec's getattr raises
            if <object>field is None:
                continue
            prefix = <bytes>self._prefixes[position]
            _out_add(out, prefix, len(prefix))
            kind = self._kinds[position]
            if kind == K_STR and PyUnicode_CheckExact(<object>field):
                if PyUnicode_IS_ASCII(<object>field):
                    if not _needs_writer(PyUnicode_1BYTE_DATA(<object>field), PyUnicode_GET_LENGTH(<object>field)):
                        _out_add(out, <const char*>PyUnicode_1BYTE_DATA(<object>field), PyUnicode_GET_LENGTH(<object>field))
                        _out_add(out, b'"', 1)
                        continue
                else:
                    try:
                        encoded = PyUnicode_AsUTF8String(<object>field)
                    except UnicodeEncodeError:
                        pass  # a surrogate: the writer refuses it
                    else:
                        if not _needs_writer(<const unsigned char*><char*>encoded, len(encoded)):
                            _out_add(out, encoded, len(encoded))
                            _out_add(out, b'"', 1)
                            continue
            elif (kind == K_INT or kind == K_ENUM) and hc_plain_int(<object>field):
                try:
                    number = PyLong_AsLongLong(<object>field)
                except OverflowError:
                    pass  # beyond any field's range: the writer formats it
                else:
                    _out_integer(out, number)
                    _out_add(out, b'"', 1)
                    continue
            elif kind == K_FLOAT and PyFloat_CheckExact(<object>field):
                if _out_eighths(out, PyFloat_AS_DOUBLE(<object>field)):
                    _out_add(out, b'"', 1)
                    continue
                formatted = PyOS_double_to_string(PyFloat_AS_DOUBLE(<object>field), b'f', 3, 0, NULL)
                try:
                    _out_add(out, formatted, <Py_ssize_t>strlen(formatted))
                finally:
                    PyMem_Free(formatted)
                _out_add(out, b'"', 1)
                continue
            _out_text(out, self._writers[position](<object>field))
            _out_add(out, b'"', 1)
        return 0

    def write(self, value):
        """See ``native.hermes_codec_pure.Shape.write``."""
        cdef Out out
        _out_init(&out)
        try:
            _out_add(&out, self._open, len(self._open))
            if self._attributes(value, &out):
                return None
            _out_add(&out, b"/>", 2)
            return PyUnicode_DecodeUTF8(out.data, out.size, NULL)
        finally:
            _out_free(&out)

    def document(self, value, str stamp):
        """See ``native.hermes_codec_pure.Shape.document``."""
        cdef Out out
        _out_init(&out)
        try:
            _out_add(&out, b'<Hermes Timestamp="', 19)
            _out_text(&out, stamp)
            _out_add(&out, b'">', 2)
            _out_add(&out, self._open, len(self._open))
            if self._attributes(value, &out):
                return None
            _out_add(&out, b"/></Hermes>", 11)
            return PyBytes_FromStringAndSize(out.data, out.size)
        finally:
            _out_free(&out)


def build_message(dict shapes, root):
    """See ``native.hermes_codec_pure.build_message``."""
    cdef PyObject* found
    if type(root) is not tuple or len(<tuple>root) != 3 or (<tuple>root)[0] != "Hermes":
        return None
    children = (<tuple>root)[2]
    if type(children) is not list or not children:
        return None
    message = (<list>children)[0]
    if type(message) is not tuple or len(<tuple>message) != 3:
        return None
    grandchildren = (<tuple>message)[2]
    if type(grandchildren) is not list or grandchildren:
        return None
    found = PyDict_GetItemWithError(shapes, (<tuple>message)[0])
    if found == NULL:
        return None
    shape = <object>found
    return (<Shape?>shape).build((<tuple>message)[1])


cdef inline void _digits(char* out, int value, int count) noexcept:
    while count > 0:
        count -= 1
        out[count] = <char>(48 + value % 10)
        value //= 10


def local_stamp(timestamp):
    """See ``native.hermes_codec_pure.local_stamp``."""
    cdef char text[23]
    cdef int year
    if not PyDateTime_CheckExact(timestamp) or datetime_tzinfo(timestamp) is not None:
        return None
    year = PyDateTime_GET_YEAR(timestamp)
    if year < 1000:
        return None  # strftime's %Y does not pad these
    _digits(text, year, 4)
    text[4] = 45  # -
    _digits(text + 5, PyDateTime_GET_MONTH(timestamp), 2)
    text[7] = 45
    _digits(text + 8, PyDateTime_GET_DAY(timestamp), 2)
    text[10] = 84  # T
    _digits(text + 11, PyDateTime_DATE_GET_HOUR(timestamp), 2)
    text[13] = 58  # :
    _digits(text + 14, PyDateTime_DATE_GET_MINUTE(timestamp), 2)
    text[16] = 58
    _digits(text + 17, PyDateTime_DATE_GET_SECOND(timestamp), 2)
    text[19] = 46  # .
    _digits(text + 20, PyDateTime_DATE_GET_MICROSECOND(timestamp) // 1000, 3)
    return PyUnicode_DecodeASCII(text, 23, NULL)


def _slot(cls, name):
    from native.hermes_codec_pure import _slot as slot

    return slot(cls, name)


__all__ = ["ENUM", "FLOAT", "INT", "MAX_FIELDS", "STR", "Field", "Shape", "build_message", "local_stamp"]
