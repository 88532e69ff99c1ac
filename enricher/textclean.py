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

__all__ = ["INVISIBLE", "clean_text", "hidden_characters", "host_names", "is_site_name",
           "is_variant", "name_key", "strip_site_affixes"]

# C0/C1 controls (tab/newline/CR become spaces), bidi controls, zero-width characters, and
# lone surrogates (a JSON-LD "\ud800" escape): text that cannot be written as UTF-8 would
# make every later write of it (record, history, report) fail. ZWNJ/ZWJ: see hidden_characters.
_DROP = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0),
     0x061C, 0x200B, 0x200E, 0x200F, *range(0x202A, 0x202F),
     *range(0x2066, 0x206A), 0x2060, 0xFEFF, 0x00AD, *range(0xD800, 0xE000)],
)
#: Invisible format characters, each a place to hide text (tag characters carry "ASCII
#: smuggling"): Mongolian vowel separator, word joiner, invisible operators, deprecated format
#: characters, interlinear annotation, shorthand and musical format controls, tag characters
#: and the unassigned default-ignorable code points. Variation selectors ("❤️") are not here.
INVISIBLE = ("\u180e\u2060-\u206f\ufff0-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
             "\U000e0000-\U000e00ff\U000e01f0-\U000e0fff")
_JOINERS = "\u200c\u200d"
# The flag emoji spelt with tag characters that Unicode recommends: England, Scotland, Wales.
_TAG_FLAGS = "\U0001f3f4(?:" + "|".join(
    "".join(chr(0xE0000 + ord(c)) for c in code) for code in ("gbeng", "gbsct", "gbwls")
) + ")\U000e007f"


def hidden_characters(also: str = "") -> re.Pattern[str]:
    """A pattern for characters that hide text: one of ``INVISIBLE`` or of ``also`` (the body
    of a character class), and a ZWNJ/ZWJ that joins nothing: not alone between two visible
    non-ASCII characters (an emoji sequence such as 👩‍💻, Persian, Indic scripts). A flag emoji
    spelt with tag characters matches whole, as group 1, for the caller to keep."""
    visible = f"[^\\x00-\\x7f\\s{also}{INVISIBLE}{_JOINERS}]"
    lone = f"[{_JOINERS}](?:(?<!{visible}[{_JOINERS}])|(?!{visible}))"
    # the lookahead first: one character class per position is what keeps clean text fast
    return re.compile(f"(?=[{also}{INVISIBLE}{_JOINERS}\U0001f3f4])"
                      f"(?:({_TAG_FLAGS})|[{also}{INVISIBLE}]|{lone})")


_HIDDEN = hidden_characters()
# U+FFFD stands for a character the page lost (invalid bytes): it stays, or "K\ufffdln"
# would become "Kln". Dropped only where it is what the parser made of a NUL.
_DROP_REPLACEMENT = {**_DROP, 0xFFFD: None}
_WS = re.compile(r"\s+")
# A character reference left after decoding: the CMS escaped the value twice ("&amp;#039;",
# "&amp;quot;", "&amp;nbsp;"), and nobody means "&#039;" as text. A remaining "&amp;",
# "&lt;" or "&gt;" may be meant ("&amp;amp;" shows "&amp;"): it stays.
_ESCAPED_TWICE = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|(?!(?:amp|lt|gt);)[A-Za-z]{2,31}[0-9]{0,2});")
# A tag as the HTML tokenizer sees one: "<" then a letter, "/", "!" or "?" ("if a < b" is text).
# elements whose content is no text of the page, and comments
_INERT = re.compile(r"<(script|style|noscript|template)\b[^>]{0,500}>.*?</\1\s*>|<!--.*?-->",
                    re.I | re.S)
_TAGS = re.compile(r"<(?:/?[A-Za-z]|[!?])[^>]{0,500}>")
_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef"
_CJK_BREAK = re.compile(f"(?<=[{_CJK}])[ \t\r]*\n\\s*(?=[{_CJK}])")


