"""Transports (direct, proxied, HTTP/2) and the one map from exceptions to failure tokens.

``TransportFactory`` builds, per host, an ``h1.H1Transport`` (h11 over plain asyncio,
dialling through the address guard) in the common case, and a ``PoolTransport`` otherwise: a
small httpcore connection pool whose network backend is the address guard
(``GuardedBackend``), plus pools through proxies when ``HTTP_PROXY``/``HTTPS_PROXY``/
``ALL_PROXY`` (minus ``NO_PROXY``) or ``FetchConfig.proxy`` apply, for HTTP/2, for a shared
pool (no host given) and for an injected test network. The Fetcher asks for one transport per
host (``max_connections`` = the host's concurrency), so pool bookkeeping stays tiny. We use
the transport directly, not ``httpx.AsyncClient``: the client adds per-request work we do not
want (auth, a cookie jar that would persist cookies, redirect and header merging).

CA certificates (for sites and an https:// proxy alike) and proxy routes come from
``proxies``.
``failure_of(exc)`` is the only place an exception becomes a failure token, and says what
the failure tells about the network (``Evidence``, for the outage guard): ``down`` for what a
machine without network sees, ``up`` when something on the network answered (an RST, a TLS
alert, any byte of HTTP), ``nxdomain`` when a resolver said the name does not exist::

    GuardError (address policy / DNS) ........ its own token: forbidden_address, forbidden_scheme,
                                               forbidden_port, dns (nxdomain), dns_timeout and
                                               dns_error (down: EAI_AGAIN, resolver unreachable),
                                               too_many_open_files (a lookup without fds)
    BodyError (our body reader) ............... too_large, bad_encoding, decoding, protocol (up)
    TimeoutError (our per-attempt deadline) ... timeout      (the Fetcher knows the stage;
                                               with an errno it is the kernel's: connect)
    ConnectTimeout ............................ timeout      (connection level; down)
    ReadTimeout, WriteTimeout ................. timeout      (up: a connection existed)
    PoolTimeout ............................... timeout
    EMFILE/ENFILE anywhere in the chain ....... too_many_open_files (our limit: no breaker;
                                               checked after the rows above, before those below)
    ConnectError  caused by ssl.SSLError ...... tls          (up)
                  caused by socket.gaierror ... dns / dns_error (connection level)
                  otherwise ................... connect      (connection level; refused and
                                               reset are up, no route / unreachable / ETIMEDOUT
                                               are down, other errors say nothing)
    ReadError, WriteError ..................... reset        (up)
    RemoteProtocolError, LocalProtocolError ... protocol     (up: header bomb, short body)
    ProxyError ................................ proxy        (proxy: a refused tunnel)
    UnsupportedProtocol ....................... forbidden_scheme
    InvalidURL ................................ invalid_url
    ssl.SSLError .............................. tls          (up)
    ConnectionResetError, BrokenPipeError ..... reset        (up)
    other OSError ............................. connect      (connection level; by errno)
    anything else ............................. error

(each httpx class and its httpcore twin map alike.) ``attempt_failure`` refines it with how
far the attempt got: our deadline before the request left is a connect timeout (down, unless
a TCP connection was made: then only the TLS handshake stalled, up); a connect timeout after
TCP connected is up too. Through a proxy, a connection-stage failure is ``proxy`` (never
``dns``, dead, for a site that was never asked), a timeout before any answer came back is
down, and a refused tunnel, or a failure only the proxy can have caused
(``AttemptMarks.proxys_own``: its own certificate, a dropped CONNECT), is ``proxy``: proxy
evidence, judged at the end of the fetch.
This module must not schedule, retry or decide verdicts.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

import httpcore
import httpx

from enricher.net.guard import Guard, GuardedBackend, GuardError
from enricher.net.h1 import H1Transport
from enricher.net.h1pool import MAX_IDLE, IdleConnections
from enricher.net.proxies import ProxyRoutes, ssl_context
from enricher.net.transports import end_h2_stream, h2_token, reset_orphans
from enricher.net.urls import ascii_host

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept

# failures that happen before any HTTP exchange (``Failure.connect_stage``)
CONNECTION_LEVEL = frozenset({"connect", "dns", "dns_error", "dns_timeout"})


class Evidence(StrEnum):
    """What one failed attempt tells about the network as a whole (the outage guard)."""

    DOWN = "down"  # what a machine without network sees: connect timeout, no route, EAI_AGAIN
    UP = "up"  # something on the network answered: refused (an RST), TLS, any HTTP byte
    NXDOMAIN = "nxdomain"  # a resolver said the name does not exist
    PROXY = "proxy"  # the proxy refused the request itself: the site was not asked


_DNS_EVIDENCE = {"dns": Evidence.NXDOMAIN, "dns_error": Evidence.DOWN, "dns_timeout": Evidence.DOWN}
# errnos of a connect that a peer answered (an RST came back) ...
_ANSWERED = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED})
# ... and of one that says there is no way to the peer
_NO_ROUTE = frozenset(getattr(errno, name) for name in (
    "ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "EHOSTDOWN", "ETIMEDOUT") if hasattr(errno, name))
_NO_FILES = frozenset({errno.EMFILE, errno.ENFILE})  # out of file descriptors (ours)


class BodyError(Exception):
    """The body could not be read as we need it (token in ``failure``)."""

    def __init__(self, failure: str, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Failure:
    token: str
    detail: str
    connect_stage: bool  # failed before a connection existed (connect/DNS, connect timeout)
    evidence: Evidence | None = None  # what it says about the network (None: nothing)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__``), at most 8 deep."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            return
        yield current
        current = current.__cause__ or current.__context__


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    return next((e for e in _chain(exc) if isinstance(e, kind)), None)


def _errno_in(exc: BaseException) -> int | None:
    """The errno of the first OSError in ``exc``'s chain that has one."""
    return next((e.errno for e in _chain(exc) if isinstance(e, OSError) and e.errno is not None),
                None)


