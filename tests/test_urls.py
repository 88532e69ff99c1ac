"""Tests for enricher.net.urls: hostile URL strings (hostile.md rows 1-18, 44), the quirks of
real records, normalisation, and properties (never raises; idempotent; the host we report is
the host httpx connects to)."""

from __future__ import annotations

import ipaddress
import string

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enricher.config import DEFAULT_MAX_URL_LENGTH
from enricher.models import LinkStatus
from enricher.net.urls import CleanURL, Rejected, clean_url, host_key, reads_back, resolve_url

INVALID, SKIPPED = LinkStatus.INVALID, LinkStatus.SKIPPED


def httpx_host(url: str) -> str:
    """The host httpx will connect to for ``url``, as CleanURL.host spells it."""
    return httpx.URL(url).raw_host.decode("ascii").lower().rstrip(".")


def assert_consistent(result: CleanURL) -> None:
    """The invariants every CleanURL keeps."""
    assert result.url.isascii()
    assert result.url.startswith(("http://", "https://"))
    assert "#" not in result.url
    assert not any(ch.isspace() for ch in result.url)
    assert httpx_host(result.url) == result.host
    assert host_key(result.url) == result.host
    parsed = httpx.URL(result.url)
    assert (parsed.port or {"http": 80, "https": 443}[parsed.scheme]) == result.port
    assert clean_url(result.url) == result  # idempotent


def clean_ok(raw: str) -> CleanURL:
    result = clean_url(raw)
    assert isinstance(result, CleanURL), result
    assert_consistent(result)
    return result


def rejected(raw: object) -> Rejected:
    result = clean_url(raw)
    assert isinstance(result, Rejected), result
    assert result.detail and "\n" not in result.detail and "\r" not in result.detail
    return result


# --- hostile.md rows 1-4, 6-8: hosts and IPs that pass cleaning; the guard must see them ------

PASSING_HOSTS = [
    # row 1
    ("http://127.0.0.1/", "127.0.0.1"),
    ("http://localhost/", "localhost"),
    ("http://LOCALHOST/", "localhost"),
    ("http://localhost./", "localhost"),
    # row 2
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254"),
    ("http://100.100.100.100/", "100.100.100.100"),
    # row 3
    ("http://0.0.0.0/", "0.0.0.0"),
    ("http://0/", "0"),
    ("http://[::]/", "::"),
    ("http://0.1.2.3/", "0.1.2.3"),
    # row 4: kept as written host names; only the post-resolution check can catch them
    ("http://2130706433/", "2130706433"),
    ("http://0x7f000001/", "0x7f000001"),
    ("http://0x7f.1/", "0x7f.1"),
    ("http://0x7f.0x0.0x0.0x1/", "0x7f.0x0.0x0.0x1"),
    ("http://127.1/", "127.1"),
    ("http://01200034567/", "01200034567"),
    ("http://[000:0:0000::01]/", "::1"),
    # row 6
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
    ("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1"),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
    ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"),
    ("http://[::127.0.0.1]/", "::127.0.0.1"),
    # row 7
    ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe"),
    ("http://[64:ff9b:1::a00:1]/", "64:ff9b:1::a00:1"),
    ("http://[2002:a9fe:a9fe::1]/", "2002:a9fe:a9fe::1"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "2001:0:4136:e378:8000:63bf:3fff:fdd2"),
    # row 8
    ("http://100.64.0.1/", "100.64.0.1"),
    ("http://224.0.0.1/", "224.0.0.1"),
    ("http://239.255.255.250/", "239.255.255.250"),
    ("http://240.0.0.1/", "240.0.0.1"),
    ("http://255.255.255.255/", "255.255.255.255"),
    ("http://[ff02::1]/", "ff02::1"),
    ("http://[fec0::1]/", "fec0::1"),
    ("http://192.0.0.170/", "192.0.0.170"),
    ("http://198.18.0.1/", "198.18.0.1"),
    ("http://192.0.2.1/", "192.0.2.1"),
    # rows 9-11: the host httpx connects to, whatever the string seems to say
    ("http://127.0.0.1#@evil.example/", "127.0.0.1"),
    ("http://evil.example#@127.0.0.1/", "evil.example"),
    ("http://example.com\u3002evil.example/", "example.com.evil.example"),
    # row 15: surrounding whitespace is stripped, then validated (documented policy)
    (" http://127.0.0.1/", "127.0.0.1"),
    ("\u00a0http://127.0.0.1/\n", "127.0.0.1"),
]


