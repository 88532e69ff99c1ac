"""JUnit XML report for CI dashboards.

One ``<testsuite name="enricher links">`` inside ``<testsuites>``; one ``<testcase>`` per link
(``name`` = the URL, or the value as written for never-fetched slots; ``classname`` =
``enricher.<status>`` so dashboards group by status; ``time`` = elapsed seconds). A link whose
status is in ``fail_on`` has a ``<failure type="<status>">`` naming the reason and the citing
records; a ``skipped`` link not in ``fail_on`` has ``<skipped/>``; every other link passes.
So ``tests`` = the model's total plus the errored cases, ``failures`` = the links failing
per ``fail_on``, ``skipped`` = the skipped links not failing, ``errors`` = the errored cases:
an aborted run (outage, interruption) adds one ``<testcase name="run">`` with an ``<error
type="aborted">``, and each record error (a record that could not be read or written) one
``<testcase name="<file>:<line>" classname="enricher.record_error">`` with an ``<error
type="record_error">`` carrying its message, so no dashboard shows a cut run, or a run with
unreadable records, as passing. Record errors (again) and changes go to the suite's
``<system-out>``; ``timestamp`` is the run's start (left out when there is none).

Escaping is ElementTree's; characters XML 1.0 cannot carry (most C0 controls) and bidi controls
are shown as escapes first.

This module renders only; every number and list comes from ``enricher.report.model``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import TextIO

from enricher.config import DEFAULT_FAIL_ON
from enricher.models import LinkStatus, RunResult, shown_name
from enricher.report.model import (
    CHANGE_KINDS,
    Changes,
    Entry,
    change_urls,
    entries,
    fail_statuses,
    origin_text,
    printable,
    totals,
)

SUITE_NAME = "enricher links"


def x(text: str, *, lines: bool = False) -> str:
    """Text XML can carry (and a reader can trust): controls and bidi shown as escapes;
    ``lines`` keeps newlines and tabs (element text)."""
    return printable(text, keep_newlines=lines)


def _failure_text(e: Entry) -> str:
    """The reason, then one line per citing record: each value is escaped on its own, so a
    newline in a file name or field shows as ``\\x0a`` and never splits the list."""
    head = x(f"{e.status.value}: {e.reason}")
    if e.result is not None and e.result.http_status is not None:
        head += f" (HTTP {e.result.http_status})"
    cited = "\n".join(f"  {x(origin_text(o))}" for o in e.sources)
    return f"{head}\ncited by:\n{cited}" if cited else head


def _system_out(run: RunResult, changes: Changes | None) -> str:
    lines = [f"record error: {err}" for err in run.record_errors]
    if run.aborted:
        lines.insert(0, f"run aborted: {run.aborted}")
    if changes is not None:
        for kind in CHANGE_KINDS:
            lines += [f"{kind}: {url}" for url in change_urls(changes, kind)]
    return "\n".join(lines)


def write_junit(
    run: RunResult,
    stream: TextIO,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> None:
    """The report, written one test case at a time: a whole tree (and its text) of 190,000
    links took 0.6 KB per link at the end of the run, more than the run itself."""
    failing = fail_statuses(fail_on)
    t = totals(run, fail_on)
    all_entries = entries(run)
    skipped = sum(
        1 for e in all_entries if e.status is LinkStatus.SKIPPED and e.status not in failing
    )
    seconds = f"{t.elapsed_s:.3f}" if t.elapsed_s is not None else "0"
    # one errored case per abort and per record error: CI never shows either as green
    errors = (1 if run.aborted else 0) + t.record_errors
    counts = {
        "tests": str(t.links + errors),
        "failures": str(t.failing),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": seconds,
    }
    stamp = {"timestamp": x(run.started_at)} if run.started_at else {}
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(f"{_open('testsuites', {'name': 'enricher', **counts})}\n")
    stream.write(f"  {_open('testsuite', {'name': SUITE_NAME, **stamp, **counts})}\n")
    for case in _cases(run, all_entries, failing, seconds):
        ET.indent(case, level=2)
        stream.write(f"    {ET.tostring(case, encoding='unicode')}\n")
    out = _system_out(run, changes)
    if out:
        element = ET.Element("system-out")
        element.text = x(out, lines=True)
        stream.write(f"    {ET.tostring(element, encoding='unicode')}\n")
    stream.write("  </testsuite>\n</testsuites>\n")


def _open(tag: str, attributes: dict[str, str]) -> str:
    """The start tag, its attributes escaped as ElementTree escapes them."""
    return ET.tostring(ET.Element(tag, attributes), encoding="unicode").removesuffix(" />") + ">"


def _cases(run: RunResult, all_entries: Iterable[Entry], failing: frozenset[LinkStatus],
           seconds: str) -> Iterator[ET.Element]:
    if run.aborted:
        case = ET.Element("testcase", {"name": "run", "classname": "enricher.run",
                                       "time": seconds})
        ET.SubElement(case, "error", {"type": "aborted",
                                      "message": x(f"run aborted: {run.aborted}")})
        yield case
    for err in run.record_errors:
        where = f"{err.file}:{err.line}" if err.line else err.file
        case = ET.Element("testcase", {"name": x(shown_name(where)),
                                       "classname": "enricher.record_error", "time": "0.000"})
        error = ET.SubElement(case, "error", {"type": "record_error",
                                              "message": x(err.message)})
        error.text = x(str(err))
        yield case
    for e in all_entries:
        elapsed = e.result.elapsed_ms / 1000 if e.result is not None else 0.0
        case = ET.Element("testcase", {"name": x(e.label),
                                       "classname": f"enricher.{e.status.value}",
                                       "time": f"{elapsed:.3f}"})
        if e.status in failing:
            failure = ET.SubElement(
                case, "failure", {"type": e.status.value, "message": x(f"{e.status}: {e.reason}")}
            )
            failure.text = _failure_text(e)
        elif e.status is LinkStatus.SKIPPED:
            ET.SubElement(case, "skipped", {"message": x(e.reason)})
        yield case
