"""Each policy kind on hand-built events run through the real enricher, the shipped policy and the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from pii_guard.errors import ConfigError
from pii_guard.model import Match
from pii_guard.policy.context import PolicyContext, make_match
from tests.policy.events import RULES, at, enricher, ev, rules_of, run, shipped_policy


def test_normal_work_raises_nothing() -> None:
    events = [
        ev("2026-11-27 09:00:00", user="alice", ip="10.20.0.4", rows=20),
        ev("2026-11-27 09:05:00", user="bob", ip="10.20.0.5", rows=30, statement="SELECT id, email FROM customers"),
        ev("2026-11-27 09:06:00", user="postgres", ip=None, obj="db:crm.public.orders", rows=3),
        ev("2026-11-27 09:07:00", user="alice", action="login", obj=None, ip="10.30.0.9"),
    ]
    assert run(events) == []


def test_sensitive_from_internet_is_ip_restriction() -> None:
    matches = run([ev("2026-11-27 09:00:00", user="alice", ip="203.0.113.9", rows=2,
                      statement="SELECT ssn FROM customers")])
    kinds = {m.rule_id: m for m in matches}
    assert "sensitive-from-trusted-zones" in kinds
    m = kinds["sensitive-from-trusted-zones"]
    assert m.kind == "ip_restriction"
    assert m.zone == "internet"
    assert "from zone internet (203.0.113.9)" in m.sentence


def test_exception_is_a_positive_entry() -> None:
    from_backup_net = run([ev("2026-11-27 09:00:00", user="backup", ip="10.40.0.2",
                              statement="SELECT ssn FROM customers")])
    assert from_backup_net == []
    # the exception covers the backup user on the backup network only, not the backup user anywhere
    from_internet = run([ev("2026-11-27 09:00:00", user="backup", ip="203.0.113.9",
                            statement="SELECT ssn FROM customers")])
    assert "sensitive-from-trusted-zones" in rules_of(from_internet)


def test_dba_outside_datacenter_but_in_maintenance_window() -> None:
    # 2026-11-28 is a Saturday; 02:30 Berlin = 01:30 UTC
    inside = run([ev("2026-11-28 01:30:00", user="postgres", ip="10.30.0.2", action="login", obj=None)])
    outside = run([ev("2026-11-27 13:00:00", user="postgres", ip="10.30.0.2", action="login", obj=None)])
    assert "dba-from-datacenter" not in rules_of(inside)
    assert rules_of(outside) == ["dba-from-datacenter"]


def test_role_may_not_view_category() -> None:
    matches = run([ev("2026-11-27 09:00:00", user="bob", ip="10.20.0.5", obj="db:crm.public.orders", rows=1)])
    assert rules_of(matches) == ["role-access:support"]
    assert matches[0].categories == ("financial",)
    assert "their roles may view contact, personal" in matches[0].sentence


def test_refused_request_is_a_low_severity_attempt_that_never_counts() -> None:
    attempt = ev("2026-11-27 09:00:00", user="bob", ip="10.20.0.5", obj="db:crm.public.orders", outcome="failure")
    matches = run([attempt])
    assert len(matches) == 1
    assert matches[0].attempt
    assert matches[0].severity == "low"
    # 300 refused reads do not fill a quota
    refused = [ev(at("2026-11-27 09:00:00") + i * 1_000_000, user="bob", ip="10.20.0.5", rows=10,
                  outcome="failure") for i in range(300)]
    assert "support-personal-hourly" not in rules_of(run(refused))


def test_outside_role_hours() -> None:
    # support works 07:00-20:00 Berlin; 21:30 UTC is 22:30 Berlin
    matches = run([ev("2026-11-27 21:30:00", user="bob", ip="10.20.0.5", rows=1)])
    assert rules_of(matches) == ["role-access:support"]
    assert "outside support hours (07:00-20:00)" in matches[0].sentence


def test_unknown_user_follows_the_explicit_default() -> None:
    matches = run([ev("2026-11-27 09:00:00", user="mallory", ip="10.20.0.5", rows=1)])
    assert rules_of(matches) == ["role-access:unknown-user"]
    assert matches[0].severity == "medium"


def test_quota_fires_at_the_crossing_and_again_only_at_twice_the_quota() -> None:
    start = at("2026-11-27 09:00:00")
    events = [ev(start + i * 60_000_000, user="bob", ip="10.20.0.5", rows=50) for i in range(10)]
    matches = run(events)
    assert rules_of(matches) == ["support-personal-hourly"] * 2
    assert [m.volume for m in matches] == [250, 450]  # 250 crosses 200; 450 crosses 400
    m = matches[0]
    assert m.volume == 250
    assert m.limit == 200
    assert m.sentence == "bob (support) read 250 records of personal data in 1 h, quota 200"
    assert len(m.evidence) == 5
    assert m.window_start_us is not None
    assert m.window_end_us == start + 4 * 60_000_000


def test_a_quota_reports_each_doubling_of_a_slow_export() -> None:
    """40 reads of 300 records by a support user (quota 200/h): the crossing, then 2x, 4x, 8x ... the quota,
    so the incident grows with the export instead of stopping at the first 300 records."""
    start = at("2026-11-27 09:00:00")
    events = [ev(start + i * 20_000_000, user="bob", ip="10.20.0.5", rows=300) for i in range(40)]
    quota = [m for m in run(events) if m.rule_id == "support-personal-hourly"]
    assert [m.volume for m in quota] == [300, 600, 900, 1_800, 3_300, 6_600]  # first totals over 1, 2, 4 ... x 200
    assert len({m.id for m in quota}) == len(quota)
    assert quota[-1].sentence == "bob (support) read 6,600 records of personal data in 1 h, quota 200"


def test_quota_window_slides() -> None:
    start = at("2026-11-27 09:00:00")
    # 150 records, then 150 more two hours later: never 200 within one hour
    events = [ev(start, user="bob", ip="10.20.0.5", rows=150),
              ev(start + 7_200_000_000, user="bob", ip="10.20.0.5", rows=150)]
    assert run(events) == []


def test_distinct_files_quota() -> None:
    start = at("2026-11-27 08:00:00")
    events = [ev(start + i * 1_000_000, user="smbalice", ip="10.20.0.7", obj=f"file:/srv/share/hr/f{i}.pdf")
              for i in range(51)]
    assert rules_of(run(events)) == ["hr-files-daily"]


def test_copy_to_of_a_whole_table_is_a_bulk_export() -> None:
    matches = run([ev("2026-11-27 09:00:00", user="alice", action="export", rows=0, ip="10.20.0.4")])
    assert rules_of(matches) == ["bulk-export-single"]
    assert "the log does not say how many rows" in matches[0].sentence


def test_large_single_export() -> None:
    matches = run([ev("2026-11-27 09:00:00", user="alice", action="export", rows=50_000, ip="10.20.0.4")])
    assert "bulk-export-single" in rules_of(matches)
    assert "bulk-export-cumulative" in rules_of(matches)


def test_slow_export_adds_up() -> None:
    start = at("2026-11-27 08:00:00")
    events = [ev(start + i * 120_000_000, user="alice", action="export", rows=600, ip="10.20.0.4")
              for i in range(100)]
    matches = run(events)
    assert rules_of(matches) == ["bulk-export-cumulative"] * 2
    assert [m.volume for m in matches] == [20_400, 40_200]  # the crossing of 20,000, then of twice that


def test_the_backup_dump_at_night_is_an_allowed_export_that_counts_nowhere() -> None:
    night = at("2026-11-27 01:30:00")  # 02:30 in Berlin, inside the exception's hours
    dumps = [ev(night + i * 1_000_000, user="backup", action="export", rows=15_000, ip="10.40.0.2")
             for i in range(3)]
    assert run(dumps) == []  # 45,000 rows: over both the single and the 6-hour limit, all excepted
    # the nightly volume is not carried into the 6-hour window: an export of the same size at 06:00 raises only
    # its own crossing, with its own volume
    morning = ev("2026-11-27 05:00:00", user="backup", action="export", rows=15_000, ip="10.40.0.2")
    matches = run([*dumps, morning])
    assert rules_of(matches) == ["bulk-export-single"]
    assert matches[0].volume == 15_000
    # the exception names the backup network: the same dump at night from elsewhere is not allowed
    elsewhere = run([ev(night, user="backup", action="export", rows=0, ip="10.20.0.4")])
    assert rules_of(elsewhere) == ["bulk-export-single"]


def test_a_bulk_rule_exception_naming_an_unknown_zone_is_refused(tmp_path: Path) -> None:
    text = (RULES / "access-policy.yaml").read_text()
    first = text.index("zones: [backup]", text.index("bulk_export:"))
    text = text[:first] + "zones: [bakup]" + text[first + len("zones: [backup]"):]
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    line = text[:first].count("\n") + 1
    with pytest.raises(ConfigError) as info:
        shipped_policy(path)
    assert str(info.value) == f"{path}:{line}: unknown zone 'bakup' (did you mean 'backup'?)"


def test_downloads_weigh_as_exports() -> None:
    start = at("2026-11-27 08:00:00")
    events = [ev(start + i * 1_000_000, user="sftpalice", action="read", obj="file:/srv/x/exports/big.bin",
                 nbytes=30_000_000, ip="10.20.0.9") for i in range(4)]
    assert rules_of(run(events)) == ["bulk-export-download-volume"]


def test_an_access_without_the_rules_measure_adds_nothing_to_its_window() -> None:
    """Downloads between exports: a window of rows neither counts them nor keeps them as evidence."""
    start = at("2026-11-27 08:00:00")
    exports = [ev(start + i * 120_000_000, user="alice", action="export", rows=9_000, ip="10.20.0.4")
               for i in range(3)]
    downloads = [ev(start + i * 120_000_000 + 60_000_000, user="alice", obj="file:/srv/x/exports/big.bin",
                    nbytes=1_000, ip="10.20.0.4") for i in range(2)]
    empty = ev(start + 30_000_000, user="alice", action="export", rows=0, ip="10.20.0.4")  # a whole-table COPY
    events = sorted([*exports, *downloads, empty], key=lambda e: e.time_us)
    cumulative = [m for m in run(events) if m.rule_id == "bulk-export-cumulative"]
    assert [(m.volume, m.evidence) for m in cumulative] == [(27_000, tuple(e.id for e in exports))]


def test_rules_test_says_why_an_access_without_the_measure_adds_nothing() -> None:
    detectors = {getattr(getattr(d, "rule", None), "id", None): d for d in shipped_policy().detectors}
    download = enricher()(ev("2026-11-27 08:00:00", user="alice", obj="file:/srv/x/exports/big.bin", nbytes=1_000,
                             ip="10.20.0.4"))
    assert detectors["bulk-export-cumulative"].why_not(download) == "no rows in this access: nothing to add up"
    assert detectors["bulk-export-baseline"].why_not(download) == "no rows in this access: nothing to add up"
    volume = detectors["bulk-export-download-volume"]  # its measure is bytes: the download counts
    assert volume.observe(download) == []
    assert volume.why_not(download) == "1,000 bytes in the window, limit 100,000,000"


def test_days_without_the_rules_measure_are_no_history_of_a_baseline() -> None:
    """A week of downloads (bytes, no rows) is no baseline of exported rows: the first export of rows is not
    measured against a median of 0."""
    events = [ev(f"2026-11-{day:02d} 10:00:00", user="alice", obj="file:/srv/x/exports/big.bin", nbytes=5_000,
                 ip="10.20.0.4") for day in range(1, 8)]
    events.append(ev("2026-11-08 10:00:00", user="alice", action="export", rows=2_500, ip="10.20.0.4"))
    assert "bulk-export-baseline" not in rules_of(run(events))


def test_baseline_needs_history_then_fires_once_a_day() -> None:
    events = []
    for day in range(1, 8):
        events.append(ev(f"2026-11-{day:02d} 10:00:00", user="alice", action="export", rows=200, ip="10.20.0.4"))
    events.append(ev("2026-11-08 10:00:00", user="alice", action="export", rows=2_500, ip="10.20.0.4"))
    events.append(ev("2026-11-08 11:00:00", user="alice", action="export", rows=2_500, ip="10.20.0.4"))
    matches = run(events)
    assert rules_of(matches) == ["bulk-export-baseline"]
    assert "12.5x their median of 200 over the last 7 active day(s)" in matches[0].sentence


def test_each_decoy_object_names_its_own_honeytoken_every_time() -> None:
    """The detector remembers its answer per object: the second access to a decoy raises as the first did,
    and an object that is no decoy stays none."""
    files = "file:/srv/share/hr/salaries-all-staff.xlsx"
    events = [ev(f"2026-11-27 09:0{i}:00", user="smbalice", ip="10.20.0.7", obj=obj)
              for i, obj in enumerate([files, "db:crm.public.customers_archive_2019", "url:/hr/salaries-all-staff.xlsx",
                                       files, "url:/hr/salaries-all-staff.xlsx"])]
    honey = [(m.rule_id, m.object) for m in run(events) if m.kind == "honeytoken"]
    table = "db:crm.public.customers_archive_2019"
    assert honey == [("honeytoken-decoy-files", files), ("honeytoken-decoy-table", table),
                     ("honeytoken-decoy-files", files)]


def test_honeytoken_any_access() -> None:
    matches = run([ev("2026-11-27 09:00:00", user="alice", obj="db:crm.public.customers_archive_2019")])
    assert rules_of(matches) == ["honeytoken-decoy-table"]
    assert matches[0].severity == "critical"
    by_record = run([ev("2026-11-27 09:00:00", user="alice", obj="app:crm/customer",
                        record_ids=("cust-000000042",))])
    assert rules_of(by_record) == ["honeytoken-decoy-record"]


def test_policy_typo_in_zone_names_file_and_line(tmp_path: Path) -> None:
    text = (RULES / "access-policy.yaml").read_text().replace("allow_zones: [datacenter, local]",
                                                             "allow_zones: [datacenter, locall]")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "locall" in ln)
    with pytest.raises(ConfigError) as info:
        shipped_policy(path)
    assert str(info.value) == f"{path}:{line}: unknown zone 'locall' (did you mean 'local'?)"


def test_policy_unknown_key_and_bad_duration(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("roles:\n  support:\n    may_veiw: [personal]\n")
    with pytest.raises(ConfigError) as info:
        shipped_policy(path)
    assert str(info.value) == f"{path}:3: unknown key 'roles.support.may_veiw' (did you mean 'may_view'?)"
    path.write_text("lateness: soon\n")
    with pytest.raises(ConfigError) as info:
        shipped_policy(path)
    assert "'soon' is not a duration (write e.g. 90s, 15m, 1h, 1d, 2w)" in str(info.value)


def test_a_match_holds_every_field_by_its_name() -> None:
    """`make_match` builds the tuple positionally (for speed): each value must land in the field it names."""
    policy = shipped_policy().policy
    ctx = PolicyContext(policy.timezone, policy.defaults)
    item = enricher()(ev("2026-11-27 09:00:00", user="bob", ip="10.20.0.5", obj="db:crm.public.orders", rows=12,
                         nbytes=340, outcome="failure", record_ids=("a-1", "a-2", "a-3")))
    found = make_match(item, ctx, rule_id="r", kind="quota", severity="high", sentence="s",
                       categories=("financial",), key="k", volume=1.5, unit="rows", limit=1.0, window=(5, 9),
                       evidence=("e1", "e2"))
    assert found == Match(
        id=found.id, rule_id="r", kind="quota", severity="low", time_us=item.event.time_us, user="bob",
        roles=("support",), object="db:crm.public.orders", categories=("financial",), volume=1.5, unit="rows",
        limit=1.0, window_start_us=5, window_end_us=9, evidence=("e1", "e2"), sentence="s", attempt=True,
        source_ip="10.20.0.5", zone="office", event_rows=12, event_bytes=340, event_records=3,
        event_id=item.event.id,
    )  # fmt: skip
    assert len(found) == len(Match._fields)
    plain = make_match(item, ctx, rule_id="r", kind="quota", severity="high", sentence="s")
    assert (plain.evidence, plain.window_start_us) == ((item.event.id,), None)
    assert plain.categories == ("financial", "personal")  # the event's own, as the data map gives them
