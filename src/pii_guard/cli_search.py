"""`pii-guard search`, `who-accessed`, `audit` and `verify`: the incident responder's questions to the store.
Every search and who-accessed run is recorded (who, when, what) before its answer is shown."""

from __future__ import annotations

import csv
import getpass
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from pii_guard.clock import SystemClock
from pii_guard.config.load import DEFAULT_CONFIG, LoadedConfig, load_config
from pii_guard.config.models import SqliteStoreConfig
from pii_guard.duration import duration_us
from pii_guard.errors import UsageError
from pii_guard.search import audit
from pii_guard.search.fields import FIELDS
from pii_guard.search.pseudonym import Pseudonyms
from pii_guard.search.query import Node, Term, glob_node, parse_instant, parse_query
from pii_guard.search.request import MAX_LIMIT, SearchBackend, SearchRequest, Sort, check_top
from pii_guard.store.state import StateStore
from pii_guard.terminal import printable

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help=f"config file (default {DEFAULT_CONFIG})",
)
_COLUMNS = ["@timestamp", "user.name", "user.roles", "event.action", "event.outcome", "pii.object", "pii.rows",
            "pii.bytes", "pii.categories", "source.ip", "source.zone", "host.name", "event.dataset", "event.id"]


F = TypeVar("F", bound=Callable[..., Any])


def time_options(default_since: str) -> Callable[[F], F]:
    def wrap(fn: F) -> F:
        fn = click.option("--to", "to_", default=None, metavar="TIME", help="until (exclusive), ISO time")(fn)
        fn = click.option("--from", "from_", default=None, metavar="TIME", help="from, ISO time (UTC if no zone)")(fn)
        return click.option("--since", default=None, metavar="DURATION",
                            help=f"the last DURATION (default {default_since} unless --from)")(fn)
    return wrap


def _window(since: str | None, from_: str | None, to_: str | None, default_since: str) -> tuple[int, int]:
    now = int(SystemClock().now() * 1_000_000)
    until = _instant(to_, "--to") if to_ else now + 1
    if from_ and since:
        raise UsageError("give --since or --from, not both")
    if from_:
        start = _instant(from_, "--from")
    else:
        try:
            start = until - duration_us(since or default_since)
        except ValueError as exc:
            raise UsageError(f"--since {since!r}: {exc}") from None
    if start >= until:
        raise UsageError("the time range is empty (--from must come before --to)")
    return start, until