@pytest.mark.parametrize(("raw", "host"), PASSING_HOSTS)
def test_hostile_hosts_pass_cleaning_with_the_host_httpx_uses(raw: str, host: str) -> None:
    result = clean_ok(raw)
    if ":" in host:  # IPv6: compared as addresses, written compressed
        assert ipaddress.IPv6Address(result.host) == ipaddress.IPv6Address(host)
        assert result.host == ipaddress.IPv6Address(host).compressed
        assert f"[{result.host}]" in result.url
    else:
        assert result.host == host
    assert "evil.example" not in result.url or result.host.endswith("evil.example")


def test_fragment_with_at_sign_is_dropped() -> None:
    assert clean_ok("http://127.0.0.1#@evil.example/").url == "http://127.0.0.1/"


def test_a_trailing_dot_is_dropped_from_the_url_and_the_host() -> None:
    """It names the same site, and TLS names have no dot (SNI, certificates): kept, every
    working https site written so failed its certificate check."""
    result = clean_ok("http://LocalHost./x")
    assert (result.url, result.host) == ("http://localhost/x", "localhost")
    assert clean_ok("https://news.example.:8443/a").url == "https://news.example:8443/a"


# --- rows 5, 9, 10, 12, 14-18: rejected, with the right reason --------------------------------

