"""The trace store's schema: numbered migrations, one text for PostgreSQL and SQLite.

Each migration is a list of statements written once, with three tokens the dialect fills in:
``{pk}`` (an auto-numbered primary key), ``{float}`` (a double) and ``{text}`` (unbounded text).
Times are ``BIGINT`` microseconds since the Unix epoch, UTC, in both databases: one column type,
exact ordering, index-friendly range scans, and no driver-specific datetime conversion.

``trace_schema`` holds one row per applied migration; opening a store applies the missing ones
in order, inside one transaction (PostgreSQL also takes an advisory lock, so two gateways opening
one database at once migrate it once). Never edit a released migration: append a new one.
"""

from __future__ import annotations

from typing import Final

#: Version 1: what the stream says about boards moving through machines, and the faults.
_V1: Final = [
    """CREATE TABLE trace_envelope (
        unique_id {text} PRIMARY KEY,
        message_name {text} NOT NULL,
        source {text},
        time_us BIGINT NOT NULL,
        ingested_us BIGINT NOT NULL,
        outcome {text} NOT NULL
    )""",
    """CREATE TABLE trace_board (
        id {pk},
        barcode {text},
        hermes_id {text},
        work_order {text},
        batch {text},
        first_us BIGINT NOT NULL,
        last_us BIGINT NOT NULL
    )""",
    "CREATE INDEX trace_board_hermes ON trace_board (hermes_id)",
    "CREATE INDEX trace_board_barcode ON trace_board (barcode)",
    # Every identifier a board is known by: kind is barcode, hermes or unit (CFX UnitIdentifier).
    """CREATE TABLE trace_ident (
        value {text} NOT NULL,
        kind {text} NOT NULL,
        board BIGINT NOT NULL REFERENCES trace_board (id),
        PRIMARY KEY (value, kind, board)
    )""",
    "CREATE INDEX trace_ident_board ON trace_ident (board)",
    # One visit of a board to a machine. transaction_id is null until WorkStarted/WorkCompleted
    # names it (UnitsArrived and UnitsDeparted carry none).
    """CREATE TABLE trace_pass (
        id {pk},
        board BIGINT NOT NULL REFERENCES trace_board (id),
        machine {text} NOT NULL,
        transaction_id {text},
        lane INTEGER,
        recipe {text},
        revision {text},
        work_order {text},
        result {text},
        arrived_us BIGINT,
        started_us BIGINT,
        completed_us BIGINT,
        departed_us BIGINT
    )""",
    "CREATE INDEX trace_pass_board ON trace_pass (board)",
    "CREATE INDEX trace_pass_txn ON trace_pass (transaction_id)",
    "CREATE INDEX trace_pass_machine ON trace_pass (machine, started_us)",
    "CREATE INDEX trace_pass_machine_arrived ON trace_pass (machine, arrived_us)",
    """CREATE TABLE trace_fault (
        occurrence_id {text} PRIMARY KEY,
        machine {text},
        code {text},
        severity {text},
        cause {text},
        description {text},
        occurred_us BIGINT,
        cleared_us BIGINT
    )""",
    "CREATE INDEX trace_fault_machine ON trace_fault (machine, occurred_us)",
]

