"""interpret: FetchResult -> LinkResult (verdict, page metadata, image facts)."""

from __future__ import annotations

from enricher.config import Config
from enricher.models import FetchResult, LinkKind, LinkStatus
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


def test_soft_404_is_dead_but_a_page_about_404s_is_ok() -> None:
    result = interpret(_page("<title>Page not found | News</title>"), (), None, Config())
    assert (result.status, result.reason) == (LinkStatus.DEAD, "soft_404")
    title = "<title>How to fix 404 errors on your blog</title>"
    about = interpret(_page(title), (), None, Config())
    assert about.status is LinkStatus.OK


def test_non_html_is_not_parsed() -> None:
    fetched = FetchResult(url="https://news.example/v.mp4", kind=LinkKind.PAGE, http_status=200,
                          content_type="video/mp4", body=b"\x00\x00\x00\x18ftypmp42")
    result = interpret(fetched, (), None, Config())
    assert result.status is LinkStatus.OK and result.page is None
