"""Windows Security event 4663, "An attempt was made to access an object" (FORMATS.md §10) → access events.

Input (framed by `jsonframe`, so one JSON document per line or pretty-printed over lines):
- Winlogbeat / Elastic Agent documents: `winlog.event_id`, `winlog.event_data.*`, `winlog.computer_name`,
  `winlog.time_created` (or `@timestamp`); the raw event XML in `message` / `event.original` is used when
  `event_data` is missing;
- Winlogbeat 6 (`event_id`, `event_data`, `computer_name` at the top), NXLog's flat JSON (`EventID`,
  `SubjectUserName` ..., `EventTime` in the source's zone), Elasticsearch hits (`_source`), and documents
  wrapping a list in `events` (Elastic's pipeline tests);
- the bare event XML, `<Event xmlns=...>...</Event>` on one line (`wevtutil qe /f:xml`).

4663 is success-only and carries **no client address and no byte count**. The address is joined from the
same stream's logon event 4624 (`TargetLogonId` = 4663's `SubjectLogonId`, network logons carry
`IpAddress`), in a bounded map saved with the checkpoint; logoffs (4634, 4647) forget it. A refused access
is a 4656 ("a handle to an object was requested") with the Audit Failure keyword: it becomes a failure event.
Other event ids are skipped.

Mapping: user = `SubjectUserName` (`user.domain`, `user.id` = SID), host = the computer, object = `file:` +
the path with forward slashes (`C:\\Shares\\HR\\x.xlsx` → `file:C:/Shares/HR/x.xlsx`, so data-map globs work
as for Unix paths; `file.path` keeps it as logged) for File objects, `registry:` + the key for Key objects,
`win:<ObjectType>:` + the name otherwise. The action comes from the access rights used (`AccessList` codes
`%%4416` ..., their names when rendered, else the `AccessMask` bits): DELETE → delete, WRITE_DAC/WRITE_OWNER →
permission, WriteData/AppendData → write, ReadData → read, Execute → execute, attribute/EA/ACL reads only →
other. `pii.command` lists the rights.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field

from pii_guard.model import DELETE, EXECUTE, FAILURE, OTHER, PERMISSION, READ, SUCCESS, WRITE, AccessEvent
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.jsonframe import Framed, JsonRecordFramer
from pii_guard.parsers.normalize import IsoClock, dig, int_of, ip_or_none, text_of, windows_path_object
from pii_guard.parsers.timeparse import TimestampError

# access right → (name, action); codes from msobjs.dll, bits from winnt.h (file object rights)
_RIGHTS: Final = {
    "1537": ("DELETE", DELETE), "1538": ("READ_CONTROL", OTHER), "1539": ("WRITE_DAC", PERMISSION),
    "1540": ("WRITE_OWNER", PERMISSION), "1541": ("SYNCHRONIZE", OTHER), "1542": ("ACCESS_SYS_SEC", PERMISSION),
    "4416": ("ReadData", READ), "4417": ("WriteData", WRITE), "4418": ("AppendData", WRITE),
    "4419": ("ReadEA", OTHER), "4420": ("WriteEA", OTHER), "4421": ("Execute", EXECUTE),
    "4422": ("DeleteChild", DELETE), "4423": ("ReadAttributes", OTHER), "4424": ("WriteAttributes", OTHER),
    # registry keys
    "4432": ("QueryKeyValue", READ), "4433": ("SetKeyValue", WRITE), "4434": ("CreateSubKey", WRITE),
    "4435": ("EnumerateSubKeys", OTHER), "4436": ("NotifyAboutChanges", OTHER), "4437": ("CreateLink", WRITE),
}  # fmt: skip
_MASK_BITS: Final = (
    (0x10000, "1537"), (0x20000, "1538"), (0x40000, "1539"), (0x80000, "1540"), (0x100000, "1541"),
    (0x1000000, "1542"), (0x1, "4416"), (0x2, "4417"), (0x4, "4418"), (0x8, "4419"), (0x10, "4420"),
    (0x20, "4421"), (0x40, "4422"), (0x80, "4423"), (0x100, "4424"),
)  # fmt: skip
_NAMES: Final = {name.lower(): code for code, (name, _) in _RIGHTS.items()}
_PRECEDENCE: Final = (DELETE, PERMISSION, WRITE, READ, EXECUTE, OTHER)
_CODE: Final = re.compile(r"%%(\d{4})")
_WORD: Final = re.compile(r"[A-Za-z_]+")
_XML_DATA: Final = re.compile(r"<Data Name=['\"]([^'\"]+)['\"]\s*(?:/>|>(.*?)</Data>)", re.S)
_XML_SYSTEM: Final = {
    "event_id": re.compile(r"<EventID[^>]*>(\d+)</EventID>"),
    "time": re.compile(r"<TimeCreated SystemTime=['\"]([^'\"]+)['\"]"),
    "computer": re.compile(r"<Computer>([^<]*)</Computer>"),
    "record_id": re.compile(r"<EventRecordID>(\d+)</EventRecordID>"),
    "keywords": re.compile(r"<Keywords>([^<]*)</Keywords>"),
}
_AUDIT_FAILURE_BIT: Final = 0x10000000000000
_LOGON_EVENTS: Final = frozenset({"4624"})
_LOGOFF_EVENTS: Final = frozenset({"4634", "4647"})


class Win4663Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_logons: int = Field(default=100_000, ge=1, description="logon sessions whose client address is remembered")


class _Ev:
    """One Windows event, whichever shape it came in."""

    __slots__ = ("computer", "data", "event_id", "failure", "record_id", "time_text")

    def __init__(self, event_id: str, data: dict[str, Any], time_text: str | None, computer: str | None,
                 record_id: str | None, failure: bool) -> None:
        self.event_id = event_id
        self.data = data
        self.time_text = time_text
        self.computer = computer
        self.record_id = record_id
        self.failure = failure


def _hex(text: str) -> int | None:
    """`0x1f4` → 500; None for what is not hexadecimal."""
    try:
        return int(text, 16) if text.lower().startswith("0x") and len(text) < 40 else None
    except ValueError:
        return None


def _from_xml(xml: str) -> _Ev | None:
    event_id = _XML_SYSTEM["event_id"].search(xml)
    if event_id is None:
        return None
    data = {name: html.unescape(value or "") for name, value in _XML_DATA.findall(xml)}
    found = {key: (m.group(1) if (m := rx.search(xml)) else None) for key, rx in _XML_SYSTEM.items()}
    keywords = _hex(found["keywords"] or "") or 0
    return _Ev(event_id.group(1), data, found["time"], found["computer"], found["record_id"],
               bool(keywords & _AUDIT_FAILURE_BIT))


def _keywords_failure(doc: dict[str, Any]) -> bool:
    words = dig(doc, "winlog", "keywords") or doc.get("keywords") or []
    if isinstance(words, str):
        words = [words]
    if isinstance(words, list) and any(isinstance(w, str) and "Failure" in w for w in words):
        return True
    outcome = text_of(dig(doc, "event", "outcome")) or text_of(dig(doc, "winlog", "outcome"))
    return outcome == "failure" or text_of(doc.get("EventType")) == "AUDIT_FAILURE"


def shape(doc: Any) -> _Ev | None:
    """Read a Winlogbeat / Winlogbeat 6 / NXLog document (or the XML inside it); None if it is none."""
    if not isinstance(doc, dict):
        return None
    winlog = doc.get("winlog")
    if isinstance(winlog, dict):
        event_id = text_of(winlog.get("event_id")) or text_of(dig(doc, "event", "code"))
        data = winlog.get("event_data")
        if event_id and isinstance(data, dict) and data:
            return _Ev(event_id, data, text_of(winlog.get("time_created")) or text_of(doc.get("@timestamp")),
                       text_of(winlog.get("computer_name")) or text_of(dig(doc, "host", "name")),
                       text_of(winlog.get("record_id")), _keywords_failure(doc))
    if "event_data" in doc and ("event_id" in doc or "computer_name" in doc):  # Winlogbeat 6
        data = doc.get("event_data")
        event_id = text_of(doc.get("event_id"))
        if event_id and isinstance(data, dict):
            return _Ev(event_id, data, text_of(doc.get("@timestamp")), text_of(doc.get("computer_name")),
                       text_of(doc.get("record_number")), _keywords_failure(doc))
    if "EventID" in doc and ("SubjectUserName" in doc or "ObjectName" in doc or "Hostname" in doc):  # NXLog
        event_id = text_of(doc.get("EventID"))
        if event_id:
            return _Ev(event_id, doc, text_of(doc.get("EventTime")), text_of(doc.get("Hostname")),
                       text_of(doc.get("RecordNumber")), _keywords_failure(doc))
    for xml in (doc.get("message"), dig(doc, "event", "original")):
        if isinstance(xml, str) and "<Event" in xml:
            ev = _from_xml(xml)
            if ev is not None:
                return ev
    return None


def documents(value: Any) -> list[Any]:
    """The events inside a framed JSON value: itself, or `events[]` / `_source` / `hits.hits[]._source`."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return [value]
    events = value.get("events")
    if isinstance(events, list) and "winlog" not in value:
        return events
    source = value.get("_source")
    if isinstance(source, dict):
        return [source]
    hits = dig(value, "hits", "hits")
    if isinstance(hits, list):
        return [h.get("_source") if isinstance(h, dict) else h for h in hits]
    return [value]


