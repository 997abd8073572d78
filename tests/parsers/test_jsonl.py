"""Application JSON lines: ECS defaults, the field mapping (nested and dotted keys), action_map, record ids,
timestamps (ISO with and without zone, epoch s/ms/µs) and every reason a line becomes a parse failure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import ValidationError

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.jsonl import JsonLinesOptions, JsonLinesParser, lookup, outcome_of

T0 = int(datetime(2026, 11, 27, 9, 0, 14, tzinfo=UTC).timestamp()) * 1_000_000
CRM_FIELDS = {
    "timestamp": "ts",
    "user": "actor.login",
    "source_ip": "ip",
    "action": "op",
    "outcome": "result",
    "object": "resource",
    "rows": "count",
    "record_ids": "subject_ids",
}


def parser(tz: str | None = None, **options: Any) -> JsonLinesParser:
    context = SourceContext(
        fingerprint=b"jsonl-test", path="/var/log/crm/audit.jsonl", host="app1", tz=ZoneInfo(tz) if tz else None
    )
    return JsonLinesParser(context, JsonLinesOptions(**options))


def one(p: JsonLinesParser, record: dict[str, Any] | str) -> AccessEvent | ParseFailure:
    line = record if isinstance(record, str) else orjson.dumps(record).decode()
    (item,) = p.feed(100, line)
    return item


def event(p: JsonLinesParser, record: dict[str, Any]) -> AccessEvent:
    item = one(p, record)
    assert isinstance(item, AccessEvent), item
    return item


def test_ecs_defaults_nested_and_dotted() -> None:
    p = parser()
    nested = {
        "@timestamp": "2026-11-27T09:00:14Z",
        "user": {"name": "jdoe"},
        "source": {"ip": "10.0.0.1", "port": 51000},
        "event": {"action": "read", "outcome": "success"},
        "pii": {"object": "customers", "record_ids": ["1", "2"]},
    }
    dotted = {
        "@timestamp": "2026-11-27T09:00:14Z",
        "user.name": "jdoe",
        "source.ip": "10.0.0.1",
        "source.port": 51000,
        "event.action": "read",
        "event.outcome": "success",
        "pii.object": "customers",
        "pii.record_ids": ["1", "2"],
    }
    mixed = {**dotted, "event": {"action": "read"}, "event.outcome": "success"}
    del mixed["event.action"]
    for record in (nested, dotted, mixed):
        ev = event(p, record)
        assert (ev.time_us, ev.user, ev.source_ip, ev.source_port, ev.action, ev.outcome) == (
            T0,
            "jdoe",
            "10.0.0.1",
            51000,
            "read",
            "success",
        )
        assert (ev.object, ev.record_ids, ev.rows, ev.dataset, ev.host, ev.offset) == (
            "app:customers",
            ("1", "2"),
            2,
            "app.audit",
            "app1",
            100,
        )
        assert ev.original == orjson.dumps(record).decode()


def test_lookup_paths() -> None:
    doc = {"a": {"b.c": 1, "b": {"d": 2}}, "x.y": {"z": 3}}
    assert lookup(doc, "a.b.c") == 1
    assert lookup(doc, "a.b.d") == 2
    assert lookup(doc, "x.y.z") == 3
    assert lookup(doc, "a.q") is lookup(doc, "nope")


def test_mapping_and_action_map() -> None:
    p = parser(
        dataset="crm.audit",
        object_prefix="crm:",
        fields=CRM_FIELDS,
        action_map={"view": "read", "download": "export"},
        extra={"http.request.id": "request_id"},
    )
    ev = event(
        p,
        {"ts": "2026-11-27T10:00:14+01:00", "actor": {"login": "asmith"}, "ip": "10.20.4.2", "op": "download",
         "resource": "reports/c.csv", "count": "1500", "result": "ok", "request_id": "r-4"},
    )  # fmt: skip
    assert (ev.time_us, ev.user, ev.action, ev.command, ev.outcome, ev.object, ev.rows, ev.dataset) == (
        T0,
        "asmith",
        "export",
        "download",
        "success",
        "crm:reports/c.csv",
        1500,
        "crm.audit",
    )
    assert ev.fields == {"http.request.id": "r-4"}
    unknown = event(p, {"ts": "2026-11-27T09:00:14Z", "op": "frobnicate"})
    assert (unknown.action, unknown.command, unknown.outcome, unknown.user) == ("other", "frobnicate", "unknown", None)
    native = event(p, {"ts": "2026-11-27T09:00:14Z", "op": "Delete"})
    assert native.action == "delete"  # already a pii-guard verb


@pytest.mark.parametrize(("verb", "action"), [
    ("customer-export", "export"), ("exportReport", "export"), ("file-downloaded", "export"),
    ("customer.viewed", "read"), ("CustomerRecordViewed", "read"), ("search", "read"), ("GET", "read"),
    ("user_role_granted", "permission"), ("role-update", "permission"), ("shareFolder", "permission"),
    ("user-login-failed", "login"), ("sign-in", "login"), ("logOut", "logout"),
    ("record-deleted", "delete"), ("patient.updated", "write"), ("file-renamed", "rename"),
    ("account-created", "create"), ("DDL", "ddl"), ("frobnicate", "other"), ("", "other"),
])  # fmt: skip
def test_an_applications_own_verbs_without_an_action_map(verb: str, action: str) -> None:
    """ECS's event.action is free text (`user-password-change`, `file-downloaded`): its words say the action."""
    ev = event(parser(), {"@timestamp": "2026-11-27T09:00:14Z", "event.action": verb})
    assert (ev.action, ev.command) == (action, verb or None)
    mapped = event(parser(action_map={"customer-export": "read"}), {"@timestamp": "2026-11-27T09:00:14Z",
                                                                     "event.action": "customer-export"})
    assert mapped.action == "read"  # the action_map decides first


