"""Windows 4663 parser: document shapes, access rights, the 4624 address join (FORMATS.md §10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings

from pii_guard.model import ACTIONS, AccessEvent, format_timestamp
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.normalize import windows_path_object
from pii_guard.parsers.win4663 import Win4663Options, Win4663Parser, action_of, rights
from tests.parsers.feeding import events, garbled_lines, run

SAMPLES = Path(__file__).parents[1] / "samples" / "windows-4663"
DATA = {"SubjectUserSid": "S-1-5-21-1-2-3-1105", "SubjectUserName": "jdoe", "SubjectDomainName": "CONTOSO",
        "SubjectLogonId": "0x8f4a1", "ObjectServer": "Security", "ObjectType": "File",
        "ObjectName": "C:\\Shares\\HR\\pay.xlsx", "HandleId": "0x1f4", "AccessList": "%%4416\n\t\t\t\t",
        "AccessMask": "0x1", "ProcessId": "0x4", "ProcessName": ""}  # fmt: skip


def make(**options: Any) -> Win4663Parser:
    context = SourceContext(fingerprint=b"test", path="security.ndjson", tz=ZoneInfo("Europe/Berlin"))
    return Win4663Parser(context, Win4663Options.model_validate(options))


def winlogbeat(eid: int | str = 4663, ts: str = "2026-11-27T09:00:03.517Z", **data: Any) -> str:
    return json.dumps({"@timestamp": ts, "winlog": {"event_id": eid, "computer_name": "FS01.contoso.local",
                                                    "keywords": ["Audit Success"], "event_data": {**DATA, **data}}})


@pytest.mark.parametrize(
    ("access_list", "mask", "action", "names"),
    [
        ("%%4416\n\t\t\t\t", "0x1", "read", ["4416"]),
        ("%%4417\n\t\t\t\t%%4418\n\t\t\t\t", "0x6", "write", ["4417", "4418"]),
        ("%%1537\n\t\t\t\t", "0x10000", "delete", ["1537"]),
        ("%%1539\n\t\t\t\t", "0x40000", "permission", ["1539"]),
        ("%%4421\n\t\t\t\t", "0x20", "execute", ["4421"]),
        ("%%4423\n\t\t\t\t%%1538\n\t\t\t\t", "0x20080", "other", ["4423", "1538"]),
        ("ReadData (or ListDirectory)\n\t\t\t\tReadAttributes\n\t\t\t\t", "0x81", "read", ["4416", "4423"]),
        ("", "0x10001", "delete", ["1537", "4416"]),
        ("%%9999", "0x2", "write", ["9999", "4417"]),
        (None, "zzz", "other", []),
    ],
)
def test_access_rights(access_list: str | None, mask: str, action: str, names: list[str]) -> None:
    codes = rights(access_list, mask)
    assert codes == names
    assert action_of(codes) == action


def test_paths_become_forward_slash_objects() -> None:
    assert windows_path_object("C:\\Shares\\HR\\pay.xlsx") == "file:C:/Shares/HR/pay.xlsx"
    assert windows_path_object("C:\\\\Documents\\\\HBI Data.txt") == "file:C:/Documents/HBI Data.txt"
    assert windows_path_object("\\\\fs02\\exports\\x.csv") == "file://fs02/exports/x.csv"
    assert windows_path_object("\\Device\\HarddiskVolume2\\x") == "file:/Device/HarddiskVolume2/x"


def test_winlogbeat_document() -> None:
    (ev,) = events(run(make(), [winlogbeat()]))
    assert (ev.action, ev.outcome, ev.user, ev.source_ip, ev.host) == (
        "read", "success", "jdoe", None, "FS01.contoso.local")
    assert (ev.object, ev.command, ev.bytes) == ("file:C:/Shares/HR/pay.xlsx", "ReadData", None)
    assert ev.fields["file.path"] == "C:\\Shares\\HR\\pay.xlsx"
    assert (ev.fields["user.domain"], ev.fields["process.pid"], ev.fields["winlog.logon.id"]) == (
        "CONTOSO", 4, "0x8f4a1")
    assert format_timestamp(ev.time_us) == "2026-11-27T09:00:03.517000Z"


def test_address_from_the_network_logon_until_logoff() -> None:
    logon = winlogbeat(4624, TargetLogonId="0x8f4a1", IpAddress="::ffff:10.20.1.15", LogonType="3")
    logoff = winlogbeat(4634, TargetLogonId="0x8f4a1")
    parser = make()
    first = events(run(parser, [logon, winlogbeat()]))
    state = json.loads(json.dumps(parser.snapshot()))
    restarted = make()
    restarted.restore(state)
    after_restart = events(run(restarted, [winlogbeat(), logoff, winlogbeat()]))
    assert [e.source_ip for e in first + after_restart] == ["10.20.1.15", "10.20.1.15", None]


def test_refused_access_is_a_4656_audit_failure() -> None:
    denied = json.dumps({"@timestamp": "2026-11-27T09:00:15Z", "event": {"outcome": "failure"},
                         "winlog": {"event_id": "4656", "keywords": ["Audit Failure"], "event_data": DATA}})
    granted = winlogbeat(4656)
    (ev,) = events(run(make(), [denied, granted]))
    assert (ev.action, ev.outcome, ev.error_code) == ("read", "failure", "access denied")


def test_other_shapes_nxlog_winlogbeat6_xml_and_wrappers() -> None:
    nxlog = json.dumps({"EventTime": "2026-11-27 10:00:03", "Hostname": "FS01", "EventID": 4663, **DATA})
    beat6 = json.dumps({"@timestamp": "2026-11-27T09:00:04Z", "event_id": 4663, "computer_name": "FS01",
                        "event_data": {**DATA, "AccessList": "%%1537"}})
    xml = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4663</EventID>"
           "<TimeCreated SystemTime='2026-11-27T09:00:05.1234567Z'/><EventRecordID>7</EventRecordID>"
           "<Keywords>0x8020000000000000</Keywords><Computer>FS01</Computer></System><EventData>"
           "<Data Name='SubjectUserName'>jdoe</Data><Data Name='ObjectType'>File</Data>"
           "<Data Name='ObjectName'>C:\\a &amp; b.txt</Data><Data Name='AccessList'>%%4417</Data>"
           "<Data Name='ProcessName' /></EventData></Event>")
    hit = json.dumps({"_index": "winlogbeat", "_source": json.loads(winlogbeat(ts="2026-11-27T09:00:06Z"))})
    got = events(run(make(), [nxlog, beat6, xml, hit, "<Events>", "</Events>"]))
    assert [(e.action, e.object) for e in got] == [
        ("read", "file:C:/Shares/HR/pay.xlsx"), ("delete", "file:C:/Shares/HR/pay.xlsx"),
        ("write", "file:C:/a & b.txt"), ("read", "file:C:/Shares/HR/pay.xlsx")]
    # NXLog's EventTime is local time: the source's zone (Europe/Berlin) applies
    assert [format_timestamp(e.time_us) for e in got] == [
        "2026-11-27T09:00:03.000000Z", "2026-11-27T09:00:04.000000Z", "2026-11-27T09:00:05.123456Z",
        "2026-11-27T09:00:06.000000Z"]


def test_byte_order_mark_before_the_first_document() -> None:
    (ev,) = events(run(make(), ["\ufeff" + winlogbeat()]))
    assert ev.action == "read"


def test_registry_and_other_objects() -> None:
    key, sam = events(run(make(), [
        winlogbeat(ObjectType="Key", ObjectName="\\REGISTRY\\MACHINE\\SOFTWARE\\X", AccessList="%%4433"),
        winlogbeat(ObjectType="SAM_DOMAIN", ObjectName="DOMAIN", AccessList="%%1538"),
    ]))  # fmt: skip
    assert (key.action, key.object) == ("write", "registry:\\REGISTRY\\MACHINE\\SOFTWARE\\X")
    assert (sam.action, sam.object) == ("other", "win:SAM_DOMAIN:DOMAIN")


def test_other_event_ids_are_skipped_and_malformed_documents_fail() -> None:
    assert run(make(), [winlogbeat(5156), winlogbeat(4688)]) == []
    out = run(make(), [
        '{"winlog": {"event_id": 4663, "event_data": {"ObjectName": "x"}}}',
        winlogbeat(ts="not a time"),
        '{"just": "json"}',
        "<Event><System></System></Event>",
        '{"winlog": {',
    ])  # fmt: skip
    assert [type(o) for o in out] == [ParseFailure] * 5


def test_ids_are_deterministic() -> None:
    lines = (SAMPLES / "winlogbeat-8.ndjson").read_text().splitlines()
    first = [e.id for e in events(run(make(), lines))]
    assert first == [e.id for e in events(run(make(), lines))]
    assert len(set(first)) == len(first)


_SEEDS = (SAMPLES / "winlogbeat-8.ndjson").read_text().splitlines() + (SAMPLES / "test-4663.json").read_text(
).splitlines()[:40]


GARBLED = garbled_lines(_SEEDS, max_seeds=10)


@settings(max_examples=300, deadline=None)
@given(GARBLED)
def test_garbled_input_never_raises(lines: list[str]) -> None:
    for item in run(make(max_logons=2), lines):
        assert isinstance(item, AccessEvent | ParseFailure)
        if isinstance(item, AccessEvent):
            assert item.action in ACTIONS
