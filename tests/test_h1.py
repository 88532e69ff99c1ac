"""h1: the lean HTTP/1.1 transport against raw servers on 127.0.0.1 -- keep-alive and the
pool, body framings, 1xx, timeouts, the trace event, the dial seam and guard, TLS by name,
hostile answers mapped to the same failure tokens as httpcore's."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpcore
import httpx
import pytest
import trustme
from netserver import FakeResolver, LoopbackServer

from enricher.net.client import KEEPALIVE_EXPIRY, PoolTransport, TransportFactory, failure_of
from enricher.net.guard import Guard, GuardError
from enricher.net.h1 import H1Transport, ProtocolFactory, loop_dial
from enricher.net.h1pool import IdleConnections

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
TIMEOUTS = {"connect": 1.0, "read": 1.0, "write": 1.0, "pool": 1.0}


def ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra) + body


class Raw(LoopbackServer):
    """Each connection runs ``handler(reader, writer, number)``; counts connections."""

    def __init__(self, handler: RawHandler, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.handler = handler
        self.connections = 0

    def url(self, path: str = "/", host: str = "a.test") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError,
                asyncio.CancelledError):
            return  # the client went away or the test server is stopping


def serve_each(answer: Callable[[bytes], bytes]) -> RawHandler:
    """Keep-alive: answer every request head with ``answer(head)``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(answer(head))
            await writer.drain()

    return handler


def transport(limit: int = 4, *, expiry: float = KEEPALIVE_EXPIRY, **kw: object) -> H1Transport:
    guard = Guard(FakeResolver({"a.test": ["127.0.0.1"]}), allow_private=True)
    return H1Transport(guard, ssl.create_default_context(), limit, keepalive_expiry=expiry,
                       **kw)  # type: ignore[arg-type]


async def get(t: httpx.AsyncBaseTransport, url: str, method: str = "GET",
              timeouts: dict[str, float] | None = None, **ext: object) -> tuple[int, bytes]:
    request = httpx.Request(method, url, extensions={"timeout": timeouts or TIMEOUTS, **ext})
    response = await t.handle_async_request(request)
    try:
        body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
    finally:
        await response.aclose()
    return response.status_code, body


def token(exc: BaseException) -> str:
    return failure_of(exc).token


# --- keep-alive and the pool ------------------------------------------------------------------

def test_keep_alive_reuses_one_connection_and_head_has_no_body() -> None:
    def answer(head: bytes) -> bytes:
        reply = ok(b"x" * 1000)
        return reply[: reply.index(b"\r\n\r\n") + 4] if head.startswith(b"HEAD") else reply

    async def main() -> tuple[list[tuple[int, bytes]], int]:
        async with Raw(serve_each(answer)) as srv:
            t = transport()
            got = [await get(t, srv.url(f"/{i}"), "HEAD" if i % 2 else "GET") for i in range(4)]
            await t.aclose()
            return got, srv.connections

    got, connections = asyncio.run(main())
    assert got == [(200, b"x" * 1000), (200, b""), (200, b"x" * 1000), (200, b"")]
    assert connections == 1


def test_pool_limit_is_honoured_and_waiters_get_freed_connections() -> None:
    arrived: list[int] = []
    two_in = asyncio.Event()
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            arrived.append(n)
            if len(arrived) == 2:
                two_in.set()
            await release.wait()
            writer.write(ok())
            await writer.drain()

    async def main() -> tuple[list[tuple[int, bytes]], int]:
        async with Raw(handler) as srv:
            t = transport(2)
            tasks = [asyncio.create_task(get(t, srv.url(f"/{i}"))) for i in range(5)]
            await two_in.wait()
            assert srv.connections == 2
            release.set()
            got = await asyncio.gather(*tasks)
            await t.aclose()
            return got, srv.connections

    got, connections = asyncio.run(main())
    assert got == [(200, b"hello")] * 5
    assert connections == 2 and len(arrived) == 5


def test_pool_timeout() -> None:
    busy = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        busy.set()
        await asyncio.Event().wait()  # never answers

    async def main() -> BaseException:
        async with Raw(handler) as srv:
            t = transport(1)
            first = asyncio.create_task(get(t, srv.url("/1")))
            await busy.wait()  # the only connection is taken
            with pytest.raises(httpcore.PoolTimeout) as info:
                await get(t, srv.url("/2"), timeouts={**TIMEOUTS, "pool": 0.05})
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            await t.aclose()
            return info.value

    assert token(asyncio.run(main())) == "timeout"


