# cython: language_level=3
"""Compiled parser for the Hermes subset of XML.

The pure-Python twin is ``native.hermes_xml_pure``: its docstring describes the subset and the
tree. Both must give identical trees and identical errors (reason and byte offset), so this file
follows the twin step by step; each check names the twin function it mirrors.

The parser walks the UTF-8 bytes once. Strings are made only for names and attribute values;
values without references or raw whitespace are decoded straight from the input, the others are
rebuilt in a scratch buffer (never longer than the input: every reference is at least as long as
the UTF-8 it stands for).
"""

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.list cimport PyList_Append
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy

cdef extern from "Python.h":
    # CPython's own presizing constructor (what BUILD_MAP uses); spares the resizes of a dict
    # that gets twenty attributes.
    dict _PyDict_NewPresized(Py_ssize_t minused)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)

from native.xml_errors import MAX_DEPTH, MAX_DOCUMENT_SIZE, XmlError, check_declaration

cdef Py_ssize_t C_MAX_DEPTH = MAX_DEPTH
# The open elements live in a C array (borrowed references: the root owns them all).
DEF STACK_SIZE = 64
DEF SPAN = 5
DEF LOCAL_SPANS = 64
if MAX_DEPTH > STACK_SIZE:
    raise ImportError("native.xml_errors.MAX_DEPTH is larger than the compiled parser's stack")
cdef Py_ssize_t C_MAX_DOCUMENT_SIZE = MAX_DOCUMENT_SIZE

cdef enum:
    PROLOG = 0
    CONTENT = 1
    EPILOG = 2


# Character classes of bytes. The parser relies on the NUL that ends every bytes object: NUL is
# in no class (and is refused before parsing), so name and whitespace loops stop at the end.
DEF WS = 1
DEF NAME_START = 2
DEF NAME_CHAR = 4
cdef unsigned char CLASS[256]


