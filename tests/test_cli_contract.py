"""The README as a contract: its option tables, ``--help`` and ``enricher.config`` agree.

Defaults live in ``enricher.config`` only; the README's tables and the help text show them.
Also the CLI behaviours the README promises that a user can get wrong: where the config file
comes from, outputs to stdout, and an ``--out`` that cannot be a folder.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from enricher import config
from enricher.cli import Env, ExitCode, main
from enricher.config import shown_duration
from enricher.preflight import check_outputs
from enricher.settings import ConfigError, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"

#: flag -> its default as ``enricher.config`` holds it, written as the README writes it
FLAG_DEFAULTS = {
    "--max-concurrency N": str(config.DEFAULT_MAX_CONCURRENCY),
    "--host-concurrency N": str(config.DEFAULT_HOST_CONCURRENCY),
    "--host-request-interval D": shown_duration(config.DEFAULT_HOST_REQUEST_INTERVAL),
    "--timeout D": shown_duration(config.DEFAULT_REQUEST_DEADLINE),
    "--connect-timeout D": shown_duration(config.DEFAULT_CONNECT_TIMEOUT),
    "--max-attempts N": str(config.DEFAULT_MAX_ATTEMPTS),
    "--max-redirects N": str(config.DEFAULT_MAX_REDIRECTS),
    "--fail-on STATUSES": ",".join(sorted(config.DEFAULT_FAIL_ON)),
    "--state FILE` / `--no-state": config.DEFAULT_STATE_FILE,
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("ENRICHER_")]:
        monkeypatch.delenv(name)


def _run(argv: list[str], environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Env(stdin=io.StringIO(), stdout=out, stderr=err, force_terminal=False,
                          environ=environ if environ is not None else {}))
    return code, out.getvalue(), err.getvalue()


def _readme_table(heading: str) -> dict[str, str]:
    """First column (without backticks) -> second column of the table under ``heading``."""
    text = README.read_text(encoding="utf-8").split(heading, 1)[1]
    rows: dict[str, str] = {}
    for line in text.split("\n|", 1)[1].splitlines():
        if not line.startswith("|") and rows:
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and not cells[0].startswith("---"):
            rows[cells[0].strip("`")] = cells[1].strip("`")
    return rows


def test_shown_duration_writes_defaults_as_the_readme_does() -> None:
    assert [shown_duration(s) for s in (0.1, 0.05, 10.0, 30.0, 1.5, 60.0, 7200, 315360000)] == [
        "100ms", "50ms", "10s", "30s", "1.5s", "60s", "2h", "3650d"]


def test_readme_option_table_shows_the_config_defaults() -> None:
    table = _readme_table("### Options of `check` and `enrich`")
    for flag, default in FLAG_DEFAULTS.items():
        assert table[flag] == default, flag
    report = _readme_table("### `enricher report`")
    assert report["--state FILE"] == config.DEFAULT_STATE_FILE
    assert report["--fail-on STATUSES"] == ",".join(sorted(config.DEFAULT_FAIL_ON))


@pytest.mark.parametrize("command", ["check", "enrich"])
def test_help_shows_the_config_defaults(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == ExitCode.OK
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in FLAG_DEFAULTS.items():
        name = flag.split()[0]
        help_line = text.split(f" {name} ", 1)[1]
        assert f"(default {default})" in help_line.split(" --", 1)[0], flag
    assert f"User-Agent header (default {config.DEFAULT_USER_AGENT})" in text


def test_help_of_dry_run_says_what_it_still_writes(capsys: pytest.CaptureFixture[str]) -> None:
    """``--dry-run`` writes no record and no history, but ``--results`` and reports are
    written as in any run: the help must not promise "nothing"."""
    assert main(["enrich", "--help"]) == ExitCode.OK
    text = " ".join(capsys.readouterr().out.split())
    assert "write nothing" not in text
    assert ("--dry-run show which records and keys would change; write no record and no"
            " history (--results and reports are written)") in text


def test_enricher_config_variable_names_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("host_concurrency = 2\n", encoding="utf-8")
    (tmp_path / "b.toml").write_text("host_concurrency = 3\n", encoding="utf-8")
    (tmp_path / "enricher.toml").write_text("host_concurrency = 1\n", encoding="utf-8")
    env = {"ENRICHER_CONFIG": str(tmp_path / "a.toml")}
    s = load_settings({}, environ=env, cwd=tmp_path)
    assert s.config.fetch.host_concurrency == 2 and s.source == str(tmp_path / "a.toml")
    s = load_settings({}, config_file=str(tmp_path / "b.toml"), environ=env, cwd=tmp_path)
    assert s.config.fetch.host_concurrency == 3  # --config wins over ENRICHER_CONFIG
    with pytest.raises(ConfigError, match=r"^ENRICHER_CONFIG .*missing.toml: no such file"):
        load_settings({}, environ={"ENRICHER_CONFIG": str(tmp_path / "missing.toml")})


def test_the_demo_ignores_enricher_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from enricher import demo

    monkeypatch.setattr(demo, "SLOW_DELAY", 0.05)
    (tmp_path / "broken.toml").write_text("no_such_key = 1\n", encoding="utf-8")
    monkeypatch.setenv("ENRICHER_CONFIG", str(tmp_path / "broken.toml"))
    err = io.StringIO()
    code = main(["demo", "--out", "d"], Env(stdout=io.StringIO(), stderr=err,
                                           force_terminal=False))
    assert code == ExitCode.OK, err.getvalue()


def test_a_folder_given_as_config_is_named_as_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--config .*: is a folder; give a TOML file$"):
        load_settings({}, config_file=str(tmp_path), environ={})


def test_only_one_output_may_go_to_stdout() -> None:
    check_outputs([("--results", "-")])
    check_outputs([("--report", "-")])
    with pytest.raises(ConfigError, match=r"^--report -: --results already writes to stdout"):
        check_outputs([("--results", "-"), ("--report", "-")])
    code, out, err = _run(["check", "x.md", "--results", "-", "--report", "-",
                           "--format", "json"])
    assert code == ExitCode.USAGE and out == ""
    assert err.count("\n") == 1 and "already writes to stdout" in err


def test_an_out_that_is_a_file_stops_before_anything_is_read(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\nwebUrl: 'https://x.invalid/'\n---\n", encoding="utf-8")
    (tmp_path / "afile").write_text("not a folder\n", encoding="utf-8")
    for out in ("afile", "afile/sub"):
        code, _, err = _run(["enrich", "a.md", "--no-state", "--out", out])
        assert code == ExitCode.USAGE, err
        assert err == f"enricher: --out {out}: afile is not a folder; choose another " \
            "output folder or use --in-place\n"
    assert not (tmp_path / ".enricher").exists()


def test_an_out_folder_that_cannot_be_written_stops_before_anything_is_fetched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found record by record after every URL was fetched, before. (os.access is replaced:
    the tests may run as root, for whom every folder is writable.)"""
    (tmp_path / "a.md").write_text("---\nwebUrl: 'https://x.invalid/'\n---\n", encoding="utf-8")
    (tmp_path / "locked").mkdir()
    real = os.access
    monkeypatch.setattr("enricher.preflight.os.access",
                        lambda path, mode: Path(path).name != "locked" and real(path, mode))
    for out in ("locked", "locked/sub"):
        code, _, err = _run(["enrich", "a.md", "--no-state", "--out", out])
        assert code == ExitCode.USAGE, err
        assert err == f"enricher: --out {out}: folder locked is not writable; choose another " \
            "output folder or use --in-place\n"


