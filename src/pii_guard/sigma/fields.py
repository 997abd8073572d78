"""Which events a Sigma rule sees (its logsource) and what its field names mean (Sigma name → event field).

Rules written for pii-guard (`product: pii-guard`) use the event's own ECS names, as `pii-guard parse` prints
them (`user.name`, `event.action`, `pii.categories` ...). Rules written for other tools use their taxonomy's
names (SigmaHQ's web rules say `cs-method`, `c-uri`, `sc-status` ...); the field mapping translates them.
A name that is neither mapped nor an event field is looked up as it is among the event's further fields, so
an operator's own parsers' fields work without a mapping.

Built-in logsources (a mapping file's entries are tried first, then these, most specific first):

| logsource                                     | events                                              |
|-----------------------------------------------|-----------------------------------------------------|
| product: pii-guard, category: database_access | PostgreSQL, MariaDB/MySQL audit; not logins/logouts |
| product: pii-guard, category: file_access     | Samba full_audit, sftp, FTP; not logins/logouts     |
| product: pii-guard, category: web_access      | nginx and Apache access logs                        |
| product: pii-guard, category: authentication  | logins and logouts of every source                  |
| product: pii-guard (service: a dataset)       | every event (of that dataset, e.g. postgresql)      |
| product: postgresql / mariadb / mysql / samba | that product's events                               |
| category: webserver or proxy (product nginx/apache optional) | nginx and Apache access logs          |

Computed fields, for rules (not stored with the event): `pii.hour` (0-23) and `pii.weekday` (mon ... sun) of
the event in the policy's time zone; `pii.user_status` (the directory's status: active, disabled, service,
left; `unknown` for a user not in it); `url.extension` (of `url.path`, without the dot); `file.directory`
(the folder of `file.path`, or of a `file:` object). How each is read: sigma/getters.py.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pii_guard.config.validate import validate
from pii_guard.config.yamlload import load_yaml_file
from pii_guard.sigma.getters import GETTERS

# Further fields the parsers write (AccessEvent.fields), for `rules lint`'s check of field names.
PARSER_FIELDS = frozenset({
    "url.path", "url.original", "url.query", "url.domain", "http.request.method", "http.request.referrer",
    "http.response.status_code", "http.version", "user_agent.original", "process.pid", "file.path",
    "file.target_path", "source.domain", "user.domain", "user.target.name", "user.effective.name", "event.code",
    "event.duration",
    "samba.share", "samba.service", "samba.password_type", "samba.disposition", "samba.access_mask",
    "postgresql.log.application_name", "postgresql.audit.type", "postgresql.audit.class",
    "postgresql.audit.statement_id", "postgresql.audit.substatement_id", "mariadb.audit.operation",
    "mariadb.audit.database", "mariadb.audit.table", "mariadb.audit.new_table", "mariadb.audit.query_id",
    "mariadb.audit.connection_id", "pii.peer_ip", "pii.forwarded_for", "pii.claimed_user",
})  # fmt: skip

KNOWN_FIELDS = frozenset(GETTERS) | PARSER_FIELDS

# Fields that hold one value per event: two different required values of one of them can never both hold.
SINGLE_VALUED = frozenset(GETTERS) - {"user.roles", "pii.record_ids", "pii.categories"}

_WEB_FIELDS = {
    "cs-method": "http.request.method", "c-uri": "url.original", "cs-uri": "url.original",
    "cs-uri-query": "url.original", "cs-uri-stem": "url.path", "c-uri-stem": "url.path", "c-uri-query": "url.query",
    "c-uri-extension": "url.extension", "sc-status": "http.response.status_code", "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original", "cs-referer": "http.request.referrer",
    "cs-referrer": "http.request.referrer", "cs-host": "url.domain", "r-dns": "url.domain", "sc-bytes": "pii.bytes",
    "cs-version": "http.version", "c-ip": "source.ip", "cs-username": "user.name",
}  # fmt: skip

_GLOBAL_FIELDS = {"c-ip": "source.ip", "src_ip": "source.ip", "dst_ip": "destination.ip", "cs-username": "user.name"}

DB_DATASETS = ("postgresql.*", "mariadb.*", "mysql.*")
FILE_DATASETS = ("samba.full_audit", "openssh.sftp", "vsftpd.*", "ftp.*")
WEB_DATASETS = ("nginx.access", "apache.access")
SESSION_ACTIONS = frozenset({"login", "logout"})


@dataclass(frozen=True)
class Logsource:
    """The events a rule with this logsource sees, and its own field names."""

    datasets: tuple[str, ...] | None = None  # globs on event.dataset; None: all
    actions: frozenset[str] | None = None  # None: all
    exclude_actions: frozenset[str] = frozenset()
    fields: Mapping[str, str] = field(default_factory=dict)
    label: str = ""

    def admits(self, dataset: str, action: str) -> bool:
        if self.actions is not None and action not in self.actions:
            return False
        if action in self.exclude_actions:
            return False
        return self.datasets is None or any(fnmatch.fnmatchcase(dataset, g) for g in self.datasets)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogsourceEntry(_Strict):
    """One logsource mapping: the rule's logsource attributes it applies to, and the events they mean."""

    category: str | None = None
    product: str | None = None
    service: str | None = None
    datasets: list[str] | None = Field(default=None, description="event.dataset globs; omitted: every dataset")
    actions: list[str] | None = Field(default=None, description="event.action values; omitted: every action")
    exclude_actions: list[str] = Field(default_factory=list)
    fields: dict[str, str] = Field(default_factory=dict, description="Sigma field name → event field")

    def applies(self, category: str | None, product: str | None, service: str | None) -> bool:
        return all(want is None or want == got for want, got in
                   ((self.category, category), (self.product, product), (self.service, service)))

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.category, self.product, self.service))


