"""extract(): every rule of every field on small pages of our own, and the hostile inputs of
hostile.md rows 42-46 with time bounds. The saved pages of ../shared/pages are read in
place when present (robustness only; scores live in bench/extract_pages.py)."""

from __future__ import annotations

import datetime as dt
import html as html_text
import json
import time
from pathlib import Path

import pytest

from enricher.config import DEFAULT_TITLE_MAX_CHARS
from enricher.decode import decode_html
from enricher.extract import extract, extract_with_signals
from enricher.models import ImageInfo, PageMeta

URL = "https://news.example.org/world/2021/05/06/big-story.html"
SHARED_PAGES = Path(__file__).resolve().parents[2] / "shared" / "pages"


def doc(head: str = "", body: str = "", *, lang: str = "") -> str:
    attr = f' lang="{lang}"' if lang else ""
    return f"<!doctype html><html{attr}><head>{head}</head><body>{body}</body></html>"


def og(prop: str, value: str) -> str:
    return f'<meta property="{prop}" content="{value}">'


def named(name: str, value: str) -> str:
    return f'<meta name="{name}" content="{value}">'


def ld(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def run(head: str = "", body: str = "", *, url: str = URL, lang: str = "",
        provider: str | None = None) -> PageMeta:
    return extract(doc(head, body, lang=lang), url, provider=provider)


# --- title ---------------------------------------------------------------------------------

def test_title_rule_order() -> None:
    rules = [og("og:title", "From og"), named("twitter:title", "From twitter"),
             ld({"@type": "NewsArticle", "headline": "From ld"}), "<title>From title</title>"]
    for n, expected in enumerate(["From og", "From twitter", "From ld", "From title"]):
        assert run("".join(rules[n:])).title == expected
    assert run(body="<h1>From <b>the</b> h1</h1>").title == "From the h1"
    assert run(ld({"@type": "WebPage", "name": "From ld name"})).title == "From ld name"
    assert run().title is None


def test_title_cleaning_entities_whitespace_controls_bidi() -> None:
    meta = run("<title>  Caf&eacute; \n\t &amp; bar\x00\u202e\u200b  </title>")
    assert meta.title == "Café & bar"


def test_title_length_cap() -> None:
    meta = run(f"<title>{'word ' * 400}</title>")
    assert meta.title is not None and len(meta.title) <= DEFAULT_TITLE_MAX_CHARS


@pytest.mark.parametrize(("raw", "head_extra", "expected"), [
    ("Big story | Example News", og("og:site_name", "Example News"), "Big story"),
    ("Big story - CBS News", og("og:site_name", "CBS News"), "Big story"),
    ("Big story — Example", "", "Big story"),  # the host name news.example.org
    ("Example: Big story", "", "Big story"),  # kicker
    ("Big story : Example | Tagline of the site | Since 2005", "", "Big story"),
    ("Example » Blog Archive » Big story", "", "Big story"),
    ("Big story | Section", "", "Big story | Section"),  # no evidence: unchanged
])
def test_site_name_suffixes_and_kickers(raw: str, head_extra: str, expected: str) -> None:
    assert run(f"<title>{raw}</title>{head_extra}").title == expected


def test_suffix_matching_the_provider() -> None:
    meta = run("<title>Big story - The Daily Planet</title>", url="https://dp.example.com/x",
               provider="The Daily Planet")
    assert meta.title == "Big story"


def test_suffix_shown_by_another_title_source() -> None:
    head = "<title>Quarterly numbers beat forecasts / Markets / Business</title>"
    assert run(head, "<h1>Quarterly numbers beat forecasts</h1>").title \
        == "Quarterly numbers beat forecasts"


def test_visible_headline_replaces_an_seo_wording_of_the_title() -> None:
    head = og("og:title", "Council approves new bridge over river")
    body = "<h1>City council approves the new bridge over the river</h1>"
    assert run(head, body).title == "City council approves the new bridge over the river"


def test_unrelated_h1_does_not_replace_the_title() -> None:
    head = og("og:title", "Council approves new bridge")
    assert run(head, "<h1>Menu</h1><h1>Newsletter signup</h1>").title \
        == "Council approves new bridge"


def test_title_that_is_only_the_site_name_gives_way() -> None:
    head = og("og:title", "Example") + og("og:site_name", "Example")
    assert run(head, "<h1>Welcome to our new office</h1>").title == "Welcome to our new office"


def test_first_head_title_wins_over_later_and_body_titles() -> None:
    html = doc("<title>First</title><title>Second</title>", "<title>Body</title>")
    assert extract(html, URL).title == "First"


def test_svg_title_in_body_is_not_the_page_title() -> None:
    assert run(body="<svg><title>icon</title></svg><p>text</p>").title is None


# --- description -----------------------------------------------------------------------------

def test_description_rule_order() -> None:
    rules = [og("og:description", "og d"), named("twitter:description", "tw d"),
             named("description", "meta d"), ld({"@type": "Article", "description": "ld d"})]
    for n, expected in enumerate(["og d", "tw d", "meta d", "ld d"]):
        assert run("".join(rules[n:])).description == expected


def test_two_agreeing_descriptions_outvote_og() -> None:
    head = (og("og:description", "Short teaser.") + named("twitter:description", "Full text.")
            + named("description", "Full text."))
    assert run(head).description == "Full text."


def test_html_fragment_description_is_skipped() -> None:
    head = og("og:description", "&lt;p&gt;Markup&lt;/p&gt;") + named("description", "Plain")
    assert run(head).description == "Plain"


# --- site name ----------------------------------------------------------------------------

def test_site_name_rules() -> None:
    assert run(og("og:site_name", "The Site")).site_name == "The Site"
    publisher = {"@type": "NewsArticle", "publisher": {"@type": "Organization", "name": "Pub"}}
    assert run(ld(publisher)).site_name == "Pub"
    assert run(named("application-name", "App")).site_name == "App"


# --- image ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("head", "body", "expected"), [
    (og("og:image:secure_url", "https://cdn.example/s.jpg") + og("og:image", "http://x/o.jpg"),
     "", "https://cdn.example/s.jpg"),
    (og("og:image", "https://cdn.example/o.jpg"), "", "https://cdn.example/o.jpg"),
    (og("og:image:url", "https://cdn.example/u.jpg"), "", "https://cdn.example/u.jpg"),
    (named("twitter:image", "https://cdn.example/t.jpg"), "", "https://cdn.example/t.jpg"),
    (named("twitter:image:src", "https://cdn.example/ts.jpg"), "", "https://cdn.example/ts.jpg"),
    ('<meta itemprop="image" content="/i.jpg">', "", "https://news.example.org/i.jpg"),
    (ld({"@type": "NewsArticle", "image": "https://cdn.example/l.jpg"}), "",
     "https://cdn.example/l.jpg"),
    (ld({"@type": "NewsArticle", "image": ["https://cdn.example/l1.jpg", "x"]}), "",
     "https://cdn.example/l1.jpg"),
    (ld({"@type": "NewsArticle", "image": {"@type": "ImageObject", "url": "/io.jpg"}}), "",
     "https://news.example.org/io.jpg"),
    (ld({"@type": "VideoObject", "thumbnailUrl": "https://cdn.example/th.jpg"}), "",
     "https://cdn.example/th.jpg"),
    ('<link rel="image_src" href="https://cdn.example/src.jpg">', "",
     "https://cdn.example/src.jpg"),
    ("", '<img src="/logo.png"><article><p>x</p><img src="/a.jpg"></article>',
     "https://news.example.org/a.jpg"),
    ("", '<img aria-hidden="true" src="/h.png"><img src="/first.png">',
     "https://news.example.org/first.png"),
    ("", '<video poster="/poster.jpg"><source src="/v.mp4"></video>',
     "https://news.example.org/poster.jpg"),
])
def test_image_rules(head: str, body: str, expected: str) -> None:
    meta = run(head, body)
    assert meta.image is not None and meta.image.url == expected


