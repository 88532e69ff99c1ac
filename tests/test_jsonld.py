"""JSON-LD: flattening (@graph, lists, mainEntity), ranking by type, bounds, bad JSON."""

from __future__ import annotations

import json

import pytest

from enricher.jsonld import MAX_JSONLD_CHARS, MAX_JSONLD_NODES, JsonLd, image_of, name_of


def test_articles_rank_before_pages_and_sites() -> None:
    site = {"@type": "WebSite", "name": "Site", "description": "about the site"}
    page = {"@type": "WebPage", "name": "Page name", "description": "page"}
    article = {"@type": ["NewsArticle"], "headline": "Story", "description": "story"}
    data = JsonLd([json.dumps([site, page]), json.dumps({"@graph": [article]})])
    assert data.get("description") == "story"
    assert data.get("name") == "Page name"  # not the WebSite's
    assert data.get("headline") == "Story"


def test_site_objects_only_when_asked() -> None:
    data = JsonLd([json.dumps({"@type": "Organization", "name": "Org"})])
    assert data.get("name") is None
    assert data.get("name", site=True) == "Org"


def test_main_entity_and_schema_urls_as_types() -> None:
    nested = {"@type": "WebPage", "mainEntity": {"@type": "http://schema.org/BlogPosting",
                                                  "headline": "Nested"}}
    assert JsonLd([json.dumps(nested)]).get("headline") == "Nested"


def test_invalid_wrapped_and_oversized_scripts() -> None:
    good = json.dumps({"@type": "Article", "headline": "Good"})
    data = JsonLd(["{broken", "<!--" + good + "-->", "x" * (MAX_JSONLD_CHARS + 1), "[" * 5000,
                   "null", "42"])
    assert data.get("headline") == "Good"
    assert JsonLd(["//<![CDATA[\n" + good + "\n//]]>"]).get("headline") == "Good"


def test_node_bound() -> None:
    many = json.dumps([{"@type": "Thing", "name": str(n)} for n in range(MAX_JSONLD_NODES * 3)])
    data = JsonLd([many])
    assert len(data.content) + len(data.site) <= MAX_JSONLD_NODES


def test_helpers() -> None:
    assert name_of({"@type": "Organization", "name": "Pub"}) == "Pub"
    assert name_of([{"name": "First"}, {"name": "Second"}]) == "First"
    assert name_of(3) is None
    assert image_of("https://x/a.jpg") == "https://x/a.jpg"
    assert image_of([{"url": "https://x/b.jpg"}]) == "https://x/b.jpg"
    assert image_of({"@type": "ImageObject", "contentUrl": "https://x/c.jpg"}) == "https://x/c.jpg"
    assert image_of({"width": 3}) is None


@pytest.mark.parametrize("script", [
    '{"@type": "NewsArticle", "headline": "A", "image": ["x.png",],}',  # trailing commas
    '/*<![CDATA[*/{"@type": "NewsArticle", "headline": "A"}/*]]>*/',
    '\ufeff{"@type": "NewsArticle", "headline": "A"}',  # a BOM
    '// the article\n{"@type": "NewsArticle", /* x */ "headline": "A"}',
    '{"@type": "WebSite", "name": "S"}\n{"@type": "NewsArticle", "headline": "A"}',  # two
])
def test_json_ld_that_cmss_write_loosely_is_read(script: str) -> None:
    """Comments, trailing commas, a BOM or objects one after another made a page's whole
    JSON-LD (headline, image, the article evidence soft-404 detection relies on) vanish."""
    ld = JsonLd([script])
    assert ld.get("headline") == "A" and ld.has_story()


def test_a_loose_reading_keeps_strings_as_they_are() -> None:
    ld = JsonLd(['{"@type": "NewsArticle", "headline": "say \\"hi\\", // not /* a */ comment",'
                 ' "url": "https://a.example/x,]", "about": [1, 2,],}'])
    assert ld.get("headline") == 'say "hi", // not /* a */ comment'
    assert ld.get("url") == "https://a.example/x,]"


@pytest.mark.parametrize("script", [
    '{"@type": "NewsArticle", "headline": "A',  # a string that never ends
    '{"@type": "NewsArticle", /* "headline": "A"}',  # a comment that never ends
    '{"a": "' + '\\"' * 100_000,  # many escaped quotes, no end
    '[' + '"x",' * 60_000 + ']',  # more marks than the budget
])
def test_a_loose_reading_gives_up_on_broken_or_huge_scripts(script: str) -> None:
    assert JsonLd([script]).get("headline") is None
