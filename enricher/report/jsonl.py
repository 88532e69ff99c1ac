"""The results JSON Lines contract: one JSON object per link, one link per line.

A line is either a fetched URL (one ``LinkResult``: ``url`` set, ``raw`` null) or a group of
never-fetched slots (status ``invalid`` or ``skipped``; ``url`` null, as the README says;
``raw`` the value as written; ``sources`` every slot of the group; see
``enricher.report.model`` for the grouping). Every line has every key of the contract,
so consumers never test for presence; ``changes`` (a list of change kinds) appears only when
a change report was given. The shape is ``enricher/schema/results.schema.json``; keys are
added, never renamed or removed. Lines are in report order (by URL, then slot groups).

This module only turns values into JSON-ready dicts and writes lines; it must not count,
filter or decide anything (that is ``model``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from enricher.config import DEFAULT_FAIL_ON
from enricher.models import ImageInfo, LinkResult, Origin, PageMeta, RunResult
from enricher.report.model import Changes, Entry, change_tags, entries


def _origin(o: Origin) -> dict[str, Any]:
    return {"file": o.file, "field": o.field, "line": o.line}


def _page_image(i: ImageInfo | None) -> dict[str, Any] | None:
    if i is None:
        return None
    return {"url": i.url, "width": i.width, "height": i.height, "type": i.type}


def _page(p: PageMeta | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "title": p.title,
        "description": p.description,
        "site_name": p.site_name,
        "image": _page_image(p.image),
        "published_at": p.published_at,
        "canonical_url": p.canonical_url,
        "amp_url": p.amp_url,
        "lang": p.lang,
    }


def _image(i: ImageInfo | None) -> dict[str, Any] | None:
    if i is None:
        return None
    return {"type": i.type, "width": i.width, "height": i.height}


def result_to_dict(r: LinkResult) -> dict[str, Any]:
    """The contract line of one fetched URL."""
    return {
        "url": r.url,
        "raw": None,
        "status": r.status.value,
        "reason": r.reason,
        "http_status": r.http_status,
        "final_url": r.final_url,
        "redirects": list(r.redirects),
        "attempts": r.attempts,
        "elapsed_ms": r.elapsed_ms,
        "checked_at": r.checked_at or None,
        "content_type": r.content_type,
        "sources": [_origin(o) for o in r.sources],
        "kind": r.kind.value,
        "page": _page(r.page),
        "image": _image(r.image),
        "reused": r.reused,
        "since": r.since,
        "confirmed": r.confirmed,
        "detail": r.detail,
    }


def entry_to_dict(e: Entry, tags: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The contract line of one link (fetched or slot group); ``tags`` adds ``changes``."""
    if e.result is not None:
        line = result_to_dict(e.result)
    else:
        line = {
            "url": e.url,
            "raw": e.raw,
            "status": e.status.value,
            "reason": e.reason,
            "http_status": None,
            "final_url": None,
            "redirects": [],
            "attempts": 0,
            "elapsed_ms": 0,
            "checked_at": None,
            "content_type": None,
            "sources": [_origin(o) for o in e.sources],
            "kind": e.kind.value,
            "page": None,
            "image": None,
            "reused": False,
            "since": None,
            "confirmed": None,
            "detail": None,
        }
    if tags is not None:
        line["changes"] = list(tags)
    return line


def iter_lines(run: RunResult, changes: Changes | None = None) -> Iterator[dict[str, Any]]:
    """Every contract line of the run, in report order, one at a time (a 100,000-record
    run's lines never need to be in memory together)."""
    tags = change_tags(changes)
    for e in entries(run):
        yield entry_to_dict(e, None if changes is None else tags.get(e.url or "", ()))


def lines(run: RunResult, changes: Changes | None = None) -> list[dict[str, Any]]:
    """Every contract line of the run, in report order."""
    return list(iter_lines(run, changes))


#: Characters JSON leaves raw but line splitters (``str.splitlines``, JavaScript) break on,
#: and the C1 controls and bidi marks a terminal would act on (``cat results.jsonl``): all
#: written as ``\uXXXX`` escapes, which every JSON reader turns back into the character.
LINE_BREAKERS = str.maketrans({chr(c): f"\\u{c:04x}" for c in (
    *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), 0x2028, 0x2029,
    *range(0x2066, 0x206A))})


SURROGATE = re.compile("[\ud800-\udfff]")  # an undecodable byte of a file name


def dumps_line(line: Any, separators: tuple[str, str] = (",", ":")) -> str:
    """JSON on one line (compact by default): UTF-8 text kept readable, line-breaking
    characters and lone surrogates (a file name's undecodable byte; ``os.fsencode`` gets it
    back) escaped, so the line encodes on any UTF-8 stream."""
    text = json.dumps(line, ensure_ascii=False, separators=separators).translate(LINE_BREAKERS)
    return SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def write_jsonl(
    run: RunResult,
    stream: TextIO,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> None:
    """Write one line per link. ``fail_on`` is accepted for a uniform writer signature."""
    for line in iter_lines(run, changes):
        stream.write(dumps_line(line))
        stream.write("\n")
