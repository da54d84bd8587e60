"""Result-file maps and files for the tests, written by hand to the shape docs/files.md describes."""

from __future__ import annotations

from protocols.files import FileFormat, ResultMap

AOI_MAP = ResultMap(
    format=FileFormat.XML,
    method="AOI",
    board="Board",
    unit="Panel",
    defect="Defect",
    measurement="Measurement",
    board_fields={"barcode": "@barcode", "result": "@result", "recipe": "/@program", "start": "@start"},
    unit_fields={"position": "@position", "barcode": "@barcode", "result": "@result"},
    defect_fields={"code": "@code", "refdes": "@ref", "verdict": "@review", "description": "Text"},
    measurement_fields={"name": "@name", "value": "@value", "unit": "@unit", "low": "@min", "high": "@max"},
)

AOI_FILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<Inspection program="PROD-A" station="AOI-1">
  <Board barcode="PCB0001" result="FAIL" start="2026-05-04T07:01:12+02:00">
    <Panel position="1" barcode="PCB0001-1" result="PASS"/>
    <Panel position="2" barcode="PCB0001-2" result="FAIL">
      <Defect code="MISSING" ref="C12" review="REAL"><Text>component missing &amp; pad bare</Text></Defect>
      <Defect code="SHIFT" ref="R3" review="FALSECALL"/>
      <Measurement name="R3.offset_x" value="0.12" unit="mm" min="-0.1" max="0.1"/>
    </Panel>
  </Board>
  <Board barcode="PCB0002" result="PASS"/>
</Inspection>
"""

XRAY_MAP = ResultMap(
    format=FileFormat.CSV,
    method="AXI",
    board_fields={"barcode": "Barcode", "result": "BoardResult", "recipe": "Program"},
    unit_fields={"position": "Position", "result": "UnitResult"},
    defect_fields={"code": "Defect", "refdes": "RefDes", "verdict": "Review"},
    measurement_fields={"name": "Measure", "value": "Value", "low": "Min", "high": "Max"},
)

XRAY_FILE = (
    b"Barcode,Program,BoardResult,Position,UnitResult,RefDes,Defect,Review,Measure,Value,Min,Max\n"
    b"PCB0001,PROD-A,FAIL,1,FAIL,U1,VOID,REAL,U1.void_pct,31.5,0,25\n"
    b'PCB0001,PROD-A,FAIL,2,PASS,U1,,,"U1.void,pct",12.0,0,25\n'
    b"PCB0002,PROD-A,PASS,1,PASS,,,,,,,\n"
)
