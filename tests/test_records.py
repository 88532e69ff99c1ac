"""Records: finding files, reading front matter, surgical edits, atomic writes.

The round-trip checks run over every fixture in fixtures/records and, when the shared corpus
exists, over every record in /work/shared/records (read in place, never copied).
"""

from __future__ import annotations

import copy
import difflib
import errno
import io
import os
import re
import stat
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from enricher import records
from enricher.models import HolderPath, RecordError
from enricher.records import DELETE, EditError, Record, UsageError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "records"
BAD = ROOT / "fixtures" / "bad"
SHARED = Path("/work/shared/records")

LINK_CHECK = {
    "webUrl": {"status": "ok", "httpStatus": 200, "since": "2026-11-27T16:00:00Z"},
    "ampWebUrl": {"status": "dead", "reason": "http_404", "redirects": ["https://example.com/a"]},
}
LIVE_PAGE = {"title": "Live: title # with 'quotes'", "lang": "en", "image": None}

# holders a fixture cannot have edited, and why (tested separately below)
NOT_EDITABLE: dict[str, set[HolderPath]] = {
    "flow-style-mapping.md": {("images", 0), ("related", 0)},
}


# --- helpers -------------------------------------------------------------------------------


def typed(x: Any) -> str:
    """A strict, order-sensitive view of YAML data: True is not 1, 1.0 is not 1, and the
    order of keys counts (``repr`` of the plain types YAML produces)."""
    return repr(x)


def read(path: Path) -> Record:
    record = records.read_record(path, str(path))
    assert isinstance(record, Record), str(record)
    return record


def reread(tmp: Path, data: bytes, name: str = "r.md") -> Record:
    path = tmp / name
    path.write_bytes(data)
    return read(path)


def body(raw: bytes) -> bytes:
    """The bytes after the closing front-matter delimiter line."""
    opening = re.match(rb"(?:\xef\xbb\xbf)?---[ \t]*(?:\r?\n|\Z)", raw)
    assert opening
    closing = re.compile(rb"^(?:---|\.\.\.)[ \t]*\r?$", re.M).search(raw, opening.end())
    assert closing
    return raw[closing.end() :]


def bare_lf(raw: bytes) -> int:
    return raw.count(b"\n") - raw.count(b"\r\n")


def only_insertions(old: bytes, new: bytes) -> bool:
    """``new`` is ``old`` with whole lines inserted, nothing else changed."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in ops)


def holders_of(data: dict[str, Any]) -> list[HolderPath]:
    """Root, images[i], related[j] and related[j].images[i] that hold mappings."""
    found: list[HolderPath] = [()]

    def images(prefix: HolderPath, holder: dict[str, Any]) -> None:
        for i, image in enumerate(holder.get("images") or []):
            if isinstance(image, dict):
                found.append((*prefix, "images", i))

    images((), data)
    for j, item in enumerate(data.get("related") or []):
        if isinstance(item, dict):
            found.append(("related", j))
            images(("related", j), item)
    return found


def enrich_edits(record: Record, small: bool = False) -> dict[HolderPath, dict[str, Any]]:
    """linkCheck on every holder, livePage on the root and related items (``small``: short
    values, for the thousand-record corpus where the layout matters, not the values)."""
    link_check = {"webUrl": {"status": "ok"}} if small else LINK_CHECK
    live_page = {"title": "T: x"} if small else LIVE_PAGE
    skip = NOT_EDITABLE.get(record.path.name, set())
    edits: dict[HolderPath, dict[str, Any]] = {}
    for holder in holders_of(record.data):
        if holder in skip:
            continue
        edits[holder] = {"linkCheck": link_check}
        if len(holder) < 3:
            edits[holder]["livePage"] = live_page
    return edits


def expected_data(data: dict[str, Any], edits: dict[HolderPath, dict[str, Any]]) -> Any:
    out = copy.deepcopy(data)
    for holder, changes in edits.items():
        node: Any = out
        for step in holder:
            node = node[step]
        for key, value in changes.items():
            if value is DELETE:
                node.pop(key, None)
            else:
                node[key] = copy.deepcopy(value)
    return out


def check_round_trip(
    record: Record, tmp: Path, replace_and_delete: bool = True, small: bool = False
) -> None:
    """The whole contract of apply_edits on one record (raises AssertionError)."""
    raw = record.raw
    assert records.apply_edits(record, {}) == raw
    edits = enrich_edits(record, small)
    new = records.apply_edits(record, edits)
    assert body(new) == body(raw), "body changed"
    assert only_insertions(raw, new), "bytes outside the inserted lines changed"
    crlf = b"\r\n" in raw.split(b"\n", 1)[0] + b"\n"
    if crlf:
        assert bare_lf(new) == bare_lf(raw), "a bare LF was introduced in a CRLF file"
    again = reread(tmp, new, record.path.name)
    assert typed(again.data) == typed(expected_data(record.data, edits))
    assert records.apply_edits(again, edits) == new, "second application changed bytes"
    if not replace_and_delete:
        return
    # replace every linkCheck with another value, then remove what we added
    other = {"webUrl": {"status": "redirected", "finalUrl": "https://example.org/moved"}}
    replaced = records.apply_edits(again, {h: {"linkCheck": other} for h in edits})
    third = reread(tmp, replaced, record.path.name)
    want = expected_data(record.data, edits)
    want = expected_data(want, {h: {"linkCheck": other} for h in edits})
    assert typed(third.data) == typed(want)
    removed = records.apply_edits(third, {h: dict.fromkeys(c, DELETE) for h, c in edits.items()})
    assert removed == raw, "insert then delete did not restore the original bytes"


def shared_records() -> Iterator[Path]:
    yield from sorted(SHARED.rglob("*.md"))


# --- round trips over fixtures and the shared corpus ---------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.md")), ids=lambda p: p.name)
def test_fixture_round_trip(path: Path, tmp_path: Path) -> None:
    check_round_trip(read(path), tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared corpus not mounted")
def test_shared_corpus_round_trip(tmp_path: Path) -> None:
    failures = []
    count = 0
    for i, path in enumerate(shared_records()):
        record = records.read_record(path, str(path))
        if isinstance(record, RecordError):
            failures.append(str(record))
            continue
        count += 1
        try:
            check_round_trip(record, tmp_path, replace_and_delete=i % 10 == 0, small=True)
        except (AssertionError, EditError) as exc:
            failures.append(f"{path}: {exc}")
    assert count > 900
    assert not failures, "\n".join(failures[:20])


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared corpus not mounted")
def test_shared_corpus_reads_at_yaml_speed() -> None:
    """Reading costs about what a plain CSafeLoader load of the front matter costs (the check
    and the duplicate-key test must not make it several times slower). Relative, min of 3,
    so a busy machine does not fail it."""
    paths = list(shared_records())[:150]
    texts = [p.read_text(encoding="utf-8") for p in paths]
    fronts = [t.split("\n---", 1)[0].split("\n", 1)[1] for t in texts]

    def best(run: Any) -> float:
        times = []
        for _ in range(3):
            start = time.process_time()
            run()
            times.append(time.process_time() - start)
        return min(times)

    base = best(lambda: [yaml.load(f, Loader=yaml.CSafeLoader) for f in fronts])
    ours = best(lambda: [records.read_record(p, str(p)) for p in paths])
    assert ours < 4 * base + 0.05, f"read_record {ours:.3f}s vs yaml.load {base:.3f}s"


# --- reading -------------------------------------------------------------------------------

BAD_EXPECTED = {
    "alias-bomb.md": (None, "expands to more than 100000 YAML nodes (an alias bomb, or a huge "
                     "record); remove the aliases or split the record"),
    "bad-indentation.md": (5, "not valid YAML"),
    "control-character.md": (2, "forbidden character (0x07)"),
    "duplicate-keys.md": (6, "duplicate key 'url' (first at line 4)"),
    "duplicate-top-level-keys.md": (4, "duplicate key 'title' (first at line 2)"),
    "duplicate-int-keys.md": (3, "duplicate key 1 (first at line 2)"),
    "empty-front-matter.md": (2, "front matter is empty"),
    "front-matter-not-at-start.md": (1, "no front matter"),
    "invalid-date.md": (3, "day is out of range"),
    "list-front-matter.md": (2, "not a list"),
    "no-front-matter.md": (1, "no front matter"),
    "not-utf8.md": (3, "not valid UTF-8 (byte 0xe9)"),
    "python-tag.md": (3, "unsupported YAML tag '!!python/object/apply:os.system'"),
    "recursive-alias.md": (3, "recursive YAML alias"),
    "scalar-front-matter.md": (2, "not a single value"),
    "unterminated-front-matter.md": (1, "never closed"),
    "yaml-syntax-error.md": (4, "a quoted scalar starting here is never closed; close it"),
}


def test_every_bad_fixture_has_an_expectation() -> None:
    assert {p.name for p in BAD.glob("*.md")} == set(BAD_EXPECTED)


@pytest.mark.parametrize("name", sorted(BAD_EXPECTED))
def test_bad_fixture_is_a_record_error(name: str) -> None:
    line, text = BAD_EXPECTED[name]
    error = records.read_record(BAD / name, f"bad/{name}")
    assert isinstance(error, RecordError)
    assert error.file == f"bad/{name}"
    assert text in error.message
    if line is not None:
        assert error.line == line
    assert "\n" not in str(error)


def test_python_tag_executes_nothing(tmp_path: Path) -> None:  # hostile 47
    target = tmp_path / "pwned"
    path = tmp_path / "evil.md"
    path.write_text(f"---\nx: !!python/object/apply:builtins.open ['{target}', 'w']\n---\n")
    assert isinstance(records.read_record(path, "evil.md"), RecordError)
    assert not target.exists()


def test_alias_bomb_is_cut_off_without_expanding_it() -> None:  # hostile 48
    start = time.process_time()
    error = records.read_record(BAD / "alias-bomb.md", "bomb", max_nodes=1000)
    assert isinstance(error, RecordError)
    assert "more than 1000 YAML nodes" in error.message
    assert time.process_time() - start < 1.0


def test_a_huge_flat_list_is_refused_before_composing_it(tmp_path: Path) -> None:
    """``x: [1,1,1,...]`` under the size cap: composing built the whole node graph (777 MB
    for 5 MB) before the node cap counted it. Now refused from its separators, in bounded
    memory; a record of ordinary size with many commas is still read."""
    path = tmp_path / "flat.md"
    path.write_text("---\ntitle: T\nx: [" + "1," * 300_000 + "1]\n---\n", encoding="utf-8")
    tracemalloc.start()
    try:
        error = records.read_record(path, "flat.md", max_bytes=10_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, RecordError)
    assert error.message.startswith("front matter has 300002 lines and commas, too many for "
                                    "the 100000 YAML nodes a record may hold")
    assert error.line == 2 and peak < 20_000_000
    fine = tmp_path / "fine.md"
    fine.write_text("---\ntitle: T\nx: [" + "1," * 5_000 + "1]\n---\n", encoding="utf-8")
    assert isinstance(records.read_record(fine, "fine.md"), records.Record)


def test_small_aliases_are_counted_and_allowed() -> None:
    record = read(FIXTURES / "anchors-and-aliases.md")
    assert record.data["originalUrl"] == record.data["webUrl"]
    tight = records.read_record(FIXTURES / "anchors-and-aliases.md", "x", max_nodes=10)
    assert isinstance(tight, RecordError)


def test_recursive_alias_does_not_recurse(tmp_path: Path) -> None:  # hostile 49
    for text in ("a: &a [1, *a]", "a: &a {b: *a}", "a: &a\n  - 1\n  - *a"):
        path = tmp_path / "r.md"
        path.write_text(f"---\n{text}\n---\n")
        error = records.read_record(path, "r.md")
        assert isinstance(error, RecordError) and "recursive" in error.message


def test_deep_nesting_is_a_record_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.md"
    path.write_text("---\ntitle: t\nb: 1\na: " + "[" * 5000 + "]" * 5000 + "\n---\n")
    error = records.read_record(path, "deep.md")
    assert isinstance(error, RecordError)
    assert error.line == 4 and "nesting depth" in error.message  # libyaml's own limit


def test_too_large_and_unreadable(tmp_path: Path) -> None:  # hostile 52 (50 MB file)
    path = tmp_path / "big.md"
    path.write_text("---\ntitle: x\n---\n" + "x" * 200)
    error = records.read_record(path, "big.md", max_bytes=100)
    assert isinstance(error, RecordError) and "larger than 100 bytes" in error.message
    missing = records.read_record(tmp_path / "gone.md", "gone.md")
    assert isinstance(missing, RecordError) and "cannot read" in missing.message
    folder = records.read_record(tmp_path, "folder")
    assert isinstance(folder, RecordError)


def test_front_matter_variants_read() -> None:  # hostile 52
    assert read(FIXTURES / "bom.md").data["title"].startswith("A file that starts")
    assert read(FIXTURES / "dots-terminator.md").data == {
        "category": "news",
        "title": "Front matter closed with three dots",
        "webUrl": "https://example.com/dots",
    }
    assert read(FIXTURES / "dashes-in-body.md").data["webUrl"] == "https://example.com/dashes"
    assert read(FIXTURES / "crlf-line-endings.md").data["provider"]["domain"] == "example.com"
    assert read(FIXTURES / "trailing-spaces-on-delimiters.md").data["title"]


def test_odd_url_fields_read_with_lines() -> None:  # hostile 53
    record = read(FIXTURES / "odd-url-types.md")
    assert record.data["originalUrl"] is None
    assert record.data["webUrl"] == 12345
    assert record.data["images"][0]["url"] == [
        "https://example.com/a.png",
        "https://example.com/b.png",
    ]
    assert record.line_of((), "originalUrl") == 5
    assert record.line_of(("images", 1), "url") == 10
    assert record.line_of(("images", 2), "url") == 11
    assert record.line_of(("related", 0), "ampWebUrl") == 15


def test_a_merged_key_has_the_line_where_its_value_is_written(tmp_path: Path) -> None:
    """``<<: *base`` brings ``webUrl`` from the anchored mapping: its slot had no line (every
    slot should name file and line); it is the line of the value in the anchor, and a key of
    the item's own still wins over the merged one."""
    text = ("---\ntitle: T\nbase: &b\n  webUrl: https://a.example/merged\n  title: Base\n"
            "related:\n  - <<: *b\n    title: Own\n  - <<: [*b]\n    webUrl: x\n---\n")
    record = reread(tmp_path, text.encode())
    assert record.line_of(("related", 0), "webUrl") == 4
    assert record.line_of(("related", 0), "title") == 8
    assert record.line_of(("related", 1), "webUrl") == 10
    assert record.line_of(("related", 1), "nothing") is None


