"""Run history for nightly runs, in SQLite from the standard library: what was seen when.

One file (default ``.enricher/state.sqlite``, WAL mode) keeps, per URL, the last verdict and
how long it has held; per run, its times, options, counts and changes; and a journal of
finished URLs so that a killed run resumes without refetching them. ``finish_run`` works as
set-based SQL over a temporary table, never one query per URL.

The rules, each decided here only:

* good = ok, redirected; bad = dead, error, timeout, blocked; invalid/skipped are not stored.
* ``since``: the first check of the URL's current unbroken streak of the same status.
* confirmed dead: ``dead`` in >= ``confirm_runs`` consecutive checks of the URL, the first and
  the last at least ``confirm_days`` apart, less ``CONFIRM_SLACK`` (cron starts a few seconds
  late, DST takes an hour). Runs that do not check a URL leave its streak alone; a check dated
  before the URL's last one counts as made at that last check and restarts the streak
  untrusted (``state_sql.UPSERT``): neither a clock set back nor a run dated ahead can
  stretch hours of checks into days.
* changes, against the URL's previous check: newly dead (dead now; not dead before, or never
  seen), recovered (bad before, good now), still dead (dead before and now; since, and age in
  days at the end of the run), newly redirected (redirected now; not before, never seen, or to
  another target), flapping (>= 3 good<->bad changes among the last 6 checks, this one too).
* a reused result (``--max-age``) is no check: annotated, it changes nothing stored; a
  resumed one is a check of the interrupted run (its ``checked_at`` is newer than the row).
  Either is reused only by a run whose profile (of the settings that decide verdicts:
  ``--accept``, User-Agent, headers, ...) is the one that checked it.
* resume: the journal keeps what unfinished runs (killed, or ended with ``aborted=INTERRUPTED``)
  had finished, for ``RESUME_WINDOW`` (never longer than ``--max-age``). Commits are batched
  (``JOURNAL_BATCH`` results, ``JOURNAL_SECONDS`` by the clock, or ``flush``, which the caller
  calls every ``JOURNAL_SECONDS``), so a crash loses at most one batch.
* forgetting: ``finish_run`` drops URLs not checked for ``FORGET_AFTER`` or a longer
  ``--max-age`` (never one still reused), all runs but the last ``KEEP_RUNS`` and the change
  reports (each lists every still-dead URL) of all but the last ``KEEP_CHANGES``; ``latest``
  lists bad URLs only if the last finished run checked them.
* a clock set back: a time after now is never fresh nor resumed, ages are never negative,
  ``since`` is never after the check that carries it.
* ``enrich`` is finished once its records are written: ``finish_run(hold=True)`` keeps its
  work (the records need its ``since``/``confirmed``) uncommitted until ``commit_run``; an
  interruption meanwhile (``aborted=INTERRUPTED``) rolls it back, a kill leaves it unfinished.
* one run at a time: ``open`` takes an exclusive ``flock`` on ``<resolved state>.lock`` until
  ``close``; the kernel drops it when the process dies; ``read_only`` opens take none.
  Any SQLite error after ``open`` (a damaged page, a full disk) is a one-line ``StateError``.
* read-only opens (``enricher report``) and rehearsals change no byte of the state files and
  create none (``state_connect``). A rehearsal (``--dry-run``) reads the history as a run
  would and writes no lock, journal or run row; ``finish_run`` works in a transaction it
  rolls back, in a private copy (a missing or empty file: an empty history).

With ``state_connect``, the only module that imports sqlite3; it must not fetch, read records
or print, and reads the time only through the injected ``clock``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from enricher import config as defaults
from enricher import state_sql as sql
from enricher.config import DEFAULT_CONFIRM_DAYS, DEFAULT_CONFIRM_RUNS, KEEP_CHANGES, KEEP_RUNS
from enricher.models import BAD, GOOD, Changes, LinkResult, LinkStatus
from enricher.state_connect import connect_read_only, connect_rehearsal
from enricher.state_lock import StateError as StateError
from enricher.state_lock import StateLocked as StateLocked
from enricher.state_lock import release_lock, take_lock
from enricher.state_rows import RunInfo as RunInfo
from enricher.state_rows import changes_from, changes_of, from_row, meta_of, validators

SCHEMA_VERSION = 3  # 2: the profile of the settings that decided each result; 3: validators
# in the journal (state_sql.MIGRATE brings an older file up to date)
INTERRUPTED = "interrupted"  # finish_run(aborted=INTERRUPTED) keeps the journal for resume
RESUME_WINDOW = timedelta(hours=defaults.RESUME_WINDOW_HOURS)  # under the nightly period: recent
FORGET_AFTER = timedelta(days=defaults.FORGET_AFTER_DAYS)  # a URL unchecked this long is forgotten
JOURNAL_BATCH = 200
JOURNAL_SECONDS = defaults.JOURNAL_SECONDS
CONFIRM_SLACK = timedelta(hours=defaults.CONFIRM_SLACK_HOURS)  # at most 1/16 of confirm_days
STORED = GOOD | BAD
_BAD_SQL = ", ".join(f"'{s.value}'" for s in sorted(BAD))


def confirm_seconds(confirm_days: float) -> int:
    """The least span, in seconds, of a confirmed dead streak: the one place the rule's
    ``confirm_days`` becomes a number (the SQL in ``state_sql`` compares with it)."""
    span = timedelta(days=confirm_days)
    return round((span - min(CONFIRM_SLACK, span / 16)).total_seconds())


def _unusable(path: Path, exc: BaseException, read_only: bool = False) -> StateError:
    """The one line for a state file SQLite or the OS refuses, with the fix that fits."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    fix = "check the permissions of the file and its folder" + (
        "" if read_only else " and the free space, or choose another --state")
    if type(exc) is sqlite3.DatabaseError or getattr(exc, "sqlite_errorname", "") in (
            "SQLITE_CORRUPT", "SQLITE_NOTADB") or "decode" in str(exc):  # damaged rows
        fix = "choose another --state or remove it (move it away) to start a new history"
    elif isinstance(exc, FileExistsError | NotADirectoryError):  # mkdir of its folder
        fix = "a folder on its path is a file; choose another --state"
    elif isinstance(exc, RuntimeError):  # Path.resolve: "Symlink loop from ..."
        fix = "point --state at a file, not at a loop of symlinks"
    elif isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        fix = "choose another --state"
    elif getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY":  # another program's lock
        fix = "another program is using it; wait until it is done, or choose another --state"
    return StateError(f"cannot {'read' if read_only else 'use'} {path} ({reason}); {fix}")


