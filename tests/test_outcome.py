"""interpret: FetchResult -> LinkResult (verdict, page metadata, image facts)."""

from __future__ import annotations

from dataclasses import replace

from enricher.config import Config
from enricher.models import FetchResult, Hop, LinkKind, LinkStatus
from enricher.outcome import interpret

HTML = "text/html; charset=utf-8"


def _page(head: str, *, status: int = 200, headers: dict[str, str] | None = None) -> FetchResult:
    body = f"<html><head>{head}</head><body></body></html>".encode()
    return FetchResult(
        url="https://news.example/a/story.html",
        kind=LinkKind.PAGE,
        http_status=status,
        content_type=HTML,
        headers=headers or {},
        body=body,
    )


def test_page_metadata_and_ok_verdict() -> None:
    result = interpret(_page("<title>Big story</title>"), (), None, Config())
    assert result.status is LinkStatus.OK
    assert result.page is not None and result.page.title == "Big story"


def test_page_urls_go_through_the_url_cleaner() -> None:
    creds = '<meta property="og:image" content="http://user:pw@cdn.example/x.png">'
    result = interpret(_page(creds), (), None, Config())
    assert result.page is not None and result.page.image is None  # never written or fetched
    dotted = '<meta property="og:image" content="http://example.com\u3002evil.example/x.png">'
    result = interpret(_page(dotted), (), None, Config())
    assert result.page is not None and result.page.image is not None
    assert result.page.image.url == "http://example.com.evil.example/x.png"  # as httpx connects


def test_challenge_page_is_blocked_and_not_parsed() -> None:
    fetched = _page("<title>Just a moment...</title>", status=403,
                    headers={"cf-mitigated": "challenge"})
    result = interpret(fetched, (), None, Config())
    assert result.status is LinkStatus.BLOCKED and result.page is None


def test_a_404_wall_with_its_marker_after_inline_css_is_blocked_not_dead() -> None:
    """A PerimeterX block page answering 404: its marker sits past the first 4 KiB (inline
    CSS first). All that was read of an error page is searched: blocked, never dead."""
    css = "<style>" + ".c{margin:0}\n" * 600 + "</style>"
    wall = _page(css + "<title>Access denied</title></head><body><div id='px-captcha'></div>",
                 status=404)
    assert wall.body.find(b"px-captcha") > 4096
    for kind in (LinkKind.PAGE, LinkKind.REACH, LinkKind.IMAGE):  # (an image's was dead)
        result = interpret(replace(wall, kind=kind), (), None, Config())
        assert (result.status, result.reason) == (LinkStatus.BLOCKED, "challenge"), kind


def test_soft_404_is_dead_but_a_page_about_404s_is_ok() -> None:
    result = interpret(_page("<title>Page not found | News</title>"), (), None, Config())
    assert (result.status, result.reason) == (LinkStatus.DEAD, "soft_404")
    title = "<title>How to fix 404 errors on your blog</title>"
    about = interpret(_page(title), (), None, Config())
    assert about.status is LinkStatus.OK


def test_a_deep_url_sent_home_is_dead_only_when_every_hop_was_permanent() -> None:
    home = replace(_page("<title>News</title>"), final_url="https://news.example/")
    for first, last, dead in ((301, 308, True), (301, 302, False), (302, 301, False),
                              (307, 307, False), (303, 301, False)):
        hops = (Hop("https://news.example/a/story.html", first),
                Hop("https://news.example/a/story", last))
        result = interpret(replace(home, redirects=hops), (), None, Config())
        expected = ((LinkStatus.DEAD, "soft_404") if dead
                    else (LinkStatus.OK, "http_200"))
        assert (result.status, result.reason) == expected, (first, last)


def test_non_html_is_not_parsed() -> None:
    fetched = FetchResult(url="https://news.example/v.mp4", kind=LinkKind.PAGE, http_status=200,
                          content_type="video/mp4", body=b"\x00\x00\x00\x18ftypmp42")
    result = interpret(fetched, (), None, Config())
    assert result.status is LinkStatus.OK and result.page is None


