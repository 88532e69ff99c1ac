"""Read one response: status, selected headers, and a body prefix with hard bounds -- raw
bytes in, at most ``limit`` decoded bytes out.

httpx's own decoders are not used on hostile input: measured, they hand back a 64-256 MiB
first chunk from a gzip or brotli bomb before the caller can stop. Instead we read the raw
stream and decode it ourselves with an output limit per call (``zlib`` ``max_length``,
brotli's ``output_buffer_limit``), so memory stays near ``limit`` + one network read.

* ``Content-Encoding`` must name at most one coding among gzip/x-gzip/deflate/br (identity
  tokens aside, and never more than 5 tokens in all); stacked or unknown codings fail with
  ``bad_encoding`` before the body is read.
* Corrupt or truncated compressed data fails with ``decoding`` and no partial body.
* Reading stops, without error, once ``limit`` decoded bytes are in hand, once ``</head>``
  plus ``after_head`` bytes have been read (pages: the body's start holds the h1, JSON-LD and
  <time> that dates need; measured on shared/pages: head only gives 60% of dates, head +
  128 KiB 85%, 512 KiB 86%), or once ``limit`` + 64 KiB
  raw bytes were read without reaching the limit (a stream of empty compressed blocks).
* A short unread rest (declared length, at most ``DRAIN_BYTES``) is read and dropped so the
  connection can be reused; a longer or unknown one is never read.

* A declared ``Content-Length`` above 1 GiB is ``too_large`` and never read; a smaller one
  above the cap is read up to the cap (pages only need their head).

This module must not open connections, follow redirects or retry, nor parse HTML.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import zlib
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field

import brotli  # type: ignore[import-untyped]
import httpx

from enricher.config import MAX_DECLARED_BYTES, FetchConfig
from enricher.models import LinkKind
from enricher.net.client import BodyError, Evidence, failure_of
from enricher.net.retry import retry_after

RAW_SLACK = 64 * 1024
DRAIN_BYTES = 32 * 1024  # unread rest of a body we read to keep the connection alive
_MAX_TOKENS = 5
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
CHECKED_ERROR_STATUS = frozenset({404, 410})  # dead answers whose page start is checked
ERROR_PAGE_BYTES = 16 * 1024  # of such a page: enough for any bot wall's markers
# a 404/410 page's read failures before any of it was seen (a length over 1 GiB, an unknown
# or stacked coding): no wall either, the status decides (a slow, cut or broken one may be)
UNSEEN_FAILURES = frozenset({"too_large", "bad_encoding"})
_KNOWN = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate", "br": "br"}
# real compressions we do not undo (never asked for in Accept-Encoding): their bytes are
# no page; any other single token is taken as no coding at all
_UNDOABLE = frozenset({"zstd", "compress", "x-compress", "pack200-gzip", "exi", "dcb", "dcz",
                       "aes128gcm", "bzip2", "x-bzip2", "lzma", "xz", "snappy", "lz4"})


def coding_of(header: str | None) -> str | None:
    """The one content coding to undo (None: identity). Raises BodyError(bad_encoding) for
    stacked codings and for a compression it cannot undo."""
    if not header:
        return None
    tokens = [t.strip().lower() for t in header.split(",")]
    tokens = [t for t in tokens if t]
    if len(tokens) > _MAX_TOKENS:
        raise BodyError("bad_encoding", f"{len(tokens)} content codings")
    real = [t for t in tokens if t != "identity"]
    if len(real) > 1:
        raise BodyError("bad_encoding", f"stacked content codings: {', '.join(real[:5])}")
    if not real:
        return None
    coding = _KNOWN.get(real[0])
    if coding is None and real[0] in _UNDOABLE:
        raise BodyError("bad_encoding", f"content coding {real[0][:40]!r} not supported")
    # another token ("utf-8", "binary", "none": a misconfigured server, S3 metadata) codes
    # nothing: the bytes pass as they are, as browsers take them
    return coding


class BoundedDecoder:
    """Undo one content coding, never producing more than ``limit`` bytes in all."""

    def __init__(self, coding: str | None, limit: int) -> None:
        self.coding = coding
        self.room = max(0, limit)
        self._first = True  # nothing fed yet
        self._sniff: bytes | None = b"" if coding == "deflate" else None
        self._zlib: zlib._Decompress | None = None
        self._brotli: brotli.Decompressor | None = None
        if coding == "gzip":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj()
        elif coding == "br":
            self._brotli = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        if self.room <= 0 or not data:
            return b""
        try:
            if self._zlib is not None:
                out = self._inflate(data)
            elif self._brotli is not None:
                out = self._brotli.process(data, output_buffer_limit=self.room)[: self.room]
            else:
                out = data[: self.room]
        except (zlib.error, brotli.error) as exc:
            raise BodyError("decoding", f"corrupt {self.coding} data: {exc}") from exc
        self._first = False
        self.room -= len(out)
        return out

    def _inflate(self, data: bytes) -> bytes:
        assert self._zlib is not None
        sniff = self._sniff
        if sniff is None:
            return self._zlib.decompress(data, self.room)
        data = sniff + data  # deflate: zlib-wrapped or raw? its first two bytes tell
        if len(data) < 2:
            self._sniff = data
            return b""
        self._sniff = None
        try:
            return self._zlib.decompress(data, self.room)
        except zlib.error:
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as servers send
            return self._zlib.decompress(data, self.room)

    def finish(self) -> None:
        """The raw stream ended: fail if the compressed data was cut short. An empty body
        is empty, not cut short (browsers and httpx read it so)."""
        if self._first:
            return
        if self._zlib is not None and not self._zlib.eof:
            raise BodyError("decoding", f"truncated {self.coding} data")
        if self._brotli is not None and not self._brotli.is_finished():
            raise BodyError("decoding", "truncated br data")


async def read_bounded(
    raw: AsyncIterable[bytes],
    decoder: BoundedDecoder,
    *,
    limit: int,
    stop_at_head: bool,
    count: Callable[[int], None],
    after_head: int = 0,
    expected: int | None = None,
) -> bytes:
    """Decoded body prefix (see the module docstring). ``count(n)`` is told every raw read.

    Once we have what we need, a body whose declared length (``expected``) leaves at most
    ``DRAIN_BYTES`` unread is read to its end and discarded, so the connection can be reused;
    anything longer is left unread (the caller closes the stream and the connection)."""
    body = bytearray()
    raw_total = 0
    scan_from = 0
    result: bytes | None = None
    try:
        async for chunk in raw:
            raw_total += len(chunk)
            count(len(chunk))
            if result is not None:
                continue  # draining a short remainder
            out = decoder.feed(chunk)
            if out:
                body += out
                if stop_at_head:
                    match = _HEAD_END.search(body, max(0, scan_from - 16))
                    if match is not None:  # what extraction needs ends a little after the head
                        stop_at_head = False
                        limit = min(limit, match.end() + after_head)
                    scan_from = len(body)
            if result is None and (len(body) >= limit or raw_total >= limit + RAW_SLACK):
                result = bytes(body[:limit])
            if result is not None and not drainable(expected, raw_total):
                return result
    except Exception:
        if result is None:
            raise
        return result  # the rest was read only for keep-alive: its failure is not the page's
    if result is None:
        decoder.finish()
        result = bytes(body)
    return result


_AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*")  # scheme and host of a URL


def location_text(value: str | None) -> str | None:
    """A ``Location`` value as browsers read it: header bytes (decoded here as latin-1) that
    form valid UTF-8 are UTF-8 (``/caf\u00c3\u00a9`` is ``/caf\u00e9``; the URL cleaner then
    percent-encodes it as UTF-8); anything else keeps its bytes, percent-encoded (``/caf\xe9``
    is ``/caf%E9``), so a latin-1 server gets back the path it named."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # the path's bytes as %XX; a host keeps its characters (IDNA)
        authority = _AUTHORITY.match(value)
        cut = authority.end() if authority else 0
        return value[:cut] + "".join(c if c < "\x80" else f"%{ord(c):02X}" for c in value[cut:])


