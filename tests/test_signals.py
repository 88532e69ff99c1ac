"""Bot walls and soft 404s: vendor signatures, not-found titles in many languages,
redirects of deep URLs, parked domains; and pages that merely look similar stay ok."""

from __future__ import annotations

import pytest

from enricher.decode import decode_html
from enricher.extract import extract_with_signals
from enricher.signals import is_soft_404, lands_elsewhere, lands_on_front, soft_404_reason
from enricher.walls import challenge_vendor, is_challenge

ARTICLE = "https://news.example.org/world/2021/05/06/big-story"

CLOUDFLARE = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
              "<noscript>Enable JavaScript and cookies to continue</noscript>"
              "<script>window._cf_chl_opt={cvId: '3'};</script>"
              '<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1"></script>'
              "</body></html>")
AKAMAI = ("<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n"
          "You don't have permission to access \"http&#58;&#47;&#47;www&#46;example&#46;com&#47;"
          "\" on this server.<P>\nReference&#32;&#35;18&#46;2d351ab8&#46;1557333295&#46;a4e16ab"
          "\n</BODY>\n</HTML>")
DATADOME = ('<html><head><title>example.com</title></head><body><script>var dd={"rt":"c",'
            '"host":"geo.captcha-delivery.com"}</script><script src="https://ct.captcha-'
            'delivery.com/c.js"></script></body></html>')
PERIMETERX = ('<html><head><title>Access to this page has been denied</title></head><body>'
              '<div id="px-captcha"></div><p>Press &amp; Hold to confirm you are a human '
              "(and not a bot).</p></body></html>")
INCAPSULA = ('<html><body><iframe src="/_Incapsula_Resource?SWUDNSAI=30">Request unsuccessful.'
             " Incapsula incident ID: 12345-678</iframe></body></html>")

# PerimeterX's block page as its SDKs write it: the captcha element is drawn by its script
PX_BLOCK_PAGE = ('<html lang="en"><head><meta charset="utf-8"><meta name="description" '
                 'content="px-captcha"><title>Access to this page has been denied</title></head>'
                 "<body><script>window._pxVid = ''; window._pxUuid = 'a1b2';\n"
                 "window._pxAppId = 'PXab12cd'; window._pxJsClientSrc = '/ab12cd/init.js';\n"
                 "window._pxHostUrl = '/ab12cd/xhr';</script></body></html>")
PX_HOLD_UNDER_ITS_TITLE = ("<html><head><title>Access to this page has been denied</title>"
                           "</head><body><h1>Access to this page has been denied</h1><p>Press "
                           "&amp; Hold to confirm you are a human (and not a bot).</p>")
# a story about bot walls: its headline, a link in its navigation, its description quote one
CAPTCHA_STORY = ('<html><head><title>Inside the CAPTCHA wars | Daily Paper</title><meta '
                 'property="og:type" content="article"></head><body><h1>Press &amp; Hold to '
                 "confirm you are a human: inside the CAPTCHA wars</h1>")
CAPTCHA_LINK = ('<html><head><title>Daily Paper</title></head><body><nav><a href="/captcha">'
                "Press &amp; Hold to confirm you are human? Readers hate it</a></nav>")


@pytest.mark.parametrize(("headers", "status", "text", "vendor"), [
    ({"cf-mitigated": "challenge"}, 403, "", "cloudflare"),
    ({"x-amzn-waf-action": "challenge"}, 202, "", "aws"),
    ({"X-Amzn-Waf-Action": "captcha"}, 405, "<html></html>", "aws"),
    ({"CF-Mitigated": "Challenge"}, 403, "", "cloudflare"),
    ({"server": "cloudflare"}, 403, CLOUDFLARE, "cloudflare"),
    ({}, 503, CLOUDFLARE, "cloudflare"),
    ({}, 403, AKAMAI, "akamai"),
    ({"server": "AkamaiGHost"}, 403, "<p>Access Denied</p> Reference #18.2d35", "akamai"),
    ({}, 403, DATADOME, "datadome"),
    ({"x-datadome": "protected"}, 403, "<html></html>", "datadome"),
    ({}, 403, PERIMETERX, "perimeterx"),
    ({}, 200, INCAPSULA, "incapsula"),
    ({}, 403, "<html><head><title>Sucuri WebSite Firewall - Access Denied</title></head>",
     "sucuri"),
    # the walls as their vendors write them, without the element the test page above has
    ({}, 403, PX_BLOCK_PAGE, "perimeterx"),
    ({}, 200, PX_BLOCK_PAGE, "perimeterx"),
    ({}, 403, '<script src="https://captcha.px-cdn.net/PXab12/captcha.js?a=c&m=0"></script>',
     "perimeterx"),
    ({}, 403, '<div class="px-captcha-error-container"><p>Before we continue...</p></div>',
     "perimeterx"),
    ({}, 403, PX_HOLD_UNDER_ITS_TITLE, "perimeterx"),
    ({}, 200, PX_HOLD_UNDER_ITS_TITLE, "perimeterx"),
    ({}, 403, "<head><script>window._pxAppId = 'PXHYx10rg3';</script></head><body><h1>Access "
              "denied</h1><p>Press &amp; Hold to confirm you are a human (and not a bot).</p>",
     "perimeterx"),
    ({}, 403, '<iframe src="https://geo.captcha-delivery.com/captcha/?initialCid=AHrl"></iframe>',
     "datadome"),
    ({}, 403, "<script>var dd={'rt':'c','cid':'AHrlqAAA','host':'geo.captcha-delivery.com'}"
              "</script>", "datadome"),
    ({}, 200, '<iframe id="main-iframe" src="/_Incapsula_Resource?CWUDNSAI=24&xinfo=1">'
              "Request unsuccessful. Incapsula incident ID: 1234-5678</iframe>", "incapsula"),
])
def test_challenge_signatures(headers: dict[str, str], status: int, text: str,
                              vendor: str) -> None:
    assert challenge_vendor(headers, status, text) == vendor
    assert is_challenge(headers, status, text)


