"""``CFX.Materials`` and ``CFX.Production.Assembly`` material messages (cfx.md §3.4, §3.5)."""

from __future__ import annotations

import uuid

import msgspec

from protocols.cfx.messages.base import CFXMessage, message, type_tag
from protocols.cfx.messages.structures import InstalledMaterial, MaterialLocation, RequestResult


@message
class MaterialsLoaded(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Materials.Storage.MaterialsLoaded")
):
    """Material packages were loaded (into carriers such as SMDTapeFeeder, with ``$type``)."""

    materials: list[MaterialLocation] | None = msgspec.field(default_factory=list)


@message
class MaterialsUnloaded(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Materials.Storage.MaterialsUnloaded")
):
    """Material packages were unloaded."""

    material_package_identifiers: list[str] | None = msgspec.field(default_factory=list)


@message
class GetLoadedMaterialsRequest(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Materials.Storage.GetLoadedMaterialsRequest")
):
    """Asks which materials are loaded (REQ)."""

    location_identifiers: list[str] | None = None
    resource_unique_identifier: str | None = None


@message
class GetLoadedMaterialsResponse(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Materials.Storage.GetLoadedMaterialsResponse")
):
    """Answer to GetLoadedMaterialsRequest."""

    result: RequestResult = msgspec.field(default_factory=RequestResult)
    materials: list[MaterialLocation] | None = msgspec.field(default_factory=list)


@message
class MaterialsInstalled(
    CFXMessage, frozen=True, kw_only=True, tag=type_tag("CFX.Production.Assembly.MaterialsInstalled")
):
    """What was installed (placed) on which unit; ``TransactionId`` with "Id"."""

    transaction_id: uuid.UUID = msgspec.field(default_factory=lambda: uuid.UUID(int=0))
    installed_materials: list[InstalledMaterial] | None = msgspec.field(default_factory=list)


__all__ = [
    "GetLoadedMaterialsRequest",
    "GetLoadedMaterialsResponse",
    "MaterialsInstalled",
    "MaterialsLoaded",
    "MaterialsUnloaded",
]
