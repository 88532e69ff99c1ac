"""TLS contexts and proxy routes: which CA certificates verify sites (and an https://
proxy), and which proxy, if any, a URL goes through.

CA certificates: ``ca_bundle`` (``--ca-bundle``), else ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``,
else certifi; never unverified. Proxies: ``--proxy`` overrides ``HTTP_PROXY`` /
``HTTPS_PROXY`` / ``ALL_PROXY`` (either case), minus ``NO_PROXY`` (names, domain suffixes,
``*``, CIDR blocks and addresses; Unicode and punycode forms alike). Only http:// and
https:// proxies (no SOCKS). A bad setting is a ``ValueError`` with a one-line message naming
where it came from and the fix (never a proxy's password).

This module must not open connections or decide verdicts.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import certifi
import httpx
import idna

from enricher.models import without_userinfo


def ssl_context(ca_bundle: str | None, env: Mapping[str, str], label: str = "ca_bundle"
                ) -> ssl.SSLContext:
    """A verifying context: ca_bundle, else SSL_CERT_FILE/SSL_CERT_DIR, else certifi.
    Raises ValueError (a configuration error) when the certificates cannot be loaded;
    ``label`` names where ca_bundle was set (``Settings.labels``)."""
    cafile = ca_bundle or env.get("SSL_CERT_FILE") or None
    capath = None if ca_bundle else (env.get("SSL_CERT_DIR") or None)
    source = (f"{ca_bundle} (set by {label})" if ca_bundle else f"SSL_CERT_FILE={cafile}"
              if cafile else f"SSL_CERT_DIR={capath}")
    if cafile is None and capath is None:
        cafile = certifi.where()
        source = f"certifi {cafile}"
    if capath is not None and not os.path.isdir(capath):  # OpenSSL would take it silently,
        raise ValueError(f"SSL_CERT_DIR={capath} is no folder; give a folder of hashed CA "
                         "certificates (c_rehash), or unset it")  # and verify nothing
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc).replace("_", " ").lower()
        raise ValueError(f"cannot load CA certificates from {source}: {reason}; "
                         "give a PEM file of CA certificates") from exc
    except OSError as exc:
        raise ValueError(f"cannot load CA certificates from {source}: {exc.strerror or exc}; "
                         "give a readable PEM file of CA certificates") from exc


def _env(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name.lower()) or env.get(name.upper()) or None


def _proxy_variable(env: Mapping[str, str], scheme: str) -> str:
    """The environment variable a proxy route of ``scheme`` came from (for messages)."""
    for name in (f"{scheme}_proxy", "all_proxy"):
        for spelled in (name, name.upper()):
            if env.get(spelled):
                return spelled
    return f"{scheme.upper()}_PROXY"


_PROXY_HOST = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")  # name, IPv4, IPv6


def _check_proxy(url: str, source: str) -> None:
    """ValueError (one line: its source, what is wrong, the fix) unless an http(s) proxy URL."""
    fix = "give a proxy URL such as http://proxy.example:3128"
    shown = repr(without_userinfo(url))  # never print a proxy's password
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:  # its text may quote a piece of the password ("a:b/c@")
        why = "percent-encode / ? # in the password" if "@" in url else without_userinfo(str(exc))
        raise ValueError(f"{source} {shown}: not a URL ({why}); {fix}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError(
            f"{source} {shown}: only http:// and https:// proxies are supported "
            f"(got {parsed.scheme + '://' if parsed.scheme else 'no scheme'}); {fix}"
        )
    if not _PROXY_HOST.fullmatch(parsed.raw_host.decode("ascii", "replace")):  # "a b" %-escaped
        raise ValueError(f"{source} {shown}: no valid host name or address; {fix}")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"{source} {shown}: port {parsed.port} is out of range; {fix}")


@dataclass(frozen=True, slots=True)
class ProxyRoutes:
    """Which proxy (if any) a URL goes through; ``proxy`` overrides the environment."""

    http: str | None = None
    https: str | None = None
    no_proxy: str | None = None

    @classmethod
    def build(cls, proxy: str | None, env: Mapping[str, str], label: str = "proxy"
              ) -> ProxyRoutes:
        everything = proxy or _env(env, "all_proxy")
        routes = cls(
            http=proxy or _env(env, "http_proxy") or everything,
            https=proxy or _env(env, "https_proxy") or everything,
            no_proxy=_env(env, "no_proxy"),
        )
        for scheme, url in (("http", routes.http), ("https", routes.https)):
            if url is not None:
                _check_proxy(url, label if proxy else _proxy_variable(env, scheme))
        return routes

    def __bool__(self) -> bool:
        return bool(self.http or self.https)

    def for_url(self, scheme: str, host: str) -> str | None:
        proxy = self.https if scheme == "https" else self.http
        if proxy is None:
            return None
        if self.no_proxy and _bypassed(host, self.no_proxy):
            return None
        return proxy


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` exempts ``host``: names and domain suffixes as urllib reads them,
    ``*``, and, as curl (7.86+), Go and requests read them, CIDR blocks (``10.0.0.0/8``) and
    single addresses (``::1``) for hosts written as IP literals. An internationalised name
    matches in either form, Unicode (``bücher.example``) or punycode
    (``xn--bcher-kva.example``), whichever form the host and each entry are written in."""
    names = ",".join(_name_forms(no_proxy))
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if any(bypass(form, {"no": names}) for form in _name_forms(host)):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        try:
            if address in ipaddress.ip_network(entry.strip().strip("[]"), strict=False):
                return True
        except ValueError:
            continue
    return False


_LABEL = re.compile(r"[^.,\s]+")  # a label of a host name or of a NO_PROXY entry


@functools.lru_cache(maxsize=1024)
def _name_forms(names: str) -> tuple[str, ...]:
    """``names`` (a host, or a NO_PROXY list) as written, with every label in punycode, and
    with every label in Unicode. A label that does not convert stays as written: never raises."""
    forms = (names, _LABEL.sub(lambda m: _label(m[0], to_ascii=True), names),
             _LABEL.sub(lambda m: _label(m[0], to_ascii=False), names))
    return tuple(dict.fromkeys(forms))


def _label(label: str, *, to_ascii: bool) -> str:
    try:
        if to_ascii:
            return label if label.isascii() else idna.encode(label, uts46=True).decode("ascii")
        return idna.decode(label) if label[:4].lower() == "xn--" else label
    except (idna.IDNAError, UnicodeError, ValueError):
        return label
