"""Hermes XML parser: the compiled module when built, else the pure twin (``LINEGATE_PURE_PYTHON=1``).

See :mod:`native.hermes_xml_pure` for the subset of XML accepted and the tree returned.
"""

from __future__ import annotations

from collections.abc import Callable

from native._select import load
from native.hermes_xml_pure import Buffer, Element
from native.xml_errors import MAX_DEPTH, MAX_DOCUMENT_SIZE, XmlError

_impl = load("_hermes_xml", "hermes_xml_pure")

parse: Callable[[Buffer], Element] = _impl.parse
IMPLEMENTATION: str = "cython" if _impl.__name__.endswith("._hermes_xml") else "python"

__all__ = ["IMPLEMENTATION", "MAX_DEPTH", "MAX_DOCUMENT_SIZE", "Element", "XmlError", "parse"]
