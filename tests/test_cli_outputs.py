"""Where a run's files go, and what its walk reads: a report never replaces a record, a
symlink, a FIFO, another output or the run history; a report the next run would read as a
record is refused, and one a glob reaches is not read; an unreadable subfolder or a FIFO
among the inputs does not stop the run; usage errors (an over-long name, a dangling
symlink) are one line, before the run. Records here hold no URL, so nothing is fetched."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest

from enricher import finding
from enricher.cli import Env, ExitCode, main

RECORD = "---\ntitle: A story\nexcerpt: no links here\n---\nbody\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Env(stdin=io.StringIO(stdin), stdout=out, stderr=err, force_terminal=False))
    return code, out.getvalue(), err.getvalue()


def _records(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        path.write_text(RECORD, encoding="utf-8")
    return paths


@pytest.mark.parametrize("option", ["--report", "--results"])
def test_a_report_over_a_record_is_refused_before_anything_runs(option: str) -> None:
    keep, _ = _records(Path("news"), "keep.md", "other.md")
    code, _, err = _run(["check", "news", "--no-state", option, str(keep)])
    assert code == ExitCode.USAGE and err.count("\n") == 1 and "Traceback" not in err
    assert f"{option} {keep}: is a record" in err
    assert keep.read_text(encoding="utf-8") == RECORD


def test_a_report_through_a_symlink_keeps_the_link() -> None:
    _records(Path("news"), "a.md")
    Path("real.json").write_text("old\n", encoding="utf-8")
    Path("link.json").symlink_to("real.json")
    code, _, err = _run(["check", "news", "--no-state", "-q", "--report", "link.json"])
    assert code == ExitCode.OK, err
    assert Path("link.json").is_symlink()
    assert json.loads(Path("real.json").read_text(encoding="utf-8"))["records"]["read"] == 1


def test_results_to_a_fifo_are_written_to_it_not_replaced_by_a_file() -> None:
    _records(Path("news"), "a.md")
    os.mkfifo("results.pipe")
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(Path("results.pipe").read_bytes()),
                              daemon=True)
    reader.start()
    code, _, err = _run(["check", "news", "--no-state", "-q", "--report", "results.pipe",
                         "--format", "json"])
    reader.join(timeout=30)
    assert not reader.is_alive(), "nothing was written to the FIFO"
    assert code == ExitCode.OK, err
    assert Path("results.pipe").is_fifo()
    assert json.loads(got[0])["records"]["read"] == 1


def test_an_unreadable_subfolder_is_a_record_error_and_the_run_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _records(Path("news/ok"), "a.md", "b.md")
    _records(Path("news/locked"), "c.md")
    listing = finding._listing

    def denied(folder: str) -> list[os.DirEntry[str]]:
        if folder.endswith("locked"):  # root reads any folder: the denial is simulated
            raise finding.UsageError(f"cannot read folder {folder}: Permission denied")
        return listing(folder)

    monkeypatch.setattr(finding, "_listing", denied)
    code, _, err = _run(["check", "news", "--no-state", "--results", "out.jsonl"])
    assert code == ExitCode.USAGE  # a record error: its records were not checked
    assert "news/locked: a folder that cannot be read" in err and "fix its permissions" in err
    assert "3 records read" in err and "1 failed" in err


def test_a_fifo_listed_on_stdin_is_skipped_and_the_rest_is_read() -> None:
    (record,) = _records(Path("news"), "a.md")
    os.mkfifo("not-a-record")
    code, _, err = _run(["check", "-", "--no-state"], stdin=f"{record}\nnot-a-record\n")
    assert code == ExitCode.OK, err
    assert "skipped (listed on stdin): input is neither a file nor a folder: not-a-record" in err
    assert "1 record read" in err


def test_a_history_path_that_is_a_symlink_loop_is_one_line() -> None:
    _records(Path("news"), "a.md")
    Path("l1").symlink_to("l2")
    Path("l2").symlink_to("l1")
    code, _, err = _run(["check", "news", "--state", "l1", "-q"])
    assert code == ExitCode.USAGE and err.count("\n") == 1 and "Traceback" not in err
    assert "cannot use l1" in err and "loop of symlinks" in err


@pytest.mark.parametrize(("fmt", "start"), [("xml", "<?xml"), ("markdown", "# "),
                                            ("htm", "<!doctype html>")])
def test_format_aliases_are_accepted(fmt: str, start: str) -> None:
    _records(Path("news"), "a.md")
    code, _, err = _run(["check", "news", "--no-state", "-q", "--report", "out.bin",
                         "--format", fmt])
    assert code == ExitCode.OK, err
    assert Path("out.bin").read_text(encoding="utf-8").startswith(start)


@pytest.mark.parametrize("argv", [["check", "news", "--bogus"], ["check", "--max-concurrency"],
                                  ["enrich", "news", "--in-plcae"], ["bogus"]])
def test_usage_errors_are_one_line_naming_the_help(argv: list[str]) -> None:
    code, out, err = _run(argv)
    assert code == ExitCode.USAGE and out == ""
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert err.startswith("enricher") and "--help'" in err


def test_a_history_whose_lock_or_folder_is_not_what_it_must_be_is_named() -> None:
    _records(Path("news"), "a.md")
    Path("s.sqlite.lock").mkdir()
    code, _, err = _run(["check", "news", "--state", "s.sqlite", "-q"])
    assert code == ExitCode.USAGE and err.count("\n") == 1
    assert "the lock file" in err and "s.sqlite.lock (Is a directory)" in err
    Path("afile").write_text("a file\n", encoding="utf-8")
    code, _, err = _run(["check", "news", "--state", "afile/s.sqlite", "-q"])
    assert code == ExitCode.USAGE and err.count("\n") == 1
    assert "a folder on its path is a file; choose another --state" in err


def test_a_config_that_is_no_file_and_an_empty_demo_folder_say_what_they_are() -> None:
    os.mkfifo("fifo.toml")
    Path("l1.toml").symlink_to("l2.toml")
    Path("l2.toml").symlink_to("l1.toml")
    for name in ("fifo.toml", "l1.toml"):
        code, _, err = _run(["links", ".", "--config", name])
        assert code == ExitCode.USAGE and err.count("\n") == 1
        assert f"--config {name}: is no regular file" in err
    code, _, err = _run(["links", ".", "--config", "missing.toml"])
    assert "--config missing.toml: no such file" in err
    code, _, err = _run(["demo", "--out", ""])
    assert code == ExitCode.USAGE and err == (
        "enricher: --out '': empty folder name; give a folder such as enricher-demo/\n")


def test_a_policy_switched_off_by_a_config_file_or_variable_is_said(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """allow_private from an enricher.toml in a folder above, or from the cron job's
    environment, turns SSRF protection off: the run says so in one warning line; the flag on
    the command line needs no warning."""
    _records(Path("news"), "a.md")
    Path("enricher.toml").write_text("allow_private = true\n", encoding="utf-8")
    code, _, err = _run(["check", "news", "--no-state"])
    assert code == ExitCode.OK, err
    assert "enricher: warning: the address policy is off (allow_private, from " in err
    assert "enricher.toml)" in err
    code, _, err = _run(["check", "news", "--no-state", "--allow-private"])
    assert "address policy is off" not in err
    Path("enricher.toml").unlink()
    out, errs = io.StringIO(), io.StringIO()
    code = main(["check", "news", "--no-state"],
                Env(stdin=io.StringIO(), stdout=out, stderr=errs, force_terminal=False,
                    environ={"ENRICHER_ALLOW_PRIVATE": "yes"}))
    assert "(allow_private, from ENRICHER_ALLOW_PRIVATE)" in errs.getvalue()


LONG = "c" * 300  # a name component over the 255 bytes a file system allows


@pytest.mark.parametrize("argv", [
    ["check", "news", "--report", f"{LONG}.md"],
    ["check", "news", "--results", f"{LONG}.json"],
    ["check", "news", "--results", f"{LONG}/r.json"],
    ["enrich", "news", "--out", LONG],
    ["enrich", "news", "--out", f"{LONG}/sub"],
    ["check", "news", "--config", f"{LONG}.toml"],
])
def test_an_over_long_name_is_one_line_not_a_traceback(argv: list[str]) -> None:
    _records(Path("news"), "a.md")
    code, _, err = _run([*argv, "--no-state"])
    assert code == ExitCode.USAGE and err.count("\n") == 1, err
    assert f"{argv[2]} {argv[3]}: " in err and "(File name too long)" in err


@pytest.mark.parametrize("argv", [
    ["--results", "out.json", "--report", "./out.json"],
    ["--report", "out.json", "--report", "sub/../out.json"],
    ["--report", "out.json", "--report", "link.json"],
    ["--results", "link.json", "--report", "out.json"],
])
def test_two_outputs_naming_one_file_are_refused_before_the_run(argv: list[str]) -> None:
    _records(Path("news"), "a.md")
    Path("sub").mkdir()
    Path("link.json").symlink_to("out.json")
    code, _, err = _run(["check", "news", "--no-state", *argv])
    assert code == ExitCode.USAGE and err.count("\n") == 1, err
    assert f"{argv[2]} {argv[3]}: {argv[0]} {argv[1]} already writes to this file" in err
    assert not Path("out.json").exists()


def test_results_on_stdout_and_a_report_to_dev_stdout_are_refused() -> None:
    _records(Path("news"), "a.md")
    code, out, err = _run(["check", "news", "--no-state", "--results", "-", "--report",
                           "/dev/stdout", "--format", "json"])
    assert code == ExitCode.USAGE and out == "" and err == (
        "enricher: --report /dev/stdout: --results - already writes to stdout; "
        "write one of them to a file\n")


@pytest.mark.parametrize("end", ["", ".lock", "-wal", "-shm", "-journal"])
@pytest.mark.parametrize("option", ["--report", "--results"])
def test_an_output_over_the_run_history_is_refused_before_the_run(option: str,
                                                                   end: str) -> None:
    _records(Path("news"), "a.md")
    fmt = ["--format", "json"] if option == "--report" else []  # --format is --report's
    code, _, err = _run(["check", "news", "--state", "hist.sqlite", *fmt,
                         option, f"hist.sqlite{end}"])
    assert code == ExitCode.USAGE and err.count("\n") == 1, err
    assert f"{option} hist.sqlite{end}: is a file of the run history hist.sqlite" in err
    assert not Path("hist.sqlite").exists()  # refused before the history was opened


def test_the_default_history_and_enricher_report_s_history_are_protected_too() -> None:
    _records(Path("news"), "a.md")
    Path(".enricher").mkdir()
    code, _, err = _run(["check", "news", "--results", ".enricher/state.sqlite"])
    assert code == ExitCode.USAGE and "is a file of the run history" in err, err
    assert not Path(".enricher/state.sqlite").exists()
    assert _run(["check", "news", "-q", "--state", "h.sqlite"])[0] == ExitCode.OK
    Path("alias.json").symlink_to("h.sqlite")
    code, _, err = _run(["report", "--state", "h.sqlite", "--report", "alias.json"])
    assert code == ExitCode.USAGE and err.count("\n") == 1, err
    assert "--report alias.json: is a file of the run history h.sqlite" in err
    assert _run(["report", "--state", "h.sqlite", "-q"])[0] == ExitCode.OK  # still whole


def test_a_report_through_a_dangling_symlink_stops_before_the_run() -> None:
    _records(Path("news"), "a.md")
    Path("dangling.md").symlink_to("nowhere/x.md")
    code, _, err = _run(["check", "news", "--no-state", "--report", "dangling.md"])
    assert code == ExitCode.USAGE and err.count("\n") == 1, err  # no run, so no summary
    assert "--report dangling.md: folder " in err and "nowhere does not exist" in err
    assert Path("dangling.md").is_symlink()


@pytest.mark.parametrize(("inputs", "report"), [
    (["news"], "news/links.md"),
    (["./news/"], "news/sub/links.MARKDOWN"),
    (["news/a.md", "news/sub"], "news/sub/../sub/links.md"),
    (["news"], "inside.md"),  # a symlink into news
    (["news/**/*.md"], "news/links.md"),  # a glob's folder: `check news` would read it
    (["news/sub/*.md"], "news/sub/links.md"),
])
def test_a_report_the_next_run_would_read_as_a_record_is_refused(inputs: list[str],
                                                                  report: str) -> None:
    _records(Path("news/sub"), "a.md")
    _records(Path("news"), "a.md")
    Path("inside.md").symlink_to("news/links.md")
    code, _, err = _run(["check", *inputs, "--no-state", "--report", report, "--format", "md"])
    assert code == ExitCode.USAGE and err.count("\n") == 1, err
    assert f"--report {report}: is inside an input folder (" in err
    assert "), so a run over that folder would read it as a record; write it elsewhere" in err
    assert not Path("news/links.md").exists() and not Path("news/sub/links.md").exists()


@pytest.mark.parametrize("argv", [["news/a.md", "--report", "news/links.md"],
                                  ["news", "--report", "news/links.html"],
                                  ["news", "--report", "links.md"]])
def test_a_report_no_run_reads_as_a_record_is_written(argv: list[str]) -> None:
    _records(Path("news"), "a.md")
    code, _, err = _run(["check", "--no-state", "-q", *argv])
    assert code == ExitCode.OK, err
    assert Path(argv[-1]).is_file()


@pytest.mark.parametrize(("argv", "start"), [
    (["check", "news", "--no-state", "-q", "--report", "out.bin", "--format", "MD"], "# "),
    (["check", "news", "--no-state", "-q", "--report", "out.bin", "--format", "Json"], "{"),
    (["links", "news", "--format", "JSONL"], ""),
])
def test_format_names_are_accepted_in_any_case(argv: list[str], start: str) -> None:
    _records(Path("news"), "a.md")
    code, _, err = _run(argv)
    assert code == ExitCode.OK, err
    if start:
        assert Path("out.bin").read_text(encoding="utf-8").startswith(start)


@pytest.mark.parametrize("argv", [
    ["check", "news", "--state", f"{LONG}.sqlite"],
    ["report", "--state", f"{LONG}.sqlite"],
])
def test_an_over_long_history_name_is_one_line_not_a_traceback(argv: list[str]) -> None:
    _records(Path("news"), "a.md")
    code, _, err = _run(argv)
    assert code == ExitCode.USAGE and err.count("\n") == 1, err
    assert f"{LONG}.sqlite (File name too long); choose another --state" in err


def test_the_live_display_keeps_a_long_url_on_one_line() -> None:
    """The slowest request's URL is cut with an ellipsis at the terminal's width; it wrapped
    onto a second line at 80 columns."""
    import time

    from rich.console import Console

    from enricher.progress import RichReporter

    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False, color_system=None)
    url = "https://www.example.com/" + "a-very-long-slug-" * 10
    reporter = RichReporter(console, False, lambda: {url: time.monotonic() - 5})
    try:
        console.print(reporter._render())
    finally:
        reporter.close()
    lines = buf.getvalue().splitlines()
    assert any("slowest" in line and line.rstrip().endswith("…") for line in lines)
    assert all("slug" not in line or "slowest" in line for line in lines)  # no wrapped rest
    assert all(len(line) <= 80 for line in lines)


def test_the_live_display_at_40_columns_keeps_its_numbers_readable() -> None:
    """At 40 columns the bar, rate and elapsed time squeezed done/total to ``8…`` and the
    ETA to ``0:…``; a narrow terminal shows the counts whole and drops the rest."""
    from rich.console import Console

    from enricher.models import LinkKind, LinkResult, LinkStatus
    from enricher.progress import RichReporter

    buf = io.StringIO()
    console = Console(file=buf, width=40, force_terminal=False, color_system=None)
    reporter = RichReporter(console, False, None)
    try:
        reporter.phase("checking links", 100)
        for n in range(89):
            reporter.advance(LinkResult(url=f"https://a.example/{n}", kind=LinkKind.PAGE,
                                        status=LinkStatus.OK, reason="ok"))
        console.print(reporter._render())
    finally:
        reporter.close()
    text = buf.getvalue()
    assert "89/100" in text and "89%" in text, text
    assert all(len(line) <= 40 for line in text.splitlines())