#: Version 2: what happened to a board inside a machine (process data, inspection, test,
#: repair, materials) and who ran the machine with which recipe.
_V2: Final = [
    """CREATE TABLE trace_process (
        id {pk},
        unique_id {text} NOT NULL,
        transaction_id {text},
        board BIGINT REFERENCES trace_board (id),
        machine {text},
        time_us BIGINT NOT NULL,
        kind {text} NOT NULL,
        result {text},
        conveyor_speed {float},
        liquidus_c {float},
        above_liquidus_s {float},
        peak_c {float}
    )""",
    "CREATE INDEX trace_process_board ON trace_process (board)",
    "CREATE INDEX trace_process_txn ON trace_process (transaction_id)",
    """CREATE TABLE trace_zone (
        process BIGINT NOT NULL REFERENCES trace_process (id),
        sequence INTEGER,
        name {text},
        peak_c {float},
        setpoint_c {float}
    )""",
    "CREATE INDEX trace_zone_process ON trace_zone (process)",
    # Inspection and test results, one row per unit; kind is inspection or test.
    """CREATE TABLE trace_result (
        id {pk},
        unique_id {text} NOT NULL,
        transaction_id {text},
        board BIGINT REFERENCES trace_board (id),
        unit_identifier {text},
        machine {text},
        time_us BIGINT NOT NULL,
        kind {text} NOT NULL,
        method {text},
        result {text},
        recipe {text},
        operator {text}
    )""",
    "CREATE INDEX trace_result_board ON trace_result (board)",
    "CREATE INDEX trace_result_txn ON trace_result (transaction_id)",
    """CREATE TABLE trace_defect (
        result BIGINT NOT NULL REFERENCES trace_result (id),
        test_name {text},
        code {text},
        component {text},
        description {text}
    )""",
    "CREATE INDEX trace_defect_result ON trace_defect (result)",
    """CREATE TABLE trace_repair (
        id {pk},
        unique_id {text} NOT NULL,
        board BIGINT REFERENCES trace_board (id),
        unit_identifier {text},
        machine {text},
        time_us BIGINT NOT NULL,
        result {text},
        operator {text},
        component {text},
        name {text}
    )""",
    "CREATE INDEX trace_repair_board ON trace_repair (board)",
    # Material placed on a board: reel (MaterialPackage.UniqueIdentifier), lot (BatchId), feeder.
    """CREATE TABLE trace_material (
        id {pk},
        unique_id {text} NOT NULL,
        transaction_id {text},
        board BIGINT REFERENCES trace_board (id),
        unit_identifier {text},
        machine {text},
        time_us BIGINT NOT NULL,
        reel {text},
        lot {text},
        part_number {text},
        location {text},
        feeder {text},
        quantity {float},
        designators {text}
    )""",
    "CREATE INDEX trace_material_board ON trace_material (board)",
    "CREATE INDEX trace_material_txn ON trace_material (transaction_id)",
    "CREATE INDEX trace_material_reel ON trace_material (reel)",
    "CREATE INDEX trace_material_lot ON trace_material (lot)",
    # A reel loaded at a location (MaterialsLoaded) until unloaded: boards worked meanwhile may
    # have parts from it even when the machine reports no per-board materials.
    """CREATE TABLE trace_load (
        id {pk},
        machine {text},
        location {text},
        reel {text},
        lot {text},
        part_number {text},
        loaded_us BIGINT NOT NULL,
        unloaded_us BIGINT
    )""",
    "CREATE INDEX trace_load_reel ON trace_load (reel)",
    "CREATE INDEX trace_load_lot ON trace_load (lot)",
    """CREATE TABLE trace_operator (
        id {pk},
        machine {text},
        operator {text},
        from_us BIGINT NOT NULL,
        to_us BIGINT
    )""",
    "CREATE INDEX trace_operator_machine ON trace_operator (machine, from_us)",
    """CREATE TABLE trace_recipe (
        machine {text},
        time_us BIGINT NOT NULL,
        recipe {text},
        revision {text},
        work_order {text}
    )""",
    "CREATE INDEX trace_recipe_machine ON trace_recipe (machine, time_us)",
]

#: Version 3: operators' holds on boards, reels and lots (interlocks, ``gateway.trace.control``).
_V3: Final = [
    """CREATE TABLE trace_hold (
        id {pk},
        kind {text} NOT NULL,
        value {text} NOT NULL,
        reason {text},
        held_by {text},
        held_us BIGINT NOT NULL,
        released_us BIGINT,
        released_by {text}
    )""",
    "CREATE INDEX trace_hold_value ON trace_hold (kind, value)",
    "CREATE INDEX trace_hold_active ON trace_hold (released_us)",
]

#: Every migration, in order; the version of ``MIGRATIONS[i]`` is ``i + 1``.
MIGRATIONS: Final[list[list[str]]] = [_V1, _V2, _V3]

#: The version a store has once opened.
LATEST: Final = len(MIGRATIONS)

#: Created before any migration; one row per applied version.
VERSION_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS trace_schema (version INTEGER PRIMARY KEY, applied_us BIGINT NOT NULL)"
)

__all__ = ["LATEST", "MIGRATIONS", "VERSION_TABLE"]
