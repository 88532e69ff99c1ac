"""outage guard: only what a machine without network sees counts as an outage (connect
timeouts, a deadline that expired before the connection existed, DNS errors other than
NXDOMAIN); refused connections, NXDOMAIN, a TLS handshake, any HTTP answer prove the network
works. Real servers and sockets on 127.0.0.1 (a full accept queue is our blackhole)."""

from __future__ import annotations

import asyncio
import io
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st
from netserver import Conn, FakeResolver, NetServer, Request, page
from rich.console import Console

from enricher import app
from enricher.config import Config, FetchConfig
from enricher.models import FetchResult, LinkKind
from enricher.net.client import Evidence
from enricher.net.fetch import Fetcher
from enricher.net.outage import OutageGuard
from enricher.progress import QuietReporter
from enricher.state import History

FAST = FetchConfig(connect_timeout=0.5, read_timeout=0.5, request_deadline=1.0, max_attempts=1,
                   host_request_interval=0.0, dns_timeout=0.3, allow_private=True)
GUARD: dict[str, Any] = {"outage_min_hosts": 20, "outage_ratio": 0.95}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def blackhole() -> Iterator[int]:
    """A port whose accept queue is full: SYNs are dropped, connects hang (a silent network)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.socket()
    try:
        filler.connect(listener.getsockname())
        yield int(listener.getsockname()[1])
    finally:
        filler.close()
        listener.close()


async def ok(request: Request, conn: Conn) -> None:
    await conn.respond(200, page())


async def silent(request: Request, conn: Conn) -> None:
    await asyncio.Event().wait()


def fetch(urls: Callable[[int], list[str]], resolver: FakeResolver,
          config: FetchConfig = FAST, *, handler: object = ok, kind: LinkKind = LinkKind.PAGE,
          **kw: Any) -> tuple[dict[str, FetchResult], Fetcher]:
    """Fetch ``urls(port of a live server)``; the results and the Fetcher (for its guard)."""
    async def main() -> tuple[dict[str, FetchResult], Fetcher]:
        async with NetServer(handler) as srv:  # type: ignore[arg-type]
            out: dict[str, FetchResult] = {}
            fetcher = Fetcher(config, resolver=resolver, **kw)
            async with fetcher:
                await fetcher.fetch_all([(u, kind) for u in urls(srv.port)],
                                        lambda r: out.__setitem__(r.url, r))
            return out, fetcher

    return asyncio.run(main())


# --- the judgement itself ----------------------------------------------------------------------

def test_the_guard_counts_origins_by_what_they_said() -> None:
    guard = OutageGuard(min_origins=4, ratio=0.75)
    for i in range(3):
        guard.note(f"http://d{i}:80", Evidence.DOWN)
    guard.note("http://d0:80", Evidence.UP)  # answered once: not dead
    assert not guard.network_down  # too few origins to judge
    guard.note("http://up:80", Evidence.UP)
    assert not guard.network_down  # 2 of 4 dead
    guard.note("http://neutral:80", None)  # tried, says nothing: lowers the share
    assert guard.tried == {"http://d0:80", "http://d1:80", "http://d2:80", "http://up:80",
                           "http://neutral:80"}
    judged = OutageGuard(min_origins=4, ratio=0.75)
    for origin in ("http://d0:80", "http://d1:80", "http://d2:80"):
        judged.note(origin, Evidence.DOWN)
    judged.note("http://up:80", Evidence.UP)
    assert judged.network_down  # 3 of 4 dead


def test_the_verdict_is_final() -> None:
    """Attempts still running when the guard judged report afterwards: one more answer
    lowered the share again, the run went on as finished, and every URL the fetcher had
    left was written into the records as skipped (exit 0)."""
    guard = OutageGuard(min_origins=4, ratio=0.75)
    for i in range(4):
        guard.note(f"http://d{i}:80", Evidence.DOWN)
    assert guard.network_down
    for i in range(3):
        guard.note(f"http://late{i}:80", Evidence.UP)
    assert guard.network_down


def test_nxdomain_counts_as_an_answer_unless_nothing_answered() -> None:
    lonely = OutageGuard(min_origins=3, ratio=0.9)
    for i in range(3):
        lonely.note(f"http://nx{i}:80", Evidence.NXDOMAIN)
    assert lonely.network_down  # an offline Mac says EAI_NONAME for every name
    answered = OutageGuard(min_origins=3, ratio=0.9)
    answered.note("http://up:80", Evidence.UP)
    for i in range(3):
        answered.note(f"http://nx{i}:80", Evidence.NXDOMAIN)
    assert not answered.network_down


def test_with_a_dns_canary_nxdomain_always_counts_as_an_answer() -> None:
    """The canary resolved, so the resolver works: 20 dead names that answer (fast) before
    any live page (an archive sorted oldest first) are no outage. Without a canary, an
    offline machine's "unknown name" for everything still is one."""
    canary = OutageGuard(min_origins=20, ratio=0.95, trust_nxdomain=True)
    for i in range(20):
        canary.note(f"https://old{i}.gone:443", Evidence.NXDOMAIN)
    assert not canary.network_down
    for i in range(20):
        canary.note(f"https://d{i}.test:443", Evidence.DOWN)
    assert not canary.network_down  # 20 of 40 silent