PNG_1x1 = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
           b"\x00\x00\x00\x1f\x15\xc4\x89")


def _image(body: bytes, content_type: str | None, headers: dict[str, str] | None = None,
           status: int = 200) -> FetchResult:
    return FetchResult(url="https://news.example/i.png", kind=LinkKind.IMAGE, http_status=status,
                       content_type=content_type, headers=headers or {}, body=body)


def test_an_image_url_serving_no_image_is_an_error_not_ok() -> None:
    for body, ctype in ((b"<html><head><title>Oops</title></head></html>", "image/jpeg"),
                        (b"<html><body>gone</body></html>", HTML), (b"", "image/png"),
                        (b"\x00\x00\x01", "image/x-icon")):
        result = interpret(_image(body, ctype), (), None, Config())
        assert (result.status, result.reason, result.image) == (
            LinkStatus.ERROR, "not_an_image", None), (body, ctype)
    ok = interpret(_image(PNG_1x1, "image/png"), (), None, Config())
    assert ok.status is LinkStatus.OK and ok.image is not None and ok.image.width == 1
    mislabelled = interpret(_image(PNG_1x1, "application/octet-stream"), (), None, Config())
    assert mislabelled.status is LinkStatus.OK  # a real image with a wrong label is an image


def test_a_bot_wall_at_an_image_url_is_blocked() -> None:
    wall = b"<html><head><title>Just a moment...</title></head><body>cf-chl</body></html>"
    result = interpret(_image(wall, HTML, {"cf-mitigated": "challenge"}, status=200), (), None,
                       Config())
    assert (result.status, result.reason) == (LinkStatus.BLOCKED, "challenge")


def test_an_image_behind_a_wall_answering_404_is_blocked_not_dead() -> None:
    """From an audit: a Cloudflare challenge served with 404 at an image URL was dead (the
    image branch looked for walls on 2xx answers only); the page and AMP URLs were blocked."""
    wall = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><script "
            b"src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script></body></html>")
    for headers in ({"cf-mitigated": "challenge"}, {}):
        result = interpret(_image(wall, HTML, headers, status=404), (), None, Config())
        assert (result.status, result.reason) == (LinkStatus.BLOCKED, "challenge"), headers
    gone = interpret(_image(b"<html><body>Not Found</body></html>", HTML, status=404), (), None,
                     Config())
    assert (gone.status, gone.reason) == (LinkStatus.DEAD, "http_404")


def test_an_amp_url_sent_for_good_to_the_error_or_front_page_is_dead() -> None:
    """From an audit: an AMP URL 301'd to /errors/404.html (or home) was redirected, and
    --update-redirects wrote the error page's URL into the record. The redirect rules of
    soft 404s now apply to AMP URLs too, by their URLs alone; an AMP page sent to its
    article, or a temporary redirect, is no soft 404."""
    amp = "https://news.example/amp/2024/05/bikes-story"

    def reach(final: str, code: int = 301) -> LinkStatus:
        fetched = FetchResult(url=amp, kind=LinkKind.REACH, http_status=200, final_url=final,
                              redirects=(Hop(amp, code),), content_type=HTML)
        return interpret(fetched, (), None, Config()).status

    assert reach("https://news.example/errors/404.html") is LinkStatus.DEAD
    assert reach("https://news.example/") is LinkStatus.DEAD
    assert reach("https://news.example/", code=302) is LinkStatus.OK
    assert reach("https://news.example/2024/05/bikes-story") is LinkStatus.REDIRECTED
    assert reach("https://amp.news.example/2024/05/bikes-story") is LinkStatus.REDIRECTED


def _html(html: bytes, content_type: str = HTML, status: int = 200) -> FetchResult:
    return FetchResult(url="https://news.example/a/story.html", kind=LinkKind.PAGE,
                       http_status=status, content_type=content_type, body=html)