def test_idle_connection_closed_by_the_peer_is_not_reused() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ok(b"%d" % n))  # keep-alive allowed, then the server closes anyway
        await writer.drain()
        if n == 1:
            writer.close()
            await writer.wait_closed()
            closed.set()
            return
        await serve_each(lambda head: ok(b"again"))(reader, writer, n)

    async def main() -> tuple[list[tuple[int, bytes]], int]:
        async with Raw(handler) as srv:
            t = transport()
            first = await get(t, srv.url("/1"))
            await closed.wait()
            second = await get(t, srv.url("/2"))
            await t.aclose()
            return [first, second], srv.connections

    got, connections = asyncio.run(main())
    assert got == [(200, b"1"), (200, b"2")]
    assert connections == 2


@pytest.mark.parametrize("reply", [
    ok(b"a") + b"unexpected",  # stray bytes after the response
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\na",
    b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na",  # 1.0 without keep-alive
    # both framings: read chunked (RFC 9112), and never trusted with another request
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
    b"1\r\na\r\n0\r\n\r\n",
], ids=["stray-bytes", "connection-close", "http10", "te-and-cl"])
def test_connections_the_server_did_not_keep_are_not_reused(reply: bytes) -> None:
    async def main() -> tuple[list[tuple[int, bytes]], int]:
        async with Raw(serve_each(lambda head: reply)) as srv:
            t = transport()
            got = [await get(t, srv.url(f"/{i}")) for i in range(2)]
            await t.aclose()
            return got, srv.connections

    got, connections = asyncio.run(main())
    assert got == [(200, b"a")] * 2 and connections == 2


def test_expired_idle_connections_are_not_reused() -> None:
    async def main() -> int:
        async with Raw(serve_each(lambda head: ok())) as srv:
            t = transport(expiry=-1.0)  # every idle connection is already too old
            for i in range(2):
                assert await get(t, srv.url(f"/{i}")) == (200, b"hello")
            await t.aclose()
            return srv.connections

    assert asyncio.run(main()) == 2


def test_idle_connections_over_the_shared_cap_are_closed_oldest_first() -> None:
    """Transports sharing one IdleConnections keep at most its limit of idle sockets: a run
    over thousands of hosts must not hold every host's last connection open."""
    closed: list[int] = []
    one_closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(ok())
                await writer.drain()
        except asyncio.IncompleteReadError:
            closed.append(n)
            one_closed.set()

    async def main() -> tuple[int, int, list[int]]:
        names = {name: ["127.0.0.1"] for name in ("a.test", "b.test", "c.test")}
        guard = Guard(FakeResolver(names), allow_private=True)
        shared = IdleConnections(2)
        one, two = (H1Transport(guard, ssl.create_default_context(), 4, idle=shared,
                                keepalive_expiry=KEEPALIVE_EXPIRY) for _ in range(2))
        async with Raw(handler) as srv:
            for t, host in ((one, "a.test"), (two, "b.test"), (one, "c.test")):
                assert await get(t, srv.url("/", host)) == (200, b"hello")
            kept = len(shared)
            await asyncio.wait_for(one_closed.wait(), 5)  # the server sees the evicted one end
            assert await get(two, srv.url("/", "b.test")) == (200, b"hello")  # still kept
            assert await get(one, srv.url("/", "a.test")) == (200, b"hello")  # a new one
            connections = srv.connections
            await one.aclose()
            await two.aclose()
            return kept, connections, closed

    kept, connections, closed_first = asyncio.run(main())
    assert kept == 2
    assert closed_first[0] == 1  # a.test's connection, the oldest idle one
    assert connections == 4  # b.test reused its connection, a.test needed a new one


def test_a_body_not_read_to_its_end_closes_the_connection() -> None:
    big = b"y" * 200_000

    async def main() -> tuple[bytes, tuple[int, bytes], int]:
        async with Raw(serve_each(lambda head: ok(big if b"/big" in head else b"s"))) as srv:
            t = transport()
            response = await t.handle_async_request(
                httpx.Request("GET", srv.url("/big"), extensions={"timeout": TIMEOUTS}))
            async for part in response.stream:  # type: ignore[union-attr]
                first = part
                break
            await response.aclose()
            after = await get(t, srv.url("/small"))
            await t.aclose()
            return first, after, srv.connections

    first, after, connections = asyncio.run(main())
    assert first and big.startswith(first) and len(first) < len(big)
    assert after == (200, b"s") and connections == 2


