"""client: the exception -> failure map, proxy routing from the environment, CA loading."""

from __future__ import annotations

import errno
import socket
import ssl
from pathlib import Path

import httpcore
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enricher.net.client import BodyError, Evidence, failure_of
from enricher.net.guard import DNSError, GuardError
from enricher.net.proxies import ProxyRoutes, ssl_context
from enricher.runtime import raise_open_files_limit


def caused(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


def _anyio_style(cause: OSError) -> Exception:
    """httpcore's anyio backend: ConnectError from OSError("All connection attempts failed")
    from the socket's own error."""
    return caused(httpcore.ConnectError("All connection attempts failed"),
                  caused(OSError("All connection attempts failed"), cause))


CASES: list[tuple[BaseException, str, bool]] = [
    (GuardError("forbidden_address", "x"), "forbidden_address", False),
    (DNSError("dns", "nx"), "dns", True),
    (DNSError("dns_timeout", "slow"), "dns_timeout", True),
    (BodyError("bad_encoding", "gzip, gzip"), "bad_encoding", False),
    (TimeoutError(), "timeout", False),
    (httpx.ConnectTimeout("t"), "timeout", True),
    (httpcore.ConnectTimeout("t"), "timeout", True),
    (httpx.ReadTimeout("t"), "timeout", False),
    (httpcore.PoolTimeout("t"), "timeout", False),
    (caused(httpcore.ConnectError("x"), ssl.SSLCertVerificationError("bad cert")), "tls", False),
    (caused(httpx.ConnectError("x"), socket.gaierror(socket.EAI_NONAME, "nx")), "dns", True),
    (caused(httpx.ConnectError("x"), socket.gaierror(socket.EAI_AGAIN, "again")), "dns_error",
     True),
    (caused(httpcore.ConnectError("x"), ConnectionRefusedError()), "connect", True),
    (httpcore.ReadError("reset"), "reset", False),
    (httpx.WriteError("pipe"), "reset", False),
    (httpcore.RemoteProtocolError("Receive buffer too long"), "protocol", False),
    (httpx.LocalProtocolError("bad header"), "protocol", False),
    (httpcore.ProxyError("407"), "proxy", False),
    (httpx.UnsupportedProtocol("ftp"), "forbidden_scheme", False),
    (httpx.InvalidURL("bad"), "invalid_url", False),
    (ssl.SSLError("x"), "tls", False),
    (ConnectionResetError(), "reset", False),
    (OSError("no route"), "connect", True),
    (OSError(errno.ETIMEDOUT, "timed out"), "connect", True),  # the kernel's, not our deadline
    (ValueError("bug"), "error", False),
    # this process out of file descriptors: no site's fault, never a breaker's connect failure
    (caused(httpcore.ConnectError("x"), OSError(errno.EMFILE, "Too many open files")),
     "too_many_open_files", False),
    (_anyio_style(OSError(errno.ENFILE, "Too many open files in system")),
     "too_many_open_files", False),
]


@pytest.mark.parametrize(("exc", "token", "connect_stage"), CASES)
def test_failure_map(exc: BaseException, token: str, connect_stage: bool) -> None:
    failure = failure_of(exc)
    assert (failure.token, failure.connect_stage) == (token, connect_stage)
    assert failure.detail


UP, DOWN, NX = Evidence.UP, Evidence.DOWN, Evidence.NXDOMAIN
EVIDENCE: list[tuple[BaseException, Evidence | None]] = [
    # a peer or a resolver answered: the network works
    (caused(httpcore.ConnectError("x"), ConnectionRefusedError(errno.ECONNREFUSED, "refused")),
     UP),
    (_anyio_style(ConnectionRefusedError(errno.ECONNREFUSED, "refused")), UP),
    (caused(httpcore.ConnectError("x"), OSError(errno.ECONNRESET, "reset")), UP),
    (caused(httpcore.ConnectError("x"), ConnectionRefusedError()), UP),  # no errno given
    (DNSError("dns", "nx"), NX),
    (caused(httpx.ConnectError("x"), socket.gaierror(socket.EAI_NONAME, "nx")), NX),
    (caused(httpcore.ConnectError("x"), ssl.SSLCertVerificationError("bad cert")), UP),
    (httpx.ReadTimeout("t"), UP),
    (httpcore.WriteTimeout("t"), UP),
    (httpcore.ReadError("reset"), UP),
    (httpcore.RemoteProtocolError("garbage"), UP),
    (BodyError("decoding", "bad gzip"), UP),
    (ssl.SSLError("x"), UP),
    # what a machine without network sees
    (httpx.ConnectTimeout("t"), DOWN),
    (httpcore.ConnectTimeout("t"), DOWN),
    (DNSError("dns_timeout", "slow"), DOWN),
    (DNSError("dns_error", "EAI_AGAIN"), DOWN),
    (caused(httpx.ConnectError("x"), socket.gaierror(socket.EAI_AGAIN, "again")), DOWN),
    (caused(httpcore.ConnectError("x"), OSError(errno.ENETUNREACH, "unreachable")), DOWN),
    (_anyio_style(OSError(errno.EHOSTUNREACH, "no route to host")), DOWN),
    (OSError(errno.ENETDOWN, "network is down"), DOWN),
    (OSError(errno.ETIMEDOUT, "connection timed out"), DOWN),
    # says nothing either way
    (OSError("no errno"), None),
    (OSError(errno.EACCES, "a local firewall"), None),
    (caused(httpcore.ConnectError("x"), OSError(errno.EMFILE, "Too many open files")), None),
    (TimeoutError(), None),  # our deadline: the Fetcher knows how far the request got
    (httpcore.PoolTimeout("t"), None),
    (GuardError("forbidden_address", "x"), None),
    (ValueError("bug"), None),
    # the proxy refused the tunnel: no site was asked (judged when the fetch is over)
    (httpcore.ProxyError("407"), Evidence.PROXY),
]


@pytest.mark.parametrize(("exc", "evidence"), EVIDENCE)
def test_what_a_failure_says_about_the_network(exc: BaseException,
                                               evidence: Evidence | None) -> None:
    """Refused (an RST came back) and NXDOMAIN (a resolver answered) prove the network works;
    only what a machine without network sees is outage evidence."""
    assert failure_of(exc).evidence is evidence


def test_proxy_routes_from_environment() -> None:
    env = {"HTTP_PROXY": "http://proxy:3128", "https_proxy": "http://secure:3128",
           "NO_PROXY": "internal.example,.corp"}
    routes = ProxyRoutes.build(None, env)
    assert routes.for_url("http", "a.example") == "http://proxy:3128"
    assert routes.for_url("https", "a.example") == "http://secure:3128"
    assert routes.for_url("http", "internal.example") is None
    assert routes.for_url("https", "x.corp") is None
    everything = ProxyRoutes.build(None, {"ALL_PROXY": "http://all:1"})
    assert everything.for_url("https", "a.example") == "http://all:1"
    explicit = ProxyRoutes.build("http://mine:8080", env)
    assert explicit.for_url("https", "a.example") == "http://mine:8080"
    assert not ProxyRoutes.build(None, {})


def test_no_proxy_takes_cidr_blocks_and_addresses_for_ip_hosts() -> None:
    """As curl, Go and requests read NO_PROXY: a CIDR block or an address exempts hosts
    written as IP literals in it, IPv6 included; a name is never matched against a block."""
    routes = ProxyRoutes.build(None, {"HTTPS_PROXY": "http://proxy:3128",
                                      "NO_PROXY": "192.0.2.0/24, 2001:db8::/32,[2001:db9::1],x/y"})
    assert routes.for_url("https", "192.0.2.77") is None
    assert routes.for_url("https", "2001:db8::5") is None
    assert routes.for_url("https", "2001:db9::1") is None
    assert routes.for_url("https", "198.51.100.1") == "http://proxy:3128"
    assert routes.for_url("https", "2001:db9::2") == "http://proxy:3128"
    assert routes.for_url("https", "news.example") == "http://proxy:3128"


def test_socks_proxies_are_a_config_error() -> None:
    with pytest.raises(ValueError, match="only http"):
        ProxyRoutes.build("socks5://127.0.0.1:1080", {})


def test_ca_loading(tmp_path: Path) -> None:
    assert ssl_context(None, {}).verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ValueError, match="cannot load CA certificates"):
        ssl_context(str(tmp_path / "missing.pem"), {})
    with pytest.raises(ValueError, match="cannot load CA certificates"):
        ssl_context(None, {"SSL_CERT_FILE": str(tmp_path / "missing.pem")})


