"""The Jira notifier against a local fake Jira (a real HTTP server speaking REST API v2): the create /
comment / transition flow, wiki-markup escaping of untrusted text, finding earlier deliveries after a crash,
and every failure mapped to Retry or Failed without a credential in sight."""

from __future__ import annotations

import base64
import logging
import re
import socket
import time
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pii_guard.config.models import JiraConfig
from pii_guard.config.secrets import Secret
from pii_guard.notify.base import Delivered, Failed, Retry
from pii_guard.notify.jira import JiraNotifier, wiki_block, wiki_escape, wiki_plain
from tests.notify_peers.conftest import MakeNote
from tests.notify_peers.fake_jira import PROJECT, TOKEN, USER, Comment, FakeJira

BASIC = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


def jira(fake: FakeJira, *, user: str | None = USER, token: str | None = TOKEN, project: str = PROJECT,
         issue_type: str = "Task", transition: str = "Done", timeout_s: float = 5.0,
         priorities: Mapping[str, str] | None = None, url: str | None = None) -> JiraNotifier:
    config = JiraConfig(url=url or fake.url + "/", project=project, issue_type=issue_type, user=user,
                        resolve_transition=transition, timeout_s=timeout_s)
    return JiraNotifier(config, Secret(token) if token is not None else None, priorities=priorities)


def opened(fake: FakeJira, note: MakeNote, **kw: object) -> str:
    outcome = jira(fake).send(note("opened", 1, **kw), None)
    assert isinstance(outcome, Delivered)
    assert outcome.ref is not None
    return outcome.ref


# -- the flow ---------------------------------------------------------------------------------------------


def test_opened_creates_an_issue(fake_jira: FakeJira, note: MakeNote) -> None:
    outcome = jira(fake_jira).send(note("opened", 7), None)

    assert outcome == Delivered("SEC-1")
    issue = fake_jira.issues["SEC-1"]
    assert issue.fields["project"] == {"key": "SEC"}
    assert issue.fields["issuetype"] == {"name": "Task"}
    assert issue.fields["summary"] == "[pii-guard] INC-42 high: bob read 12000 rows of customers outside office hours"
    assert issue.fields["labels"] == ["pii-guard", "pii-guard-INC-42", "pii-guard-delivery-7"]
    assert "priority" not in issue.fields
    description = issue.fields["description"]
    assert "*pii-guard incident INC\\-42* (severity *high*)" in description
    assert "|User|bob|" in description
    assert "|Objects|db:crm.public.customers|" in description
    assert "|Exposure|3 events, 12000 rows, 1 objects|" in description
    assert "|Notification deadline|2024\\-05\\-04T12:00:00.000000Z|" in description
    assert "{{pii\\-guard incidents show INC\\-42}}" in description
    (create,) = fake_jira.served("POST", "/rest/api/2/issue")
    assert create.headers["Authorization"] == f"Basic {BASIC}"
    assert create.headers["Content-Type"] == "application/json"
    assert create.headers["Accept"] == "application/json"
    assert create.headers["User-Agent"].startswith("pii-guard/")


def test_bearer_token_without_a_user(fake_jira: FakeJira, note: MakeNote) -> None:
    assert jira(fake_jira, user=None).send(note(), None) == Delivered("SEC-1")
    assert fake_jira.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_priority_from_severity(fake_jira: FakeJira, note: MakeNote) -> None:
    assert jira(fake_jira, priorities={"high": "High"}).send(note(), None) == Delivered("SEC-1")
    assert fake_jira.issues["SEC-1"].fields["priority"] == {"name": "High"}


