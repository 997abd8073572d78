"""Local accounts of the web console, one line each: `name:role:hash`, where hash is an argon2id hash
(argon2-cffi) or `!` for an account that only signs in through the reverse proxy (SSO). The file is written
atomically with mode 0600 and re-read when it changes, so `pii-guard web add-user` takes effect at once."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pii_guard.config.models import WebRole
from pii_guard.errors import Location, PiiGuardError

ROLES: Final[tuple[str, ...]] = get_args(WebRole)
NO_PASSWORD: Final = "!"
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


class AccountError(PiiGuardError):
    """The accounts file is invalid, or an account change cannot be made."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    password_hash: str  # argon2 encoded hash, or NO_PASSWORD

    def __repr__(self) -> str:
        return f"Account(name={self.name!r}, role={self.role!r}, password_hash=<secret>)"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise AccountError(f"{name!r} is not an account name",
                           hint="letters, digits and . _ @ + - (at most 64), starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}", hint=f"use one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is too long: at most {MAX_PASSWORD} characters")
    return password


class Accounts:
    """The accounts file, cached and re-read when its size or modification time changes."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self._hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._accounts: dict[str, Account] = {}
        self._dummy = self._hasher.hash("no such account: constant work")

    def all(self) -> dict[str, Account]:
        with self._lock:
            try:
                info = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._accounts = None, {}
                return {}
            except OSError as exc:
                raise AccountError(f"cannot read accounts file {self.path}: {exc.strerror}") from None
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                self._accounts = _parse(self.path)
                self._stamp = stamp
            return dict(self._accounts)

    def get(self, name: str) -> Account | None:
        return self.all().get(name)

    def verify(self, name: str, password: str) -> Account | None:
        """The account if the password is right. An unknown name costs a hash check too (no timing oracle)."""
        account = self.get(name)
        if account is None or account.password_hash == NO_PASSWORD or len(password) > MAX_PASSWORD:
            with contextlib.suppress(VerificationError):
                self._hasher.verify(self._dummy, password[:MAX_PASSWORD] + "x")
            return None
        try:
            self._hasher.verify(account.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if self._hasher.check_needs_rehash(account.password_hash):
            self._update(replace(account, password_hash=self._hasher.hash(password)), must_exist=True)
        return self.get(name)

    def add(self, name: str, role: str, password: str | None) -> Account:
        """A new account; without a password it can only sign in through the trusted reverse proxy."""
        account = Account(check_name(name), check_role(role),
                          NO_PASSWORD if password is None else self._hasher.hash(check_password(password)))
        self._update(account, must_exist=False)
        return account

    def set_password(self, name: str, password: str) -> Account:
        account = self._existing(name)
        return self._update(replace(account, password_hash=self._hasher.hash(check_password(password))),
                            must_exist=True)

    def set_role(self, name: str, role: str) -> Account:
        return self._update(replace(self._existing(name), role=check_role(role)), must_exist=True)

    def remove(self, name: str) -> None:
        accounts = self.all()
        if accounts.pop(name, None) is None:
            raise AccountError(f"no account {name!r}", hint="see `pii-guard web users`")
        self._save(accounts)

    def _existing(self, name: str) -> Account:
        account = self.get(name)
        if account is None:
            raise AccountError(f"no account {name!r}", hint="add it with `pii-guard web add-user`")
        return account

    def _update(self, account: Account, *, must_exist: bool) -> Account:
        accounts = self.all()
        if not must_exist and account.name in accounts:
            raise AccountError(f"account {account.name!r} exists already", hint="change its password with "
                                                                               "`pii-guard web passwd`")
        accounts[account.name] = account
        self._save(accounts)
        return account

    def _save(self, accounts: dict[str, Account]) -> None:
        text = "# pii-guard web console accounts: name:role:argon2 hash (! = sign-in through the proxy only)\n"
        text += "".join(f"{a.name}:{a.role}:{a.password_hash}\n" for a in sorted(accounts.values(),
                                                                                key=lambda a: a.name))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(fresh, self.path)
        except OSError as exc:
            fresh.unlink(missing_ok=True)
            raise AccountError(f"cannot write accounts file {self.path}: {exc.strerror}") from None
        with self._lock:
            self._stamp = None


def _parse(path: Path) -> dict[str, Account]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountError(f"cannot read accounts file {path}: {exc}") from None
    found: dict[str, Account] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = Location(str(path), number)
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            raise AccountError("expected name:role:hash", location=where)
        name, role, digest = parts
        try:
            check_name(name)
            check_role(role)
        except AccountError as exc:
            raise AccountError(exc.message, location=where, hint=exc.hint) from None
        if digest != NO_PASSWORD and not digest.startswith("$argon2"):
            raise AccountError(f"account {name!r}: the hash is not an argon2 hash", location=where,
                               hint="set the password with `pii-guard web passwd`")
        if name in found:
            raise AccountError(f"account {name!r} is listed twice", location=where)
        found[name] = Account(name, role, digest)
    return found
