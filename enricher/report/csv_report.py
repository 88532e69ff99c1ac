"""CSV report: one row per (link, citing source).

Columns are ``COLUMNS``. A link cited by three fields is three rows; a link with no source
(not expected, but possible) is one row with empty source columns, so the distinct
(url, raw, status, reason) tuples across rows are exactly the links counted by the model.
``line`` is empty when unknown; ``change`` holds the change kinds (``;``-separated) when a
change report was given, else it is empty.

Cells hold the exact data, but for a file name's undecodable bytes (lone surrogates, which
UTF-8 cannot carry): those are written ``\xff``, as the other human-facing reports show them.

Spreadsheet safety: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
gets a leading ``'`` so spreadsheet programs show it instead of evaluating it (OWASP
"CSV injection"). Rows end with CR LF (RFC 4180), so a cell holding a CR or LF is quoted;
fields are quoted only when needed.

This module renders only; rows come from ``enricher.report.model``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import TextIO

from enricher.config import DEFAULT_FAIL_ON
from enricher.models import Origin, RunResult
from enricher.report.model import Changes, change_tags, entries, printable

COLUMNS: tuple[str, ...] = (
    "url",
    "raw",
    "status",
    "reason",
    "http_status",
    "final_url",
    "file",
    "field",
    "line",
    "title",
    "kind",
    "change",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str | int | None) -> str:
    """One CSV cell: '' for None, numbers as digits, formula-like text defused."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    # controls (a terminal acts on ESC: cat report.csv), bidi overrides and undecodable
    # bytes of file names (UTF-8 cannot carry them) are written as the other reports show them
    value = printable(value, keep_newlines=True)
    # spreadsheets skip leading blanks before a formula (" =HYPERLINK(...)", "\n=...")
    return "'" + value if value.lstrip(" \n").startswith(_FORMULA_START) else value


def write_csv(
    run: RunResult,
    stream: TextIO,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> None:
    """Write the header and one row per (link, source). ``fail_on`` is unused here."""
    writer = csv.writer(stream)  # excel dialect: \r\n, so \r and \n in cells get quoted
    writer.writerow(COLUMNS)
    tags = change_tags(changes)
    for e in entries(run):
        r = e.result
        title = r.page.title if r is not None and r.page is not None else None
        common_head = [
            cell(e.url),
            cell(e.raw),
            e.status.value,
            cell(e.reason),
            cell(r.http_status if r else None),
            cell(r.final_url if r else None),
        ]
        common_tail = [cell(title), e.kind.value, ";".join(tags.get(e.url or "", ()))]
        sources: Sequence[Origin | None] = e.sources or (None,)
        for o in sources:
            where = [cell(o.file), cell(o.field), cell(o.line)] if o is not None else ["", "", ""]
            writer.writerow([*common_head, *where, *common_tail])
