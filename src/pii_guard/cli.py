"""The `pii-guard` command. Typed errors become messages and exit codes here, and only here."""

from __future__ import annotations

import fnmatch
import glob
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from typing import Any, Final

import click
import orjson
import yaml

from pii_guard import __version__
from pii_guard.clock import SystemClock
from pii_guard.config.load import DEFAULT_CONFIG, LoadedConfig, load_config, parser_options, resolve_timezone
from pii_guard.config.models import Config
from pii_guard.daemon import Daemon
from pii_guard.detection.build import engine_for, policy_for
from pii_guard.enrich.enricher import Enricher
from pii_guard.errors import ConfigError, PiiGuardError, UsageError
from pii_guard.incidents.book import IncidentBook
from pii_guard.interpreter import pipeline_interpreter
from pii_guard.logs import configure as configure_logging
from pii_guard.model import AccessEvent, ecs_document
from pii_guard.notify.build import notifiers_for, targets_for
from pii_guard.parsers.detect import describe, format_warnings, guess_file
from pii_guard.parsers.registry import format_names, parser_class
from pii_guard.pipeline import Batcher, FileIngest, FileSpec, RunStats
from pii_guard.policy.ruletest import run_rule_test
from pii_guard.replay import Replayer
from pii_guard.ruletest_output import print_rule_test
from pii_guard.sources.compressed import rotated_from
from pii_guard.sources.series import rotation_series
from pii_guard.sources.tail import rotations_beside
from pii_guard.status import file_status, incident_status
from pii_guard.store.base import DeadLetter, EventStore
from pii_guard.store.build import open_event_store
from pii_guard.store.sqlite import SqliteEventStore
from pii_guard.store.state import StateStore
from pii_guard.terminal import printable

EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2
_MAX_FAILURES_SHOWN = 20


class GuardedGroup(click.Group):
    """Turns pii-guard's typed errors into one clean line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PiiGuardError as exc:
            click.echo(f"pii-guard: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(EXIT_OK)


# Subcommands in modules of their own, imported when one of them runs (or `--help` lists them): `pii-guard run`
# need not carry the search language, the reports and the web console in the daemon's memory.
_LAZY_COMMANDS: Final = {
    "incidents": "pii_guard.cli_incidents:incidents",
    "search": "pii_guard.cli_search:search",
    "who-accessed": "pii_guard.cli_search:who_accessed",
    "audit": "pii_guard.cli_search:audit_cmd",
    "verify": "pii_guard.cli_search:verify_cmd",
    "report": "pii_guard.cli_reports:report_cmd",
    "review": "pii_guard.cli_reports:review",
    "web": "pii_guard.cli_web:web",
}


class _MainGroup(GuardedGroup):
    """The `pii-guard` group: its own commands, and those of `_LAZY_COMMANDS`, imported on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, name = target.partition(":")
        command = getattr(importlib.import_module(module), name)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help=f"config file (default {DEFAULT_CONFIG})",
)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from pii_guard.compiled import describe_build

    click.echo(f"pii-guard, version {__version__} ({describe_build()})")
    ctx.exit()


@click.group(cls=_MainGroup)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the build (pure Python, or compiled with mypyc) and exit.")
def main() -> None:
    """pii-guard: checks access to personal data in database and file-server logs."""