def drainable(expected: int | None, done: int) -> bool:
    """Is the unread rest of a body short enough to read and drop for keep-alive?"""
    return expected is not None and 0 <= expected - done <= DRAIN_BYTES


async def drain(raw: AsyncIterable[bytes], expected: int | None,
                count: Callable[[int], None]) -> None:
    """Read and drop a short unread body (see ``read_bounded``); one that runs past its
    declared length (chunked framing wins over a Content-Length sent with it) is left."""
    if not drainable(expected, 0) or not expected:
        return
    done = 0
    async for chunk in raw:
        count(len(chunk))
        done += len(chunk)
        if done > expected:
            return


# --- one response -> Reply ------------------------------------------------------------------

HTML_TYPES = ("text/html", "application/xhtml+xml")
KEPT_HEADERS = frozenset({
    "content-type", "content-length", "content-encoding", "location", "retry-after", "etag",
    "last-modified", "server", "cf-mitigated", "x-datadome", "x-amzn-waf-action", "refresh"})


@dataclass(frozen=True, slots=True)
class Reply:
    """One attempt: what came back (or why nothing did)."""

    http_status: int | None = None
    failure: str | None = None
    detail: str | None = None
    connect_stage: bool = False  # failed before a connection existed (feeds the breaker)
    evidence: Evidence | None = None  # what a failure says about the network (outage guard)
    retry_after: float | None = None
    location: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # KEPT_HEADERS, lower-case
    body: bytes = b""