@pytest.mark.parametrize(("headers", "status", "text"), [
    ({}, 200, "<html><head><title>Just a moment... a poem</title></head></html>"),
    ({}, 200, "<title>Just a moment...</title><p>An essay about patience.</p>"),
    ({"server": "cloudflare", "cf-ray": "8a1b"}, 200, "<title>Normal article</title>"),
    ({}, 200, "<title>Access Denied</title><p>A film review.</p>"),
    ({"x-datadome": "protected"}, 200, "<title>Fine</title>"),
    ({}, 200, "<p>How to press and hold the button on your phone</p>"),
    # stories about bot walls quote them in their own headline or description (they were
    # blocked/challenge: the start of a 200 page is its head, where the headline is)
    ({}, 200, "<head><title>Press &amp; Hold to confirm you are a human: the CAPTCHA everyone"
              " hates | Daily Paper</title>"),
    ({}, 200, '<head><meta name="description" content="Press &amp; hold the button to confirm '
              'you are not a robot">'),
    ({}, 200, "<title>How to fix “Sucuri WebSite Firewall - Access Denied” on "
              "WordPress</title>"),
    ({}, 200, "<title>What is an Incapsula incident ID, and why am I seeing one?</title>"),
    ({}, 200, ""),
    # bot-wall vendors' scripts on ordinary pages: PerimeterX's sensor, Incapsula's resource
    ({}, 200, '<head><script src="//client.perimeterx.net/PXa1b2c3/main.min.js"></script>'),
    ({}, 200, '<script src="/_Incapsula_Resource?SWJIYLWA=719d34d31c8e3a6e6fffd4"></script>'),
    # "Press & Hold" in a story's own headline or a link, with or without the site's own
    # PerimeterX sensor: no wall (it was blocked/challenge), and on a site's 404 page no
    # wall either (dead, not blocked)
    ({}, 200, CAPTCHA_STORY),
    ({}, 200, CAPTCHA_LINK),
    ({}, 404, CAPTCHA_LINK),
    ({}, 200, '<head><script src="//client.perimeterx.net/PXa1b2c3/main.min.js"></script>'
              "<script>window._pxAppId = 'PXa1b2c3';</script></head>" + CAPTCHA_STORY),
    ({}, 200, '<p><a href="/tech">Press & hold to confirm you are not a robot: why?</a></p>'),
    # other walls' signatures quoted by a story: in its headline, a link, its description
    ({}, 200, "<h1>Incapsula incident ID: 1234-5678 – what the error means</h1>"),
    ({}, 200, '<h1>Why am I sent to geo.captcha-delivery.com?</h1><a href="https://geo.'
              'captcha-delivery.com/captcha/">the captcha page</a>'),
    ({}, 200, '<head><title>How px-captcha works</title><meta name="description" content="'
              'How px-captcha works, and why PerimeterX draws it"></head>'),
])
def test_ordinary_pages_are_not_challenges(headers: dict[str, str], status: int,
                                           text: str) -> None:
    assert not is_challenge(headers, status, text)


@pytest.mark.parametrize("title", [
    "Page not found | Example News", "404 Not Found", "404", "Error 404", "404 - Page Not Found",
    "Oops! That page can’t be found. – Example", "Not Found",
    "The page you were looking for doesn't exist (404)",
    "Seite nicht gefunden - Example", "Fehler 404 – Seite nicht gefunden",
    "Die angeforderte Seite wurde nicht gefunden", "Page introuvable", "Erreur 404",
    "Página no encontrada", "La página no existe", "Pagina non trovata",
    "Pagina niet gevonden", "Página não encontrada", "Страница не найдена",
    "ページが見つかりません", "页面不存在", "Sayfa bulunamadı", "Nie znaleziono strony",
    # a second sentence that error pages add (a code, an apology, a way back): still one
    "The page you were looking for could not be found. Error 404",
    "This page does not exist. 404", "That page can't be found. Sorry!",
    "This page doesn't exist. Go home.",
    "Sorry! The page you are looking for cannot be found. Go back",
    "Die Seite wurde nicht gefunden. Zurück zur Startseite",
])
def test_not_found_titles(title: str) -> None:
    assert soft_404_reason(ARTICLE, None, title, None) == "not_found_title"
    assert soft_404_reason(ARTICLE, None, "Example News", title) == "not_found_h1"