def _parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            options[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            options[key] = raw
        if not isinstance(options[key], list | dict | int | bool | float) and options[key] is not None:
            options[key] = raw
    return options


def _require_files(files: tuple[Path, ...]) -> None:
    for path in files:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal, nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


@main.command()
@click.option("--format", "fmt", required=True, type=click.Choice([*format_names(), "auto"]),
              help="log format; auto: guess it per file from its first lines (the guess and its confidence go to "
                   "stderr)")
@click.option("--tz", "tz_name", default=None, help="zone of formats that write local time (IANA name)")
@click.option("--host", default=None, help="host.name for formats that do not carry it")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="parser option, repeatable")
@click.option("--no-mask", is_flag=True, help="keep SQL literals and query strings unmasked")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def parse(fmt: str, tz_name: str | None, host: str | None, sets: tuple[str, ...], no_mask: bool,
          files: tuple[Path, ...]) -> None:
    """Print the events of FILES as ECS JSON lines; failures go to stderr. Gzip files are decompressed. The
    rotations of one log (pg.log.2.gz pg.log.1 pg.log) are read oldest first, sessions carried across."""
    _require_files(files)
    tz, given = resolve_timezone(tz_name), _parse_sets(sets)
    specs = [(path, _parse_spec(path, fmt, given, tz, host, not no_mask)) for path in files]
    stats = RunStats()
    out = sys.stdout.buffer
    clock = SystemClock()

    def print_event(event: AccessEvent) -> None:
        out.write(orjson.dumps(ecs_document(event)) + b"\n")

    def report_failure(dead: DeadLetter) -> None:
        if stats.failed <= _MAX_FAILURES_SHOWN:
            click.echo(printable(f"pii-guard: {dead.source} offset {dead.offset}: {dead.reason}"), err=True)

    ingest = FileIngest(print_event, report_failure, stats, clock)
    for series in rotation_series(specs, lambda spec: spec.parser):  # a log's rotations oldest first, as ingest
        carried = None
        for n, (_, path, spec) in enumerate(series):  # a compressed file is decompressed as it is read
            carried = ingest.run(path, spec, None, carried, last=n == len(series) - 1)
    out.flush()
    if stats.failed:
        click.echo(f"pii-guard: {stats.failed} record(s) not parsed, {stats.events} event(s) printed", err=True)
    for warning in stats.warnings():
        click.echo(f"pii-guard: warning: {warning}", err=True)
    if stats.unterminated:
        click.echo("pii-guard: last line has no newline (parsed anyway): "
                   + ", ".join(stats.unterminated), err=True)


def _parse_spec(path: Path, fmt: str, given: dict[str, Any], tz: tzinfo | None, host: str | None,
                mask: bool) -> FileSpec:
    """How `parse` reads one file: the format asked for, or with `auto` the best guess (said on stderr),
    its suggested options overridden by --set."""
    options = given
    if fmt == "auto":
        guesses = guess_file(path)
        if not guesses or guesses[0].confidence <= 0:
            raise UsageError(f"{path}: cannot tell its format from its first lines ({describe(guesses)})",
                             hint="pass --format NAME; `pii-guard parse --help` lists them")
        click.echo(f"pii-guard: {path}: format {describe(guesses)}", err=True)
        fmt, options = guesses[0].format, {**guesses[0].options, **given}
    parser = parser_class(fmt)
    line_bytes = int(getattr(parser, "preferred_max_line_bytes", 1 << 20))
    return FileSpec(parser, parser_options(parser, options), tz, host, line_bytes, mask)


