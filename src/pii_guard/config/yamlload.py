"""YAML loading that remembers where every value came from, and refuses what makes configs ambiguous:
duplicate keys (PyYAML silently keeps the last) and anchors/aliases (one edit changing several places)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import yaml
from yaml.nodes import ScalarNode

from pii_guard.errors import ConfigError, Location

PathKey = tuple[str | int, ...]
_LIBYAML: Final = bool(getattr(yaml, "__with_libyaml__", False))


@dataclass
class LoadedYaml:
    """A parsed document and the line of every key and item in it."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def location(self, path: PathKey) -> Location:
        """The nearest known line for a path (walking up to the parent when the exact key is absent)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return Location(self.file, self.lines[probe])
            probe = probe[:-1]
        return Location(self.file, self.lines.get((), 1))


_Loader = yaml.SafeLoader | yaml.CSafeLoader
_MERGE: Final = "tag:yaml.org,2002:merge"  # what a plain `<<` resolves to


class _Builder:
    """Builds the document straight from the parser's events, noting the line of every key and item.

    No node tree: PyYAML's composer would hold a node, its tag and two marks per scalar until the end (a
    10,000-user directory: 27 MB of nodes for 6 MB of data, and memory the process keeps after they are freed).
    Scalars are resolved and constructed as SafeLoader does (int, float, bool, null, timestamp, explicit tags);
    the tags of mappings and sequences are not used (every mapping is a dict, every sequence a list)."""

    def __init__(self, loader: _Loader, out: LoadedYaml) -> None:
        self._loader = loader
        self._out = out

    def document(self) -> None:
        loader, out = self._loader, self._out
        self._next()  # StreamStartEvent
        if loader.check_event(yaml.StreamEndEvent):
            out.data = None
            out.lines[()] = 1
            return
        first = self._next()  # DocumentStartEvent
        out.data = self.value(())
        self._next()  # DocumentEndEvent
        if not loader.check_event(yaml.StreamEndEvent):
            extra = self._next()
            raise yaml.composer.ComposerError("expected a single document in the stream", _mark(first),
                                              "but found another document", _mark(extra))  # fmt: skip

    def value(self, path: PathKey) -> Any:
        loader, out = self._loader, self._out
        event = self._next()
        out.lines[path] = _line(event)
        if isinstance(event, yaml.ScalarEvent):
            return self._scalar(event)
        if isinstance(event, yaml.MappingStartEvent):
            result: dict[str, Any] = {}
            while not loader.check_event(yaml.MappingEndEvent):
                key_line = _line(loader.peek_event())
                key = self._key()
                if key in result:
                    raise ConfigError(
                        f"duplicate key {key!r} (first at line {out.lines[(*path, key)]})",
                        location=Location(out.file, key_line),
                        hint="remove one of them",
                    )
                result[key] = self.value((*path, key))
                out.lines[(*path, key)] = key_line
            self._next()
            return result
        if isinstance(event, yaml.SequenceStartEvent):
            items: list[Any] = []
            while not loader.check_event(yaml.SequenceEndEvent):
                items.append(self.value((*path, len(items))))
            self._next()
            return items
        if not isinstance(event, yaml.AliasEvent):
            raise yaml.YAMLError(f"unexpected {type(event).__name__} where a value should be")
        raise ConfigError(
            "YAML aliases (*name) are not allowed",
            location=Location(out.file, _line(event)),
            hint="write the value out where it is needed",
        )

    def _key(self) -> str:
        """A mapping's key. A mapping or sequence as a key (`? [a, b]`) becomes its text, as it did when keys
        were constructed from nodes; its lines are nobody's path."""
        if self._loader.check_event(yaml.ScalarEvent):
            key = self._scalar(cast(yaml.ScalarEvent, self._next()))
        else:
            key = _Builder(self._loader, LoadedYaml(file=self._out.file, data=None)).value(())
        return key if isinstance(key, str) else str(key)

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        loader = self._loader
        tag = event.tag
        if tag is None or tag == "!":
            tag = loader.resolve(ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        if tag == _MERGE:  # PyYAML would only say it has no constructor for the tag
            raise ConfigError(
                "YAML merge keys (<<) are not supported",
                location=Location(self._out.file, _line(event)),
                hint="write the keys out in the mapping itself, or quote '<<' if it is meant as text",
            )
        node = ScalarNode(tag, event.value, _mark(event), None, style=event.style)
        try:
            return loader.construct_object(node, deep=True)
        except ValueError as exc:  # YAML resolved it as a date or time that does not exist (2024-13-45)
            raise ConfigError(
                f"{node.value!r} is not a valid {node.tag.rpartition(':')[2]}: {exc}",
                location=Location(self._out.file, _line(event)),
                hint="correct the date, or quote the value if it is meant as text",
            ) from None
        finally:
            loader.constructed_objects.pop(node, None)  # the constructor's memo would keep every node

    def _next(self) -> yaml.Event:
        event = self._loader.get_event()
        if event is None:  # the parser raises before it runs out of events; never trust that silently
            raise yaml.YAMLError("the YAML stream ended early")
        return event


def _mark(event: Any) -> Any:
    """Where an event starts (LibYAML's and PyYAML's marks are different types with the same `line`)."""
    return event.start_mark


def _line(event: Any) -> int:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else 1


def _loader(text: str) -> _Loader:
    """LibYAML's parser where PyYAML was built with it (a 10,000-user directory loads in 0.45 s instead of 3.5 s),
    else the pure-Python one."""
    return yaml.CSafeLoader(text) if _LIBYAML else yaml.SafeLoader(text)


def load_yaml_text(text: str, file: str) -> LoadedYaml:
    """Parse one YAML document; errors carry the file and line."""
    out = LoadedYaml(file=file, data=None)
    loader: _Loader | None = None
    try:
        loader = _loader(text)
        _Builder(loader, out).document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", location=Location(file, line)) from None
    except yaml.reader.ReaderError as exc:
        # LibYAML reports the offset in the UTF-8 bytes, the pure-Python reader in characters
        line = (text.encode("utf-8", "surrogatepass")[: exc.position].count(b"\n") if _LIBYAML
                else text.count("\n", 0, exc.position)) + 1
        char = exc.character
        detail = f" (character #x{char:04x})" if isinstance(char, int) else ""
        raise ConfigError(f"invalid YAML: {exc.reason}{detail}", location=Location(file, line)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", location=Location(file)) from None
    finally:
        if loader is not None:
            loader.dispose()
    return out


def load_yaml_file(path: Path) -> LoadedYaml:
    return load_yaml_text(read_utf8(path), str(path))


def read_utf8(path: Path) -> str:
    """A config or rule file's text; a missing, unreadable or non-UTF-8 file is a ConfigError at its line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", location=Location(str(path))) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", location=Location(str(path))) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not UTF-8 text", location=Location(str(path), line)) from None
    return text


def walk_keys(data: Any, path: PathKey = ()) -> Iterator[PathKey]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key)
            yield from walk_keys(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from walk_keys(value, (*path, i))
