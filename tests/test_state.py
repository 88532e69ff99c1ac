"""Tests for enricher.state: nightly runs with an injected clock (confirmed dead, since, the
change report, flapping), --max-age reuse, conditional headers, resume after a crash,
locking across processes, bad state files, and a 100,000-URL finish_run."""

from __future__ import annotations

import ast
import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enricher import state_lock, state_sql
from enricher.models import ImageInfo, LinkKind, LinkResult, LinkStatus, Origin, PageMeta
from enricher.report.model import Changes, StillDead
from enricher.state import (
    INTERRUPTED,
    JOURNAL_BATCH,
    SCHEMA_VERSION,
    History,
    StateError,
    StateLocked,
    confirm_seconds,
    iso,
)

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
A, B, C = "https://a.example/1", "https://b.example/2", "https://c.example/3"
PAGE = PageMeta(
    title="Bike lanes approved",
    description="The vote was 7-2.",
    site_name="A News",
    image=ImageInfo(url="https://a.example/p.jpg", type="jpeg", width=1200, height=630),
    published_at="2026-11-26T10:00:00Z",
    lang="en",
)
ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


_REASONS = {"ok": "ok", "redirected": "moved_permanently", "dead": "http_404",
            "error": "http_500", "timeout": "timeout", "blocked": "http_429"}


def res(url: str, status: str, at: datetime | str, **kw: Any) -> LinkResult:
    status_ = LinkStatus(status)
    defaults: dict[str, Any] = {
        "kind": LinkKind.PAGE,
        "reason": _REASONS.get(status, status),
        "checked_at": at if isinstance(at, str) else iso(at),
        "sources": (Origin("r.md", "webUrl"),),
    }
    if status_ is LinkStatus.REDIRECTED:
        defaults["final_url"] = url + "/moved"
    defaults.update(kw)
    return LinkResult(url=url, status=status_, **defaults)


