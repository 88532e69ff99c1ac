"""``enricher demo`` (enricher/demo): self-contained, honours --no-color, prints paths as
they are and only those that exist."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from enricher import demo
from enricher.cli import Env, ExitCode, main

COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-8]|9[0-7]|4[0-8]|10[0-7])(?:;\d+)*m")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "SLOW_DELAY", 0.05)  # the slow host need not take a second here
    for name in ("FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


def _demo(*argv: str, terminal: bool | None = False) -> tuple[int, str]:
    err = io.StringIO()
    code = main(["demo", *argv], Env(stdout=io.StringIO(), stderr=err, force_terminal=terminal))
    return code, err.getvalue()


def test_no_color_reaches_the_inner_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    code, err = _demo("--out", str(tmp_path / "coloured"), terminal=True)
    assert code == ExitCode.OK, err
    assert COLOUR.search(err) and "Links by status" in err  # the inner run writes to env
    code, err = _demo("--out", str(tmp_path / "plain"), "--no-color", terminal=True)
    assert code == ExitCode.OK, err
    assert "Links by status" in err and not COLOUR.search(err), repr(err[:400])
    assert capsys.readouterr() == ("", "")  # nothing went around the given streams


def test_the_working_folders_config_and_variables_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "enricher.toml"
    config.write_text(
        'in_place = true\nreport = ["stray.html"]\nstate = "stray.sqlite"\n'
        'fail_on = ["ok"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("ENRICHER_RESULTS", "stray.jsonl")
    monkeypatch.setenv("ENRICHER_HOST_CONCURRENCY", "lots")  # an error, were it read
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):  # the demo web is local: no proxy
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: refused
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))  # an error, were it read
    code, err = _demo("--out", "d")
    assert code == ExitCode.OK, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "enricher.toml"]
    assert (tmp_path / "d" / "report.html").is_file()
    assert sorted(p.name for p in (tmp_path / "d" / "enriched").glob("*.md")) == sorted(
        p.name for p in (tmp_path / "d" / "records").glob("*.md")
    )
    config.write_text('in_place = true\nout = "x"\n', encoding="utf-8")  # broken, unread
    assert _demo("--out", "d2")[0] == ExitCode.OK


@pytest.mark.parametrize("name", ["demo[/x]", "demo[red]", "demo:thumbs_up:", "-demo"])
def test_paths_are_printed_as_they_are(tmp_path: Path, name: str) -> None:
    code, err = _demo(f"--out={name}")
    assert code == ExitCode.OK, err
    assert f"records:  {name}/records\n" in err
    assert f"{name}/enriched/2026-11-20-bike-lanes.md (front matter):" in err
    assert f"HTML report: {name}/report.html\n" in err
    assert (tmp_path / name / "report.html").is_file()


def test_a_failed_inner_run_names_no_report_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "d" / "report.html").mkdir(parents=True)  # the report cannot be written
    code, err = _demo("--out", "d")
    assert code == ExitCode.USAGE, err
    assert "report.html: is a folder" in err and "HTML report:" not in err


def test_an_unwritable_demo_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x\n", encoding="utf-8")
    code, err = _demo("--out", "afile/d")
    assert code == ExitCode.USAGE
    assert err == "enricher: --out afile/d: cannot write the demo there (Not a directory); " \
        "choose another folder\n"