@pytest.mark.parametrize("title", [
    "404 errors explained", "Top 404 pages of the year", "How to fix a 404",
    "Why the 404 page matters for SEO | Blog", "We found 404 ways to cook rice",
    "Route 404 reopens after repairs", "Lost and found: a memoir", "Found: the missing cat",
    "Nicht gefunden – warum die Fahnder den Täter seit Jahren suchen | Zeitung",
    "Error messages people love", "Page Six: the gossip", "This page is a draft",
    "The page you were looking for doesn't exist (and why that is fine)",
    None, "",
])
def test_titles_that_merely_mention_404_stay_ok(title: str | None) -> None:
    assert not is_soft_404(ARTICLE, ARTICLE, title, title)


@pytest.mark.parametrize("title", [
    "Site is down: This page can't be found, users report | Example",
    "Why this page doesn't exist anymore", "Why this page doesn't exist anymore | Example",
    "The page you are looking for cannot be found: a short history",
    "Is the page you were looking for not there anymore?",
    "Not Found - Movie Review | Variety", "Not Found | Movie Review", "404 - Film review",
    "404 | The Band", "Error 404 - Documentary review - The Guardian",
    "Does Not Exist - New album review | Pitchfork", "Nicht gefunden – Krimi der Woche | ZDF",
    # a second sentence goes on: a headline (they were soft_404 on pages without markup)
    "The page you were looking for does not exist. Here's why that matters | Example",
    "This page can't be found. Blame the algorithm | Example",
    "Die Seite wurde nicht gefunden. Warum das Netz vergisst | Example",
    # second sentences that only begin like an error page's hint (a second review)
    "This page doesn't exist. Tornado hits the web | Example",
    "This page doesn't exist. Pleased to meet you | Example",
    "This page does not exist. Search engines still list it | Example",
    "The page you are looking for does not exist. Home truths about link rot | Example",
    "This page can't be found. 404 days of lockdown | Example",
])
def test_headlines_about_missing_things_stay_ok(title: str) -> None:
    """A not-found phrase is evidence only when it is the whole message: every other part
    of the title must be the site's name (host or og:site_name), not a headline."""
    assert soft_404_reason(ARTICLE, None, title, None) is None


def test_h1_counts_only_under_a_title_that_names_the_site() -> None:
    assert soft_404_reason(ARTICLE, None, "A real headline today", "Oops! Not found") is None
    assert soft_404_reason(ARTICLE, None, None, "Oops! Not found") == "not_found_h1"
    assert soft_404_reason(ARTICLE, None, "Example", "Oops! Not found") == "not_found_h1"


def test_title_and_h1_agreeing_need_no_known_site_name() -> None:
    """On a host that names nothing (an IP) and no og:site_name: the title's other part
    cannot be checked, but a not-found h1 under a not-found title is enough."""
    url = "http://127.0.0.1:8000/news/transit-plan.html"
    h1 = "Sorry, the page you are looking for does not exist."
    assert soft_404_reason(url, None, "Page not found | Demo Daily", h1) == "not_found_h1"
    assert soft_404_reason(url, None, "Page not found | Demo Daily", None) is None
    assert soft_404_reason(url, None, "Not Found - Movie Review | Variety",
                           "Not Found - Movie Review") is None


def test_site_name_from_the_page_counts_as_the_site() -> None:
    assert soft_404_reason(ARTICLE, None, "Page not found | Daily Planet", None) is None
    assert soft_404_reason(ARTICLE, None, "Page not found | Daily Planet", None,
                           site_name="The Daily Planet") == "not_found_title"


