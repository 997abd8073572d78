"""Guessing a log's format from its first lines, with a confidence (`pii-guard parse --format auto`, and the
`check` warning when a source's configured format does not match its files).

Two steps:

1. **Recognise records.** Each of the first lines (at most `HEAD_LINES` / `HEAD_BYTES`, gzip files
   decompressed) is matched against the layout signatures the formats are built for: ctime-stamped xferlog
   and vsftpd.log lines, S3 access lines, server_audit file lines, PostgreSQL stderr/csvlog lines, combined
   web lines, syslog lines (the program tag says which format: `smbd_audit`, `sftp-server`, `sshd`,
   `mysql-server_auditing`, `vsftpd`, `percona-audit`, `smbd`), smbd's own log (auth_audit lines, and
   vfs_full_audit records with `full_audit:syslog = false`), bare `sshd -E` messages,
   Percona CSV and XML records. JSON is framed into records first (`jsonframe`: one per line, arrays with
   trailing commas, pretty-printed documents) and each record is recognised by its keys: `audit_record`
   (Percona), `class` + `account`/`login` (MySQL Enterprise), `Records`/`eventSource` (CloudTrail),
   `winlog`/`EventID` (Windows), `error_severity` (PostgreSQL jsonlog), anything else (`jsonl`, weakly).
   Lines that continue a record (TAB-led PostgreSQL lines, the inside of XML or multi-line CSV records) count
   for nobody. A format's *coverage* is the share of recognised records that are its own.
2. **Try the parser.** The best candidates, with the options the content suggests (PostgreSQL's
   `log_line_prefix` among the common ones, Samba's `full_audit:prefix` width (full_audit records win over
   auth_audit lines in one smbd log), `log: auth_audit`,
   `layout: bare`), parse the same lines; the share of records that fail lowers the confidence.

confidence = coverage × specificity × (1 − failure share). Specificity says how unmistakable a signature is:
0.97 for layouts nothing else writes, 0.6 for nginx vs Apache when no escape tells them apart (the combined
line is the same; the byte counts are not), 0.4 for JSON that is only "some JSON" (`jsonl`). A confidence of
0.9 or more is reported as high, 0.6 or more as medium, else low.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Final, NamedTuple

import orjson

from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.cloudtrail import records_of
from pii_guard.parsers.jsonframe import Framed, JsonRecordFramer
from pii_guard.parsers.registry import format_names, parser_class
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.win4663 import documents, shape
from pii_guard.sources.compressed import DECOMPRESS_ERRORS, compression_of, open_log
from pii_guard.sources.tail import COMPRESSED

HEAD_LINES: Final = 200
HEAD_BYTES: Final = 1 << 20

SYSLOG_TAGS: Final = {
    "smbd_audit": "samba-full-audit",
    "smbd": "samba-full-audit",  # smbd's debug log through syslog (`logging = syslog`)
    "sftp-server": "sftp",
    "internal-sftp": "sftp",
    "sshd": "sftp",
    "sshd-session": "sftp",  # OpenSSH 9.8+
    "sshd-auth": "sftp",  # OpenSSH 10.0+
    "mysql-server_auditing": "mariadb-audit",
    "vsftpd": "vsftpd",
    "percona-audit": "percona-audit",
    "postgres": "pgaudit",  # log_destination = 'syslog' (syslog_ident's default)
}
PG_PREFIXES: Final = (
    "%m [%p] %q%u@%d ",  # Debian's default
    "%m [%p] ",  # PostgreSQL's default since 13
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",  # pgbadger's recommendation
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%m [%p] %u@%d ",
    "%t [%p] ",
    "%t:%r:%u@%d:[%p]:",  # Amazon RDS and Aurora PostgreSQL (a parameter group cannot change it)
)
# prefixes of servers that log through syslog, which stamps the lines: often without a time of their own
PG_SYSLOG_PREFIXES: Final = (
    *PG_PREFIXES,
    "[%p] user=%u,db=%d,app=%a,client=%h ",
    "user=%u,db=%d,app=%a,client=%h ",  # pgbadger's recommendation for syslog
    "[%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%q%u@%d ",
    "%u@%d ",
    "[%p] ",
    "",
)
_SPECIFICITY: Final = {"jsonl": 0.4}
_DEFAULT_SPECIFICITY: Final = 0.97
_AMBIGUOUS_WEB: Final = 0.6

_CTIME: Final = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}"
_XFERLOG: Final = re.compile(_CTIME + r" \d+ \S+ \d+ .+ [ab] \S [oid] [rag] \S* \S+ \d \S+ [ci]\Z")
_VSFTPD_LOG: Final = re.compile(_CTIME + r" \[pid \d+\] ")
_S3: Final = re.compile(
    r"\S+ \S+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] \S+ \S+ \S+ (?:REST|BATCH|S3|WEBSITE)\.[A-Z_.]+ "
)
_MARIADB_FILE: Final = re.compile(r"\d{8} \d\d:\d\d:\d\d,[^,]*,.*,\d+,\d+,[A-Z_]+,")
# a server_audit record in a syslog message under a tag of the server's choosing (server_audit_syslog_ident)
_MARIADB_RECORD: Final = re.compile(
    r"(?:^|.* )[^,\s]+,[^,]*,[^,]*,\d+,\d+,(?:CONNECT|DISCONNECT|FAILED_CONNECT|CHANGEUSER|QUERY|READ|WRITE|CREATE"
    r"|ALTER|RENAME|DROP),"
)
_PG_STDERR: Final = re.compile(
    r"(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [^\s:]+|\d+(?:\.\d+)?)[ :].*?\b"
    r"(?:LOG|ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|DEBUG\d?|STATEMENT|DETAIL|HINT|CONTEXT|LOCATION):  "
)
_PG_CSV: Final = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [A-Za-z][A-Za-z0-9_/+-]*,")
# combined: a user may hold spaces (Apache writes a Basic-auth name as sent), `%v:%p` may come first
_WEB: Final = re.compile(r'\S+ \S+ .+? \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "')
# smbd's debug-log header, whole or fractional seconds, `, pid=...` etc. before the `]`
_SMBD_HEADER: Final = re.compile(r"\[\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?, +\d+[^\]]*\]")
_SAMBA_AUTH: Final = re.compile(r"\s+Auth: \[|\s+\{\"timestamp\": ")
_SMBD_AUTH_NOTE: Final = "smbd auth_audit log lines"
_SSHD_BARE: Final = re.compile(
    r"(?:Accepted|Failed|Postponed) \S+ for |Connection from \S+ port \d+|Server listening on |Invalid user |"
    r"Connection closed by |Disconnected from |Received disconnect from |User \S+ (?:from \S+ )?not allowed|"
    r"Accepted key |User child is on pid |Changed root directory to |Starting session: |Close session: |"
    r"pam_unix\(sshd:|Transferred: sent |Timeout before authentication"
)
_PERCONA_CSV: Final = re.compile(r'"[A-Z][A-Za-z ]+","\d+_\d{4}-\d\d-\d\dT')
_JSON_ARRAY: Final = re.compile(r"\[\s*[\[{]")
_PERCONA_XML: Final = re.compile(r"\s*(?:<\?xml|</?AUDIT>|<AUDIT_RECORD\b)")
# A vfs_full_audit record's operation and status, in a line already known to be smbd's: any of the ~120 VFS
# operations (`full_audit:success = all` logs fstat, fgetxattr, file_id_create ...).
_SAMBA_OPS: Final = re.compile(r"\|([a-z][a-z0-9_]*)\|(?:ok\||ok\Z|fail \()")


class Guess(NamedTuple):
    format: str
    confidence: float  # 0..1
    options: dict[str, Any]  # parser options the content suggests
    reason: str


def confidence_word(confidence: float) -> str:
    return "high" if confidence >= 0.9 else "medium" if confidence >= 0.6 else "low"


# -- reading a file's head ------------------------------------------------------------------------------------


def compression_of_file(path: Path) -> str | None:
    """'gzip', 'xz', 'bzip2' or None, from the file's first bytes (None when it cannot be read)."""
    try:
        with path.open("rb") as fh:
            return compression_of(fh.read(6))
    except OSError:
        return None


