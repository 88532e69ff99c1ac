"""Circuit breakers are half-open: a tripped origin's queued URLs wait for a probe after a
cool-down while other hosts keep the run busy, and are given up only after failed probes, or
at once when nothing else is left to do (a run's end never waits out a cool-down)."""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
import time
from collections.abc import Callable

from netserver import Conn, FakeResolver, NetServer, Request, page
from test_hosts import Sim

from enricher.classify import classify
from enricher.config import BREAKER_PROBES, FetchConfig
from enricher.models import FetchResult, LinkKind, LinkStatus
from enricher.net.fetch import Fetcher
from enricher.net.hosts import Scheduler


class FlakySim(Sim):
    """Attempts to host "flaky" fail until ``heal`` is set."""

    def __init__(self, sched: Scheduler[str], **kw: object) -> None:
        super().__init__(sched, **kw)  # type: ignore[arg-type]
        self.healed = False
        self.trip_at: float | None = None

    async def job(self, key: str, item: str) -> None:
        self.starts[key].append(time.monotonic())
        await asyncio.sleep(self.works.get(key, self.work))
        failed = key == "flaky" and not self.healed
        self.order.append(item)
        self.sched.release(key, failed=failed)
        if failed and self.sched.tripped(key) and self.trip_at is None:
            self.trip_at = time.monotonic()
        if key == "busy" and self.trip_at is not None:
            self.healed = True  # the site comes back while the run goes on
        self.sched.done()


def test_a_tripped_host_that_comes_back_gets_its_urls_checked() -> None:
    sched: Scheduler[str] = Scheduler(max_concurrency=8, host_concurrency=1, interval=0.0,
                                      breaker_threshold=3, breaker_cooldown=0.1)
    sim = FlakySim(sched, work=0.001, works={"busy": 0.02})
    items = [("flaky", f"flaky/{i}") for i in range(8)]
    items += [("busy", f"busy/{i}") for i in range(25)]  # 0.5 s of other work
    asyncio.run(sim.run(items))
    assert sim.unreachable == []
    assert sorted(sim.order) == sorted(item for _, item in items)
    assert sim.trip_at is not None
    probe = sim.starts["flaky"][3]
    assert probe >= sim.trip_at + 0.1  # the cool-down, then one probe
    assert sim.order.index("flaky/3") < sim.order.index("flaky/4")  # parked kept their order
    assert not sched.tripped("flaky")


