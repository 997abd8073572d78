"""Turns pydantic's validation errors into pii-guard errors with file, line, key and a suggested fix."""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pii_guard.config.yamlload import LoadedYaml, PathKey
from pii_guard.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _known_keys(model: type[BaseModel], path: PathKey) -> list[str]:
    """Field names of the sub-model a path points into, to suggest the nearest one for a typo."""
    current: Any = model
    in_mapping = False  # the next path part is a key of a dict field, not a field name
    for part in path:
        if isinstance(part, int):
            continue
        if in_mapping:
            in_mapping = False
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        in_mapping = getattr(annotation, "__origin__", None) is dict
        current = _model_in(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return [name for name, f in fields.items() if not f.exclude] if fields else []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def describe(err: dict[str, Any], model: type[BaseModel]) -> tuple[PathKey, str, str | None]:
    # pydantic adds validator names such as 'function-after[_shape(), BulkRule]' to the path: not YAML keys
    loc: PathKey = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _known_keys(model, loc[:-1]), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it"
        return loc, f"unknown key {dotted!r}", hint
    if kind == "missing":
        return loc, f"missing required key {dotted!r}", "add it"
    return loc, f"{dotted}: {err['msg']}", None


def validate(model: type[M], loaded: LoadedYaml, **extra: Any) -> M:
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of keys at the top level", location=loaded.location(()))
    try:
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        errors = exc.errors()
        loc, message, hint = describe(dict(errors[0]), model)
        if len(errors) > 1:
            more = len(errors) - 1
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(message, location=loaded.location(loc), hint=hint) from None
