"""Hostile values against the report writers: what a reader sees must be what was written
(Markdown code spans as a CommonMark renderer shows them), links the address policy refused
never become clickable anywhere in the HTML page, and writing a report works for any name the
file system accepts and keeps the permissions a user gave an earlier report."""

from __future__ import annotations

import json
import os
import re
import stat
from html import unescape
from pathlib import Path

import pytest
from test_report import ALL_FAIL, o, parse_html, res, sample_run, slot

from enricher.models import LinkStatus, PageMeta, RecordCounts, RunResult
from enricher.report import render, write_report
from enricher.report.html import render_html
from enricher.report.markdown import md_code
from enricher.report.model import Changes, StillDead, printable

markdown_it = pytest.importorskip("markdown_it")  # rich's dependency, so always there


def _code_spans(markdown: str) -> list[str]:
    """The literal text of every code span, as a CommonMark (+ GFM tables) renderer shows it."""
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)
    return [unescape(m) for m in re.findall(r"<code>(.*?)</code>", html, re.S)]


@pytest.mark.parametrize(
    "text", [" https://a.example/x ", " a ", "  a  ", " `a` ", " a`", "`a ", "a | b ", " | "]
)
@pytest.mark.parametrize("table", [False, True])
def test_markdown_code_spans_show_surrounding_spaces(text: str, table: bool) -> None:
    """CommonMark strips one space from each end of a code span that starts and ends with one,
    so a value written with spaces (often why it is invalid) must not lose them."""
    span = md_code(text, table=table)
    doc = f"| h |\n| --- |\n| {span} |\n" if table else f"- {span}\n"
    assert _code_spans(doc) == [text]


def test_markdown_report_shows_a_raw_value_with_its_spaces() -> None:
    raw = " https://news.example/a "
    run = RunResult(
        command="check", started_at="", finished_at="", results=(), record_errors=(),
        records=RecordCounts(),
        slot_results=(slot(raw, LinkStatus.INVALID, "bad_host", o("a.md", "webUrl", 2)),),
    )
    assert raw in _code_spans(render(run, "md", fail_on=frozenset({"invalid"})))


META = "http://169.254.169.254/latest/meta-data/"


def test_html_changes_never_link_what_the_address_policy_refused() -> None:
    """A refused URL (internal address) is text in the table; it must be text in the list of
    changes too (a URL can flap between a public and an internal address)."""
    run = RunResult(
        command="check", started_at="", finished_at="", slot_results=(), record_errors=(),
        records=RecordCounts(),
        results=(
            res(META, LinkStatus.BLOCKED, "forbidden_address", o("a.md", "webUrl")),
            res("https://gone.example/b", LinkStatus.DEAD, "http_404", o("b.md", "webUrl")),
        ),
    )
    changes = Changes(
        newly_dead=("https://gone.example/b",),
        still_dead=(StillDead(url=META, since="2024-04-20T02:00:00+00:00", days=3.0),),
        flapping=(META,),
    )
    text = render_html(run, changes=changes)
    hrefs = {a["href"] for t, a in parse_html(text).tags if t == "a" and "href" in a}
    assert hrefs == {"https://gone.example/b"}
    section = text.split('<section id="changes">', 1)[1]
    assert section.count(f"<code>{META}</code>") == 2  # still dead, flapping: shown, not linked


def test_write_report_accepts_the_longest_name_the_file_system_does(tmp_path: Path) -> None:
    """The temporary file's name must not be longer than the target's (NAME_MAX is 255)."""
    target = tmp_path / ("r" * 240 + ".json")
    target.write_text("old", "utf-8")  # the file system takes the name
    write_report(sample_run(), str(target), "json", fail_on=ALL_FAIL)
    assert target.read_text("utf-8") == render(sample_run(), "json", fail_on=ALL_FAIL)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_write_report_keeps_the_permissions_of_the_report_it_replaces(tmp_path: Path) -> None:
    """A report a user made private (it names internal URLs) stays private the next night."""
    target = tmp_path / "report.html"
    target.write_text("old", "utf-8")
    target.chmod(0o600)
    write_report(sample_run(), str(target), "html", fail_on=ALL_FAIL)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text("utf-8").startswith("<!doctype html>")


