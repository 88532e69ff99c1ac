"""The library surface (enricher.api): the command line's own pipeline, with plain calls."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_a_script_without_a_main_guard_runs_once_on_a_large_corpus(tmp_path: Path) -> None:
    """Past 512 records the command line reads in a worker process, which "spawn" starts
    by importing the caller's ``__main__`` again: a library script without an ``if
    __name__ == "__main__"`` guard ran twice, and printed multiprocessing's traceback. The
    library reads in its own process."""
    folder = tmp_path / "records"
    folder.mkdir()
    for n in range(600):
        (folder / f"r{n:03d}.md").write_text(f"---\nwebUrl: https://a.example/{n}\n---\n",
                                             encoding="utf-8")
    script = tmp_path / "audit.py"
    script.write_text(
        "from enricher import api\n"
        "print('top', flush=True)\n"
        f"run = api.check([{str(folder)!r}], api.Config(state_file=None, exclude=('.',)))\n"
        "print(run.records.read, flush=True)\n"
        f"print(api.main(['check', {str(folder)!r}, '--no-state', '-q', '--exclude', '.']))\n",
        encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.stdout == "top\n600\n0\n", done.stdout
    assert done.stderr == "", done.stderr


def test_errors_a_caller_can_cause_are_the_apis_own(tmp_path: Path) -> None:
    with pytest.raises(api.UsageError, match="input not found"):
        api.check([str(tmp_path / "missing")])
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "a.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    (tmp_path / "state.sqlite").write_text("not a database", encoding="utf-8")
    with pytest.raises(api.StateError):
        api.check([str(tmp_path / "news")], api.Config(state_file=str(tmp_path / "state.sqlite")))


def test_unusable_proxy_or_ca_settings_are_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on the command line (exit 2, one line): a bare ValueError came out of the run."""
    (tmp_path / "a.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(api.UsageError, match=r"missing\.pem"):
        api.check([str(tmp_path / "a.md")])
    monkeypatch.delenv("SSL_CERT_FILE")
    config = api.Config(fetch=api.FetchConfig(proxy="socks5://127.0.0.1:1080"), state_file=None)
    with pytest.raises(api.UsageError, match=r"only http:// and https:// proxies"):
        api.check([str(tmp_path / "a.md")], config)


def _hanging_web(tmp_path: Path) -> tuple[Path, Any, Any]:
    """A record whose page never answers, served by a thread's server; the event set when a
    request came (no sleeps: the test waits for it)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    came = threading.Event()

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                conn.recv(4096)
                came.set()  # and never answers

    threading.Thread(target=accept, daemon=True).start()
    record = tmp_path / "a.md"
    record.write_text(f'---\ntitle: "T"\nwebUrl: "http://127.0.0.1:{port}/story"\n---\nB\n',
                      encoding="utf-8")
    return record, came, server


def test_a_cancelled_or_timed_out_call_raises_as_asyncio_code_expects(tmp_path: Path) -> None:
    """``asyncio.timeout`` around check_async gave no TimeoutError but a partial RunResult
    (aborted: interrupted), and a cancelled task returned normally: the run stops cleanly
    and the cancellation goes on."""
    record, _, server = _hanging_web(tmp_path)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await api.check_async([str(record)], FAST)
        task = asyncio.create_task(api.check_async([str(record)], FAST))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    finally:
        server.close()


def test_main_in_a_running_loop_stops_on_its_callers_interrupt(tmp_path: Path) -> None:
    """In a notebook, api.main runs in a worker thread, which gets no signals: Ctrl-C came
    only after the run, which had rewritten the records. The caller's interrupt now stops
    the run as SIGINT does: exit 3, no record written."""
    from enricher.cli import Env
    from enricher.cli import main as cli_main

    record, came, server = _hanging_web(tmp_path)
    before = record.read_bytes()
    stops: list[Any] = []
    env = Env(stdout=io.StringIO(), stderr=io.StringIO(), reading_worker=False,
              on_stop=stops.append, find_config=False)
    argv = ["enrich", str(record), "--in-place", "--allow-private", "--no-state",
            "--max-attempts", "1", "--timeout", "30s"]
    with concurrent.futures.ThreadPoolExecutor(1) as worker:
        future = worker.submit(cli_main, argv, env)
        assert came.wait(10)  # the run is fetching
        stops[0]()
        assert future.result(10) == 3
    server.close()
    assert record.read_bytes() == before


def test_extract_page_keeps_page_urls_as_the_enrichment_does() -> None:
    """extract_page gave the page's URLs as found: credentials, a port out of range, which
    the enrichment drops (it promises the same extraction)."""
    html = (b'<html><head><title>A story</title><meta property="og:image" '
            b'content="http://user:pw@e.example/x.png"><link rel="canonical" '
            b'href="http://e.example:99999999/c"></head></html>')
    for page_bytes in (html, bytearray(html), memoryview(html)):
        meta = api.extract_page(page_bytes, "https://e.example/story")
        assert meta.title == "A story" and meta.image is None and meta.canonical_url is None


def test_the_runs_own_warnings_are_python_warnings(tmp_path: Path) -> None:
    """A folder without records passed in silence (the command line warns: a moved or
    mistyped folder must not pass a nightly run unnoticed)."""
    (tmp_path / "empty").mkdir()
    with pytest.warns(UserWarning, match="no records"):
        run = api.check([str(tmp_path / "empty")], FAST)
    assert run.records.read == 0


def test_one_include_pattern_given_as_a_string_is_one_pattern(tmp_path: Path) -> None:
    """``Config(include="art")`` was the patterns a, r and t."""
    from dataclasses import replace

    (tmp_path / "a.md").write_text('---\ntitle: "T"\nwebUrl: "https://x.example/art"\n'
                                   'originalUrl: "https://x.example/zzz"\n---\n', "utf-8")
    config = replace(FAST, include="art", exclude="^https://x.example/a")  # type: ignore[arg-type]
    run = api.check([str(tmp_path / "a.md")], config)
    assert sorted((r.raw, r.reason) for r in run.slot_results) == [
        ("https://x.example/art", "excluded"), ("https://x.example/zzz", "not_included")]
    assert not run.results  # nothing fetched


def test_links_takes_one_include_pattern_as_a_string_too(tmp_path: Path) -> None:
    from dataclasses import replace

    (tmp_path / "a.md").write_text('---\ntitle: "T"\nwebUrl: "https://x.example/keep"\n'
                                   'originalUrl: "https://x.example/drop"\n---\n', "utf-8")
    found, _ = api.links([str(tmp_path / "a.md")], replace(FAST, include="keep"))  # type: ignore[arg-type]
    assert sorted((r.raw, r.reason) for r in found) == [
        ("https://x.example/drop", "not_included"), ("https://x.example/keep", None)]


def test_extract_page_drops_credentials_also_in_a_canonical_repeating_the_url() -> None:
    page = b'<link rel="canonical" href="https://u:p@example.com/story">'
    assert api.extract_page(page, "https://u:p@example.com/story").canonical_url is None


def test_a_warnings_as_errors_filter_does_not_stop_a_run(tmp_path: Path) -> None:
    """The run's warning lines are issued once it is over: a caller's "error" filter got
    the warning out of the middle of the run, which the history recorded as interrupted."""
    import warnings
    from dataclasses import replace

    from enricher.state import History

    (tmp_path / "empty").mkdir()
    state = tmp_path / "state.sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="no records"):
            api.check([str(tmp_path / "empty")], replace(FAST, state_file=str(state)))
    with History.open(state, read_only=True) as history:
        assert [run.state for run in history.runs(1)] == ["finished"]

