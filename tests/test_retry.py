"""retry: the pure predicate, Retry-After parsing, the wait, and the tenacity loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from enricher.net.retry import (
    RetryPolicy,
    Throttle,
    compute_wait,
    retry_after,
    retrying,
    should_retry,
)


@dataclass(frozen=True)
class Out:
    http_status: int | None = None
    failure: str | None = None
    retry_after: float | None = None


@pytest.mark.parametrize("code", [408, 425, 429, 500, 502, 503, 504])
def test_transient_codes_are_retried(code: int) -> None:
    assert should_retry(Out(code))


@pytest.mark.parametrize("code", [200, 301, 304, 400, 401, 403, 404, 405, 410, 451, 501, 999])
def test_other_codes_are_not(code: int) -> None:
    assert not should_retry(Out(code))


@pytest.mark.parametrize(("failure", "expected"), [
    ("timeout", True), ("reset", True), ("connect", False), ("dns", False), ("tls", False),
    ("protocol", False), ("forbidden_address", False), ("host_unreachable", False),
    ("decoding", False), ("dns_timeout", False),
])
def test_failures(failure: str, expected: bool) -> None:
    assert should_retry(Out(503, failure)) is expected


def test_retry_after_seconds_and_date() -> None:
    now = 1_700_000_000.0
    assert retry_after({"retry-after": "120"}, now) == 120.0
    assert retry_after({"retry-after": " 0 "}, now) == 0.0
    assert retry_after({}, now) is None
    assert retry_after({"retry-after": "soon"}, now) is None
    assert retry_after({"retry-after": "-5"}, now) is None
    assert retry_after({"retry-after": "\xb2"}, now) is None  # latin-1 "²": isdigit, not a number
    assert retry_after({"retry-after": "9" * 40}, now) == float("inf")
    # the header sent twice, as httpx joins repeated headers: the longer wait
    assert retry_after({"retry-after": "3, 3"}, now) == 3.0
    assert retry_after({"retry-after": "2,5"}, now) == 5.0
    assert retry_after({"retry-after": "3, \xb2"}, now) is None
    date = format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True)
    assert retry_after({"retry-after": date}, now) == pytest.approx(30.0)
    past = format_datetime(datetime.fromtimestamp(now - 30, UTC), usegmt=True)
    assert retry_after({"retry-after": past}, now) == 0.0
    # the three HTTP-date forms RFC 9110 makes a recipient accept; asctime has no zone (UTC)
    soon = datetime.fromtimestamp(now + 90, UTC)
    for form in ("%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"):
        assert retry_after({"retry-after": soon.strftime(form)}, now) == pytest.approx(90.0), form


def test_wait_full_jitter_and_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_base=0.5, backoff_max=3.0, retry_after_cap=60)
    assert [compute_wait(policy, n, None, lambda: 1.0) for n in (1, 2, 3, 4)] == [
        0.5, 1.0, 2.0, 3.0]
    assert compute_wait(policy, 3, None, lambda: 0.0) == 0.0
    assert compute_wait(policy, 1, 7.0, lambda: 1.0) == 7.0
    assert policy.too_long(Out(429, retry_after=61.0))
    assert not policy.wants_retry(Out(429, retry_after=61.0))
    assert policy.wants_retry(Out(429, retry_after=60.0))


def test_tenacity_loop_retries_transient_then_returns_last() -> None:
    outcomes = iter([Out(503), Out(None, "timeout"), Out(200)])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def attempt() -> Out:
        return next(outcomes)

    policy = RetryPolicy(max_attempts=3, backoff_base=1.0, backoff_max=10.0)
    result = asyncio.run(retrying(policy, sleep=sleep, rand=lambda: 1.0).copy()(attempt))
    assert result == Out(200)
    assert waits == [1.0, 2.0]


def test_tenacity_loop_gives_back_last_outcome_when_attempts_run_out() -> None:
    calls = 0

    async def sleep(seconds: float) -> None:
        return None

    async def attempt() -> Out:
        nonlocal calls
        calls += 1
        return Out(500)

    result = asyncio.run(retrying(RetryPolicy(max_attempts=3), sleep=sleep).copy()(attempt))
    assert result == Out(500) and calls == 3


def test_tenacity_loop_does_not_wait_for_too_long_retry_after() -> None:
    calls = 0

    async def sleep(seconds: float) -> None:
        raise AssertionError("must not sleep")

    async def attempt() -> Out:
        nonlocal calls
        calls += 1
        return Out(429, retry_after=999_999.0)

    result = asyncio.run(retrying(RetryPolicy(max_attempts=3), sleep=sleep).copy()(attempt))
    assert result.http_status == 429 and calls == 1


def test_a_bare_429_throttle_doubles_per_refusal_up_to_the_ceiling_and_resets() -> None:
    throttle = Throttle(RetryPolicy(backoff_base=0.5, backoff_max=3.0))
    assert [throttle.refused("a.test") for _ in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert throttle.refused("b.test") == 0.5  # per host
    throttle.answered("a.test")
    assert throttle.refused("a.test") == 0.5
