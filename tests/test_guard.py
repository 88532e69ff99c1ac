"""guard: the address check (hostile.md rows 1-8), resolution and vetting (rows 19-22),
dialing the vetted IP while TLS verifies the name (row 41)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme
from netserver import Conn, FakeResolver, LoopbackNetwork, NetServer, Request, page, route

from enricher.classify import classify
from enricher.config import DEFAULT_DNS_CANARY, FetchConfig
from enricher.models import FetchResult, LinkKind, LinkStatus
from enricher.net import guard as guard_module
from enricher.net.fetch import Fetcher
from enricher.net.guard import DNSError, Guard, GuardError, SystemResolver, is_forbidden

PUBLIC = "93.184.216.34"

FORBIDDEN = [
    "127.0.0.1", "127.255.255.254", "::1", "169.254.169.254", "fd00:ec2::254", "100.100.100.100",
    "0.0.0.0", "0.1.2.3", "::", "10.0.57.119", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:127.0.0.1", "::ffff:169.254.169.254",
    "::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2002:a9fe:a9fe::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "100.64.0.1", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "ff02::1", "fec0::1", "192.0.0.170", "198.18.0.1",
    "192.0.2.1", "198.51.100.7", "203.0.113.9", "fe80::1", "2001:db8::1", "::ffff:0:a00:1",
    "3fff::1", "3fff:fff::abcd", "5f00::1",  # RFC 9637 documentation, RFC 9602 SRv6 SIDs
    "[::1]", "not-an-ip",
]
ALLOWED = [PUBLIC, "8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808",
           "2002:808:808::1", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("ip", FORBIDDEN)
def test_forbidden_addresses(ip: str) -> None:
    assert is_forbidden(ip) is not None


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_addresses(ip: str) -> None:
    # ::ffff:8.8.8.8 is a mapped public address: allowed, the IPv4 inside is what counts
    assert is_forbidden(ip) is None


def guard(table: dict[str, object] | None = None, **kw: object) -> tuple[Guard, FakeResolver]:
    resolver = FakeResolver(dict(table or {}))
    return Guard(resolver, dns_timeout=kw.pop("dns_timeout", 0.3), **kw), resolver  # type: ignore[arg-type]


def refusal(g: Guard, host: str, port: int = 80) -> str:
    async def main() -> str:
        try:
            await g.addresses(host, port)
        except GuardError as exc:
            return exc.failure
        return "allowed"

    return asyncio.run(main())


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::", "::ffff:127.0.0.1",
                                  "169.254.169.254", "fd00:ec2::254", "[::1]",
                                  # numeric IPv4 spellings a proxy's resolver accepts: behind a
                                  # proxy no lookup of ours would catch them
                                  "2130706433", "127.1", "0x7f.1", "0x7f000001", "0177.0.0.1",
                                  "2852039166", "127.0.0.1."])
def test_literal_hosts_are_refused_before_any_lookup(host: str) -> None:
    g, resolver = guard()
    assert g.check_target("http", host, 80) is not None
    assert refusal(g, host) == "forbidden_address"
    assert not resolver.calls


@pytest.mark.parametrize("host", ["loop.test", "LOOP.TEST", "loop.test."])
def test_names_resolving_to_loopback_are_refused(host: str) -> None:
    g, _resolver = guard({host: ["127.0.0.1", "::1"]})
    assert g.check_target("http", host, 80) is None  # a name: vetted after resolution
    assert refusal(g, host) == "forbidden_address"


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "a.localhost",
                                  "metadata.google.internal", "nas.home.arpa", "printer.local",
                                  # /etc/hosts' loopback aliases, and one-label names (a
                                  # proxy resolves them to its own loopback or intranet)
                                  "localhost.localdomain", "ip6-localhost", "ip6-loopback",
                                  "localhost6", "localhost4.localdomain4",
                                  "localhost6.localdomain6", "intranet", "jenkins.", "vm"])
def test_private_names_are_refused_by_name_before_any_lookup(host: str) -> None:
    """Names that never belong to the public web are refused unasked: behind a proxy, which
    resolves names itself, this is the only check they get."""
    g, resolver = guard({host: ["93.184.216.34"]})
    refused = g.check_target("http", host, 80)
    assert refused is not None and refused.failure == "forbidden_address"
    assert refusal(g, host) == "forbidden_address"
    assert not resolver.calls
    assert Guard(resolver, allow_private=True).check_target("http", host, 80) is None


@pytest.mark.parametrize(("host", "failure"), [
    ("0x7f.0x.0x.0x1", "forbidden_address"),  # the URL standard: an empty 0x part is 0
    ("0x7f.0x.0x.0x1.", "forbidden_address"), ("0x", "forbidden_address"),
    ("0x7f.0x", "forbidden_address"), ("1.2.3.4.5", "invalid_url"),
    ("0x100000000", "invalid_url"), ("4294967296", "invalid_url"), ("09.1.2.3", "invalid_url"),
    ("example.123", "invalid_url"), ("news.example.0x1f", "invalid_url"),  # a name ending in
])  # a number is no name for the URL standard: it was looked up, and could come out dead
def test_numeric_hosts_are_read_as_url_parsers_read_them(host: str, failure: str) -> None:
    """Behind a proxy only literal hosts are vetted by us: every spelling a proxy's URL
    parser may read as an address is one, and a numeric host that is none is invalid."""
    g, resolver = guard({})
    refused = g.check_target("http", host, 80)
    assert refused is not None and refused.failure == failure, host
    assert not resolver.calls
    assert g.check_target("http", "added.be", 80) is None  # hex letters: a name


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f000001", "0x7f.1",
                                  "0x7f.0x0.0x0.0x1", "127.1", "01200034567", "0"])
def test_numeric_names_are_caught_after_system_resolution(host: str) -> None:
    # glibc parses these itself (no DNS query): only the post-resolution check catches them
    resolver = SystemResolver(max_workers=2)
    try:
        g = Guard(resolver, dns_timeout=2.0)
        assert refusal(g, host) == "forbidden_address"
    finally:
        resolver.close()


def test_schemes_and_ports() -> None:
    g, _ = guard(allow_private=True)
    assert g.check_target("file", "", None).failure == "forbidden_scheme"  # type: ignore[union-attr]
    assert g.check_target("gopher", "127.0.0.1", 6379).failure == "forbidden_scheme"  # type: ignore[union-attr]
    assert g.check_target("http", "a.test", 22).failure == "forbidden_port"  # type: ignore[union-attr]
    assert g.check_target("http", "a.test", 65536).failure == "forbidden_port"  # type: ignore[union-attr]
    assert g.check_target("http", "127.0.0.1", 8080) is None  # allow_private opens addresses
    assert g.check_target("https", "a.test", 443) is None


def test_mixed_answers_refuse_the_whole_host() -> None:  # row 19
    g, resolver = guard({"mixed.test": [PUBLIC, "10.0.0.1"]})
    assert refusal(g, "mixed.test") == "forbidden_address"
    assert refusal(g, "mixed.test") == "forbidden_address"
    assert resolver.calls["mixed.test"] == 1  # cached for the run


def test_a_name_with_a_trailing_dot_is_looked_up_on_its_own() -> None:
    """From an audit: "site." and "site" shared one cached answer, the first asked deciding
    for both; a hosts file (glibc) answers one and not the other: a live link was dead."""
    g, resolver = guard({"site.test": [PUBLIC]})

    async def main() -> tuple[str, list[str]]:
        try:
            await g.addresses("site.test.", 80)
        except GuardError as exc:
            dotted = exc.failure
        else:
            dotted = "allowed"
        return dotted, await g.addresses("site.test", 80)

    assert asyncio.run(main()) == ("dns", [PUBLIC])
    assert resolver.calls["site.test."] == 1 and resolver.calls["site.test"] == 1


def test_dns_failures_are_classified_and_bounded() -> None:  # row 21
    g, resolver = guard(
        {"servfail.test": socket.gaierror(socket.EAI_AGAIN, "Temporary failure"),
         "noname.test": socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         "nodata.test": socket.gaierror(socket.EAI_NODATA, "No address associated"),
         "odd.test": UnicodeError("label too long"),
         "empty.test": []},
        dns_timeout=0.2)
    resolver.hang = frozenset(f"hang{i}.test" for i in range(50))

    async def main() -> dict[str, str]:
        async def one(host: str) -> tuple[str, str]:
            try:
                await g.addresses(host, 80)
            except DNSError as exc:
                return host, exc.failure
            return host, "ok"

        hosts = ["nx.test", "servfail.test", "noname.test", "nodata.test", "odd.test",
                 "empty.test", *resolver.hang]
        return dict(await asyncio.gather(*(one(h) for h in hosts)))

    started = time.monotonic()
    got = asyncio.run(main())
    assert time.monotonic() - started < 1.0  # 50 hung lookups wait concurrently, once each
    assert got["nx.test"] == got["noname.test"] == "dns"  # NXDOMAIN: no such name
    # the name exists without an address, or the resolver failed: never a dead link
    assert got["nodata.test"] == got["empty.test"] == got["odd.test"] == "dns_error"
    assert got["servfail.test"] == "dns_error"
    assert {got[h] for h in resolver.hang} == {"dns_timeout"}
    assert resolver.calls[DEFAULT_DNS_CANARY] == 1  # asked once, on the first NXDOMAIN


NONAME = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
AGAIN = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
NODATA = socket.gaierror(getattr(socket, "EAI_NODATA", -5), "No address associated with hostname")
ANSWER = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]


@pytest.mark.parametrize(("per_family", "expected"), [
    # glibc: A query failed for now (SERVFAIL) + AAAA "no such name" -> EAI_NONAME overall
    ({socket.AF_INET: AGAIN, socket.AF_INET6: NONAME}, "dns_error"),
    ({socket.AF_INET: NONAME, socket.AF_INET6: AGAIN}, "dns_error"),
    ({socket.AF_INET: NODATA, socket.AF_INET6: NONAME}, "dns_error"),  # the name exists
    ({socket.AF_INET: ANSWER, socket.AF_INET6: NONAME}, None),  # the A query works again
    ({socket.AF_INET: NONAME, socket.AF_INET6: NONAME}, "dns"),  # really no such name
])
def test_no_such_name_is_believed_only_when_each_family_says_so(
        monkeypatch: pytest.MonkeyPatch, per_family: dict[int, object],
        expected: str | None) -> None:
    asked: list[int] = []

    def getaddrinfo(host: str, port: int, family: int = 0, *rest: object) -> object:
        asked.append(family)
        answer = NONAME if family == 0 else per_family[family]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    async def go() -> str | None:
        resolver = SystemResolver(max_workers=1)
        try:
            await Guard(resolver, canary=None).addresses("flaky.example", 443)
        except DNSError as exc:
            return exc.failure
        finally:
            resolver.close()
        return None

    assert asyncio.run(go()) == expected
    assert asked[0] == 0 and set(asked[1:]) <= {socket.AF_INET, socket.AF_INET6}


def test_a_resolver_that_denies_every_name_is_not_believed() -> None:
    """An offline or captive resolver answers NXDOMAIN for every name: without the canary
    name, its answers are errors, not dead links (and the canary is asked once per run)."""
    g, resolver = guard({})
    resolver.canary = False

    async def main() -> list[str]:
        out = []
        for host in ("a.test", "b.test", "c.test"):
            try:
                await g.addresses(host, 80)
            except DNSError as exc:
                out.append(exc.failure)
        return out

    assert asyncio.run(main()) == ["dns_error"] * 3
    assert resolver.calls[DEFAULT_DNS_CANARY] == 1


def test_a_resolver_that_starts_denying_every_name_mid_run_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The canary's answer ages: a resolver that found it at first and denies every name
    later (a captive portal, a VPN drop) is asked again, and its "no such name" answers
    stop counting as dead links."""
    g, resolver = guard({})
    clock = [1000.0]
    monkeypatch.setattr(guard_module, "_clock", lambda: clock[0])

    async def main() -> list[str]:
        out = []
        for host, later in (("a.test", 1.0), ("b.test", guard_module.config.CANARY_RECHECK_SECONDS),
                            ("c.test", 1.0), ("d.test", 1.0)):
            try:
                await g.addresses(host, 80)
            except DNSError as exc:
                out.append(exc.failure)
            clock[0] += later
            resolver.canary = host == "a.test"  # denied from the second lookup on
        return out

    assert asyncio.run(main()) == ["dns", "dns", "dns_error", "dns_error"]
    assert resolver.calls[DEFAULT_DNS_CANARY] == 2  # once at first, once when it had aged


