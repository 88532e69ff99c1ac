"""JSON-LD (schema.org) blocks of a page -> a ranked list of objects, and typed lookups.

Objects are flattened from top-level lists, ``@graph`` and ``mainEntity``, then ranked:
articles (NewsArticle, BlogPosting, ...) first, then web pages, then other content; site
and publisher objects (Organization, WebSite, Person, BreadcrumbList...) last and only for
lookups that ask for them. Invalid JSON is skipped; sizes and counts are bounded.
Pure functions over strings and decoded JSON; this module must not parse HTML or do I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_JSONLD_CHARS", "MAX_JSONLD_NODES", "MAX_JSONLD_SCRIPTS", "JsonLd",
           "is_story_type"]

MAX_JSONLD_SCRIPTS = 16
MAX_JSONLD_CHARS = 256 * 1024
MAX_JSONLD_NODES = 500
MAX_LOOSE_MARKS = 2_000  # strings, comments and commas a lenient reading walks through

_ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "blogposting", "reportagenews", "analysisnewsarticle",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "scholarlyarticle",
    "techarticle", "socialmediaposting", "liveblogposting", "report", "blog", "posting",
    "discussionforumposting", "videoobject", "recipe", "review", "podcastepisode",
    "medicalwebpage", "howto", "product", "event", "creativework"})
# the types that make a page a story (evidence against "not found": enricher.signals)
_STORY_TYPES = frozenset({
    "article", "newsarticle", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "liveblogposting",
    "techarticle", "scholarlyarticle", "socialmediaposting", "report"})
# content that is a page's own subject like an article (a deleted video's page has none)
_MEDIA_TYPES = frozenset({"videoobject", "audioobject", "musicrecording", "musicalbum",
                          "podcastepisode", "movie", "episode", "tvepisode", "book"})
_CONTENT_TYPES = _STORY_TYPES | _MEDIA_TYPES
_PAGE_TYPES = frozenset({"webpage", "itempage", "collectionpage", "aboutpage", "profilepage",
                         "qapage", "faqpage", "searchresultspage"})
_SITE_TYPES = frozenset({"organization", "newsmediaorganization", "website", "person",
                         "breadcrumblist", "imageobject", "sitenavigationelement", "listitem",
                         "searchaction", "corporation", "localbusiness", "wpheader",
                         "wpfooter", "wpsidebar", "readaction", "entrypoint"})
_WRAPPERS = (("<!--", "-->"), ("//<![CDATA[", "//]]>"), ("<![CDATA[", "]]>"))
_DECODER = json.JSONDecoder(strict=False)  # control characters in strings, as CMSs write them


def _uncomment(text: str) -> str:
    """JSON-LD wrapped in ``<!-- -->`` or CDATA markers, as some CMSs write it."""
    text = text.strip()
    for start, end in _WRAPPERS:
        if text.startswith(start):
            text = text[len(start):].strip()
        if text.endswith(end):
            text = text[: -len(end)].strip()
    return text


_MARK = re.compile(r'["/,]')  # where a lenient reading looks: strings, comments, commas
_CLOSING = re.compile(r"\s*[}\]]")


def _loosen(text: str) -> str | None:
    """``text`` without comments and without commas before a closing bracket, strings kept
    as they are; None when a string or comment never ends or the text holds more than
    :data:`MAX_LOOSE_MARKS` of them. One pass: no regex that a crafted script could make
    re-read the text from every quote."""
    out: list[str] = []
    at, end, budget = 0, len(text), MAX_LOOSE_MARKS
    while budget > 0:
        if (m := _MARK.search(text, at)) is None:
            break
        j = m.start()
        out.append(text[at:j])
        budget -= 1
        if text[j] == '"':
            k = j + 1
            while True:  # the closing quote: one not escaped by an odd run of backslashes
                q = text.find('"', k)
                if q < 0 or budget <= 0:
                    return None
                if (q - k - len(text[k:q].rstrip("\\"))) % 2 == 0:
                    break
                k, budget = q + 1, budget - 1
            out.append(text[j: q + 1])
            at = q + 1
        elif text.startswith("/*", j):
            k = text.find("*/", j + 2)
            if k < 0:
                return None
            at = k + 2
        elif text.startswith("//", j):
            k = text.find("\n", j)
            at = end if k < 0 else k
        else:  # "," (kept unless a bracket closes next) or a lone "/"
            if text[j] == "/" or not _CLOSING.match(text, j + 1):
                out.append(text[j])
            at = j + 1
    else:
        return None  # more strings and commas than a page's metadata needs
    out.append(text[at:])
    return "".join(out)


def _parse(text: str) -> Any:
    """A script's JSON; None when it is none. What CMSs write that JSON does not allow is
    read as browsers' JSON-LD readers do: comments (``/*<![CDATA[*/``), trailing commas,
    a BOM, several objects one after another."""
    text = _uncomment(text)
    try:
        return _DECODER.decode(text)
    except RecursionError:
        return None
    except ValueError:
        pass
    loose = _loosen(text.lstrip("\ufeff"))
    if loose is None:
        return None
    text = loose.strip()
    found: list[Any] = []
    at = 0
    try:
        while at < len(text) and len(found) < MAX_JSONLD_NODES:
            value, at = _DECODER.raw_decode(text, at)
            found.append(value)
            while at < len(text) and text[at] in " \t\r\n;,":
                at += 1
    except (ValueError, RecursionError):
        pass
    return found or None


def _rank(obj: dict[str, Any]) -> int:
    """0 article, 1 web page, 2 other content, 3 site/publisher object."""
    t = obj.get("@type")
    names = [t] if isinstance(t, str) else t[:10] if isinstance(t, list) else []
    rank = 2
    for name in names:
        if isinstance(name, str):
            key = name.lower().rsplit("/", 1)[-1]
            if key in _ARTICLE_TYPES:
                return 0
            if key in _PAGE_TYPES:
                rank = 1
            elif key in _SITE_TYPES and rank == 2:
                rank = 3
    return rank


def _walk(data: Any, out: list[dict[str, Any]]) -> None:
    stack = [data]
    while stack and len(out) < MAX_JSONLD_NODES:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item[:MAX_JSONLD_NODES]))
        elif isinstance(item, dict):
            out.append(item)
            for key in ("mainEntity", "@graph"):
                if isinstance(item.get(key), list | dict):
                    stack.append(item[key])


class JsonLd:
    """The JSON-LD objects of one page, ranked. Built once per page by ``extract``."""

    __slots__ = ("content", "site")

    def __init__(self, texts: list[str]) -> None:
        objects: list[dict[str, Any]] = []
        for text in texts[:MAX_JSONLD_SCRIPTS]:
            if len(text) > MAX_JSONLD_CHARS:
                continue
            data = _parse(text)
            if data is not None:
                _walk(data, objects)
        buckets: tuple[list[dict[str, Any]], ...] = ([], [], [], [])
        for obj in objects:
            buckets[_rank(obj)].append(obj)
        self.content = buckets[0] + buckets[1] + buckets[2]
        self.site = buckets[3]

    def has_story(self) -> bool:
        """Whether one of the content objects is an article or a medium (a video, a song:
        :func:`is_story_type`)."""
        return any(is_story_type(obj.get("@type"), media=True) for obj in self.content)

    def get(self, key: str, *, site: bool = False) -> Any:
        """The first non-empty ``key`` among content objects (and site objects if asked)."""
        for group in (self.content, self.site) if site else (self.content,):
            for obj in group:
                value = obj.get(key)
                if value:
                    return value
        return None


def is_story_type(value: Any, *, media: bool = False) -> bool:
    """Whether an ``@type`` value (a name or a list of names) is an article's (or, with
    ``media``, a video's, a song's, a book's ...)."""
    names = [value] if isinstance(value, str) else value[:10] if isinstance(value, list) else []
    kinds = _CONTENT_TYPES if media else _STORY_TYPES
    return any(isinstance(name, str) and name.lower().rsplit("/", 1)[-1] in kinds
               for name in names)


def name_of(value: Any) -> str | None:
    """``"Site"``, ``{"name": "Site"}`` or a list of those -> the first name."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) else None


def image_of(value: Any) -> str | None:
    """``"url"``, an ImageObject (``url``/``contentUrl``/``@id``) or a list -> the first URL."""
    for _ in range(3):
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, dict):
            value = value.get("url") or value.get("contentUrl") or value.get("@id")
    return value if isinstance(value, str) else None
