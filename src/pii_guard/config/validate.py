"""Turns pydantic's validation errors into pii-guard errors with file, line, key and a suggested fix."""

from __future__ import annotations

import difflib
from typing import Any, TypeVar, get_args

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


def _tagged_model(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None]:
    """pydantic puts a tagged union's tag into the path (`store.sqlite.batch_size`): not a YAML key. Drop it,
    and say which model the rest of the path points into."""
    for i, part in enumerate(loc[:-1]):
        fields = getattr(model, "model_fields", {})
        if not isinstance(part, str) or part not in fields:
            break
        tagged = {tag: m for m in _models_in(fields[part].annotation) if (tag := _tag_of(m)) is not None}
        tag = loc[i + 1]
        if len(tagged) > 1 and tag in tagged:
            return (*loc[: i + 1], *loc[i + 2:]), tagged[tag]
        inner = _model_in(fields[part].annotation)
        if inner is None:
            break
        model = inner
    return loc, None


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    values = get_args(field.annotation)
    return str(values[0]) if len(values) == 1 else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    for meta in getattr(annotation, "__metadata__", ()) or ():
        found.extend(_models_in(meta))
    return found


def describe(err: dict[str, Any], model: type[BaseModel]) -> tuple[PathKey, str, str | None]:
    # pydantic adds validator names such as 'function-after[_shape(), BulkRule]' to the path: not YAML keys
    raw = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    loc: PathKey
    loc, tagged = _tagged_model(model, raw)
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        known = list(tagged.model_fields) if tagged is not None and len(loc) == 2 else _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it"
        return loc, f"unknown key {dotted!r}", hint
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        where: PathKey = (*loc, "type")
        return where, f"{'.'.join(str(p) for p in where)}: {ctx.get('tag')!r} is not one of the types", \
            f"use one of {ctx.get('expected_tags')}"
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