FAST = FetchConfig(connect_timeout=0.5, read_timeout=0.5, request_deadline=1.0, max_attempts=1,
                   host_request_interval=0.0, dns_timeout=0.3)


def test_rebinding_fails_one_lookup_per_host_and_dial_the_vetted_ip() -> None:  # row 20
    answers = {1: [PUBLIC]}
    resolver = FakeResolver({"rebind.test": lambda n: answers.get(n, ["127.0.0.1"])})
    network = LoopbackNetwork()

    async def handler(request: Request, conn: Conn) -> None:
        await conn.respond(200, page(), close=True)  # a new connection for every request

    async def main() -> dict[str, FetchResult]:
        async with NetServer(handler) as srv:
            urls = [srv.url("rebind.test", f"/{i}") for i in range(4)]
            out: dict[str, FetchResult] = {}
            async with Fetcher(FAST, resolver=resolver, network=network) as f:
                await f.fetch_all([(u, LinkKind.PAGE) for u in urls],
                                  lambda r: out.__setitem__(r.url, r))
            assert srv.connections == 4
            return out

    out = asyncio.run(main())
    assert {r.http_status for r in out.values()} == {200}
    assert resolver.calls["rebind.test"] == 1
    assert set(network.dialed) == {PUBLIC}


def test_redirects_to_internal_addresses_are_blocked_at_that_hop() -> None:  # row 22
    resolver = FakeResolver({"a.test": [PUBLIC], "2130706433": ["127.0.0.1"],
                             "inner.test": ["10.0.0.1"]})
    network = LoopbackNetwork()
    targets = {
        "/1": "http://127.0.0.1:{port}/secret",
        "/2": "http://[::ffff:127.0.0.1]:{port}/secret",
        "/3": "http://2130706433:{port}/secret",
        "/4": "http://169.254.169.254/latest/meta-data/",
        "/5": "http://inner.test:{port}/secret",
        "/6": "http://[::1]:{port}/secret",
    }

    async def main() -> tuple[dict[str, FetchResult], list[str]]:
        async def handler(request: Request, conn: Conn) -> None:
            location = targets[request.path].format(port=srv.port)
            await conn.respond(302, b"", [("Location", location)])

        async with NetServer(route({p: handler for p in targets})) as srv:
            out: dict[str, FetchResult] = {}
            async with Fetcher(FAST, resolver=resolver, network=network) as f:
                await f.fetch_all([(srv.url("a.test", p), LinkKind.PAGE) for p in targets],
                                  lambda r: out.__setitem__(r.url, r))
            return out, [a.target for a in srv.arrivals]

    out, seen = asyncio.run(main())
    assert len(out) == len(targets)
    for result in out.values():
        assert result.failure == "forbidden_address", result
        assert len(result.redirects) == 1
        assert classify(result).status is LinkStatus.BLOCKED
    assert "/secret" not in seen  # nothing internal was ever requested
    assert set(network.dialed) == {PUBLIC}


