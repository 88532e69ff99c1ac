"""Signals during start-up (``enricher/__main__.py``): a SIGTERM or SIGINT that comes while
the CLI is still being imported exits 3 with one line, no traceback, nothing written.

The test waits until the child has installed its SIGTERM handler (``SigCgt`` in
``/proc/<pid>/status``, Linux only) and signals it at once. The CLI's imports take a few
hundred milliseconds after that, but a test process descheduled that long on a loaded
machine signalled a child whose run had already ended (exit 0, record written: once in
about a hundred trials in CI). So the child imports the CLI slowly: a ``sitecustomize`` on
its path holds the import of ``enricher.cli`` for up to a minute, and the signal lands in
that import, as it would in a slow one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RECORD = "---\ntitle: A\nwebUrl: http://127.0.0.1:9/a\n---\n"  # never fetched: port 9 is refused
INTERRUPTED = "enricher: interrupted\n"
TRIALS = 3


# imported by the child's interpreter at start-up: importing enricher.cli works for a while
# (a signal ends it by raising in it, as it would in any slow import). In short steps, as an
# import runs bytecode: one long sleep loses a signal that lands just before the sleep
# starts (Python runs handlers between bytecodes; the sleep then sees no interruption)
_SLOW_IMPORT = """
import sys, time

class _Slow:
    def find_spec(self, name, path=None, target=None):
        if name == "enricher.cli":
            sys.meta_path.remove(self)
            end = time.monotonic() + 60
            while time.monotonic() < end:
                time.sleep(0.01)
        return None

sys.meta_path.insert(0, _Slow())
"""


def _start(folder: Path, *, slow_import: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENRICHER_")}
    if slow_import:
        hook = folder.parent / "slow-import"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(_SLOW_IMPORT, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "enricher", "enrich", str(folder), "--in-place", "--no-state"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=folder.parent,
        # as from a terminal: a test run started in the background of a script inherits
        # SIGINT ignored, and so would the child (its start-up would then ignore it too)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (False once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


def _records(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "records"
    folder.mkdir()
    record = folder / "a.md"
    record.write_text(RECORD, encoding="utf-8")
    return folder, record


def _wait_for_handler(proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not _catches(proc.pid, signal.SIGTERM):  # polled, not slept on
        assert proc.poll() is None, "the process ended before it caught SIGTERM"
        assert time.monotonic() < deadline, "no SIGTERM handler after 60 s"
        os.sched_yield()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_start_up_exits_3_quietly(tmp_path: Path, sig: int) -> None:
    folder, record = _records(tmp_path)
    for _ in range(TRIALS):
        proc = _start(folder, slow_import=True)
        _wait_for_handler(proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, err, out) == (3, INTERRUPTED, ""), err
        assert record.read_text(encoding="utf-8") == RECORD


def test_sigterm_right_after_the_process_starts_never_shows_a_traceback(tmp_path: Path) -> None:
    """Signalled at once: either the interpreter had not reached enricher's code yet (the
    system's default action, no output) or enricher caught it (exit 3, one line)."""
    folder, record = _records(tmp_path)
    for _ in range(TRIALS):
        proc = _start(folder)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, err) in {(-signal.SIGTERM, ""), (3, INTERRUPTED)}, err
        assert out == "" and record.read_text(encoding="utf-8") == RECORD


def test_the_run_status_stands_once_main_has_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """After the run, the interpreter still joins the reading worker: a signal then must not
    print a traceback nor replace the run's status (it is ignored from that moment)."""
    import enricher.__main__ as entry
    import enricher.cli

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    monkeypatch.setattr(enricher.cli, "main", lambda: 1)
    monkeypatch.setattr("enricher.runtime.tune_process", lambda: None)
    try:
        assert entry.console() == 1
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("raised", ["wrapped", "replaced"])
def test_an_error_an_interrupt_caused_at_start_up_exits_3(
        raised: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A signal while a class is built comes out as ``RuntimeError: Error calling
    __set_name__`` (its cause the interrupt); one while a module imports can make a later
    import of it fail (the interrupt its context). Either is the interrupt: exit 3, one
    line, not exit 1 with a traceback."""
    import enricher.__main__ as entry
    import enricher.cli

    def main() -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            if raised == "wrapped":
                raise RuntimeError("Error calling __set_name__ on 'Field'") from exc
            raise AttributeError("partially initialized module 'yaml'")  # noqa: B904 (as Python)

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    monkeypatch.setattr(enricher.cli, "main", main)
    monkeypatch.setattr("enricher.runtime.tune_process", lambda: None)
    try:
        assert entry.console() == 3
        assert capsys.readouterr().err == INTERRUPTED
        assert all(signal.getsignal(sig) is signal.SIG_IGN for sig in before)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_another_error_at_start_up_is_not_taken_for_an_interrupt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import enricher.__main__ as entry
    import enricher.cli

    def main() -> int:
        raise RuntimeError("a bug")

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    monkeypatch.setattr(enricher.cli, "main", main)
    monkeypatch.setattr("enricher.runtime.tune_process", lambda: None)
    try:
        with pytest.raises(RuntimeError, match="a bug"):
            entry.console()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_the_reading_worker_leaves_ctrl_c_and_hang_ups_to_the_main_process() -> None:
    """Ctrl-C reaches the whole process group: the worker printed a KeyboardInterrupt
    traceback above the partial summary. So does systemd's SIGTERM: a worker it killed
    while answering lost that chunk."""
    code = ("import os, signal; from enricher.reading import worker_start; "
            "worker_start(os.getppid()); "
            "print(*(signal.getsignal(s) is signal.SIG_IGN for s in "
            "(signal.SIGINT, signal.SIGHUP, signal.SIGTERM)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr


def test_nohup_keeps_hang_ups_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """``nohup enricher ...``: SIGHUP is ignored before enricher starts, and must stay so
    (the run went on under nohup; a handler would end it at the terminal's close)."""
    import enricher.__main__ as entry
    import enricher.cli

    seen: list[object] = []
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    monkeypatch.setattr(enricher.cli, "main", lambda: seen.append(
        signal.getsignal(signal.SIGHUP)) or 0)
    monkeypatch.setattr("enricher.runtime.tune_process", lambda: None)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        assert entry.console() == 0 and seen == [signal.SIG_IGN]
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        assert entry.console() == 0 and seen[1] is entry._interrupted
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_an_interrupt_at_start_up_with_stderr_closed_writes_nothing_to_stdout(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``enricher links ... > data 2>&-``: Python's sys.stderr is None, and print(file=None)
    writes to stdout: the interrupted line went into the data."""
    import enricher.__main__ as entry
    import enricher.cli

    def main() -> int:
        raise KeyboardInterrupt

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    monkeypatch.setattr(enricher.cli, "main", main)
    monkeypatch.setattr("enricher.runtime.tune_process", lambda: None)
    monkeypatch.setattr(sys, "stderr", None)
    try:
        assert entry.console() == 3
        assert capsys.readouterr().out == ""
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