@pytest.mark.parametrize(("url", "final", "reason"), [
    (ARTICLE, "https://news.example.org/", "redirect_to_root"),
    (ARTICLE, "https://news.example.org", "redirect_to_root"),
    (ARTICLE, "https://news.example.org/world/", "redirect_to_section"),
    ("https://x.example/a-long-article-slug-about-things", "https://x.example/404.html",
     "redirect_to_error_page"),
    ("https://x.example/story?id=9", "https://x.example/error/not-found",
     "redirect_to_error_page"),
    ("https://x.example/article-12345", "https://x.example/", "redirect_to_root"),
    (ARTICLE, "https://news.example.org/404", "redirect_to_error_page"),
    (ARTICLE, "https://news.example.org/en/404/", "redirect_to_error_page"),
    (ARTICLE, "https://news.example.org/errors/404.html", "redirect_to_error_page"),
    (ARTICLE, "https://news.example.org/pages/page-not-found", "redirect_to_error_page"),
    ("https://x.example/news/12345", "https://x.example/news/", "redirect_to_section"),
    # a story in a section's video or photo folder, sent to the section: still a lost story
    ("https://x.example/news/video/123-council-votes", "https://x.example/news/",
     "redirect_to_section"),
    ("https://x.example/sport/photos/2024-final-gallery", "https://x.example/sport",
     "redirect_to_section"),
])
def test_redirects_of_deep_urls(url: str, final: str, reason: str) -> None:
    assert soft_404_reason(url, final, "Example News", None) == reason
    temporary = soft_404_reason(url, final, "Example News", None, temporary=True)
    # a 302 to the front page or a section may be a geo, consent or bot gate: not evidence;
    # one to the site's error page still is
    assert temporary == (reason if reason == "redirect_to_error_page" else None)


@pytest.mark.parametrize(("url", "final"), [
    (ARTICLE, None),
    (ARTICLE, ARTICLE),
    (ARTICLE, ARTICLE.replace("https", "http")),
    (ARTICLE, "https://www.example.org/world/2021/05/06/big-story"),
    (ARTICLE, "https://news.example.org/world/2021/05/06/big-story/amp"),
    ("https://x.example/", "https://www.x.example/"),
    ("https://x.example/news", "https://x.example/"),  # a section moved home: not deep
    ("https://x.example/a/b", "https://x.example/?page=2"),
    ("https://x.example/a/b", "https://login.x.example/a"),
    # another host's front page: a shortener, a geo or mobile host, a sold domain
    (ARTICLE, "https://other.example/"),
    ("https://bit.ly/3abcXYZ", "https://www.example.com/"),
    (ARTICLE, "https://eu.news.example.org/"),
    # an error path that does not say "not found": a 500, a block, maintenance
    (ARTICLE, "https://news.example.org/Error.aspx?aspxerrorpath=/world/2021"),
    (ARTICLE, "https://news.example.org/Home/Error"),
    (ARTICLE, "https://news.example.org/errors/403.html"),
    (ARTICLE, "https://news.example.org/error?code=429"),
    # a "404" or "not-found" that is content: an episode, a bill, a story's slug
    ("https://relay.example/c/xk2", "https://www.relay.example/connected/404"),
    ("https://congress.example/bill/s410",
     "https://congress.example/bill/117th-congress/senate-bill/410"),
    ("https://blog.example/?p=123", "https://blog.example/2020/05/not-found/"),
    ("https://pod.example/latest", "https://pod.example/episode/410"),
    # an AMP page sent to its canonical page; a script's route
    ("https://x.example/diablo-4-sorceress-enchantment-system/amp/",
     "https://x.example/diablo-4-sorceress-enchantment-system/"),
    ("https://x.example/news-item/amp", "https://x.example/news-item/"),
    ("https://x.example/news-item/print", "https://x.example/news-item"),
    (ARTICLE, "https://news.example.org/#!/world/2021/05/06/big-story"),
    # a folder's index page sent to its folder: the same page
    ("https://site.example/index.html", "https://site.example/"),
    ("https://site.example/docs/index.html", "https://site.example/docs/"),
    ("https://site.example/blog/Index.htm", "https://site.example/blog/"),
    ("https://site.example/index.php", "https://site.example/"),
    ("https://site.example/default.aspx", "https://site.example/"),
    # a view of a story (page 2, the embed) sent to the story
    ("https://x.example/my-post/2", "https://x.example/my-post/"),
    ("https://x.example/my-post/embed", "https://x.example/my-post/"),
    # a WordPress attachment page (a photo of a post) sent to its post: a short slug is a
    # post as often as a section
    ("https://blog.example/hello-world/attachment/photo-1/", "https://blog.example/hello-world/"),
    # views of a page at any depth (page 2 of it, its comments' feed)
    ("https://blog.example/hello/page/2/", "https://blog.example/hello/"),
    ("https://blog.example/hello/comments/feed/", "https://blog.example/hello/"),
    # paged comments, a print view, a photo of the post (they were redirect_to_section)
    ("https://blog.example/hello/comment-page-2/", "https://blog.example/hello/"),
    ("https://x.example/storm/print.html", "https://x.example/storm/"),
    ("https://x.example/fire/photo/3", "https://x.example/fire/"),
])
def test_ordinary_redirects_are_not_soft_404(url: str, final: str | None) -> None:
    assert not is_soft_404(url, final, "A normal article", "A normal article")