def one_run(h: History, clock: Clock, statuses: dict[str, str], **kw: Any
            ) -> tuple[dict[str, LinkResult], Changes]:
    h.start_run("check", {"max_age": None})
    return h.finish_run([res(u, s, clock()) for u, s in statuses.items()], **kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hist(tmp_path: Path, clock: Clock) -> Iterator[History]:
    with History.open(tmp_path / "s" / "state.sqlite", clock=clock) as h:
        yield h


# --- nightly runs -----------------------------------------------------------------------------


def test_dead_is_confirmed_after_three_runs_spanning_two_days(hist: History, clock: Clock) -> None:
    out, changes = one_run(hist, clock, {A: "ok"})
    assert out[A].since == iso(T0) and out[A].confirmed is None and changes.empty
    first_dead = T0 + timedelta(days=1)
    clock.advance(days=1)
    out, changes = one_run(hist, clock, {A: "dead"})
    assert (out[A].since, out[A].confirmed) == (iso(first_dead), False)
    assert changes == Changes(newly_dead=(A,))
    clock.advance(days=1)
    out, changes = one_run(hist, clock, {A: "dead"})
    assert (out[A].since, out[A].confirmed) == (iso(first_dead), False)  # two runs only
    assert changes.still_dead == (StillDead(A, iso(first_dead), 1.0),) and not changes.newly_dead
    clock.advance(days=1)
    out, changes = one_run(hist, clock, {A: "dead"})
    assert (out[A].since, out[A].confirmed) == (iso(first_dead), True)
    assert changes == Changes(still_dead=(StillDead(A, iso(first_dead), 2.0),))
    assert out[A].sources == (Origin("r.md", "webUrl"),)  # everything else kept


def test_three_dead_runs_within_a_day_are_not_confirmed(hist: History, clock: Clock) -> None:
    for _ in range(4):
        out, _ = one_run(hist, clock, {A: "dead"})
        assert out[A].confirmed is False
        clock.advance(hours=8)  # four runs over a day: enough runs, not enough days
    clock.advance(hours=24)
    out, _ = one_run(hist, clock, {A: "dead"})
    assert out[A].confirmed is True and out[A].since == iso(T0)


def test_confirmation_honours_configured_runs_and_days(tmp_path: Path, clock: Clock) -> None:
    with History.open(tmp_path / "s.sqlite", clock=clock, confirm_runs=2, confirm_days=0.5) as h:
        assert one_run(h, clock, {A: "dead"})[0][A].confirmed is False
        clock.advance(hours=11)
        assert one_run(h, clock, {A: "dead"})[0][A].confirmed is False
        clock.advance(hours=1)
        out, _ = one_run(h, clock, {A: "dead", B: "dead", C: "ok"})
        assert out[A].confirmed is True and out[B].confirmed is False
    # enricher report reads the same flags back (it printed confirmed: null)
    with History.open(tmp_path / "s.sqlite", read_only=True, confirm_runs=2,
                      confirm_days=0.5) as reader:
        latest = {r.url: r.confirmed for r in reader.latest()}
    assert latest == {A: True, B: False, C: None}


def test_confirmation_has_a_few_hours_of_slack_for_cron_and_dst(
    tmp_path: Path, clock: Clock
) -> None:
    # cron starts a second or two late on night 1 (47:59:58 to night 3); a DST spring-forward
    # makes night 3 47 h after night 1; 44:59:59 is still one night short
    nights = {A: (2, 86401, 172800), B: (0, 23 * 3600, 47 * 3600), C: (0, 86400, 45 * 3600 - 1)}
    assert confirm_seconds(2) == 45 * 3600 and confirm_seconds(0.5) == 11.25 * 3600
    path = tmp_path / "s.sqlite"
    with History.open(path, clock=clock) as h:
        for night in range(3):
            h.start_run("check", {})
            out, _ = h.finish_run([res(u, "dead", T0 + timedelta(seconds=at[night]))
                                   for u, at in nights.items()])
        assert {u: out[u].confirmed for u in nights} == {A: True, B: True, C: False}
    with History.open(path, read_only=True) as reader:  # enricher report: the same rule
        assert {r.url: r.confirmed for r in reader.latest()} == {A: True, B: True, C: False}


def test_a_check_dated_back_restarts_the_streak(hist: History, clock: Clock) -> None:
    """Four 404s within three real hours, the second from a clock two days behind (a restored
    VM), then NTP: never confirmed (the dated-back check, before the streak began, cannot be
    placed: the streak restarts at the next check dated forward), and since is never after
    its check; two real days after that restart it is."""
    clock.now = datetime(2026, 11, 20, 3, tzinfo=UTC)
    one_run(hist, clock, {A: "ok"})
    for day, hour in ((21, 3), (19, 4), (21, 5), (21, 6)):
        clock.now = datetime(2026, 11, day, hour, tzinfo=UTC)
        out, changes = one_run(hist, clock, {A: "dead"})
        assert out[A].confirmed is False, clock()
        assert out[A].since is not None and out[A].since <= iso(clock())
    assert out[A].since == "2026-11-21T05:00:00Z"  # not the dated-back check's 19th
    assert changes.still_dead == (StillDead(A, "2026-11-21T05:00:00Z", 0.04),)
    clock.now = datetime(2026, 11, 23, 3, tzinfo=UTC)
    assert one_run(hist, clock, {A: "dead"})[0][A].confirmed is True  # 46 real hours


def test_runs_that_do_not_check_a_url_leave_its_streak_alone(hist: History, clock: Clock) -> None:
    one_run(hist, clock, {A: "dead", B: "ok"})
    clock.advance(days=1)
    one_run(hist, clock, {B: "ok"})  # A's record was not part of this run
    clock.advance(days=1)
    out, changes = one_run(hist, clock, {A: "dead"})
    assert out[A].confirmed is False and changes.still_dead == (StillDead(A, iso(T0), 2.0),)
    clock.advance(days=1)
    assert one_run(hist, clock, {A: "dead"})[0][A].confirmed is True


def test_another_failure_breaks_the_dead_streak(hist: History, clock: Clock) -> None:
    for status in ("dead", "dead", "timeout", "dead"):
        out, changes = one_run(hist, clock, {A: status})
        clock.advance(days=1)
    assert out[A].since == iso(T0 + timedelta(days=3)) and out[A].confirmed is False
    assert changes.newly_dead == (A,) and not changes.recovered


def test_recovered_newly_dead_and_newly_redirected(hist: History, clock: Clock) -> None:
    out, changes = one_run(hist, clock, {A: "dead", B: "ok", C: "redirected"})
    assert changes == Changes(newly_dead=(A,), newly_redirected=(C,))  # new URLs count as new
    clock.advance(days=1)
    out, changes = one_run(hist, clock, {A: "ok", B: "redirected", C: "redirected"})
    assert changes == Changes(recovered=(A,), newly_redirected=(B,))  # C: same target
    assert out[A].since == iso(clock()) and out[A].confirmed is None
    clock.advance(days=1)
    hist.start_run("check", {})
    _, changes = hist.finish_run([res(B, "redirected", clock(), final_url="https://else/")])
    assert changes == Changes(newly_redirected=(B,))  # another target


def test_error_to_ok_is_recovered_and_ok_to_error_is_no_news(hist: History, clock: Clock) -> None:
    one_run(hist, clock, {A: "error", B: "ok"})
    _, changes = one_run(hist, clock, {A: "ok", B: "timeout"})
    assert changes == Changes(recovered=(A,))


def test_flapping_needs_three_changes_among_the_last_six_checks(
    hist: History, clock: Clock
) -> None:
    flaps = []
    for a in ("ok", "dead", "ok", "dead", "ok", "ok", "ok", "ok"):
        _, changes = one_run(hist, clock, {A: a, B: "ok", C: "dead"})
        flaps.append(changes.flapping)
        clock.advance(days=1)
    # checks gbgb... : 3 changes at the 4th run; 'gbgggg' (8th run) has only 2 left
    assert flaps == [(), (), (), (A,), (A,), (A,), (A,), ()]


def test_invalid_and_skipped_are_passed_through_not_stored(hist: History, clock: Clock) -> None:
    out, changes = one_run(hist, clock, {A: "invalid", B: "skipped"})
    assert out[A].since is None and out[B].confirmed is None and changes.empty
    assert hist.stored(A) is None and hist.stored(B) is None
    assert hist.last_run() is not None and hist.last_run().counts == {"invalid": 1, "skipped": 1}  # type: ignore[union-attr]


def test_runs_and_change_report_are_kept_for_enricher_report(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        one_run(h, clock, {A: "ok", B: "ok"})
        clock.advance(days=1)
        _, changes = one_run(h, clock, {A: "dead", B: "ok"})
        h.start_run("enrich", {"in_place": True})
        with History.open(path, read_only=True) as reader:  # a report during a run: no lock
            assert reader.last_run().state == "running"  # type: ignore[union-attr]
            assert reader.change_report() == changes
        h.finish_run([res(A, "ok", clock())], aborted="the network looks down")
    with History.open(path, clock=clock, read_only=True) as h:
        assert h.change_report() == changes == Changes(newly_dead=(A,))  # not the aborted run
        runs = h.runs(5)
        assert [(r.id, r.command, r.state) for r in runs] == [
            (3, "enrich", "aborted"), (2, "check", "finished"), (1, "check", "finished")]
        assert runs[0].aborted == "the network looks down" and runs[0].options == {"in_place": True}
        assert runs[1].counts == {"dead": 1, "ok": 1} and runs[1].finished_at == iso(clock())
        assert h.last_run() == runs[0]
        assert h.stored(A) is not None and h.stored(A).status is LinkStatus.DEAD  # type: ignore[union-attr]
    # a report on a closed history creates nothing: a -shm left by `sudo enricher report`
    # would belong to root, and the cron job's next run could not open the history
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.sqlite", "state.sqlite.lock"]


def test_an_aborted_run_changes_nothing_stored(hist: History, clock: Clock) -> None:
    one_run(hist, clock, {A: "ok"})
    clock.advance(days=1)
    out, changes = one_run(hist, clock, {A: "dead"}, aborted="the network looks down")
    assert changes.empty and out[A].since is None
    assert hist.stored(A).status is LinkStatus.OK  # type: ignore[union-attr]


# --- --max-age and conditional requests -------------------------------------------------------


def test_fresh_returns_recent_good_results_with_their_metadata(hist: History, clock: Clock) -> None:
    hist.start_run("enrich", {})
    hist.finish_run([
        res(A, "ok", clock(), page=PAGE, content_type="text/html", http_status=200),
        res(B, "redirected", clock(), redirects=("https://b.example/2",), http_status=301),
        res(C, "dead", clock()),
        res("https://i.example/x.png", "ok", clock(), kind=LinkKind.IMAGE,
            image=ImageInfo(type="png", width=1, height=2)),
    ])
    clock.advance(hours=19)
    fresh = hist.fresh([A, B, C, "https://i.example/x.png", "https://new.example/"], 20 * 3600)
    assert set(fresh) == {A, B, "https://i.example/x.png"}  # never the dead one, nor unknown
    a = fresh[A]
    assert (a.status, a.reused, a.page, a.content_type, a.http_status) == (
        LinkStatus.OK, True, PAGE, "text/html", 200)
    assert a.checked_at == iso(T0) and a.since == iso(T0)
    assert fresh[B].final_url == B + "/moved" and fresh[B].redirects == ("https://b.example/2",)
    assert fresh["https://i.example/x.png"].image == ImageInfo(type="png", width=1, height=2)
    assert hist.fresh([A, B], 18 * 3600) == {}  # older than max age


def test_a_reused_result_is_not_a_check(hist: History, clock: Clock) -> None:
    one_run(hist, clock, {A: "ok"})
    clock.advance(hours=10)
    reused = hist.fresh([A], 20 * 3600)
    hist.start_run("enrich", {"max_age": 72000})
    out, changes = hist.finish_run(reused.values())
    assert out[A].reused and out[A].since == iso(T0) and changes.empty
    clock.advance(hours=11)  # 21 h after the real check: stale, must be rechecked
    assert hist.fresh([A], 20 * 3600) == {}


def test_a_failure_an_interrupted_run_journaled_starts_the_streak(
        hist: History, clock: Clock) -> None:
    """An enrich interrupted in its write phase wrote some records with "dead since T1"; the
    history kept no check of that run, and the next run (which checks the URL again) said
    since T2 in the other records: one URL, two dates for good."""
    one_run(hist, clock, {A: "ok", B: "ok"})
    clock.advance(days=1)
    t1 = clock()
    hist.start_run("enrich", {})
    hist.journal(res(A, "dead", t1))
    hist.journal(res(B, "error", t1))
    hist.flush()
    hist.finish_run((), aborted=INTERRUPTED)
    clock.advance(minutes=30)
    out, _ = one_run(hist, clock, {A: "dead", B: "dead"})
    assert out[A].since == iso(t1)  # as the records the interrupted run wrote
    assert out[B].since == iso(clock())  # it failed otherwise then: a new streak now
    clock.advance(days=1)
    out, _ = one_run(hist, clock, {A: "dead"})
    assert out[A].since == iso(t1)  # stored so


def test_a_rehearsal_dates_an_interrupted_run_s_failure_as_the_real_run_does(
        tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        one_run(h, clock, {A: "ok"})
        clock.advance(days=1)
        t1 = clock()
        h.start_run("enrich", {})
        h.journal(res(A, "dead", t1))
        h.flush()
        h.finish_run((), aborted=INTERRUPTED)
    clock.advance(minutes=30)
    with History.open(path, clock=clock, rehearsal=True) as dry:
        dry.start_run("enrich", {})
        rehearsed, _ = dry.finish_run([res(A, "dead", clock())])
    with History.open(path, clock=clock) as real:
        out, _ = one_run(real, clock, {A: "dead"})
    assert rehearsed[A].since == out[A].since == iso(t1)


def test_a_max_age_over_the_forgetting_time_keeps_reused_urls(hist: History, clock: Clock) -> None:
    """With --max-age 40d, a URL reused every night must not be forgotten after 30 days
    (the next night would fetch it again): it is kept as long as it may be reused."""
    max_age = 40 * 86400
    one_run(hist, clock, {A: "ok", B: "ok"})
    for _ in range(35):
        clock.advance(days=1)
        hist.start_run("enrich", {"max_age": max_age})
        hist.finish_run(hist.fresh([A, B], max_age).values(), reuse_seconds=max_age)
    assert set(hist.fresh([A, B], max_age)) == {A, B}
    clock.advance(days=6)  # 41 days after the check: too old to reuse, and forgotten
    hist.start_run("enrich", {"max_age": max_age})
    hist.finish_run([], reuse_seconds=max_age)
    assert hist.stored(A) is None


def test_conditional_headers_from_stored_validators(hist: History, clock: Clock) -> None:
    lm = "Wed, 25 Nov 2026 10:00:00 GMT"
    hist.start_run("check", {})  # pages with metadata: what a 304 reuses is stored
    hist.finish_run([res(u, "ok", clock(), page=PAGE) for u in (A, B, C)],
                    etags={A: ('"v1"', lm), B: ('W/"x"', None), C: (None, None)})
    assert hist.conditional_headers(A) == {"If-None-Match": '"v1"', "If-Modified-Since": lm}
    assert hist.conditional_headers(B) == {"If-None-Match": 'W/"x"'}
    assert hist.conditional_headers(C) is None
    assert hist.conditional_headers("https://unknown.example/") is None
    clock.advance(days=1)  # a 304 run: validators not named again are kept
    hist.start_run("enrich", {})
    stored = hist.stored(A)
    assert stored is not None
    hist.finish_run([res(A, "ok", clock(), page=stored.page), res(B, "dead", clock())])
    assert hist.conditional_headers(A) == {"If-None-Match": '"v1"', "If-Modified-Since": lm}
    assert hist.conditional_headers(B) is None  # last check failed


def test_stored_metadata_round_trips(hist: History, clock: Clock) -> None:
    page = PageMeta(title="Ünïcode — \u202e", image=None, canonical_url="https://a.example/c")
    hist.start_run("enrich", {})
    hist.finish_run([res(A, "ok", clock(), page=page, redirects=("https://x/", "https://y/"))])
    stored = hist.stored(A)
    assert stored is not None and stored.page == page and stored.redirects == (
        "https://x/", "https://y/")


# --- resume -----------------------------------------------------------------------------------


def test_a_closed_unfinished_run_resumes(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock(), page=PAGE))
        h.journal(res(B, "dead", clock()))
        h.journal(res(C, "invalid", clock()))  # never fetched: not journaled
    clock.advance(hours=1)
    with History.open(path, clock=clock) as h:
        assert h.last_run().state == INTERRUPTED  # type: ignore[union-attr]
        resumable = h.resumable()
        # a failed URL (B) is checked again, as failed URLs always are: a killed run's
        # failure may be the trouble that killed it
        assert set(resumable) == {A} and resumable[A].page == PAGE and resumable[A].reused
        h.start_run("enrich", {})
        assert set(h.resumable()) == {A}
        out, changes = h.finish_run([*resumable.values(), res(B, "dead", clock()),
                                     res(C, "ok", clock())])
        assert out[A].since == iso(T0)  # a resumed result is a check from the killed run
        assert changes == Changes(newly_dead=(B,))
        assert h.resumable() == {}
        assert [r.state for r in h.runs(2)] == ["finished", INTERRUPTED]


def test_a_resumed_result_drops_the_older_validators(tmp_path: Path, clock: Clock) -> None:
    """The journal keeps no ETag: a page the killed run found changed (new metadata, new
    ETag) is stored with its new metadata, so the old ETag must go with the old metadata (a
    304 to it, the page back as it was, would reuse the new metadata): the next run fetches
    it in full once. A result reused by --max-age keeps its validators (same metadata)."""
    path = tmp_path / "state.sqlite"
    changed = replace(PAGE, title="Bike lanes approved after a second vote")
    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.finish_run([res(A, "ok", clock(), page=PAGE), res(B, "ok", clock(), page=PAGE)],
                     etags={A: ('"v1"', None), B: ('"b1"', None)})
        clock.advance(hours=20)
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock(), page=changed))
    clock.advance(hours=1)
    with History.open(path, clock=clock) as h:
        resumed = h.resumable()
        reused = h.fresh([B], 86400)
        h.start_run("enrich", {})
        h.finish_run([*resumed.values(), *reused.values()])
        assert h.stored(A).page == changed  # type: ignore[union-attr]
        assert h.conditional_headers(A) is None
        assert h.conditional_headers(B) == {"If-None-Match": '"b1"'}


