"""transports: one transport per host, closed when the host is done or, past the limit, the
least recently used ones whose host has nothing in flight (HTTP/2 and proxied runs keep
httpcore pools per host, which nothing else caps)."""

from __future__ import annotations

import asyncio

import httpx

from enricher.net.transports import Transports


class Counted(httpx.AsyncBaseTransport):
    def __init__(self, host: str | None, max_connections: int, closed: list[str]) -> None:
        self.host, self.max_connections, self._closed = host, max_connections, closed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError("not used")

    async def aclose(self) -> None:
        self._closed.append(self.host or "")


def make_transports(limit: int, partition: bool = True
                    ) -> tuple[Transports, list[str], list[str | None]]:
    closed: list[str] = []
    made: list[str | None] = []

    def make(max_connections: int, host: str | None = None) -> Counted:
        made.append(host)
        return Counted(host, max_connections, closed)

    transports = Transports(make, partition=partition, limit=limit,
                            connections=lambda key: 2 if key else 64)
    return transports, closed, made


def test_a_done_host_is_closed_and_reopened_on_its_next_request() -> None:
    t, closed, made = make_transports(limit=8)

    async def main() -> None:
        first = t.get("a.test")
        assert t.get("a.test") is first and made == ["a.test"]
        assert isinstance(first, Counted) and first.max_connections == 2
        await t.after(["a.test"], done=lambda k: False, busy=lambda k: False)
        assert closed == []  # the host has URLs left: its connections stay
        await t.after(["a.test"], done=lambda k: True, busy=lambda k: False)
        assert closed == ["a.test"] and len(t) == 0
        assert t.get("a.test") is not first and made == ["a.test", "a.test"]

    asyncio.run(main())


def test_past_the_limit_the_least_recently_used_idle_hosts_are_closed() -> None:
    t, closed, _ = make_transports(limit=16)  # down to 14 when past it
    hosts = [f"h{i}.test" for i in range(17)]
    busy = {"h0.test", "h2.test"}  # a request in flight: never closed under it

    async def main() -> None:
        for host in hosts:
            t.get(host)
        t.get("h1.test")  # used again: now the most recent
        await t.after([], done=lambda k: False, busy=busy.__contains__)

    asyncio.run(main())
    assert closed == ["h3.test", "h4.test", "h5.test"]
    assert len(t) == 14


def test_one_shared_transport_is_never_closed_before_the_end() -> None:
    t, closed, made = make_transports(limit=1, partition=False)

    async def main() -> None:
        shared = t.get("a.test")
        assert t.get("b.test") is shared and made == [None]
        assert isinstance(shared, Counted) and shared.max_connections == 64
        await t.after(["a.test", "b.test"], done=lambda k: True, busy=lambda k: False)
        assert closed == []
        await t.aclose()

    asyncio.run(main())
    assert closed == [""]
