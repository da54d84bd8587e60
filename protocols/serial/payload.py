"""The ASCII payload of a serial command protocol: ``TAG`` or ``TAG:KEY=VALUE;KEY=VALUE``.

The syntax of ``simulators/coater.md`` §3, shared by the serial adapter and the coater
simulator. The tag comes before the first ``:``; fields are separated by ``;`` and a key from its
value by the first ``=``. Values never contain ``;``, ``=`` or ``:``: :func:`encode_payload`
refuses them, and a sender that passes on free text (an alarm text, an error message) makes it
safe first with :func:`clean_text`, which replaces them as the coater's manual says (``,``,
``-``, ``-``).
"""

from __future__ import annotations

from collections.abc import Mapping

from protocols.errors import RemoteProtocolError

# coater.md §3: the separators, and what a sender puts in their place in free text. STX and ETX
# (coater.md §2) would break the frame itself; they become spaces.
SEPARATORS = ";=:"
_CLEAN = str.maketrans({";": ",", "=": "-", ":": "-", "\x02": " ", "\x03": " "})


def encode_payload(tag: str, fields: Mapping[str, object] | None = None) -> bytes:
    """``TAG`` or ``TAG:K=V;K=V`` as ASCII, fields in their order.

    Raises:
        ValueError: a key or value contains a separator (``;``, ``=``, ``:``) or is not ASCII.
    """
    if not fields:
        return tag.encode("ascii")
    for key, value in fields.items():
        if any(sep in f"{key}{value}" for sep in SEPARATORS):
            raise ValueError(f"{key}={value!r}: values may not contain ';', '=' or ':'")
    return f"{tag}:{';'.join(f'{k}={v}' for k, v in fields.items())}".encode("ascii")


def decode_payload(payload: bytes) -> tuple[str, dict[str, str]]:
    """Split ``TAG:K=V;K=V`` into the tag and its fields (empty fields between ``;;`` are skipped).

    Raises:
        RemoteProtocolError: not ASCII, or a field without ``=``.
    """
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"frame is not ASCII: {payload!r}") from exc
    tag, _, body = text.partition(":")
    fields: dict[str, str] = {}
    for item in filter(None, body.split(";")):
        key, sep, value = item.partition("=")
        if not sep:
            raise RemoteProtocolError(f"field {item!r} of {tag} has no '='")
        fields[key] = value
    return tag, fields


def clean_text(value: object) -> str:
    """``value`` as text that :func:`encode_payload` accepts: separators replaced (coater.md §3),
    STX and ETX as spaces, anything not ASCII as ``?``."""
    return str(value).translate(_CLEAN).encode("ascii", errors="replace").decode("ascii")


__all__ = ["SEPARATORS", "clean_text", "decode_payload", "encode_payload"]
