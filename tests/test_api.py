"""The library surface (enricher.api): the command line's own pipeline, with plain calls."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from enricher import api
from enricher.demo import DemoWeb, demo_web, write_demo_records

FAST = api.Config(state_file=None, fetch=api.FetchConfig(
    allow_private=True, host_request_interval=0.001, request_deadline=5.0, max_attempts=1))


@pytest.fixture
def web() -> Iterator[DemoWeb]:
    with demo_web() as w:
        yield w


def test_check_returns_the_run_the_command_line_reports(
        web: DemoWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "records"
    write_demo_records(web, folder)
    before = {p: p.read_bytes() for p in folder.glob("*.md")}
    run = api.check([str(folder)], FAST)
    out = io.StringIO()
    code = api.main(["check", str(folder), "--no-state", "--allow-private", "--results", "-"],
                    stdout=out, stderr=io.StringIO())
    assert code == 1  # the demo has dead links
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_url = {line["url"]: line["status"] for line in lines if line["url"]}  # not the invalid
    assert {r.url: r.status.value for r in run.results} == by_url
    assert any(r.status is api.LinkStatus.DEAD for r in run.results)
    assert any(r.page and r.page.title for r in run.results)
    assert {p: p.read_bytes() for p in folder.glob("*.md")} == before  # check writes nothing
    policed = api.check([str(folder)])  # the defaults: the address policy on, no history
    assert {r.reason for r in policed.results} == {"forbidden_address"}
    assert not (tmp_path / ".enricher").exists()


def test_enrich_writes_records_and_links_lists_slots(web: DemoWeb, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    write_demo_records(web, folder)
    found, errors = api.links([str(folder)])
    assert errors == [] or all(isinstance(e, api.RecordError) for e in errors)
    assert {ref.url for ref in found if ref.url} and all(ref.origin.file for ref in found)
    run = asyncio.run(api.enrich_async([str(folder)], api.Config(
        state_file=None, in_place=True, fetch=FAST.fetch)))
    assert run.records.changed > 0
    assert any("linkCheck:" in p.read_text("utf-8") for p in folder.glob("*.md"))


def test_extract_page_decodes_and_extracts() -> None:
    html = ('<html><head><meta charset="iso-8859-1"><meta property="og:title" content="Caf\xe9 '
            'reopens | Harbour Gazette"><meta property="og:site_name" content="Harbour Gazette">'
            '<meta property="og:image" content="/i.jpg"></head></html>').encode("latin-1")
    meta = api.extract_page(html, "https://example.com/news/cafe.html")
    assert meta.title == "Café reopens"
    assert meta.image is not None and meta.image.url == "https://example.com/i.jpg"


def test_main_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    """A notebook or an async program has a loop running: asyncio.run would refuse."""
    (tmp_path / "a.md").write_text("---\nwebUrl: https://example.com/a\n---\n", "utf-8")

    async def inside() -> tuple[int, str]:
        out = io.StringIO()
        return api.main(["links", str(tmp_path)], stdout=out, stderr=io.StringIO()), out.getvalue()

    code, out = asyncio.run(inside())
    assert code == 0 and "https://example.com/a" in out
