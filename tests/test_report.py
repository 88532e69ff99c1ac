"""Tests for enricher.report: the model, every format, schemas, agreement of counts, escaping,
the rich summary and atomic writing. The headless-browser test of the HTML report is in
test_report_html_browser.py (it reuses ``sample_run`` from here)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from rich.console import Console

from enricher.models import (
    ImageInfo,
    LinkKind,
    LinkRef,
    LinkResult,
    LinkStatus,
    Origin,
    PageMeta,
    RecordCounts,
    RecordError,
    RunResult,
)
from enricher.report import FORMATS, ReportError, format_for, render, write_report
from enricher.report.csv_report import cell
from enricher.report.html import CSP, SCRIPT, STYLE, render_html
from enricher.report.json_report import jsonable
from enricher.report.jsonl import lines, result_to_dict
from enricher.report.markdown import md_code, md_text
from enricher.report.model import (
    Changes,
    StillDead,
    counts_by_status,
    entries,
    fail_statuses,
    links_with_status,
    printable,
    redirects_worth_updating,
    top_failing_hosts,
    totals,
)
from enricher.report.schema import load_schema
from enricher.report.summary import print_summary

HOSTILE_TITLE = (
    '</td></tr><script>alert("x")</script><img src="https://evil.example/x.png">'
    " [bold red]markup[/] | pipe \x1b[31mANSI\x1b[0m \u202eevil =HYPERLINK(1)"
)
UNICODE_TITLE = "Ünïcödé — 日本語 ✓ «quoted» & more"
DEAD_URLS = (
    "https://dead.example/gone",
    "https://news.example/a?q=<script>alert(1)</script>",
    "https://news.example/missing",
)
ALL_FAIL = frozenset({"dead", "blocked", "error", "timeout"})
EXPECTED = {
    LinkStatus.OK: 3,
    LinkStatus.REDIRECTED: 1,
    LinkStatus.DEAD: 3,
    LinkStatus.BLOCKED: 1,
    LinkStatus.ERROR: 1,
    LinkStatus.TIMEOUT: 1,
    LinkStatus.INVALID: 3,
    LinkStatus.SKIPPED: 1,
}


def o(file: str, field: str, line: int | None = None) -> Origin:
    return Origin(file=file, field=field, line=line)


def res(url: str, status: LinkStatus, reason: str, *sources: Origin, **kw: object) -> LinkResult:
    fields: dict[str, object] = {
        "kind": LinkKind.PAGE,
        "checked_at": "2024-05-01T02:00:03+00:00",
        "attempts": 1,
        "elapsed_ms": 120,
        **kw,
    }
    return LinkResult(url=url, status=status, reason=reason, sources=sources, **fields)  # type: ignore[arg-type]


def slot(
    raw: str, status: LinkStatus, reason: str, origin: Origin, url: str | None = None
) -> LinkRef:
    return LinkRef(
        origin=origin,
        holder=(),
        key=origin.field,
        kind=LinkKind.PAGE,
        raw=raw,
        url=url,
        status=status,
        reason=reason,
    )


def sample_run(aborted: str | None = None) -> RunResult:
    """Every status, several sources per URL, unicode and hostile values, record errors."""
    page = PageMeta(
        title=UNICODE_TITLE,
        description="d",
        site_name="News",
        image=ImageInfo(url="https://cdn.example/i.jpg", type="jpeg", width=1200, height=630),
        published_at="2024-04-30T10:00:00Z",
        canonical_url="https://news.example/ok",
        lang="de",
    )
    results = (
        res(
            "https://news.example/ok",
            LinkStatus.OK,
            "http_200",
            o("recs/a.md", "webUrl", 3),
            o("recs/b.md", "related[0].webUrl", 10),
            http_status=200,
            content_type="text/html",
            page=page,
        ),
        res(
            "https://evil.example/page",
            LinkStatus.OK,
            "http_200",
            o("recs/évil <b>.md", "related[1].webUrl", 12),
            http_status=200,
            page=PageMeta(title=HOSTILE_TITLE),
        ),
        res(
            "https://cdn.example/i.jpg",
            LinkStatus.OK,
            "http_200",
            o("recs/a.md", "images[0].url", 5),
            kind=LinkKind.IMAGE,
            http_status=200,
            image=ImageInfo(type="jpeg", width=1200, height=630),
        ),
        res(
            "http://old.example/story",
            LinkStatus.REDIRECTED,
            "http_301",
            o("recs/a.md", "originalUrl", 4),
            http_status=301,
            final_url="https://new.example/story",
            redirects=("http://old.example/story",),
        ),
        res(
            DEAD_URLS[2],
            LinkStatus.DEAD,
            "http_404",
            o("recs/a.md", "related[2].webUrl", 20),
            o("recs/b.md", "webUrl", 2),
            o("recs/c.md", "related[0].webUrl", None),
            o("recs/c.md", "related[5].webUrl", 40),
            http_status=404,
        ),
        res(DEAD_URLS[0], LinkStatus.DEAD, "dns", o("recs/b.md", "related[1].webUrl", 14)),
        res(
            DEAD_URLS[1], LinkStatus.DEAD, "http_410", o("recs/c.md", "webUrl", 2), http_status=410
        ),
        res(
            "https://news.example/paywall",
            LinkStatus.BLOCKED,
            "challenge",
            o("recs/c.md", "related[1].webUrl", 22),
            http_status=403,
        ),
        res(
            "https://flaky.example/x",
            LinkStatus.ERROR,
            "http_503",
            o("recs/c.md", "related[2].webUrl", 28),
            http_status=503,
            attempts=3,
        ),
        res(
            "https://slow.example/y",
            LinkStatus.TIMEOUT,
            "timeout",
            o("recs/b.md", "related[2].ampWebUrl", 18),
            kind=LinkKind.REACH,
        ),
    )
    slots = (
        slot(
            "javascript:alert(1)",
            LinkStatus.INVALID,
            "scheme",
            o("recs/a.md", "related[3].webUrl", 30),
        ),
        slot("javascript:alert(1)", LinkStatus.INVALID, "scheme", o("recs/c.md", "webUrl", 9)),
        slot(
            "ftp://files.example/x", LinkStatus.INVALID, "scheme", o("recs/b.md", "originalUrl", 3)
        ),
        slot(
            "<script>alert('raw')</script>",
            LinkStatus.INVALID,
            "no_scheme",
            o("recs/b.md", "related[4].webUrl", 33),
        ),
        slot(
            "http://127.0.0.1:8080/admin",
            LinkStatus.SKIPPED,
            "forbidden_address",
            o("recs/c.md", "related[3].webUrl", 35),
            url="http://127.0.0.1:8080/admin",
        ),
    )
    return RunResult(
        command="check",
        started_at="2024-05-01T02:00:00+00:00",
        finished_at="2024-05-01T02:01:05.500000+00:00",
        results=results,
        slot_results=slots,
        record_errors=(
            RecordError(file="recs/bad.md", message="duplicate key 'url' <b>", line=4),
            RecordError(file="recs/empty.md", message="no front matter"),
        ),
        records=RecordCounts(read=5, failed=2, changed=0, unchanged=3),
        requests=14,
        bytes_read=1_234_567,
        aborted=aborted,
        options={"fail_on": frozenset({"dead"}), "paths": (Path("recs"),), "status": LinkStatus.OK},
    )


CHANGES = Changes(
    newly_dead=(DEAD_URLS[0],),
    recovered=("https://news.example/ok",),
    still_dead=(StillDead(url=DEAD_URLS[2], since="2024-04-20T02:00:00+00:00", days=11.0),),
    newly_redirected=("http://old.example/story",),
    flapping=("https://flaky.example/x", DEAD_URLS[0]),
)


# --- model ---------------------------------------------------------------------------------


def test_counts_by_status_counts_urls_and_groups_slots() -> None:
    run = sample_run()
    assert counts_by_status(run) == EXPECTED
    assert list(counts_by_status(run)) == list(LinkStatus)
    t = totals(run, ALL_FAIL)
    assert t.links == sum(EXPECTED.values()) == 14
    assert t.urls == 10
    assert t.failing == 6
    assert t.sources == 19
    assert t.elapsed_s == pytest.approx(65.5)
    # measured by the run: the timestamps hold whole seconds ("Run time 1.0 s" for 1.86 s)
    assert totals(replace(run, elapsed=1.86), ALL_FAIL).elapsed_s == 1.86
    js = [e for e in entries(run) if e.raw == "javascript:alert(1)"]
    assert len(js) == 1 and [s.file for s in js[0].sources] == ["recs/a.md", "recs/c.md"]


def test_dead_links_hosts_and_redirects() -> None:
    run = sample_run()
    dead = links_with_status(run, LinkStatus.DEAD)
    assert tuple(e.url for e in dead) == tuple(sorted(DEAD_URLS))
    missing = next(e for e in dead if e.url == DEAD_URLS[2])
    assert len(missing.sources) == 4
    hosts = top_failing_hosts(run, 2)
    assert [(h.host, h.failing, h.total) for h in hosts] == [
        ("news.example", 3, 4),
        ("dead.example", 1, 1),
    ]
    assert dict(hosts[0].by_status) == {LinkStatus.DEAD: 2, LinkStatus.BLOCKED: 1}
    assert [e.url for e in redirects_worth_updating(run)] == ["http://old.example/story"]


def test_fail_statuses_rejects_unknown_names() -> None:
    assert fail_statuses({"dead", "timeout"}) == {LinkStatus.DEAD, LinkStatus.TIMEOUT}
    with pytest.raises(ValueError, match=r"unknown status 'gone'.*dead"):
        fail_statuses({"gone"})


def test_printable_shows_controls_and_bidi() -> None:
    assert printable("a\x1b[31mb\u202ec\nd") == "a\\x1b[31mb\\u202ec\\x0ad"
    assert printable("a\nb\tc\x00", keep_newlines=True) == "a\nb\tc\\x00"
    assert printable("日本語 ✓") == "日本語 ✓"
    # the invisible and line-breaking ones the summary's shown_name also escapes; ZWJ stays
    assert printable("a\u2028b\u061cc\u200bd\u2060e") == "a\\u2028b\\u061cc\\u200bd\\u2060e"
    assert printable("👨\u200d👩") == "👨\u200d👩"
    assert printable("bad\udcffname") == "bad\\xffname"  # an undecodable byte, as shown_name


# --- schemas and the JSON contract ----------------------------------------------------------


def test_result_dict_has_the_contract_keys() -> None:
    r = sample_run().results[0]
    d = result_to_dict(r)
    assert list(d)[:12] == [
        "url",
        "raw",
        "status",
        "reason",
        "http_status",
        "final_url",
        "redirects",
        "attempts",
        "elapsed_ms",
        "checked_at",
        "content_type",
        "sources",
    ]
    assert d["sources"][0] == {"file": "recs/a.md", "field": "webUrl", "line": 3}
    assert d["page"]["image"] == {
        "url": "https://cdn.example/i.jpg",
        "width": 1200,
        "height": 630,
        "type": "jpeg",
    }
    assert d["status"] == "ok" and d["kind"] == "page" and d["reused"] is False


@pytest.mark.parametrize("changes", [None, CHANGES])
def test_every_jsonl_line_and_the_json_report_validate(changes: Changes | None) -> None:
    run = sample_run()
    line_validator = Draft202012Validator(load_schema("results"))
    text = render(run, "jsonl", fail_on=ALL_FAIL, changes=changes)
    parsed = [json.loads(line) for line in text.splitlines()]
    assert len(parsed) == 14
    for line in parsed:
        line_validator.validate(line)
        assert ("changes" in line) is (changes is not None)
    nulls = [line for line in parsed if line["url"] is None]
    assert {line["raw"] for line in nulls} == {
        "javascript:alert(1)",
        "ftp://files.example/x",
        "<script>alert('raw')</script>",
    }
    doc = json.loads(render(run, "json", fail_on=ALL_FAIL, changes=changes))
    Draft202012Validator(load_schema("run.schema.json")).validate(doc)
    assert doc["results"] == parsed
    assert ("changes" in doc) is (changes is not None)
    assert doc["meta"]["options"] == {"fail_on": ["dead"], "paths": ["recs"], "status": "ok"}
    assert doc["record_errors"][1] == {
        "file": "recs/empty.md",
        "line": None,
        "message": "no front matter",
    }


def test_schemas_reject_a_broken_line() -> None:
    validator = Draft202012Validator(load_schema("results"))
    line = lines(sample_run())[0]
    assert validator.is_valid(line)
    assert not validator.is_valid({**line, "status": "gone"})
    assert not validator.is_valid({**line, "url": None, "raw": None})
    assert not validator.is_valid({k: v for k, v in line.items() if k != "sources"})


def test_run_schema_embeds_the_results_schema() -> None:
    results = load_schema("results")
    core = {k: v for k, v in results.items() if k not in ("$schema", "$id", "title", "description")}
    assert load_schema("run")["$defs"]["result"] == core
    with pytest.raises(ValueError, match="unknown schema"):
        load_schema("nope")


def test_jsonable_options() -> None:
    assert jsonable({"a": frozenset({3, 1}), "b": float("inf"), 2: [Path("x")]}) == {
        "a": [1, 3],
        "b": "inf",
        "2": ["x"],
    }


# --- every format agrees on the counts ------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack:
            self.text.setdefault(self._stack[-1], []).append(data)


def parse_html(text: str) -> _Tags:
    p = _Tags()
    p.feed(text)
    p.close()
    return p


def _json_counts(text: str, fail_on: frozenset[str]) -> dict[str, int]:
    doc = json.loads(text)
    assert doc["totals"]["links"] == sum(doc["counts"].values())
    assert doc["totals"]["failing"] == sum(doc["counts"][s] for s in fail_on)
    return dict(doc["counts"])


def _jsonl_counts(text: str, fail_on: frozenset[str]) -> dict[str, int]:
    return dict(Counter(json.loads(line)["status"] for line in text.splitlines()))


def _csv_counts(text: str, fail_on: frozenset[str]) -> dict[str, int]:
    rows = list(csv.DictReader(io.StringIO(text)))
    links = {(r["url"], r["raw"], r["status"], r["reason"]) for r in rows}
    return dict(Counter(status for _, _, status, _ in links))


def _md_counts(text: str, fail_on: frozenset[str]) -> dict[str, int]:
    section = text.split("## Counts", 1)[1].split("\n## ", 1)[0]
    counts = {k: int(v) for k, v in re.findall(r"^\| (\w+) \| (\d+) \|$", section, re.M)}
    total = re.search(r"^\| \*\*total\*\* \| \*\*(\d+)\*\* \|$", section, re.M)
    assert total is not None and int(total.group(1)) == sum(counts.values())
    return counts


def _html_counts(text: str, fail_on: frozenset[str]) -> dict[str, int]:
    tags = parse_html(text).tags
    counts = {
        str(a["data-status"]): int(a["data-count"] or 0)
        for t, a in tags
        if t == "li" and "data-count" in a and a["data-status"] != "total"
    }
    rows = Counter(a["data-status"] for t, a in tags if t == "tr" and "data-status" in a)
    assert nonzero(counts) == dict(rows)  # counts at the top agree with the table rows
    total = next(a["data-count"] for t, a in tags if t == "li" and a.get("data-status") == "total")
    assert int(total or 0) == sum(counts.values())
    return counts


def _junit_counts(text: str, fail_on: frozenset[str]) -> dict[str, int]:
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.attrib["tests"]) == len(cases) == int(root.attrib["tests"])
    failures = [c for c in cases if c.find("failure") is not None]
    assert int(suite.attrib["failures"]) == len(failures)
    assert {c.attrib["classname"].split(".")[1] for c in failures} <= set(fail_on)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.attrib["skipped"]) == len(skipped)
    errored = [c for c in cases if c.find("error") is not None]  # the run, record errors
    assert int(suite.attrib["errors"]) == len(errored) == int(root.attrib["errors"])
    links = [c for c in cases if c.find("error") is None]
    return dict(Counter(c.attrib["classname"].removeprefix("enricher.") for c in links))


_PARSERS = {
    "json": _json_counts,
    "jsonl": _jsonl_counts,
    "csv": _csv_counts,
    "md": _md_counts,
    "html": _html_counts,
    "junit": _junit_counts,
}


def counts_from(fmt: str, text: str, fail_on: frozenset[str]) -> dict[str, int]:
    """Parse a rendered report back to {status: links} (and check its own totals)."""
    return _PARSERS[fmt](text, fail_on)


def summary_counts(run: RunResult, fail_on: frozenset[str]) -> dict[str, int]:
    buf = io.StringIO()
    print_summary(
        run, Console(file=buf, width=100, force_terminal=False, no_color=True), fail_on=fail_on
    )
    table = buf.getvalue().split("Dead links", 1)[0]
    found = re.findall(
        r"^\s*(" + "|".join(s.value for s in LinkStatus) + r")\s+(\d+)\s", table, re.M
    )
    return {k: int(v) for k, v in found}


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


@pytest.mark.parametrize("fail_on", [frozenset({"dead"}), ALL_FAIL | {"invalid", "skipped"}])
def test_every_format_agrees_on_the_counts(fail_on: frozenset[str]) -> None:
    run = sample_run()
    expected = {s.value: n for s, n in EXPECTED.items()}
    for fmt in FORMATS:
        got = counts_from(fmt, render(run, fmt, fail_on=fail_on), fail_on)
        assert nonzero(got) == expected, fmt
    assert summary_counts(run, fail_on) == expected


_STATUS = st.sampled_from(list(LinkStatus))
_ORIGIN = st.builds(
    Origin,
    file=st.sampled_from(["a.md", "b.md", "c d.md"]),
    field=st.sampled_from(["webUrl", "related[0].webUrl"]),
    line=st.none() | st.integers(1, 99),
)


@st.composite
def random_runs(draw: st.DrawFn) -> RunResult:
    n = draw(st.integers(0, 12))
    results = tuple(
        LinkResult(
            url=f"https://h{draw(st.integers(0, 3))}.example/{i}",
            kind=LinkKind.PAGE,
            status=draw(_STATUS.filter(lambda s: s not in (LinkStatus.INVALID,))),
            reason=draw(st.text(max_size=8)),
            sources=tuple(draw(st.lists(_ORIGIN, max_size=3))),
            page=PageMeta(title=draw(st.text(max_size=12))),
        )
        for i in range(n)
    )
    slots = tuple(
        slot(
            draw(st.text(max_size=10)),
            draw(st.sampled_from([LinkStatus.INVALID, LinkStatus.SKIPPED])),
            draw(st.sampled_from(["scheme", "excluded"])),
            draw(_ORIGIN),
        )
        for _ in range(draw(st.integers(0, 6)))
    )
    return RunResult(
        command="check",
        started_at="x",
        finished_at="y",
        results=results,
        slot_results=slots,
        record_errors=(),
        records=RecordCounts(),
    )


@settings(max_examples=40, deadline=None)
@given(run=random_runs(), fail_on=st.frozensets(st.sampled_from([s.value for s in LinkStatus])))
def test_formats_agree_on_random_runs(run: RunResult, fail_on: frozenset[str]) -> None:
    expected = nonzero({s.value: n for s, n in counts_by_status(run).items()})
    for fmt in FORMATS:
        assert nonzero(counts_from(fmt, render(run, fmt, fail_on=fail_on), fail_on)) == expected, (
            fmt
        )
    assert nonzero(summary_counts(run, fail_on)) == expected


# --- HTML ------------------------------------------------------------------------------------


def test_html_is_self_contained_and_escaped() -> None:
    text = render_html(sample_run(), changes=CHANGES)
    p = parse_html(text)
    assert [t for t, _ in p.tags if t == "script"] == ["script"]  # ours only
    for tag, attrs in p.tags:
        assert "src" not in attrs, (tag, attrs)
        assert tag not in ("link", "iframe", "object", "embed", "img", "base", "form-action")
        href = attrs.get("href")
        if href is not None:
            assert re.match(r"https?://", href), href
            assert tag == "a" and attrs.get("rel") == "noopener noreferrer"
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
    style = "".join(p.text.get("style", []))
    assert "url(" not in style and "@import" not in style
    assert "<script>alert" not in text and "&lt;script&gt;alert(&quot;x&quot;)" in text
    assert UNICODE_TITLE.replace("&", "&amp;") in text
    assert "\x1b" not in text and "\u202e" not in text and "\\x1b[31mANSI" in text
    assert "'sha256-" in CSP and "default-src 'none'" in CSP
    assert f"<script>{SCRIPT}</script>" in text and f"<style>{STYLE}</style>" in text
    rows = [a for t, a in p.tags if t == "tr" and "data-status" in a]
    assert len(rows) == 14
    assert any(a.get("data-change") == "newly_dead flapping" for a in rows)
    assert any(t == "section" and a.get("id") == "changes" for t, a in p.tags)
    assert 'id="changes"' not in render_html(sample_run())


def test_html_never_links_what_the_address_policy_refused() -> None:
    """A URL (or its redirect target) refused after DNS points at an internal address:
    shown as text, never as a link; an ordinary failure stays clickable."""
    meta = "http://169.254.169.254/latest/meta-data/"
    run = RunResult(
        command="check", started_at="", finished_at="", slot_results=(), record_errors=(),
        records=RecordCounts(),
        results=(
            res(meta, LinkStatus.BLOCKED, "forbidden_address", o("a.md", "webUrl")),
            res("https://ok.example/a", LinkStatus.ERROR, "forbidden_address",
                o("a.md", "ampWebUrl"), final_url="http://10.0.0.1/admin"),
            res("https://gone.example/b", LinkStatus.DEAD, "http_404", o("b.md", "webUrl"),
                http_status=404),
        ),
    )
    p = parse_html(render_html(run))
    hrefs = {a["href"] for t, a in p.tags if t == "a" and "href" in a}
    assert hrefs == {"https://gone.example/b"}


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_escaping_helpers() -> None:
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``"
    assert md_code("a|b", table=True) == "`a\\|b`"
    assert md_code("") == "*(empty)*"
    # a file name with a line break is shown escaped, as in the summary, not as another
    # name with a space in its place
    assert md_code("new\nline.md") == "`new\\x0aline.md`"
    assert md_text("<script>*x*|[y](z) a-b") == "\\<script\\>\\*x\\*\\|\\[y\\](z) a-b"
    assert md_text("a\nb\x1b") == "a b\\\\x1b"


def test_markdown_lists_dead_links_with_sources_and_sections() -> None:
    run = sample_run(aborted="network looks down")
    text = render(run, "md", fail_on=frozenset({"dead", "invalid"}), changes=CHANGES)
    assert "**Run aborted:** `network looks down`" in text
    assert "## Dead links (3)" in text and "## Invalid links (3)" in text
    assert "- `https://news.example/missing` `http_404` (HTTP 404)" in text
    assert "  - `recs/c.md` `related[0].webUrl`" in text
    assert "  - `recs/c.md`:40 `related[5].webUrl`" in text
    assert "`<script>alert('raw')</script>`" in text  # literal in a code span
    assert '<script>alert("x")' not in text
    assert "| `http://old.example/story` | `https://new.example/story` | 1 |" in text
    assert "| `news.example` | 3 | 4 | dead 2, blocked 1 |" in text
    assert "- `recs/bad.md:4` `duplicate key 'url' <b>`" in text  # no markup in a code span
    assert "### Still dead (1)" in text and "(11.0 days)" in text
    assert "## Changes" not in render(run, "md", fail_on=frozenset({"dead"}))


# --- CSV and JUnit ---------------------------------------------------------------------------


def test_csv_has_one_row_per_source_and_defuses_formulas() -> None:
    run = sample_run()
    rows = list(csv.DictReader(io.StringIO(render(run, "csv", fail_on=ALL_FAIL, changes=CHANGES))))
    assert len(rows) == totals(run).sources
    evil = next(r for r in rows if r["url"] == "https://evil.example/page")
    # as the other reports show it: controls and bidi overrides as visible escapes (ESC in a
    # cell acts on a terminal: cat report.csv); starts with '<' so not defused
    assert evil["title"] == printable(HOSTILE_TITLE, keep_newlines=True) != HOSTILE_TITLE
    assert evil["file"] == "recs/évil <b>.md" and evil["line"] == "12"
    missing = [r for r in rows if r["url"] == DEAD_URLS[2]]
    assert [r["line"] for r in missing] == ["20", "2", "", "40"]
    assert {r["change"] for r in missing} == {"still_dead"}
    assert next(r for r in rows if r["url"] == DEAD_URLS[0])["change"] == "newly_dead;flapping"
    formula = RunResult(
        command="check",
        started_at="",
        finished_at="",
        results=(),
        slot_results=(
            slot("=HYPERLINK(1)", LinkStatus.INVALID, "no_scheme", o("-x.md", "webUrl")),
        ),
        record_errors=(),
        records=RecordCounts(),
    )
    row = next(csv.DictReader(io.StringIO(render(formula, "csv", fail_on=ALL_FAIL))))
    assert row["raw"] == "'=HYPERLINK(1)" and row["file"] == "'-x.md"
    # spreadsheets skip blanks before a formula
    assert cell(" =HYPERLINK(1)") == "' =HYPERLINK(1)" and cell("\n+1") == "'\n+1"
    assert cell("a =b") == "a =b"


def test_junit_failures_follow_fail_on_and_xml_is_well_formed() -> None:
    run = sample_run()
    text = render(run, "junit", fail_on=frozenset({"dead", "timeout"}), changes=CHANGES)
    root = ET.fromstring(text)  # control characters made it through as escapes
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["tests"] == "16" and suite.attrib["failures"] == "4"  # 14 links, 2
    assert suite.attrib["skipped"] == "1" and suite.attrib["errors"] == "2"  # record errors
    case = next(c for c in suite if c.attrib.get("name") == DEAD_URLS[2])
    failure = case.find("failure")
    assert failure is not None and failure.attrib["type"] == "dead"
    assert "recs/c.md:40 related[5].webUrl" in (failure.text or "")
    out = suite.findtext("system-out") or ""
    assert "record error: recs/bad.md:4: duplicate key 'url' <b>" in out
    assert f"newly_dead: {DEAD_URLS[0]}" in out


# --- rich summary ---------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[")


def summary_text(run: RunResult, **kw: object) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=False, no_color=True)
    print_summary(run, console, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def test_a_report_from_the_history_claims_no_citation_counts() -> None:
    """``enricher report`` knows no sources: no "cited 0x" / "0 cited" / "| 0 |"."""
    run = RunResult(
        command="report", started_at="", finished_at="", slot_results=(), record_errors=(),
        records=RecordCounts(),
        results=(res("http://old.example/story", LinkStatus.REDIRECTED, "http_301",
                     final_url="https://new.example/story", http_status=200),),
    )
    assert "(cited" not in summary_text(run) and "new.example/story" in summary_text(run)
    md = render(run, "md", fail_on=ALL_FAIL)
    assert "| `http://old.example/story` | `https://new.example/story` | – |" in md
    assert "cited)" not in render_html(run)


def test_summary_plain_has_no_ansi_and_lists_dead_links_with_sources() -> None:
    run = sample_run()
    text = summary_text(run, changes=CHANGES)
    assert not ANSI.search(text)
    for url in DEAD_URLS:
        assert url in text  # whole, unwrapped
    assert "recs/c.md related[0].webUrl" in text  # line unknown
    assert "recs/c.md:40 related[5].webUrl" not in text
    assert "and 1 more citing fields" in text  # 4 sources, 3 shown
    assert "http://old.example/story" in text and "-> https://new.example/story" in text
    assert "news.example" in text and "recs/bad.md:4: duplicate key 'url' <b>" in text
    assert "Run time 1 min 6 s · 14 requests · 1.2 MB" in text
    assert "still dead (1)" in text and "(11.0 days)" in text


def test_summary_caps_lists_and_reports_abort() -> None:
    text = summary_text(sample_run(aborted="interrupted"), max_links=1, max_sources=1)
    assert "Run aborted: interrupted" in text
    assert "and 2 more dead links" in text
    assert sum(url in text for url in DEAD_URLS) == 1


def test_summary_names_the_links_of_every_fail_on_status() -> None:
    """``--fail-on dead,error``: the last line counted the error links as failing, but only
    the dead ones were named (the rest only in --report). Each fail-on status with links
    gets its section; the default (dead) output is unchanged."""
    run = sample_run()
    errors = [e.url for e in entries(run) if e.status is LinkStatus.ERROR]
    assert errors
    text = summary_text(run, fail_on=frozenset({"dead", "error"}))
    assert f"Error links ({len(errors)})" in text and all(url in text for url in errors)
    assert text.index("Dead links (") < text.index("Error links (")
    plain = summary_text(run)
    assert "Error links" not in plain and "Dead links (" in plain
    only_dead = replace(run, results=tuple(r for r in run.results
                                           if r.status in (LinkStatus.OK, LinkStatus.DEAD)))
    assert "Timeout links" not in summary_text(
        only_dead, fail_on=frozenset({"dead", "timeout"}))  # no empty section


def test_summary_never_interprets_values_as_markup_or_controls() -> None:
    evil_url = "https://x.example/[bold red]boom[/]\x1b[2J"
    run = RunResult(
        command="check",
        started_at="",
        finished_at="",
        slot_results=(),
        results=(res(evil_url, LinkStatus.DEAD, "http_404", o("a.md", "webUrl")),),
        record_errors=(),
        records=RecordCounts(),
    )
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=True, color_system="truecolor")
    print_summary(run, console)
    text = buf.getvalue()
    assert ANSI.search(text)  # a terminal does get colour: the plain test above can fail
    assert "[bold red]boom[/]\\x1b[2J" in text and "\x1b[2J" not in text


# --- choosing formats and writing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("r.json", "json"),
        ("r.jsonl", "jsonl"),
        ("r.NDJSON", "jsonl"),
        ("r.md", "md"),
        ("r.markdown", "md"),
        ("r.csv", "csv"),
        ("r.html", "html"),
        ("r.htm", "html"),
        ("dir.d/junit.xml", "junit"),
    ],
)
def test_format_for_extension(path: str, fmt: str) -> None:
    assert format_for(path, None) == fmt


def test_format_for_explicit_and_errors() -> None:
    assert format_for("out.txt", "JUnit") == "junit"
    assert format_for("report", "html") == "html"
    assert format_for("-", "markdown") == "md"
    for path, explicit in (("out.txt", None), ("-", None), ("r", None), ("r.json", "pdf")):
        with pytest.raises(ValueError) as info:
            format_for(path, explicit)
        message = str(info.value)
        assert "\n" not in message and "json, jsonl, md, csv, html, junit" in message


def test_format_applies_only_when_the_extension_does_not_say() -> None:
    # --report r.json --report r.md --report r --format junit: JSON, Markdown, JUnit
    assert [format_for(p, "junit") for p in ("r.json", "r.md", "r", "r.txt")] == [
        "json",
        "md",
        "junit",
        "junit",
    ]
    assert format_for("R.HTML", "csv") == "html"
    assert format_for("-", "json") == "json"  # stdout has no extension


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_report_is_atomic_and_complete(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"report.{fmt}"
    write_report(sample_run(), str(target), fmt, fail_on=ALL_FAIL)
    assert target.read_bytes().decode("utf-8") == render(sample_run(), fmt, fail_on=ALL_FAIL)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_write_report_keeps_the_old_file_when_rendering_fails(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old", "utf-8")
    with pytest.raises(ValueError, match="unknown status"):
        write_report(sample_run(), str(target), "md", fail_on=frozenset({"gone"}))
    assert target.read_text("utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_write_report_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReportError) as info:
        write_report(sample_run(), str(tmp_path / "no" / "r.json"), "json", fail_on=ALL_FAIL)
    assert "\n" not in str(info.value) and "no/r.json" in str(info.value)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ReportError, match="not a folder"):
        write_report(sample_run(), str(tmp_path / "dir.json"), "json", fail_on=ALL_FAIL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json"]
    with pytest.raises(ValueError, match="unknown report format"):
        write_report(sample_run(), str(tmp_path / "r.pdf"), "pdf", fail_on=ALL_FAIL)


def test_write_report_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    write_report(sample_run(), "-", "jsonl", fail_on=ALL_FAIL)
    assert len(capsys.readouterr().out.splitlines()) == 14


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_reports_on_a_strict_utf8_stdout_survive_an_undecodable_file_name(
    tmp_path: Path, fmt: str
) -> None:
    """A file name with an undecodable byte reaches stdout as an escape, as in a file,
    not as a UnicodeEncodeError traceback (stdout is strict UTF-8 outside C.UTF-8)."""
    folder = tmp_path / "r"
    folder.mkdir()
    name = os.fsdecode(b"bad\xffname.md")
    (folder / name).write_bytes(b'---\ntitle: T\nwebUrl: "ftp://example.com/a"\n---\n')
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    for option in ("--results", "--report"):
        argv = [sys.executable, "-m", "enricher", "check", str(folder), "--no-state", "-q",
                option, "-", *(["--format", fmt] if option == "--report" else [])]
        if option == "--results" and fmt != "jsonl":
            continue
        done = subprocess.run(argv, capture_output=True, env=env, cwd=tmp_path, timeout=60)
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        assert done.returncode == 0, done.stderr.decode()  # invalid is not in --fail-on
        assert b"bad\\" in done.stdout and b"name.md" in done.stdout


def test_junit_shows_an_aborted_run_as_an_error_and_no_empty_timestamp() -> None:
    """An outage run with no failing link must not turn a CI dashboard green; a report with
    no run has no ``timestamp=""`` (not a date: strict readers reject it)."""
    run = sample_run(aborted="the network looks down")
    root = ET.fromstring(render(run, "junit", fail_on=frozenset({"dead"})))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["errors"] == root.attrib["errors"] == "3"  # the run, 2 record errors
    assert suite.attrib["tests"] == "17"  # the 14 links, the run and the 2 record errors
    case = next(c for c in suite if c.attrib.get("name") == "run")
    error = case.find("error")
    assert error is not None and error.attrib == {
        "type": "aborted", "message": "run aborted: the network looks down"}
    assert "timestamp" in suite.attrib
    empty = replace(sample_run(), started_at="", record_errors=())
    suite = ET.fromstring(render(empty, "junit", fail_on=frozenset())).find("testsuite")
    assert suite is not None and "timestamp" not in suite.attrib and suite.attrib["errors"] == "0"


def test_csv_names_an_undecodable_file_name_byte_as_the_others_do() -> None:
    """A record named with a byte that is not UTF-8 (``os.fsdecode`` gives a lone surrogate)
    is ``\\xff`` in CSV as in Markdown, HTML and the summary, not ``\\udcff``."""
    assert cell("news/caf\udcff.md") == "news/caf\\xff.md"
    assert cell("=caf\udcff") == "'=caf\\xff"
    assert printable("news/caf\udcff.md") == cell("news/caf\udcff.md")


def test_a_killed_runs_report_temp_files_are_swept(tmp_path: Path) -> None:
    """A run killed while writing a report left ``.report.json.<hex>.tmp`` beside it; the
    next report written there removes such files once an hour old, and nothing else."""
    old = tmp_path / ".report.json.0badc0de.tmp"
    fresh = tmp_path / ".report.json.feedf00d.tmp"  # perhaps another run's, writing now
    other = tmp_path / ".report.json.notes.tmp"
    for path in (old, fresh, other):
        path.write_text("partial", encoding="utf-8")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    os.utime(other, (hours_ago, hours_ago))
    write_report(sample_run(), str(tmp_path / "report.json"), "json", fail_on=ALL_FAIL)
    assert not old.exists() and fresh.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".report.json.feedf00d.tmp", ".report.json.notes.tmp", "report.json"]


# --- fixes: record errors in JUnit, UTF-8 on stdout, one line per citing record ------------


def _suite(text: str) -> tuple[ET.Element, ET.Element]:
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite is not None
    return root, suite


def test_junit_gives_each_record_error_an_errored_test_case() -> None:
    """A run whose records cannot be read (exit 2) must not be green on a CI dashboard: one
    errored test case per record error, named by file and line, counted in tests and errors."""
    run = replace(
        sample_run(),
        results=(),
        slot_results=(),
        record_errors=(
            RecordError(file="recs/bad.md", message="duplicate key 'url'", line=4),
            RecordError(file="recs/empty.md", message="no front matter"),
            RecordError(file="recs/new\nline.md", message="bad\x1b[31m", line=2),
        ),
    )
    root, suite = _suite(render(run, "junit", fail_on=frozenset({"dead"})))
    for element in (root, suite):
        assert element.attrib["tests"] == element.attrib["errors"] == "3"
        assert element.attrib["failures"] == "0"
    cases = suite.findall("testcase")
    assert [c.attrib["name"] for c in cases] == [
        "recs/bad.md:4", "recs/empty.md", "recs/new\\nline.md:2"]
    assert {c.attrib["classname"] for c in cases} == {"enricher.record_error"}
    errors = [c.find("error") for c in cases]
    assert [e.attrib["type"] for e in errors if e is not None] == ["record_error"] * 3
    assert [e.attrib["message"] for e in errors if e is not None] == [
        "duplicate key 'url'", "no front matter", "bad\\x1b[31m"]
    assert errors[0] is not None and errors[0].text == "recs/bad.md:4: duplicate key 'url'"


def test_junit_of_a_run_on_unreadable_records_is_not_green(tmp_path: Path) -> None:
    """``enricher check fixtures/bad --report r.xml`` exits 2; its report says why."""
    bad = Path(__file__).resolve().parent.parent / "fixtures" / "bad"
    argv = [sys.executable, "-m", "enricher", "check", str(bad), "--no-state", "-q",
            "--report", str(tmp_path / "r.xml")]
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(argv, capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr.decode()
    root, suite = _suite((tmp_path / "r.xml").read_text(encoding="utf-8"))
    records = len(list(bad.glob("*.md")))
    assert suite.attrib["errors"] == suite.attrib["tests"] == root.attrib["errors"] == str(records)
    names = {c.attrib["name"].rsplit("/", 1)[-1] for c in suite.findall("testcase")}
    assert "not-utf8.md:3" in names and "no-front-matter.md:1" in names


def test_junit_failure_text_has_one_line_per_citing_record() -> None:
    """A newline in a record's file name is escaped, not kept: it must not split the list."""
    run = replace(sample_run(), results=(
        res(DEAD_URLS[0], LinkStatus.DEAD, "dns", o("recs/two\nlines.md", "webUrl", 3),
            o("recs/b.md", "related[0].webUrl", 7)),
    ), slot_results=(), record_errors=())
    _, suite = _suite(render(run, "junit", fail_on=frozenset({"dead"})))
    failure = suite.find("testcase/failure")
    assert failure is not None
    assert (failure.text or "").split("\n") == [
        "dead: dns", "cited by:", "  recs/two\\x0alines.md:3 webUrl",
        "  recs/b.md:7 related[0].webUrl"]