def test_an_interval_of_ten_seconds_or_more_gets_a_warning(tmp_path: Path) -> None:
    """A plain number is seconds: --host-request-interval 100, meant as 100 ms, is 100 s."""
    (tmp_path / "a.md").write_text("---\ntitle: No links\n---\n", encoding="utf-8")
    code, _, err = _run(["check", "a.md", "--no-state", "--host-request-interval", "100"])
    assert code == ExitCode.OK
    assert "enricher: warning: --host-request-interval is 100s: one request per 100s to a " \
        "host (a plain number is seconds: for milliseconds, write the unit, as in 100ms)" \
        in err, err
    code, _, err = _run(["check", "a.md", "--no-state", "--host-request-interval", "3650d"])
    assert "--host-request-interval is 3650d: one request per 3650d to a host" in err, err
    code, _, err = _run(["check", "a.md", "--no-state", "--host-request-interval", "2s"])
    assert code == ExitCode.OK and "warning" not in err
    (tmp_path / "enricher.toml").write_text('[hosts."slow.example"]\ninterval = 30\n',
                                            encoding="utf-8")
    code, _, err = _run(["check", "a.md", "--no-state"])
    assert '[hosts."slow.example"] interval is 30s: one request per 30s' in err, err


def test_readme_lists_the_report_formats_of_format() -> None:
    text = README.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `--format FMT` |")
            and "extension" in line]
    assert len(rows) == 2  # enricher report; check and enrich
    for row in rows:
        for fmt in ("json", "jsonl", "md", "csv", "html", "junit"):
            assert re.search(rf"`{fmt}`", row), fmt


