"""The CLI end to end against the local demo web: in-process and as a subprocess.

Covers exit codes, plain (non-terminal) output without ANSI codes, the results JSON Lines
against the shipped schema, reports that agree on counts, enriched records per the contract,
and a second run that changes zero bytes.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from enricher.cli import BROKEN_PIPE, Env, ExitCode, main
from enricher.demo import DemoWeb, demo_web, write_demo_records
from enricher.report.schema import load_schema
from enricher.state import History

ANSI = "\x1b["
FAST = [
    "--no-state",
    "--allow-private",
    "--host-request-interval",
    "1ms",
    "--timeout",
    "5s",
    "--max-attempts",
    "1",
]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing (history, config) is read or written in the repo


@pytest.fixture(scope="module")
def web() -> Iterator[DemoWeb]:
    with demo_web() as w:
        yield w


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Env(stdin=io.StringIO(stdin), stdout=out, stderr=err, force_terminal=False))
    return code, out.getvalue(), err.getvalue()


def _front(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    loaded = yaml.safe_load(text.split("---", 2)[1])
    assert isinstance(loaded, dict)
    return loaded


def test_check_reports_dead_links_and_exit_1(web: DemoWeb, tmp_path: Path) -> None:
    records = write_demo_records(web, tmp_path / "records")
    before = {p: p.read_bytes() for p in records}
    results = tmp_path / "results.jsonl"
    code, _, err = _run(["check", str(tmp_path / "records"), "--results", str(results), *FAST])
    assert code == ExitCode.LINKS_FAILED
    assert ANSI not in err
    assert "deleted-minutes.html" in err  # the dead link is named in the summary
    assert {p: p.read_bytes() for p in records} == before  # check never writes records
    schema = load_schema("results")
    lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        jsonschema.validate(line, schema)
    by_url = {line["url"]: line for line in lines if line["url"]}
    assert by_url[f"{web.news}/news/deleted-minutes.html"]["status"] == "dead"
    assert by_url[f"{web.news}/news/old-library-story"]["status"] == "redirected"
    assert by_url[f"{web.news}/news/transit-plan.html"]["reason"] == "soft_404"
    assert by_url[f"{web.walled}/opinion/bike-lanes.html"]["status"] == "blocked"
    assert (
        by_url[f"{web.news}/news/bike-lanes.html"]["page"]["title"]
        == "City Council Approves New Bike Lanes"
    )
    # one fetch per distinct URL, fanned out to every origin
    assert len(by_url[f"{web.news}/news/bike-lanes.html"]["sources"]) == 3


def test_fail_on_ok_only_dead(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    code, _, _ = _run(
        [
            "check",
            str(tmp_path / "records"),
            "--fail-on",
            "timeout",
            "--exclude",
            "javascript",
            *FAST,
        ]
    )
    assert code == ExitCode.OK


def test_enrich_writes_contract_and_second_run_changes_nothing(
    web: DemoWeb, tmp_path: Path
) -> None:
    records = write_demo_records(web, tmp_path / "records")
    stale = tmp_path / "records" / ".enricher-tmp-killed.tmp"  # a killed run's temp file
    stale.write_bytes(b"half a record")
    os.utime(stale, (time.time() - 7200,) * 2)
    argv = ["enrich", str(tmp_path / "records"), "--in-place", *FAST]
    code, _, err = _run(argv)
    assert code == ExitCode.LINKS_FAILED, err
    assert not stale.exists()
    data = _front(records[0])
    check = data["linkCheck"]
    assert isinstance(check, dict) and check["webUrl"]["status"] == "ok"
    live = data["livePage"]
    assert isinstance(live, dict) and live["title"] == "City Council Approves New Bike Lanes"
    related = data["related"]
    assert isinstance(related, list)
    assert related[0]["linkCheck"]["webUrl"]["status"] == "redirected"
    assert related[2]["linkCheck"]["webUrl"] == {
        "status": "dead",
        "httpStatus": 404,
        "reason": "http_404",
        "since": related[2]["linkCheck"]["webUrl"]["since"],
    }
    assert related[2]["images"][0]["linkCheck"]["url"]["status"] == "dead"
    assert (
        records[0]
        .read_text(encoding="utf-8")
        .endswith("A demo record. Its body is never touched.\n")
    )
    stamps = {p: p.stat().st_mtime_ns for p in records}
    contents = {p: p.read_bytes() for p in records}
    code, _, _ = _run(argv)
    assert code == ExitCode.LINKS_FAILED
    assert {p: p.read_bytes() for p in records} == contents
    assert {p: p.stat().st_mtime_ns for p in records} == stamps


def test_enrich_out_mirrors_and_dry_run_writes_nothing(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    out = tmp_path / "out"
    code, _, err = _run(
        ["enrich", str(tmp_path / "records"), "--out", str(out), "--dry-run", *FAST]
    )
    assert code == ExitCode.LINKS_FAILED
    assert "would change" in err
    assert not out.exists()
    _run(["enrich", str(tmp_path / "records"), "--out", str(out), *FAST])
    assert sorted(p.name for p in out.rglob("*.md")) == sorted(
        p.name for p in (tmp_path / "records").glob("*.md")
    )


def test_all_report_formats_agree(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    argv = ["check", str(tmp_path / "records"), *FAST]
    for ext in ("json", "jsonl", "md", "csv", "html", "xml"):
        argv += ["--report", str(tmp_path / f"report.{ext}")]
    _run(argv)
    run = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(run, load_schema("run"))
    lines = (tmp_path / "report.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == sum(run["counts"].values())
    assert f'tests="{len(lines)}"' in (tmp_path / "report.xml").read_text(encoding="utf-8")
    assert "dead" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _run(["check", str(tmp_path / "missing")])[0] == ExitCode.USAGE
    assert _run(["check"])[0] == ExitCode.USAGE
    assert _run(["check", str(tmp_path), "--max-concurrency", "zero"])[0] == ExitCode.USAGE
    assert _run(["nonsense"])[0] == ExitCode.USAGE
    code, _, err = _run(["check", str(tmp_path), "--report", str(tmp_path / "r.pdf")])
    assert code == ExitCode.USAGE and "r.pdf" in err


def test_bad_record_exit_2_and_run_goes_on(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    (tmp_path / "records" / "broken.md").write_text(
        "---\ntitle: [unclosed\n---\n", encoding="utf-8"
    )
    (tmp_path / "records" / "shape.md").write_text(
        "---\ntitle: t\nimages: https://a.example/i.png\n---\n", encoding="utf-8"
    )
    code, _, err = _run(["check", str(tmp_path / "records"), *FAST])
    assert code == ExitCode.USAGE
    assert re.search(r"broken.md:\d+: front matter is not valid YAML", err)
    assert ("shape.md:3: images is not a list; write it as a list of '- ' items "
            "(record not checked)") in err


def test_links_inventory(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    code, out, _ = _run(["links", str(tmp_path / "records")])
    assert code == ExitCode.OK
    assert "related[2].images[0].url" in out
    assert "distinct URLs: 9" in out
    code, out, _ = _run(["links", str(tmp_path / "records"), "--format", "jsonl"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert any(r["status"] == "invalid" and r["reason"] == "bad_scheme" for r in rows)
    code, out, _ = _run(
        ["links", "-"], stdin=str(sorted((tmp_path / "records").glob("*.md"))[0]) + "\n"
    )
    assert code == ExitCode.OK and "bike-lanes.html" in out


def test_force_color_in_a_log_gives_colours_never_the_animation(web: DemoWeb, tmp_path: Path
                                                                ) -> None:
    """CI systems set FORCE_COLOR=1, which makes rich call any stream a terminal: the
    output stays lines (no cursor moves, no hidden cursor), coloured; with --no-color, it
    holds no ANSI code at all."""
    write_demo_records(web, tmp_path / "records")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"FORCE_COLOR": "1"}
    argv = [sys.executable, "-m", "enricher", "check", str(tmp_path / "records"), *FAST]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == ExitCode.LINKS_FAILED, done.stderr
    assert "\x1b[?25l" not in done.stderr and not re.search(r"\x1b\[\d*[AK]", done.stderr)
    assert re.search(r"^\d{4}-\d\d-\d\dT\S+ checking links", done.stderr, re.M), done.stderr
    assert "\x1b[" in done.stderr  # the colours FORCE_COLOR asked for
    for extra, variables in (["--no-color"], {}), ([], {"NO_COLOR": "1"}):
        done = subprocess.run([*argv, *extra], capture_output=True, text=True,
                              env=env | variables, timeout=60)
        assert done.returncode == ExitCode.LINKS_FAILED, done.stderr
        assert ANSI not in done.stderr, repr(done.stderr[:300])


def test_subprocess_plain_output_and_sigterm(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "NO_COLOR"}}
    done = subprocess.run(
        [sys.executable, "-m", "enricher", "check", str(tmp_path / "records"), *FAST],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == ExitCode.LINKS_FAILED
    assert ANSI not in done.stderr and ANSI not in done.stdout
    # SIGTERM (or SIGHUP: the terminal closed) while the slow host keeps a request in
    # flight: partial summary, exit 3
    for sig in (signal.SIGTERM, signal.SIGHUP):
        proc = subprocess.Popen(
            [sys.executable, "-m", "enricher", "enrich", str(tmp_path / "records"),
             "--in-place", "-v", *FAST],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # as from a terminal: a hang-up not ignored (nohup would keep it ignored)
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
        )
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until checking has started (a per-URL line)
            if "http://" in line:
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == ExitCode.ABORTED, err
        assert "interrupted" in err and "Traceback" not in err
        assert all("linkCheck" not in p.read_text() for p in (tmp_path / "records").glob("*.md"))


class _GoneReader(io.StringIO):
    """stderr whose reader went away (``enricher ... 2>&1 | head -1``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_run_whose_stderr_reader_went_away_goes_on(web: DemoWeb, tmp_path: Path) -> None:
    """rich ended the process with exit 1 from inside the progress callback: nothing was
    written. Now the run goes on quietly and ends with its own status and its outputs."""
    write_demo_records(web, tmp_path / "records")
    report = tmp_path / "report.json"
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=_GoneReader(),
              force_terminal=False, environ={})
    code = main(["enrich", str(tmp_path / "records"), "--out", str(tmp_path / "out"),
                 "--report", str(report), *FAST], env)
    assert code == ExitCode.LINKS_FAILED  # the demo web has dead links
    assert json.loads(report.read_text(encoding="utf-8"))["records"]["changed"] == 2
    assert len(list((tmp_path / "out").rglob("*.md"))) == 2