def test_image_size_from_og_only() -> None:
    head = (og("og:image", "https://cdn.example/o.jpg") + og("og:image:width", "1200")
            + og("og:image:height", "630px"))
    assert run(head).image == ImageInfo(url="https://cdn.example/o.jpg", width=1200, height=630)
    twitter = named("twitter:image", "https://cdn.example/t.jpg") + og("og:image:width", "9")
    assert run(twitter).image == ImageInfo(url="https://cdn.example/t.jpg")


def test_image_resolution_against_base_href() -> None:
    head = '<base href="https://static.example.net/a/">' + og("og:image", "img/x.png")
    assert run(head).image == ImageInfo(url="https://static.example.net/a/img/x.png")


def test_hostile_image_urls_row_44() -> None:
    assert run(og("og:image", "javascript:alert(1)")).image is None
    assert run(og("og:image", "data:image/png;base64,AAAA")).image is None
    assert run(og("og:image", "//evil.example/x.png")).image \
        == ImageInfo(url="https://evil.example/x.png")
    assert run(og("og:image", "/img.png")).image == ImageInfo(url="https://news.example.org/img.png")
    # Internal addresses are returned as written: the fetcher's address guard vets them.
    assert run(og("og:image", "http://127.0.0.1/x.png")).image \
        == ImageInfo(url="http://127.0.0.1/x.png")
    bad_then_good = og("og:image", "javascript:void(0)") + named("twitter:image", "/t.png")
    assert run(bad_then_good).image == ImageInfo(url="https://news.example.org/t.png")
    video = og("og:image", "/clip.mp4") + named("twitter:image", "/still.jpg")
    assert run(video).image == ImageInfo(url="https://news.example.org/still.jpg")


