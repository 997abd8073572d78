"""The strict YAML loader gives the same data, the same lines and the same refusals with LibYAML (the default
where PyYAML has it) as with PyYAML's pure-Python loader (the fallback)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pii_guard.config import yamlload
from pii_guard.config.yamlload import load_yaml_file, load_yaml_text
from pii_guard.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LOADERS = [pytest.param(True, id="libyaml"), pytest.param(False, id="pure-python")]


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param and not yaml.__with_libyaml__:
        pytest.fail("PyYAML was built without LibYAML: pii-guard would load YAML at a seventh of the speed")
    monkeypatch.setattr(yamlload, "_LIBYAML", request.param)
    return bool(request.param)


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_yaml_text(text, "f.yaml")
    return str(info.value)


@pytest.mark.parametrize("name", ["access-policy.yaml", "directory.yaml", "data-map.yaml", "zones.yaml"])
def test_both_loaders_read_the_shipped_rules_alike(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlload, "_LIBYAML", True)
    fast = load_yaml_file(ROOT / "rules" / name)
    monkeypatch.setattr(yamlload, "_LIBYAML", False)
    slow = load_yaml_file(ROOT / "rules" / name)
    assert fast.data == slow.data
    assert fast.lines == slow.lines
    assert len(fast.lines) > 10


def test_duplicate_key_names_both_lines(loader: bool) -> None:
    assert _error("a: 1\nb:\n  c: 2\n  c: 3\n") == "f.yaml:4: duplicate key 'c' (first at line 3) (remove one of them)"


def test_alias_is_refused_at_its_line(loader: bool) -> None:
    message = _error("base: &b {x: 1}\nother: *b\n")
    assert message == "f.yaml:2: YAML aliases (*name) are not allowed (write the value out where it is needed)"


def test_a_star_in_text_is_not_an_alias(loader: bool) -> None:
    assert load_yaml_text("glob: '/srv/*'\nnote: a * b\n", "f.yaml").data == {"glob": "/srv/*", "note": "a * b"}


def test_syntax_error_names_its_line(loader: bool) -> None:
    assert _error("a: 1\nb: [unclosed\n").startswith("f.yaml:3: invalid YAML")


def test_control_character_after_non_ascii_text_names_its_line(loader: bool) -> None:
    # LibYAML counts the offset in bytes: the three-byte characters of the first lines must not shift it
    message = _error("name: €€€€€€€€€€\nnote: ßßßß\nbad: a\x07b\n")
    assert message.startswith("f.yaml:3: invalid YAML")


def test_impossible_date_is_a_config_error(loader: bool) -> None:
    assert "2024-13-45" in _error("day: 2024-13-45\n")