# --- framings and 1xx -----------------------------------------------------------------------

CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
UNTIL_CLOSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\nhello world"
INFORMATIONAL = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                 + ok(b"hello world"))


@pytest.mark.parametrize(("reply", "status", "body", "reused"), [
    (CHUNKED, 200, b"hello world", True),
    (ok(b"hello world"), 200, b"hello world", True),
    (UNTIL_CLOSE, 200, b"hello world", False),
    (INFORMATIONAL, 200, b"hello world", True),
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 16 + ok(b"hello world"), 200, b"hello world", True),
    (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 204, b"", True),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 304, b"", True),
], ids=["chunked", "content-length", "until-close", "1xx", "16x1xx", "204", "304"])
def test_body_framings(reply: bytes, status: int, body: bytes, reused: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            if reply is UNTIL_CLOSE:
                return

    async def main() -> tuple[list[tuple[int, bytes]], int]:
        async with Raw(handler) as srv:
            t = transport()
            got = [await get(t, srv.url(f"/{i}")) for i in range(2)]
            await t.aclose()
            return got, srv.connections

    got, connections = asyncio.run(main())
    assert got == [(status, body)] * 2
    assert connections == (1 if reused else 2)


def test_response_headers_keep_their_raw_form() -> None:
    reply = b"HTTP/1.1 200 OK\r\nX-Thing: A\r\nx-thing: b\r\nContent-Length: 0\r\n\r\n"

    async def main() -> list[tuple[bytes, bytes]]:
        async with Raw(serve_each(lambda head: reply)) as srv:
            t = transport()
            response = await t.handle_async_request(
                httpx.Request("GET", srv.url(), extensions={"timeout": TIMEOUTS}))
            await response.aclose()
            await t.aclose()
            return response.headers.raw

    assert asyncio.run(main()) == [(b"X-Thing", b"A"), (b"x-thing", b"b"),
                                   (b"Content-Length", b"0")]


def test_a_reused_connection_closed_before_an_answer_is_a_reset() -> None:
    """The server's idle timeout races ours: it closes a kept-alive connection just as the
    next request arrives. Nothing was answered, so that is a (retried) reset, not a protocol
    failure of the site; the same close on a new connection stays a protocol failure."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if n == 1:  # first connection: answer once, then drop the next request unanswered
            writer.write(ok())
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def main() -> tuple[tuple[int, bytes], str, str, int]:
        async with Raw(handler) as srv:
            t = transport()
            first = await get(t, srv.url("/1"))
            with pytest.raises(httpcore.ReadError) as reused:
                await get(t, srv.url("/2"))
            with pytest.raises(httpcore.RemoteProtocolError) as fresh:
                await get(t, srv.url("/3"))
            await t.aclose()
            return first, token(reused.value), token(fresh.value), srv.connections

    first, on_reused, on_fresh, connections = asyncio.run(main())
    assert first == (200, b"hello")
    assert (on_reused, on_fresh) == ("reset", "protocol")
    assert connections == 2


@pytest.mark.parametrize("second", ["close", "reset", "408"])
def test_after_a_reused_connection_broke_the_retry_dials_a_new_one(second: str) -> None:
    """A server that answers once per connection and drops the next request (closes,
    resets, or answers 408 and closes): after one reused connection failed, its idle
    siblings (as old) are closed, so the retry gets a new connection and an answer, not
    another stale one (live URLs ended as error/reset)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ok())
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        if second == "408":
            writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            await writer.drain()
        elif second == "reset":
            _linger_reset(writer)
            return
        writer.close()

    async def broken(t: H1Transport, url: str) -> object:
        if second == "408":
            return await get(t, url)
        with pytest.raises(httpcore.ReadError) as reused:
            await get(t, url)
        return token(reused.value)

    async def main() -> tuple[list[tuple[int, bytes]], object, tuple[int, bytes], int]:
        async with Raw(handler) as srv:
            t = transport(limit=4)
            first = await asyncio.gather(*(get(t, srv.url(f"/{i}")) for i in range(4)))
            failed = await broken(t, srv.url("/again"))
            retry = await get(t, srv.url("/again"))
            await t.aclose()
            return list(first), failed, retry, srv.connections

    first, failed, retry, connections = asyncio.run(main())
    assert first == [(200, b"hello")] * 4
    assert failed == ((408, b"") if second == "408" else "reset")
    assert retry == (200, b"hello")
    assert connections == 5