cdef void _build_classes() noexcept:
    cdef int c
    for c in range(256):
        CLASS[c] = 0
        if c == 32 or c == 9 or c == 10 or c == 13:
            CLASS[c] = WS
        # ASCII name characters; every non-ASCII byte is let through, as in the twin.
        elif (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or c == 58 or c >= 128:
            CLASS[c] = NAME_START | NAME_CHAR
        elif (48 <= c <= 57) or c == 46 or c == 45:
            CLASS[c] = NAME_CHAR


_build_classes()

# Bytes that end a double- or single-quoted attribute value: its quote, '<' (an error) and the
# terminating NUL; and the bytes that make a value need the slow path (references, raw whitespace).
cdef unsigned char STOP_DOUBLE[256]
cdef unsigned char STOP_SINGLE[256]
cdef unsigned char SPECIAL[256]


cdef void _build_value_tables() noexcept:
    cdef int c
    for c in range(256):
        STOP_DOUBLE[c] = c == 34 or c == 60 or c == 0
        STOP_SINGLE[c] = c == 39 or c == 60 or c == 0
        SPECIAL[c] = c == 38 or c == 9 or c == 10 or c == 13


_build_value_tables()


cdef inline bint _ws(unsigned char c) noexcept nogil:
    return CLASS[c] & WS


cdef inline bint _name_start(unsigned char c) noexcept nogil:
    return CLASS[c] & NAME_START


cdef inline bint _name_char(unsigned char c) noexcept nogil:
    return CLASS[c] & NAME_CHAR


cdef inline bint _legal_char(long code) noexcept nogil:
    # XML 1.0 §2.2 Char.
    return (code == 0x9 or code == 0xA or code == 0xD or 0x20 <= code <= 0xD7FF
            or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF)


cdef inline str _str(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    return PyUnicode_DecodeUTF8(<const char*>p + start, end - start, NULL)


# Names and short values repeat from message to message ("BoardId", "1", "160.000"): a small
# direct-mapped cache hands out the same str objects, which also keeps their hashes computed.
DEF CACHE_SIZE = 1024
DEF CACHE_MAX_LENGTH = 32
cdef list _cache = [None] * CACHE_SIZE


cdef inline str _ascii_str(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    cdef Py_ssize_t length = end - start
    result = PyUnicode_New(length, 127)
    memcpy(PyUnicode_DATA(result), p + start, length)
    return <str>result


cdef str _cached(const unsigned char* p, Py_ssize_t start, Py_ssize_t end, bint ascii):
    """The str of p[start:end], from the cache when it is short, ASCII and seen before."""
    cdef Py_ssize_t length = end - start
    cdef uint32_t h, head = 0, tail = 0
    if not ascii or length > CACHE_MAX_LENGTH:
        return _str(p, start, end) if not ascii else _ascii_str(p, start, end)
    # A cheap hash of the length and the first and last four bytes; collisions only cost a miss.
    if length >= 4:
        memcpy(&head, p + start, 4)
        memcpy(&tail, p + end - 4, 4)
    elif length > 0:
        head = p[start] | (p[end - 1] << 8) | (p[start + length // 2] << 16)
    h = (head * 2654435761u) ^ (tail * 2246822519u) ^ <uint32_t>length
    h = (h ^ (h >> 15)) & (CACHE_SIZE - 1)
    entry = _cache[<Py_ssize_t>h]
    if (
        entry is not None
        and PyUnicode_GET_LENGTH(entry) == length
        and memcmp(PyUnicode_DATA(entry), p + start, length) == 0
    ):
        return <str>entry
    result = _ascii_str(p, start, end)
    _cache[<Py_ssize_t>h] = result
    return result


cdef class _Parser:
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii  # the whole input is ASCII
    cdef unsigned char* scratch
    cdef Py_ssize_t* spans  # per attribute: name start, name end, value start, value end, special
    cdef Py_ssize_t spans_capacity
    cdef bint spans_on_heap  # else they are parse()'s stack array

    def __cinit__(self):
        self.scratch = NULL
        self.spans = NULL

    def __dealloc__(self):
        if self.scratch != NULL:
            PyMem_Free(self.scratch)
        if self.spans_on_heap:
            PyMem_Free(self.spans)

    cdef Py_ssize_t reference(self, Py_ssize_t pos, long* code) except -2:
        """Twin ``_reference``: check the reference at p[pos] ('&'); return the index after it.

        ``code`` receives the character; predefined entities give their ASCII code.
        """
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n, i = pos + 1, digits_start
        cdef long value = 0
        cdef bint too_big = False
        cdef unsigned char c
        if i < n and p[i] == 35:  # '#'
            i += 1
            if i < n and p[i] == 120:  # 'x'
                i += 1
                digits_start = i
                while i < n:
                    c = p[i]
                    if 48 <= c <= 57:
                        value = value * 16 + (c - 48)
                    elif 97 <= c <= 102:
                        value = value * 16 + (c - 87)
                    elif 65 <= c <= 70:
                        value = value * 16 + (c - 55)
                    else:
                        break
                    if value > 0x10FFFF:
                        too_big = True
                        value = 0x110000
                    i += 1
            else:
                digits_start = i
                while i < n and 48 <= p[i] <= 57:
                    value = value * 10 + (p[i] - 48)
                    if value > 0x10FFFF:
                        too_big = True
                        value = 0x110000
                    i += 1
            if i == digits_start or i >= n or p[i] != 59:  # ';'
                raise XmlError("undefined entity or malformed reference", pos)
            if too_big or not _legal_char(value):
                raise XmlError("reference to a character that is not allowed", pos)
            code[0] = value
            return i + 1
        if n - i >= 3 and memcmp(p + i, b"lt;", 3) == 0:
            code[0] = 60
            return i + 3
        if n - i >= 3 and memcmp(p + i, b"gt;", 3) == 0:
            code[0] = 62
            return i + 3
        if n - i >= 4 and memcmp(p + i, b"amp;", 4) == 0:
            code[0] = 38
            return i + 4
        if n - i >= 5 and memcmp(p + i, b"quot;", 5) == 0:
            code[0] = 34
            return i + 5
        if n - i >= 5 and memcmp(p + i, b"apos;", 5) == 0:
            code[0] = 39
            return i + 5
        raise XmlError("undefined entity or malformed reference", pos)

    cdef str value(self, Py_ssize_t start, Py_ssize_t end, bint special):
        """Twin ``_value``: the attribute value p[start:end], references resolved, normalized.

        ``special`` says whether the value holds '&', tab, CR or LF (found while scanning it).
        """
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t i = start, o = 0
        cdef unsigned char c
        cdef long code = 0
        cdef unsigned char* out
        if not special:
            return _cached(p, start, end, self.ascii)
        if self.scratch == NULL:
            self.scratch = <unsigned char*>PyMem_Malloc(self.n + 1)
            if self.scratch == NULL:
                raise MemoryError()
        out = self.scratch
        i = start
        while i < end:
            c = p[i]
            if c == 38:  # '&'
                i = self.reference(i, &code)
                if code < 0x80:
                    out[o] = <unsigned char>code
                    o += 1
                elif code < 0x800:
                    out[o] = <unsigned char>(0xC0 | (code >> 6))
                    out[o + 1] = <unsigned char>(0x80 | (code & 0x3F))
                    o += 2
                elif code < 0x10000:
                    out[o] = <unsigned char>(0xE0 | (code >> 12))
                    out[o + 1] = <unsigned char>(0x80 | ((code >> 6) & 0x3F))
                    out[o + 2] = <unsigned char>(0x80 | (code & 0x3F))
                    o += 3
                else:
                    out[o] = <unsigned char>(0xF0 | (code >> 18))
                    out[o + 1] = <unsigned char>(0x80 | ((code >> 12) & 0x3F))
                    out[o + 2] = <unsigned char>(0x80 | ((code >> 6) & 0x3F))
                    out[o + 3] = <unsigned char>(0x80 | (code & 0x3F))
                    o += 4
                continue
            if c == 13:  # XML 1.0 §2.11 then §3.3.3: CR LF -> one space, CR -> space
                out[o] = 32
                o += 1
                i += 2 if i + 1 < end and p[i + 1] == 10 else 1
                continue
            out[o] = 32 if c == 9 or c == 10 else c
            o += 1
            i += 1
        return _str(out, 0, o)

    cdef int check_text(self, Py_ssize_t start, Py_ssize_t end) except -1:
        """Twin ``_check_text``: references valid, no "]]>"; the first problem is reported."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t i = start
        cdef long code = 0
        while i < end:
            if p[i] == 38:
                i = self.reference(i, &code)
                continue
            if p[i] == 93 and i + 2 < end and p[i + 1] == 93 and p[i + 2] == 62:
                raise XmlError("']]>' is not allowed in text", i)
            i += 1
        return 0

    cdef Py_ssize_t markup(self, Py_ssize_t lt) except -1:
        """Twin ``_markup``: skip the comment at p[lt]; return the index after it, or raise."""
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n, i, close = -1
        if n - lt >= 4 and memcmp(p + lt, b"<!--", 4) == 0:
            i = lt + 4
            while i + 2 < n:
                if p[i] == 45 and p[i + 1] == 45:  # "--": the end, or not allowed (§2.5)
                    if p[i + 2] == 62:
                        close = i
                    break
                i += 1
            if close < 0 or (close > lt + 4 and p[close - 1] == 45):
                raise XmlError("malformed comment", lt)
            return close + 3
        if n - lt >= 9 and memcmp(p + lt, b"<!DOCTYPE", 9) == 0:
            raise XmlError("DOCTYPE is not allowed", lt)
        if n - lt >= 9 and memcmp(p + lt, b"<![CDATA[", 9) == 0:
            raise XmlError("CDATA section is not allowed", lt)
        raise XmlError("malformed markup", lt)

    cdef Py_ssize_t declaration(self, Py_ssize_t pos) except -1:
        """Check the XML declaration at p[pos] with the shared regex; return the index after it."""
        cdef Py_ssize_t end = pos
        while end < self.n and self.p[end] != 62:
            end += 1
        region = _str(self.p, pos, end + 1 if end < self.n else end)
        try:
            return pos + check_declaration(region, 0)
        except XmlError as exc:
            raise XmlError(exc.reason, pos) from None

    cdef dict attributes(self, Py_ssize_t count, Py_ssize_t lt):
        """Twin ``_attributes``: values first (in order), then the first duplicate name."""
        cdef Py_ssize_t k
        cdef Py_ssize_t* span
        cdef dict result = _PyDict_NewPresized(count)
        duplicate = None
        for k in range(count):
            span = self.spans + SPAN * k
            name = _cached(self.p, span[0], span[1], self.ascii)
            value = self.value(span[2], span[3], span[4])
            result[name] = value
            if duplicate is None and len(result) <= k:
                duplicate = name
        if duplicate is not None:
            raise XmlError(f"duplicate attribute {duplicate!r}", lt)
        return result

    cdef int grow_spans(self) except -1:
        cdef Py_ssize_t capacity = 2 * self.spans_capacity
        cdef Py_ssize_t* grown = <Py_ssize_t*>PyMem_Malloc(SPAN * capacity * sizeof(Py_ssize_t))
        if grown == NULL:
            raise MemoryError()
        memcpy(grown, self.spans, SPAN * self.spans_capacity * sizeof(Py_ssize_t))
        if self.spans_on_heap:
            PyMem_Free(self.spans)
        self.spans = grown
        self.spans_capacity = capacity
        self.spans_on_heap = True
        return 0

    cdef object parse(self):
        cdef const unsigned char* p = self.p
        cdef Py_ssize_t n = self.n, pos = 0, lt, i, k, name_end, attr_start, attr_end, value_start
        cdef int where = PROLOG
        cdef unsigned char following, quote
        cdef bint self_closing
        cdef PyObject* stack[STACK_SIZE]
        cdef PyObject* children[STACK_SIZE]
        cdef Py_ssize_t depth = 0
        cdef Py_ssize_t count
        cdef const unsigned char* found
        cdef const unsigned char* stop
        # Room for the attributes of one tag; a tag with more moves them to the heap.
        cdef Py_ssize_t local_spans[SPAN * LOCAL_SPANS]
        cdef unsigned char special
        cdef Py_ssize_t* span
        cdef tuple element
        root = None
        self.spans = local_spans
        self.spans_capacity = LOCAL_SPANS
        self.spans_on_heap = False
        if n >= 3 and p[0] == 0xEF and p[1] == 0xBB and p[2] == 0xBF:
            pos = 3
        if n - pos >= 5 and memcmp(p + pos, b"<?xml", 5) == 0 and (
            n == pos + 5 or _ws(p[pos + 5]) or p[pos + 5] == 63
        ):
            pos = self.declaration(pos)
        while True:
            found = <const unsigned char*>memchr(p + pos, 60, n - pos)
            lt = n if found == NULL else found - p
            if pos < lt:
                if where == CONTENT:
                    self.check_text(pos, lt)
                else:
                    for i in range(pos, lt):
                        if not _ws(p[i]):
                            raise XmlError("text outside the root element", i)
            if lt >= n:
                break
            following = p[lt + 1] if lt + 1 < n else 0
            if following == 33:  # '!'
                pos = self.markup(lt)
            elif following == 63:  # '?'
                raise XmlError("processing instruction is not allowed", lt)
            elif where == EPILOG:
                raise XmlError("markup after the root element", lt)
            elif following == 47:  # '/'
                if where == PROLOG:
                    raise XmlError("end tag without start tag", lt)
                i = lt + 2
                if i >= n or not _name_start(p[i]):
                    raise XmlError("malformed end tag", lt)
                while _name_char(p[i]):
                    i += 1
                name_end = i
                while _ws(p[i]):
                    i += 1
                if i >= n or p[i] != 62:
                    raise XmlError("malformed end tag", lt)
                open_name = <str>(<tuple>stack[depth - 1])[0]
                if not (
                    self.ascii
                    and PyUnicode_GET_LENGTH(open_name) == name_end - lt - 2
                    and memcmp(PyUnicode_DATA(open_name), p + lt + 2, name_end - lt - 2) == 0
                ):
                    name = _str(p, lt + 2, name_end)
                    if name != open_name:
                        raise XmlError(f"end tag {name!r} does not match start tag {open_name!r}", lt)
                depth -= 1
                if depth == 0:
                    where = EPILOG
                pos = i + 1
            else:
                # Twin ``_START_TAG``: <Name (WS+ Name WS* = WS* quoted)* WS* /? >
                i = lt + 1
                if i >= n or not _name_start(p[i]):
                    raise XmlError("malformed start tag", lt)
                while _name_char(p[i]):
                    i += 1
                name_end = i
                count = 0
                while True:
                    k = i
                    while _ws(p[k]):
                        k += 1
                    if k < n and p[k] == 62:
                        self_closing = False
                        i = k + 1
                        break
                    if k + 1 < n and p[k] == 47 and p[k + 1] == 62:
                        self_closing = True
                        i = k + 2
                        break
                    if k == i or k >= n or not _name_start(p[k]):
                        raise XmlError("malformed start tag", lt)
                    attr_start = k
                    while _name_char(p[k]):
                        k += 1
                    attr_end = k
                    while _ws(p[k]):
                        k += 1
                    if k >= n or p[k] != 61:  # '='
                        raise XmlError("malformed start tag", lt)
                    k += 1
                    while _ws(p[k]):
                        k += 1
                    if k >= n or (p[k] != 34 and p[k] != 39):
                        raise XmlError("malformed start tag", lt)
                    if p[k] == 34:
                        stop = &STOP_DOUBLE[0]
                    else:
                        stop = &STOP_SINGLE[0]
                    quote = p[k]
                    k += 1
                    value_start = k
                    special = 0
                    while not stop[p[k]]:
                        special |= SPECIAL[p[k]]
                        k += 1
                    if p[k] != quote:
                        raise XmlError("malformed start tag", lt)
                    if count == self.spans_capacity:
                        self.grow_spans()
                    span = self.spans + SPAN * count
                    span[0] = attr_start
                    span[1] = attr_end
                    span[2] = value_start
                    span[3] = k
                    span[4] = special
                    count += 1
                    i = k + 1
                if depth >= C_MAX_DEPTH:
                    raise XmlError(f"nesting deeper than {MAX_DEPTH} elements", lt)
                element = (
                    _cached(p, lt + 1, name_end, self.ascii),
                    self.attributes(count, lt) if count else {},
                    [],
                )
                if depth:
                    PyList_Append(<object>children[depth - 1], element)
                else:
                    root = element
                if self_closing:
                    if not depth:
                        where = EPILOG
                else:
                    stack[depth] = <PyObject*>element
                    children[depth] = <PyObject*>element[2]
                    depth += 1
                    where = CONTENT
                pos = i
        if depth:
            raise XmlError(f"element {(<tuple>stack[depth - 1])[0]!r} is not closed", n)
        if root is None:
            raise XmlError("no root element", n)
        return root


cdef int _check_characters(const unsigned char* p, Py_ssize_t n) except -1:
    """Twin ``parse``: UTF-8 first (the whole input), then the first character XML forbids.

    Returns 1 when the input is all ASCII, else 0.
    """
    cdef Py_ssize_t i = 0, j, bad = -1
    cdef bint high = False
    cdef unsigned char c
    cdef long code = 0
    cdef uint64_t word
    # Eight bytes at a time: any byte >= 0x80, or any byte < 0x20 (bit-twiddling "has less than"),
    # sends that word through the exact byte loop.
    while bad < 0 and i + 8 <= n:
        memcpy(&word, p + i, 8)
        if word & 0x8080808080808080u:
            high = True
        if (word - 0x2020202020202020u) & ~word & 0x8080808080808080u:
            for j in range(i, i + 8):
                c = p[j]
                if c < 32 and c != 9 and c != 10 and c != 13:
                    bad = j
                    code = c
                    break
        i += 8
    for j in range(i, n):
        c = p[j]
        if c >= 128:
            high = True
        elif c < 32 and c != 9 and c != 10 and c != 13 and bad < 0:
            bad = j
            code = c
    if high:
        try:
            PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
        except UnicodeDecodeError as exc:
            raise XmlError("invalid UTF-8", exc.start) from None
        # U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML characters either.
        for i in range(n - 2 if bad < 0 else bad):
            if p[i] == 0xEF and p[i + 1] == 0xBF and (p[i + 2] == 0xBE or p[i + 2] == 0xBF):
                bad = i
                code = 0xFFFE if p[i + 2] == 0xBE else 0xFFFF
                break
    if bad >= 0:
        raise XmlError(f"character U+{code:04X} is not allowed", bad)
    return 0 if high else 1


def parse(data):
    """Parse one Hermes XML document; see ``native.hermes_xml_pure.parse``.

    Args:
        data: the whole document (bytes, bytearray or memoryview), UTF-8, at most 65,536 bytes.

    Returns:
        The root element as ``(tag, attributes, children)``.

    Raises:
        XmlError: the document is not well-formed, uses a refused construct or breaks a limit.
    """
    cdef bytes raw = data if type(data) is bytes else bytes(data)
    cdef Py_ssize_t n = len(raw)
    if n > C_MAX_DOCUMENT_SIZE:
        raise XmlError(f"document is {n} bytes, more than the {MAX_DOCUMENT_SIZE} allowed")
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(raw)
    cdef bint ascii = _check_characters(p, n)
    cdef _Parser parser = _Parser.__new__(_Parser)
    parser.p = p
    parser.n = n
    parser.ascii = ascii
    return parser.parse()
