"""The directory of users: user → roles, department, status. YAML or CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from pii_guard.config.validate import validate
from pii_guard.config.yamlload import load_yaml_file
from pii_guard.enrich.files import DirectoryFile
from pii_guard.errors import ConfigError, Location
from pii_guard.model import UserInfo


class Directory:
    """Lookup of users by login name. Unknown users get a shared `known=False` record per name."""

    def __init__(self, users: dict[str, UserInfo]) -> None:
        self._users = users
        self._unknown: dict[str, UserInfo] = {}

    def __len__(self) -> int:
        return len(self._users)

    def lookup(self, name: str) -> UserInfo:
        info = self._users.get(name)
        if info is not None:
            return info
        info = self._unknown.get(name)
        if info is None:
            if len(self._unknown) >= 100_000:
                self._unknown.clear()
            info = UserInfo(name=name, known=False, status="unknown")
            self._unknown[name] = info
        return info

    @classmethod
    def empty(cls) -> Directory:
        return cls({})

    @classmethod
    def from_file(cls, path: Path) -> Directory:
        if path.suffix.lower() == ".csv":
            return cls(_read_csv(path))
        parsed = validate(DirectoryFile, load_yaml_file(path))
        users: dict[str, UserInfo] = {}
        for name, entry in parsed.users.items():
            info = UserInfo(name, tuple(entry.roles), entry.department, entry.status, True)
            users[name] = info
            for alias in entry.aliases:
                users[alias] = info._replace(name=alias)
        return cls(users)


def _read_csv(path: Path) -> dict[str, UserInfo]:
    """CSV with a header `user,roles,department,status`; roles separated by `;`."""
    users: dict[str, UserInfo] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if "user" not in header:
            raise ConfigError("CSV directory needs a header with a 'user' column", location=Location(str(path), 1),
                              hint="columns: user,roles,department,status")
        unknown = set(header) - {"user", "roles", "department", "status"}
        if unknown:
            raise ConfigError(f"unknown column(s) {sorted(unknown)}", location=Location(str(path), 1),
                              hint="columns: user,roles,department,status")
        for row in reader:
            line = reader.line_num
            name = (row.get("user") or "").strip()
            if not name:
                raise ConfigError("empty user name", location=Location(str(path), line))
            if name in users:
                raise ConfigError(f"user {name!r} listed twice", location=Location(str(path), line))
            status = (row.get("status") or "active").strip()
            if status not in ("active", "disabled", "service", "left"):
                raise ConfigError(f"status {status!r} is not one of active, disabled, service, left",
                                  location=Location(str(path), line))
            roles = tuple(r.strip() for r in (row.get("roles") or "").split(";") if r.strip())
            users[name] = UserInfo(name, roles, (row.get("department") or "").strip() or None, status, True)
    return users
