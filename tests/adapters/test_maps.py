"""Declarative maps: the shipped maps say what the manuals say, and every map error names its key path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from adapters.maps import (
    ModbusMap,
    OpcUaMap,
    SerialMap,
    StateTable,
    builtin_map,
    load_map,
    parse_map,
)
from adapters.observations import Severity
from protocols.errors import ConfigError
from protocols.modbus import DataType, Table, WordOrder

MAPS = Path(__file__).resolve().parents[2] / "adapters" / "maps"


def oven_toml() -> dict[str, Any]:
    return tomllib.loads((MAPS / "reflow_oven.toml").read_text(encoding="utf-8"))


def test_reflow_oven_map_follows_the_manual() -> None:
    """Registers, word orders, state codes, alarm bits and the load sequence of reflow_oven.md."""
    oven = builtin_map("reflow_oven")
    assert isinstance(oven, ModbusMap)
    o2 = oven.point("o2")
    assert (o2.table, o2.address, o2.data_type, o2.word_order) == (
        Table.INPUT_REGISTERS,
        6,
        DataType.FLOAT32,
        WordOrder.LITTLE,
    )
    alarms = oven.point("alarms")
    assert (alarms.address, alarms.data_type, alarms.word_order) == (1, DataType.UINT32, WordOrder.BIG)
    assert oven.point("zone8_bottom_actual").address == 35
    assert oven.point("zone8_bottom_setpoint").address == 25
    assert [oven.state.translate(code) for code in range(1, 7)] == [4500, 2202, 1100, 2201, 5000, 4500]
    assert oven.faults is not None and oven.faults.bits[7].code == "OV-ESTOP"
    assert oven.faults.bits[7].severity is Severity.ALARM
    assert oven.recipes is not None and oven.recipes.numbers == {
        "SAC305-STD": 1,
        "SAC305-HEAVY": 2,
        "SNPB-LOWTEMP": 3,
    }
    assert [step.kind for step in oven.recipes.steps] == ["write", "wait", "wait"]
    assert oven.recipes.steps[1].refused["4"].startswith("refused by the oven")
    assert oven.process is not None and len(oven.process.zones) == 8


def test_selective_solder_and_coater_maps() -> None:
    """The OPC UA and serial maps name the manual's nodes, events, fields and commands."""
    solder = builtin_map("selective_solder")
    assert isinstance(solder, OpcUaMap)
    assert solder.namespace == "urn:linegate:simulators:selective-solder"
    assert solder.nodes["state_code"] == "SelectiveSolder.StateCode"
    assert solder.faults is not None and solder.faults.level(900) is Severity.ALARM
    assert solder.faults.level(400) is Severity.WARNING and solder.faults.level(699) is Severity.WARNING
    assert solder.state.translate(2202) == 2202  # no table: the value is the E10 code
    coater = builtin_map("coater")
    assert isinstance(coater, SerialMap)
    assert coater.events["BD"].measurements["thickness_um"] == "THK"
    assert coater.severities["Alarm"] is Severity.ALARM
    assert coater.resend_codes == {2} and coater.refused_codes == {4, 5}