def _emoji_run() -> RunResult:
    run = sample_run()
    emoji = res("https://news.example/caf\u00e9-\U0001f600", LinkStatus.OK, "http_200",
                o("recs/\U0001f600.md", "webUrl", 1), page=PageMeta(title="caf\u00e9 \U0001f600"))
    return replace(run, results=(*run.results, emoji),
                   record_errors=(RecordError(file="recs/\U0001f600.md", message="caf\u00e9"),))


def _parse_json(fmt: str, text: str) -> list[Any]:
    if fmt == "json":
        return [json.loads(text)]
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_json_on_a_stdout_that_is_not_utf8_stays_valid_json(fmt: str, encoding: str) -> None:
    """JSON on stdout is UTF-8 bytes on its buffer (as in a file), whatever its encoding."""
    run = _emoji_run()
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
    write_report(run, "-", fmt, fail_on=ALL_FAIL, stdout=stdout)
    stdout.flush()
    expected = render(run, fmt, fail_on=ALL_FAIL)
    assert raw.getvalue() == expected.encode("utf-8")
    assert _parse_json(fmt, raw.getvalue().decode("utf-8")) == _parse_json(fmt, expected)


class _AsciiText(io.StringIO):
    """A text-only standard output (no binary buffer) in ASCII."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "ascii"

    def write(self, s: str) -> int:
        s.encode("ascii")  # as strict as such a stream: non-ASCII raises
        return super().write(s)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_on_a_text_only_ascii_stdout_is_escaped_json(fmt: str) -> None:
    run = _emoji_run()
    stdout = _AsciiText()
    write_report(run, "-", fmt, fail_on=ALL_FAIL, stdout=stdout)
    text = stdout.getvalue()
    assert text.isascii() and "\\ud83d\\ude00" in text
    assert _parse_json(fmt, text) == _parse_json(fmt, render(run, fmt, fail_on=ALL_FAIL))


def test_junit_on_a_latin1_stdout_is_the_utf8_it_declares() -> None:
    run = _emoji_run()
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="latin-1", newline="")
    write_report(run, "-", "junit", fail_on=ALL_FAIL, stdout=stdout)
    assert raw.getvalue() == render(run, "junit", fail_on=ALL_FAIL).encode("utf-8")
    ET.fromstring(raw.getvalue())  # the declaration says UTF-8, and it is


def test_markdown_on_an_ascii_stdout_keeps_the_terminal_encoding() -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii", newline="")
    write_report(_emoji_run(), "-", "md", fail_on=ALL_FAIL, stdout=stdout)
    stdout.flush()
    assert raw.getvalue().isascii() and b"\\U0001f600" in raw.getvalue()


@pytest.mark.parametrize("option", ["--results", "--report"])
def test_stdout_json_with_pythonioencoding_ascii_is_valid(tmp_path: Path, option: str) -> None:
    """The audit's case, end to end: ``--results -`` and ``--report - --format json`` with
    ``PYTHONIOENCODING=ascii`` gave ``\\U0001f600``, which no JSON reader accepts."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "a.md").write_text(
        '---\ntitle: T\nwebUrl: "ftp://example.com/caf\u00e9-\U0001f600"\n---\n', encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "enricher", "check", str(folder), "--no-state", "-q",
            option, "-", *(["--format", "json"] if option == "--report" else [])]
    done = subprocess.run(argv, capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode("utf-8")
    doc = json.loads(text) if option == "--report" else {"results": _parse_json("jsonl", text)}
    assert doc["results"][0]["raw"] == "ftp://example.com/caf\u00e9-\U0001f600"


def test_markdown_has_no_double_blank_lines() -> None:
    empty = replace(sample_run(), results=(), slot_results=(), record_errors=())
    for run in (sample_run(), empty):
        for changes in (None, CHANGES, Changes()):
            text = render(run, "md", fail_on=ALL_FAIL, changes=changes)
            assert "\n\n\n" not in text
    assert "## Dead links (0)\n\n## Blocked links (0)\n\n## " in render(
        empty, "md", fail_on=ALL_FAIL)


def test_the_html_report_is_written_as_it_is_made() -> None:
    """The page was built as one string (and a list of every row) before a single write: a
    50,000-record run's report took 600 MB. It is written line by line, and is the same."""
    from enricher.report.html import write_html

    sizes: list[int] = []

    class Writes(io.StringIO):
        def write(self, text: str) -> int:
            sizes.append(len(text))
            return super().write(text)

    stream = Writes()
    write_html(sample_run(), stream, changes=CHANGES)
    assert stream.getvalue() == render_html(sample_run(), changes=CHANGES)
    assert len(sizes) > 20 and max(sizes) < len(stream.getvalue()) / 2


def test_unfetchable_slots_of_two_kinds_are_two_entries() -> None:
    """An empty ``webUrl`` and an empty image ``url`` were one entry with the first one's
    kind: the CSV row of the image said ``kind=page``."""
    image = replace(slot("", LinkStatus.INVALID, "empty", o("a.md", "images[0].url", 9)),
                    kind=LinkKind.IMAGE)
    page = slot("", LinkStatus.INVALID, "empty", o("a.md", "webUrl", 3))
    other = slot("", LinkStatus.INVALID, "empty", o("b.md", "webUrl", 3))
    run = RunResult(command="check", started_at="", finished_at="", results=(),
                    slot_results=(image, page, other), record_errors=(), records=RecordCounts())
    got = sorted((e.kind.value, tuple(s.file for s in e.sources)) for e in entries(run))
    assert got == [("image", ("a.md",)), ("page", ("a.md", "b.md"))]
    rows = list(csv.DictReader(io.StringIO(render(run, "csv", fail_on=ALL_FAIL))))
    assert sorted((r["field"], r["kind"]) for r in rows) == [
        ("images[0].url", "image"), ("webUrl", "page"), ("webUrl", "page")]


def test_run_lines_count_in_the_singular_too() -> None:
    """"1 records read" in the Markdown and HTML run line (the summary said "1 record")."""
    run = replace(sample_run(), records=RecordCounts(read=1), requests=1)
    for fmt in ("md", "html"):
        text = render(run, fmt, fail_on=ALL_FAIL)
        assert "1 record read" in text and "1 request ·" in text, fmt


def test_the_junit_report_is_written_case_by_case() -> None:
    """Built as one tree and one string, the JUnit report of 190,000 links took 0.6 KB per
    link at the end of a run; written one test case at a time, no write holds more than a
    few of them, and the whole is the same valid JUnit."""
    results = tuple(res(f"https://news.example/{n}", LinkStatus.DEAD if n % 3 else LinkStatus.OK,
                        "http_404" if n % 3 else "http_200", o(f"recs/{n}.md", "webUrl", 2))
                    for n in range(3000))
    run = replace(sample_run(), results=results, slot_results=())

    class Writes(io.StringIO):
        largest = 0

        def write(self, text: str) -> int:
            self.largest = max(self.largest, len(text))
            return super().write(text)

    from enricher.report.junit import write_junit

    out = Writes()
    write_junit(run, out, fail_on=frozenset({"dead"}))
    assert out.largest < 2000, out.largest
    suite = ET.fromstring(out.getvalue()).find("testsuite")
    assert suite is not None and len(suite.findall("testcase")) == 3000 + 2  # + record errors
    assert suite.get("failures") == "2000"


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_a_report_from_the_history_claims_no_counts_it_does_not_have(fmt: str) -> None:
    """``enricher report`` rebuilds the last finished run from the history, which keeps
    no request or record counts: the header said "0 requests · 0 B · 0 records read" of a
    run that had read 2 records and made 10 requests."""
    run = replace(sample_run(), command="report", options={"state": ".enricher/state.sqlite"},
                  requests=0, bytes_read=0, records=RecordCounts())
    text = render(run, fmt, fail_on=ALL_FAIL)
    assert "the last finished run in .enricher/state.sqlite" in text
    assert "0 requests" not in text and "records read" not in text and "0 B" not in text
    assert "requests" in render(sample_run(), fmt, fail_on=ALL_FAIL)  # a run keeps them


def test_redirects_worth_updating_leave_out_those_update_redirects_refuses() -> None:
    """A deep article sent for good to the front page or a listing: --update-redirects does
    not write it, and the report recommended it all the same."""
    def moved(url: str, final: str) -> LinkResult:
        return LinkResult(url, LinkKind.PAGE, LinkStatus.REDIRECTED, "http_301",
                          http_status=301, final_url=final, sources=(Origin("a.md", "webUrl"),))

    run = replace(sample_run(), results=(
        moved("https://a.example/2021/05/bike-lanes", "https://a.example/"),
        moved("https://a.example/2021/05/bus-lanes", "https://a.example/category/news/"),
        moved("https://a.example/2021/05/tram-lanes", "https://a.example/2021/05/trams")))
    assert [e.url for e in redirects_worth_updating(run)] == [
        "https://a.example/2021/05/tram-lanes"]
