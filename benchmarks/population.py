"""The shared population behind every generated log: users, client IPs and the objects they touch.

Everything here is derived from one seed, so the policy files written by `write_policy` match the logs
generated with the same seed: the directory knows the users in the logs, the zones cover their IPs and the
data map classifies most of the tables, paths and URLs they read.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Final

USER_COUNT: Final = 10_000
IP_COUNT: Final = 500
DATA_MAP_SIZE: Final = 200

_FIRST = (
    "anna", "ben", "carla", "david", "eva", "felix", "greta", "hannah", "ivan", "julia", "karl", "lena",
    "maria", "nils", "olga", "paul", "queenie", "rosa", "sven", "tina", "uwe", "vera", "walter", "xenia",
    "yusuf", "zoe", "amir", "bea", "chen", "dana", "emil", "fatima", "georg", "hugo", "ines", "jonas",
    "kim", "luca", "mila", "noah", "omar", "pia", "rafael", "sara", "tom", "ulla", "victor", "wanda",
)  # fmt: skip
_LAST = (
    "schmidt", "mueller", "meyer", "wagner", "becker", "hoffmann", "schulz", "koch", "richter", "klein",
    "wolf", "neumann", "schwarz", "braun", "zimmermann", "hartmann", "krueger", "lange", "werner", "krause",
    "lehmann", "koehler", "maier", "fuchs", "vogel", "jung", "keller", "roth", "frank", "berger", "lorenz",
    "graf", "kuhn", "pohl", "engel", "horn", "busch", "bauer", "weber", "fischer", "garcia", "nguyen",
    "rossi", "kowalski", "novak", "jensen", "silva", "costa", "smith", "jones", "brown", "taylor",
)  # fmt: skip

# role, department, share of the staff
_ROLES: Final = (
    ("support", "customer-care", 30), ("analyst", "finance", 14), ("engineer", "engineering", 18),
    ("sales", "sales", 10), ("marketing", "marketing", 7), ("hr", "hr", 5), ("finance", "finance", 6),
    ("dba", "it", 2), ("auditor", "compliance", 2), ("legal", "legal", 2), ("manager", "management", 4),
)  # fmt: skip
_SERVICE_ACCOUNTS: Final = ("etl", "backup", "reporting", "metabase", "airflow", "crm-sync", "postgres", "root")

# zone, networks as (prefix, how many client IPs in it)
ZONES: Final = {
    "datacenter": ["10.10.0.0/16", "127.0.0.0/8", "::1/128"],
    "office": ["10.20.0.0/16", "192.168.1.0/24"],
    "vpn": ["10.30.0.0/16"],
    "partner": ["172.20.0.0/16"],
    "dmz": ["10.99.0.0/24"],
}
UNKNOWN_ZONE: Final = "internet"
_IP_PLAN: Final = (
    ("datacenter", "10.10", 90), ("office", "10.20", 170), ("office", "192.168.1", 50), ("vpn", "10.30", 100),
    ("partner", "172.20", 30), ("dmz", "10.99.0", 10), ("internet", "198.51.100", 25),
    ("internet", "203.0.113", 25),
)  # fmt: skip

CATEGORIES: Final = ("personal", "contact", "sensitive", "financial", "hr", "health", "credentials")

PERSON_COLUMNS: Final = ("id", "full_name", "email", "phone", "ssn", "birth_date", "iban", "address", "note")
EMPLOYEE_COLUMNS: Final = ("id", "full_name", "email", "salary", "iban", "ssn", "manager_id", "hired_at")
MONEY_COLUMNS: Final = ("id", "customer_id", "total", "currency", "status", "created_at")
EVENT_COLUMNS: Final = ("id", "user_id", "kind", "payload", "created_at")
THING_COLUMNS: Final = ("id", "name", "sku", "qty", "price")
_COLUMNS: Final = {
    "person": PERSON_COLUMNS, "employee": EMPLOYEE_COLUMNS, "money": MONEY_COLUMNS, "event": EVENT_COLUMNS,
    "thing": THING_COLUMNS,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class User:
    name: str
    roles: tuple[str, ...]
    department: str
    status: str
    home_ip: str


@dataclass(frozen=True, slots=True)
class Table:
    """A table as the server names it: PostgreSQL `db` + `schema.name`, MariaDB `db` + `name`."""

    db: str
    schema: str | None
    name: str
    kind: str  # person, employee, money, event, thing
    categories: tuple[str, ...]  # empty: not in the data map

    @property
    def columns(self) -> tuple[str, ...]:
        return _COLUMNS[self.kind]

    @property
    def qualified(self) -> str:
        """The name in SQL and in the audit record: `public.customers` or `customers`."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def object(self) -> str:
        return f"db:{self.db}.{self.qualified}"


