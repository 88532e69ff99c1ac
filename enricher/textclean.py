"""Cleaners for text found in pages: whitespace, controls, entities; titles (site-name
suffixes and kickers).

Pure string functions used by :mod:`enricher.extract` on every candidate value; each returns
None for a value that is not usable, and none of them raises on any ``str`` input.
This module must not parse HTML (that is ``extract``'s job) or do I/O.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = ["clean_text", "host_names", "is_site_name", "is_variant", "name_key",
           "strip_site_affixes"]

# C0/C1 controls (tab/newline/CR become spaces), bidi controls, zero-width characters, and
# lone surrogates (a JSON-LD "\ud800" escape): text that cannot be written as UTF-8 would
# make every later write of it (record, history, report) fail.
_DROP = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0),
     0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F),
     *range(0x2066, 0x206A), 0x2060, 0xFEFF, 0x00AD, 0xFFFD,  # U+FFFD: what NUL becomes
     *range(0xD800, 0xE000)],
)
_WS = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]{0,500}>")
_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef"
_CJK_BREAK = re.compile(f"(?<=[{_CJK}])[ \t\r]*\n\\s*(?=[{_CJK}])")


def clean_text(value: str | None, max_chars: int, *, strip_tags: bool = False) -> str | None:
    """Entities decoded, controls/bidi/zero-width removed, whitespace collapsed, capped.
    None when nothing is left."""
    if not value:
        return None
    text = value[: max_chars * 4 + 64]
    if strip_tags and "<" in text:
        text = _TAGS.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    if not text.isprintable() or "\ufffd" in text:  # controls, breaks, bidi, zero-width...
        if "\n" in text and not text.isascii():
            text = _CJK_BREAK.sub("", text)  # a line break between CJK characters is no space
        text = _WS.sub(" ", text.translate(_DROP))
    elif "  " in text:
        text = _WS.sub(" ", text)
    text = text.strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip()
    return text or None


# --- titles -----------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[\W_]+")
# " | ", " - ", " – ", " — ", " :: ", " » ", " / ", " · ", " • ", " ~ ", and tight "|", "»", "·".
_SEPARATOR = re.compile(r"\s+(?:[|\-–—»«›‹/·•~:⋆*]|::|\|\||\\\\)\s+|\s*[|»«›‹·•⋆]\s*|: ")
_HOST_NOISE = frozenset({"www", "m", "amp", "mobile", "news", "blog", "blogs", "de", "en",
                         "com", "org", "net", "co", "uk", "at", "ch", "fr", "es", "it",
                         "online", "info", "io", "edu", "gov", "br", "ar", "mx", "us"})


# scheme://host[:port] then / ? # or the end: urlsplit would give this host (no userinfo,
# brackets, spaces or controls, which it treats specially).
_PLAIN_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([A-Za-z0-9._-]+)(?::[0-9]*)?(?=[/?#]|\Z)")


@lru_cache(maxsize=4096)
def name_key(text: str) -> str:
    """Comparison key: casefolded letters and digits only."""
    return _NON_ALNUM.sub("", text.casefold())


def host_names(url: str | None) -> tuple[str, ...]:
    """Name keys a site may use for itself, from its host: ``www.cbsnews.com`` ->
    ``cbsnewscom``, ``cbsnews``."""
    if not url:
        return ()
    plain = _PLAIN_HOST.match(url)  # the common case, without urlsplit's general parse
    if plain:
        host = plain.group(1).lower()
    else:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return ()
    labels = [x for x in host.split(".") if x]
    if not labels:
        return ()
    keys = {name_key(host.removeprefix("www.")), name_key(".".join(labels[-2:]))}
    keys.update(name_key(x) for x in labels if x not in _HOST_NOISE and len(x) >= 3)
    return tuple(k for k in keys if len(k) >= 3)


def is_site_name(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` is (close to) one of the site's name keys (``CBS News`` for
    ``cbsnews``, ``The Boston Globe`` for ``bostonglobe``, ``Krimiblog-Archiv`` for
    ``krimiblog``)."""
    key = name_key(text)
    if not key or len(text) > 80 or text.count(" ") > 5:
        return False
    for name in names:
        if key == name:
            return True
        if len(name) >= 4 and (name in key or key in name) and len(key) <= len(name) + 12:
            return True
    return False