def _proxy_answer(response: httpx.Response) -> str | None:
    """What shows an error answer is the proxy's own (squid marks its pages, a 403 access
    denial too, with ``X-Squid-Error``; Privoxy answers a name it cannot resolve "404 No such
    domain"; a 407 is only ever a proxy's), or None: a site's own answer passed on."""
    if response.status_code == 407:
        return "it wants credentials: put them in the proxy URL, http://user:password@host:port"
    if (squid := response.headers.get("x-squid-error")) is not None:
        return f"X-Squid-Error: {squid[:80]}"
    phrase = response.extensions.get("reason_phrase", b"")
    if response.status_code in (404, 410) and isinstance(phrase, bytes) and \
            phrase.lower().startswith(b"no such domain"):
        return "404 No such domain: it could not resolve the site"
    return None


async def read_response(
    response: httpx.Response,
    *,
    method: str,
    kind: LinkKind,
    config: FetchConfig,
    now: Callable[[], float],
    count: Callable[[int], None],
    proxied: bool = False,
) -> Reply:
    """Status, selected headers and what the kind needs of the body. Bodies are read only for
    2xx (and for pages and reachability only when HTML); 3xx bodies never; other short bodies
    are drained for keep-alive. ``now`` is the wall clock (Retry-After dates). ``proxied``:
    a plain http request the proxy forwarded (an https one goes through a tunnel, where the
    proxy writes nothing), whose own error page is no verdict on the URL."""
    status = response.status_code
    raw = response.headers.raw
    if sum(len(k) + len(v) for k, v in raw) > config.max_header_bytes:
        return Reply(failure="protocol", detail="response headers too large",
                     evidence=Evidence.UP)
    if proxied and status >= 400 and (why := _proxy_answer(response)):
        return Reply(failure="proxy", detail=f"the proxy answered {status} itself ({why})",
                     evidence=Evidence.PROXY)  # the site never answered: the proxy refused
    kept: dict[str, str] = {}
    several = False  # Location headers that disagree: browsers refuse such a redirect
    for raw_name, raw_value in raw:  # one pass; repeated fields are joined as httpx does
        name = raw_name.decode("latin-1").lower()
        if name in KEPT_HEADERS:
            value = raw_value.decode("latin-1")
            if name in kept:
                several = several or (name == "location" and kept[name] != value)
                value = kept[name] if name == "location" else f"{kept[name]}, {value}"
            kept[name] = value
    if "content-type" in kept:
        kept["content-type"] = last_media_type(kept["content-type"])
    if 300 <= status < 400:  # never read a redirect's body
        if several:
            return Reply(http_status=status, failure="bad_redirect", headers=kept,
                         detail="several different Location headers", evidence=Evidence.UP)
        return Reply(http_status=status, location=location_text(kept.get("location")),
                     headers=kept)
    wait = retry_after(kept, now()) if "retry-after" in kept else None
    stream: AsyncIterable[bytes] = response.stream  # type: ignore[assignment]
    ctype = kept.get("content-type", "").split(";", 1)[0].strip().lower()
    # a 404 or 410 page is read (its start) too: a bot wall served with such a status is
    # told apart by its body, and must never read as dead
    wall_check = status in CHECKED_ERROR_STATUS and method != "HEAD" and ctype in HTML_TYPES
    if kind is LinkKind.PAGE and ctype.startswith("image/"):
        kind = LinkKind.IMAGE  # an image cited as a page too: read what its probe needs
    if not wall_check and (method == "HEAD" or not 200 <= status < 300
                           or (kind is not LinkKind.IMAGE and ctype not in HTML_TYPES)):
        with contextlib.suppress(Exception):  # best effort: the status is what matters
            async with asyncio.timeout(min(1.0, config.read_timeout)):
                await drain(stream, declared_length(kept.get("content-length")), count)
        return Reply(http_status=status, retry_after=wait, headers=kept)
    limit = ERROR_PAGE_BYTES if wall_check else {
        LinkKind.PAGE: config.page_bytes, LinkKind.IMAGE: config.image_bytes,
        LinkKind.REACH: config.reach_bytes}[kind]
    try:
        declared = declared_length(kept.get("content-length"))
        decoder = BoundedDecoder(coding_of(kept.get("content-encoding")), limit)
        body = await read_bounded(stream, decoder, limit=limit, count=count,
                                  stop_at_head=kind is LinkKind.PAGE and not wall_check,
                                  expected=declared,
                                  after_head=config.page_after_head_bytes)
    except Exception as exc:
        failed = failure_of(exc)
        if wall_check and failed.token in UNSEEN_FAILURES:  # nothing of the page to see: a
            return Reply(http_status=status, retry_after=wait, headers=kept)  # 404 is dead
        return Reply(http_status=status, failure=failed.token, detail=failed.detail,
                     retry_after=wait, headers=kept)
    return Reply(http_status=status, headers=kept, body=body)