def test_resume_survives_a_killed_process_losing_at_most_one_batch(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    script = f"""
import os
import re
from datetime import datetime, UTC
from enricher.models import LinkKind, LinkResult, LinkStatus
from enricher.state import History
h = History.open({str(path)!r}, clock=lambda: datetime(2026, 11, 27, 3, tzinfo=UTC))
h.start_run("enrich", {{}})
for i in range({2 * JOURNAL_BATCH + 50}):
    h.journal(LinkResult(f"https://x.example/{{i}}", LinkKind.PAGE, LinkStatus.OK, "ok",
                         checked_at="2026-11-27T03:00:00Z"))
os.kill(os.getpid(), 9)
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with History.open(path, clock=Clock()) as h:
        assert len(h.resumable()) == 2 * JOURNAL_BATCH  # the last, partial batch is lost


def test_journal_commits_after_a_second_by_the_clock(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"

    def committed() -> int:
        with sqlite3.connect(path) as db:  # a second reader, as a crash would leave it
            count: int = db.execute("SELECT count(*) FROM journal").fetchone()[0]
        return count

    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock()))
        assert committed() == 0
        clock.advance(seconds=1.5)
        h.journal(res(B, "ok", clock()))
        assert committed() == 2


def test_resume_window_and_how_aborted_runs_treat_the_journal(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock()))
        h.finish_run([res(A, "ok", clock())], aborted=INTERRUPTED)  # Ctrl-C: keep it
        assert h.last_run().state == INTERRUPTED and set(h.resumable()) == {A}  # type: ignore[union-attr]
        assert h.stored(A) is None
        clock.advance(hours=25)
        assert h.resumable() == {}  # too old to trust
        clock.advance(hours=-25)
        h.start_run("enrich", {})
        h.journal(res(B, "ok", clock()))
        h.finish_run([], aborted="the network looks down")  # outage results: drop them
        assert h.resumable() == {}


def test_a_run_held_open_while_records_are_written_is_finished_only_when_committed(
    tmp_path: Path, clock: Clock
) -> None:
    """``enrich`` stores its run before writing records (they need ``since``/``confirmed``)
    but holds it open: interrupted while writing, the run is recorded as interrupted, stores
    nothing, and keeps its journal for resume, like a run interrupted while fetching."""
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock()))  # not yet committed: it must survive the rollback
        out, changes = h.finish_run([res(A, "ok", clock()), res(B, "dead", clock())], hold=True)
        assert out[A].since == iso(T0) and changes == Changes(newly_dead=(B,))
        with History.open(path, read_only=True) as reader:  # `enricher report` meanwhile
            assert reader.last_run().state == "running"  # type: ignore[union-attr]
        h.finish_run([], aborted=INTERRUPTED)  # a signal while the records are written
        assert [r.state for r in h.runs(2)] == [INTERRUPTED]
        assert h.stored(A) is None and set(h.resumable()) == {A}
        assert h.change_report() == Changes()
        clock.advance(hours=1)
        h.start_run("enrich", {})
        h.finish_run([*h.resumable().values(), res(B, "dead", clock())], hold=True)
        h.commit_run()  # every record written
        assert [r.state for r in h.runs(2)] == ["finished", INTERRUPTED]
        assert h.stored(A).since == iso(T0) and h.resumable() == {}  # type: ignore[union-attr]
        h.start_run("enrich", {})
        h.finish_run([res(A, "dead", clock())], hold=True)
    with History.open(path, clock=clock) as h:  # closed (killed) before the commit
        assert h.last_run().state == INTERRUPTED  # type: ignore[union-attr]
        assert h.stored(A).status is LinkStatus.OK  # type: ignore[union-attr]


# --- read-only opens and dry runs leave the files as they are -------------------------------

def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _killed_mid_run(path: Path) -> dict[str, bytes]:
    """Start a run on the history at ``path``, journal B, commit, and SIGKILL the process: its
    -wal (the running run, the journal) is never folded into the file. Returns the files."""
    script = f"""
import os
from datetime import datetime, UTC
from enricher.models import LinkKind, LinkResult, LinkStatus
from enricher.state import History
h = History.open({str(path)!r}, clock=lambda: datetime(2026, 11, 27, 3, tzinfo=UTC))
h.start_run("enrich", {{}})
h.journal(LinkResult({B!r}, LinkKind.PAGE, LinkStatus.OK, "ok", checked_at="2026-11-27T03:00:00Z"))
h.flush()
os.kill(os.getpid(), 9)
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    files = _files(path.parent)
    assert {f"{path.name}-wal", f"{path.name}-shm"} <= set(files)
    return files


def test_a_report_reads_a_killed_runs_wal_and_changes_no_byte_of_any_file(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        one_run(h, clock, {A: "ok"})
    before = _killed_mid_run(path)
    with History.open(path, clock=clock, read_only=True) as h:
        assert [r.state for r in h.runs(2)] == ["running", "finished"]  # read from the -wal
        assert [r.url for r in h.latest()] == [A] and set(h.resumable()) == {B}
    assert _files(tmp_path) == before  # the -wal not folded in, the -shm not even touched


def test_a_dry_run_reads_a_killed_runs_wal_and_folds_none_of_it(
    tmp_path: Path, clock: Clock
) -> None:
    """A dry run on the history a killed run left: it reads the -wal (the journal it would
    resume), and the database file, its -wal and -shm keep every byte."""
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        one_run(h, clock, {A: "ok"})
    before = _killed_mid_run(path)
    with History.open(path, clock=clock, rehearsal=True) as h:
        h.start_run("enrich", {})
        resumed = h.resumable()
        assert set(resumed) == {B}
        _, changes = h.finish_run([res(A, "dead", clock()), *resumed.values()])
        assert changes == Changes(newly_dead=(A,))
    assert _files(tmp_path) == before
    with History.open(path, clock=clock) as h:  # the next real run resumes as it would have
        assert h.last_run().state == INTERRUPTED and set(h.resumable()) == {B}  # type: ignore[union-attr]


@pytest.mark.parametrize("how", ["read_only", "rehearsal"])
def test_read_only_opens_create_no_wal_or_shm(tmp_path: Path, clock: Clock, how: str) -> None:
    """A report or a dry run creates no -wal or -shm, not even while it is open (one left by
    another user would keep the cron job's next run from opening the history): not beside a
    history closed cleanly, nor beside a -wal whose -shm is gone (removed by hand, or not in
    a backup), where SQLite cannot read the -wal without making a -shm: the file is read as
    it is, and the next real run folds the -wal in."""
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        one_run(h, clock, {A: "ok"})
    for leftover in (False, True):
        if leftover:
            _killed_mid_run(path)
            (tmp_path / "state.sqlite-shm").unlink()
        before = _files(tmp_path)
        with History.open(path, clock=clock, **{how: True}) as h:
            assert [r.state for r in h.runs(2)] == ["finished"]
            assert _files(tmp_path) == before
        assert _files(tmp_path) == before
    with History.open(path, clock=clock) as h:
        assert h.last_run().state == INTERRUPTED and set(h.resumable()) == {B}  # type: ignore[union-attr]


# --- locking ----------------------------------------------------------------------------------

LOCKED = (r"another enricher run holds .*state\.sqlite \(pid {pid}, started 2026-11-27T03:00:00Z\);"
          r" wait for it: the lock is released when process {pid} ends")


def _try_open(path: Path) -> subprocess.CompletedProcess[str]:
    script = f"""
import sys
from enricher.state import History, StateLocked
try:
    History.open({str(path)!r}).close()
except StateLocked as exc:
    print(exc)
    sys.exit(3)
"""
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)


def test_a_second_open_fails_at_once_until_the_first_closes(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock):
        with pytest.raises(StateLocked, match=LOCKED.format(pid=os.getpid())):
            History.open(path, clock=clock)
        proc = _try_open(path)
        assert proc.returncode == 3, proc.stderr
        assert len(proc.stdout.splitlines()) == 1
        assert re.fullmatch(LOCKED.format(pid=os.getpid()), proc.stdout.strip())
    assert _try_open(path).returncode == 0
    History.open(path, clock=clock).close()


def test_the_lock_dies_with_its_process(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    script = f"""
import sys
from enricher.state import History
h = History.open({str(path)!r})
print("locked", flush=True)
sys.stdin.read()
"""
    with subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
            with pytest.raises(StateLocked, match=f"pid {proc.pid}"):
                History.open(path, clock=clock)
        finally:
            proc.kill()
    History.open(path, clock=clock).close()


def test_the_lock_message_never_advises_removing_the_lock(tmp_path: Path, clock: Clock) -> None:
    with History.open(tmp_path / "s.sqlite", clock=clock), pytest.raises(StateLocked) as e:
        History.open(tmp_path / "s.sqlite", clock=clock)
    assert "remove" not in str(e.value) and "stale" not in str(e.value)
    assert f"released when process {os.getpid()} ends" in str(e.value)


def test_a_lock_file_replaced_while_locking_is_locked_by_its_name(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.sqlite"
    lock = tmp_path / "s.sqlite.lock"
    real_flock = state_lock.fcntl.flock
    replacements = [1]  # how many times the file is swapped under the next flock

    def swapping_flock(fd: int, op: int) -> None:
        if op & state_lock.fcntl.LOCK_EX and replacements[0]:
            replacements[0] -= 1
            lock.unlink()  # someone removes the lock file, and another run creates it anew
            lock.write_text("")
        real_flock(fd, op)

    monkeypatch.setattr(state_lock.fcntl, "flock", swapping_flock)
    with History.open(path, clock=clock):
        assert lock.read_text().split()[0] == str(os.getpid())  # the file the path names
        with pytest.raises(StateLocked):
            History.open(path, clock=clock)  # so a run that opens it finds it locked
    replacements[0] = 99
    with pytest.raises(StateError, match=r"s\.sqlite\.lock keeps being replaced"):
        History.open(path, clock=clock)
    replacements[0] = 0
    History.open(path, clock=clock).close()  # nothing was left locked


# --- bad state files --------------------------------------------------------------------------


def test_unusable_state_files_give_one_line(tmp_path: Path, clock: Clock) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just text " * 200)
    with pytest.raises(StateError, match=r"cannot use .*junk\.sqlite \(file is not a database\); "
                       "choose another --state or remove it") as e:
        History.open(junk, clock=clock)
    assert "\n" not in str(e.value)
    History.open(tmp_path / "fine.sqlite", clock=clock).close()  # the lock was released
    History.open(tmp_path / "fine.sqlite", clock=clock).close()
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match=r"not written by this enricher \(schema 99\); upgrade"):
        History.open(newer, clock=clock)
    with pytest.raises(StateError, match="no run history yet"):
        History.open(tmp_path / "missing.sqlite", read_only=True)
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StateError, match=r"dir\.sqlite is a folder; the history \(--state"):
        History.open(tmp_path / "dir.sqlite", clock=clock)


def test_a_foreign_sqlite_file_is_named_as_not_a_history(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE urls (x)")  # another program's table of the same name
    for read_only in (False, True):
        with pytest.raises(StateError) as e:
            History.open(path, clock=clock, read_only=read_only)
        assert str(e.value) == (f"{path} is not an enricher history (it was not written by"
                                " enricher); point --state at another file")
    with sqlite3.connect(path) as db:  # left as it was
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("urls",)]
    empty = tmp_path / "empty.sqlite"
    empty.touch()  # an empty file is no one's data: a new history
    History.open(empty, clock=clock).close()


def test_open_creates_folders_and_uses_wal(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "a" / "b" / "state.sqlite"
    History.open(path, clock=clock).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_only_the_state_modules_import_sqlite3() -> None:
    for path in (ROOT / "enricher").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if "sqlite3" in names:
            assert path.name in ("state.py", "state_connect.py"), (
                f"{path} imports sqlite3; only enricher/state.py (and how it opens the file "
                "without changing it, state_connect.py) may")


# --- the rules against a small model, for any sequence of checks ------------------------------

STATUSES = st.sampled_from(["ok", "redirected", "dead", "error", "timeout", "blocked", None])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), STATUSES), min_size=1, max_size=9))
def test_since_confirmed_and_changes_follow_the_rules(steps: list[tuple[int, str | None]]) -> None:
    clock = Clock()
    seen: list[tuple[datetime, str]] = []  # the model: every check of A
    with tempfile.TemporaryDirectory() as tmp, History.open(Path(tmp) / "s", clock=clock) as h:
        for hours, status in steps:
            clock.advance(hours=hours)
            out, changes = one_run(h, clock, {A: status} if status else {})
            if status is None:
                assert A not in out
                continue
            before = seen[-1][1] if seen else None
            seen.append((clock(), status))
            streak = [t for t, s in reversed(seen)]
            for i, (_, s) in enumerate(reversed(seen)):
                if s != status:
                    streak = streak[:i]
                    break
            since = streak[-1]
            assert out[A].since == iso(since)
            span = (clock() - since).total_seconds() >= confirm_seconds(2)
            assert out[A].confirmed == ((len(streak) >= 3 and span) if status == "dead" else None)
            bad = {"dead", "error", "timeout", "blocked"}
            assert (A in changes.newly_dead) == (status == "dead" and before != "dead")
            assert (A in [s.url for s in changes.still_dead]) == (status == before == "dead")
            assert (A in changes.recovered) == (status in {"ok", "redirected"} and before in bad)
            assert (A in changes.newly_redirected) == (status == "redirected" != before)
            good = [s in {"ok", "redirected"} for _, s in seen[-6:]]
            flips = sum(x != y for x, y in itertools.pairwise(good))
            assert (A in changes.flapping) == (flips >= 3)


