"""Bot walls: is a response a vendor's challenge or block page? A pure predicate over the
response headers, status and the decoded start of the page; such a page is ``blocked``
and never parsed for metadata.

A challenge needs a vendor's signature: Cloudflare's ``cf-mitigated: challenge`` header
or its challenge-page markers, AWS WAF's ``x-amzn-waf-action`` header, Akamai's "Access
Denied ... Reference #", DataDome's captcha host as a script's source or in its ``dd``
object, or its headers, PerimeterX's ``px-captcha`` element or captcha script (its "Press
& Hold" only under the wall's title, or on an error status with a PerimeterX marker),
Incapsula's block frame and Sucuri's block page. A page merely titled "Just a moment..."
is not one, nor a page that loads a vendor's sensor script (PerimeterX's, Incapsula's
resource), nor one whose headline or a link quotes a wall ("Press & Hold to confirm you
are a human", "Incapsula incident ID: 123", the captcha host's name).

This module must not do I/O, parse HTML or decide verdicts (``classify`` does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["challenge_vendor", "is_challenge"]

TEXT_SCAN_CHARS = 64 * 1024  # of the page start searched for markers

_CLOUDFLARE_MARKERS = ("cf-chl", "challenge-platform", "_cf_chl_opt", "cf_chl_",
                       "cf-browser-verification", "cf-challenge")
# vendor, literal markers (lower case; one must occur before the pattern is tried: a plain
# substring test costs microseconds where a case-folding regex over the page costs ms), pattern
_CHALLENGE_TEXT: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    (
        "cloudflare",
        ("just a moment", "attention required", "please wait"),
        re.compile(r"<title>\s*(?:just a moment\.\.\.|attention required! \| "
                   r"cloudflare|please wait\.\.\.)\s*</title>", re.I),
    ),
    (
        "akamai",
        ("access denied",),
        re.compile(r"<title>\s*access denied\s*</title>.{0,2000}?reference"
                   r"(?:\s|&#32;)*(?:#|&#35;)\s*[\d.a-f]+", re.I | re.S),
    ),
    (
        "datadome",
        ("captcha-delivery",),
        # its captcha host as a script's or frame's source, or in the wall's ``dd`` object
        # (not as a link or a headline: an article may name the host)
        re.compile(r"src\s*=\s*[\"']?(?:https?:)?//[\w.-]*captcha-delivery\.com"
                   r"|\bdd\s*=\s*\{[^{}<]{0,1000}?captcha-delivery\.com", re.I),
    ),
    (
        "perimeterx",
        ("px-captcha", "_pxcaptcha", "captcha.p", "_pxjsclientsrc", "_pxcustomlogo",
         "_pxblockedurl"),
        # the wall's own markup: its captcha element (an attribute, or the block page's
        # meta description), its captcha script's source, the block page's settings. Not
        # the sensor script ordinary pages load, nor "Press & Hold" in a page's text (a
        # story about the CAPTCHA quotes it in its headline or a link: see _PX_HOLD)
        re.compile(r"\b(?:id|class)\s*=\s*[\"']?(?:[\w-]+\s+){0,5}px-captcha\b"
                   r"|\bcontent\s*=\s*[\"']px-captcha[\"']|\b_pxCaptcha"
                   r"|src\s*=\s*[\"'](?:https?:)?//captcha\.(?:px-cdn\.net|(?:px-cdn\.)?"
                   r"perimeterx\.net)/|\b_px(?:JsClientSrc|CustomLogo|BlockedUrl)\s*=", re.I),
    ),
    ("incapsula", ("incapsula",),
     # its block page's frame: the resource as the frame's source, the incident ID as its
     # text (an article may quote "Incapsula incident ID: 1234" in a headline)
     re.compile(r"src\s*=\s*[\"']?/_Incapsula_Resource\?[SC]WUDNSAI"
                r"|<iframe\b[^<>]*>[^<]{0,80}Incapsula incident ID:?\s*\d", re.I)),
    (
        "sucuri",
        ("sucuri",),
        re.compile(r"<title>\s*Sucuri WebSite Firewall - Access Denied\s*</title>|"
                   r"sucuri\.net/privacy-policy.{0,500}?blocked", re.I | re.S),
    ),
)
# PerimeterX's "Press & Hold" as an element's text (not in a <title> or a meta description),
# evidence only with the wall's own title, or on an error status with a PerimeterX marker
_PX_HOLD = re.compile(r"<(?!title\b)[a-z][^<>]*>\s*press (?:&amp;|&) hold[^<]{0,80}"
                      r"(?:human|robot|confirm)", re.I)
_PX_WALL_TITLE = re.compile(r"<title>\s*access to this page has been denied\.?\s*</title>",
                            re.I)
_PX_MARKERS = ("_pxappid", "_pxhd", "_pxvid", "_pxuuid", "perimeterx", "px-cdn", "/_px")


def challenge_vendor(headers: Mapping[str, str], status: int, text_prefix: str) -> str | None:
    """The bot-wall vendor whose challenge or block page this is, or None."""
    h = {k.lower(): v for k, v in headers.items()}
    if h.get("cf-mitigated", "").strip().lower() == "challenge":
        return "cloudflare"
    if h.get("x-amzn-waf-action", "").strip().lower() in ("challenge", "captcha"):
        return "aws"  # AWS WAF (a 202 or 405 with an empty or script page)
    datadome = "x-datadome" in h or "x-dd-b" in h or "datadome=" in h.get("set-cookie", "")
    if datadome and status in (401, 403, 405, 429):
        return "datadome"
    text = text_prefix[:TEXT_SCAN_CHARS]
    lower = text.lower()
    for vendor, markers, pattern in _CHALLENGE_TEXT:
        if not any(m in lower for m in markers):
            continue
        cloudflare_ok = vendor != "cloudflare" or any(m in text for m in _CLOUDFLARE_MARKERS)
        if cloudflare_ok and pattern.search(text):
            return vendor
    if "hold" in lower and _PX_HOLD.search(text) and (_PX_WALL_TITLE.search(text) or (
            status >= 400 and (any(m in lower for m in _PX_MARKERS)
                               or "_pxhd" in h.get("set-cookie", "")))):
        return "perimeterx"
    akamai = h.get("server", "").lower().startswith("akamaighost")
    if akamai and status == 403 and "Reference #" in text:
        return "akamai"
    return None


def is_challenge(headers: Mapping[str, str], status: int, text_prefix: str) -> bool:
    """Whether the response is a bot wall's challenge or block page (never parse it)."""
    return challenge_vendor(headers, status, text_prefix) is not None