def _instant(text: str, flag: str) -> int:
    try:
        return parse_instant(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a time (write 2026-11-27 or 2026-11-27T10:15:00Z)") from None


def _actor() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


@contextmanager
def search_backend(loaded: LoadedConfig) -> Iterator[SearchBackend]:
    config = loaded.config
    backend: SearchBackend
    if isinstance(config.store, SqliteStoreConfig):
        from pii_guard.search.sqlite_search import SqliteSearch

        backend = SqliteSearch(config.store_path)
    else:
        from pii_guard.search.es_search import ElasticSearch
        from pii_guard.store.build import open_event_store
        from pii_guard.store.elastic import ElasticsearchEventStore

        store = open_event_store(config)
        assert isinstance(store, ElasticsearchEventStore)
        backend = ElasticSearch(store)
    try:
        yield backend
    finally:
        backend.close()


def _load(config_path: Path | None) -> LoadedConfig:
    return load_config(config_path or DEFAULT_CONFIG)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _csv_safe(value: Any) -> str:
    """Spreadsheets run cells that start with = + - @: log text is untrusted, so such cells get a quote."""
    text = _cell(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_TABLE_HIDDEN = ("event.id", "event.dataset", "host.name", "pii.bytes")  # in JSON and CSV, not in the table


def _emit(docs: list[dict[str, Any]], as_json: bool, as_csv: bool, columns: list[str],
          hidden: tuple[str, ...] = _TABLE_HIDDEN) -> None:
    if as_json:
        for doc in docs:
            click.echo(orjson.dumps(doc).decode())
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for doc in docs:
            writer.writerow([_csv_safe(doc.get(c)) for c in columns])
    else:
        short = [c for c in columns if c not in hidden]
        rows = [[c.split(".")[-1].replace("@", "").upper() for c in short]]
        rows += [[printable(_cell(d.get(c)))[:60] if c != "@timestamp" else _cell(d.get(c))[:19].replace("T", " ")
                  for c in short] for d in docs]  # text from logs: one line, its control characters escaped
        widths = [max(len(r[i]) for r in rows) for i in range(len(short))]
        for row in rows:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


class QueryCommand(click.Command):
    """A command whose QUERY may start with `-` (Lucene's `-term`, "not term"): an argument that starts with a
    single dash, is not one of the command's options and is not an option's value is taken as the query, as if
    it had been given after `--`. Misspelt long options (`--limt`) are still refused."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names: set[str] = set()
        valued: set[str] = set()
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                names.update(param.opts + param.secondary_opts)
                if not param.is_flag and not param.count:
                    valued.update(param.opts)
        kept: list[str] = []
        queries: list[str] = []
        rest = list(args)
        while rest:
            arg = rest.pop(0)
            if arg == "--":
                queries.extend(rest)
                break
            if arg in valued:  # its value may start with a dash (--sort -pii.rows)
                kept.append(arg)
                if rest:
                    kept.append(rest.pop(0))
            elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and arg not in names:
                queries.append(arg)
            else:
                kept.append(arg)
        return super().parse_args(ctx, [*kept, "--", *queries] if queries else kept)


@click.command(cls=QueryCommand)
@config_option
@time_options("7d")
@click.option("--sort", "sorts", multiple=True, metavar="FIELD", help="-@timestamp (default), user.name, -pii.rows")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=100, show_default=True)
@click.option("--count", "count_only", is_flag=True, help="only the number of matching events")
@click.option("--top", "top_field", default=None, metavar="FIELD", help="the most frequent values of FIELD")
@click.option("--by", "top_by", default=None, metavar="FIELD", help="with --top: rank by the sum of pii.rows/bytes")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row")
@click.argument("query", default="*")
def search(config_path: Path | None, since: str | None, from_: str | None, to_: str | None, sorts: tuple[str, ...],
           limit: int, count_only: bool, top_field: str | None, top_by: str | None, as_json: bool, as_csv: bool,
           query: str) -> None:
    """Search stored events with a Lucene-style QUERY, e.g.

    \b
      user.name:bob AND pii.categories:sensitive AND NOT source.zone:office
      event.action:(read OR export) AND pii.rows:[1000 TO *]
      pii.object:file\\:/srv/share/hr/* AND source.ip:10.20.0.0/16

    Fields: see README "Search". Terms side by side are ANDed; -term or NOT term leaves a term out (a QUERY
    that starts with "-" is the query, not an option).
    """
    loaded = _load(config_path)
    node = parse_query(query)
    start, until = _window(since, from_, to_, "7d")
    request = SearchRequest(node, start, until, tuple(Sort.parse(s) for s in sorts) or SearchRequest.sort, limit)
    if top_field is not None:
        check_top(top_field, top_by)
    detail = {"query": query, "from": start, "to": until, "count": count_only, "top": top_field, "by": top_by}
    started = time.perf_counter()
    with search_backend(loaded) as backend:
        if count_only:
            n = backend.count(request)
            _record(loaded, "search", detail, n)
            click.echo(orjson.dumps({"count": n}).decode() if as_json else str(n))
            return
        if top_field is not None:
            top = backend.top(request, top_field, top_by, min(limit, 1000))
            _record(loaded, "search", detail, len(top))
            docs = [{top_field: row.value, "events": row.events, **({top_by: row.volume} if top_by else {})}
                    for row in top]
            _emit(docs, as_json, as_csv, [top_field, "events", *([top_by] if top_by else [])], hidden=())
            return
        docs = backend.search(request)
        _record(loaded, "search", detail, len(docs))
    _emit(docs, as_json, as_csv, _COLUMNS)
    if not (as_json or as_csv):
        click.echo(f"{len(docs)} event(s) in {time.perf_counter() - started:.2f} s"
                   f"{' (the limit; narrow the query or raise --limit)' if len(docs) == limit else ''}", err=True)


def _record(loaded: LoadedConfig, command: str, detail: dict[str, Any], results: int | None) -> None:
    audit.record(loaded.config.state_path / "state.db", _actor(), command, detail, results,
                 int(SystemClock().now() * 1_000_000))


@click.command("who-accessed")
@config_option
@time_options("365d")
@click.option("--record", "record_id", default=None, help="a record id (customer number ...) from app audit logs")
@click.option("--object", "obj", default=None, help="an object, e.g. db:crm.public.customers (* and ? as wildcards)")
@click.option("--path", "path_glob", default=None, help="a file path glob, e.g. '/srv/share/hr/*smith*'")
@click.option("--reveal", is_flag=True, help="show staff names instead of pseudonyms (recorded in the audit log)")
@click.option("--reason", default=None, help="why the names are revealed (required with --reveal; recorded)")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
def who_accessed(config_path: Path | None, since: str | None, from_: str | None, to_: str | None,
                 record_id: str | None, obj: str | None, path_glob: str | None, reveal: bool, reason: str | None,
                 limit: int, as_json: bool, as_csv: bool) -> None:
    """Who accessed one person's data, for a data-subject request: when, who (pseudonymized staff ids unless
    --reveal), with what action, role and from where."""
    chosen = [x for x in (record_id, obj, path_glob) if x]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --record, --object, --path")
    if reason is not None and not reveal:
        raise UsageError("--reason goes with --reveal")
    if reveal and not (reason or "").strip():
        raise UsageError("--reveal needs --reason: say why the names are revealed (it is kept in the audit log)",
                         hint='e.g. --reveal --reason "DSAR 2026-17"')
    node: Node
    if record_id:
        node = Term(FIELDS["pii.record_ids"], record_id)
    elif obj:
        node = glob_node("pii.object", obj)
    else:
        assert path_glob is not None
        node = glob_node("pii.object", "file:" + path_glob)
    loaded = _load(config_path)
    start, until = _window(since, from_, to_, "365d")
    request = SearchRequest(node, start, until, (Sort("@timestamp", False),), limit)
    detail = {"record": record_id, "object": obj, "path": path_glob, "from": start, "to": until,
              "reveal": reveal, "reason": reason}
    with search_backend(loaded) as backend:
        docs = backend.search(request)
    _record(loaded, "who-accessed", detail, len(docs))  # recorded before anything is shown
    if not reveal:
        pseudonym = Pseudonyms.for_state(loaded.config.state_path)
        for doc in docs:
            if "user.name" in doc:
                doc["user.name"] = pseudonym(doc["user.name"])
    columns = ["@timestamp", "user.name", "user.roles", "pii.department", "event.action", "event.outcome",
               "pii.object", "pii.rows", "source.zone", "source.ip", "event.id"]
    _emit(docs, as_json, as_csv, columns)
    if not (as_json or as_csv):
        who = "names revealed (recorded)" if reveal else "staff pseudonymized; --reveal shows names and is recorded"
        click.echo(f"{len(docs)} access(es); {who}", err=True)


@click.command("audit")
@config_option
@click.option("--since", default="30d", metavar="DURATION", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def audit_cmd(config_path: Path | None, since: str, as_json: bool) -> None:
    """Who queried the monitor: every search and who-accessed run, with its query and result count."""
    loaded = _load(config_path)
    try:
        start = int(SystemClock().now() * 1_000_000) - duration_us(since)
    except ValueError as exc:
        raise UsageError(f"--since {since!r}: {exc}") from None
    state = StateStore(loaded.config.state_path / "state.db")
    try:
        found = audit.entries(state.connection, start)
    finally:
        state.close()
    for item in found:
        if as_json:
            click.echo(orjson.dumps(item).decode())
        else:
            shown = {k: v for k, v in item["detail"].items() if v not in (None, False) and k not in ("from", "to")}
            click.echo(printable(f"{item['at'][:19].replace('T', ' ')}  {item['actor']:<12} {item['command']:<13} "
                                 f"{orjson.dumps(shown).decode()}  -> {item['results']}"))
    if not found and not as_json:
        click.echo("no searches recorded")


@click.command("verify")
@config_option
def verify_cmd(config_path: Path | None) -> None:
    """Check the hash chains of the audit log and the incident timelines; exit 1 if a row was edited or
    deleted. Keep the printed head hashes elsewhere to detect a truncated tail later."""
    loaded = _load(config_path)
    state = StateStore(loaded.config.state_path / "state.db")
    try:
        reports = audit.verify_all(state.connection)
    finally:
        state.close()
    broken = False
    for report in reports:
        if report.broken_at is None:
            click.echo(f"{report.table}: {report.rows} row(s), chain intact, head {report.head}")
        else:
            broken = True
            click.echo(f"{report.table}: BROKEN at row {report.broken_at}: {report.reason}")
    sys.exit(1 if broken else 0)

