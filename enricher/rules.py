"""The extraction rules: for each PageMeta field an ordered tuple of small rules (order is
priority, metascraper style), and the page-level facts several rules share (the site's
names, all title candidates, where the article starts).

Rules read a :class:`Page` (built by ``extract`` from the parsed head and bounded scans of
the body); each returns a raw value or None, and :func:`first` runs them through a cleaner:
the first clean value wins, a rule or cleaner that raises counts as no value. Date rules
are ordered by precision measured on the human-labelled pages (``bench/extract_pages.py``);
:mod:`enricher.fields` makes the decisions that weigh several sources. This module must
not parse HTML or do I/O; it never fetches the URLs it returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from html import escape, unescape
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from enricher.config import DEFAULT_MAX_URL_LENGTH, DEFAULT_TITLE_MAX_CHARS
from enricher.dates import date_from_url
from enricher.jsonld import image_of, name_of
from enricher.scan import (
    attribute_value,
    dates_in_text,
    find_tag,
    itemprop_date,
    script_date,
    tag_markups,
    time_datetime,
)
from enricher.textclean import clean_text, host_names, name_key

__all__ = [
    "AMP_RULES", "BODY_DATE_RULES", "CANONICAL_RULES", "DESCRIPTION_RULES", "IMAGE_RULES",
    "LANG_RULES", "OG_IMAGE_RULES", "PUBLISHED_RULES", "SITE_NAME_RULES", "TITLE_RULES", "Page",
    "anchor", "clean_image", "first", "http_url", "ld_text", "page_text", "site_names",
    "title_sources",
]

MAX_URL_CHARS = DEFAULT_MAX_URL_LENGTH
MAX_BODY_IMAGES = 10
MIN_BODY_IMAGE_PX = 50  # a body <img> declared narrower or lower is an icon, not the page's
TEXT_DATE_AFTER = 20_000  # characters after the headline searched for a written date
TEXT_DATE_BEFORE = 5_000  # ... and before it, when nothing follows
BODY_DATE_REACH = 50_000  # characters past the headline searched for <time>, itemprop

_IMG_SRC = re.compile(r"""\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_POSTER = re.compile(r"""\sposter\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_NOT_IMAGE = re.compile(r"\.(?:mp4|m4v|webm|mov|m3u8|mp3|m4a|ogg|wav|pdf|html?|js|css)(?:[?#]|$)",
                        re.I)
_ABSOLUTE = re.compile(r"https?://[^/?#\s@\\]+(?:[/?#]|$)")
# Lazy loading: the real image waits in data-src (data-lazy-src, data-original) while src
# holds a placeholder or nothing.
_LAZY_SRC = re.compile(
    r"""\sdata-(?:lazy-src|src|original)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
# File names of blank, spacer and lazy-load placeholder images (the last path segment).
_PLACEHOLDER = re.compile(
    r"/(?:blank|spacer|pixel|transparent|clear|empty|1x1|placeholder|loading|loader|"
    r"ajax[-_]?loader|preload(?:er)?|lazy(?:[-_]?load(?:ing)?)?[-_]?placeholder)"
    r"\.(?:gif|png|jpe?g|svg|webp)(?:[?#]|$)", re.I)
# a QR code (to share the page, get the app: "ewm" is Chinese erweima) is never its image
_QR_CODE = re.compile(r"/[^/?#]*(?:qr[-_]?code|(?<![a-z])ewm(?![a-z])|erweima)[^/?#]*"
                      r"\.(?:gif|png|jpe?g|svg|webp)(?:[?#]|$)", re.I)
_WIDTH = re.compile(r"""\swidth\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_HEIGHT = re.compile(r"""\sheight\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_ESCAPED_AMP = re.compile(r"&(?:amp|#0*38|#[xX]0*26);")


class Page(Protocol):
    """What rules can ask of a parsed page (``extract._Doc``)."""

    url: str  # the final URL
    base: str  # <base href> resolved, else url
    provider: str | None
    html: str
    end: int  # where the body starts in html
    cap: int  # where the part looked at ends
    memo: dict[str, Any]  # per-page results shared by rules

    def meta(self, key: str) -> str | None: ...
    def link(self, rel: str) -> str | None: ...
    def ld(self, key: str, *, site: bool = False, body: bool = True) -> Any: ...
    def h1s(self) -> Iterable[tuple[int, str]]: ...
    def doc_title(self) -> str | None: ...
    def html_lang(self) -> str | None: ...


Rule = Callable[[Page], Any]
Cleaner = Callable[[Page, Any], Any]


def first(page: Page, rules: tuple[Rule, ...], clean: Cleaner) -> tuple[Any, int]:
    """The first clean value and the index of the rule that found it (-1: none)."""
    for n, rule in enumerate(rules):
        try:
            raw = rule(page)
        except Exception:  # a failing rule is an empty value, never a crash
            continue
        if raw is None:
            continue
        try:
            value = clean(page, raw)
        except Exception:  # a failing cleaner drops the value
            value = None
        if value:
            return value, n
    return None, -1


def http_url(base: str, value: Any) -> str | None:
    """``value`` resolved against ``base`` if it is an http(s) URL; else None
    (``javascript:``, ``data:``, ``mailto:``, garbage)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_URL_CHARS:
        return None
    if "\\" in text:  # before the query a browser reads a backslash as a slash
        head, mark, tail = text.partition("?") if "?" in text else text.partition("#")
        text = head.replace("\\", "/") + mark + tail
    if _ABSOLUTE.match(text):
        return text
    try:
        resolved = urljoin(base, text)
        parts = urlsplit(resolved)
    except ValueError:
        return None
    return resolved if parts.scheme in ("http", "https") and parts.netloc else None


# --- page-level facts several rules use ----------------------------------------------------


def _memo(page: Page, key: str, compute: Callable[[], Any]) -> Any:
    if key not in page.memo:
        page.memo[key] = compute()
    return page.memo[key]


def site_names(page: Page) -> tuple[str, ...]:
    """Name keys the site goes by: og:site_name, the record's provider, the host. Not
    application-name (some sites put the title there), not the JSON-LD publisher (no
    measured gain, and it can cost a scan of the body)."""
    def compute() -> tuple[str, ...]:
        names = [page.meta("og:site_name"), page.provider]
        return tuple(name_key(n) for n in names if n) + host_names(page.url)

    return _memo(page, "site_names", compute)  # type: ignore[no-any-return]


def page_text(page: Page, raw: Any, max_chars: int) -> str | None:
    """A value as the parser gave it (entities decoded once), cleaned. U+FFFD is dropped
    only on a page whose head region holds a NUL (the parser made it U+FFFD); elsewhere it
    is a character the page lost, and stays. The NUL scan runs only when it can matter."""
    value = raw if isinstance(raw, str) else None
    nul = bool(value) and "\ufffd" in value and _memo(  # type: ignore[operator]
        page, "nul", lambda: page.html.find("\x00", 0, page.end) >= 0)
    return clean_text(value, max_chars, keep_replacement=not nul)


def ld_text(value: Any) -> Any:
    """A JSON-LD string with its HTML entities decoded (the JSON is raw script text, and
    CMSs write ``&amp;`` and ``&#8217;`` into it); other values as they are."""
    return unescape(value) if isinstance(value, str) and "&" in value else value


def title_sources(page: Page) -> list[str]:
    """All title candidates, cleaned: evidence for what is a suffix. (JSON-LD from the head
    only: the body's costs a scan, and adds nothing measurable here.)"""
    def compute() -> list[str]:
        raw = [page.meta("og:title"), page.meta("twitter:title"),
               ld_text(page.ld("headline", body=False)), page.doc_title()]
        found = [t for r in raw if (t := page_text(page, r, DEFAULT_TITLE_MAX_CHARS))]
        return found + [text for _, text in page.h1s()]

    return _memo(page, "title_sources", compute)  # type: ignore[no-any-return]


def anchor(page: Page) -> int:
    """Where the article starts: the ``<h1>`` holding the title, else where the title's
    first words are written, else the first ``<h1>`` that is not the site's name, else the
    start of the body. Found once per page (and title)."""
    title = page.memo.get("title") or ""
    found = page.memo.get("anchor")
    if found is None or found[0] != title:
        found = page.memo["anchor"] = (title, _anchor(page, title))
    return found[1]


def _anchor(page: Page, title: str) -> int:
    key = name_key(title)
    for pos, text in page.h1s():
        h1_key = name_key(text)
        if key and h1_key and (h1_key in key or key in h1_key):
            return pos
    if len(title) >= 12:
        prefix = title[:40]
        for form in dict.fromkeys((prefix, escape(prefix, quote=False))):
            at = page.html.find(form, page.end, page.cap)
            if at >= 0:
                return at
    for pos, text in page.h1s():
        if name_key(text) not in site_names(page):
            return pos
    return page.end


# --- rule constructors and body rules ------------------------------------------------------


def _meta(*keys: str) -> Rule:
    def rule(page: Page) -> str | None:
        for key in keys:
            value = page.meta(key)
            if value:
                return value
        return None

    return rule


def _ld(key: str, convert: Callable[[Any], Any] = lambda v: v) -> Rule:
    return lambda page: convert(page.ld(key))


def _ld_text(key: str) -> Rule:
    return lambda page: ld_text(page.ld(key))


def _link(rel: str) -> Rule:
    return lambda page: page.link(rel)


def clean_image(page: Page, raw: Any) -> str | None:
    """An image URL as a client would fetch it, or None. An ``&`` still written as
    ``&amp;`` (JSON-LD is raw text, and some pages escape attribute values twice) is an
    ``&``; a blank, spacer or lazy-load placeholder file is no image of the page."""
    if isinstance(raw, str) and "&" in raw:
        for _ in range(3):
            unescaped = _ESCAPED_AMP.sub("&", raw)
            if unescaped == raw:
                break
            raw = unescaped
    url = http_url(page.base, raw)
    if url is None or _NOT_IMAGE.search(url) or _PLACEHOLDER.search(url):
        return None
    return url


def _img_url(page: Page, markup: str, attr: re.Pattern[str]) -> str | None:
    """The image of one ``<img>`` (or ``<video>``) tag: ``attr``'s URL, else (missing, a
    ``data:`` URI, a placeholder) the lazy-loaded one a script would put there."""
    if any(_dimension_below(attribute_value(markup, dim), MIN_BODY_IMAGE_PX)
           for dim in (_WIDTH, _HEIGHT)):
        return None  # an icon, an avatar, a tracking pixel
    value = attribute_value(markup, attr)
    url = clean_image(page, clean_text(value, MAX_URL_CHARS)) if value else None
    if url is None and attr is _IMG_SRC:
        lazy = attribute_value(markup, _LAZY_SRC)
        url = clean_image(page, clean_text(lazy, MAX_URL_CHARS)) if lazy else None
    return None if url is not None and _QR_CODE.search(url) else url


def _dimension_below(value: str | None, limit: int) -> bool:
    pixels = pixel_count(value)
    return pixels is not None and pixels < limit


def pixel_count(value: str | None) -> int | None:
    """A width or height as an attribute writes it ("640", "640px"), or None: ASCII digits
    only ("²" is a digit to ``str.isdigit`` and no number to ``int``), at most 9 of them."""
    digits = (value or "").strip().removesuffix("px")
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None


def _images_in(page: Page, start: int, end: int, tag: str = "<img",
               attr: re.Pattern[str] = _IMG_SRC) -> str | None:
    upper = tag == "<img"  # <video> is HTML5: never written in upper case
    for markup in tag_markups(page.html, start, end, tag, MAX_BODY_IMAGES, upper=upper):
        url = _img_url(page, markup, attr)
        if url:
            return url
    return None


def _body_image(page: Page) -> str | None:
    """metascraper's last resort: the first image of the ``<article>``, else of the page."""
    article = find_tag(page.html, "<article", page.end, page.cap)
    if article >= 0:
        close = find_tag(page.html, "</article", article, page.cap)
        found = _images_in(page, article, close if close >= 0 else page.cap)
        if found:
            return found
    return _images_in(page, page.end, page.cap)


# English-speaking countries that write the day first: a plain "en" page of such a host
_DAY_FIRST_TLDS = (".uk", ".au", ".nz", ".ie", ".in", ".za", ".sg", ".pk", ".ng", ".ke")


def month_first(page: Page) -> bool:
    """Whether the page writes ``4/6/2016`` month first (April 6): an English (US) page, or
    a plain ``en`` one, unless its host is British, Australian, Indian ... (day first)."""
    lang = (page.memo.get("lang") or "").lower()
    if lang != "en":
        return lang == "en-us"
    try:
        host = (urlsplit(page.url).hostname or "").rstrip(".")
    except ValueError:
        host = ""
    return not host.endswith(_DAY_FIRST_TLDS)


def _text_date(page: Page) -> str | None:
    """A date written in the text right after (else just before) the headline."""
    at, html = anchor(page), page.html
    us = month_first(page)
    found = dates_in_text(html, at, min(page.cap, at + TEXT_DATE_AFTER), month_first=us)
    if found is None and at > page.end:
        found = dates_in_text(html, max(page.end, at - TEXT_DATE_BEFORE), at,
                              month_first=us, last=True)
    return found


def _script_date(page: Page) -> str | None:
    return script_date(page.html, page.cap)


# --- the rules, in priority order -----------------------------------------------------------

TITLE_RULES: tuple[Rule, ...] = (
    _meta("og:title"),
    _meta("twitter:title"),
    _ld_text("headline"),
    lambda page: page.doc_title(),
    lambda page: next((text for _, text in page.h1s()), None),
    _ld_text("name"),
)
DESCRIPTION_RULES: tuple[Rule, ...] = (
    _meta("og:description"),
    _meta("twitter:description"),
    _meta("description"),
    _ld_text("description"),
)
SITE_NAME_RULES: tuple[Rule, ...] = (
    _meta("og:site_name"),
    lambda page: ld_text(name_of(page.ld("publisher", site=True))),
    _meta("application-name"),
)
OG_IMAGE_RULES = 3  # the first rules, whose image og:image:width/height describe
IMAGE_RULES: tuple[Rule, ...] = (
    _meta("og:image:secure_url"),
    _meta("og:image"),
    _meta("og:image:url"),
    _meta("twitter:image", "twitter:image:src"),
    _meta("image"),  # itemprop=image
    _ld("image", image_of),
    _ld("thumbnailUrl", image_of),
    _link("image_src"),
    _body_image,
    lambda page: _images_in(page, page.end, page.cap, "<video", _POSTER),
)
DATE_KEYS = ("pubdate", "publishdate", "publish-date", "publish_date", "dc.date.issued",
             "dcterms.issued", "parsely-pub-date", "sailthru.date", "article.published",
             "article:published", "og:published_time", "datepublished",
             "citation_publication_date", "originalpublicationdate", "published_time",
             "published-date", "release_date")
WEAK_DATE_KEYS = ("date", "dc.date", "dcterms.date", "dc.date.created", "dcterms.created",
                  "citation_date", "date.created")  # sometimes the date of the last change


def _near_headline(page: Page) -> tuple[int, int]:
    """The body up to :data:`BODY_DATE_REACH` characters past the headline."""
    return page.end, min(page.cap, anchor(page) + BODY_DATE_REACH)


def _itemprop_date(page: Page) -> str | None:
    return itemprop_date(page.html, *_near_headline(page))


def _time_date(page: Page) -> str | None:
    return time_datetime(page.html, *_near_headline(page))


PUBLISHED_RULES: tuple[Rule, ...] = (
    _meta("article:published_time"),
    _ld("datePublished"),
    _meta(*DATE_KEYS),
    _itemprop_date,
    lambda page: date_from_url(page.url),
    _time_date,
    _text_date,
    _script_date,
    _ld("dateCreated"),
    _meta(*WEAK_DATE_KEYS),
)
# Costly scans of the body, not consulted for the local form of a UTC time.
BODY_DATE_RULES = frozenset({_itemprop_date, _text_date, _script_date})
CANONICAL_RULES: tuple[Rule, ...] = (_link("canonical"), _meta("og:url"))
AMP_RULES: tuple[Rule, ...] = (_link("amphtml"),)
LANG_RULES: tuple[Rule, ...] = (
    lambda page: page.html_lang(),
    _meta("og:locale"),
    _meta("content-language", "language", "dc.language"),
    _ld("inLanguage"),
)
