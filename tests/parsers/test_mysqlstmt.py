"""Statement meaning shared by the MySQL-family formats (Percona audit_log, MySQL Enterprise Audit): the names
as MySQL writes them, found wrong against a real MariaDB with the same patterns."""

from __future__ import annotations

import pytest

from pii_guard.model import DELETE, READ, WRITE
from pii_guard.parsers.mysqlstmt import meaning


@pytest.mark.parametrize(("sql", "action", "obj"), [
    ("SELECT email FROM `shop`.customers WHERE id = 1", READ, "db:shop.customers"),
    ("SELECT email FROM shop.`customers`", READ, "db:shop.customers"),
    ("SELECT email FROM `customers`", READ, "db:crm.customers"),
    ("TRUNCATE customers", DELETE, "db:crm.customers"),
    ("LOAD DATA INFILE '/tmp/c.csv' INTO TABLE customers", WRITE, "db:crm.customers"),
    ("INSERT LOW_PRIORITY INTO `shop`.`archive` VALUES (1)", WRITE, "db:shop.archive"),
])  # fmt: skip
def test_objects_of_statements(sql: str, action: str, obj: str) -> None:
    m = meaning(None, sql, "crm")
    assert (m.action, m.object) == (action, obj)
