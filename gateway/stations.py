"""The gateway's adapters for the simulated line's inspection, test and identification stations.

``linegate demo`` and the test kit connect to each simulated machine in its own protocol
(``gateway.demo.build_adapter``); the stations that report by result files (AOI, X-ray, ICT) or
by report-only serial lines (scanner, FCT) are wired here, each with the built-in map or parser
of its simulator's manual.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import Adapter, ReconnectPolicy
from adapters.files import FilesAdapter, FolderOptions
from adapters.maps import FilesMap, builtin_map
from adapters.serial_reports import ScannerAdapter, TestReportAdapter
from protocols.files.readiness import Readiness, ReadyRule

#: The built-in files map of each result-file station kind of the simulators.
FILE_MAPS = {"aoi": "aoi_xml", "xray": "xray_csv", "ict": "ict_csv"}


def station_adapter(
    kind: str,
    machine_id: str,
    policy: ReconnectPolicy,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    folder: str | None = None,
) -> Adapter | None:
    """The adapter for a simulated station of line kind ``kind`` (None: not one of these kinds),
    from its endpoint's ``host``, ``port`` (serial server) and ``folder`` (result files).

    Raises:
        ValueError: the station's endpoint lacks its folder or TCP port.
    """
    if kind in FILE_MAPS:
        files_map = builtin_map(FILE_MAPS[kind])
        assert isinstance(files_map, FilesMap)
        if folder is None:
            raise ValueError(f"{machine_id}: a result-file station without a folder")
        # The simulators write X.tmp and rename it (simulators/ict.md §1).
        ready = Readiness(ReadyRule.RENAME, suffix=".tmp")
        options = FolderOptions(folder=Path(folder), interval=0.5, readiness=ready)
        return FilesAdapter(machine_id, files_map.result, options, policy=policy)
    if kind in ("scanner", "fct"):
        if port is None:
            raise ValueError(f"{machine_id}: a serial station without its TCP port")
        url = f"socket://{host}:{port}"
        if kind == "scanner":
            return ScannerAdapter(machine_id, url=url, policy=policy)
        return TestReportAdapter(machine_id, url=url, method="FCT", policy=policy)
    return None


__all__ = ["FILE_MAPS", "station_adapter"]