P, C, S, F, H, M = "personal", "contact", "sensitive", "financial", "hr", "health"

# (db, schema, table, kind, categories) for PostgreSQL
_PG_TABLES: Final = (
    ("crm", "public", "customers", "person", (P, C)), ("crm", "public", "addresses", "person", (P, C)),
    ("crm", "public", "contacts", "person", (P, C)), ("crm", "public", "tickets", "person", (P,)),
    ("crm", "public", "ticket_messages", "person", (P, C)), ("crm", "public", "consents", "person", (P,)),
    ("crm", "public", "leads", "person", (P, C)), ("crm", "public", "notes", "person", (P,)),
    ("crm", "public", "orders", "money", (P, F)), ("crm", "public", "order_items", "money", (F,)),
    ("crm", "public", "invoices", "money", (P, F)), ("crm", "public", "payments", "money", (P, F)),
    ("crm", "public", "refunds", "money", (P, F)), ("crm", "public", "customers_backup_2019", "person", (P, C)),
    ("crm", "public", "segments", "thing", ()), ("crm", "public", "campaigns", "thing", ()),
    ("crm", "public", "products", "thing", ()), ("crm", "public", "feature_flags", "thing", ()),
    ("billing", "public", "invoices", "money", (P, F)), ("billing", "public", "payments", "money", (P, F)),
    ("billing", "public", "cards", "person", (P, F, S)), ("billing", "public", "bank_accounts", "person", (P, F)),
    ("billing", "public", "tax_ids", "person", (P, F)), ("billing", "public", "subscriptions", "money", (P,)),
    ("billing", "public", "plans", "thing", ()), ("billing", "ledger", "entries", "money", (F,)),
    ("billing", "ledger", "accounts", "money", (F,)),
    ("hr", "public", "employees", "employee", (P, C, H)), ("hr", "public", "reviews", "employee", (P, H)),
    ("hr", "public", "candidates", "person", (P, C, H)), ("hr", "public", "trainings", "employee", (H,)),
    ("hr", "payroll", "salaries", "employee", (P, H, F)), ("hr", "payroll", "bank_accounts", "employee", (P, F)),
    ("hr", "payroll", "bonuses", "employee", (P, H, F)), ("hr", "payroll", "tax_forms", "employee", (P, F, S)),
    ("hr", "medical", "sick_leave", "employee", (P, H, M, S)),
    ("hr", "medical", "accommodations", "employee", (P, H, M, S)),
    ("hr", "public", "departments", "thing", ()), ("hr", "public", "positions", "thing", ()),
    ("analytics", "public", "events", "event", (P,)), ("analytics", "public", "page_views", "event", (P,)),
    ("analytics", "public", "sessions", "event", (P,)), ("analytics", "public", "users_dim", "person", (P, C)),
    ("analytics", "staging", "customers_raw", "person", (P, C)),
    ("analytics", "staging", "orders_raw", "money", (P, F)),
    ("analytics", "reporting", "daily_revenue", "money", ()), ("analytics", "reporting", "churn", "money", ()),
    ("inventory", "public", "products", "thing", ()), ("inventory", "public", "stock", "thing", ()),
    ("inventory", "public", "warehouses", "thing", ()), ("inventory", "public", "suppliers", "thing", ()),
    ("inventory", "public", "supplier_contacts", "person", (P, C)),
)  # fmt: skip
_PG_PARTITIONS: Final = tuple(f"events_2025_{m:02d}" for m in range(1, 13)) + tuple(
    f"page_views_2025_{m:02d}" for m in range(1, 13)
)

_MARIA_TABLES: Final = (
    ("shop", "customers", "person", (P, C)), ("shop", "addresses", "person", (P, C)),
    ("shop", "orders", "money", (P, F)), ("shop", "order_items", "money", (F,)),
    ("shop", "payment_tokens", "person", (P, F, S)), ("shop", "newsletter_subscribers", "person", (P, C)),
    ("shop", "reviews", "person", (P,)), ("shop", "carts", "money", ()), ("shop", "products", "thing", ()),
    ("shop", "coupons", "thing", ()), ("helpdesk", "tickets", "person", (P,)),
    ("helpdesk", "customers", "person", (P, C)), ("helpdesk", "attachments", "person", (P, S)),
    ("helpdesk", "agents", "employee", (P, C)), ("helpdesk", "macros", "thing", ()),
    ("wiki", "pages", "thing", ()), ("wiki", "revisions", "thing", ()), ("wiki", "users", "person", (P, C)),
)  # fmt: skip

SAMBA_ROOT: Final = "/srv/samba"
SFTP_ROOT: Final = "/srv/sftp"
SHARES: Final = ("hr", "finance", "sales", "engineering", "public", "exports", "legal")

