"""The one list of parsers, by format name. Modules are imported when a format is first asked for."""

from __future__ import annotations

import importlib
from typing import Final

from pii_guard.errors import UsageError
from pii_guard.parsers.base import Parser

_PARSERS: Final = {
    "pgaudit": "pii_guard.parsers.pgaudit:PgAuditParser",
    "mariadb-audit": "pii_guard.parsers.mariadb:MariaDbAuditParser",
    "samba-full-audit": "pii_guard.parsers.samba:SambaFullAuditParser",
    "sftp": "pii_guard.parsers.sftp:SftpParser",
    "nginx": "pii_guard.parsers.weblog:NginxParser",
    "apache": "pii_guard.parsers.weblog:ApacheParser",
    "jsonl": "pii_guard.parsers.jsonl:JsonLinesParser",
    "vsftpd": "pii_guard.parsers.vsftpd:VsftpdParser",
    "s3-access": "pii_guard.parsers.s3access:S3AccessParser",
    "cloudtrail": "pii_guard.parsers.cloudtrail:CloudTrailParser",
    "mysql-enterprise-audit": "pii_guard.parsers.mysqlent:MySqlEnterpriseAuditParser",
    "percona-audit": "pii_guard.parsers.percona:PerconaAuditParser",
    "windows-4663": "pii_guard.parsers.win4663:Win4663Parser",
}


def format_names() -> list[str]:
    return sorted(_PARSERS)


def parser_class(name: str) -> type[Parser]:
    target = _PARSERS.get(name)
    if target is None:
        import difflib

        close = difflib.get_close_matches(name, _PARSERS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "known formats: " + ", ".join(format_names())
        raise UsageError(f"unknown log format {name!r}", hint=hint)
    module_name, _, class_name = target.partition(":")
    cls: type[Parser] = getattr(importlib.import_module(module_name), class_name)
    return cls
