"""Writes the policy golden samples: small logs in the real formats' layouts (pgAudit stderr with the
pgbadger-style prefix, Samba full_audit and sftp via rsyslog, JSON lines), one scenario per shipped rule.

Run from the repository root: `python tests/samples/policy/make_samples.py`. The files are committed; this
script says how they were made. Times are UTC (the prefix writes `UTC`); the policy reads hours in Berlin time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
PREFIX = "{t} UTC [{pid}]: user={user},db=crm,app=psql,client={ip} LOG:  "


def pg_line(t: datetime, user: str, ip: str, payload: str, pid: int = 4242) -> str:
    return PREFIX.format(t=t.strftime("%Y-%m-%d %H:%M:%S"), pid=pid, user=user, ip=ip) + payload


def audit(n: int, klass: str, cmd: str, table: str, stmt: str, rows: int | None) -> str:
    quoted = '"' + stmt.replace('"', '""') + '"' if ("," in stmt or '"' in stmt) else stmt
    obj = f"TABLE,{table}" if table else ","
    tail = f",{rows}" if rows is not None else ",0"
    return f"AUDIT: SESSION,{n},1,{klass},{cmd},{obj},{quoted},<none>{tail}"


def read(t: datetime, user: str, ip: str, table: str, stmt: str, rows: int, n: int = 1) -> str:
    return pg_line(t, user, ip, audit(n, "READ", "SELECT", table, stmt, rows))


def connected(t: datetime, user: str, ip: str) -> str:
    return pg_line(t, user, ip, f"connection authorized: user={user} database=crm application_name=psql")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(name: str, lines: list[str]) -> None:
    (HERE / name).write_text("\n".join(lines) + "\n")


def main() -> None:
    t = at("2026-11-27 09:00:00")
    write("pg-zones.log", [
        read(t, "alice", "10.20.0.4", "public.customers", "SELECT id, email FROM public.customers", 20),
        read(t + timedelta(minutes=1), "alice", "203.0.113.9", "public.customers",
             "SELECT id, ssn FROM public.customers WHERE id < 3", 2, 2),
        read(t + timedelta(minutes=2), "backup", "10.40.0.2", "public.customers",
             "SELECT * FROM public.customers", 250, 3),
    ])
    sat = at("2026-11-28 01:30:00")  # Saturday 02:30 in Berlin: the maintenance window
    write("pg-dba.log", [
        connected(sat, "postgres", "10.30.0.2"),
        connected(t, "postgres", "10.30.0.2"),
        connected(t + timedelta(minutes=1), "postgres", "10.10.0.3"),
    ])
    write("pg-roles.log", [
        read(t, "bob", "10.20.0.5", "public.orders", "SELECT total FROM public.orders", 1),
        read(at("2026-11-27 21:30:00"), "bob", "10.20.0.5", "public.customers", "SELECT email FROM customers", 1),
        read(t, "alice", "10.20.0.4", "public.customers", "SELECT ssn FROM public.customers", 1, 2),
        read(t, "smbalice", "10.20.0.7", "public.orders", "SELECT total FROM public.orders", 3, 3),
        read(t, "mallory", "10.20.0.9", "public.customers", "SELECT email FROM public.customers", 1, 4),
        read(t, "bob", "10.20.0.5", "public.customers", "SELECT email FROM public.customers", 3, 5),
    ])
    write("pg-quota.log", [
        read(t + timedelta(minutes=10 * i), "bob", "10.20.0.5", "public.customers",
             f"SELECT email FROM public.customers WHERE id > {i * 50}", 50, i + 1) for i in range(5)
    ])
    copy = "COPY public.customers TO STDOUT WITH (FORMAT csv, HEADER);"
    big = "COPY  ( SELECT email, ssn FROM public.customers ) TO STDOUT WITH CSV"
    night = at("2026-11-27 01:30:00")  # 02:30 in Berlin: the backup's hours
    dump = "COPY public.customers (id, email, ssn) TO stdout;"
    write("pg-bulk.log", [
        pg_line(night, "backup", "10.40.0.2", audit(1, "READ", "SELECT", "public.customers", dump, 0), pid=4300),
        pg_line(t, "alice", "10.20.0.4", audit(1, "READ", "COPY", "", copy, 0)),
        pg_line(t + timedelta(minutes=5), "alice", "10.20.0.4", audit(2, "READ", "SELECT", "public.customers", big,
                                                                      50_000)),
        # the same dump at noon is outside the exception's hours
        pg_line(t + timedelta(hours=3), "backup", "10.40.0.2", audit(2, "READ", "SELECT", "public.customers", dump,
                                                                     0), pid=4300),
    ])
    slow = "COPY  ( SELECT email FROM public.customers WHERE id BETWEEN 1 AND 600 ) TO STDOUT WITH CSV"
    write("pg-slow-export.log", [
        pg_line(t + timedelta(minutes=2 * i), "alice", "10.20.0.4",
                audit(i + 1, "READ", "SELECT", "public.customers", slow, 600)) for i in range(100)
    ])
    daily = "COPY  ( SELECT email FROM public.customers WHERE id <= 200 ) TO STDOUT WITH CSV"
    spike = "COPY  ( SELECT email FROM public.customers WHERE id <= 2500 ) TO STDOUT WITH CSV"
    days = [pg_line(at(f"2026-11-{d:02d} 10:00:00"), "alice", "10.20.0.4",
                    audit(d, "READ", "SELECT", "public.customers", daily, 200)) for d in range(1, 8)]
    days.append(pg_line(at("2026-11-08 10:00:00"), "alice", "10.20.0.4",
                        audit(9, "READ", "SELECT", "public.customers", spike, 2500)))
    write("pg-baseline.log", days)
    write("pg-honeytoken.log", [  # statement ids grow within a backend, as pgAudit writes them
        read(t, "alice", "10.20.0.4", "public.customers_archive_2019",
             "SELECT * FROM public.customers_archive_2019 LIMIT 10", 10),
    ])
    share = "/srv/demo/samba/share/hr"
    smb = [f"2026-11-27T08:00:{i:02d}.000000+00:00 vm smbd_audit: smbalice|10.20.0.7|pc7|hr|create_file|ok|"
           f"0x120089|file|open|{share}/review-{i:02d}.pdf" for i in range(51)]
    smb.append(f"2026-11-27T08:01:00.000000+00:00 vm smbd_audit: smbbob|10.20.0.5|pc5|hr|create_file|ok|"
               f"0x120089|file|open|{share}/salaries-all-staff.xlsx")
    write("samba-hr.log", smb)
    sftp = ["2026-11-27T08:00:00.000000+00:00 vm sftp-server[777]: session opened for local user sftpalice "
            "from [10.20.0.9]"]
    for i in range(4):
        path = f"/srv/demo/ssh/home/sftpalice/exports/dump-{i}.csv"
        sftp.append(f"2026-11-27T08:0{i + 1}:00.000000+00:00 vm sftp-server[777]: open \"{path}\" flags READ "
                    "mode 0666")
        sftp.append(f"2026-11-27T08:0{i + 1}:30.000000+00:00 vm sftp-server[777]: close \"{path}\" bytes read "
                    "30000000 written 0")
    sftp.append("2026-11-27T08:09:00.000000+00:00 vm sftp-server[777]: session closed for local user sftpalice "
                "from [10.20.0.9]")
    write("sftp-download.log", sftp)
    app = [{"@timestamp": "2026-11-27T09:00:00Z", "user": {"name": "bob"}, "source": {"ip": "10.20.0.5"},
            "event": {"action": "read", "outcome": "success"}, "pii": {"object": "app:crm/customer",
                                                                         "record_ids": ["cust-000000042"]}}]
    write("app-honeytoken-record.jsonl", [json.dumps(a) for a in app])


if __name__ == "__main__":
    main()
