"""Page-level signals: soft 404s (bot walls are ``walls``'). Pure predicates over URLs,
the page's title, h1 and headlines, and the decoded start of the page.

They fire only on strong evidence; when in doubt a page is ordinary (``ok``):

* a soft 404 needs a title or first ``<h1>`` that *is* a not-found message, in one of the
  major languages: a whole separator-delimited part ("Page not found | Site", every other
  part the site's name as its host or og:site_name says) or a part that is a not-found
  sentence ("Sorry, the page you are looking for does not exist"); or such an h1 under a
  title that names only the site or also says not found ("Page not found | Any Name"); and
  no headline of the URL's story (an og:title, twitter:title or h1 sharing two words with
  the URL's slug, not a not-found or error phrase nor the site's name) contradicts it: a
  live story under a broken template's "404 Not Found" title is doubt.
  Or a deep article URL redirected permanently (301/308 all the way: a 302 may be a geo,
  consent or bot gate) to its own host's root or to a section that is a prefix of it (not
  a view or an attachment of a page to the page: ``/slug/amp``, ``/slug/2``,
  ``/slug/attachment/photo-1`` to ``/slug/``;
  nor ``/docs/index.html`` to ``/docs/``, the same page; nor to a script's ``#!`` route); a
  redirect to the site's error page (``/404``, ``/errors/404.html``, ``/en/not-found``: a
  "404" deeper in a path is content, and a bare ``/error`` names other failures); or a
  parked-domain page: small, with a parking vendor's address or a domain-sale phrase, under
  a title that names only the domain or says it too (a blog post about parking names its
  own subject). A title that merely mentions 404 ("404 errors explained", "Top 404 pages")
  is not one; nor is the title of a URL that names an error itself (``httpstatuses.io/404``
  is a page about it); and a page with content markup (the caller says so: an article, a
  video, a song) never is, whatever its title or redirect.

This module must not do I/O or parse HTML (``extract`` gives the title and h1).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl, unquote, urlsplit

from enricher.textclean import host_names, is_site_name, name_key

__all__ = ["is_soft_404", "lands_elsewhere", "lands_on_front", "soft_404_reason"]

MAX_SITE_WORDS = 6  # words of a part that may be a site name we do not know
# parked-domain pages are small and carry no article markup; a longer page that mentions
# parked domains or domain sales is an article about them
PARKED_MAX_PAGE_CHARS = 24 * 1024

# --- soft 404 -----------------------------------------------------------------------------

# A whole part of a title that says "not found" (after dropping punctuation and "oops").
_NOT_FOUND_PART = re.compile(
    r"(?:(?:error|fehler|erreur|errore|fout|erro|błąd|hata|ошибка)\s*)?"
    r"(?:404|410)?\s*(?:error|fehler)?\s*"
    r"(?:(?:the\s+)?(?:page|file|article|content|document|site|seite|datei|artikel|inhalt|"
    r"page|fichier|página|pagina|artículo|articolo|pagina|strona|sida|side|sivu|stránka|"
    r"sayfa|страница|oldal)\s+)?"
    r"(?:not\s+found|cannot\s+be\s+found|could\s+not\s+be\s+found|does\s+not\s+exist|"
    r"doesn'?t\s+exist|no\s+longer\s+exists|(?:wurde\s+)?nicht\s+gefunden|existiert\s+nicht|"
    r"introuvable|non\s+trouvée?|n'existe\s+pas|no\s+encontrad[ao]|no\s+existe|"
    r"non\s+trovat[ao]|non\s+esiste|niet\s+gevonden|bestaat\s+niet|não\s+encontrad[ao]|"
    r"não\s+existe|nie\s+znaleziono|nie\s+istnieje|hittades\s+inte|ikke\s+fundet|"
    r"ei\s+löytynyt|nenalezena|nem\s+található|bulunamadı|не\s+найдена?|"
    r"見つかりません|不存在|未找到|찾을\s+수\s+없습니다)"
    r"|(?:error|fehler|erreur|errore)?\s*404(?:\s*(?:error|fehler|erreur))?"
    r"|404\s*[-:|]?\s*(?:not\s+found|page\s+not\s+found)", re.I)
# A not-found sentence anywhere in the title or h1.
_NOT_FOUND_SENTENCE = re.compile(
    r"(?:page|article|content|file)\s+you\s+(?:are|were|'re)\s+looking\s+for\s+"
    r"(?:could\s+not|cannot|can'?t|can’t|does\s+not|doesn'?t|doesn’t|no\s+longer|was\s+not|"
    r"wasn'?t|is\s+not|isn'?t)"
    r"|(?:that|this|the)\s+page\s+(?:can'?t|can’t|cannot|could\s+not|couldn'?t)\s+be\s+found"
    r"|(?:this|that|the)\s+page\s+(?:doesn'?t|doesn’t|does\s+not|no\s+longer)\s+exists?"
    r"|(?:die\s+)?(?:angeforderte\s+|gesuchte\s+)?seite\s+(?:wurde\s+|konnte\s+)?nicht\s+"
    r"gefunden|la\s+page\s+(?:demandée\s+|que\s+vous\s+cherchez\s+)?(?:est\s+)?introuvable"
    r"|la\s+página\s+(?:que\s+buscas\s+)?no\s+(?:existe|se\s+encuentra|ha\s+sido\s+encontrada)"
    r"|la\s+pagina\s+(?:richiesta\s+)?non\s+(?:è\s+stata\s+trovata|esiste)"
    r"|deze\s+pagina\s+(?:bestaat\s+niet|kon\s+niet\s+(?:worden\s+)?gevonden)"
    r"|a\s+página\s+(?:que\s+procura\s+)?não\s+(?:existe|foi\s+encontrada)"
    r"|nie\s+znaleziono\s+strony|strona\s+nie\s+(?:istnieje|została\s+znaleziona)"
    r"|страница\s+не\s+найдена|ページが見つかりません|页面不存在|找不到页面|页面未找到"
    r"|페이지를\s+찾을\s+수\s+없", re.I)
_PARTS = re.compile(r"\s+[|\-–—»:·•]\s+|\s*[|»·•]\s*")
_PUNCT = re.compile(r"^[\s!.¡¿?…:,\-–—()\[\]]+|[\s!.¡¿?…:,\-–—()\[\]]+$")
_OOPS = re.compile(r"^(?:oops|whoops|ups|hoppla|uh[\s-]?oh|sorry|désolé|lo\s+sentimos)\W+", re.I)
# what may stand before a not-found sentence in its part, and what may not follow it
_SENTENCE_LEAD = re.compile(
    r"(?:(?:we'?re\s+sorry|we\s+are\s+sorry|sorry|oops|whoops|error|fehler|erreur|404|410)"
    r"[\s,!.:;-]*)*(?:the\s+)?", re.I)
_CLAUSE = re.compile(r"[:;,?|]")
# a second sentence after a not-found sentence makes a headline ("... can't be found. Blame
# the algorithm"), unless it is what error pages add: a code, an apology, a way back
_SECOND_SENTENCE = re.compile(r"[.!…]\s+(?=\w)")
_ERROR_PAGE_HINT = re.compile(
    r"(?:(?:error|fehler|erreur)\s*)?(?:404|410)\W*$|(?:we'?re\s+)?sorry\b|oops\b|please\b|"
    r"go\s+(?:back|home)\b|(?:back|return)\s+to\b|try\s+(?:again|searching|a\s+search)\b|"
    r"search\s+(?:our|the\s+site|this\s+site)\b|check\s+(?:the|your)\s+(?:url|address|"
    r"spelling|link)\b|click\s+here\b|(?:zurück|retour|volver|torna)\b|(?:zur\s+)?startseite"
    r"\b|accueil\b|inicio\b", re.I)
_ASIDE = re.compile(r"\(\s*[^\W\d_]")  # "(and why that is fine": a headline goes on; "(404)" not
MAX_SENTENCE_TAIL_WORDS = 6  # "... does not exist or has been moved"
# what an error page's own og:title or h1 says besides "not found" ("Oops!", "Nothing here",
# "Looks like you're lost", "This is somewhat embarrassing"): no headline of an article
_ERROR_WORDS = re.compile(
    r"\b(?:404|410|errors?|fehler|erreur|errore|oops|whoops|oups|hoppla|sorry|hmm+|uh[\s-]?oh|"
    r"lost|missing|gone|vanished|disappeared|wandered|moved|removed|deleted|unavailable|"
    r"expired|nothing|problem|wrong|broken|awkward|embarrassing|dead\s+end|"
    r"(?:can'?t|can’t|cannot|couldn'?t|couldn’t|could\s+not|unable\s+to)\s+(?:be\s+)?"
    r"(?:find|found|locate|reach)|not\s+(?:here|there|available))\b"
    r"|^\W*(?:(?:no|\d+)\s+)?(?:search\s+)?results?\s+for\b|^\W*you\s+searched\s+for\b"
    r"|^\W*(?:were\s+you\s+)?looking\s+for\b|^\W*did\s+you\s+mean\b", re.I)  # echoes
_STOPWORDS = frozenset(re.findall(r"\w+", (  # function words: no slug's match
    "the and for you with are was this that from your our not but all has have its into "
    "about after over what when how why who will can der die das und von mit den dem ein "
    "eine les des une pour sur dans par del los las una con por para che per gli della")))
_WORDS = re.compile(r"[^\W_]+")
_CJK_TEXT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
MIN_HEADLINE_WORDS = 4  # "Mayor wins the vote"; "Nothing to see" or "Home" is none
MIN_SLUG_WORD, MIN_SLUG_MATCH = 3, 2  # a headline shares two words of 3+ letters with its slug
MIN_CJK_HEADLINE_CHARS = 8

# a path that *is* an error page: "/404", "/404.html", "/not-found", "/errors/404",
# "/en/page-not-found" (a bare /error, /Error.aspx or /errors/403 names some other failure:
# a 500, a block, maintenance). A "404" deeper in a path is content: an episode, a bill.
_ERROR_NAME = re.compile(r"(?:404|410|not[-_]?found|page[-_]not[-_]found|"
                         r"seite[-_]nicht[-_]gefunden|pagina[-_]no[-_]encontrada|"
                         r"page[-_]introuvable)(?:\.html?|\.php|\.aspx?)?", re.I)
# a folder's own page under another name: "/index.html", "/docs/default.aspx" (a redirect
# from it to its folder is the same page); and what a trailing segment may be that names a
# view of the page before it, not a page of its own ("/story/amp", "/story/2": page 2)
_INDEX_NAME = re.compile(r"(?:index|default|home)\.(?:html?|shtml|php\d?|aspx?|jsp|cfm|asp)",
                         re.I)
_VIEW_NAME = re.compile(r"amp|print(?:\.html?)?|embed|comments?|comment-page-\d+|feed|all|"
                        r"full|gallery|photos?|video|page|single|\d{1,3}", re.I)
# what a segment under a page names that is a child of that page at any depth (WordPress's
# /post/attachment/photo-1); "/news/video/123-story" is a story in a section's video folder
_CHILD_NAME = re.compile(r"attachments?|trackback", re.I)
_ERROR_FOLDER = re.compile(r"errors?|pages?|http|system|(?:en|fr|de|es|it|nl|pt|pl|sv|da|fi|"
                           r"no|nb|cs|hu|tr|ru|ja|zh|ko|ar|el|ro)(?:[-_][a-z]{2})?", re.I)
# what a parking page says (evidence only under a title that names nothing but the domain,
# or says it too: an article may quote the phrase), and the parking vendors' own addresses
_PARKED_PHRASE = re.compile(r"this\s+domain\s+(?:name\s+)?(?:is|may\s+be)\s+for\s+sale|"
                            r"buy\s+this\s+domain|domain\s+is\s+parked|parked\s+domain")
_PARKED_VENDOR = re.compile(r"sedoparking\.com|sedo\.com/search/details|parkingcrew\.net|"
                            r"bodis\.com|parklogic\.com|hugedomains\.com/domain_profile|"
                            r"dan\.com/buy-domain|afternic\.com/forsale")
# literals one of which every alternative above contains (a cheap pre-check)
_PARKED_MARKERS = ("for sale", "buy this domain", "parked", "sedo", "parkingcrew", "bodis",
                   "parklogic", "hugedomains", "dan.com/buy-domain", "afternic")


def _is_not_found_part(part: str) -> bool:
    """Whether one title part *is* a not-found message: a not-found phrase as the whole
    part, or a not-found sentence that the part starts with (after "Sorry,", "Error 404:")
    and that only a short plain tail follows ("... could not be found on this server"). A
    question, or a sentence that goes on after a colon or comma or with a second sentence
    ("This page can't be found. Blame the algorithm"), is a headline about it."""
    if _NOT_FOUND_PART.fullmatch(part):
        return True
    m = _NOT_FOUND_SENTENCE.search(part)
    if m is None or "?" in part:
        return False
    tail = part[m.end():]
    second = _SECOND_SENTENCE.search(tail)
    if second is not None and not _ERROR_PAGE_HINT.match(tail, second.end()):
        return False  # a second sentence of its own: a headline
    return (_SENTENCE_LEAD.fullmatch(part[: m.start()]) is not None
            and not _CLAUSE.search(tail) and not _ASIDE.search(tail)
            and len(tail.split()) <= MAX_SENTENCE_TAIL_WORDS)


def _says_not_found(text: str | None, names: tuple[str, ...] | None) -> bool:
    """Whether a title (or h1) is a not-found message: one of its separator-delimited parts
    is one, and every other part is another one or the site's name (``names``: name keys of
    the host and og:site_name), never a headline ("Not found - movie review | Site"). With
    ``names`` None (the site's name unknown), other parts need only be short like a name."""
    if not text:
        return False
    parts = [_PUNCT.sub("", _OOPS.sub("", p.strip())) for p in _PARTS.split(text.strip()[:300])]
    parts = [p for p in parts if p]
    found = [_is_not_found_part(p) for p in parts]
    return any(found) and all(
        hit or (len(p.split()) <= MAX_SITE_WORDS if names is None else is_site_name(p, names))
        for p, hit in zip(parts, found, strict=True))


def _content_words(text: str) -> set[str]:
    """Lower-case words of 3+ letters, accents folded, no numbers or function words."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower())
                     if not unicodedata.combining(c))
    return {w for w in _WORDS.findall(folded)
            if len(w) >= MIN_SLUG_WORD and not w.isdigit() and w not in _STOPWORDS}


def _slug_words(url: str | None) -> set[str]:
    """The words of a URL's slug: its path segment with the most (``/blog/scaling-nsq/amp``
    -> scaling, nsq; ``.html`` and the like dropped)."""
    segments = unquote(urlsplit(url or "").path).split("/")
    found = [_content_words(re.sub(r"\.[a-z0-9]{1,5}$", "", s.lower())) for s in segments]
    return max(reversed(found), key=len, default=set())  # a tie: the later (not a section)


def _is_headline(text: str | None, title: str, names: tuple[str, ...], slug: set[str]
                 ) -> bool:
    """Whether a page's og:title, twitter:title or first h1 is the headline of the story its
    URL names, which contradicts a not-found title (a live story under a broken template's
    "404 Not Found"): it shares two or more words with the URL's slug (an error page does
    not know what was asked for: its message, in any language, and its site-wide og:title
    share none), has several words besides the site's name, no not-found or error wording,
    and is not merely the title's own words again."""
    if not text or len(slug & _content_words(text)) < MIN_SLUG_MATCH:
        return False
    if _ERROR_WORDS.search(text) or _NOT_FOUND_SENTENCE.search(text) \
            or _NOT_FOUND_PART.search(text):
        return False
    rest = " ".join(p for p in _PARTS.split(text.strip()[:300])
                    if p.strip() and not is_site_name(p.strip(), names))
    words = _WORDS.findall(rest.lower())
    if not words or set(words) <= set(_WORDS.findall(title.lower())):
        return False
    return len(words) >= MIN_HEADLINE_WORDS or (
        len(_CJK_TEXT.findall(rest)) >= MIN_CJK_HEADLINE_CHARS)


