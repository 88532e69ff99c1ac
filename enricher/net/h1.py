"""A lean direct HTTP/1.1 transport: h11 for the protocol, plain asyncio for the bytes.

``H1Transport`` is the default transport of a host (``TransportFactory`` picks it when no
proxy, no HTTP/2 and no injected test network apply). It replaces httpcore's pool, anyio
streams and trace machinery, which cost more CPU than the HTTP parsing itself, and keeps h11
(the parser httpcore uses) for everything that touches the wire format::

    handle_async_request(request)
      └─ Pool.acquire         an idle keep-alive connection of the origin, else a free slot
      │                       (max_connections per origin), else wait up to the pool timeout
      └─ _connect             Guard.addresses(host) -> dial the vetted IP only (never a second
      │                       lookup), up to CONNECT_TRIES addresses, connect timeout each,
      │                       TLS started by the dial with server_hostname = the URL's name
      │                       (the request's ``CONNECTED`` extension, a plain callable, is
      │                       called once the TCP connection exists or an idle one is reused:
      │                       a TLS handshake that stalls then is not a silent network)
      └─ request head         written in one write; then the trace callback is awaited with
      │                       ``http11.send_request_headers.complete``
      └─ response head        up to ``MAX_INFORMATIONAL`` 1xx skipped; the body is an
                              ``httpx.AsyncByteStream`` (_Body)
    _Body read to its end (or closed when its end had already arrived: a HEAD or 204/304
    answer, a redirect's short body), both sides DONE and keep-alive allowed -> back to the
    pool; anything else (unread rest, Connection: close, stray bytes, peer closed, both
    Transfer-Encoding and Content-Length) -> closed.
    Idle connections over the run's cap (``h1pool.IdleConnections``, shared by the run's
    transports) are closed oldest first, so a run over thousands of hosts holds few sockets.

Each connection is an ``asyncio.Protocol`` (``_Conn``) with one bytearray buffer and one
waiter future; reading is paused while more than ``READ_SIZE`` bytes wait unread. An idle
connection that received bytes or EOF, or whose socket is readable when it is picked, or
that has been idle longer than ``keepalive_expiry``, is closed, never reused. A reused
connection that the server closes before answering a single byte (its idle timeout raced
ours) or that yields garbage first (an earlier answer's late bytes) fails as ``ReadError``
("reset"), not as a protocol error; that, or a 408 on a reused connection, also closes the
origin's other idle connections (as old), so the retry dials a new one.

Errors are httpcore's exception classes, so ``client.failure_of`` maps them as before:
ConnectError (``__cause__`` the OSError / ssl.SSLError), ConnectTimeout, ReadTimeout,
WriteTimeout, PoolTimeout, ReadError, RemoteProtocolError, LocalProtocolError;
GuardError/DNSError from the guard pass through unchanged.

This module must not resolve names itself, follow redirects, retry, decode bodies, or know
about proxies and HTTP/2 (``client.PoolTransport`` does those).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import h11
import httpcore
import httpx

from enricher.net.guard import CONNECT_TRIES, Guard
from enricher.net.h1pool import MAX_IDLE, IdleConnections, Pool, wake

READ_SIZE = 64 * 1024  # bytes handed to h11 per read, and the unread bytes that pause reading
UNREAD_PARSED = 16 * 1024  # received bytes of a body closed unread parsed to see it ended
MAX_INCOMPLETE_EVENT = 100 * 1024  # h11's cap on a response head (as httpcore sets it)
MAX_INFORMATIONAL = 16  # 1xx responses before the real one; more is a server stalling us
SENT_EVENT = "http11.send_request_headers.complete"
CONNECTED = "enricher.connected"  # request extension: () -> None, called when TCP is up
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

ProtocolFactory = Callable[[], asyncio.Protocol]
Dial = Callable[[ProtocolFactory, str, int, ssl.SSLContext | None, str | None],
                Awaitable[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]]]
Origin = tuple[bytes, bytes, int | None]


async def loop_dial(factory: ProtocolFactory, ip: str, port: int,
                    context: ssl.SSLContext | None, server_hostname: str | None
                    ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
    """The default dial: ``loop.create_connection`` (TLS handshake included when ``context``)."""
    return await asyncio.get_running_loop().create_connection(
        factory, ip, port, ssl=context, server_hostname=server_hostname)


def _readable(fd: int) -> bool:
    """Has the kernel bytes (or EOF) for this idle socket? (httpcore's is_socket_readable)"""
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


def _closed_unanswered(conn: _Conn) -> bool:
    """The peer closed without sending a single byte of a response."""
    state = conn.h11
    return conn.eof and state.their_state is h11.SEND_RESPONSE and not state.trailing_data[0]


class _Conn(asyncio.Protocol):
    """One connection: asyncio's callbacks fill ``buf``; the request side reads through h11."""

    __slots__ = ("buf", "eof", "error", "fd", "h11", "idle_since", "last", "loop", "paused",
                 "served", "transport", "waiter", "writable")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT)
        self.buf = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[bool] | None = None
        self.writable: asyncio.Future[bool] | None = None  # set while writing is paused
        self.paused = False
        self.fd = -1
        self.idle_since = 0.0
        self.served = 0  # exchanges completed on this connection (> 0: a reused connection)
        self.last = False  # this exchange must be its last (a framing we do not trust)
        self.transport: asyncio.Transport | None = None

    # --- asyncio callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        wake(self.waiter, True)
        if not self.paused and len(self.buf) > READ_SIZE and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        self.eof = True
        wake(self.waiter, True)
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self.fd = -1
        wake(self.waiter, True)
        wake(self.writable, True)

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        waiter, self.writable = self.writable, None
        wake(waiter, True)

    # --- the request side ---------------------------------------------------------------------
    def reusable(self, oldest: float) -> bool:
        """May this idle connection carry another request?"""
        return (not self.eof and not self.buf and self.idle_since >= oldest
                and self.transport is not None and not self.transport.is_closing()
                and not _readable(self.fd))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # no lingering TLS shutdown: we are done with the peer

    async def write(self, data: bytes, timeout: float | None) -> None:
        assert self.transport is not None
        try:
            self.transport.write(data)
        except (OSError, RuntimeError) as exc:
            raise httpcore.WriteError(str(exc)) from exc
        if self.writable is not None and not self.eof:
            await self._wait(self.writable, timeout, httpcore.WriteTimeout)

    async def _wait(self, waiter: asyncio.Future[bool], timeout: float | None,
                    timed_out: type[httpcore.TimeoutException]) -> None:
        timer = None if timeout is None else self.loop.call_later(timeout, wake, waiter, False)
        try:
            ok = await waiter
        finally:
            if timer is not None:
                timer.cancel()
        if not ok:
            raise timed_out(f"no progress within {timeout}s")

    async def read(self, timeout: float | None) -> bytes:
        """Up to READ_SIZE bytes; b"" at EOF. ReadTimeout / ReadError."""
        buf = self.buf
        if not buf and not self.eof:
            self.waiter = waiter = self.loop.create_future()
            try:
                await self._wait(waiter, timeout, httpcore.ReadTimeout)
            finally:
                self.waiter = None
        if not buf:
            if self.error is not None:
                raise httpcore.ReadError(str(self.error) or type(self.error).__name__
                                         ) from self.error
            return b""
        if len(buf) <= READ_SIZE:
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:READ_SIZE])
            del buf[:READ_SIZE]
        if self.paused and len(buf) <= READ_SIZE and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def next_event(self, timeout: float | None) -> object:
        """The next h11 event of the response, reading as needed."""
        state = self.h11
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpcore.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self.read(timeout)
            if not data and state.their_state is h11.SEND_RESPONSE:
                raise httpcore.RemoteProtocolError(
                    "Server disconnected without sending a response.")
            state.receive_data(data)


