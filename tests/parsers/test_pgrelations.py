"""The relations of PostgreSQL statements, as pgAudit would log them with log_relation = on (statements of the
real-server run in tests/samples/pgaudit/pg15-pgaudit17-relation-off-debian.log, masked as pii-guard masks)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pii_guard.model import DELETE, EXPORT, READ, WRITE
from pii_guard.parsers.pgrelations import Relation, StatementRelations


@pytest.mark.parametrize(("statement", "expected"), [
    ("SELECT * FROM customers WHERE id < ?;", [(None, "customers", READ)]),
    ("SELECT c.email, o.amount FROM customers c JOIN public.orders o ON o.cid = c.id WHERE c.name = '?';",
     [(None, "customers", READ), ("public", "orders", READ)]),
    ("WITH recent AS (SELECT cid FROM orders WHERE amount > ?) SELECT email FROM customers WHERE id IN "
     "(SELECT cid FROM recent);", [(None, "customers", READ), (None, "orders", READ)]),  # the CTE is no table
    ("INSERT INTO archive SELECT * FROM customers WHERE id > ?;",
     [(None, "archive", WRITE), (None, "customers", READ)]),
    ("UPDATE customers SET email = '?' FROM orders WHERE orders.cid = customers.id AND orders.id = ?;",
     [(None, "customers", WRITE), (None, "orders", READ)]),
    ("DELETE FROM archive WHERE id = ?;", [(None, "archive", DELETE)]),
    ("TRUNCATE customers, crm.orders", [(None, "customers", DELETE), ("crm", "orders", DELETE)]),
    ("COPY (SELECT email, ssn FROM customers) TO STDOUT;", [(None, "customers", EXPORT)]),
    ('COPY "Sales"."Big Table" TO STDOUT', [("Sales", "Big Table", EXPORT)]),
    ("COPY customers FROM STDIN", [(None, "customers", WRITE)]),
    ("PREPARE q(int) AS SELECT email FROM customers WHERE id = $1;", [(None, "customers", READ)]),
    ("SELECT ?;", []),
    ("not SQL at all", []),
])  # fmt: skip
def test_relations_and_their_roles(statement: str, expected: list[tuple[str | None, str, str]]) -> None:
    assert StatementRelations().relations(statement) == tuple(Relation(*r) for r in expected)


def test_an_operator_the_mask_breaks_falls_back_to_the_statement_as_logged() -> None:
    masked, logged = "SELECT id FROM docs WHERE data ? '?';", "SELECT id FROM docs WHERE data ? 'ssn';"
    relations = StatementRelations()
    assert relations.relations(masked) == ()
    assert relations.relations(masked + " ", logged) == (Relation(None, "docs", READ),)


def test_a_query_of_several_statements_keeps_them_apart() -> None:
    """A simple query of three statements, as in tests/samples/pgaudit/pg15-pgaudit17-multi-statement-query.log."""
    text = "BEGIN; SELECT * FROM orders WHERE id = ?; INSERT INTO archive SELECT * FROM customers; COMMIT;"
    statements = StatementRelations().statements(text)
    assert [(sorted(s.commands), s.relations) for s in statements] == [
        ([], ()),
        (["SELECT"], (Relation(None, "orders", READ),)),
        (["INSERT"], (Relation(None, "archive", WRITE), Relation(None, "customers", READ))),
        ([], ()),
    ]


_IMPORTS_PROBE = """
import sys
from pii_guard.parsers.base import SourceContext
from pii_guard.parsers.pgaudit import PgAuditParser
from pii_guard.parsers.pgaudit_options import PgAuditOptions

parser = PgAuditParser(SourceContext(b"f", "pg.log"), PgAuditOptions(log_line_prefix="%m [%p] "))
head = "2026-11-27 16:20:40.910 UTC [8719] LOG:  AUDIT: SESSION,{},1,READ,SELECT,{}"
named = parser.feed(0, head.format(1, "TABLE,public.customers,SELECT email FROM customers;,<none>"))
named += parser.feed(100, head.format(2, ",,SELECT email FROM orders;,<none>"))  # log_relation = off
print("pglast" in sys.modules)
unnamed = parser.finish()
print("pglast" in sys.modules, [e.object for e in (*named, *unnamed)])
"""


def test_pglast_is_loaded_only_when_a_statement_must_be_read() -> None:
    """pglast costs some 3.7 MB of every daemon's memory: a log whose lines name their relations never needs it.
    In a fresh interpreter, since this test run has imported it long before."""
    out = subprocess.run([sys.executable, "-c", _IMPORTS_PROBE], capture_output=True, text=True, check=True,
                         timeout=120).stdout.split("\n")  # fmt: skip
    assert out[0] == "False"
    assert out[1] == "True ['db:public.customers', 'db:public.orders']"
