"""Address policy (SSRF guard): resolve host names ourselves, vet every address, and connect
to the vetted address only.

How a connection is made::

    URL host ──► Guard.check_target()   scheme http/https only; port policy; literal IPs vetted
             ──► GuardedBackend.connect_tcp(host)           (httpcore calls this per connection)
                   └─► Guard.addresses(host)  one resolution per host per run (cached, deduped,
                   │                           bounded by the DNS timeout), every answer vetted
                   └─► inner backend.connect_tcp(<vetted IP>)      no second lookup
             ──► httpcore starts TLS on that stream with server_hostname = the URL's host, so
                 SNI and certificate verification still use the name, never the IP (a
                 handshake cancelled by the request deadline closes the stream: httpcore
                 closes it on errors only)

Because the IP we connect to is the one we vetted, DNS rebinding (public on the first answer,
127.0.0.1 on the second) cannot work: there is no second answer.

**Mixed answers** (``[93.184.216.34, 10.0.0.1]``, hostile.md row 19): the whole host is refused
(``forbidden_address``), as Synapse does. Connecting to the public half only would let an
attacker who controls the zone probe which internal addresses exist by timing; refusing is
simpler to reason about and to test.

``allow_private=True`` switches the address check off (tests, local use); names are still
resolved through the injected resolver and schemes other than http/https are still refused.
Behind a proxy the proxy resolves names, so only literal-IP hosts can be vetted (``check_target``).

DNS failures: NXDOMAIN -> ``dns`` (the name does not exist: a dead link), but only from a
resolver that finds the canary name (``DEFAULT_DNS_CANARY``, asked on the first NXDOMAIN
and again once its answer is a minute old; "no such name" also holds only when IPv4 and
IPv6 lookups each say it, see ``_lookup``): an offline or captive resolver that denies
every name must not mark links dead, and gives ``dns_error``, as does a name that exists
without an address (NODATA), SERVFAIL, EAI_AGAIN (what an outage looks like) and any other
resolver error; a lookup slower than the DNS timeout -> ``dns_timeout``. Failures are
cached for the run, except ``too_many_open_files``: a lookup (or the canary's) that failed
while this process had no file descriptor left says nothing about the name.

This module must not read records, decide verdicts, or talk HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpcore

from enricher import config
from enricher.config import DEFAULT_ALLOWED_LOW_PORTS, DEFAULT_DNS_CANARY, DEFAULT_DNS_TIMEOUT
from enricher.net.urls import literal_ip

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_WEB_SCHEMES = frozenset({"http", "https"})
CONNECT_TRIES = 2  # addresses tried per connection (the connect timeout applies to each)
_clock = time.monotonic  # the canary's age (tests replace this one, not the event loop's)


class Resolver(Protocol):
    """Host name -> IP address strings. Raise ``DNSError`` or ``socket.gaierror`` on failure."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class GuardError(Exception):
    """A host or address refused by the policy, or a failed lookup. ``failure`` is the
    FetchResult reason token (``forbidden_address``, ``forbidden_scheme``, ``forbidden_port``,
    ``dns``, ``dns_timeout``, ``dns_error``)."""

    def __init__(self, failure: str, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


class DNSError(GuardError):
    """A name that could not be resolved (raised by resolvers, or mapped from gaierror)."""


# --- the pure address check -----------------------------------------------------------------

def _nets(
    pairs: Iterable[tuple[str, str]],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(net), reason) for net, reason in pairs)


# Checked in order; several of these are ``is_global`` (or not ``is_private``) on Python 3.11.
_V4 = _nets((
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared_cgnat"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "ietf_special"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
))
_V6 = _nets((
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "nat64_local"),
    ("100::/64", "discard"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),  # RFC 9637 (Python 3.11's is_global predates it)
    ("5f00::/16", "srv6_sid"),  # RFC 9602: segment identifiers, never a web host
    ("2001:10::/28", "orchid"),
    ("fc00::/7", "unique_local"),
    ("fe80::/10", "link_local"),
    ("fec0::/10", "site_local"),
    ("ff00::/8", "multicast"),
))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIIT = ipaddress.IPv6Network("::ffff:0:0:0/96")  # IPv4-translated
_COMPAT = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible ::a.b.c.d


