"""The strict YAML loader gives the same data, the same lines and the same refusals with LibYAML (the default
where PyYAML has it) as with PyYAML's pure-Python loader (the fallback)."""

from __future__ import annotations

import tracemalloc
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


def test_merge_key_is_refused_with_what_to_do(loader: bool) -> None:
    """An inline merge needs no alias; its message was PyYAML's "could not determine a constructor"."""
    assert _error("a: 1\n<<: {b: 2}\n") == (
        "f.yaml:2: YAML merge keys (<<) are not supported "
        "(write the keys out in the mapping itself, or quote '<<' if it is meant as text)"
    )
    assert load_yaml_text("a: '<<'\n", "f.yaml").data == {"a": "<<"}


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


_VARIED = """\
# every kind of scalar SafeLoader resolves, quoted and block text, nesting, flow style, explicit tags
name: pii-guard
count: 42
hex: 0x1f
ratio: 0.25
on_call: yes
off: false
nothing: ~
empty:
day: 2026-11-27
stamp: 2026-11-27 16:20:40+01:00
quoted: "42"
single: 'it''s'
tagged: !!str 7
block: |
  line one
  line two
folded: >-
  one
  two
users:
  alice: {roles: [hr_clerk, payroll], department: hr}
  bob:
    roles:
      - support
    status: disabled
list_of_maps:
  - {x: 1}
  - y: [2, 3]
"""


def test_the_document_is_what_pyyaml_reads(loader: bool) -> None:
    expected = {str(key): value for key, value in yaml.safe_load(_VARIED).items()}  # `off:` is the key False
    assert load_yaml_text(_VARIED, "f.yaml").data == expected
    assert "False" in expected


def test_a_mapping_or_sequence_as_a_key_is_its_text(loader: bool) -> None:
    loaded = load_yaml_text("a: 1\n? [b, c]\n: d\n? {e: f}\n: g\n", "f.yaml")
    assert loaded.data == {"a": 1, "['b', 'c']": "d", "{'e': 'f'}": "g"}
    assert loaded.lines == {(): 1, ("a",): 1, ("['b', 'c']",): 2, ("{'e': 'f'}",): 4}


def test_every_key_and_item_has_its_line(loader: bool) -> None:
    lines = load_yaml_text(_VARIED, "f.yaml").lines
    assert lines[()] == 2
    assert (lines[("count",)], lines[("block",)], lines[("folded",)]) == (3, 15, 18)
    assert (lines[("users",)], lines[("users", "alice")], lines[("users", "alice", "roles")]) == (21, 22, 22)
    assert (lines[("users", "bob", "roles")], lines[("users", "bob", "roles", 0)]) == (24, 25)
    assert (lines[("list_of_maps", 1)], lines[("list_of_maps", 1, "y", 1)]) == (29, 29)
    # the root, 17 keys, alice's 5 and bob's 4 entries, the 6 of list_of_maps
    assert len(lines) == 33


def test_a_second_document_is_refused_at_its_line(loader: bool) -> None:
    assert _error("a: 1\n---\nb: 2\n") == "f.yaml:2: invalid YAML: but found another document"


def test_an_empty_file_is_no_data(loader: bool) -> None:
    loaded = load_yaml_text("# only a comment\n", "f.yaml")
    assert (loaded.data, loaded.lines) == (None, {(): 1})


def test_an_unknown_tag_is_refused_at_its_line(loader: bool) -> None:
    assert _error("a: 1\nb: !python/object x\n").startswith("f.yaml:2: invalid YAML: could not determine a constructor")


def test_loading_holds_no_node_tree(loader: bool) -> None:
    """A 2,000-user directory: what loading allocates at its peak stays close to what it returns (the data and
    the lines). PyYAML's node tree, kept whole until construction ended, tripled the peak."""
    text = "users:\n" + "".join(f"  user{i:05d}: {{roles: [support, hr_clerk], department: d{i % 40}, "
                                f"status: active}}\n" for i in range(2_000))  # fmt: skip
    tracemalloc.start()
    try:
        loaded = load_yaml_text(text, "f.yaml")
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded.data["users"]) == 2_000
    assert peak < 1.3 * kept
