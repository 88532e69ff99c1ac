"""The second pass of a run (a URL first checked for reachability, later needed as a page)
never replaces an answer with a breaker's "never asked".

A URL cited first as an ``ampWebUrl`` (HEAD) and later as a ``webUrl`` is fetched again as a
page. If its origin's breaker tripped in between (the site stopped taking connections), the
second pass sends nothing; the HEAD's real answer must stand, not become ``host_unreachable``.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from netserver import FakeResolver, NetServer, page
from rich.console import Console

from enricher import app
from enricher.config import Config, FetchConfig
from enricher.models import LinkKind, LinkStatus
from enricher.progress import QuietReporter


def test_a_tripped_breaker_never_overwrites_an_earlier_answer(tmp_path: Path) -> None:
    servers: list[NetServer] = []

    async def handler(req: object, conn: object) -> None:
        await conn.respond(200, page("Live"), close=True)  # type: ignore[attr-defined]
        assert servers[0]._server is not None
        servers[0]._server.close()  # the site answers once, then refuses connections

    async def main() -> app.RunResult:
        async with NetServer(handler) as srv:
            servers.append(srv)
            url = srv.url("a.test", "/amp")
            records = [("1", "ampWebUrl", url)]
            records += [(f"{i + 2}", "webUrl", srv.url("a.test", f"/gone{i}")) for i in range(3)]
            records.append(("9", "webUrl", url))
            for name, key, value in records:
                (tmp_path / f"{name}.md").write_text(
                    f'---\ntitle: "T"\n{key}: {json.dumps(value)}\n---\n', encoding="utf-8")
            fetch = FetchConfig(allow_private=True, request_deadline=0.3, max_attempts=1,
                                host_request_interval=0.0, host_concurrency=1,
                                breaker_threshold=3)
            config = Config(fetch=fetch, state_file=None)
            reporter = QuietReporter(Console(file=io.StringIO()), False)
            return await app.run("check", [str(tmp_path)], config, reporter, write=False,
                                 resolver=FakeResolver({"a.test": ["127.0.0.1"]}))

    run = asyncio.run(main())
    assert run.elapsed is not None and 0 < run.elapsed < 60  # measured, not whole seconds
    results = {r.url.rsplit("/", 1)[1]: r for r in run.results}
    assert {(results[f"gone{i}"].status, results[f"gone{i}"].reason)
            for i in range(3)} == {(LinkStatus.ERROR, "connect")}
    amp = results["amp"]
    assert (amp.status, amp.http_status, amp.kind) == (LinkStatus.OK, 200, LinkKind.REACH), amp


def test_a_url_fetched_again_for_another_purpose_is_counted_once(tmp_path: Path) -> None:
    """Cited first as an AMP link (HEAD), then as a page (GET again): the progress display
    counted it twice ("2638/2637")."""

    async def handler(req: object, conn: object) -> None:
        await conn.respond(200, page("Live"))  # type: ignore[attr-defined]

    async def main() -> tuple[app.RunResult, QuietReporter]:
        async with NetServer(handler) as srv:
            url = srv.url("a.test", "/story")
            for name, key in (("1", "ampWebUrl"), ("2", "webUrl")):
                (tmp_path / f"{name}.md").write_text(
                    f'---\ntitle: "T"\n{key}: {json.dumps(url)}\n---\n', encoding="utf-8")
            fetch = FetchConfig(allow_private=True, request_deadline=2, max_attempts=1,
                                host_request_interval=0.0)
            reporter = QuietReporter(Console(file=io.StringIO()), False)
            run = await app.run("check", [str(tmp_path)], Config(fetch=fetch, state_file=None),
                                reporter, write=False,
                                resolver=FakeResolver({"a.test": ["127.0.0.1"]}))
            return run, reporter

    run, reporter = asyncio.run(main())
    (result,) = run.results
    assert (result.kind, result.status) == (LinkKind.PAGE, LinkStatus.OK)  # fetched again
    assert (reporter.done, reporter.total) == (1, 1)