def test_100k_og_image_metas_are_bounded() -> None:
    head = og("og:image", "https://cdn.example/first.jpg") * 100_000
    started = time.perf_counter()
    meta = run(head)
    assert time.perf_counter() - started < 0.5
    assert meta.image is not None and meta.image.url == "https://cdn.example/first.jpg"


# --- canonical, AMP, language ----------------------------------------------------------------

def test_canonical_amp_and_lang() -> None:
    head = ('<link rel="canonical" href="/world/big-story">'
            '<link rel="amphtml" href="https://news.example.org/amp/big-story">')
    meta = run(head, lang="de-AT")
    assert meta.canonical_url == "https://news.example.org/world/big-story"
    assert meta.amp_url == "https://news.example.org/amp/big-story"
    assert meta.lang == "de-AT"
    assert run(og("og:url", "https://news.example.org/c")).canonical_url \
        == "https://news.example.org/c"
    assert run(og("og:locale", "fr_FR")).lang == "fr-FR"
    assert run('<meta http-equiv="content-language" content="nl">').lang == "nl"
    assert run(ld({"@type": "Article", "inLanguage": "es"})).lang == "es"
    assert run('<link rel="canonical" href="javascript:x()">').canonical_url is None


def test_an_endless_lang_is_no_language() -> None:
    """A tag longer than BCP 47 allows is not kept (a 450 KB lang would bloat every record
    citing the page); the next rule may still give one."""
    long_tag = "en" + "-abcdefgh" * 50_000
    assert run(lang=long_tag).lang is None
    assert run('<meta http-equiv="content-language" content="nl">', lang=long_tag).lang == "nl"
    assert run(lang="sl-rozaj-biske-1994").lang == "sl-rozaj-biske-1994"


def test_link_rels_first_href_per_word() -> None:
    head = ('<link rel="stylesheet" href="/a.css"><link rel="canonical">'
            '<link REL="Alternate Canonical" HREF="/first"><link rel="canonical" href="/second">'
            '<link rel="amphtml" href="">')
    meta = run(head)
    assert meta.canonical_url == "https://news.example.org/first"  # a link without href skipped
    assert meta.amp_url is None


