"""fetch: each verdict and each hostile server behaviour (hostile.md rows 23-40) against real
servers on 127.0.0.1, with bounded time and memory; politeness, breaker, outage guard."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import socket
import ssl
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
import trustme
from netserver import Conn, FakeResolver, NetServer, Request, gzip_bomb, gzipped, page, route

from enricher.classify import classify
from enricher.config import FetchConfig, HostPolicy
from enricher.models import FetchResult, LinkKind, LinkStatus
from enricher.net.body import last_media_type
from enricher.net.client import TransportFactory
from enricher.net.fetch import Fetcher
from enricher.net.guard import Guard
from enricher.net.urls import request_origin

HOSTS = {f"{c}.test": ["127.0.0.1"] for c in "abcdefgh"}
FAST = FetchConfig(connect_timeout=0.5, read_timeout=0.5, request_deadline=1.0, max_attempts=1,
                   host_request_interval=0.0, dns_timeout=0.3, allow_private=True,
                   page_bytes=64 * 1024, image_bytes=8 * 1024, reach_bytes=4 * 1024,
                   backoff_base=0.0)


@dataclass
class Run:
    results: dict[str, FetchResult]
    server: NetServer
    fetcher: Fetcher
    elapsed: float
    sleeps: list[float]

    def one(self) -> FetchResult:
        assert len(self.results) == 1
        return next(iter(self.results.values()))

    def at(self, path: str) -> FetchResult:
        return next(r for u, r in self.results.items() if u.endswith(path))


Handler = Callable[[Request, Conn], object]


def run(handler: object, paths: list[str] | list[tuple[str, LinkKind]] | str,
        config: FetchConfig = FAST, *, host: str = "a.test",
        kind: LinkKind = LinkKind.PAGE, resolver: FakeResolver | None = None,
        **fetcher_kw: object) -> Run:
    if isinstance(handler, dict):
        handler = route(handler)
    items = [paths] if isinstance(paths, str) else paths
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> Run:
        async with NetServer(handler) as srv:  # type: ignore[arg-type]
            todo = []
            for item in items:
                path, k = item if isinstance(item, tuple) else (item, kind)
                url = path.format(port=srv.port) if "://" in path else srv.url(host, path)
                todo.append((url, k))
            out: dict[str, FetchResult] = {}
            started = time.monotonic()
            fetcher = Fetcher(config, resolver=resolver or FakeResolver(dict(HOSTS)),
                              sleep=fake_sleep, **fetcher_kw)  # type: ignore[arg-type]
            async with fetcher:
                await fetcher.fetch_all(todo, lambda r: out.__setitem__(r.url, r))
            return Run(out, srv, fetcher, time.monotonic() - started, sleeps)

    return asyncio.run(main())


def status(result: FetchResult) -> tuple[LinkStatus, str]:
    verdict = classify(result)
    return verdict.status, verdict.reason


def ok_page(title: str = "Hello") -> Callable[[Request, Conn], object]:
    async def handler(request: Request, conn: Conn) -> None:
        await conn.respond(200, page(title))
    return handler


def code(status_code: int, headers: list[tuple[str, str]] | None = None
         ) -> Callable[[Request, Conn], object]:
    async def handler(request: Request, conn: Conn) -> None:
        await conn.respond(status_code, page(str(status_code)), headers or [])
    return handler


def redirect(location: str, status_code: int = 302) -> Callable[[Request, Conn], object]:
    async def handler(request: Request, conn: Conn) -> None:
        await conn.respond(status_code, b"", [("Location", location)])
    return handler


# --- verdicts ---------------------------------------------------------------------------------

def test_each_verdict_end_to_end() -> None:
    r = run({"/ok": ok_page(), "/moved": redirect("/ok", 301), "/temp": redirect("/ok", 302),
             "/gone": code(410), "/403": code(403), "/500": code(500), "/401": code(401)},
            ["/ok", "/moved", "/temp", "/missing", "/gone", "/403", "/500", "/401"])
    assert status(r.at("/ok")) == (LinkStatus.OK, "http_200")
    assert r.at("/ok").body.endswith(b"</html>")  # a short page is read whole
    assert status(r.at("/moved")) == (LinkStatus.REDIRECTED, "http_301")
    assert r.at("/moved").final_url == r.at("/ok").url
    assert status(r.at("/temp")) == (LinkStatus.OK, "http_200")
    assert r.at("/temp").final_url == r.at("/ok").url
    assert status(r.at("/missing")) == (LinkStatus.DEAD, "http_404")
    assert status(r.at("/gone")) == (LinkStatus.DEAD, "http_410")
    assert status(r.at("/403")) == (LinkStatus.BLOCKED, "http_403")
    assert status(r.at("/401")) == (LinkStatus.BLOCKED, "http_401")
    assert status(r.at("/500")) == (LinkStatus.ERROR, "http_500")


def test_an_emoji_punycode_host_is_fetched_and_stops_nothing() -> None:
    """``xn--ls8h.la`` is plain punycode that IDNA2008 forbids: ``httpx.URL.host`` raises on
    it, which escaped the fetch and ended the whole run with a traceback, also when only a
    redirect of some site led there. It is fetched as written, as is the rest."""
    emoji = "xn--ls8h.la"

    async def to_emoji(request: Request, conn: Conn) -> None:
        port = request.headers["host"].rsplit(":", 1)[1]
        await conn.respond(302, b"", [("Location", f"http://{emoji}:{port}/ok")])

    r = run({"/ok": ok_page(), "/to-emoji": to_emoji},
            [f"http://{emoji}:{{port}}/ok", "/to-emoji", "/ok"],
            resolver=FakeResolver({**HOSTS, emoji: ["127.0.0.1"]}))
    assert status(r.at(f"{emoji}:{r.server.port}/ok")) == (LinkStatus.OK, "http_200")
    assert status(r.at("/to-emoji")) == (LinkStatus.OK, "http_200")
    assert status(r.at("a.test:" + str(r.server.port) + "/ok")) == (LinkStatus.OK, "http_200")


def test_a_bot_wall_served_as_404_or_410_is_blocked_not_dead() -> None:
    """The start of a 404/410 HTML page is read (at most 16 KiB) so that a vendor's bot
    wall with a "dead" status is told apart from a real not-found page."""
    from enricher.config import Config
    from enricher.outcome import interpret

    def wall(status_code: int, body: bytes) -> Callable[[Request, Conn], object]:
        async def handler(request: Request, conn: Conn) -> None:
            await conn.respond(status_code, body, [("Content-Type", "text/html")])
        return handler

    akamai = (b"<html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>"
              b"You don't have permission to access this server.<p>Reference #18.2f</p>"
              b"</body></html>")
    datadome = b'<html><script src="https://ct.captcha-delivery.com/c.js"></script></html>'
    big = page("Not here", "<p>gone</p>" * 10_000)
    r = run({"/a": wall(404, akamai), "/d": wall(410, datadome), "/big": wall(404, big)},
            ["/a", "/d", "/big"])

    def verdict(path: str) -> tuple[LinkStatus, str | None]:
        result = interpret(r.at(path), (), None, Config())
        return result.status, result.reason

    assert verdict("/a") == (LinkStatus.BLOCKED, "challenge")
    assert verdict("/d") == (LinkStatus.BLOCKED, "challenge")
    assert verdict("/big") == (LinkStatus.DEAD, "http_404")
    assert 0 < len(r.at("/big").body) <= 16 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dns_connect_and_forbidden_verdicts() -> None:
    port = free_port()
    resolver = FakeResolver({"refused.test": ["127.0.0.1"], "private.test": ["10.0.0.7"]})
    config = replace(FAST, allow_private=False)
    r = run(ok_page(), [f"http://nx.test:{port}/", f"http://private.test:{port}/"],
            config, resolver=resolver)
    assert status(r.at(f"nx.test:{port}/")) == (LinkStatus.DEAD, "dns")
    assert status(r.at(f"private.test:{port}/")) == (LinkStatus.BLOCKED, "forbidden_address")
    assert r.fetcher.requests == 1  # the DNS failure counts; the policy's refusal sent nothing
    assert r.at(f"private.test:{port}/").attempts == 0
    r = run(ok_page(), f"http://refused.test:{port}/", resolver=resolver)
    assert status(r.one()) == (LinkStatus.ERROR, "connect")


# --- redirects (rows 23-28) -----------------------------------------------------------------

def test_redirect_loop_and_hop_cap() -> None:  # row 23
    chain = {f"/c{i}": redirect(f"/c{i + 1}") for i in range(6)}
    chain["/c6"] = ok_page()
    r = run({"/loop": redirect("/loop"), "/a": redirect("/b"), "/b": redirect("/a"), **chain},
            ["/loop", "/a", "/c0"], replace(FAST, max_redirects=5))
    assert status(r.at("/loop")) == (LinkStatus.ERROR, "redirect_loop")
    assert status(r.at("/a")) == (LinkStatus.ERROR, "redirect_loop")
    assert [h.status for h in r.at("/a").redirects] == [302, 302]
    assert status(r.at("/c0")) == (LinkStatus.ERROR, "too_many_redirects")
    assert len(r.at("/c0").redirects) == 6
    r = run(chain, "/c0", replace(FAST, max_redirects=6))
    assert status(r.one()) == (LinkStatus.OK, "http_200")
    assert [h.url.rsplit("/", 1)[1] for h in r.one().redirects] == [f"c{i}" for i in range(6)]


def test_non_web_and_malformed_locations() -> None:  # rows 24, 26
    r = run({"/file": redirect("file:///etc/passwd"), "/gopher": redirect("gopher://x/_INFO"),
             "/ftp": redirect("ftp://example.com/"), "/empty": redirect("http:///path"),
             "/garbage": redirect("http://[::1"), "/none": code(302),
             "/port": redirect("http://a.test:22/")},
            ["/file", "/gopher", "/ftp", "/empty", "/garbage", "/none", "/port"])
    for path in ("/file", "/gopher", "/ftp"):
        assert status(r.at(path)) == (LinkStatus.ERROR, "forbidden_scheme")
    for path in ("/empty", "/garbage", "/none"):
        assert status(r.at(path)) == (LinkStatus.ERROR, "bad_redirect"), path
    assert status(r.at("/port")) == (LinkStatus.SKIPPED, "forbidden_port")
    assert all(len(x.redirects) == 1 for x in r.results.values())
    assert len(r.server.arrivals) == 7  # no request ever followed a refused Location


def test_relative_location_is_resolved_against_the_current_url() -> None:
    r = run({"/d/rel": redirect("../ok?x=1"), "/ok": ok_page()}, "/d/rel")
    assert (r.one().final_url or "").endswith("/ok?x=1")
    assert r.one().http_status == 200


def test_locations_are_read_as_browsers_read_them() -> None:
    """More slashes or backslashes before a host go to that host, not to a path of the
    current one (whose 404 made a live link dead); "?" from /q asks for /q? (no loop)."""
    async def to_b(request: Request, conn: Conn) -> None:
        authority = request.headers["host"].replace("a.test", "b.test")
        location = {"/dbl": f"///{authority}/target",
                    "/back": f"\\\\{authority}\\target"}[request.path]
        await conn.respond(301, b"", [("Location", location)])

    async def target(request: Request, conn: Conn) -> None:
        if request.host == "b.test":
            await conn.respond(200, page("Target"))
        else:
            await conn.respond(404, page("Not here"))

    async def query(request: Request, conn: Conn) -> None:
        if request.target == "/q":
            await conn.respond(301, b"", [("Location", "?")])
        else:
            await conn.respond(200, page("Q"))

    r = run({"/dbl": to_b, "/back": to_b, "/target": target, "/q": query}, ["/dbl", "/back", "/q"])
    for path in ("/dbl", "/back"):
        assert status(r.at(path)) == (LinkStatus.REDIRECTED, "http_301"), r.at(path)
        assert (r.at(path).final_url or "").startswith("http://b.test:")
    assert status(r.at("/q")) == (LinkStatus.REDIRECTED, "http_301")
    assert (r.at("/q").final_url or "").endswith("/q?")


def test_a_utf8_location_is_read_as_utf8() -> None:
    """Location bytes that are UTF-8 (as browsers read them), not latin-1 mojibake."""
    async def utf8_301(request: Request, conn: Conn) -> None:
        await conn.send("HTTP/1.1 301 Moved\r\nLocation: /caf\u00e9-news\r\n"
                        "Content-Length: 0\r\n\r\n".encode())

    async def latin1_301(request: Request, conn: Conn) -> None:  # not UTF-8: its bytes kept
        await conn.send(b"HTTP/1.1 301 Moved\r\nLocation: /caf\xe9-old\r\n"
                        b"Content-Length: 0\r\n\r\n")

    r = run({"/old": utf8_301, "/older": latin1_301, "/caf%C3%A9-news": ok_page(),
             "/caf%E9-old": ok_page()}, ["/old", "/older"])
    assert (r.at("/old").final_url or "").endswith("/caf%C3%A9-news")
    assert r.at("/old").http_status == 200
    assert (r.at("/older").final_url or "").endswith("/caf%E9-old")  # the server's own bytes
    assert r.at("/older").http_status == 200


def test_an_unreadable_retry_after_never_costs_the_hosts_connection() -> None:
    """A 503 whose Retry-After is a latin-1 "²" (a digit to ``str.isdigit``, not to
    ``float``): the URL gets its 503, and the connection goes back to the pool, so the
    host's other URLs (one connection at a time) are answered, not timed out."""
    async def busy(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: \xb2\r\n"
                        b"Content-Length: 5\r\n\r\nbusy!")

    config = replace(FAST, host_concurrency=1)
    r = run({"/busy": busy, **{f"/ok{i}": ok_page() for i in range(3)}},
            ["/busy", "/ok0", "/ok1", "/ok2"], config)
    assert r.at("/busy").http_status == 503
    assert [r.at(f"/ok{i}").http_status for i in range(3)] == [200, 200, 200]


