"""Tests for enricher.links: URL slots of front matter with their origins, shape problems,
caps, hostile structures (self-reference, alias-bomb-like sharing), dedupe, the AMP cache URL,
and a pass over the real records in /work/shared/records when that folder exists."""

from __future__ import annotations

import ast
import datetime as dt
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from enricher import links
from enricher.config import DEFAULT_MAX_URLS_PER_RECORD
from enricher.links import LinkSlots, ShapeProblem, amp_cache_url, dedupe, extract_links
from enricher.models import HolderPath, LinkKind, LinkRef, LinkStatus
from enricher.net.urls import CleanURL, clean_url

PAGE, REACH, IMAGE = LinkKind.PAGE, LinkKind.REACH, LinkKind.IMAGE
RECORDS = Path("/work/shared/records")
LIST_FIX = "; write it as a list of '- ' items"
MAP_FIX = "; write it as 'key: value' fields"
ITEM_FIX = "; write each item as 'key: value' fields"


def full_record() -> dict[str, Any]:
    return {
        "title": "A story",
        "originalUrl": "https://news.example/story?a=1&#038;b=2",
        "webUrl": "https://news.example/story?a=1&b=2",
        "ampWebUrl": "https://news.example/amp/story",
        "cdnAmpWebUrl": "https://news-example.cdn.ampproject.org/c/s/news.example/amp/story",
        "provider": {"name": "News", "images": [{"url": "https://cdn.example/logo.png"}]},
        "images": [{"url": "https://cdn.example/a.jpg", "width": 10}, {"url": ""}],
        "related": [
            {
                "title": "Other",
                "webUrl": "https://other.example/x",
                "ampWebUrl": "https://other.example/amp/x",
                "cdnAmpWebUrl": "https://other-example.cdn.ampproject.org/c/s/other.example/amp/x",
                "images": [{"url": "https://cdn.example/b.jpg"}],
            },
            {"webUrl": "https://third.example/"},
        ],
    }


def fields(slots: LinkSlots) -> list[str]:
    return [ref.origin.field for ref in slots.refs]


def test_every_slot_kind_in_document_order() -> None:
    slots = extract_links(full_record(), "r/a.md")
    assert slots.problems == ()
    assert fields(slots) == [
        "originalUrl",
        "webUrl",
        "ampWebUrl",
        "cdnAmpWebUrl",
        "provider.images[0].url",
        "images[0].url",
        "images[1].url",
        "related[0].webUrl",
        "related[0].ampWebUrl",
        "related[0].cdnAmpWebUrl",
        "related[0].images[0].url",
        "related[1].webUrl",
    ]
    kinds = [ref.kind for ref in slots.refs]
    assert kinds == [PAGE, PAGE, REACH, REACH, IMAGE, IMAGE, IMAGE, PAGE, REACH, REACH, IMAGE, PAGE]
    by_field = {ref.origin.field: ref for ref in slots.refs}
    image = by_field["related[0].images[0].url"]
    assert (image.holder, image.key) == (("related", 0, "images", 0), "url")
    assert by_field["related[1].webUrl"].holder == ("related", 1)
    assert by_field["webUrl"].holder == ()
    assert by_field["provider.images[0].url"].holder == ("provider", "images", 0)
    assert all(ref.origin.file == "r/a.md" and ref.origin.line is None for ref in slots.refs)


def test_document_order_follows_the_mapping() -> None:
    data = {"images": [{"url": "https://a.example/i.png"}], "webUrl": "https://a.example/"}
    assert fields(extract_links(data, "f")) == ["images[0].url", "webUrl"]


def test_values_are_cleaned_and_raw_is_kept_as_written() -> None:
    slots = extract_links(full_record(), "f")
    original = slots.refs[0]
    assert original.raw == "https://news.example/story?a=1&#038;b=2"
    assert original.url == "https://news.example/story?a=1&b=2"
    assert original.status is None and original.reason is None
    empty = slots.refs[6]
    assert (empty.url, empty.status, empty.reason, empty.raw) == (
        None,
        LinkStatus.INVALID,
        "empty",
        "",
    )


def test_missing_fields_give_no_slot() -> None:
    assert extract_links({"title": "x"}, "f") == LinkSlots((), ())
    assert extract_links({}, "f") == LinkSlots((), ())
    assert extract_links({"related": [{"title": "no urls"}]}, "f") == LinkSlots((), ())
    assert extract_links({"images": None, "related": None, "provider": None}, "f").problems == ()