def last_media_type(value: str) -> str:
    """A Content-Type sent twice, or as a list (``text/html; charset=utf-8, text/html``), as
    browsers read it (WHATWG Fetch, "extract a MIME type"): the last ``type/subtype`` item,
    keeping the charset of an earlier item of the same type when it names none. A comma
    inside a quoted parameter is rare enough to ignore."""
    if "," not in value:
        return value
    chosen, essence, charset = value, "", ""
    for item in value.split(","):
        kind = item.split(";", 1)[0].strip().lower()
        if "/" not in kind or "*" in kind:
            continue
        found = _CHARSET.search(item)
        if kind != essence:
            essence, charset = kind, found.group(0) if found else ""
        elif found:
            charset = found.group(0)
        chosen = item.strip()
    if charset and _CHARSET.search(chosen) is None:
        chosen = f"{chosen}; {charset.strip(' ;')}"
    return chosen


_CHARSET = re.compile(r";\s*charset=[^;]*", re.IGNORECASE)


def declared_length(value: str | None) -> int | None:
    """Declared Content-Length; BodyError for nonsense or a body too large to touch."""
    if value is None:
        return None
    try:
        declared = int(value.strip())
    except ValueError:
        raise BodyError("protocol", f"bad Content-Length {value[:40]!r}") from None
    if declared > MAX_DECLARED_BYTES:
        raise BodyError("too_large", f"Content-Length {declared} (cap {MAX_DECLARED_BYTES}): "
                                     "body not read")
    return declared
