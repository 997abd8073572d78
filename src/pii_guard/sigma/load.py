"""Sigma rule files → pySigma rules, with pySigma's errors as pii-guard ConfigErrors at file:line.

Each YAML document is read by pii-guard's own loader (duplicate keys and aliases refused, the line of every
key kept) and handed to pySigma as a dict. pySigma's errors name no line; the error's type and the rule's
structure say which key it is about (a bad modifier: the detection key that carries it, found by parsing each
detection item alone; a bad level: `level` ...), and that key's line is the error's location. Rules in all
files form one collection, so a correlation may refer to rules of another file by name or id."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2
import sigma.exceptions as sx
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.filters import SigmaFilter
from sigma.policy import SigmaPolicy
from sigma.policy.regex_engine import RegexEngine, RegexPattern
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from pii_guard.config.yamlload import LoadedYaml, PathKey, load_yaml_text, read_utf8
from pii_guard.errors import ConfigError, Location

_DOC_MARK = re.compile(r"^(---|\.\.\.)(\s.*)?$")
_GUARD_ERRORS = (sx.SigmaError, ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)

# pySigma error type → the key it is about
_KEY_OF: dict[type[sx.SigmaError], PathKey] = {
    sx.SigmaTitleError: ("title",), sx.SigmaIdentifierError: ("id",), sx.SigmaStatusError: ("status",),
    sx.SigmaLevelError: ("level",), sx.SigmaModifiedError: ("modified",), sx.SigmaAuthorError: ("author",),
    sx.SigmaDescriptionError: ("description",), sx.SigmaReferencesError: ("references",),
    sx.SigmaFalsePositivesError: ("falsepositives",), sx.SigmaFieldsError: ("fields",),
    sx.SigmaTagError: ("tags",), sx.SigmaRelatedError: ("related",), sx.SigmaLogsourceError: ("logsource",),
    sx.SigmaScopeError: ("scope",), sx.SigmaLicenseError: ("license",), sx.SigmaNameError: ("name",),
    sx.SigmaTaxonomyError: ("taxonomy",), sx.SigmaTimespanError: ("correlation", "timespan"),
    sx.SigmaCorrelationTypeError: ("correlation", "type"),
    sx.SigmaCorrelationConditionError: ("correlation", "condition"),
    sx.SigmaFilterError: ("filter",), sx.SigmaConditionError: ("detection", "condition"),
}  # fmt: skip


class _QuietRE2(RegexEngine):
    """pySigma's RE2 engine, without RE2 writing its parse errors to stderr (they become ConfigErrors)."""

    def compile(self, pattern: str, flags: int = 0) -> RegexPattern:
        options = re2.Options()
        options.log_errors = False
        inline = "".join(v for k, v in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s")) if flags & k)
        compiled: RegexPattern = re2.compile(f"(?{inline})" + pattern if inline else pattern, options)
        return compiled

    @property
    def error(self) -> type[Exception]:
        error: type[Exception] = re2.error
        return error


POLICY = SigmaPolicy(regex_engine=_QuietRE2())


@dataclass
class RuleDoc:
    """One YAML document of a rule file: the pySigma object and where its keys were written."""

    file: str
    number: int  # 1-based document number within the file
    loaded: LoadedYaml
    parsed: SigmaRule | SigmaCorrelationRule | SigmaFilter

    def location(self, path: PathKey = ()) -> Location:
        return self.loaded.location(path)

    @property
    def fallback(self) -> str:
        stem = Path(self.file).stem
        return stem if self.number == 1 else f"{stem}#{self.number}"


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """Rule files: the files named, and every .yml below the directories named (Sigma's suffix; other YAML
    beside the rules, such as their golden samples' expectations, is not read), in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.yml") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError("no such Sigma rule file or directory", location=Location(str(path)))
    return found


def documents(path: Path) -> list[LoadedYaml]:
    """The YAML documents of a file, each with lines counted from the top of the file."""
    return split_documents(read_utf8(path), str(path))


def split_documents(text: str, file: str) -> list[LoadedYaml]:
    lines = text.splitlines(keepends=True)
    chunks: list[tuple[int, list[str]]] = [(0, [])]
    for i, line in enumerate(lines):
        if _DOC_MARK.match(line.rstrip("\r\n")):
            chunks.append((i + 1, []))
        else:
            chunks[-1][1].append(line)
    out: list[LoadedYaml] = []
    for offset, chunk in chunks:
        try:
            loaded = load_yaml_text("".join(chunk), file)
        except ConfigError as exc:  # its line counts from the document's first line: make it the file's
            where = exc.location
            if where is None or where.line is None:
                raise
            raise ConfigError(exc.message, location=Location(file, where.line + offset, where.column),
                              hint=exc.hint) from None
        if loaded.data is None:
            continue
        out.append(LoadedYaml(file, loaded.data, {k: v + offset for k, v in loaded.lines.items()}))
    return out


def parse_document(loaded: LoadedYaml, number: int) -> RuleDoc:
    data = loaded.data
    if not isinstance(data, dict):
        raise ConfigError("a Sigma rule is a mapping of keys", location=loaded.location(()))
    if "action" in data:
        raise ConfigError("Sigma collection actions (global/reset/repeat) are not supported",
                          location=loaded.location(("action",)), hint="write each rule out in full")
    try:
        parsed: SigmaRule | SigmaCorrelationRule | SigmaFilter
        if "correlation" in data:
            parsed = SigmaCorrelationRule.from_dict(data, policy=POLICY)
        elif "filter" in data:
            parsed = SigmaFilter.from_dict(data, policy=POLICY)
        elif "detection" in data:
            parsed = SigmaRule.from_dict(data, policy=POLICY)
        else:
            raise ConfigError("not a Sigma rule: no detection, correlation or filter section",
                              location=loaded.location(()))
    except ConfigError:
        raise
    except _GUARD_ERRORS as exc:
        raise sigma_error(exc, loaded) from None
    return RuleDoc(loaded.file, number, loaded, parsed)


def sigma_error(exc: BaseException, loaded: LoadedYaml) -> ConfigError:
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc) or type(exc).__name__
    return ConfigError(f"Sigma: {message}", location=loaded.location(locate(exc, loaded.data)))


def locate(exc: BaseException, data: Any) -> PathKey:
    """The key a pySigma error is about."""
    if not isinstance(data, dict):
        return ()
    message = str(exc.args[0]) if exc.args else ""
    for kind in type(exc).__mro__:
        if kind in _KEY_OF:
            if kind is sx.SigmaConditionError and "detection" not in data:
                return ("correlation", "condition")
            return _KEY_OF[kind]
    if isinstance(exc, sx.SigmaDateError):
        return ("modified",) if "modified" in message.lower() else ("date",)
    if isinstance(exc, sx.SigmaCorrelationRuleError):
        for name in ("group-by", "timespan", "aliases", "generate", "condition", "rules"):
            if name in message or name.replace("-", " ") in message:
                return ("correlation", name)
        return ("correlation",)
    lowered = message.lower()
    for key in ("tags", "date", "modified", "status", "level", "author", "references", "falsepositives", "related",
                "license", "scope", "taxonomy", "logsource"):
        if key in data and re.search(rf"\b{key.rstrip('s')}s?\b", lowered):
            return (key,)
    detection = data.get("detection")
    if isinstance(detection, dict):
        return ("detection", *_bad_detection(detection))
    return ("detection",) if "detection" in data else ()


def _bad_detection(detection: dict[str, Any]) -> PathKey:
    """Parse each detection alone, then each of its items, to find the one pySigma refuses."""
    for name, definition in detection.items():
        if name == "condition":
            continue
        try:
            SigmaDetection.from_definition(definition, policy=POLICY)
        except _GUARD_ERRORS:
            return (name, *_bad_item(definition))
    return ()


def _bad_item(definition: Any) -> PathKey:
    if isinstance(definition, dict):
        for key, value in definition.items():
            try:
                SigmaDetectionItem.from_mapping(key, value, policy=POLICY)
            except _GUARD_ERRORS:
                return (key,)
    elif isinstance(definition, list):
        for i, item in enumerate(definition):
            if isinstance(item, dict | list):
                try:
                    SigmaDetection.from_definition(item, policy=POLICY)
                except _GUARD_ERRORS:
                    return (i, *_bad_item(item))
    return ()


def load_documents(paths: Sequence[Path]) -> list[RuleDoc]:
    docs: list[RuleDoc] = []
    for path in rule_files(paths):
        for number, loaded in enumerate(documents(path), start=1):
            docs.append(parse_document(loaded, number))
    return docs


def collect(docs: Sequence[RuleDoc]) -> SigmaCollection:
    """All rules as one collection: filters applied, correlation references resolved (or a ConfigError)."""
    try:
        return SigmaCollection([d.parsed for d in docs])
    except sx.SigmaRuleNotFoundError as exc:
        ref = str(exc.args[0]) if exc.args else ""
        for doc in docs:
            if not isinstance(doc.parsed, SigmaCorrelationRule):
                continue
            for i, r in enumerate(doc.parsed.rules or []):
                if r.reference in ref:
                    raise ConfigError(f"Sigma: correlation refers to rule {r.reference!r}, which no loaded rule "
                                      "is named or identified as", location=doc.location(("correlation", "rules", i)),
                                      hint="a correlation's rules are names or ids of rules loaded with it") from None
        raise ConfigError(f"Sigma: {ref}", location=docs[0].location() if docs else None) from None
    except _GUARD_ERRORS as exc:
        raise ConfigError(f"Sigma: {exc}", location=docs[0].location() if docs else None) from None


_SIGMA_SECTION = re.compile(r"^(detection|correlation|filter)\s*:", re.MULTILINE)


def looks_like_sigma(path: Path) -> bool:
    """A directory, or a YAML file with a top-level detection, correlation or filter section."""
    if path.is_dir():
        return True
    try:
        return path.suffix in (".yml", ".yaml") and _SIGMA_SECTION.search(path.read_text("utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False