@pytest.mark.parametrize(
    ("value", "raw", "reason"),
    [
        (None, "null", "not_a_string"),
        (42, "42", "not_a_string"),
        (True, "true", "not_a_string"),
        (1.5, "1.5", "not_a_string"),
        (dt.date(2024, 1, 1), "2024-01-01", "not_a_string"),
        (["https://a.example/"], "<list of 1 item>", "not_a_string"),
        ({"url": "https://a.example/"}, "<mapping of 1 key>", "not_a_string"),
        (b"\x00\x01", "<binary, 2 bytes>", "not_a_string"),
        ({"a", "b"}, "<set of 2 items>", "not_a_string"),
        pytest.param(10**5000, "<very large number>", "not_a_string", id="huge-int"),
        ("", "", "empty"),
        ("   ", "   ", "empty"),
        ("ftp://files.example/x", "ftp://files.example/x", "bad_scheme"),
        ("data:image/gif;base64,R0lGOD", "data:image/gif;base64,R0lGOD", "data_url"),
        ("/relative/path", "/relative/path", "relative"),
        ("www.example.com/x", "www.example.com/x", "no_scheme"),
    ],
)
def test_unusable_values_give_a_slot_without_url(value: object, raw: str, reason: str) -> None:
    slots = extract_links({"webUrl": value, "related": [{"ampWebUrl": value}]}, "f")
    assert len(slots.refs) == 2
    for ref in slots.refs:
        assert (ref.url, ref.status, ref.reason, ref.raw) == (None, LinkStatus.INVALID, reason, raw)
        assert len(ref.raw) <= 200


def test_forbidden_port_is_skipped_not_invalid() -> None:
    (ref,) = extract_links({"webUrl": "http://a.example:25/"}, "f").refs
    assert (ref.url, ref.status, ref.reason) == (None, LinkStatus.SKIPPED, "forbidden_port")
    allowed = extract_links(
        {"webUrl": "http://a.example:25/"}, "f", allowed_low_ports=frozenset({25})
    )
    assert allowed.refs[0].url == "http://a.example:25/"


def test_max_length_is_passed_on() -> None:
    (ref,) = extract_links({"webUrl": "https://a.example/" + "x" * 50}, "f", max_length=40).refs
    assert ref.reason == "too_long"


def test_line_of_gives_lines_for_slots_and_problems() -> None:
    asked: list[tuple[HolderPath, str]] = []

    def line_of(holder: HolderPath, key: str) -> int | None:
        asked.append((holder, key))
        return {((), "webUrl"): 3, (("related", 0), "webUrl"): 9, ((), "images"): 5}.get(
            (holder, key)
        )

    data = {"webUrl": "https://a.example/", "images": "oops", "related": [{"webUrl": "x"}]}
    slots = extract_links(data, "r.md", line_of)
    assert [ref.origin.line for ref in slots.refs] == [3, 9]
    assert slots.problems == (ShapeProblem(f"images is not a list{LIST_FIX}", 5),)
    assert ((), "webUrl") in asked


@pytest.mark.parametrize("value", ["https://a.example/", 7, {"webUrl": "https://a.example/"}])
def test_related_not_a_list_is_a_problem_and_the_rest_goes_on(value: object) -> None:
    data = {"related": value, "webUrl": "https://b.example/"}
    slots = extract_links(data, "f", lambda holder, key: 12 if key == "related" else None)
    assert slots.problems == (ShapeProblem(f"related is not a list{LIST_FIX}", 12),)
    assert [ref.url for ref in slots.refs] == ["https://b.example/"]


def test_items_not_mappings_are_summarised() -> None:
    related: list[Any] = ["x", None, {"webUrl": "https://a.example/"}, 3, [1], "y"]
    slots = extract_links({"related": related}, "f")
    assert fields(slots) == ["related[2].webUrl"]
    assert [p.message for p in slots.problems] == [
        f"related[0], related[1], related[3] and 2 more are not a mapping{ITEM_FIX}",
    ]
    one = extract_links({"images": [{"url": "https://a.example/i"}, "bad"]}, "f")
    assert [p.message for p in one.problems] == [f"images[1] is not a mapping{ITEM_FIX}"]


