"""hosts: slot arithmetic, and the dispatcher's limits measured on simulated jobs."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict, deque

import pytest

from enricher.config import HostPolicy
from enricher.net.hosts import HostSlot, Scheduler


def test_the_interval_is_a_minimum_and_jitter_only_adds() -> None:
    """A site that asked for 2 s between requests got 1.8 s (jitter was +-20%)."""
    slot: HostSlot[str] = HostSlot("a", concurrency=2, interval=0.1, jitter=0.2)
    assert slot.gap(lambda: 0.0) == 0.1
    assert slot.gap(lambda: 1.0) == pytest.approx(0.1 * 1.2)
    assert slot.gap(lambda: 0.5) == pytest.approx(0.11)
    assert slot.least_gap() == 0.1
    assert HostSlot("b", 1, 0.0, 0.2).gap(lambda: 1.0) == 0.0


def test_overrides_apply_per_host() -> None:
    sched: Scheduler[str] = Scheduler(host_concurrency=4, interval=0.1,
                                      overrides={"slow.test": HostPolicy(concurrency=1,
                                                                         interval=2.0)})
    assert (sched.slot("slow.test").concurrency, sched.slot("slow.test").interval) == (1, 2.0)
    assert (sched.slot("x.test").concurrency, sched.slot("x.test").interval) == (4, 0.1)


class Sim:
    """Runs a scheduler over simulated jobs that take ``work`` seconds each."""

    def __init__(self, sched: Scheduler[str], work: float = 0.01,
                 fail: frozenset[str] = frozenset(), works: dict[str, float] | None = None,
                 ) -> None:
        self.sched = sched
        self.work = work
        self.works = works or {}  # seconds a job takes, per host (default ``work``)
        self.fail = fail
        self.starts: defaultdict[str, list[float]] = defaultdict(list)
        self.order: list[str] = []
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.global_peak = 0
        self.unreachable: list[str] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, key: str, item: str) -> None:
        task = asyncio.get_running_loop().create_task(self.job(key, item))
        self.tasks.add(task)

    async def job(self, key: str, item: str) -> None:
        self.starts[key].append(time.monotonic())
        self.active[key] += 1
        self.peak[key] = max(self.peak[key], self.active[key])
        self.global_peak = max(self.global_peak, self.sched.active)
        await asyncio.sleep(self.works.get(key, self.work))
        self.active[key] -= 1
        self.order.append(item)
        self.sched.release(key, failed=key in self.fail)
        self.sched.done()

    async def run(self, items: list[tuple[str, str]]) -> None:
        for key, item in items:
            self.sched.add(key, item)
        await asyncio.wait_for(self.sched.run(self.start, self.on_unreachable), 10)

    def on_unreachable(self, key: str, item: str) -> None:
        self.unreachable.append(item)


def test_limits_hold_and_spacing_is_between_starts() -> None:
    sched: Scheduler[str] = Scheduler(max_concurrency=3, host_concurrency=2, interval=0.02,
                                      jitter=0.25)
    sim = Sim(sched, work=0.05)
    items = [(host, f"{host}/{i}") for host in ("a", "b", "c", "d") for i in range(6)]
    asyncio.run(sim.run(items))
    assert len(sim.order) == 24
    assert sim.global_peak <= 3
    assert max(sim.peak.values()) <= 2
    for starts in sim.starts.values():
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= 0.02 * 0.75 - 0.002


def test_a_big_sorted_host_does_not_hold_up_the_others() -> None:
    # the big host comes first in input order and may start one request per 50 ms
    sched: Scheduler[str] = Scheduler(max_concurrency=4, host_concurrency=4, interval=0.05,
                                      jitter=0.0)
    sim = Sim(sched, work=0.005)
    items = [("big", f"big/{i}") for i in range(10)]
    items += [(f"small{i}", f"small{i}") for i in range(12)]
    started = time.monotonic()
    asyncio.run(sim.run(items[:5] + items[10:] + items[5:10]))
    first_small = [sim.starts[f"small{i}"][0] - started for i in range(12)]
    assert max(first_small) < 0.1  # all small hosts start at once, not after the big one
    assert sim.order.index("small11") < sim.order.index("big/3")


def test_when_global_slots_are_scarce_the_host_with_most_work_goes_first() -> None:
    # one global slot, 30 small hosts ready since the start, a big host spaced 20 ms apart:
    # served by readiness alone, the big host would wait behind all 30 (>= 0.3 s) for its
    # second start; ranked by remaining work, it goes as soon as its spacing allows
    sched: Scheduler[str] = Scheduler(max_concurrency=1, host_concurrency=4, interval=0.02,
                                      jitter=0.0)
    sim = Sim(sched, work=0.01)
    items = [("big", f"big/{i}") for i in range(20)]
    items += [(f"small{i}", f"small{i}") for i in range(30)]
    asyncio.run(sim.run(items))
    assert len(sim.order) == 50
    big = sim.starts["big"]
    assert big[1] - big[0] < 0.1
    assert sim.order.index("big/5") < sim.order.index("small29")
    assert sim.global_peak <= 1


def test_the_host_with_most_work_keeps_a_global_slot_from_slow_small_hosts() -> None:
    """Eight global slots, a big host spaced 20 ms apart whose requests are fast, and
    sixteen small hosts whose requests take 0.4 s: the slot the big host's request frees
    while it waits out its spacing must not go to a slow small request each time (it then
    waited ~0.4 s / 8 for every start: about 4 starts a second instead of 50)."""
    sched: Scheduler[str] = Scheduler(max_concurrency=8, host_concurrency=4, interval=0.02,
                                      jitter=0.0, govern=False)
    works = {f"small{i}": 0.4 for i in range(16)}
    sim = Sim(sched, work=0.001, works=works)
    items = [("big", f"big/{i}") for i in range(60)]
    items += [(f"small{i}", f"small{i}/{j}") for i in range(16) for j in range(4)]
    asyncio.run(sim.run(items))
    big, small = sim.starts["big"], [t for k, v in sim.starts.items() if k != "big" for t in v]
    first = min(big + small)
    # 60 starts 20 ms apart: about 1.2 s; the small hosts' 64 x 0.4 s over the slots left
    # take at least 4.3 s, so a starved big host would still be starting then
    assert big[-1] - first < 2.5
    assert max(small) - first > 3.0  # the small hosts were still busy meanwhile
    assert sim.global_peak <= 8


def test_remaining_work_ranks_spaced_and_unspaced_hosts() -> None:
    spaced: HostSlot[str] = HostSlot("a", concurrency=2, interval=0.5, jitter=0.0)
    unspaced: HostSlot[str] = HostSlot("b", concurrency=4, interval=0.0, jitter=0.0)
    spaced.pending.extend(["x", "y"])
    unspaced.pending.extend(["x"] * 8)
    assert spaced.work() == 1.0
    assert unspaced.work() == 8 * 0.1 / 4


def test_breaker_trips_and_drains_pending() -> None:
    sched: Scheduler[str] = Scheduler(max_concurrency=8, host_concurrency=1, interval=0.0,
                                      breaker_threshold=3)
    sim = Sim(sched, work=0.001, fail=frozenset({"down"}))
    items = [("down", f"down/{i}") for i in range(10)] + [("up", "up/0")]
    asyncio.run(sim.run(items))
    assert len(sim.starts["down"]) == 3
    assert sorted(sim.unreachable) == sorted(f"down/{i}" for i in range(3, 10))
    assert "up/0" in sim.order
    assert sched.tripped("down")


def test_hanging_pages_trip_the_breaker_only_when_they_outnumber_the_connections() -> None:
    """A host's first four pages hang on its four connections; the fifth, which answers,
    waits for one: four connected timeouts must not condemn the host (11 good pages got
    host_unreachable). A fifth one does (a tarpit that accepts and never answers)."""
    sched: Scheduler[str] = Scheduler(host_concurrency=4, breaker_threshold=3)
    slot = sched.slot("h")
    for n in range(5):
        slot.active += 1
        sched.active += 1
        sched.release("h", failed=True, connected=True)
        assert sched.tripped("h") == (n == 4)
    refused: Scheduler[str] = Scheduler(host_concurrency=4, breaker_threshold=3)
    for _ in range(3):
        refused.slot("r").active += 1
        refused.active += 1
        refused.release("r", failed=True)  # connect failures: the threshold as before
    assert refused.tripped("r")


def test_success_resets_the_breaker_count() -> None:
    sched: Scheduler[str] = Scheduler(breaker_threshold=2)
    slot = sched.slot("h")
    for failed in (True, False, True, False, True):
        slot.active += 1
        sched.active += 1
        sched.release("h", failed=failed)
    assert not sched.tripped("h") and sched.breaker("h").failures == 1


def test_waiters_get_priority_and_false_after_a_trip() -> None:
    async def main() -> list[object]:
        sched: Scheduler[str] = Scheduler(max_concurrency=4, host_concurrency=1, interval=0.0,
                                          breaker_threshold=1)
        events: list[object] = []

        def start(key: str, item: str) -> None:
            events.append(item)
            asyncio.get_running_loop().create_task(job(key, item))

        async def job(key: str, item: str) -> None:
            if item == "first":
                sched.release(key, failed=False)
                granted = await sched.acquire(key)  # a retry: served before "second"
                events.append(("retry", granted))
                sched.release(key, failed=True)  # trips the host
                granted = await sched.acquire(key)
                events.append(("after trip", granted))
            else:
                sched.release(key, failed=False)
            sched.done()

        sched.add("h", "first")
        sched.add("h", "second")
        await asyncio.wait_for(sched.run(start, lambda k, i: events.append(("gone", i))), 5)
        return events

    events = asyncio.run(main())
    # "second" waits for a probe until nothing else is left, then is given up
    assert events == ["first", ("retry", True), ("after trip", False), ("gone", "second")]


def test_cancelled_waiter_gives_its_slot_back() -> None:
    async def main() -> int:
        sched: Scheduler[str] = Scheduler(max_concurrency=1, host_concurrency=1, interval=0.0)
        sched.slot("h").active = 1  # someone holds the only slot
        sched.active = 1
        waiter = asyncio.ensure_future(sched.acquire("h"))
        await asyncio.sleep(0)
        waiter.cancel()
        sched.release("h")
        return sched.active

    assert asyncio.run(main()) == 0


def test_next_start_waits_until_the_previous_request_has_left() -> None:
    now = [100.0]
    sched: Scheduler[str] = Scheduler(host_concurrency=4, interval=0.05, jitter=0.0,
                                      clock=lambda: now[0])
    slot = sched.slot("h.test")
    slot.pending.extend(["a", "b"])
    sched._take(slot, now[0])  # granted, still connecting
    now[0] += 1.0  # long past the interval
    assert slot.unsent == 1 and not slot.can_start()
    sched.sent("h.test")  # the request left now: the next may start one interval later
    assert slot.unsent == 0 and slot.can_start()
    assert slot.next_start == now[0] + 0.05
    unspaced: HostSlot[str] = HostSlot("u", concurrency=2, interval=0.0, jitter=0.0,
                                       unsent=1, pending=deque(["x"]))
    assert unspaced.can_start()  # without spacing, connecting requests do not hold others


def test_an_attempt_the_address_policy_refused_gives_its_spacing_back() -> None:
    """3,000 URLs of a host refused before sending (a private address) took 3,000 intervals
    (300 s) for no request at all. The only attempt in flight gives its gap back; with
    another in flight (which may send), it does not."""
    now = [100.0]
    sched: Scheduler[str] = Scheduler(host_concurrency=4, interval=0.1, jitter=0.0,
                                      clock=lambda: now[0])
    slot = sched.slot("h")
    sched._take(slot, now[0])
    assert slot.next_start == pytest.approx(100.1)
    sched.sent("h", refused=True)
    assert slot.next_start == 100.0  # the next may start at once
    sched.release("h")
    sched._take(slot, now[0])
    sched._take(slot, now[0])  # a second attempt granted meanwhile
    sched.sent("h", refused=True)
    assert slot.next_start == pytest.approx(100.2)  # its spacing stands
    held: Scheduler[str] = Scheduler(host_concurrency=4, interval=0.1, jitter=0.0,
                                     clock=lambda: now[0])
    hslot = held.slot("k")
    held._take(hslot, now[0])
    held.defer("k", 30.0)  # another request's 429 + Retry-After meanwhile
    held.sent("k", refused=True)
    assert hslot.next_start >= 130.0  # the hold stands: no grant sits out the 30 s holding a slot


def test_release_of_an_attempt_that_never_left_frees_the_host() -> None:
    sched: Scheduler[str] = Scheduler(host_concurrency=4, interval=0.05, jitter=0.0)
    slot = sched.slot("h.test")
    slot.pending.append("b")
    sched._take(slot, 0.0)
    sched.release("h.test", failed=True)  # refused before sending: no sent() call
    assert slot.unsent == 0 and slot.can_start()


class OriginSim(Sim):
    """Items are "origin/n" on host "h"; attempts to the origins in ``fail`` fail."""

    async def job(self, key: str, item: str) -> None:
        origin = item.rsplit("/", 1)[0]
        self.starts[origin].append(time.monotonic())
        await asyncio.sleep(self.work)
        self.order.append(item)
        self.sched.release(key, failed=origin in self.fail, origin=origin)
        self.sched.done()


def test_the_breaker_is_per_origin_and_spares_the_hosts_other_origins() -> None:
    sched: Scheduler[str] = Scheduler(max_concurrency=8, host_concurrency=1, interval=0.0,
                                      breaker_threshold=3,
                                      origin_of=lambda key, item: item.rsplit("/", 1)[0])
    sim = OriginSim(sched, work=0.001, fail=frozenset({"http://h:81"}))
    items = [("h", f"http://h:81/{i}") for i in range(6)]
    items += [("h", f"https://h:443/{i}") for i in range(6)]
    asyncio.run(sim.run(items))
    assert len(sim.starts["http://h:81"]) == 3
    assert sorted(sim.unreachable) == [f"http://h:81/{i}" for i in range(3, 6)]
    assert len(sim.starts["https://h:443"]) == 6  # same host, another origin: all fetched
    assert sched.tripped("http://h:81") and not sched.tripped("https://h:443")

    # a retry of the tripped origin is refused at once, without waiting for a slot
    assert asyncio.run(asyncio.wait_for(sched.acquire("h", "http://h:81"), 1)) is False


def test_a_trip_fails_only_the_waiters_of_its_origin() -> None:
    async def main() -> list[bool]:
        sched: Scheduler[str] = Scheduler(max_concurrency=4, host_concurrency=1, interval=0.0,
                                          breaker_threshold=1)
        sched.slot("h").active = 1  # someone holds the only slot
        sched.active = 1
        dead = asyncio.ensure_future(sched.acquire("h", "http://h:80"))
        alive = asyncio.ensure_future(sched.acquire("h", "https://h:443"))
        await asyncio.sleep(0)  # both are waiting now
        sched.release("h", failed=True, origin="http://h:80")  # trips http://h:80
        runner = asyncio.ensure_future(sched.run(lambda k, i: None, lambda k, i: None))
        sched.hold()
        got = [await dead, await alive]
        sched.release("h")
        sched.done()
        await runner
        return got

    assert asyncio.run(asyncio.wait_for(main(), 5)) == [False, True]


def test_defer_holds_the_host_back_without_holding_a_global_slot() -> None:
    """A host that said "Retry-After" gets no request before the time is up; with one
    global slot, another host runs meanwhile (the deferred host waits in the timed heap)."""

    deferred: list[float] = []

    class Deferring(Sim):
        async def job(self, key: str, item: str) -> None:
            if item == "a/0":
                deferred.append(time.monotonic())
                self.sched.defer("a", 0.3)  # as the Fetcher does on a 429 with Retry-After
            await super().job(key, item)

    sched: Scheduler[str] = Scheduler(max_concurrency=1, host_concurrency=2, interval=0.0,
                                      jitter=0.0)
    sim = Deferring(sched, work=0.005)
    asyncio.run(sim.run([("a", f"a/{i}") for i in range(3)] + [("b", f"b/{i}") for i in range(5)]))
    assert len(sim.starts["a"]) == 3 and len(sim.starts["b"]) == 5
    assert min(sim.starts["a"][1:]) >= deferred[0] + 0.3
    assert max(sim.starts["b"]) < deferred[0] + 0.3  # b ran during a's pause, one global slot
    assert sim.global_peak <= 1


def test_defer_only_moves_the_next_start_later() -> None:
    now = [50.0]
    sched: Scheduler[str] = Scheduler(interval=0.1, jitter=0.0, clock=lambda: now[0])
    slot = sched.slot("h")
    slot.next_start = 50.5
    sched.defer("h", 0.2)  # sooner than already planned: nothing moves
    assert slot.next_start == 50.5
    sched.defer("h", 2.0)
    assert slot.next_start == 52.0
    sched.sent("h")  # a request leaving now does not pull it back
    assert slot.next_start == 52.0


def test_a_request_granted_before_a_retry_after_waits_for_it() -> None:
    """A request granted (early, or with several in flight) before another's 429 arrived
    has not left yet: it waits out the hold too, and a hold that came during its wait is
    seen when it wakes (hold_delay)."""
    now = [100.0]
    sched: Scheduler[str] = Scheduler(interval=0.1, jitter=0.0, clock=lambda: now[0])
    slot = sched.slot("h")
    sched._take(slot, now[0])  # granted: may leave now
    assert sched.send_delay("h") == 0.0 and sched.hold_delay("h") == 0.0
    sched.defer("h", 5.0)  # a request in flight came back 429, Retry-After: 5
    assert sched.send_delay("h") == 5.0 and sched.hold_delay("h") == 5.0
    now[0] = 105.0
    assert sched.send_delay("h") == 0.0 and sched.hold_delay("h") == 0.0
    sched.defer("h", 1.0, budget=slot.deferred + 0.5)  # the budget clips the hold too
    assert sched.hold_delay("h") == 0.5


def test_defer_adds_at_most_its_budget_to_a_host() -> None:
    """A host answering every request with 503 + Retry-After: the holds add up to the
    budget (the Retry-After cap) in a run, then only the URL's own retry waits."""
    now = [10.0]
    sched: Scheduler[str] = Scheduler(interval=0.1, jitter=0.0, clock=lambda: now[0])
    slot = sched.slot("h")
    for _ in range(5):
        sched.defer("h", 3.0, budget=7.0)
        now[0] = slot.next_start  # the hold passes; the next answer asks again
    assert slot.deferred == 7.0 and slot.next_start == 17.0
    sched.defer("other", 3.0, budget=7.0)  # each host has its own budget
    assert sched.slot("other").next_start == now[0] + 3.0