REJECTED = [
    # row 5: httpx refuses these IPv4 spellings
    ("http://0177.0.0.1/", INVALID, "bad_host"),
    ("http://127.000.000.001/", INVALID, "bad_host"),
    ("http://012.1.2.3/", INVALID, "bad_host"),
    ("http://0177.0.0.1./", INVALID, "bad_host"),  # the trailing dot does not sneak it past
    # rows 9, 10: userinfo is refused: we never send credentials
    ("http://evil.example@127.0.0.1/", INVALID, "userinfo"),
    ("http://127.0.0.1@evil.example/", INVALID, "userinfo"),
    ("http://127.0.0.1%2523@evil.example/", INVALID, "userinfo"),
    ("https://user:secret@example.com/", INVALID, "userinfo"),
    # row 12: invalid IDNA
    ("http://exa\u200bmple.com/", INVALID, "bad_host"),
    ("http://\u2460\u2461\u2466.\u24ea.\u24ea.\u2460/", INVALID, "bad_host"),
    ("http://\uff05\uff13\uff11\uff12\uff17.0.0.1/", INVALID, "bad_host"),
    # row 14: schemes
    ("file:///etc/passwd", INVALID, "bad_scheme"),
    ("gopher://127.0.0.1:6379/_INFO", INVALID, "bad_scheme"),
    ("ftp://example.com/", INVALID, "bad_scheme"),
    ("javascript:alert(1)", INVALID, "bad_scheme"),
    ("JavaScript:alert(1)", INVALID, "bad_scheme"),
    ("data:text/html,hi", INVALID, "data_url"),
    ("data:image/png;base64,iVBORw0KGgo=", INVALID, "data_url"),
    ("mailto:a@b", INVALID, "bad_scheme"),
    # row 15: control characters inside
    ("http://127.0.0.1\t/", INVALID, "bad_url"),
    ("http://example.com/\r\nX-Injected: 1", INVALID, "bad_url"),
    ("http://example.com/a\x00b", INVALID, "bad_url"),
    ("http://example.com/a\x7fb", INVALID, "bad_url"),
    ("http://example.com/?a=1&#10;X-Injected:%201", INVALID, "bad_url"),  # decoded LF
    # row 16: ports
    ("http://example.com:0/", INVALID, "bad_port"),
    ("http://example.com:65536/", INVALID, "bad_port"),
    ("http://example.com:-1/", INVALID, "bad_port"),
    ("http://example.com:99999999999999999999/", INVALID, "bad_port"),
    ("http://example.com:http/", INVALID, "bad_port"),
    # ports httpx reads with int(): not written as a browser would accept them
    ("http://example.com:+80/", INVALID, "bad_port"),
    ("http://example.com:1_8081/", INVALID, "bad_port"),
    ("http://example.com: 8080/", INVALID, "bad_port"),
    ("http://example.com:8080 /x", INVALID, "bad_port"),
    ("http://127.0.0.1:\uff11\uff18\uff10\uff18\uff11/fw", INVALID, "bad_port"),  # full-width
    ("http://[::1]:\u0668\u0660/", INVALID, "bad_port"),  # Arabic-Indic digits
    ("http://example.com:22/", SKIPPED, "forbidden_port"),
    ("http://example.com:25/", SKIPPED, "forbidden_port"),
    ("https://example.com:8/", SKIPPED, "forbidden_port"),
    # row 17: never guessed
    ("//example.com/x", INVALID, "no_scheme"),
    ("example.com", INVALID, "no_scheme"),
    ("www.example.com/a?b=1", INVALID, "no_scheme"),
    ("example.com:8080/x", INVALID, "no_scheme"),
    ("/relative", INVALID, "relative"),
    ("../up", INVALID, "relative"),
    ("?q=1", INVALID, "relative"),
    # row 18
    ("http://example.com/" + "a" * 100_000, INVALID, "too_long"),
    # more shapes that cannot be fetched
    ("", INVALID, "empty"),
    (" \t\n ", INVALID, "empty"),
    ("&#32;", INVALID, "empty"),
    ("http:///path", INVALID, "bad_host"),
    ("http://", INVALID, "bad_host"),
    ("http:example.com", INVALID, "bad_url"),
    ("http:/example.com", INVALID, "bad_url"),
    ("http://a b.example/", INVALID, "bad_host"),
    ("http://ex%41mple.com/", INVALID, "bad_host"),
    ("http://a..b/", INVALID, "bad_host"),
    ("http://.example.com/", INVALID, "bad_host"),
    ("http://example.com../", INVALID, "bad_host"),
    ("http://" + "a" * 64 + ".example/", INVALID, "bad_host"),
    ("http://" + ("a" * 60 + ".") * 5 + "com/", INVALID, "bad_host"),
    ("http://xn--zz.example/", INVALID, "bad_host"),
    ("http://[::1%25eth0]/", INVALID, "bad_host"),
    ("http://[v1.x]/", INVALID, "bad_host"),
    ("http://256.1.1.1/", INVALID, "bad_host"),
    ("http://x/?" + "&amp;" * 1 + "amp;" * 6, INVALID, "bad_url"),  # escaped 7 times
]


@pytest.mark.parametrize(("raw", "status", "reason"), REJECTED)
def test_rejected_with_reason(raw: str, status: LinkStatus, reason: str) -> None:
    result = rejected(raw)
    assert (result.status, result.reason) == (status, reason)


@pytest.mark.parametrize("value", [None, 42, 3.5, True, ["http://example.com/"], {"a": 1}, b"x"])
def test_non_strings_are_not_a_string(value: object) -> None:
    result = rejected(value)
    assert (result.status, result.reason) == (INVALID, "not_a_string")


@pytest.mark.parametrize(
    "raw", ["http://example.com/\ud800", "http://\udfff.example/", "https://a.example/?q=\udc80"]
)
def test_lone_surrogates_are_rejected(raw: str) -> None:
    assert rejected(raw).reason in ("bad_url", "bad_host")


def test_httpx_agrees_on_the_hosts_we_refuse_for_userinfo() -> None:
    # row 9/10 as measured: httpx would connect to the host after the '@'
    assert httpx_host("http://evil.example@127.0.0.1/") == "127.0.0.1"
    assert httpx_host("http://127.0.0.1@evil.example/") == "evil.example"