def test_yaml11_coercions_are_not_our_business() -> None:  # hostile 51
    record = read(FIXTURES / "yaml11-coercions.md")
    assert record.data["country"] is False and record.data["id"] == 10
    assert record.data[True] is True  # "on: yes"


def test_line_of() -> None:
    record = read(FIXTURES / "related-with-images.md")
    assert record.line_of((), "webUrl") == 4
    assert record.line_of(("images", 0), "url") == 8
    assert record.line_of(("related", 0), "webUrl") == 14
    assert record.line_of(("related", 0, "images", 1), "url") == 24
    assert record.line_of(("related", 2, "images", 0), "url") == 30
    assert record.line_of(("related", 1), "images") is None
    assert record.line_of(("related", 9), "webUrl") is None
    assert record.line_of(("title",), "x") is None
    assert read(FIXTURES / "crlf-line-endings.md").line_of(("images", 0), "url") == 19
    assert read(FIXTURES / "bom.md").line_of(("images", 0), "url") == 6
    empty = read(FIXTURES / "empty-weburl.md")
    assert empty.line_of(("related", 0), "webUrl") == 10
    separators = read(FIXTURES / "unicode-line-separators.md")
    assert separators.line_of(("related", 0), "webUrl") == 6
    again = read(FIXTURES / "related-with-images.md")  # asked backwards: counted anew
    assert again.line_of(("related", 2, "images", 0), "url") == 30
    assert again.line_of(("related", 0), "webUrl") == 14
    assert again.line_of((), "webUrl") == 4
    assert again.line_of(("related", 0, "images", 1), "url") == 24
    flow = read(FIXTURES / "flow-style-mapping.md")
    assert flow.line_of(("related", 0), "webUrl") == 9
    merged = read(FIXTURES / "merge-keys.md")  # own keys by their own line; merged ones: the
    # line of the value in the anchored mapping
    assert merged.line_of(("related", 0), "quality") == 11
    assert merged.data["related"][0]["type"] == "article"
    assert merged.line_of(("related", 0), "type") == 5
    aliased = read(FIXTURES / "anchors-and-aliases.md")  # an alias value: the key's line
    assert aliased.line_of((), "originalUrl") == 4


# --- editing -------------------------------------------------------------------------------


