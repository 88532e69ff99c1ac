"""Fast, bounded scans of raw HTML text, without a parser: where the head ends, tags found
by a marker, years written outside tags and scripts, attribute values, script-data dates.

Everything works on the decoded page as a string with explicit ``[start, end)`` bounds and
does a bounded amount of work. Searches use ``str.find`` or regular expressions that begin
with a literal (a case-insensitive or look-behind pattern makes ``re`` test every position,
ten times slower on a 500 KB page); a needle holding a character that is rare in pages
(``ld+json``) is found by that character first, since a one-character ``str.find`` runs at
``memchr`` speed. Scans that can stop early are generators. Lower-case tags are looked for
first; upper-case ones only when there is no lower-case one (:func:`find_tag` finds the
first of both forms in one pass, so a missing tag costs one search, not two). This module
must not build a tree (``extract`` does, for small snippets) or do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from html import unescape

from enricher.dates import normalise_date, text_date

__all__ = [
    "SLOW_TAG_BUDGET",
    "attribute_value",
    "attribute_values",
    "dates_in_text",
    "find_by_char",
    "find_tag",
    "h1_contents",
    "head_end",
    "itemprop_date",
    "iter_h1_contents",
    "script_date",
    "tag_markups",
    "tags_with",
    "time_datetime",
]

SLOW_TAG_BUDGET = 2_000  # block tags a head region may hold before it is cut short
TAG_BUDGET = 20_000  # tags of any kind a head region may hold (lexbor: ~1.3 us per flat tag)
MAX_TEXT_YEARS = 60  # four-digit years examined per text-date search
MAX_SCRIPTS = 200
MAX_SCRIPT_KEYS = 40
MAX_CHAR_MISSES = 64  # rare-character hits that are not the needle before a plain search

# Block elements whose nesting costs lexbor quadratic time (measured: 10 000 nested <div>
# 0.23 s, <section> 0.27 s, <ul> 0.31 s; <span>, <b>, <p>, <li>, <table> stay linear).
_SLOW_TAG = re.compile(
    r"<(?:div|section|ul|ol|dl|article|aside|blockquote|center|details|dialog|dir|fieldset|"
    r"figcaption|figure|footer|header|hgroup|main|menu|nav|summary|address|form|pre|"
    r"h[1-6])[\s>/]", re.I)
INERT_REACH = 8 * 1024
MARKUP_REACH = 2_000  # characters looked back for the start tag an element sits in
HIDDEN_TAGS = 4  # an element's own start tag and the parent start tags right before it
_OPEN = re.compile(r"\sopen[\s>=/]", re.I)
_HIDDEN = re.compile(r"""\shidden[\s>=/]|display\s*:\s*none|visibility\s*:\s*hidden""", re.I)
_INERT = (("<script", "</script"), ("<template", "</template"), ("<style", "</style"),
          ("<noscript", "</noscript"), ("<!--", "-->"))
_INERT_UPPER = (*_INERT, *((a.upper(), b.upper()) for a, b in _INERT[:4]))
_H1 = re.compile(r"<h1\b[^>]{0,1000}>(.{0,3000}?)</h1\s*>", re.I | re.S)
_YEARS = (re.compile(r"20\d\d"), re.compile(r"19\d\d"))
_DATETIME = re.compile(r"""\sdatetime\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_DATE_ATTR = re.compile(r"""\s(?:content|datetime)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
                        re.I)
_SCRIPT_DATE = re.compile(r"""ublish\w{0,20}["']?\s*[:=]\s*["']([^"'<>\\]{6,40})["']""")


@lru_cache(maxsize=64)
def _either_case(needle: str) -> re.Pattern[str]:
    return re.compile(f"{re.escape(needle)}|{re.escape(needle.upper())}")