# --- end to end: not an outage -------------------------------------------------------------------

def test_refused_connections_prove_the_network_works() -> None:
    """19 hosts refusing connections and one live host with 30 URLs: the RSTs came back,
    the network works (the run was aborted as an outage before)."""
    closed = free_port()
    names: dict[str, object] = {f"r{i}.test": ["127.0.0.1"] for i in range(20)}
    names["live.test"] = names.pop("r19.test")
    out, fetcher = fetch(lambda port: [f"http://r{i}.test:{closed}/x" for i in range(19)]
                         + [f"http://live.test:{port}/{i}" for i in range(30)],
                         FakeResolver(names), **GUARD)
    assert Counter(r.failure for r in out.values()) == {"connect": 19, None: 30}
    assert sum(r.http_status == 200 for r in out.values()) == 30
    assert not fetcher.network_down


def test_nxdomain_proves_the_network_works() -> None:
    out, fetcher = fetch(lambda port: [f"http://gone{i}.test:{port}/" for i in range(19)]
                         + [f"http://live.test:{port}/{i}" for i in range(20)],
                         FakeResolver({"live.test": ["127.0.0.1"]}), **GUARD)
    assert sum(r.failure == "dns" for r in out.values()) == 19
    assert not fetcher.network_down


def test_nothing_but_nxdomain_is_an_outage_unless_the_canary_resolves() -> None:
    """An offline machine says "unknown name" for every name, the canary's too: an outage.
    With the canary found, 25 names that do not exist are 25 dead links (an archive of old
    stories lists them first), not a reason to abort the night."""
    _, offline = fetch(lambda port: [f"http://gone{i}.test:{port}/" for i in range(25)],
                       FakeResolver(canary=False), **GUARD)
    assert offline.network_down
    out, online = fetch(lambda port: [f"http://gone{i}.test:{port}/" for i in range(25)],
                        FakeResolver(), **GUARD)
    assert not online.network_down and {r.failure for r in out.values()} == {"dns"}


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "httpcore"])
@pytest.mark.parametrize("stopped_by", ["connect_timeout", "deadline"])
def test_a_stalled_tls_handshake_is_not_an_outage(http2: bool, stopped_by: str) -> None:
    """TCP connects, the TLS handshake never ends: the host's network stack answered. It
    is a connect-stage timeout for the breaker all the same."""
    names: dict[str, object] = {f"t{i}.test": ["127.0.0.1"] for i in range(20)}
    config = replace(FAST, http2=http2, connect_timeout=0.3)
    if stopped_by == "deadline":
        config = replace(config, connect_timeout=5.0, request_deadline=0.3)
    out, fetcher = fetch(lambda port: [f"https://t{i}.test:{port}/" for i in range(20)],
                         FakeResolver(names), config, handler=silent, **GUARD)
    assert {(r.failure, (r.detail or "").startswith("connect timeout"))
            for r in out.values()} == {("timeout", True)}
    assert not fetcher.network_down


