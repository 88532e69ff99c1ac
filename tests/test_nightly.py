"""Nightly runs end to end: ``app.run("enrich", ...)`` with a state file and an injected clock,
night after night, against a local web whose pages change between runs.

The local web is a threaded ``http.server`` on 127.0.0.1 with a route table the tests rewrite
between runs (alive -> dead, dead -> alive, new 301s, flapping) and request counters per path
and answer code. Asserted: confirmed dead only after 3 dead runs spanning >= 2 days (``since``
and ``confirmed`` in linkCheck), one bad night never changes a record's bytes, --prune-dead,
--update-redirects and --fill-missing, the change report (RunResult.changes and ``enricher
report``), --max-age reuse without requests, and ETag revalidation that costs only 304s.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from enricher import app
from enricher import state as state_module
from enricher.cli import Env, ExitCode, main
from enricher.config import Config, FetchConfig
from enricher.models import Changes, LinkResult, LinkStatus, RunResult, StillDead
from enricher.progress import QuietReporter

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
OWNED = ("linkCheck", "livePage")  # the keys enricher writes into every record
FILLED = frozenset({"title", "excerpt", "images"})  # what --fill-missing may add


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, **delta: float) -> datetime:
        self.now = T0 + timedelta(**delta)
        return self.now


# --- the local web -----------------------------------------------------------------------


@dataclass(slots=True)
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    content_type: str = "text/html; charset=utf-8"
    last_modified: str | None = None  # an HTTP date; If-Modified-Since at or after it: 304
    answer_etag: str | None = None  # the ETag sent, when not ``etag`` (which still matches)
    modified_on_304: bool = True  # a 304 names Last-Modified again


def article(title: str, description: str, image: str | None = None) -> bytes:
    meta = [
        f"<title>{title}</title>",
        f'<meta property="og:title" content="{title}">',
        f'<meta property="og:description" content="{description}">',
        '<meta property="og:site_name" content="Harbour Gazette">',
    ]
    if image:
        meta.append(f'<meta property="og:image" content="{image}">')
    body = f"<h1>{title}</h1>" + f"<p>{description} More words about the story.</p>" * 20
    html = f'<!doctype html><html lang="en"><head>{"".join(meta)}</head><body>{body}</body></html>'
    return html.encode()


# a 3x2 PNG: signature, IHDR chunk (width 3, height 2), then an empty IEND
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x02\x00\x00\x00"
    b"\x12\x16\xf1M\x00\x00\x00\x00IEND\xaeB`\x82"
)


class LocalWeb:
    """Routes by path, changed by the test between runs; counts every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()  # path -> requests
        self.codes: Counter[tuple[str, int]] = Counter()  # (path, answer code) -> requests
        self.validators: list[tuple[str, str | None, str | None]] = []  # path, INM, IMS
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def page(self, path: str, title: str, *, image: str | None = None) -> None:
        desc = f"What happened with {title.lower()}."
        self.routes[path] = Route(200, article(title, desc, image), etag=f'"{path}-v1"')

    def image(self, path: str) -> None:
        self.routes[path] = Route(200, PNG, etag=f'"{path}-v1"', content_type="image/png")

    def dead(self, path: str) -> None:
        self.routes[path] = Route(404, b"<h1>Not Found</h1>")

    def broken(self, path: str) -> None:
        self.routes[path] = Route(500, b"<h1>Internal Server Error</h1>")

    def moved(self, path: str, to: str) -> None:
        self.routes[path] = Route(301, b"", {"Location": self.url(to)})

    def reset_counts(self) -> None:
        with self.lock:
            self.hits.clear()
            self.codes.clear()
            self.validators.clear()

    def _answer(self, path: str, headers: Any) -> tuple[Route, int]:
        route = self.routes.get(path, Route(404, b"<h1>Not Found</h1>"))
        code = route.status
        asked, since = headers.get("If-None-Match"), headers.get("If-Modified-Since")
        matches = asked is not None and asked in (route.etag, route.answer_etag)
        unchanged = asked is None and since and route.last_modified and (
            parsedate_to_datetime(since) >= parsedate_to_datetime(route.last_modified))
        if (route.etag is not None and matches) or unchanged:
            code = 304
        with self.lock:
            self.validators.append((path, asked, since))
            self.hits[path] += 1
            self.codes[(path, code)] += 1
        return route, code

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _serve(self, head: bool) -> None:
                route, code = web._answer(self.path.split("?")[0], self.headers)
                body = b"" if code == 304 else route.body
                self.send_response(code)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                if route.etag is not None:
                    self.send_header("ETag", route.answer_etag or route.etag)
                if route.last_modified is not None and (code != 304 or route.modified_on_304):
                    self.send_header("Last-Modified", route.last_modified)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._serve(head=False)

            def do_HEAD(self) -> None:
                self._serve(head=True)

        return Handler

    def __enter__(self) -> LocalWeb:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web() -> Iterator[LocalWeb]:
    with LocalWeb() as w:
        yield w


# --- running nights ----------------------------------------------------------------------


def config(state: Path, **kw: Any) -> Config:
    fetch = FetchConfig(
        allow_private=True,
        connect_timeout=2.0,
        read_timeout=2.0,
        request_deadline=5.0,
        max_attempts=1,
        host_request_interval=0.0,
        host_concurrency=8,
    )
    return Config(fetch=fetch, state_file=str(state), in_place=True, **kw)


def night(folder: Path, cfg: Config, clock: Clock, command: str = "enrich") -> RunResult:
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(
        app.run(
            command,
            [str(folder)],
            cfg,
            QuietReporter(console, False),
            write=command == "enrich",
            clock=clock,
        )
    )
    assert run.aborted is None, run.aborted
    assert not run.record_errors, run.record_errors
    return run


def front(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text.split("---", 2)[1])
    assert isinstance(data, dict)
    return data