def test_changes_become_comments_ending_with_the_marker(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note)
    notifier = jira(fake_jira)
    assert notifier.send(note("acknowledged", 2, actor="alice", previous="open", status="acknowledged"),
                         key) == Delivered(key)
    assert notifier.send(note("assigned", 3, actor="alice", assignee="carol"), key) == Delivered(key)
    assert notifier.send(note("severity", 4, previous="medium", severity="critical"), key) == Delivered(key)
    assert notifier.send(note("comment", 5, actor="carol", text="called bob,\nhe says it was an export"),
                         key) == Delivered(key)
    bodies = [c.body for c in fake_jira.issues[key].comments]
    assert len(bodies) == 4
    assert bodies[0].startswith("*Acknowledged* by alice at 2024\\-05\\-01T12:00:00.000002Z")
    assert "Status open → acknowledged" in bodies[0]
    assert "Assignee: carol" in bodies[1]
    assert "Severity medium → *critical*" in bodies[2]
    assert "{quote}\ncalled bob,\nhe says it was an export\n{quote}" in bodies[3]
    for outbox_id, body in zip((2, 3, 4, 5), bodies, strict=True):
        assert body.splitlines()[-1] == f"\\[pii\\-guard delivery {outbox_id}\\]"
        assert wiki_plain(body.splitlines()[-1]) == f"[pii-guard delivery {outbox_id}]"
    assert fake_jira.issues[key].status == "To Do"


@pytest.mark.parametrize("kind", ["resolved", "false_positive"])
def test_resolving_comments_and_transitions(fake_jira: FakeJira, note: MakeNote, kind: str) -> None:
    key = opened(fake_jira, note)
    outcome = jira(fake_jira).send(note(kind, 2, actor="alice", text="approved export", status=kind), key)
    assert outcome == Delivered(key)
    issue = fake_jira.issues[key]
    assert issue.status == "Done"
    assert len(issue.comments) == 1
    assert "approved export" in issue.comments[0].body
    assert [(r.method, r.path) for r in fake_jira.requests[1:]] == [
        ("GET", f"/rest/api/2/issue/{key}/transitions"),
        ("POST", f"/rest/api/2/issue/{key}/transitions"),
        ("POST", f"/rest/api/2/issue/{key}/comment"),
    ]
    assert fake_jira.requests[2].json() == {"transition": {"id": "31"}}


def test_transition_name_is_case_insensitive_and_works_from_any_status(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note)
    fake_jira.issues[key].status = "In Progress"
    assert jira(fake_jira, transition="dONE").send(note("resolved", 2), key) == Delivered(key)
    assert fake_jira.issues[key].status == "Done"


def test_an_issue_already_done_is_only_commented(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note)
    fake_jira.issues[key].status = "Done"  # closed by hand: only "Reopen" is available now
    assert jira(fake_jira).send(note("resolved", 2), key) == Delivered(key)
    assert len(fake_jira.issues[key].comments) == 1
    assert fake_jira.served("POST", r".*/transitions") == []


def test_a_missing_transition_fails_naming_the_available_ones(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note)
    outcome = jira(fake_jira, transition="Close Issue").send(note("resolved", 2), key)
    assert outcome == Failed(f"jira: {key} has no transition named 'Close Issue'; available: 'Start Progress', "
                             "'Done' (set notify.jira.resolve_transition)")
    assert fake_jira.issues[key].comments == []
    assert fake_jira.issues[key].status == "To Do"


def test_a_retried_resolve_does_not_comment_twice(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note)
    notifier = jira(fake_jira)
    fake_jira.fail_next(1, 503, skip=2)  # the transition lands, the comment gets a 503
    assert isinstance(notifier.send(note("resolved", 2), key), Retry)
    assert fake_jira.issues[key].status == "Done"
    assert notifier.send(note("resolved", 2), key) == Delivered(key)
    assert len(fake_jira.issues[key].comments) == 1


def test_a_change_without_an_issue_fails(fake_jira: FakeJira, note: MakeNote) -> None:
    outcome = jira(fake_jira).send(note("comment", 2, text="hi"), None)
    assert isinstance(outcome, Failed)
    assert fake_jira.requests == []


def test_digest_opens_one_issue_for_all(fake_jira: FakeJira, note: MakeNote) -> None:
    notes = [note("opened", 11, id="INC-1", severity="medium"), note("opened", 12, id="INC-2", severity="critical")]
    notifier = jira(fake_jira, priorities={"critical": "Highest", "medium": "Medium"})
    assert notifier.digest_after is None
    assert notifier.digest(notes) == Delivered("SEC-1")
    issue = fake_jira.issues["SEC-1"]
    assert issue.fields["summary"] == "[pii-guard] 2 incidents opened: INC-1, INC-2"
    assert issue.fields["labels"] == ["pii-guard", "pii-guard-INC-1", "pii-guard-delivery-11", "pii-guard-INC-2",
                                      "pii-guard-delivery-12"]
    assert issue.fields["priority"] == {"name": "Highest"}
    assert notifier.find_delivered(notes[1]) == "SEC-1"


