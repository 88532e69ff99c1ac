"""classify: every branch of the verdict table, and the 'never dead' guarantees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enricher.classify import classify
from enricher.models import FetchResult, Hop, LinkKind, LinkStatus

U = "https://example.com/a"
B = "https://example.com/b"


def fr(status: int | None = None, failure: str | None = None, **kw: object) -> FetchResult:
    return FetchResult(url=U, kind=LinkKind.PAGE, http_status=status, failure=failure, **kw)  # type: ignore[arg-type]


CASES = [
    # (result, flags, expected status, expected reason)
    (fr(200), {}, LinkStatus.OK, "http_200"),
    (fr(204), {}, LinkStatus.OK, "http_204"),
    (fr(200, redirects=(Hop(U, 301),), final_url=B), {}, LinkStatus.REDIRECTED, "http_301"),
    (fr(200, redirects=(Hop(U, 308), Hop(B + "x", 301)), final_url=B), {},
     LinkStatus.REDIRECTED, "http_308"),
    (fr(200, redirects=(Hop(U, 302),), final_url=B), {}, LinkStatus.OK, "http_200"),
    (fr(200, redirects=(Hop(U, 301), Hop(B, 307)), final_url=B + "c"), {},
     LinkStatus.OK, "http_200"),
    (fr(200, redirects=(Hop(U, 301), Hop(B, 301)), final_url=U), {}, LinkStatus.OK, "http_200"),
    (fr(304, not_modified=True), {}, LinkStatus.OK, "not_modified"),
    (fr(200), {"soft_404": True}, LinkStatus.DEAD, "soft_404"),
    (fr(404), {}, LinkStatus.DEAD, "http_404"),
    (fr(410), {}, LinkStatus.DEAD, "http_410"),
    (fr(None, "dns"), {}, LinkStatus.DEAD, "dns"),
    (fr(401), {}, LinkStatus.BLOCKED, "http_401"),
    (fr(403), {}, LinkStatus.BLOCKED, "http_403"),
    (fr(429), {}, LinkStatus.BLOCKED, "http_429"),
    (fr(451), {}, LinkStatus.BLOCKED, "http_451"),
    (fr(999), {}, LinkStatus.BLOCKED, "http_999"),
    (fr(403), {"challenge": True}, LinkStatus.BLOCKED, "challenge"),
    (fr(503), {"challenge": True}, LinkStatus.BLOCKED, "challenge"),
    (fr(200), {"challenge": True}, LinkStatus.BLOCKED, "challenge"),
    (fr(None, "forbidden_address"), {}, LinkStatus.BLOCKED, "forbidden_address"),
    (fr(429, "retry_after_too_long"), {}, LinkStatus.BLOCKED, "retry_after_too_long"),
    (fr(503, "retry_after_too_long"), {}, LinkStatus.ERROR, "retry_after_too_long"),
    (fr(500), {}, LinkStatus.ERROR, "http_500"),
    (fr(503), {}, LinkStatus.ERROR, "http_503"),
    (fr(400), {}, LinkStatus.ERROR, "http_400"),
    (fr(300), {}, LinkStatus.ERROR, "http_300"),
    (fr(304), {}, LinkStatus.ERROR, "http_304"),  # 304 to an unconditional request
    (fr(None, "tls"), {}, LinkStatus.ERROR, "tls"),
    (fr(None, "connect"), {}, LinkStatus.ERROR, "connect"),
    (fr(None, "reset"), {}, LinkStatus.ERROR, "reset"),
    (fr(None, "protocol"), {}, LinkStatus.ERROR, "protocol"),
    (fr(200, "decoding"), {}, LinkStatus.ERROR, "decoding"),
    (fr(200, "bad_encoding"), {}, LinkStatus.ERROR, "bad_encoding"),
    (fr(200, "too_large"), {}, LinkStatus.ERROR, "too_large"),
    (fr(301, "redirect_loop"), {}, LinkStatus.ERROR, "redirect_loop"),
    (fr(302, "too_many_redirects"), {}, LinkStatus.ERROR, "too_many_redirects"),
    (fr(302, "bad_redirect"), {}, LinkStatus.ERROR, "bad_redirect"),
    (fr(302, "forbidden_scheme"), {}, LinkStatus.ERROR, "forbidden_scheme"),
    (fr(None, "host_unreachable"), {}, LinkStatus.ERROR, "host_unreachable"),
    (fr(None, "dns_error"), {}, LinkStatus.ERROR, "dns_error"),
    (fr(None, "something_new"), {}, LinkStatus.ERROR, "something_new"),
    (fr(None, "timeout"), {}, LinkStatus.TIMEOUT, "timeout"),
    (fr(None, "dns_timeout"), {}, LinkStatus.TIMEOUT, "dns_timeout"),
    (fr(None, "invalid_url"), {}, LinkStatus.INVALID, "invalid_url"),
    (fr(None, "forbidden_port"), {}, LinkStatus.SKIPPED, "forbidden_port"),
    (fr(None), {}, LinkStatus.ERROR, "no_response"),
    (fr(403), {"accepted": frozenset({403})}, LinkStatus.OK, "http_403"),
    (fr(403), {"accepted": frozenset({403}), "challenge": True}, LinkStatus.OK, "http_403"),
]


@pytest.mark.parametrize(("result", "flags", "status", "reason"), CASES)
def test_verdict_table(result: FetchResult, flags: dict[str, object], status: LinkStatus,
                       reason: str) -> None:
    verdict = classify(result, **flags)  # type: ignore[arg-type]
    assert (verdict.status, verdict.reason) == (status, reason)
    assert verdict.http_status == result.http_status
    assert verdict.final_url == result.final_url


def test_redirect_keeps_final_url() -> None:
    verdict = classify(fr(200, redirects=(Hop(U, 301),), final_url=B))
    assert verdict.final_url == B


@settings(max_examples=200)
@given(
    code=st.sampled_from([403, 429, 503, 500, 502, 504, 401, 451]),
    challenge=st.booleans(),
    failure=st.sampled_from([None, "timeout", "retry_after_too_long", "reset", "connect"]),
)
def test_transient_and_refusals_are_never_dead(code: int, challenge: bool,
                                               failure: str | None) -> None:
    assert classify(fr(code, failure), challenge=challenge).status is not LinkStatus.DEAD


def _moved_to(final: str, status: int = 301) -> FetchResult:
    url = "https://news.example/2024/05/story"
    return FetchResult(url=url, kind=LinkKind.PAGE, http_status=200, final_url=final,
                       redirects=(Hop(url, status),))


@pytest.mark.parametrize("final", [
    "https://consent.example/?continue=https://news.example/2024/05/story",
    "https://consent.example/?continue=https%3A%2F%2Fnews.example%2F2024%2F05%2Fstory",
    "https://news.example/subscribe?returnUrl=%2F2024%2F05%2Fstory",
    "https://accounts.example/signin?return_to=https%253A%252F%252Fnews.example%252F2024"
    "%252F05%252Fstory",
])
def test_a_permanent_redirect_to_a_gateway_is_no_new_address(final: str) -> None:
    """A 301 to a page that carries the URL in its query (consent, paywall, another host's
    sign-in) is a gateway in front of the page: ok, never `redirected` (which
    --update-redirects would write into the record)."""
    v = classify(_moved_to(final))
    assert v.status is LinkStatus.OK and v.reason == "http_200"
    moved = classify(_moved_to("https://news.example/2024/05/story-renamed?utm=x"))
    assert moved.status is LinkStatus.REDIRECTED


@pytest.mark.parametrize("path", ["/session/new", "/users/sessions/new", "/sso", "/signon/"])
def test_more_login_pages_of_the_same_host(path: str) -> None:
    v = classify(_moved_to("https://news.example" + path))
    assert (v.status, v.reason, v.final_url) == (LinkStatus.BLOCKED, "login_redirect", None)
