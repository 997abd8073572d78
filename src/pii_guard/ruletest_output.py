"""How `rules test` reads on a terminal."""

from __future__ import annotations

from pathlib import Path

import click

from pii_guard.model import format_timestamp
from pii_guard.policy.ruletest import RuleTestReport
from pii_guard.terminal import printable


def print_rule_test(report: RuleTestReport, rulefile: Path, sample: Path, verbose: bool) -> None:
    stats = report.stats
    kind = "rules" if report.sigma else "policy"
    click.echo(f"{kind} {rulefile}, sample {sample}: {stats.lines} line(s), {stats.events} event(s), "
               f"{stats.failed} not parsed")
    for dead in report.failures[:10]:
        click.echo(printable(f"  not parsed at offset {dead.offset}: {dead.reason}"))
    if verbose:
        click.echo("\nEvents:")
        for r in report.results:
            ev = r.event.event
            cats = ", ".join(r.event.data.categories) or "unclassified"
            click.echo(printable(f"  line {r.line}: {format_timestamp(ev.time_us)} {ev.user or '-'} {ev.action} "
                                 f"{ev.object or '-'} [{cats}] zone {r.zone or '-'} {ev.outcome}"))
            for m in r.matches:
                click.echo(printable(f"    MATCH {m.rule_id}: {m.sentence}"))
            for label, why in r.misses.items():
                click.echo(printable(f"    no    {label}: {why}"))
    click.echo("\nMatches:" if report.matches else "\nMatches: none")
    for line, m in report.matches:
        attempt = " (attempt)" if m.attempt else ""
        click.echo(printable(f"  line {line}: {m.rule_id} [{m.kind}, {m.severity}{attempt}] {m.sentence}"))
    click.echo("\nRules:")
    width = max((len(label) for label in report.labels), default=10)
    for label in report.labels:
        hits = sum(n for rule, n in report.matched.items() if rule == label or rule.startswith(label + ":"))
        reasons = report.miss_reasons.get(label)
        why = ""
        if reasons:
            top, n = reasons.most_common(1)[0]
            why = printable(f"; not matched: {sum(reasons.values())} event(s) in scope, e.g. {top} ({n})")
        click.echo(f"  {label:<{width}}  {hits} match(es){why}")
    if report.unexercised:
        # branches: a rule's plain id is its main case (`bulk-export-single`), `id:case` its others
        # (`bulk-export-single:unknown-volume`); a rule can match by one and leave the other untried
        click.echo(f"\nBranches never exercised by this sample (rule id = its main case, id:case = the others): "
                   f"{', '.join(report.unexercised)}")