def find_tag(html: str, needle: str, start: int, end: int) -> int:
    """First position of a lower-case ASCII ``needle``, else of its upper-case form; -1.

    One search finds the first of either form, so a page without the tag is read once, not
    twice (measured on shared/pages: :func:`head_end` 67 -> 54 ms for all pages, most of it
    on the 15 pages without ``</head``); only when the upper-case form comes first is the
    rest searched for a lower-case one."""
    if start < 0 or end < 0:  # str.find's from-the-end indices: callers never pass them
        lower = html.find(needle, start, end)
        return lower if lower >= 0 else html.find(needle.upper(), start, end)
    m = _either_case(needle).search(html, start, end)
    if m is None:
        return -1
    at = m.start()
    if html.startswith(needle, at):
        return at
    lower = html.find(needle, at + 1, end)
    return lower if lower >= 0 else at


def head_end(html: str, cap: int) -> int:
    """Where the head region ends: after ``</head>`` (one written inside an inline script
    does not count), else at ``<body``, else at ``cap``. A region holding more than
    :data:`SLOW_TAG_BUDGET` block tags is cut before the first one (browsers end the head
    there anyway), so that nesting cannot make the parser crawl."""
    pos, end = 0, cap
    for _ in range(8):
        close = find_tag(html, "</head", pos, cap)
        if close < 0:
            body = find_tag(html, "<body", 0, cap)
            end = body if body >= 0 else cap
            break
        if _unclosed(html, close, "<script", "</script", 100_000):
            after = find_tag(html, "</script", close, cap)
            if after >= 0:
                pos = after
                continue
        gt = html.find(">", close, cap)
        end = gt + 1 if gt >= 0 else cap
        break
    count = html.count("<", 0, end)
    if count > TAG_BUDGET:
        end = _within_tag_budget(html, end)
    if count > SLOW_TAG_BUDGET:  # a cheap bound before the regex
        tags = _SLOW_TAG.finditer(html, 0, end)
        first = next(tags, None)
        if first and sum(1 for _ in zip(range(SLOW_TAG_BUDGET), tags, strict=False)) \
                >= SLOW_TAG_BUDGET:
            return first.start()
    return end


def _within_tag_budget(html: str, end: int) -> int:
    """``end``, or where the head region reaches :data:`TAG_BUDGET` tags (flat tags of a
    page without ``</head>`` or ``<body>``), found by halving. A ``<`` inside an inline
    script (a template, a comparison) is no tag: a cut never falls inside a script."""
    spans = _script_spans(html, 0, end)

    def tags(stop: int) -> int:
        return html.count("<", 0, stop) - sum(html.count("<", a, min(b, stop))
                                              for a, b in spans if a < stop)

    if tags(end) <= TAG_BUDGET:
        return end
    low, high = 0, end
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if tags(mid) <= TAG_BUDGET else (low, mid)
    return next((a for a, b in spans if a < low <= b), low)  # before the script it cuts


def find_by_char(html: str, needle: str, at: int, start: int, end: int) -> int:
    """``html.find(needle, start, end)``, found by looking for ``needle[at]`` first: when
    that character is rare in pages (the ``+`` of ``ld+json``), a one-character search
    runs several times faster than ``str.find`` with the whole needle (measured on
    shared/pages: 35 vs 58 ms for all bodies). After :data:`MAX_CHAR_MISSES` hits that are
    not the needle, the rest is an ordinary search."""
    char, pos, stop = needle[at], start + at, end - len(needle) + at + 1
    if stop <= pos:  # the needle does not fit in [start, end) (and a negative stop would
        return -1    # count from the end of the page)
    for _ in range(MAX_CHAR_MISSES):
        i = html.find(char, pos, stop)
        if i < 0:
            return -1
        if html.startswith(needle, i - at):
            return i - at
        pos = i + 1
    return html.find(needle, pos - at, end)