_P = ParamSpec("_P")
_R = TypeVar("_R")

def _guarded(method: Callable[Concatenate[History, _P], _R]
             ) -> Callable[Concatenate[History, _P], _R]:
    """SQLite errors of an open history become one-line StateErrors naming the file."""
    @functools.wraps(method)
    def wrapper(self: History, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc, self._read_only) from None
    return wrapper


def utcnow() -> datetime:
    return datetime.now(UTC)  # the default clock; everything else asks the injected one


def iso(moment: datetime) -> str:
    """``2026-11-27T03:00:00Z``; a naive datetime is taken as UTC."""
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC).strftime(sql.ISO)


class History:
    """The run history in one SQLite file. Open with ``History.open``; one run at a time."""

    def __init__(self, db: sqlite3.Connection, lock_fd: int | None, path: Path,
                 clock: Callable[[], datetime], confirm_runs: int, confirm_days: float,
                 rehearsal: bool = False) -> None:
        self._db, self._lock_fd, self.path, self._clock = db, lock_fd, path, clock
        self._read_only = lock_fd is None and not rehearsal
        self.rehearsal = rehearsal
        self.confirm_runs, self.confirm_days = confirm_runs, confirm_days
        self._run: int | None = None
        self._profile = ""  # this run's (``start_run``)
        # URL -> (ETag, Last-Modified) of the results ``resumable`` returned
        self.resumed_validators: dict[str, tuple[str | None, str | None]] = {}
        self._held: int | None = None  # the run whose finish_run(hold=True) is not committed
        self._pending: list[tuple[Any, ...]] = []
        self._flushed = clock()
        self._closed = False

    @classmethod
    def open(cls, path: str | Path, *, clock: Callable[[], datetime] = utcnow,
             confirm_runs: int = DEFAULT_CONFIRM_RUNS, confirm_days: float = DEFAULT_CONFIRM_DAYS,
             read_only: bool = False, rehearsal: bool = False) -> History:
        """Open and lock the state file, creating it (and its folder) unless ``read_only``
        or ``rehearsal`` (a dry run: see the module docstring). StateLocked when another run
        holds it; StateError when it cannot be used."""
        path, fd, history = Path(path), None, None
        try:  # in it, a name over 255 bytes (is_dir raises in Python 3.11) is one line too
            if path.is_dir():
                raise StateError(f"{path} is a folder; the history (--state, state) is a "
                                 f"file, such as {path / 'state.sqlite'}")
            if read_only and not path.is_file():
                raise StateError(f"{path}: no run history yet; runs with --state write it")
            real = path.resolve()  # one lock per file, whatever symlink names it
            if rehearsal:
                db = connect_rehearsal(real)
            elif read_only:
                db = connect_read_only(real)
            else:
                real.parent.mkdir(parents=True, exist_ok=True)
                fd = take_lock(real, iso(clock()))
                db = sqlite3.connect(real, isolation_level=None)
            history = cls(db, fd, path, clock, confirm_runs, confirm_days, rehearsal)
            history._prepare(read_only)
            return history
        except (OSError, sqlite3.Error, StateError, RuntimeError) as exc:
            if history is not None:
                history.close()
            elif fd is not None:
                os.close(fd)
            if isinstance(exc, StateError):
                raise
            raise _unusable(path, exc, read_only) from None

    def _prepare(self, read_only: bool) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(f"{self.path} was not written by this enricher (schema {version});"
                             " upgrade enricher or choose another --state")
        if version == 0 and (read_only or self._db.execute(
                "SELECT 1 FROM sqlite_master LIMIT 1").fetchone()):  # another program's data
            raise StateError(f"{self.path} is not an enricher history (it was not written by"
                             " enricher); point --state at another file")
        if self.rehearsal and version == 0:  # no file yet: an empty history in memory
            self._db.executescript(f"{sql.SCHEMA} PRAGMA user_version={SCHEMA_VERSION};")
        elif not read_only and not self.rehearsal:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if version == 0:
                self._db.executescript(f"BEGIN; {sql.SCHEMA} PRAGMA user_version={SCHEMA_VERSION};"
                                       " COMMIT;")
            # we hold the lock, so a run still marked running was killed
            self._db.execute("UPDATE runs SET state = ? WHERE state = 'running'", (INTERRUPTED,))
        if 0 < version < SCHEMA_VERSION and not read_only:  # a rehearsal: its private copy
            steps = "".join(sql.MIGRATE[v] for v in range(version, SCHEMA_VERSION))
            self._db.executescript(f"BEGIN; {steps} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        self._db.execute("PRAGMA cache_size=-16000")
        self._db.executescript(sql.TEMP)

    def close(self, discard: bool = False) -> None:
        """Flush the journal, close the database, release the lock; idempotent. A held run
        (``finish_run(hold=True)``) is rolled back: the next ``open`` marks it interrupted;
        with ``discard`` (a usage error ended it before any check) its row is deleted."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._held is not None:
                self._held = None
                self._db.rollback()
            if discard and self._run and not self.rehearsal:  # autocommit
                self._db.execute("DELETE FROM runs WHERE id = ?", (self._run,))
            if self._pending:
                self._flush()
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from None
        finally:
            self._db.close()
            if self._lock_fd is not None:
                release_lock(self._lock_fd)

    @contextlib.contextmanager
    def _writing(self, hold: bool = False) -> Iterator[None]:
        """One write transaction: committed, or rolled back on an error and in a rehearsal;
        with ``hold``, left open (``commit_run``)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        if not hold:
            (self._db.rollback if self.rehearsal else self._db.commit)()

    def __enter__(self) -> History:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @_guarded
    def start_run(self, command: str, options: Mapping[str, object], profile: str = "") -> int:
        """Record a new run (``open`` marked an unfinished one interrupted; see ``resumable``).
        ``profile``: of the settings that decide verdicts; results reach only runs with the
        same one (``resumable``, ``fresh``)."""
        now = self._clock()
        self._profile = profile
        window = (iso(now - RESUME_WINDOW), iso(now))
        for statement, args in zip(sql.EARLIER, ((), window), strict=True):  # a temporary
            self._db.execute(statement.format(bad=_BAD_SQL), args)  # table: rehearsals too
        if self.rehearsal:  # no run row: finish_run's UPDATE of run 0 changes nothing
            self._run = 0
            return self._run
        with self._writing():
            self._db.execute(sql.OLD_JOURNAL, window)
            cur = self._db.execute(sql.START_RUN, (command, iso(now),
                                                   json.dumps(dict(options), default=str)))
        assert cur.lastrowid is not None
        self._run = cur.lastrowid
        return self._run

    @_guarded
    def resumable(self, max_age_seconds: float | None = None, *, any_profile: bool = False
                  ) -> dict[str, LinkResult]:
        """Good results that interrupted runs with this one's profile (with ``any_profile``,
        any: to look at the journal) finished within ``RESUME_WINDOW``, and within
        ``max_age_seconds`` when given (reused=True); a failed one is checked again."""
        limit = RESUME_WINDOW.total_seconds() if max_age_seconds is None else max_age_seconds
        now = self._clock()  # an entry dated after now (a clock set back) is never resumed
        cutoff = iso(now - min(RESUME_WINDOW, timedelta(seconds=limit)))
        rows = self._db.execute(sql.RESUMABLE, (cutoff, iso(now), any_profile, self._profile))
        found = {}
        for *row, etag, modified in rows:
            found[row[0]] = from_row(tuple(row))
            self.resumed_validators[row[0]] = (etag, modified)
        return found

    @_guarded
    def journal(self, result: LinkResult,
                validators: tuple[str | None, str | None] = (None, None)) -> None:
        """Note one finished URL for resume, with the ETag and Last-Modified its check left
        (``resumed_validators``); committed in batches."""
        if (r := result).status not in STORED or self.rehearsal:
            return
        moment = self._clock()
        self._pending.append((r.url, iso(moment), r.kind.value, r.status.value, r.reason,
                              r.http_status, r.final_url, r.content_type,
                              r.checked_at or iso(moment), meta_of(r)[0], self._profile,
                              *validators))
        seconds = (moment - self._flushed).total_seconds()
        if len(self._pending) >= JOURNAL_BATCH or seconds >= JOURNAL_SECONDS:
            self._flush()

    @_guarded
    def flush(self) -> None:
        """Commit what is journaled (called every ``JOURNAL_SECONDS`` of real time)."""
        if self._pending:
            self._flush()

    def _flush(self) -> None:
        with self._writing():
            self._db.executemany(sql.JOURNAL, self._pending)
        self._pending.clear()
        self._flushed = self._clock()

    @_guarded
    def fresh(self, urls: Iterable[str], max_age_seconds: float) -> dict[str, LinkResult]:
        """Stored good results of ``urls`` checked less than ``max_age_seconds`` ago by a run
        with this one's profile, with their metadata (reused=True). Failed URLs are never
        fresh, nor a time after now."""
        now = self._clock()
        rows = self._wanted(urls, sql.FRESH, (iso(now - timedelta(seconds=max_age_seconds)),
                                              iso(now), self._profile))
        return {row[0]: from_row(row) for row in rows}

    def _wanted(self, urls: Iterable[str], query: str, params: tuple[Any, ...] = ()
                ) -> list[tuple[Any, ...]]:
        """The rows of ``query``, which joins the temporary table ``wanted`` holding ``urls``:
        one query for a batch of URLs, not one per URL."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((u,) for u in urls))
            rows = self._db.execute(query, params).fetchall()
            self._db.execute("DELETE FROM wanted")
        return rows

    @_guarded
    def stored(self, url: str) -> LinkResult | None:
        """The last stored result of ``url`` (reused=True), e.g. to reuse metadata on a 304."""
        row = self._db.execute(f"{sql.STORED} WHERE url = ?", (url,)).fetchone()
        return from_row(row) if row else None

    @_guarded
    def latest(self) -> list[LinkResult]:
        """The last stored result of every URL (for ``enricher report``), in URL order: bad
        ones only if the last finished run (or one it resumed) checked them."""
        row = self._db.execute(sql.LAST_FINISHED.format("started_at")).fetchone()
        since = iso(datetime.fromisoformat(row[0]) - RESUME_WINDOW) if row else ""
        rows = self._db.execute(f"{sql.LATEST} {sql.LATEST_WHERE}",
                                (self.confirm_runs, confirm_seconds(self.confirm_days), since))
        out = [(from_row(tuple(stored)), confirmed) for *stored, confirmed in rows]
        return [replace(result, confirmed=bool(confirmed)  # as the run that stored it decided
                        if result.status is LinkStatus.DEAD else None) for result, confirmed in out]

    @_guarded
    def conditional_headers(self, url: str, kind: str | None = None) -> Mapping[str, str] | None:
        """If-None-Match / If-Modified-Since of a URL whose last check was ok and whose
        stored facts a 304 would reuse (page metadata, image type and size), checked for a
        purpose that serves ``kind`` (``LinkKind.serves``; None: any); else None."""
        return validators(self._db.execute(sql.CONDITIONAL, (url,)), kind).get(url)

    @_guarded
    def conditional_many(self, urls: Iterable[str], kind: str | None = None
                         ) -> dict[str, Mapping[str, str]]:
        """:meth:`conditional_headers` of many URLs in one query (those that have some)."""
        return validators(self._wanted(urls, sql.CONDITIONAL_WANTED), kind)

    @_guarded
    def finish_run(self, results: Iterable[LinkResult], *,
                   etags: Mapping[str, tuple[str | None, str | None]] | None = None,
                   aborted: str | None = None, hold: bool = False,
                   reuse_seconds: float | None = None) -> tuple[dict[str, LinkResult], Changes]:
        """Store the run: per-URL rows, the run row, an empty journal. Returns the results by
        URL with ``since``/``confirmed`` set, and the changes. ``etags``: URL -> (ETag,
        Last-Modified) seen this run; a URL not named keeps its stored pair. An aborted run
        stores only its run row (``aborted=INTERRUPTED`` keeps the journal for resume).
        ``hold``: all this stays uncommitted until ``commit_run`` (the records are written);
        an aborted ``finish_run`` meanwhile rolls it back first (the journal stays).
        ``reuse_seconds``: ``--max-age`` (see forgetting)."""
        if self._held is not None and aborted is not None:
            self._db.rollback()
            self._run, self._held = self._held, None
        if self._run is None:
            raise RuntimeError("finish_run() without start_run()")
        now = iso(self._clock())
        out = {r.url: r for r in results}
        counts = Counter(r.status.value for r in out.values())
        if hold and self._pending:  # committed apart: kept if the run is rolled back
            self._flush()
        if aborted is not None:
            if aborted == INTERRUPTED and self._pending:
                self._flush()
            with self._writing():
                if aborted != INTERRUPTED:
                    self._pending.clear()
                    self._db.execute("DELETE FROM journal")
                state = INTERRUPTED if aborted == INTERRUPTED else "aborted"
                self._end_run(now, state, counts, aborted, None)
            return out, Changes()
        given = etags or {}
        # in URL order: B-tree inserts append, and joins walk obs and urls in step
        kept = [url for url in sorted(out) if out[url].status in STORED]

        def rows() -> Iterator[tuple[Any, ...]]:
            for url in kept:
                r = out[url]
                etag, modified = given.get(url, (None, None))
                yield (url, r.kind.value, r.status.value, r.reason, r.http_status, r.final_url,
                       r.content_type, r.checked_at, now, r.reused, r.status in GOOD,
                       url in given, etag, modified)

        db, run = self._db, self._run
        with self._writing(hold):
            db.executemany(sql.OBS, rows())
            db.execute(sql.OBS_NOT_NEW)  # a reused result is no check, unless resumed
            db.execute(sql.OBS_VALIDATORS)
            # this run's checks against the rows before they are updated (flapping: after)
            changes = changes_of(db.execute(sql.CHANGES.format(bad=_BAD_SQL)), now, BAD)
            db.execute(sql.UPSERT, (self._run,))
            db.execute(sql.PROFILE, (self._profile,))
            db.execute(sql.EARLIER_SINCE)  # a streak an interrupted run's records began
            # a reused result's metadata came from here: same hash, nothing written
            db.executemany(sql.META, ((url, *meta_of(out[url])) for url in kept))
            changes = replace(changes, flapping=tuple(u for (u,) in db.execute(sql.FLAPPING)))
            self._pending.clear()
            db.execute("DELETE FROM journal")
            annotated = db.execute(sql.ANNOTATE, (self.confirm_runs,
                                                  confirm_seconds(self.confirm_days)))
            strings: dict[str, str] = {}  # one string per distinct time, not one per URL
            for url, since, confirmed in annotated:
                r = out[url]
                out[url] = replace(r, since=strings.setdefault(since, since), confirmed=bool(
                    confirmed) if r.status is LinkStatus.DEAD else None)
            db.execute("DELETE FROM obs")
            forget = max(FORGET_AFTER, timedelta(seconds=reuse_seconds or 0))
            for prune in (sql.PRUNE_META, sql.PRUNE_URLS):
                db.execute(prune, (iso(self._clock() - forget),))
            db.execute(sql.PRUNE_RUNS, (self._run, KEEP_RUNS))
            db.execute(sql.PRUNE_CHANGES, (self._run, KEEP_CHANGES))
            self._end_run(now, "finished", counts, None, changes)
        self._held = run if hold else None
        return out, changes

    @_guarded
    def commit_run(self) -> None:
        """Commit the run ``finish_run(hold=True)`` stored: it is finished."""
        if self._held is None:
            raise RuntimeError("commit_run() without finish_run(hold=True)")
        self._held = None
        if self.rehearsal:
            self._db.rollback()
        else:
            self._db.commit()

    def _end_run(self, now: str, state: str, counts: Counter[str], aborted: str | None,
                 changes: Changes | None) -> None:
        self._db.execute(sql.END_RUN, (now, state, json.dumps(dict(sorted(counts.items()))),
                                       aborted, changes and json.dumps(asdict(changes)),
                                       self._run))
        self._run = None

    @_guarded
    def runs(self, n: int) -> list[RunInfo]:
        """The last ``n`` runs, newest first."""
        rows = self._db.execute(sql.RUNS, (n,))
        return [RunInfo(i, cmd, start, end, state, json.loads(opts), json.loads(cnt or "{}"), ab)
                for i, cmd, start, end, state, opts, cnt, ab in rows]

    def last_run(self) -> RunInfo | None:
        return next(iter(self.runs(1)), None)

    @_guarded
    def change_report(self) -> Changes:
        """The changes of the last finished run (empty when there is none)."""
        row = self._db.execute(sql.LAST_FINISHED.format("changes")).fetchone()
        return changes_from(row[0] if row else None)
