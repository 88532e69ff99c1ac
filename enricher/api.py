"""enricher as a library: the few calls a program needs, each one the command line's own code.

::

    from enricher import api

    run = api.check(["_news/"])                      # read, check every distinct URL once
    for result in run.results:                       # LinkResult: url, status, reason, ...
        print(result.url, result.status.value, result.reason, result.page and result.page.title)
    found, errors = api.links(["_news/"])            # URL slots (LinkRef), no network
    meta = api.extract_page(html_bytes, "https://example.com/story")   # PageMeta
    status = api.main(["enrich", "_news/", "--in-place", "--report", "r.html"])

- ``check``/``check_async`` and ``enrich``/``enrich_async`` run the whole pipeline (records
  read, URLs fetched politely, verdicts, page metadata; ``enrich`` also writes the records as
  ``enricher enrich`` does) and return the :class:`RunResult` every report renders from. With
  no ``config`` they keep no history; a ``Config`` has the command line's default, a
  history in ``.enricher/state.sqlite`` (``Config(state_file=None)`` for none).
- ``links`` lists URL slots without touching the network.
- ``extract_page`` is the extraction the enrichment uses, on a page you already have.
- ``main`` is the command line in-process (arguments, reports, exit status); from inside a
  running event loop it runs in a worker thread and blocks until done.

These names, and the fields of the types they return (``enricher.models``), are the library's
stable surface; every other module is internal. This module must hold no logic of its own:
each call delegates to the module that does the work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TextIO

from rich.console import Console

from enricher.config import Config, FetchConfig, HostPolicy
from enricher.finding import UsageError
from enricher.models import (
    ImageInfo,
    LinkKind,
    LinkRef,
    LinkResult,
    LinkStatus,
    Origin,
    PageMeta,
    RecordError,
    RunResult,
)
from enricher.state_lock import StateError

__all__ = [
    "Config", "FetchConfig", "HostPolicy", "ImageInfo", "LinkKind", "LinkRef", "LinkResult",
    "LinkStatus", "Origin", "PageMeta", "RecordError", "RunResult", "StateError", "UsageError",
    "check", "check_async", "enrich", "enrich_async", "extract_page", "links", "main",
]

_NO_HISTORY = Config(state_file=None)


async def check_async(paths: Sequence[str], config: Config | None = None) -> RunResult:
    """``enricher check PATHS``: every URL of the records checked, none written."""
    return await _run("check", paths, config, write=False)


async def enrich_async(paths: Sequence[str], config: Config | None = None) -> RunResult:
    """``enricher enrich PATHS``: checked, then written to ``config.out_dir`` (default
    ``enriched/``) or in place (``Config(in_place=True)``)."""
    return await _run("enrich", paths, config, write=True)


def check(paths: Sequence[str], config: Config | None = None) -> RunResult:
    """:func:`check_async` for a program without an event loop of its own."""
    return asyncio.run(check_async(paths, config))


def enrich(paths: Sequence[str], config: Config | None = None) -> RunResult:
    """:func:`enrich_async` for a program without an event loop of its own."""
    return asyncio.run(enrich_async(paths, config))


async def _run(command: str, paths: Sequence[str], config: Config | None, *, write: bool
               ) -> RunResult:
    from enricher import app
    from enricher.preflight import check_network
    from enricher.progress import QuietReporter
    from enricher.settings import ConfigError

    said: list[str] = []  # the run's own lines (a path without records, a file skipped):

    class Quiet(QuietReporter):  # Python warnings once the run is over (a caller's "error"
        def log(self, message: str) -> None:  # filter must not stop it); record errors
            if message.startswith("enricher: "):  # are in the result
                said.append(message.removeprefix("enricher: "))

    config = replace(config or _NO_HISTORY, reading_worker=False)  # see Config
    try:
        check_network(config)  # a missing SSL_CERT_FILE: the command line's usage error
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    task = asyncio.current_task()
    cancelling = task.cancelling() if task is not None else 0
    run = await app.run(command, list(paths), config, Quiet(Console(file=io.StringIO()), False),
                        write=write)
    for line in said:
        warnings.warn(line, UserWarning, stacklevel=3)
    if run.aborted == "interrupted" and task is not None and task.cancelling() > cancelling:
        raise asyncio.CancelledError  # stopped cleanly; the caller's cancel, timeout or
    return run  # Ctrl-C goes on as asyncio code expects



def links(paths: Sequence[str], config: Config | None = None
          ) -> tuple[list[LinkRef], list[RecordError]]:
    """``enricher links PATHS``: every URL slot of the readable records (``url`` None when it
    cannot be fetched: ``status`` and ``reason`` say why), and the records that could not be
    read."""
    from enricher.inventory import Inventory, iter_slots

    inventory = Inventory()
    found = list(iter_slots(list(paths), config or _NO_HISTORY, inventory))
    return found, list(inventory.errors)


def extract_page(html: bytes | str, url: str, *, content_type: str | None = None,
                 provider: str | None = None) -> PageMeta:
    """A page's metadata (title, description, site name, image, date, canonical and AMP URL,
    language). Bytes are decoded as browsers do (BOM, ``content_type``'s charset, ``<meta
    charset>``, UTF-8); ``url`` is where the page was found (relative links resolve against
    it); ``provider`` (the record's provider name) helps strip a site name from the title.
    Never raises."""
    from enricher.decode import decode_html
    from enricher.extract import extract
    from enricher.net.urls import CleanURL, clean_url
    from enricher.outcome import clean_page_urls

    if isinstance(html, bytearray | memoryview):
        html = bytes(html)
    ctype = content_type if isinstance(content_type, str) else None
    text = decode_html(html, ctype) if isinstance(html, bytes) else html
    page = extract(text, url, provider=provider)
    found = clean_url(url)  # the page's URLs as the enrichment keeps them (credentials, bad
    try:  # ports: none), also where one repeats the url given
        return clean_page_urls(page, _NO_HISTORY, found.url if isinstance(found, CleanURL) else "")
    except Exception:  # pragma: no cover - cleaning never raises; the page as found then
        return page


def main(argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None
         ) -> int:
    """The command line (``enricher ARGV``) in this process; the exit status. ``stdout`` and
    ``stderr`` (default: the process's) receive what it prints, ``--results -`` included."""
    from enricher.cli import Env
    from enricher.cli import main as cli_main

    env = Env(reading_worker=False)  # see Config.reading_worker
    if stdout is not None:
        env.stdout = stdout
    if stderr is not None:
        env.stderr = stderr
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop here: the usual case
        return cli_main(list(argv), env)
    stops: list[Callable[[], None]] = []  # the worker thread gets no signals: Ctrl-C here
    interrupted = threading.Event()  # stops its run as SIGINT would (exit 3, no half-done

    def on_stop(stop: Callable[[], None]) -> None:  # record), also one that starts after
        stops.append(stop)
        if interrupted.is_set():
            stop()

    env.on_stop = on_stop
    with concurrent.futures.ThreadPoolExecutor(1) as worker:  # asyncio.run needs its own
        future = worker.submit(cli_main, list(argv), env)
        try:
            return future.result()
        except KeyboardInterrupt:
            interrupted.set()
            for stop in list(stops):
                stop()
            status = future.result()
            if not stops:  # a command without a run to stop (links, report), or one over
                raise  # before its run began: the interrupt is the caller's
            return status