def _load(config_path: Path | None) -> LoadedConfig:
    return load_config(config_path or DEFAULT_CONFIG)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def check(config_path: Path | None, as_json: bool) -> None:
    """Validate the config and every file it names; exit 0 if all is well, 2 if not."""
    loaded = _load(config_path)
    _check_state_dir(loaded.config.state_path)
    enricher = Enricher.from_config(loaded.config)
    policy = policy_for(loaded.config, enricher)
    report: dict[str, Any] = {"config": str(loaded.file), "sources": [], "policy": policy.file,
                              "rules": policy.policy.rule_ids(), "state_dir": str(loaded.config.state_path)}
    if not loaded.sources:
        report["warnings"] = ["no sources: `run` would read nothing (add sources or receivers)"]
    for plan in loaded.sources:
        src = plan.config
        matches = sorted(glob.glob(str(loaded.config.resolve(src.path))))
        item: dict[str, Any] = {"path": src.path, "format": src.format, "files": len(matches)}
        if plan.parser.needs_timezone:
            item["timezone"] = src.timezone or "UTC (not set: this format writes local time without a zone)"
        warnings = format_warnings(src.format, matches, src.include_compressed, src.max_line_bytes, src.options)
        rotations = rotations_beside(str(loaded.config.resolve(src.path)))
        if rotations:
            warnings.append(
                f"{len(rotations)} rotation(s) of this file lie beside it ({Path(rotations[0]).name} ...), but the "
                "source follows the one name: a rotation renamed again before the daemon opened it is never "
                f"read. Follow the rotations too with a glob (path: '{src.path}*'); files are told apart by "
                "their first bytes, so none is read twice")
        if warnings:
            item["warnings"] = warnings
        report["sources"].append(item)
    notifiers = notifiers_for(loaded.config)  # refuses a missing or unreadable secret, never prints one
    report["notify"] = [{"name": t.name, "min_severity": t.min_severity} for t in targets_for(loaded.config)
                        if t.name in notifiers]
    report["incidents"] = {"group_by": list(loaded.config.incidents.group_by),
                           "join_same_event": loaded.config.incidents.join_same_event}
    report["web"] = _check_web(loaded.config)
    report["directory_users"] = len(enricher.directory)
    report["data_map_categories"] = list(enricher.data_map.categories)
    report["zones"] = sorted(enricher.zones.names)
    if loaded.config.policy.sigma:
        report["sigma"] = _check_sigma(loaded.config)
    if as_json:
        click.echo(orjson.dumps(report).decode())
        return
    click.echo(f"config {loaded.file}: ok")
    for warning in report.get("warnings", ()):
        click.echo(f"  warning: {warning}")
    for item in report["sources"]:
        line = f"  source {item['path']} ({item['format']}): {item['files']} file(s) now"
        if "timezone" in item:
            line += f"; local timestamps read as {item['timezone']}"
        click.echo(line)
        for warning in item.get("warnings", ()):
            click.echo(f"    warning: {warning}")
    click.echo(f"  directory: {report['directory_users']} user(s); zones: {', '.join(report['zones'])}")
    click.echo(f"  data map categories: {', '.join(report['data_map_categories']) or '(none)'}")
    click.echo(f"  access policy {report['policy']}: {len(report['rules'])} rule(s)")
    if "sigma" in report:
        sigma = report["sigma"]
        click.echo(f"  Sigma: {sigma['rules']} rule(s), {sigma['correlations']} correlation(s)")
        for warning in sigma["warnings"]:
            click.echo(f"    warning: {warning}")
    web = report["web"]
    click.echo(f"  web console: {web['accounts']} local account(s) in {web['accounts_file']}; session secret "
               + ("configured" if web["session_secret"] else "not set (a random key per process: logins end "
                  "when it stops)"))
    same_event = "; the rules one event breaks share one" if report["incidents"]["join_same_event"] else ""
    click.echo(f"  incidents grouped by {' + '.join(report['incidents']['group_by'])}{same_event}; notify: "
               + (", ".join(f"{n['name']} (from {n['min_severity']})" for n in report["notify"]) or "off"))


def _check_state_dir(path: Path) -> None:
    """`run` must be able to create and write its state: refused here, before a unit's ExecStartPre passes."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        where = "it" if existing == path else f"{existing}, where it would be created,"
        raise ConfigError(f"state_dir {path}: {where} is not a writable directory for this user",
                          hint="create it owned by the daemon's user, or set state_dir elsewhere")


def _check_sigma(config: Config) -> dict[str, Any]:
    """The configured Sigma rules (loading already refused broken ones) and what `rules lint` warns of: a
    misspelled field makes a rule that silently never fires."""
    from pii_guard.detection.build import field_mapping_for, sigma_for
    from pii_guard.sigma.lint import lint

    ruleset = sigma_for(config)
    problems = lint([config.resolve(p) for p in config.policy.sigma], field_mapping_for(config))
    return {"rules": len(ruleset.rules), "correlations": len(ruleset.correlations),
            "warnings": [str(p) for p in problems]}


def _check_web(config: Config) -> dict[str, Any]:
    """The web console's accounts file parses and its session secret can be read (never printed)."""
    from pii_guard.web.accounts import Accounts
    from pii_guard.web.context import accounts_path, configured_session_secret

    path = accounts_path(config)
    return {"accounts_file": str(path), "accounts": len(Accounts(path).all()),
            "session_secret": configured_session_secret(config) is not None}


