"""The cases of ``test_models.py``: every modelled message, with the text the CFX SDK writes for it.

Each expected text below was written by hand from cfx.md §1-§3 (and the SDK's member lists), not
produced by the codec: member order, PascalCase with the ID/Id inconsistencies, ``$type`` first,
enums as strings (ResourceState as a numeric string, OperatingSystem as an integer), nulls
written, doubles with a decimal point, TimeSpans in "c" format, UnitCount computed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protocols.cfx import (
    ActivateRecipeRequest,
    ActivateRecipeResponse,
    ActiveRecipe,
    AppliedComponent,
    AreYouThereRequest,
    AreYouThereResponse,
    CFXMessage,
    CoatingNozzle,
    CoatingNozzleData,
    CoatingNozzleType,
    CoatingProcessData,
    ComponentsPlaced,
    Endpoint,
    EndpointConnected,
    EndpointShuttingDown,
    EnergyConsumed,
    Fault,
    FaultAcknowledged,
    FaultCleared,
    FaultOccurred,
    GetActiveFaultsRequest,
    GetActiveFaultsResponse,
    GetActiveRecipeRequest,
    GetActiveRecipeResponse,
    GetAvailableRecipesRequest,
    GetAvailableRecipesResponse,
    GetEndpointInformationRequest,
    GetEndpointInformationResponse,
    GetLoadedMaterialsRequest,
    GetLoadedMaterialsResponse,
    GetRecipeRequest,
    GetRecipeResponse,
    Heartbeat,
    InstalledMaterial,
    LockReason,
    LockStationRequest,
    LockStationResponse,
    LogEntryRecorded,
    LogImportance,
    MaterialCarrierLocation,
    MaterialsInstalled,
    MaterialsLoaded,
    MaterialsUnloaded,
    NotSupportedResponse,
    OperatingSystem,
    OperatingSystemPlatform,
    PCBSelectiveSoldered,
    PerformanceImpact,
    PerformanceImpactCause,
    ProcessDataRecorded,
    ProcessedUnit,
    ProcessingResult,
    RecipeActivated,
    RecipeDeactivated,
    RecipeIdentifier,
    RecipeModificationReason,
    RecipeModified,
    ReflowOvenFault,
    ReflowOvenFaultType,
    RequestResult,
    ResourceState,
    SelectiveSolderData,
    SelectiveSolderedPCB,
    SelectiveSolderPCBProcessData,
    SelectiveSolderProcessData,
    SMTHeadAndNozzle,
    SMTPlacementFault,
    SMTPlacementFaultType,
    StageInformation,
    StageStateChanged,
    StationOffline,
    StationOnline,
    StationStateChanged,
    StatusResult,
    SupportedTopic,
    Surface,
    TopicSupportType,
    UnitsArrived,
    UnitsDeparted,
    UnitsProcessed,
    UnlockStationRequest,
    UnlockStationResponse,
    UpdateRecipeRequest,
    UpdateRecipeResponse,
    WhoIsThereRequest,
    WhoIsThereResponse,
    WorkCompleted,
    WorkResult,
    WorkStageCompleted,
    WorkStageStarted,
    WorkStarted,
)
from tests.protocols.cfx.helpers import CEST, GUID_A, GUID_B
from tests.protocols.cfx.model_parts import (
    E0,
    E1,
    ENERGY_NULLS,
    FAULT_JSON,
    FAULT_MEMBERS,
    FEEDER,
    FEEDER_JSON,
    LOCATION,
    LOCATION_JSON,
    MEASUREMENT,
    MEASUREMENT_JSON,
    OK,
    OPERATOR,
    OPERATOR_JSON,
    PACKAGE,
    PACKAGE_JSON,
    RECIPE,
    RECIPE_JSON,
    REFLOW,
    REFLOW_JSON,
    SELECTIVE_KW,
    SELECTIVE_MEMBERS,
    SOLDER_ZONE,
    SOLDER_ZONE_JSON,
    STAGE,
    STAGE_JSON,
    UNIT,
    UNIT_JSON,
    WOI,
    WOI_JSON,
    fault_kwargs,
)

CASES: list[tuple[CFXMessage, str]] = [
    # --- CFX (cfx.md §2.6) ---
    (
        Heartbeat(cfx_handle="Acme.RF.1", heartbeat_frequency=timedelta(minutes=1)),
        '"CFXHandle":"Acme.RF.1","HeartbeatFrequency":"00:01:00","ActiveFaults":null,"ActiveRecipes":null',
    ),
    (
        Heartbeat(
            cfx_handle="Acme.RF.1",
            heartbeat_frequency=timedelta(minutes=5),
            active_faults=[Fault(**fault_kwargs())],
            active_recipes=[
                ActiveRecipe(
                    lane=1,
                    stage=STAGE,
                    recipe_identifier=RecipeIdentifier(recipe_name="BOARD-A", revision="3"),
                )
            ],
        ),
        f'"CFXHandle":"Acme.RF.1","HeartbeatFrequency":"00:05:00","ActiveFaults":[{FAULT_JSON}],'
        # Public fields (RecipeIdentifier, Recipe) come before properties (Lane, Stage): cfx.md §0.
        '"ActiveRecipes":[{"RecipeIdentifier":{"RecipeName":"BOARD-A","Revision":"3"},"Recipe":null,'
        f'"Lane":1,"Stage":{STAGE_JSON}}}]',
    ),
    (
        EndpointConnected(
            cfx_handle="Acme.RF.1",
            request_network_uri="amqp://10.20.3.41:5672",
            request_target_address="Acme.RF.1",
        ),
        '"CFXHandle":"Acme.RF.1","RequestNetworkUri":"amqp://10.20.3.41:5672","RequestTargetAddress":"Acme.RF.1"',
    ),
    (EndpointShuttingDown(cfx_handle="Acme.RF.1"), '"CFXHandle":"Acme.RF.1"'),
    (AreYouThereRequest(cfx_handle="Acme.RF.1"), '"CFXHandle":"Acme.RF.1"'),
    (
        AreYouThereResponse(
            cfx_handle="Acme.RF.1", request_network_uri="amqp://h:5672", request_target_address="Acme.RF.1"
        ),
        f'{OK},"CFXHandle":"Acme.RF.1","RequestNetworkUri":"amqp://h:5672","RequestTargetAddress":"Acme.RF.1"',
    ),
    (
        WhoIsThereRequest(
            supported_topics=[
                SupportedTopic(
                    topic_name="CFX.Production",
                    topic_support_type=TopicSupportType.PUBLISHER,
                    supported_messages=["CFX.Production.WorkStarted"],
                )
            ]
        ),
        '"SupportedTopicQueryType":"Ignore","SupportedTopics":[{"TopicName":"CFX.Production","TopicSupportType":"Publisher",'
        '"SupportedMessages":["CFX.Production.WorkStarted"]}]',
    ),
    (
        WhoIsThereResponse(cfx_handle="Acme.RF.1"),
        f'{OK},"CFXHandle":"Acme.RF.1","RequestNetworkUri":null,"RequestTargetAddress":null',
    ),
    (GetEndpointInformationRequest(cfx_handle="Acme.RF.1"), '"CFXHandle":"Acme.RF.1"'),
    (
        GetEndpointInformationResponse(
            endpoint_information=Endpoint(
                cfx_handle="Acme.RF.1",
                cfx_version="2.1",
                vendor="Acme",
                operating_system=OperatingSystem.UBUNTU_LINUX,
                operating_system_platform=OperatingSystemPlatform.PLATFORM64BIT,
                stages=[StageInformation(stage=STAGE)],
                number_of_lanes=2,
            )
        ),
        f'{OK},"EndpointInformation":{{"CFXHandle":"Acme.RF.1","CFXVersion":"2.1","RequestNetworkUri":null,'
        '"RequestTargetAddress":null,"UniqueIdentifier":null,"FriendlyName":null,"Vendor":"Acme","ModelNumber":null,'
        '"SerialNumber":null,"SoftwareVersion":null,"FirmwareVersion":null,"OperatingSystem":15,"OperatingSystemPlatform":2,'
        f'"OperatingSystemVersion":null,"Stages":[{{"Stage":{STAGE_JSON}}}],"NumberOfLanes":2,"HermesInformation":null,'
        '"OperatingRequirements":null,"SupportedTopics":[],"SupportedPCBDimensions":null,"SleepStates":null}',
    ),
    (
        NotSupportedResponse(
            request_result=RequestResult(result=StatusResult.FAILED, message="Not supported")
        ),
        '"RequestResult":{"Result":"Failed","ResultCode":0,"Message":"Not supported"}',
    ),
    # --- CFX.Production (cfx.md §3.2) ---
    (
        UnitsArrived(primary_identifier="PNL-1", units=[UNIT], lane=1),
        f'"PrimaryIdentifier":"PNL-1","HermesIdentifier":null,"UnitCount":1,"Units":[{UNIT_JSON}],"Lane":1',
    ),
    (
        UnitsDeparted(primary_identifier="PNL-1", hermes_identifier="H-1", units=[UNIT, UNIT]),
        f'"PrimaryIdentifier":"PNL-1","HermesIdentifier":"H-1","UnitCount":2,"Units":[{UNIT_JSON},{UNIT_JSON}],"Lane":null',
    ),
    (
        WorkStarted(
            primary_identifier="PNL-1",
            transaction_id=GUID_B,
            lane=1,
            units=[UNIT],
            recipe_name="BOARD-A",
            revision="3",
            relevant_surface=Surface.PRIMARY_SURFACE,
            work_order_identifier=WOI,
        ),
        f'"PrimaryIdentifier":"PNL-1","HermesIdentifier":null,"TransactionID":"{GUID_B}","Lane":1,"UnitCount":1,'
        f'"Units":[{UNIT_JSON}],"RecipeName":"BOARD-A","Revision":"3","RelevantSurface":"PrimarySurface","WorkOrderIdentifier":{WOI_JSON}',
    ),
    (
        WorkCompleted(
            transaction_id=GUID_B,
            result=WorkResult.COMPLETED,
            primary_identifier="PNL-1",
            performance_impacts=[PerformanceImpact(cause=PerformanceImpactCause.LOW_FEEDER_SPEED)],
        ),
        f'"TransactionID":"{GUID_B}","Result":"Completed","PrimaryIdentifier":"PNL-1","HermesIdentifier":null,'
        '"UnitCount":0,"Units":[],"PerformanceImpacts":[{"Cause":"LowFeederSpeed"}]',
    ),
    (
        WorkStageStarted(transaction_id=GUID_B, stage=STAGE),
        f'"TransactionID":"{GUID_B}","Stage":{STAGE_JSON}',
    ),
    (
        WorkStageCompleted(transaction_id=GUID_B, stage=STAGE, result=WorkResult.ABORTED),
        f'"TransactionID":"{GUID_B}","Stage":{STAGE_JSON},"Result":"Aborted","PerformanceImpacts":null',
    ),
    (
        RecipeActivated(
            recipe_name="BOARD-A",
            revision="3",
            lane=1,
            expected_cycle_time=42000.0,
            expected_units_per_work_transaction=1.0,
            number_of_components_per_unit=312.0,
            work_order_identifier=WOI,
            relevant_surface=Surface.SECONDARY_SURFACE,
        ),
        '"RecipeName":"BOARD-A","Revision":"3","Lane":1,"Stage":null,"ExpectedCycleTime":42000.0,"ExpectedWorkTime":null,'
        f'"ExpectedUnitsPerWorkTransaction":1.0,"NumberOfComponentsPerUnit":312.0,"WorkOrderIdentifier":{WOI_JSON},'
        '"TargetQuantity":null,"RelevantSurface":"SecondarySurface","RecipeStagesInformation":[]',
    ),
    (
        RecipeDeactivated(recipe_name="BOARD-A", revision="3", lane=1),
        '"RecipeName":"BOARD-A","Revision":"3","Lane":1,"Stage":null,"WorkOrderIdentifier":null',
    ),
    (
        RecipeModified(
            recipe_name="BOARD-A",
            revision="4",
            modified_by=OPERATOR,
            reason=RecipeModificationReason.UPDATED_BOM,
            notes="C12",
        ),
        f'"RecipeName":"BOARD-A","Revision":"4","ModifiedBy":{OPERATOR_JSON},"Reason":"UpdatedBOM","Notes":"C12","WorkOrderIdentifier":null',
    ),
    (
        ActivateRecipeRequest(recipe_name="BOARD-A", revision="3", lane=1, stage=STAGE),
        f'"RecipeName":"BOARD-A","Revision":"3","Lane":1,"Stage":{STAGE_JSON}',
    ),
    (ActivateRecipeResponse(), OK),
    (GetActiveRecipeRequest(lane=2), '"Lane":2,"Stage":null'),
    (
        GetActiveRecipeResponse(active_recipe_name="BOARD-A", active_recipe_revision="3"),
        f'{OK},"ActiveRecipeName":"BOARD-A","ActiveRecipeRevision":"3"',
    ),
    (GetRecipeRequest(recipe_name="BOARD-A", revision="3"), '"RecipeName":"BOARD-A","Revision":"3"'),
    (GetRecipeResponse(recipe=RECIPE), f'{OK},"Recipe":{RECIPE_JSON}'),
    (
        UpdateRecipeRequest(overwrite=True, recipe=RECIPE, reason=RecipeModificationReason.NEW_REVISION),
        f'"Overwrite":true,"Recipe":{RECIPE_JSON},"Reason":"NewRevision"',
    ),
    (
        UpdateRecipeResponse(
            result=RequestResult(result=StatusResult.PARTIAL_SUCCESS, result_code=7, message="kept")
        ),
        '"Result":{"Result":"PartialSuccess","ResultCode":7,"Message":"kept"}',
    ),
    (GetAvailableRecipesRequest(path="/", max_count=50), '"Path":"/","MaxCount":50'),
    (
        GetAvailableRecipesResponse(
            actual_count=1, recipe_count=1, recipes=[RecipeIdentifier(recipe_name="BOARD-A", revision="3")]
        ),
        f'{OK},"ActualCount":1,"RecipeCount":1,"Recipes":[{{"RecipeName":"BOARD-A","Revision":"3"}}]',
    ),
    (
        LockStationRequest(lane=1, reason=LockReason.PREVENTATIVE_MAINTENANCE, requestor=OPERATOR),
        f'"Lane":1,"Stage":null,"Reason":"PreventativeMaintenance","Requestor":{OPERATOR_JSON}',
    ),
    (LockStationResponse(result=RequestResult()), OK),
    (UnlockStationRequest(lane=1, requestor=OPERATOR), f'"Lane":1,"Stage":null,"Requestor":{OPERATOR_JSON}'),
    (UnlockStationResponse(result=RequestResult()), OK),
    # --- CFX.Production.Processing (cfx.md §3.3): the reflow example puts data in CommonProcessData ---
    (
        UnitsProcessed(transaction_id=GUID_B, common_process_data=REFLOW),
        f'"TransactionId":"{GUID_B}","OverallResult":"Succeeded","CommonProcessData":{REFLOW_JSON},"UnitProcessData":[]',
    ),
    (
        UnitsProcessed(
            transaction_id=GUID_B,
            overall_result=ProcessingResult.FAILED,
            common_process_data=SelectiveSolderProcessData(**SELECTIVE_KW),
            unit_process_data=[
                ProcessedUnit(
                    unit_identifier="PCB-0001",
                    unit_position_number=1,
                    unit_result=ProcessingResult.FAILED,
                    unit_process_data=SelectiveSolderPCBProcessData(zone_data=[SOLDER_ZONE]),
                )
            ],
        ),
        f'"TransactionId":"{GUID_B}","OverallResult":"Failed","CommonProcessData":{{"$type":"CFX.Structures.SolderApplication.'
        f'SelectiveSolderProcessData, CFX",{SELECTIVE_MEMBERS}}},'
        '"UnitProcessData":[{"UnitIdentifier":"PCB-0001",'
        '"UnitPositionNumber":1,"UnitResult":"Failed","UnitProcessData":{"$type":"CFX.Structures.SolderApplication.'
        f'SelectiveSolderPCBProcessData, CFX","ZoneData":[{SOLDER_ZONE_JSON}]}}}}]',
    ),
    (
        UnitsProcessed(
            transaction_id=GUID_B,
            unit_process_data=[
                ProcessedUnit(
                    unit_identifier="PCB-0001",
                    unit_process_data=CoatingProcessData(
                        readings=[MEASUREMENT],
                        nozzle=[
                            CoatingNozzleData(
                                nozzle=CoatingNozzle(
                                    coating_nozzle_type=CoatingNozzleType.SPRAY,
                                    stage_sequence=1,
                                    stage_name="N1",
                                ),
                                nozzle_readings=[],
                            )
                        ],
                    ),
                )
            ],
        ),
        f'"TransactionId":"{GUID_B}","OverallResult":"Succeeded","CommonProcessData":null,"UnitProcessData":[{{"UnitIdentifier":'
        '"PCB-0001","UnitPositionNumber":null,"UnitResult":"Succeeded","UnitProcessData":{"$type":"CFX.Structures.Coating.'
        f'CoatingProcessData, CFX","Readings":[{MEASUREMENT_JSON}],'
        '"Nozzle":[{"Nozzle":{"CoatingNozzleType":"Spray",'
        '"StageSequence":1,"StageName":"N1","StageType":"Work"},"NozzleReadings":[]}]}}]',
    ),
    (
        PCBSelectiveSoldered(
            transaction_id=GUID_B,
            header_data=SelectiveSolderData(**SELECTIVE_KW),
            soldered_pcbs=[SelectiveSolderedPCB(unit_identifier="PCB-0001", zone_data=[SOLDER_ZONE])],
        ),
        f'"TransactionId":"{GUID_B}","HeaderData":{{{SELECTIVE_MEMBERS}}},"SolderedPCBs":[{{"UnitIdentifier":"PCB-0001",'
        f'"UnitPositionNumber":null,"ZoneData":[{SOLDER_ZONE_JSON}]}}]',
    ),
    # --- CFX.ResourcePerformance (cfx.md §3.4) ---
    (
        StationStateChanged(
            old_state=ResourceState.PRD_REGULAR_WORK,
            old_state_duration=timedelta(minutes=10, seconds=51, microseconds=510000),
            new_state=ResourceState.SBY_NO_PRODUCT_STARVED,
        ),
        '"OldState":"1100","OldStateDuration":"00:10:51.5100000","NewState":"2202","RelatedFault":null',
    ),
    (
        StationStateChanged(
            old_state=ResourceState.PRD_REGULAR_WORK,
            new_state=ResourceState.USD_REPAIR,
            related_fault=Fault(**fault_kwargs()),
        ),
        f'"OldState":"1100","OldStateDuration":null,"NewState":"5300","RelatedFault":{FAULT_JSON}',
    ),
    (
        StageStateChanged(
            stage=STAGE,
            lane=1,
            old_state=ResourceState.SBY_NO_PRODUCT,
            old_state_duration=timedelta(days=1, hours=2, minutes=3, seconds=4),
            new_state=ResourceState.PRD_REGULAR_WORK,
        ),
        f'"Stage":{STAGE_JSON},"Lane":1,"OldState":"2200","OldStateDuration":"1.02:03:04","NewState":"1100","RelatedFault":null',
    ),
    (FaultOccurred(fault=Fault(**fault_kwargs())), f'"Fault":{FAULT_JSON}'),
    (
        FaultOccurred(
            fault=ReflowOvenFault(
                reflow_oven_fault_type=ReflowOvenFaultType.HIGH_BELT_SPEED, **fault_kwargs()
            )
        ),
        '"Fault":{"$type":"CFX.Structures.SolderReflow.ReflowOvenFault, CFX",'
        '"ReflowOvenFaultType":"HighBeltSpeed",'
        f"{FAULT_MEMBERS}}}",
    ),
    (
        FaultOccurred(
            fault=SMTPlacementFault(
                placement_fault_type=SMTPlacementFaultType.PICKUP_ERROR,
                program_step=12,
                material_location=LOCATION,
                head_and_nozzle=SMTHeadAndNozzle(head_id="H1", head_nozzle_number=3),
                **fault_kwargs(),
            )
        ),
        '"Fault":{"$type":"CFX.Structures.SMTPlacement.SMTPlacementFault, CFX",'
        '"PlacementFaultType":"PickupError",'
        '"ProgramStep":12,"Designator":{"ReferenceDesignator":null,"UnitPosition":null,"PartNumber":null},'
        f'"MaterialLocation":{LOCATION_JSON},"HeadAndNozzle":{{"HeadId":"H1",'
        '"HeadNozzleNumber":3,"NozzleType":null,"UniqueIdentifier":null,"Name":null},"NumberOfTriesBeforeError":0,'
        f'"ReferencePartNumber":null,{FAULT_MEMBERS}}}',
    ),
    (
        FaultAcknowledged(fault_occurrence_id=GUID_A, operator=OPERATOR),
        f'"FaultOccurrenceId":"{GUID_A}","Operator":{OPERATOR_JSON}',
    ),
    (
        FaultCleared(fault_occurrence_id=GUID_A, operator=OPERATOR),
        f'"FaultOccurrenceId":"{GUID_A}","Operator":{OPERATOR_JSON}',
    ),
    (GetActiveFaultsRequest(), ""),
    (GetActiveFaultsResponse(active_faults=[]), f'{OK},"ActiveFaults":[]'),
    (
        LogEntryRecorded(information_id="L-1", message="door open", importance=LogImportance.WARNING, lane=1),
        '"InformationId":"L-1","Message":"door open","Importance":"Warning","Lane":1,"Stage":null,'
        '"AdditionalData":null',
    ),
    (StationOffline(), ""),
    (StationOnline(offline_duration=timedelta(hours=1, minutes=30)), '"OfflineDuration":"01:30:00"'),
    (
        EnergyConsumed(start_time=E0, end_time=E1, energy_used=12.5, peak_power=18000.0, minimum_power=900.0),
        '"StartTime":"2026-05-04T06:00:00Z","EndTime":"2026-05-04T07:00:00Z","EnergyUsed":12.5,"PeakPower":18000.0,'
        '"MinimumPower":900.0,"MeanPower":0.0,"PowerNow":0.0,"PowerFactorNow":0.0,"PeakCurrent":0.0,"MinimumCurrent":0.0,'
        '"MeanCurrent":0.0,"CurrentNow":0.0,"PeakVoltage":0.0,"MinimumVoltage":0.0,"MeanVoltage":0.0,"VoltageNow":0.0,'
        '"PeakFrequency":0.0,"MinimumFrequency":0.0,"MeanFrequency":0.0,"FrequencyNow":0.0,'
        f'{ENERGY_NULLS},"ThreePhaseNeutralCurrentNow":0.0,"ConsumptionDetails":null',
    ),
    (ProcessDataRecorded(process_data=REFLOW), f'"ProcessData":{REFLOW_JSON}'),
    (
        ComponentsPlaced(
            start_time=E0,
            end_time=datetime(2026, 5, 4, 6, 0, 30, 250000, tzinfo=UTC),
            total_components_placed=1200,
            total_components_not_placed=3,
        ),
        '"StartTime":"2026-05-04T06:00:00Z","EndTime":"2026-05-04T06:00:30.25Z","TotalComponentsPlaced":1200,'
        '"TotalComponentsNotPlaced":3',
    ),
    # --- CFX.Materials (cfx.md §3.5) and MaterialsInstalled (§3.4) ---
    (MaterialsLoaded(materials=[LOCATION]), f'"Materials":[{LOCATION_JSON}]'),
    (MaterialsUnloaded(material_package_identifiers=["REEL-9"]), '"MaterialPackageIdentifiers":["REEL-9"]'),
    (
        GetLoadedMaterialsRequest(location_identifiers=["SLOT-17"]),
        '"LocationIdentifiers":["SLOT-17"],"ResourceUniqueIdentifier":null',
    ),
    (
        GetLoadedMaterialsResponse(result=RequestResult(), materials=[LOCATION]),
        f'{OK},"Materials":[{LOCATION_JSON}]',
    ),
    (
        MaterialsInstalled(
            transaction_id=GUID_B,
            installed_materials=[
                InstalledMaterial(
                    unit_identifier="PCB-0001",
                    quantity_installed=2.0,
                    material=PACKAGE,
                    carrier_location=MaterialCarrierLocation(
                        location_identifier="SLOT-17", carrier_information=FEEDER
                    ),
                    installed_components=[
                        AppliedComponent(
                            reference_designator="R12",
                            installed_unit_identifier="PCB-0001",
                            installation_time=datetime(2026, 5, 4, 7, 1, 12, 123450, tzinfo=CEST),
                        )
                    ],
                )
            ],
        ),
        f'"TransactionId":"{GUID_B}","InstalledMaterials":[{{"UnitIdentifier":"PCB-0001","UnitPositionNumber":null,'
        f'"QuantityInstalled":2.0,"QuantityNonInstalled":0.0,"Material":{PACKAGE_JSON},"CarrierLocation":{{"ResourceLocation":null,'
        f'"LocationIdentifier":"SLOT-17","LocationName":null,"CarrierInformation":{FEEDER_JSON}}},"InstalledComponents":[{{'
        '"$type":"CFX.Structures.AppliedComponent, CFX","ReferenceDesignator":"R12",'
        '"InstalledUnitIdentifier":"PCB-0001","InstallationTime":"2026-05-04T07:01:12.12345+02:00",'
        '"Stage":null,"ElectricalTest":null,"Tests":null,"QuantityApplied":null}],'
        '"NonInstalledComponents":[],"ReferencePartNumber":null}]',
    ),
]