def _embedded(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "ipv4_mapped", ip.ipv4_mapped
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return "nat64", low32
    if ip in _SIIT:
        return "ipv4_translated", low32
    if ip in _COMPAT:
        return "ipv4_compatible", low32
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    return None


def is_forbidden(ip: str | IPAddress) -> str | None:
    """Why ``ip`` must not be connected to (a short reason such as ``loopback``), or None when
    it is a public unicast address. Pure; unwraps IPv4 embedded in IPv6 (mapped, compatible,
    NAT64, SIIT, 6to4, Teredo) and checks the IPv4 inside. Unparseable input is forbidden."""
    if isinstance(ip, str):
        if "%" in ip:  # a zone id: never a public address, and dialled as given it is a name
            return "scoped"
        try:
            addr: IPAddress = ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            return "not_an_address"
    else:
        addr = ip
    if isinstance(addr, ipaddress.IPv4Address):
        for net, reason in _V4:
            if addr in net:
                return reason
        return None if addr.is_global else "reserved"
    for net, reason in _V6:
        if addr in net:
            return reason
    embedded = _embedded(addr)
    if embedded is not None:
        form, v4 = embedded
        inner = is_forbidden(v4)
        if inner is not None:
            return f"{inner}_via_{form}"
        if form in ("ipv4_compatible", "ipv4_translated"):
            return form  # deprecated forms: no legitimate public use
        return None
    if addr.teredo is not None:
        for v4 in addr.teredo:
            inner = is_forbidden(v4)
            if inner is not None:
                return f"{inner}_via_teredo"
        return "teredo"
    return None if addr.is_global else "reserved"


# names that never belong to the public web (RFC 6761 localhost, ICANN's .internal, RFC 8375
# home.arpa, mDNS .local, the loopback aliases of /etc/hosts, and any one-label name: a
# search domain's or /etc/hosts' host, never a public site): refused by name, also behind a
# proxy, which resolves them itself (its own loopback and intranet)
_PRIVATE_NAME = re.compile(
    r"(?:^|\.)(?:localhost|internal|home\.arpa|local)\.?$|^(?:localhost[46]?(?:\.localdomain[46]?)?|"
    r"ip6-localhost|ip6-loopback)\.?$|^[^.:]+\.?$", re.I)


def _literal_ip(host: str) -> IPAddress | None:
    """``urls.literal_ip``, whose ValueError (a host that ends in a number but is no IPv4
    address) is GuardError ``invalid_url``: never a name a proxy might read its own way."""
    try:
        return literal_ip(host)
    except ValueError as exc:
        raise GuardError("invalid_url", str(exc)) from None


# --- resolution -----------------------------------------------------------------------------

class SystemResolver:
    """The operating system's resolver (``getaddrinfo``) on a dedicated thread pool.

    Not ``loop.getaddrinfo``: that runs on the loop's default executor, which anyio and others
    share; lookups that never answer would occupy its few threads and stall unrelated work.
    A hung lookup still holds one of our threads until the system resolver gives up; the
    Guard stops waiting for it after the DNS timeout."""

    def __init__(self, max_workers: int = 32) -> None:
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="enricher-dns")

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        infos = await loop.run_in_executor(self._executor, _lookup, host, port)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _lookup(host: str, port: int) -> list[Any]:
    """getaddrinfo for any family. Its "no such name" (EAI_NONAME, which makes a link dead)
    is believed only when IPv4 and IPv6 lookups each say so too: glibc reports a transient
    failure of the A query beside an AAAA "no such name" (a known breakage of some
    authoritative servers) as EAI_NONAME for the whole lookup."""
    try:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno not in _NXDOMAIN:
            raise
        exists: socket.gaierror | None = None
        for family in (socket.AF_INET, socket.AF_INET6):
            try:  # a family's own answer or failure (EAI_AGAIN: try again) is the verdict
                return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM,
                                          socket.IPPROTO_TCP)
            except socket.gaierror as again:
                if again.errno in _NO_ADDRESS:
                    exists = again  # the name exists (no address of this family)
                elif again.errno not in _NXDOMAIN:
                    raise
        raise (exists or exc) from None


