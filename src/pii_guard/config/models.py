"""The config file's schema. Field names are the YAML keys; unknown keys are errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from pii_guard.config.secrets import SecretValue
from pii_guard.duration import DurationUs
from pii_guard.errors import ConfigError

_VARIABLE: Final = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")  # what expandvars left: not set

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


_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a file name in the spool directory


class RouteConfig(Strict):
    """Messages whose program name (syslog tag, journal SYSLOG_IDENTIFIER) is one of `tags` go to one parser."""

    tags: list[str] = Field(min_length=1, description="program names, e.g. smbd_audit, sftp-server")
    format: str = Field(description="parser of these messages (a syslog-based format)")
    options: dict[str, Any] = Field(default_factory=dict, description="parser options")
    name: Annotated[str, Field(pattern=_NAME_PATTERN)] | None = Field(
        default=None, description="spool file and source label (receiver/name); defaults to the format"
    )


def _default_routes() -> list[RouteConfig]:
    return [
        RouteConfig(tags=["smbd_audit"], format="samba-full-audit"),
        RouteConfig(tags=["sftp-server", "internal-sftp", "sshd", "sshd-session", "sshd-auth"], format="sftp"),
        RouteConfig(tags=["mysql-server_auditing"], format="mariadb-audit"),
        RouteConfig(tags=["percona-audit"], format="percona-audit"),
    ]


class SpoolConfig(Strict):
    """The receiver's on-disk queue, read by the live loop like a log file."""

    max_file_mb: Annotated[float, Field(gt=0)] = Field(default=64.0, description="rotate a spool file this big")
    max_backlog_mb: Annotated[float, Field(gt=0)] = Field(
        default=1024.0, description="spooled but not yet stored; above it TCP is not read, UDP is dropped"
    )
    fsync: bool = Field(default=True, description="fsync each write batch before reading more from the peer")


class TlsConfig(Strict):
    cert: str = Field(description="PEM certificate chain of the listener")
    key: str = Field(description="PEM private key")
    ca: str | None = Field(default=None, description="when set, clients must present a certificate it signed")


class SyslogReceiverConfig(Strict):
    """A syslog listener (RFC 5424 and RFC 3164 over TCP, octet-counted or newline-framed, and UDP)."""

    name: Annotated[str, Field(pattern=_NAME_PATTERN)] = "syslog"
    tcp: str | None = Field(default="127.0.0.1:5140", description="host:port of the TCP listener; null: off")
    udp: str | None = Field(default="127.0.0.1:5140", description="host:port of the UDP listener; null: off")
    tls: TlsConfig | None = Field(default=None, description="TLS on the TCP listener")
    timezone: str | None = Field(default=None, description="zone of RFC 3164 stamps (no zone); UTC if unset")
    routes: list[RouteConfig] = Field(default_factory=_default_routes)
    unrouted: Literal["drop", "keep"] = Field(
        default="drop", description="messages of other programs: counted, then dropped or kept in unrouted.log"
    )
    max_message_bytes: Annotated[int, Field(ge=480, le=16 << 20)] = 65_536
    max_connections: Annotated[int, Field(gt=0, le=10_000)] = 256
    udp_buffer_kb: Annotated[int, Field(gt=0)] = Field(default=4096, description="UDP socket receive buffer")
    spool: SpoolConfig = Field(default_factory=SpoolConfig)


class JournalReceiverConfig(Strict):
    """The systemd journal, read through `journalctl -o json --follow`, its cursor kept with the spool."""

    name: Annotated[str, Field(pattern=_NAME_PATTERN)] = "journal"
    journalctl: str = Field(default="journalctl", description="the journalctl binary")
    args: list[str] = Field(
        default_factory=list, description="extra journalctl arguments, e.g. --directory=/var/log/journal"
    )
    start_at: Literal["beginning", "end"] = Field(default="end", description="where to start without a cursor")
    routes: list[RouteConfig] = Field(default_factory=_default_routes)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)


class ReceiversConfig(Strict):
    syslog: list[SyslogReceiverConfig] = Field(default_factory=list)
    journal: list[JournalReceiverConfig] = Field(default_factory=list)


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
    join_same_event: bool = Field(
        default=True, description="matches of other rules fired by the same event join that event's incident"
    )
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


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


ReportFormat = Literal["html", "csv"]


def _html_and_csv() -> list[ReportFormat]:
    return ["html", "csv"]


def _working_days() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


class RetentionConfig(Strict):
    """How long events are kept in the SQLite store (Elasticsearch: ILM, see store.retention)."""

    default: DurationUs | None = Field(default=None, description="events of any category older than this are "
                                                                 "deleted; none: kept")
    categories: dict[str, DurationUs] = Field(
        default_factory=dict, description="per category; an event is kept as long as its longest-kept category"
    )
    unclassified: DurationUs | None = Field(default=None, description="events without a category; none: default")
    schedule: str = Field(default="30 3 * * *", description="cron expression of the pruning job")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        _check_cron(value)
        return value