# -- escaping ---------------------------------------------------------------------------------------------

HOSTILE = "{code}rm -rf /{code} [link|http://evil.example] *bold* _it_ !img.png! [~admin] a\\b &lt; :) {color:red}"


def test_untrusted_text_is_escaped_in_the_description(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note, title=HOSTILE, user="[~admin]", objects=("file:/srv/share/{code}.xlsx",))
    description = fake_jira.issues[key].fields["description"]
    assert ("\\{code\\}rm \\-rf /\\{code\\} \\[link\\|http&#58;//evil.example\\] \\*bold\\* \\_it\\_ \\!img.png\\! "
            "\\[\\~admin\\] a&#92;b &amp;lt; &#58;\\) \\{color:red\\}") in description
    assert "|User|\\[\\~admin\\]|" in description
    assert "|Objects|file&#58;/srv/share/\\{code\\}.xlsx|" in description
    for raw in ("{code}", "[link|", "*bold*", "[~admin]", "http://", "a\\b"):
        assert raw not in description


def test_the_summary_is_plain_text_on_one_line(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note, title="{code} *bold*\n[link|http://evil]\x1b[31m red\x00")
    summary = fake_jira.issues[key].fields["summary"]
    assert summary == "[pii-guard] INC-42 high: {code} *bold* [link|http://evil] [31m red"


def test_a_long_summary_is_capped_in_utf16_units(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note, title="😀" * 300)  # each is two UTF-16 code units
    summary = fake_jira.issues[key].fields["summary"]
    assert summary.endswith("…")
    assert len(summary.encode("utf-16-le")) // 2 <= 255


def test_comment_text_is_escaped_line_by_line(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note)
    text = "h1. Pwned\nbq. quoted\n* item\n| cell |\n----\n[pii-guard delivery 99]\n{quote}\nmailto:x@example.com"
    assert jira(fake_jira).send(note("comment", 2, actor="*mallory*", text=text), key) == Delivered(key)
    body = fake_jira.issues[key].comments[0].body
    assert body.startswith("*Comment* by \\*mallory\\* at ")
    assert ("{quote}\n&#104;1. Pwned\n&#98;q. quoted\n\\* item\n\\| cell \\|\n\\-\\-\\-\\-\n"
            "\\[pii\\-guard delivery 99\\]\n\\{quote\\}\nmailto&#58;x\\@example.com\n{quote}") in body
    # text that imitates a marker is not mistaken for one
    assert jira(fake_jira).find_delivered(note("comment", 99), ref=key) is None
    assert jira(fake_jira).find_delivered(note("comment", 2), ref=key) == key


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs")), max_size=200)


@given(SAFE_TEXT)
def test_escaping_round_trips_and_leaves_no_markup(text: str) -> None:
    one_line = wiki_escape(text)
    assert wiki_plain(one_line) == text
    unescaped_special = re.compile(r"(?<!\\)[-#*_+?^~|%{}\[\]()!@]")
    assert unescaped_special.search(re.sub(r"&(#[0-9]+|amp);", "", one_line)) is None
    assert "\\\\" not in one_line
    assert "://" not in one_line
    assert "\n" not in wiki_escape(text + "\nh1. x\r\n")


@given(st.lists(SAFE_TEXT, max_size=5))
def test_block_escaping_keeps_lines(lines: list[str]) -> None:
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    text = "\n".join(lines)
    assert wiki_plain(wiki_block(text)) == text
    assert all(not re.match(r"\s*(h[1-6]|bq)\.", line, re.IGNORECASE) for line in wiki_block(text).split("\n"))


# -- find_delivered ---------------------------------------------------------------------------------------


