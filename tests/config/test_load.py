"""Config errors name the file, the line and the key, and suggest the fix. Exact messages are pinned."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.config.load import load_config
from pii_guard.config.models import Config
from pii_guard.config.validate import validate
from pii_guard.config.yamlload import load_yaml_text
from pii_guard.errors import ConfigError

GOOD = """\
state_dir: state
sources:
  - path: logs/*.log
    format: nginx
    host: web1
store:
  type: sqlite
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pii-guard.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value).replace(str(tmp_path) + "/", "")


def test_good_config_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, GOOD))
    assert loaded.config.state_path == tmp_path / "state"
    assert loaded.config.store_path == tmp_path / "state" / "events.db"
    assert [p.parser.name for p in loaded.sources] == ["nginx"]


def test_typo_in_key_names_line_and_suggests(tmp_path: Path) -> None:
    text = GOOD.replace("    host: web1", "    hots: web1")
    assert error_of(tmp_path, text) == "pii-guard.yaml:5: unknown key 'sources.0.hots' (did you mean 'host'?)"


def test_typo_at_top_level(tmp_path: Path) -> None:
    text = GOOD + "polcy: {}\n"
    assert error_of(tmp_path, text) == "pii-guard.yaml:8: unknown key 'polcy' (did you mean 'policy'?)"


def test_wrong_type(tmp_path: Path) -> None:
    text = GOOD.replace("type: sqlite", "type: sqlite\n  batch_size: many")
    assert error_of(tmp_path, text) == "pii-guard.yaml:8: store.batch_size: Input should be a valid integer"


def test_elasticsearch_store_typo_suggests_its_own_keys(tmp_path: Path) -> None:
    text = GOOD.replace("type: sqlite", "type: elasticsearch\n  hosts: [http://127.0.0.1:9200]\n  api_kye: x")
    assert error_of(tmp_path, text) == "pii-guard.yaml:9: unknown key 'store.api_kye' (did you mean 'api_key'?)"
    text = GOOD.replace("type: sqlite", "type: mongodb")
    assert error_of(tmp_path, text) == (
        "pii-guard.yaml:7: store.type: 'mongodb' is not one of the types (use one of 'sqlite', 'elasticsearch')")


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("    host: web1", "    host: web1\n    host: web2")
    assert error_of(tmp_path, text) == "pii-guard.yaml:6: duplicate key 'host' (first at line 5) (remove one of them)"


def test_alias_rejected(tmp_path: Path) -> None:
    text = "sources:\n  - &src {path: a.log, format: nginx}\n  - *src\n"
    assert error_of(tmp_path, text) == (
        "pii-guard.yaml:3: YAML aliases (*name) are not allowed (write the value out where it is needed)"
    )


def test_impossible_date_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    text = GOOD.replace("    host: web1", "    host: 2024-13-45")
    assert error_of(tmp_path, text) == (
        "pii-guard.yaml:5: '2024-13-45' is not a valid timestamp: month must be in 1..12 "
        "(correct the date, or quote the value if it is meant as text)"
    )


def test_unknown_format_suggests(tmp_path: Path) -> None:
    text = GOOD.replace("format: nginx", "format: ngnix")
    assert error_of(tmp_path, text) == "pii-guard.yaml:4: unknown log format 'ngnix' (did you mean 'nginx'?)"


def test_bad_parser_option_points_at_it(tmp_path: Path) -> None:
    text = GOOD.replace("    host: web1", "    options:\n      no_such_option: 1")
    message = error_of(tmp_path, text)
    assert message.startswith("pii-guard.yaml:6: sources[0].options: unknown key 'no_such_option'")


def test_bad_timezone(tmp_path: Path) -> None:
    text = GOOD.replace("    host: web1", "    timezone: Mars/Olympus")
    assert error_of(tmp_path, text) == (
        "pii-guard.yaml:5: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin or UTC)"
    )


def test_missing_policy_file(tmp_path: Path) -> None:
    text = GOOD + "policy:\n  zones: zones.yaml\n"
    message = error_of(tmp_path, text)
    assert message.startswith("pii-guard.yaml:9: policy.zones: file 'zones.yaml' not found")


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    assert error_of(tmp_path, "sources:\n  - path: [unclosed\n").startswith("pii-guard.yaml:3: invalid YAML")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path}/nope.yaml: file not found"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_loader_only_raises_typed_errors(text: str) -> None:
    """Whatever the text, the loader either returns a Config or raises ConfigError: never a traceback."""
    with contextlib.suppress(ConfigError):
        validate(Config, load_yaml_text(text, "fuzz.yaml"))


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=10,
    )
)
def test_validator_only_raises_typed_errors_on_any_structure(data: object) -> None:
    import yaml

    text = yaml.safe_dump({"sources": data, "store": data})
    with contextlib.suppress(ConfigError):
        validate(Config, load_yaml_text(text, "fuzz.yaml"))