def test_action_map_values_are_checked() -> None:
    with pytest.raises(ValidationError, match="peek"):
        JsonLinesOptions(action_map={"view": "peek"})
    with pytest.raises(ValidationError):
        JsonLinesOptions.model_validate({"fields": {"timestmap": "ts"}})
    with pytest.raises(ValidationError):
        JsonLinesOptions(colour="blue")  # type: ignore[call-arg]


def test_record_ids_from_list_or_single_value() -> None:
    p = parser(fields={"record_ids": "ids", "rows": "n"}, max_record_ids=3)
    base = {"@timestamp": "2026-11-27T09:00:14Z"}
    assert event(p, {**base, "ids": [4711, "4712", None, {"x": 1}]}).record_ids == ("4711", "4712")
    single = event(p, {**base, "ids": 9001})
    assert (single.record_ids, single.rows) == (("9001",), 1)
    many = event(p, {**base, "ids": list(range(10))})
    assert (many.record_ids, many.rows) == (("0", "1", "2"), 10)  # bounded, but all counted
    counted = event(p, {**base, "ids": [1, 2], "n": 50})
    assert counted.rows == 50  # the record's own count wins
    assert event(p, {**base, "ids": []}).record_ids == ()
    assert event(p, base).rows is None


def test_timestamps() -> None:
    p = parser()
    for stamp, expected in [
        ("2026-11-27T09:00:14Z", T0),
        ("2026-11-27T09:00:14.250Z", T0 + 250_000),
        ("2026-11-27 10:00:14,5+01:00", T0 + 500_000),
        ("2026-11-27T04:00:14-0500", T0),
        ("2026-11-27T09:00:14", T0),  # no zone, no source zone: UTC
        (1795770014, T0),  # epoch seconds
        (1795770014.25, T0 + 250_000),
        (1795770014000, T0),  # epoch milliseconds
        (1795770014000000, T0),  # epoch microseconds
        ("1795770014000", T0),  # digits in a string
    ]:
        ev = event(p, {"@timestamp": stamp})
        assert ev.time_us == expected, stamp
    berlin = parser(tz="Europe/Berlin")
    assert event(berlin, {"@timestamp": "2026-11-27T10:00:14"}).time_us == T0
    assert event(berlin, {"@timestamp": "2026-11-27T09:00:14Z"}).time_us == T0  # an explicit zone wins


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"@timestamp": "2026-11-27T09:00:14Z", "user.name": "x"', "invalid JSON"),
        ('["not", "an", "object"]', "a JSON list, not an object"),
        ('{"user.name": "x"}', "no timestamp: key '@timestamp' (option fields.timestamp)"),
        ('{"@timestamp": null}', "no timestamp"),
        ('{"@timestamp": "yesterday"}', "timestamp at '@timestamp'"),
        ('{"@timestamp": true}', "a boolean is not a time"),
        ('{"@timestamp": {"s": 1}}', "a JSON dict is not a time"),
    ],
)
def test_failures_name_the_key(line: str, reason: str) -> None:
    item = one(parser(), line)
    assert isinstance(item, ParseFailure)
    assert reason in item.reason
    assert (item.offset, item.text) == (100, line)


