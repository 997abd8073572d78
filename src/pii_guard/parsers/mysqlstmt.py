"""What a statement in a MySQL-family audit log (MySQL Enterprise Audit, Percona audit_log) means.

Both logs name the statement's kind in MySQL's own words (`sql_command` / `command_class`: `select`,
`insert_select`, `create_table`, `grant` ...; the names of `SHOW GLOBAL STATUS LIKE 'Com_%'`), so the
action comes from that word, and from the statement's first keyword only when the word is missing. The
object is the first table the statement names (qualified with the session's database when it is not), the
target of a DDL statement, or the `ON` target of a GRANT/REVOKE. Neither log lists every table of a join:
that needs MySQL Enterprise's `table_access` events, which name each table.

Statements that touch no data (SET, SHOW, BEGIN, `SELECT @@version`) have no action: the formats skip them.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from pii_guard.model import DDL, DELETE, EXECUTE, EXPORT, PERMISSION, READ, WRITE

_COMMANDS: Final = {
    "select": READ, "insert": WRITE, "insert_select": WRITE, "update": WRITE, "update_multi": WRITE,
    "replace": WRITE, "replace_select": WRITE, "load": WRITE, "delete": DELETE, "delete_multi": DELETE,
    "truncate": DELETE,
    "grant": PERMISSION, "revoke": PERMISSION, "revoke_all": PERMISSION, "grant_roles": PERMISSION,
    "revoke_roles": PERMISSION, "create_user": PERMISSION, "drop_user": PERMISSION, "alter_user": PERMISSION,
    "rename_user": PERMISSION, "set_password": PERMISSION, "create_role": PERMISSION, "drop_role": PERMISSION,
    "alter_user_default_role": PERMISSION,
    "call_procedure": EXECUTE, "execute_sql": EXECUTE,
}  # fmt: skip
_DDL_PREFIXES: Final = ("create_", "alter_", "drop_", "rename_")
FIRST_WORDS: Final = re.compile(r"(?:\s|\(|/\*.*?\*/)*([A-Za-z]+)(?:\s+([A-Za-z]+))?", re.S)

_VERBS: Final = {
    "SELECT": READ, "WITH": READ, "TABLE": READ, "HANDLER": READ,
    "INSERT": WRITE, "UPDATE": WRITE, "REPLACE": WRITE, "LOAD": WRITE, "DELETE": DELETE, "TRUNCATE": DELETE,
    "CREATE": DDL, "ALTER": DDL, "DROP": DDL, "RENAME": DDL,
    "GRANT": PERMISSION, "REVOKE": PERMISSION, "CALL": EXECUTE,
}  # fmt: skip
_ACCOUNT_WORDS: Final = frozenset({"USER", "ROLE"})

# A name as written: `db`.`t`, `db`.t, db.`t`, `t`, db.t, t (the qualified forms first: an alternation takes
# the first that fits, and `db` alone would).
NAME: Final = r"(`[^`]+`\.`[^`]+`|`[^`]+`\.[\w$]+|[\w$]+\.`[^`]+`|`[^`]+`|[\w$.*]+)"
OUTFILE: Final = re.compile(r"\bINTO\s+(?:OUTFILE|DUMPFILE)\s+'((?:[^'\\]|\\.|'')*)'", re.I)
# The same with its file name cut off by the end of the text (a statement cut at the audit plugin's length limit)
OUTFILE_CUT: Final = re.compile(r"\bINTO\s+(?:OUTFILE|DUMPFILE)\s+'((?:[^'\\]|\\.|'')*)\\?\Z", re.I)
# A table a DML statement names: group 1 the keyword before it, group 2 the name (`TRUNCATE t`, `LOAD DATA ...
# INTO TABLE t`, `INSERT LOW_PRIORITY INTO t` ...).
TABLE_REF: Final = re.compile(
    r"\b(FROM|JOIN|UPDATE|TABLE|TRUNCATE|INTO(?!\s+(?:OUTFILE|DUMPFILE|@)))\s+"
    r"(?:(?:LOW_PRIORITY|HIGH_PRIORITY|DELAYED|IGNORE|QUICK|TABLE)\s+)*" + NAME,
    re.I,
)
DDL_OBJECT: Final = re.compile(
    r"\b(DATABASE|SCHEMA|TABLE|VIEW|PROCEDURE|FUNCTION|TRIGGER|EVENT|SEQUENCE|INDEX\s+\S+\s+ON)\s+"
    r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?" + NAME,
    re.I,
)
GRANT_ON: Final = re.compile(r"\bON\s+(?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE)\s+)?" + NAME, re.I)
# The account after TO/FROM/USER/ROLE/FOR: quoted ('o,neil', `a b`, "x") it may hold commas and spaces.
GRANTEE: Final = re.compile(
    r"\b(?:TO|FROM|USER|ROLE|FOR)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r"(?:'((?:[^'\\]|\\.|'')*)'|`((?:[^`]|``)*)`|\"((?:[^\"\\]|\\.|\"\")*)\"|([^'`\"@\s,;]+))",
    re.I | re.S,
)


class Meaning(NamedTuple):
    action: str | None  # None: not an access (SET, SHOW, BEGIN ...)
    verb: str  # the statement's first keyword, upper case (pii.command)
    object: str | None  # db:<db>.<table>, db:<db> or db:*.* (GRANT ON *.*); None when the database is unknown
    table: str | None  # the first table named, as written (without backquotes); None: no table at all
    target_user: str | None  # the grantee or account of a permission statement
    export_path: str | None  # INTO OUTFILE / DUMPFILE


def _bare(name: str) -> str:
    return name.replace("`", "")


def grantee(sql: str) -> str | None:
    """The grantee or account a permission statement names, unquoted; None when there is none (or it is the
    anonymous account '')."""
    m = GRANTEE.search(sql)
    if m is None:
        return None
    single, back, double, bare = m.groups()
    if single is not None:
        name = _unquoted(single, "'")
    elif back is not None:
        name = back.replace("``", "`")
    elif double is not None:
        name = _unquoted(double, '"')
    else:
        name = bare
    return name or None


def _unquoted(text: str, quote: str) -> str:
    """A quoted name without its escapes: a doubled quote, or a backslash before any character."""
    if "\\" not in text and quote * 2 not in text:
        return text
    return re.sub(r"\\(.)|" + quote * 2, lambda e: e.group(1) or quote, text, flags=re.S)


def qualify(name: str, db: str | None) -> str | None:
    """`db:<db>.<table>` for a name as written in SQL, with the session's database when unqualified."""
    name = _bare(name)
    if "." in name:
        return "db:" + name
    return f"db:{db}.{name}" if db else None