# --- scale ------------------------------------------------------------------------------------


def _synthetic(n: int, at: datetime, day: int) -> Iterator[LinkResult]:
    statuses = ["ok"] * 7 + ["redirected", "dead", "timeout"]
    for i in range(n):
        status = statuses[(i + day * (i % 3 == 0)) % 10]
        page = None
        if status == "ok":
            image = ImageInfo(url=f"https://img.example/{i}.jpg", width=800, height=600)
            page = PageMeta(title=f"Title {i}", description="d" * 120, site_name="Site",
                            image=image, canonical_url=f"https://h{i % 500}.example/a/{i}")
        yield res(f"https://h{i % 500}.example/a/{i}?q=1", status, at, page=page,
                  http_status=200, content_type="text/html; charset=utf-8")


def test_finish_run_over_100000_urls(tmp_path: Path, clock: Clock) -> None:
    n = 100_000
    with History.open(tmp_path / "state.sqlite", clock=clock) as h:
        timings = []
        for day in range(2):  # all new, then all known with some status changes
            results = list(_synthetic(n, clock(), day))
            h.start_run("check", {})
            started = time.perf_counter()
            out, changes = h.finish_run(results)
            timings.append(time.perf_counter() - started)
            assert len(out) == n and all(r.since for r in out.values())
            clock.advance(days=1)
            del results, out
        started = time.perf_counter()
        fresh = h.fresh((f"https://h{i % 500}.example/a/{i}?q=1" for i in range(n)), 2 * 86400)
        fresh_s = time.perf_counter() - started
    assert len(fresh) > n // 2 and len(changes.still_dead) > 1000 and changes.recovered
    print(f"\nfinish_run {n} URLs: {timings[0]:.2f} s new, {timings[1]:.2f} s known; "
          f"fresh: {fresh_s:.2f} s")
    assert max(timings) < 60  # generous: a few seconds on an idle machine


