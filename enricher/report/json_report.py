"""The whole-run JSON report: meta, counts, totals, records, record errors, results, changes.

``results`` holds exactly the JSON Lines contract lines (``enricher.report.jsonl``), one per
line of the file; the shape is ``enricher/schema/run.schema.json``. ``options`` is made
JSON-safe here (sets become sorted lists, unknown values their ``str``).

This module renders only; counts come from ``enricher.report.model``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, TextIO

from enricher.config import DEFAULT_FAIL_ON
from enricher.models import RunResult
from enricher.report.jsonl import dumps_line, iter_lines, lines
from enricher.report.model import (
    CHANGE_KINDS,
    Changes,
    counts_by_status,
    fail_statuses,
    totals,
)

#: Bumped when a key is renamed or removed (never for additions).
REPORT_VERSION = 1


def jsonable(value: object) -> Any:
    """A JSON-ready copy of an option value."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def changes_to_dict(changes: Changes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in CHANGE_KINDS:
        if kind == "still_dead":
            out[kind] = [
                {"url": s.url, "since": s.since, "days": s.days} for s in changes.still_dead
            ]
        else:
            out[kind] = list(getattr(changes, kind))
    return out


def run_to_dict(
    run: RunResult,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
    results: bool = True,
) -> dict[str, Any]:
    """The whole-run document; with ``results=False`` the results list is left empty (the
    writer streams it)."""
    t = totals(run, fail_on)
    doc: dict[str, Any] = {
        "version": REPORT_VERSION,
        "meta": {
            "command": run.command,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "options": jsonable(run.options),
            "aborted": run.aborted,
            "fail_on": sorted(s.value for s in fail_statuses(fail_on)),
        },
        "counts": {s.value: n for s, n in counts_by_status(run).items()},
        "totals": {
            "links": t.links,
            "urls": t.urls,
            "sources": t.sources,
            "failing": t.failing,
            "elapsed_s": t.elapsed_s,
            "requests": t.requests,
            "bytes_read": t.bytes_read,
        },
        "records": {
            "read": run.records.read,
            "failed": run.records.failed,
            "changed": run.records.changed,
            "unchanged": run.records.unchanged,
        },
        "record_errors": [
            {"file": e.file, "line": e.line, "message": e.message} for e in run.record_errors
        ],
        "results": lines(run, changes) if results else [],
    }
    if changes is not None:
        doc["changes"] = changes_to_dict(changes)
    return doc


def write_json(
    run: RunResult,
    stream: TextIO,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> None:
    """Write the document: one top-level key per line and one result per line (readable,
    greppable, and fast: an indenting ``json.dump`` is pure Python and ten times slower)."""
    doc = run_to_dict(run, fail_on=fail_on, changes=changes, results=False)
    stream.write("{\n")
    last = len(doc) - 1
    for i, (key, value) in enumerate(doc.items()):
        end = ",\n" if i < last else "\n"
        if key == "results":
            stream.write(' "results": [')
            wrote = False
            for line in iter_lines(run, changes):
                stream.write(",\n  " if wrote else "\n  ")
                stream.write(dumps_line(line))
                wrote = True
            stream.write("\n ]" + end if wrote else "]" + end)
        else:
            stream.write(f" {json.dumps(key)}: {dumps_line(value)}{end}")
    stream.write("}\n")
