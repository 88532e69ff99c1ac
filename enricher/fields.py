"""Field values of a page: cleaners for each field, and the decisions that weigh several
sources at once: a site-name suffix, the visible headline against og:title, agreeing
descriptions, an image's size, a UTC time against its local form.

Everything here reads a :class:`enricher.rules.Page` through the rules of
:mod:`enricher.rules`; a page gives a PageMeta with None for what is not found, never an
exception. This module must not parse HTML or do I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from enricher.config import DEFAULT_TITLE_MAX_CHARS, MAX_IMAGE_SIDE_PX
from enricher.dates import midnight_as_day, normalise_date, prefer_local
from enricher.models import ImageInfo, PageMeta
from enricher.rules import (
    AMP_RULES,
    BODY_DATE_RULES,
    CANONICAL_RULES,
    DESCRIPTION_RULES,
    IMAGE_RULES,
    LANG_RULES,
    OG_IMAGE_RULES,
    PUBLISHED_RULES,
    SITE_NAME_RULES,
    TITLE_RULES,
    Page,
    clean_image,
    first,
    http_url,
    month_first,
    page_text,
    pixel_count,
    site_names,
    title_sources,
)
from enricher.textclean import (
    GENERIC_TITLES,
    clean_text,
    is_site_name,
    is_variant,
    name_key,
    strip_site_affixes,
)

__all__ = ["description", "image", "page_meta", "published", "title"]

DESCRIPTION_MAX_CHARS = 1_000
NAME_MAX_CHARS = 200
HEADLINE_OVERLAP = 0.5  # share of words an <h1> must share with the title to replace it

# A tag of the kind descriptions hold when a CMS wrote HTML into them.
_HTML_FRAGMENT = re.compile(
    r"</?(?:p|div|span|br|strong|b|i|em|u|a|h[1-6]|ul|ol|li|img|font|small|sup|sub|script|"
    r"style|noscript|iframe)\b[^<>]{0,500}>|<!--", re.I)
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_LANG_MAX = 35  # BCP 47's longest tag worth keeping (RFC 5646 4.4.1); longer is not a tag


# --- cleaners ------------------------------------------------------------------------------


def _clean_title(page: Page, raw: Any) -> str | None:
    text = page_text(page, raw, DEFAULT_TITLE_MAX_CHARS)
    if not text:
        return None
    key = name_key(text)
    if any(name_key(h1) == key for _, h1 in page.h1s()):  # the visible headline, as it is
        return text
    return strip_site_affixes(text, site_names(page), title_sources(page))


def _clean_name(page: Page, raw: Any) -> str | None:
    return page_text(page, raw, NAME_MAX_CHARS)


def _clean_description(page: Page, raw: Any) -> str | None:
    """Text as the page wrote it; a value holding HTML (``<p>...``, escaped into the
    attribute or raw) is not: a CMS put an excerpt of the body there."""
    text = page_text(page, raw, DESCRIPTION_MAX_CHARS)
    return None if text is None or _HTML_FRAGMENT.search(text) else text


def _clean_html_description(page: Page, raw: Any) -> str | None:
    """The text of a description, read as HTML when it holds tags: tags removed, entities
    decoded; a ``<`` of the text ("if a < b") stays."""
    text = page_text(page, raw, DESCRIPTION_MAX_CHARS * 4)  # room for the tags
    if text and _HTML_FRAGMENT.search(text):
        text = clean_text(text, DESCRIPTION_MAX_CHARS, strip_tags=True)
    return (text[:DESCRIPTION_MAX_CHARS].rstrip() or None) if text else None


def _clean_url(page: Page, raw: Any) -> str | None:
    return http_url(page.base, raw)


def _clean_date(page: Page, raw: Any) -> str | None:
    """A date the page gives, read month first on a US page (``4/6/2016``: April 6); one
    after tomorrow (UTC) is no publication date (an event's, a typo's)."""
    found = normalise_date(raw, month_first=month_first(page)) if isinstance(raw, str) else None
    if found is not None and found[:10] > _tomorrow():
        return None
    return found


def _tomorrow() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()


def _clean_lang(_page: Page, raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    value = raw.strip().replace("_", "-").split(",")[0].strip()
    if len(value) > _LANG_MAX or not _LANG.fullmatch(value):
        return None
    language, *rest = value.split("-")  # BCP 47's case: en-US, zh-Hant-TW
    return "-".join([language.lower(), *(p.upper() if len(p) == 2 else p.title()
                                         if len(p) == 4 else p.lower() for p in rest)])


# --- fields --------------------------------------------------------------------------------


def title(page: Page) -> str | None:
    """The first clean title that is not just the site's name or a navigation word (else
    the first clean one). The visible headline (the first ``<h1>`` that is not the site's
    name) replaces it when it is another wording of the same title: readers, and the human
    labels we measure against, take the headline as shown; og:title is often an SEO form."""
    found: str | None = None
    chosen: str | None = None
    for n in range(len(TITLE_RULES)):
        value = first(page, TITLE_RULES[n: n + 1], _clean_title)[0]
        if value and name_key(value):
            found = found or value
            if not is_site_name(value, site_names(page)) and name_key(value) not in GENERIC_TITLES:
                chosen = value
                break
    chosen = chosen or found
    if chosen:
        for _, h1 in page.h1s():
            if not is_site_name(h1, site_names(page)):
                return h1 if is_variant(h1, chosen, HEADLINE_OVERLAP) else chosen
    return chosen


def description(page: Page) -> str | None:
    """The first clean description, unless the other two meta descriptions (og, twitter,
    name=description) agree with each other on something else: then theirs. A value that
    holds HTML is used, as text, only when no description is plain text."""
    values: list[str | None] = [first(page, (rule,), _clean_description)[0]
                                for rule in DESCRIPTION_RULES[:3]]
    present = [v for v in values if v]
    if not present:
        fallback: str | None = (first(page, DESCRIPTION_RULES[3:], _clean_description)[0]
                                or first(page, DESCRIPTION_RULES, _clean_html_description)[0])
        return fallback
    if len(present) == 3 and name_key(present[1]) == name_key(present[2]) != name_key(present[0]):
        return present[1]
    return present[0]


def _dimension(value: str | None) -> int | None:
    pixels = pixel_count(value)
    return pixels if pixels is not None and 0 < pixels <= MAX_IMAGE_SIDE_PX else None


def image(page: Page) -> ImageInfo | None:
    url, n = first(page, IMAGE_RULES, clean_image)
    if not url:
        return None
    if n >= OG_IMAGE_RULES:
        return ImageInfo(url=url)
    return ImageInfo(url=url, width=_dimension(page.meta("og:image:width")),
                     height=_dimension(page.meta("og:image:height")))


def published(page: Page) -> str | None:
    """The first clean date. A UTC time gives way to the same moment written locally by a
    later metadata rule (:func:`enricher.dates.prefer_local`), and a UTC 22:00/23:00 is
    read as the local midnight it stands for (:func:`enricher.dates.midnight_as_day`)."""
    found: dict[int, str | None] = {}

    def value(n: int) -> str | None:
        if n not in found:
            found[n] = first(page, PUBLISHED_RULES[n: n + 1], _clean_date)[0]
        return found[n]

    for n in range(len(PUBLISHED_RULES)):
        date = value(n)
        if date and len(date) > 10:
            later = [k for k in range(n + 1, len(PUBLISHED_RULES))
                     if PUBLISHED_RULES[k] not in BODY_DATE_RULES]
            return midnight_as_day(prefer_local(date, (value(k) for k in later)))
        if date:
            return date
    return None


def page_meta(page: Page) -> PageMeta:
    """Every field of one page."""
    page.memo["title"] = title(page)
    page.memo["lang"] = first(page, LANG_RULES, _clean_lang)[0]
    return PageMeta(
        title=page.memo["title"],
        description=description(page),
        site_name=first(page, SITE_NAME_RULES, _clean_name)[0],
        image=image(page),
        published_at=published(page),
        canonical_url=first(page, CANONICAL_RULES, _clean_url)[0],
        amp_url=first(page, AMP_RULES, _clean_url)[0],
        lang=page.memo["lang"],
    )