def _end_from_buffer(state: h11.Connection, buf: bytearray) -> None:
    """Parse the rest of a response closed unread (a HEAD, 204 or 304 answer, a redirect's
    short body) from the bytes already received, never waiting for more: if it ends there,
    the connection is as reusable as after a body read to its end."""
    if buf:
        state.receive_data(bytes(buf))
        buf.clear()
    with contextlib.suppress(h11.RemoteProtocolError):  # state ERROR: the caller drops it
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED or type(event) is h11.EndOfMessage:
                return


class _Body(httpx.AsyncByteStream):
    """A response body; reading it to its end or closing it gives the connection back."""

    __slots__ = ("_conn", "_pool", "_timeout")

    def __init__(self, pool: Pool[_Conn], conn: _Conn, timeout: float | None) -> None:
        self._pool: Pool[_Conn] | None = pool
        self._conn = conn
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn, timeout = self._conn, self._timeout
        while self._pool is not None:
            event = await conn.next_event(timeout)
            kind = type(event)
            if kind is h11.Data:
                yield bytes(event.data)  # type: ignore[attr-defined]
            elif kind is h11.EndOfMessage or event is h11.PAUSED:
                self._release()
                return

    def _release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        conn = self._conn
        state = conn.h11
        if (state.their_state is h11.SEND_BODY and not conn.eof
                and len(conn.buf) <= UNREAD_PARSED and conn.waiter is None):  # (no read in flight)
            _end_from_buffer(state, conn.buf)
        if (state.our_state is h11.DONE and state.their_state is h11.DONE
                and not conn.eof and not conn.buf and not conn.last):
            state.start_next_cycle()
            if not state.trailing_data[0]:
                conn.served += 1
                pool.put(conn)
                return
        pool.drop(conn)

    async def aclose(self) -> None:
        self._release()