def test_canonical_to_an_internal_host_is_only_returned_row_46() -> None:
    meta = run('<link rel="canonical" href="http://169.254.169.254/latest/">')
    assert meta.canonical_url == "http://169.254.169.254/latest/"  # never fetched here


# --- published date --------------------------------------------------------------------------

@pytest.mark.parametrize(("head", "expected"), [
    (og("article:published_time", "2021-05-06T10:20:30+02:00"), "2021-05-06T10:20:30+02:00"),
    (ld({"@type": "NewsArticle", "datePublished": "2021-05-06T08:00:00-04:00",
         "dateModified": "2021-06-01"}), "2021-05-06T08:00:00-04:00"),
    (named("pubdate", "2021-05-06"), "2021-05-06"),
    (named("DC.date.issued", "2021-05-06"), "2021-05-06"),
    (named("parsely-pub-date", "2021-05-06T11:00:00Z"), "2021-05-06T11:00:00Z"),
    (named("sailthru.date", "2021-05-06 11:00:00"), "2021-05-06T11:00:00"),
    (named("article.published", "20210506"), "2021-05-06"),
    (named("publishdate", "2021/05/06"), "2021-05-06"),
    (named("date", "06.05.2021"), "2021-05-06"),
    (named("dc.date", "Thu, 06 May 2021 09:00:00 GMT"), "2021-05-06T09:00:00Z"),
    ('<meta itemprop="datePublished" content="2021-05-06">', "2021-05-06"),
])
def test_date_meta_rules(head: str, expected: str) -> None:
    assert run(head, url="https://x.example/a").published_at == expected


def test_date_in_body_markup_and_text() -> None:
    url = "https://x.example/a"
    assert run(body='<span itemprop="datePublished">2021-05-06</span>', url=url).published_at \
        == "2021-05-06"
    assert run(body='<h1>Story</h1><time datetime="2021-05-06T07:00">May 6</time>',
               url=url).published_at == "2021-05-06T07:00:00"
    assert run("<title>Story of the day</title>",
               "<h1>Story of the day</h1><p>By Jo · 6. Mai 2021</p>", url=url).published_at \
        == "2021-05-06"
    assert run("", "<h1>Story</h1><p>Posted March 4, 2021</p>", url=url).published_at \
        == "2021-03-04"
    script = '<script>var data = {"publishedAt": "2021-05-06T09:00:00Z"};</script>'
    assert run(script, url=url).published_at == "2021-05-06T09:00:00Z"
    assert run(ld({"@type": "NewsArticle", "dateCreated": "2021-05-01"}), url=url).published_at \
        == "2021-05-01"


def test_date_from_url_path() -> None:
    assert run().published_at == "2021-05-06"
    assert run(url="https://x.example/2021-05-07-a-story").published_at == "2021-05-07"
    assert run(url="https://x.example/a/123456").published_at is None


def test_date_modified_is_not_a_publication_date() -> None:
    head = ld({"@type": "NewsArticle", "dateModified": "2021-06-01"})
    assert run(head, url="https://x.example/a").published_at is None


def test_utc_time_gives_way_to_the_local_form_of_the_same_moment() -> None:
    head = (og("article:published_time", "2021-05-07T02:30:00Z")
            + ld({"@type": "NewsArticle", "datePublished": "2021-05-06T22:30:00-04:00"}))
    assert run(head, url="https://x.example/a").published_at == "2021-05-06T22:30:00-04:00"
    # the day in the URL, one day earlier, is the local day of an early-morning UTC time
    assert run(og("article:published_time", "2021-05-07T02:30:00Z")).published_at \
        == "2021-05-06"


def test_utc_local_midnight_is_read_as_that_day() -> None:
    head = og("article:published_time", "2021-05-05T22:00:00Z")
    assert run(head, url="https://x.example/a").published_at == "2021-05-06"


def test_invalid_dates_are_skipped() -> None:
    head = named("pubdate", "not a date") + named("date", "2021-13-45") + og("og:title", "x")
    assert run(head, url="https://x.example/a").published_at is None


