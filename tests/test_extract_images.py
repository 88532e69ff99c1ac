"""The page's chosen image: the rules added after looking at the labelled misses and at the
images chosen on unlabelled pages of ../shared/pages (escaped ampersands, placeholders,
lazy loading, icons). Own small pages only."""

from __future__ import annotations

import json

import pytest

from enricher.extract import extract
from enricher.models import ImageInfo, PageMeta

URL = "https://news.example.org/world/2021/05/06/big-story.html"


def doc(head: str = "", body: str = "") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def og(prop: str, value: str) -> str:
    return f'<meta property="{prop}" content="{value}">'


def ld(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def run(head: str = "", body: str = "") -> PageMeta:
    return extract(doc(head, body), URL)


def image_url(head: str = "", body: str = "") -> str | None:
    image = run(head, body).image
    return image.url if image is not None else None


# --- an escaped ampersand is an ampersand ------------------------------------------------------

@pytest.mark.parametrize("written", ["&amp;", "&#38;", "&#038;", "&#x26;", "&#X26;"])
def test_jsonld_image_url_with_escaped_ampersand(written: str) -> None:
    # JSON-LD is raw text: the HTML parser decodes nothing in it.
    head = ld({"@type": "NewsArticle", "image": f"https://cdn.example/i.php?id=7{written}w=640"})
    assert image_url(head) == "https://cdn.example/i.php?id=7&w=640"


def test_twice_escaped_attribute_is_decoded_once_more() -> None:
    # The parser decodes &amp;amp; to &amp;; what the site meant is &.
    head = og("og:image", "https://cdn.example/p.jpg?a=1&amp;amp;width=750")
    assert image_url(head) == "https://cdn.example/p.jpg?a=1&width=750"
    thrice = ld({"@type": "NewsArticle", "image": "https://cdn.example/p.jpg?a=1&amp;amp;amp;b=2"})
    assert image_url(thrice) == "https://cdn.example/p.jpg?a=1&b=2"


def test_other_entity_like_text_in_urls_is_left_alone() -> None:
    # Only the ampersand's own references are decoded: &copy=, &times= are query keys.
    head = og("og:image", "https://cdn.example/p.jpg?a=1&amp;copy=2&amp;times=3")
    assert image_url(head) == "https://cdn.example/p.jpg?a=1&copy=2&times=3"
    raw = ld({"@type": "NewsArticle", "image": "https://cdn.example/p.jpg?x=&lt;1&amp;y=2"})
    assert image_url(raw) == "https://cdn.example/p.jpg?x=&lt;1&y=2"


# --- placeholders are no image of the page ------------------------------------------------------

@pytest.mark.parametrize("placeholder", [
    "https://s0.example/i/blank.jpg", "/styleguide/assets/Blank.gif", "/img/spacer.gif",
    "/clear.gif", "/images/pixel.gif", "/t/1x1.png", "/a/transparent.png",
    "/plugins/lazy-load/images/lazy_placeholder.gif", "/Images/lazyloading-placeholder.png",
    "/img/ajax_loader.gif", "/iconos/preload.gif", "/img/loading.gif?v=2",
])
def test_placeholder_meta_image_gives_way_to_the_next_rule(placeholder: str) -> None:
    head = og("og:image", placeholder) + '<meta name="twitter:image" content="/real.jpg">'
    assert image_url(head) == "https://news.example.org/real.jpg"
    assert image_url(og("og:image", placeholder)) is None


@pytest.mark.parametrize("real", [
    "/photos/blank-verse-reading.jpg", "/img/clearwater.gif", "/2021/spacers-at-work.png",
    "/loading-dock.jpg", "/pixel/phone-review.jpg",
])
def test_names_that_only_contain_a_placeholder_word_are_images(real: str) -> None:
    assert image_url(og("og:image", real)) == "https://news.example.org" + real


# --- lazy loading ----------------------------------------------------------------------------

@pytest.mark.parametrize(("img", "expected"), [
    ('<img src="/blank.gif" data-src="/photo.jpg">', "/photo.jpg"),
    ('<img data-src="/photo.jpg">', "/photo.jpg"),
    ('<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-lazy-src="/photo.jpg">',
     "/photo.jpg"),
    ("<img src='/lazy_placeholder.gif' data-original='/photo.jpg'>", "/photo.jpg"),
    ('<img src="/first.jpg" data-src="/hi-res.jpg">', "/first.jpg"),  # a real src wins
])
def test_lazy_loaded_body_image(img: str, expected: str) -> None:
    body = f"<article><h1>Story</h1>{img}<img src='/second.jpg'></article>"
    assert image_url(body=body) == "https://news.example.org" + expected


def test_lazy_loaded_image_in_upper_case_markup() -> None:
    body = '<ARTICLE><IMG SRC="/spacer.gif" DATA-SRC="/photo.jpg"></ARTICLE>'
    assert image_url(body=body) == "https://news.example.org/photo.jpg"


def test_placeholder_without_real_url_is_skipped() -> None:
    body = ('<article><img src="/blank.gif" data-src=""><img src="">'
            '<img src="/story.jpg"></article>')
    assert image_url(body=body) == "https://news.example.org/story.jpg"


def test_lazy_attribute_is_not_read_from_videos() -> None:
    body = '<video data-src="/clip"></video>'
    assert image_url(body=body) is None


# --- icons, avatars and tracking pixels in the body ---------------------------------------------

@pytest.mark.parametrize("small", [
    '<img src="/avatar.jpg" width="32" height="32">', "<img src=/icon.png width=16>",
    '<img src="/logo.gif" height="40px">', '<img src="/t.gif?id=1" width="1" height="1">',
])
def test_body_image_declared_smaller_than_50_px_is_skipped(small: str) -> None:
    body = f'<article>{small}<img src="/story.jpg" width="640" height="360"></article>'
    assert image_url(body=body) == "https://news.example.org/story.jpg"


@pytest.mark.parametrize("img", [
    '<img src="/a.jpg" width="50" height="50">', '<img src="/a.jpg" width="100%">',
    '<img src="/a.jpg" width="" height="auto">', '<img src="/a.jpg" style="width: 10px">',
])
def test_body_image_of_50_px_or_unknown_size_counts(img: str) -> None:
    assert image_url(body=f"<article>{img}</article>") == "https://news.example.org/a.jpg"


def test_declared_meta_image_is_never_judged_by_size() -> None:
    head = og("og:image", "/square.png") + og("og:image:width", "16")
    assert run(head).image == ImageInfo(url="https://news.example.org/square.png", width=16)


@pytest.mark.parametrize("qr", [
    '<img src="https://www.news.example/detail2020/images/ewm.png" width="94">',
    '<img src="/static/qrcode-app.png">', '<img src="/img/QR_Code_share.jpg?v=2">',
    '<img src="/assets/wx-erweima.gif">', '<img src="/i/wx_ewm.jpg">', '<img src="/i/ewm1.png">',
])
def test_a_body_qr_code_is_no_image_of_the_page(qr: str) -> None:
    """A QR code beside the story (share it, get the app; "ewm" is Chinese erweima) was
    taken as the page's image; the story's own image that follows is."""
    body = f'{qr}<div><img src="/titlepic/story.jpg" width="300" height="169"></div>'
    assert image_url(body=body) == "https://news.example.org/titlepic/story.jpg"


@pytest.mark.parametrize("name", ["/img/new-mewmew.png", "/qr/story-photo.jpg", "/codes.png"])
def test_names_that_only_look_like_a_qr_code_are_images(name: str) -> None:
    assert image_url(body=f'<article><img src="{name}"></article>') == (
        f"https://news.example.org{name}")


# --- the order of the rules is unchanged ---------------------------------------------------------

def test_meta_image_still_beats_body_images_and_video_posters() -> None:
    head = og("og:image", "/og.jpg")
    body = '<video poster="/poster.jpg"></video><article><img src="/a.jpg"></article>'
    assert image_url(head, body) == "https://news.example.org/og.jpg"
    assert image_url(body=body) == "https://news.example.org/a.jpg"
