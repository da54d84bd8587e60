"""Compact what ``schema_dump.exe`` prints into ``sdk_contracts.json``, the generator's input.

Keeps the members the generator reads and leaves out empty settings (``generate.py --from-dump``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def compact(dump: Path, out: Path) -> None:
    """Write the generator's input from a full ``schema_dump`` output."""
    data = json.loads(dump.read_text())
    kept = ("name", "type", "converter", "item_converter", "type_name_handling", "item_type_name_handling")
    kept += ("default_value_handling", "should_serialize", "field")

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None and v is not False}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    for info in data["types"].values():
        if info["kind"] != "class":
            continue
        members = []
        for member in info.get("members", []):
            entry = {k: member.get(k) for k in kept}
            entry["readonly"] = not member.get("writable", True)
            entry["writeonly"] = not member.get("readable", True)
            members.append(strip(entry))
        info["members"] = members
        for key in ("public", "member_serialization"):
            info.pop(key, None)
    out.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True))
