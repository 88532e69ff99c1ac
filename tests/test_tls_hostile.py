"""Hostile TLS and HTTP/2 servers on 127.0.0.1 against the real Fetcher: bad certificates,
stalled handshakes, IP-literal certificates, and h2 servers that flood CONTINUATION frames,
send an HPACK bomb, reset or GOAWAY mid-response, or speak HTTP/1.1 after choosing h2. Each
must end as `error` or `timeout` (never `dead`) within its deadline.

The servers run on their own event loop in a thread, so one that writes as fast as it can
never starves the client's loop (which would make the client look slow). No internet; the
only sleep is a server's simulated latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import hyperframe.frame as hf
import pytest
import trustme
from netserver import FakeResolver

from enricher.config import Config, FetchConfig
from enricher.models import FetchResult, LinkKind, LinkStatus
from enricher.net.fetch import Fetcher
from enricher.net.urls import CleanURL, clean_url
from enricher.outcome import interpret

NAMES = ("h2.test", "a.test")
PAGE = b"<html><head><title>Live</title></head><body>live</body></html>"
HTML = [("content-type", "text/html")]
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ThreadServer:
    """``serve(reader, writer)`` per connection, on a loop of its own in a thread."""

    def __init__(self, serve: Serve, tls: ssl.SSLContext | None) -> None:
        self.serve, self.tls, self.port = serve, tls, 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                             ) -> None:
            try:
                with contextlib.suppress(Exception):  # the client went away: nothing to do
                    await self.serve(reader, writer)
            finally:
                writer.close()

        async def start() -> None:
            self.server = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=self.tls)
            self.port = self.server.sockets[0].getsockname()[1]
            self._ready.set()

        loop = self.loop
        loop.run_until_complete(start())
        loop.run_forever()
        self.server.close()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(self.server.wait_closed())
        loop.close()

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        assert not self._thread.is_alive(), "a hostile server never yielded to its loop"


def config(bundle: str, *, http2: bool = True, **kw: object) -> FetchConfig:
    base = FetchConfig(connect_timeout=1.0, read_timeout=1.0, request_deadline=2.0,
                       max_attempts=1, host_request_interval=0.0, host_concurrency=4,
                       dns_timeout=0.3, allow_private=True, ca_bundle=bundle, http2=http2)
    return replace(base, **kw)  # type: ignore[arg-type]


def tls(cert: trustme.LeafCert, alpn: Sequence[str] = ("h2", "http/1.1")) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def fetch(serve: Serve, cfg: FetchConfig, paths: Sequence[str], *,
          context: ssl.SSLContext | None, host: str = "h2.test"
          ) -> tuple[list[FetchResult], float]:
    resolver = FakeResolver({n: ["127.0.0.1"] for n in NAMES})
    out: list[FetchResult] = []

    async def main() -> None:
        async with Fetcher(cfg, resolver=resolver, env={}) as fetcher:
            await fetcher.fetch_all([(f"https://{host}:{srv.port}{p}", LinkKind.PAGE)
                                     for p in paths], out.append)

    with ThreadServer(serve, context) as srv:
        began = time.monotonic()
        asyncio.run(main())
        elapsed = time.monotonic() - began
    return sorted(out, key=lambda r: r.url), elapsed


def verdicts(results: list[FetchResult], cfg: FetchConfig) -> list[tuple[LinkStatus, str]]:
    found = [interpret(r, (), None, Config(fetch=cfg)) for r in results]
    return [(v.status, v.reason or "") for v in found]


async def http1_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: "
                     + str(len(PAGE)).encode() + b"\r\n\r\n" + PAGE)
        await writer.drain()


# --- certificates and handshakes -----------------------------------------------------------

@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
@pytest.mark.parametrize("kind", ["expired", "wrong_host", "unknown_ca", "no_bundle"])
def test_bad_certificates_are_tls_errors(ca: trustme.CA, bundle: str, http2: bool,
                                         kind: str) -> None:
    cfg = config(bundle, http2=http2)
    old = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = {"expired": lambda: ca.issue_cert(*NAMES, not_before=old.replace(year=2019),
                                             not_after=old),
            "wrong_host": lambda: ca.issue_cert("other.test"),
            "unknown_ca": lambda: trustme.CA().issue_cert(*NAMES),
            "no_bundle": lambda: ca.issue_cert(*NAMES)}[kind]()
    if kind == "no_bundle":  # certifi does not know the test CA
        cfg = replace(cfg, ca_bundle=None)
    results, elapsed = fetch(http1_page, cfg, ["/"], context=tls(cert, ("http/1.1",)))
    assert verdicts(results, cfg) == [(LinkStatus.ERROR, "tls")]
    assert elapsed < 1.5


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_ca_bundle_trusts_a_private_ca_and_ip_literal_certificates(
        ca: trustme.CA, bundle: str, http2: bool) -> None:
    cfg = config(bundle, http2=http2)
    by_ip = tls(ca.issue_cert("127.0.0.1"), ("http/1.1",))
    results, _ = fetch(http1_page, cfg, ["/"], context=by_ip, host="127.0.0.1")
    assert verdicts(results, cfg) == [(LinkStatus.OK, "http_200")]
    by_name = tls(ca.issue_cert(*NAMES), ("http/1.1",))  # no IP address in it
    results, _ = fetch(http1_page, cfg, ["/"], context=by_name, host="127.0.0.1")
    assert verdicts(results, cfg) == [(LinkStatus.ERROR, "tls")]


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_a_host_written_with_a_trailing_dot_passes_the_certificate_check(
        ca: trustme.CA, bundle: str, http2: bool) -> None:
    """``https://a.test./`` names the same site as ``https://a.test/`` (browsers and curl
    fetch it): its certificate has no dot. It was error/tls on every working site."""
    cfg = config(bundle, http2=http2)
    out: list[FetchResult] = []

    async def main(port: int) -> None:
        cleaned = clean_url(f"https://A.test.:{port}/")
        assert isinstance(cleaned, CleanURL) and cleaned.host == "a.test"
        resolver = FakeResolver({n: ["127.0.0.1"] for n in NAMES})
        async with Fetcher(cfg, resolver=resolver, env={}) as fetcher:
            await fetcher.fetch_all([(cleaned.url, LinkKind.PAGE)], out.append)

    with ThreadServer(http1_page, tls(ca.issue_cert(*NAMES), ("http/1.1",))) as srv:
        asyncio.run(main(srv.port))
    assert verdicts(out, cfg) == [(LinkStatus.OK, "http_200")]


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_a_server_that_closes_during_the_handshake_is_a_tls_error(bundle: str,
                                                                  http2: bool) -> None:
    """TCP was up, the server read the ClientHello and hung up: ``tls`` on every path (the
    HTTP/1.1 transport said ``connect``, a connection-level failure for the breaker)."""
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)

    cfg = config(bundle, http2=http2)
    results, _ = fetch(hang_up, cfg, ["/"], context=None)
    assert verdicts(results, cfg) == [(LinkStatus.ERROR, "tls")]


def test_a_reset_in_one_addresss_handshake_tries_the_next(ca: trustme.CA, bundle: str) -> None:
    """A host with two addresses, the first resetting in the TLS handshake: the next one is
    tried (as for a refused connection), and answers; and the detail of a TLS hang-up reads
    as a sentence, not a Python tuple."""
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.transport.abort()  # an RST, mid-handshake

    async def main() -> list[FetchResult]:
        bad = await asyncio.start_server(reset, "127.0.0.1", 0)
        port = bad.sockets[0].getsockname()[1]
        good = await asyncio.start_server(http1_page, "127.0.0.2", port,
                                          ssl=tls(ca.issue_cert(*NAMES), ("http/1.1",)))
        out: list[FetchResult] = []
        resolver = FakeResolver({"a.test": ["127.0.0.1", "127.0.0.2"], "h2.test": ["127.0.0.1"]})
        async with Fetcher(config(bundle, http2=False), resolver=resolver, env={}) as fetcher:
            await fetcher.fetch_all([(f"https://a.test:{port}/", LinkKind.PAGE),
                                     (f"https://h2.test:{port}/", LinkKind.PAGE)], out.append)
        for server in (bad, good):
            server.close()
        return sorted(out, key=lambda r: r.url)

    two, one = asyncio.run(main())
    assert (two.http_status, two.failure) == (200, None)
    assert one.failure == "tls" and (one.detail or "").startswith("closed during the TLS")


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_a_handshake_that_stalls_after_client_hello_times_out(bundle: str,
                                                              http2: bool) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()  # accepts TCP, reads the ClientHello, never answers

    cfg = config(bundle, http2=http2, connect_timeout=0.5)
    results, elapsed = fetch(silent, cfg, ["/"], context=None)
    assert verdicts(results, cfg) == [(LinkStatus.TIMEOUT, "timeout")]
    assert 0.45 < elapsed < 1.5


# --- hostile HTTP/2 servers ----------------------------------------------------------------

class H2Peer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 max_streams: int | None = None) -> None:
        self.reader, self.writer = reader, writer
        self.state = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        if max_streams is not None:  # one SETTINGS frame with it
            self.state.local_settings = h2.settings.Settings(
                client=False,
                initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams})
        self.state.initiate_connection()

    async def answer(self, stream: int) -> None:
        """The page, after a simulated latency."""
        await asyncio.sleep(0.05)
        self.state.send_headers(stream, [(":status", "200"), *HTML,
                                         ("content-length", str(len(PAGE)))])
        self.state.send_data(stream, PAGE, end_stream=True)
        await self.flush()

    async def flush(self) -> None:
        data = self.state.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def events(self) -> list[h2.events.Event]:
        await self.flush()
        data = await self.reader.read(65536)
        if not data:
            raise ConnectionError("client closed")
        return self.state.receive_data(data)

    async def first_request(self) -> int:
        while True:
            for event in await self.events():
                if isinstance(event, h2.events.RequestReceived):
                    assert event.stream_id is not None
                    return event.stream_id


async def continuation_flood(reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
    peer = H2Peer(reader, writer)
    stream = await peer.first_request()
    encoder = hpack.Encoder()
    head = hf.HeadersFrame(stream)
    head.data = encoder.encode([(":status", "200")])  # no END_HEADERS: ever
    writer.write(head.serialize())
    for i in range(100_000):
        if writer.is_closing() or reader.at_eof():
            return
        frame = hf.ContinuationFrame(stream)
        frame.data = encoder.encode([(f"x-{i}", "v" * 100)])
        writer.write(frame.serialize())
        await writer.drain()
        # a TLS writer whose peer has gone neither closes nor pauses: yield, or the loop
        # never sees the stop (the thread went on writing for minutes, a core at 100%)
        await asyncio.sleep(0)


async def hpack_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # 6.5 KB on the wire that decode to 12 MB: one 4000-byte entry, then indexed 3000 times
    peer = H2Peer(reader, writer)
    stream = await peer.first_request()
    big = "v" * 4000
    block = hpack.Encoder().encode([(":status", "200"), *[("x-big", big)] * 3000])
    frame = hf.HeadersFrame(stream)
    frame.data = block
    frame.flags.add("END_HEADERS")
    writer.write(frame.serialize())
    await writer.drain()
    await asyncio.Event().wait()


async def _part_of_a_page(reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> tuple[H2Peer, int]:
    """The first request's headers and the start of its page, nothing more yet."""
    peer = H2Peer(reader, writer)
    stream = await peer.first_request()
    peer.state.send_headers(stream, [(":status", "200"), *HTML])
    peer.state.send_data(stream, b"<html><head><title>Part")
    return peer, stream