@pytest.mark.parametrize(("raw", "url"), [
    # a record's backslashes before the query are slashes, as browsers and curl read them:
    # a server may 404 the backslash path (a false dead); "\\@" no longer makes userinfo
    ("http://news.example.com/a\\b\\c.html", "http://news.example.com/a/b/c.html"),
    ("http://example.com\\x/", "http://example.com/x/"),
    ("http:\\\\x.example\\y", "http://x.example/y"),
    ("http://127.0.0.1:80\\@evil.example/", "http://127.0.0.1/@evil.example/"),
    ("http://x.example/p?q=a\\b", "http://x.example/p?q=a\\b"),  # the query keeps it
])
def test_backslashes_in_a_record_url_are_read_as_browsers_read_them(raw: str, url: str) -> None:
    assert clean_ok(raw).url == url


def test_high_ports_pass_at_this_layer() -> None:
    # policy: only ports below 1024 are restricted (row 16's 6379 is left to the guard's config)
    result = clean_ok("http://example.com:6379/")
    assert (result.port, result.url) == (6379, "http://example.com:6379/")


def test_allowed_low_ports_is_the_policy() -> None:
    assert isinstance(
        clean_url("http://example.com:22/", allowed_low_ports=frozenset({22})), CleanURL
    )
    result = clean_url("http://example.com/", allowed_low_ports=frozenset({443}))
    assert isinstance(result, Rejected) and result.reason == "forbidden_port"
    a_set = clean_url("http://example.com:21/", allowed_low_ports={21})  # type: ignore[arg-type]
    assert isinstance(a_set, CleanURL)


def test_max_length_applies_to_input_and_result() -> None:
    assert rejected("http://example.com/" + "a" * (DEFAULT_MAX_URL_LENGTH)).reason == "too_long"
    # 30 characters as written, 19 + 3 * 2 * 6 after percent-encoding
    short = "http://example.com/" + "\u00e9" * 6
    assert isinstance(clean_url(short, max_length=30), Rejected)
    assert isinstance(clean_url(short, max_length=60), CleanURL)


# --- row 13: IDN ------------------------------------------------------------------------------


def test_idn_and_punycode_give_the_same_url() -> None:
    unicode = clean_ok("http://\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444/")
    puny = clean_ok("http://xn--e1afmkfd.xn--p1ai/")
    assert unicode == puny
    assert puny.host == "xn--e1afmkfd.xn--p1ai"
    assert clean_ok("http://M\u00dcNCHEN.example/").host == "xn--mnchen-3ya.example"


def test_punycode_names_idna2008_disallows_are_still_fetched() -> None:
    """Emoji and symbol names (xn--ls8h.la, xn--n3h.net) are ordinary DNS names that httpx
    and resolvers take; strict IDNA2008 decoding made them invalid, never checked. A label
    that is no punycode at all stays invalid."""
    assert clean_ok("https://xn--ls8h.la/").host == "xn--ls8h.la"
    assert clean_ok("https://xn--n3h.net/").host == "xn--n3h.net"
    for bad in ("http://xn--zz.com/", "http://xn--.com/"):
        rejected = clean_url(bad)
        assert isinstance(rejected, Rejected) and rejected.reason == "bad_host", bad


@pytest.mark.parametrize("host", ["example.123", "1.2.3.4.5", "0x100000000", "a.0x1g.09"])
def test_a_host_ending_in_a_number_that_is_no_address_is_invalid_when_read(host: str) -> None:
    """`enricher links` listed these as fetchable and `check` then called them invalid (the
    guard's rule): one rule, ``literal_ip``, now serves both."""
    rejected = clean_url(f"http://{host}/")
    assert isinstance(rejected, Rejected) and rejected.reason == "bad_host", rejected
    assert "ends in a number but is no IPv4 address" in rejected.detail
    for address in ("127.1", "2130706433", "0x7f.1", "1.2.3.4"):  # spellings of addresses
        assert isinstance(clean_url(f"http://{address}/"), CleanURL), address