def _one_line_usage_error(code: int, err: str) -> None:
    assert code == ExitCode.USAGE, err
    assert [line for line in err.splitlines() if "enricher" in line or "Error" in line] == [
        err.splitlines()[-1]
    ], err
    assert err.splitlines()[-1].startswith("enricher: ")
    assert "Traceback" not in err and "usage:" not in err


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["--proxy", "bad proxy"], {}, "proxy 'bad proxy': only http:// and https://"),
        ([], {"HTTP_PROXY": "socks9://x"}, "HTTP_PROXY 'socks9://x': only http:// and https://"),
        ([], {"https_proxy": "http://"}, "https_proxy 'http://': no valid host"),
        (["--proxy", "http://[bad"], {}, "proxy 'http://[bad': no valid host name or address"),
        ([], {"HTTPS_PROXY": "http://a b:3128"}, "HTTPS_PROXY 'http://a b:3128': no valid host"),
        (["--ca-bundle", "nonexist.pem"], {}, "nonexist.pem (set by --ca-bundle): No such file"),
        (["--ca-bundle", "note.txt"], {}, "note.txt (set by --ca-bundle): no certificate"),
        ([], {"SSL_CERT_FILE": "/nonexist"}, "SSL_CERT_FILE=/nonexist: No such file"),
    ],
)
def test_bad_proxy_or_ca_is_a_usage_error_before_fetching(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    environ: dict[str, str],
    expected: str,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "note.txt").write_text("not a certificate\n", encoding="utf-8")
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "a.md").write_text(
        "---\ntitle: A\nwebUrl: http://127.0.0.1:9/a\n---\n", encoding="utf-8"
    )
    results = tmp_path / "results.jsonl"
    code, _, err = _run(["check", "good", *FAST, "--results", str(results), *argv])
    _one_line_usage_error(code, err)
    assert expected in err and err.count("\n") == 1  # nothing ran before the check
    assert not results.exists()  # stopped before reading or fetching anything


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--timeout", "0"], "--timeout: must be more than zero"),
        (["--connect-timeout", "0"], "--connect-timeout: must be more than zero"),
        (["--timeout", "-1s"], "--timeout: a duration cannot be negative, got '-1s'"),
        (["--timeout=-1s"], "--timeout: a duration cannot be negative, got '-1s'"),
        (["--max-age", "-2h"], "--max-age: a duration cannot be negative"),
        (["--header", "Bad Name: b"], "--header: bad header name 'Bad Name'"),
        (["--accept", "abc"], "--accept: expected HTTP status codes"),
        (["--max-concurrency", "1.5"], "--max-concurrency: expected a whole number, got '1.5'"),
        (["--max-attempts", "-1"], "--max-attempts: expected a number of at least 1"),
    ],
)
def test_bad_values_are_one_line_usage_errors(
    tmp_path: Path, argv: list[str], expected: str
) -> None:
    code, _, err = _run(["check", str(tmp_path), *argv])
    _one_line_usage_error(code, err)
    assert expected in err and "invalid literal" not in err


