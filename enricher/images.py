"""Image probing: the first bytes of an image response -> type, pixel size, content-type check.

``probe_image(prefix, content_type)`` recognises JPEG, PNG, GIF, WebP (VP8, VP8L, VP8X), AVIF,
SVG, ICO and BMP from a prefix of the body (the fetcher reads ``DEFAULT_IMAGE_BYTES``) and
compares what the bytes are with what the ``Content-Type`` header claims. It is pure: it must
not do I/O, must never raise on any bytes, and must stay linear in the prefix length on hostile
input. Sizes are the stored (coded) pixel size; EXIF orientation and AVIF ``irot`` are not
applied. A size is None rather than a guess: when the header is cut off by the prefix (a JPEG
whose SOF sits after large EXIF/ICC segments, an SVG start tag that is not complete) the type is
still reported.

Who parses what (measured with imagesize 2.0.1, see tests/test_images.py):

* ``imagesize`` (given a ``BytesIO``, never bytes or str: those are opened as a path or URL)
  reads JPEG, PNG and AVIF. It is correct on every truncated prefix we tried and returns
  ``(-1, -1)`` when the header is incomplete. It is always called with
  ``exif_rotation=False``: with rotation on it parses AVIF ``iloc`` boxes whose zero-sized
  extents are looped over without consuming bytes (a 590-byte file took 1.7 s; 64 KiB, minutes).
* Small parsers here for the rest, because imagesize is wrong or silent on them: GIF (reads the
  size as signed: 40000 px -> -25536), WebP VP8 (ignores the scale bits: 300 px -> 16684),
  BMP (misreads OS/2 core headers: 3x2 -> 131075x1572865), SVG (misses a BOM, comments before
  ``<svg``, ``viewBox``; reads any ``<?xml`` document, e.g. RSS, as SVG) and ICO (unsupported).
"""

from __future__ import annotations

import io
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import imagesize

from enricher.config import MAX_IMAGE_SIDE_PX
from enricher.models import ImageInfo

Size = tuple[int, int]

_MAX_SIDE = MAX_IMAGE_SIDE_PX  # larger values are garbage, not pixels


class Mismatch(StrEnum):
    """Why the bytes and the Content-Type header disagree. A closed set of reason tokens."""

    NOT_AN_IMAGE = "not_an_image"  # the body is not an image (HTML error page, empty, ...)
    CONTENT_TYPE_MISMATCH = "content_type_mismatch"  # an image, but the header names another type
    CONTENT_TYPE_MISSING = "content_type_missing"  # an image served without a Content-Type


@dataclass(frozen=True, slots=True)
class Probe:
    """What the first bytes of an image URL are.

    ``info`` has the type and, when the header is complete, width/height (``url`` left None);
    it is None when the bytes are not one of the eight types we read (TIFF, HEIC, JPEG XL and
    JPEG 2000 are recognised only to judge the Content-Type). ``mismatch`` is a ``Mismatch``
    token or None; ``detail`` says it for humans, e.g. "content-type image/png but bytes are
    jpeg". ``info`` None with ``mismatch`` None: an image type we do not read, served as such.
    """

    info: ImageInfo | None
    mismatch: str | None
    detail: str | None = None


#: Media types that are correct for each type we recognise (lower case, no parameters).
_MEDIA_TYPES: dict[str, frozenset[str]] = {
    "jpeg": frozenset({"image/jpeg", "image/jpg", "image/pjpeg", "image/jfif"}),
    "png": frozenset({"image/png", "image/x-png", "image/apng"}),
    "gif": frozenset({"image/gif"}),
    "webp": frozenset({"image/webp"}),
    "avif": frozenset({"image/avif", "image/avif-sequence"}),
    "svg": frozenset({"image/svg+xml", "image/svg"}),
    "ico": frozenset({"image/x-icon", "image/vnd.microsoft.icon", "image/ico", "image/icon"}),
    "bmp": frozenset({"image/bmp", "image/x-bmp", "image/x-ms-bmp"}),
    # images we can name but do not measure; info stays None
    "tiff": frozenset({"image/tiff", "image/tiff-fx"}),
    "heif": frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"}),
    "jxl": frozenset({"image/jxl"}),
    "jp2": frozenset({"image/jp2", "image/jpx", "image/jpm"}),
}
_SNIFFABLE_MEDIA = frozenset().union(*_MEDIA_TYPES.values())


# --- sizes ------------------------------------------------------------------------------------


def _size(width: int, height: int) -> Size | None:
    return (width, height) if 0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE else None


def _imagesize(data: bytes) -> Size | None:
    try:
        width, height = imagesize.get(io.BytesIO(data), exif_rotation=False)
    except Exception:  # a third-party parser must never end a run
        return None
    if isinstance(width, int) and isinstance(height, int):
        return _size(width, height)
    return None


