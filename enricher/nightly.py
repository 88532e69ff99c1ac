"""The history's part in one run: reuse, conditional requests, the journal, confirmation.

Before fetching: results of a killed run are resumed, and with ``--max-age`` results checked ok
recently are reused (both marked ``reused``). While fetching: stored ETag/Last-Modified make
conditional requests, a 304 reuses the stored page metadata, and every finished URL is
journaled. After fetching: the history sets ``since``/``confirmed`` and returns the change
report; a run that writes records holds that open until they are written (``commit``), so an
interruption in the write phase makes an interrupted run, as one while fetching does. Without
a state file every method is a no-op.

This module must not fetch, parse pages or touch records; only ``state`` talks to SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from enricher.config import (
    DEFAULT_CONFIRM_DAYS,
    DEFAULT_CONFIRM_RUNS,
    KEEP_RUNS,
    Config,
    FetchConfig,
)
from enricher.models import FetchResult, LinkKind, LinkResult, RecordCounts, RunResult
from enricher.report import Changes
from enricher.state import (
    INTERRUPTED,
    JOURNAL_SECONDS,
    History,
    StateError,
    iso,
    utcnow,
)
from enricher.state_rows import validator


class Nightly:
    def __init__(
        self, history: History | None, config: Config, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.history = history
        self.config = config
        self.clock = clock  # the history's time: every check is dated by it
        self._etags: dict[str, tuple[str | None, str | None]] = {}
        self._resumed: dict[str, LinkResult] | None = None
        self._validators: dict[str, Mapping[str, str]] = {}  # found with their batch
        self._asked: set[str] = set()  # URLs whose validators were looked up with a batch
        self._sent: dict[str, Mapping[str, str]] = {}  # conditional headers of requests out

    @classmethod
    def open(
        cls,
        config: Config,
        command: str,
        options: Mapping[str, Any],
        clock: Callable[[], datetime] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Nightly:
        """Open (and lock) the state file; raises ``state.StateLocked``/``StateError``.
        ``clock`` is the history's time (tests inject one to simulate nights); ``environ``
        holds the proxy and CA variables the run uses (None: ``os.environ``)."""
        if not config.state_file:
            return cls(None, config)
        clock = clock or utcnow
        history = History.open(
            config.state_file,
            clock=clock,
            confirm_runs=config.confirm_runs,
            confirm_days=config.confirm_days,
            rehearsal=config.dry_run,  # a dry run reads the history and writes none of it
        )
        history.start_run(command, options, verdict_profile(
            config.fetch, os.environ if environ is None else environ))
        return cls(history, config, clock)

    def reuse(self, items: Sequence[tuple[str, LinkKind]]) -> dict[str, LinkResult]:
        """Those of ``items`` (URL, what it is needed for) that need no fetch this run:
        resumed from a killed run, or (with ``--max-age``) checked ok recently, each for a
        purpose that serves this one (``LinkKind.serves``). Called batch by batch as URLs
        are found."""
        if self.history is None:
            return {}
        if self._resumed is None:
            self._resumed = self.history.resumable(self.config.max_age)
        need = dict(items)
        found = {u: self._resumed[u] for u in need if u in self._resumed}
        if self.config.max_age is not None:
            todo = [u for u in need if u not in found]
            found.update(self.history.fresh(todo, self.config.max_age))
        reused = {u: r for u, r in found.items() if r.kind.serves(need[u])}
        for url in reused.keys() & self._resumed.keys():  # its check left these validators
            self._etags[url] = self.history.resumed_validators.get(url, (None, None))
        for kind in LinkKind:  # to be fetched: their validators now, one query per batch
            todo = [u for u, k in need.items() if k is kind and u not in reused]
            if todo:
                self._validators.update(self.history.conditional_many(todo, kind))
                self._asked.update(todo)
        return {u: replace(r, reused=True) for u, r in reused.items()}

    def conditional(self, url: str, kind: LinkKind) -> Mapping[str, str] | None:
        """The validators of a URL's conditional request when fetched for ``kind``: found
        with its batch in :meth:`reuse` (used once), else asked of the history now (a URL
        fetched again). None unless the stored facts a 304 would reuse serve ``kind``."""
        if self.history is None:
            return None
        if url in self._asked:
            self._asked.discard(url)
            sent = self._validators.pop(url, None)
        else:
            sent = self.history.conditional_headers(url, kind)
        if sent:
            self._sent[url] = sent  # what a 304 does not name again stays (observe)
        return sent

    def observe(self, fetched: FetchResult, result: LinkResult) -> LinkResult:
        """Date one finished URL by the history's clock and journal it; a 304 takes its
        HTTP status, content type and metadata from the history."""
        if self.history is None:
            return result
        result = replace(result, checked_at=sys.intern(iso(self.clock())))  # one per second
        headers, sent = fetched.headers, self._sent.pop(fetched.url, None) or {}
        if fetched.not_modified:
            stored = self.history.stored(fetched.url)
            if stored is not None:  # the page did not change: neither do its facts
                result = replace(
                    result,
                    http_status=stored.http_status,
                    content_type=stored.content_type,
                    page=stored.page,
                    image=stored.image,
                )
            etag, modified = self._validators_of(headers)  # RFC 9111 4.3.4: a 304's validators
            kept = (etag or sent.get("If-None-Match"),  # replace those sent, which stay
                    modified or sent.get("If-Modified-Since"))  # otherwise (and replace a
            self._etags[fetched.url] = kept  # resumed check's, of a lighter purpose)
        else:
            if fetched.http_status is not None:  # the facts stored now are this answer's
                self._etags[fetched.url] = (  # only the URL's own answer's validators serve
                    self._validators_of(headers) if 200 <= fetched.http_status < 300
                    and not fetched.redirects else (None, None))
            kept = self._etags.get(fetched.url, (None, None))
        self.history.journal(result, kept)  # a resumed result keeps them
        return result

    @staticmethod
    def _validators_of(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
        modified = validator(headers.get("last-modified"))  # many pages share one
        return validator(headers.get("etag")), sys.intern(modified) if modified else None

    async def keep_journal(self, interval: float = JOURNAL_SECONDS) -> None:
        """Commit the journal every ``interval`` seconds of real time until cancelled, so a
        slow tail without new results never keeps finished ones from surviving a crash. A
        history that fails stops it quietly: the next use raises the same ``StateError``."""
        if self.history is None:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                self.history.flush()
            except StateError:
                return

    def finish(
        self, results: Iterable[LinkResult], aborted: str | None = None, hold: bool = False
    ) -> tuple[dict[str, LinkResult] | None, Changes | None]:
        """Update the history; results with ``since``/``confirmed`` and the change report.
        ``hold``: the run is finished by :meth:`commit` (once its records are written); an
        aborted ``finish`` before that (interrupted while writing) undoes it, as if this run
        had been interrupted before it finished: it stores no check, its journal stays."""
        if self.history is None:
            return None, None
        if aborted:
            self.history.finish_run(
                (), aborted=INTERRUPTED if aborted == "interrupted" else aborted
            )
            return None, None
        return self.history.finish_run(results, etags=self._etags, hold=hold,
                                       reuse_seconds=self.config.max_age)

    def commit(self) -> None:
        """The run held by ``finish(hold=True)`` is finished: its records are written."""
        if self.history is not None:
            self.history.commit_run()

    def close(self, discard: bool = False) -> None:
        """Close the history; ``discard``: forget this run (a usage error ended it)."""
        if self.history is not None:
            self.history.close(discard)


def verdict_profile(fetch: FetchConfig, environ: Mapping[str, str]) -> str:
    """A short hash of the settings that can change a URL's verdict: the codes accepted,
    what the request says of itself (User-Agent, headers, per host too), the address
    policy, the proxy and CA bundle (flags, or the variables in ``environ`` as the fetcher
    reads them), the redirects followed, HTTP/2. A stored result is reused (``--max-age``,
    resume) only by a run with the same profile: one that was ok with ``--accept 403`` must
    not hide a 403 from a run without it. Timeouts and limits are left out: they decide
    nothing of an answer that came."""
    hosts = sorted((name, host.user_agent, sorted(host.headers.items()))
                   for name, host in fetch.hosts.items() if host.user_agent or host.headers)
    variables = [environ.get(name) or environ.get(name.upper()) or None  # as the fetcher
                 for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")]  # reads
    variables += [environ.get(name) or None for name in ("SSL_CERT_FILE", "SSL_CERT_DIR")]
    facts = [fetch.user_agent, sorted(fetch.headers.items()), sorted(fetch.accepted_status),
             fetch.allow_private, sorted(fetch.allowed_low_ports), fetch.proxy,
             fetch.ca_bundle, fetch.max_redirects, fetch.http2, hosts, variables]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def history_run(path: str, confirm_runs: int = DEFAULT_CONFIRM_RUNS,
                confirm_days: float = DEFAULT_CONFIRM_DAYS) -> tuple[RunResult, str | None]:
    """The latest state of every URL in the history, as a run (for ``enricher report``),
    dead ones confirmed by the configured rule, dated as the last finished run (whose
    changes it shows); and a note when later runs did not finish (interrupted, or going on:
    what they checked is not in it). Reads without taking the lock, so it works while a
    nightly run is going on."""
    from pathlib import Path

    try:
        missing = not Path(path).exists()
    except OSError as exc:  # Python 3.11: a name over 255 bytes raises, it is not "missing"
        raise StateError(f"cannot read {path} ({exc.strerror or exc}); choose another --state"
                         ) from None
    if missing:
        raise StateError(
            f"{path}: no history yet; run `enricher check` or `enrich` first, or give --state FILE"
        )
    with History.open(path, read_only=True, confirm_runs=confirm_runs,
                      confirm_days=confirm_days) as history:
        runs = history.runs(10)  # newest first: the last finished one is nearly always here
        if all(run.state != "finished" for run in runs) and len(runs) == 10:
            runs = history.runs(KEEP_RUNS)
        if all(run.state != "finished" for run in runs):  # none, or killed: as good as none
            raise StateError(f"{path}: no run in this history has finished yet; let one "
                             "finish (`enricher check` or `enrich`), or give --state FILE")
        results = tuple(history.latest())
        changes = history.change_report()
    later = list(itertools.takewhile(lambda run: run.state != "finished", runs))
    last = runs[len(later)]  # the last finished run
    note = None
    if later:
        going = ("has not finished (it is going on, or was killed)"
                 if later[0].state == "running" else f"was {later[0].state}")
        note = (f"note: the last run ({later[0].command}, started {later[0].started_at}) "
                f"{going}; this report shows the run finished at {last.finished_at}")
    run = RunResult(
        command="report",
        started_at=last.started_at,
        finished_at=last.finished_at or "",
        results=results,
        slot_results=(),
        record_errors=(),
        records=RecordCounts(),
        changes=changes,
        options={"state": path},
    )
    return run, note
