"""body: content-coding policy, the bounded decoder, and bounded reading."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import brotli  # type: ignore[import-untyped]
import pytest

from enricher.net.body import (
    RAW_SLACK,
    BoundedDecoder,
    coding_of,
    declared_length,
    drain,
    location_text,
    read_bounded,
)
from enricher.net.client import BodyError


@pytest.mark.parametrize(("header", "coding"), [
    (None, None), ("", None), ("identity", None), ("gzip", "gzip"), ("x-gzip", "gzip"),
    ("GZIP", "gzip"), ("deflate", "deflate"), ("br", "br"), ("identity, gzip", "gzip"),
    (" br ", "br"),
    # a single token that names no compression: a misconfigured server (S3 metadata
    # "utf-8" on images); browsers take the bytes as they are
    ("utf-8", None), ("UTF-8", None), ("binary", None), ("none", None), ("xyz", None),
])
def test_codings(header: str | None, coding: str | None) -> None:
    assert coding_of(header) == coding


@pytest.mark.parametrize("header", ["gzip, gzip", "gzip, br", "gzip, xyz", "zstd", "compress",
                                    "utf-8, gzip",
                                    ", ".join(["identity"] * 6), ", ".join(["identity"] * 5000)])
def test_refused_codings(header: str) -> None:
    with pytest.raises(BodyError) as info:
        coding_of(header)
    assert info.value.failure == "bad_encoding"


def chunks(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def decode_all(coding: str | None, data: bytes, limit: int) -> bytes:
    decoder = BoundedDecoder(coding, limit)
    out = b"".join(decoder.feed(c) for c in chunks(data))
    return out


def test_bombs_never_exceed_the_limit_per_call() -> None:
    zeros = bytes(16 << 20)
    for coding, data in (("gzip", gzip.compress(zeros)), ("br", brotli.compress(zeros)),
                         ("deflate", zlib.compress(zeros))):
        decoder = BoundedDecoder(coding, 1000)
        pieces = [decoder.feed(c) for c in chunks(data, 4096)]
        assert max(len(p) for p in pieces) <= 1000
        assert sum(len(p) for p in pieces) == 1000, coding


def test_raw_deflate_and_round_trips() -> None:
    text = b"<html><head><title>x</title></head>" * 100
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = raw.compress(text) + raw.flush()
    assert decode_all("deflate", raw_deflate, 10**6) == text
    assert decode_all("deflate", zlib.compress(text), 10**6) == text
    assert decode_all("gzip", gzip.compress(text), 10**6) == text
    assert decode_all("br", brotli.compress(text), 10**6) == text
    assert decode_all(None, text, 100) == text[:100]


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate"])
def test_lying_encoding_fails(coding: str) -> None:
    with pytest.raises(BodyError) as info:
        decode_all(coding, b"<html><head><title>plain</title></head>" * 10, 10**6)
    assert info.value.failure == "decoding"


@pytest.mark.parametrize(("coding", "data"), [
    ("gzip", gzip.compress(bytes(range(256)) * 400)[:500]),
    ("br", brotli.compress(bytes(range(256)) * 400)[:60]),
])
def test_truncated_streams_fail_at_the_end(coding: str, data: bytes) -> None:
    decoder = BoundedDecoder(coding, 10**6)
    decoder.feed(data)
    with pytest.raises(BodyError) as info:
        decoder.finish()
    assert info.value.failure == "decoding"


async def _source(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def read(parts: list[bytes], limit: int, *, head: bool = True,
         expected: int | None = None, after_head: int = 0) -> tuple[bytes, int]:
    seen = 0

    def count(n: int) -> None:
        nonlocal seen
        seen += n

    body = asyncio.run(read_bounded(_source(parts), BoundedDecoder(None, limit), limit=limit,
                                    stop_at_head=head, count=count, expected=expected,
                                    after_head=after_head))
    return body, seen


def test_reads_a_bounded_stretch_after_the_head() -> None:
    parts = [b"<head><title>t</title></head>", b"<body>" + b"x" * 50, b"y" * 100_000]
    body, seen = read(parts, 10**6, after_head=30)
    assert body == b"<head><title>t</title></head><body>" + b"x" * 24
    assert seen == len(parts[0]) + len(parts[1])  # the 100 KB chunk is never read


def test_stops_after_head_case_insensitively_across_chunks() -> None:
    parts = [b"<html><HEAD><title>t</title></HE", b"AD >", b"<body>" + b"x" * 100_000]
    body, seen = read(parts, 10**6)
    assert body == b"<html><HEAD><title>t</title></HEAD >"
    assert seen == len(parts[0]) + len(parts[1])


def test_short_rest_is_drained_long_rest_is_not() -> None:
    parts = [b"<head></head>", b"x" * 1000]
    total = sum(map(len, parts))
    body, seen = read(parts, 10**6, expected=total)
    assert body == b"<head></head>" and seen == total
    body, seen = read([*parts, b"y" * 100000], 10**6, expected=total + 100_000)
    assert seen == len(parts[0])


def test_a_failure_while_draining_keeps_what_was_read() -> None:
    """A server that drops the connection in the short rest we read only for keep-alive:
    the prefix extraction needs is kept. A failure before it is complete still fails."""
    async def dropping(parts: list[bytes]) -> AsyncIterator[bytes]:
        for part in parts:
            yield part
        raise ConnectionResetError("peer closed")

    head = b"<head><title>t</title></head>"

    def read_dropping(parts: list[bytes], expected: int) -> bytes:
        return asyncio.run(read_bounded(dropping(parts), BoundedDecoder(None, 10**6),
                                        limit=10**6, stop_at_head=True, count=lambda n: None,
                                        expected=expected))

    assert read_dropping([head, b"x" * 100], expected=len(head) + 5000) == head
    with pytest.raises(ConnectionResetError):
        read_dropping([b"<head><title>t</title>"], expected=5000)


def test_cap_and_raw_slack() -> None:
    body, seen = read([b"a" * 1000] * 100, 5000, head=False)
    assert body == b"a" * 5000 and seen == 5000
    empty = [b""] * 3 + [b"\x00" * 1000] * 200

    async def main() -> int:
        seen = 0

        def count(n: int) -> None:
            nonlocal seen
            seen += n

        decoder = BoundedDecoder(None, 10)
        decoder.room = 10  # a decoder that produces nothing stops on raw bytes read
        decoder.feed = lambda data: b""  # type: ignore[method-assign]
        await read_bounded(_source(empty), decoder, limit=10, stop_at_head=False, count=count)
        return seen

    assert asyncio.run(main()) <= 10 + RAW_SLACK + 1000


def test_declared_length() -> None:
    assert declared_length(None) is None
    assert declared_length(" 12 ") == 12
    with pytest.raises(BodyError) as info:
        declared_length("12, 13")
    assert info.value.failure == "protocol"
    with pytest.raises(BodyError) as info:
        declared_length("10000000000")
    assert info.value.failure == "too_large"


def test_location_text_reads_utf8_and_keeps_other_bytes() -> None:
    """Header bytes arrive decoded as latin-1. UTF-8 is read as UTF-8; other bytes keep
    their values as %XX in the path and query (what the server named), while a host keeps
    its characters for IDNA (a %XX host would be no host at all)."""
    assert location_text("/caf\u00c3\u00a9") == "/caf\u00e9"
    assert location_text("/caf\xe9-old") == "/caf%E9-old"
    assert location_text("http://caf\xe9.example/x\xe9?q=\xff") == "http://caf\xe9.example/x%E9?q=%FF"
    assert location_text("//caf\xe9.example/p\xe9") == "//caf\xe9.example/p%E9"
    assert location_text("/plain?a=1") == "/plain?a=1" and location_text(None) is None


def test_drain_stops_once_past_the_declared_length() -> None:
    """Chunked framing wins over a Content-Length sent with it (and HTTP/2 does not check
    the length): a body that runs past what was declared is no short rest to drain."""
    seen = 0

    def count(n: int) -> None:
        nonlocal seen
        seen += n

    asyncio.run(drain(_source([b"x" * 1000] * 1000), 10, count))
    assert seen == 1000
    seen = 0
    asyncio.run(drain(_source([b"x" * 4] * 5), 20, count))  # an honest length: all of it
    assert seen == 20


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_an_empty_body_with_a_content_coding_is_empty_not_corrupt(coding: str) -> None:
    """``Content-Encoding: gzip`` on an empty body (a 200 with ``Content-Length: 0``, a
    Refresh page) is an empty page, as browsers and httpx read it, not a decoding failure."""
    decoder = BoundedDecoder(coding, 1000)
    body = asyncio.run(read_bounded(_source([]), decoder, limit=1000, stop_at_head=True,
                                    count=lambda n: None, expected=0))
    assert body == b""  # (a stream cut short is still a failure: see above)


def test_raw_deflate_whose_first_read_is_one_byte() -> None:
    """Raw deflate (what many servers send as ``deflate``) is told from zlib-wrapped data by
    its first two bytes; a first read of one byte (a 1-byte first chunk, a segment boundary)
    was decided on that byte alone and failed as corrupt data."""
    text = b"<html><head><title>x</title></head>" * 10
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = raw.compress(text) + raw.flush()
    for data in (raw_deflate, zlib.compress(text)):
        decoder = BoundedDecoder("deflate", 10**6)
        out = decoder.feed(data[:1]) + decoder.feed(data[1:2]) + decoder.feed(data[2:])
        decoder.finish()
        assert out == text
    decoder = BoundedDecoder("deflate", 10**6)
    decoder.feed(raw_deflate[:1])
    with pytest.raises(BodyError):  # one byte is no deflate stream
        decoder.finish()
