"""The connection pools of the lean HTTP/1.1 transport (``h1``): one ``Pool`` per origin
(idle keep-alive connections, a count of all of them, the requests waiting for one) and
``IdleConnections``, the cap on idle connections shared by every pool of a run.

A pool knows its connections only through ``Pooled`` (is it reusable, close it, when did it
go idle). This module must not do I/O itself, speak HTTP, or resolve names.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Any, Generic, Protocol, TypeVar

import httpcore

from enricher.config import MAX_IDLE_CONNECTIONS

# idle keep-alive connections a run keeps open over all its hosts (the oldest go first); with
# the connections in flight (at most max_concurrency) this bounds the sockets a run holds
MAX_IDLE = MAX_IDLE_CONNECTIONS


class Pooled(Protocol):
    """What a pool needs of a connection."""

    idle_since: float

    def reusable(self, oldest: float) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Pooled)


def wake(waiter: asyncio.Future[Any] | None, value: object) -> None:
    """Resolve ``waiter`` with ``value`` unless it is gone or already done."""
    if waiter is not None and not waiter.done():
        waiter.set_result(value)


class IdleConnections:
    """The idle keep-alive connections of every pool that shares this object (a run's
    transports), oldest first. Past ``limit`` of them the oldest is closed: a run over
    thousands of hosts keeps at most this many idle sockets open, not every host's last
    connections (50,000 URLs over 5,000 hosts held 15,000 file descriptors)."""

    __slots__ = ("_order", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._order: dict[Pooled, Pool[Any]] = {}  # insertion order: idle since

    def __len__(self) -> int:
        return len(self._order)

    def add(self, conn: Pooled, pool: Pool[Any]) -> None:
        order = self._order
        order[conn] = pool
        while len(order) > self.limit:
            oldest = next(iter(order))
            order.pop(oldest).evict(oldest)

    def discard(self, conn: Pooled) -> None:
        self._order.pop(conn, None)


class Pool(Generic[C]):
    """The connections of one origin: idle ones (most recent last), a count of all of them,
    and the requests waiting for one. A waiter is handed a connection, or None: a free slot
    to connect in (the count already includes it)."""

    __slots__ = ("closed", "context", "count", "host", "idle", "limit", "live", "loop", "port",
                 "shared", "waiters")

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None,
                 limit: int, loop: asyncio.AbstractEventLoop, shared: IdleConnections) -> None:
        self.host, self.port, self.context = host, port, context
        self.limit = limit
        self.loop = loop
        self.shared = shared
        self.count = 0
        self.closed = False
        self.idle: list[C] = []
        self.live: set[C] = set()
        self.waiters: deque[asyncio.Future[C | bool | None]] = deque()

    async def acquire(self, timeout: float | None, expiry: float) -> C | None:
        idle = self.idle
        if idle:
            oldest = self.loop.time() - expiry
            while idle:
                conn = idle.pop()
                self.shared.discard(conn)
                if conn.reusable(oldest):
                    return conn
                self.drop(conn, wake=False)
        if self.count < self.limit:
            self.count += 1
            return None
        waiter: asyncio.Future[C | bool | None] = self.loop.create_future()
        self.waiters.append(waiter)
        timer = None if timeout is None else self.loop.call_later(timeout, wake, waiter, False)
        try:
            got = await waiter
        except BaseException:  # cancelled: pass on what we were handed, if anything
            got = waiter.result() if waiter.done() and not waiter.cancelled() else False
            if got is None:
                self.count -= 1
                self._hand(None)
            elif not isinstance(got, bool):
                self.put(got)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if isinstance(got, bool):
            with contextlib.suppress(ValueError):
                self.waiters.remove(waiter)
            raise httpcore.PoolTimeout(f"no free connection within {timeout}s")
        return got

    def _hand(self, conn: C | None) -> bool:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                if conn is None:
                    self.count += 1
                waiter.set_result(conn)
                return True
        return False

    def put(self, conn: C) -> None:
        """A connection whose exchange ended cleanly: to a waiter, else idle."""
        if self.closed:
            self.drop(conn)
        elif not self._hand(conn):
            conn.idle_since = self.loop.time()
            self.idle.append(conn)
            self.shared.add(conn, self)

    def evict(self, conn: C) -> None:
        """Close an idle connection to keep the shared cap (its slot is free again)."""
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        self.drop(conn)

    def drop_idle(self) -> None:
        """Close every idle connection: the server broke a reused one, the others are as
        old (its idle timeout), so the next request (a retry) dials a new one."""
        while self.idle:
            self.drop(self.idle.pop())

    def drop(self, conn: C | None, *, wake: bool = True) -> None:
        """Close a connection (None: a connect that failed) and free its slot."""
        if conn is not None:
            conn.close()
            self.live.discard(conn)
            self.shared.discard(conn)
        self.count -= 1
        if wake:
            self._hand(None)

    def close_all(self) -> None:
        self.closed = True
        for conn in list(self.live):
            conn.close()
            self.shared.discard(conn)
        self.live.clear()
        self.idle.clear()
