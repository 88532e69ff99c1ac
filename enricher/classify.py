"""FetchResult -> Verdict: the one place where a status code or failure becomes a verdict.

Rules, first match wins:

1. A transport failure decides by its token (``FAILURES``): ``dns`` (NXDOMAIN) is dead;
   ``forbidden_address`` (address policy, before any TCP connection) is blocked;
   ``forbidden_port`` is skipped; ``invalid_url`` is invalid; ``timeout`` and ``dns_timeout``
   are timeout; ``retry_after_too_long`` is blocked for 429 and error otherwise; everything
   else (tls, connect, reset, protocol, decoding, bad_encoding, too_large, redirect_loop,
   too_many_redirects, bad_redirect, forbidden_scheme at a redirect hop, host_unreachable,
   dns_error, proxy, unknown tokens) is error. The reason is the token.
2. ``accepted`` codes are ok (reason ``http_<code>``).
3. A challenge page (bot wall, computed by the caller) is blocked, reason ``challenge``.
4. 2xx after redirects that end on the same host's login page (``/login``, ``/signin``,
   ``/users/sign_in``, ``/wp-login.php``...) when the URL itself was not one: blocked, reason
   ``login_redirect``, and no ``final_url`` -- the original URL stays the one to keep (the
   Discourse rule, hostile.md row 28); the caller never keeps metadata of a blocked page.
5. 2xx: a soft 404 is dead (``soft_404``). Otherwise, after redirects whose hops were all
   permanent (301/308) to a different URL: redirected, reason ``http_301``/``http_308`` (the
   first hop), with ``final_url``; after a chain with any temporary hop, or ending on a
   gateway that carries the URL in its query (``/consent?continue=<the URL>``, never the
   page's new address): ok with ``final_url``.
   A conditional request answered 304 is ok, reason ``not_modified``. An image URL whose
   2xx body is not an image (an HTML page, nothing): error, reason ``not_an_image`` (the
   site is there, the image is not what it serves; never dead on that alone).
6. 404/410 dead; 401, 403, 429, 451, 999 blocked; 5xx error; any other code error.

A 403, a challenge, a 429, a timeout or a 503 is never dead. This module is pure: it must
not import httpx or do I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from enricher.models import FetchResult, LinkStatus, Verdict

PERMANENT = frozenset({301, 308})
DEAD_CODES = frozenset({404, 410})
BLOCKED_CODES = frozenset({401, 403, 429, 451, 999})
LOGIN_PATH = re.compile(
    r"/(?:(?:log-?in|log_in|sign-?in|sign_in|logon|signon|sso|wp-login)(?:\.(?:php|aspx?|html?|jsp))?"
    r"|sessions?/new)/?$", re.I
)

FAILURES: Mapping[str, LinkStatus] = {
    "dns": LinkStatus.DEAD,
    "forbidden_address": LinkStatus.BLOCKED,
    "forbidden_port": LinkStatus.SKIPPED,
    "invalid_url": LinkStatus.INVALID,
    "timeout": LinkStatus.TIMEOUT,
    "dns_timeout": LinkStatus.TIMEOUT,
}


def classify(
    result: FetchResult,
    *,
    challenge: bool = False,
    soft_404: bool = False,
    not_image: bool = False,
    accepted: frozenset[int] = frozenset(),
) -> Verdict:
    """The verdict for one fetched URL (see the module docstring for the rules)."""
    code = result.http_status
    if result.failure is not None:
        token = result.failure
        if token == "retry_after_too_long":
            status = LinkStatus.BLOCKED if code == 429 else LinkStatus.ERROR
        else:
            status = FAILURES.get(token, LinkStatus.ERROR)
        return Verdict(status, token, code, result.final_url)
    if code is None:
        return Verdict(LinkStatus.ERROR, "no_response", None, result.final_url)
    if code in accepted:
        return Verdict(LinkStatus.OK, _http(code), code, result.final_url)
    if challenge:
        return Verdict(LinkStatus.BLOCKED, "challenge", code, result.final_url)
    if 200 <= code < 300 or (code == 304 and result.not_modified):
        if _login_redirect(result):
            return Verdict(LinkStatus.BLOCKED, "login_redirect", code, None)
        if soft_404:
            return Verdict(LinkStatus.DEAD, "soft_404", code, result.final_url)
        if not_image:  # an HTML page or nothing where an image should be: broken, not gone
            return Verdict(LinkStatus.ERROR, "not_an_image", code, result.final_url)
        reason = "not_modified" if code == 304 else _http(code)
        hops = result.redirects
        moved = bool(hops) and bool(result.final_url) and result.final_url != result.url
        if moved and all(hop.status in PERMANENT for hop in hops) and not _gateway(result):
            return Verdict(LinkStatus.REDIRECTED, f"http_{hops[0].status}", code,
                           result.final_url)
        return Verdict(LinkStatus.OK, reason, code, result.final_url)
    if code in DEAD_CODES:
        status = LinkStatus.DEAD
    elif code in BLOCKED_CODES:
        status = LinkStatus.BLOCKED
    else:
        status = LinkStatus.ERROR
    return Verdict(status, _http(code), code, result.final_url)


def _login_redirect(result: FetchResult) -> bool:
    """Redirected to the same host's login page (and the URL was not a login page itself)."""
    if not result.redirects or not result.final_url:
        return False
    start, end = urlsplit(result.url), urlsplit(result.final_url)
    return (
        start.hostname == end.hostname
        and LOGIN_PATH.search(end.path) is not None
        and LOGIN_PATH.search(start.path) is None
    )


def _gateway(result: FetchResult) -> bool:
    """The final URL carries the URL in its query (``?return_to=``, ``?continue=``): a login,
    consent or paywall gateway in front of the page, never the page's new address."""
    query = urlsplit(result.final_url or "").query
    if not query:
        return False
    path = urlsplit(result.url).path
    carried = unquote(unquote(query))
    return result.url in carried or (len(path) > 1 and path in carried)


@functools.cache
def _http(code: int) -> str:
    """``http_404``: one string per status code (a run keeps one per URL)."""
    return f"http_{code}"
