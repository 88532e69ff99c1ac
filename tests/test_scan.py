"""Bounded raw-HTML scans: head end, tags by marker, h1s, attribute values, text dates."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from enricher.extract import extract
from enricher.scan import (
    MAX_CHAR_MISSES,
    SLOW_TAG_BUDGET,
    TAG_BUDGET,
    attribute_value,
    attribute_values,
    dates_in_text,
    find_by_char,
    find_tag,
    h1_contents,
    head_end,
    iter_h1_contents,
    script_date,
    tag_markups,
    tags_with,
)


def test_find_tag_lower_then_upper() -> None:
    assert find_tag("<p><H1>x</H1>", "<h1", 0, 100) == 3
    assert find_tag("<H1>a</H1><h1>b</h1>", "<h1", 0, 100) == 10  # lower case first
    assert find_tag("<p>", "<h1", 0, 100) == -1


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="<h1H/eadEAD x", max_size=40), start=st.integers(0, 45),
       end=st.integers(0, 45))
def test_find_tag_is_lower_then_upper_str_find(text: str, start: int, end: int) -> None:
    for needle in ("<h1", "</head"):  # found in one pass, as two str.find calls would
        lower = text.find(needle, start, end)
        expected = lower if lower >= 0 else text.find(needle.upper(), start, end)
        assert find_tag(text, needle, start, end) == expected


def test_head_end() -> None:
    html = "<html><head><title>t</title></head><body>x</body>"
    assert html[: head_end(html, len(html))].endswith("</head>")
    no_close = "<html><head><title>t</title><body>x"
    assert no_close[head_end(no_close, len(no_close)):].startswith("<body")
    in_script = ("<head><script>w.write('</head><body>')</script><meta name=a content=b>"
                 "</head><body>")
    assert in_script[: head_end(in_script, len(in_script))].endswith("content=b></head>")
    assert head_end("plain text", 5) == 5


def test_head_end_cuts_before_nested_block_tags() -> None:
    html = "<head><title>t</title>" + "<div>" * (SLOW_TAG_BUDGET + 10) + "</head>"
    end = head_end(html, len(html))
    assert html[:end] == "<head><title>t</title>"


def test_the_tag_budget_does_not_count_an_inline_script_s_less_than_signs() -> None:
    """A head script holding 28,000 "<" (an HTML template in a string) cut the head before
    the title and the metas that follow it."""
    script = "<script>var t=[" + ",".join(f'"<span>{i}</span><i>x</i>"' for i in range(7000))
    html = ("<html><head><meta charset=utf-8>" + script + "];</script><title>Real</title>"
            '<meta property="og:title" content="OG Title"></head><body><h1>Story</h1></body>')
    assert html[: head_end(html, len(html))].endswith("</head>")
    assert extract(html, "https://example.com/a/b").title == "OG Title"
    flat = "<html><title>T</title><script>x</script>" + "<u>" * 60_000
    end = head_end(flat, len(flat))
    assert TAG_BUDGET - 5 <= flat.count("<", 0, end) <= TAG_BUDGET + 5
    for shift in range(-3, 4):  # a cut at a script's "</script" falls before the script
        page = "<title>T</title>" + "<u>" * (TAG_BUDGET + shift) + "<script>a<b</script><i>"
        cut = head_end(page, len(page))
        assert not page[:cut].endswith(("<script>", "<script>a<b", "<script>a")), shift


@pytest.mark.parametrize("tag", ["<u>", "<p>", "<br>", "<a href=x>y</a>"])
def test_head_end_holds_at_most_the_tag_budget_of_flat_tags(tag: str) -> None:
    """A page without </head> or <body> whose 512 KiB are flat tags: the parser gets the
    first TAG_BUDGET of them (it took ~150 ms per such page on the event loop), the title
    still counts."""
    html = "<html><title>T</title>" + tag * (524_288 // len(tag))
    end = head_end(html, len(html))
    assert TAG_BUDGET - 2 <= html.count("<", 0, end) <= TAG_BUDGET
    assert html[end] == "<"  # cut before a tag, never inside one
    assert extract(html, "https://a.example/x").title == "T"
    page = "<html><head><title>T</title></head><body>" + tag * 30_000 + "</body>"
    assert page[: head_end(page, len(page))].endswith("</head>")  # a head's end stands


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ld+json<>x", max_size=60), start=st.integers(-5, 70),
       end=st.integers(-5, 70))
@example(text="ld+json", start=0, end=0)  # found by CI: a negative stop counted from the end
@example(text="xld+json", start=1, end=3)
def test_find_by_char_is_str_find(text: str, start: int, end: int) -> None:
    start, end = max(start, 0), max(end, 0)  # callers pass positions within the page
    assert find_by_char(text, "ld+json", 2, start, end) == text.find("ld+json", start, end)


def test_find_by_char_bounds_and_many_false_hits() -> None:
    html = "a+b" * (MAX_CHAR_MISSES * 3) + "<script type=ld+json>"
    at = html.index("ld+json")
    assert find_by_char(html, "ld+json", 2, 0, len(html)) == at
    assert find_by_char(html, "ld+json", 2, at, at + 7) == at  # exactly fits
    assert find_by_char(html, "ld+json", 2, at, at + 6) == -1  # cut by the end
    assert find_by_char(html, "ld+json", 2, at + 1, len(html)) == -1  # starts before start
    assert find_by_char("", "ld+json", 2, 0, 0) == -1


def test_tags_with() -> None:
    html = '<a><span itemprop="datePublished" content="2021">x</span><b data-x=">">'
    spans = list(tags_with(html, "datePublished", 0, len(html), 5))
    assert [html[a:b] for a, b in spans] == ['<span itemprop="datePublished" content="2021">']
    text = "datePublished in text, not in a tag"
    assert list(tags_with(text, "datePublished", 0, len(text), 5)) == []
    ld = 'a+b <script type="application/ld+json">{}</script><b x="ld+json">'
    assert list(tags_with(ld, "ld+json", 0, len(ld), 5, rare_at=2)) \
        == list(tags_with(ld, "ld+json", 0, len(ld), 5)) == [(4, 39), (50, 65)]


def test_h1_contents_limit_and_reach() -> None:
    html = "<h1>One</h1>" + "x" * 100 + "<h1 class=a>Two <b>2</b></h1>" + "y" * 1000 + "<h1>3</h1>"
    assert [t for _, t in h1_contents(html, 0, len(html), 5, 500)] == ["One", "Two <b>2</b>"]
    assert len(h1_contents(html, 0, len(html), 1, 10_000)) == 1
    assert h1_contents("<H1>Old</H1>", 0, 12, 5, 100)[0][1] == "Old"


class _CountingText(str):
    """A page that counts the searches made in it."""

    finds = 0

    def find(self, *args: object) -> int:
        type(self).finds += 1
        return super().find(*args)  # type: ignore[arg-type]


def test_iter_h1_contents_scans_only_as_far_as_asked() -> None:
    html = _CountingText("<h1>One</h1>" + "x" * 100 + "<h1>Two</h1><h1>Three</h1>")
    found = iter_h1_contents(html, 0, len(html), 5, 10_000)
    assert next(found)[1] == "One"
    assert _CountingText.finds == 1  # the second <h1> has not been looked for
    assert [t for _, t in found] == ["Two", "Three"]
    assert h1_contents(html, 0, len(html), 5, 10_000) == list(
        iter_h1_contents(html, 0, len(html), 5, 10_000))


def test_tag_markups_and_attribute_value() -> None:
    src = re.compile(r"""\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
    html = '<img src="/a.png"><img aria-hidden="true" src="/h.png"><img alt=x><IMG SRC=/c.png>'
    markups = list(tag_markups(html, 0, len(html), "<img", 10))
    # per step the lower-case tag first, as find_tag; aria-hidden ones left out
    assert markups == ['<img src="/a.png"', "<img alt=x", "<IMG SRC=/c.png"]
    assert [attribute_value(m, src) for m in markups] == ["/a.png", None, None]
    assert attribute_value("<img src=''", src) == ""
    assert list(tag_markups("<IMG SRC=/c.png>", 0, 16, "<img", 10)) == ["<IMG SRC=/c.png"]
    assert list(tag_markups("<IMG SRC=/c.png>", 0, 16, "<img", 10, upper=False)) == []


