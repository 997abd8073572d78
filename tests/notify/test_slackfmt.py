"""Slack message building: untrusted text is escaped, every fact is shown, Slack's limits hold."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pii_guard.notify.base import Change, Exposure
from pii_guard.notify.slackfmt import (
    MAX_BLOCKS,
    MAX_FIELD,
    MAX_HEADER,
    MAX_SECTION,
    cap,
    change_message,
    clean,
    digest_message,
    escape,
    iso_utc,
    parent_message,
    plain,
)
from tests.notify.fake_slack import incident_view

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ENTITY = re.compile(r"&(amp|lt|gt);")


def texts(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, text) of every text object in the blocks."""
    found: list[tuple[str, str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append((node["type"], node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def assert_within_limits(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= MAX_HEADER
        if block["type"] == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= MAX_SECTION
            for item in block.get("fields", []):
                assert 0 < len(item["text"]) <= MAX_FIELD
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "context":
            assert all(len(e["text"]) <= MAX_SECTION for e in block["elements"])


def assert_safe_mrkdwn(text: str) -> None:
    """No raw angle brackets (mentions, links) and every & starts an entity."""
    assert "<" not in text
    assert ">" not in text
    assert len(re.findall("&", text)) == len(ENTITY.findall(text))
    assert not any(c in text for c in BIDI)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text.replace("\n", ""))


# -- escape -----------------------------------------------------------------------------------------------


def test_mentions_and_formatting_in_a_user_name_show_literally() -> None:
    out = escape("<!channel> *x*")
    assert out == "`&lt;!channel&gt; *x*`"


def test_disguised_link_in_an_object_name_is_defused() -> None:
    out = escape("file:/srv/<https://evil.example|click here>.xlsx")
    assert out == "`file:/srv/&lt;https://evil.example|click here&gt;.xlsx`"


@pytest.mark.parametrize(("raw", "shown"), [
    ("a & b", "`a &amp; b`"),
    ("&amp;", "`&amp;amp;`"),  # already an entity: shown as typed, not decoded
    ("<@U123> <!here> <#C123>", "`&lt;@U123&gt; &lt;!here&gt; &lt;#C123&gt;`"),
    ("_x_ ~y~ :rotating_light:", "`_x_ ~y~ :rotating_light:`"),
    ("a`b``c", "`aˋbˋˋc`"),  # a backtick would end the code span
])
def test_escape_cases(raw: str, shown: str) -> None:
    assert escape(raw) == shown


def test_bidi_and_control_characters_are_dropped() -> None:
    out = escape("adm\u202ein\u2066 \x00x\x1b[31m\x7f\x9by\u200f\u061c")
    assert out == "`admin x[31my`"
    assert escape("line1\nline2\r\tend") == "`line1 line2  end`"


def test_long_values_are_capped_with_an_ellipsis() -> None:
    out = escape("x" * 5000, 100)
    assert len(out) == 100
    assert out.endswith("…`")
    assert out.startswith("`xxx")


def test_capping_never_cuts_an_entity() -> None:
    for limit in range(5, 40):
        out = escape("&<>" * 50, limit)
        assert len(out) <= limit
        assert_safe_mrkdwn(out)
        assert out.endswith("…`")


def test_empty_and_invisible_values_give_nothing() -> None:
    assert escape("") == ""
    assert escape("\u202e\x00 ") == ""
    assert escape("abc", 3) == ""


def test_plain_text_is_cleaned_and_capped_but_not_entity_escaped() -> None:
    assert plain("a <b> & c\u202e\x00") == "a <b> & c"
    out = plain("y" * 500)
    assert len(out) == MAX_HEADER
    assert out.endswith("…")
    assert clean("  x\ny  ") == "x y"


def test_cap_closes_a_code_span_it_cut_into() -> None:
    text = "*User* " + escape("a" * 100)
    out = cap(text, 30)
    assert len(out) <= 30
    assert out.count("`") == 2
    assert out.endswith("…`")
    assert cap("short", 30) == "short"


@given(st.text(max_size=400), st.integers(min_value=4, max_value=300))
def test_escape_is_always_safe_and_within_its_limit(raw: str, limit: int) -> None:
    out = escape(raw, limit)
    assert len(out) <= limit
    assert_safe_mrkdwn(out)
    assert out == "" or (out.startswith("`") and out.endswith("`") and out.count("`") == 2)


# -- the parent message -----------------------------------------------------------------------------------


def test_parent_message_shows_every_fact() -> None:
    view = incident_view(
        status="acknowledged", assignee="bob", deadline_us=1_796_047_200_000_000,  # 2026-11-30 14:00 UTC
        objects=tuple(f"db:crm.public.t{i}" for i in range(8)),
        exposure=Exposure(events=12, rows=5000, records=4800, files=7, bytes=3 * 1024 * 1024, objects=20,
                          attempts=3, honeytoken=True),
    )
    message = parent_message(view, max_objects=5)
    blocks = message.blocks
    assert_within_limits(blocks)
    assert blocks[0]["type"] == "header"
    header = blocks[0]["text"]["text"]
    assert "HIGH" in header
    assert ":large_orange_circle:" in header
    assert "INC-42" in header
    assert "bulk-export" in header
    body = "\n".join(t for _, t in texts(blocks))
    for expected in [
        "`bulk-export`", "`volume`",  # rule id + kind
        "`alice read 5000 rows of crm.public.customers outside working hours`",  # title
        "`alice`", "`crm-reader`", "`support`", "`Customer Care`",  # user, roles, department
        "`contact`", "`financial`",  # categories
        "`db:crm.public.t0`", "`db:crm.public.t4`", "+15 more",  # 5 of 20 objects
        "5,000 rows", "4,800 records", "7 files", "3.0 MiB", "12 events", "3 refused attempts", "honeytoken",
        "`10.0.4.17`", "`10.0.4.18`", "`office-berlin`",  # from where
        "2026-11-18T11:06:40Z", "2026-11-18T11:16:40Z",  # first/last in UTC ISO
        "`INC-42`", "acknowledged", "`bob`",  # id, status, assignee
        "notify by 2026-11-30 14:00 UTC",
        "`pii-guard incidents show INC-42`",  # the inspect command as a code span
    ]:
        assert expected in body, expected
    assert "`db:crm.public.t5`" not in body
    assert iso_utc(view.first_us) in body
    assert iso_utc(view.last_us) in body
    assert "INC-42" in message.text
    assert "notify by 2026-11-30 14:00 UTC" in message.text
    assert "pii-guard incidents show INC-42" in message.text


def test_parent_message_names_the_other_rules_one_act_broke() -> None:
    view = incident_view(rules=("bulk-export", "role-access:analyst", "<!channel>-rule"))
    body = "\n".join(t for _, t in texts(parent_message(view).blocks))
    assert "also: `role-access:analyst`, `&lt;!channel&gt;-rule`" in body
    assert "also:" not in "\n".join(t for _, t in texts(parent_message(incident_view(rules=("bulk-export",))).blocks))


def test_parent_message_without_optional_facts() -> None:
    view = incident_view(user=None, roles=(), department=None, zones=(), objects=(), source_ips=(),
                         exposure=Exposure(events=1))
    message = parent_message(view)
    assert_within_limits(message.blocks)
    body = "\n".join(t for _, t in texts(message.blocks))
    assert "1 event" in body
    assert "notify by" not in body
    assert "assignee: —" in body


def test_hostile_incident_stays_escaped_and_within_slack_limits() -> None:
    evil = "<!channel> *x* <https://evil|click> & \u202e" + "A" * 4000
    view = incident_view(
        id="INC-" + evil, title=evil, rule_id=evil, rule_kind=evil, severity=evil, status=evil, assignee=evil,
        user=evil, roles=(evil,) * 20, department=evil, source_ips=(evil,) * 20, zones=(evil,) * 20,
        objects=(evil,) * 50, categories=(evil,) * 50, inspect=evil, deadline_us=1_796_047_200_000_000,
    )
    for message in [parent_message(view, max_objects=50),
                    *(change_message(view, Change(kind, 0, evil, evil, evil), standalone=standalone)
                      for kind in ("opened", "evidence", "severity", "acknowledged", "assigned", "comment",
                                   "resolved", "false_positive", "reopened")
                      for standalone in (False, True)),
                    digest_message([view] * 60)]:
        assert_within_limits(message.blocks)
        for kind, text in texts(message.blocks):
            if kind == "mrkdwn":
                assert_safe_mrkdwn(text)
            assert "\u202e" not in text
        assert_safe_mrkdwn(message.text)
        assert len(message.text) <= 3000
        json.dumps(message.blocks)  # plain JSON


# -- thread replies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "expected"), [
    (Change("evidence", 0, "pii-guard"), ["More evidence", "12 in all", "5,000 rows", "`contact`"]),
    (Change("severity", 0, "pii-guard", previous="medium"), ["Severity raised", "MEDIUM", "HIGH"]),
    (Change("acknowledged", 0, "bob"), ["Acknowledged by `bob`"]),
    (Change("comment", 0, "bob", text="checked with <!here> *HR*"),
     ["`bob` commented: `checked with &lt;!here&gt; *HR*`"]),
    (Change("resolved", 0, "bob", text="approved export"), ["Resolved", "`bob`", "`approved export`"]),
    (Change("false_positive", 0, "bob", text="test account"), ["false positive", "`test account`"]),
    (Change("reopened", 0, "pii-guard", previous="resolved"), ["Reopened", "new evidence", "resolved"]),
])
def test_change_messages(change: Change, expected: list[str]) -> None:
    view = incident_view(assignee="carol")
    message = change_message(view, change)
    assert_within_limits(message.blocks)
    body = "\n".join(t for _, t in texts(message.blocks))
    for item in expected:
        assert item in body, item
    assert "INC-42" in message.text


def test_assigned_names_the_assignee() -> None:
    message = change_message(incident_view(assignee="carol"), Change("assigned", 0, "bob"))
    assert "Assigned to `carol` by `bob`" in message.blocks[0]["text"]["text"]


def test_standalone_change_names_the_incident() -> None:
    message = change_message(incident_view(), Change("acknowledged", 0, "bob"), standalone=True)
    body = "\n".join(t for _, t in texts(message.blocks))
    assert "`INC-42`" in body
    assert "`bulk-export`" in body
    assert "alice read 5000 rows" in body
    assert "INC-42" in message.text


# -- digest -----------------------------------------------------------------------------------------------


def test_digest_lists_one_line_per_incident() -> None:
    views = [incident_view(id=f"INC-{i}", user=f"user{i}", severity=sev)
             for i, sev in enumerate(["low", "medium", "high", "critical"])]
    message = digest_message(views)
    assert_within_limits(message.blocks)
    assert message.blocks[0]["text"]["text"] == "4 new pii-guard incidents"
    body = "\n".join(t for _, t in texts(message.blocks))
    for i, label in enumerate(["LOW", "MEDIUM", "HIGH", "CRITICAL"]):
        line = next(line for line in body.splitlines() if f"`INC-{i}`" in line)
        assert label in line
        assert "`bulk-export`" in line
        assert f"`user{i}`" in line
        assert "5,000 rows" in line
        assert f"INC-{i}" in message.text
    assert "more not listed" not in body


def test_digest_is_capped_at_slacks_limits_and_counts_the_rest() -> None:
    views = [incident_view(id=f"INC-{i}", user="u" * 300 + str(i), rule_id="r" * 300) for i in range(500)]
    message = digest_message(views)
    assert_within_limits(message.blocks)
    assert len(message.blocks) == MAX_BLOCKS
    body = "\n".join(t for _, t in texts(message.blocks))
    listed = sum(1 for line in body.splitlines() if line.startswith(":large_orange_circle:"))
    assert 0 < listed < 500
    assert f"+{500 - listed:,} more not listed here" in body
    assert len(message.text) <= 3000