# (glob or exact object, categories, honeytoken): files and URLs in the data map
_FILE_RULES: Final = (
    ("file:/srv/samba/hr/**", (P, H, S), False),
    ("file:/srv/samba/hr/medical/**", (P, H, M, S), False),
    ("file:/srv/samba/hr/.old/passwords.xlsx", ("credentials",), True),
    ("file:/srv/samba/finance/invoices/**", (P, F), False),
    ("file:/srv/samba/finance/payroll/*.xlsx", (P, H, F), False),
    ("file:/srv/samba/sales/leads/*.csv", (P, C), False),
    ("file:/srv/samba/sales/contracts/**", (P, C), False),
    ("file:/srv/samba/exports/**", (P, C), False),
    ("file:/srv/samba/legal/gdpr/**", (P, C, S), False),
    ("file:/srv/sftp/home/*/exports/**", (P, C), False),
    ("file:/srv/sftp/partners/*/outbox/*.csv", (P, C), False),
    ("file:/srv/sftp/partners/*/inbox/**", (P,), False),
    ("url:/exports/**", (P, C), False),
    ("url:/api/v1/customers/*", (P, C), False),
    ("url:/api/v1/customers/*/documents/*", (P, S), False),
    ("url:/api/v1/orders/*", (P, F), False),
    ("url:/api/v1/employees/*", (P, H), False),
    ("url:/api/v1/payroll/**", (P, H, F), False),
    ("url:/admin/users/*", (P, C), False),
    ("url:/admin/backup/customers-full.sql.gz", (P, C, S), True),
    ("app:crm/customers", (P, C), False),
    ("app:crm/customers/*", (P, C), False),
    ("app:crm/contacts/**", (P, C), False),
    ("app:crm/tickets/**", (P,), False),
    ("app:crm/invoices/**", (P, F), False),
    ("app:crm/reports/**", (P, C), False),
)

EXPORT_URLS: Final = (
    "/exports/customers.csv", "/exports/orders.csv", "/exports/full-dump.sql.gz", "/exports/leads.xlsx",
    "/exports/newsletter.csv", "/exports/invoices-2025.zip",
)  # fmt: skip
REPORT_URLS: Final = tuple(f"/reports/{n}" for n in ("revenue", "churn", "cohorts", "tickets", "nps", "sla"))