# --- end to end: an outage -------------------------------------------------------------------

def test_silence_everywhere_is_an_outage() -> None:
    """Connects that time out, lookups that fail with EAI_AGAIN or never answer: abort."""
    hang = frozenset(f"slow{i}.test" for i in range(5))
    names: dict[str, object] = {f"bh{i}.test": ["127.0.0.1"] for i in range(10)}
    names |= {f"again{i}.test": socket.gaierror(socket.EAI_AGAIN, "Temporary failure")
              for i in range(5)}
    with blackhole() as port:
        out, fetcher = fetch(lambda _: [f"http://{name}:{port}/" for name in [*names, *hang]],
                             FakeResolver(names, hang=hang), **GUARD)
    failures = Counter(r.failure for r in out.values())  # the 20th judged: no result
    assert len(out) == 19 and failures - Counter(dns_error=5, dns_timeout=5, timeout=10) == {}
    assert fetcher.network_down


def test_a_deadline_before_the_connection_counts_as_a_connect_timeout() -> None:
    """--timeout shorter than --connect-timeout (or than the DNS timeout): the deadline
    fires in connect or DNS. That is a connect timeout, outage evidence; it used to be a
    plain timeout, and 20 blackholed hosts never aborted the run."""
    config = replace(FAST, connect_timeout=5.0, dns_timeout=5.0, request_deadline=0.3)
    hang = frozenset(f"slow{i}.test" for i in range(6))
    names: dict[str, object] = {f"bh{i}.test": ["127.0.0.1"] for i in range(16)}
    with blackhole() as port:
        out, fetcher = fetch(lambda _: [f"http://{name}:{port}/" for name in [*names, *hang]],
                             FakeResolver(dict(names), hang=hang), config, **GUARD)
    for result in out.values():
        assert result.failure == "timeout"
        assert (result.detail or "").startswith("connect timeout"), result.detail
    assert fetcher.network_down


