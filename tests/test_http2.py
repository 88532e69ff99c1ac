"""HTTP/2 end to end: the real Fetcher (guard, host slots, httpcore pool with http2=True)
against a real HTTP/2 server over TLS on 127.0.0.1 (tests/h2server.py), ALPN-negotiated.

Checks that the client really speaks h2 (the server records the ALPN-selected protocol and
the stream of every request), that verdicts and page metadata come out as over HTTP/1.1,
that requests to one host share one multiplexed connection, that the per-attempt deadline
ends a stream the server never answers, and that ALPN falls back to HTTP/1.1 when the
server (or our config) offers only that, and that streams closed before their end are reset
(with their unread DATA handed back to the connection window). No internet, no sleeps.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trustme
from h2server import Answer, Gate, H2Server, Reset, Seen
from netserver import FakeResolver

from enricher.config import Config, FetchConfig
from enricher.models import FetchResult, LinkKind, LinkResult, LinkStatus
from enricher.net.fetch import Fetcher
from enricher.outcome import interpret

H2_HOST = "h2.test"  # offered h2 then http/1.1
H1_HOST = "h1.test"  # offered http/1.1 only (same port, chosen by SNI)
TITLE = "Multiplexed news"
PAGE = (f'<!doctype html><html><head><title>{TITLE} | Site</title>'
        f'<meta property="og:title" content="{TITLE}"></head>'
        '<body><h1>Multiplexed news</h1><p>over h2</p></body></html>').encode()
HTML = (("content-type", "text/html; charset=utf-8"),)
BIG = PAGE.replace(b"</body>", b"x" * (3 << 20) + b"</body>")
OPEN_HEAD = b"<!doctype html><html><head><title>Open</title></head><body>"


def route(seen: Seen) -> Answer | Gate | None:
    path = seen.path
    if path == "/page":
        return Answer(200, PAGE)
    if path == "/gz":
        return Answer(200, gzip.compress(PAGE), (*HTML, ("content-encoding", "gzip")))
    if path == "/moved":
        return Answer(301, b"", (("location", "/page"),))
    if path.startswith("/gate/"):  # answered once 4 of them wait on one connection
        return Gate(4, Answer(200, PAGE))
    if path.startswith("/slow"):
        return None
    if path.startswith("/big/"):  # a page far larger than the reader's cap
        return Answer(200, BIG)
    if path.startswith("/open/"):  # the head, then the stream stays open (no END_STREAM)
        return Answer(200, OPEN_HEAD, end=False)
    if path.startswith("/late/"):  # a healthy page that takes a moment
        return Answer(200, PAGE, after=0.3)
    if path.startswith("/page/"):
        return Answer(200, PAGE)
    if path.startswith("/refused/"):  # RST_STREAM REFUSED_STREAM on the first try only
        return Reset(7) if sum(x.path == path for x in SEEN) == 1 else Answer(200, PAGE)
    if path == "/short":  # first says 100 bytes and sends 10: h2 fails the whole connection
        if sum(x.path == path for x in SEEN) > 1:
            return Answer(200, PAGE)
        return Answer(200, b"0123456789", length=100, after=0.05)
    return Answer(404, b"<html><head><title>Not found</title></head></html>")


@pytest.fixture
def config(bundle: str) -> FetchConfig:
    return FetchConfig(connect_timeout=1.0, read_timeout=1.0, request_deadline=2.0,
                       max_attempts=1, host_request_interval=0.0, host_concurrency=4,
                       dns_timeout=0.3, allow_private=True, ca_bundle=bundle, http2=True)


@dataclass
class Run:
    results: dict[str, FetchResult]
    server: H2Server
    elapsed: float

    def at(self, path: str) -> FetchResult:
        return next(r for u, r in self.results.items() if u.endswith(path))

    def verdict(self, path: str, config: FetchConfig) -> LinkResult:
        return interpret(self.at(path), (), None, Config(fetch=config))


SEEN: list[Seen] = []  # the running server's requests, for routes that count them


def run(ca: trustme.CA, config: FetchConfig, paths: Sequence[str], *, host: str = H2_HOST,
        kind: LinkKind = LinkKind.PAGE, max_streams: int = 100) -> Run:
    resolver = FakeResolver({H2_HOST: ["127.0.0.1"], H1_HOST: ["127.0.0.1"]})

    async def main() -> Run:
        names = {H2_HOST: ("h2", "http/1.1"), H1_HOST: ("http/1.1",)}
        async with H2Server(route, ca=ca, names=names, max_streams=max_streams) as srv:
            SEEN[:] = ()
            srv.seen = SEEN
            out: dict[str, FetchResult] = {}
            started = time.monotonic()
            async with Fetcher(config, resolver=resolver, env={}) as fetcher:
                await fetcher.fetch_all([(srv.url(host, p), kind) for p in paths],
                                        lambda r: out.__setitem__(r.url, r))
            return Run(out, srv, time.monotonic() - started)

    return asyncio.run(main())


def test_verdicts_and_metadata_over_h2(ca: trustme.CA, config: FetchConfig) -> None:
    r = run(ca, config, ["/page", "/missing", "/moved", "/gz"])
    page = r.verdict("/page", config)
    assert (page.status, page.reason, page.http_status) == (LinkStatus.OK, "http_200", 200)
    assert page.page is not None and page.page.title == TITLE
    assert r.at("/page").body == PAGE and r.at("/gz").body == PAGE  # decoded over h2 too
    missing = r.verdict("/missing", config)
    assert (missing.status, missing.reason) == (LinkStatus.DEAD, "http_404")
    moved = r.verdict("/moved", config)
    assert (moved.status, moved.reason) == (LinkStatus.REDIRECTED, "http_301")
    assert moved.final_url == r.server.url(H2_HOST, "/page")
    # the server saw every request over h2, on streams of one connection
    srv = r.server
    assert srv.protocols() == {"h2"}
    assert [c.protocol for c in srv.conns] == ["h2"] and srv.conns[0].server_name == H2_HOST
    assert sorted(s.path for s in srv.seen) == ["/gz", "/missing", "/moved", "/page", "/page"]
    assert {s.method for s in srv.seen} == {"GET"}
    assert {s.authority for s in srv.seen} == {f"{H2_HOST}:{srv.port}"}
    streams = [s.stream for s in srv.seen]
    assert len(set(streams)) == 5 and all(n % 2 == 1 for n in streams)  # client streams
    assert srv.conns[0].streams == 5


def test_head_requests_over_h2(ca: trustme.CA, config: FetchConfig) -> None:
    r = run(ca, config, ["/page", "/missing"], kind=LinkKind.REACH)
    assert r.verdict("/page", config).status is LinkStatus.OK
    assert r.verdict("/missing", config).reason == "http_404"
    # a 404 to HEAD is confirmed by a GET before it counts
    assert sorted((s.protocol, s.method, s.path) for s in r.server.seen) == [
        ("h2", "GET", "/missing"), ("h2", "HEAD", "/missing"), ("h2", "HEAD", "/page")]
    assert r.at("/page").body == b""


def test_one_host_shares_one_multiplexed_connection(ca: trustme.CA,
                                                    config: FetchConfig) -> None:
    # the server answers /gate/* only once 4 requests wait on the same connection: over
    # HTTP/1.1 (one request per connection) or without concurrency they would time out
    paths = [f"/gate/{i}" for i in range(8)]
    r = run(ca, config, paths)
    assert {p: r.verdict(p, config).status for p in paths} == dict.fromkeys(paths,
                                                                           LinkStatus.OK)
    srv = r.server
    assert len(srv.conns) == 1 and srv.conns[0].protocol == "h2"
    assert srv.conns[0].streams == 8
    assert srv.conns[0].peak_open == config.host_concurrency  # never more than the slot
    assert len({s.stream for s in srv.seen}) == 8
    assert r.elapsed < 1.5


def test_deadline_ends_a_stream_the_server_never_answers(ca: trustme.CA,
                                                         config: FetchConfig) -> None:
    deadline = 0.3
    cfg = replace(config, request_deadline=deadline, read_timeout=5.0)
    r = run(ca, cfg, ["/slow", "/page"])
    slow = r.verdict("/slow", cfg)
    assert (slow.status, slow.reason) == (LinkStatus.TIMEOUT, "timeout")
    assert r.at("/slow").detail == "deadline exceeded"  # the deadline, not the read timeout
    assert r.verdict("/page", cfg).status is LinkStatus.OK  # its sibling stream was fine
    assert deadline - 0.02 < r.elapsed < deadline + 1.0
    assert len(r.server.conns) == 1 and r.server.protocols() == {"h2"}


def test_read_timeout_ends_a_silent_h2_stream(ca: trustme.CA, config: FetchConfig) -> None:
    cfg = replace(config, request_deadline=5.0, read_timeout=0.2)
    r = run(ca, cfg, ["/slow"])
    assert r.verdict("/slow", cfg).status is LinkStatus.TIMEOUT
    assert r.at("/slow").detail != "deadline exceeded"
    assert 0.2 - 0.02 < r.elapsed < 0.2 + 1.0
    assert r.server.protocols() == {"h2"}


@pytest.mark.parametrize(("host", "http2"), [(H1_HOST, True), (H2_HOST, False)],
                         ids=["server-offers-http1.1-only", "client-http2-off"])
def test_alpn_falls_back_to_http11(ca: trustme.CA, config: FetchConfig, host: str,
                                   http2: bool) -> None:
    cfg = replace(config, http2=http2)
    r = run(ca, cfg, ["/page", "/moved"], host=host)
    page = r.verdict("/page", cfg)
    assert page.status is LinkStatus.OK and page.page is not None
    assert page.page.title == TITLE
    assert r.verdict("/moved", cfg).final_url == r.server.url(host, "/page")
    assert r.server.protocols() == {"http/1.1"}
    assert {c.server_name for c in r.server.conns} == {host}
    assert all(s.stream == 0 for s in r.server.seen)


def test_the_helper_refuses_to_gate_over_http11(ca: trustme.CA, config: FetchConfig) -> None:
    # the multiplexing test can fail: the same gate never opens on HTTP/1.1 connections
    cfg = replace(config, http2=False, request_deadline=0.25, read_timeout=0.25)
    r = run(ca, cfg, [f"/gate/{i}" for i in range(4)])
    assert {x.failure for x in r.results.values()} == {"timeout"}
    assert r.server.protocols() == {"http/1.1"}
    assert len(r.server.conns) == 4  # one connection per request in flight


def test_ca_bundle_file_is_what_trusts_the_server(ca: trustme.CA, config: FetchConfig,
                                                  tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    r = run(ca, replace(config, ca_bundle=str(other)), ["/page"])
    assert r.at("/page").failure == "tls"
    assert r.server.seen == []


# --- streams closed before their end (httpcore 1.0 never resets them: encode/httpcore#943) --

def test_streams_closed_early_are_reset(ca: trustme.CA, config: FetchConfig) -> None:
    # the server sends the head and keeps each stream open; the page reader stops at </head>
    # and closes the response, which over HTTP/1.1 closes the connection. Over h2 only a
    # RST_STREAM tells the server: without one, h2 counts the stream as open, and after 100
    # of them on one connection new streams are refused (a protocol error)
    cfg = replace(config, page_after_head_bytes=0)
    paths = [f"/open/{i}" for i in range(104)]
    r = run(ca, cfg, paths)
    assert r.server.protocols() == {"h2"}
    failures = {x.failure for x in r.results.values()}
    assert failures == {None}, failures  # unreset: 4 x "protocol" (Max outbound streams ...)
    assert sum(c.resets for c in r.server.conns) == len(paths)


def test_a_timeout_means_the_request_itself_waited(ca: trustme.CA,
                                                   config: FetchConfig) -> None:
    # two silent streams on one connection, the second sent 0.2 s after the first: over
    # HTTP/1.1 each times out after its own read_timeout. Over h2 the second fails with the
    # first one's ReadTimeout after 0.2 s: a "timeout" that feeds the host's breaker
    read_timeout = 0.4
    cfg = replace(config, read_timeout=read_timeout, request_deadline=3.0, host_concurrency=2,
                  host_request_interval=0.2, host_interval_jitter=0.0)
    r = run(ca, cfg, ["/slow/1", "/slow/2"])
    assert r.server.protocols() == {"h2"} and len(r.server.conns) == 1
    assert all(x.failure is not None for x in r.results.values())  # neither is answered
    early = sorted((x.elapsed_ms, x.failure) for x in r.results.values()
                   if x.failure == "timeout" and x.elapsed_ms < read_timeout * 1000 * 0.9)
    assert early == []  # httpcore fails both with the first one's ReadTimeout: a "reset" now


def test_large_pages_do_not_starve_the_connection_window(ca: trustme.CA,
                                                         config: FetchConfig) -> None:
    # 3 MiB pages, read up to 512 KiB each: unread, the rest of each body filled the 16 MiB
    # connection window (httpcore opens every stream's window to 16 MiB too), so the 7th
    # page on the connection got its head and no DATA, and timed out
    cfg = replace(config, host_concurrency=1, read_timeout=1.0, request_deadline=2.0)
    paths = [f"/big/{i}" for i in range(8)]
    r = run(ca, cfg, paths)
    assert r.server.protocols() == {"h2"}
    assert {p: r.at(p).failure for p in paths} == dict.fromkeys(paths)
    assert len(r.server.conns) == 1  # no connection was given up on


# --- streams that end badly must not take others down ----------------------------------------

def test_a_stream_cancelled_before_its_head_is_reset(ca: trustme.CA,
                                                     config: FetchConfig) -> None:
    """A request that our deadline ends before the response head came was forgotten by
    httpcore without a RST_STREAM: the server (and h2) counted it open, and once the
    server's stream limit was reached every later request on the connection failed
    (``reset``), healthy pages included."""
    cfg = replace(config, request_deadline=0.3, read_timeout=5.0, host_concurrency=1)
    paths = [p for i in range(4) for p in (f"/slow/{i}", f"/page/{i}")]
    r = run(ca, cfg, paths, max_streams=2)
    assert {p: r.at(p).failure for p in paths} == {
        p: ("timeout" if "slow" in p else None) for p in paths}
    assert sum(c.resets for c in r.server.conns) == 4  # one RST_STREAM per abandoned stream
    assert max(c.peak_open for c in r.server.conns) <= 2


def test_a_stream_the_server_refused_is_retried(ca: trustme.CA, config: FetchConfig) -> None:
    """RST_STREAM REFUSED_STREAM: the request was not processed (RFC 9113 8.7), safe to
    retry, as a reset connection over HTTP/1.1 is; it was error/protocol at once."""
    r = run(ca, replace(config, max_attempts=2), ["/refused/a"])
    result = r.at("/refused/a")
    assert (result.failure, result.http_status, result.attempts) == (None, 200, 2)


def test_one_bad_response_does_not_fail_its_sibling_streams(ca: trustme.CA,
                                                            config: FetchConfig) -> None:
    """A body shorter than its content-length makes h2 fail the whole connection, and any
    stream in flight may be the one that reads the bad frame: the pages beside it were
    error/protocol at once (HTTP/1.1 fails only the bad one). Every stream of the failed
    connection is retried now (the server answers the retries well)."""
    cfg = replace(config, max_attempts=2, request_deadline=3.0)
    paths = ["/short", "/late/1", "/late/2", "/late/3"]
    r = run(ca, cfg, paths)
    assert r.server.protocols() == {"h2"}
    assert {p: r.at(p).http_status for p in paths} == dict.fromkeys(paths, 200)
    assert {r.at(p).attempts for p in paths} == {2}