_NXDOMAIN = frozenset({socket.EAI_NONAME})  # NODATA / ADDRFAMILY: the name exists
# "the name exists, without an address of this family" (glibc's EAI_NODATA, EAI_ADDRFAMILY)
_NO_ADDRESS = frozenset(getattr(socket, name) for name in ("EAI_NODATA", "EAI_ADDRFAMILY")
                        if hasattr(socket, name))


@dataclass(frozen=True, slots=True)
class _Failed:
    failure: str
    detail: str


class Guard:
    """Address policy for one run: target checks, cached resolution, vetting."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        dns_timeout: float = DEFAULT_DNS_TIMEOUT,
        allow_private: bool = False,
        allowed_low_ports: frozenset[int] = DEFAULT_ALLOWED_LOW_PORTS,
        canary: str | None = DEFAULT_DNS_CANARY,
    ) -> None:
        self._resolver = resolver
        self._canary = canary
        self._canary_task: asyncio.Task[bool] | None = None
        self._canary_at = 0.0  # when the canary was last asked (_clock)
        self._dns_timeout = dns_timeout
        self.allow_private = allow_private
        self._low_ports = allowed_low_ports
        self._done: dict[str, list[str] | _Failed] = {}
        self._inflight: dict[str, asyncio.Task[list[str] | _Failed]] = {}

    def check_target(self, scheme: str, host: str, port: int | None) -> GuardError | None:
        """Pure pre-connection check of one hop: scheme, port, and the host if it is a
        literal IP. Names are vetted when connecting (``addresses``)."""
        if scheme not in _WEB_SCHEMES:
            return GuardError("forbidden_scheme", f"scheme {scheme!r} is not http or https")
        if port is not None and (port < 1 or port > 65535):
            return GuardError("forbidden_port", f"port {port} is out of range")
        if port is not None and port < 1024 and port not in self._low_ports:
            return GuardError("forbidden_port", f"port {port} is not a web port")
        if not self.allow_private:
            try:
                ip = _literal_ip(host)
            except GuardError as exc:
                return exc
            if ip is not None and (reason := is_forbidden(ip)) is not None:
                return GuardError("forbidden_address", f"{ip} is {reason}")
            if ip is None and _PRIVATE_NAME.search(host):
                return GuardError("forbidden_address", f"{host} is a private name")
        return None

    async def addresses(self, host: str, port: int) -> list[str]:
        """Vetted IP strings for ``host``, resolved at most once per run. Raises GuardError."""
        ip = _literal_ip(host)
        if ip is not None:
            if not self.allow_private and (reason := is_forbidden(ip)) is not None:
                raise GuardError("forbidden_address", f"{ip} is {reason}")
            return [str(ip)]
        if not self.allow_private and _PRIVATE_NAME.search(host):
            raise GuardError("forbidden_address", f"{host} is a private name")
        key = host.lower()  # as looked up: "localhost." and "localhost" may differ (hosts file)
        hit = self._done.get(key)
        if hit is None:
            task = self._inflight.get(key)
            if task is None:
                task = asyncio.ensure_future(self._lookup(host, port))
                self._inflight[key] = task
                task.add_done_callback(lambda t: self._settle(key, t))
            hit = await asyncio.shield(task)
        if isinstance(hit, _Failed):
            cls = DNSError if hit.failure.startswith("dns") else GuardError
            raise cls(hit.failure, hit.detail)  # a fresh exception: no traceback growth
        return hit

    def close(self) -> None:
        """Stop waiting for lookups still in flight (end of run)."""
        for task in list(self._inflight.values()):
            task.cancel()
        if self._canary_task is not None:
            self._canary_task.cancel()

    def _settle(self, key: str, task: asyncio.Task[list[str] | _Failed]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and getattr(task.result(), "failure", "") != _NO_FILES:
            self._done[key] = task.result()  # (out of files: asked again next time)

    async def _lookup(self, host: str, port: int) -> list[str] | _Failed:
        found = await self._resolve(host, port)
        if isinstance(found, _Failed) and found.failure == "dns" and not await self._trusted():
            if self._canary_task is None:  # the canary failed for want of file descriptors
                return _Failed(_NO_FILES, f"{host}: no lookup: too many open files; raise "
                                          "ulimit -n")
            return _Failed("dns_error", f"{found.detail} (not believed: this resolver does not "
                                        f"find {self._canary} either)")
        return found

    async def _trusted(self) -> bool:
        """Does the resolver find the canary name? Asked before the first "no such name" is
        believed, and again when that answer is older than :data:`config.CANARY_RECHECK_SECONDS`
        (a resolver that starts denying every name mid-run: a captive portal, a VPN drop);
        no canary: yes."""
        if self._canary is None:
            return True
        now = _clock()
        task = self._canary_task
        if task is None or (task.done() and now - self._canary_at > config.CANARY_RECHECK_SECONDS):
            self._canary_at = now
            task = self._canary_task = asyncio.ensure_future(self._ask_canary(self._canary))
        return await asyncio.shield(task)

    async def _ask_canary(self, name: str) -> bool:
        try:
            async with asyncio.timeout(self._dns_timeout):
                return bool(await self._resolver.resolve(name, 443))
        except Exception:  # any failure: the resolver's "no such name" proves nothing
            if out_of_files():  # nor does it prove the resolver wrong: ask again next time
                self._canary_task = None
            return False

    async def _resolve(self, host: str, port: int) -> list[str] | _Failed:
        try:
            async with asyncio.timeout(self._dns_timeout):
                ips = await self._resolver.resolve(host, port)
        except TimeoutError:
            return _Failed("dns_timeout", f"no DNS answer for {host} within {self._dns_timeout}s")
        except GuardError as exc:
            return _Failed(exc.failure, exc.detail)
        except Exception as exc:  # gaierror, OSError, a resolver's own (UnicodeError, ...)
            if out_of_files():  # glibc then says EAI_NONAME or EBUSY: neither is the name's
                return _Failed(_NO_FILES, f"{host}: no lookup: too many open files"
                                                      "; raise ulimit -n")
            if isinstance(exc, socket.gaierror):
                kind = "dns" if exc.errno in _NXDOMAIN else "dns_error"
                return _Failed(kind, f"{host}: {exc.strerror or exc}")
            return _Failed("dns_error", f"{host}: {exc}"[:300])
        if not ips:
            return _Failed("dns_error", f"{host} has no address")
        if not self.allow_private:
            for ip in ips:
                reason = is_forbidden(ip)
                if reason is not None:
                    return _Failed("forbidden_address", f"{host} resolves to {ip} ({reason})")
        return list(ips)


_NO_FILES = "too_many_open_files"


def out_of_files() -> bool:
    """Is this process out of file descriptors (a socket cannot be made)?"""
    try:
        socket.socket().close()
    except OSError as exc:
        return exc.errno in (errno.EMFILE, errno.ENFILE)
    return False


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves through the Guard and dials the vetted IP.

    httpcore then starts TLS on the returned stream with ``server_hostname`` taken from the
    request URL, so SNI and the certificate check stay on the name."""

    def __init__(self, guard: Guard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        ips = await self._guard.addresses(host, port)
        error: Exception | None = None
        for ip in ips[:CONNECT_TRIES]:
            try:
                return _Closing(await self._inner.connect_tcp(ip, port, timeout, local_address,
                                                              socket_options))
            except httpcore.ConnectError as exc:  # refused/unreachable: try the next address
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never used")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Closing(httpcore.AsyncNetworkStream):
    """A dialled stream that is closed when its TLS handshake is cancelled (httpcore closes
    it on errors only: a request deadline that fires mid-handshake leaked the socket)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._stream.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