def test_options_that_need_a_history_warn_without_one(tmp_path: Path) -> None:
    """--max-age and --prune-dead do nothing with --no-state: one warning line each (not an
    error: a one-off --no-state run need not edit a config file that sets them)."""
    (tmp_path / "a.md").write_text("---\ntitle: No links\n---\n", encoding="utf-8")
    code, _, err = _run(["enrich", "a.md", "--in-place", "--no-state", "--max-age", "20h",
                         "--prune-dead"])
    assert code == ExitCode.OK, err
    warnings = [line for line in err.splitlines() if line.startswith("enricher: warning:")]
    assert warnings == [
        "enricher: warning: --max-age has no effect without a history (--no-state, or an empty"
        " state setting): no result is reused",
        "enricher: warning: --prune-dead has no effect without a history (--no-state, or an"
        " empty state setting): nothing is ever confirmed dead, so nothing moves"]
    (tmp_path / "enricher.toml").write_text("prune_dead = true\n", encoding="utf-8")
    code, _, err = _run(["check", "a.md", "--no-state"])  # check never prunes
    assert code == ExitCode.OK and "warning" not in err
    code, _, err = _run(["enrich", "a.md", "--in-place", "--max-age", "20h"])  # a history
    assert code == ExitCode.OK and "warning" not in err
    # set in the config file or the environment: named as set there, not as a flag
    code, _, err = _run(["enrich", "a.md", "--in-place", "--no-state"],
                        environ={"ENRICHER_MAX_AGE": "20h"})
    assert "enricher.toml:1: prune_dead has no effect" in err, err
    assert "ENRICHER_MAX_AGE has no effect" in err, err
    (tmp_path / "enricher.toml").write_text('report = ["nodir/r.html"]\n', encoding="utf-8")
    code, _, err = _run(["check", "a.md", "--no-state"])
    assert code == ExitCode.USAGE and "enricher.toml:1: report nodir/r.html: folder nodir" in err


@pytest.mark.parametrize(("source", "patterns"), [
    ({"ENRICHER_EXCLUDE": r"/\d{2,4}/"}, (r"/\d{2,4}/",)),
    ({"toml": "exclude = '^https?://(a|b),c{1,2}'"}, ("^https?://(a|b),c{1,2}",)),
    ({"toml": "exclude = ['x{1,2}', 'y']"}, ("x{1,2}", "y")),
])
def test_a_regex_string_is_one_pattern_commas_included(
        tmp_path: Path, source: dict[str, str], patterns: tuple[str, ...]) -> None:
    if "toml" in source:
        (tmp_path / "enricher.toml").write_text(source.pop("toml") + "\n", encoding="utf-8")
    settings = load_settings({}, environ=source, cwd=tmp_path)
    assert settings.config.exclude == patterns


@pytest.mark.parametrize("command", [["report"], ["check", "a.md"], ["enrich", "a.md"]])
def test_a_state_that_is_a_folder_is_one_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: No links\n---\n", encoding="utf-8")
    (tmp_path / "hist").mkdir()
    code, _, err = _run([*command, "--state", "hist"])
    assert code == ExitCode.USAGE
    assert err == "enricher: hist is a folder; the history (--state, state) is a file, such as " \
        "hist/state.sqlite\n"
    assert list((tmp_path / "hist").iterdir()) == []