def body(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("---", 2)[2]


def without_owned(value: Any) -> Any:
    """The record's data with enricher's own keys removed, at every depth."""
    if isinstance(value, dict):
        return {k: without_owned(v) for k, v in value.items() if k not in OWNED}
    if isinstance(value, list):
        return [without_owned(v) for v in value]
    return value


def same_but_filled(new: Any, old: Any, where: str = "") -> None:
    """``new`` holds exactly ``old``'s data, but for what --fill-missing may add or fill."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        assert set(new) - set(old) <= FILLED, (where, set(new) - set(old))
        for key, value in old.items():
            assert key in new, f"{where}.{key} lost"
            if not (key in FILLED and value in (None, "", [])):
                same_but_filled(new[key], value, f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            same_but_filled(a, b, f"{where}[{i}]")
    else:
        assert new == old, where


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.md"))}


def by_url(run: RunResult) -> dict[str, LinkResult]:
    return {r.url: r for r in run.results}


def record(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join(["---", *lines, "---", "", f"Body of {name}.", ""]), "utf-8")
    return path


# --- the series of nights ----------------------------------------------------------------


def test_a_series_of_nights(web: LocalWeb, tmp_path: Path) -> None:
    u = web.url
    for path, title in (
        ("/news/stable.html", "Harbour bridge reopens"),
        ("/news/keep.html", "Ferry timetable changes"),
        ("/news/keep2.html", "Market hall renovation"),
        ("/news/dies.html", "Council minutes published"),
        ("/news/blip.html", "Lighthouse tours resume"),
        ("/news/flaps.html", "Fishing quota agreed"),
        ("/news/moves.html", "Library extends hours"),
        ("/news/moved.html", "Library extends hours"),
    ):
        web.page(path, title)
    web.page("/news/fill.html", "Tram line extension opens", image=u("/img/tram.png"))
    web.image("/img/tram.png")
    web.dead("/news/revives.html")

    folder = tmp_path / "records"
    folder.mkdir()
    q = json.dumps
    rec = {
        "stable": record(folder, "stable.md", [
            'title: "Harbour bridge reopens"', f"webUrl: {q(u('/news/stable.html'))}",
            f"originalUrl: {q(u('/news/stable.html'))}",
        ]),
        "prune": record(folder, "prune.md", [
            'title: "Harbour roundup"', f"webUrl: {q(u('/news/stable.html'))}", "related:",
            '  - title: "Ferry timetable changes"', f"    webUrl: {q(u('/news/keep.html'))}",
            '  - title: "Council minutes published"', f"    webUrl: {q(u('/news/dies.html'))}",
            "    provider:", "      name: Harbour Gazette", "    quality: 7",
            '  - title: "Market hall renovation"', f"    webUrl: {q(u('/news/keep2.html'))}",
            "deadRelated:", '  - title: "An older casualty"', "    webUrl: gone",
        ]),
        "blip": record(folder, "blip.md", [
            'title: "Lighthouse tours resume"', f"webUrl: {q(u('/news/blip.html'))}",
        ]),
        "flaps": record(folder, "flaps.md", [
            'title: "Fishing quota agreed"', f"webUrl: {q(u('/news/flaps.html'))}",
        ]),
        "moves": record(folder, "moves.md", [
            'title: "Library extends hours"', f"webUrl: {q(u('/news/moves.html'))}",
            "quality: 40",
        ]),
        "revives": record(folder, "revives.md", [
            'title: "Pier festival returns"', f"webUrl: {q(u('/news/revives.html'))}",
        ]),
        "fill": record(folder, "fill.md", [
            'title: ""', "excerpt:", f"webUrl: {q(u('/news/fill.html'))}",
        ]),
        "keep": record(folder, "keep.md", [
            'title: "Our own headline"', 'excerpt: "Our own excerpt."',
            f"webUrl: {q(u('/news/fill.html'))}", "images:",
            f"  - url: {q(u('/img/tram.png'))}",
        ]),
    }
    original = {k: front(p) for k, p in rec.items()}
    bodies = {k: body(p) for k, p in rec.items()}
    state = tmp_path / "state" / "history.sqlite"
    base = config(state, fill_missing=True)
    clock = Clock()

    # night 1: everything ok but one dead link
    run = night(folder, base, clock)
    results = by_url(run)
    assert results[u("/news/revives.html")].status is LinkStatus.DEAD
    assert results[u("/news/revives.html")].confirmed is False
    assert run.changes == Changes(newly_dead=(u("/news/revives.html"),))
    check = front(rec["revives"])["linkCheck"]["webUrl"]
    assert check == {"status": "dead", "httpStatus": 404, "reason": "http_404",
                     "confirmed": False, "since": iso(T0)}
    assert front(rec["stable"])["linkCheck"]["webUrl"] == {"status": "ok", "httpStatus": 200,
                                                          "since": iso(T0)}
    # --fill-missing fills empty title/excerpt/images from the live page, never overwrites
    filled = front(rec["fill"])
    assert filled["title"] == "Tram line extension opens"
    assert filled["excerpt"] == "What happened with tram line extension opens."
    assert filled["images"] == [{"url": u("/img/tram.png"), "width": 3, "height": 2,
                                 "linkCheck": {"url": {"status": "ok", "httpStatus": 200,
                                                       "type": "png", "width": 3, "height": 2,
                                                       "since": iso(T0)}}}]
    kept = front(rec["keep"])
    assert (kept["title"], kept["excerpt"]) == ("Our own headline", "Our own excerpt.")
    assert [i["url"] for i in kept["images"]] == [u("/img/tram.png")]
    assert kept["linkCheck"]["webUrl"]["titleDrift"] is True
    assert kept["livePage"]["title"] == "Tram line extension opens"
    first = snapshot(folder)

    # an hour later, same web: not a byte changes (the image filled in by --fill-missing
    # got its linkCheck entry in the run that filled it)
    clock.set(hours=1)
    run = night(folder, base, clock)
    after1 = snapshot(folder)
    assert {n for n in after1 if after1[n] != first[n]} == set()
    assert front(rec["fill"])["images"][0]["linkCheck"]["url"]["status"] == "ok"
    assert run.changes is not None
    assert run.changes.still_dead == (StillDead(u("/news/revives.html"), iso(T0), 0.04),)

    # night 2: one goes dead, one has a bad night (500), one starts flapping
    clock.set(days=1)
    web.dead("/news/dies.html")
    web.broken("/news/blip.html")
    web.dead("/news/flaps.html")
    run = night(folder, base, clock)
    results = by_url(run)
    dies = results[u("/news/dies.html")]
    assert (dies.status, dies.since, dies.confirmed) == (LinkStatus.DEAD, iso(clock()), False)
    assert results[u("/news/blip.html")].status is LinkStatus.ERROR
    assert run.changes is not None
    assert run.changes.newly_dead == (u("/news/dies.html"), u("/news/flaps.html"))
    assert run.changes.recovered == run.changes.newly_redirected == run.changes.flapping == ()
    assert run.changes.still_dead == (StillDead(u("/news/revives.html"), iso(T0), 1.0),)
    # one bad night never changes a record whose link was ok before
    assert snapshot(folder) == after1

    # night 3: dies stays dead, the others recover, a new permanent redirect appears
    clock.set(days=2)
    web.page("/news/blip.html", "Lighthouse tours resume")
    web.page("/news/flaps.html", "Fishing quota agreed")
    web.page("/news/revives.html", "Pier festival returns")
    web.moved("/news/moves.html", "/news/moved.html")
    run = night(folder, base, clock)
    assert run.changes == Changes(
        recovered=(u("/news/blip.html"), u("/news/flaps.html"), u("/news/revives.html")),
        still_dead=(StillDead(u("/news/dies.html"), iso(T0 + timedelta(days=1)), 1.0),),
        newly_redirected=(u("/news/moves.html"),),
    )
    assert by_url(run)[u("/news/dies.html")].confirmed is False
    now = snapshot(folder)
    assert now["prune.md"] == after1["prune.md"]  # two dead runs: not confirmed, no change
    assert now["blip.md"] == after1["blip.md"] and now["flaps.md"] == after1["flaps.md"]
    moves = front(rec["moves"])
    assert moves["webUrl"] == u("/news/moves.html")  # without --update-redirects: only noted
    assert moves["linkCheck"]["webUrl"] == {
        "status": "redirected", "httpStatus": 200, "reason": "http_301",
        "finalUrl": u("/news/moved.html"), "since": iso(clock()),
    }
    assert front(rec["revives"])["linkCheck"]["webUrl"] == {
        "status": "ok", "httpStatus": 200, "since": iso(clock())}

    # night 3, an hour later, with --update-redirects: three dead runs within 25 hours are
    # still not confirmed (the span must reach two days)
    clock.set(days=2, hours=1)
    run = night(folder, replace(base, update_redirects=True), clock)
    dies = by_url(run)[u("/news/dies.html")]
    assert (dies.status, dies.confirmed) == (LinkStatus.DEAD, False)
    assert run.changes is not None and run.changes.newly_redirected == ()
    assert snapshot(folder)["prune.md"] == after1["prune.md"]
    moves = front(rec["moves"])
    assert moves["webUrl"] == u("/news/moved.html")
    updated = {"status": "ok", "httpStatus": 200, "since": iso(clock()),
               "previousUrl": u("/news/moves.html")}  # about the new URL: no stale redirect
    assert moves["linkCheck"]["webUrl"] == updated
    assert moves["quality"] == 40 and body(rec["moves"]) == bodies["moves"]
    moved_bytes = rec["moves"].read_bytes()

    # night 4: the fourth dead run, two days after the first: confirmed; flaps goes dead again
    clock.set(days=3)
    web.dead("/news/flaps.html")
    before = snapshot(folder)
    run = night(folder, base, clock)
    assert rec["moves"].read_bytes() == moved_bytes  # the updated entry holds: no change
    results = by_url(run)
    dies = results[u("/news/dies.html")]
    assert (dies.status, dies.confirmed) == (LinkStatus.DEAD, True)
    assert dies.since == iso(T0 + timedelta(days=1))
    assert run.changes is not None
    assert run.changes.flapping == (u("/news/flaps.html"),)
    assert run.changes.newly_dead == (u("/news/flaps.html"),)
    assert run.changes.still_dead == (StillDead(u("/news/dies.html"), dies.since, 2.0),)
    pruned = front(rec["prune"])
    assert pruned["related"][1]["linkCheck"]["webUrl"] == {
        "status": "dead", "httpStatus": 404, "reason": "http_404", "confirmed": True,
        "since": dies.since,
    }
    assert len(pruned["related"]) == 3  # confirmed, but --prune-dead was not asked for
    now = snapshot(folder)
    assert now["flaps.md"] == before["flaps.md"]  # bad again, not confirmed: no change
    moves = front(rec["moves"])  # the new URL is checked; the old one is remembered
    assert moves["linkCheck"]["webUrl"]["status"] == "ok"
    assert moves["linkCheck"]["webUrl"]["previousUrl"] == u("/news/moves.html")
    assert u("/news/moves.html") not in results

    # night 4, an hour later, with --prune-dead: the confirmed dead item moves to deadRelated
    clock.set(days=3, hours=1)
    run = night(folder, replace(base, prune_dead=True), clock)
    assert by_url(run)[u("/news/dies.html")].confirmed is True
    pruned = front(rec["prune"])
    assert [r["webUrl"] for r in pruned["related"]] == [u("/news/keep.html"),
                                                        u("/news/keep2.html")]
    assert [r["webUrl"] for r in pruned["deadRelated"]] == ["gone", u("/news/dies.html")]
    assert pruned["deadRelated"][1]["linkCheck"]["webUrl"]["confirmed"] is True
    # nothing lost: the same data, with one item moved from related to the end of deadRelated
    old, new = original["prune"], without_owned(pruned)
    expected = {**old, "related": [old["related"][0], old["related"][2]],
                "deadRelated": [*old["deadRelated"], old["related"][1]]}
    same_but_filled(new, expected)
    for key, path in rec.items():  # every record keeps its data (but the fix-ups) and body
        if key not in {"prune", "moves"}:
            same_but_filled(without_owned(front(path)), original[key], key)
        assert body(path) == bodies[key], key
    last_changes = run.changes
    assert last_changes is not None
    assert last_changes.flapping == (u("/news/flaps.html"),)

    # enricher report renders the history and writes a JSON report with the same changes
    report = tmp_path / "report.json"
    out, err = io.StringIO(), io.StringIO()
    code = main(["report", "--state", str(state), "--report", str(report), "--no-color"],
                Env(stdout=out, stderr=err, force_terminal=False))
    assert code == ExitCode.LINKS_FAILED, err.getvalue()
    text = err.getvalue()
    assert "Changes since the previous run" in text
    assert "still dead (2)" in text and "flapping (1)" in text
    assert f"{u('/news/dies.html')}  (2.0 days)" in text
    assert f"History {state} · last run finished " in text and "Run time" not in text
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["changes"]["flapping"] == [u("/news/flaps.html")]
    assert doc["changes"]["still_dead"] == [
        {"url": s.url, "since": s.since, "days": s.days} for s in last_changes.still_dead
    ]
    assert {r["url"]: r["status"] for r in doc["results"]}[u("/news/dies.html")] == "dead"


def test_a_bad_night_after_an_ok_night_changes_no_byte(web: LocalWeb, tmp_path: Path) -> None:
    """Failures (404, 500) on the night after an ok night, for pages, AMP and images."""
    web.page("/a.html", "Storm warning lifted")
    web.image("/a.png")
    folder = tmp_path / "records"
    folder.mkdir()
    a, img = json.dumps(web.url("/a.html")), json.dumps(web.url("/a.png"))
    record(folder, "a.md", [
        'title: "Storm warning lifted"', f"webUrl: {a}", f"ampWebUrl: {a}", "images:",
        f"  - url: {img}", "related:", '  - title: "Same story"', f"    webUrl: {a}",
    ])
    cfg = config(tmp_path / "state.sqlite", fill_missing=True, update_redirects=True,
                 prune_dead=True)
    clock = Clock()
    night(folder, cfg, clock)
    good = snapshot(folder)
    assert front(folder / "a.md")["livePage"]["title"] == "Storm warning lifted"
    for day, fail in enumerate((web.dead, web.broken, web.dead), start=1):
        clock.set(days=day)
        fail("/a.html")
        fail("/a.png")
        run = night(folder, cfg, clock)
        assert by_url(run)[web.url("/a.html")].status is not LinkStatus.OK
        assert snapshot(folder) == good, f"night {day}"
        web.page("/a.html", "Storm warning lifted")
        web.image("/a.png")
        clock.set(days=day, hours=12)
        night(folder, cfg, clock)
        assert snapshot(folder) == good, f"night {day}, recovered"


def test_confirmation_needs_three_runs_and_two_days(web: LocalWeb, tmp_path: Path) -> None:
    web.page("/x.html", "Bridge tolls cut")
    folder = tmp_path / "records"
    folder.mkdir()
    path = record(folder, "x.md", ['title: "Bridge tolls cut"',
                                   f"webUrl: {json.dumps(web.url('/x.html'))}"])
    cfg = config(tmp_path / "state.sqlite")
    clock = Clock()
    night(folder, cfg, clock)
    web.dead("/x.html")
    seen = []
    # dead at +1d, +1d1h, +1d2h (three runs, one day), then +2d (span 1 day), +3d (2 days)
    for delta in ({"days": 1}, {"days": 1, "hours": 1}, {"days": 1, "hours": 2}, {"days": 2},
                  {"days": 3}):
        clock.set(**delta)
        result = by_url(night(folder, cfg, clock))[web.url("/x.html")]
        seen.append(result.confirmed)
        assert result.since == iso(T0 + timedelta(days=1))
    assert seen == [False, False, False, False, True]
    assert front(path)["linkCheck"]["webUrl"]["confirmed"] is True
    # a recovery breaks the streak: dead again needs three runs and two days anew
    web.page("/x.html", "Bridge tolls cut")
    clock.set(days=4)
    night(folder, cfg, clock)
    assert front(path)["linkCheck"]["webUrl"] == {"status": "ok", "httpStatus": 200,
                                                  "since": iso(clock())}
    web.dead("/x.html")
    for delta in ({"days": 5}, {"days": 6}):
        clock.set(**delta)
        assert by_url(night(folder, cfg, clock))[web.url("/x.html")].confirmed is False
    assert front(path)["linkCheck"]["webUrl"]["status"] == "ok"


@pytest.mark.parametrize("dead_nights,moved", [
    # cron at 03:00, the first dead night started two seconds late: the third night confirms
    ([{"days": 1, "seconds": 2}, {"days": 2, "seconds": 1}, {"days": 3}], True),
    # a clock two days behind for one run (a restored VM) between two real hours: no move
    ([{"days": 1}, {"days": -1, "hours": 1}, {"days": 1, "hours": 2}], False),
])
def test_prune_dead_follows_the_calendar_not_the_second_or_a_clock_set_back(
    web: LocalWeb, tmp_path: Path, dead_nights: list[dict[str, float]], moved: bool
) -> None:
    u, q = web.url, json.dumps
    web.page("/root.html", "Harbour roundup")
    web.page("/gone.html", "Council minutes")
    folder = tmp_path / "records"
    folder.mkdir()
    path = record(folder, "r.md", [
        'title: "Harbour roundup"', f"webUrl: {q(u('/root.html'))}", "related:",
        '  - title: "Council minutes"', f"    webUrl: {q(u('/gone.html'))}"])
    cfg = config(tmp_path / "state.sqlite", prune_dead=True)
    clock = Clock()
    night(folder, cfg, clock)
    web.dead("/gone.html")
    for delta in dead_nights:
        clock.set(**delta)
        result = by_url(night(folder, cfg, clock))[u("/gone.html")]
        assert result.since is not None and result.since <= iso(clock())
    assert result.confirmed is moved
    data = front(path)
    assert [r["title"] for r in data.get("deadRelated") or []] == (["Council minutes"] * moved)
    assert len(data.get("related") or []) == (not moved)


# --- incremental runs --------------------------------------------------------------------


def _incremental_site(web: LocalWeb, folder: Path, n: int = 6) -> list[str]:
    folder.mkdir()
    paths = []
    for i in range(n):
        path = f"/story/{i}.html"
        web.page(path, f"Story number {i} about the harbour", image=web.url(f"/img/{i}.png"))
        web.image(f"/img/{i}.png")
        paths.append(path)
        related = [] if i == 0 else [
            "related:", '  - title: "Earlier"',
            f"    webUrl: {json.dumps(web.url(f'/story/{i - 1}.html'))}",
        ]
        record(folder, f"s{i}.md", [f'title: "Story number {i}"',
                                    f"webUrl: {json.dumps(web.url(path))}", *related])
    web.dead("/story/gone.html")
    record(folder, "gone.md", ['title: "Gone"',
                               f"webUrl: {json.dumps(web.url('/story/gone.html'))}"])
    return paths


def test_max_age_reuses_ok_results_without_a_request(web: LocalWeb, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    pages = _incremental_site(web, folder)
    cfg = config(tmp_path / "state.sqlite", max_age=20 * 3600)
    clock = Clock()
    night(folder, cfg, clock)
    assert all(web.hits[p] == 1 for p in pages)
    written = snapshot(folder)
    web.reset_counts()

    clock.set(hours=1)
    run = night(folder, cfg, clock)
    # only the failed URL is asked again: no page, no page image
    assert dict(web.hits) == {"/story/gone.html": 1}
    results = by_url(run)
    assert all(results[web.url(p)].reused for p in pages)
    assert not results[web.url("/story/gone.html")].reused
    assert snapshot(folder) == written  # reused results are still written, same bytes
    assert run.requests == 1

    web.reset_counts()  # older than --max-age: checked again (conditionally)
    clock.set(hours=22)
    run = night(folder, cfg, clock)
    assert all(web.hits[p] == 1 for p in pages)
    assert not any(r.reused for r in run.results)


def test_unchanged_pages_cost_only_304s_and_live_page_is_still_written(
    web: LocalWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validators come from the history one query per batch of URLs, not one per URL."""
    single: list[str] = []
    one_by_one = state_module.History.conditional_headers
    monkeypatch.setattr(state_module.History, "conditional_headers",
                        lambda self, url, *kind: single.append(url) or one_by_one(self, url, *kind))
    folder = tmp_path / "records"
    pages = _incremental_site(web, folder)
    pristine = snapshot(folder)
    state = tmp_path / "state.sqlite"
    clock = Clock()
    night(folder, config(state), clock)
    enriched = snapshot(folder)
    assert all(web.codes[(p, 200)] == 1 for p in pages)

    # a fresh copy of the records without livePage, the same history: every page answers
    # 304 and livePage comes from the stored metadata
    again = tmp_path / "again"
    again.mkdir()
    for name, raw in pristine.items():
        (again / name).write_bytes(raw)
    web.reset_counts()
    clock.set(hours=23)
    run = night(again, config(state), clock)
    answered = {code for (_, code) in web.codes}
    assert answered == {304, 404}, web.codes
    assert all(web.codes[(p, 304)] == 1 for p in pages)
    assert all(web.codes[(f"/img/{i}.png", 304)] == 0 for i in range(len(pages)))
    results = by_url(run)
    assert all(results[web.url(p)].reason == "not_modified" for p in pages)
    assert snapshot(again) == enriched  # livePage written, since kept from the first night
    assert single == []  # every first request's validators came with its batch
    assert front(again / "s1.md")["livePage"]["title"] == "Story number 1 about the harbour"

    # a changed page (new ETag) is fetched in full and its new metadata written
    web.page("/story/1.html", "Story number 1 has a new headline", image=web.url("/img/1.png"))
    web.routes["/story/1.html"].etag = '"v2"'
    web.reset_counts()
    clock.set(hours=47)
    night(again, config(state), clock)
    assert web.codes[("/story/1.html", 200)] == 1
    assert front(again / "s1.md")["livePage"]["title"] == "Story number 1 has a new headline"


@pytest.mark.parametrize("max_age", [None, 20 * 3600])
def test_a_page_cited_next_night_only_as_an_image_is_checked_as_an_image(
    web: LocalWeb, tmp_path: Path, max_age: int | None
) -> None:
    """Night 1 stores /p.html as an article page, with its ETag; night 2 only an image field
    cites it. The page's stored facts say nothing of an image: it is fetched in full as an
    image (no conditional request answered 304, no reuse under --max-age) and found to be
    none, where it was ``ok`` (not_modified, or reused) with no image type."""
    web.page("/p.html", "Harbour bridge reopens")
    folder = tmp_path / "records"
    folder.mkdir()
    first = record(folder, "a.md", ['title: "Bridge"', f"webUrl: {json.dumps(web.url('/p.html'))}"])
    cfg, clock = config(tmp_path / "state.sqlite", max_age=max_age), Clock()
    night(folder, cfg, clock)
    assert web.codes[("/p.html", 200)] == 1
    first.unlink()
    record(folder, "b.md", ['title: "Bridge"', "images:",
                            f"  - url: {json.dumps(web.url('/p.html'))}"])
    web.reset_counts()
    clock.set(hours=1)
    result = by_url(night(folder, cfg, clock))[web.url("/p.html")]
    assert (result.status, result.reason, result.reused) == (
        LinkStatus.ERROR, "not_an_image", False)
    assert dict(web.codes) == {("/p.html", 200): 1}


@pytest.mark.parametrize("etag", ['"\xff\xfe"', '"a\x01b"', '"' + "e" * 600 + '"'])
def test_an_unsendable_etag_is_not_kept_so_the_next_night_is_not_an_error(
    web: LocalWeb, tmp_path: Path, etag: str
) -> None:
    """A validator that cannot go back as a request header (non-ASCII bytes, a control
    character, longer than 512) is not stored: the next night fetches the page in full and
    finds it ok, where sending it made every other night an ``error``."""
    web.page("/odd.html", "Harbour bridge reopens")
    web.routes["/odd.html"].etag = etag
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "r.md", ['title: "Bridge"', f"webUrl: {json.dumps(web.url('/odd.html'))}"])
    state, clock = tmp_path / "state.sqlite", Clock()
    for hours in (0, 23, 47):
        clock.set(hours=hours)
        run = night(folder, config(state), clock, command="check")
        result = by_url(run)[web.url("/odd.html")]
        assert (result.status.value, result.http_status) == ("ok", 200), result
    assert web.codes[("/odd.html", 200)] == 3


