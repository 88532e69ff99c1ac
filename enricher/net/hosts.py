"""Per-host politeness: host slots and the dispatcher that starts requests.

Design (after scrapy's downloader ``Slot`` and lychee's host module):

* A **HostSlot** per host holds its concurrency limit, the minimum interval between request
  *starts* (plus up to ``jitter`` of it), the time the next request may start, its queue of URLs
  not yet started (``pending``) and of jobs that want another attempt (``waiters``: retries
  and redirect hops, served first); circuit breakers live beside it, per origin. Each grant
  plans the host's next start (the planned send time + a jittered gap); the job reports when
  its request has really left (``sent``, from httpcore's trace, after a new connection's
  handshake and the head's write), and the next start moves later only if it would otherwise
  come closer than ``least_gap`` (the interval) to that moment. So an error
  page that comes back fast never shortens a host's delay, nor does a slow connect (while a
  granted request is still connecting, the host's next start waits), and event-loop latency
  does not stretch the schedule. A start may be granted up to ``lead`` early; the job
  prepares its request and waits for ``send_delay`` before sending.
* The **Scheduler** starts a request only when both its host slot (concurrency + spacing)
  and a global slot (``max_concurrency`` requests in flight) are free. Hosts that have work
  and a free connection sit in a heap keyed by the time they may next start (``_timed``), so
  a host with thousands of URLs never fills the global slots with requests that only wait for
  its spacing, and a slow host never holds up the others. Hosts whose time has come move to
  a second heap (``_ready``) served **longest remaining work first** (queued attempts × the
  host's interval, or a nominal latency share without one): when global slots are scarce
  (many hosts ready at once, or a CPU-bound event loop), the host that bounds the run's wall
  time goes first instead of waiting a round behind every small host, and is kept global
  slots for its free connections (``_reserve``). Nothing is handed to the HTTP layer before
  it can run, so connection pools never queue.
* **Load governor**: the event loop runs on one core. When fetching, decoding and parsing
  saturate it, every await of every job waits a full round of the loop's ready queue, so a
  granted request leaves late (hundreds of ms with 128 jobs in flight): the big host's
  spacing stretches and per-request deadlines fire late. A ticker measures the loop's lag
  (how late a short sleep wakes, smoothed); above ``LAG_HIGH`` the global limit shrinks
  (x0.8, never below ``max_concurrency // 16`` or 4), below ``LAG_LOW`` it grows back to
  ``max_concurrency``. Throughput is CPU-bound then anyway: fewer in flight, prompter steps.
* A job that sleeps between retries holds no slot at all; when it wants its next attempt it
  calls ``acquire(host, origin)`` and waits in that host's ``waiters`` queue.
* **Retry-After**: when a host answers 429/503 with a Retry-After, ``defer(host, seconds)``
  moves its next start that far ahead (retries included: they wait in the same slot). The
  host just sits in the timed heap meanwhile: it holds no global slot and delays no other
  host. A request granted before the answer came waits for the hold too (``held_until``).
* **Circuit breaker**, per *origin* (scheme, host, port; politeness stays per host name):
  ``breaker_threshold`` consecutive connection-level failures or timeouts trip the origin:
  its queued URLs (``origin_of`` says whose an item is) wait for a probe after a cool-down
  (``hoststate.Breaker``; an ``acquire`` gets False until then, and is the probe after it);
  any HTTP response resets the count. A timeout after the connection was made (a page that
  never answers) counts only while the origin has not answered in this run (a host that
  answers other pages is up, and its hanging pages time out one by one), and such timeouts
  trip it only when they outnumber the host's connections (its first pages may all hang
  while the one that would answer waits for one). A closed port 80 spares https:// URLs.

The clock (monotonic seconds) and the jitter source are injectable. This module must not
import httpx, build requests, or decide verdicts.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from enricher.config import (
    DEFAULT_BREAKER_COOLDOWN,
    DEFAULT_BREAKER_THRESHOLD,
    DEFAULT_HOST_CONCURRENCY,
    DEFAULT_HOST_INTERVAL_JITTER,
    DEFAULT_HOST_REQUEST_INTERVAL,
    DEFAULT_MAX_CONCURRENCY,
    GOVERNOR_LAG_HIGH,
    GOVERNOR_LAG_LOW,
    HostPolicy,
)
from enricher.net.hoststate import Breaker, HostSlot

T = TypeVar("T")

# A host's next start is granted up to LEAD_SHARE of its interval (at most MAX_LEAD) early;
# the job prepares its request and then waits for the exact moment (``send_delay``), so the
# event loop's latency between a grant and the request leaving does not add to every gap.
LEAD_SHARE, MAX_LEAD = 0.5, 0.03
BOUND_REFRESH = 0.5  # seconds between looks for the host with the most work
# load governor (module docstring): tick, lag thresholds (seconds, config.py), smoothing
LAG_TICK, LAG_HIGH, LAG_LOW, LAG_SMOOTHING = 0.05, GOVERNOR_LAG_HIGH, GOVERNOR_LAG_LOW, 0.3


class Scheduler(Generic[T]):
    """Hands out host+global slots; see the module docstring. ``origin_of(host, item)`` names
    the origin (breaker key) of a queued item; by default the host itself."""

    def __init__(
        self,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        host_concurrency: int = DEFAULT_HOST_CONCURRENCY,
        interval: float = DEFAULT_HOST_REQUEST_INTERVAL,
        jitter: float = DEFAULT_HOST_INTERVAL_JITTER,
        overrides: Mapping[str, HostPolicy] | None = None,
        breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD,
        breaker_cooldown: float = DEFAULT_BREAKER_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        govern: bool = True,
        origin_of: Callable[[str, T], str] | None = None,
    ) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.limit = self.max_concurrency  # the global limit now (the governor moves it)
        self._floor = min(self.max_concurrency, max(4, self.max_concurrency // 16))
        self._govern = govern
        self.lag = 0.0  # smoothed event-loop lag, seconds
        self._host_concurrency = max(1, host_concurrency)
        self._interval = max(0.0, interval)
        self._jitter = min(max(0.0, jitter), 1.0)
        self._overrides = overrides or {}
        self._threshold = max(1, breaker_threshold)
        self._cooldown = breaker_cooldown
        self._reopen: list[tuple[float, int, str, HostSlot[T]]] = []  # (probe at, seq, origin)
        self._parked = 0  # items held by tripped breakers
        self._clock = clock
        self._rand = rand
        self._slots: dict[str, HostSlot[T]] = {}
        self._breakers: dict[str, Breaker[T]] = {}
        self._origin_of: Callable[[str, T], str] = origin_of or (lambda key, item: key)
        self._timed: list[tuple[float, int, HostSlot[T]]] = []  # (may start at, seq, slot)
        self._ready: list[tuple[float, int, HostSlot[T]]] = []  # (-work, seq, slot)
        self._bound: HostSlot[T] | None = None  # see _reserve
        self._bound_at = 0.0  # when to look for it again
        self._seq = itertools.count()
        self.active = 0  # requests in flight, all hosts
        self._open = 0  # items added and not finished
        self._wake: asyncio.Future[None] | None = None
        self._start: Callable[[str, T], None] | None = None
        self._unreachable: Callable[[str, T], None] | None = None

    # --- slots ----------------------------------------------------------------------------
    def slot(self, key: str) -> HostSlot[T]:
        found = self._slots.get(key)
        if found is None:
            policy = self._overrides.get(key)
            conc = policy.concurrency if policy and policy.concurrency else None
            interval = policy.interval if policy and policy.interval is not None else None
            spacing = max(0.0, self._interval if interval is None else interval)
            found = HostSlot(
                key,
                max(1, conc or self._host_concurrency),
                spacing,
                self._jitter,
                lead=min(LEAD_SHARE * spacing, MAX_LEAD),
            )
            self._slots[key] = found
        return found

    def limits(self, key: str) -> int:
        """The host's concurrency (its connection pool size)."""
        return self.slot(key).concurrency

    def idle(self, key: str) -> bool:
        found = self._slots.get(key)
        return found is None or found.idle()

    def busy(self, key: str) -> bool:
        """Has host ``key`` a request in flight or one waiting for its slot?"""
        return (found := self._slots.get(key)) is not None and (found.active > 0
                                                                or bool(found.waiters))

    def breaker(self, origin: str) -> Breaker[T]:
        if (found := self._breakers.get(origin)) is None:
            found = self._breakers[origin] = Breaker()
        return found

    def tripped(self, origin: str) -> bool:
        return (found := self._breakers.get(origin)) is not None and found.tripped

    def given_up(self, origin: str) -> bool:
        """Is ``origin`` unreachable for the rest of the run (no probe will follow)?"""
        return (found := self._breakers.get(origin)) is not None and found.final

    # --- work -----------------------------------------------------------------------------
    def add(self, key: str, item: T) -> None:
        """Queue a new item (not started) for host ``key``."""
        (slot := self.slot(key)).pending.append(item)
        self._open += 1
        self._consider(slot)
        self._poke()

    def hold(self) -> None:
        """Keep ``run`` going while items are still added (a streaming producer, which
        calls ``done()`` once when it has added its last item)."""
        self._open += 1

    def done(self) -> None:
        """A started item finished (its job calls this once, at the very end)."""
        self._open -= 1
        self._poke()

    async def acquire(self, key: str, origin: str | None = None) -> bool:
        """Wait for a slot of host ``key`` and a global slot for one more attempt of a started
        job. False when the breaker of ``origin`` (default: the host) has tripped and is in
        its cool-down (then no slot is held); after it, this attempt is its probe (a site
        reached only through redirects has no queued URL to probe with)."""
        origin, slot = key if origin is None else origin, self.slot(key)
        if (breaker := self._breakers.get(origin)) is not None and breaker.tripped:
            if not breaker.may_probe(now := self._clock()):
                return False
            self._let_probe(breaker, origin, slot, now)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        slot.waiters.append((origin, fut))
        self._consider(slot)
        self._poke()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                self.release(key)
            raise

    def release(self, key: str, *, failed: bool | None = None, origin: str | None = None,
                connected: bool = False) -> None:
        """An attempt to host ``key`` ended. ``failed``: True for a connection-level failure
        or timeout (counts towards the breaker of ``origin``, default the host), False for
        any HTTP response (resets it), None for neither (e.g. a policy refusal).
        ``connected``: the failure came after a connection was made (it counts only while
        the origin has not answered in this run)."""
        slot = self.slot(key)
        slot.active -= 1
        self.active -= 1
        slot.unsent = min(slot.unsent, slot.active)  # an attempt that never sent is over
        if failed is not None:
            origin = key if origin is None else origin
            breaker = self.breaker(origin)
            counts = failed and not (connected and breaker.answered)
            if breaker.probing and not breaker.final:
                if counts:
                    self._trip(slot, origin, breaker)  # the probe failed: wait longer
                else:  # the origin is back (an answer, or a hanging page once it answered)
                    breaker.answered = True
                    self._close(slot, breaker)
            elif not failed:
                breaker.failures, breaker.answered = 0, True
                if breaker.tripped and not breaker.final:
                    self._close(slot, breaker)  # an attempt from before the trip answered
            elif counts:
                breaker.failures += 1
                # hanging pages (connected) must outnumber the host's connections: its first
                # ones may all hang while the page that would answer waits for a connection
                need = max(self._threshold, slot.concurrency + 1) if connected else self._threshold
                if breaker.failures >= need and not breaker.tripped:
                    self._trip(slot, origin, breaker)
        self._consider(slot)
        self._poke()

    def defer(self, key: str, seconds: float, budget: float = float("inf")) -> None:
        """The host asked us to wait (Retry-After): no request to it starts before ``seconds``
        from now; no slot is held meanwhile. The holds add at most ``budget`` seconds to a host
        in a run: one answering every request with 503 + Retry-After must not serialise its
        URLs for hours (past the budget, a Retry-After holds only its own URL's retry)."""
        slot = self.slot(key)
        now = self._clock()
        added = min(now + seconds - max(slot.next_start, now), budget - slot.deferred)
        if added > 0:
            slot.next_start = max(slot.next_start, now) + added
            slot.deferred += added
            # requests granted before the answer that asked us to wait, not sent yet
            slot.held_until = max(slot.held_until, min(now + seconds, slot.next_start))

    def _trip(self, slot: HostSlot[T], origin: str, breaker: Breaker[T]) -> None:
        """Trip ``origin``'s breaker (see ``breaker``): its waiters get False, its queued
        items are parked until a probe, or handed to ``on_unreachable`` once it is final."""
        slot.condemned += not breaker.tripped
        breaker.host = slot.key
        if probe := breaker.trip(self._clock(), self._cooldown):
            heapq.heappush(self._reopen, (breaker.reopen_at, next(self._seq), origin, slot))
        kept: deque[tuple[str, asyncio.Future[bool]]] = deque()
        for waiter in slot.waiters:
            if waiter[0] != origin:
                kept.append(waiter)
            elif not waiter[1].done():
                waiter[1].set_result(False)
        slot.waiters = kept
        rest: deque[T] = deque()
        for item in slot.pending:
            (breaker.parked if self._origin_of(slot.key, item) == origin else rest).append(item)
        self._parked += len(slot.pending) - len(rest)
        slot.pending = rest
        if not probe:
            self._give_up(breaker)

    def _give_up(self, breaker: Breaker[T]) -> None:
        """``breaker`` is final: its parked items go to ``on_unreachable``."""
        breaker.final = True
        items, breaker.parked = breaker.parked, deque()
        self._parked -= len(items)
        self._open -= len(items)
        for item in items:
            if self._unreachable is not None:
                self._unreachable(breaker.host, item)

    def _close(self, slot: HostSlot[T], breaker: Breaker[T]) -> None:
        """The origin answered: its parked items go back to the front of the queue."""
        breaker.close()
        slot.condemned -= 1
        self._parked -= len(breaker.parked)
        slot.pending.extendleft(reversed(breaker.parked))
        breaker.parked.clear()
        self._consider(slot)

    def _let_probe(self, breaker: Breaker[T], origin: str, slot: HostSlot[T], now: float) -> None:
        """An attempt goes out as ``origin``'s probe; another may, a cool-down later, if it
        never reports (refused by the address policy before it was sent)."""
        again = breaker.let_probe(now, self._cooldown)
        heapq.heappush(self._reopen, (again, next(self._seq), origin, slot))

    def _probe(self, now: float) -> None:
        """Breakers whose cool-down ended let one parked item go (to the front of its queue;
        ``_grant`` lets an item of a breaker that ``may_probe`` through)."""
        while self._reopen and self._reopen[0][0] <= now:
            _, _, origin, slot = heapq.heappop(self._reopen)
            breaker = self._breakers[origin]
            if breaker.tripped and breaker.parked and breaker.may_probe(now):
                slot.pending.appendleft(breaker.parked.popleft())
                self._parked -= 1
                self._consider(slot)

    # --- dispatcher -----------------------------------------------------------------------
    def _consider(self, slot: HostSlot[T]) -> None:
        if not slot.queued and slot.can_start():
            slot.queued = True
            heapq.heappush(self._timed, (slot.next_start - slot.lead, next(self._seq), slot))

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _grant(self, slot: HostSlot[T], now: float) -> None:
        while slot.waiters:
            _, fut = slot.waiters.popleft()
            if fut.done():  # its job was cancelled while waiting
                continue
            self._take(slot, now)
            fut.set_result(True)
            return
        while slot.pending:
            item = slot.pending.popleft()
            if slot.condemned and (breaker := self._breakers.get(
                    origin := self._origin_of(slot.key, item))) is not None and breaker.tripped:
                if breaker.may_probe(now):  # the probe of a cool-down that ended
                    self._let_probe(breaker, origin, slot, now)
                else:  # queued after its origin tripped
                    breaker.parked.append(item)
                    self._parked += 1
                    if breaker.final:
                        self._give_up(breaker)
                    continue
            self._take(slot, now)
            assert self._start is not None
            self._start(slot.key, item)
            return

    def _take(self, slot: HostSlot[T], now: float) -> None:
        slot.active += 1
        slot.unsent += 1
        self.active += 1
        slot.send_at = max(slot.next_start, now)
        slot.last_gap = slot.gap(self._rand)
        slot.next_start = slot.send_at + slot.last_gap

    def send_delay(self, key: str) -> float:
        """Seconds the granted attempt must still wait before its request may leave (it was
        granted up to ``lead`` early, so that preparing it overlaps the host's spacing), or
        because the host asked us to wait (``defer``) after it was granted."""
        slot = self.slot(key)
        return max(0.0, max(slot.send_at, slot.held_until) - self._clock())

    def hold_delay(self, key: str) -> float:
        """Seconds a granted request must still wait for a Retry-After hold (``defer``) that
        came while it waited for its ``send_delay``."""
        return max(0.0, self.slot(key).held_until - self._clock())

    def started(self, key: str) -> None:
        """The granted request is about to go out (see ``sent``)."""
        slot = self.slot(key)
        slot.next_start = max(slot.next_start, self._clock() + slot.least_gap())

    def sent(self, key: str, refused: bool = False) -> None:
        """The granted request has left (or failed before it could); once per attempt. The
        next start stays where the grant planned it (``send_at`` + the drawn gap) unless this
        request left so late that the next would follow it closer than the interval: a busy
        loop's late wake-up never stretches the schedule, and no two requests leave closer
        than the interval. ``refused``: nothing left (the address policy refused it); the
        only attempt in flight gives its gap back."""
        slot = self.slot(key)
        if refused and slot.active <= 1:  # 3,000 refused URLs of a host took 300 s
            slot.next_start = min(slot.next_start, max(slot.send_at, slot.held_until))
        else:
            slot.next_start = max(slot.next_start, self._clock() + slot.least_gap())
        if slot.unsent > 0:
            slot.unsent -= 1
        self._consider(slot)
        self._poke()

    def observe_lag(self, lag: float) -> None:
        """One lag sample (seconds a short sleep woke late): move the global limit."""
        self.lag += LAG_SMOOTHING * (lag - self.lag)
        if self.lag > LAG_HIGH:
            self.limit = max(self._floor, int(self.limit * 0.8))
        elif self.lag < LAG_LOW and self.limit < self.max_concurrency:
            self.limit = min(self.max_concurrency, self.limit + max(1, self.limit // 8))
            self._poke()

    async def _watch_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_TICK)
            self.observe_lag(max(0.0, loop.time() - before - LAG_TICK))

    def _reserve(self, now: float) -> HostSlot[T] | None:
        """The host with the most work queued (the run's bound), while it could use another
        connection: the other hosts leave it that many global slots (at most a quarter of the
        limit). Without this, when global slots are scarce, the slot its fast request frees
        goes to a small host's slow request while it waits out its spacing: the run took the
        sum of the bounds, not the largest. Found every ``BOUND_REFRESH`` seconds (a scan of
        every host on each dispatch cost 1.5 s of a 30 s profile). None during a Retry-After."""
        if now >= self._bound_at:
            busy = (s for s in self._slots.values() if s.has_work())
            self._bound = max(busy, key=HostSlot.work, default=None)
            self._bound_at = now + BOUND_REFRESH
        bound = self._bound
        if bound is None or not bound.has_work() or bound.active >= bound.concurrency:
            return None
        return None if bound.held_until > now else bound  # held: kept slots would idle

    def _dispatch(self, now: float) -> None:
        self._probe(now)
        timed, ready = self._timed, self._ready
        while True:
            while timed and timed[0][0] <= now:  # their time has come: rank by remaining work
                _, seq, slot = heapq.heappop(timed)
                heapq.heappush(ready, (-slot.work(), seq, slot))
            if not ready or self.active >= self.limit:
                return
            bound = self._reserve(now)
            if bound is not None and ready[0][2] is not bound:
                cap = self.limit // 4 if self.limit >= 4 else min(1, self.limit - 1)
                if self.active + min(bound.concurrency - bound.active, cap) >= self.limit:
                    if bound.queued and bound.next_start - bound.lead <= now and (
                            bound.can_start()):
                        self._grant(bound, now)  # due: its heap entry is only stale
                        continue
                    return  # the rest is the bound host's
            _, _, slot = heapq.heappop(ready)
            slot.queued = False
            if slot.next_start - slot.lead > now:  # moved by sent(): wait again
                self._consider(slot)
                continue
            if slot.can_start():
                self._grant(slot, now)
                self._consider(slot)

    async def run(
        self,
        start: Callable[[str, T], None],
        on_unreachable: Callable[[str, T], None],
    ) -> None:
        """Dispatch until every added item is done. ``start(key, item)`` must launch the job
        (which then holds one slot of ``key`` for its first attempt) without blocking."""
        self._start, self._unreachable = start, on_unreachable
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(self._watch_lag()) if self._govern else None
        try:
            while self._open > 0:
                now = self._clock()
                self._dispatch(now)
                if self._open == self._parked > 0:  # only probes are left to wait for
                    for breaker in self._breakers.values():
                        if breaker.parked:
                            self._give_up(breaker)
                if self._open <= 0:
                    break
                delay = None
                if self._timed and self.active < self.limit:
                    delay = max(0.0, self._timed[0][0] - now)
                if self._reopen:
                    probe_in = max(0.0, self._reopen[0][0] - now)
                    delay = probe_in if delay is None else min(delay, probe_in)
                self._wake = loop.create_future()
                timer = loop.call_later(delay, self._poke) if delay is not None else None
                try:
                    await self._wake
                finally:
                    if timer is not None:
                        timer.cancel()
                    self._wake = None
        finally:
            self._start = self._unreachable = None
            if watcher is not None:
                watcher.cancel()
