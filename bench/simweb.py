"""A simulated web for the benchmark: many loopback "hosts" with per-host latency, own process.

Host ``i`` is the literal address ``host_addr(i)`` (127.0.X.Y, X >= 1), every host listens on the
same port, and ``127.0.0.1:PORT`` is the control address (``/__stats``, ``/__reset``). A URL path
says what the server does, so the server keeps no plan and the runner can predict verdicts::

    /<code>/<kind>/<id>-<slug>.<ext>      e.g. /n/news/42-some-story.html, /r/img/7-pic.png

``kind``: ``news`` (article page), ``amp``/``cdn`` (AMP page, reachability only), ``img``.
``code`` (behaviour): ``n`` normal, ``s`` slow (+2-3 s), ``e`` 500, ``f`` 404, ``r`` 429 with
``Retry-After: 1`` on the first request then 200, ``h`` hang (never answers), ``p`` 301 to the
``n`` twin. Every answer waits the host's latency (20-150 ms, from the seed) before its headers.
Pages carry an ETag and Last-Modified; a matching If-None-Match / If-Modified-Since gets 304.

The server is a minimal HTTP/1.1 asyncio Protocol (keep-alive, Content-Length, no pipelining of
answers). It records per host: requests, connections, most requests in flight at once, smallest
gap between request starts, gaps under a threshold and busy time; per URL: request count. Start-up
prints one JSON line ``{"port": P, ...}`` when every socket listens. This module must not be
imported by the enricher package, and must not do anything but serve and count.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import os
import random
import selectors
import signal
import struct
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

KINDS = ("news", "amp", "cdn", "img")
CODES = "nsefrhp"
LAST_MODIFIED = "Tue, 05 Jan 2021 10:00:00 GMT"
_REASONS = {200: "OK", 301: "Moved Permanently", 304: "Not Modified", 400: "Bad Request",
            404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}
_WORDS = ("market", "city", "council", "storm", "energy", "vote", "school", "river", "health",
          "police", "court", "study", "team", "season", "price", "report", "trade", "plan",
          "water", "road", "fire", "film", "music", "science", "budget")


def host_addr(i: int) -> str:
    """Loopback address of simulated host ``i`` (0-based); never 127.0.0.x, kept for control."""
    if not 0 <= i < 254 * 254:
        raise ValueError(f"host index {i} out of range")
    return f"127.0.{1 + i // 254}.{1 + i % 254}"


def host_index(addr: str) -> int | None:
    """Inverse of ``host_addr``; None for anything else."""
    parts = addr.split(".")
    if len(parts) != 4 or parts[:2] != ["127", "0"] or not all(p.isdigit() for p in parts[2:]):
        return None
    x, y = int(parts[2]), int(parts[3])
    return (x - 1) * 254 + (y - 1) if 1 <= x <= 254 and 1 <= y <= 254 else None


def host_latency(seed: int, i: int, lo_ms: float = 20, hi_ms: float = 150) -> float:
    """Seconds host ``i`` waits before its response headers (deterministic)."""
    return random.Random(f"{seed}:{i}").uniform(lo_ms, hi_ms) / 1000.0


def slow_delay(k: int, lo_s: float = 2.0, hi_s: float = 3.0) -> float:
    """Extra seconds for a slow (``s``) URL with id ``k``."""
    return lo_s + (hi_s - lo_s) * ((k * 7919) % 1000) / 1000.0


def image_dims(k: int) -> tuple[int, int]:
    """Pixel size of image ``k`` (records carry the same numbers)."""
    return 400 + (k * 37) % 1200, 300 + (k * 53) % 700


@functools.lru_cache(maxsize=1 << 16)
def slug(k: int, words: int = 4) -> str:
    """Deterministic words for id ``k`` (cached: pages are rebuilt on every request)."""
    rng = random.Random(k)
    return "-".join(rng.choice(_WORDS) for _ in range(words))


def make_path(code: str, kind: str, k: int) -> str:
    ext = ("png" if k % 3 == 0 else "jpg") if kind == "img" else "html"
    return f"/{code}/{kind}/{k}-{slug(k)}.{ext}"


def make_url(host: int, port: int, code: str, kind: str, k: int) -> str:
    return f"http://{host_addr(host)}:{port}{make_path(code, kind, k)}"


def parse_path(path: str) -> tuple[str, str, int] | None:
    """``(code, kind, id)`` of a simulated path, None when it is not one."""
    parts = path.split("?", 1)[0].split("/")
    if len(parts) != 4 or parts[1] not in CODES or len(parts[1]) != 1 or parts[2] not in KINDS:
        return None
    head = parts[3].split("-", 1)[0].split(".", 1)[0]
    return (parts[1], parts[2], int(head)) if head.isdigit() else None


# --- bodies ----------------------------------------------------------------------------------

_FILLERS = [("<p>" + " ".join(_WORDS) + ".</p>\n").encode() * (n * 1024 // 150)
            for n in range(4, 20)]


def page_body(host: int, port: int, k: int, kind: str) -> bytes:
    """An article page of about 5-20 KiB with its metadata in <head>."""
    title = f"Story {k}: {slug(k, 6).replace('-', ' ').capitalize()}"
    base = f"http://{host_addr(host)}:{port}"
    w, h = image_dims(k)
    head = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n<title>{title}</title>\n'
        f'<meta property="og:title" content="{title}">\n'
        f'<meta property="og:description" content="What happened with {slug(k + 1, 5)}.">\n'
        f'<meta name="description" content="What happened with {slug(k + 1, 5)}.">\n'
        f'<meta property="og:image" content="{base}{make_path("n", "img", k)}">\n'
        f'<meta property="og:image:width" content="{w}">\n'
        f'<meta property="og:image:height" content="{h}">\n'
        f'<meta property="og:type" content="article">\n'
        f'<meta property="og:site_name" content="Site {host}">\n'
        f'<meta property="article:published_time" content="2021-01-05T10:00:00Z">\n'
        f'<link rel="canonical" href="{base}{make_path("n", "news", k)}">\n'
        f'</head>\n<body><article><h1>{title}</h1>\n'
    )
    return head.encode() + _FILLERS[k % len(_FILLERS)] + b"</article></body></html>\n"


_PAD = bytes(range(256)) * 32


def image_body(k: int, png: bool) -> bytes:
    """Real PNG/JPEG header bytes (type and size readable) plus 1-8 KiB of padding."""
    w, h = image_dims(k)
    pad = _PAD[: 1024 * (1 + k % 8)]
    if png:
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        idat = struct.pack(">I", len(pad)) + b"IDAT" + pad + b"\0" * 4
        return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc + idat
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof0 = (b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3)
            + b"\x01\x22\0\x02\x11\x01\x03\x11\x01")
    return b"\xff\xd8" + app0 + sof0 + pad + b"\xff\xd9"


# --- statistics ------------------------------------------------------------------------------


class TimedSelector(selectors.DefaultSelector):
    """Notes when each poll started and returned, to date arrivals and bound their error.

    Bytes that arrive while the loop waits wake the poll at once: they arrived at ``ready``.
    Bytes that arrive while the loop is busy (or descheduled) wait for the next poll: they
    arrived up to ``enter - previous ready`` before it. Gaps between request starts are judged
    with that doubt, so a stall of this process never shows up as an impolite client. The
    first request of a new connection may have arrived before the pass that accepted the
    connection (``accepted_since``), so its doubt reaches back that far.
    """

    def __init__(self) -> None:
        super().__init__()
        self.enter = self.ready = self.before = time.monotonic()
        # earliest arrival time of the events of each of the last three passes
        self.lows: collections.deque[float] = collections.deque([self.before], maxlen=3)

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        self.enter = time.monotonic()
        events: list[tuple[Any, int]] = super().select(timeout)
        self.before, self.ready = self.ready, time.monotonic()
        self.lows.append(self.ready - max(0.0, self.enter - self.before))
        return events

    def accepted_since(self) -> float:
        """When the handshake of a connection now being set up happened, at the earliest:
        asyncio accepts in one pass, creates the transport in the next and calls
        ``connection_made`` in the one after (passes that follow at once), and the client
        may have sent its first request right after the handshake."""
        return min(self.lows)

    def arrival(self) -> tuple[float, float]:
        """(arrival time of bytes handled in this loop pass, how much earlier they may be)."""
        return self.ready, max(0.0, self.enter - self.before)



@dataclass(slots=True)
class HostStats:
    """Mutable per-host counters (the server's own state; never crosses a module boundary)."""

    index: int
    latency_ms: float
    requests: int = 0
    connections: int = 0
    inflight: int = 0
    max_concurrent: int = 0
    min_spacing_ms: float | None = None
    gaps_below: int = 0  # gaps under the threshold even if simweb's loop was late (certain)
    gaps_below_raw: int = 0  # gaps under the threshold as observed
    #: the first few certain gaps: (request number on the host, gap ms, request number on its
    #: connection); 0 in the last place means the request opened a new connection
    first_gaps_below: list[tuple[int, float, int, int]] = field(default_factory=list)
    busy_s: float = 0.0
    first_s: float | None = None  # first request start, seconds after the last reset
    last_s: float | None = None  # last answer end, seconds after the last reset
    last_start: float | None = field(default=None, repr=False)
    last_doubt: float = field(default=0.0, repr=False)
    last_served: int = field(default=0, repr=False)  # the previous request's no. on its conn


class SimWeb:
    """The server's state: hosts, counters, the 429 memory and the ETag epoch."""

    def __init__(self, hosts: int, seed: int, latency_ms: tuple[float, float],
                 slow_s: tuple[float, float], selector: TimedSelector) -> None:
        self.selector = selector
        self.seed, self.slow_s, self.port, self.epoch = seed, slow_s, 0, 0
        self.hosts = [HostStats(i, round(host_latency(seed, i, *latency_ms) * 1000, 3))
                      for i in range(hosts)]
        self.reset(0.0)

    def reset(self, gap_ms: float) -> None:
        for h in self.hosts:
            h.requests = h.connections = h.max_concurrent = h.gaps_below = h.gaps_below_raw = 0
            h.min_spacing_ms, h.last_start, h.busy_s = None, None, 0.0
            h.first_gaps_below, h.first_s, h.last_s = [], None, None
            h.max_concurrent = h.inflight
        self.gap_s = gap_ms / 1000.0
        self.urls: dict[str, int] = {}
        self.status: dict[int, int] = {}
        self.methods: dict[str, int] = {}
        self.rate_limited: set[str] = set()
        self.late_max = self.late_sum = 0.0  # answer written after its due time (overload)
        self.late_10ms = 0
        self.aborted = 0  # connections lost with a request still unanswered
        self.cpu0, self.t0 = time.process_time(), time.monotonic()

    def stats(self) -> dict[str, object]:
        return {"port": self.port, "epoch": self.epoch, "requests": sum(self.urls.values()),
                "uptime_s": time.monotonic() - self.t0, "cpu_s": time.process_time() - self.cpu0,
                "status": {str(k): v for k, v in sorted(self.status.items())},
                "methods": self.methods, "aborted": self.aborted,
                "late_ms_max": self.late_max * 1000, "late_over_10ms": self.late_10ms,
                "late_ms_mean": self.late_sum * 1000 / max(1, sum(self.status.values())),
                "urls": self.urls,
                "hosts": [{"addr": host_addr(h.index)} | asdict(h) for h in self.hosts]}


class Conn(asyncio.Protocol):
    """One client connection: parse a request, wait the latency, answer, repeat."""

    def __init__(self, web: SimWeb) -> None:
        self.web, self.buf, self.busy = web, bytearray(), False
        self.host: HostStats | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.start, self.served = 0.0, 0
        self.born = 0.0  # the first request's bytes arrived after this (see accepted_since)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.born = self.web.selector.accepted_since()
        i = host_index(transport.get_extra_info("sockname")[0])
        if i is not None and i < len(self.web.hosts):
            self.host = self.web.hosts[i]
            self.host.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self.next_request()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.busy:
            self.web.aborted += 1
            self.done()

    def next_request(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 65536:
                self.transport.close()
            return
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        hdrs = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
        skip = int(hdrs.get("content-length", "0") or 0)  # bodies are ignored
        del self.buf[:skip]
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            return
        if target.startswith("http"):
            target = "/" + target.split("/", 3)[-1]
        self.keep = version == "HTTP/1.1" and hdrs.get("connection", "").lower() != "close"
        self.busy = True
        if self.host is None:
            self.control(target)
        else:
            self.handle(method, target, hdrs)

    def handle(self, method: str, target: str, hdrs: dict[str, str]) -> None:
        web, h = self.web, self.host
        assert h is not None
        self.start = time.monotonic()
        now, doubt = web.selector.arrival()
        if self.served == 0:  # a new connection's first request may have waited for accept
            doubt = max(doubt, now - self.born)
        if h.last_start is not None:
            gap = now - h.last_start
            ms = gap * 1000
            h.min_spacing_ms = ms if h.min_spacing_ms is None else min(h.min_spacing_ms, ms)
            h.gaps_below_raw += gap < web.gap_s
            if gap + h.last_doubt < web.gap_s:
                h.gaps_below += 1
                if len(h.first_gaps_below) < 5:
                    h.first_gaps_below.append((h.requests, round(ms, 2), self.served,
                                               h.last_served))
        h.last_start, h.last_doubt, h.last_served = now, doubt, self.served
        if h.first_s is None:
            h.first_s = round(now - web.t0, 3)
        h.requests += 1
        self.served += 1
        h.inflight += 1
        h.max_concurrent = max(h.max_concurrent, h.inflight)
        url = f"http://{host_addr(h.index)}:{web.port}{target}"
        web.urls[url] = web.urls.get(url, 0) + 1
        web.methods[method] = web.methods.get(method, 0) + 1
        parsed = parse_path(target)
        code = parsed[0] if parsed else "f"
        delay = h.latency_ms / 1000.0
        if code == "h":
            return  # hang: hold the request until the client gives up
        if code == "s" and parsed:
            delay += slow_delay(parsed[2], *web.slow_s)
        self.timer = asyncio.get_running_loop().call_later(
            delay, self.respond, method, target, parsed, hdrs, now + delay)

    def respond(self, method: str, target: str, parsed: tuple[str, str, int] | None,
                hdrs: dict[str, str], due: float) -> None:
        self.timer = None
        web, h = self.web, self.host
        assert h is not None
        late = max(0.0, time.monotonic() - due)
        web.late_sum += late
        web.late_max = max(web.late_max, late)
        web.late_10ms += late > 0.010
        extra: list[str] = []
        body, ctype = b"not found\n", "text/plain"
        if parsed is None or parsed[0] == "f":
            status = 404
        elif parsed[0] == "e":
            status, body = 500, b"server error\n"
        elif parsed[0] == "r" and target not in web.rate_limited:
            web.rate_limited.add(target)
            status, body = 429, b"slow down\n"
            extra.append("Retry-After: 1")
        elif parsed[0] == "p":
            status, body = 301, b""
            extra.append(f"Location: {target.replace('/p/', '/n/', 1)}")
        else:
            _, kind, k = parsed
            etag = f'"{zlib.crc32(target.encode()):x}-{web.epoch}"'
            extra += [f"ETag: {etag}", f"Last-Modified: {LAST_MODIFIED}",
                      "Cache-Control: max-age=300"]
            if hdrs.get("if-none-match") == etag or (
                    "if-none-match" not in hdrs and hdrs.get("if-modified-since") == LAST_MODIFIED):
                status, body = 304, b""
            elif kind == "img":
                png = target.split("?", 1)[0].endswith(".png")
                status, body, ctype = 200, image_body(k, png), "image/png" if png else "image/jpeg"
            else:
                status, body, ctype = 200, page_body(h.index, web.port, k, kind), \
                    "text/html; charset=utf-8"
        web.status[status] = web.status.get(status, 0) + 1
        self.send(status, body, ctype, extra, head_only=method == "HEAD")

    def send(self, status: int, body: bytes, ctype: str, extra: list[str],
             head_only: bool = False) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'X')}", "Server: simweb",
                 f"Content-Type: {ctype}", f"Content-Length: {len(body)}", *extra]
        if not self.keep:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not self.transport.is_closing():
            self.transport.write(head if head_only or status == 304 else head + body)
        self.done()
        if not self.keep:
            self.transport.close()
        elif self.buf:
            self.next_request()

    def done(self) -> None:
        self.busy = False
        if self.host is not None:
            self.host.inflight -= 1
            end = time.monotonic()
            self.host.busy_s += end - self.start
            self.host.last_s = round(end - self.web.t0, 3)

    def control(self, target: str) -> None:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/__stats":
            body = json.dumps(self.web.stats()).encode()
        elif parts.path == "/__reset":
            self.web.reset(float(query.get("gap_ms", "0")))
            body = b'{"reset": true}'
        elif parts.path == "/__epoch":
            self.web.epoch = int(query.get("n", self.web.epoch + 1))
            body = json.dumps({"epoch": self.web.epoch}).encode()
        else:
            self.send(404, b"unknown control path\n", "text/plain", [])
            return
        self.send(200, body, "application/json", [])


