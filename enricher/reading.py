"""Reading records into URL slots, in this process or in a worker process.

YAML construction is pure Python even with the C loader (about 2 ms for a record with 20
URLs), so on a large corpus reading records would hold the event loop for a long time while
the fetcher waits. With more than ``PARALLEL_MIN_RECORDS`` records and more than one core,
records are read by one worker process (the event loop keeps the other core) in chunks, a
few chunks ahead of the fetcher; smaller runs read in-process, in order.

The worker takes the chunks in a spread order (:func:`spread_order`: the first, the middle,
the quarters, ...), not front to back. Real collections come sorted, with one host's
articles in one block; read in order, that host's URLs (the run's longest politeness-bound
work) are only found when reading reaches its block, seconds in. Spread, every region of
the list is sampled within the first few chunks. The caller puts what it keeps back into
path order (``app.discover``), so outputs do not depend on the reading order.

Each record becomes a ``Scanned`` value: its fetchable slots (policy applied) as plain tuples
with the provider name of each article-page slot, its unusable slots, or the record's error.
Plain tuples because they cross from the worker process: pickling a dataclass and an enum per
slot cost more than reading the record (bench records: 1.6 s against 0.15 s for 101,423
slots, most of it unpickling on the event loop). This module must not fetch or write anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import multiprocessing
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enricher import records
from enricher.config import STALE_TEMP_SECONDS, Config
from enricher.links import ShapeProblem
from enricher.models import LinkKind, LinkRef, RecordError
from enricher.policy import LinkPolicy, record_slots
from enricher.runtime import tune_process

PARALLEL_MIN_RECORDS = 512  # below this, a worker process costs more than it saves
CHUNK_RECORDS = 64
CHUNKS_AHEAD = 4
ANSWERS_PREFIX = "enricher-reading-"  # the worker's answer folders, in the temporary folder
PARENT_CHECK_SECONDS = 1.0  # how often the worker looks whether its parent is still there


# one fetchable slot: url, kind (LinkKind's value), field path, line, and the provider name
# when it is an article-page slot
Slot = tuple[str, str, str, "int | None", "str | None"]


@dataclass(frozen=True, slots=True)
class Scanned:
    path: Path
    display: str
    error: RecordError | None = None
    problems: tuple[ShapeProblem, ...] = ()
    slots: tuple[Slot, ...] = ()  # in document order
    unusable: tuple[LinkRef, ...] = ()  # slots without a URL to fetch (invalid, skipped)


def _provider(data: Mapping[str, Any], ref: LinkRef) -> str | None:
    holder: Any = data
    for step in ref.holder:
        holder = holder[step]
    provider = holder.get("provider") if isinstance(holder, Mapping) else None
    name = provider.get("name") if isinstance(provider, Mapping) else None
    return name if isinstance(name, str) else None


def scan_record(path: Path, display: str, config: Config, policy: LinkPolicy) -> Scanned:
    record = records.read_record(path, display, config.max_record_bytes)
    if isinstance(record, RecordError):
        return Scanned(path, display, error=record)
    slots = record_slots(record, config)
    if slots.problems:
        return Scanned(path, display, problems=slots.problems)
    refs = policy.apply(slots)
    return Scanned(
        path, display,
        slots=tuple(
            (ref.url, ref.kind.value, ref.origin.field, ref.origin.line,
             _provider(record.data, ref) if ref.kind is LinkKind.PAGE else None)
            for ref in refs if ref.url is not None),
        unusable=tuple(ref for ref in refs if ref.url is None))


def scan_chunk(items: Sequence[tuple[Path, str]], config: Config) -> list[Scanned]:
    """Read a chunk of records."""
    policy = LinkPolicy.from_config(config)
    return [scan_record(path, display, config, policy) for path, display in items]


def scan_chunk_to_file(items: Sequence[tuple[Path, str]], config: Config, folder: str) -> str:
    """A worker's job (top level, so it pickles): a chunk's Scanned values pickled into a
    new file in ``folder``, whose name is the whole answer. That answer is shorter than
    PIPE_BUF, so it reaches the pipe in one atomic write: a worker killed while answering
    (the OOM killer, SIGKILL) leaves no half message, on which the pool's reading thread
    would wait for ever (a chunk of 64 records pickles to some 90 KB, more than a pipe
    holds)."""
    fd, name = tempfile.mkstemp(dir=folder, suffix=".pickle")
    with open(fd, "wb") as out:
        pickle.dump(scan_chunk(items, config), out, protocol=pickle.HIGHEST_PROTOCOL)
    return name


def _answer(name: str) -> list[Scanned]:
    """A chunk's Scanned values from the file ``scan_chunk_to_file`` named (then removed)."""
    try:
        with open(name, "rb") as answer:
            batch: list[Scanned] = pickle.load(answer)
    finally:
        os.unlink(name)
    return batch


def spread_order(n: int) -> list[int]:
    """0..n-1 ordered by bit-reversed index (van der Corput): each prefix of the order
    samples the whole range evenly (0, n/2, n/4, 3n/4, ...)."""
    bits = max(1, (n - 1).bit_length())
    order: list[int] = []
    seen: set[int] = set()
    for k in range(1 << bits):  # the fractions k / 2**bits, bit-reversed, scaled to n
        i = int(format(k, f"0{bits}b")[::-1], 2) * n >> bits
        if i not in seen:  # a step of n / 2**bits <= 1 reaches every index
            seen.add(i)
            order.append(i)
    return order