def test_hostile_titles_round_trip(tmp_path: Path) -> None:  # hostile 54
    record = read(FIXTURES / "related-with-images.md")
    titles = [
        "Hello\n---\nadmin: true",
        "key: value",
        "# x",
        "...",
        "--- x",
        *(c + "lead" for c in "*&!%@`|>?-:,[]{}#'\""),
        "tab\there\r\nand\x00nul\x1b[31m",
        "emoji 🎉 and \u2028 separator \x85 nel \ufeff bom",
        "x" * 5000,
        "yes",
        "null",
        "012",
        "2024-01-01",
        "",
        " leading and trailing ",
    ]
    for title in titles:
        edits: dict[HolderPath, dict[str, Any]] = {
            (): {"title": title},
            ("related", 1): {"livePage": {"title": title}},
        }
        new = records.apply_edits(record, edits)
        again = reread(tmp_path, new)
        assert typed(again.data) == typed(expected_data(record.data, edits)), repr(title)
        assert records.apply_edits(again, edits) == new


def test_equal_value_written_by_someone_else_changes_nothing() -> None:
    record = read(FIXTURES / "quoted-and-unquoted-scalars.md")
    same = {"title": "Single quoted: it's fine", "quality": "081", "published": True}
    assert records.apply_edits(record, {(): same}) == record.raw
    assert records.apply_edits(record, {(): {"heat": -1.0}}) != record.raw  # float is not int


def test_replace_keeps_key_text_and_trailing_comment(tmp_path: Path) -> None:
    record = read(FIXTURES / "comments-and-blank-lines.md")
    new = records.apply_edits(record, {(): {"webUrl": "https://example.org/new"}})
    old_url, new_url = b'"https://example.com/comments"', b'"https://example.org/new"'
    assert new == record.raw.replace(old_url, new_url)
    holder: HolderPath = ("related", 0)
    new = records.apply_edits(record, {holder: {"title": "Uno"}})
    assert b"  - title: Uno   # item title\n" in new


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_comment_after_a_value_replaced_by_a_block_stays_on_its_key_line(
        tmp_path: Path, newline: str) -> None:
    text = "---\ntitle: t\nimages: []  # none yet\nexcerpt: e\n---\nbody\n"
    record = reread(tmp_path, text.replace("\n", newline).encode())
    new = records.apply_edits(record, {(): {"images": [{"url": "https://a.example/i.png"}]}})
    expected = ("---\ntitle: t\nimages:  # none yet\n  - url: \"https://a.example/i.png\"\n"
                "excerpt: e\n---\nbody\n")
    assert new.decode() == expected.replace("\n", newline)


def test_replace_block_values_and_delete(tmp_path: Path) -> None:
    record = read(FIXTURES / "block-scalars-last.md")
    edits: dict[HolderPath, dict[str, Any]] = {("related", i): {"note": "new"} for i in range(3)}
    again = reread(tmp_path, records.apply_edits(record, edits))
    assert typed(again.data) == typed(expected_data(record.data, edits))
    gone = {("related", i): {"note": DELETE} for i in range(3)}
    again = reread(tmp_path, records.apply_edits(record, gone))
    assert typed(again.data) == typed(expected_data(record.data, gone))


def test_delete_first_key_of_a_sequence_item(tmp_path: Path) -> None:
    record = read(FIXTURES / "related-with-images.md")
    holder: HolderPath = ("related", 0, "images", 0)
    for keys in (["url"], ["url", "width"]):
        edits = {holder: dict.fromkeys(keys, DELETE)}
        new = records.apply_edits(record, edits)
        again = reread(tmp_path, new)
        assert typed(again.data) == typed(expected_data(record.data, edits))
    with pytest.raises(EditError, match="every key"):
        records.apply_edits(record, {holder: dict.fromkeys(["url", "width", "height"], DELETE)})
    assert records.apply_edits(record, {holder: {"nothere": DELETE}}) == record.raw


def test_crlf_inserted_lines_use_crlf() -> None:
    record = read(FIXTURES / "crlf-line-endings.md")
    new = records.apply_edits(record, {(): {"linkCheck": LINK_CHECK}, ("images", 0): {"x": 1}})
    assert bare_lf(new) == 0 and new.count(b"\r\n") > record.raw.count(b"\r\n")


def test_insertion_order_when_mappings_end_together(tmp_path: Path) -> None:
    record = read(FIXTURES / "block-scalars-last.md")  # related[2] is the last root value
    edits: dict[HolderPath, dict[str, Any]] = {
        (): {"a": 1},
        ("related", 2): {"b": 2},
    }
    again = reread(tmp_path, records.apply_edits(record, edits))
    assert typed(again.data) == typed(expected_data(record.data, edits))


def test_edit_errors() -> None:
    flow = read(FIXTURES / "flow-style-mapping.md")
    with pytest.raises(EditError, match="flow style"):
        records.apply_edits(flow, {("related", 0): {"linkCheck": {}}})
    with pytest.raises(EditError, match="no such mapping"):
        records.apply_edits(flow, {("related", 7): {"linkCheck": {}}})
    with pytest.raises(EditError, match="not a mapping"):
        records.apply_edits(flow, {("topics",): {"linkCheck": {}}})
    aliases = read(FIXTURES / "anchors-and-aliases.md")
    with pytest.raises(EditError, match="alias"):
        records.apply_edits(aliases, {("related", 0, "provider"): {"x": 1}})
    with pytest.raises(EditError, match="another edit rewrites it"):
        records.apply_edits(flow, {(): {"related": []}, ("related", 1): {"x": 1}})
    with pytest.raises(EditError, match="cannot write"):
        records.apply_edits(flow, {(): {"x": object()}})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EditError, match="contains itself"):
        records.apply_edits(flow, {(): {"x": loop}})


def test_values_are_normalised() -> None:
    import enum

    class Status(enum.StrEnum):
        OK = "ok"

    record = read(FIXTURES / "missing-fields.md")
    new = records.apply_edits(record, {(): {"linkCheck": {"status": Status.OK, "hops": ("a",)}}})
    assert b"linkCheck:\n  status: ok\n  hops:\n    - a\n" in new


# --- finding files -------------------------------------------------------------------------


def make_tree(tmp: Path) -> Path:
    root = tmp / "in"
    (root / "b" / "c").mkdir(parents=True)
    (root / "a.md").write_text("---\nx: 1\n---\n")
    (root / "b" / "z.markdown").write_text("---\nx: 1\n---\n")
    (root / "b" / "c" / "y.MD").write_text("---\nx: 1\n---\n")
    (root / "b" / "notes.txt").write_text("no")
    (root / "b" / (records.TEMP_PREFIX + "abc.md")).write_text("---\nx: 1\n---\n")  # crashed run
    return root


def test_iter_record_paths_folders_files_globs(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    found = [d for _, d in records.iter_record_paths([str(root)])]
    assert found == [f"{root}/a.md", f"{root}/b/c/y.MD", f"{root}/b/z.markdown"]
    globbed = [d for _, d in records.iter_record_paths([f"{root}/**/*.m*"])]
    assert globbed == [f"{root}/a.md", f"{root}/b/z.markdown"]
    folders = [d for _, d in records.iter_record_paths([f"{root}/*"])]  # a folder match is walked
    assert folders == [f"{root}/a.md", f"{root}/b/c/y.MD", f"{root}/b/z.markdown"]
    explicit = list(records.iter_record_paths([str(root / "b" / "notes.txt"), str(root / "a.md")]))
    assert [p.name for p, _ in explicit] == ["notes.txt", "a.md"]
    twice = list(records.iter_record_paths([str(root / "a.md"), str(root), str(root / "a.md")]))
    assert len(twice) == 3


def test_a_glob_never_follows_a_symlinked_folder_so_a_loop_ends(tmp_path: Path) -> None:
    """``news/**/*.md`` went into symlinked folders (glob.glob does): a loop below the
    records made it walk for ever, growing, deaf to SIGTERM. Now a glob, like a folder walk,
    skips them; a symlinked file is still taken."""
    news = tmp_path / "news"
    (news / "deep").mkdir(parents=True)
    (news / "a.md").write_text("---\ntitle: A\n---\n", encoding="utf-8")
    (news / "deep" / "b.md").write_text("---\ntitle: B\n---\n", encoding="utf-8")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "o.md").write_text("---\ntitle: O\n---\n", encoding="utf-8")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "l.md").write_text("---\ntitle: L\n---\n", encoding="utf-8")
    (news / "linked").symlink_to("../linked", target_is_directory=True)
    (news / "deep" / "up").symlink_to("..", target_is_directory=True)  # a loop (two of them
    # walked for ever: kept to one here, so that the old code fails instead of hanging)
    (news / "c.md").symlink_to("../other/o.md")
    for pattern in (f"{news}/**/*.md", f"{news}/*/*.md", f"{news}/**"):
        found = [d for _, d in records.iter_record_paths([pattern])]
        assert sorted(found) == sorted(
            [f"{news}/a.md", f"{news}/c.md", f"{news}/deep/b.md"][pattern.endswith("/*/*.md")
                                                                   * 2:]), pattern