async def reset_after_headers(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
    peer, stream = await _part_of_a_page(reader, writer)
    peer.state.reset_stream(stream, 2)
    await peer.flush()
    await asyncio.Event().wait()


async def goaway_mid_response(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
    peer, stream = await _part_of_a_page(reader, writer)
    peer.state.close_connection(0, last_stream_id=stream)
    await peer.flush()


async def h2_then_http1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)  # ALPN said h2; the answer is HTTP/1.1
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: "
                 + str(len(PAGE)).encode() + b"\r\n\r\n" + PAGE)
    await writer.drain()
    await asyncio.Event().wait()


@pytest.mark.parametrize(("serve", "expected"), [
    (continuation_flood, (LinkStatus.ERROR, "protocol")),
    (hpack_bomb, (LinkStatus.ERROR, "protocol")),
    (reset_after_headers, (LinkStatus.ERROR, "reset")),  # RST_STREAM: as a TCP reset
    (goaway_mid_response, (LinkStatus.ERROR, "reset")),  # a graceful GOAWAY: retried
    (h2_then_http1, (LinkStatus.TIMEOUT, "timeout")),  # h2 waits for a SETTINGS frame
], ids=lambda v: getattr(v, "__name__", ""))
def test_hostile_h2_servers_end_in_error_within_the_deadline(
        ca: trustme.CA, bundle: str, serve: Serve, expected: tuple[LinkStatus, str]) -> None:
    cfg = config(bundle, read_timeout=0.5, request_deadline=1.0)
    results, elapsed = fetch(serve, cfg, ["/"], context=tls(ca.issue_cert(*NAMES), ("h2",)))
    assert verdicts(results, cfg) == [expected]
    assert elapsed < cfg.request_deadline + 0.5