def _errno_evidence(exc: BaseException) -> Evidence | None:
    """What the first OSError with an errno in ``exc``'s chain says about the network."""
    for current in _chain(exc):
        if isinstance(current, ConnectionRefusedError | ConnectionResetError
                      | ConnectionAbortedError):
            return Evidence.UP
        code = current.errno if isinstance(current, OSError) else None
        if code is not None and not isinstance(current, socket.gaierror):
            if code in _ANSWERED:
                return Evidence.UP
            return Evidence.DOWN if code in _NO_ROUTE else None
    return None


def failure_of(exc: BaseException) -> Failure:
    """Exception -> failure token (see the table in the module docstring)."""
    text = str(exc) or type(exc).__name__
    up = Evidence.UP
    if isinstance(exc, GuardError):
        return Failure(exc.failure, exc.detail, exc.failure in CONNECTION_LEVEL,
                       _DNS_EVIDENCE.get(exc.failure))
    if isinstance(exc, BodyError):
        return Failure(exc.failure, exc.detail, False, up)
    if (token := h2_token(exc)) is not None:  # an HTTP/2 stream's own failure
        return Failure(token, text, False, up)
    if isinstance(exc, httpx.ConnectTimeout | httpcore.ConnectTimeout):
        return Failure("timeout", f"connect timeout: {text}", True, Evidence.DOWN)
    if (isinstance(exc, httpx.PoolTimeout | httpcore.PoolTimeout)
            or (isinstance(exc, TimeoutError) and exc.errno is None)):  # not the kernel's
        return Failure("timeout", text if text != "TimeoutError" else "deadline exceeded", False)
    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException):
        return Failure("timeout", text, False, up)  # read or write: a connection existed
    if _errno_in(exc) in _NO_FILES:  # this process's own limit: no host's fault
        return Failure("too_many_open_files", f"{text}; raise ulimit -n", False)
    if isinstance(exc, httpx.ConnectError | httpcore.ConnectError):
        if _cause(exc, ssl.SSLError) is not None:
            return Failure("tls", text, False, up)
        gai = _cause(exc, socket.gaierror)
        if gai is not None:
            token = "dns" if getattr(gai, "errno", None) == socket.EAI_NONAME else "dns_error"
            return Failure(token, text, True, _DNS_EVIDENCE[token])
        return Failure("connect", text, True, _errno_evidence(exc))
    if isinstance(exc, httpx.ProxyError | httpcore.ProxyError):
        return Failure("proxy", text, False, Evidence.PROXY)  # the site was never asked
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpcore.ReadError
                  | httpcore.WriteError):
        return Failure("reset", text, False, up)
    if isinstance(exc, httpx.ProtocolError | httpcore.ProtocolError):
        return Failure("protocol", text, False, up)
    if isinstance(exc, httpx.UnsupportedProtocol | httpcore.UnsupportedProtocol):
        return Failure("forbidden_scheme", text, False)
    if isinstance(exc, httpx.InvalidURL):
        return Failure("invalid_url", text, False)
    if isinstance(exc, ssl.SSLError):
        return Failure("tls", text, False, up)
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return Failure("reset", text, False, up)
    if isinstance(exc, OSError):
        return Failure("connect", text, True, _errno_evidence(exc))
    return Failure("error", f"{type(exc).__name__}: {text}"[:300], False)