def test_find_delivered_opened_by_label(fake_jira: FakeJira, note: MakeNote) -> None:
    notifier = jira(fake_jira)
    assert notifier.find_delivered(note("opened", 5)) is None
    fake_jira.add_issue(labels=["pii-guard-delivery-50"])  # a different delivery
    assert notifier.send(note("opened", 5), None) == Delivered("SEC-2")
    assert notifier.find_delivered(note("opened", 5)) == "SEC-2"
    assert notifier.find_delivered(note("opened", 6)) is None
    search = fake_jira.served("GET", "/rest/api/2/search")[-1]
    assert search.query["jql"] == ['labels = "pii-guard-delivery-6"']


def test_find_delivered_falls_back_to_the_new_search_endpoint(fake_jira: FakeJira, note: MakeNote) -> None:
    fake_jira.search_retired = True
    notifier = jira(fake_jira)
    assert notifier.send(note("opened", 5), None) == Delivered("SEC-1")
    assert notifier.find_delivered(note("opened", 5)) == "SEC-1"
    assert [r.path for r in fake_jira.requests[1:]] == ["/rest/api/2/search", "/rest/api/2/search/jql"]


def test_find_delivered_comment_by_marker_across_pages(fake_jira: FakeJira, note: MakeNote) -> None:
    key = opened(fake_jira, note)
    notifier = jira(fake_jira)
    fake_jira.issues[key].comments += [Comment(str(n), f"by hand {n}", "someone") for n in range(130)]
    assert notifier.send(note("comment", 200, text="late"), key) == Delivered(key)
    assert notifier.find_delivered(note("comment", 200), ref=key) == key
    assert notifier.find_delivered(note("comment", 201), ref=key) is None
    assert notifier.find_delivered(note("comment", 200)) is None  # no issue key, nothing to search


