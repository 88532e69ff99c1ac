"""Title similarity: does a live page's title still describe the record that links to it?

``title_drift(record_title, live_title)`` is True when both titles exist and share almost
nothing, a sign that the URL now points to other content. Titles are compared as sets of
words: NFKC, case-folded, accents and punctuation removed, stopwords of English, French,
German, Spanish and Italian ignored, numbers kept. The score is the share of the *shorter*
title's words found in the longer one (the overlap coefficient), so a site suffix or kicker on
one side ("... | CBS News", "Politics: ...") and a title cut short with "..." do not count as
difference.

Threshold (``DRIFT_BELOW`` = 0.2): drift when fewer than one word in five of the shorter title
is shared, i.e. no word at all for titles of up to five words (when in doubt, no drift: a
one-word title sharing its word is not drift). Measured on the shared data
(tests/test_textsim.py re-checks it when present): 887 distinct pairs (labelled title, raw
``<title>`` or ``og:title``) from 609 saved pages score below 0.2 in 23 cases (2.6%), each a
different string rather than a variant (the page's title is only the site name or "Home", a
tweet id, another teaser headline); 5,000 random pairs of titles of different pages score below
0.2 in 99.7% of cases; the 17 pairs of different titles the records hold for one URL
(rewordings of updated articles) score 0.33 to 1.0. At 0.25 two more same-story pairs (German
compound words) would be flagged. Related articles on one topic mostly share their topic words,
so drift means "other content", not "another article on the same topic" (record titles against
their related items: 2.1% below 0.2). Scripts written without spaces (Chinese, Japanese,
Korean) are compared by pairs of characters.

This module is pure: no I/O, no third-party imports, never raises on any strings.
"""

from __future__ import annotations

import re
import unicodedata

DRIFT_BELOW = 0.2  # overlap coefficient under which two titles are "about other things"

_WORD = re.compile(r"\w+")
_ELLIPSIS_END = re.compile(r"(?:\.{3}|…)\s*$")
_ELISION = re.compile(r"\b[cdjlmnst]'|\bqu'")
_POSSESSIVE = re.compile(r"'s\b")
_LATIN_MARKS = re.compile("[\u0300-\u036f]")  # combining diacritics of Latin letters
_CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")

# Left out on purpose, being words in another language: ai, hat, sin, son, ton, us, war.
_STOPWORDS_BY_LANGUAGE = {
    "en": "a an and are as at be been but by can do does for from had has have how i if in into "
    "is it its just more most my new no not now of on or our out over so than that the their "
    "them then there these they this those to up was we were what when where which who why "
    "will with you your",
    "fr": "au aux avec ce ces cette comme dans de des du elle en est et il ils je la le les leur "
    "lui mais me meme ne nos notre nous on ou par pas plus pour qu que qui sa se ses sont sur "
    "ta te tes tu un une vos votre vous y",
    "de": "am an auch auf aus bei bin bis das dass dem den der des die doch ein eine einem einen "
    "einer eines er es fur ich ihr im ins ist kein mit nach nicht noch nur oder sein sich sie "
    "sind so uber um und uns vom von vor was wie wir wird zu zum zur",
    "es": "al como con da de del e el en es esta este esto hay la las lo los mas mi mis muy no o "
    "para pero por que se sobre su sus te tu un una uno unos y ya",
    "it": "agli al alla alle allo che chi col con cosa da dal dalla dei del della delle dello di "
    "e gli ha i il in la le lo ma nei nel nella non per piu se si sono su sua sue suo sul "
    "sulla tra un una uno",
}
_STOPWORDS = frozenset(" ".join(_STOPWORDS_BY_LANGUAGE.values()).split())


def _words(title: str) -> frozenset[str]:
    """The meaningful words of a title: NFKC, case-folded, without accents, punctuation,
    stopwords and one-letter words (digits are kept). A word cut by a final "..." is dropped."""
    text = unicodedata.normalize("NFKC", title).casefold().replace("\u2019", "'")
    truncated = _ELLIPSIS_END.search(text) is not None
    text = _ELISION.sub(" ", text)  # French l', d', qu' ...
    text = _POSSESSIVE.sub("", text).replace("'", "").replace("_", " ")  # don't -> dont
    plain = text.isascii()
    if not plain:  # é -> e, ü -> u; other scripts keep their marks
        text = unicodedata.normalize(
            "NFC", _LATIN_MARKS.sub("", unicodedata.normalize("NFD", text))
        )
    words = _WORD.findall(text)
    if truncated and words:
        words.pop()
    kept = {word for word in words if word not in _STOPWORDS and (len(word) > 1 or word.isdigit())}
    runs = [] if plain else _CJK_RUN.findall(" ".join(words))
    if runs:  # scripts written without spaces: pairs of characters stand for words
        kept = {word for word in kept if not _CJK_RUN.search(word)}
        kept.update(run[i : i + 2] for run in runs for i in range(max(len(run) - 1, 1)))
    return frozenset(kept)


def title_similarity(first: str, second: str) -> float | None:
    """Share of the shorter title's words found in the other, from 0.0 to 1.0; None when
    either title has no meaningful words."""
    a, b = _words(first), _words(second)
    if not a or not b:
        return None
    return len(a & b) / min(len(a), len(b))


def title_drift(record_title: str | None, live_title: str | None) -> bool:
    """True when both titles exist and share almost nothing (score below ``DRIFT_BELOW``)."""
    if not record_title or not live_title:
        return False
    score = title_similarity(record_title, live_title)
    return score is not None and score < DRIFT_BELOW
