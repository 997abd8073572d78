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


class StatementRelations:
    """`relations(statement)`: the relations a masked statement touches, or () when it does not parse."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[Relation, ...]] = {}

    def relations(self, statement: str, original: str | None = None) -> tuple[Relation, ...]:
        """`original`, the unmasked text, is parsed when the masked one does not (a jsonb `?` operator)."""
        found = self._memo.get(statement)
        if found is None:
            found = _parse(statement)
            if not found and original is not None and original != statement:
                found = _parse(original, masked=False)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[statement] = found
        return found


def _parse(statement: str, *, masked: bool = True) -> tuple[Relation, ...]:
    if len(statement) > _MAX_STATEMENT:
        return ()
    try:
        tree = pglast.parse_sql(_BARE_MASK.sub("0", statement) if masked else statement)
    except pglast.parser.ParseError:
        return ()
    roles = _Roles()
    roles(tree)
    collect = _Collect(roles.roles, roles.ctes)
    collect(tree)
    return tuple(collect.found)
