"""Local accounts: the file's format and its errors (file:line), argon2 hashes, the CLI that manages them
(passwords from a terminal or standard input, never from arguments), and the `web:` config section."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pii_guard.cli import main
from pii_guard.config.load import load_config
from pii_guard.errors import ConfigError
from pii_guard.web.accounts import AccountError, Accounts


def test_add_verify_and_change_password(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path / "web-accounts")
    accounts.add("rita", "responder", "a long password")
    assert stat.S_IMODE(os.stat(tmp_path / "web-accounts").st_mode) == 0o600
    line = (tmp_path / "web-accounts").read_text().splitlines()[1]
    assert line.startswith("rita:responder:$argon2id$")
    assert "a long password" not in line
    assert accounts.verify("rita", "a long password") is not None
    assert accounts.verify("rita", "wrong password") is None
    assert accounts.verify("nobody", "a long password") is None
    accounts.set_password("rita", "another password")
    assert accounts.verify("rita", "a long password") is None
    assert accounts.verify("rita", "another password") is not None
    assert "argon2" not in repr(accounts.get("rita"))


@pytest.mark.parametrize(("call", "message"), [
    (lambda a: a.add("rita", "responder", "short"), "the password is too short: at least 10 characters"),
    (lambda a: a.add("ri ta", "viewer", "a long password"), "'ri ta' is not an account name"),
    (lambda a: a.add("rita", "boss", "a long password"), "unknown role 'boss'"),
    (lambda a: a.set_password("nobody", "a long password"), "no account 'nobody'"),
])
def test_refused_changes(tmp_path: Path, call: object, message: str) -> None:
    accounts = Accounts(tmp_path / "web-accounts")
    with pytest.raises(AccountError) as caught:
        call(accounts)  # type: ignore[operator]
    assert caught.value.message == message


def test_a_second_account_of_the_same_name_is_refused(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path / "web-accounts")
    accounts.add("rita", "responder", None)
    with pytest.raises(AccountError, match="exists already"):
        accounts.add("rita", "admin", "a long password")
    assert accounts.verify("rita", "") is None  # sso-only accounts have no password


@pytest.mark.parametrize(("text", "error"), [
    ("rita:responder\n", "accts:1: expected name:role:hash"),
    ("# c\nrita:boss:!\n", "accts:2: unknown role 'boss' (use one of viewer, responder, admin)"),
    ("rita:viewer:plaintext\n", "accts:1: account 'rita': the hash is not an argon2 hash"),
    ("rita:viewer:!\nrita:admin:!\n", "accts:2: account 'rita' is listed twice"),
])
def test_file_errors_name_the_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "accts"
    path.write_text(text)
    with pytest.raises(AccountError) as caught:
        Accounts(path).all()
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(error)


def _config(tmp_path: Path, web: str = "") -> Path:
    path = tmp_path / "pii-guard.yaml"
    path.write_text(f"state_dir: state\n{web}")
    return path


def test_cli_add_user_passwd_role_users(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    runner = CliRunner()
    added = runner.invoke(main, ["web", "add-user", "--config", config, "--role", "responder", "--password-stdin",
                                 "rita"], input="a long password\n")
    assert added.exit_code == 0, added.output
    assert "account rita added (responder)" in added.output
    accounts = Accounts(tmp_path / "state" / "web-accounts")
    assert accounts.verify("rita", "a long password") is not None
    changed = runner.invoke(main, ["web", "passwd", "--config", config, "--password-stdin", "rita"],
                            input="a new long password\n")
    assert changed.exit_code == 0
    assert accounts.verify("rita", "a new long password") is not None
    assert runner.invoke(main, ["web", "role", "--config", config, "rita", "admin"]).exit_code == 0
    listed = runner.invoke(main, ["web", "users", "--config", config])
    assert listed.output.split() == ["rita", "admin", "password"]
    short = runner.invoke(main, ["web", "add-user", "--config", config, "--password-stdin", "vera"], input="short\n")
    assert short.exit_code == 2
    assert "pii-guard: error: the password is too short: at least 10 characters" in short.output
    assert runner.invoke(main, ["web", "del-user", "--config", config, "rita"]).exit_code == 0
    assert accounts.get("rita") is None


def test_cli_will_not_take_a_password_without_a_terminal_or_stdin_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["web", "add-user", "--config", str(_config(tmp_path)), "rita"])
    assert result.exit_code == 2
    assert "no terminal to ask for the password (pass --password-stdin and pipe it in)" in result.output


def test_web_config_defaults_and_errors(tmp_path: Path) -> None:
    web = load_config(_config(tmp_path)).config.web
    assert (web.bind, web.port, web.serve_from_daemon, web.cookie_secure) == ("127.0.0.1", 9465, False, True)
    assert str(web.session_secret) == "None"
    assert web.trusted_proxies == []
    bad = _config(tmp_path, "web:\n  trusted_proxies:\n    - 10.0.0.1\n    - proxy.example\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert str(caught.value) == (f"{bad}:5: web.trusted_proxies.1: Value error, 'proxy.example' is not an IP "
                                 "address or network (10.0.0.5, 10.0.0.0/24)")
    typo = _config(tmp_path, "web:\n  prot: 8080\n")
    with pytest.raises(ConfigError) as caught:
        load_config(typo)
    assert str(caught.value) == f"{typo}:3: unknown key 'web.prot' (did you mean 'port'?)"


def test_the_session_secret_prints_as_secret(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cr3t-value\n")
    config = load_config(_config(tmp_path, "web:\n  session_secret_file: secret\n")).config
    from pii_guard.web.context import session_secret

    secret = session_secret(config)
    assert secret.reveal() == "s3cr3t-value"
    assert str(secret) == "<secret>"
    assert "s3cr3t" not in repr(config)
    missing = load_config(_config(tmp_path, "web:\n  session_secret_file: nope\n")).config
    with pytest.raises(ConfigError, match=r"cannot read web session_secret from .*nope"):
        session_secret(missing)


def test_the_command_line_starts_without_the_password_hashing_library() -> None:
    """Only the `web` account commands hash passwords: the daemon (`run`) and the other commands load neither
    argon2 nor the accounts module (resident memory of an idle daemon)."""
    code = ("import sys, pii_guard.cli\n"
            "print(sorted(m for m in ('argon2', 'pii_guard.web.accounts') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