def test_a_refused_prune_keeps_the_records_other_edits(web: LocalWeb, tmp_path: Path) -> None:
    """An item --prune-dead cannot move as text ('-' alone on its line) stays where it is,
    with a one-line record error; the record's linkCheck edits are still written."""
    u, q = web.url, json.dumps
    web.page("/news/keep.html", "Ferry timetable changes")
    web.dead("/news/dies.html")
    folder = tmp_path / "records"
    folder.mkdir()
    path = record(folder, "odd.md", [
        'title: "Harbour roundup"', "related:", "  -", '    title: "Council minutes"',
        f"    webUrl: {q(u('/news/dies.html'))}", '  - title: "Ferry timetable changes"',
        f"    webUrl: {q(u('/news/keep.html'))}",
    ])
    cfg = config(tmp_path / "h.sqlite", prune_dead=True, confirm_runs=1, confirm_days=0.0)
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(app.run("enrich", [str(folder)], cfg, QuietReporter(console, False),
                              write=True, clock=Clock()))
    errors = [str(e) for e in run.record_errors]
    assert len(errors) == 1 and "--prune-dead skipped" in errors[0], errors
    assert (run.records.read, run.records.changed, run.records.failed) == (1, 1, 0)
    data = front(path)
    assert [r["title"] for r in data["related"]] == ["Council minutes", "Ferry timetable changes"]
    assert data["related"][0]["linkCheck"]["webUrl"]["status"] == "dead"
    assert data["related"][1]["linkCheck"]["webUrl"]["status"] == "ok"