def rights(access_list: str | None, mask: str | None) -> list[str]:
    """The access-right codes used: from `%%NNNN` codes, rendered names, or the mask's bits."""
    codes: list[str] = []
    if access_list:
        codes = _CODE.findall(access_list)
        if not codes:
            codes = [c for w in _WORD.findall(access_list) if (c := _NAMES.get(w.lower())) is not None]
    if not any(c in _RIGHTS for c in codes) and mask:  # nothing known listed: the mask's bits say it
        bits = (_hex(mask) if mask.lower().startswith("0x") else int_of(mask)) or 0
        codes = codes + [code for bit, code in _MASK_BITS if bits & bit]
    return list(dict.fromkeys(codes))


def action_of(codes: list[str]) -> str:
    found = {_RIGHTS[c][1] for c in codes if c in _RIGHTS}
    return next((a for a in _PRECEDENCE if a in found), OTHER)


def right_name(code: str) -> str:
    known = _RIGHTS.get(code)
    return known[0] if known is not None else "%%" + code


class Win4663Parser(Parser):
    """Windows 4663 object-access events (Winlogbeat/ECS JSON, NXLog JSON, event XML) → access events."""

    name = "windows-4663"
    dataset = "windows.security"
    description = "Windows Security 4663 object access (Winlogbeat/ECS or NXLog JSON, event XML); IP via 4624"
    Options = Win4663Options
    # Winlogbeat's and the event XML's times are UTC; only NXLog's EventTime is local (`timezone` then applies)
    needs_timezone = False
    idle_flush_s = None  # a pretty-printed document is complete when its braces close, never on idle

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, Win4663Options)
        self._max = opts.max_logons
        self._framer = JsonRecordFramer()
        self._clock = IsoClock(context.tz)
        self._logons: dict[str, str] = {}  # logon id → client address (network logons)

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        s = line.lstrip()
        if s.startswith("<"):
            if not s.startswith(("<Event ", "<Event>")):
                return NOTHING  # <Events>, <?xml ...?> around wevtutil output
            ev = _from_xml(s)
            if ev is None:
                return (ParseFailure(offset, "event XML without an EventID", line),)
            return self._event(Framed(offset, line, None), 0, ev)
        framed = self._framer.feed(offset, line)
        if not framed:
            return NOTHING
        out: list[Outcome] = []
        for item in framed:
            if isinstance(item, ParseFailure):
                out.append(item)
                continue
            docs = documents(item.value)
            for index, doc in enumerate(docs):
                ev = shape(doc)
                if ev is None:
                    out.append(ParseFailure(item.offset, f"document {index}: not a Windows event (no winlog, "
                                            "event_data, EventID or event XML)", item.text[:4096]))
                    continue
                # an event inside a wrapper (events[], _source, hits) is its own record: its own text
                own = item if doc is item.value else Framed(item.offset, orjson.dumps(doc).decode(), doc)
                out.extend(self._event(own, index, ev))
        return out

    def flush(self) -> Sequence[Outcome]:
        return self._framer.flush()

    def pending_offset(self) -> int | None:
        return self._framer.pending_offset()

    def snapshot(self) -> Any:
        return {"logons": self._logons}

    def restore(self, state: Any) -> None:
        logons = state.get("logons") if isinstance(state, dict) else None
        if isinstance(logons, dict):
            self._logons.update({str(k): str(v) for k, v in logons.items()})

    def _event(self, fr: Framed, index: int, ev: _Ev) -> Sequence[Outcome]:
        data = ev.data
        if ev.event_id in _LOGON_EVENTS:
            logon, ip = text_of(data.get("TargetLogonId")), ip_or_none(text_of(data.get("IpAddress")) or "")
            if logon and ip:
                self._logons.pop(logon, None)
                self._logons[logon] = ip
                if len(self._logons) > self._max:
                    del self._logons[next(iter(self._logons))]
            return NOTHING
        if ev.event_id in _LOGOFF_EVENTS:
            logon = text_of(data.get("TargetLogonId"))
            if logon:
                self._logons.pop(logon, None)
            return NOTHING
        if ev.event_id != "4663" and not (ev.event_id == "4656" and ev.failure):
            return NOTHING
        if not ev.time_text:
            return (ParseFailure(fr.offset, f"event {ev.event_id} without a time", fr.text[:4096]),)
        try:
            time_us = self._clock(ev.time_text)
        except TimestampError as exc:
            return (ParseFailure(fr.offset, f"event {ev.event_id}: {exc}", fr.text[:4096]),)
        name = text_of(data.get("ObjectName")) or ""
        kind = text_of(data.get("ObjectType")) or ""
        codes = rights(text_of(data.get("AccessList")), text_of(data.get("AccessMask")))
        logon = text_of(data.get("SubjectLogonId"))
        fields: dict[str, Any] = {"winlog.event_id": ev.event_id, "winlog.object_type": kind}
        if name:
            fields["file.path" if kind == "File" else "winlog.object_name"] = name
        for target, key in (("user.domain", "SubjectDomainName"), ("user.id", "SubjectUserSid"),
                            ("winlog.logon.id", "SubjectLogonId"), ("process.executable", "ProcessName"),
                            ("winlog.handle_id", "HandleId"), ("winlog.access_mask", "AccessMask")):
            value = text_of(data.get(key))
            if value is not None and value != "-":
                fields[target] = value
        pid = text_of(data.get("ProcessId"))
        if pid:
            number = _hex(pid) if pid.lower().startswith("0x") else int_of(pid)
            if number is not None:
                fields["process.pid"] = number
        if ev.record_id:
            fields["winlog.record_id"] = ev.record_id
        if not name:
            obj = None
        elif kind == "File":
            obj = windows_path_object(name)
        elif kind == "Key":
            obj = "registry:" + name
        else:
            obj = f"win:{kind}:{name}"
        user = text_of(data.get("SubjectUserName"))
        return (
            AccessEvent(
                id=self.ids.make(fr.offset, f"{index}:{fr.text}" if index else fr.text),
                time_us=time_us,
                dataset=self.dataset,
                action=action_of(codes),
                outcome=FAILURE if ev.failure else SUCCESS,
                user=None if user in (None, "-") else user,
                source_ip=self._logons.get(logon) if logon else None,
                host=ev.computer or self.context.host,
                object=obj,
                command=",".join(map(right_name, codes)) or None,
                original=fr.text,
                error_code="access denied" if ev.failure else None,
                fields=fields,
                offset=fr.offset,
            ),
        )
