from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.enrich.datamap import _SELECT_STAR, DataMap
from pii_guard.enrich.directory import Directory
from pii_guard.enrich.enricher import Enricher
from pii_guard.enrich.files import MapEntry
from pii_guard.enrich.zones import Zones
from pii_guard.errors import ConfigError
from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo

RULES = Path(__file__).parents[2] / "rules"


def test_directory_yaml_and_unknown_users() -> None:
    directory = Directory.from_file(RULES / "directory.yaml")
    bob = directory.lookup("bob")
    assert bob.roles == ("support",)
    assert bob.department == "customer-care"
    assert bob.known
    stranger = directory.lookup("mallory")
    assert not stranger.known
    assert stranger.roles == ()


def test_directory_csv(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user,roles,department,status\ncarol,support;dba,it,active\nsvc,,it,service\n")
    directory = Directory.from_file(path)
    assert directory.lookup("carol").roles == ("support", "dba")
    assert directory.lookup("svc").status == "service"


def test_directory_csv_bad_status_names_line(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user,roles\ncarol,support\n")
    Directory.from_file(path)
    path.write_text("user,roles,status\ncarol,support,active\ndave,x,gone\n")
    with pytest.raises(ConfigError) as info:
        Directory.from_file(path)
    assert str(info.value) == f"{path}:3: status 'gone' is not one of active, disabled, service, left"


def test_data_map_globs_columns_and_case() -> None:
    data = DataMap.from_file(RULES / "data-map.yaml")
    assert data.lookup("db:crm.public.customers").categories == ("contact", "personal")
    assert data.lookup("db:CRM.Public.Customers").classified
    with_ssn = data.lookup("db:crm.public.customers", "SELECT id, ssn FROM public.customers")
    assert "sensitive" in with_ssn.categories
    star = data.lookup("db:crm.public.customers", "SELECT * FROM customers")
    assert "sensitive" in star.categories
    assert "sensitive" not in data.lookup("db:crm.public.customers", "SELECT id, email FROM customers").categories
    for aggregate in ("SELECT count(*) FROM customers", "SELECT region, count(*) FROM customers GROUP BY region",
                      "SELECT id, price * 2 FROM customers"):  # no column named: not every column
        assert "sensitive" not in data.lookup("db:crm.public.customers", aggregate).categories, aggregate
    for every in ("SELECT c.*, o.total FROM customers c JOIN orders o ON o.cid = c.id",
                  "DELETE FROM customers WHERE id = 1 RETURNING *", "COPY (SELECT * FROM customers) TO STDOUT"):
        assert "sensitive" in data.lookup("db:crm.public.customers", every).categories, every
    hr = data.lookup("file:/srv/demo/samba/share/hr/payroll-2024.xlsx")
    assert hr.categories == ("hr", "personal", "sensitive")
    assert not data.lookup("db:crm.public.audit_log").classified
    assert data.lookup(None).categories == ()


def test_single_star_stays_within_one_name_part() -> None:
    data = DataMap([MapEntry(match="file:/srv/*/x.csv", categories=["p"])], ["p"])
    assert data.lookup("file:/srv/a/x.csv").classified
    assert not data.lookup("file:/srv/a/b/x.csv").classified


def test_data_map_rejects_undeclared_category(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("categories: [personal]\nobjects:\n  - match: 'db:a.b'\n    categories: [persnal]\n")
    with pytest.raises(ConfigError) as info:
        DataMap.from_file(path)
    assert "undeclared categor(ies) ['persnal']" in str(info.value)
    assert str(info.value).startswith(f"{path}:1:")


def test_honeytoken_flag() -> None:
    data = DataMap([MapEntry(match="db:crm.public.vip_customers", categories=["p"], honeytoken=True)], ["p"])
    assert data.lookup("db:crm.public.vip_customers").honeytoken


def test_zones_longest_prefix_and_ipv6() -> None:
    zones = Zones({"dc": ["10.0.0.0/8"], "lab": ["10.1.0.0/16"], "v6": ["2001:db8::/32"]}, "internet")
    assert zones.lookup("10.2.3.4") == "dc"
    assert zones.lookup("10.1.3.4") == "lab"
    assert zones.lookup("2001:db8::1") == "v6"
    assert zones.lookup("::ffff:10.1.0.9") == "lab"
    assert zones.lookup("8.8.8.8") == "internet"
    assert zones.lookup("not-an-ip") == "internet"


def test_zones_file_rejects_bad_cidr(tmp_path: Path) -> None:
    path = tmp_path / "zones.yaml"
    path.write_text("zones:\n  office: [10.0.0.0/33]\n")
    with pytest.raises(ConfigError) as info:
        Zones.from_file(path)
    assert "'10.0.0.0/33' is not an IP network" in str(info.value)


def test_enricher_combines_all_three() -> None:
    enricher = Enricher(
        Directory.from_file(RULES / "directory.yaml"),
        DataMap.from_file(RULES / "data-map.yaml"),
        Zones.from_file(RULES / "zones.yaml"),
    )
    event = AccessEvent("id1", 0, "t", "read", "success", user="bob", source_ip="192.168.1.7",
                        object="db:crm.public.orders")
    enriched = enricher(event)
    assert enriched.user is not None
    assert enriched.user.roles == ("support",)
    assert enriched.data.categories == ("financial", "personal")
    assert enriched.zone == "office"


_SEGMENTS = ["srv", "share", "hr", "exports", "a.csv", "b.xlsx", "crm", "public", "customers", "Orders"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["file:/", "db:", "url:/"]),
                       st.lists(st.sampled_from([*_SEGMENTS, "*", "**", "?rm"]), min_size=1, max_size=4)),
             min_size=1, max_size=8),
    st.lists(st.tuples(st.sampled_from(["file:/", "db:", "url:/"]),
                       st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=5)), min_size=1, max_size=20),
)
def test_prefix_index_finds_exactly_what_a_full_scan_finds(
    patterns: list[tuple[str, list[str]]], objects: list[tuple[str, list[str]]]
) -> None:
    """The prefix index is an optimization: it must agree with trying every glob on every object."""
    import re

    from pii_guard.enrich.datamap import glob_to_regex

    def join(kind: str, parts: list[str]) -> str:
        return kind + ("." if kind == "db:" else "/").join(parts)

    entries = [MapEntry(match=join(k, p), categories=[f"c{i}"]) for i, (k, p) in enumerate(patterns)]
    data = DataMap(entries, [f"c{i}" for i in range(len(entries))])
    for kind, parts in objects * 2:  # the second time through the memos
        obj = join(kind, parts)
        brute = sorted(
            f"c{i}" for i, e in enumerate(entries)
            if re.match(glob_to_regex(e.match) + r"\Z", obj, re.IGNORECASE if e.match.startswith("db:") else 0)
        )
        assert list(data.lookup(obj).categories) == sorted(set(brute)), obj