def test_mapped_timestamp_failure_names_the_mapping() -> None:
    item = one(parser(fields={"timestamp": "meta.when"}), '{"when": 1}')
    assert isinstance(item, ParseFailure)
    assert item.reason == "no timestamp: key 'meta.when' (option fields.timestamp)"


def test_blank_lines_are_skipped() -> None:
    assert parser().feed(0, "   ") == ()


@pytest.mark.parametrize(
    ("value", "outcome"),
    [("success", "success"), ("OK", "success"), (True, "success"), ("denied", "failure"), ("error", "failure"),
     (False, "failure"), (403, "failure"), (200, "success"), ("maybe", "unknown"), (None, "unknown")],
)  # fmt: skip
def test_outcomes(value: Any, outcome: str) -> None:
    assert outcome_of(value) == outcome


UAT_LINE = (
    '{"@timestamp":"2026-11-27T16:00:03Z","user":{"name":"dave"},"source":{"ip":"8.8.8.8"},'
    '"event":{"action":"read","outcome":"success"},"url":{"original":"/x?email=urlorig@example.com"},'
    '"pii":{"object":"url:/exports/john.doe@example.com.csv?ssn=123-45-6789",'
    '"statement":"SELECT * FROM c WHERE email=\'stmt@example.com\'"}}'
)


def masking_parser(mask: bool, **options: Any) -> JsonLinesParser:
    context = SourceContext(fingerprint=b"jsonl-test", path="/var/log/app.jsonl", mask_literals=mask)
    return JsonLinesParser(context, JsonLinesOptions(**options))


def test_statement_and_url_queries_are_masked_in_the_event_and_its_original() -> None:
    """With masking on, the statement's literals and the query values of URLs (the object's, url.original) are
    masked, and `event.original` is the record re-serialised with them: the raw line is not kept."""
    ev = one(masking_parser(True), UAT_LINE)
    assert isinstance(ev, AccessEvent)
    assert ev.object == "app:url:/exports/john.doe@example.com.csv?ssn=<masked>"
    for raw in ("stmt@example.com", "urlorig@example.com", "123-45-6789"):
        assert raw not in ev.original
    doc = orjson.loads(ev.original)
    assert doc["pii"]["statement"] == "SELECT * FROM c WHERE email='?'"
    assert doc["url"] == {"original": "/x?email=<masked>"}
    assert doc["pii"]["object"] == "url:/exports/john.doe@example.com.csv?ssn=<masked>"
    assert doc["user"] == {"name": "dave"}
    assert list(doc) == list(orjson.loads(UAT_LINE))  # the record's shape and key order
    raw_ev = one(masking_parser(False), UAT_LINE)
    assert isinstance(raw_ev, AccessEvent)
    assert raw_ev.original == UAT_LINE
    assert raw_ev.object == "app:url:/exports/john.doe@example.com.csv?ssn=123-45-6789"


def test_masked_values_found_at_dotted_keys_and_through_extra() -> None:
    """Dotted keys (ecs-logging) and `extra` mappings into url.* / pii.statement are masked alike; a record
    without anything to mask keeps its line as written."""
    line = orjson.dumps({
        "@timestamp": "2026-11-27T16:00:03Z", "url.full": "https://crm/x?q=ann@example.com", "url.query": "a=1&b",
        "http": {"sql": "SELECT 1 FROM t WHERE ssn = '123-45-6789'", "ref": "https://crm/s?name=Ann"},
    }).decode()  # fmt: skip
    extra = {"pii.statement": "http.sql", "http.request.referrer": "http.ref", "url.query": "url.query"}
    ev = one(masking_parser(True, extra=extra), line)
    assert isinstance(ev, AccessEvent)
    doc = orjson.loads(ev.original)
    assert doc["url.full"] == "https://crm/x?q=<masked>"
    assert doc["url.query"] == "a=<masked>&<masked>"
    assert doc["http"] == {"sql": "SELECT ? FROM t WHERE ssn = '?'", "ref": "https://crm/s?name=<masked>"}
    assert ev.fields == {"pii.statement": "SELECT ? FROM t WHERE ssn = '?'",
                         "http.request.referrer": "https://crm/s?name=<masked>", "url.query": "a=<masked>&<masked>"}
    plain = '{"@timestamp": "2026-11-27T16:00:03Z", "event": {"action": "read"}, "pii": {"object": "crm:c/1"}}'
    ev = one(masking_parser(True), plain)
    assert isinstance(ev, AccessEvent)
    assert ev.original == plain