def clean_text(value: str | None, max_chars: int, *, strip_tags: bool = False,
               unescape: bool | None = None, keep_replacement: bool = True) -> str | None:
    """Controls, bidi, zero-width and invisible format characters (tag characters, lone
    joiners) removed, whitespace collapsed, capped; None when nothing is left.

    ``value`` is text as the HTML parser gave it (attribute values and element text, whose
    entities are already decoded: ``&amp;amp;`` stays ``&amp;``, as a browser shows it).
    With ``strip_tags`` it is HTML source (an element's inner HTML): tags are removed and
    entities decoded, once. ``unescape`` decodes entities without removing tags (JSON-LD
    text). ``keep_replacement=False`` drops U+FFFD too, for a page whose NULs the parser
    turned into U+FFFD."""
    if not value:
        return None
    text = value[: max_chars * 4 + 64]
    if strip_tags and "<" in text:
        text = _TAGS.sub(" ", _INERT.sub(" ", text))
    if (strip_tags if unescape is None else unescape) and "&" in text:
        text = html.unescape(text)
    if "&" in text and _ESCAPED_TWICE.search(text):
        text = html.unescape(text)
    if not text.isprintable() or (not keep_replacement and "\ufffd" in text):
        if "\n" in text and not text.isascii():
            text = _CJK_BREAK.sub("", text)  # a line break between CJK characters is no space
        text = text.translate(_DROP if keep_replacement else _DROP_REPLACEMENT)
        text = _WS.sub(" ", _HIDDEN.sub(_flag_or_nothing, text))
    elif "  " in text:
        text = _WS.sub(" ", text)
    text = text.strip()
    if len(text) > max_chars:
        text = text[:max_chars]
        if not text.isprintable():  # the cap may cut an emoji sequence or a flag's tags
            text = _HIDDEN.sub(_flag_or_nothing, text)
        text = text.rstrip()
    return text or None


def _flag_or_nothing(match: re.Match[str]) -> str:
    return match[1] or ""


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


_NAME_WORD = re.compile(r"[^\W_]+")
#: Words a site writes around its name: "The Boston Globe", "CBS News", "Krimiblog-Archiv",
#: "NYTimes.com", "SPIEGEL ONLINE".
_AFFIX_WORDS = frozenset({
    "the", "www", "news", "online", "blog", "blogs", "archiv", "archive", "magazine", "magazin",
    "tv", "radio", "digital", "daily", "edition", "newsroom", "nachrichten",
    "com", "org", "net", "info", "io", "co", "de", "at", "ch", "uk", "us", "fr", "es", "it",
    "nl", "be", "au", "ca", "eu",
})
#: Words of a phrase, never of a name added to a site's name ("for the first Time").
_PHRASE_WORDS = frozenset({
    "a", "an", "and", "or", "of", "for", "to", "in", "on", "at", "by", "with", "from", "as",
    "is", "are", "was", "not", "no", "my", "your", "our", "his", "her", "its", "their", "this",
    "that", "first", "last", "all", "more", "most", "about", "how", "why", "what", "s",
})
MAX_NAME_EXTRA_WORDS = 2  # words, besides affix words, a site's name may carry ("Yahoo Finance")
MAX_NAME_EXTRA_CHARS = 12


def _extra_word(word: str) -> bool:
    """A word a site may add to its name: capitalised, not a phrase's word."""
    return word[:1].isupper() and word.casefold() not in _PHRASE_WORDS


def _named_by_words(words: list[str], name: str, extra_words: int) -> bool:
    """Whether whole consecutive ``words`` spell ``name`` and the others are affix words
    ("the", "news", ".com") or a short capitalised addition ("Yahoo Finance")."""
    keys = [name_key(w) for w in words]
    for i in range(len(keys)):
        joined = ""
        for j in range(i, len(keys)):
            joined += keys[j]
            if len(joined) >= len(name):
                break
        if joined != name:
            continue
        # "Gregory Szorc's Digital Home": a possessive "s" after the name is part of it.
        possessive = j + 1 < len(words) and words[j + 1] == "s"
        rest = [w for n, w in enumerate(words)
                if (n < i or n > j) and not (n == j + 1 and possessive)]
        extra = [w for w in rest if w.casefold() not in _AFFIX_WORDS]
        if not extra or (len(extra) <= extra_words
                         and sum(map(len, extra)) <= MAX_NAME_EXTRA_CHARS
                         and all(map(_extra_word, extra))):
            return True
    return False


