"""Bounded raw-HTML scans: head end, tags by marker, h1s, attribute values, text dates."""

from __future__ import annotations

import re
import time

from enricher.scan import (
    SLOW_TAG_BUDGET,
    attribute_values,
    dates_in_text,
    find_tag,
    h1_contents,
    head_end,
    script_date,
    tags_with,
)


def test_find_tag_lower_then_upper() -> None:
    assert find_tag("<p><H1>x</H1>", "<h1", 0, 100) == 3
    assert find_tag("<H1>a</H1><h1>b</h1>", "<h1", 0, 100) == 10  # lower case first
    assert find_tag("<p>", "<h1", 0, 100) == -1


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


def test_tags_with() -> None:
    html = '<a><span itemprop="datePublished" content="2021">x</span><b data-x=">">'
    spans = list(tags_with(html, "datePublished", 0, len(html), 5))
    assert [html[a:b] for a, b in spans] == ['<span itemprop="datePublished" content="2021">']
    text = "datePublished in text, not in a tag"
    assert list(tags_with(text, "datePublished", 0, len(text), 5)) == []


def test_h1_contents_limit_and_reach() -> None:
    html = "<h1>One</h1>" + "x" * 100 + "<h1 class=a>Two <b>2</b></h1>" + "y" * 1000 + "<h1>3</h1>"
    assert [t for _, t in h1_contents(html, 0, len(html), 5, 500)] == ["One", "Two <b>2</b>"]
    assert len(h1_contents(html, 0, len(html), 1, 10_000)) == 1
    assert h1_contents("<H1>Old</H1>", 0, 12, 5, 100)[0][1] == "Old"


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