def test_the_open_files_limit_is_raised_within_the_hard_limit() -> None:
    import resource  # POSIX (enricher runs on Linux and macOS)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        low = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
        now = raise_open_files_limit(4096)
        expected = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
        assert now == expected == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert raise_open_files_limit(512) == expected  # never lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("proxy", ["socks5://user:s3cretpw@127.0.0.1:1080",
                                   "user:s3cretpw@proxy.example:3128",
                                   "http://user:s3cretpw@", "http://u:s3cretpw@127.0.0.1:99999",
                                   "http://user:s3c/retpw@127.0.0.1:8", "http://u:s3c#retpw@p:8"])
def test_proxy_errors_never_print_the_password(proxy: str) -> None:
    with pytest.raises(ValueError) as info:
        ProxyRoutes.build(proxy, {})
    assert "s3cretpw" not in str(info.value) and "***@" in str(info.value)
    with pytest.raises(ValueError) as info:
        ProxyRoutes.build(None, {"HTTPS_PROXY": proxy})
    assert "s3cretpw" not in str(info.value) and "HTTPS_PROXY" in str(info.value)


def test_run_options_keep_no_credentials() -> None:
    """What reports and the history store of a run's options."""
    from enricher.models import run_options

    kept = run_options({"proxy": "http://user:s3cretpw@proxy.example:3128",
                        "header": ["Authorization: Bearer s3cret", "X-Team: news"],
                        "max_concurrency": 8})
    assert kept == {"proxy": "http://***@proxy.example:3128",
                    "header": ["Authorization: ***", "X-Team: ***"], "max_concurrency": 8}
    # httpx splits user:pass at the last "@": so does the mask ("***@corp@..." kept "corp")
    assert run_options({"proxy": "http://alice:s3cret@corp@proxy.example:3128"}) == {
        "proxy": "http://***@proxy.example:3128"}
    # a shell glob's thousands of paths: the first 20 and a count (each run row was 300 KB)
    paths = [f"recs/{i:05}.md" for i in range(16_700)]
    assert run_options({"paths": paths})["paths"] == [*paths[:20], "... and 16680 more"]
    assert run_options({"paths": paths[:20]})["paths"] == paths[:20]