@pytest.mark.parametrize("text", [
    "<html><body><h1>example.net</h1><p>This domain may be for sale!</p></body></html>",
    '<script src="https://www.sedoparking.com/frmpark/example.net/park.js"></script>',
    '<script>window.park = "parkingcrew.net";</script>',
    '<a href="https://www.bodis.com">Parked, courtesy of Bodis</a>',
    "<p>Buy this domain. The domain example.net is for sale.</p>",
])
def test_parked_domains(text: str) -> None:
    assert soft_404_reason("https://example.net/", None, "example.net", None, text) \
        == "parked_domain"


@pytest.mark.parametrize("quote", ["This domain is for sale", "Buy this domain"])
def test_a_small_story_quoting_a_parking_page_stays_ok(quote: str) -> None:
    """A short text-only story (no markup at all) that quotes a domain-sale page: the phrase
    is evidence only under a title that names nothing but the domain, or says it too."""
    text = f"<title>Squatters cash in</title><p>The page read: \u201c{quote}.\u201d</p>"
    assert soft_404_reason(ARTICLE, None, "Squatters cash in", None, text) is None
    assert soft_404_reason("https://example.net/", None, "example.net", None,
                           f"<p>{quote}.</p>") == "parked_domain"
    assert soft_404_reason("https://example.net/", None, f"{quote} - example.net", None,
                           f"<p>{quote}.</p>") == "parked_domain"


@pytest.mark.parametrize("vendor", ["bodis.com", "sedo.com/search/details?d=x",
                                    "dan.com/buy-domain/x.net"])
def test_a_small_post_naming_a_parking_vendor_stays_ok(vendor: str) -> None:
    """A parking vendor's address is evidence only under a title that names nothing but
    the domain (or says the domain is for sale), like the phrase."""
    text = f"<title>How I monetised my old domains</title><p>I tried {vendor} for it.</p>"
    assert soft_404_reason(ARTICLE, None, "How I monetised my old domains", None,
                           text) is None
    assert soft_404_reason("https://example.net/", None, "example.net", None,
                           f"<p>Parked at {vendor}</p>") == "parked_domain"


@pytest.mark.parametrize(("url", "title"), [
    ("https://httpstatuses.io/404", "404 Not Found \u2014 httpstatuses.io"),
    ("https://http.cat/status/404", "404 Not Found"),
    ("https://www.webfx.example/web-development/glossary/http-status-codes/404/",
     "404 Not Found | WebFX"),
])
def test_a_page_asked_for_at_an_error_address_is_about_it(url: str, title: str) -> None:
    assert soft_404_reason(url, None, title, title) is None
    story = url.replace("404", "a-story-about-cats")  # the same page at a story's address
    assert soft_404_reason(story, None, title, None) == "not_found_title"


def test_article_about_domain_sales_stays_ok() -> None:
    text = "<h1>Domain investors meet in Berlin</h1><p>Prices of names rose.</p>"
    assert not is_soft_404(ARTICLE, None, "Domain investors meet", "Domain investors", text)


@pytest.mark.parametrize("text", [
    # articles that mention parking or domain sales: article markup, or a page too long
    "<html><head><title>Typosquatters</title></head><body><article><p>Thousands of parked "
    "domains; sedo.com/search/details pages and bodis.com ads.</p></article></body></html>",
    '<meta property="og:type" content="article"><p>This domain is for sale, said the page.</p>',
    "<p>Buy this domain? How squatters profit.</p>" + "<p>More of the story.</p>" * 2000,
    "<h1>Electric cars can be parked free in the city centre</h1>",
])
def test_pages_about_parking_are_not_parked(text: str) -> None:
    assert soft_404_reason(ARTICLE, None, "A news story", None, text) is None


STORY_MARKUP = [
    '<meta property="og:type" content="article">',
    '<meta content="article" property="og:type">',
    '<meta property="article:published_time" content="2015-03-02T10:00:00Z">',
    '<script type="application/ld+json">{"@type" : "Review", "@graph": [{"@type": '
    '"NewsArticle", "headline": "Not Found"}]}</script>',
    "<script type='application/ld+json'>{\"@type\":[\"BlogPosting\"]}</script>",
    # a video's, a song's page (a deleted one's has none of this)
    '<meta property="og:type" content="video.other">',
    '<meta property="og:type" content="music.song">',
    '<script type="application/ld+json">{"@type": "VideoObject", "name": "x"}</script>',
]