def head_lines(path: Path, max_lines: int = HEAD_LINES, max_bytes: int = HEAD_BYTES) -> tuple[list[str], bool]:
    """The first lines of a file (decompressed) and whether that is the whole file. A last line cut by
    `max_bytes` is left out; invalid UTF-8 is kept as `\\xNN`, as the reader does."""
    try:
        raw, text = open_log(path)
        with raw, text:
            data = text.read(max_bytes + 1)
    except DECOMPRESS_ERRORS:
        return [], True
    complete = len(data) <= max_bytes
    if not complete:
        data = data[: data.rfind(b"\n") + 1] if b"\n" in data[:max_bytes] else data[:max_bytes]
    lines = [raw.removesuffix(b"\r").decode("utf-8", "backslashreplace") for raw in data.split(b"\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    if len(lines) > max_lines:
        lines, complete = lines[:max_lines], False
    return lines, complete


# -- step 1: recognising records ------------------------------------------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.records = 0  # recognisable units: lines or JSON records
        self.kinds: Counter[str] = Counter()  # format → records of it
        self.notes: dict[str, Counter[str]] = {}  # format → what was seen (for the reason)
        self.options: dict[str, dict[str, Any]] = {}

    def add(self, fmt: str | None, note: str) -> None:
        self.records += 1
        if fmt is not None:
            self.kinds[fmt] += 1
            self.notes.setdefault(fmt, Counter())[note] += 1


def _json_kind(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        if value.get("type") in ("Authentication", "Authorization") and "timestamp" in value:
            return "samba-full-audit", "smbd auth_audit JSON lines"
        if isinstance(value.get("audit_record"), dict):
            return "percona-audit", "Percona JSON records"
        if "class" in value and ("account" in value or "login" in value or "connection_id" in value):
            return "mysql-enterprise-audit", "MySQL Enterprise Audit JSON records"
        if "error_severity" in value and "message" in value:
            return "pgaudit", "PostgreSQL jsonlog records"
        records = records_of(value)
        if records and any(isinstance(r, dict) and "eventSource" in r and "userIdentity" in r for r in records):
            return "cloudtrail", "CloudTrail records"
        if any(shape(doc) is not None for doc in documents(value)):
            return "windows-4663", "Windows event documents"
    return "jsonl", "JSON objects of no known audit format"


def _text_kind(text: str) -> tuple[str, str] | None:
    """For a JSON document too long for the head: its keys."""
    if re.search(r'"eventSource"\s*:\s*"[a-z0-9-]+\.amazonaws\.com"', text) and '"userIdentity"' in text:
        return "cloudtrail", "a CloudTrail document"
    if re.search(r'"winlog"\s*:|"EventID"\s*:\s*"?46\d\d', text):
        return "windows-4663", "a Windows event document"
    if '"audit_record"' in text:
        return "percona-audit", "Percona JSON records"
    if re.search(r'"class"\s*:\s*"(?:connection|general|table_access|audit)"', text):
        return "mysql-enterprise-audit", "MySQL Enterprise Audit JSON records"
    return None


def _recognise(lines: list[str]) -> _Tally:
    tally = _Tally()
    framing = SyslogFraming(None, 0.0)
    framer = JsonRecordFramer(max_lines=len(lines) + 1)
    in_xml = False
    csv_open = False
    web_escapes: Counter[str] = Counter()
    samba = _SambaPrefix()
    samba_auth = False  # smbd auth_audit lines seen
    for offset, line in enumerate(lines):
        s = line.strip()
        pending = framer.pending_offset() is not None
        if not pending and (not s or s in ("[", "]", ",", "],")):
            continue
        if pending or s[0] == "{" or _JSON_ARRAY.match(s):
            for item in framer.feed(offset, line):
                if isinstance(item, Framed):
                    fmt, note = _json_kind(item.value)
                    tally.add(fmt, note)
                    if fmt == "samba-full-audit":
                        samba_auth = True
                else:
                    tally.add(None, "not JSON")
            continue
        if csv_open:  # the continuation of a Percona CSV record
            csv_open = line.count('"') % 2 == 0
            continue
        if in_xml or _PERCONA_XML.match(line):
            if "<AUDIT_RECORD" in line:
                tally.add("percona-audit", "Percona XML records")
            in_xml = not s.endswith(("/>", "</AUDIT_RECORD>")) and not s.startswith(("<?xml", "<AUDIT>", "</AUDIT>"))
            if "<AUDIT_RECORD" not in line and s.endswith(("/>", "</AUDIT_RECORD>")):
                in_xml = False
            continue
        if line[:1] == "\t":
            continue  # a PostgreSQL continuation line
        if _XFERLOG.match(line):
            tally.add("vsftpd", "xferlog lines")
        elif _VSFTPD_LOG.match(line):
            tally.add("vsftpd", "vsftpd.log lines")
        elif _S3.match(line):
            tally.add("s3-access", "S3 server access lines")
        elif _MARIADB_FILE.match(line):
            tally.add("mariadb-audit", "server_audit file lines")
        elif _PG_CSV.match(line) and line.count(",") >= 12:
            tally.add("pgaudit", "PostgreSQL csvlog records")
            tally.options.setdefault("pgaudit", {"destination": "csvlog"})
            csv_open = line.count('"') % 2 == 1
        elif _PG_STDERR.match(line):
            tally.add("pgaudit", "PostgreSQL stderr lines")
        elif _WEB.match(line):
            if '\\"' in line:
                web_escapes["apache"] += 1
            if "\\x22" in line:
                web_escapes["nginx"] += 1
            tally.add("web", "combined access-log lines")
        elif _PERCONA_CSV.match(line):
            tally.add("percona-audit", "Percona CSV records")
            csv_open = line.count('"') % 2 == 1
        elif (smbd := _smbd_log(line, samba)) is not None:
            tally.add("samba-full-audit", smbd)
            samba_auth = samba_auth or smbd == _SMBD_AUTH_NOTE
        else:
            try:
                framed = framing.split(line)
            except (ValueError, OverflowError):  # TimestampError, or datetime's own for an impossible stamp
                if _SSHD_BARE.match(line):
                    tally.add("sftp", "bare sshd messages (sshd -E)")
                    tally.options["sftp"] = {"layout": "bare"}
                else:
                    tally.add(None, "unknown")
                continue
            tagged = SYSLOG_TAGS.get(framed.tag)
            if tagged is None and _MARIADB_RECORD.match(framed.message):
                tagged = "mariadb-audit"
                tally.options["mariadb-audit"] = {"output": "syslog", "syslog_ident": framed.tag}
            tally.add(tagged, f"syslog lines of {framed.tag}" if tagged else "")
            if tagged is None:
                tally.notes.setdefault("syslog", Counter())[framed.tag] += 1
            elif tagged == "pgaudit":
                tally.options["pgaudit"] = {"destination": "syslog"}
            elif tagged == "samba-full-audit":
                m = _SAMBA_OPS.search(framed.message)
                if m is not None:
                    samba.add(framed.message, m)
                samba_auth = samba_auth or _SAMBA_AUTH.match(framed.message) is not None
    _settle_web(tally, web_escapes)
    _settle_samba(tally, samba, samba_auth)
    return tally


def _smbd_log(line: str, samba: _SambaPrefix) -> str | None:
    """What a line of smbd's own log is, or None if it is none; a vfs_full_audit record's prefix is noted.
    Records are indented under their header, or follow it on its line (`debug prefix timestamp`)."""
    header = _SMBD_HEADER.match(line)
    if header is None and not line.startswith("  "):
        return None
    body = line if header is None else line[header.end() :]
    m = _SAMBA_OPS.search(body)
    if m is not None:
        samba.add(body, m)
        return "smbd log lines of vfs_full_audit"
    if _SAMBA_AUTH.match(body):
        return _SMBD_AUTH_NOTE
    return "smbd log headers" if header is not None else None


class _SambaPrefix:
    """What the full_audit records show of their prefix: how many fields, which one is the share (it is the
    argument of `connect`), which ones are paths (`%P`, the share's directory)."""

    def __init__(self) -> None:
        self.widths: Counter[int] = Counter()
        self.shares: Counter[tuple[int, int]] = Counter()  # (width, field)
        self.paths: Counter[tuple[int, int]] = Counter()

    def add(self, message: str, op: re.Match[str]) -> None:
        fields = message[: op.start()].strip().split("|")
        width = len(fields)
        self.widths[width] += 1
        for i in range(2, width):
            if fields[i].startswith("/"):
                self.paths[width, i] += 1
        if op.group(1) == "connect":
            share = message[op.end() :].removeprefix("|").strip()
            for i in range(2, width):
                if fields[i] == share:
                    self.shares[width, i] += 1
                    break

    def prefix(self) -> str | None:
        """The likeliest prefix: `%u|%I` first, the share where `connect` shows it, `%P` where paths are, the
        machine (`%m`) and then the share in the fields left; None when fields would be left over."""
        width = self.widths.most_common(1)[0][0]
        roles: list[str | None] = ["%u", "%I", *([None] * (width - 2))][:width]
        share = max(((n, i) for (w, i), n in self.shares.items() if w == width), default=None)
        if share is not None:
            roles[share[1]] = "%S"
        for (w, i), _ in self.paths.items():
            if w == width and roles[i] is None:
                roles[i] = "%P"
        for role in ("%m", "%S"):
            if role not in roles and None in roles:
                roles[roles.index(None)] = role
        return None if None in roles else "|".join(role for role in roles if role is not None)


def _settle_samba(tally: _Tally, samba: _SambaPrefix, auth: bool) -> None:
    """A Samba log's options: the prefix of its full_audit records; `log: auth_audit` if it has none but
    auth_audit lines (one smbd log may hold both: the records are the accesses)."""
    if samba.widths:
        prefix = samba.prefix()
        if prefix is not None:
            tally.options["samba-full-audit"] = {"prefix": prefix}
    elif auth:
        tally.options["samba-full-audit"] = {"log": "auth_audit"}


def _settle_web(tally: _Tally, escapes: Counter[str]) -> None:
    """Combined lines are nginx's or Apache's: the escaping of a quote tells them apart, if one occurs."""
    count = tally.kinds.pop("web", 0)
    notes = tally.notes.pop("web", Counter())
    if not count:
        return
    winners = [fmt for fmt in ("nginx", "apache") if escapes[fmt]] if escapes else []
    for fmt in winners or ["nginx", "apache"]:
        tally.kinds[fmt] = count
        tally.notes[fmt] = notes
    if len(winners) != 1:
        tally.options["web-ambiguous"] = {}


# -- step 2: trying the parsers -------------------------------------------------------------------------------


class _Trial(NamedTuple):
    events: int
    failures: int
    reason: str | None  # the first failure's


def _trial(fmt: str, options: dict[str, Any], lines: list[str], complete: bool) -> _Trial | None:
    """(events, failures, first failure's reason) when the parser reads `lines`; None if the options do not
    validate."""
    cls = parser_class(fmt)
    try:
        opts = cls.Options.model_validate(options)
        parser = cls(SourceContext(fingerprint=b"detect", path="detect"), opts)
        events = failures = 0
        offset = 0
        outs: list[Any] = []
        for line in lines:
            outs.extend(parser.feed(offset, line))
            offset += len(line.encode("utf-8", "surrogateescape")) + 1
        if complete:
            outs.extend(parser.finish())
    except Exception:  # a parser bug must not break detection: the candidate just loses
        return None
    reason = None
    for item in outs:
        if isinstance(item, ParseFailure):
            failures += 1
            reason = reason or item.reason
        else:
            events += 1
    return _Trial(events, failures, reason)


def _pg_options(lines: list[str], complete: bool, base: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The log_line_prefix (and extra prefixes after a reload) that leave the fewest failures."""
    destination = base.get("destination")
    if destination == "csvlog" or (destination != "syslog" and not any(_PG_STDERR.match(line) for line in lines)):
        trial = _trial("pgaudit", base, lines, complete)
        return dict(base), trial[1] if trial else len(lines)
    destination = destination or "stderr"
    scored = []
    for prefix in PG_SYSLOG_PREFIXES if destination == "syslog" else PG_PREFIXES:
        trial = _trial("pgaudit", {"destination": destination, "log_line_prefix": prefix}, lines, complete)
        if trial is not None and trial[0]:  # a prefix that reads no record at all is no candidate
            scored.append((trial[1], prefix))
    if not scored:
        return {"destination": destination}, len(lines)
    scored.sort(key=lambda item: item[0])
    failures, best = scored[0]
    options: dict[str, Any] = {"destination": destination, "log_line_prefix": best}
    if failures:
        for _, extra in scored[1:]:
            candidate = {**options, "extra_prefixes": [*options.get("extra_prefixes", []), extra]}
            trial = _trial("pgaudit", candidate, lines, complete)
            if trial is not None and trial[1] < failures:
                options, failures = candidate, trial[1]
    return options, failures


def guess_lines(lines: list[str], complete: bool = True) -> list[Guess]:
    """Ranked guesses for these lines, best first; empty when nothing is recognised."""
    tally = _recognise(lines)
    if not tally.kinds:
        return []
    if tally.records == 0:
        return []
    ambiguous_web = "web-ambiguous" in tally.options
    guesses = []
    known = set(format_names())
    for fmt, count in tally.kinds.most_common():
        if fmt not in known:
            continue
        coverage = count / tally.records
        specificity = _SPECIFICITY.get(fmt, _DEFAULT_SPECIFICITY)
        if fmt in ("nginx", "apache") and ambiguous_web:
            specificity = _AMBIGUOUS_WEB
        options = dict(tally.options.get(fmt, {}))
        if fmt == "pgaudit":
            options, failures = _pg_options(lines, complete, options)
        else:
            trial = _trial(fmt, options, lines, complete)
            failures = trial[1] if trial is not None else count
        fail_share = min(1.0, failures / max(1, count))
        if fmt == "jsonl":  # the default mapping (ECS names) rarely fits: a mapping is expected, not a failure
            fail_share = min(fail_share, 0.5)
        confidence = round(coverage * specificity * (1.0 - fail_share), 2)
        notes = tally.notes.get(fmt, Counter())
        seen = ", ".join(note for note, _ in notes.most_common(3) if note)
        reason = f"{count} of {tally.records} records are {seen or fmt}"
        if failures and fmt == "jsonl":
            reason += "; map their keys with the jsonl `fields` option"
        elif failures:
            reason += f"; {failures} did not parse"
        if fmt in ("nginx", "apache") and ambiguous_web:
            reason += "; nginx and Apache write the same combined line and no escaping here tells them apart"
        other_tags = tally.notes.get("syslog")
        if other_tags and fmt in SYSLOG_TAGS.values():
            reason += "; also syslog lines of " + ", ".join(tag for tag, _ in other_tags.most_common(5))
        guesses.append(Guess(fmt, confidence, options, reason))
    guesses.sort(key=lambda g: -g.confidence)
    return guesses


def guess_file(path: Path, max_lines: int = HEAD_LINES, max_bytes: int = HEAD_BYTES) -> list[Guess]:
    """Ranked guesses for a file's first lines (decompressed)."""
    lines, complete = head_lines(path, max_lines, max_bytes)
    guesses = guess_lines(lines, complete)
    if guesses and guesses[0].confidence > 0:
        return guesses
    if not complete and lines and lines[0].lstrip().startswith(("{", "[")):  # one JSON document, longer than the head
        kind = _text_kind("\n".join(lines))
        if kind is not None:
            fmt, note = kind
            return [Guess(fmt, 0.75, {}, f"{note} longer than the {max_bytes >> 10} KiB read to guess (keys only)")]
    return guesses


def describe(guesses: list[Guess]) -> str:
    """`vsftpd (0.97, high): ...`, with the runner-up when it is close."""
    if not guesses:
        return "no known format"
    best = guesses[0]
    text = f"{best.format} (confidence {best.confidence:.2f}, {confidence_word(best.confidence)}): {best.reason}"
    if best.options:
        text += "; options " + orjson.dumps(best.options).decode()
    if len(guesses) > 1 and guesses[1].confidence >= best.confidence - 0.1 and guesses[1].confidence > 0:
        text += f"; or {guesses[1].format} ({guesses[1].confidence:.2f})"
    return text


# -- for `check` ----------------------------------------------------------------------------------------------

_CHECKED_FILES: Final = 3
_WARN_CONFIDENCE: Final = 0.6


def format_warnings(fmt: str, paths: list[str], include_compressed: bool = False,
                    max_line_bytes: int = 1 << 20, options: dict[str, Any] | None = None) -> list[str]:
    """What `check` says about a source whose files do not look like its configured format: a file another
    format recognises clearly better (confidence at least 0.6 and 0.2 above the configured one's), a file in
    which nothing is recognised, compressed data a source would read as text (it decompresses only with
    `include_compressed`; the decompressed text is checked then), and a first line (a CloudTrail
    document is one) longer than the source's `max_line_bytes`. At most the first three files a source follows
    are read (rotated `.gz`/`.xz`... files only with `include_compressed`, as the tailer does)."""
    warnings: list[str] = []
    followed = [name for name in paths if include_compressed or not name.endswith(COMPRESSED)]
    for name in followed[:_CHECKED_FILES]:
        path = Path(name)
        kind = None if include_compressed else compression_of_file(path)
        if kind is not None:
            warnings.append(f"{name} is {kind}-compressed: a source reads it as text unless it has "
                            "`include_compressed: true` (or decompress it first)")
            continue
        lines, _ = head_lines(path)
        if not any(line.strip() for line in lines):
            continue
        guesses = guess_file(path)
        own = next((g.confidence for g in guesses if g.format == fmt), 0.0)
        best = guesses[0] if guesses else None
        trial = None if options is None else _trial(fmt, options, lines, complete=True)
        if trial is not None and _reads_well(trial):
            pass  # the configured format and options read it (a prefix the guesser does not try, say)
        elif trial is not None and best is not None and best.format == fmt and best.confidence >= _WARN_CONFIDENCE:
            # the format is right, its options are not (a full_audit prefix, a log_line_prefix, a syslog ident)
            differ = {k: v for k, v in best.options.items() if options is not None and options.get(k) != v}
            warnings.append(
                f"{name} looks like {fmt}, but the source's options do not read it ({trial.failures} of "
                f"{trial.events + trial.failures} records fail"
                + (f": {trial.reason}" if trial.reason else "; none is an event of its own") + ")"
                + (f"; its lines read with {_options_text(differ)}" if differ else ""))
        elif best is None or best.confidence <= 0:
            if own <= 0:
                warnings.append(f"{name}: its first lines look like no known format, not like {fmt}")
        elif best.format != fmt and best.confidence >= _WARN_CONFIDENCE and own <= best.confidence - 0.2:
            warnings.append(f"{name} looks like {best.format} (confidence {best.confidence:.2f}), not like {fmt}"
                            + (f" ({own:.2f})" if own > 0 else "") + f": {best.reason}")
        unread = parser_class(fmt).unread_hint(lines)
        if unread is not None:
            warnings.append(f"{name}: {unread}")
        if _first_line_longer(path, max_line_bytes):
            hint = " (a delivered CloudTrail document is one line)" if fmt == "cloudtrail" else ""
            warnings.append(f"{name}: its first line is longer than max_line_bytes ({max_line_bytes}){hint}: it "
                            "would be cut and kept as a dead letter; raise max_line_bytes for this source")
    return warnings


def _reads_well(trial: _Trial) -> bool:
    """The source's own parser and options turned these lines into events, with at most a quarter failing."""
    return trial.events > 0 and 4 * trial.failures <= trial.events + trial.failures


def _options_text(options: dict[str, Any]) -> str:
    """Options as a source's YAML would write them: `options: {prefix: "%u|%I"}`."""
    return "options: {" + ", ".join(f"{k}: {orjson.dumps(v).decode()}" for k, v in options.items()) + "}"


def _first_line_longer(path: Path, limit: int) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(limit + 1)
    except OSError:
        return False
    return len(head) > limit and b"\n" not in head[:limit]
