"""``enricher demo``: the whole tool working offline, against a small local web.

Starts three HTTP servers on 127.0.0.1 (a news site with pages, images, a dead link, a
permanent redirect and a soft 404; a slow host; a host behind a bot wall), copies the demo
records with their URLs pointed at those servers, runs ``enricher enrich`` on them with the
address policy off (every demo URL points at 127.0.0.1), prints the summary and one
enriched record. The run ignores the working folder's config file and ``ENRICHER_*``
variables.

The same local web serves tests (``DemoWeb``). This module must never reach the internet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from enricher.cli import Env

_SITE = resources.files(__package__) / "site"
_RECORDS = resources.files(__package__) / "records"

#: route -> (status, site file or None, extra headers)
NEWS_ROUTES: dict[str, tuple[int, str | None, dict[str, str]]] = {
    "/news/bike-lanes.html": (200, "article.html", {}),
    "/news/old-library-story": (301, None, {"Location": "/news/library-study-hall.html"}),
    "/news/library-study-hall.html": (200, "moved.html", {}),
    "/news/transit-plan.html": (200, "soft404.html", {}),
    "/amp/bike-lanes.html": (200, "amp.html", {}),
    "/img/photo.png": (200, "photo.png", {}),
    "/img/logo.png": (200, "logo.png", {}),
}
SLOW_DELAY = 1.0  # seconds the slow host waits before answering
DEFAULT_DEMO_DIR = "enricher-demo"


def _content_type(name: str) -> str:
    return "image/png" if name.endswith(".png") else "text/html; charset=utf-8"


def _handler(kind: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "demo-web"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def _answer(self, head_only: bool) -> None:
            path = self.path.split("?")[0]
            status: int = 404
            name: str | None = "soft404.html"
            headers: dict[str, str] = {}
            if kind == "news":
                status, name, headers = NEWS_ROUTES.get(path, (404, None, {}))
            elif kind == "slow":
                time.sleep(SLOW_DELAY)
                status, name = 200, "other.html"
            elif kind == "walled":
                status, name, headers = 403, "challenge.html", {"cf-mitigated": "challenge"}
            body = (_SITE / name).read_bytes() if name else b"<h1>Not Found</h1>"
            self.send_response(status)
            self.send_header("Content-Type", _content_type(name or ".html"))
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not head_only:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(head_only=False)

        def do_HEAD(self) -> None:
            self._answer(head_only=True)

    return Handler


@dataclass(frozen=True, slots=True)
class DemoWeb:
    news: str
    slow: str
    walled: str

    def fill(self, text: str) -> str:
        return (
            text.replace("{news}", self.news)
            .replace("{slow}", self.slow)
            .replace("{walled}", self.walled)
        )


@contextmanager
def demo_web() -> Iterator[DemoWeb]:
    """The local demo web, on ephemeral ports of 127.0.0.1, for as long as the block runs."""
    servers = [
        ThreadingHTTPServer(("127.0.0.1", 0), _handler(k)) for k in ("news", "slow", "walled")
    ]
    threads = [  # a short poll: shutdown() waits for it, and it used to take a second
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in servers
    ]
    for t in threads:
        t.start()
    try:
        bases = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
        yield DemoWeb(*bases)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def write_demo_records(web: DemoWeb, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for item in sorted(_RECORDS.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".md"):
            target = folder / item.name
            target.write_text(web.fill(item.read_text(encoding="utf-8")), encoding="utf-8")
            written.append(target)
    return written


def run_demo(
    out: str | None, console: Console, *, env: Env | None = None, no_color: bool = False
) -> int:
    """Run ``enricher enrich`` on the demo records against the demo web and show the result.

    Self-contained: the working folder's config file and ``ENRICHER_*`` variables are not
    read (they could redirect or break the demo); ``env`` gives the streams and terminal."""
    from enricher.cli import Env, ExitCode, main
    from enricher.settings import ConfigError

    if out is not None and not out.strip():  # as enrich --out '': never the working folder
        raise ConfigError("--out '': empty folder name; give a folder such as enricher-demo/")
    base = Path(out or DEFAULT_DEMO_DIR)
    inner = replace(env or Env(), environ={}, find_config=False)
    with demo_web() as web:
        try:
            records = write_demo_records(web, base / "records")
        except OSError as exc:
            raise ConfigError(
                f"--out {base}: cannot write the demo there ({exc.strerror}); "
                "choose another folder"
            ) from None
        enriched = base / "enriched"
        report = base / "report.html"
        _say(console, f"demo web: news {web.news}, slow {web.slow}, walled {web.walled}")
        _say(console, f"records:  {base / 'records'}\n")
        argv = [
            "enrich",
            f"--out={enriched}",  # "=": a folder name that starts with "-" stays a value
            "--allow-private",
            "--host-request-interval=10ms",
            "--timeout=5s",
            "--fill-missing",
            f"--report={report}",
            f"--state={base / 'state.sqlite'}",
            *(["--no-color"] if no_color else []),
            "--",
            str(base / "records"),
        ]
        code = main(argv, inner)
    finished = code in (ExitCode.OK, ExitCode.LINKS_FAILED)
    first = enriched / records[0].name
    if finished and first.is_file():
        console.print()
        console.print(Text.assemble((str(first), "bold"), " (front matter):"))
        text = first.read_text(encoding="utf-8")
        _say(console, text.split("\n---", 1)[0] + "\n---")
    if finished and report.is_file():  # a finished run wrote it (a failed write is exit 2)
        _say(console, f"\nHTML report: {report}")
    # the demo web holds dead links on purpose: exit 1 ("links failed") is the expected result
    return int(ExitCode.OK) if finished else code


def _say(console: Console, text: str) -> None:
    """Print ``text`` as it is: paths such as ``demo[red]`` are no markup, no emoji codes."""
    console.print(text, markup=False, emoji=False, highlight=False)