@pytest.mark.parametrize("no_proxy", ["bücher.example", "xn--bcher-kva.example",
                                      "BÜCHER.example", ".bücher.example",
                                      "XN--BCHER-KVA.example", " .xn--bcher-kva.example "])
@pytest.mark.parametrize("host", ["bücher.example", "xn--bcher-kva.example",
                                  "shop.bücher.example", "shop.xn--bcher-kva.example"])
def test_no_proxy_matches_an_idn_in_either_form(no_proxy: str, host: str) -> None:
    """NO_PROXY written in Unicode or in punycode exempts the host in either form (the request
    host arrives as ``url.host``, Unicode, or as the wire name, punycode)."""
    routes = ProxyRoutes.build(None, {"HTTPS_PROXY": "http://proxy:3128",
                                      "NO_PROXY": f"other.example,{no_proxy}"})
    assert routes.for_url("https", host) is None
    assert routes.for_url("https", "xn--bcher-kva.example.org") == "http://proxy:3128"
    assert routes.for_url("https", "bücher.example.org") == "http://proxy:3128"
    assert routes.for_url("https", "bucher.example") == "http://proxy:3128"


@pytest.mark.parametrize("no_proxy", [
    "xn--zz.example,bücher.example", "💩.la,xn--bcher-kva.example",
    "a\u200db.example,*.bücher.example,,xn--.x,bücher.example",
    "xn--ls8h.la, bücher.example:8080 ,bücher.example",
])
def test_no_proxy_labels_that_do_not_convert_are_compared_as_written(no_proxy: str) -> None:
    routes = ProxyRoutes.build(None, {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy})
    assert routes.for_url("https", "xn--bcher-kva.example") is None
    assert routes.for_url("https", "bücher.example") is None
    assert routes.for_url("https", "news.example") == "http://proxy:3128"
    assert routes.for_url("https", "xn--zz.example") == (
        None if "xn--zz" in no_proxy else "http://proxy:3128")
    assert routes.for_url("https", "💩.la") == (None if "💩" in no_proxy else "http://proxy:3128")
    assert routes.for_url("https", "xn--ls8h.la") == (
        None if "xn--ls8h" in no_proxy else "http://proxy:3128")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=60))
def test_no_proxy_matching_never_raises(host: str, no_proxy: str) -> None:
    routes = ProxyRoutes.build(None, {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy})
    assert routes.for_url("https", host) in (None, "http://proxy:3128")


def test_h2_stream_failures_get_their_own_tokens() -> None:
    """A stream h2 refused because the server lowered max_concurrent_streams on a live
    connection is a reset (retried, not counted against the host); h2's flood guards give
    protocol, not the catch-all error."""
    import h2.exceptions

    def wrapped(cause: Exception) -> httpcore.LocalProtocolError:
        try:
            try:
                raise cause
            except Exception as exc:
                raise httpcore.LocalProtocolError(str(exc)) from exc
        except httpcore.LocalProtocolError as outer:
            return outer

    refused = wrapped(h2.exceptions.TooManyStreamsError("Max outbound streams is 1, 1 open"))
    assert failure_of(refused).token == "reset"
    assert failure_of(h2.exceptions.DenialOfServiceError("too many trailers")).token == "protocol"
    assert failure_of(wrapped(ValueError("odd"))).token == "protocol"
    assert failure_of(ValueError("odd")).token == "error"


def test_an_ssl_cert_dir_that_is_no_folder_is_a_configuration_error(tmp_path: Path) -> None:
    """SSL_CERT_DIR=/typo alone loaded no certificate at all: every https link error/tls in a
    run that "succeeded". Now one line before anything is fetched, as for SSL_CERT_FILE."""
    with pytest.raises(ValueError, match=r"SSL_CERT_DIR=/nonexistent is no folder"):
        ssl_context(None, {"SSL_CERT_DIR": "/nonexistent"})
    assert ssl_context(None, {"SSL_CERT_DIR": str(tmp_path)}) is not None
