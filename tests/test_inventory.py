"""``enricher links`` text output (``enricher.inventory``): the counts block."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from enricher.config import Config
from enricher.inventory import Inventory, run_links
from enricher.models import LinkKind, LinkRef, Origin


def test_counts_say_none_instead_of_an_empty_list() -> None:
    lines = Inventory(records=2).summary_lines()
    assert lines[-2:] == ["per field: none", "top hosts (distinct URLs): none"]
    assert not any(line.endswith(": ") for line in lines)


def test_counts_list_hosts_when_there_are_urls() -> None:
    inventory = Inventory(records=1)
    inventory.add(LinkRef(origin=Origin(file="a.md", field="webUrl", line=2), holder=(),
                          key="webUrl", kind=LinkKind.PAGE, raw="https://example.com/a",
                          url="https://example.com/a"))
    lines = inventory.summary_lines()
    assert lines[-2:] == ["per field: webUrl 1", "top hosts (distinct URLs): example.com 1"]


def test_links_on_records_without_urls_prints_no_dangling_line(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: No links\n---\n", encoding="utf-8")
    out = io.StringIO()
    err = Console(file=io.StringIO(), force_terminal=False, no_color=True)
    assert run_links([str(tmp_path)], Config(), "text", out, err) == 0
    assert out.getvalue() == (
        "\nrecords: 1 (0 unreadable)\nURL slots: 0  distinct URLs: 0  hosts: 0\n"
        "per field: none\ntop hosts (distinct URLs): none\n")


def test_links_names_a_fifo_listed_on_stdin_that_it_skips(tmp_path: Path) -> None:
    """As ``check`` does: a FIFO listed on stdin is skipped with a line, not silently."""
    import os

    (tmp_path / "a.md").write_text("---\ntitle: A\n---\n", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.md")
    stderr = io.StringIO()
    err = Console(file=stderr, force_terminal=False, no_color=True, width=300)
    stdin = io.StringIO(f"{tmp_path / 'a.md'}\n{tmp_path / 'pipe.md'}\n")
    out = io.StringIO()
    assert run_links(["-"], Config(), "text", out, err, stdin) == 0
    assert "enricher: skipped (listed on stdin): " in stderr.getvalue()
    assert "pipe.md" in stderr.getvalue() and "records: 1 (0 unreadable)" in out.getvalue()


def test_links_lists_no_slot_of_a_record_check_would_refuse(tmp_path: Path) -> None:
    """A structurally bad record (``related`` not a list) is not checked by ``check`` or
    ``enrich``; ``links`` listed its other slots as if they would be."""
    (tmp_path / "a.md").write_text('---\ntitle: T\nwebUrl: https://a.example/x\n'
                                   'related: "not a list"\n---\n', encoding="utf-8")
    out, stderr = io.StringIO(), io.StringIO()
    err = Console(file=stderr, force_terminal=False, no_color=True, width=300)
    assert run_links([str(tmp_path)], Config(), "text", out, err) == 2
    assert "a.example" not in out.getvalue() and "URL slots: 0" in out.getvalue()
    assert "a.md:4: related is not a list" in stderr.getvalue()
    assert stderr.getvalue().rstrip().endswith("(record not checked)")


@pytest.mark.parametrize(("fmt", "encoding"), [("jsonl", "ascii"), ("jsonl", "latin-1"),
                                               ("text", "ascii")])
def test_links_on_a_stdout_that_is_not_utf8(tmp_path: Path, fmt: str, encoding: str) -> None:
    """``links`` wrote str straight to stdout: a Cyrillic URL or file name on an ASCII or
    Latin-1 stdout was a UnicodeEncodeError traceback (exit 1). JSON Lines are UTF-8 bytes
    whatever the terminal's encoding, as every other JSON on stdout; the text listing
    escapes what the terminal cannot show."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "caf\u00e9.md").write_text(
        '---\ntitle: x\nwebUrl: "http://example.com/a"\nrelated:\n'
        '  - webUrl: "\u043f\u0440\u0438\u043c\u0435\u0440"\n---\n', encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": encoding, "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "enricher", "links", str(folder), "--format", fmt]
    done = subprocess.run(argv, capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    if fmt == "jsonl":
        lines = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
        assert "\u043f\u0440\u0438\u043c\u0435\u0440" in {line["raw"] for line in lines}
        assert all(line["file"].endswith("caf\u00e9.md") for line in lines)
    else:
        assert b"\\u043f" in done.stdout and b"caf\\xe9.md" in done.stdout