class Population:
    """Users, client IPs and objects of one seed. Build once; generators only read it."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"population:{seed}")
        self.ips = _make_ips(rng)
        self.users = _make_users(rng, self.ips)
        self.by_name = {u.name: u for u in self.users}
        self.unknown_users = (*(f"contractor{i:03d}" for i in range(40)), "guest", "test", "admin2")
        self.pg_tables = tuple(Table(db, s, t, k, c) for db, s, t, k, c in _PG_TABLES) + tuple(
            Table("analytics", "public", name, "event", (P,)) for name in _PG_PARTITIONS
        )
        self.maria_tables = tuple(Table(db, None, t, k, c) for db, t, k, c in _MARIA_TABLES)
        self.partners = ("acme", "globex", "initech", "umbrella", "hooli", "stark")
        self.honeytable = next(t for t in self.pg_tables if t.name == "customers_backup_2019")
        self._active = self.users[: len(self.users) // 5]  # the fifth of the staff that does most of the work

    # -- picking (skewed: a few users, tables and IPs carry most of the traffic, as in real logs) --

    def user(self, rng: random.Random) -> User:
        if rng.random() < 0.8:
            return self._active[int(len(self._active) * rng.random() ** 2)]
        return self.users[rng.randrange(len(self.users))]

    def login(self, rng: random.Random) -> str:
        """A login name: nearly always a directory user, sometimes one the directory does not know."""
        if rng.random() < 0.01:
            return rng.choice(self.unknown_users)
        return self.user(rng).name

    def ip_of(self, rng: random.Random, user: User) -> str:
        return user.home_ip if rng.random() < 0.9 else self.ips[rng.randrange(len(self.ips))][0]

    def ip_for(self, rng: random.Random, login: str) -> str:
        """The client IP of a login: the user's usual one, or any (unknown users come from anywhere)."""
        user = self.by_name.get(login)
        if user is None:
            return self.ips[rng.randrange(len(self.ips))][0]
        return self.ip_of(rng, user)

    # -- policy files --

    def data_map_entries(self) -> list[tuple[str, tuple[str, ...], dict[str, tuple[str, ...]], bool]]:
        """Exactly DATA_MAP_SIZE entries: (match, categories, columns, honeytoken)."""
        entries: list[tuple[str, tuple[str, ...], dict[str, tuple[str, ...]], bool]] = []
        for table in self.pg_tables + self.maria_tables:
            if not table.categories:
                continue
            columns: dict[str, tuple[str, ...]] = {}
            if "ssn" in table.columns:
                columns["ssn"] = (S,)
            if "iban" in table.columns:
                columns["iban"] = (F,)
            if "birth_date" in table.columns:
                columns["birth_date"] = (S,)
            entries.append((table.object, table.categories, columns, table is self.honeytable))
        entries += [("db:hr.payroll.*", (P, H, F), {}, False), ("db:hr.medical.*", (P, H, M, S), {}, False),
                    ("db:analytics.staging.*", (P,), {}, False), ("db:*.public.customers*", (P, C), {}, False)]
        entries += [(m, c, {}, h) for m, c, h in _FILE_RULES]
        fill = 0
        while len(entries) < DATA_MAP_SIZE:  # exact file names of the finance reports, as sites list them
            year, quarter = divmod(fill, 4)
            entries.append((f"file:/srv/samba/finance/reports/q{quarter + 1}-{2000 + year}.xlsx", (F,), {}, False))
            fill += 1
        return entries[:DATA_MAP_SIZE]

    def write_policy(self, directory: Path) -> dict[str, Path]:
        """Write directory.yaml, data-map.yaml and zones.yaml; return their paths by name."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "directory": directory / "directory.yaml",
            "data_map": directory / "data-map.yaml",
            "zones": directory / "zones.yaml",
        }
        lines = ["# generated by benchmarks/generate.py: the benchmark population's staff", "users:"]
        for u in self.users:
            roles = ", ".join(u.roles)
            status = "" if u.status == "active" else f", status: {u.status}"
            lines.append(f"  {u.name}: {{roles: [{roles}], department: {u.department}{status}}}")
        paths["directory"].write_text("\n".join(lines) + "\n")

        lines = ["# generated by benchmarks/generate.py", f"categories: [{', '.join(CATEGORIES)}]", "objects:"]
        for match, cats, columns, honey in self.data_map_entries():
            lines.append(f'  - match: "{match}"')
            lines.append(f"    categories: [{', '.join(cats)}]")
            if columns:
                lines.append("    columns: {" + ", ".join(f"{k}: [{', '.join(v)}]" for k, v in columns.items()) + "}")
            if honey:
                lines.append("    honeytoken: true")
        paths["data_map"].write_text("\n".join(lines) + "\n")

        lines = ["# generated by benchmarks/generate.py", "zones:"]
        lines += [f"  {zone}: [{', '.join(repr(n) for n in nets)}]" for zone, nets in ZONES.items()]
        lines.append(f"unknown_zone: {UNKNOWN_ZONE}")
        paths["zones"].write_text("\n".join(lines) + "\n")
        return paths


def _make_ips(rng: random.Random) -> list[tuple[str, str]]:
    ips: list[tuple[str, str]] = []
    for zone, prefix, count in _IP_PLAN:
        seen: set[str] = set()
        while len(seen) < count:
            if prefix.count(".") == 1:
                ip = f"{prefix}.{rng.randrange(0, 64)}.{rng.randrange(1, 255)}"
            else:
                ip = f"{prefix}.{rng.randrange(1, 255)}"
            if ip not in seen:
                seen.add(ip)
                ips.append((ip, zone))
    assert len(ips) == IP_COUNT
    return ips


def _make_users(rng: random.Random, ips: list[tuple[str, str]]) -> list[User]:
    by_zone: dict[str, list[str]] = {}
    for ip, zone in ips:
        by_zone.setdefault(zone, []).append(ip)
    roles = [r for r, _, _ in _ROLES]
    weights = [w for _, _, w in _ROLES]
    departments = {r: d for r, d, _ in _ROLES}
    users: list[User] = []
    taken: set[str] = set()
    for name in _SERVICE_ACCOUNTS:
        taken.add(name)
        users.append(User(name, ("service",) if name not in ("postgres", "root") else ("dba",), "it", "service",
                          rng.choice(by_zone["datacenter"])))
    while len(users) < USER_COUNT:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        base = first[0] + last
        name = base
        n = 2
        while name in taken:
            name = f"{base}{n}"
            n += 1
        taken.add(name)
        role = rng.choices(roles, weights)[0]
        extra = (rng.choice(roles),) if rng.random() < 0.1 else ()
        status = "active"
        r = rng.random()
        if r < 0.02:
            status = "disabled"
        elif r < 0.03:
            status = "left"
        zone = "datacenter" if role == "dba" else rng.choices(("office", "vpn", "internet"), (80, 18, 2))[0]
        users.append(User(name, tuple(dict.fromkeys((role, *extra))), departments[role], status,
                          rng.choice(by_zone[zone])))
    # the busiest fifth comes first: service accounts, then a random slice of the staff
    head, tail = users[: len(_SERVICE_ACCOUNTS)], users[len(_SERVICE_ACCOUNTS) :]
    rng.shuffle(tail)
    return head + tail
