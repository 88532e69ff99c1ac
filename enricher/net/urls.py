"""URL cleaning: one raw value -> a normalised absolute http(s) URL, or a reasoned rejection.

``clean_url`` takes a value as written in a record (or, through ``resolve_url``, a redirect
``Location`` or an ``og:image`` joined to its page) and returns either a ``CleanURL`` -- the
string we fetch and dedupe on, its host and its effective port -- or a ``Rejected`` with a
status (``invalid``: cannot be fetched as written; ``skipped``: policy) and a reason token.

Policy, in the order it is applied:

1. Non-strings are ``not_a_string``; surrounding whitespace is stripped; nothing left is
   ``empty``; longer than ``max_length`` is ``too_long`` (checked on the input and the result).
2. HTML character references are decoded, because records are HTML-escaped WordPress output
   (``?a=1&#038;b=2``). Only ``&amp; &quot; &lt; &gt; &apos;`` and numeric references *with*
   their ``;`` are decoded -- never legacy ``&copy``-style names, so ``?a=1&copy=2`` is kept.
   Decoding repeats (double-escaped ``&amp;amp;``) until nothing changes, at most
   ``_MAX_UNESCAPE_PASSES`` times (more is ``bad_url``), so the result never contains a
   reference and cleaning is idempotent. A URL that really contains ``&amp;`` loses it.
   A reference to no character (``&#0;``, a lone half of a UTF-16 pair) is U+FFFD, as in
   HTML; the two halves of a pair (``&#55357;&#56832;``, old MySQL "utf8") are joined.
3. A TAB, CR, LF or any other ASCII control character inside is ``bad_url`` (no header
   injection; we do not silently drop them as browsers do). A backslash before the query is
   a slash, as browsers read it (also in records: ``http://site/a\\b`` asks for ``/a/b``).
4. The scheme must be ``http``/``https`` followed by ``//``: ``data:`` is ``data_url`` (never
   fetched), other schemes ``bad_scheme``; ``//host/x`` and ``example.com`` are ``no_scheme``,
   ``/x`` ``relative``. Nothing is guessed.
5. ``httpx.URL`` parses -- the *one* parser: the fetcher re-parses our string with it, so the
   host we return is the host httpx connects to (``example.com。evil.example`` becomes
   ``example.com.evil.example`` for both). Its errors map to ``bad_host`` / ``bad_port`` /
   ``bad_url``; it percent-encodes spaces and non-ASCII in path and query, keeps existing
   ``%XX`` as they are, encodes IDN hosts to punycode and lower-cases scheme and host.
6. Userinfo (``user@host``) is ``userinfo``: we never send credentials, and a URL carrying them
   is either a mistake or a disguise (``http://evil.example@127.0.0.1/``).
7. Hosts must be names of ``[a-z0-9_-]`` labels (1-63 chars, 253 in all, one trailing dot
   allowed; a punycode label must decode as plain punycode), dotted-quad IPv4 or IPv6 without
   zone. Numeric names such as ``2130706433``, ``0x7f000001`` or ``127.1`` are kept as
   written: the address guard vets what they resolve to (``literal_ip``, shared with it); a
   host that ends in a number but is no IPv4 address (``1.2.3.4.5``) is ``bad_host``.
8. Ports not written as ASCII digits or outside 1..65535 are ``bad_port`` (httpx accepts
   65536, -1, "+80", "8_0" and full-width digits); effective ports below
   1024 not in ``allowed_low_ports`` are ``skipped``/``forbidden_port``.
9. The result is rebuilt from the parsed parts: default port dropped, fragment dropped, empty
   path ``/``, IPv6 compressed, a host's trailing dot dropped (as curl does for TLS; it
   names the same site). ``host`` is lower-case punycode.

``resolve_url`` reads a reference as browsers do (the URL Standard): a backslash before the
query is a slash, extra slashes before a host count as two, and an empty query (``/q?``) is
kept. Results are cached (``functools.lru_cache``): most URLs repeat across records.
``request_host`` / ``request_origin`` name the host and the origin (``scheme://host:port``)
a URL connects to, as httpx parses it: the fetcher's keys for politeness and for breakers.
This module must not do I/O, resolve names or know about records; it never raises for any input.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass

import httpx

from enricher.config import DEFAULT_ALLOWED_LOW_PORTS, DEFAULT_MAX_URL_LENGTH
from enricher.models import LinkStatus

CACHE_SIZE = 65_536  # distinct strings remembered by clean_url
DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_UNESCAPE_PASSES = 4
_MAX_HOST_LENGTH = 253
_MAX_LABEL_LENGTH = 63

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENTITY = re.compile(r"&(?:(amp|quot|lt|gt|apos)|#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6}));")
_NAMED = {"amp": "&", "quot": '"', "lt": "<", "gt": ">", "apos": "'"}
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+")
_SLASHES = re.compile(r"/{3,}")  # before the host of a scheme-relative reference
_SURROGATE = re.compile("[\ud800-\udfff]")
_ANY_PORT = frozenset(range(1, 1024))
_PORT = re.compile(r"[0-9]*")  # as written after the host's ":" (httpx takes "+80", "8_0")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


@dataclass(frozen=True, slots=True)
class CleanURL:
    url: str  # normalised, absolute, ASCII-only http(s) URL: the dedupe key and what is fetched
    host: str  # punycode, lower-case, no trailing dot; IPv6 without brackets
    port: int  # effective port


@dataclass(frozen=True, slots=True)
class Rejected:
    status: LinkStatus  # INVALID (cannot be fetched as written) or SKIPPED (policy)
    reason: str  # token: empty, not_a_string, bad_scheme, data_url, no_scheme, relative, ...
    detail: str  # one human line


def _invalid(reason: str, detail: str) -> Rejected:
    return Rejected(LinkStatus.INVALID, reason, detail)


def _short(text: str, limit: int = 80) -> str:
    """A repr safe for one line of a report."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")  # a label a URL parser reads as a number


def literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal names: canonical IPv4/IPv6, and the numeric spellings
    that resolvers and proxies accept as IPv4 (``2130706433``, ``127.1``, ``0x7f.1``,
    ``0177.0.0.1``, and the URL standard's ``0x7f.0x.0x.0x1``, an empty ``0x`` being 0),
    which the guard vets when a proxy resolves for us; None for a name. A host whose last
    label is a number but that is no IPv4 address (``1.2.3.4.5``, ``0x100000000``,
    ``example.123``) is invalid for every URL parser: ValueError."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    bare = host.rstrip(".")  # "127.0.0.1.." too: read as an address is the safe side
    if not _NUMBER.fullmatch(bare.rpartition(".")[2]):
        return None  # a name ("added.be"); "example.123" ends in a number: read on
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        pass
    labels = bare.split(".")
    if len(labels) <= 4 and all(_NUMBER.fullmatch(label) for label in labels):
        try:
            nums = [int(n[2:] or "0", 16) if n[:2].lower() == "0x" else
                    int(n, 8) if len(n) > 1 and n[0] == "0" else int(n) for n in labels]
            if max(nums[:-1], default=0) < 256 and nums[-1] < 256 ** (5 - len(nums)):
                return ipaddress.IPv4Address(
                    sum(n << 8 * (3 - i) for i, n in enumerate(nums[:-1])) + nums[-1])
        except ValueError:  # an octal part with an 8 or 9
            pass
    raise ValueError(f"{host} ends in a number but is no IPv4 address")


def clean_url(
    raw: object,
    *,
    max_length: int = DEFAULT_MAX_URL_LENGTH,
    allowed_low_ports: frozenset[int] = DEFAULT_ALLOWED_LOW_PORTS,
    html: bool = True,
) -> CleanURL | Rejected:
    """Clean one URL as written; see the module docstring for the policy. Never raises.
    ``html``: the text comes from HTML or a record (``&amp;``, ``&#038;`` are decoded);
    False for an HTTP header (a ``Location``), which has no character references."""
    if type(raw) is not str:
        if not isinstance(raw, str):
            return _invalid("not_a_string", f"expected a URL string, found {_type_name(raw)}")
        raw = str.__str__(raw)  # an exact str, so the cache key behaves
    if type(allowed_low_ports) is not frozenset:
        allowed_low_ports = frozenset(allowed_low_ports)  # hashable, for the cache
    return _clean_cached(raw, max_length, allowed_low_ports, html)


def resolve_url(
    base: str,
    ref: str,
    *,
    max_length: int = DEFAULT_MAX_URL_LENGTH,
    allowed_low_ports: frozenset[int] = DEFAULT_ALLOWED_LOW_PORTS,
    html: bool = True,
) -> CleanURL | Rejected:
    """Join ``ref`` (a ``Location`` header: ``html=False``, an ``og:image``) to ``base``, then
    clean the result.

    Absolute references are cleaned as they are (``javascript:`` stays ``bad_scheme``);
    relative and scheme-relative ones (``//cdn.example/x.png``) are resolved against ``base``,
    which must itself be clean. Never raises.
    """
    prepared = _prepare(ref, max_length, html) if isinstance(ref, str) else None
    if prepared is None:
        return _invalid("not_a_string", f"expected a URL string, found {_type_name(ref)}")
    if isinstance(prepared, Rejected):
        return prepared
    if _SCHEME.match(prepared) is None:  # (clean_url reads an absolute one's backslashes)
        prepared = _as_browsers_read(prepared)
    if _SCHEME.match(prepared):
        return clean_url(prepared, max_length=max_length, allowed_low_ports=allowed_low_ports,
                         html=html)
    # the base is clean already: never decoded again (a hop at /p&amp;q/ stays there)
    start = clean_url(base, max_length=max_length, allowed_low_ports=allowed_low_ports,
                      html=False)
    if isinstance(start, Rejected):
        return _invalid("bad_base", f"cannot resolve against {_short(str(base))}: {start.reason}")
    try:
        joined = str(httpx.URL(start.url).join(prepared))
    except httpx.InvalidURL as exc:
        return _from_parse_error(str(exc))
    except (ValueError, TypeError, OverflowError) as exc:  # UnicodeError is a ValueError
        return _invalid("bad_url", f"cannot resolve {_short(prepared)}: {exc}")
    if prepared.partition("#")[0].endswith("?") and "?" not in joined:
        head, mark, tail = joined.partition("#")  # httpx drops an empty query; browsers
        joined = f"{head}?{mark}{tail}"  # request it ("/q" -> "?" is no redirect loop)
    return clean_url(joined, max_length=max_length, allowed_low_ports=allowed_low_ports,
                     html=html)


def reads_back(url: str) -> bool:
    """Is a record holding the clean ``url`` read as ``url``? Not when it holds a character
    reference (``&amp;``: a record is read as HTML-escaped, so it would mean ``&``). Any
    port: the URL was fetched, so the run's port policy allowed it."""
    found = clean_url(url, allowed_low_ports=_ANY_PORT)
    return isinstance(found, CleanURL) and found.url == url


def host_key(url: str) -> str:
    """The host of an already-clean URL (punycode, no brackets, no trailing dot), cheaply,
    for scheduling. Garbage in, garbage out: this does not validate."""
    authority = url.partition("://")[2].partition("/")[0]
    if authority.startswith("["):
        return authority[1 : authority.find("]")]
    host, colon, _port = authority.rpartition(":")
    return (host if colon else authority).rstrip(".")


# a clean URL's authority, where host_key's string split gives exactly httpx's host
_PLAIN = re.compile(r"(https?)://(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?(?:/|$)")


def url_host(url: httpx.URL) -> str:
    """The host a parsed URL connects to (as ``request_host``)."""
    return url.raw_host.decode("ascii").rstrip(".")


def ascii_host(url: httpx.URL) -> str:
    """``url.host`` as sent (punycode, lower case, an IPv6 address without brackets), never
    IDNA-decoded: ``url.host`` raises on punycode IDNA2008 forbids (``xn--ls8h.la``, an
    emoji name that is plain punycode and fetched), which stopped the whole run."""
    return url.raw_host.decode("ascii")


def origin_key(scheme: str, host: str, port: int | None) -> str:
    """``scheme://host:port`` with the default port filled in (IPv6 hosts in brackets)."""
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def request_host(url: str) -> str:
    """The host ``url`` connects to (lower-case punycode, no brackets, no trailing dot), as
    httpx parses it, never a split of the string unless that gives the same: the fetcher's
    key of per-host slots, spacing, transports and headers. Never raises."""
    if _PLAIN.match(url):
        return host_key(url)
    try:
        return url_host(httpx.URL(url))
    except (httpx.InvalidURL, ValueError, TypeError):  # fails again, with a reason, when sent
        return host_key(url)


def request_origin(url: str) -> str:
    """The origin ``url`` connects to, ``scheme://host:port`` (host as ``request_host``):
    the fetcher's key of circuit breakers and of the outage guard. Never raises."""
    plain = _PLAIN.match(url)
    if plain is not None:
        port = plain.group(2)
        return origin_key(plain.group(1), host_key(url), int(port) if port else None)
    try:
        parsed = httpx.URL(url)
        return origin_key(parsed.scheme, url_host(parsed), parsed.port)
    except (httpx.InvalidURL, ValueError, TypeError):  # fails again, with a reason, when sent
        return host_key(url)


def fragment(raw: str) -> str:
    """The ``#fragment`` of a URL as written in a record or a page, read as ``clean_url``
    reads it (HTML character references decoded first: the ``#`` of ``&#038;`` is none);
    "" when it has none."""
    text = _unescape(raw.strip()) if "&" in raw else raw.strip()
    return text[text.index("#"):] if text and "#" in text else ""


def clear_cache() -> None:
    """Forget cached results (tests, long-lived processes)."""
    _clean_cached.cache_clear()


# --- implementation ---------------------------------------------------------------------------


def _as_browsers_read(ref: str) -> str:
    """An http(s) reference as the URL Standard reads it (browsers, curl): a backslash before
    the query is a slash, and more than two slashes before a scheme-relative host are two, so
    ``///cdn.example/x`` and ``\\\\cdn.example\\x`` go to cdn.example, never to a path
    on the current host (whose 404 would call a live link dead). ``http:///x`` stays
    malformed (``bad_host``), as ``../shared/hostile.md`` row 26 wants."""
    cut = min((at for at in (ref.find("?"), ref.find("#")) if at >= 0), default=len(ref))
    head = ref[:cut].replace("\\", "/")
    if (slashes := _SLASHES.match(head)) is not None:
        head = "//" + head[slashes.end():]
    if head.startswith("//") and head[2:3] in ("", "/"):  # no host at all ("///", "\\\\"):
        return ref  # read as before, never as the current URL (a loop)
    return head + ref[cut:]


def _decode_entity(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    if name is not None:
        return _NAMED[name]
    code = int(decimal, 10) if decimal is not None else int(hexadecimal, 16)
    if code > 0x10FFFF or code == 0:
        return "\ufffd"  # not a character: as HTML reads it (never "&#" left to cut a URL)
    if 0xD800 <= code <= 0xDFFF:
        return chr(code)  # half of a pair (old MySQL "utf8"): _unescape joins the halves
    if 0x80 <= code <= 0x9F:  # as HTML reads them: Windows-1252 ("&#133;" is "\u2026")
        return bytes([code]).decode("cp1252", errors="ignore") or chr(code)
    return chr(code)


def _unescape(text: str) -> str | None:
    """Decode HTML character references until nothing changes; None if that takes too long."""
    for _ in range(_MAX_UNESCAPE_PASSES + 1):
        decoded = _ENTITY.sub(_decode_entity, text)
        if _SURROGATE.search(decoded):  # pairs joined, a lone half is U+FFFD as in HTML
            decoded = decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        if decoded == text:
            return text
        text = decoded
    return None


def _prepare(raw: str, max_length: int, html: bool = True) -> str | Rejected:
    """Strip, cap, unescape (``html``) and refuse control characters: what every input goes
    through."""
    text = raw.strip()
    if not text:
        return _invalid("empty", "empty value")
    if len(text) > max_length:
        return _too_long(len(text), max_length)
    if html and "&" in text:
        decoded = _unescape(text)
        if decoded is None:
            return _invalid("bad_url", f"HTML-escaped more than {_MAX_UNESCAPE_PASSES} times")
        text = decoded.strip()
        if not text:
            return _invalid("empty", "empty value after decoding HTML character references")
    control = _CONTROL.search(text)
    if control is not None:
        return _invalid(
            "bad_url",
            f"control character {control.group()!r} at position {control.start()}; "
            "a URL cannot contain TAB, CR, LF or other control characters",
        )
    return text


def _too_long(length: int, max_length: int) -> Rejected:
    return _invalid("too_long", f"URL is {length} characters; the limit is {max_length}")


def _without_scheme(text: str) -> Rejected:
    if text.startswith("//"):
        return _invalid(
            "no_scheme", "scheme-relative URL ('//host/...'): write http:// or https://"
        )
    if text[0] in "/.?#":
        return _invalid("relative", f"relative URL {_short(text)}: write an absolute http(s) URL")
    return _invalid("no_scheme", f"no scheme in {_short(text)}: write http:// or https://")


def _from_parse_error(message: str) -> Rejected:
    """httpx.InvalidURL message -> reason token; the one place that reads those messages."""
    if message.startswith(("Invalid IDNA hostname", "Invalid IPv4", "Invalid IPv6")):
        return _invalid("bad_host", message[:200])
    if message.startswith("Invalid port"):
        return _invalid("bad_port", message[:200])
    if "too long" in message:
        return _invalid("too_long", message[:200])
    return _invalid("bad_url", message[:200])


def _port_text(text: str, start: int) -> str | None:
    """The port as written in the authority that begins at ``start`` (after "//"), or None."""
    end = min((at for at in map(text.find, "/?#", (start,) * 3) if at >= 0), default=len(text))
    host_port = text[start:end].rpartition("@")[2]
    if host_port.startswith("["):
        host_port = host_port.partition("]")[2]
    return host_port.partition(":")[2] if ":" in host_port else None


def _check_name(host: str) -> str | None:
    """Why a registered-name host (already lower-case ASCII from httpx) is unusable, or None."""
    if not _HOST_CHARS.fullmatch(host):
        return f"host {_short(host)} has characters a host name cannot have"
    bare = host[:-1] if host.endswith(".") else host
    if len(bare) > _MAX_HOST_LENGTH:
        return f"host name is longer than {_MAX_HOST_LENGTH} characters"
    labels = bare.split(".")
    for label in labels:
        if not label:
            return f"host {_short(host)} has an empty label"
        if len(label) > _MAX_LABEL_LENGTH:
            return f"host {_short(host)} has a label longer than {_MAX_LABEL_LENGTH} characters"
        if label.startswith("xn--"):  # plain punycode (RFC 3492), as resolvers and httpx
            try:  # take it: IDNA2008 disallows emoji and symbol names (xn--ls8h.la) that
                if not label[4:].encode("ascii").decode("punycode"):  # DNS serves all
                    raise ValueError("empty")
            except (UnicodeError, ValueError):
                return f"host {_short(host)} has an invalid punycode label {_short(label)}"
    try:  # "1.2.3.4.5", "example.123": the guard would refuse them before any fetch
        literal_ip(host)
    except ValueError as exc:
        return str(exc)
    if bare != host and _IPV4_STYLE.fullmatch(bare):
        try:  # "0177.0.0.1." would slip past httpx's IPv4 check because of the dot
            ipaddress.IPv4Address(bare)
        except ValueError:
            return f"invalid IPv4 address: {_short(bare)}"
    return None


@functools.lru_cache(maxsize=CACHE_SIZE)
def _clean_cached(
    raw: str, max_length: int, allowed_low_ports: frozenset[int], html: bool = True
) -> CleanURL | Rejected:
    text = _prepare(raw, max_length, html)
    if isinstance(text, Rejected):
        return text
    if "\\" in text:  # as browsers read it: "http://site\\a\\b" is http://site/a/b, whose
        text = _as_browsers_read(text)  # backslash path a server may 404 (a false dead)
    scheme_match = _SCHEME.match(text)
    if scheme_match is None:
        return _without_scheme(text)
    scheme = scheme_match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        if "." in scheme:  # "example.com:8080/x"
            return _invalid("no_scheme", f"no scheme in {_short(text)}: write http:// or https://")
        if scheme == "data":
            return _invalid("data_url", "data: URL (inline content); never fetched")
        return _invalid("bad_scheme", f"scheme {scheme!r} is not http or https")
    if not text.startswith("//", scheme_match.end()):
        return _invalid("bad_url", f"'//' missing after '{scheme}:'")
    port_text = _port_text(text, scheme_match.end() + 2)
    if port_text is not None and not _PORT.fullmatch(port_text):
        return _invalid("bad_port", f"port {_short(port_text)} is not a number")
    try:
        parsed = httpx.URL(text)
        raw_host = parsed.raw_host.decode("ascii")
        raw_path = parsed.raw_path.decode("ascii")
    except httpx.InvalidURL as exc:
        return _from_parse_error(str(exc))
    except (ValueError, TypeError, OverflowError) as exc:  # UnicodeError is a ValueError
        return _invalid("bad_url", f"cannot parse: {exc}"[:200])
    if parsed.userinfo:
        return _invalid("userinfo", "credentials ('user@') in the URL: never sent; remove them")
    if not raw_host:
        return _invalid("bad_host", "no host")
    if ":" in raw_host:  # IPv6, validated by httpx
        if "%" in raw_host:
            return _invalid("bad_host", f"IPv6 zone in {_short(raw_host)}")
        host = ipaddress.IPv6Address(raw_host).compressed
        netloc = f"[{host}]"
    else:
        problem = _check_name(raw_host)
        if problem is not None:
            return _invalid("bad_host", problem)
        host = raw_host.rstrip(".")
        netloc = host  # "news.example." failed every certificate check (SNI has no dot)
    default = DEFAULT_PORTS[scheme]
    port = default if parsed.port is None else parsed.port
    if not 0 < port <= 65535:
        return _invalid("bad_port", f"port {port} is outside 1..65535")
    if port != default:
        netloc = f"{netloc}:{port}"
    url = f"{scheme}://{netloc}{raw_path}"
    if len(url) > max_length:
        return _too_long(len(url), max_length)
    if port < 1024 and port not in allowed_low_ports:
        allowed = ", ".join(str(p) for p in sorted(allowed_low_ports)) or "none"
        return Rejected(
            LinkStatus.SKIPPED, "forbidden_port", f"port {port} (below 1024, allowed: {allowed})"
        )
    return CleanURL(url=url, host=host, port=port)
