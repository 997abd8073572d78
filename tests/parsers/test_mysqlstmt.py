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


@pytest.mark.parametrize(("command", "sql", "target"), [
    # the grantee of a real MariaDB 10.11 sweep: a quoted user name may hold a comma
    ("create_user", "CREATE USER 'o,neil'@'127.0.0.1' IDENTIFIED BY 'x'", "o,neil"),
    ("grant", "GRANT SELECT ON crm.* TO 'o,neil'@'127.0.0.1'", "o,neil"),
    ("grant", "GRANT SELECT ON crm.* TO `a b`@`%`", "a b"),
    ("grant", "GRANT SELECT ON crm.* TO 'it''s'@'%'", "it's"),
    ("grant", "GRANT SELECT ON crm.* TO bob@localhost", "bob"),
    ("rename_user", "RENAME USER 'gina'@'127.0.0.1' TO 'gina2'@'127.0.0.1'", "gina"),
    ("set_password", "SET PASSWORD FOR 'hank'@'127.0.0.1' = 'x'", "hank"),
    ("grant", "GRANT PROXY ON ''@'' TO 'app'@'%'", "app"),
])  # fmt: skip
def test_target_user_of_permission_statements(command: str, sql: str, target: str) -> None:
    assert meaning(command, sql, "crm").target_user == target