@pytest.mark.parametrize("markup", STORY_MARKUP)
@pytest.mark.parametrize(("title", "h1", "final"), [
    ("Not Found | Roger Ebert", "Not Found", None),  # a film review
    ("Not Found - Movie Review", "Not Found", None),
    ("Introuvable - Le Monde", None, None),
    ("Daily Planet", "This page does not exist", None),  # a headline about a hoax site
    ("This domain is for sale", None, None),  # a story quoting a parking page
    ("Big story", None, "https://news.example.org/"),  # a publisher's front page story
    ("Big story", None, "https://news.example.org/connected/"),
])
def test_a_page_with_story_markup_is_never_a_soft_404(markup: str, title: str,
                                                      h1: str | None, final: str | None) -> None:
    """Article markup (og:type, a published time, an Article in JSON-LD, however written)
    says the page is a story: whatever its title, h1 or redirect says, it stays ok."""
    body = (f"<html><head><title>{title}</title>{markup}</head><body>"
            + (f"<h1>{h1}</h1>" if h1 else "") + "<p>This domain is for sale.</p></body></html>")
    _, signals = extract_with_signals(decode_html(body.encode(), None), final or ARTICLE)
    assert signals.article
    assert not is_soft_404(ARTICLE, final, signals.title, signals.h1, body,
                           article=signals.article)
    bare = body.replace(markup, "")
    _, plain = extract_with_signals(decode_html(bare.encode(), None), final or ARTICLE)
    assert not plain.article
    if title.startswith("Not Found"):  # without the markup: a soft 404 (the h1 agrees)
        assert is_soft_404(ARTICLE, final, plain.title, plain.h1, bare)


def test_soft_404_from_an_extracted_page() -> None:
    body = ("<html><head><title>Oops! Page not found – Example</title></head>"
            "<body><h1>Sorry</h1></body></html>").encode()
    _, signals = extract_with_signals(decode_html(body, None), ARTICLE)
    assert is_soft_404(ARTICLE, ARTICLE, signals.title, signals.h1)


@pytest.mark.parametrize("hidden", [
    "<template><h1>Page not found</h1></template>",
    '<script type="text/x-template"><h1>Page not found</h1></script>',
    '<script>var t = "<h1>Page not found</h1>";</script>',
    "<!-- <h1>404 Not Found</h1> -->",
    "<noscript><h1>Page not found</h1></noscript>",
    "<style>/* <h1>Page not found</h1> */</style>",
    # hidden by its own start tag or its parents', or no element at all (an attribute's text)
    "<div hidden><h1>Page not found</h1></div>",
    '<div class="e" style="display: none">\n  <section>\n<h1>Page not found</h1></section></div>',
    "<h1 hidden>Page not found</h1>",
    '<h1 style="visibility:hidden">Page not found</h1>',
    "<div data-tpl='<h1>Page not found</h1>'></div>",
    '<iframe srcdoc="<h1>Page not found</h1>"></iframe>',
    '<dialog id="e404"><h1>Page not found</h1></dialog>',
])
def test_an_h1_the_page_does_not_show_is_no_headline(hidden: str) -> None:
    """A not-found template in a script, template or comment is no message of the page:
    the first shown h1 is its headline."""
    body = (f"<html><head><title>News Example</title></head><body>{hidden}"
            "<h1>Mayor wins</h1><p>Story.</p></body></html>")
    _, signals = extract_with_signals(decode_html(body.encode(), None), ARTICLE)
    assert signals.h1 == "Mayor wins"
    assert not is_soft_404(ARTICLE, None, signals.title, signals.h1, body)
    shown = body.replace(hidden, "<h1>Page not found</h1>")
    _, plain = extract_with_signals(decode_html(shown.encode(), None), ARTICLE)
    assert is_soft_404(ARTICLE, None, plain.title, plain.h1, shown)


@pytest.mark.parametrize("width", ["\u00b2", "\u0663\u0660\u0660", "9" * 5000, "1e9", "-5"])
def test_an_odd_declared_image_size_loses_only_the_size(width: str) -> None:
    """A width that is no ASCII number (a superscript two, Arabic-Indic digits, 5,000
    digits) is no size; the rest of the page is read as usual, soft-404 signals too."""
    body = ('<html><head><title>Page not found</title><meta property="og:image" '
            f'content="/i.png"><meta property="og:image:width" content="{width}">'
            '<meta property="og:image:height" content="630"></head></html>')
    meta, signals = extract_with_signals(decode_html(body.encode(), None), ARTICLE)
    assert meta.title == "Page not found" and signals.title == "Page not found"
    assert meta.image is not None and meta.image.url == "https://news.example.org/i.png"
    assert (meta.image.width, meta.image.height) == (None, 630)
    assert is_soft_404(ARTICLE, None, signals.title, signals.h1, body)


def test_an_upper_case_page_hides_its_templates_too() -> None:
    body = ("<HTML><HEAD><TITLE>News Example</TITLE></HEAD><BODY><SCRIPT>var t = "
            "'<H1>Page not found</H1>';</SCRIPT><H1>Mayor wins</H1></BODY></HTML>")
    _, signals = extract_with_signals(decode_html(body.encode(), None), ARTICLE)
    assert signals.h1 == "Mayor wins"


