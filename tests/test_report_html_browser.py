"""The HTML report in a real headless browser (Debian's ``chromium``, ``--dump-dom``).

The page reads its filters and sort order from the URL fragment on load, so the dumped DOM
shows which rows the filter hid (``hidden`` attribute) and in which order they are. This also
proves the Content Security Policy hashes match: with a wrong hash the script would not run
and nothing would be hidden.

Without chromium the test fails when ``CI`` is set (CI installs chromium) and skips otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report import DEAD_URLS, EXPECTED, sample_run

from enricher.models import LinkStatus
from enricher.report.html import render_html


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{message}; CI must install it to test the HTML report")
    pytest.skip(f"{message}; skipped outside CI (with CI set this test fails instead)")


@dataclass
class Row:
    attrs: dict[str, str | None]
    sort_keys: list[str]

    @property
    def hidden(self) -> bool:
        return "hidden" in self.attrs

    @property
    def status(self) -> str:
        return self.attrs["data-status"] or ""


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[Row] = []
        self.shown: str | None = None
        self._in_output = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "data-status" in a:
            self.rows.append(Row(a, []))
        elif tag == "td" and self.rows:
            self.rows[-1].sort_keys.append(a.get("data-sort") or "")
        elif tag == "output" and a.get("id") == "shown":
            self._in_output = True

    def handle_data(self, data: str) -> None:
        if self._in_output:
            self.shown = (self.shown or "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "output":
            self._in_output = False


def _start(chromium: str, page: Path, fragment: str, profile: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--dump-dom",
            f"{page.as_uri()}{fragment}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_html_report_rows_filters_and_sorting_in_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_run()), "utf-8")
    fragments = {
        "dead": "#status=dead&sort=-http",
        "dead_news": "#status=dead&host=NEWS.example",
        "record": "#status=%3Cscript%3E&record=recs/a.md",  # unknown status: ignored
    }
    procs = {
        name: _start(chromium, page, frag, tmp_path / f"profile-{name}")
        for name, frag in fragments.items()
    }  # in parallel: each start costs a second or two
    doms: dict[str, _Dom] = {}
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=90)
        finally:
            proc.kill()
        assert proc.returncode == 0, f"chromium failed for {name}"
        dom = _Dom()
        dom.feed(out)
        doms[name] = dom

    served = _Dom()  # the page as written, before any script ran
    served.feed(page.read_text("utf-8"))
    total = sum(EXPECTED.values())
    assert len(served.rows) == total and not any(r.hidden for r in served.rows)
    for name, dom in doms.items():
        assert len(dom.rows) == total, name  # filtering hides rows, never removes them

    dead = doms["dead"]
    visible = [r for r in dead.rows if not r.hidden]
    assert {r.status for r in visible} == {"dead"}
    assert len(visible) == EXPECTED[LinkStatus.DEAD] == len(DEAD_URLS)
    assert all(r.hidden for r in dead.rows if r.status != "dead")
    assert dead.shown == str(len(DEAD_URLS))  # the script ran (the CSP hash matched)

    http = [int(r.sort_keys[3] or 0) for r in dead.rows]
    assert http == sorted(http, reverse=True) and http[0] == 503
    assert [int(r.sort_keys[3] or 0) for r in served.rows] != http  # sorting moved rows

    news = [r for r in doms["dead_news"].rows if not r.hidden]
    assert [(r.status, r.attrs["data-host"]) for r in news] == [("dead", "news.example")] * 2

    record = doms["record"]
    visible = [r for r in record.rows if not r.hidden]
    expected_a = [r for r in served.rows if "recs/a.md" in (r.attrs["data-records"] or "").split()]
    assert [r.attrs for r in visible] == [r.attrs for r in expected_a]
    assert len(visible) == 5 and len({r.status for r in visible}) > 1
    assert record.shown == "5"