# --- quirks of real records (HTML-escaped WordPress output, raw spaces, non-ASCII) ------------


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        (
            "https://i0.wp.com/blog.example/uploads/pic.png?resize=620%2C497&#038;ssl=1",
            "https://i0.wp.com/blog.example/uploads/pic.png?resize=620%2C497&ssl=1",
        ),
        ("https://example.com/?a=1&amp;b=2", "https://example.com/?a=1&b=2"),
        ("https://example.com/?a=1&#38;b=2&#x26;c=3", "https://example.com/?a=1&b=2&c=3"),
        ("https://example.com/?a=1&amp;amp;b=2", "https://example.com/?a=1&b=2"),  # twice
        ("https://example.com/?a=1&amp;#038;b=2", "https://example.com/?a=1&b=2"),
        ("https://example.com/it&#039;s", "https://example.com/it's"),
        ("https://example.com/?q=&quot;x&quot;", "https://example.com/?q=%22x%22"),
        # 0x80-0x9F references are Windows-1252 in HTML: an ellipsis, not a C1 control (as
        # trailing white space, it was cut off)
        ("https://example.com/i.png?w=1&#133;", "https://example.com/i.png?w=1%E2%80%A6"),
        ("https://example.com/?a=&#129;b", "https://example.com/?a=%C2%81b"),  # unmapped
        # legacy entities without ';' are left alone: '&copy=' is a parameter, not (c)
        ("https://example.com/?a=1&copy=2&reg=3", "https://example.com/?a=1&copy=2&reg=3"),
        ("https://example.com/?a=1&amp", "https://example.com/?a=1&amp"),
        ("https://example.com/?a=&#99999999;", "https://example.com/?a=&"),  # fragment '#...'
        ("https://example.com/a b/c d?q=x y", "https://example.com/a%20b/c%20d?q=x%20y"),
        (
            "https://www.example.com/en/news/pok\u00e9mon-style-raids/ar-AA1",
            "https://www.example.com/en/news/pok%C3%A9mon-style-raids/ar-AA1",
        ),
        ("https://example.com/caf%C3%A9?x=%2f%2C", "https://example.com/caf%C3%A9?x=%2f%2C"),
        ("https://example.com/100%", "https://example.com/100%"),
        ("https://example.com/%zz", "https://example.com/%zz"),
        ("https://example.com/%0d%0a", "https://example.com/%0d%0a"),  # stays encoded (row 15)
    ],
)
def test_real_record_quirks(raw: str, url: str) -> None:
    assert clean_ok(raw).url == url


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("HTTP://EXAMPLE.COM:80/Path", "http://example.com/Path"),
        ("https://Example.com:443", "https://example.com/"),
        ("https://example.com:8443/", "https://example.com:8443/"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com?x=1", "http://example.com/?x=1"),
        ("http://example.com/a#frag", "http://example.com/a"),
        ("http://example.com/a?b#c?d", "http://example.com/a?b"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://@example.com/", "http://example.com/"),  # empty userinfo: nothing to send
        ("http://[::FFFF:7F00:1]:8080/", "http://[::ffff:7f00:1]:8080/"),
    ],
)
def test_normalisation(raw: str, url: str) -> None:
    assert clean_ok(raw).url == url


def test_effective_port_and_host_key() -> None:
    assert clean_ok("https://example.com/").port == 443
    assert clean_ok("http://example.com/").port == 80
    assert host_key("http://[::1]:8080/x") == "::1"
    assert host_key("https://www.example.com./a") == "www.example.com"
    assert host_key("http://example.com:8080/") == "example.com"


def test_results_are_cached_and_str_subclasses_work() -> None:
    raw = "https://cache.example/a?b=1"
    assert clean_url(raw) is clean_url(raw)

    class Text(str):
        """A str subclass, as YAML loaders or callers may hand over."""

    assert clean_url(Text(raw)) == clean_url(raw)


