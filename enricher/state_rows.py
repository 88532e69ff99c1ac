"""History rows <-> values: a result's metadata as JSON (and its hash), a stored row as a
``LinkResult``, and which ETag / Last-Modified values are worth keeping.

Pure functions for ``state.py``; this module must not open the database or know SQL.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from enricher.models import ImageInfo, LinkKind, LinkResult, LinkStatus, PageMeta

# --- values <-> JSON (asdict by hand: ten times faster, and 100,000 pages add up) ----------

_PAGE_FIELDS = tuple(n for n in PageMeta.__slots__ if n != "image")
_IMAGE_FIELDS = tuple(ImageInfo.__slots__)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


VALIDATOR_MAX = 512  # bytes of an ETag / Last-Modified worth keeping


def validator(value: str | None) -> str | None:
    """An ETag or Last-Modified value that can be sent back as a request header: printable
    ASCII, at most ``VALIDATOR_MAX`` characters; anything else is not kept (a server's raw
    non-ASCII ETag could not be encoded in If-None-Match, and the URL would fail)."""
    if value is None or len(value) > VALIDATOR_MAX or not value.isascii():
        return None
    return value if value.isprintable() and value.strip() else None


def _image_dict(image: ImageInfo | None) -> dict[str, Any] | None:
    return None if image is None else {n: getattr(image, n) for n in _IMAGE_FIELDS}


def _page_dict(page: PageMeta | None) -> dict[str, Any] | None:
    if page is None:
        return None
    return {**{n: getattr(page, n) for n in _PAGE_FIELDS}, "image": _image_dict(page.image)}


def _image_from(data: Any) -> ImageInfo | None:
    return ImageInfo(**data) if isinstance(data, dict) else None


def _page_from(data: Any) -> PageMeta | None:
    if not isinstance(data, dict):
        return None
    return PageMeta(**{n: data.get(n) for n in _PAGE_FIELDS}, image=_image_from(data.get("image")))


def meta_of(result: LinkResult) -> tuple[str | None, str | None]:
    """(metadata JSON, its hash); (None, None) when there is nothing to keep."""
    if result.page is None and result.image is None and not result.redirects:
        return None, None
    text = _ENCODE({"page": _page_dict(result.page), "image": _image_dict(result.image),
                    "redirects": result.redirects})
    return text, hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def from_row(row: tuple[Any, ...]) -> LinkResult:
    url, kind, status, reason, http_status, final_url, ctype, checked, meta, *since = row
    data = json.loads(meta) if meta else {}
    return LinkResult(
        url=url, kind=LinkKind(kind), status=LinkStatus(status), reason=reason,
        http_status=http_status, final_url=final_url, redirects=tuple(data.get("redirects", ())),
        checked_at=checked, content_type=ctype, page=_page_from(data.get("page")),
        image=_image_from(data.get("image")), reused=True, since=since[0] if since else None,
    )
