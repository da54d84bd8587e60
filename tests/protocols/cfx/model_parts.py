"""Building blocks of the CFX model cases: structures, with the text the CFX SDK writes for each.

Written by hand from cfx.md §1-§3 (and the SDK's member lists), not produced by the codec;
``model_cases.py`` puts them together into whole messages.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from protocols.cfx import (
    AccessType,
    ActorType,
    CoatingMeasurement,
    CoatingMeasurementType,
    FaultCause,
    FaultSeverity,
    MaterialLocation,
    MaterialPackage,
    Operator,
    Recipe,
    ReflowProcessData,
    ReflowReading,
    ReflowReadingType,
    ReflowSetPoint,
    ReflowSetpointType,
    ReflowSubZoneType,
    ReflowZone,
    ReflowZoneData,
    ReflowZoneType,
    SMDTapeFeeder,
    Stage,
    StageType,
    TestResult,
    UnitPosition,
    WorkOrderIdentifier,
    ZoneData,
)
from tests.protocols.cfx.helpers import CEST, GUID_A

OK = '"Result":{"Result":"Success","ResultCode":0,"Message":null}'
T_FAULT = datetime(2026, 5, 4, 7, 19, 44, tzinfo=CEST)
OPERATOR = Operator(
    operator_identifier="BADGE-0231",
    actor_type=ActorType.HUMAN,
    last_name="Keller",
    first_name="Mara",
    login_name="mkeller",
)
OPERATOR_JSON = (
    '{"OperatorIdentifier":"BADGE-0231","ActorType":"Human","LastName":"Keller",'
    '"FirstName":"Mara","LoginName":"mkeller"}'
)
STAGE = Stage(stage_sequence=2, stage_name="Reflow", stage_type=StageType.WORK)
STAGE_JSON = '{"StageSequence":2,"StageName":"Reflow","StageType":"Work"}'
UNIT = UnitPosition(
    unit_identifier="PCB-0001", position_number=1, position_name="1", x=10.0, y=20.5, rotation=90.0
)
UNIT_JSON = (
    '{"UnitIdentifier":"PCB-0001","PositionNumber":1,"PositionName":"1","X":10.0,"Y":20.5,"Z":null,'
    '"Rotation":90.0,"FlipX":false,"FlipY":false,"Status":"Pass"}'
)
WOI = WorkOrderIdentifier(work_order_id="WO-77", batch="B1")
WOI_JSON = '{"WorkOrderId":"WO-77","Batch":"B1"}'


def fault_kwargs() -> dict[str, Any]:
    """The members of the Fault written in FAULT_MEMBERS."""
    return {
        "transaction_id": None,
        "cause": FaultCause.PROCESS_ERROR,
        "severity": FaultSeverity.ERROR,
        "fault_code": "E-231",
        "fault_occurrence_id": GUID_A,
        "lane": 1,
        "stage": STAGE,
        "access_type": AccessType.LOCAL,
        "description": "Zone 5 over temperature",
        "description_translations": {"de": "Zone 5 \u00dcbertemperatur"},
        "occurred_at": T_FAULT,
    }


FAULT_MEMBERS = (
    '"TransactionID":null,"Cause":"ProcessError","Severity":"Error","FaultCode":"E-231",'
    f'"FaultOccurrenceId":"{GUID_A}","Lane":1,"Stage":{STAGE_JSON},"SideLocation":"Unknown",'
    '"AccessType":"Local","Description":"Zone 5 over temperature",'
    '"DescriptionTranslations":{"de":"Zone 5 \u00dcbertemperatur"},"OccurredAt":"2026-05-04T07:19:44+02:00",'
    '"DueDateTime":null'
)
FAULT_JSON = "{" + FAULT_MEMBERS + "}"
RECIPE = Recipe(
    name="BOARD-A",
    revision="3",
    expected_cycle_time=42000.0,
    expected_units_per_work_transaction=1.0,
    mime_type="application/octet-stream",
    recipe_data=b"\x00\x01zone",
)
RECIPE_JSON = (
    '{"Name":"BOARD-A","Revision":"3","ExpectedCycleTime":42000.0,"ExpectedWorkTime":null,'
    '"ExpectedUnitsPerWorkTransaction":1.0,"UnitLength":null,"UnitWidth":null,"UnitHeight":null,'
    '"MimeType":"application/octet-stream","RecipeData":"AAF6b25l"}'
)
PACKAGE = MaterialPackage(unique_identifier="REEL-9", internal_part_number="R-0402-10K", quantity=5000.0)
PACKAGE_JSON = (
    '{"UniqueIdentifier":"REEL-9","InternalPartNumber":"R-0402-10K","InternalPackageName":null,"Quantity":5000.0,'
    '"LeadingMaterialPackage":null,"BatchId":null,"BatchMaterialPackage":null,"GreyZone":0.0}'
)
FEEDER = SMDTapeFeeder(
    base_unique_identifier="BANK-1",
    base_name="Bank 1",
    lane_number=2,
    tape_width=8.0,
    tape_pitch=4.0,
    unique_identifier="FDR-17",
    name="Feeder 17",
)
# SMDTapeFeeder's own members come before MaterialCarrier's (C# reflection order, cfx.md §3.5).
FEEDER_JSON = (
    '{"$type":"CFX.Structures.SMTPlacement.SMDTapeFeeder, CFX","BaseUniqueIdentifier":"BANK-1",'
    '"BaseName":"Bank 1","LaneNumber":2,"TapeWidth":8.0,"TapePitch":4.0,"UniqueIdentifier":"FDR-17",'
    '"Name":"Feeder 17","ParentCarrier":null}'
)
LOCATION = MaterialLocation(
    location_identifier="SLOT-17",
    location_name="Slot 17",
    material_package=PACKAGE,
    carrier_information=FEEDER,
)
LOCATION_JSON = (
    f'{{"ResourceLocation":null,"LocationIdentifier":"SLOT-17","LocationName":"Slot 17",'
    f'"MaterialPackage":{PACKAGE_JSON},"CarrierInformation":{FEEDER_JSON}}}'
)
ZONE = ReflowZone(reflow_zone_type=ReflowZoneType.REFLOW, stage_sequence=6, stage_name="Zone6")
REFLOW = ReflowProcessData(
    conveyor_speed=80.0,
    conveyor_speed_setpoint=80.5,
    zone_data=[
        ReflowZoneData(
            zone=ZONE,
            setpoints=[
                ReflowSetPoint(
                    sub_zone=ReflowSubZoneType.TOP,
                    setpoint_type=ReflowSetpointType.TEMPERATURE,
                    setpoint=245.0,
                )
            ],
            readings=[
                ReflowReading(
                    sub_zone=ReflowSubZoneType.TOP,
                    reading_type=ReflowReadingType.TEMPERATURE,
                    reading_value=244.7,
                ),
                ReflowReading(
                    sub_zone=ReflowSubZoneType.WHOLE_ZONE,
                    reading_type=ReflowReadingType.O2,
                    reading_value=None,
                ),
            ],
        )
    ],
)
# ReflowZone is declared as such in ReflowZoneData: no $type, ReflowZoneType before the Stage members.
REFLOW_JSON = (
    '{"$type":"CFX.Structures.SolderReflow.ReflowProcessData, CFX",'
    '"ConveyorSpeed":80.0,"ConveyorSpeedSetpoint":80.5,'
    '"ZoneData":[{"Zone":{"ReflowZoneType":"Reflow","StageSequence":6,"StageName":"Zone6","StageType":"Work"},'
    '"Setpoints":[{"SubZone":"Top","SetpointType":"Temperature","Setpoint":245.0}],'
    '"Readings":[{"SubZone":"Top","ReadingType":"Temperature","ReadingValue":244.7},'
    '{"SubZone":"WholeZone","ReadingType":"O2","ReadingValue":null}]}]}'
)
SOLDER_ZONE = ZoneData(
    stage_sequence=1,
    process_time=timedelta(seconds=12, microseconds=500000),
    flux_volume=0.25,
    top_preheater_temp=110.0,
    top_preheater_time=timedelta(seconds=30),
    bath_temp=280.0,
    bath_wave_enabled=True,
)
SOLDER_ZONE_JSON = (
    '{"StageSequence":1,"ProcessTime":"00:00:12.5000000","Bottle1_Pressure":0.0,"Bottle2_Pressure":0.0,'
    '"Flux_Volume":0.25,"Top_Preheater_Power":0.0,"Top_Preheater_Soak":0.0,"Top_Preheater_Temp":110.0,'
    '"Top_Preheater_Time":"00:00:30","Bot_Preheater_Power":0.0,"Bot_Preheater_Soak":0.0,"Bot_Preheater_Temp":0.0,'
    '"Bot_Preheater_Time":"00:00:00","Bath_Temp":280.0,"Bath_Wave_Enabled":true,"Bath_Wave_Hgt":0.0,'
    '"Solder_Quantity_Used":0.0,"Fid_XCorrection":0.0,"Fid_YCorrection":0.0}'
)
SELECTIVE_MEMBERS = (
    '"Process_Status":"OK","RecipeName":"BOARD-A","Nitrogen_Pressure":4.5,"Air_Pressure":6.0,"Cycle_Count":812,'
    '"Cycle_Time":"00:01:05","Nitrogen_Purity":99.99,"Nitrogen_Flow":12.0,"Fiducial_Enabled":true'
)
SELECTIVE_KW: dict[str, Any] = {
    "process_status": "OK",
    "recipe_name": "BOARD-A",
    "nitrogen_pressure": 4.5,
    "air_pressure": 6.0,
    "cycle_count": 812,
    "cycle_time": timedelta(minutes=1, seconds=5),
    "nitrogen_purity": 99.99,
    "nitrogen_flow": 12.0,
    "fiducial_enabled": True,
}
MEASUREMENT = CoatingMeasurement(
    measurement_type=CoatingMeasurementType.FLUID_PRESSURE,
    actual_value=2.5,
    expected_value=2.4,
    axis="Z",
    fluid_pressure=3,
    unique_identifier="M-1",
    measurement_name="Pressure",
    sequence=1,
    result=TestResult.PASSED,
)
MEASUREMENT_JSON = (
    '{"MeasurementType":"FluidPressure","ActualValue":2.5,"ExpectedValue":2.4,"MinAcceptableValue":null,'
    '"MaxAcceptableValue":null,"Axis":"Z","FluidPressure":3,"NozzleWidth":0,"UniqueIdentifier":"M-1",'
    '"MeasurementName":"Pressure","TimeRecorded":null,"Sequence":1,"Result":"Passed","CRDs":null}'
)
E0 = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
E1 = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
ENERGY_NULLS = ",".join(
    f'"{p}{k}RYB":null'
    for p, k in [
        ("Peak", "Power"),
        ("Minimum", "Power"),
        ("Mean", "Power"),
        ("", "PowerNow"),
        ("", "PowerFactorNow"),
        ("Peak", "Current"),
        ("Minimum", "Current"),
        ("Mean", "Current"),
        ("", "CurrentNow"),
        ("Peak", "Voltage"),
        ("Minimum", "Voltage"),
        ("Mean", "Voltage"),
        ("", "VoltageNow"),
    ]
)