@pytest.mark.parametrize("shown", [
    '<div class="hidden-xs"><h1>Page not found</h1></div>',  # a class is no hiding
    '<span hidden>x</span> <p>Oops</p><h1>Page not found</h1>',  # a sibling was hidden
    '<div aria-hidden="true"><h1>Page not found</h1></div>',  # shown, only not read aloud
    "<p>a < b</p><h1>Page not found</h1>",  # a bare "<" is text, no tag
    "<dialog open><h1>Page not found</h1></dialog>",
])
def test_a_shown_not_found_h1_still_counts(shown: str) -> None:
    body = (f"<html><head><title>News Example</title></head><body>{shown}"
            "<p>Story.</p></body></html>")
    _, signals = extract_with_signals(decode_html(body.encode(), None), ARTICLE)
    assert signals.h1 == "Page not found"
    assert is_soft_404(ARTICLE, None, signals.title, signals.h1, body)


def test_an_h1_the_parser_takes_out_of_a_head_noscript_is_no_headline() -> None:
    """``<noscript><h1>`` in the head: the parser moves the h1 into the body, shown; a
    browser running scripts never shows it."""
    body = ("<html><head><title>News Example</title><noscript><h1>Page not found</h1>"
            "</noscript></head><body><h1>Mayor wins</h1></body></html>")
    _, signals = extract_with_signals(decode_html(body.encode(), None), ARTICLE)
    assert signals.h1 == "Mayor wins"
    assert not is_soft_404(ARTICLE, None, signals.title, signals.h1, body)


@pytest.mark.parametrize(("url", "final", "front"), [
    ("https://x.example/bike-lanes?amp=1", "https://x.example/", True),
    ("https://old.example/story", "https://new.example/", True),
    ("https://x.example/index.php?option=com_content&id=42", "https://x.example/", True),
    ("https://x.example/story", "https://x.example/#/story", False),  # a script's route
    ("https://x.example/story", "https://x.example/?p=9", False),
    ("https://x.example/", "https://www.x.example/", False),
    ("https://x.example/story", None, False),
])
def test_lands_on_front(url: str, final: str | None, front: bool) -> None:
    assert lands_on_front(url, final) is front


@pytest.mark.parametrize(("final", "elsewhere"), [
    ("https://x.com/en/", True),  # a language front page
    ("https://x.com/de-de/", True),
    ("https://x.com/en/news/", True),
    ("https://x.com/news/", True),  # a section, shallower than the article
    ("https://x.com/home", True),
    ("https://x.com/category/politics/", True),
    ("https://x.com/tag/bike-lanes/", True),
    ("https://x.com/?s=bike+lanes", True),  # a search
    ("https://x.com/consent?continue=https://x.com/2021/05/council-approves-bike-lanes", True),
    ("https://sso.x.com/login?next=%2F2021%2F05%2Fcouncil-approves-bike-lanes", True),
    ("https://x.com/account/login", True),
    # the article moved: it stands for itself
    ("https://x.com/2021/05/council-approves-bike-lanes-on-main-street", False),
    ("https://x.com/en/council-approves-bike-lanes", False),
    ("https://x.com/en/2021/05/council-approves-bike-lanes", False),
    ("https://x.com/politics/council-approves-bike-lanes", False),
    ("https://x.com/story/12345", False),
    ("https://x.com/2021/05/council-approves-bike-lanes/", False),
    ("https://y.com/2021/05/council-approves-bike-lanes", False),  # a new domain
    (None, False),
])
def test_lands_elsewhere_tells_listings_and_gates_from_a_moved_article(
        final: str | None, elsewhere: bool) -> None:
    assert lands_elsewhere("https://x.com/2021/05/council-approves-bike-lanes",
                           final) is elsewhere
    assert not lands_elsewhere("https://x.com/about", "https://x.com/en/")  # no article



@pytest.mark.parametrize(("title", "h1", "headlines"), [
    # a live story under a broken template's not-found title: its og:title, twitter:title
    # or first h1 is a headline of its own (they were dead/soft_404 without article markup)
    ("404 Not Found", None, ("Council approves new bike lanes on Main Street",)),
    ("Page not found | Example News", None,
     ("Example News", "Council approves new bike lanes on Main Street")),
    ("Page not found | Example News", "Council approves new bike lanes on Main Street", ()),
    ("404 Not Found", "Council approves new bike lanes | Example News", ()),
    # an h1 message under a title naming the site, with the story's og:title
    ("Example News", "Page not found", ("Council approves new bike lanes on Main Street",)),
])
def test_a_headline_of_its_own_contradicts_a_not_found_title(
        title: str, h1: str, headlines: tuple[str, ...]) -> None:
    """The headline shares words with the URL's slug: the story the URL names is there."""
    assert soft_404_reason(STORY, None, title, h1, headlines=headlines) is None
    assert not is_soft_404(STORY, None, title, h1, headlines=headlines)
    message = h1 if h1 == "Page not found" else None  # the same page without its headline
    assert soft_404_reason(STORY, None, title, message) in ("not_found_title", "not_found_h1")
    # at a URL whose slug it does not share (or without one), a headline-like line is an
    # error page's own sentence or the site's tagline: no doubt
    for url in (ARTICLE, "https://news.example.org/story/12345"):
        assert soft_404_reason(url, None, title, h1, headlines=headlines) is not None


