"""Markdown report for tickets and pull requests (GitHub-flavoured tables).

Sections: run line, counts table (every status, zeros included, and a total), failing links
(dead, plus every other status in ``fail_on``) with the records and fields citing them (at most
``MAX_SOURCES`` per link, then "and N more"), redirects worth updating, top failing hosts,
record errors, and changes when a change report is given.

Escaping: URLs, raw values, paths and fields go in code spans (literal in Markdown, so
``<script>`` stays text); other text has Markdown punctuation backslash-escaped. Control and
bidi characters become visible escapes; newlines become spaces; ``|`` is escaped in tables;
a code span is padded where CommonMark would otherwise eat a backtick or a space of the value.

This module renders only; every number and list comes from ``enricher.report.model``.
"""

from __future__ import annotations

import re
from typing import TextIO

from enricher.config import DEFAULT_FAIL_ON
from enricher.models import LinkStatus, Origin, RunResult
from enricher.report.model import (
    CHANGE_KINDS,
    STATUS_ORDER,
    Changes,
    Entry,
    change_urls,
    counts_by_status,
    fail_statuses,
    links_with_status,
    printable,
    redirects_worth_updating,
    run_line,
    top_failing_hosts,
    totals,
)

MAX_SOURCES = 10
TOP_HOSTS = 10

#: Characters with a meaning inside a line (``-``, ``+``, ``#`` only matter at a line start,
#: which our text never is; ``(`` only after ``]``, which is escaped).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|&~$])")
_BACKTICKS = re.compile("`+")


def _flat(text: str) -> str:
    return printable(text.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))


def md_text(text: str) -> str:
    """Plain text with every Markdown-significant character backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", _flat(text))


def md_code(text: str, *, table: bool = False) -> str:
    """A code span showing ``text`` literally (``|`` escaped for tables); a line break
    shows as ``\\x0a``, as in the summary (a file name is never changed into another)."""
    body = printable(text)
    if not body:
        return "*(empty)*"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(body)), default=0) + 1)
    # CommonMark strips one space from each end of a span that starts and ends with one (and
    # is not all spaces): pad, so a value written with spaces around it keeps them
    padded = body.startswith(" ") and body.endswith(" ") and bool(body.strip(" "))
    if body.startswith("`") or body.endswith("`") or padded:
        body = f" {body} "
    if table:
        body = body.replace("|", "\\|")
    return f"{fence}{body}{fence}"


def _origin(o: Origin) -> str:
    line = f":{o.line}" if o.line else ""
    return f"{md_code(o.file)}{line} {md_code(o.field)}"


def _verdict(e: Entry) -> str:
    http = ""
    if e.result is not None and e.result.http_status is not None:
        http = f" (HTTP {e.result.http_status})"
    return f"{md_code(e.reason)}{http}"


def _links_section(title: str, found: tuple[Entry, ...]) -> list[str]:
    out = [f"## {title} ({len(found)})", ""]
    for e in found:
        out.append(f"- {md_code(e.label)} {_verdict(e)}")
        for o in e.sources[:MAX_SOURCES]:
            out.append(f"  - {_origin(o)}")
        if len(e.sources) > MAX_SOURCES:
            out.append(f"  - and {len(e.sources) - MAX_SOURCES} more")
    if found:  # an empty section already ends with its heading's blank line
        out.append("")
    return out


def _changes(changes: Changes) -> list[str]:
    out = ["## Changes since the previous run", ""]
    ages = {s.url: s for s in changes.still_dead}
    for kind in CHANGE_KINDS:
        urls = change_urls(changes, kind)
        out.append(f"### {kind.replace('_', ' ').capitalize()} ({len(urls)})")
        out.append("")
        for url in urls:
            age = ""
            if url in ages:
                age = f" since {md_text(ages[url].since)} ({ages[url].days:.1f} days)"
            out.append(f"- {md_code(url)}{age}")
        if urls:
            out.append("")
    return out


def render_markdown(
    run: RunResult,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> str:
    t = totals(run, fail_on)
    out = ["# Link report", ""]
    out.append(run_line(run, t, md_code, md_text))
    out.append("")
    if run.aborted:
        out += [f"**Run aborted:** {md_code(run.aborted)}", ""]
    out += ["## Counts", "", "| Status | Links |", "| --- | ---: |"]
    out += [f"| {s.value} | {n} |" for s, n in counts_by_status(run).items()]
    out += [f"| **total** | **{t.links}** |", ""]
    failing = fail_statuses(fail_on) | {LinkStatus.DEAD}
    for status in STATUS_ORDER:
        if status in failing:
            out += _links_section(
                f"{status.value.capitalize()} links", links_with_status(run, status)
            )
    redirects = redirects_worth_updating(run)
    out += [f"## Redirects worth updating ({len(redirects)})", ""]
    if redirects:
        out += ["| URL | Redirects to | Cited by |", "| --- | --- | ---: |"]
        for e in redirects:
            target = e.result.final_url if e.result and e.result.final_url else ""
            out.append(
                f"| {md_code(e.label, table=True)} | {md_code(target, table=True)} "
                f"| {len(e.sources) or '–'} |"  # no sources: a report from the history
            )
        out.append("")
    hosts = top_failing_hosts(run, TOP_HOSTS)
    out += [f"## Top failing hosts ({len(hosts)})", ""]
    if hosts:
        out += ["| Host | Failing | Of | Statuses |", "| --- | ---: | ---: | --- |"]
        for h in hosts:
            by = ", ".join(f"{s.value} {n}" for s, n in h.by_status)
            out.append(f"| {md_code(h.host, table=True)} | {h.failing} | {h.total} | {by} |")
        out.append("")
    out += [f"## Record errors ({len(run.record_errors)})", ""]
    for err in run.record_errors:
        where = f"{err.file}:{err.line}" if err.line else err.file
        out.append(f"- {md_code(where)} {md_code(err.message)}")  # a record's own text:
        # in a code span no @mention, #reference or bare URL becomes live on GitHub
    if run.record_errors:
        out.append("")
    if changes is not None:
        out += _changes(changes)
    return "\n".join(out).rstrip("\n") + "\n"


def write_markdown(
    run: RunResult,
    stream: TextIO,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> None:
    stream.write(render_markdown(run, fail_on=fail_on, changes=changes))
