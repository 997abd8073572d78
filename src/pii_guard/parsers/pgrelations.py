"""The tables a PostgreSQL statement touches, read with PostgreSQL's own parser (pglast, libpg_query).

pgAudit names each relation on its own AUDIT line only with `pgaudit.log_relation = on`; with its default
(`off`) a SESSION line of class READ or WRITE leaves OBJECT_TYPE and OBJECT_NAME empty and only the statement
says what was read. The statement is parsed as PostgreSQL would parse it (joins, subqueries, CTEs, `UPDATE ...
FROM`, `COPY (query) TO`), so the events are the ones `log_relation = on` would have given: one per relation,
the target of INSERT/UPDATE/MERGE a write, of DELETE/TRUNCATE a delete, of `COPY ... TO` an export, every other
relation a read.

Statements arrive with their literals masked (`'?'`, and `?` for numbers, which PostgreSQL would read as an
operator): a bare `?` is parsed as `0`. Results are remembered per masked text, which repeats.

pglast (libpg_query and its AST classes, some 3.7 MB) is imported on the first statement to parse
(pgrelations_ast.py): with `log_relation = on`, the setting this parser recommends, that never happens."""

from __future__ import annotations

from typing import Final, NamedTuple

_MEMO_SIZE: Final = 4096


class Relation(NamedTuple):
    schema: str | None  # None: unqualified, resolved through search_path
    name: str
    action: str


class Statement(NamedTuple):
    """One statement of a query text: the command words pgAudit may log for it, and its relations."""

    commands: frozenset[str]
    relations: tuple[Relation, ...]


class StatementRelations:
    """The relations a masked query text touches, per statement: a simple query may hold several (`psql -c
    "a; b"`), and pgAudit logs the whole text under each statement's id. () when it does not parse."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[Statement, ...]] = {}

    def statements(self, text: str, original: str | None = None) -> tuple[Statement, ...]:
        """`original`, the unmasked text, is parsed when the masked one does not (a jsonb `?` operator)."""
        found = self._memo.get(text)
        if found is None:
            from pii_guard.parsers.pgrelations_ast import parse_statements as _parse

            found = _parse(text)
            if not found and original is not None and original != text:
                found = _parse(original, masked=False)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[text] = found
        return found

    def relations(self, text: str, original: str | None = None) -> tuple[Relation, ...]:
        """Every statement's relations together (each relation and role once)."""
        out: list[Relation] = []
        for statement in self.statements(text, original):
            out += [r for r in statement.relations if r not in out]
        return tuple(out)