def test_late_bytes_on_a_reused_connection_are_a_reset() -> None:
    """A HEAD answered with a body that comes late: the next request on that connection
    reads it first. Retried on a new connection (a reset), not a protocol failure."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"HEAD"):
            reply = ok()
            writer.write(reply[: reply.index(b"\r\n\r\n") + 4])
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"hello" + ok())  # the late body, then the next answer
        else:
            writer.write(ok())
        await writer.drain()
        await reader.read()

    async def main() -> tuple[str, tuple[int, bytes], int]:
        async with Raw(handler) as srv:
            t = transport()
            assert await get(t, srv.url("/"), "HEAD") == (200, b"")
            with pytest.raises(httpcore.ReadError) as reused:
                await get(t, srv.url("/next"))
            retry = await get(t, srv.url("/next"))
            await t.aclose()
            return token(reused.value), retry, srv.connections

    on_reused, retry, connections = asyncio.run(main())
    assert (on_reused, retry, connections) == ("reset", (200, b"hello"), 2)


# --- hostile answers: the same exceptions (and tokens) as httpcore ---------------------------

def _linger_reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.parametrize(("script", "exc", "tok"), [
    (b"HTTP/1.1 200 OK\r\n" + b"X-Bomb: 1\r\n" * 20_000, httpcore.RemoteProtocolError,
     "protocol"),
    (b"garbage\r\n\r\n", httpcore.RemoteProtocolError, "protocol"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", httpcore.RemoteProtocolError,
     "protocol"),
    (b"", httpcore.RemoteProtocolError, "protocol"),  # closed without an answer
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123", httpcore.ReadError, "reset"),
    # a server that only ever says "100 Continue" (here 17 times, then an answer too late)
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 17 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     httpcore.RemoteProtocolError, "protocol"),
], ids=["header-bomb", "garbage-status", "short-body", "no-answer", "reset-mid-body",
        "endless-1xx"])
def test_hostile_answers(script: bytes, exc: type[BaseException], tok: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(script)
        await writer.drain()
        if exc is httpcore.ReadError:
            _linger_reset(writer)

    async def main() -> BaseException:
        async with Raw(handler) as srv:
            t = transport()
            with pytest.raises(exc) as info:
                await get(t, srv.url())
            await t.aclose()
            return info.value

    assert token(asyncio.run(main())) == tok


def test_read_write_and_connect_timeouts() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await asyncio.Event().wait()  # accepts, never reads, never answers

    async def never(factory: ProtocolFactory, ip: str, port: int,
                    context: ssl.SSLContext | None, server_hostname: str | None
                    ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        await asyncio.Event().wait()
        raise AssertionError

    async def main() -> list[BaseException]:
        out: list[BaseException] = []
        async with Raw(silent) as srv:
            t = transport()
            short = {**TIMEOUTS, "read": 0.1, "write": 0.1, "connect": 0.1}
            with pytest.raises(httpcore.ReadTimeout) as read:
                await get(t, srv.url(), timeouts=short)
            out.append(read.value)
            upload = httpx.Request("POST", srv.url(), content=b"z" * (64 << 20),
                                   extensions={"timeout": short})
            with pytest.raises(httpcore.WriteTimeout) as write:
                await t.handle_async_request(upload)
            out.append(write.value)
            await t.aclose()
            t = transport(dial=never)
            with pytest.raises(httpcore.ConnectTimeout) as connect:
                await get(t, srv.url(), timeouts=short)
            out.append(connect.value)
        return out

    read, write, connect = asyncio.run(main())
    assert [failure_of(e).token for e in (read, write, connect)] == ["timeout"] * 3
    assert failure_of(connect).connect_stage


# --- trace, dial seam, guard, TLS ------------------------------------------------------------

def test_trace_fires_once_after_the_request_was_written() -> None:
    heads: list[bytes] = []
    got_head = asyncio.Event()
    events: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        got_head.set()
        writer.write(ok())
        await writer.drain()

    async def trace(event: str, info: object) -> None:
        events.append(event)
        async with asyncio.timeout(2):  # before the write this would never be set
            await got_head.wait()

    async def main() -> tuple[int, bytes]:
        async with Raw(handler) as srv:
            t = transport()
            result = await get(t, srv.url("/traced?q=1"), trace=trace)
            await t.aclose()
            return result

    assert asyncio.run(main()) == (200, b"hello")
    assert events == ["http11.send_request_headers.complete"]
    assert heads[0].startswith(b"GET /traced?q=1 HTTP/1.1\r\n")
    assert b"\r\nHost: a.test:" in heads[0]


PUBLIC, OTHER = "93.184.216.34", "93.184.216.35"


def test_dial_seam_gets_the_vetted_ips_and_the_guard_is_asked_once() -> None:
    dialled: list[str] = []
    answers = {"pub.test": lambda call: [OTHER, PUBLIC] if call == 1 else ["127.0.0.1"],
               "bad.test": ["10.0.0.1"]}
    resolver = FakeResolver(answers)

    async def loopback(factory: ProtocolFactory, ip: str, port: int,
                       context: ssl.SSLContext | None, server_hostname: str | None
                       ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        dialled.append(ip)
        if ip == OTHER:
            raise ConnectionRefusedError(111, "refused")
        return await loop_dial(factory, "127.0.0.1", port, context, server_hostname)

    async def main() -> tuple[list[tuple[int, bytes]], BaseException]:
        async with Raw(serve_each(lambda head: ok(b"", b"Connection: close\r\n"))) as srv:
            t = H1Transport(Guard(resolver), ssl.create_default_context(), 2,
                            keepalive_expiry=KEEPALIVE_EXPIRY, dial=loopback)
            got = [await get(t, srv.url(f"/{i}", "pub.test")) for i in range(2)]
            with pytest.raises(GuardError) as refused:
                await get(t, srv.url("/", "bad.test"))
            await t.aclose()
            return got, refused.value

    got, refused = asyncio.run(main())
    assert got == [(200, b"")] * 2
    assert dialled == [OTHER, PUBLIC] * 2  # the refused address, then the next vetted one
    assert resolver.calls["pub.test"] == 1  # rebinding: no second lookup
    assert token(refused) == "forbidden_address"


def test_connect_errors_keep_their_cause() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now

    async def main() -> BaseException:
        t = transport()
        with pytest.raises(httpcore.ConnectError) as info:
            await get(t, f"http://a.test:{port}/")
        return info.value

    error = asyncio.run(main())
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert failure_of(error).token == "connect" and failure_of(error).connect_stage


def test_tls_verifies_the_name_while_dialling_the_ip(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure.test").configure_cert(server_ctx)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni.append(name)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    dialled: list[tuple[str, str | None]] = []

    async def dial(factory: ProtocolFactory, ip: str, port: int,
                   context: ssl.SSLContext | None, server_hostname: str | None
                   ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        dialled.append((ip, server_hostname))
        return await loop_dial(factory, ip, port, context, server_hostname)

    resolver = FakeResolver({"secure.test": ["127.0.0.1"], "wrong.test": ["127.0.0.1"]})

    async def main() -> tuple[tuple[int, bytes], BaseException]:
        async with Raw(serve_each(lambda head: ok(b"secret")), tls=server_ctx) as srv:
            t = H1Transport(Guard(resolver, allow_private=True), client_ctx, 2,
                            keepalive_expiry=KEEPALIVE_EXPIRY, dial=dial)
            good = await get(t, srv.url("/", "secure.test"))
            with pytest.raises(httpcore.ConnectError) as wrong:
                await get(t, srv.url("/", "wrong.test"))
            await t.aclose()
            return good, wrong.value

    good, wrong = asyncio.run(main())
    assert good == (200, b"secret")
    assert dialled == [("127.0.0.1", "secure.test"), ("127.0.0.1", "wrong.test")]
    assert sni == ["secure.test", "wrong.test"]
    assert token(wrong) == "tls"


# --- the factory ------------------------------------------------------------------------------

def test_factory_picks_h1_only_for_plain_direct_hosts() -> None:
    guard = Guard(FakeResolver(), allow_private=True)

    def make(**kw: object) -> TransportFactory:
        args: dict[str, object] = {"ca_bundle": None, "proxy": None, "http2": False,
                                   "env": {}, **kw}
        return TransportFactory(guard, **args)  # type: ignore[arg-type]

    assert isinstance(make()(4, host="a.test"), H1Transport)
    assert isinstance(make()(4), PoolTransport)  # shared by every host
    assert isinstance(make(http2=True)(4, host="a.test"), PoolTransport)
    assert isinstance(make(network=httpcore.AnyIOBackend())(4, host="a.test"), PoolTransport)
    proxied = make(env={"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "direct.test"})
    assert isinstance(proxied(4, host="a.test"), PoolTransport)
    assert isinstance(proxied(4, host="direct.test"), H1Transport)