def test_a_deadline_before_the_request_left_is_retried_as_head() -> None:
    """A HEAD whose deadline fired before the request left is a connect-stage failure: the
    ordinary retries, not the GET fallback meant for servers that choke on HEAD."""
    methods: list[str] = []

    async def hang(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        await asyncio.Event().wait()  # never connects; the deadline ends it
        raise AssertionError("unreachable")

    async def no_sleep(seconds: float) -> None:
        return None

    config = replace(FAST, allow_private=False, max_attempts=3, request_deadline=0.1)
    out, _ = fetch(lambda _: ["https://example.org/amp"], FakeResolver(), config,
                   kind=LinkKind.REACH, sleep=no_sleep,
                   transport_factory=lambda **_: httpx.MockTransport(hang))
    (result,) = out.values()
    assert (result.failure, result.attempts) == ("timeout", 3)
    assert methods == ["HEAD"] * 3


# --- a proxy that cannot be reached ------------------------------------------------------------

def test_a_dead_proxy_is_an_outage_not_25_failing_sites() -> None:
    """Every URL goes through a proxy nobody listens on: the refusal is the proxy's, not
    the sites' (which were never asked), so each URL fails with reason ``proxy`` and the
    run is judged an outage, where 25 ``connect`` errors used to pass for a healthy run."""
    proxy = f"http://127.0.0.1:{free_port()}"
    config = replace(FAST, proxy=proxy)
    out, fetcher = fetch(lambda port: [f"http://site{i}.test/a" for i in range(25)],
                         FakeResolver({}), config, **GUARD)
    assert {(r.failure, r.http_status) for r in out.values()} == {("proxy", None)}
    assert all("proxy unreachable" in (r.detail or "") for r in out.values())
    assert fetcher.network_down


def via_proxy(handler: object, urls: list[str], **guard: Any
              ) -> tuple[dict[str, FetchResult], Fetcher]:
    """Fetch ``urls`` (pages) through a proxy on 127.0.0.1 that ``handler`` plays."""
    async def main() -> tuple[dict[str, FetchResult], Fetcher]:
        async with NetServer(handler) as proxy:  # type: ignore[arg-type]
            out: dict[str, FetchResult] = {}
            config = replace(FAST, proxy=f"http://127.0.0.1:{proxy.port}")
            fetcher = Fetcher(config, resolver=FakeResolver({}), **{**GUARD, **guard})
            async with fetcher:
                await fetcher.fetch_all([(u, LinkKind.PAGE) for u in urls],
                                        lambda r: out.__setitem__(r.url, r))
            return out, fetcher

    return asyncio.run(main())


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_that_accepts_and_never_answers_is_an_outage(scheme: str) -> None:
    """A proxy that takes every connection and request (or CONNECT) and never says a word:
    25 sites all time out. Each URL stays ``timeout`` (never dead), and the run is judged an
    outage, where it used to pass for a healthy run with 25 slow sites and write them all."""
    out, fetcher = via_proxy(silent, [f"{scheme}://site{i}.test/a" for i in range(25)])
    assert {r.failure for r in out.values()} == {"timeout"}
    assert all(r.http_status is None for r in out.values())
    assert fetcher.network_down


async def refusing_proxy(request: Request, conn: Conn) -> None:
    """squid with its upstream down: 503 to every CONNECT, its own error page (marked
    X-Squid-Error) to every plain http request; ``ok*.test`` get through (plain http)."""
    if request.target.startswith("http://ok"):
        await asyncio.sleep(0.2)  # a site's answer comes later than the proxy's own refusals
        await conn.respond(200, page())
    else:
        await conn.respond(503, page("ERROR"), [("X-Squid-Error", "ERR_CONNECT_FAIL 111")])


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_that_refuses_every_request_is_an_outage(scheme: str) -> None:
    """A reachable proxy that refuses every tunnel (503 to CONNECT) or writes its own error
    for every plain http request: the sites were never asked. Each URL is error/proxy and the
    run is judged an outage, where it passed for a healthy run and rewrote every record's
    dead and error entries as error/proxy (restarting their streaks)."""
    out, fetcher = via_proxy(refusing_proxy, [f"{scheme}://site{i}.test/a" for i in range(25)])
    assert out and {r.failure for r in out.values()} == {"proxy"}
    assert fetcher.network_down


async def dropping_proxy(request: Request, conn: Conn) -> None:
    """Takes each request (a CONNECT, or a plain http one) and closes without a word."""
    conn.close()


def untrusted_proxy(handler: object, urls: list[str], ca: trustme.CA
                    ) -> tuple[dict[str, FetchResult], Fetcher]:
    """``via_proxy`` through an https:// proxy whose certificate no bundle trusts."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)

    async def main() -> tuple[dict[str, FetchResult], Fetcher]:
        async with NetServer(handler, tls=ctx) as proxy:  # type: ignore[arg-type]
            out: dict[str, FetchResult] = {}
            config = replace(FAST, proxy=f"https://127.0.0.1:{proxy.port}")
            fetcher = Fetcher(config, resolver=FakeResolver({}), env={}, **GUARD)
            async with fetcher:
                await fetcher.fetch_all([(u, LinkKind.PAGE) for u in urls],
                                        lambda r: out.__setitem__(r.url, r))
            return out, fetcher

    return asyncio.run(main())


@pytest.mark.parametrize(("scheme", "how"), [
    ("https", "dropped"), ("http", "untrusted"), ("https", "untrusted")])
def test_a_proxy_failing_before_it_passes_the_request_on_is_an_outage(
        scheme: str, how: str, ca: trustme.CA) -> None:
    """A proxy that closes every CONNECT unanswered, or an https:// proxy whose certificate
    is missing from the bundle: the sites were never asked. Each URL was error/protocol or
    error/tls, a verdict on 25 sites, and the run went on and wrote them; now error/proxy,
    and the run is judged an outage (README: "never a verdict on the site"). (A plain http
    request closed unanswered may be the site's reset, relayed: the next test.)"""
    urls = [f"{scheme}://site{i}.test/a" for i in range(25)]
    out, fetcher = (via_proxy(dropping_proxy, urls) if how == "dropped"
                    else untrusted_proxy(refusing_proxy, urls, ca))
    assert out and {r.failure for r in out.values()} == {"proxy"}
    assert all("the proxy failed" in (r.detail or "") for r in out.values())
    assert fetcher.network_down


def test_a_sites_own_reset_relayed_by_a_proxy_is_the_sites() -> None:
    """A proxy that relays a plain http site's bytes as they come: the site's reset or
    garbage is the site's failure (a review found it blamed on the proxy, and a HEAD that
    the site mishandles no longer fell back to GET: an ok AMP link became error/proxy)."""
    async def relaying(request: Request, conn: Conn) -> None:
        if "/reset" in request.target or request.method == "HEAD":
            conn.close()  # the site hung up, and the proxy passes that on
        else:
            await conn.respond(200, page())

    async def main() -> dict[str, FetchResult]:
        async with NetServer(relaying) as proxy:
            config = replace(FAST, proxy=f"http://127.0.0.1:{proxy.port}")
            out: dict[str, FetchResult] = {}
            async with Fetcher(config, resolver=FakeResolver({}), **GUARD) as fetcher:
                await fetcher.fetch_all([("http://a.test/reset", LinkKind.PAGE),
                                         ("http://a.test/amp", LinkKind.REACH)],
                                        lambda r: out.__setitem__(r.url, r))
            return out

    out = asyncio.run(main())
    assert out["http://a.test/reset"].failure in ("protocol", "reset")
    amp = out["http://a.test/amp"]
    assert (amp.failure, amp.http_status) == (None, 200)  # HEAD failed, GET answered


@pytest.mark.parametrize("gone_first", [False, True])
def test_a_proxy_that_refuses_some_sites_is_no_outage(gone_first: bool) -> None:
    """Most sites get through the proxy; some are refused (names it cannot resolve: squid's
    ERR_DNS_FAIL, or its access list): the run goes on, the refused ones error/proxy. Also
    when the refused ones come first (an archive sorted oldest first: a review found the
    run aborted after its first 20 gone sites, the proxy's refusals judged early)."""
    ok = [f"http://ok{i}.test/" for i in range(30)]
    gone = [f"http://gone{i}.test/" for i in range(20)]
    out, fetcher = via_proxy(refusing_proxy, gone + ok if gone_first else ok + gone)
    assert not fetcher.network_down
    assert Counter(r.failure for r in out.values()) == Counter({None: 30, "proxy": 20})


def test_a_timeout_through_a_proxy_counts_as_silence_only_before_an_answer() -> None:
    """Through a proxy, a timeout before any response head is the proxy's silence (down);
    once a head came back, or without a proxy, a read timeout proves something answered."""
    from enricher.net.client import attempt_failure

    exc = httpcore.ReadTimeout("timed out")
    kw: dict[str, Any] = {"sent": True, "connected": True, "deadline": 5.0, "waited": 5.0,
                          "read_timeout": 5.0}
    silent_proxy = attempt_failure(exc, proxied=True, **kw)
    assert (silent_proxy.token, silent_proxy.evidence) == ("timeout", Evidence.DOWN)
    assert attempt_failure(exc, proxied=True, headed=True, **kw).evidence is Evidence.UP
    assert attempt_failure(exc, **kw).evidence is Evidence.UP


def test_a_proxy_name_that_does_not_resolve_never_makes_sites_dead() -> None:
    """The proxy's own lookup failing with NXDOMAIN is no verdict on the site."""
    from enricher.net.client import attempt_failure

    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    exc = httpcore.ConnectError(str(gai))
    exc.__cause__ = gai
    direct = attempt_failure(exc, sent=False, connected=False, deadline=5.0, waited=0.1,
                             read_timeout=5.0)
    assert direct.token == "dns"  # without a proxy: the site's name does not exist (dead)
    via = attempt_failure(exc, sent=False, connected=False, deadline=5.0, waited=0.1,
                          read_timeout=5.0, proxied=True)
    assert (via.token, via.connect_stage, via.evidence) == ("proxy", True, Evidence.DOWN)


@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(
    [Evidence.UP, Evidence.DOWN, Evidence.NXDOMAIN, None])), max_size=120))
