"""Writes the golden samples of the Sigma rule pack: small logs in the real formats' layouts (pgAudit stderr with
the pgbadger-style prefix, sftp and Samba full_audit via rsyslog, an application's JSON-lines audit log), one
planted scenario per rule plus a control that must stay silent, and a normal day on which no rule fires.

Run from the repository root: `python rules/sigma/make_samples.py`. The files are committed; this script says
how they were made. Each `<rule>.expected.yaml` lists its files and the matches all rules of the pack must
raise on them ([rule, user]); `golden-directory.yaml` is the directory the samples are enriched with (the
shipped users plus a disabled account and a leaver). Times are UTC; the policy reads hours in Berlin time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
PREFIX = "{t} UTC [{pid}]: user={user},db=crm,app=psql,client={ip} "
PG_OPTIONS = {"log_line_prefix": "%t [%p]: user=%u,db=%d,app=%a,client=%h "}
Line = str


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def pg(t: datetime, user: str, ip: str, payload: str, pid: int = 4242) -> Line:
    return PREFIX.format(t=t.strftime("%Y-%m-%d %H:%M:%S"), pid=pid, user=user, ip=ip) + payload


def audit(n: int, klass: str, cmd: str, table: str, stmt: str, rows: int) -> str:
    quoted = '"' + stmt.replace('"', '""') + '"' if ("," in stmt or '"' in stmt) else stmt
    obj = f"TABLE,{table}" if table else ","
    return f"LOG:  AUDIT: SESSION,{n},1,{klass},{cmd},{obj},{quoted},<none>,{rows}"


def read(t: datetime, user: str, ip: str, stmt: str, rows: int, n: int = 1, table: str = "public.customers",
         pid: int = 4242) -> Line:
    return pg(t, user, ip, audit(n, "READ", "SELECT", table, stmt, rows), pid)


def login(t: datetime, user: str, ip: str, pid: int) -> Line:
    return pg(t, user, ip, f"LOG:  connection authorized: user={user} database=crm application_name=psql", pid)


def failed_login(t: datetime, user: str, ip: str, pid: int) -> list[Line]:
    return [pg(t, user, ip, f'FATAL:  password authentication failed for user "{user}"', pid),
            pg(t, user, ip, 'DETAIL:  Connection matched pg_hba.conf line 99: "host all all 0.0.0.0/0 scram-sha-256"',
               pid)]


def sftp(t: datetime, pid: int, user: str, ip: str, path: str, written: int, read_bytes: int = 0) -> list[Line]:
    def stamp(d: datetime) -> str:
        return d.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00")

    flags = "WRITE,CREATE,TRUNCATE" if written else "READ"
    return [
        f"{stamp(t)} vm sftp-server[{pid}]: session opened for local user {user} from [{ip}]",
        f'{stamp(t + timedelta(seconds=1))} vm sftp-server[{pid}]: open "{path}" flags {flags} mode 0644',
        f'{stamp(t + timedelta(seconds=5))} vm sftp-server[{pid}]: close "{path}" bytes read {read_bytes} written '
        f"{written}",
        f"{stamp(t + timedelta(seconds=9))} vm sftp-server[{pid}]: session closed for local user {user} from [{ip}]",
    ]


def smb_open(t: datetime, user: str, ip: str, path: str) -> Line:
    return (f"{t.strftime('%Y-%m-%dT%H:%M:%S.000000+00:00')} vm smbd_audit: {user}|{ip}|pc7|hr|create_file|ok|"
            f"0x120089|file|open|{path}")


def app_view(t: datetime, user: str, ip: str, record: str) -> Line:
    return json.dumps({"@timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "user": {"name": user},
                       "source": {"ip": ip}, "event": {"action": "read", "outcome": "success"},
                       "pii": {"object": "app:crm/customer", "record_ids": [record]}})


def write(name: str, lines: list[Line]) -> None:
    (HERE / name).write_text("\n".join(lines) + "\n")


def expect(rule: str, files: list[tuple[str, str]], matches: list[list[str]], note: str) -> None:
    spec: list[str] = [f"# {note}", "files:"]
    for name, fmt in files:
        options = f", options: {json.dumps(PG_OPTIONS)}" if fmt == "pgaudit" else ""
        spec.append(f"  - {{file: {name}, format: {fmt}{options}}}")
    spec.append("matches:" if matches else "matches: []")
    spec += [f"  - [{r}, {u}]" for r, u in matches]
    (HERE / f"{rule}.expected.yaml").write_text("\n".join(spec) + "\n")


def audit_logging() -> None:
    t = at("2026-11-27 09:00:00")
    write("audit_logging_reduced.pgaudit.log", [
        read(t, "postgres", "[local]", "SELECT current_setting('pgaudit.log')", 1, 1, table=""),
        pg(t + timedelta(seconds=10), "postgres", "[local]",
           audit(2, "DDL", "ALTER SYSTEM", "", "ALTER SYSTEM SET work_mem = '64MB';", 0)),
        pg(t + timedelta(seconds=20), "postgres", "[local]",
           audit(3, "DDL", "ALTER SYSTEM", "", "ALTER SYSTEM SET pgaudit.log = 'none';", 0)),
        pg(t + timedelta(seconds=30), "postgres", "[local]",
           audit(4, "MISC", "SET", "", "SET pgaudit.log = 'none';", 0)),
        pg(t + timedelta(seconds=40), "postgres", "[local]", audit(5, "DDL", "DROP EXTENSION", "",
                                                                   "DROP EXTENSION pgaudit;", 0)),
    ])
    expect("audit_logging_reduced", [("audit_logging_reduced.pgaudit.log", "pgaudit")],
           [["sigma:audit-logging-reduced", "postgres"]] * 3,
           "ALTER SYSTEM SET pgaudit.log, SET pgaudit.log, DROP EXTENSION pgaudit; reading the setting or "
           "changing work_mem is no match")


def off_hours() -> None:
    write("sensitive_read_off_hours.pgaudit.log", [
        read(at("2026-11-27 09:00:00"), "alice", "10.20.0.4", "SELECT id, ssn FROM public.customers", 2),
        read(at("2026-11-27 22:30:00"), "alice", "10.20.0.4", "SELECT email FROM public.customers", 2, 2),
        read(at("2026-11-27 22:31:00"), "alice", "10.20.0.4", "SELECT id, ssn FROM public.customers", 2, 3),
        read(at("2026-11-28 11:00:00"), "alice", "10.20.0.4", "SELECT id, ssn FROM public.customers", 2, 4),
        read(at("2026-11-30 05:59:00"), "alice", "10.20.0.4", "SELECT id, ssn FROM public.customers", 2, 5),
        read(at("2026-11-30 06:00:00"), "alice", "10.20.0.4", "SELECT id, ssn FROM public.customers", 2, 6),
    ])
    expect("sensitive_read_off_hours", [("sensitive_read_off_hours.pgaudit.log", "pgaudit")],
           [["sigma:sensitive-read-off-hours", "alice"]] * 3,
           "ssn read Friday 23:31, Saturday 12:00 and Monday 06:59 Berlin time; Friday 10:00, Monday 07:00 and "
           "email at night are no match")


def disabled() -> None:
    t = at("2026-11-27 09:00:00")
    write("disabled_account_access.pgaudit.log", [
        login(t, "dave", "10.20.0.8", 5001),
        read(t + timedelta(seconds=5), "dave", "10.20.0.8", "SELECT email FROM public.customers", 3, 1, pid=5001),
        *failed_login(t + timedelta(minutes=1), "erin", "10.20.0.6", 5002),
        login(t + timedelta(minutes=2), "bob", "10.20.0.5", 5003),
        read(t + timedelta(minutes=2), "bob", "10.20.0.5", "SELECT email FROM public.customers", 1, 1, pid=5003),
    ])
    expect("disabled_account_access", [("disabled_account_access.pgaudit.log", "pgaudit")],
           [["sigma:disabled-account-access", "dave"], ["sigma:disabled-account-access", "dave"],
            ["sigma:disabled-account-access", "erin"]],
           "dave (disabled) logs in and reads, erin (left) fails to log in; bob (active) is no match")


def new_ip() -> None:
    stmt = "SELECT email FROM public.customers WHERE id = 7"
    write("new_client_ip.pgaudit.log", [
        read(at("2026-11-20 09:00:00"), "alice", "10.20.0.4", stmt, 1, 1),
        read(at("2026-11-24 09:00:00"), "alice", "10.20.0.4", stmt, 1, 2),
        read(at("2026-11-25 09:00:00"), "bob", "10.20.0.5", stmt, 1, 3),
        read(at("2026-11-27 09:00:00"), "alice", "10.30.0.7", stmt, 1, 4),
        read(at("2026-11-27 09:05:00"), "alice", "10.30.0.7", stmt, 1, 5),
        read(at("2026-11-27 09:10:00"), "alice", "10.20.0.4", stmt, 1, 6),
    ])
    expect("new_client_ip", [("new_client_ip.pgaudit.log", "pgaudit")], [["sigma:new-client-ip", "alice"]],
           "alice reads from her office IP, then from a VPN address new to her; her second read from it, her "
           "office IP again and bob's first read ever are no match")


def brute_force() -> None:
    t = at("2026-11-27 09:00:00")
    lines: list[Line] = []
    for i in range(6):
        lines += failed_login(t + timedelta(seconds=20 * i), "bob", "203.0.113.9", 6000 + i)
    lines.append(login(t + timedelta(minutes=3), "bob", "203.0.113.9", 6010))
    lines.append(read(t + timedelta(minutes=5), "bob", "203.0.113.9", "SELECT * FROM public.customers", 5000, 1,
                      pid=6010))
    for i in range(2):
        lines += failed_login(t + timedelta(minutes=10, seconds=20 * i), "alice", "10.20.0.4", 6100 + i)
    lines.append(login(t + timedelta(minutes=11), "alice", "10.20.0.4", 6110))
    lines.append(read(t + timedelta(minutes=12), "alice", "10.20.0.4", "SELECT * FROM public.customers", 5000, 1,
                      pid=6110))
    write("brute_force_then_bulk_read.pgaudit.log", lines)
    expect("brute_force_then_bulk_read", [("brute_force_then_bulk_read.pgaudit.log", "pgaudit")],
           [["sigma:brute-force-then-bulk-read", "bob"]],
           "six failed logins of bob, a success, 5,000 rows read; alice's two failed logins before her large read "
           "are no match")


def stage() -> None:
    t = at("2026-11-27 09:00:00")
    write("stage_then_exfiltrate.pgaudit.log", [
        read(t, "carol", "10.20.0.9", "SELECT * FROM public.customers", 2000, 1),
        read(t + timedelta(minutes=1), "alice", "10.20.0.4", "SELECT email FROM public.customers", 20, 1,
             pid=4243),
    ])
    write("stage_then_exfiltrate.sftp.log", [
        *sftp(t + timedelta(minutes=20), 778, "carol", "10.20.0.9", "/srv/demo/ssh/home/carol/upload/c.csv",
              2_500_000),
        *sftp(t + timedelta(minutes=30), 779, "alice", "10.20.0.4", "/srv/demo/ssh/home/alice/notes.txt", 300),
        *sftp(t + timedelta(hours=2), 780, "carol", "10.20.0.9", "/srv/demo/ssh/home/carol/upload/d.csv", 900),
    ])
    expect("stage_then_exfiltrate", [("stage_then_exfiltrate.pgaudit.log", "pgaudit"),
                                     ("stage_then_exfiltrate.sftp.log", "sftp")],
           [["sigma:stage-then-exfiltrate", "carol"]],
           "carol reads 2,000 rows and uploads over sftp 20 minutes later; alice's upload after a small read "
           "and carol's upload two hours later are no match")


def enumeration() -> None:
    t = at("2026-11-27 09:00:00")
    views = [app_view(t + timedelta(seconds=5 * i), "bob", "10.20.0.5", f"cust-{1000 + i:09d}") for i in range(60)]
    views += [app_view(t + timedelta(seconds=7 * i), "alice", "10.20.0.4", f"cust-{2000 + i:09d}")
              for i in range(10)]
    write("enumeration.jsonl", sorted(views, key=lambda v: json.loads(v)["@timestamp"]))
    share = "/srv/demo/samba/share/hr/reviews"
    files = [smb_open(t + timedelta(seconds=3 * i), "smbalice", "10.20.0.7", f"{share}/{chr(97 + i % 26)}{i:02d}.pdf")
             for i in range(35)]
    files += [smb_open(t + timedelta(minutes=20, seconds=i), "smbalice", "10.20.0.7", f"{share}/../other-{i}.pdf")
              for i in range(5)]
    write("enumeration.samba.log", files)
    expect("enumeration", [("enumeration.jsonl", "jsonl"), ("enumeration.samba.log", "samba-full-audit")],
           [["sigma:record-enumeration", "bob"], ["sigma:folder-walk", "smbalice"]],
           "bob views 60 customer records in 5 minutes, smbalice opens 35 files of one folder in 2 minutes; "
           "alice's 10 records and 5 files of another folder are no match")


def normal_day() -> None:
    lines: list[Line] = []
    for day in (23, 24, 25, 26, 27):
        t = at(f"2026-11-{day} 08:00:00")
        for k, (user, ip) in enumerate((("alice", "10.20.0.4"), ("bob", "10.20.0.5"), ("smbalice", "10.20.0.7"))):
            pid = 7000 + day * 10 + k
            lines.append(login(t + timedelta(minutes=k), user, ip, pid))
            for n in range(1, 6):
                lines.append(read(t + timedelta(minutes=k, seconds=30 * n), user, ip,
                                  f"SELECT email FROM public.customers WHERE id = {n}", 1, n, pid=pid))
        lines += failed_login(t + timedelta(hours=2), "bob", "10.20.0.5", 7999)
        lines.append(login(t + timedelta(hours=2, minutes=1), "bob", "10.20.0.5", 7998))
    lines.append(read(at("2026-11-27 10:00:00"), "smbalice", "10.20.0.7", "SELECT id, ssn FROM public.customers",
                      3, 9, pid=7997))
    write("normal_day.pgaudit.log", lines)
    t = at("2026-11-27 09:30:00")
    write("normal_day.sftp.log", sftp(t, 900, "alice", "10.20.0.4", "/srv/demo/ssh/home/alice/report.pdf", 0,
                                      read_bytes=120_000))
    share = "/srv/demo/samba/share/hr"
    write("normal_day.samba.log", [smb_open(t + timedelta(minutes=i), "smbalice", "10.20.0.7",
                                            f"{share}/review-{i:02d}.pdf") for i in range(8)])
    write("normal_day.jsonl", [app_view(t + timedelta(minutes=i), "bob", "10.20.0.5", f"cust-{3000 + i:09d}")
                               for i in range(12)])
    expect("normal_day", [("normal_day.pgaudit.log", "pgaudit"), ("normal_day.sftp.log", "sftp"),
                          ("normal_day.samba.log", "samba-full-audit"), ("normal_day.jsonl", "jsonl")], [],
           "a normal week of work in working hours from the usual addresses, a mistyped password a day: "
           "no rule of the pack may fire")


def main() -> None:
    audit_logging()
    off_hours()
    disabled()
    new_ip()
    brute_force()
    stage()
    enumeration()
    normal_day()


if __name__ == "__main__":
    main()
