"""What one fetched URL means: bot walls, page metadata, soft 404s, image facts, the verdict.

``interpret`` turns a FetchResult (bytes and headers) into a LinkResult (values) and drops the
body. Pure: no I/O. It must not fetch (page images are probed by the pipeline) and must not
know about records beyond the origins it is handed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from enricher.classify import PERMANENT, classify
from enricher.config import Config
from enricher.decode import decode_html
from enricher.extract import extract_with_signals
from enricher.images import Mismatch, probe_image
from enricher.models import (
    FetchResult,
    ImageInfo,
    LinkKind,
    LinkResult,
    LinkStatus,
    Origin,
    PageMeta,
    shown_name,
)
from enricher.net.urls import CleanURL, clean_url
from enricher.signals import is_soft_404
from enricher.walls import is_challenge

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_SUCCESS_SCAN_CHARS = 4096  # of a 2xx page searched for a bot wall's markers


def utc_now() -> str:
    """Now in UTC, to the second (``2026-11-27T03:00:00Z``). One string per second: every
    result keeps its check time until the reports are written, and 10,000 URLs are
    checked in a few hundred distinct seconds."""
    global _last
    now = datetime.now(UTC).replace(microsecond=0)
    if now != _last[0]:
        _last = (now, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _last[1]


_last: tuple[datetime | None, str] = (None, "")


_USERINFO = re.compile(r"//[^/@\s]*@")  # a proxy URL's password, should a message quote it
_DETAIL_CHARS = 300


def _shown_detail(text: str) -> str:
    """A failure's own words, one line, capped, printable (a server's text may carry
    control characters), never with a URL's user:password."""
    return shown_name(_USERINFO.sub("//", " ".join(text.split()))[:_DETAIL_CHARS])


def interpret(
    fetched: FetchResult,
    sources: Iterable[Origin],
    provider: str | None,
    config: Config,
) -> LinkResult:
    """FetchResult -> LinkResult: bot walls, page metadata, soft 404s, image facts, verdict."""
    page: PageMeta | None = None
    image: ImageInfo | None = None
    challenge = soft_404 = not_image = False
    ctype = (fetched.content_type or "").split(";")[0].strip().lower()
    status = fetched.http_status or 0
    if fetched.failure is None and fetched.body:
        if fetched.kind is not LinkKind.IMAGE and ctype in _HTML_TYPES:
            text = decode_html(fetched.body, fetched.content_type)
            # a wall answering 403/404/503 puts its markers after inline CSS: search all of
            # what was read (16 KiB); on a 200 page, only its start (a story may quote them)
            challenge = is_challenge(fetched.headers, status,
                                     text[:_SUCCESS_SCAN_CHARS] if status < 300 else text)
            if not challenge and 200 <= status < 300 and fetched.kind is LinkKind.PAGE:
                final = fetched.final_url or fetched.url
                page, signals = extract_with_signals(text, final, provider=provider)
                page = clean_page_urls(page, config, final)
                soft_404 = is_soft_404(
                    fetched.url, fetched.final_url, signals.title, signals.h1, text,
                    page.site_name, article=signals.article,
                    temporary=_temporary(fetched), headlines=signals.headlines,
                )
        elif 200 <= status < 300 and (fetched.kind is LinkKind.IMAGE
                                      or ctype.startswith("image/")):  # (cited as both)
            probe = probe_image(fetched.body, fetched.content_type)
            image = probe.info
            not_image = fetched.kind is LinkKind.IMAGE and probe.mismatch == Mismatch.NOT_AN_IMAGE
            if not_image and ctype in _HTML_TYPES:  # a bot wall answers for images too
                challenge = is_challenge(fetched.headers, status, decode_html(
                    fetched.body[:_SUCCESS_SCAN_CHARS], fetched.content_type))
        else:  # an image's 403/404 HTML page (a wall answers for images too), anything else
            challenge = is_challenge(fetched.headers, status, decode_html(
                fetched.body, fetched.content_type) if ctype in _HTML_TYPES else "")
    elif fetched.failure is None:
        challenge = is_challenge(fetched.headers, status, "")
        not_image = fetched.kind is LinkKind.IMAGE and 200 <= status < 300  # nothing is no image
    if (fetched.kind is LinkKind.REACH and fetched.redirects and not challenge
            and fetched.failure is None and 200 <= status < 300):  # an AMP URL sent for good
        soft_404 = is_soft_404(fetched.url, fetched.final_url, None, None,  # to the front or
                               temporary=_temporary(fetched))  # error page: by its URL alone
    verdict = classify(
        fetched,
        challenge=challenge,
        soft_404=soft_404,
        not_image=not_image,
        accepted=config.fetch.accepted_status,
    )
    good = verdict.status in (LinkStatus.OK, LinkStatus.REDIRECTED)
    if not good:
        page = None  # never report metadata of an error, challenge or soft-404 page
    return LinkResult(
        url=fetched.url,
        kind=fetched.kind,
        status=verdict.status,
        reason=verdict.reason,
        http_status=verdict.http_status,
        final_url=verdict.final_url,
        redirects=tuple(hop.url for hop in fetched.redirects),
        attempts=fetched.attempts,
        elapsed_ms=fetched.elapsed_ms,
        checked_at=utc_now(),
        content_type=sys.intern(fetched.content_type) if fetched.content_type else None,
        sources=tuple(sources),
        page=page,
        image=image,
        bytes_read=fetched.bytes_read,
        detail=None if good or not fetched.detail else _shown_detail(fetched.detail),
    )


def _clean_url_or_none(url: str | None, config: Config, clean: str = "") -> str | None:
    """A URL taken from a page, through the same cleaner as record URLs (one parser: what
    is written to livePage and what would be fetched are the same); None when rejected.
    ``clean`` is a URL that went through the cleaner already (the page's own: a canonical
    link usually repeats it), returned as it is."""
    if not url:
        return None
    if url == clean:
        return url
    cleaned = clean_url(
        url,
        max_length=config.max_url_length,
        allowed_low_ports=config.fetch.allowed_low_ports,
    )
    return cleaned.url if isinstance(cleaned, CleanURL) else None


def clean_page_urls(page: PageMeta, config: Config, fetched: str) -> PageMeta:
    """The page's URLs cleaned; ``fetched``, the (clean) URL the page came from."""
    image = page.image
    if image is not None:
        url = _clean_url_or_none(image.url, config)
        image = replace(image, url=url) if url else None
    return replace(
        page,
        image=image,
        canonical_url=_clean_url_or_none(page.canonical_url, config, fetched),
        amp_url=_clean_url_or_none(page.amp_url, config),
    )


def _temporary(fetched: FetchResult) -> bool:
    """Did a hop of the redirect chain say "elsewhere for now" (a geo, consent or bot gate)?"""
    return any(hop.status not in PERMANENT for hop in fetched.redirects)