def test_enricher_without_user_or_address_and_with_unknowns() -> None:
    enricher = Enricher(Directory.from_file(RULES / "directory.yaml"), DataMap.from_file(RULES / "data-map.yaml"),
                        Zones({"dc": ["10.0.0.0/8"]}, "internet"))  # fmt: skip
    bare = enricher(AccessEvent("id2", 0, "t", "read", "success"))
    assert isinstance(bare, EnrichedEvent)
    assert (bare.event.id, bare.user, bare.data, bare.zone) == ("id2", None, ObjectInfo(), None)
    stranger = enricher(AccessEvent("id3", 0, "t", "read", "success", user="mallory", source_ip="8.8.8.8"))
    assert stranger.user is not None
    assert (stranger.user.known, stranger.zone) == (False, "internet")
    assert enricher == Enricher(enricher.directory, enricher.data_map, enricher.zones)
    assert Enricher.empty()(AccessEvent("id4", 0, "t", "read", "success", user="x")).user == UserInfo(
        "x", known=False, status="unknown"
    )


def _columns_naively(entry: MapEntry, statement: str) -> tuple[str, ...]:
    """Column categories as one regex search per column (what DataMap memoizes and pre-tests)."""
    import re

    extra = {
        c
        for col, cats in entry.columns.items()
        if re.search(rf"(?<![\w.])(?:\w+\.)?{re.escape(col)}\b|{_SELECT_STAR}", statement, re.IGNORECASE)
        for c in cats
    }
    return tuple(sorted(extra | set(entry.categories)))


