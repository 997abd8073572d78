"""What responders do to incidents (from the CLI, later the web console). Each action is one transaction:
the status change, its timeline entry and its outbox rows commit together."""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

from pii_guard.errors import IncidentError
from pii_guard.incidents import records
from pii_guard.incidents.book import Silence
from pii_guard.incidents.outbox import Target, enqueue
from pii_guard.incidents.records import IncidentRecord, parse_label
from pii_guard.notify.base import Change, ChangeKind

_MAX_TEXT = 4000


class Responder:
    def __init__(self, conn: sqlite3.Connection, targets: Sequence[Target], actor: str) -> None:
        self._conn = conn
        self._targets = tuple(targets)
        self.actor = actor

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _load(self, conn: sqlite3.Connection, label: str) -> IncidentRecord:
        number = parse_label(label)
        record = records.load(conn, number) if number is not None else None
        if record is None:
            raise IncidentError(f"no incident {label!r}", hint="see `pii-guard incidents list`")
        return record

    def _change(self, conn: sqlite3.Connection, record: IncidentRecord, kind: ChangeKind, now_us: int,
                text: str = "", previous: str | None = None) -> None:
        records.add_timeline(conn, record.id, now_us, self.actor, kind, text, previous)
        record.updated_us = now_us
        records.save(conn, record)
        enqueue(conn, record, Change(kind, now_us, self.actor, text, previous), self._targets, now_us)

    def acknowledge(self, label: str, now_us: int) -> IncidentRecord:
        with self._transaction() as conn:
            record = self._load(conn, label)
            if record.status != "open":
                raise IncidentError(f"{record.label} is {record.status}; only an open incident can be acknowledged")
            previous, record.status, record.acknowledged_us = record.status, "acknowledged", now_us
            if record.assignee is None:
                record.assignee = self.actor
            self._change(conn, record, "acknowledged", now_us, "", previous)
            return record

    def assign(self, label: str, assignee: str, now_us: int) -> IncidentRecord:
        with self._transaction() as conn:
            record = self._load(conn, label)
            previous, record.assignee = record.assignee, _text(assignee, 200)
            self._change(conn, record, "assigned", now_us, record.assignee, previous)
            return record

    def comment(self, label: str, text: str, now_us: int) -> IncidentRecord:
        if not text.strip():
            raise IncidentError("a comment needs some text")
        with self._transaction() as conn:
            record = self._load(conn, label)
            self._change(conn, record, "comment", now_us, _text(text, _MAX_TEXT))
            return record

    def resolve(self, label: str, reason: str, now_us: int, *, false_positive: bool = False) -> IncidentRecord:
        if not reason.strip():
            raise IncidentError("say why: --reason is required")
        kind: ChangeKind = "false_positive" if false_positive else "resolved"
        with self._transaction() as conn:
            record = self._load(conn, label)
            if not record.is_open:
                raise IncidentError(f"{record.label} is already {record.status}")
            previous, record.status, record.closed_us = record.status, kind, now_us
            self._change(conn, record, kind, now_us, _text(reason, _MAX_TEXT), previous)
            return record

    def silence(self, rule_id: str, key: str, duration_us: int, reason: str, now_us: int,
                known_rules: Collection[str] | None = None) -> int:
        """`known_rules`: the rule ids a silence may name (the loaded policy's and Sigma rules'); None: any. The
        rule ids of recorded incidents are known too (a rule since removed from the policy), and `*` is all."""
        if not reason.strip():
            raise IncidentError("say why: --reason is required")
        if duration_us <= 0:
            raise IncidentError("a silence needs a positive duration (--for 2h)")
        with self._transaction() as conn:
            if known_rules is not None and rule_id != "*":
                _check_rule(conn, rule_id, known_rules)
            cur = conn.execute(
                "INSERT INTO silences (rule_id, key, reason, created_by, created_us, until_us) VALUES (?,?,?,?,?,?)",
                (rule_id, key, _text(reason, _MAX_TEXT), self.actor, now_us, now_us + duration_us),
            )
            number = int(cur.lastrowid or 0)
            # every open incident it covers says so in its timeline (and its thread, the team should know)
            silence = Silence(number, rule_id, key)
            for record in records.select(conn, "status IN ('open','acknowledged')", []):
                if not silence.covers(record.rule_id, record.silence_key):
                    continue
                record.silence_id = number
                self._change(conn, record, "comment", now_us,
                             f"silenced as S-{number} until {_iso(now_us + duration_us)}: {_text(reason, 500)}")
            return number

    def expire_silence(self, number: int, now_us: int) -> None:
        with self._transaction() as conn:
            cur = conn.execute("UPDATE silences SET expired_us=? WHERE id=? AND expired_us IS NULL",
                               (now_us, number))
            if cur.rowcount != 1:
                raise IncidentError(f"no active silence S-{number}", hint="see `pii-guard incidents silences`")


def _check_rule(conn: sqlite3.Connection, rule_id: str, known_rules: Collection[str]) -> None:
    known = set(known_rules) | {str(r) for (r,) in conn.execute("SELECT DISTINCT rule_id FROM incidents")}
    if rule_id in known:
        return
    close = difflib.get_close_matches(rule_id, sorted(known), n=3, cutoff=0.5)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        shown = sorted(known)
        more = f", {len(shown) - 12} more" if len(shown) > 12 else ""
        hint = f"known rule ids: {', '.join(shown[:12])}{more}; or * for every rule"
    raise IncidentError(f"no rule {rule_id!r} in the loaded policy or Sigma rules", hint=hint)


def _text(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(us: int) -> str:
    from pii_guard.model import format_timestamp

    return format_timestamp(us)
