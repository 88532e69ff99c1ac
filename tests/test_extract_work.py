"""How much work extract() does per page, beyond what it finds: a page leaves no reference
cycle behind (its parsed tree is freed when extract returns, not at the next garbage
collection), and the body is not scanned for more headlines than the rules ask for."""

from __future__ import annotations

import gc
from typing import ClassVar

from enricher.extract import extract, extract_with_signals

URL = "https://news.example.org/world/2021/05/06/big-story.html"


class _Page(str):
    """A page that records the searches made in it."""

    needles: ClassVar[list[str]] = []

    def find(self, *args: object) -> int:
        if args and isinstance(args[0], str):
            type(self).needles.append(args[0])
        return super().find(*args)  # type: ignore[arg-type]


def _page(head: str, body: str) -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def test_a_page_leaves_no_reference_cycle() -> None:
    html = _page('<meta property="og:title" content="A story"><title>A story</title>'
                 '<script type="application/ld+json">{"@type": "NewsArticle"}</script>',
                 "<h1>A story</h1><h1>More</h1><p>Published 6 May 2021</p>")
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(20):
            meta, signals = extract_with_signals(html, URL)
            assert meta.title == "A story" and signals.h1 == "A story"
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()


def test_second_headline_is_not_looked_for_when_the_first_settles_the_title() -> None:
    _Page.needles = []
    html = _Page(_page('<meta property="og:title" content="A story">',
                       "<h1>A story</h1>" + "x" * 1000 + "<h1>Other</h1>"))
    assert extract(html, URL).title == "A story"
    assert _Page.needles.count("<h1") == 1


def test_all_headlines_are_read_when_the_title_needs_them() -> None:
    _Page.needles = []
    # og:title is not any headline as written: the headlines are evidence for its suffix
    html = _Page(_page('<meta property="og:title" content="A story | The Site">',
                       "<h1>A story</h1>" + "x" * 1000 + "<h1>Other</h1>"))
    assert extract(html, URL).title == "A story"
    assert _Page.needles.count("<h1") >= 2