def test_nested_shape_problems_name_the_field() -> None:
    data = {
        "provider": "News",
        "related": [
            {"webUrl": "https://a.example/", "images": {"url": "https://a.example/i.png"}},
            {"images": ["https://a.example/i.png"]},
        ],
    }
    slots = extract_links(data, "f")
    assert fields(slots) == ["related[0].webUrl"]
    assert [p.message for p in slots.problems] == [
        f"provider is not a mapping{MAP_FIX}",
        f"related[0].images is not a list{LIST_FIX}",
        f"related[1].images[0] is not a mapping{ITEM_FIX}",
    ]


def test_non_string_keys_and_unknown_keys_are_ignored() -> None:
    data: dict[Any, Any] = {1: "https://a.example/", None: "x", "url": "https://b.example/"}
    data["webUrl"] = "https://c.example/"
    assert [ref.url for ref in extract_links(data, "f").refs] == ["https://c.example/"]


def test_front_matter_that_is_not_a_mapping() -> None:
    slots = extract_links(["https://a.example/"], "f")  # type: ignore[arg-type]
    assert slots == LinkSlots((), (ShapeProblem("front matter is not a mapping"),))


def test_url_cap_per_record() -> None:
    images = [{"url": f"https://img.example/{i}.png"} for i in range(10_000)]
    slots = extract_links({"webUrl": "https://a.example/", "images": images}, "f")
    assert len(slots.refs) == DEFAULT_MAX_URLS_PER_RECORD
    assert slots.problems == (
        ShapeProblem(f"more than {DEFAULT_MAX_URLS_PER_RECORD} URLs in one record; "
                     "split the record"),
    )
    assert slots.refs[-1].origin.field == f"images[{DEFAULT_MAX_URLS_PER_RECORD - 2}].url"
    small = extract_links({"images": images[:5]}, "f", max_urls=5)
    assert (len(small.refs), small.problems) == (5, ())


def test_self_referential_structures_do_not_recurse() -> None:
    loop: list[Any] = []
    loop.append(loop)  # what YAML "related: &a [*a]" loads as
    item: dict[str, Any] = {"webUrl": "https://a.example/"}
    item["images"] = [item]  # an image item that is the related item itself
    item["related"] = [item]  # related items are not walked for "related"
    data: dict[str, Any] = {"related": loop, "images": loop}
    data["provider"] = data
    slots = extract_links(data, "f")
    assert slots.refs == ()
    assert [p.message for p in slots.problems] == [
        f"related[0] is not a mapping{ITEM_FIX}",
        f"images[0] is not a mapping{ITEM_FIX}",
        f"provider.images[0] is not a mapping{ITEM_FIX}",  # provider is the root itself
    ]
    again = extract_links({"related": [item]}, "f")
    assert fields(again) == ["related[0].webUrl"]  # item as its own image has no "url"
    assert again.problems == ()


def test_shared_structures_stop_at_the_cap_quickly() -> None:
    # like an alias bomb: 1000 related items sharing one mapping with 1000 shared images
    image = {"url": "https://img.example/a.png"}
    item = {"webUrl": "https://a.example/", "images": [image] * 1000}
    started = time.perf_counter()
    slots = extract_links({"related": [item] * 1000}, "f", max_urls=500)
    assert time.perf_counter() - started < 2.0  # 10^6 slots would take far longer
    assert len(slots.refs) == 500
    assert len(dedupe(slots.refs)) == 2
    assert len(slots.problems) == 1


def test_dedupe_counts_slots_per_url() -> None:
    data = {
        "originalUrl": "https://a.example/x?p=1&#038;q=2",
        "webUrl": "HTTPS://A.EXAMPLE:443/x?p=1&q=2#comments",
        "images": [{"url": "https://a.example/i.png"}, {"url": None}, {"url": "nope"}],
        "related": [{"webUrl": "https://a.example/x?p=1&amp;q=2"}],
    }
    refs = extract_links(data, "f").refs
    by_url = dedupe(refs)
    assert list(by_url) == ["https://a.example/x?p=1&q=2", "https://a.example/i.png"]
    assert [ref.origin.field for ref in by_url["https://a.example/x?p=1&q=2"]] == [
        "originalUrl",
        "webUrl",
        "related[0].webUrl",
    ]
    assert sum(len(v) for v in by_url.values()) == len(refs) - 2
    assert dedupe([]) == {}