def test_a_story_quoting_a_bot_wall_in_its_headline_or_a_link_is_ok() -> None:
    """From an audit: a live story whose h1 (or a link in its navigation, in the first
    4 KiB) quotes PerimeterX's "Press & Hold" was blocked/challenge."""
    story = (b'<html><head><title>Inside the CAPTCHA wars | Daily Paper</title><meta property='
             b'"og:type" content="article"></head><body><nav><a href="/x">Press &amp; Hold to '
             b"confirm you are human? Readers hate it</a></nav><h1>Press &amp; Hold to confirm "
             b"you are a human: inside the CAPTCHA wars</h1></body></html>")
    result = interpret(_html(story), (), None, Config())
    assert (result.status, result.reason) == (LinkStatus.OK, "http_200")
    assert result.page is not None and result.page.title is not None
    assert "CAPTCHA wars" in result.page.title


def test_a_live_story_under_a_not_found_title_is_ok_but_an_error_page_is_dead() -> None:
    """From an audit: a blog post (og:type blog: no article markup) whose broken template
    says "404 Not Found" in its <title> was dead/soft_404, though its og:title, or its h1,
    is the story's headline. An error page's own og:title (the site's name, "Page not
    found") and h1 ("Oops! Nothing here") keep it a soft 404."""
    headline = b"Council approves new bike lanes on Main Street"
    blog = (b'<html><head><title>404 Not Found</title><meta property="og:type" content="blog">'
            b'<meta property="og:title" content="' + headline + b'"></head><body></body></html>')
    h1 = (b"<html><head><title>Page not found | News</title></head><body><h1>" + headline
          + b"</h1><p>The council voted.</p></body></html>")
    at = "https://news.example/2021/council-approves-new-bike-lanes"  # the slug: the story's
    for live in (blog, h1):
        result = interpret(replace(_html(live), url=at), (), None, Config())
        assert (result.status, result.reason) == (LinkStatus.OK, "http_200"), live
    for og_title, shown in ((b"News", b"Oops! Nothing here"), (b"Page not found | News", b"404"),
                            (b"Error 404", b"Sorry")):
        error_page = (b'<html><head><title>Page not found | News</title><meta property='
                      b'"og:title" content="' + og_title + b'"></head><body><h1>' + shown
                      + b"</h1></body></html>")
        result = interpret(_html(error_page), (), None, Config())
        assert (result.status, result.reason) == (LinkStatus.DEAD, "soft_404"), og_title


def test_a_legacy_page_declaring_its_charset_late_is_decoded_by_it() -> None:
    """From an audit: a windows-1251 page whose meta charset followed a long script (past
    the first 2 KiB) had a mojibake title ("Íîâîñòè äíÿ")."""
    page = ("<html><head><script>" + "x" * 2100 + '</script><meta charset="windows-1251">'
            "<title>Новости дня</title></head><body></body></html>").encode("cp1251")
    result = interpret(_html(page, "text/html"), (), None, Config())
    assert result.page is not None and result.page.title == "Новости дня"


def test_a_failures_own_words_reach_the_result_as_one_printable_line() -> None:
    """``error tls`` said nothing of why: an expired certificate and a missing --ca-bundle
    looked alike. The fetcher's detail now reaches the result (the results line, -v), on
    one line, its control characters escaped, a proxy URL's password never quoted."""
    said = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate has expired\n\x1b[2J (_ssl.c:1006)"
    tls = FetchResult(url="https://news.example/a", kind=LinkKind.PAGE, attempts=1,
                      failure="tls", detail=said)
    result = interpret(tls, (), None, Config())
    assert (result.status, result.reason) == (LinkStatus.ERROR, "tls")
    assert result.detail == ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate has expired "
                             "\\x1b[2J (_ssl.c:1006)")
    proxy = replace(tls, failure="proxy", detail="proxy unreachable: http://u:secret@p:3128")
    assert "secret" not in (interpret(proxy, (), None, Config()).detail or "")
    fine = FetchResult(url="https://news.example/a", kind=LinkKind.PAGE, http_status=200,
                       attempts=1, content_type="text/html", body=b"<title>Hi</title>",
                       detail="a note")
    assert interpret(fine, (), None, Config()).detail is None
