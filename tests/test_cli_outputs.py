"""Where a run's files go, and what its walk reads: a report never replaces a record, a
symlink or a FIFO; last night's report in the records folder is not read as a record; an
unreadable subfolder or a FIFO among the inputs does not stop the run; usage errors are one
line. Records here hold no URL, so nothing is fetched."""

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


def test_last_nights_markdown_report_in_the_records_folder_is_not_read() -> None:
    _records(Path("news"), "a.md", "b.md")
    for _ in range(2):  # the second run finds the first one's report among the records
        code, _, err = _run(["check", "news", "--no-state", "--report", "news/links.md", "-q"])
        assert code == ExitCode.OK, err
        assert "links.md" not in err
    assert Path("news/links.md").read_text(encoding="utf-8").startswith("# ")


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
    assert "1 records read" in err


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
