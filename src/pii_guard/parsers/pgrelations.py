"""The tables a PostgreSQL statement touches, read with PostgreSQL's own parser (pglast, libpg_query).

pgAudit names each relation on its own AUDIT line only with `pgaudit.log_relation = on`; with its default
(`off`) a SESSION line of class READ or WRITE leaves OBJECT_TYPE and OBJECT_NAME empty and only the statement
says what was read. The statement is parsed as PostgreSQL would parse it (joins, subqueries, CTEs, `UPDATE ...
FROM`, `COPY (query) TO`), so the events are the ones `log_relation = on` would have given: one per relation,
the target of INSERT/UPDATE/MERGE a write, of DELETE/TRUNCATE a delete, of `COPY ... TO` an export, every other
relation a read.

Statements arrive with their literals masked (`'?'`, and `?` for numbers, which PostgreSQL would read as an
operator): a bare `?` is parsed as `0`. Results are remembered per masked text, which repeats."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

import pglast
from pglast import ast
from pglast.visitors import Visitor

from pii_guard.model import DELETE, EXPORT, READ, WRITE

_BARE_MASK: Final = re.compile(r"(?<!')\?(?!')")
_MEMO_SIZE: Final = 4096
_MAX_STATEMENT: Final = 65_536  # longer statements are not parsed (memory and time)


class Relation(NamedTuple):
    schema: str | None  # None: unqualified, resolved through search_path
    name: str
    action: str


class _Roles(Visitor):
    """First pass: the relations whose role is not a plain read, by node identity, and the CTE names."""

    def __init__(self) -> None:
        super().__init__()
        self.roles: dict[int, str] = {}
        self.ctes: set[str] = set()

    def visit_CommonTableExpr(self, _ancestors: object, node: ast.CommonTableExpr) -> None:
        if node.ctename:
            self.ctes.add(node.ctename)

    def visit_InsertStmt(self, _ancestors: object, node: ast.InsertStmt) -> None:
        self.roles[id(node.relation)] = WRITE

    def visit_UpdateStmt(self, _ancestors: object, node: ast.UpdateStmt) -> None:
        self.roles[id(node.relation)] = WRITE

    def visit_MergeStmt(self, _ancestors: object, node: ast.MergeStmt) -> None:
        self.roles[id(node.relation)] = WRITE

    def visit_DeleteStmt(self, _ancestors: object, node: ast.DeleteStmt) -> None:
        self.roles[id(node.relation)] = DELETE

    def visit_TruncateStmt(self, _ancestors: object, node: ast.TruncateStmt) -> None:
        for relation in node.relations or ():
            self.roles[id(relation)] = DELETE

    def visit_CopyStmt(self, _ancestors: object, node: ast.CopyStmt) -> None:
        if node.relation is not None:
            self.roles[id(node.relation)] = WRITE if node.is_from else EXPORT
        if node.query is not None:  # COPY (query) TO: what the query reads is exported
            inner = _Collect({}, set(), EXPORT)
            inner(node.query)
            for relation in inner.nodes:
                self.roles[id(relation)] = EXPORT


class _Collect(Visitor):
    """Second pass: every relation named, with its role."""

    def __init__(self, roles: dict[int, str], ctes: set[str], default: str = READ) -> None:
        super().__init__()
        self.roles = roles
        self.ctes = ctes
        self.default = default
        self.nodes: list[ast.RangeVar] = []
        self.found: list[Relation] = []

    def visit_RangeVar(self, _ancestors: object, node: ast.RangeVar) -> None:
        if not node.relname or (node.schemaname is None and node.relname in self.ctes):
            return  # a CTE, not a table
        self.nodes.append(node)
        relation = Relation(node.schemaname, node.relname, self.roles.get(id(node), self.default))
        if relation not in self.found:
            self.found.append(relation)


class Statement(NamedTuple):
    """One statement of a query text: the command words pgAudit may log for it, and its relations."""

    commands: frozenset[str]
    relations: tuple[Relation, ...]


# pgAudit's COMMAND for the statements whose relations are read or written; a COPY (query) TO also logs its
# SELECT, an EXECUTE the prepared statement's command.
_COMMANDS: Final = {
    "SelectStmt": ("SELECT",), "InsertStmt": ("INSERT",), "UpdateStmt": ("UPDATE",), "DeleteStmt": ("DELETE",),
    "MergeStmt": ("MERGE",), "TruncateStmt": ("TRUNCATE TABLE",), "CopyStmt": ("COPY", "SELECT"),
    "PrepareStmt": ("PREPARE",), "ExecuteStmt": ("EXECUTE", "SELECT", "INSERT", "UPDATE", "DELETE"),
    "CreateTableAsStmt": ("CREATE TABLE AS", "SELECT INTO", "SELECT"), "ExplainStmt": ("EXPLAIN", "SELECT"),
}  # fmt: skip


class StatementRelations:
    """The relations a masked query text touches, per statement: a simple query may hold several (`psql -c
    "a; b"`), and pgAudit logs the whole text under each statement's id. () when it does not parse."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[Statement, ...]] = {}

    def statements(self, text: str, original: str | None = None) -> tuple[Statement, ...]:
        """`original`, the unmasked text, is parsed when the masked one does not (a jsonb `?` operator)."""
        found = self._memo.get(text)
        if found is None:
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


def _parse(text: str, *, masked: bool = True) -> tuple[Statement, ...]:
    if len(text) > _MAX_STATEMENT:
        return ()
    try:
        tree = pglast.parse_sql(_BARE_MASK.sub("0", text) if masked else text)
    except pglast.parser.ParseError:
        return ()
    out = []
    for raw in tree:
        if raw.stmt is None:
            continue
        roles = _Roles()
        roles(raw.stmt)
        collect = _Collect(roles.roles, roles.ctes)
        collect(raw.stmt)
        out.append(Statement(frozenset(_COMMANDS.get(type(raw.stmt).__name__, ())), tuple(collect.found)))
    return tuple(out)