def test_state_table_translates_known_values_only() -> None:
    """A table maps listed values; with no table the value must itself be a code."""
    table = StateTable({"1": 4500})
    assert table.translate(1) == 4500 and table.translate(9) is None
    assert StateTable().translate("Soldering") is None


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (lambda m: m["points"]["state"].update(tipe="uint16"), "points.state.tipe", "unknown key"),
        (lambda m: m["state"]["codes"].update({"7": 12}), "state.codes.7", "SEMI E10"),
        (lambda m: m["faults"].update(point="nope"), "faults.point", "names no point"),
        (
            lambda m: m["faults"]["bits"]["0"].update(severity="fatal"),
            "faults.bits.0.severity",
            "must be one of",
        ),
        (
            lambda m: m["recipes"]["activate"][1].update(wait="nope"),
            "recipes.activate[1].wait",
            "names no point",
        ),
        (
            lambda m: m["recipes"]["activate"][0]["write"].update(command="x"),
            "recipes.activate[0].write.command",
            "",
        ),
        (lambda m: m["recipes"]["activate"][2].update(write={}), "recipes.activate[2]", "exactly one"),
        (lambda m: m["modbus"].update(poll_interval=0), "modbus.poll_interval", "greater than 0"),
        (
            lambda m: m["modbus"]["groups"]["fast"]["points"].append("nope"),
            "modbus.groups.fast.points[6]",
            "",
        ),
        (lambda m: m["readings"].update(nope="°C"), "readings.nope", "names no point"),
        (lambda m: m["process"].update(kind="coating"), "process.kind", "reflow"),
        (lambda m: m.update(extra={}), "extra", "unknown key"),
        (lambda m: m["machine"].update(protocol="profinet"), "machine.protocol", "must be one of"),
        (lambda m: m["modbus"].update(unit="1"), "modbus.unit", "must be an integer"),
    ],
)
def test_map_errors_name_the_file_and_key_path(edit: Any, key: str, problem: str) -> None:
    """Every mistake is a ConfigError with the file and the dotted key path of the culprit."""
    data = oven_toml()
    edit(data)
    with pytest.raises(ConfigError) as err:
        parse_map(data, path="oven.toml")
    assert (err.value.path, err.value.key) == ("oven.toml", key)
    assert problem in err.value.problem


def test_load_map_reads_files_and_reports_bad_ones(tmp_path: Path) -> None:
    """A map file loads; a missing file, bad TOML or an unknown built-in name are ConfigErrors."""
    good = tmp_path / "oven.toml"
    good.write_text((MAPS / "reflow_oven.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert isinstance(load_map(good), ModbusMap)
    with pytest.raises(ConfigError, match="cannot read"):
        load_map(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[machine\nprotocol = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_map(broken)
    assert err.value.path == str(broken)
    with pytest.raises(ConfigError, match="no built-in map"):
        builtin_map("placement")


def test_opcua_and_serial_map_errors() -> None:
    """Key paths in the OPC UA and serial maps too."""
    solder = tomllib.loads((MAPS / "selective_solder.toml").read_text(encoding="utf-8"))
    solder["recipes"]["active"] = "nope"
    with pytest.raises(ConfigError, match="names no node") as err:
        parse_map(solder, path="s.toml")
    assert err.value.key == "recipes.active"
    coater = tomllib.loads((MAPS / "coater.toml").read_text(encoding="utf-8"))
    coater["events"]["BS"]["kind"] = "board_flew"
    with pytest.raises(ConfigError) as err:
        parse_map(coater, path="c.toml")
    assert err.value.key == "events.BS.kind"
    coater["events"]["BS"]["kind"] = "work_started"
    coater["events"]["BS"]["bored_id"] = "ID"  # a typo must not silently drop the board id
    with pytest.raises(ConfigError, match="unknown key") as err:
        parse_map(coater, path="c.toml")
    assert err.value.key == "events.BS.bored_id"
    del coater["status"]
    with pytest.raises(ConfigError, match="is required"):
        parse_map(coater)


def test_fault_code_tables_add_descriptions_and_causes() -> None:
    """A [faults.codes] table is keyed by the machine's code and gives text, level and CFX cause."""
    solder = tomllib.loads((MAPS / "selective_solder.toml").read_text(encoding="utf-8"))
    solder["faults"]["codes"] = {"SS-PUMP": {"description": "solder pump", "cause": "MechanicalFailure"}}
    parsed = parse_map(solder)
    assert isinstance(parsed, OpcUaMap) and parsed.faults is not None
    entry = parsed.faults.codes["SS-PUMP"]
    assert (entry.code, entry.description, entry.cause, entry.severity) == (
        "SS-PUMP",
        "solder pump",
        "MechanicalFailure",
        Severity.ERROR,
    )
    solder["faults"]["codes"]["SS-PUMP"]["colour"] = "red"
    with pytest.raises(ConfigError) as err:
        parse_map(solder, path="s.toml")
    assert err.value.key == "faults.codes.SS-PUMP.colour"
