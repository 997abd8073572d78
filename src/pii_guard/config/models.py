"""The config file's schema. Field names are the YAML keys; unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SourceConfig(Strict):
    path: str = Field(description="a log file or a glob of log files")
    format: str = Field(description="parser name, see `pii-guard parse --help`")
    options: dict[str, Any] = Field(default_factory=dict, description="parser options")
    timezone: str | None = Field(default=None, description="zone of formats that write local time")
    host: str | None = Field(default=None, description="host.name of the events")
    name: str | None = Field(default=None, description="label in status and metrics; defaults to path")
    max_line_bytes: Annotated[int, Field(gt=0)] = 1 << 20
    start_at: Literal["beginning", "end"] = Field(
        default="beginning", description="where to start in a file seen for the first time at start-up"
    )
    include_compressed: bool = Field(default=False, description="also read rotated .gz/.xz/... files")


class SqliteStoreConfig(Strict):
    type: Literal["sqlite"] = "sqlite"
    path: str = "events.db"
    synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"
    batch_size: Annotated[int, Field(gt=0, le=1_000_000)] = 10_000
    batch_ms: Annotated[int, Field(gt=0, le=60_000)] = 20
    max_size_mb: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="cap on the event store's size; at the cap ingestion pauses, losing nothing"
    )


class PolicyConfig(Strict):
    zones: str | None = None
    data_map: str | None = None
    directory: str | None = None
    access: str | None = Field(default=None, description="the access policy file (rules/access-policy.yaml)")


class PrivacyConfig(Strict):
    mask_literals: bool = True


class DaemonConfig(Strict):
    listen: str = Field(default="127.0.0.1:9464", description="address of /metrics and /healthz; empty: off")
    rescan_s: Annotated[float, Field(gt=0, le=3600)] = Field(default=1.0, description="file system rescan")


class Config(Strict):
    state_dir: str = "/var/lib/pii-guard"
    sources: list[SourceConfig] = Field(default_factory=list)
    store: SqliteStoreConfig = Field(default_factory=SqliteStoreConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)

    # Set by the loader, not by the file.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    @property
    def state_path(self) -> Path:
        return self.resolve(self.state_dir)

    @property
    def store_path(self) -> Path:
        path = Path(self.store.path).expanduser()
        return path if path.is_absolute() else self.state_path / path
