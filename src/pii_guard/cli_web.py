"""`pii-guard web`: serve the web console, and manage its local accounts (add-user, passwd, role, del-user,
users). Passwords are read from the terminal (twice) or from standard input with --password-stdin; never
from the command line, where `ps` and shell history would show them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, get_args

import click

from pii_guard.clock import SystemClock
from pii_guard.config.load import DEFAULT_CONFIG, LoadedConfig, load_config
from pii_guard.config.models import WebRole
from pii_guard.errors import UsageError
from pii_guard.logs import configure as configure_logging

if TYPE_CHECKING:
    from pii_guard.web.accounts import Accounts

# the accounts module (argon2 and its C bindings) is imported by the commands that use it: every other
# command, the daemon's `run` among them, starts without it (half a MiB of resident memory)
ROLES: Final[tuple[str, ...]] = get_args(WebRole)

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help=f"config file (default {DEFAULT_CONFIG})",
)
password_stdin = click.option("--password-stdin", is_flag=True,
                              help="read the password from the first line of standard input")


def _load(config_path: Path | None) -> LoadedConfig:
    return load_config(config_path or DEFAULT_CONFIG)


def _accounts(loaded: LoadedConfig) -> Accounts:
    from pii_guard.web.accounts import Accounts

    web = loaded.config.web
    path = Path(web.accounts).expanduser()
    return Accounts(path if path.is_absolute() else loaded.config.state_path / path)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UsageError("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password", hint="pass --password-stdin and pipe it in")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@click.group(invoke_without_command=True)
@config_option
@click.option("--bind", default=None, help="address to listen on (default web.bind, 127.0.0.1)")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="port (default web.port, 9465)")
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_context
def web(ctx: click.Context, config_path: Path | None, bind: str | None, port: int | None, log_level: str) -> None:
    """Serve the web console (incidents, search, who-accessed, reports, status) until SIGTERM.

    Bound to 127.0.0.1 by default: put a reverse proxy with TLS in front of it (README "Web console")."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if ctx.invoked_subcommand is not None:
        return
    from pii_guard.web.app import create_app
    from pii_guard.web.server import bind as bind_socket
    from pii_guard.web.server import serve_forever

    configure_logging(log_level)
    loaded = _load(config_path)
    settings = loaded.config.web
    sock = bind_socket(bind or settings.bind, port or settings.port)
    app = create_app(loaded.config, SystemClock())
    if not _accounts(loaded).all() and settings.proxy_user_header is None:
        click.echo("pii-guard: no accounts yet: add one with `pii-guard web add-user NAME --role admin`", err=True)
    try:
        serve_forever(app, sock)
    finally:
        app.state.ctx.close()


def _config_of(ctx: click.Context, config_path: Path | None) -> LoadedConfig:
    return _load(config_path or ctx.obj.get("config_path"))


@web.command("add-user")
@config_option
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--sso-only", is_flag=True, help="no password: the account signs in through the trusted proxy only")
@password_stdin
@click.argument("name")
@click.pass_context
def add_user(ctx: click.Context, config_path: Path | None, role: str, sso_only: bool, password_stdin: bool,
             name: str) -> None:
    """Add a local account NAME with a ROLE (viewer: read; responder: act, sign, see names; admin: all)."""
    accounts = _accounts(_config_of(ctx, config_path))
    account = accounts.add(name, role, None if sso_only else _password(password_stdin))
    click.echo(f"account {account.name} added ({account.role}) in {accounts.path}")


@web.command("passwd")
@config_option
@password_stdin
@click.argument("name")
@click.pass_context
def passwd(ctx: click.Context, config_path: Path | None, password_stdin: bool, name: str) -> None:
    """Set NAME's password (their open sessions end)."""
    accounts = _accounts(_config_of(ctx, config_path))
    accounts.set_password(name, _password(password_stdin))
    click.echo(f"password of {name} changed")


@web.command("role")
@config_option
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
def role_cmd(ctx: click.Context, config_path: Path | None, name: str, role: str) -> None:
    """Change NAME's role (takes effect on their next page)."""
    _accounts(_config_of(ctx, config_path)).set_role(name, role)
    click.echo(f"{name} is now {role}")


@web.command("del-user")
@config_option
@click.argument("name")
@click.pass_context
def del_user(ctx: click.Context, config_path: Path | None, name: str) -> None:
    """Remove NAME's account (their sessions end)."""
    _accounts(_config_of(ctx, config_path)).remove(name)
    click.echo(f"account {name} removed")


@web.command("users")
@config_option
@click.pass_context
def users(ctx: click.Context, config_path: Path | None) -> None:
    """List the local accounts and their roles."""
    found = _accounts(_config_of(ctx, config_path)).all()
    for account in found.values():
        kind = "sso only" if account.password_hash == "!" else "password"
        click.echo(f"{account.name:<24} {account.role:<10} {kind}")
    if not found:
        click.echo("no accounts")