@pytest.mark.parametrize("history", [True, False])
def test_out_copies_change_no_more_than_records_in_place(web: LocalWeb, tmp_path: Path,
                                                         history: bool) -> None:
    """--out: the copy the last run wrote stands in for the record's own linkCheck,
    livePage and filled-in values. A second run with the same results rewrites nothing (no
    new since); with a history, one bad night (404 not confirmed, 500) leaves it alone."""
    u, q = web.url, json.dumps
    web.page("/a.html", "Harbour bridge reopens", image=u("/a.png"))
    web.image("/a.png")
    web.page("/b.html", "Ferry timetable changes")
    folder, out = tmp_path / "records", tmp_path / "out"
    folder.mkdir()
    record(folder, "r.md", [
        'title: ""', f"webUrl: {q(u('/a.html'))}", "related:", '  - title: "Ferry"',
        f"    webUrl: {q(u('/b.html'))}",
    ])
    state = tmp_path / "h.sqlite"
    cfg = replace(config(state, fill_missing=True), in_place=False, out_dir=str(out),
                  state_file=str(state) if history else "")
    clock = Clock()
    run = night(folder, cfg, clock)
    assert (run.records.changed, run.records.unchanged) == (1, 0)  # a new copy
    first = (out / "r.md").read_bytes()
    assert b"livePage" in first and b"Harbour bridge reopens" in first
    clock.set(hours=20)
    run = night(folder, cfg, clock)
    assert (out / "r.md").read_bytes() == first  # same results: same bytes, same since
    assert (run.records.changed, run.records.unchanged) == (0, 1)  # and counted so
    if history:
        web.dead("/a.html")
        web.broken("/b.html")
        clock.set(days=1)
        run = night(folder, cfg, clock)
        assert (out / "r.md").read_bytes() == first  # one bad night: no change
        assert run.records.changed == 0