def action_of(sql_command: str | None, sql: str) -> tuple[str | None, str]:
    """(action, verb) from the logged command name, else from the statement's first words."""
    m = FIRST_WORDS.match(sql)
    verb = m.group(1).upper() if m else ""
    second = (m.group(2) or "").upper() if m else ""
    if sql_command:
        cmd = sql_command.lower()
        action = _COMMANDS.get(cmd)
        if action is None and cmd.startswith(_DDL_PREFIXES):
            action = DDL
        if action is not None or cmd not in ("", "error"):
            return action, verb or cmd.upper()
    if verb in ("CREATE", "DROP", "ALTER", "RENAME") and second in _ACCOUNT_WORDS:
        return PERMISSION, verb
    if verb == "SET" and second == "PASSWORD":
        return PERMISSION, verb
    return _VERBS.get(verb), verb


def meaning(sql_command: str | None, sql: str, db: str | None) -> Meaning:
    """What the statement does and to which object."""
    action, verb = action_of(sql_command, sql)
    if action is None:
        return Meaning(None, verb, None, None, None, None)
    export_path = None
    obj: str | None = None
    table: str | None = None
    target = None
    if action == READ:
        out = OUTFILE.search(sql) if "file" in sql.lower() else None
        if out is not None:
            action, export_path = EXPORT, out.group(1).replace("''", "'")
        ref = TABLE_REF.search(sql)
        table = _bare(ref.group(2)) if ref else None
    elif action in (WRITE, DELETE):
        ref = TABLE_REF.search(sql)
        table = _bare(ref.group(2)) if ref else None
    elif action == DDL:
        ddl = DDL_OBJECT.search(sql)
        if ddl is not None:
            kind = ddl.group(1).upper()
            table = _bare(ddl.group(2))
            obj = "db:" + table if kind in ("DATABASE", "SCHEMA") else qualify(ddl.group(2), db)
    elif action == PERMISSION:
        on = GRANT_ON.search(sql) if verb in ("GRANT", "REVOKE") else None
        if on is not None:
            name = _bare(on.group(1))
            obj = "db:" + (name if "." in name or not db else f"{db}.{name}")
        target = grantee(sql)
    if table is not None and obj is None and action != PERMISSION:
        obj = qualify(table, db)
    return Meaning(action, verb, obj, table, target, export_path)