def _gif_size(data: bytes) -> Size | None:
    if len(data) < 10:
        return None
    return _size(*struct.unpack_from("<HH", data, 6))


def _webp_size(data: bytes) -> Size | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return _size(width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return _size((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return _size(width, height)
    return None


def _bmp_size(data: bytes) -> Size | None:
    if _dib_header(data) == 12 and len(data) >= 22:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit
        return _size(*struct.unpack_from("<HH", data, 18))
    if len(data) >= 26:
        width, height = struct.unpack_from("<ii", data, 18)
        return _size(width, abs(height))  # negative height: rows stored top-down
    return None


def _ico_size(data: bytes) -> Size | None:
    """The largest entry of the directory, once every entry is in the prefix; 0 means 256."""
    count = int.from_bytes(data[4:6], "little")
    if len(data) < 6 + 16 * count:
        return None
    best: Size | None = None
    for offset in range(6, 6 + 16 * count, 16):
        side = (data[offset] or 256, data[offset + 1] or 256)
        if best is None or side[0] * side[1] > best[0] * best[1]:
            best = side
    return best


# --- SVG --------------------------------------------------------------------------------------

_MAX_SVG_PROLOG_ITEMS = 64  # declarations, comments, doctype before <svg>; real files have < 5
_MAX_SVG_ATTRIBUTES = 256  # on the <svg> start tag; real files have < 30
_WS = re.compile(r"\s*")
_DOCTYPE_SUBSET_END = re.compile(r"\]\s*>")
_SVG_OPEN = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?svg(?=[\s/>])")
_ATTR = re.compile(r"""\s+([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_TAG_END = re.compile(r"\s*/?>")
_LENGTH = re.compile(r"\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:px)?\s*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")
_MARKUP_START = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*<")


def _svg_text(data: bytes) -> str:
    """Decode enough to read markup: UTF-16 by BOM or by a leading ``<``; else Latin-1 (the
    markup we read is ASCII, and Latin-1 never fails)."""
    if data.startswith(_UTF16_STARTS):
        le = data[:2] in (b"\xff\xfe", b"<\x00")
        return data.decode("utf-16-le" if le else "utf-16-be", "replace").lstrip("\ufeff")
    return data.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def _svg_start(text: str) -> int | None:
    """Index just after ``<svg`` when it is the first element, past the XML declaration,
    processing instructions, comments and a DOCTYPE (with internal subset); else None."""
    pos = 0
    for _ in range(_MAX_SVG_PROLOG_ITEMS):
        space = _WS.match(text, pos)
        pos = space.end() if space else pos
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            skip = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            skip = end + 3
        elif text[pos : pos + 9].upper() == "<!DOCTYPE":
            end = text.find(">", pos)
            bracket = text.find("[", pos, end if end >= 0 else len(text))
            if bracket >= 0:
                subset = _DOCTYPE_SUBSET_END.search(text, bracket)
                end = subset.end() - 1 if subset else -1
            skip = end + 1
        else:
            match = _SVG_OPEN.match(text, pos)
            return match.end() if match else None
        if end < 0:
            return None
        pos = skip
    return None


def _svg_length(value: str | None) -> float | None:
    """A width/height in px or without unit; percentages and other units are not pixels."""
    match = _LENGTH.fullmatch(value) if value is not None else None
    if match is None:
        return None
    number = float(match.group(1))
    return number if 0 < number <= _MAX_SIDE else None


def _svg_viewbox(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = re.split(r"[\s,]+", value.strip())
    if len(parts) != 4 or not all(_NUMBER.fullmatch(part) for part in parts):
        return None
    width, height = float(parts[2]), float(parts[3])
    ok = 0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE
    return (width, height) if ok else None


def _svg_size(text: str, pos: int) -> Size | None:
    """Size from the attributes of the ``<svg>`` start tag at ``pos``; None until the tag is
    complete in the prefix."""
    attrs: dict[str, str] = {}
    for _ in range(_MAX_SVG_ATTRIBUTES):
        if _TAG_END.match(text, pos):
            break
        attr = _ATTR.match(text, pos)
        if attr is None:  # cut off by the prefix, or malformed
            return None
        name, *values = attr.groups()
        value = next((v for v in values if v is not None), "")
        attrs.setdefault(name if name == "viewBox" else name.lower(), value)
        pos = attr.end()
    else:
        return None  # hostile: more attributes than any real file
    width, height = _svg_length(attrs.get("width")), _svg_length(attrs.get("height"))
    box = _svg_viewbox(attrs.get("viewBox", attrs.get("viewbox")))
    if box is not None and (width is None or height is None):
        if width is not None:
            height = width * box[1] / box[0]
        elif height is not None:
            width = height * box[0] / box[1]
        else:
            width, height = box
    if width is None or height is None or not math.isfinite(width * height):
        return None
    return _size(round(width), round(height))


# --- recognition ------------------------------------------------------------------------------

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_BMP_HEADERS = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _iso_kind(data: bytes) -> str | None:
    """avif/heif from a complete ``ftyp`` box (major and compatible brands); None otherwise
    (video, or the box is not yet in the prefix)."""
    size = int.from_bytes(data[:4], "big")
    if size < 16 or size > len(data):
        return None
    # major brand at 8, minor version at 12, compatible brands from 16
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "avif"
    return "heif" if brands & _HEIF_BRANDS else None


def _dib_header(data: bytes) -> int:
    return int.from_bytes(data[14:18], "little")


def _ico_ok(data: bytes) -> bool:
    if data[:4] != b"\x00\x00\x01\x00" or len(data) < 6 or data[4:6] == b"\x00\x00":
        return False
    return len(data) < 22 or data[10:12] in (b"\x00\x00", b"\x01\x00")  # planes 0 or 1


SvgAt = tuple[str, int]  # decoded text, index just after "<svg"


def _sniff(data: bytes) -> tuple[str | None, SvgAt | None]:
    """The type named by the first bytes; for SVG also where its start tag's attributes are."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg", None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png", None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif", None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp", None
    if head[4:8] == b"ftyp":
        return _iso_kind(data), None
    if head[:2] == b"BM" and len(data) >= 18 and _dib_header(data) in _BMP_HEADERS:
        return "bmp", None
    if _ico_ok(data):
        return "ico", None
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff", None
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "jxl", None
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return "jp2", None
    if data.startswith(_UTF16_STARTS) or _MARKUP_START.match(data):
        text = _svg_text(data)
        start = _svg_start(text)
        if start is not None:
            return "svg", (text, start)
    return None, None


_SIZE_READERS: dict[str, Callable[[bytes], Size | None]] = {
    "jpeg": _imagesize,
    "png": _imagesize,
    "avif": _imagesize,
    "gif": _gif_size,
    "webp": _webp_size,
    "bmp": _bmp_size,
    "ico": _ico_size,
}
_MEASURED = frozenset({*_SIZE_READERS, "svg"})


_BINARY = "not a recognised image"
_HTML_TAG = re.compile(rb"<(?:!doctype\s+html|html|head|body|title)\b")


def _describe(data: bytes) -> str:
    """A word for bytes that are not an image, for the detail text."""
    if not data:
        return "empty"
    text = data[:1024].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"<") and _HTML_TAG.search(text):
        return "html"
    if all(byte >= 0x20 or byte in b"\t\n\r\f" for byte in data[:512]):
        return "text"
    return _BINARY


_NOT_VISIBLE = re.compile(r"[^!-~]")


def _media_type(content_type: str | None) -> str | None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return _NOT_VISIBLE.sub("?", media[:100]) or None


def _label_check(media: str | None, kind: str) -> tuple[Mismatch | None, str | None]:
    if media is None:
        return Mismatch.CONTENT_TYPE_MISSING, f"no content-type; bytes are {kind}"
    if media in _MEDIA_TYPES[kind]:
        return None, None
    return Mismatch.CONTENT_TYPE_MISMATCH, f"content-type {media} but bytes are {kind}"


def probe_image(prefix: bytes, content_type: str | None) -> Probe:
    """Type, pixel size and content-type agreement of an image from its first bytes.

    Never raises. Do not probe the empty body of a 304 (not modified) response: an empty body
    is reported as not an image.
    """
    media = _media_type(content_type)
    kind, svg = _sniff(prefix)
    if kind is None:
        what = _describe(prefix)
        if media is None:
            return Probe(None, Mismatch.NOT_AN_IMAGE, f"no content-type and bytes are {what}")
        if media.startswith("image/") and media not in _SNIFFABLE_MEDIA and what == _BINARY:
            return Probe(None, None)  # an image type we cannot read: no evidence either way
        if not media.startswith("image/"):
            return Probe(None, Mismatch.NOT_AN_IMAGE, f"content-type {media} is not an image")
        return Probe(None, Mismatch.NOT_AN_IMAGE, f"content-type {media} but bytes are {what}")
    mismatch, detail = _label_check(media, kind)
    if kind not in _MEASURED:
        return Probe(None, mismatch, detail)
    size = _svg_size(*svg) if svg is not None else _SIZE_READERS[kind](prefix)
    width, height = size if size is not None else (None, None)
    return Probe(ImageInfo(type=kind, width=width, height=height), mismatch, detail)
