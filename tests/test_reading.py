"""Reading records: the worker's spread chunk order, and that the app puts what it keeps back
into path order whatever order the records were read in."""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from rich.console import Console

from enricher import app, reading
from enricher.config import Config
from enricher.models import Origin, Sources
from enricher.progress import QuietReporter
from enricher.reading import Scanned, scan_records, spread_order

SHARED = "https://shared.example/story"


def _record(i: int) -> str:
    return (
        "---\n"
        f'title: "Story {i}"\n'
        f"webUrl: https://site{i}.example/a/{i}\n"
        "related:\n"
        f"  - webUrl: {SHARED}\n"
        "---\nbody\n"
    )


def _write(folder: Path, n: int, bad: Sequence[int] = ()) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"r{i:02d}.md"
        path.write_text("---\ntitle: [unclosed\n---\n" if i in bad else _record(i))
        paths.append(path)
    return paths


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 64, 76, 100])
def test_spread_order_is_a_permutation(n: int) -> None:
    assert sorted(spread_order(n)) == list(range(n))


def test_spread_order_samples_the_whole_range_early() -> None:
    assert spread_order(8) == [0, 4, 2, 6, 1, 5, 3, 7]
    for n in (76, 100, 1000):
        # within the first 8 chunks, no stretch of the list longer than n/8 (+1) is unvisited
        visited = sorted(spread_order(n)[:8])
        gaps = [b - a for a, b in zip([0, *visited], [*visited, n], strict=True)]
        assert max(gaps) <= n // 8 + 1, (n, visited)


def test_worker_reads_chunks_in_spread_order(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "CHUNK_RECORDS", 2)
    files = _write(tmp_path, 8)
    paths = [(p, p.name) for p in files]

    async def go() -> list[str]:
        return [s.display async for s in scan_records(paths, Config(), parallel=True)]

    got = asyncio.run(go())
    chunks = [paths[i:i + 2] for i in range(0, 8, 2)]
    expected = [d for c in spread_order(4) for _, d in chunks[c]]
    assert got == expected
    assert got != [d for _, d in paths]


def test_a_worker_killed_mid_run_leaves_the_rest_read_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OOM killer (or an operator) kills the reading worker: every record is still
    read exactly once, and the run is told why reading went on in-process."""
    monkeypatch.setattr(reading, "CHUNK_RECORDS", 2)
    files = _write(tmp_path, 24)
    paths = [(p, p.name) for p in files]
    notes: list[str] = []

    async def go() -> list[str]:
        got = []
        async for scanned in scan_records(paths, Config(), parallel=True, on_note=notes.append):
            if not got:
                for child in multiprocessing.active_children():
                    child.kill()
                    child.join()
            assert scanned.error is None and scanned.slots
            got.append(scanned.display)
        return got

    got = asyncio.run(go())
    assert sorted(got) == sorted(d for _, d in paths)
    assert len(got) == len(paths)
    assert len(notes) == 1 and "worker process stopped" in notes[0]


def test_a_worker_that_cannot_start_leaves_reading_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError(38, "Function not implemented")  # no /dev/shm semaphores, for example

    monkeypatch.setattr(reading, "ProcessPoolExecutor", no_processes)
    paths = [(p, p.name) for p in _write(tmp_path, 5)]
    notes: list[str] = []

    async def go() -> list[str]:
        return [s.display async for s in
                scan_records(paths, Config(), parallel=True, on_note=notes.append)]

    assert asyncio.run(go()) == [d for _, d in paths]
    assert len(notes) == 1 and "OSError" in notes[0]


def test_discover_keeps_path_order_whatever_the_reading_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, 6, bad=(1, 4))
    real = scan_records

    async def backwards(paths: Sequence[tuple[Path, str]], config: Config,
                        **kwargs: object) -> AsyncIterator[Scanned]:
        found = [s async for s in real(paths, config, parallel=False)]
        for scanned in reversed(found):
            yield scanned

    monkeypatch.setattr(app, "scan_records", backwards)
    col = app.Collection()
    reporter = QuietReporter(Console(file=io.StringIO()), verbose=False)

    async def go() -> list[tuple[str, object]]:
        return [item async for item in app.discover([str(tmp_path)], col, Config(), reporter)]

    urls = asyncio.run(go())
    assert {u for u, _ in urls} == {SHARED} | {f"https://site{i}.example/a/{i}"
                                                for i in (0, 2, 3, 5)}
    names = [Path(p).name for p, _ in col.record_paths]
    assert names == ["r00.md", "r02.md", "r03.md", "r05.md"]
    assert [Path(e.file).name for e in col.record_errors] == ["r01.md", "r04.md"]
    assert [Path(o.file).name for o in col.origins(SHARED)] == names


def test_sources_are_packed_origins_that_compare_as_their_tuple() -> None:
    files, fields = ["a.md", "b.md"], ["webUrl", "related[0].webUrl"]
    sources = Sources(array("I", [1, 0, 7, 0, 1, 0]), files, fields)
    expected = (Origin("b.md", "webUrl", 7), Origin("a.md", "related[0].webUrl", None))
    assert sources == expected and expected == sources and list(sources) == list(expected)
    assert len(sources) == 2 and sources[-1] == expected[1] and sources[:1] == expected[:1]
    assert hash(sources) == hash(expected) and sources != expected[:1]
    assert "b.md" in repr(sources)
    with pytest.raises(IndexError):
        sources[2]
    assert Sources(array("I"), files, fields) == ()


def test_path_order_keeps_each_records_origins_in_document_order() -> None:
    col = app.Collection(files=["a.md", "b.md"], fields=["f0", "f1", "f2"])
    # read b.md first (fields f2 then f0), then a.md (f1 then f0)
    col.sources[SHARED] = array("I", [1, 2, 9, 1, 0, 3, 0, 1, 5, 0, 0, 8])
    app._in_path_order(col, {"a.md": 0, "b.md": 1})
    assert [(o.file, o.field, o.line) for o in col.origins(SHARED)] == [
        ("a.md", "f1", 5), ("a.md", "f0", 8), ("b.md", "f2", 9), ("b.md", "f0", 3)]
    assert col.origins("https://elsewhere.example/") == ()


_ORPHAN = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from enricher.reading import worker_start
if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_start, initargs=(os.getpid(),))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 3600)  # the worker is busy when its parent is killed
    time.sleep(3600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has ended (whoever reaps it)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_the_reading_worker_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    """A main process killed with SIGKILL must not leave its reading worker running (it
    held the run's stdout and stderr open for ever)."""
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN, encoding="utf-8")
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as parent:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.kill()
    deadline = time.monotonic() + 10 * reading.PARENT_CHECK_SECONDS
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the outcome, with a deadline
    assert not _alive(worker)