def test_attribute_values() -> None:
    src = re.compile(r"""\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
    html = '<img src="/a.png"><img aria-hidden="true" src="/h.png"><IMG SRC=/c.png>'
    assert list(attribute_values(html, 0, len(html), "<img", src, 10)) == ["/a.png"]
    assert list(attribute_values(html, 0, len(html), "<img", src, 1)) == ["/a.png"]


def test_dates_in_text_skip_tags_and_scripts() -> None:
    html = ('<a href="/2019/01/02/x">link</a><script>var d="2018-01-01";</script>'
            '<img alt="2017-03-03"><p>Published 6 May 2021</p><p>Updated 7 May 2021</p>')
    assert dates_in_text(html, 0, len(html)) == "2021-05-06"
    assert dates_in_text(html, 0, len(html), last=True) == "2021-05-07"
    assert dates_in_text("<p>05/06/2021</p>", 0, 17, month_first=True) == "2021-05-06"
    assert dates_in_text("<p>© 2021 Site</p>", 0, 18) is None


def test_script_date() -> None:
    html = '<script>{"datePublished":"2021-05-06T09:00:00Z","x":1}</script>'
    assert script_date(html, len(html)) == "2021-05-06T09:00:00Z"
    assert script_date("<script>publishers = ['a']</script>", 40) is None


def test_scans_are_bounded_on_huge_inputs() -> None:
    html = "<h1>" * 200_000 + "2021 " * 200_000 + "datePublished " * 100_000
    started = time.perf_counter()
    h1_contents(html, 0, len(html), 5, 50_000)
    dates_in_text(html, 0, len(html))
    list(tags_with(html, "datePublished", 0, len(html), 5))
    assert time.perf_counter() - started < 0.5