class FieldMappingFile(_Strict):
    """The `sigma_fields` file: field names for every rule, and logsources with their own field names."""

    fields: dict[str, str] = Field(default_factory=dict, description="Sigma field name → event field")
    logsources: list[LogsourceEntry] = Field(default_factory=list)


def _builtin() -> list[LogsourceEntry]:
    pg = "pii-guard"
    session = sorted(SESSION_ACTIONS)
    entries = [
        LogsourceEntry(product=pg, category="database_access", datasets=list(DB_DATASETS), exclude_actions=session),
        LogsourceEntry(product=pg, category="file_access", datasets=list(FILE_DATASETS), exclude_actions=session),
        LogsourceEntry(product=pg, category="web_access", datasets=list(WEB_DATASETS)),
        LogsourceEntry(product=pg, category="authentication", actions=session),
        LogsourceEntry(product=pg),
        LogsourceEntry(product="postgresql", datasets=["postgresql.*"]),
        LogsourceEntry(product="mariadb", datasets=["mariadb.*", "mysql.*"]),
        LogsourceEntry(product="mysql", datasets=["mariadb.*", "mysql.*"]),
        LogsourceEntry(product="samba", datasets=["samba.*"]),
        LogsourceEntry(product="nginx", datasets=["nginx.*"], fields=_WEB_FIELDS),
        LogsourceEntry(product="apache", datasets=["apache.*"], fields=_WEB_FIELDS),
    ]
    for category in ("webserver", "proxy"):
        entries.append(LogsourceEntry(category=category, product="nginx", datasets=["nginx.access"],
                                      fields=_WEB_FIELDS))
        entries.append(LogsourceEntry(category=category, product="apache", datasets=["apache.access"],
                                      fields=_WEB_FIELDS))
        entries.append(LogsourceEntry(category=category, datasets=list(WEB_DATASETS), fields=_WEB_FIELDS))
    return entries


class FieldMapping:
    """Logsource → events and Sigma field name → event field, from a mapping file and the built-in table."""

    def __init__(self, fields: Mapping[str, str] | None = None, logsources: Sequence[LogsourceEntry] = ()) -> None:
        self.fields = {**_GLOBAL_FIELDS, **(fields or {})}
        builtin = sorted(_builtin(), key=lambda e: -e.specificity)  # stable: most specific first
        self.entries = [*logsources, *builtin]

    @classmethod
    def from_file(cls, path: Path) -> FieldMapping:
        loaded = load_yaml_file(path)
        spec = validate(FieldMappingFile, loaded)
        return cls(spec.fields, spec.logsources)

    def logsource(self, category: str | None, product: str | None, service: str | None) -> Logsource | None:
        """The events a rule with this logsource sees; None when pii-guard has no such events."""
        for entry in self.entries:
            if not entry.applies(category, product, service):
                continue
            datasets = tuple(entry.datasets) if entry.datasets is not None else None
            if product == "pii-guard" and service is not None and entry.service is None:
                # `service` names a dataset or a family of them (postgresql → postgresql.*)
                datasets = (service, f"{service}.*")
            label = "/".join(x for x in (product, category, service) if x)
            return Logsource(datasets, frozenset(entry.actions) if entry.actions is not None else None,
                             frozenset(entry.exclude_actions), {**self.fields, **entry.fields}, label)
        return None

    @staticmethod
    def event_field(source: Logsource, sigma_field: str) -> str:
        return source.fields.get(sigma_field, sigma_field)