def tags_with(html: str, needle: str, start: int, end: int, limit: int, *,
              rare_at: int | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of the first ``limit`` tags whose markup contains ``needle``; with
    ``rare_at``, it is looked for by that rare character (:func:`find_by_char`)."""
    pos = start
    for _ in range(limit):
        i = (html.find(needle, pos, end) if rare_at is None
             else find_by_char(html, needle, rare_at, pos, end))
        if i < 0:
            return
        lt = html.rfind("<", max(pos, i - 500), i + 1)
        gt = html.find(">", i, i + 2000)
        pos = i + len(needle)
        if lt >= 0 and gt >= 0 and html.find(">", lt, i) < 0:
            yield lt, gt + 1


def iter_h1_contents(html: str, start: int, end: int, limit: int, reach: int,
                     ) -> Iterator[tuple[int, str]]:
    """(position, inner HTML) of the first ``limit`` ``<h1>`` elements, found one at a time
    (a caller that needs only the first stops the scan there); after the first one, only
    ``reach`` more characters are searched."""
    found, pos, needle, stop = 0, start, "<h1", end
    for _ in range(limit * 4):  # unclosed <h1>s count too
        if found >= limit:
            break
        i = html.find(needle, pos, stop)
        if i < 0 and needle == "<h1" and not found:
            needle, i = "<H1", html.find("<H1", pos, stop)
        if i < 0:
            break
        pos = i + 3
        m = _H1.match(html, i, end)
        if m and not _inert_at(html, i, needle == "<H1") and not _in_markup(html, i) \
                and not _hidden_at(html, i, m.start(1)):
            found, stop = found + 1, min(stop, i + reach)
            yield i, m.group(1)


def _inert_at(html: str, i: int, upper: bool) -> bool:
    """Whether position ``i`` is inside a script, template, style or noscript element or a
    comment: no part of the page as shown (a hidden "Page not found" template is no
    headline). Only the last ``INERT_REACH`` characters are looked at for the element's
    start (such templates are short; a scan back to the page start cost more than reading
    the page's metadata), in lower case unless the page writes ``<H1>``."""
    return any(_unclosed(html, i, opener, closer, INERT_REACH)
               for opener, closer in (_INERT_UPPER if upper else _INERT))


def _in_markup(html: str, i: int) -> bool:
    """Whether position ``i`` lies inside another tag's markup (an attribute's value, as in
    ``<div data-tpl='<h1>Page not found</h1>'>``): a tag opened before it is not closed."""
    lt = html.rfind("<", max(0, i - MARKUP_REACH), i)
    return lt >= 0 and html[lt + 1: lt + 2].isalpha() and html.find(">", lt, i) < 0


def _hidden_at(html: str, i: int, inner: int) -> bool:
    """Whether the element at ``i`` (content from ``inner``) is hidden by its own start tag
    or by one of the start tags right before it (``<div hidden><div><h1>``, ``style=
    "display:none"``): a not-found template a script shows when it needs to."""
    tag, start = html[i:inner], i
    for _ in range(HIDDEN_TAGS):
        if _HIDDEN.search(tag) or (tag[:7].lower() == "<dialog" and not _OPEN.search(tag)):
            return True  # a <dialog> shows only when open
        window = max(0, start - MARKUP_REACH)
        before = html[window:start].rstrip()
        lt = before.rfind("<")
        if not before.endswith(">") or lt < 0 or not before[lt + 1: lt + 2].isalpha():
            return False  # text, a closing tag or a comment before it: no parent start tag
        tag, start = before[lt:], window + lt
    return False


def _unclosed(html: str, i: int, opener: str, closer: str, reach: int) -> bool:
    """Whether an ``opener`` in the ``reach`` characters before ``i`` is still open at
    ``i`` (no ``closer`` between them)."""
    j = html.rfind(opener, max(0, i - reach), i)
    return j >= 0 and html.find(closer, j, i) < 0


def h1_contents(html: str, start: int, end: int, limit: int, reach: int,
                ) -> list[tuple[int, str]]:
    """All of :func:`iter_h1_contents` at once."""
    return list(iter_h1_contents(html, start, end, limit, reach))


def tag_markups(html: str, start: int, end: int, tag: str, limit: int, *,
                upper: bool = True) -> Iterator[str]:
    """Markup (from ``<`` up to, not including, ``>``) of the first ``limit`` ``tag``
    elements (``tag`` like ``"<img"``; upper-case ones too unless ``upper`` is false: HTML5
    elements are not written so); aria-hidden ones are skipped."""
    pos = start
    for _ in range(limit):
        i = find_tag(html, tag, pos, end) if upper else html.find(tag, pos, end)
        gt = html.find(">", i, i + 3000) if i >= 0 else -1
        if gt < 0:
            return
        pos, markup = gt, html[i:gt]
        if 'aria-hidden="true"' not in markup:
            yield markup


def attribute_value(markup: str, attr: re.Pattern[str]) -> str | None:
    """The value ``attr`` (a pattern with one group per quoting style) finds in a tag."""
    m = attr.search(markup)
    return None if m is None else m.group(1) or m.group(2) or m.group(3) or ""


def attribute_values(html: str, start: int, end: int, tag: str, attr: re.Pattern[str],
                     limit: int, *, upper: bool = True) -> Iterator[str]:
    """Values of ``attr`` in the first ``limit`` ``tag`` elements (see :func:`tag_markups`)."""
    for markup in tag_markups(html, start, end, tag, limit, upper=upper):
        value = attribute_value(markup, attr)
        if value is not None:
            yield value


def _script_spans(html: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, pos = [], start
    for _ in range(MAX_SCRIPTS):
        opened = html.find("<script", pos, end)
        if opened < 0:
            break
        closed = html.find("</script", opened, end)
        spans.append((opened, closed if closed >= 0 else end))
        if closed < 0:
            break
        pos = closed
    return spans


def _years(html: str, start: int, end: int) -> list[int]:
    found: list[int] = []
    for pattern in _YEARS:
        for _, m in zip(range(MAX_TEXT_YEARS * 4), pattern.finditer(html, start, end),
                        strict=False):
            at = m.start()
            if not (html[at - 1: at].isdigit() or html[at + 4: at + 5].isdigit()):
                found.append(at)
    return sorted(found)[:MAX_TEXT_YEARS]


def dates_in_text(html: str, start: int, end: int, *, month_first: bool = False,
                  last: bool = False) -> str | None:
    """The first (or last) date written as text between ``start`` and ``end``: the first
    :data:`MAX_TEXT_YEARS` years outside tags and scripts, each read with the words
    around it (``13. März 2021``, ``March 13, 2021``, ``2021-03-13``, ``13.03.2021``)."""
    scripts = _script_spans(html, start, end)
    found = None
    for at in _years(html, start, end):
        gt = html.rfind(">", max(start, at - 2000), at)
        if html.rfind("<", max(start, at - 2000), at) > gt:
            continue  # inside a tag: an attribute value, a URL
        if any(a <= at < b for a, b in scripts):
            continue
        lt = html.find("<", at + 4, at + 44)
        window = html[max(gt + 1, at - 40, start): lt if lt >= 0 else at + 34]
        value = text_date(unescape(window), month_first=month_first)
        if value and not last:
            return value
        found = value or found
    return found


def script_date(html: str, end: int) -> str | None:
    """A date under a ``publish...`` key in script data: ``"publishedAt": "..."``,
    ``publish_date = '...'`` (data layers, app state); the first of
    :data:`MAX_SCRIPT_KEYS` such keys that holds a date."""
    pos = 0
    for _ in range(MAX_SCRIPT_KEYS):
        i = html.find("ublish", pos, end)
        if i < 0:
            return None
        pos = i + 6
        m = _SCRIPT_DATE.match(html, i, min(end, i + 120))
        if m and (value := normalise_date(m.group(1))):
            return value
    return None


def itemprop_date(html: str, start: int, end: int) -> str | None:
    """The first ``itemprop=datePublished`` element: its ``content`` or ``datetime``
    attribute, else its text."""
    for lt, gt in tags_with(html, "datePublished", start, end, 5):
        m = _DATE_ATTR.search(html, lt, gt)
        if m:
            return unescape(m.group(1) or m.group(2) or m.group(3))
        nxt = html.find("<", gt, gt + 200)
        if nxt > gt and html[gt:nxt].strip():
            return unescape(html[gt:nxt])
    return None


def time_datetime(html: str, start: int, end: int) -> str | None:
    """The ``datetime`` of the first ``<time>`` element that has one."""
    for value in attribute_values(html, start, end, "<time", _DATETIME, 8, upper=False):
        if value:
            return unescape(value)
    return None
