"""Test helpers for the network layer: a raw-socket HTTP/1.1 server on 127.0.0.1 whose
handlers can misbehave at will, a fake resolver and a fake network.

* ``NetServer(handler)`` serves every request with ``handler(request, conn)``; the handler
  writes whatever bytes it likes through ``conn`` (``respond`` for a well-formed answer).
  Keep-alive is honoured unless the handler closes. The server records each request's arrival
  (monotonic time, Host name, method, target) and the peak number of requests in progress
  per Host name, so tests can assert politeness.
* ``FakeResolver`` maps names to address lists (or raises), counting calls per name.
* ``LoopbackNetwork`` is an httpcore backend that dials 127.0.0.1 whatever public test IP the
  guard chose, so the address policy can stay switched on while tests use local servers.

Nothing here touches the internet. This module must not be imported by the package.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

import httpcore

from enricher.config import DEFAULT_DNS_CANARY
from enricher.net.guard import DNSError


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    headers: Mapping[str, str]
    host: str  # Host header without the port

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class Arrival:
    t: float
    host: str
    method: str
    target: str
    in_progress: int  # requests of this host in progress, this one included
    headers: Mapping[str, str]


class Conn:
    """The handler's side of one connection."""

    def __init__(self, writer: asyncio.StreamWriter, method: str) -> None:
        self.writer = writer
        self.method = method
        self.keep_alive = True

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def respond(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str | None = "text/html; charset=utf-8",
        close: bool = False,
    ) -> None:
        lines = [f"HTTP/1.1 {status} X"]
        names = set()
        for name, value in headers:
            lines.append(f"{name}: {value}")
            names.add(name.lower())
        if content_type and "content-type" not in names:
            lines.append(f"Content-Type: {content_type}")
        if "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(body)}")
        if close:
            lines.append("Connection: close")
            self.keep_alive = False
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        await self.send(head if self.method == "HEAD" else head + body)

    def close(self) -> None:
        self.keep_alive = False
        self.writer.close()


Handler = Callable[[Request, Conn], Awaitable[None]]


class LoopbackServer:
    """A server on 127.0.0.1 (an ephemeral ``port``) whose connection tasks end with it.
    Subclasses implement ``_serve(reader, writer)``; the writer is closed after it."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0,
                                                  ssl=self.tls, limit=256 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class NetServer(LoopbackServer):
    """``async with NetServer(handler) as srv: srv.url("a.test", "/x")``."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(tls)
        self.handler = handler
        self.clock = clock
        self.arrivals: list[Arrival] = []
        self.peak: Counter[str] = Counter()
        self.connections = 0
        self._active: Counter[str] = Counter()

    def url(self, host: str = "a.test", path: str = "/") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def starts(self, host: str) -> list[float]:
        return [a.t for a in self.arrivals if a.host == host]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head.decode("latin-1").split("\r\n")
                method, target, _ = line.split(" ", 2)
                headers = {}
                for item in rest:
                    if ":" in item:
                        name, value = item.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                host = headers.get("host", "").rsplit(":", 1)[0]
                request = Request(method, target, headers, host)
                self._active[host] += 1
                self.peak[host] = max(self.peak[host], self._active[host])
                self.arrivals.append(Arrival(self.clock(), host, method, target,
                                             self._active[host], headers))
                conn = Conn(writer, method)
                try:
                    await self.handler(request, conn)
                finally:
                    self._active[host] -= 1
                if not conn.keep_alive or writer.is_closing():
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                ssl.SSLError, ValueError, asyncio.CancelledError):
            return  # the client went away or the test server is stopping: nothing to answer


def route(table: Mapping[str, Handler], fallback: Handler | None = None) -> Handler:
    """A handler dispatching on the path."""

    async def handler(request: Request, conn: Conn) -> None:
        found = table.get(request.path, fallback)
        if found is None:
            await conn.respond(404, b"<html><head><title>Not found</title></head></html>")
        else:
            await found(request, conn)

    return handler


def page(title: str = "Hello", body: str = "<p>hi</p>") -> bytes:
    return (f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body>{body}</body></html>").encode()


def gzip_bomb(decoded_bytes: int) -> bytes:
    """A gzip stream of zeros: ~1000:1 on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    out = [compressor.compress(block) for _ in range(decoded_bytes >> 20)]
    out.append(compressor.flush())
    return b"".join(out)


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


@dataclass
class FakeResolver:
    """name -> list of IPs, a callable (call number -> IPs), or an exception to raise.
    Unknown names are NXDOMAIN, but for the guard's canary name, which a working resolver
    finds (``canary=False``: a resolver that denies every name). ``calls`` counts lookups
    per name; ``hang`` names never answer."""

    table: dict[str, object] = field(default_factory=dict)
    hang: frozenset[str] = frozenset()
    calls: Counter[str] = field(default_factory=Counter)
    canary: bool = True

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls[host] += 1
        if host in self.hang:
            await asyncio.Event().wait()
        found = self.table.get(host)
        if found is None and self.canary and host == DEFAULT_DNS_CANARY:
            return ["192.0.2.1"]
        if found is None:
            raise DNSError("dns", f"{host}: NXDOMAIN")
        if isinstance(found, BaseException):
            raise found
        if callable(found):
            result: list[str] = found(self.calls[host])
            return result
        assert isinstance(found, list)
        return list(found)


class LoopbackNetwork(httpcore.AsyncNetworkBackend):
    """Dials 127.0.0.1 (same port) whatever IP it is asked for; records the IPs asked."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.dialed: defaultdict[str, int] = defaultdict(int)

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.dialed[host] += 1
        return await self.inner.connect_tcp("127.0.0.1", port, timeout, local_address,
                                            socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
