"""Text cleaning, site names from hosts, suffix/kicker stripping, headline variants."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enricher.textclean import (
    clean_text,
    host_names,
    is_site_name,
    is_variant,
    name_key,
    strip_site_affixes,
)


def test_clean_text() -> None:
    assert clean_text("  a&amp;b \n\t c\u00a0d ", 100, strip_tags=True) == "a&b c d"
    assert clean_text("x\x00y\x07z\u202e\u2066w\ufeff", 100) == "xyzw"
    assert clean_text("<b>bold</b> text", 100, strip_tags=True) == "bold text"
    assert clean_text("<b>kept</b>", 100) == "<b>kept</b>"
    assert clean_text("abcdef", 3) == "abc"
    assert clean_text(" \n ", 10) is None
    assert clean_text(None, 10) is None
    assert clean_text("日本語の\n記事です", 100) == "日本語の記事です"  # a break, not a space
    assert clean_text("米朝 首脳", 100) == "米朝 首脳"  # a real space stays
    assert clean_text("Bad \ud800 title\udfff", 100) == "Bad title"  # lone surrogates


def test_host_names() -> None:
    assert set(host_names("https://www.cbsnews.com/news/x")) >= {"cbsnewscom", "cbsnews"}
    names = host_names("https://wien.orf.at/")
    assert {"orf", "wien", "orfat"} <= set(names)
    assert "at" not in names  # suffixes and short labels are no names
    assert host_names("not a url") == ()
    assert host_names(None) == ()


@pytest.mark.parametrize("url", [
    "https://WWW.Example.COM:8080/a?b#c", "http://a.example", "http://a.example?x",
    "https://user:pw@login.example.com/", "https://[::1]/x", "https://h.example:abc/",
    "https://ex\tample.com/", "ftp://files.example/x", "https://xn--e1afmkfd.xn--p1ai/",
    "https://пример.рф/", "https://h.example:/", "//no-scheme.example/x",
    "https://under_score.example/", "https://a.example:8080", "https://a..example/",
])
def test_host_names_fast_path_agrees_with_urlsplit(url: str) -> None:
    # A leading space sends the URL through urlsplit (which strips it): same names.
    assert urlsplit(" " + url).hostname == urlsplit(url).hostname
    assert set(host_names(url)) == set(host_names(" " + url))


def test_is_site_name() -> None:
    names = ("bostonglobe", "krimiblog")
    assert is_site_name("The Boston Globe", names)
    assert is_site_name("Krimiblog-Archiv", names)
    assert not is_site_name("Boston city council votes on the budget for next year", names)
    assert not is_site_name("", names)


@pytest.mark.parametrize(("title", "names", "others", "expected"), [
    ("Headline | Site", ("site",), (), "Headline"),
    ("Site: Headline", ("site",), (), "Headline"),
    ("Headline - Section - Site", ("site",), (), "Headline - Section"),
    ("Headline : Site | A tagline | Since 2005", ("site",), (), "Headline"),
    ("Site » Blog Archive » Headline", ("site",), (), "Headline"),
    ("Home | Headline", (), (), "Headline"),
    ("Headline | Section", (), ("Headline",), "Headline"),
    ("Kicker: Headline", (), ("Headline",), "Headline"),
    ("Logo name | Real headline", (), ("Logo name", "Real headline"), "Real headline"),
    ("Headline | Section", (), (), "Headline | Section"),
    ("Headline -", (), (), "Headline"),
    ("Headline: the subtitle", (), (), "Headline: the subtitle"),
])
def test_strip_site_affixes(title: str, names: tuple[str, ...], others: tuple[str, ...],
                            expected: str) -> None:
    assert strip_site_affixes(title, names, others) == expected


def test_is_variant() -> None:
    assert is_variant("City council approves the new bridge", "Council approves new bridge", 0.5)
    assert not is_variant("Menu", "Council approves new bridge", 0.5)
    assert not is_variant("Politics: Council approves new bridge",
                          "Council approves new bridge", 0.5)  # a kicker, not a variant
    assert not is_variant("Same", "same", 0.5)


def test_name_key() -> None:
    assert name_key("The Boston-Globe!") == "thebostonglobe"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.text(max_size=20), max_size=3))
def test_strip_never_raises_and_never_grows(title: str, others: list[str]) -> None:
    result = strip_site_affixes(title, tuple(name_key(o) for o in others), others)
    assert len(result) <= len(title)


# --- audit fixes: site names as whole words, edge separators, entities, U+FFFD -------------

@pytest.mark.parametrize(("segment", "names"), [
    ("for the first time", ("time",)),
    ("human nature at fault", ("nature",)),
    ("Hardwired", ("wired",)),
    ("political science", ("science",)),
    ("dash's test", ("test", "newstest")),
    ("Political science and the budget", ("science",)),
])
def test_a_name_inside_words_or_a_phrase_is_not_the_site_name(
        segment: str, names: tuple[str, ...]) -> None:
    assert not is_site_name(segment, names)


@pytest.mark.parametrize(("segment", "names"), [
    ("CBS News", ("cbsnews",)),
    ("CBS News", ("cbs",)),
    ("The Boston Globe", ("bostonglobe",)),
    ("Globe", ("bostonglobe",)),
    ("Krimiblog-Archiv", ("krimiblog",)),
    ("NYTimes.com", ("nytimes",)),
    ("SPIEGEL ONLINE", ("spiegel",)),
    ("CNN Politics", ("cnn",)),
    ("Gregory Szorc's Digital Home", ("gregoryszorc",)),
])
def test_site_name_variants_in_whole_words(segment: str, names: tuple[str, ...]) -> None:
    assert is_site_name(segment, names)


@pytest.mark.parametrize(("title", "names"), [
    ("Fed holds rates steady - for the first time", ("time", "timecom")),
    ("Climate report - human nature at fault", ("nature", "naturecom")),
    ("Apple event recap | Hardwired", ("wired", "wiredcom")),
    ("Funding cuts - political science", ("science", "scienceorg")),
])
def test_phrases_ending_in_the_site_name_stay(title: str, names: tuple[str, ...]) -> None:
    assert strip_site_affixes(title, names, ()) == title


@pytest.mark.parametrize("title", [
    "-40 degrees in Winnipeg tonight", "~50 dead in floods", "/r/news thread",
    "Prices from $9.99*", "*Updated* rules", "Headline:more",
])
def test_signs_and_symbols_at_the_edges_are_text(title: str) -> None:
    assert strip_site_affixes(title, ("site",), ()) == title


@pytest.mark.parametrize(("title", "expected"), [
    ("- Headline", "Headline"),
    ("Headline -", "Headline"),
    ("Site | - Headline", "Headline"),
    ("Headline ~ Site", "Headline"),
    ("Site - -40 degrees tonight", "-40 degrees tonight"),
])
def test_separators_at_the_edges_go(title: str, expected: str) -> None:
    assert strip_site_affixes(title, ("site",), ()) == expected


@pytest.mark.parametrize(("title", "expected"), [
    ("«Газпром» повысил цены на газ", "«Газпром» повысил цены на газ"),
    ("Путин назвал условия для «мира»", "Путин назвал условия для «мира»"),
    ("« Nous ne lâcherons rien »", "« Nous ne lâcherons rien »"),
    ("Merkel: »Wir schaffen das«", "Merkel: »Wir schaffen das«"),
    ("‹Bonjour› à tous", "‹Bonjour› à tous"),
    ("«Газпром» повысил цены | Site", "«Газпром» повысил цены"),
    ("Site » Blog Archive » Headline", "Headline"),  # no pair: breadcrumbs
    ("Site » Politik » Merkel: »Wir schaffen das«", "Politik » Merkel: »Wir schaffen das«"),
    ("Site » «Газпром» повысил цены", "«Газпром» повысил цены"),  # "» «": a separator first
    ("Headline » Site", "Headline"),
])
def test_guillemets_that_pair_up_are_quotes(title: str, expected: str) -> None:
    """French, Russian and German quotation marks (both orders) at a title's edges were
    taken for separators and lost."""
    assert strip_site_affixes(title, ("site",), ()) == expected


def test_entities_are_decoded_once() -> None:
    # Parser output (attribute values, element text) is decoded already.
    assert clean_text("A &amp; B", 100) == "A &amp; B"
    assert clean_text("AT&T &lt;3", 100) == "AT&T &lt;3"
    # HTML source (strip_tags) and JSON-LD text (unescape) are decoded once.
    assert clean_text("<b>A &amp;amp; B</b>", 100, strip_tags=True) == "A &amp; B"
    assert clean_text("A &amp;amp; B", 100, unescape=True) == "A &amp; B"
    # A value escaped twice by its CMS: a character reference left over is decoded.
    assert clean_text("It&#039;s &quot;big&quot;&nbsp;news", 100) == 'It\'s "big" news'


def test_tags_are_stripped_but_a_less_than_sign_is_text() -> None:
    assert clean_text("if a < b and c > d", 100, strip_tags=True) == "if a < b and c > d"
    assert clean_text("x <!-- c --> y </p>", 100, strip_tags=True) == "x y"


def test_replacement_character_is_kept_unless_it_stands_for_nul() -> None:
    assert clean_text("K\ufffdln", 100) == "K\ufffdln"
    assert clean_text("K\ufffdln", 100, keep_replacement=False) == "Kln"
    assert clean_text("x\x00y", 100) == "xy"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.lists(st.text(min_size=1, max_size=12), max_size=3))
def test_is_site_name_never_raises(text: str, names: list[str]) -> None:
    assert isinstance(is_site_name(text, tuple(name_key(n) for n in names)), bool)


# --- invisible format characters: tag characters ("ASCII smuggling") and the like ---------

def _tags(text: str) -> str:
    """``text`` spelt in Unicode tag characters (U+E0000 + ASCII): invisible everywhere."""
    return "".join(chr(0xE0000 + ord(c)) for c in text)


SCOTLAND = "\U0001f3f4" + _tags("gbsct") + "\U000e007f"  # a flag emoji spelt with tags


@pytest.mark.parametrize("hidden", [
    _tags("hidden"), "\U000e0001" + _tags("en"), "\U000e007f",
    "\u180e", "\u2061", "\u2062\u2063\u2064", "\u2065", "\u206a\u206f", "\ufff9x\ufffay\ufffb",
    "\U0001bca0", "\U0001d173", "\U000e0fff",
])
def test_clean_text_drops_invisible_format_characters(hidden: str) -> None:
    cleaned = clean_text(f"Fed holds{hidden} rates", 100)
    assert cleaned is not None and cleaned.isprintable()
    assert cleaned == "Fed holds rates" or cleaned == "Fed holdsxy rates"


@pytest.mark.parametrize("text", [
    "I \u2764\ufe0f Wien",  # an emoji with its variation selector
    "Meet the \U0001f469\u200d\U0001f4bb of the year",  # a ZWJ sequence: woman technologist
    "Pride \U0001f3f3\ufe0f\u200d\U0001f308 parade",  # VS16 then ZWJ
    f"{SCOTLAND} wins",  # the tag characters of a flag emoji Unicode recommends
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ between letters
    "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ after a virama
    "Caf\u00e9 \U0001f1e6\U0001f1f9 \u263a\ufe0e",  # regional indicators, text presentation
])
def test_clean_text_keeps_joiners_and_selectors_that_emoji_and_scripts_need(text: str) -> None:
    assert clean_text(text, 100) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("a\u200db", "ab"),  # a joiner in ASCII text joins nothing
    ("\U0001f469\u200d\u200d\u200c\U0001f4bb", "\U0001f469\U0001f4bb"),  # a run hides bits
    ("\u200dend\u200d", "end"),
    ("\U0001f469\u200d x", "\U0001f469 x"),
    ("\U0001f3f4" + _tags("zzzzz") + "\U000e007f", "\U0001f3f4"),  # no such flag: tags go
    (_tags("gbsct") + "\U000e007f", None),  # a flag's tags without the flag
])
def test_clean_text_drops_joiners_that_join_nothing(text: str, expected: str | None) -> None:
    assert clean_text(text, 100) == expected


_TRICKY = st.text(st.sampled_from(["a", " ", "\u00e9", "\U0001f469", "\ufe0f", "\u200c", "\u200d",
                                   "\U0001f3f4", "\U000e0067", "\U000e0062", "\U000e0073",
                                   "\U000e0063", "\U000e0074", "\U000e007f", "\u2061", "\u180e"]),
                  max_size=30)


@settings(max_examples=300, deadline=None)
@given(_TRICKY)
def test_clean_text_leaves_no_hidden_characters(text: str) -> None:
    cleaned = (clean_text(text, 100) or "").replace(SCOTLAND, "")
    assert not any(0xE0000 <= ord(c) <= 0xE007F or c in "\u2061\u180e" for c in cleaned)
    for i, c in enumerate(cleaned):  # a joiner left joins two visible non-ASCII characters
        if c in "\u200c\u200d":
            assert 0 < i < len(cleaned) - 1
            assert all(not n.isascii() and not n.isspace() and n not in "\u200c\u200d"
                       for n in (cleaned[i - 1], cleaned[i + 1]))


def test_a_cut_through_an_emoji_sequence_leaves_no_hidden_characters() -> None:
    assert clean_text(f"ab {SCOTLAND}", 5) == "ab \U0001f3f4"
    assert clean_text("ab \U0001f469\u200d\U0001f4bb", 5) == "ab \U0001f469"


@pytest.mark.parametrize(("title", "names", "expected"), [
    ("New York: A City Reborn", ("newyorker",), "New York: A City Reborn"),
    ("Chicago: Bears win", ("chicagotribune",), "Chicago: Bears win"),
    ("The New Yorker: A City Reborn", ("newyorker",), "A City Reborn"),
    ("A City Reborn | New Yorker", ("newyorker",), "A City Reborn"),
    ("A City Reborn | Yorker", ("newyorker",), "A City Reborn"),  # a trailing part may be short
    # before a colon the name alone (affix words aside) is a kicker; with a word more, it
    # is the headline's subject
    ("Apple Watch: Our Review", ("apple",), "Apple Watch: Our Review"),
    ("Reuters Poll: Biden Leads", ("reuters",), "Reuters Poll: Biden Leads"),
    ("Spotify Wrapped: Your Year in Music", ("spotify",), "Spotify Wrapped: Your Year in Music"),
    ("Reuters: Biden Leads", ("reuters",), "Biden Leads"),
    ("Yahoo Finance: Stocks fall", ("yahoofinance", "yahoo"), "Stocks fall"),
    ("Four Years Remaining » Blog Archive » Interning", ("fouryears",), "Interning"),
])
def test_a_kicker_must_name_the_site_whole(title: str, names: tuple[str, ...],
                                           expected: str) -> None:
    """A leading part goes only when it is the site's name (in whole words), not a mere
    start of the host name: a place name often is one ("New York" of newyorker.com)."""
    assert strip_site_affixes(title, names, ()) == expected