def test_negative_values_after_a_double_dash_stay_paths(tmp_path: Path) -> None:
    code, _, err = _run(["check", "--timeout", "5s", "--", "-1s"])
    _one_line_usage_error(code, err)
    assert "input not found: -1s" in err


def test_demo_help_names_the_real_default(capsys: pytest.CaptureFixture[str]) -> None:
    from enricher.demo import DEFAULT_DEMO_DIR

    assert main(["demo", "--help"]) == ExitCode.OK
    help_text = capsys.readouterr().out
    assert f"default ./{DEFAULT_DEMO_DIR}" in help_text and "temporary" not in help_text


def test_report_format_applies_only_without_an_extension(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    state = str(tmp_path / "state.sqlite")
    fast = [a for a in FAST if a != "--no-state"]
    _run(["check", str(tmp_path / "records"), *fast, "--state", state])
    argv = ["report", "--state", state, "-q", "--format", "junit"]
    code, _, err = _run([*argv, "--report", "r.json", "--report", "r.md", "--report", "r"])
    assert code == ExitCode.LINKS_FAILED, err
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["counts"]
    assert (tmp_path / "r.md").read_text(encoding="utf-8").startswith("#")
    assert (tmp_path / "r").read_text(encoding="utf-8").startswith("<?xml")


def test_quiet_and_verbose_together_are_a_usage_error(tmp_path: Path) -> None:
    """``-q -v`` printed the per-URL lines that -q ("only errors") promises away."""
    code, _, err = _run(["check", str(tmp_path), "-q", "-v", *FAST])
    assert code == ExitCode.USAGE and err.count("\n") == 1 and "-q/--quiet" in err, err


def test_format_without_report_is_a_usage_error(tmp_path: Path) -> None:
    """``check news/ --format json > out.json`` wrote nothing to out.json, exit 1."""
    (tmp_path / "a.md").write_text('---\ntitle: "T"\n---\n', encoding="utf-8")
    code, out, err = _run(["check", str(tmp_path / "a.md"), "--format", "json", *FAST])
    assert code == ExitCode.USAGE and out == ""
    assert err.count("\n") == 1 and "--report -" in err, err
    code, out, err = _run(["check", str(tmp_path / "a.md"), "--format", "json", "--results",
                           str(tmp_path / "r.jsonl"), *FAST])  # --format is --report's only
    assert code == ExitCode.USAGE and not (tmp_path / "r.jsonl").exists(), err


def test_a_usage_error_leaves_no_run_in_the_history(web: DemoWeb, tmp_path: Path) -> None:
    """A mistyped path (or --out onto the records) is no run: ``report`` must not say that the
    last run has not finished."""
    import sqlite3

    records = write_demo_records(web, tmp_path / "records")
    state = str(tmp_path / "state.sqlite")
    fast = [a for a in FAST if a != "--no-state"]
    _run(["check", str(tmp_path / "records"), *fast, "--state", state])
    code, _, err = _run(["check", str(tmp_path / "records"), "missing", *fast, "--state", state])
    assert code == ExitCode.USAGE and "missing" in err
    code, _, err = _run(["enrich", str(records[0]), "--out", str(records[0].parent), *fast,
                         "--state", state])
    assert code == ExitCode.USAGE and "--out" in err, err
    with sqlite3.connect(state) as db:
        assert [row[0] for row in db.execute("SELECT state FROM runs")] == ["finished"]
    code, _, err = _run(["report", "--state", state])
    assert "has not finished" not in err


def test_paths_on_stdin_that_were_deleted_are_skipped(web: DemoWeb, tmp_path: Path) -> None:
    records = write_demo_records(web, tmp_path / "records")
    listed = f"{records[0]}\n{tmp_path}/records/deleted.md\n"
    results = tmp_path / "results.jsonl"
    code, _, err = _run(["check", "-", "--results", str(results), *FAST], stdin=listed)
    assert code in (ExitCode.OK, ExitCode.LINKS_FAILED), err  # the run went on
    skip = f"enricher: skipped {tmp_path}/records/deleted.md: no such file (listed on stdin)\n"
    assert skip in err
    lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert {source["file"] for line in lines for source in line["sources"]} == {str(records[0])}
    code, out, err = _run(["links", "-"], stdin=listed)
    assert code == ExitCode.OK and skip in err and "bike-lanes.html" in out
    code, _, err = _run(["check", str(records[0]), f"{tmp_path}/records/deleted.md", *FAST])
    _one_line_usage_error(code, err)  # named as an argument: still a usage error
    assert "input not found" in err


def test_an_empty_results_name_is_a_usage_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``--results "$OUT"`` with OUT unset ran without a results file and said nothing
    (``--report ''`` was an error already); an empty ENRICHER_RESULTS still means none."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    code, _, err = _run(["check", "a.md", "--no-state", "--results", " "])
    _one_line_usage_error(code, err)
    assert "--results '': give a file name, or - for stdout" in err
    monkeypatch.setenv("ENRICHER_RESULTS", "")
    code, _, err = _run(["check", "a.md", "--no-state", "-q"])
    assert code == ExitCode.OK, err


def test_a_missing_input_opens_no_history_and_prints_no_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in a path printed a "checking links" line and left .enricher/state.sqlite (and
    its lock) behind in the current folder before the usage error."""
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["check", "nonexist/"])
    _one_line_usage_error(code, err)
    assert err == "enricher: input not found: nonexist/; check the path\n"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "d.md").symlink_to("gone.md")  # a dangling symlink, a FIFO: the same
    os.mkfifo(tmp_path / "f.md")
    for name, what in (("d.md", "a dangling symlink"), ("f.md", "neither a file nor a folder")):
        code, _, err = _run(["check", name])
        _one_line_usage_error(code, err)
        assert err.startswith(f"enricher: input is {what}: {name}"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.md", "f.md"]


def test_a_glob_matching_nothing_or_out_on_the_inputs_opens_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a missing path: a glob that matches nothing, and ``--out`` naming the input
    folder, are told before a history is made (``enricher report`` then said "0 links
    failing" of the empty one, status 0)."""
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["check", "nosuch/*.md"])
    _one_line_usage_error(code, err)
    assert err == "enricher: input not found: nosuch/*.md; check the path\n"
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "a.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    code, _, err = _run(["enrich", "news", "--out", "news"])
    _one_line_usage_error(code, err)
    assert "is the folder of the input records" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["news"]
    code, _, err = _run(["check", "news/*.md", "-q"])  # a glob that matches: as before
    assert code == ExitCode.OK, err
    assert (tmp_path / ".enricher" / "state.sqlite").is_file()