def test_fill_missing_fills_only_images_that_are_images(web: LocalWeb, tmp_path: Path) -> None:
    """A page's chosen image is filled into an empty images list only when it was probed
    ok in this run (and then with its linkCheck); never a dead one or an HTML page."""
    u, q = web.url, json.dumps
    web.page("/good.html", "Harbour bridge reopens", image=u("/good.png"))
    web.image("/good.png")
    web.page("/dead.html", "Ferry timetable changes", image=u("/dead.png"))
    web.dead("/dead.png")
    web.page("/html.html", "Market hall renovation", image=u("/html.jpg"))
    web.routes["/html.jpg"] = Route(200, b"<html><body>no image here</body></html>",
                                    content_type="image/jpeg")
    folder = tmp_path / "records"
    folder.mkdir()
    paths = {name: record(folder, f"{name}.md", ['title: ""', "images: []",
                                                 f"webUrl: {q(u(f'/{name}.html'))}"])
             for name in ("good", "dead", "html")}
    night(folder, config(tmp_path / "h.sqlite", fill_missing=True), Clock())
    good = front(paths["good"])
    assert good["images"][0]["url"] == u("/good.png")
    assert good["images"][0]["linkCheck"]["url"]["status"] == "ok"
    for name in ("dead", "html"):
        data = front(paths[name])
        assert data["images"] == [] and data["title"], name  # the title is still filled


def test_a_probed_page_image_has_its_measured_size_everywhere(web: LocalWeb,
                                                              tmp_path: Path) -> None:
    """A page declares og:image:width/height 1200x630 for a 3x2 PNG: the probe's size is
    what livePage, the filled image and the results report, never the declared one."""
    u, q = web.url, json.dumps
    declared = ('<meta property="og:image:width" content="1200">'
                '<meta property="og:image:height" content="630">')
    body = article("Harbour bridge reopens", "It did.", u("/small.png"))
    web.routes["/p.html"] = Route(200, body.replace(b"</head>", declared.encode() + b"</head>"))
    web.image("/small.png")  # PNG: 3x2
    folder = tmp_path / "records"
    folder.mkdir()
    path = record(folder, "p.md", ['title: ""', f"webUrl: {q(u('/p.html'))}"])
    run = night(folder, config(tmp_path / "h.sqlite", fill_missing=True), Clock())
    data = front(path)
    assert data["livePage"]["image"] == {"url": u("/small.png"), "width": 3, "height": 2,
                                         "type": "png"}
    assert (data["images"][0]["width"], data["images"][0]["height"]) == (3, 2)
    (page,) = [r for r in run.results if r.url == u("/p.html")]
    assert page.page is not None and page.page.image is not None
    assert (page.page.image.width, page.page.image.height, page.page.image.type) == (3, 2, "png")


# --- audit of the nightly history --------------------------------------------------------


def test_a_damaged_history_is_one_line_and_exit_2_with_records_untouched(
    web: LocalWeb, tmp_path: Path
) -> None:
    folder = tmp_path / "records"
    pages = _incremental_site(web, folder)
    state = tmp_path / "state.sqlite"
    night(folder, config(state), Clock())
    with open(state, "r+b") as f:  # a damaged page that still opens
        f.seek(4096)
        f.write(bytes.fromhex("0d000000ffff"))
    before = snapshot(folder)
    out, err = io.StringIO(), io.StringIO()
    code = main(["enrich", str(folder), "--state", str(state), "--in-place", "--allow-private",
                 "--max-attempts", "1", "-q", "--no-color"],
                Env(stdout=out, stderr=err, force_terminal=False))
    lines = err.getvalue().splitlines()
    assert code == ExitCode.USAGE, err.getvalue()
    assert len(lines) == 1 and "Traceback" not in err.getvalue()
    assert lines[0].startswith(f"enricher: cannot use {state} (database disk image is malformed)")
    assert "move it away" in lines[0]
    assert snapshot(folder) == before
    assert sum(web.hits[p] for p in pages) >= 1  # it did start fetching


class SlowTailWeb(LocalWeb):
    """/slow.html answers only once the journal holds the fast page (or after 10 s)."""

    def __init__(self, state: Path, fast: str) -> None:
        super().__init__()
        self.state, self.fast = state, fast
        self.journaled_while_waiting = False

    def _journaled(self) -> bool:
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.state)) as db:
            try:
                return bool(db.execute("SELECT 1 FROM journal WHERE url = ?",
                                       (self.fast,)).fetchone())
            except sqlite3.OperationalError:  # not created yet
                return False

    def _answer(self, path: str, headers: Any) -> tuple[Route, int]:
        if path == "/slow.html":
            deadline = time.monotonic() + 10.0
            while not self._journaled() and time.monotonic() < deadline:
                threading.Event().wait(0.02)  # polling a condition, with a deadline
            self.journaled_while_waiting = self._journaled()
        return super()._answer(path, headers)


def test_a_slow_tail_does_not_keep_finished_results_out_of_the_journal(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with SlowTailWeb(state, "") as web:
        web.fast = web.url("/fast.html")
        web.page("/fast.html", "Fast story")
        web.page("/slow.html", "Slow story")
        folder = tmp_path / "records"
        folder.mkdir()
        record(folder, "r.md", ['title: "Fast"', f"webUrl: {json.dumps(web.fast)}",
                                "related:", '  - title: "Slow"',
                                f"    webUrl: {json.dumps(web.url('/slow.html'))}"])
        started = time.monotonic()
        night(folder, config(state), Clock())  # the clock stands still: only the timer flushes
        assert web.journaled_while_waiting
        assert time.monotonic() - started < 8.0


@pytest.mark.parametrize("max_age", [None, 20 * 3600], ids=["no-max-age", "max-age-20h"])
def test_a_url_checked_for_reach_then_cited_as_a_page_gets_its_live_page(
    web: LocalWeb, tmp_path: Path, max_age: int | None
) -> None:
    """Also within --max-age: a result stored for a lighter purpose (a HEAD for an AMP link)
    is not reused for an article page; the page is fetched in full, once."""
    web.page("/a.html", "The first story")
    web.page("/amp.html", "The AMP story")
    folder = tmp_path / "records"
    folder.mkdir()
    amp = web.url("/amp.html")
    record(folder, "r1.md", ['title: "First"', f"webUrl: {json.dumps(web.url('/a.html'))}",
                             f"ampWebUrl: {json.dumps(amp)}"])
    state = tmp_path / "state.sqlite"
    clock = Clock()
    night(folder, config(state), clock)
    assert "livePage" in front(folder / "r1.md")
    (folder / "r1.md").unlink()
    record(folder, "r2.md", ['title: "The AMP story"', f"webUrl: {json.dumps(amp)}"])
    web.reset_counts()
    if max_age:
        clock.set(hours=1)
    else:
        clock.set(days=1)
    night(folder, config(state, max_age=max_age), clock)
    assert web.codes[("/amp.html", 200)] >= 1 and web.codes[("/amp.html", 304)] == 0
    assert front(folder / "r2.md")["livePage"]["title"] == "The AMP story"
    if max_age:
        return
    web.reset_counts()  # now the page metadata is stored: a 304 reuses it
    clock.set(days=2)
    night(folder, config(state), clock)
    assert web.codes[("/amp.html", 304)] == 1
    assert front(folder / "r2.md")["livePage"]["title"] == "The AMP story"


@pytest.mark.parametrize("writable", [True, False], ids=["own-history", "cron-users-history"])
def test_a_dry_run_reads_the_history_and_writes_none_of_it(
        web: LocalWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writable: bool) -> None:
    """A dry run on the confirming night reports what the real run will (still dead since
    night 1, confirmed, the changes), using the stored ETag, and changes no byte of the
    history: the real run after it still compares with the last real run. A history the
    user may not write (the cron job's) is read through a copy in memory."""
    web.page("/x.html", "Bridge tolls cut")
    web.page("/y.html", "Ferry timetable")
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "x.md", ['title: "Ferry timetable"',
                            f"webUrl: {json.dumps(web.url('/y.html'))}", "related:",
                            '  - title: "Bridge tolls cut"',
                            f"    webUrl: {json.dumps(web.url('/x.html'))}"])
    state = tmp_path / "state.sqlite"
    cfg = config(state, prune_dead=True)
    dry = replace(cfg, dry_run=True)
    clock = Clock()
    night(folder, cfg, clock)
    web.dead("/x.html")
    for day in (1, 2):
        clock.set(days=day)
        night(folder, cfg, clock)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    records = snapshot(folder)
    web.reset_counts()

    clock.set(days=3)
    with monkeypatch.context() as patch:
        if not writable:  # as for another user's file (tests run as root: os.access says yes)
            patch.setattr(state_module.os, "access", lambda *args, **kw: False)
        rehearsal = night(folder, dry, clock)
    x = by_url(rehearsal)[web.url("/x.html")]
    assert (x.status, x.since, x.confirmed) == (LinkStatus.DEAD, iso(T0 + timedelta(days=1)),
                                                True)
    assert rehearsal.changes is not None
    assert [s.url for s in rehearsal.changes.still_dead] == [web.url("/x.html")]
    assert web.codes[("/y.html", 304)] == 1  # the stored ETag was read
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == files
    assert snapshot(folder) == records

    real = night(folder, cfg, clock)  # same night: the dry run was no check
    again = by_url(real)[web.url("/x.html")]
    assert (again.status, again.since, again.confirmed) == (x.status, x.since, x.confirmed)
    assert real.changes == rehearsal.changes
    pruned = front(folder / "x.md")  # moved by the real run only
    assert [r["title"] for r in pruned["deadRelated"]] == ["Bridge tolls cut"]


