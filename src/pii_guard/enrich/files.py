"""The schemas of the enrichment files: the directory of users, the data map, the network zones.

Validated with pydantic at load. Kept apart from the lookups (directory.py, datamap.py, zones.py) so that those
can be compiled with mypyc (setup.py), which cannot compile pydantic models.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Status = Literal["active", "disabled", "service", "left"]


class UserEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    roles: list[str] = Field(default_factory=list)
    department: str | None = None
    status: Status = "active"
    aliases: list[str] = Field(default_factory=list, description="other login names of the same person")


class DirectoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    users: dict[str, UserEntry] = Field(default_factory=dict)


class ZonesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    zones: dict[str, list[str]] = Field(default_factory=dict)
    unknown_zone: str = Field(default="unknown", description="zone of an IP in no listed network")

    @field_validator("zones")
    @classmethod
    def _cidrs(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, cidrs in value.items():
            for cidr in cidrs:
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ValueError(f"zone {name!r}: {cidr!r} is not an IP network (e.g. 10.0.0.0/8)") from None
        return value


class MapEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    match: str = Field(description="object glob: db:crm.public.customers, db:crm.hr.*, file:/srv/share/hr/**")
    categories: list[str] = Field(default_factory=list)
    columns: dict[str, list[str]] = Field(
        default_factory=dict, description="column → extra categories, added when a statement names the column"
    )
    honeytoken: bool = False


class DataMapFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    categories: list[str] = Field(description="every category name used below (typos are then errors)")
    objects: list[MapEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _declared(self) -> DataMapFile:
        declared = set(self.categories)
        for i, entry in enumerate(self.objects):
            used = set(entry.categories).union(*entry.columns.values()) if entry.columns else set(entry.categories)
            undeclared = used - declared
            if undeclared:
                raise ValueError(f"objects[{i}] ({entry.match}): undeclared categor(ies) {sorted(undeclared)}")
            if not entry.match.startswith(("db:", "file:", "url:", "app:", "s3:")):
                raise ValueError(f"objects[{i}]: match {entry.match!r} must start with db:, file:, url:, app: or s3:")
        return self
