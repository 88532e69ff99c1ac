"""The transports of one run: one per host (or one shared by all), opened on first use and
closed when the host is done, or when too many are open.

Every transport holds its own keep-alive connections. A host's transport is closed once the
host has nothing left to do. Hosts still waiting for their turn keep theirs, so a run over
thousands of hosts would hold a pool, and sockets, for each of them: the lean HTTP/1.1
transport caps its idle connections over the whole run (``h1pool.IdleConnections``), but the
httpcore pools that carry HTTP/2 and proxied requests do not. So past ``limit`` open
transports, the least recently used ones whose host has nothing in flight are closed; the
host's next request opens a new one.

``end_h2_stream(stream)`` works around httpcore 1.0 (encode/httpcore#943) when an HTTP/2
response is closed before its end (a page read up to its head): it hands the connection's
flow-control window back for the DATA frames received and never read, and resets the stream
(RST_STREAM CANCEL). Without it the server keeps sending the rest of every such body (up to
its 16 MiB stream window), the 16 MiB connection window runs dry after a few large pages, and
the connection's next streams get no DATA until they time out; and a server counts each
stream as open until it refuses new ones. ``reset_orphans(pool)`` does the same for streams
whose request ended before their response head came (our deadline, a cancellation):
httpcore forgets them without a reset, so h2 and the server count them as open, and once
the server's stream limit is reached every request on that connection failed (``reset``).
``h2_token(exc)`` names the failure of an exception h2 caused inside httpcore
(``client.failure_of`` asks it first).

This module must not schedule requests, resolve names, or read responses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import ClassVar

import h2.events
import h2.exceptions
import httpx

from enricher.config import MAX_OPEN_POOLS

TransportMaker = Callable[..., httpx.AsyncBaseTransport]

MAX_OPEN_TRANSPORTS = MAX_OPEN_POOLS  # per-host transports a run keeps open at once
H2_CANCEL = 0x8  # RST_STREAM error code CANCEL (RFC 9113, 7)
RESET_WRITE_TIMEOUT = 0.1  # seconds a stream's reset may take to write (it may run past the
# deadline: a peer that stops reading fails the write, and httpcore then drops the connection)


class _Flush:
    """What httpcore's HTTP/2 writer reads of a request: its write timeout."""

    extensions: ClassVar[dict[str, dict[str, float]]] = {
        "timeout": {"write": RESET_WRITE_TIMEOUT}}


async def end_h2_stream(stream: object) -> None:
    """Before a pooled response stream is closed: if it is an HTTP/2 stream that has not
    ended, acknowledge its unread DATA and reset it (see the module docstring). Reaches into
    httpcore's privates, so anything unexpected makes it do nothing."""
    inner = getattr(stream, "_stream", None)  # httpcore's PoolByteStream wraps the h2 one
    conn = getattr(inner, "_connection", None)
    state = getattr(conn, "_h2_state", None)
    stream_id = getattr(inner, "_stream_id", None)
    if conn is None or state is None or not isinstance(stream_id, int):
        return
    with contextlib.suppress(Exception):
        unread = [getattr(e, "flow_controlled_length", 0) for e in conn._events.get(stream_id, ())]
        for size in unread:
            if size:
                state.acknowledge_received_data(size, stream_id)
        found = state.streams.get(stream_id)
        reset = found is not None and not found.closed
        if reset:
            state.reset_stream(stream_id, H2_CANCEL)
        if reset or any(unread):
            await conn._write_outgoing_data(_Flush())