# --- JSON-LD ---------------------------------------------------------------------------------

def test_jsonld_graph_lists_and_invalid_scripts() -> None:
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Site", "description": "site description"},
        {"@type": ["NewsArticle"], "headline": "Graph headline", "description": "article"}]}
    head = ('<script type="application/ld+json">{not json</script>'
            f'<script type="application/ld+json"><!--{json.dumps([graph])}--></script>')
    meta = run(head, url="https://x.example/a")
    assert meta.title == "Graph headline"
    assert meta.description == "article"


def test_jsonld_in_the_body_is_found() -> None:
    body = "<h1>Headline</h1>" + ld({"@type": "Article", "datePublished": "2020-02-02"})
    assert run(body=body, url="https://x.example/a").published_at == "2020-02-02"


# --- robustness: hostile.md rows 42-46 --------------------------------------------------------

def test_140000_nested_divs_finish_fast_row_42() -> None:
    html = doc("<title>Deep</title>", "<div>" * 140_000)
    started = time.perf_counter()
    assert extract(html, URL).title == "Deep"
    assert time.perf_counter() - started < 0.5
    started = time.perf_counter()
    assert extract("<div>" * 140_000, URL).title is None  # no head at all
    assert time.perf_counter() - started < 0.5
    started = time.perf_counter()
    extract("<html><head>" + "<section>" * 140_000 + "<title>x</title></head>", URL)
    assert time.perf_counter() - started < 0.5


def test_5_mb_title_and_control_characters_row_43() -> None:
    html = doc("<title>" + "A" * 5_000_000 + "</title>")
    started = time.perf_counter()
    meta = extract(html, URL)
    assert time.perf_counter() - started < 0.5
    assert meta.title == "A" * DEFAULT_TITLE_MAX_CHARS
    assert run("<title>Evil\x00\u202etxt.exe\u200f</title>").title == "Eviltxt.exe"


def test_garbage_never_raises() -> None:
    for html in ("", "<", "<<<>>>", "\x00" * 100, "<meta content>", "<html lang>",
                 '<script type="application/ld+json">' + "[" * 10_000 + "</script>",
                 "<h1>" * 1000, doc(og("og:image", "http://[::1")), "\ud800"):
        assert isinstance(extract(html, URL), PageMeta)
        assert isinstance(extract(html, ""), PageMeta)


def test_parse_cap_limits_what_is_read() -> None:
    html = doc("", "x" * 1000 + "<h1>Late headline</h1>")
    assert extract(html, URL, max_parse_chars=200).title is None
    assert extract(html, URL).title == "Late headline"


def test_signals_title_and_h1() -> None:
    _, signals = extract_with_signals(doc("<title>Page not found | Site</title>",
                                          "<h1>Oops</h1>"), URL)
    assert signals.title == "Page not found | Site"
    assert signals.h1 == "Oops"
    assert signals.headlines == ()


def test_signals_headlines_are_og_and_twitter_titles() -> None:
    head = ('<title>404 Not Found</title><meta property="og:title" content=" Bike  lanes &amp; '
            'more "><meta name="twitter:title" content="Bike lanes, the vote">'
            '<meta property="og:description" content="Not a headline">')
    _, signals = extract_with_signals(doc(head, ""), URL)
    assert signals.headlines == ("Bike lanes & more", "Bike lanes, the vote")
    _, empty = extract_with_signals(doc('<meta property="og:title" content="  ">', ""), URL)
    assert empty.headlines == ()


@pytest.mark.skipif(not SHARED_PAGES.is_dir(), reason="../shared/pages not present")
def test_shared_pages_extract_without_errors_and_in_time() -> None:
    folders = sorted(p for p in SHARED_PAGES.iterdir() if (p / "page.html").is_file())
    assert folders
    titled = 0
    for folder in folders:
        url = json.loads((folder / "expected.json").read_text(encoding="utf-8")).get("url") or ""
        html = decode_html((folder / "page.html").read_bytes(), None)
        started = time.perf_counter()
        meta = extract(html, url)
        assert time.perf_counter() - started < 0.5, folder.name
        titled += meta.title is not None
    assert titled >= 0.95 * len(folders)


