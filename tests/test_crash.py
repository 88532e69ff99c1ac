"""Crash safety: ``python -m enricher enrich --in-place`` killed with SIGKILL at random moments.

After every kill, each record parses and equals, byte for byte, either its old version or its
new one (the new ones come from one clean complete run into a separate copy; the only bytes a
run may write differently are its own start time, the ``since`` of links first seen in that
run, so that one timestamp is mapped back before comparing). No leftover file matches ``*.md``,
and the next run completes. Half of the kills land at a random moment of the whole run, half at
a random moment after the write phase has begun (seen on the plain progress lines).

A second test kills a run that keeps a state file while some of its requests hang, once the
journal holds the finished URLs, and checks that the rerun completes without asking for them.
A third sends SIGTERM while the write phase is reading a record (a FIFO the test feeds): the
history records an interrupted run, and the rerun resumes it.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from enricher.cli import Env, main
from enricher.state import History, StateError

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261127
TRIALS = 24
TICK = 1.2  # seconds: longer than the journal's one-second commit batch (state.JOURNAL_SECONDS)
STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
FAST = ["--allow-private", "--host-request-interval", "1ms", "--host-concurrency", "16",
        "--max-attempts", "1", "--timeout", "5s", "--connect-timeout", "2s"]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x05\x00\x00\x00\x04\x08\x02\x00\x00\x00"
    b"\x12\x16\xf1M\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _page(k: int) -> bytes:
    title = f"Story {k}: the harbour council votes again"
    head = (f"<title>{title}</title><meta property='og:title' content='{title}'>"
            f"<meta property='og:description' content='What happened in part {k}.'>"
            "<meta property='og:site_name' content='Harbour Gazette'>")
    return f"<!doctype html><html><head>{head}</head><body><h1>{title}</h1></body></html>".encode()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # a killed client breaks its connections: expected here


class Web:
    """Pages ``/p/K.html``, images ``/img/K.png``, dead ``/dead/K.html``, 301 ``/moved/K`` to
    the page, ``/hang/K.html``, which waits for ``release`` while ``hanging`` is set,
    ``/tick/K.html``, a page that answers after ``TICK`` seconds, and ``/gate/K.html``, a page
    that calls ``on_gate`` (when set) before it answers."""

    def __init__(self) -> None:
        self.on_gate: Callable[[], None] | None = None
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.hanging = threading.Event()
        self.release = threading.Event()
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _serve(self, head: bool) -> None:
                path = self.path.split("?")[0]
                with web.lock:
                    web.hits[path] += 1
                kind, _, name = path.strip("/").partition("/")
                k = name.split(".")[0]
                status, ctype, body, extra = 404, "text/html", b"<h1>Not Found</h1>", {}
                if kind == "hang" and web.hanging.is_set():
                    web.release.wait(60)
                if kind == "tick":
                    time.sleep(TICK)  # a slow page, not a synchronisation
                if kind == "gate" and web.on_gate is not None:
                    web.on_gate()
                if kind in ("p", "hang", "tick", "gate") and k.isdigit():
                    status, body = 200, _page(int(k))
                elif kind == "img" and k.isdigit():
                    status, ctype, body = 200, "image/png", PNG
                elif kind == "moved" and k.isdigit():
                    status, body, extra = 301, b"", {"Location": f"/p/{k}.html"}
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name_, value in extra.items():
                    self.send_header(name_, value)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._serve(False)

            def do_HEAD(self) -> None:
                self._serve(True)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def web() -> Iterator[Web]:
    w = Web()
    thread = threading.Thread(target=w.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield w
    finally:
        w.release.set()
        w.server.shutdown()
        w.server.server_close()


# --- records of varied shapes ------------------------------------------------------------


def _records(web: Web, n: int = 50) -> dict[str, bytes]:
    """``n`` records: LF and CRLF, comments, block scalars, quoting styles, non-ASCII, a stale
    linkCheck, related items with images and AMP links, dead links and redirects."""
    u = web.url
    out: dict[str, bytes] = {}
    for i in range(n):
        k = i % 30
        lines = ["---", f'title: "Story {k}: the harbour council votes again"']
        shape = i % 10
        if shape == 0:
            lines += [f"webUrl: {u(f'/p/{k}.html')}", f"originalUrl: {u(f'/p/{k}.html')}"]
        elif shape == 1:
            lines += [f'webUrl: "{u(f"/moved/{k}")}"', "related:",
                      '  - title: "Dead one"', f'    webUrl: "{u(f"/dead/{k}.html")}"',
                      "    images:", f'      - url: "{u(f"/img/{k}.png")}"', "        width: 5"]
        elif shape == 2:
            lines += ["# a comment the tool must keep", "", f"webUrl: '{u(f'/p/{k}.html')}'",
                      "quality: 12  # trailing comment", "", "topics:", "  - Harbour"]
        elif shape == 3:
            lines += ["excerpt: >-", "  A folded excerpt that runs", "  over two lines.",
                      f"webUrl: {u(f'/p/{k}.html')}", "images:", f"  - url: {u(f'/img/{k}.png')}"]
        elif shape == 4:
            lines[1] = 'title: "Café Überblick — ünïcode ✓"'
            lines += [f"webUrl: {u(f'/p/{k}.html')}", "provider:", "  name: Gazette Ünïon"]
        elif shape == 5:
            lines += [f"webUrl: {u(f'/p/{k}.html')}", "linkCheck:", "  webUrl:",
                      "    status: dead", "    reason: http_404",
                      '    since: "2020-01-01T00:00:00Z"']
        elif shape == 6:
            lines += [f"webUrl: {u(f'/dead/{k}.html')}", f"ampWebUrl: {u(f'/p/{k}.html')}"]
        elif shape == 7:
            lines += [f"webUrl: {u(f'/p/{k}.html')}", "related:"]
            for j in range(4):
                m = (k + j + 1) % 30
                lines += [f'  - title: "Related {m}"', f"    webUrl: {u(f'/p/{m}.html')}",
                          f"    ampWebUrl: {u(f'/moved/{m}')}", "    images:",
                          f"      - url: {u(f'/img/{m}.png')}"]
        elif shape == 8:
            lines += ['excerpt: ""', f"webUrl: {u(f'/p/{k}.html')}", "images: []"]
        else:
            lines += [f"webUrl: {u(f'/p/{k}.html')}", "related:", f"  - webUrl: {u('/dead/x')}",
                      f"  - webUrl: {u(f'/p/{(k + 7) % 30}.html')}"]
        lines += ["---", "", f"Body of record {i}.", "Second line."]
        newline = "\r\n" if i % 3 == 1 else "\n"
        text = newline.join(lines) + ("" if i % 7 == 3 else newline)
        out[f"{i:03d}-story.md"] = text.encode("utf-8")
    return out


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    for name, raw in files.items():
        (folder / name).write_bytes(raw)


def _enrich(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "enricher", "enrich", str(folder), "--in-place", *FAST, *extra]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "NO_COLOR"}}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _run_to_end(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    code = main(argv, Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=err,
                          force_terminal=False))
    return code, err.getvalue()


def _new_stamp(old: bytes, new: bytes) -> bytes | None:
    """The one timestamp ``new`` holds that ``old`` does not (a run's start time)."""
    stamps = set(STAMP.findall(new)) - set(STAMP.findall(old))
    assert len(stamps) <= 1, stamps
    return next(iter(stamps), None)


def _matches(name: str, now: bytes, old: bytes, new: bytes, ref_stamp: bytes) -> str:
    """'old' or 'new' when ``now`` is one of them (the run's start time mapped to the
    reference run's); fails otherwise."""
    if now == old:
        return "old"
    stamp = _new_stamp(old, now)
    assert stamp is not None, f"{name}: neither old nor new"
    assert now.replace(stamp, ref_stamp) == new, f"{name}: neither old nor new"
    return "new"


def _parses(raw: bytes) -> None:
    text = raw.decode("utf-8").replace("\r\n", "\n")
    assert text.startswith("---\n")
    assert isinstance(yaml.safe_load(text.split("---", 2)[1]), dict)


def test_sigkill_at_random_moments_leaves_old_or_new_records(web: Web, tmp_path: Path) -> None:
    old = _records(web)
    ref = tmp_path / "ref"
    _write(ref, old)
    started = time.monotonic()
    done = subprocess.run([*_enrich(ref), "--no-state", "-q"], env=_env(), capture_output=True,
                          timeout=60)
    whole = time.monotonic() - started
    assert done.returncode == 1, done.stderr  # dead links, no record error
    new = {p.name: p.read_bytes() for p in ref.glob("*.md")}
    assert all(new[n] != old[n] for n in old)
    ref_stamps = {_new_stamp(old[n], new[n]) for n in old}
    assert len(ref_stamps) == 1 and None not in ref_stamps
    ref_stamp = ref_stamps.pop()
    assert ref_stamp is not None
    for name, raw in new.items():
        _parses(raw)
        if name[:3] in {"001", "004"}:
            assert b"\r\n" in raw and raw.replace(b"\r\n", b"").count(b"\n") == 0  # CRLF kept

    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    leftovers = 0
    for trial in range(TRIALS):
        work = tmp_path / f"trial{trial:02d}"
        _write(work, old)
        in_writes = trial % 2 == 1
        proc = subprocess.Popen(_enrich(work, "--no-state"), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        if in_writes:  # after the write phase has begun (plain progress lines)
            for line in proc.stderr:
                if "writing records" in line:
                    break
            time.sleep(rng.uniform(0.0, 0.15))
        else:
            time.sleep(rng.uniform(0.0, whole))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        assert {p.name for p in work.rglob("*.md")} == set(old), "a stray *.md file"
        leftovers += len([p for p in work.iterdir() if p.name not in old])
        states = Counter()
        for name in old:
            raw = (work / name).read_bytes()
            _parses(raw)
            states[_matches(name, raw, old[name], new[name], ref_stamp)] += 1
        outcomes["all old" if not states["new"] else "all new" if not states["old"] else
                 "mixed"] += 1
        # the next run completes, and leaves every record in its new version
        argv = ["enrich", str(work), "--in-place", "--no-state", "-q", *FAST]
        code, err = _run_to_end(argv)
        assert code in (0, 1), err
        for name in old:
            assert _matches(name, (work / name).read_bytes(), old[name], new[name],
                            ref_stamp) == "new"
    print(f"\n{TRIALS} kills: {dict(outcomes)}; temp files left behind: {leftovers}; "
          f"clean run {whole:.2f}s")
    assert outcomes["mixed"] + outcomes["all new"] > 0  # some kills did land in the writes


def _journaled(state: Path) -> set[str]:
    """The URLs a running enricher has journaled so far (none while it creates the file)."""
    try:
        with History.open(state, read_only=True) as history:
            return set(history.resumable(any_profile=True))
    except StateError:
        return set()


def test_a_killed_run_resumes_from_its_journal(web: Web, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    fast = [web.url(f"/p/{k}.html") for k in range(12)]
    tick = web.url("/tick/99.html")  # answers after a second: its result flushes the journal
    hang = [web.url(f"/hang/{k}.html") for k in range(3)]
    files = {}
    for i, url in enumerate([*fast, tick, *hang]):
        files[f"r{i:02d}.md"] = f'---\ntitle: "Story {i}"\nwebUrl: {url}\n---\nBody.\n'.encode()
    _write(folder, files)
    state = tmp_path / "state.sqlite"
    web.hanging.set()

    argv = _enrich(folder, "--state", str(state), "-q", "--timeout", "30s")
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        want = {*fast, tick}
        while not want <= _journaled(state):  # polls a condition, with a deadline
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the journal never held the finished URLs"
            time.sleep(0.05)
        assert not _journaled(state) & set(hang)
        assert all(web.hits[f"/hang/{k}.html"] == 1 for k in range(3))  # still in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(b"linkCheck" not in (folder / n).read_bytes() for n in files)

    web.hanging.clear()
    web.release.set()
    with web.lock:
        web.hits.clear()
    results = tmp_path / "results.jsonl"
    code, err = _run_to_end(["enrich", str(folder), "--in-place", "-q", "--state", str(state),
                             "--results", str(results), *FAST])
    assert code == 0, err
    # what the killed run finished is taken from the journal: not one request for it
    assert not any(web.hits[p] for p in ("/tick/99.html", *(f"/p/{k}.html" for k in range(12))))
    assert all(web.hits[f"/hang/{k}.html"] == 1 for k in range(3))
    lines = {row["url"]: row for row in map(json.loads, results.read_text().splitlines())}
    assert all(lines[u]["reused"] for u in [*fast, tick])
    assert not any(lines[u]["reused"] for u in hang)
    assert all(b"status: ok" in (folder / n).read_bytes() for n in files)
    with History.open(state, read_only=True) as history:
        assert [r.state for r in history.runs(2)] == ["finished", "interrupted"]


_FIFO_GATE = """
import os, stat, tempfile
import enricher.records as records

_read = records.read_record


def read_record(path, display, *args, **kwargs):
    if stat.S_ISFIFO(os.stat(path).st_mode):  # the test's gate: wait until it is fed
        with open(path, "rb") as fh:
            data = fh.read()
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temp, path)
    return _read(path, display, *args, **kwargs)


records.read_record = read_record
"""


def test_sigterm_while_records_are_written_records_an_interrupted_run(
    web: Web, tmp_path: Path
) -> None:
    """SIGTERM in the write phase: the run is recorded as interrupted, not finished (its
    records were not all written), with its journal kept, and the rerun resumes it. The
    write phase is held on its first record, a FIFO put in its place once the read phase has
    read it (when its URL is fetched): the test sends the signal when the run opens the
    FIFO, then feeds it the record."""
    folder = tmp_path / "records"
    urls = [web.url("/gate/0.html"), *(web.url(f"/p/{k}.html") for k in range(1, 6))]
    files = {f"{i:03d}.md": f'---\ntitle: "Story {i}"\nwebUrl: {url}\n---\nBody.\n'.encode()
             for i, url in enumerate(urls)}
    _write(folder, files)
    first = folder / "000.md"
    fifo = tmp_path / "000.fifo"

    swapped = threading.Event()
    opened: list[int] = []

    def gate() -> None:  # 000.md was read: its URL is being fetched
        with web.lock:
            if not swapped.is_set():
                os.mkfifo(fifo)
                os.replace(fifo, first)
                swapped.set()

    def feed() -> None:  # os.open returns once the run opens the FIFO to read the record
        if swapped.wait(60):
            opened.append(os.open(first, os.O_WRONLY))

    web.on_gate = gate
    state, out = tmp_path / "state.sqlite", tmp_path / "enriched"
    argv = [sys.executable, "-m", "enricher", "enrich", str(folder), "--out", str(out),
            "--state", str(state), "-q", *FAST]
    hook = tmp_path / "hook"  # enricher refuses a FIFO as a record (it never blocks on one):
    hook.mkdir()  # the child waits on this one, reads it, and puts the record back in place
    (hook / "sitecustomize.py").write_text(_FIFO_GATE, encoding="utf-8")
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(hook), env["PYTHONPATH"]])
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    feeder = threading.Thread(target=feed, daemon=True)
    try:
        feeder.start()
        feeder.join(timeout=60)
        assert opened, "the write phase never read the first record"
        proc.send_signal(signal.SIGTERM)
        os.write(opened[0], files["000.md"])
        os.close(opened[0])
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if feeder.is_alive() and first.is_fifo():  # the run never opened it: let go of it
            os.close(os.open(first, os.O_RDONLY | os.O_NONBLOCK))
            feeder.join(timeout=10)
            for fd in opened:
                os.close(fd)
    assert proc.returncode == 3, err  # ExitCode.ABORTED
    written = sorted(p.name for p in out.glob("*.md"))
    assert written[:1] == ["000.md"] and len(written) < len(files), written
    with History.open(state, read_only=True) as history:
        assert [r.state for r in history.runs(5)] == ["interrupted"]
        assert set(history.resumable(any_profile=True)) == set(urls)

    web.on_gate = None
    first.unlink()
    first.write_bytes(files["000.md"])
    with web.lock:
        web.hits.clear()
    code, err = _run_to_end(["enrich", str(folder), "--out", str(out), "-q", "--state",
                             str(state), *FAST])
    assert code == 0, err
    assert not web.hits, web.hits  # every URL resumed from the journal
    assert sorted(p.name for p in out.glob("*.md")) == sorted(files)
    with History.open(state, read_only=True) as history:
        assert [r.state for r in history.runs(5)] == ["finished", "interrupted"]