async def scan_records(
    paths: Sequence[tuple[Path, str]],
    config: Config,
    *,
    parallel: bool | None = None,
    on_note: Callable[[str], None] | None = None,
) -> AsyncIterator[Scanned]:
    """Every record as a Scanned value, yielding to the event loop as it goes: in order when
    read in-process, in chunks taken in :func:`spread_order` when read by the worker. When
    the worker cannot start or dies (killed by the OOM killer or by hand), the chunks it
    has not returned are read in this process, and ``on_note`` is told once."""
    if parallel is None:
        parallel = len(paths) >= PARALLEL_MIN_RECORDS and (os.cpu_count() or 1) > 1
    if not parallel:
        async for scanned in _in_process(paths, config):
            yield scanned
        return
    in_order = [paths[i : i + CHUNK_RECORDS] for i in range(0, len(paths), CHUNK_RECORDS)]
    chunks = [in_order[i] for i in spread_order(len(in_order))]
    done = 0  # chunks yielded so far
    try:
        folder = _answers_folder()
    except OSError:  # no temporary folder (a read-only container): reading stays here
        async for scanned in _in_process(paths, config):
            yield scanned
        return
    pool: ProcessPoolExecutor | None = None
    try:
        with _hang_ups_held():  # the worker and multiprocessing's helper process start here
            pool = ProcessPoolExecutor(max_workers=1, initializer=worker_start,
                                       mp_context=multiprocessing.get_context("spawn"),
                                       initargs=(os.getpid(),))
            ahead: deque[Future[str]] = deque(
                pool.submit(scan_chunk_to_file, chunk, config, folder)
                for chunk in chunks[:CHUNKS_AHEAD])
        while ahead:
            batch = _answer(await asyncio.wrap_future(ahead.popleft()))
            following = done + len(ahead) + 1
            if following < len(chunks):
                ahead.append(pool.submit(scan_chunk_to_file, chunks[following], config, folder))
            done += 1
            for scanned in batch:
                yield scanned
    except (BrokenProcessPool, OSError) as exc:
        if on_note is not None:
            on_note(f"the record-reading worker process stopped ({type(exc).__name__}); "
                    "reading the remaining records in this process")
        rest = [item for chunk in chunks[done:] for item in chunk]
        async for scanned in _in_process(rest, config):
            yield scanned
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(folder, ignore_errors=True)  # answers not taken (an interruption)


def _answers_folder() -> str:
    """A new private folder for the worker's answers in the system's temporary folder,
    where those of runs killed with SIGKILL (the OOM killer) an hour ago and more are
    removed first. OSError when there is none (a read-only container), or Python fell
    back to the working folder, which is not a temporary one: no folder lands among the
    user's records."""
    base = tempfile.gettempdir()
    usual = {os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")}
    usual = {os.path.realpath(p) for p in (*usual, "/tmp", "/var/tmp", "/usr/tmp") if p}
    real = os.path.realpath(base)
    if real == os.path.realpath(os.getcwd()) and real not in usual:
        raise FileNotFoundError(errno.ENOENT, "no temporary folder", base)
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(base) as entries:
        for entry in entries:
            if (entry.name.startswith(ANSWERS_PREFIX) and entry.is_dir(follow_symlinks=False)
                    and now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_SECONDS):
                shutil.rmtree(entry.path, ignore_errors=True)
    return tempfile.mkdtemp(prefix=ANSWERS_PREFIX, dir=base)


@contextlib.contextmanager
def _hang_ups_held() -> Iterator[None]:
    """SIGHUP blocked in this thread while it spawns the worker and multiprocessing's
    resource tracker: both inherit it blocked. The tracker unblocks only SIGINT and SIGTERM:
    a hang-up of the process group (a terminal closed) killed it, and the parent printed
    its restart and five tracebacks. A hang-up meanwhile is not lost: another thread takes
    it, or this one once it is unblocked. A no-op where signals cannot be masked."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)  # as it was: blocked stays so


def worker_start(parent: int) -> None:
    """The reading worker's set-up: tuned like the CLI, and it ends when ``parent`` does. A
    main process killed with SIGKILL left the worker blocked on a pipe nobody reads, for
    ever, holding the run's stdout and stderr open (a cron job's output never ended).
    Ctrl-C, a hang-up and a SIGTERM (systemd's stop, ``kill -- -PGID``) reach the whole
    process group: the main process handles them (and ends the worker); the worker ignores
    them, printing no traceback (and a worker killed while answering loses its chunk)."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    tune_process()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="enricher-parent-watch", daemon=True).start()


async def _in_process(
    paths: Sequence[tuple[Path, str]], config: Config
) -> AsyncIterator[Scanned]:
    policy = LinkPolicy.from_config(config)
    for i, (path, display) in enumerate(paths):
        if i % 16 == 15:
            await asyncio.sleep(0)  # let fetches and an interruption through
        yield scan_record(path, display, config, policy)