def test_find_delivered_says_none_when_jira_cannot_answer(fake_jira: FakeJira, note: MakeNote,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    key = opened(fake_jira, note)
    fake_jira.fail_next(2, 503)
    assert jira(fake_jira).find_delivered(note("opened", 1)) is None
    assert jira(fake_jira).find_delivered(note("comment", 2), ref=key) is None
    assert "may be sent again" in caplog.text


# -- failures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [USER, None])
def test_a_wrong_token_is_refused_for_good(fake_jira: FakeJira, note: MakeNote, user: str | None) -> None:
    outcome = jira(fake_jira, user=user, token="wrong-token-value").send(note(), None)
    assert isinstance(outcome, Failed)
    assert outcome.reason.startswith("jira creating the issue: authentication refused (HTTP 401)")
    assert "wrong-token-value" not in outcome.reason


def test_no_token_is_refused(fake_jira: FakeJira, note: MakeNote) -> None:
    outcome = jira(fake_jira, token=None).send(note(), None)
    assert isinstance(outcome, Failed)
    assert "authentication refused" in outcome.reason
    assert "Authorization" not in fake_jira.requests[0].headers


def test_forbidden_is_permanent_and_scrubbed(fake_jira: FakeJira, note: MakeNote) -> None:
    fake_jira.fail_next(1, 403, body={"errorMessages": [f"token {TOKEN} (Basic {BASIC}) may not create issues"],
                                      "errors": {}})
    outcome = jira(fake_jira).send(note(), None)
    assert isinstance(outcome, Failed)
    assert "HTTP 403" in outcome.reason
    assert "token <secret> (<secret>) may not create issues" in outcome.reason
    assert TOKEN not in outcome.reason
    assert BASIC not in outcome.reason


@pytest.mark.parametrize(("kw", "said"), [
    ({"project": "NOPE"}, "project: valid project is required"),
    ({"issue_type": "Epic Saga"}, "issuetype: valid issue type is required"),
    ({"priorities": {"high": "Urgent"}}, "priority: Could not find priority by name: Urgent"),
])
def test_validation_errors_are_permanent_and_summarised(fake_jira: FakeJira, note: MakeNote,
                                                        kw: dict[str, object], said: str) -> None:
    outcome = jira(fake_jira, **kw).send(note(), None)  # type: ignore[arg-type]
    assert isinstance(outcome, Failed)
    assert outcome.reason == f"jira creating the issue: HTTP 400: {said}"


def test_jira_error_text_is_cleaned_and_capped(fake_jira: FakeJira, note: MakeNote) -> None:
    fake_jira.fail_next(1, 400, body={"errorMessages": ["\x1b[2J" + "x" * 1000], "errors": {"summary": "bad\nline"}})
    outcome = jira(fake_jira).send(note(), None)
    assert isinstance(outcome, Failed)
    assert "\x1b" not in outcome.reason
    assert "\n" not in outcome.reason
    assert len(outcome.reason) < 400


def test_a_deleted_issue_fails_the_comment(fake_jira: FakeJira, note: MakeNote) -> None:
    outcome = jira(fake_jira).send(note("comment", 2, text="hello"), "SEC-99")
    assert isinstance(outcome, Failed)
    assert "HTTP 404" in outcome.reason
    assert "SEC-99 does not exist any more" in outcome.reason


def test_a_wrong_base_url_fails(fake_jira: FakeJira, note: MakeNote) -> None:
    outcome = jira(fake_jira, url=fake_jira.url + "/jira").send(note(), None)
    assert isinstance(outcome, Failed)
    assert "no Jira REST API" in outcome.reason


def test_429_is_retried_after_what_jira_says(fake_jira: FakeJira, note: MakeNote) -> None:
    fake_jira.fail_next(1, 429, retry_after="30")
    outcome = jira(fake_jira).send(note(), None)
    assert isinstance(outcome, Retry)
    assert outcome.after_s == 30.0
    assert "HTTP 429" in outcome.reason
    assert jira(fake_jira).send(note(), None) == Delivered("SEC-1")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(fake_jira: FakeJira, note: MakeNote, status: int) -> None:
    key = opened(fake_jira, note)
    fake_jira.fail_next(1, status)
    outcome = jira(fake_jira).send(note("resolved", 2), key)
    assert isinstance(outcome, Retry)
    assert f"HTTP {status}" in outcome.reason
    assert fake_jira.issues[key].comments == []


def test_a_hanging_jira_is_retried_in_about_the_timeout(fake_jira: FakeJira, note: MakeNote) -> None:
    fake_jira.hang_next(1, seconds=5)
    started = time.monotonic()
    outcome = jira(fake_jira, timeout_s=0.5).send(note(), None)
    elapsed = time.monotonic() - started
    assert isinstance(outcome, Retry)
    assert "no answer within 0.5s" in outcome.reason
    assert 0.4 <= elapsed < 1.5


@pytest.fixture
def closed_port() -> int:
    """A port nobody listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_retried(closed_port: int, note: MakeNote) -> None:
    config = JiraConfig(url=f"http://127.0.0.1:{closed_port}", project=PROJECT, user=USER)
    outcome = JiraNotifier(config, Secret(TOKEN)).send(note(), None)
    assert outcome == Retry(f"jira creating the issue: http://127.0.0.1:{closed_port}: connection refused")


def test_no_credential_in_any_reason_or_log_record(fake_jira: FakeJira, note: MakeNote,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = jira(fake_jira, timeout_s=0.3)
    echo = {"errorMessages": [f"Authorization: Basic {BASIC}", TOKEN], "errors": {"token": TOKEN}}
    reasons: list[str] = []
    for status in (400, 401, 403, 404, 429, 500):
        fake_jira.fail_next(1, status, body=echo)
        outcome = notifier.send(note(), None)
        assert not isinstance(outcome, Delivered)
        reasons.append(outcome.reason)
    fake_jira.hang_next(1, seconds=2)
    outcome = notifier.send(note(), None)
    assert isinstance(outcome, Retry)
    reasons.append(outcome.reason)
    fake_jira.fail_next(1, 500, body=echo)
    assert notifier.find_delivered(note()) is None
    key = opened(fake_jira, note)
    fake_jira.fail_next(1, 400, body=echo)
    outcome = notifier.send(note("resolved", 2), key)
    assert isinstance(outcome, Failed)
    reasons.append(outcome.reason)
    records = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records if r.name.startswith("pii_guard"))
    assert records
    for text in (*reasons, records):
        assert TOKEN not in text
        assert BASIC not in text
