"""What both Hermes XML parsers share: the error class, the limits and the declaration check.

The compiled parser (``native._hermes_xml``) and its pure-Python twin
(``native.hermes_xml_pure``) import this tiny module, so they raise the very same class, apply
the same limits and accept the same XML declarations, whichever implementation is loaded.
"""

from __future__ import annotations

import re

#: IPC-HERMES-9852 §3.1 (lib_cpp ``cMAX_MESSAGE_SIZE``): no message may be longer than this.
MAX_DOCUMENT_SIZE = 65536

#: Deepest element nesting accepted. The standard's deepest message is 4 levels
#: (Hermes > SetConfiguration > UpstreamConfigurations > UpstreamConfiguration); four times that
#: leaves room for vendor extensions (which we ignore) while bounding the parser's stack and the
#: tree a hostile peer can make us build.
MAX_DEPTH = 16


class XmlError(ValueError):
    """The input is not a well-formed document of the Hermes XML subset, or breaks a limit.

    Args:
        reason: what is wrong, without position.
        offset: the byte offset in the input where the problem was found, if there is one.

    Attributes:
        reason: as given.
        offset: as given.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason if offset is None else f"{reason} (at byte {offset})")

    def __reduce__(self) -> tuple[type[XmlError], tuple[str, int | None]]:
        return (XmlError, (self.reason, self.offset))


_WS = "[ \t\r\n]"
_ENC = "[A-Za-z][A-Za-z0-9._-]*"
# XML 1.0 §2.8 XMLDecl, restricted to version 1.x, with the quotes matched pairwise.
_DECLARATION = re.compile(
    rf"<\?xml{_WS}+version{_WS}*={_WS}*(?:\"1\.[0-9]+\"|'1\.[0-9]+')"
    rf"(?:{_WS}+encoding{_WS}*={_WS}*(?:\"({_ENC})\"|'({_ENC})'))?"
    rf"(?:{_WS}+standalone{_WS}*={_WS}*(?:\"(?:yes|no)\"|'(?:yes|no)'))?{_WS}*\?>"
)


def is_declaration_start(text: str, pos: int) -> bool:
    """True if an XML declaration (not some other ``<?xml-...`` instruction) starts at ``pos``."""
    return text.startswith("<?xml", pos) and (len(text) == pos + 5 or text[pos + 5] in " \t\r\n?")


def check_declaration(text: str, pos: int) -> int:
    """Check the XML declaration that starts at ``text[pos]``; return the index just after it.

    Raises:
        XmlError: the declaration is malformed, or names an encoding other than UTF-8 (the only
            one Hermes uses, reference §1). Its offset is ``pos``, which callers keep in bytes.
    """
    match = _DECLARATION.match(text, pos)
    if match is None:
        raise XmlError("malformed XML declaration", pos)
    encoding = match.group(1) or match.group(2)
    if encoding is not None and encoding.lower() != "utf-8":
        raise XmlError(f"encoding {encoding!r} is not supported (UTF-8 only)", pos)
    return match.end()


__all__ = ["MAX_DEPTH", "MAX_DOCUMENT_SIZE", "XmlError", "check_declaration", "is_declaration_start"]