class H1Transport(httpx.AsyncBaseTransport):
    """Direct HTTP/1.1 through the guard, one small keep-alive pool per origin (in practice
    one host: the Fetcher makes a transport per host). ``dial`` opens a connection to a
    vetted (ip, port); tests pass their own. ``idle`` caps the idle connections kept, shared
    with the run's other transports (default: this transport's own, at ``MAX_IDLE``)."""

    def __init__(self, guard: Guard, context: ssl.SSLContext, max_connections: int, *,
                 keepalive_expiry: float, dial: Dial = loop_dial,
                 idle: IdleConnections | None = None) -> None:
        self._idle = idle if idle is not None else IdleConnections(MAX_IDLE)
        self._guard = guard
        self._ssl = context
        self._max = max(1, max_connections)
        self._expiry = keepalive_expiry
        self._dial = dial
        self._pools: dict[Origin, Pool[_Conn]] = {}

    def _pool(self, url: httpx.URL, key: Origin) -> Pool[_Conn]:
        scheme = key[0]
        if scheme not in _DEFAULT_PORTS:
            raise httpcore.UnsupportedProtocol(f"scheme {scheme.decode('ascii', 'replace')!r}")
        pool = self._pools[key] = Pool(
            url.raw_host.decode("ascii"), key[2] or _DEFAULT_PORTS[scheme],
            self._ssl if scheme == b"https" else None, self._max, asyncio.get_running_loop(),
            self._idle)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key) or self._pool(url, key)
        ext = request.extensions
        timeouts = ext.get("timeout") or {}
        conn = await pool.acquire(timeouts.get("pool"), self._expiry)
        connected: Callable[[], object] | None = ext.get(CONNECTED)
        if conn is None:
            try:
                conn = await self._connect(pool, timeouts.get("connect"), connected)
            except BaseException:
                pool.drop(None)
                raise
        elif connected is not None:
            connected()
        try:
            state = conn.h11
            try:
                out = state.send(h11.Request(method=request.method, target=url.raw_path,
                                             headers=request.headers.raw)) or b""
                stream = request.stream
                chunks = ((request.content,) if isinstance(stream, httpx.ByteStream)
                          else [c async for c in stream])  # type: ignore[union-attr]
                for chunk in chunks:
                    if chunk:
                        out += state.send(h11.Data(data=chunk)) or b""
                out += state.send(h11.EndOfMessage()) or b""
            except h11.LocalProtocolError as exc:
                raise httpcore.LocalProtocolError(str(exc)) from exc
            # as httpcore: the server may have answered before closing, so read on
            with contextlib.suppress(httpcore.WriteError):
                await conn.write(out, timeouts.get("write"))
            trace = ext.get("trace")
            if trace is not None:
                await trace(SENT_EVENT, {"request": request})
            read = timeouts.get("read")
            try:
                for _ in range(MAX_INFORMATIONAL + 1):
                    event = await conn.next_event(read)
                    if type(event) is h11.Response:
                        break
                    if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                        break
                else:  # a server that only ever says "100 Continue" is not answering
                    raise httpcore.RemoteProtocolError(
                        f"more than {MAX_INFORMATIONAL} informational (1xx) responses")
            except httpcore.RemoteProtocolError as exc:
                if conn.served:
                    # the server dropped a kept-alive connection as we reused it (its idle
                    # timeout raced ours), or bytes of an earlier answer came late (a HEAD's
                    # body): a reset, retried on a new connection, not the site's failure
                    raise httpcore.ReadError(
                        "the server closed a kept-alive connection before answering"
                        if _closed_unanswered(conn) else f"a reused connection broke: {exc}"
                    ) from exc
                raise
            assert isinstance(event, h11.Response | h11.InformationalResponse)
            # Transfer-Encoding and Content-Length both: h11 reads it chunked, as RFC 9112
            # says, and the connection must not carry another request (request smuggling)
            names = {name for name, _ in event.headers}
            conn.last = b"transfer-encoding" in names and b"content-length" in names
            if conn.served and event.status_code == 408:  # timed out while idle, say
                pool.drop_idle()
        except BaseException as exc:
            pool.drop(conn)
            if conn.served and isinstance(exc, httpcore.ReadError | httpcore.WriteError):
                pool.drop_idle()  # reused and broken: so may the other idle ones be
            raise
        return httpx.Response(
            event.status_code, headers=event.headers.raw_items(),
            stream=_Body(pool, conn, read),
            extensions={"http_version": b"HTTP/" + event.http_version,
                        "reason_phrase": event.reason},
        )

    async def _connect(self, pool: Pool[_Conn], timeout: float | None,
                       connected: Callable[[], object] | None = None) -> _Conn:
        host, port, context = pool.host, pool.port, pool.context
        ips = await self._guard.addresses(host, port)
        loop = pool.loop

        up: list[bool] = []  # TCP is up: a reset now is the TLS handshake's, as on httpcore's

        def made() -> _Conn:  # asyncio calls this once TCP is up, before any TLS handshake
            up.append(True)
            if connected is not None:
                connected()
            return _Conn(loop)

        error: httpcore.ConnectError | None = None
        for ip in ips[:CONNECT_TRIES]:
            up.clear()
            try:
                async with asyncio.timeout(timeout):
                    _, proto = await self._dial(made, ip, port, context,
                                                host if context is not None else None)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"connect to {ip}:{port} timed out") from exc
            except (ssl.SSLError, ssl.CertificateError) as exc:
                raise httpcore.ConnectError(str(exc)) from exc  # TLS: no other address
            except OSError as exc:  # refused/unreachable, or a reset in the TLS handshake (tls,
                cause: OSError = exc  # not connect): try the next address
                if up and context is not None:
                    cause = ssl.SSLError(ssl.SSL_ERROR_EOF,
                                         f"closed during the TLS handshake: {exc}")
                error = httpcore.ConnectError(str(cause) or type(cause).__name__)
                error.__cause__ = cause
                continue
            assert isinstance(proto, _Conn)
            pool.live.add(proto)
            return proto
        assert error is not None
        raise error

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close_all()