def test_a_dry_run_without_a_history_creates_none(web: LocalWeb, tmp_path: Path) -> None:
    web.page("/x.html", "Bridge tolls cut")
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "x.md", [f"webUrl: {json.dumps(web.url('/x.html'))}"])
    state = tmp_path / "history" / "state.sqlite"
    run = night(folder, replace(config(state), dry_run=True), Clock())
    assert by_url(run)[web.url("/x.html")].status is LinkStatus.OK
    assert run.changes == Changes()
    assert not state.parent.exists()


def test_a_dry_run_leaves_an_empty_history_file_empty(web: LocalWeb, tmp_path: Path) -> None:
    web.page("/x.html", "Bridge tolls cut")
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "x.md", [f"webUrl: {json.dumps(web.url('/x.html'))}"])
    state = tmp_path / "state.sqlite"
    state.touch()  # an empty file is a new history for a real run
    night(folder, replace(config(state), dry_run=True), Clock())
    assert state.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == [
        "records", "state.sqlite"]


class CancelWhenWriting(QuietReporter):
    """Cancels the run as its write phase begins, as a SIGTERM or Ctrl-C does (``cli.go``
    cancels the run's task): the cancellation lands before the first record is written."""

    def phase(self, name: str, total: int | None = None) -> None:
        super().phase(name, total)
        if name == "writing records":
            task = asyncio.current_task()
            assert task is not None
            task.cancel()


def test_a_run_interrupted_while_writing_records_is_an_interrupted_run(
        web: LocalWeb, tmp_path: Path) -> None:
    """Interrupted after its checks but before its records are written, a run is recorded as
    interrupted, not finished: it stores no check (the records do not carry them yet) and
    keeps its journal, so the next run resumes it without a request, as after any
    interruption."""
    web.page("/x.html", "Bridge tolls cut")
    web.page("/y.html", "Ferry timetable")
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "x.md", [f"webUrl: {json.dumps(web.url('/x.html'))}"])
    record(folder, "y.md", [f"webUrl: {json.dumps(web.url('/y.html'))}"])
    before = snapshot(folder)
    state = tmp_path / "state.sqlite"
    cfg, clock = config(state), Clock()
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(app.run("enrich", [str(folder)], cfg, CancelWhenWriting(console, False),
                              write=True, clock=clock))
    assert run.aborted == "interrupted"
    assert snapshot(folder) == before
    urls = {web.url("/x.html"), web.url("/y.html")}
    with state_module.History.open(state, read_only=True, clock=clock) as history:
        assert [r.state for r in history.runs(5)] == [state_module.INTERRUPTED]
        assert set(history.resumable(any_profile=True)) == urls
        assert all(history.stored(url) is None for url in urls)

    web.reset_counts()
    clock.set(hours=1)
    again = night(folder, cfg, clock)
    assert sum(web.hits.values()) == 0  # resumed from the journal
    assert all(r.reused and r.since == iso(T0) for r in again.results)
    assert all(front(folder / n)["linkCheck"]["webUrl"]["status"] == "ok" for n in before)
    with state_module.History.open(state, read_only=True) as history:
        assert [r.state for r in history.runs(5)] == ["finished", state_module.INTERRUPTED]


def _one_checked_night(web: LocalWeb, tmp_path: Path, state: Path, clock: Clock) -> RunResult:
    """One record citing one live page, checked once with the history ``state``."""
    web.page("/p.html", "Harbour bridge reopens")
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "a.md", ['title: "Bridge"', f"webUrl: {json.dumps(web.url('/p.html'))}"])
    return night(folder, config(state), clock, command="check")


def test_report_after_an_interrupted_run_is_dated_as_the_last_finished_one(
    web: LocalWeb, tmp_path: Path
) -> None:
    """``enricher report`` shows the last finished run: its start and end, never an
    interrupted later run's start as "last run finished"; a note says the later run did
    not finish (and, for a run still marked running, that it may be going on)."""
    state, clock = tmp_path / "state.sqlite", Clock()
    first = _one_checked_night(web, tmp_path, state, clock)
    for later, hours in ((state_module.INTERRUPTED, 20), (None, 30)):
        clock.set(hours=hours)
        history = state_module.History.open(state, clock=clock)
        history.start_run("check", {})
        if later is not None:
            history.finish_run((), aborted=later)
            history.close()
        else:  # a run still marked running: another process, as a reader sees it
            history._db.commit()
        report = tmp_path / "report.json"
        err = io.StringIO()
        code = main(["report", "--state", str(state), "--report", str(report), "--no-color"],
                    Env(stdout=io.StringIO(), stderr=err, force_terminal=False))
        if later is None:
            history.close()
        assert code == ExitCode.OK, err.getvalue()
        meta = json.loads(report.read_text(encoding="utf-8"))["meta"]
        assert (meta["started_at"], meta["finished_at"]) == (first.started_at, iso(T0))
        line = next(x for x in err.getvalue().splitlines() if x.startswith("enricher: note"))
        assert f"started {iso(clock())}" in line
        assert ("was interrupted" if later else "has not finished") in line
        assert f"shows the run finished at {iso(T0)}" in line


def test_report_finds_the_last_finished_run_behind_many_unfinished_ones(
        web: LocalWeb, tmp_path: Path) -> None:
    """``enricher report`` reads the newest runs first; twelve interrupted runs after the
    last finished one still leave it dated as that run."""
    state, clock = tmp_path / "state.sqlite", Clock()
    first = _one_checked_night(web, tmp_path, state, clock)
    for hour in range(12):
        clock.set(hours=20 + hour)
        with state_module.History.open(state, clock=clock) as history:
            history.start_run("check", {})
            history.finish_run((), aborted=state_module.INTERRUPTED)
    report = tmp_path / "report.json"
    code = main(["report", "--state", str(state), "--report", str(report), "--no-color"],
                Env(stdout=io.StringIO(), stderr=io.StringIO(), force_terminal=False))
    assert code == ExitCode.OK
    meta = json.loads(report.read_text(encoding="utf-8"))["meta"]
    assert (meta["started_at"], meta["finished_at"]) == (first.started_at, iso(T0))


