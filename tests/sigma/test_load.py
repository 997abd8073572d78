"""Loading Sigma rules: pySigma's errors become ConfigErrors with the file and the line of the key they are
about (one test per user error, exact message); only typed errors escape, whatever the input."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pii_guard.errors import ConfigError
from pii_guard.sigma.fields import FieldMapping
from pii_guard.sigma.load import split_documents
from pii_guard.sigma.ruleset import load_ruleset

RULE = "title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel: {user.name: x}\n  condition: sel\n"

ERRORS = [
    ("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel:\n    user.name|foo: x\n  condition: sel\n",
     "r.yml:5: Sigma: Unknown modifier 'foo'"),
    ("title: t\nlogsource: {product: pii-guard}\nlevel: severe\ndetection:\n  sel: {user.name: x}\n  condition: sel\n",
     "r.yml:3: Sigma: 'severe' is not a valid Sigma rule level"),
    ("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel: {user.name: x}\n  condition: sel and nothere\n",
     "r.yml:5: Sigma: Detection 'nothere' not defined in detections"),
    ("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel:\n    - user.name: a\n    - pii.statement|re: "
     "'(?<=a)b'\n  condition: sel\n",
     "r.yml:6: Sigma: Regular expression '(?<=a)b' is invalid: b'invalid perl operator: (?<='"),
    ("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel:\n    source.ip|cidr: 10.0.0.0/33\n"
     "  condition: sel\n",
     "r.yml:5: Sigma: Invalid CIDR expression: '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network"),
    ("title: c\ncorrelation:\n  type: event_count\n  rules:\n    - nope\n  group-by: [user.name]\n  timespan: 1h\n"
     "  condition: {gte: 2}\n",
     "r.yml:5: Sigma: correlation refers to rule 'nope', which no loaded rule is named or identified as (a "
     "correlation's rules are names or ids of rules loaded with it)"),
    ("title: c\ncorrelation:\n  type: event_count\n  rules: [x]\n  group-by: [user.name]\n  timespan: 1 hour\n"
     "  condition: {gte: 2}\n", "r.yml:6: Sigma: Timespan '1 hour' is invalid."),
    ("title: c\ncorrelation:\n  type: value_sum\n  rules: [x]\n  group-by: [user.name]\n  timespan: 1h\n"
     "  condition: {gte: 2, field: pii.rows}\n---\nname: x\n" + RULE,
     "r.yml:3: Sigma: correlation type value_sum is not evaluated in stream (use event_count, value_count, "
     "temporal or temporal_ordered)"),
    ("name: a\n" + RULE + "---\nname: a\n" + RULE,
     "r.yml:8: Sigma rule 'a' is defined twice (first at {dir}/r.yml:1) (give every rule its own name and id)"),
    ("title: t\ntitle: u\n", "r.yml:2: duplicate key 'title' (first at line 1) (remove one of them)"),
    ("foo: bar\n", "r.yml:1: not a Sigma rule: no detection, correlation or filter section"),
    ("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel:\n    user.name|expand: '%Admins%'\n"
     "  condition: sel\n", "r.yml:5: Sigma: placeholder %Admins% (|expand) is not supported: write the values out"),
    ("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel: {user.name: x}\n",
     "r.yml:3: Sigma: Sigma rule must contain at least one condition"),
    ("title: t\ndate: 2024-13-45\n" + RULE[9:],
     "r.yml:2: '2024-13-45' is not a valid timestamp: month must be in 1..12 "
     "(correct the date, or quote the value if it is meant as text)"),
    ("title: t\ntags: [Bad Tag]\n" + RULE[9:],
     "r.yml:2: Sigma: Sigma tag must start with namespace separated with dot from remaining tag."),
    ("action: global\n" + RULE, "r.yml:1: Sigma collection actions (global/reset/repeat) are not supported (write "
                                "each rule out in full)"),
    (RULE + "anchor: &a x\nother: *a\n", "r.yml:7: YAML aliases (*name) are not allowed (write the value out where it "
                                         "is needed)"),
    ("title: c\ncorrelation:\n  type: temporal\n  rules: [x]\n  group-by: [user.name]\n  timespan: 1h\n"
     "  condition: 'x and not x'\n---\nname: x\n" + RULE,
     "r.yml:7: Sigma: extended (boolean) correlation conditions are not supported (list the rules and use a count "
     "condition)"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_message_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_ruleset([path])
    assert str(caught.value) == f"{tmp_path}/" + message.format(dir=tmp_path)


@pytest.mark.parametrize(("bad", "line", "what"), [("date: 2024-13-45\n", 8, "not a valid timestamp"),
                                                  ("  bad: [\n", 8, "invalid YAML")])
def test_an_error_in_a_later_document_names_its_line_in_the_file(tmp_path: Path, bad: str, line: int,
                                                                 what: str) -> None:
    path = tmp_path / "r.yml"
    path.write_text(RULE + "---\n" + "title: second\n" + bad + RULE[RULE.index("logsource"):])
    with pytest.raises(ConfigError) as caught:
        load_ruleset([path])
    assert caught.value.location is not None
    assert caught.value.location.line == line
    assert what in caught.value.message


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such Sigma rule file or directory"):
        load_ruleset([tmp_path / "nope"])


def test_documents_keep_their_lines_in_the_file() -> None:
    docs = split_documents("a: 1\n---\nb: 2\nc: 3\n---\n\n---\nd: 4\n", "f.yml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2, "c": 3}, {"d": 4}]
    assert [d.location(("c",)).line for d in docs[1:2]] == [4]
    assert docs[2].location(("d",)).line == 8


def test_correlation_refers_to_rules_of_another_file(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("name: base\n" + RULE)
    (tmp_path / "b.yml").write_text("title: c\nname: c\ncorrelation:\n  type: event_count\n  rules: [base]\n"
                                    "  group-by: [user.name]\n  timespan: 1h\n  condition: {gte: 2}\n")
    rules = load_ruleset([tmp_path])
    assert [c.members for c in rules.correlations] == [["sigma:base"]]
    assert rules.emitting() == {"sigma:c"}


def test_directory_reads_only_yml(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("name: a\n" + RULE)
    (tmp_path / "a.expected.yaml").write_text("files: []\n")
    assert [r.label for r in load_ruleset([tmp_path]).rules] == ["sigma:a"]


def test_sigma_filters_apply(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text("id: 0e95725d-7320-415d-80f7-004da920fc11\n" + RULE + "---\ntitle: f\n"
                                    "logsource: {product: pii-guard}\nfilter:\n  rules: [0e95725d-7320-415d-80f7-"
                                    "004da920fc11]\n  selection: {source.ip: 10.0.0.1}\n  condition: not selection\n")
    [rule] = load_ruleset([tmp_path]).rules
    from pii_guard.sigma.values import EventView
    from tests.sigma.helpers import CTX, event

    assert rule.predicate(EventView(event({"user.name": "x", "source.ip": "10.0.0.2"}), CTX))
    assert not rule.predicate(EventView(event({"user.name": "x", "source.ip": "10.0.0.1"}), CTX))


def test_field_mapping_file_errors_have_lines(tmp_path: Path) -> None:
    path = tmp_path / "fields.yaml"
    path.write_text("fields:\n  cs-method: http.request.method\nlogsource:\n  - product: x\n")
    with pytest.raises(ConfigError) as caught:
        FieldMapping.from_file(path)
    assert str(caught.value) == f"{path}:3: unknown key 'logsource' (did you mean 'logsources'?)"


def test_field_mapping_file_adds_logsources_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "fields.yaml"
    path.write_text("fields:\n  UserName: user.name\nlogsources:\n  - product: aws\n    service: cloudtrail\n"
                    "    datasets: [aws.cloudtrail]\n    fields: {eventName: event.action}\n")
    mapping = FieldMapping.from_file(path)
    source = mapping.logsource(None, "aws", "cloudtrail")
    assert source is not None
    assert source.admits("aws.cloudtrail", "read")
    assert mapping.event_field(source, "eventName") == "event.action"
    assert mapping.event_field(source, "UserName") == "user.name"
    assert mapping.logsource(None, "aws", "guardduty") is None


_yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                          st.sampled_from(["*", "a*b", "x\\*", "|", "1 of sel*", "re", "10.0.0.0/8"]))
_keys = st.sampled_from(["title", "id", "name", "level", "status", "logsource", "detection", "condition", "sel",
                         "user.name", "user.name|contains", "pii.rows|gt", "x|re", "ip|cidr", "correlation", "type",
                         "rules", "group-by", "timespan", "tags", "date", "a|all", "f|exists", "k|foo"])
_docs = st.recursive(_yaml_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(_keys, inner, max_size=5)), max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_keys, _docs, max_size=6))
def test_only_typed_errors_escape(tmp_path: Path, doc: dict[str, object]) -> None:
    import yaml

    path = tmp_path / "r.yml"
    path.write_text(yaml.safe_dump(doc))
    with contextlib.suppress(ConfigError):
        load_ruleset([path])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_only_typed_errors_escape_on_any_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "r.yml"
    path.write_text(text)
    with contextlib.suppress(ConfigError):
        load_ruleset([path])