def test_finish_run_memory_is_a_few_hundred_bytes_per_url(tmp_path: Path, clock: Clock) -> None:
    n = 10_000
    with History.open(tmp_path / "state.sqlite", clock=clock) as h:
        h.start_run("check", {})
        h.finish_run(_synthetic(n, clock(), 0))
        clock.advance(days=1)
        results = list(_synthetic(n, clock(), 1))
        h.start_run("check", {})
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        h.finish_run(results)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    print(f"\nfinish_run {n} URLs: peak {peak / n:.0f} bytes per URL traced, output included")
    assert peak < n * 1000


# --- audit of the nightly history: damaged files, flushing, windows, forgetting, clocks -------


def _damage(path: Path) -> None:
    """A damaged page that still opens: page 2 (the urls table) gets a bogus header."""
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(bytes.fromhex("0d000000ffff"))


def test_a_damaged_page_after_open_is_a_one_line_state_error(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        one_run(h, clock, {f"https://a.example/{i}": "ok" for i in range(50)})
    _damage(path)
    with History.open(path, clock=clock) as h:  # page 1 is fine: it opens
        h.start_run("enrich", {})
        for call in (lambda: h.conditional_headers(A), lambda: h.stored(A),
                     lambda: h.fresh([A], 3600), lambda: h.finish_run([res(A, "ok", clock())])):
            with pytest.raises(StateError) as e:
                call()
            assert re.fullmatch(r"cannot use .*state\.sqlite \(database disk image is malformed\)"
                                r"; choose another --state or remove it \(move it away\) to start"
                                r" a new history", str(e.value))
    with pytest.raises(StateError, match="malformed"), History.open(path, read_only=True) as h:
        h.latest()


def test_a_row_that_no_longer_decodes_is_damage_not_permissions(tmp_path: Path,
                                                                 clock: Clock) -> None:
    """Damaged row data SQLite cannot read as text: the advice is to move the file away."""
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        one_run(h, clock, {A: "ok"})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE urls SET status = CAST(X'ff' AS TEXT)")
    with pytest.raises(StateError) as e, History.open(path, clock=clock) as h:
        h.stored(A)
    assert "Could not decode" in str(e.value) and "(move it away)" in str(e.value)
    assert "permissions" not in str(e.value)


def test_flush_commits_the_journal_without_a_new_result(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock()))  # the clock stands still: no batch is due
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM journal").fetchone()[0] == 0
        h.flush()
        h.flush()  # nothing pending: nothing to do
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT url FROM journal").fetchall() == [(A,)]