def test_a_fresh_history_holds_the_good_entries_it_finds(web: LocalWeb, tmp_path: Path) -> None:
    """A new state file knows none of the URLs: its first runs hold what the record says,
    as any history does, until a failure is a confirmed dead link."""
    web.page("/news/a.html", "Council approves bike lanes")
    folder = tmp_path / "records"
    folder.mkdir()
    path = record(folder, "r.md", ['title: "Council approves bike lanes"',
                                   f"webUrl: {json.dumps(web.url('/news/a.html'))}"])
    clock = Clock()
    night(folder, config(tmp_path / "old.sqlite"), clock)
    before = path.read_bytes()
    web.dead("/news/a.html")
    clock.set(days=1)
    night(folder, config(tmp_path / "new.sqlite"), clock)
    assert path.read_bytes() == before
    clock.set(days=2)
    night(folder, config(tmp_path / "new.sqlite"), clock)  # known to it now, as bad only
    assert path.read_bytes() == before  # held until confirmed, as any known URL


def _with_related(folder: Path, web_url: str, related_url: str) -> Path:
    """``folder/r.md``: a record at ``web_url`` with one related item at ``related_url``."""
    folder.mkdir()
    return record(folder, "r.md", [
        'title: "Council approves bike lanes"', f"webUrl: {json.dumps(web_url)}",
        "related:", '  - title: "Library extends hours"', f"    webUrl: {json.dumps(related_url)}"])


def _one(folder: Path, name: str, url: str) -> Path:
    return record(folder, name, ['title: "Council approves bike lanes"',
                                 f"webUrl: {json.dumps(url)}"])


def test_records_the_history_has_not_seen_written_are_held(web: LocalWeb,
                                                           tmp_path: Path) -> None:
    """Review of a design tried this session (a URL new to the *history* lost its hold): a
    month of nights on a subfolder, or a trial run on one file with a new state file, made
    the other records' URLs "new", and one bad night then overwrote their good entries and
    deleted their livePage. Every good entry keeps the hold."""
    u = web.url
    for page in ("/old/a.html", "/new/b.html", "/c.html"):
        web.page(page, "Council approves bike lanes")
    root = tmp_path / "records"
    (root / "2025").mkdir(parents=True)
    (root / "2026").mkdir()
    old = _one(root / "2025", "a.md", u("/old/a.html"))
    _one(root / "2026", "b.md", u("/new/b.html"))
    other = _one(root, "c.md", u("/c.html"))
    cfg, clock = config(tmp_path / "state.sqlite"), Clock()
    night(root, cfg, clock)
    before, other_before = old.read_bytes(), other.read_bytes()
    for day in range(1, 33):  # the subfolder only, for a month: a.html goes unchecked
        clock.set(days=day)
        night(root / "2026", cfg, clock)
    web.broken("/old/a.html")
    clock.set(days=33)
    night(root, cfg, clock)
    assert old.read_bytes() == before

    trial = config(tmp_path / "trial.sqlite")  # a trial run on one file with a new history
    web.page("/old/a.html", "Council approves bike lanes")
    clock.set(days=34)
    night(old, trial, clock)
    web.broken("/c.html")
    clock.set(days=35)
    night(root, trial, clock)
    assert other.read_bytes() == other_before


def test_an_editors_url_in_place_of_a_fixed_one_is_never_undone(web: LocalWeb,
                                                                tmp_path: Path) -> None:
    """--update-redirects wrote a 301's target; an editor then put another URL in (a typo:
    dead). An undo of the fix-up tried this session wrote the kept previousUrl over the
    editor's URL once it was confirmed dead: an editor's URL is the record's own."""
    u = web.url
    web.page("/a.html", "Council approves bike lanes")
    web.page("/2030/moved-new.html", "Library extends hours")
    web.moved("/moved.html", "/2030/moved-new.html")
    web.dead("/editor.html")
    root = tmp_path / "records"
    path = _with_related(root, u("/a.html"), u("/moved.html"))
    cfg, clock = config(tmp_path / "state.sqlite", update_redirects=True), Clock()
    night(root, cfg, clock)
    assert front(path)["related"][0]["webUrl"] == u("/2030/moved-new.html")
    path.write_text(path.read_text(encoding="utf-8").replace(
        u("/2030/moved-new.html") + '"', u("/editor.html") + '"'), encoding="utf-8")
    for day in (1, 2, 3, 4):
        clock.set(days=day)
        night(root, cfg, clock)
    item = front(path)["related"][0]
    assert item["webUrl"] == u("/editor.html")
    assert item["linkCheck"]["webUrl"]["status"] == "dead"


def test_an_image_also_cited_as_a_page_keeps_its_type_and_size(
        web: LocalWeb, tmp_path: Path) -> None:
    """One URL as a record's image and as a related item's webUrl is fetched once, as a page;
    a PNG answer is probed as the image it is, so the image slot's linkCheck keeps type,
    width and height (they were dropped), and the page slot stays ok."""
    web.image("/img/map.png")
    folder = tmp_path / "records"
    folder.mkdir()
    url = json.dumps(web.url("/img/map.png"))
    path = record(folder, "a.md", ['title: "Map"', "images:", f"  - url: {url}", "related:",
                                   '  - title: "Map"', f"    webUrl: {url}"])
    run = night(folder, config(tmp_path / "state.sqlite"), Clock())
    (result,) = [r for r in run.results if r.url == web.url("/img/map.png")]
    assert result.status is LinkStatus.OK and result.image is not None
    data = yaml.safe_load(path.read_text("utf-8").split("---")[1])
    entry = data["images"][0]["linkCheck"]["url"]
    assert (entry["status"], entry["type"], entry["width"], entry["height"]) == \
        ("ok", "png", 3, 2)
    assert data["related"][0]["linkCheck"]["webUrl"]["status"] == "ok"


# --- what a stored result may be reused for ------------------------------------------------


@pytest.mark.parametrize("way", ["max-age", "resume"])
@pytest.mark.parametrize("setting", ["accept", "allow-private"])
def test_a_result_is_reused_only_by_a_run_with_the_settings_that_decided_it(
        web: LocalWeb, tmp_path: Path, way: str, setting: str) -> None:
    """A page that answers 403 is ok in a run with ``--accept 403``. A later run without it
    (or with the address policy on) must not reuse that ok, through ``--max-age`` or by
    resuming the first run when it was interrupted: it decides again (blocked). A run with
    the same settings does reuse it, without a request."""
    web.routes["/members.html"] = Route(403, article("Members only", "Sign in to read"))
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "m.md", [f"webUrl: {json.dumps(web.url('/members.html'))}"])
    state, clock = tmp_path / "state.sqlite", Clock()
    first = config(state, max_age=20 * 3600 if way == "max-age" else None)
    first = replace(first, fetch=replace(first.fetch, accepted_status=frozenset({403})))
    later = replace(first, fetch=replace(first.fetch, accepted_status=frozenset())
                    ) if setting == "accept" else replace(first, fetch=replace(
                        first.fetch, allow_private=False))
    url = web.url("/members.html")
    if way == "max-age":
        assert by_url(night(folder, first, clock))[url].status is LinkStatus.OK
        web.reset_counts()
        clock.set(hours=1)
        same = by_url(night(folder, first, clock))[url]
        assert same.reused and same.status is LinkStatus.OK and not web.hits
    else:
        console = Console(file=io.StringIO(), width=200)
        run = asyncio.run(app.run("enrich", [str(folder)], first,
                                  CancelWhenWriting(console, False), write=True, clock=clock))
        assert run.aborted == "interrupted" and by_url(run)[url].status is LinkStatus.OK
    web.reset_counts()
    clock.set(hours=2)
    now = by_url(night(folder, later, clock, command="check"))[url]
    assert not now.reused
    assert now.status is LinkStatus.BLOCKED, now
    assert web.hits["/members.html"] == (1 if setting == "accept" else 0)