def test_decoded_legacy_page_keeps_its_text() -> None:
    html = doc('<meta charset="shift_jis"><title>日本語のニュース</title>'
               + og("og:description", "記事の説明"))
    meta = extract(decode_html(html.encode("shift_jis"), None), URL)
    assert (meta.title, meta.description) == ("日本語のニュース", "記事の説明")


def test_lone_surrogates_in_json_ld_never_reach_the_output() -> None:
    """A JSON-LD "\\ud800" escape decodes to a lone surrogate, which cannot be written as
    UTF-8 (records, history, reports): cleaned text drops it."""
    head = '<script type="application/ld+json">{"headline": "Bad \\ud800 title", ' \
           '"description": "d \\udfff x", "publisher": {"name": "S\\ud83d"}}</script>'
    meta = run(head)
    assert meta.title == "Bad title" and meta.description == "d x"
    json.dumps([meta.title, meta.description, meta.site_name], ensure_ascii=False).encode()


# --- audit fixes: site names, edge symbols, HTML in descriptions, U+FFFD, entities ---------

@pytest.mark.parametrize(("title", "url"), [
    ("Fed holds rates steady - for the first time", "https://time.com/6000/fed/"),
    ("Climate report - human nature at fault", "https://www.nature.com/articles/x"),
    ("Apple event recap | Hardwired", "https://www.wired.com/story/x/"),
    ("Funding cuts - political science", "https://www.science.org/content/x"),
    ('"Smart" quotes - dash\'s test', "https://news.test/a"),
])
def test_title_ending_in_words_of_the_site_name_is_kept(title: str, url: str) -> None:
    assert run(f"<title>{title}</title>", url=url).title == title


@pytest.mark.parametrize(("title", "url", "expected"), [
    ("Story of the day | CBS News", "https://www.cbsnews.com/news/x/", "Story of the day"),
    ("Story of the day - The Boston Globe", "https://www.bostonglobe.com/x/", "Story of the day"),
    ("Krimiblog-Archiv » Der Fall", "https://krimiblog.de/x", "Der Fall"),
])
def test_site_name_variants_are_still_stripped(title: str, url: str, expected: str) -> None:
    assert run(f"<title>{title}</title>", url=url).title == expected


@pytest.mark.parametrize("title", [
    "-40 degrees in Winnipeg tonight", "~50 dead in floods", "/r/news thread",
    "Prices from $9.99*",
])
def test_leading_and_trailing_symbols_of_a_title_stay(title: str) -> None:
    assert run(f"<title>{title}</title>").title == title


@pytest.mark.parametrize(("head", "expected"), [
    ("<meta name=description content='&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;'>",
     "Hello world"),
    (og("og:description", "<p>Raw <i>tags</i> here</p>"), "Raw tags here"),
    (named("description", "Hello <b>world</b> here"), "Hello world here"),
    (named("description", "if a &lt; b then"), "if a < b then"),
    (ld({"@type": "NewsArticle", "description": "&lt;p&gt;From &amp;amp; ld&lt;/p&gt;"}),
     "From & ld"),
])
def test_html_in_a_description_gives_its_text(head: str, expected: str) -> None:
    assert run(head).description == expected


def test_a_plain_description_wins_over_one_holding_html() -> None:
    head = og("og:description", "<p>An excerpt of the body</p>") + named("description",
                                                                        "The summary")
    assert run(head).description == "The summary"


def test_invalid_utf8_keeps_its_replacement_character() -> None:
    assert run("<title>K\ufffdln city news</title>").title == "K\ufffdln city news"
    body = "<meta charset=utf-8><title>K\xf6ln caf\u00e9</title>".encode("latin-1")
    body = body.replace("caf\u00e9".encode("latin-1"), "caf\u00e9".encode())  # mixed bytes
    assert extract(decode_html(body, None), URL).title == "K\ufffdln caf\u00e9"
    assert run("<title>Evil\x00txt</title>").title == "Eviltxt"  # a NUL, not a lost character