def _spec_for(loaded: LoadedConfig, path: Path, fmt: str | None, sets: tuple[str, ...] = ()) -> FileSpec:
    mask = loaded.config.privacy.mask_literals
    if fmt is not None:  # auto: guessed from the file's first lines, as `parse --format auto`
        return _parse_spec(path, fmt, _parse_sets(sets), None, None, mask)
    resolved = str(path.resolve())
    # a rotated archive (pg.log.2.gz) belongs to the source of the log it was rotated from (pg.log)
    names = [resolved, *rotated_from(resolved)]
    for name in names:
        for plan in loaded.sources:
            pattern = str(loaded.config.resolve(plan.config.path).resolve())
            if fnmatch.fnmatch(name, pattern):
                return FileSpec(plan.parser, plan.options, plan.tz, plan.config.host, plan.config.max_line_bytes,
                                mask)
    raise UsageError(f"{path}: no source in the config matches this file",
                     hint="add a source for it or pass --format")


@main.command()
@config_option
@click.option("--format", "fmt", default=None, type=click.Choice([*format_names(), "auto"]),
              help="parse every FILE with this format instead of the config's sources (auto: guess it)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def ingest(config_path: Path | None, fmt: str | None, as_json: bool, files: tuple[Path, ...]) -> None:
    """Parse, enrich and store FILES in the event store."""
    _require_files(files)
    loaded = _load(config_path)
    specs = [(path, _spec_for(loaded, path, fmt)) for path in files]
    enricher = Enricher.from_config(loaded.config)
    clock = SystemClock()
    store = open_event_store(loaded.config)
    stats = RunStats()
    batcher = Batcher(store, stats, loaded.config.store.batch_size)
    runner = FileIngest.storing(enricher, batcher, stats, clock)
    started = time.perf_counter()
    try:
        with pipeline_interpreter(), _progress(sum(p.stat().st_size for p in files), "ingesting") as progress:
            for series in rotation_series(specs, lambda spec: spec.parser):  # a log's rotations oldest first
                carried = None
                for n, (_, path, spec) in enumerate(series):
                    carried = runner.run(path, spec, progress, carried, last=n == len(series) - 1)
    finally:
        store.close()
    _print_summary(stats, time.perf_counter() - started, loaded.config.store_path, as_json)


@main.command()
@config_option
@click.option("--format", "fmt", default=None, type=click.Choice([*format_names(), "auto"]),
              help="parse every FILE with this format instead of the config's sources (auto: guess it)")
@click.option("--json", "as_json", is_flag=True, help="matches as JSON lines")
@click.option("--fresh", is_flag=True, help="use a throw-away state and event store (nothing is kept)")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def replay(config_path: Path | None, fmt: str | None, as_json: bool, fresh: bool, files: tuple[Path, ...]) -> None:
    """Run historical logs through parse → enrich → detect → store; print matches; exit 1 if any."""
    _require_files(files)
    loaded = _load(config_path)
    specs = [(path, _spec_for(loaded, path, fmt)) for path in files]
    enricher = Enricher.from_config(loaded.config)
    policy = policy_for(loaded.config, enricher)
    with _stores(loaded, fresh) as (events, state):
        replayer = Replayer(enricher, engine_for(policy), events, state, SystemClock(),
                            loaded.config.store.batch_size)
        with pipeline_interpreter():
            result = replayer.run(specs)
        found = state.matches_for_sources(result.sources)
        opened = state.connection.execute("SELECT count(*) FROM incidents").fetchone()[0]
    _print_matches(found, as_json)
    if not as_json:
        stats = result.stats
        click.echo(f"{stats.events:,} event(s) from {len(files)} file(s); {len(found)} match(es), "
                   f"{result.new_matches} new; {stats.failed} record(s) not parsed; {opened} incident(s) in the "
                   "state database", err=True)
        for warning in stats.warnings():
            click.echo(f"warning: {warning}", err=True)
    sys.exit(EXIT_FOUND if found else EXIT_OK)


@contextmanager
def _stores(loaded: LoadedConfig, fresh: bool) -> Iterator[tuple[EventStore, StateStore]]:
    with tempfile.TemporaryDirectory(prefix="pii-guard-") as tmp:
        base = Path(tmp) if fresh else loaded.config.state_path
        events = SqliteEventStore(base / "events.db") if fresh else open_event_store(loaded.config)
        # replayed matches open incidents like live ones; a fresh run keeps them (and says nothing) in the temp dir
        book = IncidentBook(loaded.config.incidents, [] if fresh else targets_for(loaded.config))
        state = StateStore(base / "state.db", incidents=book)
        try:
            yield events, state
        finally:
            events.close()
            state.close()


def _print_matches(found: list[dict[str, Any]], as_json: bool) -> None:
    for doc in found:
        if as_json:
            click.echo(orjson.dumps(doc).decode())
        else:
            attempt = " (attempt)" if doc["attempt"] else ""
            click.echo(printable(f"{doc['@timestamp']} {doc['severity'].upper():8} {doc['rule']['id']}{attempt}: "
                                 f"{doc['sentence']}"))


@main.command()
@config_option
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def run(config_path: Path | None, log_level: str) -> None:
    """Run the daemon: follow the configured logs until SIGTERM (SIGHUP reloads)."""
    configure_logging(log_level)
    sys.exit(Daemon(config_path or DEFAULT_CONFIG, SystemClock()).run())


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(config_path: Path | None, as_json: bool) -> None:
    """Per-file position and lag, from the state database."""
    loaded = _load(config_path)
    rows = file_status(loaded.config.state_path / "state.db", SystemClock())
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row).decode())
        return
    if not rows:
        click.echo("no file has been read yet")
    for row in rows:
        click.echo(f"{row['path']}  offset {row['offset']:,} of {row['size']:,} bytes, lag {row['lag_bytes']:,} bytes"
                   f"{', ' + format(row['lag_seconds'], '.1f') + ' s' if row['lag_seconds'] else ''}"
                   f"{' (rotated away)' if not row['current'] else ''}")
    summary = incident_status(loaded.config.state_path / "state.db")
    opened = ", ".join(f"{n} {sev}" for sev in ("critical", "high", "medium", "low")
                       if (n := summary["open"].get(sev)))
    click.echo(f"open incidents: {opened or 'none'}")
    outbox = summary["outbox"]
    if outbox:
        click.echo(f"notifications: {outbox.get('done', 0)} delivered, {outbox.get('pending', 0)} waiting, "
                   f"{outbox.get('failed', 0)} failed for good (see `pii-guard incidents show`)")


