"""Retry policy: which outcomes are retried, how long to wait, and the tenacity loop.

* ``should_retry(outcome)`` is the one pure predicate: transient failures (``timeout``,
  ``reset``) and the statuses 408, 425, 429, 500, 502, 503, 504. Never 404/410, never an
  address-policy refusal, never a DNS answer (cached for the run anyway).
* ``retry_after(headers, now)`` reads ``Retry-After`` as delta-seconds or an HTTP-date.
* ``compute_wait`` — ``Retry-After`` when the server sent one (it is honoured up to
  ``retry_after_cap``; a longer one is not waited for: the caller gives up with reason
  ``retry_after_too_long``), otherwise exponential backoff with full jitter:
  ``uniform(0, min(backoff_max, backoff_base * 2**(attempt-1)))``.
* ``Throttle``: a 429 without ``Retry-After`` rests its whole host for the backoff's
  ceiling, doubling while the host keeps refusing.
* ``retrying(policy, sleep=...)`` builds the tenacity ``AsyncRetrying`` loop. The attempt
  function itself acquires the host slot, so every attempt, retries included, passes through
  it; while the loop sleeps, the job holds neither a host slot nor a global slot. Tests pass a
  ``sleep`` that returns at once, which switches every wait off.

This module must not do I/O other than the injected sleep, nor decide verdicts.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from enricher.config import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_AFTER_CAP,
    FetchConfig,
)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
RETRY_FAILURES = frozenset({"timeout", "reset"})


class Outcome(Protocol):
    """What one attempt produced (FetchResult satisfies the first two)."""

    @property
    def http_status(self) -> int | None: ...

    @property
    def failure(self) -> str | None: ...


class TimedOutcome(Outcome, Protocol):
    @property
    def retry_after(self) -> float | None: ...



def should_retry(outcome: Outcome) -> bool:
    """True for transient outcomes only."""
    if outcome.failure is not None:
        return outcome.failure in RETRY_FAILURES
    return outcome.http_status in RETRY_STATUSES


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP-date; ``now`` is epoch
    seconds), never negative; None when absent or unreadable."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    parts = [p.strip() for p in value.split(",")]  # the header repeated: "3, 3"
    if len(parts) > 1 and all(p.isascii() and p.isdigit() for p in parts):
        value = max(parts, key=int)
    if value.isascii() and value.isdigit():  # "²" (latin-1 0xB2) is a digit to isdigit
        return float(value) if len(value) < 16 else float("inf")
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime ("Sun Nov  6 08:49:37 1994"), which RFC 9110 makes us
        when = when.replace(tzinfo=UTC)  # accept: every HTTP-date is in UTC
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_max: float = DEFAULT_BACKOFF_MAX
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP

    @classmethod
    def from_config(cls, config: FetchConfig) -> RetryPolicy:
        return cls(config.max_attempts, config.backoff_base, config.backoff_max,
                   config.retry_after_cap)

    def too_long(self, outcome: TimedOutcome) -> bool:
        """The server asks us to come back later than we are willing to wait."""
        wait = outcome.retry_after
        return wait is not None and wait > self.retry_after_cap

    def wants_retry(self, outcome: TimedOutcome) -> bool:
        return should_retry(outcome) and not self.too_long(outcome)


class Throttle:
    """How long a host that answers 429 without a ``Retry-After`` rests: the backoff's
    ceiling for its run of consecutive 429s (``backoff_base``, then doubling up to
    ``backoff_max``), so a rate-limited host slows down as a whole, not only the URL that
    was refused. Any other answer from the host ends the run."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._runs: dict[str, int] = {}  # host -> consecutive 429s without Retry-After

    def refused(self, host: str) -> float:
        """One more 429 without ``Retry-After`` from ``host``: seconds it should rest."""
        n = self._runs[host] = self._runs.get(host, 0) + 1
        return min(self._policy.backoff_max, self._policy.backoff_base * 2.0 ** (n - 1))

    def answered(self, host: str) -> None:
        if self._runs:
            self._runs.pop(host, None)


def compute_wait(
    policy: RetryPolicy, attempt: int, server_wait: float | None, rand: Callable[[], float]
) -> float:
    """Seconds before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
    if server_wait is not None:
        return min(server_wait, policy.retry_after_cap)
    ceiling = min(policy.backoff_max, policy.backoff_base * 2.0 ** (attempt - 1))
    return rand() * ceiling


def retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    rand: Callable[[], float] = random.random,
) -> AsyncRetrying:
    """The tenacity loop: call ``await r.copy()(attempt_fn)``; it returns the last outcome
    (also when attempts run out) and never raises for a retryable outcome."""

    def wait(state: RetryCallState) -> float:
        assert state.outcome is not None
        outcome = state.outcome.result()
        return compute_wait(policy, state.attempt_number, outcome.retry_after, rand)

    def last(state: RetryCallState) -> object:
        assert state.outcome is not None
        return state.outcome.result()

    return AsyncRetrying(
        stop=stop_after_attempt(max(1, policy.max_attempts)),
        wait=wait,
        retry=retry_if_result(policy.wants_retry),
        sleep=sleep,
        retry_error_callback=last,
        reraise=True,
    )