def test_report_on_a_history_without_a_finished_run_is_no_all_clear(tmp_path: Path) -> None:
    """It said "0 links failing" with status 0: of a history left by a run that stopped at
    a usage error, and of one whose only run was killed (a crash, SIGKILL)."""
    state = tmp_path / "state.sqlite"
    History.open(state).close()  # as left by a run that stopped at a usage error
    code, _, err = _run(["report", "--state", str(state)])
    _one_line_usage_error(code, err)
    assert "no run in this history has finished yet" in err
    killed = History.open(state)
    killed.start_run("check", {})  # a run killed (or going on): never finished
    code, _, err = _run(["report", "--state", str(state)])
    killed.close()
    _one_line_usage_error(code, err)
    assert "no run in this history has finished yet" in err


def test_enrich_dot_never_reads_its_own_output(
    web: DemoWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = write_demo_records(web, tmp_path / "records")
    monkeypatch.chdir(tmp_path / "records")
    for _ in range(2):
        code, _, err = _run(["enrich", ".", *FAST])  # default --out ./enriched, inside "."
        assert code == ExitCode.LINKS_FAILED, err
        assert "record" in err
    out = tmp_path / "records" / "enriched"
    assert not (out / "enriched").exists()
    assert sorted(p.name for p in out.rglob("*.md")) == sorted(p.name for p in records)
    code, out_text, _ = _run(["links", "."])  # no output folder here: everything is listed
    assert f"records: {2 * len(records)} " in out_text


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_results_to_a_closed_pipe_exit_quietly(web: DemoWeb, tmp_path: Path) -> None:
    write_demo_records(web, tmp_path / "records")
    errors = io.StringIO()
    code = main(["check", str(tmp_path / "records"), "--results", "-", "-q", *FAST],
                Env(stdout=_ClosedPipe(), stderr=errors, force_terminal=False))
    assert code == 128 + signal.SIGPIPE
    err = errors.getvalue()
    assert "Traceback" not in err and "BrokenPipe" not in err
    # the process's own stdout (a library caller's) is left alone: not pointed at /dev/null
    assert os.path.realpath(f"/proc/self/fd/{sys.stdout.fileno()}") != os.devnull


def test_links_into_head_exits_quietly(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    urls = "".join(f"  - webUrl: https://example.com/story/{i:04d}\n" for i in range(200))
    for n in range(20):  # ~4000 lines: far more than a pipe buffer holds
        (folder / f"r{n:02d}.md").write_text(
            f"---\ntitle: R{n}\nwebUrl: https://example.com/{n}\nrelated:\n{urls}---\n",
            encoding="utf-8",
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "enricher", "links", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert b"example.com" in proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 128 + signal.SIGPIPE
    assert err == "", err


def test_stdout_on_a_full_disk_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """``enricher links news/ > full/links.txt``: a traceback and exit 1 ("links failed")."""
    (tmp_path / "a.md").write_text("---\nwebUrl: https://example.com/a\n---\n",
                                   encoding="utf-8")
    with open("/dev/full", "wb") as full:  # Linux: every write fails with ENOSPC
        proc = subprocess.run([sys.executable, "-m", "enricher", "links", str(tmp_path)],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    # (links has no --results or --report, which the line suggested)
    assert proc.stderr == ("enricher: cannot write the output: No space left on device; free "
                           "space where stdout goes, or send it to a file elsewhere (> FILE)\n")


def test_stdout_that_fails_loses_no_other_report_nor_the_summary(web: DemoWeb, tmp_path: Path
                                                                 ) -> None:
    """``--results -`` on a full disk (or a reader gone): the report files are written all
    the same and the summary printed; the run then ends as any failed stdout does."""
    write_demo_records(web, tmp_path / "records")
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "NO_COLOR"}}
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "enricher", "check", str(tmp_path / "records"), *FAST,
             "--results", "-", "--report", str(html), "--report", str(md)],
            stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert "Links by status" in proc.stderr
    assert proc.stderr.endswith("free space where stdout goes, or send it to a file elsewhere"
                                " (> FILE)\n"), proc.stderr
    assert "</html>" in html.read_text(encoding="utf-8") and "dead" in md.read_text("utf-8")


def test_a_report_on_stdout_goes_to_the_callers_stream(web: DemoWeb, tmp_path: Path) -> None:
    """``main(argv, Env(stdout=...))`` from Python: ``--report -`` and ``--results -`` write
    to the stream given, as ``links`` does, not to the process's own stdout."""
    write_demo_records(web, tmp_path / "records")
    out = io.StringIO()
    code = main(["check", str(tmp_path / "records"), *FAST, "--report", "-", "--format",
                 "json"], Env(stdout=out, stderr=io.StringIO()))
    assert code == ExitCode.LINKS_FAILED
    assert json.loads(out.getvalue())["counts"]


def test_a_closed_stdout_or_stderr_is_no_traceback(tmp_path: Path) -> None:
    """``enricher ... >&-`` (Python's sys.stdout is None): an AttributeError traceback and
    exit 1, the report files lost. Now as a reader gone: the reports written, status 141;
    with stderr closed the run goes on without messages and ends with its own status."""
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "a.md").write_text("---\nwebUrl: https://example.com/a\n---\n",
                                            "utf-8")
    base = [sys.executable, "-m", "enricher"]
    report = tmp_path / "r.md"
    closed = subprocess.run([*base, "check", str(tmp_path / "news"), "--no-state", "--exclude",
                             ".", "--results", "-", "--report", str(report)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            timeout=60, preexec_fn=lambda: os.close(1))
    assert closed.returncode == BROKEN_PIPE and "Traceback" not in closed.stderr, closed.stderr
    assert report.is_file()
    closed = subprocess.run([*base, "links", str(tmp_path / "news")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, timeout=60,
                            preexec_fn=lambda: os.close(2))
    assert closed.returncode == 0 and "example.com/a" in closed.stdout
    closed = subprocess.run([*base, "links", "-"], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: os.close(0))  # <&-: no path to read
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr


def test_ctrl_c_before_the_run_starts_is_exit_3_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import enricher.cli as cli_module

    def interrupted(argv: object, env: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "_main", interrupted)
    err = io.StringIO()
    code = cli_module.main(["check", "x"], Env(stderr=err))
    assert code == ExitCode.ABORTED and err.getvalue() == "enricher: interrupted\n"


def test_links_escapes_control_characters_in_file_names(tmp_path: Path) -> None:
    """A newline or tab in a file name would split a tab-separated row (and a record error
    line) in two: text output escapes it as ``ls -b`` does; JSON Lines stays valid JSON
    that gives the exact name back, an undecodable byte included."""
    import json

    root = tmp_path / "odd"
    root.mkdir()
    names = ["new\nline.md", "tab\there.md", "bad\udcff.md", "back\\slash.md"]
    for name in names:
        (root / name).write_bytes(b'---\ntitle: T\nwebUrl: "http://example.com/a"\n---\n')
    (root / "broken\nname.md").write_bytes(b"---\ntitle: [\n---\n")
    code, out, err = _run(["links", str(root)])
    assert code == 2
    rows = [line for line in out.splitlines() if "\twebUrl\t" in line]
    assert len(rows) == 4 and all(row.count("\t") == 2 for row in rows)
    shown = {row.split("\t")[0].rsplit("/", 1)[1] for row in rows}
    assert shown == {"new\\nline.md:3", "tab\\there.md:3", "bad\\xff.md:3", "back\\slash.md:3"}
    (error,) = [line for line in err.splitlines() if "not valid YAML" in line]
    assert error.startswith(f"{root}/broken\\nname.md:3: ")  # one line, escaped
    code, out, _ = _run(["links", str(root), "--format", "jsonl"])
    lines = out.splitlines()
    assert len(lines) == 4
    files = {os.fsencode(json.loads(line)["file"]) for line in lines}
    assert files == {os.fsencode(str(root / name)) for name in names}
    out.encode("utf-8")  # no lone surrogate: writable as UTF-8


def test_in_place_flag_overrides_out_from_the_config_file(web: DemoWeb, tmp_path: Path) -> None:
    """The README's own example config holds ``out = "enriched"``; its cron line gives
    ``--in-place``: the flag wins (flags > environment > file), no usage error."""
    records = write_demo_records(web, tmp_path / "records")
    (tmp_path / "enricher.toml").write_text('out = "enriched"\n', encoding="utf-8")
    code, _, err = _run(["enrich", "records", "--in-place", *FAST])
    assert code == ExitCode.LINKS_FAILED, err
    assert "linkCheck" in records[0].read_text(encoding="utf-8")
    assert not (tmp_path / "enriched").exists()


def test_check_without_a_path_names_enricher_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["check"])
    _one_line_usage_error(code, err)
    assert err == "enricher: give at least one PATH to check (a file, folder, glob or -)\n"


def test_unknown_flag_after_a_subcommand_shows_its_usage() -> None:
    code, out, err = _run(["enrich", "x", "--in-plcae"])
    assert code == ExitCode.USAGE and out == ""
    assert err == ("enricher enrich: unrecognized arguments: --in-plcae; "
                   "see 'enricher enrich --help'\n")
    code, out, err = _run(["check", "--help"])
    assert code == ExitCode.OK and "usage: enricher check" in out and err == ""


def test_an_option_before_the_command_is_told_where_it_goes() -> None:
    """``enricher -q check x`` said "unrecognized arguments: -q", though check's help lists
    it; an option no command knows is still unrecognized."""
    code, out, err = _run(["-q", "check", "x"])
    assert code == ExitCode.USAGE and out == ""
    assert err == ("enricher check: -q goes after the command: enricher check -q x; "
                   "see 'enricher check --help'\n")
    code, _, err = _run(["--bogus", "check", "x"])
    assert err.startswith("enricher check: unrecognized arguments: --bogus;"), err
    code, _, err = _run(["--max-age", "1h", "check", "x"])  # said "invalid choice: '1h'"
    assert code == ExitCode.USAGE and err.startswith(
        "enricher check: --max-age goes after the command: enricher check --max-age 1h x;"), err
    code, _, err = _run(["--report", "report", "check", "x"])  # "report" is a value here
    assert "goes after the command: enricher check --report report x;" in err, err
    for argv in ([], ["--version"], ["-h"]):
        code, out, err = _run(argv)
        assert "Traceback" not in err and "goes after" not in out + err


@pytest.mark.parametrize("option", ["--results", "--report"])
@pytest.mark.parametrize("where", ["missing/out.jsonl", "afile/out.jsonl", "afolder.jsonl"])
def test_an_output_file_without_a_usable_folder_stops_before_fetching(
    web: DemoWeb, tmp_path: Path, option: str, where: str
) -> None:
    records = write_demo_records(web, tmp_path / "records")
    before = {p: p.read_bytes() for p in records}
    (tmp_path / "afile").write_text("a file, not a folder\n", encoding="utf-8")
    (tmp_path / "afolder.jsonl").mkdir()
    target = str(tmp_path / where)
    code, _, err = _run(["enrich", "records", "--in-place", option, target, *FAST])
    _one_line_usage_error(code, err)
    assert f"{option} {target}: " in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in records} == before  # nothing fetched, nothing written
    if option == "--report":
        code, _, err = _run(["report", "--state", "s.sqlite", "--report", target])
        _one_line_usage_error(code, err)
        assert f"--report {target}: " in err


