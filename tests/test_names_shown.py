"""File names and paths from the file system or stdin reach the terminal escaped.

A record's name is data: an ESC sequence, a bidi override or a rich emoji code in it must
show as visible text on stderr (as ``ls -b`` would), never act on the terminal or turn
into something else. The CLI runs in-process, offline (URLs that are never fetched).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from enricher.cli import Env, main
from enricher.finding import UsageError, record_paths, stdin_paths

ESC_NAME = "d\x1b[32mGREEN\u202eX.md"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing (history, config) is read or written in the repo


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Env(stdin=io.StringIO(stdin), stdout=out, stderr=err, force_terminal=False))
    return code, out.getvalue(), err.getvalue()


def _record(path: Path, url: str = "ftp://example.com/never-fetched") -> Path:
    path.write_text(f'---\ntitle: "T"\nwebUrl: "{url}"\n---\nBody.\n', encoding="utf-8")
    return path


def test_dry_run_lines_escape_the_record_name(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    _record(folder / ESC_NAME)
    code, _, err = _run(["enrich", str(folder), "--in-place", "--dry-run", "--no-state"])
    assert code == 0, err
    (line,) = [ln for ln in err.splitlines() if "would change" in ln]
    assert "\x1b" not in err and "\u202e" not in err
    assert "d\\x1b[32mGREEN\\u202eX.md: linkCheck" in line


def test_stdin_skip_line_escapes_the_name() -> None:
    skipped: list[str] = []
    assert list(stdin_paths([f"/nonexistent/{ESC_NAME}\n"], skipped.append)) == []
    assert skipped == ["skipped /nonexistent/d\\x1b[32mGREEN\\u202eX.md: no such file"
                       " (listed on stdin)"]


def test_usage_errors_escape_the_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        list(record_paths([str(tmp_path / ESC_NAME)]))
    assert "\x1b" not in str(info.value) and "d\\x1b[32mGREEN" in str(info.value)


def test_emoji_codes_in_names_are_not_replaced(tmp_path: Path) -> None:
    """rich turns ``:skull:`` into an emoji even with markup off; a record error line
    must name the file as it is."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "x:skull:y.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    code, _, err = _run(["check", str(folder), "--no-state"])
    assert code == 2
    assert "x:skull:y.md:" in err and "\U0001f480" not in err
    code, _, err = _run(["links", str(folder)])
    assert code == 2
    assert "x:skull:y.md:" in err and "\U0001f480" not in err
