"""The outage guard: does this run look like one on a machine without network?

Each attempt that reached the network reports its origin (``scheme://host:port``) and what its
outcome says about the network (``client.Evidence``). An origin counts as *dead* when it only
ever failed the way a machine without network fails (``DOWN``: connect timeouts, a request
deadline that expired before the connection existed, no route, DNS errors other than
NXDOMAIN) and never answered (``UP``: any HTTP answer, a refused or reset connection, a TLS
handshake). ``network_down`` is true once at least ``min_origins`` origins were tried and at
least ``ratio`` of them are dead.

NXDOMAIN proves a resolver answered, so it counts for the network, with one exception: when
*no* origin answered at all and no DNS canary vouched for the resolver (``trust_nxdomain``
False: ``dns_canary`` switched off), NXDOMAINs count as dead too. A Mac without network
reports every name as unknown (EAI_NONAME), and a night that marks every link dead is what
the guard is for; with a canary, such a resolver's "no such name" is never NXDOMAIN
(``guard``: ``dns_error``, which is DOWN), so dead names listed first (an archive sorted
oldest first) no longer look like an outage.

Behind a proxy, no answer at all through it is ``DOWN`` (a live site answers before that
deadline), and a request the proxy refused itself (a refused tunnel, its own error page) is
``PROXY`` evidence: the site was never asked. That is judged only when the fetch is over
(``proxy_failed``): at least ``min_origins`` origins tried and ``ratio`` of them refused or
down and never answered. Never early: a sorted archive's first sites, old names the proxy
cannot resolve, come back at once and say nothing of the rest.

The verdict is final: once ``network_down`` was true it stays true, whatever attempts still
running report. The fetcher stops on it, and what it left unchecked must never be taken for
a finished run (a late answer used to flip it back: the records got ``skipped``).

This module must not do I/O, schedule or decide verdicts; it only counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enricher.config import DEFAULT_OUTAGE_MIN_HOSTS, DEFAULT_OUTAGE_RATIO
from enricher.net.client import Evidence


@dataclass(slots=True, eq=False)
class OutageGuard:
    """Evidence per origin for one run (mutable; one per Fetcher). ``network_down`` costs
    O(1): the fetcher asks it after every URL, so that a run stops as soon as it judges."""

    min_origins: int = DEFAULT_OUTAGE_MIN_HOSTS
    ratio: float = DEFAULT_OUTAGE_RATIO
    tried: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    nxdomain: set[str] = field(default_factory=set)
    proxy: set[str] = field(default_factory=set)  # the proxy refused them itself
    silent: set[str] = field(default_factory=set)  # down | nxdomain
    down_answered: int = 0  # len(down & answered)
    trust_nxdomain: bool = False  # a DNS canary vouches for the resolver's "no such name"
    judged: bool = False  # network_down was true once: final

    def note(self, origin: str, evidence: Evidence | None) -> None:
        """One attempt to ``origin`` ended; ``evidence`` None: it says nothing either way."""
        self.tried.add(origin)
        if evidence is Evidence.UP:
            if origin not in self.answered:
                self.answered.add(origin)
                self.down_answered += origin in self.down
        elif evidence is Evidence.DOWN:
            if origin not in self.down:
                self.down.add(origin)
                self.silent.add(origin)
                self.down_answered += origin in self.answered
        elif evidence is Evidence.NXDOMAIN:
            self.nxdomain.add(origin)
            self.silent.add(origin)
        elif evidence is Evidence.PROXY:
            self.proxy.add(origin)

    @property
    def proxy_failed(self) -> bool:
        """Asked when the fetch is over: did the proxy refuse, or leave unanswered, nearly
        every origin tried (those that answered once excluded)?"""
        tried = len(self.tried)
        if tried == 0 or tried < self.min_origins or not self.proxy:
            return False
        return len((self.proxy | self.down) - self.answered) / tried >= self.ratio

    @property
    def network_down(self) -> bool:
        if self.judged:
            return True
        tried = len(self.tried)
        if tried == 0 or tried < self.min_origins:
            return False
        # nothing answered and no canary: an "unknown name" proves nothing either
        trusted = self.answered or self.trust_nxdomain
        dead = len(self.down) - self.down_answered if trusted else len(self.silent)
        self.judged = dead / tried >= self.ratio
        return self.judged