async def reset_orphans(pool: object) -> None:
    """Reset (RST_STREAM CANCEL) the HTTP/2 streams of ``pool`` (an httpcore pool or proxy)
    that httpcore no longer tracks although h2 holds them open. Reaches into httpcore's
    privates, so anything unexpected makes it do nothing."""
    with contextlib.suppress(Exception):
        for conn in getattr(pool, "connections", ()):
            for _ in range(3):  # pool connection -> (tunnel ->) protocol connection
                if hasattr(conn, "_h2_state"):
                    break
                conn = getattr(conn, "_connection", None)
            state, tracked = getattr(conn, "_h2_state", None), getattr(conn, "_events", None)
            if state is None or tracked is None:
                continue
            orphans = [sid for sid, stream in list(state.streams.items())
                       if sid not in tracked and not stream.closed]
            for stream_id in orphans:
                state.reset_stream(stream_id, H2_CANCEL)
            if orphans:
                await conn._write_outgoing_data(_Flush())


def h2_token(exc: BaseException) -> str | None:
    """The failure token of an exception that h2 caused (httpcore wraps it), or None. These
    are ``reset`` (retried, never counted against the host): a stream refused because the
    server lowered ``max_concurrent_streams`` on a live connection; a stream the server
    reset (RST_STREAM: REFUSED_STREAM is safe to retry, RFC 9113 8.7); a body shorter or
    longer than its content-length, and any use of the connection h2 closed then: h2 fails
    every stream of the connection, and the stream that read the bad frame need not be the
    one at fault (that one fails again on its retry); a graceful GOAWAY (NO_ERROR: nginx
    after ``keepalive_requests``, on reload) that httpcore fails the waiting streams with,
    though the server may still answer them. h2's guards against a server's floods
    (``DenialOfServiceError``, too many CONTINUATION frames ...) are ``protocol``."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            break
        if isinstance(current, h2.exceptions.DenialOfServiceError):
            return "protocol"
        if isinstance(current, h2.exceptions.TooManyStreamsError
                      | h2.exceptions.InvalidBodyLengthError) or any(
                isinstance(arg, h2.events.StreamReset) or (
                    isinstance(arg, h2.events.ConnectionTerminated) and arg.error_code == 0)
                for arg in current.args[:1]) or (
                isinstance(current, h2.exceptions.ProtocolError)
                and str(current).endswith("in state ConnectionState.CLOSED")):
            return "reset"
        current = current.__cause__ or current.__context__
    return None


class Transports:
    """``get(key)`` the transport of host ``key``; ``after(keys)`` when a URL's job ends."""

    def __init__(self, make: TransportMaker, *, partition: bool,
                 connections: Callable[[str | None], int],
                 limit: int = MAX_OPEN_TRANSPORTS) -> None:
        self._make = make
        self._partition = partition
        self._connections = connections  # host (None: all hosts) -> its connection limit
        self._limit = max(1, limit)
        self._open: dict[str, httpx.AsyncBaseTransport] = {}  # least recently used first

    def __len__(self) -> int:
        return len(self._open)

    def get(self, key: str) -> httpx.AsyncBaseTransport:
        slot = key if self._partition else ""
        transport = self._open.pop(slot, None)
        if transport is None:
            if self._partition:  # the factory may pick a transport made for one host
                transport = self._make(max_connections=self._connections(key), host=key)
            else:
                transport = self._make(max_connections=self._connections(None))
        self._open[slot] = transport  # most recently used last
        return transport

    async def after(self, keys: Iterable[str], *, done: Callable[[str], bool],
                    busy: Callable[[str], bool]) -> None:
        """A job that used hosts ``keys`` ended: close the transports of the hosts that are
        ``done`` (nothing queued or in flight); then, past the limit, those least recently
        used whose host is not ``busy`` (nothing in flight)."""
        if not self._partition:
            return
        for key in keys:
            if done(key):
                await self._close(key)
        if len(self._open) > self._limit:  # down to 7/8 of it: one sweep per limit/8 hosts
            keep = self._limit - self._limit // 8
            for key in [k for k in self._open if not busy(k)]:
                await self._close(key)
                if len(self._open) <= keep:
                    break

    async def _close(self, key: str) -> None:
        transport = self._open.pop(key, None)
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.aclose()

    async def aclose(self) -> None:
        transports, self._open = list(self._open.values()), {}
        for transport in transports:
            with contextlib.suppress(Exception):
                await transport.aclose()