def tls_server(ca: trustme.CA, name: str, seen: list[str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(ctx)

    def sni(sock: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        seen.append(server_name or "")

    ctx.sni_callback = sni  # type: ignore[assignment]
    return ctx


def test_tls_verifies_the_name_while_dialing_the_vetted_ip(ca: trustme.CA, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    other_ca = trustme.CA()
    wrong_bundle = tmp_path / "other.pem"
    other_ca.cert_pem.write_to_path(str(wrong_bundle))
    sni: list[str] = []
    resolver = FakeResolver({"test.example": ["127.0.0.1"], "wrong.example": ["127.0.0.1"]})
    config = FetchConfig(connect_timeout=0.5, read_timeout=0.5, request_deadline=2.0,
                         max_attempts=1, host_request_interval=0.0, allow_private=True,
                         ca_bundle=str(bundle), http2=True)  # ALPN falls back to 1.1

    async def handler(request: Request, conn: Conn) -> None:
        await conn.respond(200, page("secure"))

    async def main() -> tuple[dict[str, FetchResult], dict[str, FetchResult]]:
        async with NetServer(handler, tls=tls_server(ca, "test.example", sni)) as srv:
            good, wrong = srv.url("test.example", "/"), srv.url("wrong.example", "/")
            out: dict[str, FetchResult] = {}
            async with Fetcher(config, resolver=resolver) as f:
                await f.fetch_all([(good, LinkKind.PAGE), (wrong, LinkKind.PAGE)],
                                  lambda r: out.__setitem__(r.url, r))
            untrusted: dict[str, FetchResult] = {}
            cfg2 = FetchConfig(**{**_fields(config), "ca_bundle": str(wrong_bundle)})
            async with Fetcher(cfg2, resolver=resolver) as f:
                await f.fetch_all([(good, LinkKind.PAGE)],
                                  lambda r: untrusted.__setitem__(r.url, r))
            cfg3 = FetchConfig(**{**_fields(config), "ca_bundle": None})
            async with Fetcher(cfg3, resolver=resolver, env={"SSL_CERT_FILE": str(bundle)}) as f:
                await f.fetch_all([(good + "env", LinkKind.PAGE)],
                                  lambda r: out.__setitem__(r.url, r))
            return out, untrusted

    out, untrusted = asyncio.run(main())
    good = next(r for u, r in out.items() if "test.example" in u)
    wrong = next(r for u, r in out.items() if "wrong.example" in u)
    assert good.http_status == 200 and b"secure" in good.body
    from_env = next(r for u, r in out.items() if u.endswith("env"))
    assert from_env.http_status == 200  # SSL_CERT_FILE honoured
    assert wrong.failure == "tls"  # certificate is for test.example
    assert next(iter(untrusted.values())).failure == "tls"  # self-signed / unknown CA
    assert "test.example" in sni and "wrong.example" in sni  # SNI carries the name, not the IP
    assert resolver.calls["test.example"] == 3  # once per run (three Fetchers)


def _fields(config: FetchConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


@pytest.mark.parametrize("host", ["example.com", "example.com.", "news.example.co.uk",
                                  "2606:4700::1111", "93.184.216.34"])
def test_public_names_and_addresses_pass_the_name_check(host: str) -> None:
    g, _resolver = guard({})
    assert g.check_target("http", host, 80) is None


def test_a_lookup_without_file_descriptors_is_no_verdict_on_the_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of file descriptors, glibc's getaddrinfo says "no such name" (EAI_NONAME) or
    EBUSY: that was dns (dead) or dns_error (outage evidence), cached for the run. It is
    ``too_many_open_files`` now (no breaker, no outage vote), and asked again next time."""
    from enricher.net.client import failure_of

    class Resolver:
        calls = 0

        async def resolve(self, host: str, port: int) -> list[str]:
            Resolver.calls += 1
            if Resolver.calls == 1:
                raise NONAME
            return [PUBLIC]

    monkeypatch.setattr(guard_module, "out_of_files", lambda: True)
    g = Guard(Resolver(), canary=None)  # type: ignore[arg-type]

    async def main() -> tuple[BaseException, list[str]]:
        try:
            await g.addresses("news.example", 443)
        except GuardError as exc:
            caught: BaseException = exc
        monkeypatch.setattr(guard_module, "out_of_files", lambda: False)  # fds freed
        return caught, await g.addresses("news.example", 443)

    exc, ips = asyncio.run(main())
    failure = failure_of(exc)
    assert (failure.token, failure.connect_stage, failure.evidence) == (
        "too_many_open_files", False, None)
    assert "raise ulimit -n" in failure.detail
    assert ips == [PUBLIC] and Resolver.calls == 2


def test_out_of_files_is_false_while_sockets_can_be_made() -> None:
    assert guard_module.out_of_files() is False


def test_a_canary_lookup_without_file_descriptors_proves_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The canary asked while the descriptors ran out failed, and for a minute every real
    "no such name" became dns_error (outage evidence, cached for the run): the name's lookup
    is too_many_open_files instead, and the canary is asked again next time."""
    full = {"now": False}

    class Resolver:
        async def resolve(self, host: str, port: int) -> list[str]:
            if host == "canary.example":
                full["now"] = not full.get("asked")
                full["asked"] = True
                if full["now"]:
                    raise OSError(16, "Device or resource busy")  # glibc under EMFILE
                return [PUBLIC]
            full["now"] = False
            raise NONAME

    monkeypatch.setattr(guard_module, "out_of_files", lambda: full["now"])
    g = Guard(Resolver(), canary="canary.example")  # type: ignore[arg-type]

    async def one(host: str) -> str:
        try:
            await g.addresses(host, 443)
        except GuardError as exc:
            return exc.failure
        return "ok"

    async def main() -> list[str]:
        first = await one("gone-one.example")  # the canary fails for want of descriptors
        return [first, await one("gone-two.example")]  # asked again: the name is dead

    assert asyncio.run(main()) == ["too_many_open_files", "dns"]
