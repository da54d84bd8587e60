"""Pure-Python parser for the Hermes subset of XML: the reference twin of ``native._hermes_xml``.

The subset (reference §1 and §2): one root element holding nested elements with attributes. Text
between elements is checked and dropped, comments are skipped. Refused, with
:class:`~native.xml_errors.XmlError`: DOCTYPE (so no DTD and no entity definitions at all),
processing instructions other than a leading XML declaration, CDATA sections (Hermes carries
all data in attributes), entity references other than the five predefined ones, character
references to characters XML forbids, invalid UTF-8, documents over 65,536 bytes and nesting
deeper than :data:`MAX_DEPTH`.

:func:`parse` returns a plain tree, ``(tag, attributes, children)``: attribute values have their
references resolved and are normalized as XML 1.0 §3.3.3 says (a raw tab, CR or LF becomes a
space, CR LF one space). Names are not checked beyond ASCII name characters: any non-ASCII
character is accepted in a name. Both implementations give identical trees and identical errors
(reason and byte offset); the tests hold them to it.

Speed: a regular expression matches a whole start tag and another pulls out its attributes, so
the per-character work happens in the ``re`` engine, not in Python.
"""

from __future__ import annotations

import re

from native.xml_errors import (
    MAX_DEPTH,
    MAX_DOCUMENT_SIZE,
    XmlError,
    check_declaration,
    is_declaration_start,
)

Buffer = bytes | bytearray | memoryview
#: ``(tag, attributes, children)``; the children are elements of the same shape.
Element = tuple[str, dict[str, str], list["Element"]]