def test_failed_probes_give_the_origin_up_with_a_growing_cooldown() -> None:
    sched: Scheduler[str] = Scheduler(max_concurrency=8, host_concurrency=1, interval=0.0,
                                      breaker_threshold=3, breaker_cooldown=0.05)
    sim = Sim(sched, work=0.001, fail=frozenset({"down"}), works={"busy": 0.02})
    items = [("down", f"down/{i}") for i in range(10)]
    items += [("busy", f"busy/{i}") for i in range(30)]  # 0.6 s: time for every probe
    asyncio.run(sim.run(items))
    starts = sim.starts["down"]
    assert len(starts) == 3 + BREAKER_PROBES
    assert sorted(sim.unreachable) == sorted(f"down/{i}" for i in range(3 + BREAKER_PROBES, 10))
    gaps = [b - a for a, b in itertools.pairwise(starts[2:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # the cool-down doubles
    assert sched.given_up("down")
    assert len(sim.order) == 3 + BREAKER_PROBES + 30


def test_nothing_else_to_do_gives_parked_urls_up_at_once() -> None:
    """The default cool-down is 30 s; the run ends at once when only a probe is left."""
    sched: Scheduler[str] = Scheduler(max_concurrency=8, host_concurrency=1, interval=0.0,
                                      breaker_threshold=3)
    sim = Sim(sched, work=0.001, fail=frozenset({"down"}))
    started = time.monotonic()
    asyncio.run(sim.run([("down", f"down/{i}") for i in range(6)]))
    assert time.monotonic() - started < 5  # Sim.run's own limit is 10 s
    assert sorted(sim.unreachable) == [f"down/{i}" for i in range(3, 6)]
    assert sched.given_up("down")


def test_a_probe_that_says_nothing_lets_another_go_after_the_cooldown() -> None:
    """A probe refused before it was sent (the address policy) reports no outcome for the
    origin: after another cool-down the next parked URL probes."""
    now = [100.0]
    sched: Scheduler[str] = Scheduler(host_concurrency=1, interval=0.0, breaker_threshold=1,
                                      breaker_cooldown=10.0, clock=lambda: now[0])
    started: list[str] = []
    sched._start = lambda key, item: started.append(item)
    sched._unreachable = lambda key, item: None
    for item in ("a", "b", "c"):
        sched.add("h", item)
    sched._dispatch(now[0])
    assert started == ["a"]
    sched.release("h", failed=True)  # trips: b and c are parked
    assert sched.tripped("h") and not sched.given_up("h")
    sched._dispatch(now[0])
    assert started == ["a"]
    now[0] += 10.0
    sched._dispatch(now[0])
    assert started == ["a", "b"]  # the probe
    sched.release("h")  # refused before sending: no outcome for the breaker
    sched._dispatch(now[0])
    assert started == ["a", "b"]
    now[0] += 10.0
    sched._dispatch(now[0])
    assert started == ["a", "b", "c"]
    sched.release("h", failed=False)  # it answered: the breaker closes
    assert not sched.tripped("h")


def test_an_answer_from_before_the_trip_closes_the_breaker() -> None:
    sched: Scheduler[str] = Scheduler(host_concurrency=4, interval=0.0, breaker_threshold=1)
    slot = sched.slot("h")
    slot.active = sched.active = 2  # two attempts in flight
    slot.pending.extend(["x", "y"])
    sched.release("h", failed=True)  # the first fails: trips, x and y are parked
    assert sched.tripped("h") and not slot.pending
    sched.release("h", failed=False)  # the second was answered
    assert not sched.tripped("h") and list(slot.pending) == ["x", "y"]
    assert slot.condemned == 0


def test_a_third_trip_in_one_run_is_final() -> None:
    """Probes put a site back each time it answers; the third time it trips in one run, its
    URLs are given up (a flapping site does not cycle for ever), and so is one with a
    cool-down of 0 at its first trip."""
    from enricher.net.hoststate import Breaker

    breaker: Breaker[str] = Breaker()
    assert breaker.trip(0.0, 30.0) and breaker.reopen_at == 30.0
    breaker.close()
    assert breaker.trip(100.0, 30.0) and breaker.reopen_at == 160.0  # doubled
    breaker.close()
    assert not breaker.trip(200.0, 30.0) and breaker.final
    assert not Breaker[str]().trip(0.0, 0.0)


def test_after_the_cooldown_a_retry_or_redirect_hop_is_the_probe() -> None:
    """A site reached only through redirects has no queued URL to probe with: its hops got
    host_unreachable for the rest of the run, even after it was back. During the cool-down
    a hop is refused at once; after it, one hop goes as the probe, and its answer closes
    the breaker (the site has answered: its hanging pages no longer count)."""
    async def main() -> list[bool]:
        now = [100.0]
        sched: Scheduler[str] = Scheduler(host_concurrency=1, interval=0.0,
                                          breaker_threshold=1, breaker_cooldown=10.0,
                                          clock=lambda: now[0])
        runner = asyncio.ensure_future(sched.run(lambda k, i: None, lambda k, i: None))
        sched.hold()
        got = [await sched.acquire("t")]
        sched.release("t", failed=True)  # trips t
        got.append(await sched.acquire("t"))  # in the cool-down: refused, no slot held
        now[0] += 10.0
        got.append(await sched.acquire("t"))  # after it: the probe
        sched.release("t", failed=False)
        got.append(sched.tripped("t") or not sched.breaker("t").answered)
        sched.done()
        await asyncio.wait_for(runner, 5)
        return got

    assert asyncio.run(main()) == [True, False, True, False]


class Flaky:
    """A site on 127.0.0.1 that refuses connections (bound, not listening) until ``open``."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.servers: list[asyncio.Server] = []

    async def open(self) -> None:
        if not self.servers:
            self.sock.listen()
            self.servers.append(await asyncio.start_server(self._serve, sock=self.sock))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = page("Back")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self.sock.close()


def _fetch_beside_a_busy_host(flaky: Flaky, urls: Callable[[NetServer], list[str]],
                              redirect: bool = False) -> dict[str, FetchResult]:
    """Fetch ``urls`` and 40 pages of b.test (20 ms each: the run outlasts a 0.2 s
    cool-down); ``flaky`` opens once 3 URLs failed to connect. ``redirect``: r.test's pages
    (100 ms each) 301 to the same path on ``flaky``. Results by URL path."""
    done: list[FetchResult] = []

    async def handler(request: Request, conn: Conn) -> None:
        if request.host == "r.test" and redirect:
            await asyncio.sleep(0.1)  # server latency: r.test's pages span a second
            location = f"http://t.test:{flaky.port}{request.path}"
            await conn.respond(301, b"", [("Location", location)])
            return
        if sum(1 for r in done if r.failure == "connect") >= 3:
            await flaky.open()
        await asyncio.sleep(0.02)
        await conn.respond(200, page("Busy"))

    config = FetchConfig(connect_timeout=0.5, read_timeout=0.5, request_deadline=1.0,
                         max_attempts=1, host_request_interval=0.0, allow_private=True,
                         host_concurrency=1, breaker_threshold=3, breaker_cooldown=0.2)
    names = {name: ["127.0.0.1"] for name in ("a.test", "b.test", "r.test", "t.test")}

    async def main() -> None:
        async with NetServer(handler) as srv:
            todo = [(url, LinkKind.PAGE) for url in urls(srv)]
            todo += [(srv.url("b.test", f"/b{i}"), LinkKind.PAGE) for i in range(40)]
            async with Fetcher(config, resolver=FakeResolver(names)) as fetcher:
                await fetcher.fetch_all(todo, done.append)

    try:
        asyncio.run(main())
    finally:
        flaky.close()
    return {r.url.rsplit("/", 1)[1]: r for r in done if "/b" not in r.url}


def test_a_site_that_refused_connections_for_a_while_is_checked_after_it_comes_back() -> None:
    """End to end: a.test refuses connections, trips after three URLs, and starts listening
    while b.test keeps the run busy; the probe after the cool-down finds it up, and its
    remaining URLs are fetched, not ``host_unreachable``."""
    flaky = Flaky()
    a = _fetch_beside_a_busy_host(flaky, lambda srv: [
        f"http://a.test:{flaky.port}/{i}" for i in range(6)])
    assert [a[str(i)].failure for i in range(3)] == ["connect"] * 3
    assert {(classify(a[str(i)]).status, a[str(i)].http_status)
            for i in range(3, 6)} == {(LinkStatus.OK, 200)}, [a[str(i)] for i in range(6)]
    assert flaky.servers


def test_a_site_reached_only_through_redirects_is_checked_once_it_is_back() -> None:
    """End to end: r.test's pages 301 to t.test, which refuses connections (trips after
    three hops), then listens again; after the cool-down the next hop probes it and the
    rest are fetched (all were host_unreachable)."""
    r = _fetch_beside_a_busy_host(Flaky(), lambda srv: [
        srv.url("r.test", f"/{i}") for i in range(10)], redirect=True)
    assert [r[str(i)].failure for i in range(3)] == ["connect"] * 3
    assert {r[str(i)].http_status for i in range(6, 10)} == {200}, [r[str(i)] for i in range(10)]


def test_running_out_of_file_descriptors_trips_no_breaker() -> None:
    """EMFILE on connect is this process's limit, not the site's: each URL says so
    (``too_many_open_files``, error, never dead) and the host's breaker is not fed, so no
    URL of it is given up as ``host_unreachable``; other hosts are unaffected."""
    done: list[FetchResult] = []

    async def handler(request: Request, conn: Conn) -> None:
        await conn.respond(200, page("Fine"))

    config = FetchConfig(max_attempts=1, host_request_interval=0.0, allow_private=True,
                         host_concurrency=1, breaker_threshold=3)
    names = {"full.test": ["127.0.0.2"], "b.test": ["127.0.0.1"]}

    async def main() -> None:
        async with NetServer(handler) as srv:
            loop = asyncio.get_running_loop()
            real = loop.create_connection

            async def dial(factory: Callable[[], asyncio.Protocol], host: str, port: int,
                           **kw: object) -> tuple[asyncio.Transport, asyncio.Protocol]:
                if host == "127.0.0.2":  # full.test's address: no descriptor left for it
                    raise OSError(errno.EMFILE, "Too many open files")
                return await real(factory, host, port, **kw)  # type: ignore[arg-type]

            loop.create_connection = dial  # type: ignore[method-assign,assignment]
            todo = [(srv.url("full.test", f"/{i}"), LinkKind.PAGE) for i in range(8)]
            todo += [(srv.url("b.test", f"/b{i}"), LinkKind.PAGE) for i in range(4)]
            async with Fetcher(config, resolver=FakeResolver(names)) as fetcher:
                await fetcher.fetch_all(todo, done.append)

    asyncio.run(main())
    full = [r for r in done if "full.test" in r.url]
    assert len(full) == 8 and {r.failure for r in full} == {"too_many_open_files"}, full
    assert {classify(r).status for r in full} == {LinkStatus.ERROR}
    assert "raise ulimit -n" in full[0].detail
    assert {r.http_status for r in done if "b.test" in r.url} == {200}