def test_dedupe_across_records() -> None:
    refs: list[LinkRef] = []
    for n in range(1000):
        refs += extract_links({"webUrl": "https://same.example/"}, f"r{n}.md").refs
    by_url = dedupe(refs)
    assert list(by_url) == ["https://same.example/"]
    assert len(by_url["https://same.example/"]) == 1000


@pytest.mark.parametrize(
    ("amp", "cache"),
    [
        (
            "https://www.techspot.com/amp/x",
            "https://www-techspot-com.cdn.ampproject.org/c/s/www.techspot.com/amp/x",
        ),
        (
            "http://www.example.com/a",
            "https://www-example-com.cdn.ampproject.org/c/www.example.com/a",
        ),
        (
            "https://hello-world.com",
            "https://hello--world-com.cdn.ampproject.org/c/s/hello-world.com/",
        ),
        (
            "https://example.com/g?value=Hello%20World#frag",
            "https://example-com.cdn.ampproject.org/c/s/example.com/g?value=Hello%20World",
        ),
        (
            "https://news.example/story.html?AMP&amp;x=1",
            "https://news-example.cdn.ampproject.org/c/s/news.example/story.html?AMP&x=1",
        ),
        ("ftp://example.com/x", None),
        ("not a url", None),
        ("https://example.com:8443/x", None),
        ("https://[2001:db8::1]/x", None),
    ],
)
def test_amp_cache_url(amp: str, cache: str | None) -> None:
    assert amp_cache_url(amp) == cache


@pytest.mark.parametrize(("amp", "cdn", "mismatch"), [
    # amp-toolbox's own form of a bare origin (no slash), a Unicode origin host in the path,
    # escapes of another case or of an unreserved character: all the cache's URL (they were
    # invalid/amp_cache_mismatch, never fetched)
    ("https://amp.example.com", "https://amp-example-com.cdn.ampproject.org/c/s/amp.example.com",
     False),
    ("https://\u9ede\u770b.com/amp",
     "https://xn---com-k47jg78q.cdn.ampproject.org/c/s/\u9ede\u770b.com/amp", False),
    ("https://www.example.com/caf%c3%a9/amp",
     "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/caf\u00e9/amp", False),
    ("https://example.com/%7Euser/amp",
     "https://example-com.cdn.ampproject.org/c/s/example.com/~user/amp", False),
    # real mismatches stay: another domain, http's /c/ for an https page, another path
    ("https://example.com/amp", "https://other-com.cdn.ampproject.org/c/s/example.com/amp",
     True),
    ("https://example.com/amp", "https://example-com.cdn.ampproject.org/c/example.com/amp",
     True),
    ("https://example.com/amp", "https://example-com.cdn.ampproject.org/c/s/example.com/amp2",
     True),
    ("https://example.com/a/amp", "https://example-com.cdn.ampproject.org/c/s/example.com/A/amp",
     True),
])
def test_a_cdn_amp_url_is_compared_as_the_cache_reads_it(amp: str, cdn: str,
                                                         mismatch: bool) -> None:
    from enricher.policy import LinkPolicy

    record = {"title": "t", "related": [{"webUrl": "https://example.com/a", "ampWebUrl": amp,
                                         "cdnAmpWebUrl": cdn}]}
    slots = extract_links(record, "r.md")
    refs = LinkPolicy((), ()).apply(slots)
    (cdn_ref,) = [r for r in refs if r.key == "cdnAmpWebUrl"]
    assert (cdn_ref.reason == "amp_cache_mismatch") is mismatch, cdn_ref


