"""Property tests for records.apply_edits: any value written into a generated record (root
and related items, LF or CRLF, with or without BOM, indented or indentless sequences)
reads back as exactly itself, leaves every other key and the body untouched, is idempotent,
and deleting what was inserted restores the original bytes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_records import expected_data

from enricher import records
from enricher.models import HolderPath
from enricher.records import DELETE, Record

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
hosts = st.sampled_from(["example.com", "example.org", "пример.example", "xn--e1afmkfd.example"])
urls = st.builds(lambda host, path: f"https://{host}/{path}", hosts, texts)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | texts
    | urls
    | st.sampled_from(["yes", "NO", "012", "1.10", "12:30", "2024-01-01", "~", "null", "---"])
)
keys = texts | st.integers()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def quoted(value: str) -> str:
    """A double-quoted YAML scalar (how the real records write strings)."""
    out = yaml.dump(value, default_style='"', allow_unicode=True, width=1 << 30)
    return out.removesuffix("\n...\n").rstrip("\n")


@st.composite
def record_texts(draw: st.DrawFn) -> tuple[bytes, int]:
    """A record like the real ones, and how many related items it has."""
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    dash = draw(st.sampled_from(["  - ", "- "]))  # indented or indentless sequences
    more = " " * len(dash)
    lines = ["---"]
    if draw(st.booleans()):
        lines.append("# a comment")
    lines += [f"title: {quoted(draw(texts))}", f"webUrl: {quoted(draw(urls))}", "type: article"]
    lines += ["quality: 012", "published: NO", "publishedDateTime: 2020-11-18T13:42:00Z", ""]
    lines += ["images:", f"{dash}url: {quoted(draw(urls))}", f"{more}width: 583", ""]
    related = draw(st.integers(0, 3))
    if related:
        lines.append("related:")
    for _ in range(related):
        lines += [f"{dash}title: {quoted(draw(texts))}", f"{more}webUrl: {quoted(draw(urls))}"]
        if draw(st.booleans()):
            lines += [f"{more}images:", f"{more}{dash}url: {quoted(draw(urls))}"]
            lines += [f"{more}{more}height: 1"]
        if draw(st.booleans()):
            lines.append("")
    lines += [
        f"secured: {quoted('AB+/=;CD==')}",
        "---",
        draw(st.sampled_from(["", "Body.", "---"])),
    ]
    text = nl.join(lines) + draw(st.sampled_from(["", nl]))
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + text.encode("utf-8"), related


def read(tmp: Path, raw: bytes) -> Record:
    path = tmp / "r.md"
    path.write_bytes(raw)
    record = records.read_record(path, "r.md")
    assert isinstance(record, Record), str(record)
    return record


def body(raw: bytes) -> bytes:
    match = re.search(rb"\n---[ \t]*\r?(?:\n|\Z)", raw)
    assert match
    return raw[match.end() :]


def expected(data: dict[str, Any], edits: dict[HolderPath, dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = expected_data(data, edits)
    return result


@SETTINGS
@given(record=record_texts(), link_check=values, title=texts, url=urls, live=values)
@example(
    record=(b'---\ntitle: "x"\nwebUrl: "https://example.com/"\n---\n', 0),
    link_check={"status": "ok"},
    title="Hello\n---\nadmin: true",
    url="https://example.com/ --- # x",
    live=["*star", "&amp", "!bang", "%pct", "@at", "`tick", "key: value", "# x"],
)
def test_any_value_reads_back_exactly(
    tmp_path: Path, record: tuple[bytes, int], link_check: Any, title: str, url: str, live: Any
) -> None:
    raw, related = record
    original = read(tmp_path, raw)
    edits: dict[HolderPath, dict[str, Any]] = {
        (): {"linkCheck": link_check, "livePage": {"title": title, "url": url, "extra": live}},
    }
    for j in range(related):
        edits[("related", j)] = {"linkCheck": {"webUrl": link_check}, "livePage": live}
    if "images" in original.data:
        edits[("images", 0)] = {"linkCheck": {"url": {"status": "ok", "finalUrl": url}}}
    new = records.apply_edits(original, edits)
    assert body(new) == body(raw)
    if b"\r\n" in raw:
        assert new.count(b"\n") == new.count(b"\r\n")
    again = read(tmp_path, new)
    assert repr(again.data) == repr(expected(original.data, edits))
    assert records.apply_edits(again, edits) == new
    removed = {h: dict.fromkeys(c, DELETE) for h, c in edits.items()}
    assert records.apply_edits(again, removed) == raw


@SETTINGS
@given(record=record_texts(), title=texts, url=urls)
def test_replacing_existing_values_touches_only_them(
    tmp_path: Path, record: tuple[bytes, int], title: str, url: str
) -> None:
    raw, related = record
    original = read(tmp_path, raw)
    edits: dict[HolderPath, dict[str, Any]] = {(): {"title": title, "webUrl": url}}
    for j in range(related):
        edits[("related", j)] = {"title": title}
    new = records.apply_edits(original, edits)
    again = read(tmp_path, new)
    assert repr(again.data) == repr(expected(original.data, edits))
    assert records.apply_edits(again, edits) == new
    # every line that does not hold an edited key is byte-identical
    edited = re.compile(rb"^(?:\xef\xbb\xbf)?[ -]*(?:title|webUrl):")
    kept = [line for line in raw.splitlines(keepends=True) if not edited.match(line)]
    assert kept == [line for line in new.splitlines(keepends=True) if not edited.match(line)]


@pytest.mark.parametrize("nl", ["\n", "\r\n"])
def test_generated_record_shapes_are_valid(tmp_path: Path, nl: str) -> None:
    """The generator itself produces readable records (so the properties test something)."""
    raw = nl.join(["---", "title: " + quoted("a\nb"), "related:", "- title: x", "---", ""])
    assert read(tmp_path, raw.encode()).data == {"title": "a\nb", "related": [{"title": "x"}]}