def test_names_are_shown_as_they_are_without_emoji_codes(web: DemoWeb, tmp_path: Path) -> None:
    """rich turns ``:skull:`` into an emoji unless told not to: a file name must not change."""
    write_demo_records(web, tmp_path / "records")
    (tmp_path / "records" / "x:skull:y.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    good = (tmp_path / "records" / "2026-11-20-bike-lanes.md").read_text(encoding="utf-8")
    (tmp_path / "records" / "a:thumbs_up:[b]c.md").write_text(good, encoding="utf-8")
    code, _, err = _run(["enrich", "records", "--dry-run", *FAST])
    assert code == ExitCode.USAGE, err
    assert "x:skull:y.md:" in err and "would change records/a:thumbs_up:[b]c.md: " in err
    assert "\N{SKULL}" not in err and "\N{THUMBS UP SIGN}" not in err


def test_help_names_force_color_and_the_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("check", "enrich", "links", "report", "demo"):
        assert main([command, "--help"]) == ExitCode.OK
        text = " ".join(capsys.readouterr().out.split())
        assert "NO_COLOR and FORCE_COLOR" in text, command
    assert main(["--help"]) == ExitCode.OK
    assert "--version print the version and exit" in " ".join(capsys.readouterr().out.split())
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out.startswith("enricher 0.")


def test_a_run_under_nohup_leaves_hang_ups_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from enricher import app
    from enricher.models import RecordCounts, RunResult

    seen: list[object] = []

    async def finished_run(command: str, *args: object, **kwargs: object) -> RunResult:
        seen.extend(signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM))
        return RunResult(command, "", "", (), (), (), RecordCounts(read=1, unchanged=1))

    monkeypatch.setattr(app, "run", finished_run)
    (tmp_path / "r.md").write_text("---\ntitle: T\n---\n", encoding="utf-8")
    before = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        code, _, _ = _run(["check", str(tmp_path / "r.md"), *FAST])
    finally:
        signal.signal(signal.SIGHUP, before)
    assert code == ExitCode.OK
    assert seen[0] is signal.SIG_IGN and seen[1] not in (signal.SIG_IGN, signal.SIG_DFL)


