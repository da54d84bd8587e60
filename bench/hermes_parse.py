"""Hermes XML parsing rate: the Cython parser, its pure-Python twin and lxml, on the same messages.

Three realistic messages, as a lane carries them: a BoardAvailable with every attribute and four
sub-boards, a ServiceDescription announcing all features, and a plain CheckAlive. Two levels are
measured, both with the same output for all three parsers:

- tree: bytes -> ``(tag, attributes, children)`` tree. For lxml that is ``etree.fromstring`` with
  a hardened parser (no entities, no network, no DTD) plus the walk that builds the same tuples;
  the walk is part of what lxml needs to give what our parsers give.
- message: bytes -> message object (``protocols.hermes.codec.message_from_tree`` on each tree).

Rates are messages per second over the mix; ratios are against lxml measured in the same run.
The parsers take turns in short rounds and each keeps its best round, so a burst of load on a
shared machine does not land on one parser only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from native import _hermes_xml, hermes_xml_pure
from native.hermes_xml_pure import Element
from protocols.hermes import messages as m
from protocols.hermes.codec import encode, message_from_tree

_LXML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _lxml_tree(data: bytes) -> Element:
    def walk(element: Any) -> Element:
        children = [walk(child) for child in element if isinstance(child.tag, str)]
        return (element.tag, dict(element.attrib), children)

    return walk(etree.fromstring(data, _LXML_PARSER))


def _messages() -> list[bytes]:
    stamp = datetime(2024, 5, 14, 8, 15, 2, 117000)
    board = m.BoardAvailable(
        board_id="6f1c2a4e-3b7d-4c1e-9a0b-2d5e8f7a1c3b",
        board_id_created_by="LINE1-PRINTER-01",
        failed_board=m.BoardQuality.GOOD,
        flipped_board=m.FlippedBoard.TOP_SIDE_IS_UP,
        product_type_id="PCB-4711-REV-C",
        top_barcode="TB0000123456",
        bottom_barcode="BB0000123456",
        length=160.0,
        width=100.0,
        thickness=1.6,
        conveyor_speed=250.0,
        top_clearance_height=25.0,
        bottom_clearance_height=5.0,
        weight=85.5,
        work_order_id="WO-2024-0815",
        batch_id="BATCH-17",
        route=1,
        action=1,
        sub_boards=tuple(m.SubBoard(pos, m.SubBoardState.GOOD, f"SB{pos:04d}") for pos in range(1, 5)),
    )
    service = m.ServiceDescription("LINE1-AOI-02", 1, "1.6", m.SupportedFeatures.all(), "LANE-1")
    return [encode(message, timestamp=stamp) for message in (board, service, m.CheckAlive())]


def _to_message(parse: Callable[[bytes], Element]) -> Callable[[bytes], object]:
    def decode(data: bytes) -> object:
        return message_from_tree(parse(data))

    return decode


def _rate(fn: Callable[[bytes], object], documents: list[bytes], min_seconds: float) -> float:
    """Messages per second of ``fn`` over ``documents``, repeated until ``min_seconds`` have passed."""
    done = 0
    start = time.perf_counter()
    while True:
        for _ in range(100):
            for document in documents:
                fn(document)
        done += 100 * len(documents)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def _best_rates(fns: dict[str, Callable[[bytes], object]], documents: list[bytes]) -> dict[str, float]:
    best = dict.fromkeys(fns, 0.0)
    for _ in range(6):
        for name, fn in fns.items():
            best[name] = max(best[name], _rate(fn, documents, 0.25))
    return best


def main() -> None:
    documents = _messages()
    parsers: dict[str, Callable[[bytes], Element]] = {
        "cython": _hermes_xml.parse,
        "pure twin": hermes_xml_pure.parse,
        "lxml": _lxml_tree,
    }
    for parse in parsers.values():
        assert all(parse(d) == _lxml_tree(d) for d in documents)
    sizes = ", ".join(str(len(d)) for d in documents)
    print(f"Hermes parse rate over a mix of 3 messages ({sizes} bytes), messages/s")
    print(f"{'level':<9}{'parser':<11}{'msgs/s':>12}{'vs lxml':>10}")
    for level in ("tree", "message"):
        fns = {name: parse if level == "tree" else _to_message(parse) for name, parse in parsers.items()}
        rates = _best_rates(fns, documents)
        for name, rate in rates.items():
            print(f"{level:<9}{name:<11}{rate:>12,.0f}{rate / rates['lxml']:>9.2f}x")


if __name__ == "__main__":
    main()
