"""``preflight.check_outputs`` on its own: which output paths are one file, which are the run
history, which the next run reads as records. (Through the CLI: tests/test_cli_outputs.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from enricher.preflight import check_network, check_outputs
from enricher.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_outputs_are_one_file_when_their_realpaths_are() -> None:
    Path("sub").mkdir()
    Path("to-sub").symlink_to("sub")
    check_outputs([("--results", "a.json"), ("--report", "sub/a.json")])
    with pytest.raises(ConfigError, match=r"^--report to-sub/a\.json: --report sub/a\.json "
                       "already writes to this file; give each output its own file$"):
        check_outputs([("--report", "sub/a.json"), ("--report", "to-sub/a.json")])


def test_dev_null_may_take_several_outputs() -> None:
    check_outputs([("--results", os.devnull), ("--report", os.devnull)])


@pytest.mark.parametrize("end", ["", ".lock", "-wal", "-shm", "-journal"])
def test_no_output_may_be_a_file_of_the_history(end: str) -> None:
    Path("db").mkdir()
    Path("alias.sqlite").symlink_to("db/state.sqlite")
    check_outputs([("--report", f"alias.sqlite{end}.json")], state="alias.sqlite")
    check_outputs([("--report", f"db/state.sqlite{end}")], state=None)  # --no-state
    for path in (f"db/state.sqlite{end}", f"db/../db/state.sqlite{end}"):
        with pytest.raises(ConfigError, match=r"is a file of the run history alias\.sqlite"):
            check_outputs([("--report", path)], state="alias.sqlite")


def test_a_record_named_output_is_refused_only_inside_a_folder_input() -> None:
    Path("news/deep").mkdir(parents=True)
    Path("news/a.md").write_text("---\ntitle: T\n---\n", encoding="utf-8")
    check_outputs([("--report", "news/links.md")], inputs=["news/a.md", "-"])
    check_outputs([("--report", "news/links.json")], inputs=["news"])
    check_outputs([("--report", "news.md")], inputs=["news"])  # beside it, not inside
    for path in ("news/links.md", "news/deep/x.Markdown"):
        with pytest.raises(ConfigError, match="a run over that folder would read it as a record"):
            check_outputs([("--report", path)], inputs=["news"])


def test_a_history_whose_folder_does_not_exist_is_said_once_before_the_run(
    tmp_path: Path
) -> None:
    """``--state /srv/sit/.enricher/state.sqlite`` (a typo) made the folders and started an
    empty history without a word: nothing confirmed dead any more."""
    from enricher.config import DEFAULT_STATE_FILE, Config
    from enricher.preflight import new_history

    typo = str(tmp_path / "sit" / ".enricher" / "state.sqlite")
    (line,) = new_history(Config(state_file=typo))
    assert line.startswith(f"the folder {tmp_path / 'sit' / '.enricher'} of the history {typo} "
                           "does not exist: this run creates it")
    assert new_history(Config(state_file=str(tmp_path / "state.sqlite"))) == ()  # folder is
    assert new_history(Config(state_file=DEFAULT_STATE_FILE)) == ()  # the default: made
    assert new_history(Config(state_file="")) == ()  # --no-state


@pytest.mark.parametrize(("flags", "environ", "toml", "named"), [
    ({"proxy": "ftp://p"}, {}, "", "--proxy 'ftp://p'"),
    ({}, {"ENRICHER_PROXY": "ftp://p"}, "", "ENRICHER_PROXY 'ftp://p'"),
    ({}, {}, 'proxy = "ftp://p"\n', "enricher.toml:1: proxy 'ftp://p'"),
    ({}, {}, '# CA\nca_bundle = "missing.pem"\n',
     "from missing.pem (set by {dir}/enricher.toml:2: ca_bundle)"),
    ({"ca_bundle": "missing.pem"}, {}, 'ca_bundle = "other.pem"\n',
     "from missing.pem (set by --ca-bundle)"),
])
def test_a_bad_proxy_or_ca_bundle_names_where_it_was_set(
        tmp_path: Path, flags: dict[str, object], environ: dict[str, str], toml: str,
        named: str) -> None:
    """The value was checked after the settings were merged: the one line still names the
    flag, variable or config file key that gave it."""
    if toml:
        (tmp_path / "enricher.toml").write_text(toml, encoding="utf-8")
    settings = load_settings(flags, environ=environ, cwd=tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_network(settings.config, {}, settings.labels)
    assert named.format(dir=tmp_path) in str(caught.value)


def test_an_open_files_limit_too_low_for_the_concurrency_is_a_warning() -> None:
    """A hard limit of 64 with --max-concurrency 128: sites failed with "Too many open
    files" as error/connect and records as unreadable, with nothing naming the limit."""
    from enricher.preflight import _few_open_files

    assert _few_open_files(128, hard=64) == (
        "the open-files limit is 64, too low for --max-concurrency 128 (it needs about 320): "
        "raise it (ulimit -n) or lower --max-concurrency",)
    assert _few_open_files(128, hard=4096) == ()
    assert _few_open_files(8, hard=100) == ()


def test_outputs_that_only_look_writable_are_refused_before_the_run(tmp_path: Path) -> None:
    """A symlink loop passed (realpath gives a name), and so did /proc (root passes
    os.access): the run fetched everything, then failed to write the report (exit 2 at the
    end). A real probe of the folder, and the loop, are checked first; a pipe is fine."""
    (tmp_path / "a.html").symlink_to("b.html")
    (tmp_path / "b.html").symlink_to("a.html")
    with pytest.raises(ConfigError, match=r"--report .*a\.html: is a symlink loop"):
        check_outputs([("--report", str(tmp_path / "a.html"))])
    with pytest.raises(ConfigError, match=r"--report /proc/r\.html: folder /proc cannot be "
                                          r"written \(.*\); choose another path"):
        check_outputs([("--report", "/proc/r.html")])
    read, write = os.pipe()
    try:
        check_outputs([("--results", f"/dev/fd/{write}")])  # a pipe is written to as it is
    finally:
        os.close(read)
        os.close(write)
    check_outputs([("--report", str(tmp_path / "r.html"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b.html"]  # no probe left