STORY = "https://news.example.org/2021/05/06/council-approves-bike-lanes"


@pytest.mark.parametrize(("title", "h1", "headlines"), [
    # real error pages' messages, in their languages, and a site-wide og:title (a review
    # found 16 of 18 such pages ok with a rule that looked at the words alone)
    ("Página no encontrada | Example News",
     "Lo sentimos, no pudimos encontrar la página que buscas", ()),
    ("Seite nicht gefunden | Example News",
     "Die von Ihnen gesuchte Seite existiert leider nicht", ()),
    ("Page not found | Example News", "The page you requested could not be located", ()),
    ("Page not found | Example News", "This page has been retired from our website", ()),
    ("Page not found | Example News", "Let's get you back on track", ()),
    ("Page not found | Example News", None,
     ("Example News - Breaking news, sport and weather from your city",)),
    ("Страница не найдена | Example News", "Такой страницы на нашем сайте нет", ()),
])
def test_an_error_pages_sentences_are_no_headline_of_the_story(
        title: str, h1: str | None, headlines: tuple[str, ...]) -> None:
    assert soft_404_reason(STORY, None, title, h1, headlines=headlines) == "not_found_title"


@pytest.mark.parametrize(("h1", "headlines"), [
    # error pages' own og:title and h1: the site's name, not-found or error wording, a
    # word or two; they never contradict "not found"
    (None, ("Example News",)),
    (None, ("Page not found | Example News",)),
    (None, ("404 Not Found", "Error 404")),
    (None, ("Oops!",)),
    (None, ("Example News - Home",)),
    ("Nothing here", ()),
    ("Sorry", ("Example News",)),
    ("This is somewhat embarrassing, isn't it?", ()),
    ("Looks like you're lost", ()),
    ("We can't find the page you asked for", ()),
    ("Something went wrong on our end", ()),
    ("Seite nicht gefunden", ("Seite nicht gefunden | Example News",)),
    ("Uh oh, this page has wandered off", ()),
    ("The page you requested is not available", ()),
    ("ページが見つかりませんでした", ()),
])
def test_an_error_pages_own_headlines_keep_it_a_soft_404(
        h1: str | None, headlines: tuple[str, ...]) -> None:
    assert soft_404_reason(ARTICLE, None, "Page not found | Example News", h1,
                           headlines=headlines) == "not_found_title"


def test_an_og_title_repeating_the_titles_site_part_is_no_headline() -> None:
    """A site's name we cannot tell from its host (no og:site_name), in the title beside
    "Page not found" and alone in og:title: the title's own words, no headline."""
    title = "Page not found | Daily Planet Metro Edition"
    url = "https://news.example.org/2021/daily-planet-wins-metro-award"
    assert soft_404_reason(url, None, title, "Page not found",
                           headlines=("Daily Planet Metro Edition",)) == "not_found_h1"
    assert soft_404_reason(url, None, title, "Page not found",
                           headlines=("Daily Planet wins the metro award",)) is None


@pytest.mark.parametrize(("url", "headline", "story"), [
    # the slug is not the last segment, or wears an extension; accents folded
    ("https://n.example/blog/scaling-nsq/amp", "Scaling NSQ to 750 billion messages", True),
    ("https://n.example/scaling-nsq/index.html", "Scaling NSQ to 750 billion messages", True),
    ("https://n.example/fr/le-senat-vote-la-reforme", "Le Sénat vote la réforme", True),
    # function words are no match: a site-wide og:title shares "the", "and", "for"
    ("https://n.example/the-mayor-and-the-council-agree-on-budget-for-schools",
     "Example News: the latest news and analysis for you", False),
    # an error page echoing what was asked for names no story
    ("https://n.example/2021/council-approves-bike-lanes",
     "No results for 'council approves bike lanes'", False),
    ("https://n.example/2021/council-approves-bike-lanes",
     "You searched for council approves bike lanes", False),
    # ...only at its start: a headline may say "looking for" or "results for"
    ("https://n.example/2024/05/police-looking-for-suspect-in-downtown-shooting",
     "Police looking for suspect in downtown shooting", True),
    ("https://n.example/2024/05/election-results-for-ohio-counties",
     "Election results for Ohio counties and key races", True),
    # a section segment with as many words as the slug: the slug is the later one
    ("https://n.example/news/local-news/mayor-resigns", "Mayor resigns after council vote", True),
    ("https://n.example/arts-and-culture/opera-returns", "The opera returns to the city", True),
])
def test_a_headline_is_the_urls_story_by_its_slugs_content_words(
        url: str, headline: str, story: bool) -> None:
    reason = soft_404_reason(url, None, "Page not found | Example News", None,
                             headlines=(headline,))
    assert (reason is None) is story