_WS = "[ \t\r\n]"
# XML names, restricted to ASCII name characters; every non-ASCII character is let through.
_NAME = "[A-Za-z_:\u0080-\U0010ffff][A-Za-z0-9._:\\-\u0080-\U0010ffff]*"
_START_TAG = re.compile(rf"<({_NAME})((?:{_WS}+{_NAME}{_WS}*={_WS}*(?:\"[^<\"]*\"|'[^<']*'))*){_WS}*(/?)>")
_ATTRIBUTE = re.compile(rf"{_WS}+({_NAME}){_WS}*={_WS}*(?:\"([^<\"]*)\"|'([^<']*)')")
_END_TAG = re.compile(rf"</({_NAME}){_WS}*>")
# XML 1.0 §2.2 Char: everything else may not appear in a document, raw or as a reference.
_ILLEGAL_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LEGAL_BYTES = b"\t\n\r" + bytes(range(32, 256))
_REFERENCE = re.compile("&(?:(lt|gt|amp|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_NOT_WHITESPACE = re.compile("[^ \t\r\n]")
_VALUE_WHITESPACE = str.maketrans("\t\n\r", "   ")
_PROLOG, _CONTENT, _EPILOG = 0, 1, 2

# The fast path: a document made only of tags and whitespace, attributes separated by spaces,
# every value double-quoted with no reference and no raw tab/CR/LF (what lib_cpp, ElementTree
# and our codec write). One findall cuts the document into tags (each with the whitespace
# before it); if the tags cover the whole document without gaps, it was in that form. In such a
# document '=' and '"' occur only in attributes, so a second findall lists every (name, value)
# pair in document order, and each tag takes as many pairs as its attribute text has quotes / 2.
# Python only builds the tree. Anything else, or any doubt (mismatched tags, duplicates, depth),
# goes to the general parser, which also produces the exact error.
_FAST_VALUE = '"[^"<&\t\n\r]*+"'
_FAST_ATTRIBUTES = f"(?: ++{_NAME} *+= *+{_FAST_VALUE})*+"
_FAST_TAG = re.compile(rf"({_WS}*+<(/?)({_NAME})({_FAST_ATTRIBUTES}){_WS}*+(/?)>)")
_FAST_PAIR = re.compile(' ([^ =<>"\t\n\r]+) *= *"([^"]*)"')


def _reference(text: str, pos: int) -> tuple[str, int]:
    """Resolve the reference at ``text[pos]`` (an ``&``); return its text and the index after it."""
    match = _REFERENCE.match(text, pos)
    if match is None:
        raise XmlError("undefined entity or malformed reference", pos)
    name, decimal, hexadecimal = match.groups()
    if name is not None:
        return _PREDEFINED[name], match.end()
    code = int(decimal, 10) if decimal is not None else int(hexadecimal, 16)
    # XML 1.0 §4.1 WFC Legal Character: a reference must name a Char.
    if not (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    ):
        raise XmlError("reference to a character that is not allowed", pos)
    return chr(code), match.end()


def _normalize(raw: str) -> str:
    # XML 1.0 §2.11 then §3.3.3: CR LF becomes LF, then each raw tab, CR or LF a space.
    if "\r" in raw:
        raw = raw.replace("\r\n", " ")
    return raw.translate(_VALUE_WHITESPACE)


def _value(text: str, start: int, end: int) -> str:
    """The attribute value ``text[start:end]`` with references resolved and whitespace normalized."""
    parts: list[str] = []
    pos = start
    while True:
        amp = text.find("&", pos, end)
        if amp < 0:
            parts.append(_normalize(text[pos:end]))
            return "".join(parts)
        parts.append(_normalize(text[pos:amp]))
        char, pos = _reference(text, amp)
        parts.append(char)


def _attributes(text: str, match: re.Match[str]) -> dict[str, str]:
    """The attributes of the start tag ``match``: values first (in order), then duplicates."""
    raw = match.group(2)
    pairs: list[tuple[str, str]]
    if "&" in raw or "\t" in raw or "\n" in raw or "\r" in raw:
        pairs = [
            (m.group(1), _value(text, m.start(2) if m.group(2) is not None else m.start(3), m.end() - 1))
            for m in _ATTRIBUTE.finditer(text, match.start(2), match.end(2))
        ]
    else:
        pairs = [(name, double or single) for name, double, single in _ATTRIBUTE.findall(raw)]
    attributes = dict(pairs)
    if len(attributes) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise XmlError(f"duplicate attribute {name!r}", match.start())
            seen.add(name)
    return attributes


def _check_text(text: str, start: int, end: int) -> None:
    """Check character data inside the root: valid references, no ``]]>`` (XML 1.0 §2.4).

    The first problem in the text is reported; a reference never contains ``]``, so every
    reference that starts before the first ``]]>`` also ends before it.
    """
    cdata_end = text.find("]]>", start, end)
    limit = end if cdata_end < 0 else cdata_end
    amp = text.find("&", start, limit)
    while amp >= 0:
        _, after = _reference(text, amp)
        amp = text.find("&", after, limit)
    if cdata_end >= 0:
        raise XmlError("']]>' is not allowed in text", cdata_end)


def _markup(text: str, lt: int) -> int:
    """Skip the comment at ``text[lt]`` (``<!``); return the index after it, or raise."""
    if text.startswith("<!--", lt):
        close = text.find("-->", lt + 4)
        # XML 1.0 §2.5: "--" may not occur inside a comment, nor may it end with "-".
        if close < 0 or text.find("--", lt + 4, close) >= 0 or (close > lt + 4 and text[close - 1] == "-"):
            raise XmlError("malformed comment", lt)
        return close + 3
    if text.startswith("<!DOCTYPE", lt):
        raise XmlError("DOCTYPE is not allowed", lt)
    if text.startswith("<![CDATA[", lt):
        raise XmlError("CDATA section is not allowed", lt)
    raise XmlError("malformed markup", lt)


def _parse_fast(text: str) -> Element | None:
    """The tree of a document in the fast-path form, or None to leave it to :func:`_parse_text`."""
    tags = _FAST_TAG.findall(text)
    if sum([len(tag[0]) for tag in tags]) != len(text.rstrip(" \t\r\n")):
        return None  # something between the tags, before or after them
    pairs = _FAST_PAIR.findall(text)
    used = 0
    root: Element | None = None
    stack: list[Element] = []
    for _, slash, name, attributes, self_closing in tags:
        if slash:
            if attributes or self_closing or not stack or stack[-1][0] != name:
                return None
            stack.pop()
            continue
        if len(stack) >= MAX_DEPTH:
            return None
        if attributes:
            count = attributes.count('"') >> 1
            values = dict(pairs[used : used + count])
            used += count
            if len(values) != count:
                return None  # a duplicate
        else:
            values = {}
        element: Element = (name, values, [])
        if stack:
            stack[-1][2].append(element)
        elif root is None:
            root = element
        else:
            return None  # a second root
        if not self_closing:
            stack.append(element)
    return None if stack else root


def _parse_text(text: str) -> Element:
    """Parse a decoded document; error offsets are character indexes into ``text``."""
    pos = 1 if text.startswith("\ufeff") else 0
    if is_declaration_start(text, pos):
        pos = check_declaration(text, pos)
    where = _PROLOG
    root: Element | None = None
    stack: list[Element] = []
    size = len(text)
    while True:
        lt = text.find("<", pos)
        end = size if lt < 0 else lt
        if pos < end:
            if where == _CONTENT:
                if "&" in text[pos:end] or "]" in text[pos:end]:
                    _check_text(text, pos, end)
            else:
                bad = _NOT_WHITESPACE.search(text, pos, end)
                if bad is not None:
                    raise XmlError("text outside the root element", bad.start())
        if lt < 0:
            break
        following = text[lt + 1 : lt + 2]
        if following == "!":
            pos = _markup(text, lt)
        elif following == "?":
            raise XmlError("processing instruction is not allowed", lt)
        elif where == _EPILOG:
            raise XmlError("markup after the root element", lt)
        elif following == "/":
            if where == _PROLOG:
                raise XmlError("end tag without start tag", lt)
            match = _END_TAG.match(text, lt)
            if match is None:
                raise XmlError("malformed end tag", lt)
            name = match.group(1)
            open_name = stack[-1][0]
            if name != open_name:
                raise XmlError(f"end tag {name!r} does not match start tag {open_name!r}", lt)
            stack.pop()
            if not stack:
                where = _EPILOG
            pos = match.end()
        else:
            match = _START_TAG.match(text, lt)
            if match is None:
                raise XmlError("malformed start tag", lt)
            if len(stack) >= MAX_DEPTH:
                raise XmlError(f"nesting deeper than {MAX_DEPTH} elements", lt)
            element: Element = (match.group(1), _attributes(text, match), [])
            if stack:
                stack[-1][2].append(element)
            else:
                root = element
            if match.group(3):
                if not stack:
                    where = _EPILOG
            else:
                stack.append(element)
                where = _CONTENT
            pos = match.end()
    if stack:
        raise XmlError(f"element {stack[-1][0]!r} is not closed", size)
    if root is None:
        raise XmlError("no root element", size)
    return root


def parse(data: Buffer) -> Element:
    """Parse one Hermes XML document.

    Args:
        data: the whole document, UTF-8, at most :data:`MAX_DOCUMENT_SIZE` bytes.

    Returns:
        The root element as ``(tag, attributes, children)``.

    Raises:
        XmlError: the document is not well-formed, uses a refused construct or breaks a limit;
            ``offset`` is the byte offset of the problem.
    """
    raw = bytes(data)
    if len(raw) > MAX_DOCUMENT_SIZE:
        raise XmlError(f"document is {len(raw)} bytes, more than the {MAX_DOCUMENT_SIZE} allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlError("invalid UTF-8", exc.start) from None
    try:
        # Cheap byte-level tests first; the regex finds the exact position only when needed.
        bad = None
        if raw.translate(None, _LEGAL_BYTES) or b"\xef\xbf\xbe" in raw or b"\xef\xbf\xbf" in raw:
            bad = _ILLEGAL_CHAR.search(text)
        if bad is not None:
            raise XmlError(f"character U+{ord(bad.group()):04X} is not allowed", bad.start())
        return _parse_fast(text) or _parse_text(text)
    except XmlError as exc:
        if len(text) == len(raw) or exc.offset is None:
            raise
        # Offsets so far are character indexes; report the byte offset, as the compiled twin does.
        raise XmlError(exc.reason, len(text[: exc.offset].encode("utf-8"))) from None


__all__ = ["MAX_DEPTH", "MAX_DOCUMENT_SIZE", "Element", "XmlError", "parse"]
