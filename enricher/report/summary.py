"""The end-of-run summary, printed with rich into a console the caller gives.

Shows: a table of links by status (with a total), the dead links (and those of every other
``fail_on`` status there are) with the records and fields citing them (at most ``max_links``
links and ``max_sources`` sources each, then "and N more"), the top failing hosts (dead,
blocked, error and timeout links, whatever ``fail_on`` says), redirects worth updating, record
errors, changes (when a change report is given), and run time, requests and bytes. Whether
colour and ANSI codes are used is the console's decision (a non-terminal or no-colour
console gets none); link lines are printed without wrapping so a URL stays whole and
greppable in logs.

All values go in as ``rich.text.Text`` (never as markup), after control and bidi characters
are made visible, so a hostile title or URL cannot style or move the terminal.

This module renders only; every number and list comes from ``enricher.report.model``.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from enricher.config import DEFAULT_FAIL_ON
from enricher.models import LinkStatus, RunResult
from enricher.report.model import (
    CHANGE_KINDS,
    STATUS_ORDER,
    Changes,
    Entry,
    change_urls,
    counted,
    counts_by_status,
    fail_statuses,
    human_bytes,
    human_seconds,
    links_with_status,
    origin_text,
    printable,
    redirects_worth_updating,
    top_failing_hosts,
    totals,
)

STATUS_STYLE: dict[str, str] = {
    "ok": "green",
    "redirected": "cyan",
    "dead": "bold red",
    "blocked": "yellow",
    "error": "magenta",
    "timeout": "yellow",
    "invalid": "dim",
    "skipped": "dim",
}


def _t(text: str, style: str = "") -> Text:
    return Text(printable(text), style=style)


def _heading(console: Console, title: str) -> None:
    console.print()
    console.print(Text(title, style="bold"))


def _more(console: Console, n: int, what: str, indent: str) -> None:
    if n > 0:
        console.print(Text(f"{indent}and {n} more {what}", style="dim"), soft_wrap=True)


def _link_line(e: Entry) -> Text:
    line = Text("  ")
    line.append_text(_t(e.label, "bold"))
    line.append("  ")
    line.append_text(_t(e.reason, STATUS_STYLE.get(e.status.value, "")))
    if e.result is not None and e.result.http_status is not None:
        line.append(f" (HTTP {e.result.http_status})")
    return line


def print_summary(
    run: RunResult,
    console: Console,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
    max_links: int = 20,
    max_sources: int = 3,
    top_hosts: int = 5,
) -> None:
    t = totals(run, fail_on)
    if run.aborted:
        console.print(_t(f"Run aborted: {run.aborted} (partial results)", "bold red"))

    table = Table(title="Links by status", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("status")
    table.add_column("links", justify="right")
    table.add_column("share", justify="right")
    for status, n in counts_by_status(run).items():
        share = f"{100 * n / t.links:.1f}%" if t.links else "-"
        table.add_row(Text(status.value, style=STATUS_STYLE[status.value]), str(n), share)
    table.add_row(Text("total", style="bold"), Text(str(t.links), style="bold"), "")
    console.print(table)

    # dead links always; the other --fail-on statuses when there are any (the last line
    # counts them as failing: they are named here, not only in --report)
    for status in (LinkStatus.DEAD, *sorted(fail_statuses(fail_on) - {LinkStatus.DEAD},
                                            key=STATUS_ORDER.index)):
        listed = links_with_status(run, status)
        if not listed and status is not LinkStatus.DEAD:
            continue
        _heading(console, f"{status.value.capitalize()} links ({len(listed)})")
        for e in listed[:max_links]:
            console.print(_link_line(e), soft_wrap=True)
            for o in e.sources[:max_sources]:
                console.print(_t(f"      {origin_text(o)}"), soft_wrap=True)
            _more(console, len(e.sources) - max_sources, "citing fields", "      ")
        _more(console, len(listed) - max_links, f"{status.value} links (see --report)", "  ")

    hosts = top_failing_hosts(run, top_hosts)
    if hosts:
        ht = Table(title="Top failing hosts", box=box.SIMPLE_HEAD, title_justify="left")
        ht.add_column("host")
        ht.add_column("failing", justify="right")
        ht.add_column("of", justify="right")
        ht.add_column("statuses")
        for fh in hosts:
            by = ", ".join(f"{s.value} {n}" for s, n in fh.by_status)
            ht.add_row(_t(fh.host), str(fh.failing), str(fh.total), by)
        console.print()
        console.print(ht)

    redirects = redirects_worth_updating(run)
    if redirects:
        _heading(console, f"Redirects worth updating ({len(redirects)})")
        for e in redirects[:max_links]:
            target = e.result.final_url if e.result is not None and e.result.final_url else ""
            console.print(_t(f"  {e.label}"), soft_wrap=True)
            cited = f"  (cited {len(e.sources)}x)" if e.sources else ""  # none: from history
            console.print(_t(f"    -> {target}{cited}", "cyan"), soft_wrap=True)
        _more(console, len(redirects) - max_links, "redirects", "  ")

    if run.record_errors:
        _heading(console, f"Record errors ({len(run.record_errors)})")
        for err in run.record_errors[:max_links]:
            console.print(_t(f"  {err}", "red"), soft_wrap=True)
        _more(console, len(run.record_errors) - max_links, "record errors", "  ")

    if changes is not None and not changes.empty:
        _heading(console, "Changes since the previous run")
        ages = {s.url: s for s in changes.still_dead}
        for kind in CHANGE_KINDS:
            urls = change_urls(changes, kind)
            if not urls:
                continue
            console.print(Text(f"  {kind.replace('_', ' ')} ({len(urls)})", style="bold"))
            for url in urls[:max_links]:
                age = f"  ({ages[url].days:.1f} days)" if url in ages else ""
                console.print(_t(f"    {url}{age}"), soft_wrap=True)
            _more(console, len(urls) - max_links, "links", "    ")

    console.print()
    names = ",".join(sorted(s.value for s in fail_statuses(fail_on)))
    if run.command == "report":  # from the history: no run of its own to time
        last = f" · last run finished {run.finished_at}" if run.finished_at else ""
        line = (f"History {run.options.get('state', '')}{last} · "
                f"{counted(t.failing, 'link')} failing (fail-on {names})")
    else:
        line = (f"Run time {human_seconds(t.elapsed_s)} · {counted(t.requests, 'request')} · "
                f"{human_bytes(t.bytes_read)} · {counted(run.records.read, 'record')} read, "
                f"{run.records.changed} changed, {run.records.failed} failed · "
                f"{counted(t.failing, 'link')} failing (fail-on {names})")
    console.print(_t(line), soft_wrap=True)