def _worker_of(pid: int) -> int | None:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in map(int, children):
        with contextlib.suppress(FileNotFoundError):
            if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text():
                return child
    return None


def _await_worker(pid: int) -> int:
    deadline = time.monotonic() + 30
    while (worker := _worker_of(pid)) is None and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the worker to exist, with a deadline
    assert worker is not None
    return worker


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_reading_worker_killed_while_answering_never_hangs_the_run(tmp_path: Path) -> None:
    """The worker is killed (the OOM killer) while it writes a chunk's answer into a full
    pipe: the pool's reading thread waited for the rest of that message for ever, and the
    run with it. The records it had not returned are read in the main process."""
    folder = tmp_path / "records"
    folder.mkdir()
    related = "".join(f"  - title: Story {i}\n    webUrl: https://a.example/{{n}}/{i}\n"
                      for i in range(20))
    for n in range(reading.PARALLEL_MIN_RECORDS + 88):
        (folder / f"r{n:04d}.md").write_text(
            f"---\ntitle: R{n}\nrelated:\n{related.format(n=n)}---\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "enricher", "check", str(folder), "--no-state", "-q",
         "--exclude", "."],  # nothing fetched: the run is reading
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parent.parent)
    try:
        worker = _await_worker(proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)  # nobody reads the answers now
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "pipe_write" not in Path(
                f"/proc/{worker}/wchan").read_text():
            time.sleep(0.01)  # the old worker blocks in a half-written answer; ours never
        os.kill(worker, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_hang_up_of_the_process_group_prints_no_helper_tracebacks(tmp_path: Path) -> None:
    """A terminal closed under a run sends SIGHUP to the whole group: multiprocessing's
    resource tracker, which ignores only SIGINT and SIGTERM, died of it, and the run
    printed its restart and five KeyError tracebacks, even with -q."""
    folder = tmp_path / "records"
    folder.mkdir()
    for n in range(reading.PARALLEL_MIN_RECORDS + 88):
        (folder / f"r{n:04d}.md").write_text(
            f"---\ntitle: R{n}\nwebUrl: https://a.example/{n}\n---\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "enricher", "check", str(folder), "--no-state", "-q",
         "--exclude", "."], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parent.parent, start_new_session=True,
        # as from a terminal: a hang-up not ignored (nohup would keep it ignored)
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        _await_worker(proc.pid)  # and multiprocessing's resource tracker, started before it
        os.killpg(proc.pid, signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 3, err
    assert "resource_tracker" not in err and "Traceback" not in err, err


def test_no_temporary_folder_but_the_working_one_reads_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only container: Python's last resort for temporary files is the working
    folder. The worker's answers must not land among the user's records there: the records
    are read in this process, without a word (a traceback and exit 1 before)."""
    paths = [(p, p.name) for p in _write(tmp_path, 5)]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    notes: list[str] = []

    async def go() -> list[str]:
        return [s.display async for s in
                scan_records(paths, Config(), parallel=True, on_note=notes.append)]

    assert asyncio.run(go()) == [d for _, d in paths]
    assert notes == [] and not list(tmp_path.glob(f"{reading.ANSWERS_PREFIX}*"))
    # a run started in the temporary folder itself (WORKDIR /tmp) keeps its worker
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert Path(reading._answers_folder()).parent == tmp_path


def test_answer_folders_of_killed_runs_are_removed_once_an_hour_old(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old, recent = (tmp_path / f"{reading.ANSWERS_PREFIX}{age}" for age in ("old", "new"))
    for folder in (old, recent):
        folder.mkdir()
        (folder / "x.pickle").write_bytes(b"records")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    made = Path(reading._answers_folder())
    assert made.parent == tmp_path and made.is_dir()
    assert not old.exists() and recent.exists()


def test_holding_hang_ups_keeps_a_mask_the_caller_had() -> None:
    """A program that blocks SIGHUP in its threads (to sigwait for it) keeps it blocked."""
    seen: list[bool] = []

    def thread() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        with reading._hang_ups_held():  # blocked while held, and still after
            seen.append(signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, set()))
        seen.append(signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, set()))

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join()
    assert seen == [True, True]
