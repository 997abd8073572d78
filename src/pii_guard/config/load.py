"""Loading the config file: YAML → strict model → checks that need other files (formats, zones, paths)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from pii_guard.config.models import (
    Config,
    JournalReceiverConfig,
    RouteConfig,
    SourceConfig,
    SyslogReceiverConfig,
)
from pii_guard.config.validate import describe, validate
from pii_guard.config.yamlload import LoadedYaml, load_yaml_file
from pii_guard.errors import ConfigError, UsageError
from pii_guard.parsers.base import Parser
from pii_guard.parsers.registry import parser_class
from pii_guard.sources.spool import UNROUTED, spool_dir, spool_pattern

DEFAULT_CONFIG = Path("/etc/pii-guard/pii-guard.yaml")


@dataclass(frozen=True)
class SourcePlan:
    """A configured source with its parser chosen and its options validated."""

    config: SourceConfig
    parser: type[Parser]
    options: BaseModel
    tz: ZoneInfo | None


@dataclass(frozen=True)
class RoutePlan:
    """Messages of some programs, to one parser: the spool file of `name` is followed as `source`."""

    name: str
    tags: tuple[str, ...]
    source: SourcePlan


@dataclass(frozen=True)
class ReceiverPlan:
    """A syslog listener or journal reader, its spool directory and its routes (their plans are among
    LoadedConfig.sources too, so the live loop follows the spool files like any other source)."""

    config: SyslogReceiverConfig | JournalReceiverConfig
    spool_dir: Path
    routes: tuple[RoutePlan, ...]
    tz: ZoneInfo | None = None  # of RFC 3164 stamps
    tls: tuple[Path, Path, Path | None] | None = None  # cert, key, ca: resolved

    @property
    def name(self) -> str:
        return self.config.name

    def tag_routes(self) -> dict[str, str]:
        return {tag: route.name for route in self.routes for tag in route.tags}


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    file: Path
    sources: tuple[SourcePlan, ...]
    receivers: tuple[ReceiverPlan, ...] = ()


def load_config(path: Path) -> LoadedConfig:
    loaded = load_yaml_file(path)
    config = validate(Config, loaded, base_dir=path.resolve().parent)
    plans = tuple(_plan_source(config, loaded, i, src) for i, src in enumerate(config.sources))
    receivers = _plan_receivers(config, loaded)
    plans += tuple(route.source for receiver in receivers for route in receiver.routes)
    for key in ("zones", "data_map", "directory", "access"):
        value = getattr(config.policy, key)
        if value is not None and not config.resolve(value).is_file():
            raise ConfigError(
                f"policy.{key}: file {value!r} not found (looked at {config.resolve(value)})",
                location=loaded.location(("policy", key)),
                hint="paths are relative to the config file's directory",
            )
    return LoadedConfig(config=config, file=path, sources=plans, receivers=receivers)


def resolve_timezone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Berlin or UTC") from None


def parser_options(parser: type[Parser], options: dict[str, object]) -> BaseModel:
    """Validate a parser's options; errors are UsageErrors naming the option."""
    try:
        return parser.Options.model_validate(options)
    except ValidationError as exc:
        _, message, hint = describe(dict(exc.errors()[0]), parser.Options)
        raise UsageError(f"option of format {parser.name!r}: {message}", hint=hint) from None


def _plan_source(config: Config, loaded: LoadedYaml, index: int, src: SourceConfig) -> SourcePlan:
    here = ("sources", index)
    try:
        parser = parser_class(src.format)
    except UsageError as exc:
        raise ConfigError(exc.message, location=loaded.location((*here, "format")), hint=exc.hint) from None
    try:
        tz = resolve_timezone(src.timezone)
    except UsageError as exc:
        raise ConfigError(exc.message, location=loaded.location((*here, "timezone")), hint=exc.hint) from None
    try:
        options = parser.Options.model_validate(src.options)
    except ValidationError as exc:
        loc, message, hint = describe(dict(exc.errors()[0]), parser.Options)
        raise ConfigError(
            f"sources[{index}].options: {message}",
            location=loaded.location((*here, "options", *loc)),
            hint=hint,
        ) from None
    return SourcePlan(config=src, parser=parser, options=options, tz=tz)