# httpcore trace events that mean a connection to the origin (or proxy) exists: a new one's
# TCP connect, or any protocol event on a reused one
_CONNECTED_EVENTS = ("connection.connect_tcp.complete", "http11.", "http2.")


class AttemptMarks:
    """How far one attempt got, from httpcore's trace events (``trace``) and enricher's
    ``CONNECTED`` hook (``connect``): its request head has left (``sent``; ``on_sent`` is
    called once, by ``mark_sent``), a connection exists (``connected``), a response head came
    back (``headed``, the caller's), and through a proxy, a tunnel carries it (``tunnel``:
    the CONNECT was answered, or the connection is a reused one)."""

    __slots__ = ("_on_sent", "connected", "fresh", "headed", "sent", "tunnel")

    def __init__(self, on_sent: Callable[[], None]) -> None:
        self.sent = self.connected = self.headed = self.fresh = self.tunnel = False
        self._on_sent = on_sent

    async def trace(self, event: str, info: Mapping[str, object]) -> None:
        if not self.connected and event.startswith(_CONNECTED_EVENTS):
            self.connected = True
        if event == "connection.connect_tcp.started":
            self.fresh = True
        elif event == "proxy.start_tls.started" or (
                not self.fresh and event.endswith("send_request_headers.started")):
            self.tunnel = True
        if event.endswith("send_request_headers.complete"):
            self.mark_sent()

    def connect(self) -> None:
        self.connected = True

    def mark_sent(self) -> None:
        if not self.sent:
            self.sent = True
            self._on_sent()

    def proxys_own(self, scheme: str) -> frozenset[str]:
        """Through a proxy: the failures that, this far, only the proxy can have caused. An
        https link's before its tunnel opened (its TLS, a dropped or garbled CONNECT); a
        plain http link's TLS before any answer (to an https:// proxy: a reset or garbage
        may be the site's, relayed by the proxy as it came)."""
        if scheme == "https":
            return frozenset() if self.tunnel else _BEFORE_TUNNEL
        return frozenset() if self.headed else _TLS_ONLY


_BEFORE_TUNNEL, _TLS_ONLY = frozenset({"tls", "protocol", "reset"}), frozenset({"tls"})


def attempt_failure(exc: BaseException, *, sent: bool, connected: bool, deadline: float,
                    waited: float, read_timeout: float, proxied: bool = False,
                    headed: bool = False, proxys: frozenset[str] = frozenset()) -> Failure:
    """``failure_of`` for one attempt that got this far: request head ``sent``, TCP
    ``connected``, response head received (``headed``), ``waited`` seconds in all; through
    a proxy, ``proxys``: the failure tokens only the proxy can have caused this far."""
    failed = failure_of(exc)
    if proxied and not isinstance(exc, GuardError):
        if failed.connect_stage and not connected:
            return Failure("proxy", f"proxy unreachable: {failed.detail}", True, Evidence.DOWN)
        if failed.token in proxys:  # the proxy's own
            return Failure("proxy", f"the proxy failed: {failed.detail}", False,
                           Evidence.PROXY)  # TLS, a dropped CONNECT: the site was not asked
    if isinstance(exc, TimeoutError) and failed.token == "timeout":  # our deadline
        if not sent:  # in DNS, connect or the TLS handshake (or waiting for a pooled one)
            failed = Failure("timeout", f"connect timeout: no connection within the "
                             f"{deadline:g}s deadline", True,
                             Evidence.UP if connected else Evidence.DOWN)
        else:
            failed = Failure("timeout", failed.detail, False, Evidence.UP)
    elif failed.evidence is Evidence.DOWN and connected:  # the TLS handshake stalled
        failed = Failure(failed.token, failed.detail, failed.connect_stage, Evidence.UP)
    elif isinstance(exc, httpx.ReadTimeout | httpcore.ReadTimeout) and waited < read_timeout:
        # over HTTP/2 httpcore fails every stream of a connection with the first one's read
        # timeout: this one did not wait that long; a "timeout" would feed the breaker
        return Failure("reset", "the shared HTTP/2 connection failed: another request on "
                       "it timed out", False, Evidence.UP)
    if proxied and not headed and failed.token == "timeout":  # the proxy said nothing
        return Failure("timeout", f"no answer through the proxy: {failed.detail}",
                       failed.connect_stage, Evidence.DOWN)  # (live sites answer before it)
    return failed


# --- transports -----------------------------------------------------------------------------