# --- resolve_url: redirects and og:image (row 44) ---------------------------------------------

PAGE = "https://news.example/2024/story.html?x=1#top"


@pytest.mark.parametrize(
    ("ref", "url"),
    [
        ("/img.png", "https://news.example/img.png"),
        ("img.png", "https://news.example/2024/img.png"),
        ("../img.png?a=1&amp;b=2", "https://news.example/img.png?a=1&b=2"),
        ("//evil.example/x.png", "https://evil.example/x.png"),  # host vetted by the guard
        ("http://127.0.0.1/x.png", "http://127.0.0.1/x.png"),  # ditto
        (" https://cdn.example/a b.png ", "https://cdn.example/a%20b.png"),
        ("?page=2", "https://news.example/2024/story.html?page=2"),
    ],
)
def test_resolve_url(ref: str, url: str) -> None:
    result = resolve_url(PAGE, ref)
    assert isinstance(result, CleanURL), result
    assert_consistent(result)
    assert result.url == url


@pytest.mark.parametrize(
    ("base", "ref", "reason"),
    [
        (PAGE, "javascript:alert(1)", "bad_scheme"),
        (PAGE, "data:image/png;base64,AAAA", "data_url"),
        (PAGE, "", "empty"),
        (PAGE, "http:///path", "bad_host"),
        (PAGE, "//0177.0.0.1/x", "bad_host"),
        (PAGE, "/a\r\nSet-Cookie: x=1", "bad_url"),
        (PAGE, "//user@evil.example/", "userinfo"),
        (PAGE, "//example.com:22/", "forbidden_port"),
        ("not a url", "/img.png", "bad_base"),
        (PAGE, None, "not_a_string"),
    ],
)
def test_resolve_url_rejects(base: str, ref: object, reason: str) -> None:
    result = resolve_url(base, ref)  # type: ignore[arg-type]
    assert isinstance(result, Rejected), result
    assert result.reason == reason


# --- properties -------------------------------------------------------------------------------


def check_anything(raw: object) -> None:
    result = clean_url(raw)
    if isinstance(result, CleanURL):
        assert_consistent(result)
    else:
        assert isinstance(result, Rejected)
        assert result.status in (INVALID, SKIPPED)
        assert result.reason and result.detail and "\n" not in result.detail


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(raw: str) -> None:
    check_anything(raw)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text_after_a_scheme(rest: str) -> None:
    check_anything("http://" + rest)
    result = resolve_url(PAGE, rest)
    if isinstance(result, CleanURL):
        assert_consistent(result)


_HOST_ALPHABET = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@[]\\\u3002\u00e9\u200b"
_PATH_ALPHABET = string.printable + "\u00e9\u4e2d\u200b\u202e\u00a0"
hosts = st.one_of(
    st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,10}){0,3}\.?", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.text(alphabet=_HOST_ALPHABET, max_size=20),
    st.sampled_from(["пример.рф", "xn--e1afmkfd.xn--p1ai", "0x7f.1", "127.1", "ß.example"]),
)
url_like = st.builds(
    lambda ws, scheme, sep, user, host, port, path, query, frag, entity: (
        f"{ws}{scheme}{sep}{user}{host}{port}{path}{entity}{query}{frag}{ws}"
    ),
    st.sampled_from(["", " ", "\t", "\u00a0"]),
    st.sampled_from(["http", "https", "HTTP", "hTTps", "ftp", "data", "javascript", ""]),
    st.sampled_from(["://", ":", "//", ":///", ":\\\\"]),
    st.sampled_from(["", "", "", "user@", "a:b@", "@"]),
    hosts,
    st.one_of(
        st.just(""),
        st.integers(min_value=-2, max_value=70_000).map(lambda p: f":{p}"),
        st.text(alphabet="0123456789+- ", max_size=6).map(lambda p: f":{p}"),
    ),
    st.text(alphabet=_PATH_ALPHABET, max_size=30).map(lambda p: "/" + p if p else p),
    st.one_of(st.just(""), st.text(alphabet=_PATH_ALPHABET, max_size=20).map("?{}".format)),
    st.one_of(st.just(""), st.text(max_size=10).map("#{}".format)),
    st.sampled_from(["", "&amp;", "&#038;", "&amp;amp;", "&#x26;", "&lt;", "&#9;", "&copy"]),
)


