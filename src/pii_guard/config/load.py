"""Loading the config file: YAML → strict model → checks that need other files (formats, zones, paths)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from pii_guard.config.models import Config, SourceConfig
from pii_guard.config.validate import describe, validate
from pii_guard.config.yamlload import LoadedYaml, load_yaml_file
from pii_guard.errors import ConfigError, UsageError
from pii_guard.parsers.base import Parser
from pii_guard.parsers.registry import parser_class

DEFAULT_CONFIG = Path("/etc/pii-guard/pii-guard.yaml")


@dataclass(frozen=True)
class SourcePlan:
    """A configured source with its parser chosen and its options validated."""

    config: SourceConfig
    parser: type[Parser]
    options: BaseModel
    tz: ZoneInfo | None


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    file: Path
    sources: tuple[SourcePlan, ...]


def load_config(path: Path) -> LoadedConfig:
    loaded = load_yaml_file(path)
    config = validate(Config, loaded, base_dir=path.resolve().parent)
    plans = tuple(_plan_source(config, loaded, i, src) for i, src in enumerate(config.sources))
    for key in ("zones", "data_map", "directory", "access"):
        value = getattr(config.policy, key)
        if value is not None and not config.resolve(value).is_file():
            raise ConfigError(
                f"policy.{key}: file {value!r} not found (looked at {config.resolve(value)})",
                location=loaded.location(("policy", key)),
                hint="paths are relative to the config file's directory",
            )
    return LoadedConfig(config=config, file=path, sources=plans)


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
