"""The ``livePage`` value of one holder: what its live page says (title, description, site
name, image, canonical and AMP URLs, publication date, language) in the record contract's key
names, its image with the type and pixel size a probe of it measured in this run.

``kept_image``: a probe that failed tonight (the image server answered 503 once) keeps the
image the record already holds for the same URL, measured sizes included; without it, each
passing outage of an image server rewrote the record twice (the page's declared sizes, then
the measured ones again).

This module must not do I/O, import yaml, httpx or selectolax.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from enricher.models import GOOD, ImageInfo, LinkResult, PageMeta

LIVE_PAGE = "livePage"


def with_probe(image: ImageInfo, facts: ImageInfo) -> ImageInfo:
    """A page's image with what a probe of it found (type, pixel size) in place of what the
    page declares (``og:image:width`` may be any number); declared sizes stay only when the
    probe measured none."""
    measured = facts.width is not None and facts.height is not None
    return ImageInfo(image.url, facts.type or image.type,
                     facts.width if measured else image.width,
                     facts.height if measured else image.height)


def page_image(page: PageMeta, results: Mapping[str, LinkResult]) -> ImageInfo | None:
    """The page's chosen image, with the facts of its probe in ``results`` when it was
    probed ok (:func:`with_probe`)."""
    image = page.image
    probed = results.get(image.url) if image is not None and image.url else None
    facts = probed.image if probed is not None and probed.status in GOOD else None
    return image if image is None or facts is None else with_probe(image, facts)


def live_page(page: PageMeta, results: Mapping[str, LinkResult] | None = None) -> dict[str, Any]:
    """The ``livePage`` value: only what was found, in the contract's key names; the image's
    type and size as probed in this run when it was (``results``)."""
    out: dict[str, Any] = {}
    for key, value in (
        ("title", page.title),
        ("description", page.description),
        ("siteName", page.site_name),
    ):
        if value:
            out[key] = value
    found = page_image(page, results or {})
    if found is not None and found.url:
        out["image"] = {"url": found.url, **{name: getattr(found, name) for name in (
            "width", "height", "type") if getattr(found, name)}}
    for key, value in (
        ("canonicalUrl", page.canonical_url),
        ("ampUrl", page.amp_url),
        ("publishedDateTime", page.published_at),
        ("lang", page.lang),
    ):
        if value:
            out[key] = value
    return out


def kept_image(page: dict[str, Any], earlier: Mapping[str, Any] | None,
               results: Mapping[str, LinkResult]) -> None:
    """Put the image of the ``earlier`` holder's livePage (the record as last written) in
    ``page`` when it is the same image URL and this run measured nothing of it."""
    image = page.get("image")
    old = earlier.get(LIVE_PAGE) if earlier is not None else None
    old_image = old.get("image") if isinstance(old, Mapping) else None
    if not isinstance(image, dict) or not isinstance(old_image, Mapping) or \
            old_image.get("url") != image.get("url"):
        return
    probed = results.get(image["url"])
    if probed is None or probed.status not in GOOD or probed.image is None:
        page["image"] = dict(old_image)