@settings(max_examples=300, deadline=None)
@given(url_like)
def test_url_like_strings(raw: str) -> None:
    check_anything(raw)


plain_urls = st.builds(
    "{}://{}{}/{}".format,
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
    st.one_of(st.just(""), st.integers(min_value=0, max_value=99_999).map(":{}".format)),
    st.text(alphabet=string.ascii_letters + string.digits + "%._~-/?=&", max_size=30),
)


@settings(max_examples=200, deadline=None)
@given(plain_urls)
def test_plain_urls_clean_consistently(raw: str) -> None:
    check_anything(raw)


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("http://example.com:/x", "http://example.com/x"),  # an empty port is the default
        ("http://example.com:0080/x", "http://example.com/x"),
        ("http://example.com/a:b?c=:d", "http://example.com/a:b?c=:d"),  # colons after host
        # a UTF-16 pair written as two references (old MySQL "utf8" WordPress): one character
        ("https://example.com/hello-&#55357;&#56832;-world/",
         "https://example.com/hello-%F0%9F%98%80-world/"),
        ("https://example.com/x-&#xD83D;&#xDE00;", "https://example.com/x-%F0%9F%98%80"),
        # a reference to no character is U+FFFD, never "&#..." whose "#" cut the URL
        ("https://example.com/hello-&#xD800;other", "https://example.com/hello-%EF%BF%BDother"),
        ("https://example.com/a&#0;b", "https://example.com/a%EF%BF%BDb"),
        ("https://example.com/a&#1114112;b", "https://example.com/a%EF%BF%BDb"),
    ],
)
def test_ports_and_references_as_browsers_read_them(raw: str, url: str) -> None:
    assert clean_ok(raw).url == url


@pytest.mark.parametrize(
    ("base", "ref", "url"),
    [
        # more slashes or backslashes before a host: that host (the URL Standard; curl -L)
        ("http://a.example/p", "///b.example/t", "http://b.example/t"),
        ("http://a.example/p", "\\\\b.example\\t", "http://b.example/t"),
        ("http://a.example/p", "/\\b.example/t", "http://b.example/t"),
        ("http://a.example/p", "\\t\\u", "http://a.example/t/u"),
        ("http://a.example/p", "http:\\\\b.example\\t", "http://b.example/t"),
        ("http://a.example/p", "/t?q=a\\b", "http://a.example/t?q=a\\b"),  # not in a query
        # an empty query is kept: "/q" sending "?" is no redirect loop
        ("http://a.example/q", "?", "http://a.example/q?"),
        ("http://a.example/q", "/qa?", "http://a.example/qa?"),
        ("http://a.example/q", "/c?#f", "http://a.example/c?"),
        # the base is clean: its "&amp;" is never decoded again
        ("http://a.example/p&amp;q/x", "y", "http://a.example/p&amp;q/y"),
        # no host after the slashes: read as before, never as the current URL (a loop)
        ("http://a.example/p?c=d", "///?", "http://a.example/?"),
        ("http://a.example/p?c=d", "///", "http://a.example/"),
    ],
)
def test_references_resolve_as_browsers_read_them(base: str, ref: str, url: str) -> None:
    found = resolve_url(base, ref, html=False)
    assert isinstance(found, CleanURL), found
    assert found.url == url


def test_reads_back_tells_a_url_a_record_would_read_as_another() -> None:
    assert reads_back("https://example.com/a?b=1&c=2")
    assert not reads_back("https://example.com/t?a=1&amp;b=2")  # read as "&b=2"
    assert not reads_back("not a url")
    assert reads_back("http://example.com:81/x")  # fetched: the run's port policy allowed it
