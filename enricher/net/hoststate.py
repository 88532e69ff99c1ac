"""The state the host scheduler (``hosts``) keeps: ``HostSlot`` per host (its limits, its
queue, its spacing) and ``Breaker`` per origin (scheme, host, port).

**Breaker.** ``failures`` counts consecutive connection-level failures; at the threshold the
scheduler trips the breaker: no attempt to the origin starts, and its queued URLs wait in
``parked``. After a cool-down one of them is let through as a probe (half-open). An answer,
or any outcome that is no connection-level failure, closes the breaker and the parked URLs
go back to the front of the host's queue in their order; a failed probe trips it again, with
the cool-down doubled, and after ``BREAKER_PROBES`` failed probes (or its third trip in the
run: a flapping origin does not cycle for ever) the breaker is final: the origin's URLs get
``host_unreachable`` for the rest of the run. A site that stopped taking
connections for half a minute in a nightly run used to lose every URL it had left (1,500
for a big host); now that costs one attempt per cool-down while other hosts keep the run
busy (the scheduler gives parked URLs up at once when nothing else is left to do).

This module must not schedule, do I/O, or decide verdicts; it only holds state.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from enricher.config import BREAKER_PROBES

T = TypeVar("T")

# remaining work of a host without spacing: queued attempts × this ÷ its concurrency
NOMINAL_LATENCY = 0.1


@dataclass(slots=True, eq=False)
class HostSlot(Generic[T]):
    """Mutable state of one host (private to the scheduler; tests read it)."""

    key: str
    concurrency: int
    interval: float
    jitter: float
    active: int = 0
    next_start: float = 0.0
    last_gap: float = 0.0  # the gap drawn at the last grant
    condemned: int = 0  # origins of this host whose breaker tripped
    deferred: float = 0.0  # seconds of Retry-After holds added to this host in the run
    queued: bool = False  # in one of the scheduler's heaps
    unsent: int = 0  # granted attempts whose request has not left yet (connecting)
    lead: float = 0.0  # how early a start may be granted (the job then waits for send_at)
    send_at: float = 0.0  # when the last granted request may leave
    held_until: float = 0.0  # a Retry-After hold: no granted request leaves before it
    pending: deque[T] = field(default_factory=deque)
    waiters: deque[tuple[str, asyncio.Future[bool]]] = field(default_factory=deque)  # origin

    def least_gap(self) -> float:
        """What a late request leaves to the next at least: the interval (a minimum: the
        jitter only ever adds to it; a site that asked for 2 s got 1.8 s)."""
        return self.interval

    def gap(self, rand: Callable[[], float]) -> float:
        """Seconds from one start to the next: the interval plus up to ``jitter`` of it."""
        if self.interval <= 0:
            return 0.0
        return self.interval * (1.0 + self.jitter * rand())

    def work(self) -> float:
        """Seconds of politeness-bound work still queued (the ready heap's priority)."""
        share = self.interval if self.interval > 0 else NOMINAL_LATENCY / self.concurrency
        return (len(self.pending) + len(self.waiters)) * share

    def has_work(self) -> bool:
        return bool(self.pending or self.waiters)

    def can_start(self) -> bool:
        # with spacing, the next start waits until the previous request has really left:
        # a slow connect must not let two requests arrive together
        spaced = self.unsent == 0 or self.interval <= 0
        return self.active < self.concurrency and spaced and self.has_work()

    def idle(self) -> bool:
        return self.active == 0 and not self.pending and not self.waiters



@dataclass(slots=True, eq=False)
class Breaker(Generic[T]):
    """The circuit breaker of one origin (mutable; the scheduler's)."""

    host: str = ""  # the scheduler's key of the origin's host (set when it trips)
    failures: int = 0  # consecutive connection-level failures (the fetcher says which count)
    tripped: bool = False  # no attempt to the origin starts (except one probe)
    answered: bool = False  # an HTTP response came in this run
    final: bool = False  # no more probes: the origin is unreachable for the rest of the run
    trips: int = 0  # times it tripped in this run
    reopen_at: float = 0.0  # when a probe may go (while tripped)
    probing: bool = False  # a probe was let through; its outcome decides
    parked: deque[T] = field(default_factory=deque)  # queued URLs held while tripped

    def trip(self, now: float, cooldown: float) -> bool:
        """Trip (again). True if a probe will follow after the cool-down, False if the
        breaker is final now."""
        self.tripped, self.probing = True, False
        self.trips += 1
        if cooldown <= 0 or self.trips > BREAKER_PROBES:
            self.final = True
            return False
        self.reopen_at = now + cooldown * 2 ** (self.trips - 1)
        return True

    def may_probe(self, now: float) -> bool:
        """May a queued URL go out now as the probe of a tripped breaker? Also when a probe
        went out a cool-down ago and said nothing (refused by the address policy)."""
        return not self.final and now >= self.reopen_at

    def let_probe(self, now: float, cooldown: float) -> float:
        """A probe goes out now; returns when another may follow if it never reports."""
        self.probing = True
        self.reopen_at = now + cooldown * 2 ** (self.trips - 1)
        return self.reopen_at

    def close(self) -> None:
        """The origin answered: attempts go again (the parked URLs are the caller's)."""
        self.tripped = self.probing = False
        self.failures = 0