def _plan_receivers(config: Config, loaded: LoadedYaml) -> tuple[ReceiverPlan, ...]:
    """Each syslog listener and journal reader, with a source plan per route for its spool file."""
    plans: list[ReceiverPlan] = []
    seen: dict[str, str] = {}
    kinds: list[tuple[str, list[SyslogReceiverConfig | JournalReceiverConfig]]] = [
        ("syslog", [*config.receivers.syslog]), ("journal", [*config.receivers.journal])]
    for kind, items in kinds:
        for index, item in enumerate(items):
            here = ("receivers", kind, index)
            if item.name in seen:
                raise ConfigError(f"receivers.{kind}[{index}].name: {item.name!r} is already the name of "
                                  f"receivers.{seen[item.name]}", location=loaded.location((*here, "name")),
                                  hint="each receiver needs a name of its own (its spool directory)")
            seen[item.name] = f"{kind}[{index}]"
            plans.append(_plan_receiver(config, loaded, here, item))
    return tuple(plans)


def _plan_receiver(config: Config, loaded: LoadedYaml, here: tuple[str | int, ...],
                   item: SyslogReceiverConfig | JournalReceiverConfig) -> ReceiverPlan:
    directory = spool_dir(config.state_path, item.name)
    routes: list[RoutePlan] = []
    tags: dict[str, int] = {}
    names: set[str] = set()
    for j, route in enumerate(item.routes):
        at = (*here, "routes", j)
        name = route.name or route.format
        if name in names or name == UNROUTED:
            raise ConfigError(f"route name {name!r} is taken" + (" (by unrouted messages)" if name == UNROUTED
                                                                    else " by another route of this receiver"),
                              location=loaded.location(at), hint="give the route a `name:` of its own")
        names.add(name)
        for tag in route.tags:
            if tag in tags:
                raise ConfigError(f"program {tag!r} is routed twice (routes {tags[tag]} and {j})",
                                  location=loaded.location((*at, "tags")), hint="route each program once")
            tags[tag] = j
        routes.append(RoutePlan(name, tuple(route.tags), _route_source(loaded, at, item.name, directory, name, route)))
    tz: ZoneInfo | None = None
    tls: tuple[Path, Path, Path | None] | None = None
    if isinstance(item, SyslogReceiverConfig):
        tz = _receiver_timezone(loaded, here, item.timezone)
        _check_addresses(loaded, here, item)
        if item.tls is not None:
            tls = _tls_files(config, loaded, (*here, "tls"), item.tls.cert, item.tls.key, item.tls.ca)
    return ReceiverPlan(item, directory, tuple(routes), tz, tls)


def _route_source(loaded: LoadedYaml, at: tuple[str | int, ...], receiver: str, directory: Path, name: str,
                  route: RouteConfig) -> SourcePlan:
    try:
        parser = parser_class(route.format)
    except UsageError as exc:
        raise ConfigError(exc.message, location=loaded.location((*at, "format")), hint=exc.hint) from None
    try:
        options = parser.Options.model_validate(route.options)
    except ValidationError as exc:
        loc, message, hint = describe(dict(exc.errors()[0]), parser.Options)
        raise ConfigError(f"route {name!r} options: {message}", location=loaded.location((*at, "options", *loc)),
                          hint=hint) from None
    # spool lines always carry a zone: RFC 3164 stamps are placed in the receiver's zone when received
    source = SourceConfig(path=spool_pattern(directory, name), format=route.format, options=route.options,
                          name=f"{receiver}/{name}", timezone="UTC")
    return SourcePlan(config=source, parser=parser, options=options, tz=resolve_timezone("UTC"))


def _receiver_timezone(loaded: LoadedYaml, here: tuple[str | int, ...], name: str | None) -> ZoneInfo | None:
    try:
        return resolve_timezone(name)
    except UsageError as exc:
        raise ConfigError(exc.message, location=loaded.location((*here, "timezone")), hint=exc.hint) from None


def _check_addresses(loaded: LoadedYaml, here: tuple[str | int, ...], item: SyslogReceiverConfig) -> None:
    from pii_guard.sources.syslog_receiver import parse_address

    if item.tcp is None and item.udp is None:
        raise ConfigError("a syslog receiver needs tcp:, udp: or both", location=loaded.location(here),
                          hint="e.g. tcp: 127.0.0.1:5140")
    for key in ("tcp", "udp"):
        value = getattr(item, key)
        if value is None:
            continue
        try:
            parse_address(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}", location=loaded.location((*here, key))) from None


def _tls_files(config: Config, loaded: LoadedYaml, here: tuple[str | int, ...], cert: str, key: str,
               ca: str | None) -> tuple[Path, Path, Path | None]:
    found: dict[str, Path] = {}
    for name, value in (("cert", cert), ("key", key), ("ca", ca)):
        if value is None:
            continue
        path = config.resolve(value)
        if not path.is_file():
            raise ConfigError(f"tls.{name}: file {value!r} not found (looked at {path})",
                              location=loaded.location((*here, name)),
                              hint="paths are relative to the config file's directory")
        found[name] = path
    return found["cert"], found["key"], found.get("ca")
