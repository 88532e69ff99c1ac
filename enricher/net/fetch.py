"""One URL -> one FetchResult: method per kind, our own redirect loop, caps, retries.

Per URL (a *job*)::

    kind PAGE  GET, read the decoded body of HTML responses up to page_bytes, stop after </head>
    kind REACH HEAD; on 400/403/404/405/410/500/501 or a protocol/reset/timeout failure (not
               retried as HEAD), GET reading <= reach_bytes: a bad HEAD answer is confirmed
               by a GET before it counts; after a HEAD timed out on a host, GET at once
    kind IMAGE GET, read <= image_bytes
    every hop:   guard.check_target (scheme, port, literal IP) -> tenacity retry loop of
                 attempts; each attempt waits for its host slot (hosts.Scheduler), sends one
                 request under a total deadline, reads what the kind needs, releases the slot
    3xx + Location: the body is never read; Location is resolved against the current URL and
                 re-cleaned (urls.resolve_url) and the next hop re-vetted; loops, more than
                 max_redirects hops and garbage Locations end the job

Bodies are read only for 2xx responses, through ``body.read_bounded`` (bounded decoder), and
only for HTML when the kind is PAGE or REACH. ``conditional(url, kind)`` headers (If-None-Match)
go with the first request of a URL only. Requests carry no cookies and no credentials; the
User-Agent and extra headers come from config (per-host overrides apply).

``Fetcher.fetch_all`` queues every URL in the scheduler and returns when each has produced
exactly one ``on_result`` call; cancelled, it cancels in-flight requests and stops scheduling.
``FetchResult.attempts`` counts the requests sent for the URL (retries, redirect hops, the GET
after a refused HEAD; 0: never sent, e.g. ``host_unreachable``).
Per-host state (slot, spacing, transport, per-host headers) is keyed by
``request_host(url)``: the host httpx will connect to, never a split of the string, so a URL
that did not go through ``clean_url`` (a page's ``og:image``) cannot wear one host's headers
while going to another (``http://secret.example:80@evil.example/`` goes to evil.example).
Breakers and the outage guard are keyed by ``request_origin(url)`` (scheme, host, port). A
429 or 503 with a Retry-After within the cap holds back the host's next start
(``Scheduler.defer``), and so does a 429 without one, for the backoff (``retry.Throttle``).

This module must not decide verdicts, parse HTML, or know about records.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import httpcore
import httpx

from enricher.config import DEFAULT_OUTAGE_MIN_HOSTS, DEFAULT_OUTAGE_RATIO, FetchConfig
from enricher.models import FetchResult, Hop, LinkKind
from enricher.net.body import Reply, read_response
from enricher.net.client import (
    AttemptMarks,
    Evidence,
    TransportFactory,
    attempt_failure,
    proxied,
)
from enricher.net.guard import Guard, Resolver, SystemResolver
from enricher.net.h1 import CONNECTED
from enricher.net.hosts import Scheduler
from enricher.net.outage import OutageGuard
from enricher.net.retry import RetryPolicy, Throttle, retry_after, retrying, should_retry
from enricher.net.transports import TransportMaker, Transports
from enricher.net.urls import (
    Rejected,
    ascii_host,
    origin_key,
    request_host,
    request_origin,
    resolve_url,
    url_host,
)
from enricher.runtime import raise_open_files_limit

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# answers whose Retry-After holds back the whole host (Scheduler.defer), not only the URL
DEFER_STATUSES = frozenset({429, 503})
# A HEAD answer that would make the link look bad is confirmed by a GET: servers answer HEAD
# with 400/403/405/501 when they do not implement it, some with 404/410/500 while the page
# works (a false "dead" is the worst outcome). Not 429 or 502-504: a GET adds only load.
HEAD_FALLBACK_STATUS = frozenset({400, 403, 404, 405, 410, 500, 501})
# A HEAD failing in a way that may be HEAD's own is not retried: the GET (and its retries) decides
HEAD_FALLBACK_FAILURES = frozenset({"protocol", "reset", "timeout"})
# what trips a host's breaker; DNS answers are cached for the run, so they need no breaker
BREAKER_FAILURES = frozenset({"connect", "timeout"})
_ACCEPT = {
    LinkKind.PAGE: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
    LinkKind.REACH: "text/html,*/*;q=0.8",
    LinkKind.IMAGE: "image/avif,image/webp,image/*,*/*;q=0.5",
}
_REJECTED_HOP = {"bad_scheme": "forbidden_scheme", "data_url": "forbidden_scheme",
                 "forbidden_port": "forbidden_port"}


class _NetworkDown(Exception):
    """Raised by a job that finds the outage guard judging the network down."""


@dataclass(slots=True, eq=False)
class _Job:
    url: str
    kind: LinkKind
    held: str | None  # host whose slot the dispatcher granted for the first attempt
    attempts: int = 0
    raw: int = 0
    spent: float = 0.0  # seconds inside requests (all attempts and hops), waits excluded
    touched: set[str] = field(default_factory=set)
    counted: set[str] = field(default_factory=set)  # origins whose breaker this URL fed


class Fetcher:
    """The network engine for one run. Use as ``async with Fetcher(config) as f``."""

    def __init__(
        self,
        config: FetchConfig,
        *,
        resolver: Resolver | None = None,
        transport_factory: TransportMaker | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
        partition_by_host: bool = True,
        outage_min_hosts: int = DEFAULT_OUTAGE_MIN_HOSTS,
        outage_ratio: float = DEFAULT_OUTAGE_RATIO,
    ) -> None:
        self.config = config
        self._own_resolver = SystemResolver() if resolver is None else None
        self.guard = Guard(
            resolver if resolver is not None else self._own_resolver,  # type: ignore[arg-type]
            dns_timeout=config.dns_timeout, allow_private=config.allow_private,
            allowed_low_ports=config.allowed_low_ports, canary=config.dns_canary,
        )
        if transport_factory is None:
            transport_factory = TransportFactory(
                self.guard, ca_bundle=config.ca_bundle, proxy=config.proxy,
                http2=config.http2, env=os.environ if env is None else env, network=network,
            )
        self.make = transport_factory
        self._transports = Transports(transport_factory, partition=partition_by_host,
                                      connections=self._connections)
        self._clock, self._wall, self._rand = clock, wall, rand
        self._sched = self._scheduler()
        self._policy = RetryPolicy.from_config(config)
        self._throttle = Throttle(self._policy)
        self._retrying = retrying(self._policy, sleep=sleep, rand=rand)
        self._ext = {"timeout": {"connect": config.connect_timeout, "read": config.read_timeout,
                                 "write": config.read_timeout, "pool": config.request_deadline}}
        self._headers: dict[tuple[str, LinkKind], list[tuple[str, str]]] = {}
        self._on_result: Callable[[FetchResult], None] = lambda r: None
        self._conditional: Callable[[str, LinkKind], Mapping[str, str] | None] | None = None
        self._requests = self._bytes = self.proxied = 0  # proxied: requests through a proxy
        self._no_head: set[str] = set()  # hosts where a HEAD hung: their links go by GET
        self._outage = OutageGuard(outage_min_hosts, outage_ratio,  # a DNS canary vouches
                                   trust_nxdomain=bool(config.dns_canary))  # for NXDOMAIN
        self._flying: dict[str, float] = {}  # url -> start (clock) of the jobs running now

    def _scheduler(self) -> Scheduler[tuple[str, LinkKind]]:
        c = self.config
        return Scheduler(
            max_concurrency=c.max_concurrency, host_concurrency=c.host_concurrency,
            interval=c.host_request_interval, jitter=c.host_interval_jitter,
            overrides=c.hosts, breaker_threshold=c.breaker_threshold,
            breaker_cooldown=c.breaker_cooldown, clock=self._clock, rand=self._rand,
            origin_of=lambda key, item: request_origin(item[0]),
        )

    # --- lifecycle and stats --------------------------------------------------------------
    async def __aenter__(self) -> Fetcher:
        # anyio loads its asyncio backend on first use (0.03-0.4 s of imports): when httpcore
        # may carry requests, now, not in the first request (stalling the loop, skewing timings)
        make = self.make
        if not isinstance(make, TransportFactory) or make.may_use_httpcore():
            await httpcore.AnyIOBackend().sleep(0)
        raise_open_files_limit()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transports.aclose()
        self.guard.close()
        if self._own_resolver is not None:
            self._own_resolver.close()

    @property
    def requests(self) -> int:
        return self._requests  # sent, redirects included (connect failures, not refusals)

    @property
    def bytes_read(self) -> int:
        return self._bytes  # raw body bytes read from the network

    @property
    def network_down(self) -> bool:
        return self._outage.network_down or self._outage.proxy_failed  # (at the end)

    # --- scheduling -----------------------------------------------------------------------
    async def fetch_all(
        self, items: Iterable[tuple[str, LinkKind]] | AsyncIterable[tuple[str, LinkKind]],
        on_result: Callable[[FetchResult], None],
        conditional: Callable[[str, LinkKind], Mapping[str, str] | None] | None = None,
    ) -> None:
        """Fetch every (url, kind); ``on_result`` once per URL as soon as it is done.
        ``items`` may be an async iterable: URLs are then scheduled as they are produced
        (reading records and fetching overlap). Not re-entrant: one fetch_all at a time.
        Once the outage guard judges the network down it returns at once, without results
        for the URLs not finished: the caller checks ``network_down`` (final once true)."""
        self._on_result = on_result
        self._conditional = conditional
        sched = self._sched

        def add(url: str, kind: LinkKind) -> None:
            if sched.given_up(request_origin(url)):
                on_result(self._unreachable(url, kind))
            else:
                sched.add(request_host(url), (url, kind))

        if streaming := isinstance(items, AsyncIterable):
            source: AsyncIterable[tuple[str, LinkKind]] = items
            sched.hold()

            async def feed() -> None:
                try:
                    async for url, kind in source:
                        add(url, kind)
                finally:
                    sched.done()
        else:
            for url, kind in items:
                add(url, kind)
        try:
            async with asyncio.TaskGroup() as tasks:
                if streaming:
                    tasks.create_task(feed())

                def start(key: str, item: tuple[str, LinkKind]) -> None:
                    tasks.create_task(self._job(_Job(item[0], item[1], held=key)))

                def unreachable(key: str, item: tuple[str, LinkKind]) -> None:
                    on_result(self._unreachable(*item))

                await sched.run(start, unreachable)
        except BaseException as exc:
            # cancelled, network down, or on_result raised: slots and counts are stale now
            self._sched = self._scheduler()
            if isinstance(exc, BaseExceptionGroup):
                _, rest = exc.split(_NetworkDown)
                if rest is None:
                    return
                raise (rest.exceptions[0] if len(rest.exceptions) == 1 else rest) from None
            raise

    def _unreachable(self, url: str, kind: LinkKind) -> FetchResult:
        detail = f"skipped: {request_origin(url)} failed repeatedly at connection level"
        return FetchResult(url, kind, attempts=0, failure="host_unreachable", detail=detail)

    def in_flight(self) -> Mapping[str, float]:
        """A snapshot of the URLs being fetched now and when each started (for progress)."""
        return dict(self._flying)

    async def _job(self, job: _Job) -> None:
        self._flying[job.url] = self._clock()
        try:
            result = await self._fetch_url(job)
            if self._outage.network_down:
                raise _NetworkDown  # fetch_all stops; the caller sees ``network_down``
            self._on_result(result)
        finally:
            self._flying.pop(job.url, None)
            if job.held is not None:  # refused before its first attempt: give the slot
                self._sched.sent(job.held, refused=True)  # and its spacing back
                self._sched.release(job.held)
            self._sched.done()
            await self._transports.after(job.touched, done=self._sched.idle, busy=self._sched.busy)

    async def _fetch_url(self, job: _Job) -> FetchResult:
        current, kind = job.url, job.kind
        reach = kind is LinkKind.REACH and request_host(current) not in self._no_head
        method = "HEAD" if reach else "GET"
        extra = self._conditional(current, kind) if self._conditional is not None else None
        hops: list[Hop] = []
        seen = {current}
        while True:
            resp = await self._hop(job, current, method, extra if not hops else None)
            if method == "HEAD" and (resp.http_status in HEAD_FALLBACK_STATUS
                                     or _head_failed(resp)):
                if resp.failure == "timeout":  # never wait out a hung HEAD there again
                    self._no_head.add(request_host(job.url))
                method, current, hops, seen = "GET", job.url, [], {job.url}  # HEAD's hops: moot
                continue
            if resp.failure is not None or resp.http_status not in REDIRECTS:
                break
            hops.append(Hop(current, resp.http_status))
            target, failure, detail = self._next_hop(current, resp.location)
            if target is not None and target in seen:
                failure, detail = "redirect_loop", f"redirect back to {target}"
            elif target is not None and len(hops) > self.config.max_redirects:
                failure = "too_many_redirects"
                detail = f"more than {self.config.max_redirects} redirects"
            if failure is not None or target is None:
                resp = Reply(http_status=resp.http_status, failure=failure, detail=detail,
                             headers=resp.headers)
                break
            seen.add(target)
            current = target
        return FetchResult(
            url=job.url, kind=kind, http_status=resp.http_status,
            final_url=current if hops else None, redirects=tuple(hops),
            attempts=job.attempts, elapsed_ms=int(job.spent * 1000),
            content_type=resp.headers.get("content-type"), headers=resp.headers,
            body=resp.body, bytes_read=job.raw, failure=resp.failure, detail=resp.detail,
            not_modified=resp.http_status == 304 and bool(extra) and not hops,
        )

    def _next_hop(self, current: str, location: str | None
                  ) -> tuple[str | None, str | None, str | None]:
        if location is None or not location.strip():
            return None, "bad_redirect", "redirect without a Location header"
        cfg = self.config
        found = resolve_url(current, location, allowed_low_ports=cfg.allowed_low_ports, html=False)
        if isinstance(found, Rejected):
            token = _REJECTED_HOP.get(found.reason, "bad_redirect")
            return None, token, f"Location {location[:200]!r}: {found.detail}"
        return found.url, None, None

    async def _hop(self, job: _Job, url: str, method: str,
                   extra: Mapping[str, str] | None) -> Reply:
        """One hop: the retry loop around attempts; gives up on a too-long Retry-After. The
        first attempt runs before the tenacity loop is built (most hops never retry)."""
        resp = await self._attempt(job, url, method, extra)
        if method == "HEAD" and _head_failed(resp):
            return resp  # the GET fallback follows instead of a retry
        if self._policy.max_attempts > 1 and self._policy.wants_retry(resp):
            first: list[Reply] = [resp]

            async def attempt(job: _Job, url: str, method: str,
                              extra: Mapping[str, str] | None) -> Reply:
                return first.pop() if first else await self._attempt(job, url, method, extra)

            resp = await self._retrying.copy()(attempt, job, url, method, extra)
        if should_retry(resp) and self._policy.too_long(resp):
            resp = Reply(http_status=resp.http_status, failure="retry_after_too_long",
                         detail=f"Retry-After {resp.retry_after:.0f}s exceeds the "
                                f"{self._policy.retry_after_cap:.0f}s cap",
                         headers=resp.headers)
        return resp

    async def _attempt(self, job: _Job, url: str, method: str,
                       extra: Mapping[str, str] | None) -> Reply:
        if self._outage.network_down:
            raise _NetworkDown  # no retry, redirect or fallback starts once judged down
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            return Reply(failure="invalid_url", detail=str(exc)[:200])
        key = url_host(target)
        origin = origin_key(target.scheme, key, target.port)
        refusal = self.guard.check_target(target.scheme, ascii_host(target), target.port)
        if refusal is not None:
            return Reply(failure=refusal.failure, detail=refusal.detail)
        if job.held == key:
            job.held = None
        elif not await self._sched.acquire(key, origin):
            return Reply(failure="host_unreachable",
                         detail=f"{origin} failed repeatedly at connection level")
        job.attempts += 1
        job.touched.add(key)
        failed: bool | None = None
        connected = False
        try:
            resp = await self._send(job, key, target, method, extra)
            if resp.failure is None or resp.http_status is not None:
                failed = False  # the host answered
            elif resp.failure in BREAKER_FAILURES and (
                    resp.connect_stage or origin not in job.counted):
                failed = True  # a page's retries count once (one hanging page is no dead
                connected = not resp.connect_stage  # host); a connect that fails, each time
                job.counted.add(origin)
            self._outage.note(origin, Evidence.UP if failed is False else resp.evidence)
            return resp
        finally:
            self._sched.release(key, failed=failed, origin=origin, connected=connected)

    # --- one request ----------------------------------------------------------------------
    def _connections(self, key: str | None) -> int:
        """Connections a transport may open: its host's limit (None: the global one)."""
        return self._sched.max_concurrency if key is None else self._sched.limits(key)

    def _base_headers(self, key: str, kind: LinkKind) -> list[tuple[str, str]]:
        policy = self.config.hosts.get(key)
        cache_key = (key if policy is not None else "", kind)
        found = self._headers.get(cache_key)
        if found is None:
            merged = {"user-agent": self.config.user_agent, "accept": _ACCEPT[kind],
                      "accept-encoding": "gzip, deflate, br"}
            merged.update((k.lower(), v) for k, v in self.config.headers.items())
            if policy is not None:
                merged.update((k.lower(), v) for k, v in policy.headers.items())
                if policy.user_agent:
                    merged["user-agent"] = policy.user_agent
            found = self._headers[cache_key] = list(merged.items())
        return found

    def _count(self, job: _Job, n: int) -> None:
        job.raw, self._bytes = job.raw + n, self._bytes + n

    async def _send(self, job: _Job, key: str, url: httpx.URL, method: str,
                    extra: Mapping[str, str] | None) -> Reply:
        headers = self._base_headers(key, job.kind)
        if extra:
            headers = headers + [(k, v) for k, v in extra.items()]
        if key.startswith("xn--"):  # httpx.Request would IDNA-decode it for Host, and raise
            headers = [*headers, ("host", url.netloc.decode("ascii"))]  # on xn--ls8h.la
        transport, sched, via = self._transports.get(key), self._sched, proxied(self.make, url)
        # granted early: prepared, now wait for the host's exact spacing; a Retry-After
        # that came since the grant (another request's 429) holds this one too
        delay = sched.send_delay(key)
        while delay > 0:
            await asyncio.sleep(delay)
            delay = sched.hold_delay(key)
        self._requests, self.proxied = self._requests + 1, self.proxied + via
        marks = AttemptMarks(lambda: sched.sent(key))  # spacing counts from when the request
        began = self._clock()  # has really left (handshake and head written): nothing
        try:  # shortens the next gap
            async with asyncio.timeout(self.config.request_deadline):
                request = httpx.Request(method, url, headers=headers, extensions={
                    **self._ext, "trace": marks.trace, CONNECTED: marks.connect})
                sched.started(key)
                response = await transport.handle_async_request(request)
                marks.headed = True
                marks.mark_sent()  # a transport without httpcore's trace events (tests' mocks)
                try:
                    if response.status_code in DEFER_STATUSES:
                        self._defer(key, response)  # before the body: waits now
                    else:
                        self._throttle.answered(key)
                    return await read_response(
                        response, method=method, kind=job.kind, config=self.config,
                        now=self._wall, count=lambda n: self._count(job, n),
                        proxied=via and url.scheme == "http")  # (https: a tunnel, the site's)
                finally:
                    await response.aclose()
        except Exception as exc:
            failed = attempt_failure(
                exc, sent=marks.sent, connected=marks.connected, proxied=via,
                headed=marks.headed, proxys=marks.proxys_own(url.scheme),
                deadline=self.config.request_deadline,
                waited=self._clock() - began, read_timeout=self.config.read_timeout)
            if failed.token in _REFUSED:  # the address policy stopped it: nothing was sent,
                self._requests, job.attempts = self._requests - 1, job.attempts - 1  # so no
                marks.sent = True  # request, attempt or spacing counts (as for a literal IP)
                sched.sent(key, refused=True)
            return Reply(failure=failed.token, detail=failed.detail,
                         connect_stage=failed.connect_stage, evidence=failed.evidence)
        finally:
            job.spent += self._clock() - began
            marks.mark_sent()  # failed (or cancelled) before the request left

    def _defer(self, key: str, response: httpx.Response) -> None:
        """A 429/503 with a Retry-After holds the host up to the cap (and the cap a run); a
        longer one also ends its URL (``retry_after_too_long``), but the host still rests.
        A 429 without one rests the host for the backoff (``Throttle``)."""
        cap = self._policy.retry_after_cap
        wait = retry_after(response.headers, self._wall())
        if wait is None and response.status_code == 429:
            wait = self._throttle.refused(key)
        if wait is not None:
            self._sched.defer(key, min(wait, cap), budget=cap)


def _head_failed(resp: Reply) -> bool:
    """A failure that may be HEAD's own (hung, broke, reset), not the host's (connect)."""
    return resp.failure in HEAD_FALLBACK_FAILURES and not resp.connect_stage


# failure tokens of attempts the address policy refused before any packet left
_REFUSED = frozenset({"forbidden_address", "forbidden_port", "forbidden_scheme"})