def test_a_host_held_by_retry_after_reserves_no_global_slot() -> None:
    """The host with the most work keeps global slots for its free connections (``_reserve``)
    only while it can use them soon: held back by a Retry-After, it must not keep a slot
    idle that another host's request could use (with four global slots, the other hosts
    ran three at a time for the whole hold)."""

    class Deferring(Sim):
        small_now = small_peak = 0

        async def job(self, key: str, item: str) -> None:
            if item == "big/0":
                self.sched.defer("big", 1.0)  # as the Fetcher does on a 429 + Retry-After
            small = key != "big"
            if small:
                self.small_now += 1
                self.small_peak = max(self.small_peak, self.small_now)
            await super().job(key, item)
            if small:
                self.small_now -= 1

    sched: Scheduler[str] = Scheduler(max_concurrency=4, host_concurrency=4, interval=0.02,
                                      jitter=0.0, govern=False)
    sim = Deferring(sched, work=0.001, works={f"small{i}": 0.05 for i in range(8)})
    items = [("big", f"big/{i}") for i in range(60)]
    items += [(f"small{i}", f"small{i}/{j}") for i in range(8) for j in range(3)]
    asyncio.run(sim.run(items))
    assert len(sim.order) == 84
    assert sim.global_peak <= 4
    assert sim.small_peak == 4  # the held host kept none of the four
