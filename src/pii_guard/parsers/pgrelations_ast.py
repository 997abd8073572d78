"""The pglast half of pgrelations.py: PostgreSQL's own parser reads a statement, two visitors find its
relations and their roles. Imported only when a statement has to be parsed."""

from __future__ import annotations

import re
from typing import Final

import pglast
from pglast import ast
from pglast.visitors import Visitor

from pii_guard.model import DELETE, EXPORT, READ, WRITE
from pii_guard.parsers.pgrelations import Relation, Statement

_BARE_MASK: Final = re.compile(r"(?<!')\?(?!')")
_MAX_STATEMENT: Final = 65_536  # longer statements are not parsed (memory and time)
# The table a CREATE TABLE AS / SELECT INTO creates: no relation of the access (pgAudit with
# `log_relation = on` names only what the query reads; the new table is a DDL's, and empty before).
_CREATED: Final = "created"


class _Roles(Visitor):
    """First pass: the relations whose role is not a plain read, by node identity, and the CTE names."""

    def __init__(self) -> None:
        super().__init__()
        self.roles: dict[int, str] = {}
        self.ctes: set[str] = set()

    def visit_CommonTableExpr(self, _ancestors: object, node: ast.CommonTableExpr) -> None:
        if node.ctename:
            self.ctes.add(node.ctename)

    def visit_CreateTableAsStmt(self, _ancestors: object, node: ast.CreateTableAsStmt) -> None:
        if node.into is not None:
            self.roles[id(node.into.rel)] = _CREATED

    def visit_SelectStmt(self, _ancestors: object, node: ast.SelectStmt) -> None:
        if node.intoClause is not None:  # SELECT ... INTO new_table
            self.roles[id(node.intoClause.rel)] = _CREATED

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
        if self.roles.get(id(node)) == _CREATED:
            return
        self.nodes.append(node)
        relation = Relation(node.schemaname, node.relname, self.roles.get(id(node), self.default))
        if relation not in self.found:
            self.found.append(relation)


# pgAudit's COMMAND for the statements whose relations are read or written; a COPY (query) TO also logs its
# SELECT, an EXECUTE the prepared statement's command.
_COMMANDS: Final = {
    "SelectStmt": ("SELECT",), "InsertStmt": ("INSERT",), "UpdateStmt": ("UPDATE",), "DeleteStmt": ("DELETE",),
    "MergeStmt": ("MERGE",), "TruncateStmt": ("TRUNCATE TABLE",), "CopyStmt": ("COPY", "SELECT"),
    "PrepareStmt": ("PREPARE",), "ExecuteStmt": ("EXECUTE", "SELECT", "INSERT", "UPDATE", "DELETE"),
    "CreateTableAsStmt": ("CREATE TABLE AS", "SELECT INTO", "SELECT"), "ExplainStmt": ("EXPLAIN", "SELECT"),
}  # fmt: skip


def parse_statements(text: str, *, masked: bool = True) -> tuple[Statement, ...]:
    """The statements of a query text and their relations; () when PostgreSQL would not parse it."""
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
