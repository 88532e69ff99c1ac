"""The pipeline, in order: read records -> collect URL slots -> fetch each distinct URL once ->
verdict and metadata -> (enrich) write records -> one RunResult.

Data flows one way; no stage calls back into an earlier one. Records are read twice (once to
collect links, once to write) so memory holds URLs and results, never all records.
This module wires the stages; it must not parse YAML or HTML, talk HTTP, or print (it hands
lines to the Reporter).
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from enricher import records
from enricher.config import Config
from enricher.enrich import with_probe
from enricher.finding import no_records
from enricher.models import (
    Changes,
    FetchResult,
    ImageInfo,
    LinkKind,
    LinkRef,
    LinkResult,
    RecordCounts,
    RecordError,
    RunResult,
    Sources,
)
from enricher.net.fetch import Fetcher
from enricher.net.guard import Resolver
from enricher.nightly import Nightly
from enricher.outcome import interpret, utc_now
from enricher.progress import Reporter
from enricher.reading import scan_records
from enricher.state import StateError
from enricher.writing import WriteTally, out_root, write_phase

#: when one URL is cited for several purposes, it is fetched for the most demanding one
_KIND_RANK = {LinkKind.PAGE: 0, LinkKind.IMAGE: 1, LinkKind.REACH: 2}
_KINDS = {kind.value: kind for kind in LinkKind}  # a slot from reading names its kind


class Aborted(Exception):
    """The run stopped before writing (network outage guard, interruption)."""


@dataclass(slots=True)
class Collection:
    """What the read phase keeps: URLs with their origins, never record texts."""

    sources: dict[str, array[int]] = field(default_factory=dict)  # URL -> packed origins
    files: list[str] = field(default_factory=list)  # record names, in path order
    fields: list[str] = field(default_factory=list)  # field paths (by index)
    kinds: dict[str, LinkKind] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)  # page URL -> provider name
    slot_results: list[LinkRef] = field(default_factory=list)
    record_errors: list[RecordError] = field(default_factory=list)
    record_paths: list[tuple[Path, str]] = field(default_factory=list)
    read: int = 0
    out_root: Path | None = None  # --out mirrors this folder (writing.out_root)

    def origins(self, url: str) -> Sources:
        """Where ``url`` is written, in path order (empty when nowhere)."""
        return Sources(self.sources.get(url, array("I")), self.files, self.fields)


async def discover(
    inputs: Iterable[str],
    col: Collection,
    config: Config,
    reporter: Reporter,
    stdin: TextIO | None = None,
    skip_dir: str | None = None,
    outputs: Sequence[str] = (),
) -> AsyncIterator[tuple[str, LinkKind]]:
    """Read every record once, keeping its URL slots' origins (never its text) in ``col``;
    yield each distinct URL the first time it is seen, so fetching starts while reading.
    Folder walks skip ``skip_dir`` (the run's output folder), and no path is read that is
    one of ``outputs`` (the run's report files: last night's Markdown report in the records
    folder is no record); paths listed on stdin that do not exist are skipped with a log
    line. With ``skip_dir``, the folder it mirrors is set in ``col.out_root`` before any
    record is read (UsageError when it is ``skip_dir``)."""
    inputs = list(inputs)
    paths: list[tuple[Path, str]] = []  # every input listed before any record is read
    for path in records.record_paths(
        inputs,
        stdin,
        on_skip=lambda message: reporter.log(f"enricher: {message}"),
        skip_dir=skip_dir,
        skip_files=outputs,
    ):
        paths.append((Path(path), path))
        if len(paths) % 4096 == 0:
            await asyncio.sleep(0)  # a long listing: let a signal handler (Ctrl-C) run
    if skip_dir is not None:
        col.out_root = out_root(inputs, (display for _, display in paths), skip_dir)
    if not paths and (warning := no_records(inputs)):
        reporter.log(f"enricher: {warning}")
    names: dict[str, str] = {}  # provider names: a few, each cited by many URLs
    col.files = [display for _, display in paths]
    rank = {display: i for i, display in enumerate(col.files)}
    field_index: dict[str, int] = {}
    sources, kinds, fields = col.sources, col.kinds, col.fields
    async for scanned in scan_records(
        paths, config, on_note=lambda note: reporter.log(f"enricher: {note}"),
        parallel=None if config.reading_worker else False,
    ):
        col.read += 1
        display = scanned.display
        if scanned.error is not None:
            col.record_errors.append(scanned.error)
            reporter.log(str(scanned.error))
            continue
        if scanned.problems:
            for problem in scanned.problems:
                error = RecordError.not_checked(display, problem.message, problem.line)
                col.record_errors.append(error)
                reporter.log(str(error))
            continue  # a structurally bad record is left untouched
        col.record_paths.append((scanned.path, display))
        col.slot_results.extend(scanned.unusable)
        file = rank[display]
        for url, value, field_path, line, provider in scanned.slots:
            kind = _KINDS[value]
            at = field_index.get(field_path)
            if at is None:
                at = field_index[field_path] = len(fields)
                fields.append(field_path)
            packed = sources.get(url)
            if packed is None:
                packed = sources[url] = array("I")
            packed.extend((file, at, line or 0))
            known = kinds.get(url)
            if known is None or _KIND_RANK[kind] < _KIND_RANK[known]:
                kinds[url] = kind
            if provider and url not in col.providers:  # one string per name (memory)
                col.providers[url] = names.setdefault(provider, provider)
            if known is None:
                yield url, kind
    _in_path_order(col, rank)


def _in_path_order(col: Collection, rank: Mapping[str, int]) -> None:
    """Put what reading kept back into the order of the record paths (the worker reads
    chunks in a spread order): records, errors, slots, and each URL's sources (a record's
    origins stay in document order)."""
    last = len(rank)
    col.record_paths.sort(key=lambda item: rank.get(item[1], last))
    col.record_errors.sort(key=lambda err: rank.get(err.file, last))
    col.slot_results.sort(key=lambda ref: rank.get(ref.origin.file, last))
    for url, packed in col.sources.items():
        if any(a > b for a, b in pairwise(packed[::3])):
            starts = sorted(range(0, len(packed), 3), key=packed.__getitem__)  # stable
            col.sources[url] = array("I", [packed[i + j] for i in starts for j in (0, 1, 2)])


@dataclass(slots=True)
class FetchOutcome:
    results: dict[str, LinkResult]
    requests: int = 0
    bytes_read: int = 0
    page_images: dict[str, LinkResult] = field(default_factory=dict)  # probed, no sources


async def fetch_phase(
    inputs: Iterable[str],
    col: Collection,
    config: Config,
    reporter: Reporter,
    *,
    stdin: TextIO | None = None,
    resolver: Resolver | None = None,
    probe_page_images: bool = False,
    on_fetcher: Callable[[Fetcher], None] | None = None,
    outcome: FetchOutcome | None = None,
    nightly: Nightly | None = None,
    skip_dir: str | None = None,
    outputs: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> FetchOutcome:
    """Read the records and fetch every distinct URL once, overlapping the two (except URLs
    the history lets us reuse); fan results out to their origins at the end. Results land
    in ``outcome`` as they come, so an interrupted run still reports what it finished.
    ``environ`` holds the proxy and CA variables (``HTTP_PROXY``, ...; None: os.environ)."""
    outcome = outcome if outcome is not None else FetchOutcome(results={})
    nightly = nightly or Nightly(None, config)
    results = outcome.results
    reporter.phase("checking links")

    def reused(batch: list[tuple[str, LinkKind]]) -> list[tuple[str, LinkKind]]:
        found = nightly.reuse(batch)
        for url, result in found.items():
            results[url] = result
            reporter.advance(result)
        return [item for item in batch if item[0] not in found]

    async def stream() -> AsyncIterator[tuple[str, LinkKind]]:
        batch: list[tuple[str, LinkKind]] = []
        async for item in discover(inputs, col, config, reporter, stdin, skip_dir, outputs):
            if nightly.history is None:
                yield item
                continue
            batch.append(item)
            if len(batch) >= 256:  # one history query per batch
                for todo in reused(batch):
                    yield todo
                batch = []
        for todo in reused(batch):
            yield todo
        reporter.set_total(len(col.kinds))

    def store(fetched: FetchResult) -> LinkResult:
        result = interpret(fetched, (), col.providers.get(fetched.url), config)
        results[fetched.url] = result = nightly.observe(fetched, result)
        return result

    def on_result(fetched: FetchResult) -> None:
        reporter.advance(store(fetched))

    def on_again(fetched: FetchResult) -> None:
        """A URL fetched again for another purpose: stored, not counted again (the progress
        counts distinct URLs). One never asked (its origin's breaker tripped) keeps its
        first answer."""
        if fetched.failure != "host_unreachable" or fetched.attempts:
            store(fetched)

    journal = asyncio.create_task(nightly.keep_journal())  # commits during a slow tail
    async with Fetcher(
        config.fetch,
        resolver=resolver,
        env=environ,
        outage_min_hosts=config.outage_min_hosts,
        outage_ratio=config.outage_ratio,
    ) as fetcher:
        if on_fetcher is not None:
            on_fetcher(fetcher)
        try:
            await fetcher.fetch_all(stream(), on_result, conditional=nightly.conditional)
            _check_network(fetcher)
            # a URL first seen for a lighter purpose (an AMP link) and later as an article
            # page or image is fetched again for what it is needed for; so is one reused
            # from the history that was checked for another purpose then
            again = [
                (url, kind)
                for url, kind in col.kinds.items()
                if url in results and not results[url].kind.serves(kind)
            ]
            if again:
                await fetcher.fetch_all(again, on_again, conditional=nightly.conditional)
            if probe_page_images:
                outcome.page_images = await _probe_page_images(fetcher, results, reporter,
                                                               config)
            _check_network(fetcher)  # the last phases stop early too, without all results
        except BaseExceptionGroup as group:  # the history failed in several fetch tasks
            raise _state_error(group) or group from None
        finally:
            journal.cancel()
            outcome.requests = fetcher.requests
            outcome.bytes_read = fetcher.bytes_read
            for url, result in results.items():
                results[url] = replace(result, sources=col.origins(url))
    return outcome


def _check_network(fetcher: Fetcher) -> None:
    """Abort the run, before anything is written, when the outage guard judged the network
    down (the fetcher stopped as soon as it did)."""
    if fetcher.network_down:
        proxy = fetcher.proxied * 2 >= max(fetcher.requests, 1)  # most went through one
        raise Aborted(
            "the proxy looks down: nearly every site failed through it (it could not be "
            "reached, did not answer, refused, or failed before passing requests on); no "
            "record was written; check that it is up and lets us through, and that "
            "--ca-bundle holds an https:// proxy's certificate (--proxy, HTTP_PROXY, "
            "HTTPS_PROXY, ALL_PROXY)" if proxy else
            "the network looks down: nearly every site stayed silent (connections or lookups "
            "timed out, no route); no record was written")


def _state_error(group: BaseExceptionGroup[BaseException]) -> StateError | None:
    """The history's own one-line error, when that is what failed the fetch tasks."""
    for exc in group.exceptions:
        found = _state_error(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if isinstance(found, StateError):
            return found
    return None


async def _probe_page_images(
    fetcher: Fetcher, results: dict[str, LinkResult], reporter: Reporter, config: Config
) -> dict[str, LinkResult]:
    """Type and size of each page's chosen image, fetched once per distinct image URL; the
    verdict of each one fetched (for ``--fill-missing``: only an image that is one is filled
    in, with its linkCheck). An image probed before (its page reused or answered 304 from
    the history) is not fetched again."""
    wanted: dict[str, list[str]] = {}
    for url, result in results.items():
        image = result.page.image if result.page is not None else None
        if image is not None and image.url and image.type is None:
            wanted.setdefault(image.url, []).append(url)
    checked: dict[str, LinkResult] = {}
    if not wanted:
        return checked
    probed: dict[str, ImageInfo] = {}
    todo = []
    for image_url in wanted:
        known = results.get(image_url)
        if known is not None and known.image is not None:
            probed[image_url] = known.image
        elif known is None:
            todo.append((image_url, LinkKind.IMAGE))
    reporter.phase("probing page images", total=len(todo))

    def on_image(fetched: FetchResult) -> None:
        result = checked[fetched.url] = interpret(fetched, (), None, config)
        if result.image is not None:
            probed[fetched.url] = result.image

    await fetcher.fetch_all(todo, on_image)
    for image_url, info in probed.items():
        for page_url in wanted[image_url]:
            result = results[page_url]
            assert result.page is not None and result.page.image is not None
            merged = with_probe(result.page.image, info)
            results[page_url] = replace(result, page=replace(result.page, image=merged))
    return checked


def run_result(
    command: str,
    started_at: str,
    col: Collection,
    outcome: FetchOutcome | None,
    counts: RecordCounts,
    extra_errors: Iterable[RecordError] = (),
    aborted: str | None = None,
    options: Mapping[str, object] | None = None,
    changes: Changes | None = None,
    elapsed: float | None = None,
) -> RunResult:
    return RunResult(
        elapsed=elapsed,
        command=command,
        started_at=started_at,
        finished_at=utc_now(),
        results=tuple(outcome.results.values()) if outcome else (),
        slot_results=tuple(col.slot_results),
        record_errors=(*col.record_errors, *extra_errors),
        records=counts,
        requests=outcome.requests if outcome else 0,
        bytes_read=outcome.bytes_read if outcome else 0,
        aborted=aborted,
        options=dict(options or {}),
        changes=changes,
    )


async def run(
    command: str,
    inputs: Iterable[str],
    config: Config,
    reporter: Reporter,
    *,
    write: bool,
    stdin: TextIO | None = None,
    resolver: Resolver | None = None,
    diff_lines: list[str] | None = None,
    on_fetcher: Callable[[Fetcher], None] | None = None,
    options: Mapping[str, object] | None = None,
    clock: Callable[[], datetime] | None = None,
    environ: Mapping[str, str] | None = None,
    outputs: Sequence[str] = (),
) -> RunResult:
    """One whole run. Interrupted (task cancelled) or aborted runs write no record (or, in the
    write phase, no further one) and return a partial RunResult whose ``aborted`` says why;
    the history records them as such. ``outputs``: the report files the run
    will write, never read as records. Raises ``state.StateError`` when the
    history cannot be opened (locked by another run). ``clock`` (UTC) replaces the wall clock
    for the run's start and the history (tests simulate nightly runs with it)."""
    started = utc_now() if clock is None else clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    began = time.monotonic()  # the timestamps hold whole seconds: "Run time 1.0 s" for 1.9
    col = Collection()
    outcome = FetchOutcome(results={})
    nightly = Nightly.open(config, command, options or {}, clock=clock, environ=environ)
    aborted: str | None = None
    changes: Changes | None = None

    def result(
        counts: RecordCounts, errors: Iterable[RecordError] = (), stop: str | None = None
    ) -> RunResult:
        return run_result(
            command,
            started,
            col,
            outcome,
            counts,
            errors,
            aborted=stop,
            changes=changes,
            options=options,
            elapsed=time.monotonic() - began,
        )

    try:
        try:
            await fetch_phase(
                inputs,
                col,
                config,
                reporter,
                stdin=stdin,
                resolver=resolver,
                probe_page_images=write,
                on_fetcher=on_fetcher,
                outcome=outcome,
                environ=environ,
                nightly=nightly,
                skip_dir=config.out_dir if write and not config.in_place else None,
                outputs=outputs,
            )
        except Aborted as exc:
            aborted = str(exc)
        except asyncio.CancelledError:
            aborted = "interrupted"
        # the records are written with since/confirmed from the history, but the run is
        # finished only once they are: until then the history holds it (nightly.commit)
        updated, changes = nightly.finish(outcome.results.values(), aborted, hold=write)
        if updated is not None:
            outcome.results.update(updated)
        if aborted or not write:
            return result(_counts(col), stop=aborted)
        tally = WriteTally()
        try:
            changed, unchanged, errors = await write_phase(
                col.record_paths, {**outcome.page_images, **outcome.results}, config, reporter,
                started,
                diff_lines, tally, col.out_root)
        except asyncio.CancelledError:  # between two files: the summary counts those written
            nightly.finish((), "interrupted")  # an interrupted run: its journal resumes it
            counts = _counts(col, changed=tally.changed, unchanged=tally.unchanged,
                             failed_writes=tally.failed)
            return result(counts, tally.errors, stop="interrupted")
        nightly.commit()
    except records.UsageError:  # a missing input, --out onto the records: no run to keep
        nightly.close(discard=True)
        raise
    finally:
        nightly.close()  # a run still held (an error while writing) is left unfinished
    return result(
        _counts(col, changed=changed, unchanged=unchanged, failed_writes=tally.failed), errors
    )


def _counts(
    col: Collection, *, changed: int = 0, unchanged: int = 0, failed_writes: int = 0
) -> RecordCounts:
    failed = col.read - len(col.record_paths) + failed_writes
    return RecordCounts(read=col.read, failed=failed, changed=changed, unchanged=unchanged)