_COLUMN_PIECES = ["SELECT ", "ssn", "SSN", "ſsn", "iban", "t.", "a.b.", "x", "_", "*", ", ", " FROM t", "count(", ")"]
_COLUMN_PIECES += ["birth_date", "birth_dates", "é", "'", "1", ".", "..", "T.", "ssn.", "-", "\n", "e-mail", "(", "$"]
_COLUMN_PIECES += ["cost$"]
_COLUMN_SQL = st.lists(st.sampled_from(_COLUMN_PIECES), max_size=10).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(_COLUMN_SQL, min_size=1, max_size=4))
def test_column_categories_as_one_search_per_column(statements: list[str]) -> None:
    entry = MapEntry(
        match="db:crm.public.t",
        categories=["personal"],
        columns={"ssn": ["sensitive"], "iban": ["financial"], "birth_date": ["sensitive"], "e-mail": ["contact"],
                 "t.ssn": ["qualified"], "-mail": ["dash"], "cost$": ["money"]},
    )
    data = DataMap([entry], ["personal", "sensitive", "financial", "contact", "qualified", "dash", "money"])
    for statement in statements * 2:  # the second time from the memo
        assert data.lookup("db:crm.public.t", statement).categories == _columns_naively(entry, statement)


def test_non_ascii_statement_matches_a_column_case_insensitively() -> None:
    data = DataMap([MapEntry(match="db:x.t", categories=["p"], columns={"ssn": ["s"]})], ["p", "s"])
    assert data.lookup("db:x.t", "SELECT ſſn FROM t").categories == ("p", "s")  # long s folds to s
    assert data.lookup("db:x.t", "SELECT SSN FROM t").categories == ("p", "s")
    assert data.lookup("db:x.t", "SELECT ssn_x FROM t").categories == ("p",)


def test_objects_of_one_directory_share_its_globs_but_not_its_exact_entries() -> None:
    data = DataMap([
        MapEntry(match="url:/api/v1/customers/*", categories=["personal"]),
        MapEntry(match="url:/api/v1/customers/vip", categories=["sensitive"], honeytoken=True),
        MapEntry(match="file:/srv/hr/**", categories=["hr"]),
        MapEntry(match="file:/srv/hr/*.xlsx", categories=["personal"]),
    ], ["personal", "sensitive", "hr"])  # fmt: skip
    assert data.lookup("url:/api/v1/customers/2366") == ObjectInfo(("personal",), True, False)
    assert data.lookup("url:/api/v1/customers/vip") == ObjectInfo(("personal", "sensitive"), True, True)
    assert data.lookup("url:/api/v1/customers/2367") == ObjectInfo(("personal",), True, False)
    assert data.lookup("url:/api/v1/customersX") == ObjectInfo()
    # the last separator of a file name is its extension's dot: the directories' globs still apply
    assert data.lookup("file:/srv/hr/pay.xlsx").categories == ("hr", "personal")
    assert data.lookup("file:/srv/hr/pay.csv").categories == ("hr",)


def test_a_statement_that_names_no_mapped_column_is_not_memoized() -> None:
    """Most statements name none of a table's mapped columns; a memo keyed by each of them would only churn."""
    entry = MapEntry(match="db:crm.public.t", categories=["personal"], columns={"ssn": ["sensitive"]})
    data = DataMap([entry], ["personal", "sensitive"])
    assert data.lookup("db:crm.public.t", "SELECT id, name FROM t WHERE id = ?").categories == ("personal",)
    assert data._by_statement == {}
    assert data.lookup("db:crm.public.t", "SELECT SSN FROM t").categories == ("personal", "sensitive")
    assert data.lookup("db:crm.public.t", "SELECT * FROM t").categories == ("personal", "sensitive")
    assert len(data._by_statement) == 2
    decoy = DataMap([MapEntry(match="db:crm.public.t", categories=["personal"], columns={"ssn": ["sensitive"]},
                              honeytoken=True)], ["personal", "sensitive"])  # fmt: skip
    assert decoy.lookup("db:crm.public.t", "SELECT ssn FROM t") == ObjectInfo(("personal", "sensitive"), True, True)
