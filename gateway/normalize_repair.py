"""Defects reviewed at the repair station → CFX ``UnitsRepaired``, as the SDK writes it (CFX 2.1).

An AOI or X-ray flags defects it cannot judge for certain; an operator at the repair station then
confirms each one (a real defect) or clears it as a false call, and the station writes the board's
result again with those verdicts. :class:`ReviewTracker` remembers, per board, the defects a
machine published still unverified (with the UniqueIdentifier each got in ``UnitsInspected``);
when a later result of the same board gives a verdict for one of them, it adds a
``UnitsRepaired``: per panel position a ``RepairedUnit`` with one ``Repair`` per reviewed defect,
naming the defect it settles (``RelatedDefectIdentifiers``) and the defect reclassified
(``ReclassifiedDefects``: ``DefectRejected`` for a false call, ``DefectConfirmed`` for a real
one). The re-inspection itself is still published as ``UnitsInspected``.

Bounded (``capacity`` boards with open defects per machine). Pure: no I/O and no clock.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

from adapters import observations as obs
from gateway.normalize_inspection import cfx_defect
from protocols.cfx.messages.enums import ActorType, RepairResult, VerificationResult
from protocols.cfx.messages.production_rework_and_repair import UnitsRepaired
from protocols.cfx.messages.production_test_and_inspection import UnitsInspected
from protocols.cfx.messages.structures import ComponentDesignator, Defect, Operator, Repair, RepairedUnit

# (panel position, reference designator, defect code): one flagged defect of a board
_Key = tuple[int, str | None, str | None]
_NAMES = {obs.Verification.FALSE_CALL: "false call cleared", obs.Verification.CONFIRMED: "defect confirmed"}


def _opened(message: UnitsInspected) -> dict[_Key, str]:
    """The unverified defects of a published UnitsInspected, with their UniqueIdentifiers."""
    found: dict[_Key, str] = {}
    for unit in message.inspected_units or ():
        for inspection in unit.inspections or ():
            for d in inspection.defects_found or ():
                if d.verification is VerificationResult.NOT_VERIFIED_YET and d.unique_identifier:
                    refdes = getattr(d.component_of_interest, "reference_designator", None)
                    found[(unit.unit_position_number or 1, refdes, d.defect_code)] = d.unique_identifier
    return found


class ReviewTracker:
    """One machine's boards with defects awaiting review (see the module docstring).

    Args:
        capacity: boards remembered; the oldest are forgotten first.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._open: OrderedDict[str, dict[_Key, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def after(
        self, o: obs.InspectionResult, published: UnitsInspected, transaction_id: uuid.UUID | None
    ) -> UnitsRepaired | None:
        """Note what ``published`` (the UnitsInspected of ``o``) left open; return the
        UnitsRepaired for what ``o`` settles of an earlier result, if anything."""
        board = o.barcode or o.board_id
        if board is None:
            return None
        waiting = self._open.pop(board, {})
        units: list[RepairedUnit] = []
        for p in o.positions:
            repairs = [
                self._repair(o, d, waiting.pop(key))
                for d in p.defects
                if d.verification is not obs.Verification.UNVERIFIED
                and (key := (p.position, d.refdes, d.code)) in waiting
            ]
            if repairs:
                units.append(
                    RepairedUnit(
                        unit_identifier=p.barcode or o.barcode or o.board_id,
                        unit_position_number=p.position,
                        overall_result=RepairResult.REPAIR_SUCCESSFUL,
                        repairs=repairs,
                    )
                )
        waiting.update(_opened(published))
        if waiting:
            self._open[board] = waiting
            while len(self._open) > self.capacity:
                self._open.popitem(last=False)
        if not units:
            return None
        operator = Operator()
        if o.inspector:
            operator = Operator(operator_identifier=o.inspector, actor_type=ActorType.HUMAN)
        return UnitsRepaired(
            transaction_id=transaction_id or uuid.UUID(int=0), repair_operator=operator, repaired_units=units
        )

    @staticmethod
    def _repair(o: obs.InspectionResult, d: obs.FoundDefect, defect_id: str) -> Repair:
        reclassified: Defect = cfx_defect(d)
        return Repair(
            unique_identifier=str(uuid.uuid4()),
            repair_name=_NAMES[d.verification],
            repair_start_time=o.started,
            repair_end_time=o.ended,
            component_of_interest=ComponentDesignator(reference_designator=d.refdes) if d.refdes else None,
            related_defect_identifiers=[defect_id],
            reclassified_defects=[reclassified],
            result=RepairResult.REPAIR_SUCCESSFUL,
        )


__all__ = ["ReviewTracker"]
