"""h1 and body together: keep-alive after answers nobody reads to the end, and bodies that
run past their declared length, against raw servers on 127.0.0.1."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_h1 import TIMEOUTS, Raw, serve_each, transport

from enricher.config import FetchConfig
from enricher.models import LinkKind
from enricher.net.body import read_response


async def _closed_unread(method: str, reply: bytes) -> int:
    """Three requests whose responses are closed without reading their body (as
    ``read_response`` does for HEAD answers, redirects and bodies it does not need);
    the number of connections the server saw."""
    async with Raw(serve_each(lambda head: reply)) as srv:
        t = transport()
        for i in range(3):
            response = await t.handle_async_request(
                httpx.Request(method, srv.url(f"/{i}"), extensions={"timeout": TIMEOUTS}))
            await response.aclose()
        await t.aclose()
        return srv.connections


@pytest.mark.parametrize(("method", "reply"), [
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"),  # dynamic page: no length
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ("GET", b"HTTP/1.1 301 Moved\r\nLocation: /x/\r\nContent-Length: 0\r\n\r\n"),
    ("GET", b"HTTP/1.1 302 Found\r\nLocation: /x/\r\nContent-Length: 5\r\n\r\nmoved"),
    ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
    ("GET", b"HTTP/1.1 302 Found\r\nLocation: /x/\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nmoved\r\n0\r\n\r\n"),
], ids=["head-no-length", "head-length-0", "301-empty", "302-short", "204", "302-chunked"])
def test_an_answer_already_complete_keeps_its_connection(method: str, reply: bytes) -> None:
    """Before: every response closed unread dropped its connection, so each HEAD of a
    dynamic page and each same-host redirect paid a new TCP (and TLS) handshake."""
    assert asyncio.run(_closed_unread(method, reply)) == 1


@pytest.mark.parametrize(("method", "reply"), [
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),  # a body after HEAD
    ("GET", b"HTTP/1.1 204 No Content\r\n\r\nhello"),  # a body after 204
    ("GET", b"HTTP/1.1 302 Found\r\nLocation: /x/\r\nContent-Length: 50000\r\n\r\nmoved"),
    ("GET", b"HTTP/1.1 302 Found\r\nLocation: /x/\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nmoved\r\n0\r\n\r\n"),
    ("GET", b"HTTP/1.1 302 Found\r\nLocation: /x/\r\nContent-Length: 0\r\n"
            b"Connection: close\r\n\r\n"),
], ids=["head-with-body", "204-with-body", "body-still-coming", "bad-chunk", "connection-close"])
def test_an_unfinished_or_broken_answer_still_closes_its_connection(
        method: str, reply: bytes) -> None:
    assert asyncio.run(_closed_unread(method, reply)) == 3


def test_a_dead_status_body_past_its_declared_length_is_not_drained() -> None:
    """A 404 (not HTML) is drained for keep-alive when its Content-Length is short; with
    chunked framing as well (which wins) the length lies, and the chunks never end. Before,
    the drain read them at full speed until its 1 s timeout (hundreds of MB on loopback)."""
    chunk = b"%x\r\n%s\r\n" % (60_000, b"z" * 60_000)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(chunk)
            await writer.drain()

    async def main() -> tuple[int | None, int]:
        seen = 0

        def count(n: int) -> None:
            nonlocal seen
            seen += n

        async with Raw(handler) as srv:
            t = transport()
            response = await t.handle_async_request(
                httpx.Request("GET", srv.url(), extensions={"timeout": TIMEOUTS}))
            try:
                reply = await read_response(response, method="GET", kind=LinkKind.PAGE,
                                            config=FetchConfig(), now=lambda: 0.0, count=count)
            finally:
                await response.aclose()
            await t.aclose()
        return reply.http_status, seen

    status, seen = asyncio.run(main())
    assert status == 404
    assert seen <= 10 + 256 * 1024  # stopped at the first read past the declared length
