"""The write stage: where ``--out`` copies go (a layout fixed by the command line), ``--out``
never onto the input records, and a record counts as changed only once written.

No network: every record's URL is invalid, which is checked without a request.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from enricher import app, records
from enricher.cli import Env, ExitCode, main
from enricher.config import Config
from enricher.progress import QuietReporter

FAST = ["--no-state", "--allow-private", "--host-request-interval", "1ms", "-q"]
TEXT = "---\ntitle: {}\nwebUrl: not a url\n---\nbody\n"  # invalid: checked without a request


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no history or config of the repo


def _run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=err, force_terminal=False,
              find_config=False)
    return main(["enrich", *argv, *FAST], env), err.getvalue()


def _record(path: Path, title: str = "T") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEXT.format(title), encoding="utf-8")
    return path


def _copies(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.md"))


def test_inputs_root_comes_from_the_command_line_as_given(tmp_path: Path) -> None:
    news = tmp_path / "news"
    _record(news / "2024" / "a.md")
    (news / "2025").mkdir()
    (tmp_path / "alias").symlink_to(news, target_is_directory=True)
    assert records.inputs_root([str(news)]) == news
    assert records.inputs_root([str(news / "2024" / "a.md")]) == news / "2024"
    assert records.inputs_root([str(news / "2024" / "a.md"), str(news / "2025")]) == news
    assert records.inputs_root([f"{news}/**/*.md"]) == news  # a glob: before its wildcard
    assert records.inputs_root([f"{news}/20*/a.md"]) == news
    assert records.inputs_root(["*.md"]) == tmp_path
    assert records.inputs_root([str(tmp_path / "alias")]) == tmp_path / "alias"  # unresolved
    listed = [str(news / "2024" / "a.md"), str(news / "2025" / "b.md")]
    assert records.inputs_root(["-"], listed) == news  # stdin: the paths it listed
    assert records.inputs_root([str(news / "2024")], listed) == news / "2024"  # no "-"


def test_out_layout_depends_on_the_command_line_not_on_readable_records(
    tmp_path: Path,
) -> None:
    """An unreadable record, or a symlinked one whose file lies elsewhere, does not move
    the copies: each night writes the same paths (the last copy carries ``since``)."""
    news = tmp_path / "news"
    _record(news / "2024" / "a.md")
    _record(news / "2024" / "b.md")
    broken = news / "2025" / "c.md"
    broken.parent.mkdir()
    broken.write_text("---\ntitle: C\n- bad\n---\n", encoding="utf-8")
    code, err = _run("news", "--out", "out")
    assert code == ExitCode.USAGE and "c.md" in err
    assert _copies(tmp_path / "out") == ["2024/a.md", "2024/b.md"]
    _record(broken)  # fixed the next day
    _record(tmp_path / "elsewhere" / "e.md")
    (news / "2025" / "e.md").symlink_to("../../elsewhere/e.md")
    code, err = _run("news", "--out", "out")
    assert code == ExitCode.OK, err
    assert _copies(tmp_path / "out") == ["2024/a.md", "2024/b.md", "2025/c.md", "2025/e.md"]
    code, err = _run("news/**/*.md", "--out", "globbed")
    assert code == ExitCode.OK, err
    assert _copies(tmp_path / "globbed") == _copies(tmp_path / "out")
    code, err = _run("news/2024/a.md", "--out", "one")
    assert code == ExitCode.OK, err
    assert _copies(tmp_path / "one") == ["a.md"]


@pytest.mark.parametrize(
    "argv",
    [
        ["news/a.md", "--out", "news"],
        ["news/*.md", "--out", "news"],
        ["news", "--out", "news"],
        ["news", "--out", "alias"],  # the same folder through a symlink
        [".", "--out", "."],
    ],
)
def test_out_onto_the_input_records_stops_before_fetching(
    tmp_path: Path, argv: list[str]
) -> None:
    record = _record(tmp_path / "news" / "a.md")
    (tmp_path / "alias").symlink_to("news", target_is_directory=True)
    before = record.read_bytes()
    code, err = _run(*argv)
    assert code == ExitCode.USAGE
    assert err.count("\n") == 1, err  # one line, no summary: nothing was fetched
    assert f"--out {argv[-1]} is the folder of the input records" in err
    assert "choose another --out folder or use --in-place" in err
    assert record.read_bytes() == before


def test_an_out_copy_that_is_the_record_itself_is_not_written(tmp_path: Path) -> None:
    """A copy's path that leads to its own record (a symlink left in the output folder) is
    refused, named, and the record keeps its bytes."""
    record = _record(tmp_path / "news" / "a.md")
    before = record.read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.md").symlink_to("../news/a.md")
    _record(tmp_path / "news" / "b.md")
    code, err = _run("news", "--out", "out")
    assert code == ExitCode.USAGE
    assert "a.md: cannot write" in err and "it is the record itself" in err
    assert record.read_bytes() == before
    assert (tmp_path / "out" / "b.md").read_bytes() != (tmp_path / "news" / "b.md").read_bytes()


@pytest.mark.parametrize("link", ["file", "folder"])
def test_an_out_copy_through_a_symlink_never_overwrites_another_file(
    tmp_path: Path, link: str
) -> None:
    """A symlink in the output folder (the copy's own path, or a folder on its way) that
    leads to another record is refused and named: writing through it replaced that record
    with this one's copy, with exit 0."""
    _record(tmp_path / "news" / "sub" / "a.md")
    other = _record(tmp_path / "elsewhere" / "a.md")
    before = other.read_bytes()
    (tmp_path / "out").mkdir()
    if link == "file":
        (tmp_path / "out" / "sub").mkdir()
        (tmp_path / "out" / "sub" / "a.md").symlink_to("../../elsewhere/a.md")
    else:
        (tmp_path / "out" / "sub").symlink_to("../elsewhere", target_is_directory=True)
    _record(tmp_path / "news" / "b.md")
    code, err = _run("news", "--out", "out")
    assert code == ExitCode.USAGE
    assert "a.md: cannot write" in err and "(a symlink); a copy is only written" in err
    assert other.read_bytes() == before
    assert (tmp_path / "out" / "b.md").read_bytes() != (tmp_path / "news" / "b.md").read_bytes()


def _write_phase(paths: list[Path], config: Config) -> app.WriteTally:
    tally = app.WriteTally()
    reporter = QuietReporter(Console(file=io.StringIO()), False)
    asyncio.run(app.write_phase([(p, p.name) for p in paths], {}, config, reporter,
                                "2026-11-27T00:00:00Z", tally=tally))
    return tally


def test_a_record_counts_as_changed_only_once_written(tmp_path: Path) -> None:
    locked = [_record(tmp_path / f"r{i}.md") for i in range(3)]
    for path in locked:
        path.chmod(0o444)  # refused even for root: no write bit
    writable = _record(tmp_path / "w.md")
    tally = _write_phase([*locked, writable], Config(in_place=True))
    assert (tally.changed, tally.unchanged, tally.failed) == (1, 0, 3)
    assert all("read-only" in e.message for e in tally.errors)
    again = _write_phase([*locked, writable], Config(in_place=True))
    assert (again.changed, again.unchanged, again.failed) == (0, 1, 3)
    dry = _write_phase(locked, Config(in_place=True, dry_run=True))
    assert (dry.changed, dry.failed) == (3, 0)  # a dry run counts what would change



def test_copies_whose_record_is_gone_are_named_never_deleted(tmp_path: Path) -> None:
    """A record renamed or deleted since the last run leaves its --out copy: the run names
    it (the rest counted) and leaves it; a record merely not named this time is not stale,
    nor are the records themselves when the input folder lies inside --out."""
    news = tmp_path / "news"
    for name in ("a", "b", "c", "d", "e"):
        _record(news / "2024" / f"{name}.md")
    assert _run("news", "--out", "out")[0] == ExitCode.OK
    code, err = _run("news", "--out", "out")
    assert code == ExitCode.OK and "no longer" not in err, err
    for name in ("b", "c", "d", "e"):
        (news / "2024" / f"{name}.md").unlink()
    code, err = _run("news", "--out", "out")
    assert code == ExitCode.OK, err
    assert f"4 copies under out no longer have a record under {news} (renamed" in err
    assert "out/2024/b.md, out/2024/c.md, out/2024/d.md and 1 more" in err
    assert _copies(tmp_path / "out") == ["2024/a.md", "2024/b.md", "2024/c.md", "2024/d.md",
                                         "2024/e.md"]
    code, err = _run("news/2024/a.md", "--out", "one")  # b..e never went to "one"
    assert code == ExitCode.OK and "no longer" not in err, err
    _record(tmp_path / "site" / "_news" / "x.md")
    code, err = _run("site/_news", "--out", "site")  # the records sit inside --out
    assert code == ExitCode.OK and "no longer" not in err, err
    assert (tmp_path / "site" / "x.md").is_file()
    (tmp_path / "site" / "_news" / "x.md").unlink()
    _record(tmp_path / "site" / "_news" / "y.md")
    code, err = _run("site/_news", "--out", "site")
    assert f"1 copy under site no longer has a record under {tmp_path}/site/_news" in err, err
    assert "site/x.md;" in err


def test_a_bug_on_one_record_leaves_it_unchanged_and_the_others_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception while editing one record (an enricher bug) is that record's
    error, with its name; the run goes on with the rest."""
    from enricher import writing

    real = writing.build_edits

    def flaky(data: dict[str, object], *args: object, **kw: object) -> object:
        if data.get("title") == "bad":
            raise TypeError("unhashable type: 'list'")
        return real(data, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(writing, "build_edits", flaky)
    bad, good = _record(tmp_path / "a.md", "bad"), _record(tmp_path / "b.md")
    before = bad.read_bytes()
    tally = _write_phase([bad, good], Config(in_place=True))
    assert (tally.changed, tally.failed) == (1, 1)
    assert bad.read_bytes() == before and b"linkCheck" in good.read_bytes()
    assert str(tally.errors[0]) == ("a.md:1: left unchanged: enricher failed on this record "
                                    "(TypeError: unhashable type: 'list'); please report it")


def _partly_written(path: Path, results: dict[str, Any], config: Config
                   ) -> tuple[str, dict[str, Any]]:
    """Write one record that a fix-up cannot fully edit: its one error and its new data."""
    tally = app.WriteTally()
    reporter = QuietReporter(Console(file=io.StringIO()), False)
    asyncio.run(app.write_phase([(path, path.name)], results, config, reporter,
                                "2026-11-27T00:00:00Z", tally=tally))
    assert (tally.changed, tally.failed, tally.partial) == (1, 0, 1)
    (error,) = tally.errors
    record = records.read_record(path, path.name)
    assert isinstance(record, records.Record)
    return error.message, dict(record.data)


def _anchored_title(tmp_path: Path) -> tuple[Path, str, Any]:
    """A record whose empty related[0].title is anchored and repeated by an alias (no fill
    fits), and its page's result (title and description to fill from)."""
    from enricher.models import LinkKind, LinkResult, LinkStatus, PageMeta

    url = "https://a.example/ok2"
    path = tmp_path / "r.md"
    path.write_text(f"---\nrelated:\n  - title: &t ''\n    webUrl: {url}\n"
                    "  - title: *t\n    webUrl: not a url\n---\nbody\n", encoding="utf-8")
    page = LinkResult(url=url, kind=LinkKind.PAGE, status=LinkStatus.OK, reason="http_200",
                      http_status=200, page=PageMeta(title="Filled", description="D"))
    return path, url, page


def test_a_value_fill_missing_cannot_fill_leaves_the_other_edits_written(tmp_path: Path) -> None:
    """An anchored empty title that an alias repeats cannot be filled without changing the
    alias too: --fill-missing leaves it, names it, and the record still gets its linkCheck
    (before, the whole record was refused) and its other fills (the item's excerpt: before,
    one unfillable value left every value of the record empty)."""
    path, url, page = _anchored_title(tmp_path)
    message, data = _partly_written(path, {url: page}, Config(in_place=True, fill_missing=True))
    assert "--fill-missing left related[0].title as it is: " in message
    related = data["related"]
    assert related[0]["title"] == "" and related[1]["title"] == ""  # the alias still holds
    assert related[0]["linkCheck"]["webUrl"]["status"] == "ok"
    assert related[0]["livePage"]["title"] == "Filled"
    assert related[0]["excerpt"] == "D"


def test_a_dry_run_names_only_the_keys_whose_value_changes(tmp_path: Path) -> None:
    """The page's description changed since the last run: the dry run names ``livePage``,
    not every key enricher writes (``linkCheck`` is the same)."""
    from enricher.models import LinkKind, LinkResult, LinkStatus, PageMeta

    url = "https://a.example/x"
    path = tmp_path / "a.md"
    path.write_text(f"---\ntitle: T\nwebUrl: {url}\n---\nbody\n", encoding="utf-8")

    def results(description: str) -> dict[str, LinkResult]:
        page = PageMeta(title="T", description=description)
        return {url: LinkResult(url, LinkKind.PAGE, LinkStatus.OK, "http_200", http_status=200,
                                checked_at="2026-11-27T00:00:00Z", page=page)}

    def phase(config: Config, description: str, lines: list[str] | None = None) -> None:
        reporter = QuietReporter(Console(file=io.StringIO()), False)
        asyncio.run(app.write_phase([(path, "a.md")], results(description), config, reporter,
                                    "2026-11-27T00:00:00Z", lines))

    phase(Config(in_place=True), "The vote was 7-2.")
    written = path.read_bytes()
    lines: list[str] = []
    phase(Config(in_place=True, dry_run=True), "The vote was 7-2, after a long debate.", lines)
    assert lines == ["a.md: livePage"]
    assert path.read_bytes() == written


def test_an_anchored_url_update_redirects_cannot_fix_leaves_the_other_edits_written(
    tmp_path: Path
) -> None:
    """An anchored URL that a non-URL field repeats cannot be replaced by its redirect target
    without changing that field: --update-redirects leaves it and says so, and the record
    still gets its linkCheck (before, every night refused the whole record)."""
    from enricher.models import LinkKind, LinkResult, LinkStatus

    old, new = "https://a.example/old", "https://a.example/new"
    path = tmp_path / "r.md"
    path.write_text(f'---\ntitle: T\nwebUrl: &w "{old}"\nsource: *w\n---\nbody\n',
                    encoding="utf-8")
    moved = LinkResult(url=old, kind=LinkKind.PAGE, status=LinkStatus.REDIRECTED,
                       reason="moved_permanently", http_status=200, final_url=new)
    message, data = _partly_written(path, {old: moved},
                                    Config(in_place=True, update_redirects=True))
    assert "--update-redirects left webUrl as it is: " in message
    assert data["webUrl"] == data["source"] == old
    assert data["linkCheck"]["webUrl"]["status"] == "redirected"
    assert data["linkCheck"]["webUrl"]["finalUrl"] == new


def test_one_anchored_url_no_longer_stops_the_records_other_url_fixes(tmp_path: Path) -> None:
    """From an audit: a related item's URL that an alias repeats stopped --update-redirects
    for every URL of the record, on every run, and the error named the record's first edit's
    line. Now only that URL stays (its entry still says redirected), the others are fixed
    (their entries describe the new URL), and the error names the anchored field's line."""
    from enricher.models import LinkKind, LinkResult, LinkStatus

    def moved(n: int) -> LinkResult:
        return LinkResult(url=f"https://a.example/moved/{n}", kind=LinkKind.PAGE,
                          status=LinkStatus.REDIRECTED, reason="moved_permanently",
                          http_status=200, final_url=f"https://a.example/new/{n}")

    path = tmp_path / "r.md"
    path.write_text("---\ntitle: T\nwebUrl: https://a.example/moved/1\nrelated:\n"
                    "  - title: R\n    webUrl: &w https://a.example/moved/5\n"
                    "    shareUrl: *w\n---\nbody\n", encoding="utf-8")
    results = {r.url: r for r in (moved(1), moved(5))}
    message, data = _partly_written(path, results, Config(in_place=True, update_redirects=True))
    assert message.startswith("--update-redirects left related[0].webUrl as it is: ")
    assert data["webUrl"] == "https://a.example/new/1"
    assert data["linkCheck"]["webUrl"]["status"] == "ok"
    assert data["linkCheck"]["webUrl"]["previousUrl"] == "https://a.example/moved/1"
    item = data["related"][0]
    assert item["webUrl"] == item["shareUrl"] == "https://a.example/moved/5"
    assert item["linkCheck"]["webUrl"]["status"] == "redirected"
    tally = app.WriteTally()
    path.write_text("---\ntitle: T\nwebUrl: https://a.example/moved/1\nrelated:\n"
                    "  - title: R\n    webUrl: &w https://a.example/moved/5\n"
                    "    shareUrl: *w\n---\nbody\n", encoding="utf-8")
    asyncio.run(app.write_phase([(path, path.name)], results,
                                Config(in_place=True, update_redirects=True),
                                QuietReporter(Console(file=io.StringIO()), False),
                                "2026-11-27T00:00:00Z", tally=tally))
    assert tally.errors[0].line == 6  # the anchored URL's line, not the first edit's (3)


def test_fix_ups_that_do_not_fit_are_found_by_halving() -> None:
    """From a review: every URL fix was tried alone, each trial a rebuild of the record, so a
    record at the 2,000-URL cap with one anchored URL took minutes every night. The ones that
    fit are found with a few trials per value that does not."""
    from enricher.writing import _fitting

    names = [((), f"k{i}") for i in range(2000)]
    bad = {names[7], names[1500]}
    trials: list[int] = []

    def fits(chosen: set[Any]) -> bool:
        trials.append(len(chosen))
        return not chosen & bad

    left: list[Any] = []
    assert _fitting(names, fits, left) == set(names) - bad
    assert left == [names[7], names[1500]]
    assert len(trials) <= 2 * 2 * 11 + 1  # two bad values, about log2(2000) halvings each


def test_a_dry_run_does_not_name_a_fix_up_the_real_run_leaves_out(tmp_path: Path) -> None:
    """An anchored empty title that an alias repeats: the real run leaves it (and says so);
    the dry run named it among the changes all the same."""
    path, url, page = _anchored_title(tmp_path)
    lines: list[str] = []
    reporter = QuietReporter(Console(file=io.StringIO()), False)
    config = Config(in_place=True, fill_missing=True, dry_run=True)
    asyncio.run(app.write_phase([(path, "r.md")], {url: page}, config, reporter,
                                "2026-11-27T00:00:00Z", lines))
    (line,) = lines
    assert line.startswith("r.md: ") and "related[0].excerpt" in line
    assert "related[0].title" not in line
