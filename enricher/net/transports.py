"""The transports of one run: one per host (or one shared by all), opened on first use and
closed when the host is done, or when too many are open.

Every transport holds its own keep-alive connections. A host's transport is closed once the
host has nothing left to do. Hosts still waiting for their turn keep theirs, so a run over
thousands of hosts would hold a pool, and sockets, for each of them: the lean HTTP/1.1
transport caps its idle connections over the whole run (``h1pool.IdleConnections``), but the
httpcore pools that carry HTTP/2 and proxied requests do not. So past ``limit`` open
transports, the least recently used ones whose host has nothing in flight are closed; the
host's next request opens a new one.

This module must not schedule requests, resolve names, or read responses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import httpx

from enricher.config import MAX_OPEN_POOLS

TransportMaker = Callable[..., httpx.AsyncBaseTransport]

MAX_OPEN_TRANSPORTS = MAX_OPEN_POOLS  # per-host transports a run keeps open at once


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