def test_the_guard_keeps_its_counts_as_the_sets_would(
        notes: list[tuple[int, Evidence | None]]) -> None:
    """network_down is O(1) (asked after every URL): its counts are those of the sets."""
    guard = OutageGuard(min_origins=5, ratio=0.6)
    judged = False
    for origin, evidence in notes:
        guard.note(f"o{origin}", evidence)
        dead = guard.down - guard.answered
        if not guard.answered:
            dead |= guard.nxdomain
        tried = len(guard.tried)
        judged = judged or (tried >= 5 and len(dead) / tried >= 0.6)  # final once true
        assert guard.network_down == judged


def test_the_fetcher_stops_as_soon_as_the_guard_judges() -> None:
    """500 sites whose lookups fail as an offline machine's do: the fetcher stops after about
    20 of them (the guard's minimum, plus what was in flight), not after all 500."""
    names: dict[str, object] = {
        f"h{i}.test": socket.gaierror(socket.EAI_AGAIN, "Temporary failure") for i in range(500)}
    resolver = FakeResolver(names)
    config = replace(FAST, max_concurrency=4)
    out, fetcher = fetch(lambda port: [f"http://h{i}.test:{port}/" for i in range(500)],
                         resolver, config, **GUARD)
    assert fetcher.network_down
    looked_up = [name for name in resolver.calls if name in names]
    assert 20 <= len(looked_up) <= 20 + 4
    assert len(out) < 20


