"""`rules lint`: unknown fields for the logsource, regexes RE2 refuses, rules that can never match."""

from __future__ import annotations

from pathlib import Path

import pytest

from pii_guard.sigma.lint import lint

HEAD = "title: t\nname: t\nlogsource: {product: pii-guard, category: authentication}\ndetection:\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "r.yml").write_text(text)
    return [str(p).replace(f"{tmp_path}/", "") for p in lint([tmp_path])]


@pytest.mark.parametrize(("detection", "expected"), [
    ("  sel: {user.name: alice}\n  condition: sel\n", []),
    ("  sel: {user.nme: alice}\n  condition: sel\n",
     ["r.yml:5: warning: unknown field 'user.nme' for pii-guard/authentication: no pii-guard event has it (did you "
      "mean 'user.name'?)"]),
    ("  sel: {user.name: [alice]}\n  other: {user.name: bob}\n  condition: sel and other\n",
     ["r.yml:7: error: can never match: user.name cannot equal all of the values required of it"]),
    ("  sel: {user.name: alice}\n  condition: sel and not sel\n",
     ["r.yml:6: error: can never match: user.name cannot equal all of the values required of it"]),
    ("  sel: {pii.rows|gt: 10}\n  low: {pii.rows|lt: 5}\n  condition: sel and low\n",
     ["r.yml:7: error: can never match: no number is in the range required of pii.rows"]),
    ("  sel: {source.ip: null}\n  ip: {source.ip|exists: true}\n  condition: sel and ip\n",
     ["r.yml:7: error: can never match: source.ip is required both to be present and to be absent"]),
    ("  sel: {event.action: read}\n  condition: sel\n",
     ["r.yml:6: error: can never match: event.action cannot equal all of the values required of it"]),
    ("  sel: {pii.statement|re: '(a)\\1'}\n  condition: sel\n",
     ["r.yml:5: error: Sigma: Regular expression '(a)\\1' is invalid: b'invalid escape sequence: \\\\1'"]),
    ("  sel: {pii.categories: [personal]}\n  other: {pii.categories: hr}\n  condition: sel and other\n", []),
    ("  sel: {user.name: alice}\n  other: {user.name: bob}\n  condition: sel or other\n", []),
])
def test_lint(tmp_path: Path, detection: str, expected: list[str]) -> None:
    assert problems(tmp_path, HEAD + detection) == expected


def test_unmapped_logsource_can_never_match(tmp_path: Path) -> None:
    text = "title: t\nlogsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4625}\n" \
           "  condition: sel\n"
    assert problems(tmp_path, text)[0] == (
        "r.yml:2: error: can never match: pii-guard has no events for logsource product: windows, service: security "
        "(map it in the sigma_fields file (logsources:) or use product: pii-guard)")


def test_every_problem_of_every_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("title: a\nlevel: nope\n" + HEAD[9:] + "  sel: {user.name: x}\n  condition: sel\n")
    (tmp_path / "b.yml").write_text(HEAD + "  sel: {user.nme: x}\n  condition: sel\n")
    found = [str(p).replace(f"{tmp_path}/", "") for p in lint([tmp_path])]
    assert found[0] == "a.yml:2: error: Sigma: 'nope' is not a valid Sigma rule level"
    assert found[1].startswith("b.yml:5: warning: unknown field 'user.nme'")


def test_shared_sigmahq_web_rules_lint_without_errors() -> None:
    rules = Path(__file__).parent / "conformance" / "rules" / "web"
    assert [p for p in lint([rules]) if p.severity == "error"] == []
