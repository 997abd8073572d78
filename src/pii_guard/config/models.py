"""The config file's schema. Field names are the YAML keys; unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from pii_guard.config.secrets import SecretValue
from pii_guard.duration import DurationUs

Severity = Literal["low", "medium", "high", "critical"]


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
    expect_every: DurationUs | None = Field(
        default=None, description="silence longer than this raises a silent-source match (switched-off auditing)"
    )


class SqliteStoreConfig(Strict):
    type: Literal["sqlite"] = "sqlite"
    path: str = "events.db"
    synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"
    batch_size: Annotated[int, Field(gt=0, le=1_000_000)] = 10_000
    batch_ms: Annotated[int, Field(gt=0, le=60_000)] = 20
    max_size_mb: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="cap on the event store's size; at the cap ingestion pauses, losing nothing"
    )


class ElasticsearchStoreConfig(Strict):
    type: Literal["elasticsearch"]
    hosts: list[str] = Field(description="cluster URLs, e.g. https://es1.example.com:9200")
    index_prefix: str = Field(default="pii-guard", description="data stream / index names start with this")
    api_key: SecretValue | None = Field(default=None, description="an encoded API key; prefer api_key_file")
    api_key_file: str | None = None
    api_key_env: str | None = None
    username: str | None = None
    password: SecretValue | None = None
    password_file: str | None = None
    password_env: str | None = None
    ca_certs: str | None = Field(default=None, description="CA bundle to verify the cluster's certificate")
    verify_certs: bool = True
    retention: DurationUs | None = Field(default=None, description="delete events older than this (ILM)")
    request_timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=100)] = 8
    batch_size: Annotated[int, Field(gt=0, le=100_000)] = 5_000
    batch_ms: Annotated[int, Field(gt=0, le=60_000)] = 200
    dead_letters: str = Field(default="dead-letters.db", description="local SQLite file for rejected documents")


def _store_type(value: Any) -> str:
    """`type:` may be left out: the embedded SQLite store is the default."""
    found = value.get("type", "sqlite") if isinstance(value, dict) else getattr(value, "type", "sqlite")
    return str(found)


StoreConfig = Annotated[
    Annotated[SqliteStoreConfig, Tag("sqlite")] | Annotated[ElasticsearchStoreConfig, Tag("elasticsearch")],
    Discriminator(_store_type),
]


class PolicyConfig(Strict):
    zones: str | None = None
    data_map: str | None = None
    directory: str | None = None
    access: str | None = Field(default=None, description="the access policy file (rules/access-policy.yaml)")
    sigma: list[str] = Field(
        default_factory=list, description="Sigma rule files or directories (every .yml below), e.g. rules/sigma"
    )
    sigma_fields: str | None = Field(
        default=None, description="Sigma field and logsource mapping file (see pii_guard/sigma/fields.py)"
    )


class PrivacyConfig(Strict):
    mask_literals: bool = True


class DaemonConfig(Strict):
    listen: str = Field(default="127.0.0.1:9464", description="address of /metrics and /healthz; empty: off")
    rescan_s: Annotated[float, Field(gt=0, le=3600)] = Field(default=1.0, description="file system rescan")


GroupField = Literal["rule", "user", "object", "source_ip", "zone", "kind"]


def _rule_and_user() -> list[GroupField]:
    return ["rule", "user"]


def _high_and_critical() -> list[Severity]:
    return ["high", "critical"]


class IncidentsConfig(Strict):
    group_by: list[GroupField] = Field(
        default_factory=_rule_and_user,
        description="match fields whose values make an incident's key: rule, user, object, source_ip, zone, kind",
    )
    group_window: DurationUs = Field(
        default=86_400_000_000, description="a match joins an open incident of its key this recent"
    )
    reopen_within: DurationUs = Field(
        default=604_800_000_000, description="new evidence this soon after resolving reopens it"
    )
    notify_deadline: DurationUs = Field(
        default=259_200_000_000, description="time to tell the regulator, from the opening"
    )
    deadline_min_records: Annotated[int, Field(ge=0)] = Field(
        default=1, description="exposure (rows + records + files) from which the deadline clock runs"
    )
    deadline_severities: list[Severity] = Field(
        default_factory=_high_and_critical, description="severities whose incidents get a deadline"
    )
    raise_severity: bool = Field(default=True, description="raise severity as evidence grows")
    sensitive_categories: list[str] = Field(
        default_factory=lambda: ["sensitive"], description="categories that make an incident at least high"
    )


class SlackRoute(Strict):
    channel: str
    severities: list[Severity] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)


class SlackConfig(Strict):
    mode: Literal["bot", "webhook"] = "bot"
    token: SecretValue | None = Field(default=None, description="bot token (xoxb-...); prefer token_file")
    token_file: str | None = None
    token_env: str | None = None
    webhook_url: SecretValue | None = Field(default=None, description="incoming webhook URL (webhook mode)")
    webhook_url_file: str | None = None
    webhook_url_env: str | None = None
    api_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL")
    channel: str | None = Field(default=None, description="default channel ID (bot mode)")
    routes: list[SlackRoute] = Field(default_factory=list, description="first matching route wins")
    min_severity: Severity = "medium"
    per_second: Annotated[float, Field(gt=0, le=50)] = 1.0
    digest_after: Annotated[int, Field(ge=2)] = 10
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class WebhookConfig(Strict):
    url: str
    secret: SecretValue | None = Field(default=None, description="HMAC-SHA256 key; prefer secret_file")
    secret_file: str | None = None
    secret_env: str | None = None
    min_severity: Severity = "low"
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class JiraConfig(Strict):
    url: str = Field(description="base URL, e.g. https://jira.example.com")
    project: str
    issue_type: str = "Task"
    user: str | None = Field(default=None, description="basic auth user (Jira Cloud: the account e-mail)")
    token: SecretValue | None = None
    token_file: str | None = None
    token_env: str | None = None
    resolve_transition: str = Field(default="Done", description="transition name used on resolve")
    min_severity: Severity = "high"
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class NotifyConfig(Strict):
    slack: SlackConfig | None = None
    webhook: WebhookConfig | None = None
    jira: JiraConfig | None = None
    max_attempts: Annotated[int, Field(gt=0)] = Field(default=1000, description="then the row is marked failed")
    backoff_max_s: Annotated[float, Field(gt=0)] = 300.0


class Config(Strict):
    state_dir: str = "/var/lib/pii-guard"
    sources: list[SourceConfig] = Field(default_factory=list)
    store: StoreConfig = Field(default_factory=SqliteStoreConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

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
        """The SQLite event store's file, or the local dead-letter file of the Elasticsearch store."""
        store = self.store
        path = Path(store.path if isinstance(store, SqliteStoreConfig) else store.dead_letters).expanduser()
        return path if path.is_absolute() else self.state_path / path
