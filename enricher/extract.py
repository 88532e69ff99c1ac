"""Decoded HTML -> PageMeta. The only module importing selectolax (lexbor backend).

The page is read once into a ``_Doc``, which answers the questions of the field rules in
:mod:`enricher.rules` (ordered rules, first clean value wins; a failing rule is an empty
field, never an exception). Work is bounded whatever the page (hostile.md rows 42-46):

* only the first ``max_parse_chars`` characters are looked at;
* lexbor parses the head region only: up to ``</head>``, else ``<body``, cut before the
  first block tag when it holds too many (:func:`enricher.scan.head_end`): 140 000 nested
  ``<div>``s never reach the parser;
* the body is never parsed: what rules need from it (``<h1>`` elements, JSON-LD scripts,
  ``itemprop=datePublished``, ``<time datetime>``, a date near the headline, a first
  image) is found by bounded scans (:mod:`enricher.scan`), on demand;
* only the first :data:`MAX_METAS` metas, :data:`MAX_LINKS` links, :data:`MAX_SCRIPTS`
  head scripts and :data:`MAX_H1` headings, and a bounded number of JSON-LD scripts and
  objects, are used.

This module must not do I/O, fetch anything it finds (image, canonical and AMP URLs are
returned for the network layer and its address guard) or decode bytes (``decode`` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from enricher.config import DEFAULT_HTML_PARSE_BYTES, DEFAULT_TITLE_MAX_CHARS
from enricher.fields import page_meta
from enricher.jsonld import MAX_JSONLD_CHARS, MAX_JSONLD_SCRIPTS, JsonLd
from enricher.models import PageMeta
from enricher.rules import http_url
from enricher.scan import find_tag, head_end, iter_h1_contents, tags_with
from enricher.textclean import clean_text

__all__ = ["PageSignals", "extract", "extract_with_signals"]

MAX_METAS = 2_000
MAX_LINKS = 500  # <link>s, and <base>s, looked at
MAX_SCRIPTS = 2_500  # head <script>s looked at for JSON-LD
MAX_H1 = 5
H1_REACH = 50_000  # characters after the first <h1> searched for more
_META_KEYS = frozenset({"property", "name", "itemprop", "http-equiv"})
# og:type values of a page that is content itself (a story, a video, a song, a book)
_CONTENT_OG_TYPES = ("article", "video.", "music.", "book")


@dataclass(frozen=True, slots=True)
class PageSignals:
    """What soft-404 detection needs from a page: its ``<title>``, first ``<h1>``, og:title
    and twitter:title, cleaned, with site names left in ("Page not found | Site")."""

    title: str | None = None
    h1: str | None = None
    article: bool = False  # content markup: og:type article or a medium, published time,
    # JSON-LD Article or VideoObject ... (never a soft 404)
    headlines: tuple[str, ...] = ()  # og:title, twitter:title: a headline of its own there
    # contradicts a not-found title


def _index_metas(nodes: list[Any], into: dict[str, str]) -> None:
    """key (property/name/itemprop/http-equiv, lower case) -> its first content."""
    keys, setdefault = _META_KEYS, into.setdefault
    for node in nodes[:MAX_METAS]:
        attrs = node.attributes
        content = attrs.get("content")
        if content is None:
            content = attrs.get("value") or attrs.get("datetime")
        if content:
            for attr, key in attrs.items():
                if key and attr in keys:
                    setdefault(key.strip().lower(), content)


def _index_links(nodes: list[Any], into: dict[str, str]) -> None:
    """rel (each word, lower case) -> the href of the first ``<link>`` that has it. Reads the
    two attributes only: building every link's attribute dict cost twice as much
    (measured on shared/pages: 17 000 links, 28 vs 12 ms)."""
    setdefault = into.setdefault
    for node in nodes[:MAX_LINKS]:
        attrs = node.attrs
        rels = attrs.get("rel")
        if rels and (href := attrs.get("href")):
            for rel in rels.lower().split():
                setdefault(rel, href)


def _headlines(html: str, start: int, cap: int) -> Iterator[tuple[int, str]]:
    """(position, cleaned text) of each non-empty ``<h1>`` the page shows from ``start``,
    found by a scan (one the parser would take out of a head ``<noscript>`` never counts).
    Holds no reference to the page: no cycle with it."""
    for at, inner in iter_h1_contents(html, start, cap, MAX_H1, H1_REACH):
        text = clean_text(inner, DEFAULT_TITLE_MAX_CHARS, strip_tags=True)
        if text:
            yield at, text


class _Headlines:
    """A page's headlines, (position, text), taken from ``source`` only as far as they are
    iterated, at most :data:`MAX_H1`: the scan for a second ``<h1>`` is skipped when the
    first one settles every question. Internal: never leaves this module."""

    __slots__ = ("_found", "_source")

    def __init__(self, source: Iterator[tuple[int, str]]) -> None:
        self._found: list[tuple[int, str]] = []
        self._source: Iterator[tuple[int, str]] | None = source

    def _more(self) -> bool:
        if self._source is not None and len(self._found) < MAX_H1:
            item = next(self._source, None)
            if item is not None:
                self._found.append(item)
                return True
        self._source = None
        return False

    def __iter__(self) -> Iterator[tuple[int, str]]:
        n = 0
        while n < len(self._found) or self._more():
            yield self._found[n]
            n += 1


class _Doc:
    """One page, parsed once; implements :class:`enricher.rules.Page`. Body facts are
    looked for on first use only. Internal: never leaves this module."""

    def __init__(self, html: str, url: str, provider: str | None, cap: int) -> None:
        self.html = html
        self.url = url
        self.provider = provider
        self.cap = min(len(html), max(cap, 0))
        self.end = head_end(html, self.cap)  # the body is html[end:cap]
        self.memo: dict[str, Any] = {}
        # Bytes parse faster than str (measured: 0.18 vs 0.27 ms per head); the text is
        # already decoded, so lexbor gets UTF-8, whatever the page declares.
        self.tree = LexborHTMLParser(html[: self.end].encode("utf-8", "surrogatepass"))
        self.metas: dict[str, str] = {}
        self.links: dict[str, str] = {}
        # Elements by tag name, not by CSS selector: lexbor sets up its selector engine per
        # document, which cost more than the rest of a small page (measured 0.08 ms).
        tree = self.tree
        _index_metas(tree.tags("meta"), self.metas)
        _index_links(tree.tags("link"), self.links)
        base = next((href for node in tree.tags("base")[:MAX_LINKS]
                     if (href := node.attributes.get("href")) is not None), None)
        self.base = http_url(url, base) or url
        self._scripts = [node for node in tree.tags("script")[:MAX_SCRIPTS]
                         if "ld+json" in (node.attributes.get("type") or "").lower()]
        titles = tree.tags("title")
        self._head_title = titles[0] if titles else None
        # headlines are scanned from the body's start, or from the page's when the head
        # region holds an <h1> (a page without </head>): its scripts are not read for "<h1"
        self._h1_from = 0 if tree.tags("h1") else self.end
        self._title: tuple[str | None] | None = None
        self._h1s: _Headlines | None = None
        self._head_ld: JsonLd | None = None
        self._body_ld: JsonLd | None = None

    def meta(self, key: str) -> str | None:
        return self.metas.get(key)

    def link(self, rel: str) -> str | None:
        return self.links.get(rel)

    def html_lang(self) -> str | None:
        root = self.tree.root
        return root.attributes.get("lang") if root is not None else None

    def doc_title(self) -> str | None:
        """The first ``<title>`` of the head (else of the head region: not an SVG's)."""
        if self._title is None:
            node = self._head_title
            self._title = (node.text() if node is not None else None,)
        return self._title[0]

    def h1s(self) -> _Headlines:
        """(position, cleaned text) of the first :data:`MAX_H1` non-empty ``<h1>``s, found
        as far as a caller iterates (most need only the first)."""
        if self._h1s is None:
            self._h1s = _Headlines(_headlines(self.html, self._h1_from, self.cap))
        return self._h1s

    def ld(self, key: str, *, site: bool = False, body: bool = True) -> Any:
        """``key`` from the page's JSON-LD: the head's scripts first; the body's are only
        looked for (a scan of the whole body) when the head has no such value."""
        if self._head_ld is None:
            self._head_ld = JsonLd([n.text() for n in self._scripts[:MAX_JSONLD_SCRIPTS]])
        value = self._head_ld.get(key, site=site)
        if value is None and body:
            if self._body_ld is None:
                texts, html = [], self.html
                for lt, gt in tags_with(html, "ld+json", self.end, self.cap, MAX_JSONLD_SCRIPTS,
                                        rare_at=2):  # by its "+"
                    if html[lt: lt + 7].lower() == "<script":
                        close = find_tag(html, "</script", gt, min(self.cap, gt + MAX_JSONLD_CHARS))
                        if close >= 0:
                            texts.append(html[gt:close])
                self._body_ld = JsonLd(texts)
            value = self._body_ld.get(key, site=site)
        return value

    def story(self) -> bool:
        """Whether the page's JSON-LD describes an article: the head's, else the body's."""
        self.ld("@type")  # builds the head's objects, and the body's when the head has no type
        return any(ld is not None and ld.has_story() for ld in (self._head_ld, self._body_ld))


def extract_with_signals(html: str, url: str, *, provider: str | None = None,
                         max_parse_chars: int = DEFAULT_HTML_PARSE_BYTES,
                         ) -> tuple[PageMeta, PageSignals]:
    """Like :func:`extract`, plus what soft-404 detection looks at. Never raises."""
    try:
        doc = _Doc(html, url, provider, max_parse_chars)
        meta = page_meta(doc)
        h1 = next((text for _, text in doc.h1s()), None)
        title = clean_text(doc.doc_title(), DEFAULT_TITLE_MAX_CHARS)
        article = ((doc.meta("og:type") or "").strip().lower().startswith(_CONTENT_OG_TYPES)
                   or bool(doc.meta("article:published_time"))
                   or doc.story())
        headlines = tuple(text for key in ("og:title", "twitter:title")
                          if (text := clean_text(doc.meta(key), DEFAULT_TITLE_MAX_CHARS)))
        return meta, PageSignals(title=title, h1=h1, article=article, headlines=headlines)
    except Exception:  # pragma: no cover - rules are guarded; this is the last net
        return PageMeta(), PageSignals()


def extract(html: str, url: str, *, provider: str | None = None,
            max_parse_chars: int = DEFAULT_HTML_PARSE_BYTES) -> PageMeta:
    """Metadata of a decoded page. ``url`` is the final URL (relative URLs resolve against
    it or ``<base href>``); ``provider`` is the record's provider name, used to recognise
    site-name suffixes in titles. Never raises; fields not found are None."""
    return extract_with_signals(html, url, provider=provider, max_parse_chars=max_parse_chars)[0]