def test_globs_match_what_glob_glob_matches_without_symlinks(tmp_path: Path) -> None:
    import glob

    from enricher.finding import _glob

    for name in ("a.md", ".hidden.md", "b/c.md", "b/.h/d.md", "b/e/f.md", ".g/h.md", "x[1].md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("", encoding="utf-8")
    for pattern in ("**/*.md", "*/*.md", "**", "b/**/*.md", ".*", "**/.*.md", "?.md", "*",
                    "b/*/", "[ab]*", "**/e/*.md"):
        full = f"{tmp_path}/{pattern}"
        assert sorted(_glob(full)) == sorted(p.rstrip("/") for p in glob.glob(
            full, recursive=True)), pattern


def test_iter_record_paths_stdin_and_errors(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    stdin = io.StringIO(f"{root}/a.md\r\n\n{root}/b\n")
    found = [d for _, d in records.iter_record_paths(["-"], stdin)]
    assert found == [f"{root}/a.md", f"{root}/b/c/y.MD", f"{root}/b/z.markdown"]
    paths = records.iter_record_paths([str(root), str(root / "nope")])
    with pytest.raises(UsageError, match=r"input not found: .*nope"):
        next(paths)  # before the first record of the good input
    with pytest.raises(UsageError, match="not found"):
        list(records.iter_record_paths([str(root / "*.nothing")]))
    # stdin lines are literal: a glob there names no file, so it is skipped like a missing one
    skipped: list[str] = []
    literal = records.iter_record_paths(
        ["-"], io.StringIO(f"{root}/*.md\n"), on_skip=skipped.append
    )
    assert list(literal) == []
    assert skipped == [f"skipped {root}/*.md: no such file (listed on stdin)"]


def test_missing_paths_on_stdin_are_skipped_not_fatal(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    skipped: list[str] = []
    stdin = io.StringIO(f"{root}/a.md\n{root}/deleted.md\n{root}/b/z.markdown\n")
    found = [d for _, d in records.iter_record_paths(["-"], stdin, on_skip=skipped.append)]
    assert found == [f"{root}/a.md", f"{root}/b/z.markdown"]  # the run goes on
    assert skipped == [f"skipped {root}/deleted.md: no such file (listed on stdin)"]
    assert "\n" not in skipped[0]
    silent = records.iter_record_paths(["-"], io.StringIO(f"{root}/deleted.md\n"))
    assert list(silent) == []  # no callback: skipped all the same
    with pytest.raises(UsageError, match=r"input not found: .*deleted\.md"):
        list(records.iter_record_paths([str(root / "deleted.md")]))  # an argument: still fatal


def test_walks_and_globs_never_enter_the_output_folder(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    out = root / "enriched"
    (out / "enriched").mkdir(parents=True)
    (out / "a.md").write_text("---\nx: 1\n---\n")
    (out / "enriched" / "a.md").write_text("---\nx: 1\n---\n")
    expected = [f"{root}/a.md", f"{root}/b/c/y.MD", f"{root}/b/z.markdown"]
    assert [d for _, d in records.iter_record_paths([str(root)], skip_dir=out)] == expected
    relative = os.path.relpath(out)  # compared resolved, however it is spelled
    assert [d for _, d in records.iter_record_paths([str(root)], skip_dir=relative)] == expected
    globbed = [d for _, d in records.iter_record_paths([f"{root}/**/*.md"], skip_dir=out)]
    assert globbed == [f"{root}/a.md"]
    without = [d for _, d in records.iter_record_paths([str(root)])]
    assert f"{out}/enriched/a.md" in without  # only the run's own output folder is skipped
    named = [d for _, d in records.iter_record_paths([str(out)], skip_dir=out)]
    assert named == [f"{out}/a.md", f"{out}/enriched/a.md"]  # named on the command line: walked


def test_symlinks(tmp_path: Path) -> None:  # hostile 58
    root = make_tree(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.md").write_text("---\nx: 1\n---\n")
    (root / "link-dir").symlink_to(outside, target_is_directory=True)
    (root / "link.md").symlink_to(root / "a.md")
    (root / "other.md").symlink_to(outside / "o.md")
    found = [d for _, d in records.iter_record_paths([str(root)])]
    assert f"{root}/link-dir/o.md" not in found  # no descent into a symlinked folder
    assert f"{root}/link.md" not in found  # same file as a.md: once
    assert f"{root}/other.md" in found  # a symlinked file is followed
    assert [d for _, d in records.iter_record_paths([str(root / "link-dir")])]  # named: followed
    record = read(root / "other.md")
    new = records.apply_edits(record, {(): {"y": 2}})
    assert records.write_record(record, new, root / "other.md")
    assert (root / "other.md").is_symlink()
    assert (outside / "o.md").read_bytes() == new


def test_a_dangling_record_symlink_is_named_never_skipped_silently(tmp_path: Path) -> None:
    """A ``.md`` symlink whose target is gone was dropped by folder walks and globs without a
    word (its links went unchecked and nobody knew): it is yielded, so reading it names it
    as a record error; named on the command line it is a usage error that says so."""
    root = tmp_path / "news"
    root.mkdir()
    (root / "a.md").write_text("---\nx: 1\n---\n")
    (root / "gone.md").symlink_to(tmp_path / "moved" / "gone.md")
    (root / "dir.md").symlink_to(tmp_path, target_is_directory=True)  # a folder: no record
    (root / "loop.md").symlink_to("loop.md")  # a loop: dropped by walks (is_file raised)
    for inputs in ([str(root)], [f"{root}/*.md"]):
        found = [d for _, d in records.iter_record_paths(inputs)]
        assert found == [f"{root}/a.md", f"{root}/gone.md", f"{root}/loop.md"], inputs
    looping = records.read_record(root / "loop.md", "news/loop.md")
    assert isinstance(looping, RecordError) and "symlink loop" in looping.message
    with pytest.raises(UsageError, match=r"input is a symlink loop: .*loop\.md"):
        list(records.iter_record_paths([str(root / "loop.md")]))
    error = records.read_record(root / "gone.md", "news/gone.md")
    assert isinstance(error, RecordError) and error.file == "news/gone.md"
    assert "dangling symlink" in error.message
    with pytest.raises(UsageError, match=r"dangling symlink: .*gone\.md; fix or remove"):
        list(records.iter_record_paths([str(root / "gone.md")]))


# --- writing -------------------------------------------------------------------------------


def test_write_atomic_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:  # hostile 57
    for mode in (0o644, 0o600, 0o755):
        path = tmp_path / f"m{mode:o}.md"
        path.write_bytes(b"old")
        path.chmod(mode)
        records.write_atomic(path, b"new")
        assert path.read_bytes() == b"new"
        assert stat.S_IMODE(path.stat().st_mode) == mode
    fresh = tmp_path / "sub-new.md"
    records.write_atomic(fresh, b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(records.TEMP_PREFIX)]


@pytest.mark.parametrize("fail", ["replace", "fsync", "chmod"])
def test_write_atomic_failure_keeps_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: str
) -> None:  # hostile 55/56
    path = tmp_path / "r.md"
    path.write_bytes(b"original")
    seen: list[str] = []

    def boom(*args: Any, **kwargs: Any) -> None:
        seen.extend(os.listdir(tmp_path))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail, boom)
    with pytest.raises(OSError, match="No space"):
        records.write_atomic(path, b"new bytes")
    monkeypatch.undo()
    temps = [n for n in seen if n.startswith(records.TEMP_PREFIX)]
    assert temps and not any(n.endswith((".md", ".markdown")) for n in temps)
    assert path.read_bytes() == b"original"
    assert sorted(os.listdir(tmp_path)) == ["r.md"]


def test_read_only_record_is_not_rewritten(tmp_path: Path) -> None:  # hostile 56
    path = tmp_path / "r.md"
    path.write_bytes(b"original")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        records.write_atomic(path, b"new")
    assert path.read_bytes() == b"original"
    assert sorted(os.listdir(tmp_path)) == ["r.md"]


def test_write_record_only_when_bytes_differ(tmp_path: Path) -> None:  # hostile 60
    path = tmp_path / "r.md"
    path.write_bytes((FIXTURES / "missing-fields.md").read_bytes())
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    record = read(path)
    unchanged = records.apply_edits(record, {})
    assert records.write_record(record, unchanged, path) is False
    assert path.stat().st_mtime_ns == 1_000_000_000
    new = records.apply_edits(record, {(): {"linkCheck": LINK_CHECK}})
    assert records.write_record(record, new, path) is True
    again = read(path)
    assert (
        records.write_record(
            again, records.apply_edits(again, {(): {"linkCheck": LINK_CHECK}}), path
        )
        is False
    )


def test_write_record_refuses_a_file_changed_since_read(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    path.write_bytes(b"---\na: 1\n---\n")
    record = read(path)
    path.write_bytes(b"---\na: 2\n---\n")
    with pytest.raises(OSError, match="changed on disk") as caught:
        records.write_record(record, records.apply_edits(record, {(): {"b": 1}}), path)
    assert caught.value.strerror.startswith("the file changed on disk")
    assert path.read_bytes() == b"---\na: 2\n---\n"


def test_an_out_copy_of_a_read_only_record_can_be_updated_by_the_next_run(
        tmp_path: Path) -> None:
    """Records shipped read-only (0444) are what --out is for: the copy is owner-writable
    (else it got 0444 too, and every later night that changed it failed with exit 2)."""
    src = tmp_path / "news" / "a.md"
    src.parent.mkdir()
    src.write_bytes(b"---\na: 1\n---\n")
    src.chmod(0o444)
    dest = tmp_path / "out" / "a.md"
    record = read(src)
    assert records.write_record(record, b"---\na: 2\n---\n", dest) is True
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert records.write_record(record, b"---\na: 3\n---\n", dest) is True
    assert dest.read_bytes() == b"---\na: 3\n---\n"
    assert stat.S_IMODE(src.stat().st_mode) == 0o444 and src.read_bytes() == record.raw


def test_write_record_to_out_dir(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    paths = [p for p, _ in records.iter_record_paths([str(root)])]
    common = records.common_root(paths)
    assert common == root
    src = root / "b" / "c" / "y.MD"
    src.chmod(0o640)
    dest = records.output_path(src, common, tmp_path / "out")
    assert dest == tmp_path / "out" / "b" / "c" / "y.MD"
    record = read(src)
    assert records.write_record(record, record.raw, dest) is True
    assert dest.read_bytes() == record.raw
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert records.write_record(record, record.raw, dest) is False
    with pytest.raises(ValueError, match="not inside"):
        records.output_path(tmp_path / "elsewhere.md", root, tmp_path / "out")
    assert records.common_root([root / "a.md"]) == root
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)  # root given resolved
    assert records.output_path(tmp_path / "alias" / "a.md", root, tmp_path / "o") == (
        tmp_path / "o" / "a.md"
    )


def test_stale_temp_files_of_a_killed_run_are_swept(tmp_path: Path) -> None:  # hostile 57
    old = tmp_path / f"{records.TEMP_PREFIX}abc.tmp"
    fresh = tmp_path / f"{records.TEMP_PREFIX}def.tmp"
    other = tmp_path / "notes.tmp"
    record = tmp_path / "a.md"
    for path in (old, fresh, other, record):
        path.write_bytes(b"x")
    now = time.time()
    os.utime(old, (now - 2 * records.STALE_TEMP_AGE,) * 2)
    assert records.sweep_stale_temps(tmp_path, now) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [fresh.name, other.name, record.name])
    assert records.sweep_stale_temps(tmp_path / "missing", now) == 0


# --- moving sequence items (--prune-dead) and the size cap ----------------------------------


PRUNE = """---
title: "Harbour roundup"
related:
  - title: A  # keep comment
    publishedDateTime: 2020-11-18T18:44:00Z
    country: NO
    id: 012
    webUrl: "https://a.example/keep"
  # about B
  - title: 'B'
    # inside B
    webUrl: https://b.example/dead
    provider:
      name: Gazette
  - title: C
    webUrl: https://c.example/keep
quality: 7
---
Body *text*.
"""
CHECK = {"linkCheck": {"webUrl": {"status": "dead", "httpStatus": 404, "confirmed": True}}}
OK = {"linkCheck": {"webUrl": {"status": "ok"}}}
MOVE_B = {("related", 0): OK, ("related", 1): CHECK, ("related", 2): OK,
          (): {"related": records.MoveItems((1,), "deadRelated")}}
OK_LINES = "    linkCheck:\n      webUrl:\n        status: ok\n"
B_TEXT = ("  # about B\n  - title: 'B'\n    # inside B\n    webUrl: https://b.example/dead\n"
          "    provider:\n      name: Gazette\n    linkCheck:\n      webUrl:\n"
          "        status: dead\n        httpStatus: 404\n        confirmed: true\n")


def moved(data: dict[str, Any], indexes: tuple[int, ...],
          edits: dict[HolderPath, dict[str, Any]]) -> Any:
    """The data ``apply_edits`` must produce: item edits applied, items moved."""
    plain = {h: c for h, c in edits.items() if h != ()}
    out = expected_data(data, plain)
    items = out["related"]
    out["related"] = [x for i, x in enumerate(items) if i not in indexes]
    out["deadRelated"] = [*(out.get("deadRelated") or []), *(items[i] for i in indexes)]
    return out


def test_move_items_leaves_kept_items_byte_identical(tmp_path: Path) -> None:
    record = reread(tmp_path, PRUNE.encode())
    new = records.apply_edits(record, MOVE_B).decode()
    kept = ("  - title: A  # keep comment\n    publishedDateTime: 2020-11-18T18:44:00Z\n"
            "    country: NO\n    id: 012\n    webUrl: \"https://a.example/keep\"\n" + OK_LINES)
    assert new == PRUNE.replace(PRUNE[PRUNE.index("  - title: A") : PRUNE.index("quality")],
                                kept + "  - title: C\n    webUrl: https://c.example/keep\n"
                                + OK_LINES).replace("quality: 7\n", "quality: 7\ndeadRelated:\n"
                                                    + B_TEXT)
    again = reread(tmp_path, new.encode(), "again.md")
    assert typed(again.data) == typed(moved(record.data, (1,), MOVE_B))
    assert records.apply_edits(again, {("related", 0): OK}) == again.raw  # stable


def test_a_moved_item_takes_its_trailing_comment_lines(tmp_path: Path) -> None:
    """A comment below the item's last key, indented as its keys, is the item's: it moves
    with it (it was left behind, reading as the kept item's above). One at the dash's
    column stays: it may be about the next item."""
    text = PRUNE.replace("      name: Gazette\n", "      name: Gazette\n    # B's last word\n"
                         "  # about C\n")
    new = records.apply_edits(reread(tmp_path, text.encode()), MOVE_B).decode()
    kept, dead = new.split("deadRelated:\n")
    assert "# B's last word" not in kept and "  # about C\n  - title: C\n" in kept
    assert dead.startswith(B_TEXT + "    # B's last word\n")  # after the linkCheck added


def test_move_items_crlf(tmp_path: Path) -> None:
    raw = PRUNE.replace("\n", "\r\n").encode()
    record = reread(tmp_path, raw)
    new = records.apply_edits(record, MOVE_B)
    assert bare_lf(new) == 0 and body(new) == body(raw)
    assert new.decode() == records.apply_edits(
        reread(tmp_path, PRUNE.encode(), "lf.md"), MOVE_B).decode().replace("\n", "\r\n")


def test_move_items_to_an_existing_dead_related(tmp_path: Path) -> None:
    for old in ("deadRelated:\n- title: Old\n  webUrl: gone\n",  # indentless: re-indented
                "deadRelated:\n    - title: Old\n      webUrl: gone\n"):  # deeper
        text = PRUNE.replace("quality: 7\n", old + "quality: 7\n")
        record = reread(tmp_path, text.encode())
        new = records.apply_edits(record, MOVE_B).decode()
        assert new.startswith(PRUNE[: PRUNE.index("  # about B")])
        assert old in new  # the existing items are untouched; ours follow them
        shift = old.index("- title") - old.index("\n") - 1 - 2
        lines = [(line[-shift:] if shift < 0 else " " * shift + line) if line else line
                 for line in B_TEXT.split("\n")]
        assert old + "\n".join(lines) + "quality: 7\n" in new
        assert typed(reread(tmp_path, new.encode(), "n.md").data) == typed(
            moved(record.data, (1,), MOVE_B))
    for empty in ("deadRelated:", "deadRelated: []  # none yet", "deadRelated: ~"):
        record = reread(tmp_path, PRUNE.replace("quality: 7", empty).encode())
        new = records.apply_edits(record, MOVE_B).decode()
        assert new.endswith(empty.replace(" []", "").replace(" ~", "") + "\n" + B_TEXT
                            + "---\nBody *text*.\n")


def test_move_every_item_leaves_an_empty_list(tmp_path: Path) -> None:
    record = reread(tmp_path, PRUNE.encode())
    edits: dict[HolderPath, dict[str, Any]] = {
        ("related", i): CHECK for i in range(3)}
    edits[()] = {"related": records.MoveItems((0, 1, 2), "deadRelated")}
    new = records.apply_edits(record, edits).decode()
    assert "related: []\nquality: 7\ndeadRelated:\n  - title: A  # keep comment\n" in new
    assert "  - title: C\n    webUrl: https://c.example/keep\n    linkCheck:\n" in new
    data = reread(tmp_path, new.encode(), "n.md").data
    assert data["related"] == [] and typed(data) == typed(moved(record.data, (0, 1, 2), edits))


def test_move_refused_where_not_spliceable(tmp_path: Path) -> None:
    flow = '---\ntitle: T\nrelated: [{title: A, webUrl: x}, {title: B, webUrl: y}]\n---\nb\n'
    aliased = "---\nx: &r\n  - title: A\n  - title: B\nrelated: *r\n---\nb\n"
    anchored = "---\nrelated:\n  - title: A\n  - &b\n    title: B\nlater: *b\n---\nb\n"
    scalar = "---\ntitle: T\nrelated:\n  - title: A\n  - title: B\ndeadRelated: none\n---\nb\n"
    flow_map = "---\nrelated:\n  - title: A\n  - title: B\ndeadRelated: {a: 1}\n---\nb\n"
    for text, line, why in ((flow, 3, "flow-style list"), (aliased, 2, "YAML alias"),
                            (anchored, None, ""), (scalar, 6, "deadRelated: it is not a list"),
                            (flow_map, 5, "deadRelated: it is not a list")):
        record = reread(tmp_path, text.encode())
        edits = {(): {"checked": True, "related": records.MoveItems((1,), "deadRelated")}}
        with pytest.raises(records.PartialEdit) as caught:
            records.apply_edits(record, edits)
        message = str(caught.value)
        assert message.startswith("--prune-dead skipped: ") and "\n" not in message
        assert why in message and (line is None or caught.value.line == line)
        assert caught.value.new == text.replace("\n---\nb", "\nchecked: true\n---\nb").encode()


def test_record_over_max_record_bytes_is_not_written(tmp_path: Path) -> None:
    (tmp_path / "r.md").write_bytes(PRUNE.encode())
    record = records.read_record(tmp_path / "r.md", "r.md", max_bytes=len(PRUNE) + 20)
    assert isinstance(record, Record)
    assert records.apply_edits(record, {(): {"a": 1}})  # a small edit fits
    with pytest.raises(EditError, match=r"over max_record_bytes \(\d+\).*raise max_record_bytes"):
        records.apply_edits(record, MOVE_B)


def test_a_run_skips_a_record_that_would_outgrow_max_record_bytes(tmp_path: Path) -> None:
    import asyncio

    from rich.console import Console

    from enricher import app
    from enricher.config import Config
    from enricher.progress import QuietReporter

    small = "---\ntitle: T\nwebUrl: not a url\n---\nb\n"  # invalid: no request is made
    (tmp_path / "big.md").write_text(small.replace("T", "T" * 40), encoding="utf-8")
    (tmp_path / "small.md").write_text(small, encoding="utf-8")
    cap = len(small) + 100  # both fit; only small.md (+92 bytes) still fits once enriched
    config = Config(in_place=True, max_record_bytes=cap, state_file=None)
    run = asyncio.run(app.run("enrich", [str(tmp_path)], config,
                              QuietReporter(Console(file=io.StringIO()), False), write=True))
    assert [(e.file.endswith("big.md"), "raise max_record_bytes" in e.message)
            for e in run.record_errors] == [(True, True)]
    assert (tmp_path / "big.md").read_text(encoding="utf-8") == small.replace("T", "T" * 40)
    assert "linkCheck" in (tmp_path / "small.md").read_text(encoding="utf-8")
    assert len((tmp_path / "small.md").read_bytes()) <= cap


def test_edit_errors_carry_the_file_line(tmp_path: Path) -> None:
    text = "---\ntitle: T\nrelated: [{title: A, webUrl: x}]\n---\nb\n"
    record = reread(tmp_path, text.encode())
    with pytest.raises(EditError) as caught:
        records.apply_edits(record, {("related", 0): {"linkCheck": {"webUrl": {"s": 1}}}})
    assert caught.value.line == 3 and "flow style" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_interrupted_write_phase_counts_what_it_wrote(tmp_path: Path) -> None:
    """A cancellation lands between two records: each file is old or new, and the tally
    counts exactly the new ones (the summary of an interrupted run says so)."""
    import asyncio

    from rich.console import Console

    from enricher import app
    from enricher.config import Config
    from enricher.progress import QuietReporter

    text = "---\ntitle: T\nwebUrl: not a url\n---\nb\n"  # invalid: checked without a request
    paths = []
    for i in range(40):
        (tmp_path / f"r{i:02}.md").write_text(text, encoding="utf-8")
        paths.append((tmp_path / f"r{i:02}.md", f"r{i:02}.md"))
    col = app.Collection(record_paths=paths)
    tally = app.WriteTally()

    async def main() -> None:
        task = asyncio.create_task(app.write_phase(
            col.record_paths, {}, Config(in_place=True),
            QuietReporter(Console(file=io.StringIO()), False), "2026-11-27T00:00:00Z",
            tally=tally))
        for _ in range(10):  # the phase writes about one record per pause
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    written = sum((tmp_path / f"r{i:02}.md").read_text(encoding="utf-8") != text
                  for i in range(40))
    assert 0 < written < 40 and tally.changed == written and not tally.errors


def test_walk_order_and_dedupe_match_sorted_resolved_paths(tmp_path: Path) -> None:
    """The one-folder-at-a-time walk gives the order of sorting whole paths by their parts
    (a folder's files sit where its name sorts), each file once by realpath: a symlink to a
    file counts once (also through a glob over a symlinked folder), a hard link is its own
    path, as before."""
    root = tmp_path / "r"
    for name in ("b.md", "b/x.md", "b-x.md", "ba.md", "a.md", "b/c/y.markdown", "z.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("---\nx: 1\n---\n")
    (root / "b" / "link.md").symlink_to(root / "ba.md")
    os.link(root / "a.md", root / "hard.md")
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    found = [d for _, d in records.iter_record_paths([str(root)])]
    parts = sorted([f"{root}/{n}" for n in ("b.md", "b/x.md", "b-x.md", "ba.md", "a.md",
                    "b/c/y.markdown", "b/link.md", "hard.md")], key=lambda p: p.split(os.sep))
    parts.remove(f"{root}/ba.md")  # b/link.md, its symlink, comes first
    assert found == parts
    assert found.index(f"{root}/b/x.md") < found.index(f"{root}/b-x.md")
    globbed = [d for _, d in records.iter_record_paths(
        [f"{tmp_path}/alias/*.md", f"{root}/a.md", f"{root}/ba.md"])]
    assert globbed == [f"{tmp_path}/alias/{n}" for n in ("a.md", "b-x.md", "b.md", "ba.md",
                                                         "hard.md")]


def test_record_paths_lists_lazily(tmp_path: Path) -> None:
    """``record_paths`` reads one folder per step (a caller can pause between paths) and
    expands an input when its turn comes; ``iter_record_paths`` expands all first."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "1.md").write_text("---\nx: 1\n---\n")
    lazy = records.record_paths([str(tmp_path), str(tmp_path / "missing")])
    assert next(lazy) == f"{tmp_path}/a/1.md"
    (tmp_path / "b" / "2.md").write_text("---\nx: 1\n---\n")  # b is listed after a's files
    assert next(lazy) == f"{tmp_path}/b/1.md"
    assert next(lazy) == f"{tmp_path}/b/2.md"
    with pytest.raises(UsageError, match="input not found"):
        next(lazy)
    with pytest.raises(UsageError, match="input not found"):
        next(records.iter_record_paths([str(tmp_path), str(tmp_path / "missing")]))


def test_discover_lets_a_signal_handler_in_while_listing(tmp_path: Path) -> None:
    """A long listing pauses for the event loop every few thousand paths, so Ctrl-C (a
    cancellation) lands before any record is read."""
    import asyncio

    from rich.console import Console

    from enricher import app
    from enricher.config import Config
    from enricher.progress import QuietReporter

    for i in range(5000):
        (tmp_path / f"{i:04}.md").write_bytes(b"---\nx: 1\n---\n")
    col = app.Collection()

    async def main() -> None:
        reporter = QuietReporter(Console(file=io.StringIO()), False)
        gen = app.discover([str(tmp_path)], col, Config(), reporter)
        task = asyncio.create_task(anext(gen, None))
        await asyncio.sleep(0)  # the task lists paths up to its first pause
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await gen.aclose()

    asyncio.run(main())
    assert col.read == 0


def test_unwritable_says_what_is_read_only_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only file system (EROFS), a read-only file and an unwritable folder each get
    one line naming the culprit and the fix; the file is left as it was."""
    import errno

    path = tmp_path / "r.md"
    path.write_bytes(b"original")
    real_statvfs = os.statvfs

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "access", lambda *_a, **_k: False)  # as access(2) on a ro mount
    monkeypatch.setattr(os, "statvfs", lambda _p: ReadOnly())
    with pytest.raises(OSError, match="the file system is read-only: remount it read-write"
                       ) as caught:
        records.write_atomic(path, b"new")
    assert caught.value.errno == errno.EROFS and "--out DIR" in caught.value.strerror
    dest = tmp_path / "out" / "r.md"  # --out on a read-only file system: mkstemp fails
    monkeypatch.undo()
    monkeypatch.setattr(os, "statvfs", lambda _p: ReadOnly())

    def refuse(*_a: object, **_k: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(records.tempfile, "mkstemp", refuse)
    with pytest.raises(OSError, match="file system is read-only"):
        records.write_record(read_or_make(tmp_path), b"---\nb: 1\n---\n", dest)
    monkeypatch.setattr(os, "statvfs", real_statvfs)

    def denied(*_a: object, **_k: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(records.tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError, match=f"the folder {tmp_path} is not writable"):
        records.write_atomic(path, b"new")
    monkeypatch.undo()
    path.chmod(0o444)
    with pytest.raises(PermissionError, match=r"the file is read-only \(mode 444\)") as caught:
        records.write_atomic(path, b"new")
    assert "\n" not in str(caught.value) and "chmod u+w" in caught.value.strerror
    assert path.read_bytes() == b"original"
    assert sorted(os.listdir(tmp_path)) == ["out", "r.md", "src.md"]  # no temp file


def read_or_make(folder: Path) -> records.Record:
    path = folder / "src.md"
    path.write_bytes(b"---\na: 1\n---\n")
    return read(path)


def test_write_atomic_keeps_the_group_when_the_owner_cannot_be_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not root, chown to the file's owner fails as a whole (EPERM): the group is then set
    alone, so a shared group-writable record stays in its group."""
    import errno

    path = tmp_path / "r.md"
    path.write_bytes(b"old")
    st = path.stat()
    calls: list[tuple[int, int]] = []
    real_chown = os.chown

    def chown(target: str, uid: int, gid: int) -> None:
        calls.append((uid, gid))
        if uid != -1:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real_chown(target, uid, gid)

    monkeypatch.setattr(os, "getuid", lambda: st.st_uid + 1)  # someone else's file
    monkeypatch.setattr(os, "chown", chown)
    records.write_atomic(path, b"new")
    assert calls == [(st.st_uid, st.st_gid), (-1, st.st_gid)]
    assert path.read_bytes() == b"new" and path.stat().st_gid == st.st_gid


def test_write_atomic_copies_extended_attributes_best_effort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.md"
    path.write_bytes(b"old")
    try:
        os.setxattr(path, "user.note", b"keep")
    except OSError as exc:  # pragma: no cover - depends on the file system
        pytest.skip(f"no user extended attributes here: {exc.strerror}")
    records.write_atomic(path, b"new")
    assert os.getxattr(path, "user.note") == b"keep" and path.read_bytes() == b"new"

    def refuse(*_a: object, **_k: object) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", refuse)  # an attribute that cannot be set
    records.write_atomic(path, b"newer")  # never fails the write
    assert path.read_bytes() == b"newer"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(records.TEMP_PREFIX)]


@pytest.mark.parametrize("how", ["in place", "replaced"])
def test_write_record_refuses_a_file_changed_during_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The record changes on disk after it was checked, while the temp file is fsynced:
    checked again just before the rename, it is not overwritten."""
    import errno

    path = tmp_path / "r.md"
    path.write_bytes(b"---\na: 1\n---\n")
    record = read(path)
    real_fsync = os.fsync
    edited = b"---\na: 1\nnote: by hand\n---\n"

    def fsync_while_someone_edits(fd: int) -> None:
        real_fsync(fd)
        if path.read_bytes() != edited:
            if how == "in place":
                path.write_bytes(edited)
            else:  # an editor that saves to a new file and renames it
                (tmp_path / "swap").write_bytes(edited)
                os.replace(tmp_path / "swap", path)

    monkeypatch.setattr(os, "fsync", fsync_while_someone_edits)
    with pytest.raises(OSError, match="changed on disk") as caught:
        records.write_record(record, records.apply_edits(record, {(): {"b": 1}}), path)
    assert caught.value.errno == errno.EBUSY
    assert path.read_bytes() == edited
    assert sorted(os.listdir(tmp_path)) == ["r.md"]  # no temp file left


@pytest.mark.parametrize("header", ["|", ">-", "|-", ">"])
@pytest.mark.parametrize("where", ["root", "item"])
def test_an_edit_after_a_block_scalar_keeps_its_overindented_blank_line(
        tmp_path: Path, header: str, where: str) -> None:
    """``excerpt: |`` whose last line holds only spaces, more than its indentation: YAML
    keeps those spaces as content, so the new key goes after that line (it used to go
    before it, and the read-back check refused every night's edit of the record)."""
    if where == "root":
        text = f"---\ntitle: t\nexcerpt: {header}\n  para\n     \n---\nbody\n"
        holder: HolderPath = ()
    else:
        text = (f"---\ntitle: t\nrelated:\n  - webUrl: x\n    excerpt: {header}\n      para\n"
                f"        \n---\nbody\n")
        holder = ("related", 0)
    record = reread(tmp_path, text.encode())
    new = records.apply_edits(record, {holder: OK})
    again = reread(tmp_path, new, "n.md")
    expected = copy.deepcopy(record.data)
    (expected if where == "root" else expected["related"][0])["linkCheck"] = OK["linkCheck"]
    assert typed(again.data) == typed(expected)
    assert new.startswith(text[: text.index("\n---\nbody")].encode())  # every byte kept


def test_an_edit_that_would_not_read_back_names_its_line(tmp_path: Path) -> None:
    """Replacing an anchored value (``title: &t ""`` used by ``other: *t``) would change
    ``other`` too: refused, with the line of the edit (the message had no line)."""
    text = '---\nwebUrl: x\ntitle: &t ""\nother: *t\n---\nb\n'
    record = reread(tmp_path, text.encode())
    with pytest.raises(EditError) as caught:
        records.apply_edits(record, {(): {"title": "New"}})
    assert caught.value.line == 3 and "would not read back as intended" in str(caught.value)


@pytest.mark.parametrize(("before", "after"), [
    ("excerpt: |  # TODO write the teaser\ntags: [x]\n",
     'excerpt: "New text"  # TODO write the teaser\ntags: [x]\n'),
    ("excerpt: >-\t# folded\n  old\n  text\ntags: [x]\n",
     'excerpt: "New text"\t# folded\ntags: [x]\n'),
    ("excerpt: |\n  old\ntags: [x]\n", 'excerpt: "New text"\ntags: [x]\n'),
    # the white space after the colon stays too (a tab or several spaces became one space)
    ("excerpt:\t''\n", 'excerpt:\t"New text"\n'),
    ("excerpt:    ''  # teaser\n", 'excerpt:    "New text"  # teaser\n'),
])
def test_a_replaced_value_keeps_its_header_comment_and_spacing(
        tmp_path: Path, before: str, after: str) -> None:
    record = reread(tmp_path, f"---\ntitle: t\n{before}---\nbody\n".encode())
    new = records.apply_edits(record, {(): {"excerpt": "New text"}})
    assert new == f"---\ntitle: t\n{after}---\nbody\n".encode()


@pytest.mark.parametrize("after", ["", "  - webUrl: c\n"])
def test_a_move_after_a_keep_scalar_leaves_its_content_alone(tmp_path: Path, after: str) -> None:
    """A kept item ending with ``excerpt: |+`` and the dead item after it followed by a
    blank line: that line goes with the cut (it would join the kept scalar's content, and
    the move was refused)."""
    text = ("---\nrelated:\n  - webUrl: a\n    excerpt: |+\n      keep\n\n"
            f"  - webUrl: dead\n\n{after}title: t\n---\nbody\n")
    record = reread(tmp_path, text.encode())
    edits = {(): {"related": records.MoveItems((1,), "deadRelated")}}
    new = records.apply_edits(record, edits).decode()
    data = reread(tmp_path, new.encode(), "n.md").data
    assert data["related"][0]["excerpt"] == "keep\n\n"
    assert data["deadRelated"] == [{"webUrl": "dead"}]
    assert new.startswith("---\nrelated:\n  - webUrl: a\n    excerpt: |+\n      keep\n\n"
                          f"{after}title: t\n")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize(("old", "new", "after"), [
    ("  webUrl:\n    status: dead\n", {"webUrl": {"status": "ok"}},
     "linkCheck:  # by enricher\n  webUrl:\n    status: ok\n"),
    ("- stale\n", {"webUrl": {"status": "ok"}},
     "linkCheck:  # by enricher\n  webUrl:\n    status: ok\n"),
    ("  webUrl:\n    status: dead\n", "x", "linkCheck: x  # by enricher\n"),
    ("  webUrl:\n    status: dead  # hand\n", {"webUrl": {"status": "ok"}},
     "linkCheck:  # by enricher  # hand\n  webUrl:\n    status: ok\n"),
])
def test_a_comment_on_the_key_line_of_a_replaced_block_value_stays(
        tmp_path: Path, newline: str, old: str, new: Any, after: str) -> None:
    """``linkCheck:  # by enricher`` above a block mapping or list: the comment is on the
    key's line, not in the value, and stays when the value is replaced (it was dropped, while
    one after ``key: []`` or a block scalar's header stayed)."""
    text = f"---\ntitle: t\nlinkCheck:  # by enricher\n{old}excerpt: e\n---\nbody\n"
    record = reread(tmp_path, text.replace("\n", newline).encode())
    edited = records.apply_edits(record, {(): {"linkCheck": new}})
    want = f"---\ntitle: t\n{after}excerpt: e\n---\nbody\n"
    assert edited.decode() == want.replace("\n", newline)
    again = reread(tmp_path, edited, "n.md")
    assert records.apply_edits(again, {(): {"linkCheck": new}}) == edited


def test_a_record_moved_away_since_reading_is_not_written_again(tmp_path: Path) -> None:
    """In place, a record renamed or deleted between reading and writing stays gone: the
    run does not recreate it (the record would exist twice); --out copies are created."""
    path = tmp_path / "r.md"
    path.write_bytes(b"---\na: 1\n---\n")
    record = read(path)
    new = records.apply_edits(record, {(): {"b": 1}})
    os.replace(path, tmp_path / "renamed.md")
    with pytest.raises(OSError, match="moved or deleted since it was read") as caught:
        records.write_record(record, new, path)
    assert caught.value.errno == errno.ENOENT
    assert sorted(os.listdir(tmp_path)) == ["renamed.md"]
    assert records.write_record(record, new, tmp_path / "out" / "r.md")
    assert (tmp_path / "out" / "r.md").read_bytes() == new


def test_a_record_replaced_by_a_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """A FIFO put where a record was: open(path, "rb") blocked for ever (SIGTERM too, and
    the history's lock stayed held, so every later night exited 2). A one-line error."""
    from concurrent.futures import ThreadPoolExecutor

    fifo = tmp_path / "a.md"
    os.mkfifo(fifo)
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(records.read_record, fifo, "a.md")
        try:
            got = reading.result(timeout=5)
        finally:
            if not reading.done():  # the old open() waits for a writer: be one, then go
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert isinstance(got, RecordError)
    assert "no regular file (a FIFO, socket or device)" in got.message
    gone = records.read_record(tmp_path / "gone.md", "gone.md")
    assert isinstance(gone, RecordError) and "moved or deleted" in gone.message


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_fix_up_keeps_the_comments_between_a_key_and_its_value(
        tmp_path: Path, newline: str) -> None:
    """From an audit: --update-redirects and --fill-missing replaced ``key:`` through the end
    of its value, and only a comment on the key's line came back: comment lines between
    the key and a value below it (also under an anchor left on the key's line), and those
    inside an empty ``[ ]``, were deleted."""
    text = ("---\ntitle: T\nwebUrl:\n  # canonical: keep the utm id, ask Jane\n"
            "  https://old.example/a\nexcerpt: # legal\n  # second note\n  \"\"\n"
            "images: [\n  # photo desk will add one\n]\nrelated:\n  - webUrl: &b\n"
            "      # note B\n      https://old.example/b\n---\nbody\n").replace("\n", newline)
    path = tmp_path / "c.md"
    path.write_bytes(text.encode())
    record = read(path)
    new = records.apply_edits(record, {
        (): {"webUrl": "https://new.example/a", "excerpt": "E",
             "images": [{"url": "https://i.example/1.png"}]},
        ("related", 0): {"webUrl": "https://new.example/b"}}).decode()
    for note in ("# canonical: keep the utm id, ask Jane", "# legal", "# second note",
                 "# photo desk will add one", "# note B"):
        assert new.count(note) == 1, note
    assert "\n" not in new.replace(newline, "")  # every line end as the record's
    data = yaml.safe_load(new.split("---")[1])
    assert data == {"title": "T", "webUrl": "https://new.example/a", "excerpt": "E",
                    "images": [{"url": "https://i.example/1.png"}],
                    "related": [{"webUrl": "https://new.example/b"}]}


def test_a_filled_empty_value_leaves_the_comments_after_it_once(tmp_path: Path) -> None:
    """From a review: an empty value ends on its key's line; the comment lines after it
    (about what follows) were taken for notes below the value and written twice."""
    path = tmp_path / "e.md"
    path.write_bytes(b"---\ntitle: T\nexcerpt: &e\n# --- images: ask the photo desk ---\n"
                     b"images: []\n---\nbody\n")
    new = records.apply_edits(read(path), {(): {"excerpt": "E"}}).decode()
    assert new == ("---\ntitle: T\nexcerpt: E\n# --- images: ask the photo desk ---\n"
                   "images: []\n---\nbody\n")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_moved_first_item_takes_the_comment_lines_above_its_dash(
        tmp_path: Path, newline: str) -> None:
    """The first item's comment above its ``-`` stayed in ``related``, over the next item
    (for every other item it moved along). One at the key's column stays: it is the key's."""
    text = ("---\nrelated:\n# the list's own\n  # first: the dead one\n  - title: A\n"
            "    webUrl: https://a.example/gone\n  # about B\n  - title: B\n"
            "    webUrl: https://b.example/ok\n---\nbody\n")
    record = reread(tmp_path, text.replace("\n", newline).encode())
    new = records.apply_edits(record, {(): {"related": records.MoveItems((0,), "deadRelated")}})
    kept, dead = new.decode().replace(newline, "\n").split("deadRelated:\n")
    assert kept == ("---\nrelated:\n# the list's own\n  # about B\n  - title: B\n"
                    "    webUrl: https://b.example/ok\n")
    assert dead == ("  # first: the dead one\n  - title: A\n"
                    "    webUrl: https://a.example/gone\n---\nbody\n")


def test_a_list_item_that_is_no_mapping_is_named_at_its_own_line(tmp_path: Path) -> None:
    """``images[2] is not a mapping`` pointed at ``images[0]``'s line (the list's)."""
    from enricher import api

    path = tmp_path / "f.md"
    path.write_text('---\ntitle: "t"\nimages:\n  - url: "https://a.example/a"\n'
                    '  - url: "https://a.example/b"\n  - "str"\nrelated:\n'
                    '  - webUrl: "https://a.example/c"\n  - 7\n---\n', encoding="utf-8")
    _, errors = api.links([str(path)])
    assert sorted((e.line, e.message.split(" is ")[0]) for e in errors) == [
        (6, "images[2]"), (9, "related[1]")]
    record = read(path)
    assert record.line_of(("images",), 2) == 6 and record.line_of(("images",), 3) is None
    path.write_text('---\ntitle: &t "x"\nimages:\n  - &u url: "https://a.example/a"\n'
                    '  - *t\n  - *u\n---\n', encoding="utf-8")  # aliases: the key's line,
    record = read(path)  # not the anchor's (2), nor images[0]'s (4)
    assert record.line_of(("images",), 1) == record.line_of(("images",), 2) == 3


def test_with_dashes_at_the_keys_column_the_lists_comment_stays(tmp_path: Path) -> None:
    """``related:`` / ``# about the list`` / ``- title: A``: the comment at the key's column
    is the list's (or the key's), not the first item's, also where the dashes sit there."""
    text = ("---\nrelated:\n# about the list\n- title: A\n  webUrl: https://a.example/gone\n"
            "- title: B\n  webUrl: https://b.example/ok\n---\nbody\n")
    record = reread(tmp_path, text.encode())
    new = records.apply_edits(record, {(): {"related": records.MoveItems((0,), "deadRelated")}})
    kept, dead = new.decode().split("deadRelated:\n")
    assert kept == "---\nrelated:\n# about the list\n- title: B\n  webUrl: https://b.example/ok\n"
    assert dead.startswith("- title: A\n")