def test_resume_window_is_hours_and_never_beyond_max_age(tmp_path: Path, clock: Clock) -> None:
    from enricher.state import RESUME_WINDOW

    assert timedelta(hours=6) >= RESUME_WINDOW
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock()))
        h.journal(res(B, "dead", clock()))
        h.finish_run([], aborted=INTERRUPTED)
        clock.advance(hours=2)
        assert set(h.resumable()) == {A}  # B failed: checked again
        assert set(h.resumable(3 * 3600)) == {A}
        assert h.resumable(3600) == {}  # --max-age 1h: two hours is too old
        clock.advance(hours=5)
        assert h.resumable() == {}  # 7 h: the next night never reuses it


def test_a_journal_entry_dated_after_now_is_never_resumed(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        clock.advance(days=10)  # a clock ten days ahead journals a killed run's results...
        h.start_run("enrich", {})
        h.journal(res(A, "ok", clock()))
        h.finish_run([], aborted=INTERRUPTED)
        clock.advance(days=-10)  # ... and is put right
        assert h.resumable() == {} and h.resumable(30 * 86400) == {}
        h.start_run("enrich", {})  # which drops them: they are no result of a recent run
        h.finish_run([], aborted=INTERRUPTED)
        clock.advance(days=10)
        assert h.resumable() == {}


def test_old_urls_and_runs_are_forgotten_and_report_lists_current_failures(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import enricher.state as state

    monkeypatch.setattr(state, "KEEP_RUNS", 3)
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        h.start_run("enrich", {})
        h.finish_run([res(A, "ok", clock(), page=PAGE), res(B, "dead", clock())])
        for _ in range(3):  # B's record is deleted: B is no longer checked
            clock.advance(days=1)
            one_run(h, clock, {A: "ok", C: "dead"})
        assert {r.url for r in h.latest()} == {A, C}  # B is no current failure
        assert h.stored(B) is not None and h.stored(B).status is LinkStatus.DEAD  # type: ignore[union-attr]
        assert len(h.runs(10)) == 3
        clock.advance(days=40)
        one_run(h, clock, {C: "dead"})
        assert h.stored(B) is None and h.stored(A) is None  # not checked for 30+ days
        assert h.stored(C) is not None
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT url FROM meta").fetchall() == [(C,)]  # A's page went
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 3


def test_only_the_last_change_reports_are_kept_so_the_file_stops_growing(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run's change report lists every still-dead URL: kept for the last
    ``KEEP_CHANGES`` runs only (a history of many dead links grew by its whole list every
    night), while the run rows and the last report stay whole."""
    import enricher.state as state

    monkeypatch.setattr(state, "KEEP_CHANGES", 2)
    path = tmp_path / "state.sqlite"
    with History.open(path, clock=clock) as h:
        for _ in range(5):
            clock.advance(days=1)
            one_run(h, clock, {A: "ok", C: "dead"})
        assert h.change_report().still_dead[0].url == C
    with sqlite3.connect(path) as db:
        kept = db.execute("SELECT changes IS NOT NULL FROM runs ORDER BY id").fetchall()
    assert kept == [(0,), (0,), (0,), (1,), (1,)]


def test_a_clock_set_back_is_not_fresh_forever_and_ages_stay_positive(
    tmp_path: Path, clock: Clock
) -> None:
    with History.open(tmp_path / "state.sqlite", clock=clock) as h:
        clock.advance(days=10)  # a clock ahead by ten days...
        one_run(h, clock, {A: "ok", B: "dead"})
        clock.advance(days=-10)  # ... put right
        assert h.fresh([A], 20 * 3600) == {}  # a check "in the future" is not fresh
        out, changes = one_run(h, clock, {B: "dead"})
        assert changes.still_dead[0].days == 0.0 and out[B].since == iso(clock())
        # the checks count as made at the future one, and start no streak, until the clock
        # catches up with it: a dead streak may be confirmed late, never early
        for _ in range(12):
            clock.advance(days=1)
            out, changes = one_run(h, clock, {B: "dead"})
            assert changes.still_dead[0].days >= 0.0 and not out[B].confirmed, clock()
            assert out[B].since is not None and out[B].since <= iso(clock())
        clock.advance(days=1)
        out, _ = one_run(h, clock, {B: "dead"})
        assert out[B].confirmed  # 2 days past the first check after the future one


@pytest.mark.parametrize("known", [True, False], ids=["checked-ok-before", "first-seen"])
def test_a_check_made_while_the_clock_was_set_back_never_starts_a_streak_early(
    tmp_path: Path, clock: Clock, known: bool
) -> None:
    """A URL turns dead (or is first seen) on a night the clock runs three days slow; the
    clock is right again an hour later. That check's time cannot be trusted: the dead
    streak spans from the next check dated forward, so 21 real hours of dead checks (with
    hourly runs) are never confirmed, and two real days are."""
    with History.open(tmp_path / "state.sqlite", clock=clock) as h:
        for _ in range(3):  # ordinary nights: A ok (or not cited yet)
            one_run(h, clock, {A: "ok"} if known else {B: "ok"})
            clock.advance(days=1)
        clock.advance(days=-3)  # the slow night
        one_run(h, clock, {A: "dead"})
        clock.advance(days=3, hours=1)  # put right: an hour after the slow check
        started = clock()
        for _ in range(20):
            out, _ = one_run(h, clock, {A: "dead"})
            assert not out[A].confirmed, clock() - started
            clock.advance(hours=1)
        clock.advance(days=2)
        out, _ = one_run(h, clock, {A: "dead"})
        assert out[A].confirmed and out[A].since is not None
        assert out[A].since >= iso(started)  # the span starts at the first trusted check


def test_a_symlink_to_a_locked_state_is_locked(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "s.sqlite"
    link = tmp_path / "link.sqlite"
    link.symlink_to(path.name)
    with History.open(path, clock=clock), pytest.raises(StateLocked, match="another enricher"):
        History.open(link, clock=clock)
    with History.open(link, clock=clock), pytest.raises(StateLocked):
        History.open(path, clock=clock)
    assert not (tmp_path / "link.sqlite.lock").exists()


def test_conditional_headers_only_when_a_304_has_something_to_reuse(
    hist: History, clock: Clock
) -> None:
    image = ImageInfo(url=C, type="png", width=3, height=2)
    hist.start_run("enrich", {})
    hist.finish_run([res(A, "ok", clock(), kind=LinkKind.REACH),  # HEAD: no metadata
                     res(B, "ok", clock()),  # a page with no metadata (a PDF, say)
                     res(C, "ok", clock(), kind=LinkKind.IMAGE, image=image)],
                    etags={A: ('"a"', None), B: ('"b"', None), C: ('"c"', None)})
    assert hist.conditional_headers(A) is None  # cited later as a page: fetch it in full
    assert hist.conditional_headers(B) is None
    assert hist.conditional_headers(C) == {"If-None-Match": '"c"'}


def test_report_reads_a_history_in_a_read_only_folder(clock: Clock) -> None:
    folder = Path(tempfile.mkdtemp(prefix="enricher-ro-"))
    try:
        path = folder / "state.sqlite"
        with History.open(path, clock=clock) as h:
            one_run(h, clock, {A: "ok", B: "dead"})
        folder.chmod(0o555)
        os.chmod(folder.parent, folder.parent.stat().st_mode)  # /tmp: anyone may enter
        script = f"""
from enricher.state import History
with History.open({str(path)!r}, read_only=True) as h:
    print(sorted(r.url for r in h.latest()), h.last_run().state)
"""
        run_as = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        command = [*(run_as if os.geteuid() == 0 else []), sys.executable, "-c", script]
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"{[A, B]} finished"
        assert sorted(p.name for p in folder.iterdir()) == ["state.sqlite", "state.sqlite.lock"]
    finally:
        folder.chmod(0o755)
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_unreadable_history_is_never_advised_to_be_removed(tmp_path: Path) -> None:
    from enricher.state import _unusable

    refused = sqlite3.OperationalError("unable to open database file")
    for read_only in (True, False):
        message = str(_unusable(tmp_path / "s.sqlite", refused, read_only))
        assert "remove" not in message and "check the permissions" in message


@pytest.mark.parametrize("query", ["CONDITIONAL_WANTED", "FRESH"])
def test_a_batch_looks_its_urls_up_instead_of_scanning_every_stored_url(query: str) -> None:
    """A batch of URLs (``wanted``) asks the history once per batch: a scan of every stored
    URL per batch would make a nightly run over N URLs cost N * N / batch row visits."""
    db = sqlite3.connect(":memory:")
    db.executescript(f"{state_sql.SCHEMA}{state_sql.TEMP}")
    text = getattr(state_sql, query)
    plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {text}", (0,) * text.count("?"))]
    assert plan[0] == "SCAN wanted", plan
    assert not any(step.startswith("SCAN") for step in plan[1:]), plan


def test_a_history_another_program_holds_names_that_cause() -> None:
    """SQLite's "database is locked" (another program's write lock, after the busy wait)
    says so, instead of suggesting permissions or free space."""
    from enricher.state import _unusable

    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorname = "SQLITE_BUSY"
    message = str(_unusable(Path("h.sqlite"), busy))
    assert message == ("cannot use h.sqlite (database is locked); another program is using "
                       "it; wait until it is done, or choose another --state")


def test_a_lock_file_that_cannot_be_created_names_the_folder(tmp_path: Path) -> None:
    """The message blamed the lock file ("fix its permissions ... remove it") when it did not
    exist and its folder was what could not be written; an existing unusable lock file is
    still named as such."""
    from enricher.state_lock import take_lock

    with pytest.raises(StateError, match=r"cannot create the lock file /proc/h\.sqlite\.lock "
                                         r"\(.*\); the folder /proc must be one enricher can "
                                         r"write in"):
        take_lock(Path("/proc/h.sqlite"), "now")
    with pytest.raises(StateError, match=r"\(File name too long\); choose a shorter --state"):
        take_lock(tmp_path / ("a" * 252), "now")  # the name, not the folder (diff review)
    (tmp_path / "h.sqlite.lock").mkdir()  # a folder where the lock file goes
    with pytest.raises(StateError, match=r"cannot use the lock file .*h\.sqlite\.lock"):
        take_lock(tmp_path / "h.sqlite", "now")


def test_a_clock_ahead_for_one_run_never_confirms_early(hist: History, clock: Clock) -> None:
    """From an audit: ok, then 404 at 03:00, at 04:00 from a clock three days ahead, at 05:00
    from the corrected clock. The future check's date made two real hours span three days:
    confirmed (and pruned with --prune-dead) at 05:00. Now the check dated back restarts the
    streak from the future check: confirmed two days after the clock passed it (late)."""
    clock.now = datetime(2026, 3, 1, 3, tzinfo=UTC)
    one_run(hist, clock, {A: "ok"})
    clock.advance(days=1)  # 2026-03-02 03:00
    start = clock()
    for hours in (0, 3 * 24 + 1, 2, 24, 48, 72):
        clock.now = start + timedelta(hours=hours)
        out, _ = one_run(hist, clock, {A: "dead"})
        assert out[A].confirmed is False, clock()
    for days in (4, 5):
        clock.now = start + timedelta(days=days)
        assert one_run(hist, clock, {A: "dead"})[0][A].confirmed is False, clock()
    clock.now = start + timedelta(days=6)
    assert one_run(hist, clock, {A: "dead"})[0][A].confirmed is True


def test_a_clock_set_back_for_two_runs_never_confirms_early(hist: History, clock: Clock) -> None:
    """From a review: dead at T, then two runs an hour apart from a clock three days behind
    (a restored VM), then NTP: the second set-back check was trusted against the first one's
    run and started a streak that the corrected clock made span three days (confirmed after
    four real hours). The set-back checks now count as made at T and start nothing."""
    start = datetime(2026, 11, 20, 3, tzinfo=UTC)
    clock.now = start - timedelta(days=1)
    one_run(hist, clock, {A: "ok", B: "ok"})
    clock.now = start
    one_run(hist, clock, {A: "dead"})
    for hours in (1, 2):
        clock.now = start - timedelta(days=3) + timedelta(hours=hours)
        one_run(hist, clock, {A: "dead", B: "dead"})
    for hours in (3, 4):
        clock.now = start + timedelta(hours=hours)
        out, _ = one_run(hist, clock, {A: "dead", B: "dead"})
        assert (out[A].confirmed, out[B].confirmed) == (False, False), clock()
    clock.now = start + timedelta(days=2, hours=3)
    out, _ = one_run(hist, clock, {A: "dead", B: "dead"})
    assert (out[A].confirmed, out[B].confirmed) == (True, True)  # 45 h after 03+3h: late


def test_a_good_status_keeps_its_since_through_a_run_dated_ahead(
        hist: History, clock: Clock) -> None:
    """From a review: restarting the streak on a check dated back also moved every URL's
    since, ok ones included, night after night until the clock passed the run dated ahead:
    every record's linkCheck churned. Only a dead streak's since moves, once."""
    start = clock()
    one_run(hist, clock, {A: "ok"})
    clock.advance(days=5)
    one_run(hist, clock, {A: "ok"})
    clock.advance(days=3)
    one_run(hist, clock, {A: "ok"})  # dated three days ahead
    for day in range(1, 6):
        clock.now = start + timedelta(days=5 + day)
        assert one_run(hist, clock, {A: "ok"})[0][A].since == iso(start), clock()


def test_an_interrupted_runs_check_dated_before_the_last_ok_one_starts_no_streak(
        tmp_path: Path, clock: Clock) -> None:
    """From a review: an interrupted run whose clock was 5 h behind journaled a dead check
    dated before the URL's last ok one; the next run's since went back to it, and the link
    was confirmed after 40 real hours (45 needed)."""
    with History.open(tmp_path / "s.sqlite", clock=clock) as h:
        start = datetime(2026, 11, 20, 3, tzinfo=UTC)
        for when, status in ((start - timedelta(days=1), "ok"), (start, "ok")):
            clock.now = when
            one_run(h, clock, {A: status})
        clock.now = start - timedelta(hours=4)  # real start + 1 h, the clock 5 h behind
        h.start_run("check", {})
        dead = res(A, "dead", clock())
        h.journal(dead)
        h.flush()
        h.finish_run([dead], aborted=INTERRUPTED)
        for hours in (2, 24, 41):
            clock.now = start + timedelta(hours=hours)
            out, _ = one_run(h, clock, {A: "dead"})
            assert out[A].confirmed is False and out[A].since is not None, clock()
            assert out[A].since > iso(start)  # never before the last ok check


def _schema_1(path: Path) -> None:
    """A history as enricher wrote it before results carried their settings' profile."""
    old = state_sql.SCHEMA.replace("history TEXT NOT NULL,", "history TEXT NOT NULL")
    old = re.sub(r"\n    profile TEXT[^\n]*", "", old)
    old = re.sub(r"meta TEXT, profile TEXT,\n    etag TEXT, last_modified TEXT[^\n]*", "meta TEXT",
                 old)
    assert "profile" not in old
    with sqlite3.connect(path) as db:
        db.executescript(f"{old} PRAGMA user_version=1;")
        db.execute("INSERT INTO urls VALUES (?, 'page', ?, ?, 'ok', 'ok', 200, NULL, NULL, ?, 1,"
                   " 0, NULL, ?, NULL, NULL, 'g')", (A, *[iso(T0)] * 4))
    db.close()


def test_a_schema_1_history_is_upgraded_and_its_results_are_checked_again_once(
        tmp_path: Path, clock: Clock) -> None:
    """A result stored before profiles existed was decided by settings no one knows: a run
    reuses none of it (``--max-age``), then reuses what it checked itself. A dry run
    upgrades only its private copy; ``enricher report`` reads the old file as it is."""
    path = tmp_path / "state.sqlite"
    _schema_1(path)
    clock.advance(hours=1)
    with History.open(path, read_only=True, clock=clock) as report:
        assert [r.url for r in report.latest()] == [A]
    with History.open(path, clock=clock, rehearsal=True) as dry:
        dry.start_run("check", {}, "p1")
        assert dry.fresh([A], 86400) == {}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    with History.open(path, clock=clock) as h:
        h.start_run("check", {}, "p1")
        assert h.fresh([A], 86400) == {}
        h.finish_run([res(A, "ok", clock()), res(B, "ok", clock())])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    clock.advance(hours=1)
    with History.open(path, clock=clock) as h:
        h.start_run("check", {}, "p1")
        assert set(h.fresh([A, B], 86400)) == {A, B}
        h.finish_run([])
    with History.open(path, clock=clock) as h:
        h.start_run("check", {}, "p2")  # other settings: nothing to reuse
        assert h.fresh([A, B], 86400) == {}


def test_a_schema_2_history_gets_the_journals_validators_and_resumes(tmp_path: Path,
                                                                     clock: Clock) -> None:
    """Schema 2 (profiles) had a journal without validators: it is brought to schema 3 on
    open, and a run interrupted afterwards resumes with the validators it journaled."""
    path = tmp_path / "state.sqlite"
    v2 = state_sql.SCHEMA.replace("meta TEXT, profile TEXT,\n    etag TEXT, last_modified TEXT",
                                  "meta TEXT, profile TEXT")
    v2 = re.sub(r"  -- the validators the check left[^\n]*", "", v2)
    assert "etag TEXT, last_modified TEXT" not in v2.split("CREATE TABLE journal")[1]
    with sqlite3.connect(path) as db:
        db.executescript(f"{v2} PRAGMA user_version=2;")
    db.close()
    with History.open(path, clock=clock) as h:
        h.start_run("check", {}, "p1")
        h.journal(res(A, "ok", clock()), ('"a1"', None))
        h.finish_run((), aborted=INTERRUPTED)
    clock.advance(hours=1)
    with History.open(path, clock=clock) as h:
        h.start_run("check", {}, "p1")
        assert set(h.resumable()) == {A} and h.resumed_validators[A] == ('"a1"', None)
        h.finish_run([])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