def test_an_outage_run_stops_early_and_writes_no_record(tmp_path: Path) -> None:
    """``enrich --in-place`` over 300 records on 300 sites, the resolver failing as an
    offline machine's does: the run aborts after about 20 sites, no record changes, and
    the history holds an aborted run (no URL marked)."""
    names: dict[str, object] = {
        f"s{i}.test": socket.gaierror(socket.EAI_AGAIN, "Temporary failure") for i in range(300)}
    folder = tmp_path / "records"
    folder.mkdir()
    for i in range(300):
        (folder / f"r{i:03}.md").write_text(
            f'---\ntitle: "Story {i}"\nwebUrl: "http://s{i}.test/story"\n---\nBody.\n', "utf-8")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    resolver = FakeResolver(names)
    config = Config(fetch=replace(FAST, max_concurrency=4), in_place=True,
                    state_file=str(tmp_path / "state.sqlite"), **GUARD)
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(app.run("enrich", [str(folder)], config, QuietReporter(console, False),
                              write=True, resolver=resolver))
    assert run.aborted is not None and run.aborted.startswith("the network looks down")
    assert sum(name in names for name in resolver.calls) <= 20 + 4
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with History.open(tmp_path / "state.sqlite", read_only=True) as history:
        last = history.last_run()
        assert last is not None and last.state == "aborted"
        assert history.latest() == []


