"""What a CFX event says, in a few words: the facts a person scanning a list of events needs.

Shared by ``linegate events tail``, the console sink (``linegate demo``, ``run --console``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def event_facts(name: str, body: Mapping[str, Any]) -> list[str]:
    """The facts of one event beside its name: the state change, the fault with its code, the
    recipe, the board by barcode (its Hermes BoardId only when it has none), the zone count."""
    facts: list[str] = []
    fault = body.get("Fault") or {}
    if name.endswith("StationStateChanged"):
        facts.append(f"{body.get('OldState')} -> {body.get('NewState')}")
    elif fault:
        facts.append(
            f"{fault.get('FaultCode')} {fault.get('Severity')}: {fault.get('Description') or ''}".rstrip(": ")
        )
    elif name.endswith(("FaultCleared", "FaultAcknowledged")):
        facts.append(f"occurrence {body.get('FaultOccurrenceId')}")
    elif "RecipeName" in body and body.get("RecipeName"):
        revision = f" rev {body['Revision']}" if body.get("Revision") else ""
        facts.append(f"recipe {body['RecipeName']}{revision}")
    # Operators know a board by its barcode; the Hermes BoardId only when there is none.
    barcode, board = body.get("PrimaryIdentifier"), body.get("HermesIdentifier")
    if barcode:
        facts.append(f"barcode {barcode}")
    elif board:
        facts.append(f"board {board}")
    data = body.get("CommonProcessData") or {}
    if isinstance(data, Mapping) and data.get("ZoneData"):
        facts.append(f"{sum(1 for z in data['ZoneData'] if z.get('Setpoints'))} zones")
    return facts


__all__ = ["event_facts"]