def test_lowering_max_concurrent_streams_mid_connection(ca: trustme.CA, bundle: str) -> None:
    # SETTINGS max_concurrent_streams 100 (h2's default frame), then a second frame with 1:
    # a server lowering its limit (RFC 9113 allows it at any time). Every page is live.
    # httpcore 1.0 lowers its stream semaphore while holding the connection's read lock, and
    # the streams already past it fail in h2 (TooManyStreamsError): a reset, retried.
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        peer.state.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1})
        tasks: set[asyncio.Task[None]] = set()

        while True:
            for event in await peer.events():
                if isinstance(event, h2.events.RequestReceived):
                    assert event.stream_id is not None
                    tasks.add(asyncio.create_task(peer.answer(event.stream_id)))

    cfg = config(bundle, max_attempts=3, request_deadline=1.0, backoff_base=0.01)
    paths = [f"/p{i}" for i in range(4)]
    results, elapsed = fetch(serve, cfg, paths, context=tls(ca.issue_cert(*NAMES), ("h2",)))
    assert elapsed < cfg.request_deadline * cfg.max_attempts + 1.0
    assert verdicts(results, cfg) == [(LinkStatus.OK, "http_200")] * len(paths)


def test_a_graceful_goaway_after_some_requests_is_retried(ca: trustme.CA, bundle: str) -> None:
    """nginx after ``keepalive_requests``: GOAWAY (NO_ERROR) naming the last stream it took,
    then it answers those. httpcore fails the streams still waiting; they were error/protocol,
    never retried (an audit: 387 of 3,040 live pages). Now a reset, retried on a new
    connection: every page is ok. (httpcore fails every waiting stream, also those the
    server will answer: a server that sends GOAWAY while many streams wait still fails them
    on every attempt; one stream at a time here.)"""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        tasks: set[asyncio.Task[None]] = set()
        taken = 0

        while True:
            for event in await peer.events():
                if isinstance(event, h2.events.RequestReceived) and taken < 2:
                    assert event.stream_id is not None
                    taken += 1
                    tasks.add(asyncio.create_task(peer.answer(event.stream_id)))
                    if taken == 2:  # the second request on this connection: the last (a
                        goaway = hf.GoAwayFrame(0, last_stream_id=event.stream_id)  # frame
                        peer.writer.write(goaway.serialize())  # of our own: h2 would then
                        await peer.writer.drain()  # refuse to send the answer it promises

    cfg = config(bundle, max_attempts=3, backoff_base=0.01, host_concurrency=1)
    results, _ = fetch(serve, cfg, ["/p0", "/p1"], context=tls(ca.issue_cert(*NAMES), ("h2",)))
    assert verdicts(results, cfg) == [(LinkStatus.OK, "http_200")] * 2
    assert [r.attempts for r in results] == [1, 2]  # the second: once more, on a new one