async def serve(args: argparse.Namespace, selector: TimedSelector) -> None:
    web = SimWeb(args.hosts, args.seed, tuple(args.latency_ms), tuple(args.slow_s), selector)
    loop = asyncio.get_running_loop()
    addrs = [host_addr(i) for i in range(args.hosts)]
    servers: list[asyncio.Server] = []
    for attempt in range(20):
        port = args.port
        try:
            control = await loop.create_server(lambda: Conn(web), "127.0.0.1", port, backlog=512)
            port = control.sockets[0].getsockname()[1]
            hosts = await loop.create_server(lambda: Conn(web), addrs, port, backlog=512)
            servers = [control, hosts]
            break
        except OSError:
            for s in servers:
                s.close()
            if args.port or attempt == 19:
                raise
    web.port = port
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"port": port, "control": f"http://127.0.0.1:{port}", "hosts": args.hosts,
                      "pid": os.getpid()}), flush=True)
    await stop.wait()
    for s in servers:
        s.close()
    if args.stats_file:
        with open(args.stats_file, "w", encoding="utf-8") as fh:
            json.dump(web.stats(), fh)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--hosts", type=int, default=1000, help="number of simulated hosts")
    p.add_argument("--seed", type=int, default=1, help="seed for per-host latency")
    p.add_argument("--port", type=int, default=0, help="port for every address (0: pick one)")
    p.add_argument("--latency-ms", type=float, nargs=2, default=(20.0, 150.0), metavar=("LO", "HI"))
    p.add_argument("--slow-s", type=float, nargs=2, default=(2.0, 3.0), metavar=("LO", "HI"))
    p.add_argument("--stats-file", help="write the statistics here on SIGTERM/SIGINT")
    args = p.parse_args(argv)
    if not 1 <= args.hosts <= 254 * 254:
        p.error("--hosts must be between 1 and 64516")
    selector = TimedSelector()
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selector)) as runner:
        runner.run(serve(args, selector))
    return 0


if __name__ == "__main__":
    sys.exit(main())