def is_site_name(text: str, names: Iterable[str], *, partial: bool = True,
                 extra_words: int = MAX_NAME_EXTRA_WORDS) -> bool:
    """Whether ``text`` is one of the site's name keys, or a close variant of one: the name
    in whole words with affix words around it (``CBS News`` for ``cbsnews``, ``The Boston
    Globe`` for ``bostonglobe``, ``Krimiblog-Archiv`` for ``krimiblog``), or (``partial``)
    the start or end of the name (``Globe``, ``CBS``). A name inside a word (``Hardwired``)
    or a phrase (``for the first time``, ``political science``) is not the site's name.
    ``extra_words``: short capitalised words besides the name ("Yahoo Finance") allowed."""
    key = name_key(text)
    if not key or len(text) > 80 or text.count(" ") > 5:
        return False
    words: list[str] | None = None
    for name in names:
        if key == name:
            return True
        if len(name) < 3:
            continue
        if len(key) < len(name):
            if partial and len(key) >= 3 and (name.startswith(key) or name.endswith(key)):
                return True
        elif name in key:
            words = words if words is not None else _NAME_WORD.findall(text)
            if _named_by_words(words, name, extra_words):
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
# A separator left at an edge with whitespace on its inner side ("- Headline", "Headline |"):
# "-40 degrees", "~50 dead", "/r/news" and "$9.99*" are text.
_EDGE_CHARS = r"[|\-–—»«›‹/·•~:⋆*]+"
_EDGE_SEPARATORS = re.compile(rf"^(?:{_EDGE_CHARS}\s+)+|(?:\s+{_EDGE_CHARS})+$")


# guillemets that pair up around words are quotation marks, not separators ("«Газпром»
# повысил цены", "Merkel: »Wir schaffen das«", French and German ways round): they are
# masked meanwhile; "Spiegel » Politik » ..." keeps its separators
_QUOTED = re.compile(r"«[^«»]{1,300}»|»(?=\S)[^«»]{1,300}(?<=\S)«|‹[^‹›]{1,300}›|"
                     r"›(?=\S)[^‹›]{1,300}(?<=\S)‹")  # the German way round, tight: "» «" is
# a separator before a French quote ("Site » «Газпром» повысил")
_MASK, _UNMASK = str.maketrans("«»‹›", "\ue000\ue001\ue002\ue003"), str.maketrans(
    "\ue000\ue001\ue002\ue003", "«»‹›")


def _mask_quotes(text: str) -> str:
    return _QUOTED.sub(lambda m: m[0].translate(_MASK), text)


def strip_site_affixes(title: str, names: Iterable[str], others: Iterable[str]) -> str:
    """Remove site names and navigation words around a title: ``Headline | Site``,
    ``Site: Headline``, ``Headline : Site | Tagline``, ``Site » Blog Archive » Headline``.

    When a part left of or right of a separator equals another title source (``others``:
    og:title, the ``<h1>``s, ...) that is not the site's name, the longest such part is the
    title. Otherwise leading parts that are site names or navigation words go, and
    everything from the first later part that is a site name on. Without such evidence the
    title is returned unchanged. Guillemets that pair up are quotes, never separators."""
    masked = _mask_quotes(title)
    if masked != title:
        others = [_mask_quotes(o) for o in others if o]
        return _strip_affixes(masked, names, others).translate(_UNMASK)
    return _strip_affixes(title, names, others)


def _strip_affixes(title: str, names: Iterable[str], others: Iterable[str]) -> str:
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

    def noise(segment: str, partial: bool = True) -> bool:
        return (is_site_name(segment, names, partial=partial)
                or name_key(segment) in GENERIC_TITLES)

    def kicker(i: int) -> bool:
        """A leading part that names the site whole: "New York: A City Reborn" on
        newyorker.com starts with a place. Before a colon, the name alone: "Apple Watch:
        Our Review" on apple.com is a headline; "Four Years Remaining » ..." a site."""
        if separators[i].strip() == ":":
            return (is_site_name(segments[i], names, partial=False, extra_words=0)
                    or name_key(segments[i]) in GENERIC_TITLES)
        return noise(segments[i], False)

    start, stop = 0, len(segments)
    while stop - start > 1 and (kicker(start) or not name_key(segments[start])):
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