@main.group()
def rules() -> None:
    """Test and inspect the access policy and the Sigma rules."""


@rules.command("test")
@config_option
@click.option("--format", "fmt", default=None, type=click.Choice([*format_names(), "auto"]),
              help="format of SAMPLE (default: the config source that matches it; auto: guess it)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="parser option (with --format), repeatable")
@click.option("--verbose", "-v", is_flag=True, help="show every event and each rule's verdict")
@click.option("--json", "as_json", is_flag=True, help="matches as JSON lines")
@click.argument("rulefile", type=click.Path(path_type=Path))
@click.argument("sample", type=click.Path(path_type=Path))
def rules_test(config_path: Path | None, fmt: str | None, sets: tuple[str, ...], verbose: bool, as_json: bool,
               rulefile: Path, sample: Path) -> None:
    """Run RULEFILE over SAMPLE: which lines match which rule, and why not. Exit 1 on matches.

    RULEFILE is an access policy, or a Sigma rule file or directory (run alone, in the policy's time zone)."""
    from pii_guard.detection.build import sigma_test_for
    from pii_guard.sigma.load import looks_like_sigma

    if not rulefile.is_dir():
        _require_files((rulefile,))
    _require_files((sample,))
    loaded = _load(config_path)
    enricher = Enricher.from_config(loaded.config)
    if looks_like_sigma(rulefile):
        policy = sigma_test_for(loaded.config, enricher, [rulefile])
    else:
        policy = policy_for(loaded.config, enricher, override=rulefile)
    report = run_rule_test(policy, enricher, sample, _spec_for(loaded, sample, fmt, sets), SystemClock())
    if as_json:
        for line, match in report.matches:
            click.echo(orjson.dumps({"line": line, **match.to_json()}).decode())
    else:
        print_rule_test(report, rulefile, sample, verbose)
    sys.exit(EXIT_FOUND if report.matches else EXIT_OK)


@rules.command("lint")
@config_option
@click.option("--json", "as_json", is_flag=True, help="problems as JSON lines")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def rules_lint(config_path: Path | None, as_json: bool, paths: tuple[Path, ...]) -> None:
    """Check Sigma rules (PATHS, default: the config's policy.sigma): unknown fields for the logsource, regexes
    RE2 refuses, rules that can never match. Exit 1 if there is an error, 0 for warnings only."""
    from pii_guard.detection.build import field_mapping_for
    from pii_guard.sigma.fields import FieldMapping
    from pii_guard.sigma.lint import lint

    if paths and config_path is None and not DEFAULT_CONFIG.exists():  # rules alone: the built-in field mapping
        targets, mapping = list(paths), FieldMapping()
    else:
        loaded = _load(config_path)
        targets = list(paths) or [loaded.config.resolve(p) for p in loaded.config.policy.sigma]
        mapping = field_mapping_for(loaded.config)
    if not targets:
        raise UsageError("no Sigma rules to lint", hint="name files or directories, or set policy.sigma")
    problems = lint(targets, mapping)
    for problem in problems:
        if as_json:
            click.echo(orjson.dumps({"location": str(problem.location) if problem.location else None,
                                     "severity": problem.severity, "message": problem.message,
                                     "hint": problem.hint}).decode())
        else:
            click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    if not as_json:
        click.echo(f"{len(problems) - errors} warning(s), {errors} error(s)" if problems else "no problems found",
                   err=True)
    sys.exit(EXIT_FOUND if errors else EXIT_OK)


def _print_summary(stats: RunStats, seconds: float, store_path: Path, as_json: bool) -> None:
    rate = stats.events / seconds if seconds > 0 else 0.0
    summary = {
        "files": stats.files, "lines": stats.lines, "events": stats.events, "stored": stats.stored,
        "duplicates": stats.duplicates, "failed": stats.failed, "failures": dict(stats.failures),
        "seconds": round(seconds, 3), "events_per_second": round(rate), "store": str(store_path),
    }
    if stats.warnings():
        summary["warning"] = "; ".join(stats.warnings())
    if as_json:
        click.echo(orjson.dumps(summary).decode())
        return
    click.echo(f"{stats.files} file(s), {stats.lines:,} lines → {stats.events:,} events "
               f"({stats.stored:,} new, {stats.duplicates:,} already stored) in {seconds:.2f} s, "
               f"{rate:,.0f} events/s")
    if stats.failed:
        click.echo(f"{stats.failed:,} line(s) not parsed, kept as dead letters:")
        for reason, count in stats.failures.most_common(10):
            click.echo(f"  {count:>8,}  {reason}")
    if stats.unterminated:
        click.echo(f"last line without newline (ingested anyway): {', '.join(stats.unterminated)}")
    for warning in stats.warnings():
        click.echo(f"warning: {warning}")
    click.echo(f"store: {store_path}")