def test_a_signal_after_the_runs_last_step_still_exits_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM that lands after the run's last await (the history committed, the loop
    closing) cancels nothing; it must still end the process as interrupted (exit 3), not be
    lost (exit 0 or 1). The run finished: its reports are written (they were skipped)."""
    from enricher import app
    from enricher.models import RecordCounts, RunResult

    async def finished_run(command: str, *args: object, **kwargs: object) -> RunResult:
        os.kill(os.getpid(), signal.SIGTERM)  # handled before the coroutine returns
        return RunResult(command, "", "", (), (), (), RecordCounts(read=1, unchanged=1))

    monkeypatch.setattr(app, "run", finished_run)
    (tmp_path / "r.md").write_text("---\ntitle: T\n---\n", encoding="utf-8")
    report = tmp_path / "report.json"
    code, _, err = _run(["check", str(tmp_path / "r.md"), *FAST, "--report", str(report),
                         "--quiet"])
    assert (code, err) == (ExitCode.ABORTED, "enricher: interrupted\n")
    assert json.loads(report.read_text(encoding="utf-8"))["records"]["read"] == 1


def test_a_folder_without_records_is_a_warning_not_silence(tmp_path: Path) -> None:
    """A moved or mistyped records folder: the nightly run passed (exit 0) without a word."""
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, "-m", "enricher", "check", str(tmp_path / "empty"),
                           "--no-state", "-q"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == ExitCode.OK
    assert proc.stderr == (f"enricher: warning: no records (*.md files) under "
                           f"{tmp_path / 'empty'}; check the paths\n")
    links = subprocess.run([sys.executable, "-m", "enricher", "links", str(tmp_path / "empty")],
                           capture_output=True, text=True, timeout=60)
    assert "enricher: warning: no records (*.md files) under" in links.stderr


def test_error_messages_show_control_characters_from_config_and_flags_as_escapes(
        tmp_path: Path) -> None:
    """A checked-out repository's enricher.toml is read without asking: a host name or path
    in it (or in a flag) that holds a terminal escape is shown escaped in the one-line
    error, never sent to the terminal."""
    (tmp_path / "a.md").write_text("---\nwebUrl: https://example.com/a\n---\n", "utf-8")
    (tmp_path / "d.toml").write_text('[hosts."a\\u001b[2J.com"]\nconcurrency = 1\n', "utf-8")
    for argv in (["--config", str(tmp_path / "d.toml")],
                 ["--report", str(tmp_path / "no\x1b[2J" / "r.json")],
                 ["--state", str(tmp_path / "a.md" / "\u202es.sqlite")]):
        err = io.StringIO()
        code = main(["check", str(tmp_path / "a.md"), *argv],
                    Env(stdout=io.StringIO(), stderr=err, find_config=False))
        assert code == ExitCode.USAGE, err.getvalue()
        text = err.getvalue()
        assert "\x1b" not in text and "\u202e" not in text, repr(text)
        assert "\\x1b[2J" in text or "\\u202e" in text, text