def test_no_retry_starts_once_the_guard_has_judged() -> None:
    """20 sites whose connects time out, 3 attempts allowed: the guard judges when the
    20th first attempt ends, and none of the 40 retries is sent after that."""
    names: dict[str, object] = {f"bh{i}.test": ["127.0.0.1"] for i in range(20)}
    config = replace(FAST, connect_timeout=0.3, request_deadline=5.0, max_attempts=3)

    async def no_sleep(seconds: float) -> None:
        return None

    with blackhole() as port:
        _, fetcher = fetch(lambda _: [f"http://{name}:{port}/" for name in names],
                             FakeResolver(names), config, sleep=no_sleep, **GUARD)
    assert fetcher.network_down
    assert fetcher.requests < 20 + 20  # at most one retry of each site before the judgement


def test_an_outage_behind_a_proxy_names_the_proxy(tmp_path: Path) -> None:
    """A proxy nobody listens on: the abort says to check the proxy, the user's actual fix
    (it said only that the network looked down)."""
    folder = tmp_path / "records"
    folder.mkdir()
    for i in range(25):
        (folder / f"r{i:02}.md").write_text(
            f'---\ntitle: "Story {i}"\nwebUrl: "http://s{i}.test/story"\n---\n', "utf-8")
    config = Config(fetch=replace(FAST, proxy=f"http://127.0.0.1:{free_port()}"),
                    state_file=None, **GUARD)
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(app.run("check", [str(folder)], config, QuietReporter(console, False),
                              write=False, resolver=FakeResolver({})))
    assert run.aborted is not None and run.aborted.startswith("the proxy looks down")
    assert "check that it is up and lets us through" in run.aborted


def test_an_outage_names_the_proxy_only_when_requests_went_through_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY set for apt on an offline laptop, every link https: nothing went through
    the proxy, and the abort sent the user to check it."""
    folder = tmp_path / "records"
    folder.mkdir()
    for i in range(25):
        (folder / f"r{i:02}.md").write_text(
            f'---\ntitle: "Story {i}"\nwebUrl: "https://s{i}.test/story"\n---\n', "utf-8")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    names: dict[str, object] = {f"s{i}.test": socket.gaierror(socket.EAI_AGAIN, "no network")
                                for i in range(25)}
    config = Config(fetch=FAST, state_file=None, **GUARD)
    console = Console(file=io.StringIO(), width=200)
    run = asyncio.run(app.run("check", [str(folder)], config, QuietReporter(console, False),
                              write=False, resolver=FakeResolver(names)))
    assert run.aborted is not None and run.aborted.startswith("the network looks down")


def test_a_night_behind_a_refusing_proxy_writes_no_record(tmp_path: Path) -> None:
    """``enrich --in-place`` with a history, the proxy refusing every tunnel: the records'
    dead entries (and their ``since``) stay as they were, where they became error/proxy."""
    folder = tmp_path / "records"
    folder.mkdir()
    for i in range(25):
        (folder / f"r{i:02}.md").write_text(
            f'---\ntitle: "Story {i}"\nwebUrl: "https://s{i}.test/story"\nlinkCheck:\n'
            f'  webUrl:\n    status: dead\n    httpStatus: 404\n    reason: http_404\n'
            f'    since: "2026-11-01T03:00:00Z"\n---\nBody.\n', "utf-8")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    async def main() -> Any:
        async with NetServer(refusing_proxy) as proxy:
            config = Config(fetch=replace(FAST, proxy=f"http://127.0.0.1:{proxy.port}"),
                            in_place=True, state_file=str(tmp_path / "state.sqlite"), **GUARD)
            console = Console(file=io.StringIO(), width=200)
            return await app.run("enrich", [str(folder)], config,
                                 QuietReporter(console, False), write=True,
                                 resolver=FakeResolver({}))

    run = asyncio.run(main())
    assert run.aborted is not None and run.aborted.startswith("the proxy looks down")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