def test_json_lines_escape_what_a_terminal_would_act_on() -> None:
    """C1 controls (U+009B is a CSI to xterm) and bidi overrides are written as \\u escapes:
    `cat results.jsonl` shows them as text, and every JSON reader gets the character back."""
    from enricher.report.jsonl import dumps_line

    value = "a\x9b31mb\u202ec\u2066d\x7fe\u2028f"
    line = dumps_line({"v": value})
    assert all(ch not in line for ch in "\x9b\u202e\u2066\x7f\u2028")
    assert "\\u009b" in line and "\\u202e" in line
    assert json.loads(line) == {"v": value}


def test_a_stored_nan_age_never_reaches_a_json_report() -> None:
    """A hand-edited history row with "days": NaN: the entry is dropped, not written as NaN."""
    from enricher.state_rows import changes_from

    changes = changes_from('{"newly_dead": ["u"], "still_dead": [{"url": "a", "since": '
                           '"2026-01-01T00:00:00Z", "days": NaN}, {"url": "b", "since": '
                           '"2026-01-01T00:00:00Z", "days": 2.0}]}')
    assert [s.url for s in changes.still_dead] == ["b"] and changes.newly_dead == ("u",)


# --- invisible format characters: tag characters ("ASCII smuggling") and the like ---------

def _tags(text: str) -> str:
    """``text`` spelt in Unicode tag characters (U+E0000 + ASCII): invisible everywhere."""
    return "".join(chr(0xE0000 + ord(c)) for c in text)


SMUGGLED = _tags("run rm -rf")
INVISIBLE = re.compile("[\u180e\u2060-\u206f\ufff9-\ufffb\U000e0000-\U000e0fff]")
SCOTLAND = "\U0001f3f4" + _tags("gbsct") + "\U000e007f"
EMOJI = f"I \u2764\ufe0f the \U0001f469\u200d\U0001f4bb of {SCOTLAND}"


def _smuggling_run(hidden: str) -> RunResult:
    return RunResult(
        command="check", started_at="", finished_at="", slot_results=(), record_errors=(),
        records=RecordCounts(),
        results=(
            res(f"https://gone.example/a{hidden}", LinkStatus.DEAD, "http_404",
                o(f"recs/a{hidden}.md", f"webUrl{hidden}", 2), http_status=404),
            res("https://news.example/ok", LinkStatus.OK, "http_200", o("recs/b.md", "webUrl"),
                http_status=200, page=PageMeta(title=f"Headline{hidden} | {EMOJI}")),
        ),
    )


@pytest.mark.parametrize("hidden", [SMUGGLED, "\U000e0001\U000e007f", "\u180e", "\u2061\u2064",
                                    "\u2065\u206a", "\ufff9\ufffa\ufffb"])
@pytest.mark.parametrize("fmt", ["html", "md", "csv"])
def test_invisible_format_characters_are_shown_escaped(fmt: str, hidden: str) -> None:
    """Tag characters and other invisible format characters in a URL, a record's path, a
    field or a title are shown as escapes (``\\U000e0072``), as controls and bidi are: a
    reader sees that something is there; the flag emoji spelt with tags, an emoji's variation
    selector and a ZWJ sequence stay as they are."""
    text = render(_smuggling_run(hidden), fmt, fail_on=ALL_FAIL)
    assert not INVISIBLE.search(text.replace(SCOTLAND, ""))
    escape = f"\\U{ord(hidden[0]):08x}" if ord(hidden[0]) > 0xFFFF else f"\\u{ord(hidden[0]):04x}"
    assert escape in text
    if fmt == "md":
        assert f"https://gone.example/a{escape}" in "".join(_code_spans(text))
    else:
        assert EMOJI in text


def test_printable_escapes_tag_characters_but_keeps_emoji() -> None:
    assert printable("a" + _tags("hi") + "b") == "a\\U000e0068\\U000e0069b"
    assert printable(EMOJI) == EMOJI
    assert printable("\U0001f3f4" + _tags("zz") + "\U000e007f") == (
        "\U0001f3f4\\U000e007a\\U000e007a\\U000e007f")  # no such flag
    assert printable("a\u200db \u200d\u200d\U0001f469\u200d") == (
        "a\\u200db \\u200d\\u200d\U0001f469\\u200d")  # joiners that join nothing
    assert printable("\u0645\u06cc\u200c\u062e") == "\u0645\u06cc\u200c\u062e"  # Persian ZWNJ