def test_validators_of_a_page_a_temporary_redirect_reached_are_never_the_urls_own(
        web: LocalWeb, tmp_path: Path) -> None:
    """Night 2 the story is sent (302) to a consent gate with its own Last-Modified. Those
    validators describe the gate: night 3, when the story answers again, its request carries
    none of them, so the server's 304 cannot make the gate's page the story's livePage."""
    story = Route(200, article("Council approves new bike lanes", "Seven votes to two"),
                  last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    web.routes["/story.html"] = story
    folder = tmp_path / "records"
    folder.mkdir()
    path = record(folder, "s.md", ['title: "Council approves new bike lanes"',
                                   f"webUrl: {json.dumps(web.url('/story.html'))}"])
    cfg, clock = config(tmp_path / "state.sqlite"), Clock()
    night(folder, cfg, clock)
    kept = front(path)["livePage"]
    assert kept["title"] == "Council approves new bike lanes"

    web.routes["/story.html"] = Route(302, b"", {"Location": web.url("/consent.html")})
    web.routes["/consent.html"] = Route(200, article("Before you continue", "We use cookies"),
                                        last_modified="Mon, 30 Nov 2026 00:00:00 GMT")
    clock.set(hours=24)
    night(folder, cfg, clock)
    assert front(path)["livePage"] == kept

    web.routes["/story.html"] = story
    web.reset_counts()
    clock.set(hours=48)
    night(folder, cfg, clock)
    assert ("/story.html", None, "Mon, 30 Nov 2026 00:00:00 GMT") not in web.validators
    assert web.codes[("/story.html", 200)] == 1, web.codes
    assert front(path)["livePage"] == kept
    assert not front(path)["linkCheck"]["webUrl"].get("titleDrift")

    web.reset_counts()  # the story's own validators serve it again
    clock.set(hours=72)
    night(folder, cfg, clock)
    assert web.validators == [("/story.html", None, "Mon, 01 Jan 2024 00:00:00 GMT")]
    assert web.codes[("/story.html", 304)] == 1


def test_a_304_carrying_a_new_etag_replaces_the_stored_one(web: LocalWeb, tmp_path: Path
                                                           ) -> None:
    """RFC 9111: the validators of a 304 update the stored ones; the next conditional
    request sends the new ETag, and the Last-Modified the 304 did not name again."""
    web.page("/p.html", "Harbour bridge reopens")
    modified = "Mon, 01 Jan 2024 00:00:00 GMT"
    web.routes["/p.html"].last_modified = modified
    web.routes["/p.html"].modified_on_304 = False
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "p.md", [f"webUrl: {json.dumps(web.url('/p.html'))}"])
    cfg, clock = config(tmp_path / "state.sqlite"), Clock()
    night(folder, cfg, clock, command="check")
    web.routes["/p.html"].answer_etag = '"p-v2"'  # the server names the same page anew
    web.reset_counts()
    clock.set(hours=24)
    night(folder, cfg, clock, command="check")
    assert web.validators == [("/p.html", '"/p.html-v1"', modified)]
    assert web.codes[("/p.html", 304)] == 1
    web.reset_counts()
    clock.set(hours=48)
    night(folder, cfg, clock, command="check")
    assert web.validators == [("/p.html", '"p-v2"', modified)]


def test_the_verdict_profile_follows_the_settings_and_variables_that_decide_verdicts() -> None:
    from enricher.nightly import verdict_profile

    base = FetchConfig()
    plain = verdict_profile(base, {"HOME": "/root"})
    assert plain == verdict_profile(base, {"HOME": "/elsewhere", "LANG": "C"})  # no bearing
    assert plain == verdict_profile(replace(base, host_concurrency=1, request_deadline=5), {})
    headers = replace(base, headers={"From": "a@b.example", "Accept-Language": "en"})
    assert verdict_profile(headers, {}) == verdict_profile(
        replace(base, headers={"Accept-Language": "en", "From": "a@b.example"}), {})
    others = [
        verdict_profile(replace(base, accepted_status=frozenset({403})), {}),
        verdict_profile(replace(base, user_agent="bot/2"), {}),
        verdict_profile(headers, {}),
        verdict_profile(replace(base, allow_private=True), {}),
        verdict_profile(replace(base, proxy="http://proxy.example:3128"), {}),
        verdict_profile(base, {"HTTPS_PROXY": "http://proxy.example:3128"}),
        verdict_profile(base, {"SSL_CERT_FILE": "/etc/corp-ca.pem"}),
        verdict_profile(base, {"no_proxy": "intranet.example"}),
        # the lower-case name wins, as the fetcher reads it: the proxy in effect differs
        verdict_profile(base, {"HTTP_PROXY": "http://b.example:1", "http_proxy": "http://a.example:1"}),
    ]
    assert verdict_profile(base, {"HTTP_PROXY": "http://a.example:1", "http_proxy": "http://b.example:1"}
                           ) != others[-1]
    assert plain == verdict_profile(base, {"ssl_cert_file": "/x.pem"})  # not read: no bearing
    assert len({plain, *others}) == len(others) + 1


def test_a_resumed_result_keeps_the_validators_of_its_check(web: LocalWeb, tmp_path: Path
                                                            ) -> None:
    """A run interrupted while writing is resumed by the next one without a request; its
    checks' ETags were lost on the way (the journal kept none), so the night after fetched
    every such page in full. Now it asks with them."""
    web.page("/p.html", "Harbour bridge reopens")
    folder = tmp_path / "records"
    folder.mkdir()
    record(folder, "p.md", [f"webUrl: {json.dumps(web.url('/p.html'))}"])
    cfg, clock = config(tmp_path / "state.sqlite"), Clock()
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(app.run("enrich", [str(folder)], cfg, CancelWhenWriting(console, False),
                              write=True, clock=clock))
    assert run.aborted == "interrupted"
    web.reset_counts()
    clock.set(hours=1)
    resumed = by_url(night(folder, cfg, clock))[web.url("/p.html")]
    assert resumed.reused and not web.hits  # resumed, no request
    clock.set(hours=25)
    night(folder, cfg, clock)
    assert web.validators == [("/p.html", '"/p.html-v1"', None)]
    assert web.codes[("/p.html", 304)] == 1


def test_a_304_after_a_resumed_lighter_check_keeps_the_stored_validators(
        web: LocalWeb, tmp_path: Path) -> None:
    """A URL resumed for a reachability check (ampWebUrl: HEAD, no validators found), then
    fetched in the same run as a page and answered 304 without validators (RFC 9110 asks
    a 304 only for its ETag): the validators sent stay stored, not the resumed check's
    empty pair, so the night after asks conditionally again."""
    handler = web.server.RequestHandlerClass

    class NoValidatorsOnHead(handler):  # type: ignore[misc, valid-type]
        def send_header(self, keyword: str, value: str) -> None:
            if not (keyword == "Last-Modified" and self.command == "HEAD"):
                super().send_header(keyword, value)

        def do_HEAD(self) -> None:  # conditional requests are a GET thing on this site
            del self.headers["If-Modified-Since"]
            super().do_HEAD()

    web.server.RequestHandlerClass = NoValidatorsOnHead
    modified = "Mon, 01 Jan 2024 00:00:00 GMT"
    web.page("/x.html", "Harbour bridge reopens")
    web.page("/other.html", "Ferry timetable")
    route = web.routes["/x.html"]
    route.etag, route.last_modified, route.modified_on_304 = None, modified, False
    folder = tmp_path / "records"
    folder.mkdir()
    x = json.dumps(web.url("/x.html"))
    cfg, clock = config(tmp_path / "state.sqlite"), Clock()
    record(folder, "b.md", [f"webUrl: {x}"])
    night(folder, cfg, clock, command="check")  # stores the page's Last-Modified
    (folder / "b.md").unlink()
    record(folder, "a.md", [f"webUrl: {json.dumps(web.url('/other.html'))}", f"ampWebUrl: {x}"])
    clock.set(hours=24)
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(app.run("enrich", [str(folder)], cfg, CancelWhenWriting(console, False),
                              write=True, clock=clock))
    assert run.aborted == "interrupted"
    record(folder, "b.md", [f"webUrl: {x}"])
    clock.set(hours=25)
    night(folder, cfg, clock)  # x resumed for the HEAD, fetched as a page: a 304
    web.reset_counts()
    clock.set(hours=50)
    night(folder, cfg, clock, command="check")
    assert ("/x.html", None, modified) in web.validators, web.validators