class _Body(httpx.AsyncByteStream):
    __slots__ = ("_stream",)

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        await end_h2_stream(self._stream)  # before httpcore forgets its unread events
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


def proxied(make: object, url: httpx.URL) -> bool:
    """Does ``url`` go through a proxy with this run's transports?"""
    routes = make.routes if isinstance(make, TransportFactory) else None
    return routes is not None and routes.for_url(url.scheme, ascii_host(url)) is not None


class PoolTransport(httpx.AsyncBaseTransport):
    """One small pool: direct connections through the guard, or through a proxy."""

    def __init__(self, factory: TransportFactory, max_connections: int) -> None:
        self._factory = factory
        self._max = max(1, max_connections)
        self._direct: httpcore.AsyncConnectionPool | None = None
        self._proxied: dict[str, httpcore.AsyncHTTPProxy] = {}

    def _pool(self, url: httpx.URL) -> httpcore.AsyncConnectionPool:
        f = self._factory
        proxy = f.routes.for_url(url.scheme, ascii_host(url)) if f.routes else None
        if proxy is None:
            if self._direct is None:
                self._direct = httpcore.AsyncConnectionPool(
                    ssl_context=f.ssl, max_connections=self._max,
                    max_keepalive_connections=self._max, keepalive_expiry=KEEPALIVE_EXPIRY,
                    http1=True, http2=f.http2, network_backend=f.backend,
                )
            return self._direct
        pool = self._proxied.get(proxy)
        if pool is None:
            parsed = httpx.Proxy(proxy)
            pool = httpcore.AsyncHTTPProxy(
                proxy_url=httpcore.URL(scheme=parsed.url.raw_scheme, host=parsed.url.raw_host,
                                       port=parsed.url.port, target=parsed.url.raw_path),
                proxy_auth=parsed.raw_auth, proxy_headers=parsed.headers.raw,
                ssl_context=f.ssl, max_connections=self._max, proxy_ssl_context=(  # https only
                    f.proxy_ssl if parsed.url.scheme == "https" else None),
                max_keepalive_connections=self._max, keepalive_expiry=KEEPALIVE_EXPIRY,
                http1=True, http2=f.http2,
            )
            self._proxied[proxy] = pool
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                             target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        pool = self._pool(url)
        try:
            resp = await pool.handle_async_request(core)
        except BaseException:  # our deadline, a cancellation: no stream may stay open
            await reset_orphans(pool)
            raise
        assert isinstance(resp.stream, AsyncIterable)
        return httpx.Response(
            status_code=resp.status, headers=resp.headers,
            stream=_Body(resp.stream),
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        pools: list[httpcore.AsyncConnectionPool] = [*self._proxied.values()]
        if self._direct is not None:
            pools.append(self._direct)
        self._direct, self._proxied = None, {}
        for pool in pools:
            await pool.aclose()


class TransportFactory:
    """Shared per run: the SSL contexts, the guarded backend, the proxy routes. ``network`` is
    the backend the guard dials through (default anyio; tests: a fake network)."""

    def __init__(self, guard: Guard, *, ca_bundle: str | None, proxy: str | None,
                 http2: bool, env: Mapping[str, str],
                 network: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.ssl = ssl_context(ca_bundle, env)
        if not http2:
            self.ssl.set_alpn_protocols(["http/1.1"])  # as httpcore sets it, for H1Transport
        self.routes = ProxyRoutes.build(proxy, env)
        self.proxy_ssl = ssl_context(ca_bundle, env) if self.routes else None  # https proxies
        self.guard = guard
        self.network = network
        self.backend = GuardedBackend(guard, network)
        self.http2 = http2
        self.idle = IdleConnections(MAX_IDLE)  # shared by every H1Transport of the run

    def may_use_httpcore(self) -> bool:
        """Can any per-host transport of this run be httpcore's (HTTP/2, a proxy, a test
        network)? If not, httpcore's anyio backend is never loaded."""
        return self.http2 or self.network is not None or bool(self.routes)

    def __call__(self, max_connections: int, host: str | None = None
                 ) -> httpx.AsyncBaseTransport:
        """A transport for one ``host`` (None: shared by every host). The lean
        ``H1Transport`` when no proxy route covers the host, HTTP/2 is off and no test
        network is injected; httpcore's ``PoolTransport`` otherwise."""
        if (host is None or self.http2 or self.network is not None
                or (self.routes and (self.routes.for_url("http", host) is not None
                                     or self.routes.for_url("https", host) is not None))):
            return PoolTransport(self, max_connections)
        return H1Transport(self.guard, self.ssl, max_connections,
                           keepalive_expiry=KEEPALIVE_EXPIRY, idle=self.idle)
