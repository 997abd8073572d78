"""Literal masking: the two-pass fast path gives exactly what one pass of the full pattern gives."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pii_guard.parsers import sqlmask
from pii_guard.parsers.sqlmask import SqlMasker

# Pieces that meet every branch: quotes of both kinds, escapes, dollar quotes, signs, exponents, identifiers
# with digits, non-ASCII letters and digits (re.ASCII is only used on ASCII text).
_PIECES = [
    "'", '"', "''", '""', "\\", "$", "$$", "$a$", "`", "-", "+", ".", "@", "1", "23", "4.5", "9e-3", "e", "E",
    " ", "\n", "x", "_", "a1", "tbl_2025_07", ",", "(", ")", "é", "٣", "ſ", "SELECT ", "--", "/*",
    "0", "0x", "0b", "0o", "X'", "b'", "1F", "01", "7",
]  # fmt: skip
sql_text = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


def one_pass(dialect: str, sql: str) -> str:
    """The reference: the full pattern in one pass, a callback per literal (the masker's general route)."""
    if dialect == "mysql":
        return sqlmask.mask_addresses(sqlmask._MYSQL.sub(sqlmask._replace, sql))
    return sqlmask.mask_addresses(sqlmask._STANDARD.sub(sqlmask._replace_dollar, sql))


@settings(max_examples=1000, deadline=None)
@given(sql_text)
@example("SELECT a FROM t WHERE s = 'says \"hi\", twice' AND n > -24237.5e3;")
@example("SELECT \"col1\", 'it''s' FROM \"t2\" WHERE x = 3")
@example("DO $x$ BEGIN PERFORM 1; END $x$; SELECT '$$', 2")
@example("SELECT 'unterminated \\")
def test_fast_path_masks_as_one_pass_does_postgresql(sql: str) -> None:
    assert SqlMasker("postgresql")(sql) == one_pass("postgresql", sql)


@settings(max_examples=1000, deadline=None)
@given(sql_text)
@example("SELECT * FROM t WHERE a = \"x\\\"y\" AND b = 'it\\'s' AND c = 12 INTO OUTFILE '/tmp/x'")
@example("SELECT `c1`, @v1, 2 FROM `t` WHERE x = 0x1F")
@example("SELECT `c1` FROM t WHERE ssn = 0x3132 OR b = 0b0101 OR c = -0x1f OR d = X'3132'")
def test_fast_path_masks_as_one_pass_does_mysql(sql: str) -> None:
    assert SqlMasker("mysql")(sql) == one_pass("mysql", sql)


def test_masking_examples() -> None:
    mask = SqlMasker("postgresql")
    assert mask("SELECT id FROM page_views_2025_07 WHERE id = 42 AND n = 'Ann''s'") == (
        "SELECT id FROM page_views_2025_07 WHERE id = ? AND n = '?'"
    )
    assert mask('SELECT "t1"."c2" FROM "t1" WHERE x = -1.5') == 'SELECT "t1"."c2" FROM "t1" WHERE x = ?'
    assert mask("SELECT $$secret 1$$, $1") == "SELECT $$?$$, $1"
    assert SqlMasker("mysql")('SELECT "a", `b1` FROM t WHERE c = 7') == "SELECT '?', `b1` FROM t WHERE c = ?"


def test_hex_and_bit_literals_are_masked() -> None:
    """MariaDB/MySQL `0x3132` is the string '12' (`0b0101` a bit value): data like any string. `X'..'` and
    `B'..'` (both dialects) keep their prefix letter, their quoted part masked. PostgreSQL 16 reads `0x1F`,
    `0o17`, `0b101` as integers."""
    mysql, pg = SqlMasker("mysql"), SqlMasker("postgresql")
    assert mysql("SELECT * FROM c WHERE ssn=0x3132") == "SELECT * FROM c WHERE ssn=?"
    assert mysql("SELECT * FROM `c` WHERE ssn=0x3132 AND f=0b0101") == "SELECT * FROM `c` WHERE ssn=? AND f=?"
    assert mysql("WHERE ssn=X'3132' OR ssn=x'3132' OR f=b'0101' OR f=B'1'") == (
        "WHERE ssn=X'?' OR ssn=x'?' OR f=b'?' OR f=B'?'")
    assert pg("SELECT * FROM c WHERE ssn = X'3132' AND f = B'0101' AND n = 0x1F + 0o17 - 0b101") == (
        "SELECT * FROM c WHERE ssn = X'?' AND f = B'?' AND n = ? + ? - ?")
    # names that only look like them stay
    assert mysql("SELECT t0x1, c_0b1, 10x FROM t") == "SELECT t0x1, c_0b1, 10x FROM t"


def test_addresses_outside_literals_are_masked() -> None:
    """A comment, or a dead letter's text (masked with the mysql dialect), may hold e-mail addresses and URL
    passwords outside any quotes. User variables and operators with `@` stay."""
    mysql, pg = SqlMasker("mysql"), SqlMasker("postgresql")
    assert mysql("garbage john.smith@example.com ssn=123-45-6789") == "garbage ? ssn=?-?-?"
    assert mysql("/* for ann@example.org */ SELECT @v, @@global.x FROM t") == "/* for ? */ SELECT @v, @@global.x FROM t"
    assert mysql("fetch https://bob:secret@intranet.example/a failed") == (
        "fetch https://bob:?@intranet.example/a failed")
    assert pg("SELECT a FROM t WHERE arr @> b.arr AND tsv @@ q") == "SELECT a FROM t WHERE arr @> b.arr AND tsv @@ q"
    assert mysql("GRANT SELECT ON crm.* TO bob@localhost") == "GRANT SELECT ON crm.* TO bob@localhost"


def test_a_quoted_identifier_with_an_at_sign_names_a_role_and_stays() -> None:
    """pgAudit's `GRANT ... TO "svc@corp.example"` (a real line): the grantee is no mail box to hide, and
    hiding it erases who was granted access. Addresses around it are still masked."""
    pg, mysql = SqlMasker("postgresql"), SqlMasker("mysql")
    assert pg('GRANT SELECT ON public.customers TO "svc@corp.example", "Data Analyst";') == (
        'GRANT SELECT ON public.customers TO "svc@corp.example", "Data Analyst";')
    assert pg('CREATE ROLE "a@b.example" LOGIN -- for ann@example.org') == 'CREATE ROLE "a@b.example" LOGIN -- for ?'
    assert mysql("GRANT SELECT ON t TO `svc@corp.example` -- ann@example.org") == (
        "GRANT SELECT ON t TO `svc@corp.example` -- ?")