#: Navigation words that are never a page's own title ("Home", "Blog Archive"...).
GENERIC_TITLES = frozenset({
    "home", "homepage", "startseite", "index", "untitled", "untitleddocument", "accueil",
    "inicio", "blog", "blogarchive", "blogarchiv", "archive", "archiv", "news", "aktuelles",
    "nachrichten", "artikel", "article", "articles", "beitrag", "post", "page", "seite",
})


def _split(title: str) -> tuple[list[str], list[str]]:
    parts = _SEPARATOR_SPLIT.split(title)
    return [p.strip() for p in parts[0::2]], parts[1::2]


_SEPARATOR_SPLIT = re.compile(f"({_SEPARATOR.pattern})")
_EDGE_SEPARATORS = re.compile(r"^(?:\s*[|\-–—»«›‹/·•~:⋆*])+\s*|\s*(?:[|\-–—»«›‹/·•~:⋆*]\s*)+$")


def strip_site_affixes(title: str, names: Iterable[str], others: Iterable[str]) -> str:
    """Remove site names and navigation words around a title: ``Headline | Site``,
    ``Site: Headline``, ``Headline : Site | Tagline``, ``Site » Blog Archive » Headline``.

    When a part left of or right of a separator equals another title source (``others``:
    og:title, the ``<h1>``s, ...) that is not the site's name, the longest such part is the
    title. Otherwise leading parts that are site names or navigation words go, and
    everything from the first later part that is a site name on. Without such evidence the
    title is returned unchanged."""
    names = tuple(n for n in names if n)
    other_keys = {name_key(o) for o in others if o and not is_site_name(o, names)}
    other_keys.discard("")
    other_keys.discard(name_key(title))
    cuts = list(_SEPARATOR.finditer(title))
    parts = [title[: cut.start()].strip() for cut in cuts] + [title[cut.end():].strip()
                                                            for cut in cuts]
    matching = [p for p in parts if p and name_key(p) in other_keys]
    if matching:
        return max(matching, key=len)
    segments, separators = _split(title)
    if len(segments) < 2:
        return _EDGE_SEPARATORS.sub("", title) or title

    def noise(segment: str) -> bool:
        return is_site_name(segment, names) or name_key(segment) in GENERIC_TITLES

    start, stop = 0, len(segments)
    while stop - start > 1 and (noise(segments[start]) or not name_key(segments[start])):
        start += 1
    for i in range(start + 1, stop):
        if is_site_name(segments[i], names):
            stop = i
            break
    while stop - start > 1 and (noise(segments[stop - 1]) or not name_key(segments[stop - 1])):
        stop -= 1
    kept = segments[start]
    for i in range(start + 1, stop):
        kept += separators[i - 1] + segments[i]
    return _EDGE_SEPARATORS.sub("", kept) or kept


_WORD = re.compile(r"\w+")


def is_variant(headline: str, title: str, min_overlap: float) -> bool:
    """Whether ``headline`` is another wording of ``title``: different, not ``title`` with a
    kicker in front, and sharing at least ``min_overlap`` of the shorter one's words."""
    h_key, t_key = name_key(headline), name_key(title)
    if not h_key or not t_key or h_key == t_key or t_key in h_key:
        return False
    h_words, t_words = set(_WORD.findall(headline.casefold())), set(_WORD.findall(title.casefold()))
    if not h_words or not t_words:
        return False
    return len(h_words & t_words) / min(len(h_words), len(t_words)) >= min_overlap