def test_entities_are_decoded_once() -> None:
    assert run("<title>A &amp;amp; B</title>").title == "A &amp; B"
    assert run(og("og:title", "A &amp;amp; B")).title == "A &amp; B"
    assert run(ld({"@type": "NewsArticle", "headline": "A &amp; B"})).title == "A & B"
    assert run(body="<h1>A &amp;amp; B</h1>").title == "A &amp; B"
    # A CMS that escapes twice: what is left is a character reference, decoded.
    assert run(og("og:title", "It&amp;#039;s &amp;quot;big&amp;quot;")).title == 'It\'s "big"'


def test_a_slash_date_in_metadata_is_month_first_on_a_us_page() -> None:
    """globenewswire: ``<meta name="pubdate" content="4/6/2016">`` on an en-US page is
    April 6, as its text dates are read; elsewhere 4 June."""
    url = "https://www.globenewswire.example/news-release/2016/04/06/1/0/en/x.html"
    assert run(named("pubdate", "4/6/2016"), url=url, lang="en-US").published_at == "2016-04-06"
    assert run(named("pubdate", "4/6/2016"), url=url, lang="fr").published_at == "2016-06-04"


def test_a_date_after_tomorrow_is_no_publication_date() -> None:
    """An event's date in the body, or a typo, is not when the page was published: the
    next rule (here the URL's date) gives it."""
    future = f"{dt.date.today().year + 3}-06-01"
    body = f'<h1>Festival</h1><p><time datetime="{future}">next summer</time></p>'
    assert run(named("pubdate", future), body).published_at == "2021-05-06"


@pytest.mark.parametrize(("lang", "expected"), [
    ("EN_us", "en-US"), ("zh-hant-tw", "zh-Hant-TW"), ("DE", "de"), ("pt-br", "pt-BR")])
def test_language_tags_are_in_bcp47_case(lang: str, expected: str) -> None:
    assert run(lang=lang).lang == expected


def test_a_description_drops_scripts_styles_and_comments() -> None:
    text = ("<p>Mayor wins.</p><script>track('x')</script><style>p{color:red}</style>"
            "<!-- cms: draft --> <p>Turnout rose.</p>")
    meta = run(og("og:description", html_text.escape(text)))
    assert meta.description == "Mayor wins. Turnout rose."


@pytest.mark.parametrize(("src", "expected"), [
    ("/\\cdn.example/x.png", "https://cdn.example/x.png"),
    ("https:\\\\cdn.example\\img\\x.png", "https://cdn.example/img/x.png"),
    ("/img\\x.png?v=a\\b", "https://news.example.org/img/x.png?v=a\\b"),  # query kept
])
def test_backslashes_in_an_image_url_are_read_as_a_browser_reads_them(
        src: str, expected: str) -> None:
    assert (run(og("og:image", src)).image or ImageInfo()).url == expected


@pytest.mark.parametrize(("lang", "url", "expected"), [
    ("en-US", "https://news.example.co.uk/a/b", "2016-04-06"),
    ("en", "https://news.example.com/a/b", "2016-04-06"),
    ("en", "https://www.example.co.uk/a/b", "2016-06-04"),  # a British page writes day first
    ("en", "https://www.example.com.au/a/b", "2016-06-04"),
    ("en-GB", "https://news.example.com/a/b", "2016-06-04"),
    ("fr", "https://news.example.com/a/b", "2016-06-04"),
])
def test_an_ambiguous_date_is_read_as_the_page_s_country_writes_it(
        lang: str, url: str, expected: str) -> None:
    html = (f'<html lang="{lang}"><head><title>T</title><meta name="date" content="4/6/2016">'
            "</head><body></body></html>")
    assert extract(html, url).published_at == expected