@pytest.mark.parametrize(
    ("host", "subdomain"),
    [  # published vectors of the AMP cache subdomain algorithm (amp-toolbox cache-url)
        ("something.com", "something-com"),
        ("SOMETHING.COM", "something-com"),
        ("hello-world.com", "hello--world-com"),
        ("hello--world.com", "hello----world-com"),
        ("en-us.example.com", "0-en--us-example-com-0"),
        ("toplevelnohyphens", "qsgpfjzulvuaxb66z77vlhb5gu2irvcnyp6t67cz6tqo5ae6fysa"),
        ("no-dot-domain", "4lxc7wqq7b25walg4rdiil62veijrmqui5z3ept2lyfqqwpowryq"),
        (
            "itwasadarkandstormynight.therainfellintorrents.exceptatoccasionalintervals"
            "whenitwascheckedby.aviolentgustofwindwhichsweptupthestreets.com",
            "dgz4cnrxufaulnwku4ow5biptyqnenjievjht56hd7wqinbdbteq",
        ),
        ("xn--bcher-kva.ch", "xn--bcher-ch-65a"),
        ("b\u00fccher.ch", "xn--bcher-ch-65a"),
        ("\u9ede\u770b.com", "xn---com-k47jg78q"),
        (
            "xn--4gbrim.xn----rmckbbajlc6dj7bxne2c.xn--wgbh1c",
            "xn-------i5fvcbaopc6fkc0de0d9jybegt6cd",
        ),
        (
            "hello.xn--4gbrim.xn----rmckbbajlc6dj7bxne2c.xn--wgbh1c",
            "a6h5moukddengbsjm77rvbosevwuduec2blkjva4223o4bgafgla",
        ),
    ],
)
def test_amp_cache_subdomain_vectors(host: str, subdomain: str) -> None:
    cache = amp_cache_url(f"https://{host}/p")
    assert cache is not None
    assert cache.startswith(f"https://{subdomain}.cdn.ampproject.org/c/s/")
    assert cache.endswith("/p")
    cleaned = clean_url(cache)
    assert isinstance(cleaned, CleanURL) and cleaned.url == cache


def test_links_imports_neither_yaml_nor_httpx() -> None:
    tree = ast.parse(Path(links.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"yaml", "httpx", "httpcore", "tenacity", "selectolax"}


# --- the real records (read in place; skipped when the shared folder is absent) --------------


def _front_matter(text: str) -> str:
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    assert text.startswith("---\n")
    end = text.find("\n---", 4)
    return text[4:end] if end != -1 else text[4:]


@pytest.fixture(scope="module")
def real_records() -> list[tuple[str, dict[str, Any]]]:
    yaml = pytest.importorskip("yaml")
    files = sorted(RECORDS.rglob("*.md")) if RECORDS.is_dir() else []
    if not files:
        pytest.skip(f"{RECORDS} is not available")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe_load's semantics, in C
    records = []
    for path in files:
        data = yaml.load(_front_matter(path.read_text(encoding="utf-8")), Loader=loader)
        assert isinstance(data, dict), path
        records.append((str(path.relative_to(RECORDS)), data))
    return records


def test_real_records_slots(real_records: list[tuple[str, dict[str, Any]]]) -> None:
    per_field: Counter[str] = Counter()
    reasons: Counter[str | None] = Counter()
    all_refs: list[LinkRef] = []
    for name, data in real_records:
        slots = extract_links(data, name)
        assert slots.problems == (), (name, slots.problems)
        assert sum(ref.origin.field == "originalUrl" for ref in slots.refs) == 1, name
        all_refs += slots.refs
        per_field.update(re.sub(r"\[\d+\]", "[]", ref.origin.field) for ref in slots.refs)
        reasons.update(ref.reason for ref in slots.refs)
    assert set(per_field) == {path for path, _kind in links.URL_FIELDS}
    assert sum(per_field.values()) == len(all_refs)
    # the only unusable values in this sample are empty related webUrls
    assert set(reasons) <= {None, "empty"}
    assert per_field["related[].webUrl"] >= reasons["empty"]
    for ref in all_refs:
        if ref.url is not None:
            assert clean_url(ref.url) == clean_url(ref.raw)
    distinct = dedupe(all_refs)
    assert 0 < len(distinct) < len(all_refs)


def test_real_records_cdn_amp_urls_are_the_mechanical_cache_urls(
    real_records: list[tuple[str, dict[str, Any]]],
) -> None:
    checked = matched = 0
    for name, data in real_records:
        holders: list[dict[str, Any]] = [data, *(data.get("related") or [])]
        for holder in holders:
            if "cdnAmpWebUrl" not in holder:
                continue
            checked += 1
            cdn = clean_url(holder["cdnAmpWebUrl"])
            expected = amp_cache_url(holder.get("ampWebUrl") or "")
            assert isinstance(cdn, CleanURL) and cdn.url == expected, name
            matched += 1
    assert checked > 0 and matched == checked