def _site_like(text: str | None, names: tuple[str, ...]) -> bool:
    """A title that names only the site (or nothing): then the h1 is the page's message."""
    return not text or not text.strip() or all(
        is_site_name(p, names) for p in _PARTS.split(text.strip()[:300]) if p.strip())


def _segments(path: str) -> list[str]:
    """A path's segments, without a trailing directory index (``/docs/index.html`` is the
    page ``/docs/`` is)."""
    segments = [s for s in path.split("/") if s]
    if segments and _INDEX_NAME.fullmatch(segments[-1]):
        segments.pop()
    return segments


def _is_error_path(path: str) -> bool:
    """``/404``, ``/404.html``, ``/errors/404``, ``/en/not-found``: an error page's own path."""
    segments = _segments(path)
    return (0 < len(segments) <= 2 and _ERROR_NAME.fullmatch(segments[-1]) is not None
            and (len(segments) == 1 or _ERROR_FOLDER.fullmatch(segments[0]) is not None))


def _names_error(url: str) -> bool:
    """The URL asked for names an error page itself (``httpstatuses.io/404``,
    ``site.example/errors/not-found``): a title saying "404 Not Found" is its content."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return any(_ERROR_NAME.fullmatch(segment) for segment in _segments(path))


def _is_deep(path: str) -> bool:
    """An article-like path: two or more segments, or one long/numbered/.html slug."""
    segments = _segments(path)
    if len(segments) >= 2:
        return True
    return bool(segments) and (len(segments[0]) >= 20 or any(c.isdigit() for c in segments[0])
                               or segments[0].endswith((".html", ".htm", ".php", ".aspx")))


def _redirect_reason(url: str, final_url: str | None, temporary: bool) -> str | None:
    if not final_url or final_url == url:
        return None
    try:
        old, new = urlsplit(url), urlsplit(final_url)
    except ValueError:
        return None
    if _is_error_path(new.path) and not _is_error_path(old.path):
        return "redirect_to_error_page"
    if not _is_deep(old.path):
        return None
    # only the article's own site counts: a shortener's or an old domain's redirect to
    # another host's front page, or a geo or mobile host's, is no evidence of a lost article
    if (new.hostname or "").removeprefix("www.") != (old.hostname or "").removeprefix("www."):
        return None
    if temporary:  # "elsewhere for now": a geo, consent or bot gate may send a live article
        return None  # to the front page with a 302; only a permanent move says it is gone
    new_segments, old_segments = _segments(new.path), _segments(old.path)
    if new.query or new.fragment:  # "/?p=9", "/#!/news/..." (a script's route): a page
        return None
    if not new_segments:
        return "redirect_to_root"
    if (len(new_segments) == 1 and old_segments[:1] == new_segments and len(old_segments) > 1
            and not _is_deep(new.path)
            and not all(_VIEW_NAME.fullmatch(s) for s in old_segments[1:])  # /slug/page/2
            and not _CHILD_NAME.fullmatch(old_segments[1])):
        return "redirect_to_section"  # not "/slug/amp", "/slug/attachment/photo-2" -> "/slug/"
    return None


def lands_on_front(url: str, final_url: str | None) -> bool:
    """A deep article URL that redirects ended on its own site's front page or a section,
    or any URL with a path ended on a front page (any host's; whatever the hop codes): no
    article, whether or not it counts as a soft 404."""
    if _redirect_reason(url, final_url, False) in ("redirect_to_root", "redirect_to_section"):
        return True
    try:
        old, new = urlsplit(url), urlsplit(final_url or url)
    except ValueError:
        return False
    return (final_url not in (None, url) and not _segments(new.path) and not new.query
            and not new.fragment and bool(_segments(old.path) or old.query))


# what a redirect from an article may land on that is no article (never a verdict: only
# whether the page there may stand for the article in livePage or --update-redirects)
_LISTING_DIR = re.compile(r"categor(?:y|ies)|tags?|topics?|sections?|authors?|archives?|"
                          r"search|home|index|start", re.I)
_LANGUAGE = re.compile(r"[a-z]{2}(?:[-_][a-z]{2})?", re.I)  # /en/, /de-de/: a front page
_GATE = re.compile(r"log[-_]?in|sign[-_]?(?:in|up)|signon|sso|auth(?:orize)?|consent|gdpr|cookies?|"
                   r"subscribe|paywall|register|account", re.I)
_SEARCH_KEYS = frozenset({"s", "q", "query", "search", "keyword", "keywords", "term"})


def lands_elsewhere(url: str, final_url: str | None) -> bool:
    """A redirect took a deep article URL to a page that is no article: a front page or a
    section (``lands_on_front``), a language front page (``/en/``), a listing (``/news/``
    from deeper, ``/category/x/``, ``/tag/x/``, ``/home``), a search (``?s=bike+lanes``), or
    a login, consent or paywall gate (on its path, its host, or carrying the article's URL
    in its query). Its title, description and image are not the article's."""
    if lands_on_front(url, final_url):
        return True
    if final_url in (None, url):
        return False
    try:
        old, new = urlsplit(url), urlsplit(final_url)
        keys = {key.lower() for key, _ in parse_qsl(new.query, keep_blank_values=True)}
    except ValueError:
        return False
    if not _is_deep(old.path):
        return False
    segments, label = _segments(new.path), (new.hostname or "").split(".")[0]
    if keys & _SEARCH_KEYS or _GATE.fullmatch(label) or any(
            _GATE.fullmatch(s.split(".")[0]) for s in segments[:2]):
        return True
    if old.path in unquote(new.query) and len(old.path) > 1:  # a gate passing the URL on
        return True
    if segments and (_LISTING_DIR.fullmatch(segments[0].split(".")[0])
                     or _LANGUAGE.fullmatch(segments[0])):  # and no article slug after it
        return len(segments) == 1 or (len(segments) == 2 and not _is_deep(segments[1]))
    return len(segments) < len(_segments(old.path)) and not _is_deep(new.path)


def soft_404_reason(url: str, final_url: str | None, title: str | None, h1: str | None,
                    text_prefix: str = "", site_name: str | None = None, *,
                    article: bool = False, temporary: bool = False,
                    headlines: tuple[str, ...] = ()) -> str | None:
    """Why a 200 page is really "not found" (``not_found_title``, ``not_found_h1``,
    ``redirect_to_root``, ``redirect_to_section``, ``redirect_to_error_page``,
    ``parked_domain``), or None. The h1 counts only under a title that names nothing but
    the site (an article's own h1 may be a headline about a missing thing). ``article``:
    the page carries article markup (``og:type`` article, ``article:published_time``, an
    Article in its JSON-LD); such a page is a story, whatever its title says ("Not Found |
    Roger Ebert" is a film review) or wherever a redirect led: never a soft 404.
    ``temporary``: a hop of the redirect chain was temporary (302, 303, 307); a redirect to
    the front page or a section then says nothing (one to an error page still does).
    ``headlines``: the page's og:title and twitter:title; one of them or the h1 that is the
    headline of the URL's story (it shares words with the URL's slug, and is no not-found
    or error phrase, nor the site's name) is doubt: the title or h1 saying "not found" then
    counts for nothing."""
    if article:
        return None
    if (title or h1) and not _names_error(url):
        names = tuple({*host_names(url), *host_names(final_url),
                       *((name_key(site_name),) if site_name else ())} - {""})
        if _says_not_found(title, names):
            reason: str | None = "not_found_title"
        elif _says_not_found(h1, names) and (_site_like(title, names)
                                            or _says_not_found(title, None)):
            reason = "not_found_h1"  # the h1 is the message, the title agrees or names the site
        else:
            reason = None
        slug = _slug_words(url) | _slug_words(final_url)
        if reason and not any(_is_headline(text, title or "", names, slug)
                              for text in (h1, *headlines)):
            return reason
    reason = _redirect_reason(url, final_url, temporary)
    if reason:
        return reason
    if text_prefix and len(text_prefix) <= PARKED_MAX_PAGE_CHARS:
        lower = text_prefix.lower()
        if (any(m in lower for m in _PARKED_MARKERS) and "<article" not in lower
                and (_PARKED_VENDOR.search(lower) or _PARKED_PHRASE.search(lower))
                and (_PARKED_PHRASE.search((title or "").lower()) or _site_like(
                    title, tuple({*host_names(url), *host_names(final_url)} - {""})))):
            return "parked_domain"
    return None


def is_soft_404(url: str, final_url: str | None, title: str | None, h1: str | None,
                text_prefix: str = "", site_name: str | None = None, *,
                article: bool = False, temporary: bool = False,
                headlines: tuple[str, ...] = ()) -> bool:
    """Whether a successful response is really a "not found" page (verdict dead,
    reason soft_404). Only strong evidence counts; see the module docstring."""
    return soft_404_reason(url, final_url, title, h1, text_prefix, site_name,
                           article=article, temporary=temporary,
                           headlines=headlines) is not None