def test_redirect_bodies_are_never_read() -> None:  # row 25
    async def endless_302(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Encoding: gzip\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + bytes(0x10000) + b"\r\n"
        for _ in range(1600):  # 100 MiB, unless the client hangs up
            await conn.send(chunk)

    tracemalloc.start()
    try:
        r = run({"/r": endless_302, "/ok": ok_page()}, "/r")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.one().http_status == 200 and r.one().final_url
    assert r.fetcher.bytes_read < 4096
    assert peak < 8 << 20
    assert r.elapsed < 1.0


def test_no_cookies_or_credentials_are_sent() -> None:  # row 27
    async def set_cookie(request: Request, conn: Conn) -> None:
        await conn.respond(302, b"", [("Set-Cookie", "sid=1; Path=/"), ("Location", "/ok")])

    r = run({"/login": set_cookie, "/ok": ok_page()}, "/login")
    assert r.one().http_status == 200
    assert [a.target for a in r.server.arrivals] == ["/login", "/ok"]
    for arrival in r.server.arrivals:
        assert "cookie" not in arrival.headers and "authorization" not in arrival.headers


# --- hostile responses (rows 29-40) -----------------------------------------------------------

def test_a_404_page_that_cannot_be_read_is_still_a_404() -> None:
    """Its start is read only to tell a bot wall apart; when nothing of it can be seen (a
    length over 1 GiB, an unknown coding) the status decides: dead, at once (it was
    error/too_large or bad_encoding). One that is slow, cut or broken may be a wall that
    stalled after its markers (a review): never dead, as before."""
    heads = {"/huge": b"Content-Length: 10000000000\r\n\r\n",
             "/gzip": b"Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!",
             "/zstd": b"Content-Encoding: zstd\r\nContent-Length: 4\r\n\r\nabcd"}

    async def broken(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
                        + heads.get(request.path, b"Content-Length: 999\r\n\r\n"))
        while request.path == "/drip":
            await conn.send(b"a")
            await asyncio.sleep(0.05)
        if request.path == "/wall":  # a wall's markers, then a stall (server latency)
            await conn.send(b'<title>Access to this page has been denied</title>'
                            b'<div id="px-captcha"></div>')
            await asyncio.sleep(2)

    heads["/wall"] = b"Content-Length: 30000\r\n\r\n"
    r = run(broken, ["/huge", "/gzip", "/zstd", "/drip", "/wall"], replace(FAST, max_attempts=3))
    for path in ("/huge", "/zstd"):
        result = r.at(path)
        assert (status(result), result.attempts) == ((LinkStatus.DEAD, "http_404"), 1), path
    assert status(r.at("/gzip")) == (LinkStatus.ERROR, "decoding")
    assert status(r.at("/drip"))[0] is LinkStatus.TIMEOUT
    assert status(r.at("/wall"))[0] is not LinkStatus.DEAD


def test_huge_content_length_is_not_read() -> None:  # row 29
    async def huge(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        b"Content-Length: 10000000000\r\n\r\n" + bytes(65536) * 4)

    r = run(huge, "/")
    assert status(r.one()) == (LinkStatus.ERROR, "too_large")
    assert r.one().body == b"" and r.fetcher.bytes_read == 0


def test_large_but_sane_bodies_are_read_up_to_the_cap() -> None:
    async def big(request: Request, conn: Conn) -> None:
        await conn.respond(200, b"<html><head>" + b"x" * (1 << 20))

    r = run(big, [("/p", LinkKind.PAGE), ("/i", LinkKind.IMAGE)])
    assert len(r.at("/p").body) == FAST.page_bytes
    assert len(r.at("/i").body) == FAST.image_bytes
    assert status(r.at("/p"))[0] is LinkStatus.OK
    assert r.fetcher.bytes_read < FAST.page_bytes + FAST.image_bytes + 2 * 65536


def test_endless_chunked_body_stops_at_the_cap() -> None:  # row 30
    async def endless(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        while True:
            await conn.send(b"4000\r\n" + b"a" * 0x4000 + b"\r\n")

    r = run(endless, "/")
    assert len(r.one().body) == FAST.page_bytes
    assert r.one().bytes_read < FAST.page_bytes + 65536
    assert r.elapsed < 1.0


@functools.cache
def bomb(encoding: str) -> bytes:
    """gzip: 200 MiB of zeros in ~200 KB; br: 256 MiB in a few hundred bytes."""
    if encoding == "gzip":
        return gzip_bomb(200 << 20)
    compressor = brotli.Compressor(quality=5)
    block = bytes(1 << 20)
    return b"".join([compressor.process(block) for _ in range(256)] + [compressor.finish()])


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_compression_bombs_stop_at_the_cap_in_bounded_memory(encoding: str) -> None:  # 31, 32
    payload = bomb(encoding)

    async def bombing(request: Request, conn: Conn) -> None:
        await conn.respond(200, payload, [("Content-Encoding", encoding)])

    tracemalloc.start()
    try:
        r = run(bombing, [("/p", LinkKind.PAGE), ("/i", LinkKind.IMAGE)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(r.at("/p").body) == FAST.page_bytes
    assert len(r.at("/i").body) == FAST.image_bytes
    assert peak < len(payload) + 8 * FAST.page_bytes + (4 << 20)  # the payload itself is traced
    assert r.elapsed < 2.0


@pytest.mark.parametrize("header", ["gzip, gzip", "br, gzip", ", ".join(["identity"] * 5000),
                                    "gzip, xyz", "zstd"])
def test_stacked_and_unknown_encodings_are_refused(header: str) -> None:  # rows 32, 33
    async def stacked(request: Request, conn: Conn) -> None:
        await conn.respond(200, gzipped(gzipped(page())), [("Content-Encoding", header)])

    r = run(stacked, "/")
    assert status(r.one()) == (LinkStatus.ERROR, "bad_encoding")
    assert r.one().body == b"" and r.fetcher.bytes_read == 0


@pytest.mark.parametrize("header", ["utf-8", "binary", "none"])
def test_a_coding_token_that_names_no_compression_passes_the_bytes(header: str) -> None:
    """S3 metadata and misconfigured servers label plain bytes ``Content-Encoding: utf-8``:
    browsers show the page, so it is ok with its metadata, not error/bad_encoding."""
    async def labelled(request: Request, conn: Conn) -> None:
        await conn.respond(200, page(), [("Content-Encoding", header)])

    r = run(labelled, "/")
    assert status(r.one()) == (LinkStatus.OK, "http_200")
    assert r.one().body == page()


TRUNCATED = gzipped(page(random.Random(7).randbytes(20_000).hex()))[:3000]


@pytest.mark.parametrize("body", [page(), TRUNCATED])
def test_lying_or_truncated_encoding_gives_no_body(body: bytes) -> None:  # row 34
    async def liar(request: Request, conn: Conn) -> None:
        await conn.respond(200, body, [("Content-Encoding", "gzip")])

    r = run(liar, "/")
    assert status(r.one()) == (LinkStatus.ERROR, "decoding")
    assert r.one().body == b""


def test_honest_encodings_are_decoded() -> None:
    import zlib
    html = page("Zipped")
    variants = {"/gz": ("gzip", gzipped(html)), "/br": ("br", brotli.compress(html)),
                "/zl": ("deflate", zlib.compress(html)),
                "/raw": ("deflate", zlib.compress(html)[2:-4])}

    def handler_for(coding: str, data: bytes) -> Callable[[Request, Conn], object]:
        async def handler(request: Request, conn: Conn) -> None:
            await conn.respond(200, data, [("Content-Encoding", coding)])
        return handler

    r = run({p: handler_for(*v) for p, v in variants.items()}, list(variants))
    for path in variants:  # short pages: read whole (the head plus up to 128 KiB of body)
        assert r.at(path).body == html, path


def test_slowloris_ends_at_the_deadline() -> None:  # row 35
    async def drip(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        b"Content-Length: 999\r\n\r\n")
        while True:
            await conn.send(b"a")
            await asyncio.sleep(0.05)

    r = run(drip, "/")
    assert status(r.one()) == (LinkStatus.TIMEOUT, "timeout")
    assert FAST.request_deadline - 0.05 < r.elapsed < FAST.request_deadline + 0.5


def test_silent_server_and_full_backlog_time_out() -> None:  # row 36
    async def silent(request: Request, conn: Conn) -> None:
        await asyncio.Event().wait()

    r = run(silent, "/")
    assert status(r.one()) == (LinkStatus.TIMEOUT, "timeout")
    assert r.elapsed < FAST.read_timeout + 0.5

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        port = listener.getsockname()[1]
        filler = socket.socket()
        filler.connect(("127.0.0.1", port))  # the accept queue is now full
        fillers.append(filler)
        r = run(silent, f"http://a.test:{port}/")
        assert status(r.one()) == (LinkStatus.TIMEOUT, "timeout")
        assert "connect" in (r.one().detail or "")
        assert r.elapsed < FAST.connect_timeout + 0.5
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_header_bomb_and_short_body_are_protocol_errors() -> None:  # rows 37, 38
    async def header_bomb(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 100_000 + b"\r\n")

    async def short(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n"
                        b"\r\n<html><he")
        conn.close()

    r = run({"/bomb": header_bomb, "/short": short}, ["/bomb", "/short"])
    assert status(r.at("/bomb")) == (LinkStatus.ERROR, "protocol")
    assert status(r.at("/short")) == (LinkStatus.ERROR, "protocol")
    assert r.at("/short").body == b""


def test_our_header_cap_applies_below_h11s() -> None:
    async def fat(request: Request, conn: Conn) -> None:
        await conn.respond(200, page(), [(f"X-{i}", "v" * 100) for i in range(200)])

    r = run(fat, "/", replace(FAST, max_header_bytes=8 * 1024))
    assert status(r.one()) == (LinkStatus.ERROR, "protocol")


@pytest.mark.parametrize("ctype", ["video/mp4", "audio/mpeg", "application/octet-stream",
                                   "text/plain", None])
def test_non_html_pages_are_not_read_but_reachable(ctype: str | None) -> None:  # row 39
    async def media(request: Request, conn: Conn) -> None:
        await conn.respond(200, bytes(200_000), content_type=ctype)

    r = run(media, "/")
    assert status(r.one()) == (LinkStatus.OK, "http_200")
    assert r.one().body == b"" and r.fetcher.bytes_read == 0


def test_transient_statuses_are_retried_and_dead_ones_never() -> None:  # row 40
    counts: dict[str, int] = {}

    def counting(inner: Callable[[Request, Conn], object]) -> Callable[[Request, Conn], object]:
        async def handler(request: Request, conn: Conn) -> None:
            counts[request.path] = counts.get(request.path, 0) + 1
            await inner(request, conn)  # type: ignore[misc]
        return handler

    table = {"/404": code(404), "/410": code(410), "/500": code(500), "/403": code(403),
             "/429": code(429, [("Retry-After", "999999")]),
             "/503": code(503, [("Retry-After", "999999")]),
             "/429short": code(429, [("Retry-After", "1")])}
    # a cap of 1 s: a Retry-After past it holds the host for the cap, not for a minute
    config = replace(FAST, max_attempts=3, retry_after_cap=1.0)
    r = run({p: counting(h) for p, h in table.items()}, list(table), config)
    assert counts == {"/404": 1, "/410": 1, "/500": 3, "/403": 1, "/429": 1, "/503": 1,
                      "/429short": 3}
    assert status(r.at("/404")) == (LinkStatus.DEAD, "http_404")
    assert status(r.at("/500")) == (LinkStatus.ERROR, "http_500") and r.at("/500").attempts == 3
    assert status(r.at("/429")) == (LinkStatus.BLOCKED, "retry_after_too_long")
    assert status(r.at("/503")) == (LinkStatus.ERROR, "retry_after_too_long")
    assert status(r.at("/429short")) == (LinkStatus.BLOCKED, "http_429")
    assert r.sleeps.count(1.0) == 2  # Retry-After honoured (the test's sleep returns at once)


def test_head_falls_back_to_get() -> None:  # row 40, reachability
    methods: list[tuple[str, str]] = []

    async def picky(request: Request, conn: Conn) -> None:
        methods.append((request.path, request.method))
        if request.method == "HEAD" and request.path != "/fine":
            await conn.respond({"/405": 405, "/403": 403, "/501": 501}[request.path])
        else:
            await conn.respond(200, page())

    r = run(picky, ["/405", "/403", "/501", "/fine"], kind=LinkKind.REACH)
    assert {status(x)[0] for x in r.results.values()} == {LinkStatus.OK}
    assert sorted(methods) == sorted([("/405", "HEAD"), ("/405", "GET"), ("/403", "HEAD"),
                                      ("/403", "GET"), ("/501", "HEAD"), ("/501", "GET"),
                                      ("/fine", "HEAD")])
    assert len(r.at("/405").body) <= FAST.reach_bytes


def test_a_head_that_hangs_falls_back_to_get_at_once() -> None:
    methods: list[str] = []

    async def head_hangs(request: Request, conn: Conn) -> None:
        methods.append(request.method)
        if request.method == "HEAD":
            await asyncio.Event().wait()  # the client's deadline ends it
        await conn.respond(200, page())

    r = run(head_hangs, "/amp", replace(FAST, max_attempts=3), kind=LinkKind.REACH)
    assert status(r.one())[0] is LinkStatus.OK and r.one().attempts == 2
    assert methods == ["HEAD", "GET"]


def test_after_a_head_hung_the_hosts_other_links_go_by_get() -> None:
    """A host whose HEAD never answers cost a whole deadline per ampWebUrl; after the first
    one, its links are checked by GET at once (other hosts still get HEAD)."""
    methods: list[tuple[str, str]] = []

    async def head_hangs(request: Request, conn: Conn) -> None:
        methods.append((request.path, request.method))
        if request.method == "HEAD" and request.path.startswith("/amp"):
            await asyncio.Event().wait()  # the client's deadline ends it
        await conn.respond(200, page())

    r = run(head_hangs, ["/amp1", "/amp2", "/amp3"], replace(FAST, host_concurrency=1),
            kind=LinkKind.REACH)
    assert {status(x)[0] for x in r.results.values()} == {LinkStatus.OK}
    assert sorted(methods) == [("/amp1", "GET"), ("/amp1", "HEAD"), ("/amp2", "GET"),
                               ("/amp3", "GET")]


def test_a_bad_head_answer_is_confirmed_by_get() -> None:
    """HEAD 404/410/500 while the page works: ok, never dead. Gone for GET too: dead, after
    one GET; a 429 or 503 on HEAD is not re-asked with GET."""
    methods: list[tuple[str, str]] = []
    head_says = {"/h404": 404, "/h410": 410, "/h500": 500, "/gone": 410, "/busy": 429,
                 "/down": 503}

    async def head_liar(request: Request, conn: Conn) -> None:
        methods.append((request.path, request.method))
        if request.method == "HEAD" or request.path in ("/gone", "/busy", "/down"):
            await conn.respond(head_says[request.path])
        else:
            await conn.respond(200, page())

    r = run(head_liar, list(head_says), kind=LinkKind.REACH)
    for path in ("/h404", "/h410", "/h500"):
        assert status(r.at(path))[0] is LinkStatus.OK, path
        assert r.at(path).attempts == 2
    assert status(r.at("/gone")) == (LinkStatus.DEAD, "http_410")
    assert [m for p, m in methods if p == "/gone"] == ["HEAD", "GET"]
    assert [m for p, m in methods if p == "/busy"] == ["HEAD"]
    assert [m for p, m in methods if p == "/down"] == ["HEAD"]


def test_the_get_fallback_starts_again_at_the_url_not_where_head_was_sent() -> None:
    """A server that mishandles HEAD redirects it to its error page: the GET that confirms
    asks for the URL itself (200 here), not for the page HEAD was sent to (a 404)."""
    methods: list[tuple[str, str]] = []

    async def head_misrouted(request: Request, conn: Conn) -> None:
        methods.append((request.path, request.method))
        if request.path == "/errors/not-found":
            await conn.respond(404, page())
        elif request.method == "HEAD":
            await conn.respond(302, b"", [("Location", "/errors/not-found")])
        else:
            await conn.respond(200, page())

    r = run(head_misrouted, "/amp/story-3", kind=LinkKind.REACH)
    assert status(r.one()) == (LinkStatus.OK, "http_200")
    assert r.one().redirects == () and r.one().final_url is None
    assert methods == [("/amp/story-3", "HEAD"), ("/errors/not-found", "HEAD"),
                       ("/amp/story-3", "GET")]


def test_a_location_header_is_taken_as_written_and_several_are_refused() -> None:
    """A Location is an HTTP header: no HTML character reference in it is decoded (a record's
    &#038; is; a header's &amp; stays), and Location headers that disagree (browsers refuse
    those) end the job as bad_redirect instead of a joined 'A, B' being followed."""
    targets: list[str] = []

    async def redirects(request: Request, conn: Conn) -> None:
        targets.append(request.target)
        if request.target == "/amp":
            await conn.respond(302, b"", [("Location", "/next?a=1&amp;b=2")])
        elif request.target == "/two":
            await conn.respond(302, b"", [("Location", "/x"), ("Location", "/y")])
        elif request.target == "/same":
            await conn.respond(302, b"", [("Location", "/x"), ("Location", "/x")])
        else:
            await conn.respond(200, page())

    r = run(redirects, ["/amp", "/two", "/same"])
    assert "/next?a=1&amp;b=2" in targets and r.at("/amp").final_url.endswith("/next?a=1&amp;b=2")
    assert r.at("/two").failure == "bad_redirect" and "/y" not in targets
    assert status(r.at("/same"))[0] is LinkStatus.OK and r.at("/same").final_url.endswith("/x")


def test_conditional_requests_and_headers_sent() -> None:
    seen: list[Mapping[str, str]] = []

    async def cond(request: Request, conn: Conn) -> None:
        seen.append(request.headers)
        if request.headers.get("if-none-match") == '"v1"':
            await conn.respond(304, b"")
        else:
            await conn.respond(200, page(), [("ETag", '"v1"')])

    config = replace(FAST, headers={"X-Extra": "1"},
                     hosts={"b.test": HostPolicy(user_agent="special/1", headers={"X-B": "2"})})

    async def main() -> dict[str, FetchResult]:
        async with NetServer(cond) as srv:
            out: dict[str, FetchResult] = {}
            async with Fetcher(config, resolver=FakeResolver(dict(HOSTS))) as f:
                await f.fetch_all(
                    [(srv.url("a.test", "/x"), LinkKind.PAGE), (srv.url("b.test", "/y"),
                                                                LinkKind.PAGE)],
                    lambda r: out.__setitem__(r.url, r),
                    conditional=lambda u, kind: {"If-None-Match": '"v1"'} if "/x" in u else None)
            return out

    out = asyncio.run(main())
    a = next(r for u, r in out.items() if "/x" in u)
    b = next(r for u, r in out.items() if "/y" in u)
    assert a.not_modified and classify(a).reason == "not_modified"
    assert b.headers.get("etag") == '"v1"'
    by_host = {h["host"].split(":")[0]: h for h in seen}
    assert by_host["a.test"]["user-agent"] == config.user_agent
    assert by_host["b.test"]["user-agent"] == "special/1" and by_host["b.test"]["x-b"] == "2"
    assert "x-b" not in by_host["a.test"] and by_host["a.test"]["x-extra"] == "1"
    assert "br" in by_host["a.test"]["accept-encoding"]
    for headers in seen:
        assert "cookie" not in headers and "authorization" not in headers


def test_http_proxy_from_the_environment() -> None:
    async def proxy(request: Request, conn: Conn) -> None:
        await conn.respond(200, page(request.target))

    async def main() -> tuple[list[str], dict[str, FetchResult], FakeResolver]:
        async with NetServer(proxy) as srv:
            resolver = FakeResolver(dict(HOSTS))
            env = {"HTTP_PROXY": f"http://127.0.0.1:{srv.port}", "NO_PROXY": "b.test"}
            out: dict[str, FetchResult] = {}
            async with Fetcher(FAST, resolver=resolver, env=env) as f:
                await f.fetch_all([("http://a.test:8080/via", LinkKind.PAGE),
                                   (srv.url("b.test", "/direct"), LinkKind.PAGE)],
                                  lambda r: out.__setitem__(r.url, r))
            return [a.target for a in srv.arrivals], out, resolver

    targets, out, resolver = asyncio.run(main())
    assert "http://a.test:8080/via" in targets  # absolute-form: the proxy resolves the name
    assert "/direct" in targets  # NO_PROXY: straight to the server
    assert resolver.calls["a.test"] == 0 and resolver.calls["b.test"] == 1
    assert {r.http_status for r in out.values()} == {200}


def test_a_proxys_own_not_found_page_never_makes_a_link_dead() -> None:
    """Behind a proxy, plain-http URLs get the proxy's own error page when it cannot resolve
    or reach the site: squid marks it X-Squid-Error, Privoxy answers "404 No such domain".
    Such a 404 is the proxy's trouble (error/proxy); a site's own 404 passed on stays dead.
    So is squid's 403 access denial, and a 407 (blocked/http_403 and error/http_407 were
    blamed on the site for http:// URLs, while https:// ones said proxy)."""
    async def proxy(request: Request, conn: Conn) -> None:
        if "squid" in request.target:
            await conn.respond(404, page("ERROR"), [("X-Squid-Error", "ERR_DNS_FAIL 0")])
        elif "privoxy" in request.target:
            body = page("404 - No such domain (Privoxy@proxy)")
            await conn.send(b"HTTP/1.1 404 No such domain\r\nContent-Type: text/html\r\n"
                            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        elif "denied" in request.target:  # squid's access list: its own 403
            await conn.respond(403, page("ERROR"), [("X-Squid-Error", "ERR_ACCESS_DENIED 0")])
        elif "auth" in request.target:
            await conn.respond(407, page("Proxy Authentication Required"),
                               [("Proxy-Authenticate", 'Basic realm="corp"')])
        elif "walled" in request.target:  # the site's own 403, passed on
            await conn.respond(403, page("Forbidden"), [("Via", "1.1 proxy")])
        else:
            await conn.respond(404, page("Not found"), [("Via", "1.1 proxy")])

    async def main() -> dict[str, FetchResult]:
        async with NetServer(proxy) as srv:
            env = {"HTTP_PROXY": f"http://127.0.0.1:{srv.port}"}
            out: dict[str, FetchResult] = {}
            async with Fetcher(FAST, resolver=FakeResolver(dict(HOSTS)), env=env) as f:
                await f.fetch_all([(f"http://{name}.example/story", LinkKind.PAGE)
                                   for name in ("squid", "privoxy", "site", "denied", "auth",
                                                "walled")],
                                  lambda r: out.__setitem__(r.url.split("/")[2], r))
            return out

    out = asyncio.run(main())
    assert status(out["squid.example"]) == (LinkStatus.ERROR, "proxy")
    assert status(out["privoxy.example"]) == (LinkStatus.ERROR, "proxy")
    assert status(out["site.example"]) == (LinkStatus.DEAD, "http_404")
    # the proxy's access denial and its demand for credentials are no verdict on the site
    assert status(out["denied.example"]) == (LinkStatus.ERROR, "proxy")
    assert status(out["auth.example"]) == (LinkStatus.ERROR, "proxy")
    assert "user:password" in (out["auth.example"].detail or "")
    assert status(out["walled.example"]) == (LinkStatus.BLOCKED, "http_403")


def test_an_https_proxy_is_verified_with_the_ca_bundle(ca: trustme.CA, bundle: str) -> None:
    """--proxy https://... --ca-bundle corp-ca.pem (the README's own example): the proxy's
    certificate was checked against certifi only, so every URL was error/tls."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    async def proxy(request: Request, conn: Conn) -> None:
        await conn.respond(200, page(request.target))

    async def main() -> tuple[list[str], list[FetchResult]]:
        async with NetServer(proxy, tls=server_ctx) as srv:
            config = replace(FAST, proxy=f"https://127.0.0.1:{srv.port}", ca_bundle=bundle)
            out: list[FetchResult] = []
            async with Fetcher(config, resolver=FakeResolver(dict(HOSTS)), env={}) as f:
                await f.fetch_all([("http://a.test:8080/via", LinkKind.PAGE)], out.append)
            return [a.target for a in srv.arrivals], out

    targets, out = asyncio.run(main())
    assert targets == ["http://a.test:8080/via"]
    assert [(r.http_status, r.failure) for r in out] == [(200, None)]


def test_a_sites_own_answer_through_a_connect_tunnel_is_the_sites(ca: trustme.CA,
                                                                  bundle: str) -> None:
    """Inside a CONNECT tunnel the proxy writes nothing: an https site's own 403 or 404
    carrying X-Squid-Error (its squid front end) is its verdict, blocked or dead, not
    error/proxy (only a plain http answer the proxy forwarded may be the proxy's own)."""
    site_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("a.test").configure_cert(site_ctx)

    async def site(request: Request, conn: Conn) -> None:
        code = 403 if request.target == "/deny" else 404
        await conn.respond(code, page("no"), [("X-Squid-Error", "ERR_ACCESS_DENIED 0")])

    async def main() -> dict[str, FetchResult]:
        async with NetServer(site, tls=site_ctx) as srv:
            async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"CONNECT a.test:")
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", srv.port)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

            proxy = await asyncio.start_server(tunnel, "127.0.0.1", 0)
            port = proxy.sockets[0].getsockname()[1]
            config = replace(FAST, proxy=f"http://127.0.0.1:{port}", ca_bundle=bundle)
            out: dict[str, FetchResult] = {}
            async with Fetcher(config, resolver=FakeResolver(dict(HOSTS)), env={}) as f:
                await f.fetch_all([(f"https://a.test:{srv.port}/{p}", LinkKind.PAGE)
                                   for p in ("deny", "gone")],
                                  lambda r: out.__setitem__(r.url.rsplit("/", 1)[1], r))
            proxy.close()
            return out

    out = asyncio.run(main())
    assert status(out["deny"]) == (LinkStatus.BLOCKED, "http_403")
    assert status(out["gone"]) == (LinkStatus.DEAD, "http_404")


def test_a_sites_own_tls_failure_inside_a_tunnel_is_the_sites(ca: trustme.CA) -> None:
    """The proxy opened the tunnel (200 to CONNECT); the site's certificate is not trusted:
    that is the site's ``tls`` (its expired or foreign certificate), not ``proxy``."""
    site_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("a.test").configure_cert(site_ctx)  # the bundle below does not hold ca

    async def site(request: Request, conn: Conn) -> None:
        await conn.respond(200, page())

    async def main() -> list[FetchResult]:
        async with NetServer(site, tls=site_ctx) as srv:
            async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await reader.readuntil(b"\r\n\r\n")
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", srv.port)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                with contextlib.suppress(ConnectionError):
                    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

            proxy = await asyncio.start_server(tunnel, "127.0.0.1", 0)
            port = proxy.sockets[0].getsockname()[1]
            config = replace(FAST, proxy=f"http://127.0.0.1:{port}", max_attempts=1)
            out: list[FetchResult] = []
            async with Fetcher(config, resolver=FakeResolver(dict(HOSTS)), env={}) as f:
                await f.fetch_all([(f"https://a.test:{srv.port}/x", LinkKind.PAGE)], out.append)
            proxy.close()
            return out

    (result,) = asyncio.run(main())
    assert result.failure == "tls", result.detail


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


# --- politeness, breaker, outage, cancellation ------------------------------------------------

class Stamped(httpx.AsyncBaseTransport):
    """Wraps a real transport; notes when each request is handed to it (per host)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, log: list[tuple[str, float]]) -> None:
        self.inner, self.log = inner, log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((request.url.host, time.monotonic()))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_politeness_limits_hold_with_retries() -> None:
    tries: dict[str, int] = {}

    async def slow(request: Request, conn: Conn) -> None:
        tries[request.host + request.path] = tries.get(request.host + request.path, 0) + 1
        await asyncio.sleep(0.12)  # simulated server latency, not synchronisation
        if request.path.endswith("flaky") and tries[request.host + request.path] == 1:
            await conn.respond(503, b"busy")
        else:
            await conn.respond(200, page())

    config = replace(FAST, max_concurrency=5, host_concurrency=2, host_request_interval=0.05,
                     host_interval_jitter=0.2, max_attempts=3,
                     hosts={"c.test": HostPolicy(concurrency=1, interval=0.1)})
    items = [(f"http://{h}:{{port}}/{i}{'flaky' if i % 3 == 0 else ''}", LinkKind.PAGE)
             for h in ("a.test", "b.test", "c.test") for i in range(7)]
    sent: list[tuple[str, float]] = []
    real = TransportFactory(Guard(FakeResolver(dict(HOSTS)), allow_private=True),
                            ca_bundle=None, proxy=None, http2=False, env={})

    async def main() -> tuple[NetServer, dict[str, FetchResult]]:
        async with NetServer(slow) as srv:
            out: dict[str, FetchResult] = {}
            async with Fetcher(config, resolver=FakeResolver(),
                               transport_factory=lambda **kw: Stamped(real(**kw), sent)) as f:
                await f.fetch_all([(u.format(port=srv.port), k) for u, k in items],
                                  lambda r: out.__setitem__(r.url, r))
            return srv, out

    srv, out = asyncio.run(main())
    assert {r.http_status for r in out.values()} == {200}
    assert sum(r.attempts for r in out.values()) == 21 + 9  # 9 flaky URLs retried once
    assert len(srv.arrivals) == len(sent) == 30
    # concurrency, as the server saw it
    assert srv.peak["a.test"] == srv.peak["b.test"] == 2 and srv.peak["c.test"] == 1
    for host, interval in (("a.test", 0.05), ("b.test", 0.05), ("c.test", 0.1)):
        # spacing between request starts, retries included: exact where requests leave us
        starts = [t for h, t in sent if h == host]
        # (the interval is a minimum: jitter only adds to it)
        assert min(b - a for a, b in itertools.pairwise(starts)) >= interval - 0.001
        # as the server saw it: connection setup blurs single gaps, the mean holds
        arrived = srv.starts(host)
        gaps = [b - a for a, b in itertools.pairwise(arrived)]
        assert sum(gaps) / len(gaps) >= interval, (host, gaps)


def test_global_limit_holds() -> None:
    active = 0
    peak = 0

    async def handler(request: Request, conn: Conn) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1
        await conn.respond(200, page())

    items = [(f"/{i}", LinkKind.PAGE) for i in range(4)]
    config = replace(FAST, max_concurrency=3, host_concurrency=4)

    async def main() -> int:
        async with NetServer(handler) as srv:
            todo = [(srv.url(h, p), k) for h in HOSTS for p, k in items]
            done: list[FetchResult] = []
            async with Fetcher(config, resolver=FakeResolver(dict(HOSTS))) as f:
                await f.fetch_all(todo, done.append)
            return len(done)

    assert asyncio.run(main()) == 4 * len(HOSTS)
    assert peak <= 3


def test_circuit_breaker_skips_the_rest_of_a_dead_host() -> None:
    port = free_port()
    config = replace(FAST, host_concurrency=1, breaker_threshold=3, max_attempts=3)
    r = run(ok_page(), [f"http://a.test:{port}/{i}" for i in range(20)], config)
    failures = sorted(x.failure or "" for x in r.results.values())
    assert failures.count("connect") == 3
    assert failures.count("host_unreachable") == 17
    assert r.fetcher.requests == 3
    assert all(classify(x).status is LinkStatus.ERROR for x in r.results.values())


def test_the_breaker_is_per_origin() -> None:
    """A closed port condemns its own URLs, not the same host's other ports (nor, alike,
    a site's https:// URLs when it filters port 80)."""
    closed = free_port()
    config = replace(FAST, host_concurrency=1, breaker_threshold=3)
    r = run(ok_page(), [f"http://a.test:{closed}/{p}" for p in "abcd"]
            + [f"/ok{i}" for i in range(1, 7)], config)
    for i in range(1, 7):
        assert status(r.at(f"/ok{i}")) == (LinkStatus.OK, "http_200")
        assert r.at(f"/ok{i}").attempts == 1
    assert [r.at(f":{closed}/{p}").failure for p in "abcd"] == ["connect"] * 3 + [
        "host_unreachable"]
    assert r.at(f":{closed}/d").attempts == 0
    assert f"http://a.test:{closed}" in (r.at(f":{closed}/d").detail or "")


def test_retry_after_holds_back_the_whole_host() -> None:
    """One 429 (a.test) or 503 (c.test) with Retry-After: 1 and no request to that host
    starts within the second, first attempts of other URLs and retries alike; another host
    (b.test) is served meanwhile through the one global slot."""
    told: dict[str, float] = {}  # host -> when the server said "come back in 1 s"

    async def handler(request: Request, conn: Conn) -> None:
        refusal = {"a.test": 429, "c.test": 503}.get(request.host)
        if refusal is not None and request.host not in told:
            await conn.respond(refusal, b"", [("Retry-After", "1")])
            told[request.host] = time.monotonic()
        else:
            await conn.respond(200, page())

    config = replace(FAST, max_concurrency=1, host_concurrency=1, host_request_interval=0.02,
                     max_attempts=2)
    paths = [f"http://{h}:{{port}}/{i}" for h in ("a.test", "c.test", "b.test")
             for i in range(4)]
    r = run(handler, paths, config)
    assert {x.http_status for x in r.results.values()} == {200}
    assert r.sleeps == [1.0, 1.0]  # the retry waits were Retry-After's (returned at once here)
    for host in ("a.test", "c.test"):
        first, *later = r.server.starts(host)
        assert len(later) == 4  # the retry and three first attempts
        assert told[host] - first < 0.5
        assert min(later) >= told[host] + 1.0, (host, [t - told[host] for t in later])
    assert max(r.server.starts("b.test")) < min(told.values()) + 1.0


@pytest.mark.parametrize(("url", "origin"), [
    ("http://a.test/x", "http://a.test:80"),
    ("https://a.test:8443/x?y", "https://a.test:8443"),
    ("https://A.Test./", "https://a.test:443"),  # parsed as httpx does: case, trailing dot
    ("http://a.test:80/", "http://a.test:80"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
    ("http://secret.example:80@evil.example/", "http://evil.example:80"),
])
def test_request_origin_is_where_the_url_connects(url: str, origin: str) -> None:
    assert request_origin(url) == origin


def test_one_hanging_url_does_not_trip_its_hosts_breaker() -> None:
    """The breaker counts URLs, not attempts: one page's three timeouts (its retries) on a
    host that answers everything else leave the other pages alone."""
    async def handler(request: Request, conn: Conn) -> None:
        if request.path == "/slow":
            await asyncio.Event().wait()  # never answers; the client's deadline ends it
        await conn.respond(200, page())

    config = replace(FAST, host_concurrency=1, breaker_threshold=3, max_attempts=3)
    r = run(handler, ["/slow"] + [f"/{i}" for i in range(8)], config)
    assert status(r.at("/slow"))[0] is LinkStatus.TIMEOUT and r.at("/slow").attempts == 3
    assert {status(r.at(f"/{i}"))[0] for i in range(8)} == {LinkStatus.OK}


def test_breaker_ignores_cached_dns_answers() -> None:
    port = free_port()
    r = run(ok_page(), [f"http://nx.test:{port}/{i}" for i in range(10)],
            replace(FAST, breaker_threshold=2))
    assert {status(x) for x in r.results.values()} == {(LinkStatus.DEAD, "dns")}


def test_outage_guard() -> None:
    port = free_port()
    hosts = [f"h{i}.test" for i in range(25)]
    down = FakeResolver({h: OSError("network unreachable") for h in hosts})
    r = run(ok_page(), [f"http://{h}:{port}/" for h in hosts], resolver=down,
            outage_min_hosts=20, outage_ratio=0.95)
    assert r.fetcher.network_down
    assert {x.failure for x in r.results.values()} == {"dns_error"}

    half = FakeResolver({h: (["127.0.0.1"] if i % 2 else OSError("unreachable"))
                         for i, h in enumerate(hosts)})
    r = run(ok_page(), [f"http://{h}:{{port}}/" for h in hosts], resolver=half,
            outage_min_hosts=20, outage_ratio=0.95)
    assert sum(x.http_status == 200 for x in r.results.values()) == 12
    assert not r.fetcher.network_down
    few = run(ok_page(), [f"http://{h}:{port}/" for h in hosts[:5]], resolver=down,
              outage_min_hosts=20)
    assert not few.fetcher.network_down  # too few hosts to judge


def test_cancellation_stops_promptly() -> None:
    arrived = asyncio.Event()

    async def hang(request: Request, conn: Conn) -> None:
        arrived.set()
        await asyncio.Event().wait()

    async def main() -> tuple[float, int]:
        async with NetServer(hang) as srv:
            done: list[FetchResult] = []
            config = replace(FAST, request_deadline=30.0, read_timeout=30.0)
            async with Fetcher(config, resolver=FakeResolver(dict(HOSTS))) as f:
                task = asyncio.create_task(f.fetch_all(
                    [(srv.url("a.test", f"/{i}"), LinkKind.PAGE) for i in range(50)],
                    done.append))
                await arrived.wait()
                started = time.monotonic()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                return time.monotonic() - started, len(done)

    elapsed, finished = asyncio.run(main())
    assert elapsed < 0.5 and finished == 0


def test_with_a_mock_transport() -> None:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved":
            return httpx.Response(308, headers={"Location": "https://example.org/new"})
        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=b"\x89PNG" * 10)

    async def main() -> dict[str, FetchResult]:
        out: dict[str, FetchResult] = {}
        config = replace(FAST, allow_private=False)
        async with Fetcher(config, resolver=FakeResolver(),
                           transport_factory=lambda **_: httpx.MockTransport(handler)) as f:
            await f.fetch_all([("https://example.org/moved", LinkKind.IMAGE),
                               ("http://127.0.0.1/x", LinkKind.IMAGE)],
                              lambda r: out.__setitem__(r.url, r))
        return out

    out = asyncio.run(main())
    moved = out["https://example.org/moved"]
    assert status(moved) == (LinkStatus.REDIRECTED, "http_308")
    assert moved.body.startswith(b"\x89PNG")
    assert status(out["http://127.0.0.1/x"]) == (LinkStatus.BLOCKED, "forbidden_address")


def test_a_connect_timeout_on_head_is_retried_as_head_not_sent_as_get() -> None:
    """Only a failure that may be HEAD's own goes to the GET fallback: a host that does not
    answer the connection gets the ordinary retries (3 attempts), not 1 HEAD + 3 GETs."""
    import httpx

    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        raise httpx.ConnectTimeout("connect timed out", request=request)

    async def _no_sleep(seconds: float) -> None:  # retry backoff: not waited for here
        return None

    async def main() -> FetchResult:
        out: list[FetchResult] = []
        config = replace(FAST, allow_private=False, max_attempts=3)
        async with Fetcher(config, resolver=FakeResolver(),
                           transport_factory=lambda **_: httpx.MockTransport(handler),
                           sleep=_no_sleep) as f:
            await f.fetch_all([("https://example.org/amp", LinkKind.REACH)], out.append)
        return out[0]

    result = asyncio.run(main())
    assert status(result) == (LinkStatus.TIMEOUT, "timeout") and result.attempts == 3
    assert methods == ["HEAD"] * 3


@pytest.mark.parametrize(("value", "seen"), [
    ("text/html", "text/html"),
    ("text/html, text/html", "text/html"),
    ("text/html; charset=utf-8, text/html", "text/html; charset=utf-8"),
    ("text/plain, text/html", "text/html"),
    ("text/html, */*", "text/html"),
    ("text/html;charset=gbk, text/html; charset=utf-8", "text/html; charset=utf-8"),
    ("text/html; charset=gbk, image/png", "image/png"),
    ("nonsense", "nonsense"),
])
def test_a_content_type_list_reads_as_browsers_read_it(value: str, seen: str) -> None:
    assert last_media_type(value) == seen


@pytest.mark.parametrize("fields", [("text/html", "text/html; charset=utf-8"),
                                    ("text/html; charset=utf-8", "text/html")])
def test_a_page_sent_with_two_content_types_is_still_a_page(fields: tuple[str, str]) -> None:
    """Two Content-Type fields (a CMS and a proxy each adding one) are joined into one
    list (``text/html, text/html; charset=utf-8`` was not HTML): still HTML, still parsed,
    charset kept."""
    from enricher.config import Config
    from enricher.outcome import interpret

    body = page("Tram línea nueva")

    async def twice(request: Request, conn: Conn) -> None:
        await conn.respond(200, body, [("Content-Type", value) for value in fields])

    r = run(twice, ["/p"])
    fetched = r.at("/p")
    assert fetched.content_type == "text/html; charset=utf-8" and fetched.body
    result = interpret(fetched, (), None, Config())
    assert result.page is not None and result.page.title == "Tram línea nueva"


def test_hanging_pages_of_a_host_that_answers_never_trip_its_breaker() -> None:
    """A timeout after the connection was made counts towards the breaker only until the
    host answers: a host that served a page is up, so its hanging pages are timeouts each
    and its other pages are read, however many hang in a row."""
    async def handler(request: Request, conn: Conn) -> None:
        if request.path.startswith("/hang"):
            await asyncio.Event().wait()  # never answers; the client's deadline ends it
        await conn.respond(200, page())

    config = replace(FAST, host_concurrency=1, breaker_threshold=3, max_attempts=1)
    hanging = [f"/hang{i}" for i in range(4)]
    r = run(handler, ["/first", *hanging, *(f"/{i}" for i in range(4))], config)
    assert {status(r.at(p)) for p in hanging} == {(LinkStatus.TIMEOUT, "timeout")}
    assert {status(r.at(f"/{i}")) for i in range(4)} == {(LinkStatus.OK, "http_200")}
    # a host that never answered: its hanging pages do trip it
    r = run(handler, [*hanging, *(f"/{i}" for i in range(4))], config)
    assert [r.at(p).failure for p in hanging] == ["timeout"] * 3 + ["host_unreachable"]
    assert {r.at(f"/{i}").failure for i in range(4)} == {"host_unreachable"}


def test_a_429_without_retry_after_rests_the_whole_host_for_the_backoff() -> None:
    """A host that refuses one request with a bare 429 gets no request at all for the
    backoff's ceiling (0.3 s here): the other URLs' first attempts wait too, not only the
    refused URL's retry; a second bare 429 in a row doubles the rest."""
    refusals: list[float] = []
    starts: list[tuple[str, float]] = []

    async def handler(request: Request, conn: Conn) -> None:
        starts.append((request.path, time.monotonic()))
        if request.path in ("/0", "/1") and len(refusals) < 2:
            refusals.append(time.monotonic())
            await conn.respond(429, page("slow down"))
        else:
            await conn.respond(200, page())

    config = replace(FAST, host_concurrency=1, host_request_interval=0.0, max_attempts=3,
                     backoff_base=0.3, backoff_max=10.0)
    r = run(handler, [f"/{i}" for i in range(5)], config)
    assert {x.http_status for x in r.results.values()} == {200}
    assert len(refusals) == 2
    after_first = [t for _, t in starts if refusals[0] < t < refusals[1]]
    assert all(t >= refusals[0] + 0.3 for t in after_first)
    after_second = [t for _, t in starts if t > refusals[1]]
    assert len(after_second) >= 3
    assert min(after_second) >= refusals[1] + 0.6, [t - refusals[1] for t in after_second]


def test_a_retry_after_past_the_cap_still_rests_the_host() -> None:
    """A 429 asking for an hour gives up its URL (retry_after_too_long), and the host gets
    the capped rest before its next request, not none."""
    arrived: dict[str, float] = {}

    async def handler(request: Request, conn: Conn) -> None:
        arrived[request.path] = time.monotonic()
        if request.path == "/busy":
            await conn.respond(429, page("busy"), [("Retry-After", "3600")])
        else:
            await conn.respond(200, page())

    config = replace(FAST, host_concurrency=1, retry_after_cap=0.3)
    r = run(handler, ["/busy", "/next"], config)
    assert status(r.at("/busy")) == (LinkStatus.BLOCKED, "retry_after_too_long")
    assert status(r.at("/next")) == (LinkStatus.OK, "http_200")
    assert arrived["/next"] - arrived["/busy"] >= 0.3


def test_a_host_that_drops_every_connection_is_skipped_after_three_connect_timeouts() -> None:
    """A connect that times out says nothing of a page: each attempt counts towards the
    breaker, retries included, so the first URL's three attempts condemn the host (it took
    seven connect timeouts, two URLs' retries, before)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.socket()
    try:
        port = listener.getsockname()[1]
        filler.connect(("127.0.0.1", port))  # the accept queue is full: SYNs are dropped
        config = replace(FAST, host_concurrency=1, breaker_threshold=3, max_attempts=3)
        r = run(ok_page(), [f"http://a.test:{port}/{i}" for i in range(5)], config)
        first = r.at("/0")
        assert (first.failure, first.attempts) == ("timeout", 3)
        assert [r.at(f"/{i}").failure for i in range(1, 5)] == ["host_unreachable"] * 4
        assert r.fetcher.requests == 3
    finally:
        filler.close()
        listener.close()


def test_urls_refused_by_the_address_policy_spend_no_spacing() -> None:
    """Refused before any connection (a private literal address, a name that resolves to
    one): no request left, so the host's spacing must not move (a run of 300 such URLs
    took 30 s and sent nothing)."""
    config = replace(FAST, host_request_interval=5.0, host_concurrency=1)
    resolver = FakeResolver({**HOSTS, "intranet.example": ["10.1.2.3"]})

    async def main() -> tuple[dict[str, FetchResult], float, float]:
        out: dict[str, FetchResult] = {}
        fetcher = Fetcher(replace(config, allow_private=False), resolver=resolver)
        async with fetcher:
            started = time.monotonic()
            await fetcher.fetch_all(
                [(f"http://10.1.2.3/{i}", LinkKind.PAGE) for i in range(5)]
                + [(f"http://intranet.example/{i}", LinkKind.PAGE) for i in range(5)],
                lambda r: out.__setitem__(r.url, r))
            slots = [fetcher._sched.slot(h).next_start for h in ("10.1.2.3", "intranet.example")]
        return out, started, max(slots)

    out, started, next_start = asyncio.run(main())
    assert {r.failure for r in out.values()} == {"forbidden_address"}
    assert all(r.attempts == 0 for r in out.values())
    assert next_start < started + 5.0  # not 5 intervals ahead (25 s): no spacing was spent