class ReportsConfig(Strict):
    """The periodic access-review reports and the daemon's other periodic jobs."""

    enabled: bool = Field(default=True, description="run the scheduled jobs in the daemon")
    dir: str = Field(default="reports", description="where reports are written; relative to state_dir")
    timezone: str = Field(default="UTC", description="zone of the reports' days and weeks and of the cron times")
    daily: str | None = Field(default="0 6 * * *", description="cron of the daily report (of yesterday); null: off")
    weekly: str | None = Field(default="0 7 * * mon", description="cron of the weekly report (of last week)")
    formats: list[ReportFormat] = Field(default_factory=_html_and_csv, description="html, csv or both")
    pseudonymize: bool = Field(default=False, description="staff as stable pseudonyms (staff-1a2b...) in reports")
    slack: bool = Field(default=True, description="post headline and file to Slack when notify.slack is set")
    slack_channel: str | None = Field(default=None, description="channel ID; default notify.slack.channel")
    lookback: DurationUs = Field(default=2_592_000_000_000, description="history before the period for first-time "
                                                                         "accessors, new IPs and baselines")
    dormant_after: DurationUs = Field(default=1_209_600_000_000, description="a silence this long, then access")
    baseline_factor: Annotated[float, Field(gt=1)] = Field(default=5.0, description="a day this many times the "
                                                                                      "user's median day")
    baseline_min_events: Annotated[int, Field(ge=0)] = Field(default=50, description="ignore smaller days")
    work_hours: str = Field(default="07:00-19:00", description="outside these (or off work_days) is off-hours")
    work_days: list[Weekday] = Field(default_factory=_working_days)
    top: Annotated[int, Field(gt=0, le=1000)] = Field(default=10, description="rows of the top-N tables")
    review_due: DurationUs = Field(default=604_800_000_000, description="a report not signed off this long after "
                                                                         "it was made is overdue")
    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(default=3, description="tries of a failing job")
    retry_after_s: Annotated[float, Field(gt=0)] = Field(default=300.0, description="wait between tries")
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("daily", "weekly")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            _check_cron(value)
        return value

    @field_validator("work_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        from pii_guard.policy.models import HourRange

        HourRange.parse(value)
        return value


def _check_cron(value: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday): {exc}") from None


WebRole = Literal["viewer", "responder", "admin"]


def _network(value: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (10.0.0.5, 10.0.0.0/24)") from None


Network = Annotated[str, AfterValidator(_network)]


class WebConfig(Strict):
    """The web console (`pii-guard web`, or served by the daemon): where it listens, who may log in."""

    serve_from_daemon: bool = Field(default=False, description="the daemon serves the console on its own thread")
    bind: str = Field(default="127.0.0.1", description="address to listen on; put a reverse proxy in front")
    port: Annotated[int, Field(gt=0, lt=65536)] = 9465
    accounts: str = Field(default="web-accounts", description="local accounts file (`pii-guard web add-user`); "
                                                              "relative to state_dir")
    session_secret: SecretValue | None = Field(default=None, description="key that signs session cookies; "
                                                                         "prefer session_secret_file")
    session_secret_file: str | None = None
    session_secret_env: str | None = None
    session_max_age: DurationUs = Field(default=28_800_000_000, description="a login lasts this long")
    cookie_secure: bool = Field(default=True, description="Secure cookies (HTTPS, or http on localhost only)")
    trusted_proxies: list[Network] = Field(default_factory=list, description="addresses or networks of reverse "
                                                                          "proxies whose headers are believed")
    proxy_user_header: str | None = Field(default=None, description="header carrying the SSO user name, e.g. "
                                                                     "X-Forwarded-User; null: no SSO")
    proxy_role_header: str | None = Field(default=None, description="header carrying viewer/responder/admin")
    proxy_default_role: WebRole = Field(default="viewer", description="role of an SSO user without an account "
                                                                        "or role header")
    forwarded_for_header: str = Field(default="X-Forwarded-For", description="client address, from trusted "
                                                                              "proxies only")
    login_attempts: Annotated[int, Field(gt=0, le=1000)] = Field(
        default=5, description="failed logins allowed per address and per account within login_window")
    login_window: DurationUs = Field(default=900_000_000, description="window of the login rate limit")
    page_size: Annotated[int, Field(gt=0, le=1000)] = 50


class Config(Strict):
    state_dir: str = "/var/lib/pii-guard"
    sources: list[SourceConfig] = Field(default_factory=list)
    receivers: ReceiversConfig = Field(default_factory=ReceiversConfig)
    store: StoreConfig = Field(default_factory=SqliteStoreConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    # Set by the loader, not by the file.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def resolve_file(self, value: str | None, key: str) -> Path | None:
        """A secret's or certificate's file (`key` names the setting), `${VAR}` expanded as systemd's
        LoadCredential= needs (`${CREDENTIALS_DIRECTORY}/slack-token`); a variable that is not set is an error."""
        if value is None:
            return None
        expanded = os.path.expandvars(value)
        unset = _VARIABLE.search(expanded)
        if unset is not None:
            raise ConfigError(f"{key}: {value!r} names the environment variable {unset.group(1) or unset.group(2)}, "
                              "which is not set",
                              hint="systemd sets CREDENTIALS_DIRECTORY for a unit with LoadCredential=; "
                                   "elsewhere give the file's path")
        return self.resolve(expanded)

    @property
    def state_path(self) -> Path:
        return self.resolve(self.state_dir)

    @property
    def store_path(self) -> Path:
        """The SQLite event store's file, or the local dead-letter file of the Elasticsearch store."""
        store = self.store
        path = Path(store.path if isinstance(store, SqliteStoreConfig) else store.dead_letters).expanduser()
        return path if path.is_absolute() else self.state_path / path
