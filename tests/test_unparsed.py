"""Dead-letter masking (`pii_guard.unparsed`): quoted values and numbers masked, timestamps and client
addresses outside quotes kept so that an operator can find the record."""

from __future__ import annotations

import pytest

from pii_guard.parsers.sqlmask import SqlMasker
from pii_guard.unparsed import mask_unparsed

MASK = SqlMasker("mysql")


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        # real lines that are dead letters: nginx escape=none with a quote in a header, an smbd debug header
        ('127.0.0.1 -  [30/Nov/2026:00:14:18 -0330] "GET /pub/index.html?email=jane@example.com HTTP/1.1" 200 7 '
         '"x"y" "tab\there"',
         "127.0.0.1 -  [30/Nov/2026:00:14:18 -0330] '?' ? ? '?'y'?'tab\there'?'"),
        ("2026-11-30T03:44:54.050674+00:00 vm smbd_audit: [2026/11/30 03:44:54.050639,  0] "
         "../../source3/modules/vfs_full_audit.c:566(init_bitmap)",
         "2026-11-30T03:44:54.050674+00:00 vm smbd_audit: [2026/11/30 03:44:54.050639,  ?] "
         "../../source3/modules/vfs_full_audit.c:?(init_bitmap)"),
        ("Nov 30 04:49:42 vm sshd[30825]: garbage from 2001:db8::7 port 51234 card 4111111111111111",
         "Nov 30 04:49:42 vm sshd[?]: garbage from 2001:db8::7 port ? card ?"),
        # inside a quoted value a time or an address is data: masked with it
        ("20261127 16:21:56,vm,alice,10.0.0.7,11,22,QUERY,crm,'SELECT 1 WHERE at = \\'2026-01-01 10:00:00\\' "
         "AND ip = \\'10.9.8.7\\'',x",
         "20261127 16:21:56,vm,alice,10.0.0.7,?,?,QUERY,crm,'?',x"),
    ],
)  # fmt: skip
def test_times_and_addresses_outside_quotes_are_kept(line: str, kept: str) -> None:
    assert mask_unparsed(line, MASK) == kept
    assert MASK(line) != kept  # masked whole, they were not


def test_what_is_no_address_nor_time_is_masked() -> None:
    line = "odd 1.2.3.999 at 12:34:56 or 2001:db8::7::1"
    assert mask_unparsed(line, MASK) == MASK(line)


def test_forged_placeholders_mask_the_whole_line() -> None:
    line = "10.0.0.7 \ue000\ue100\ue001 '4111111111111111'"
    assert mask_unparsed(line, MASK) == MASK(line)
    assert "4111111111111111" not in MASK(line)
