"""Front matter -> URL slots: every URL field of a record as a ``LinkRef`` with its origin.

Which fields hold URLs, and what each is for, is the one table ``URL_FIELDS`` below. The walk
reads only those keys of mappings it knows (the root, ``related`` items, image items, the
provider) and never descends into anything else: front matter may be an alias bomb or contain
self-referential lists, so unknown values are never recursed into, repr'd or serialised.
Values are cleaned by ``enricher.net.urls``; a slot that cannot be fetched keeps ``url=None``
with the status and reason of the rejection. Shape problems (``related`` not a list, an item
not a mapping, too many URLs) are collected as record-level problem lines; nothing raises.

Also here: ``dedupe`` (url -> its slots) and ``amp_cache_url`` (the mechanical Google AMP
cache URL of an AMP URL, for checking ``cdnAmpWebUrl`` without fetching it twice).
This module must not import yaml or httpx, or do I/O.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from sys import intern
from typing import Any, NamedTuple
from urllib.parse import unquote

import idna

from enricher.config import (
    DEFAULT_ALLOWED_LOW_PORTS,
    DEFAULT_MAX_URL_LENGTH,
    DEFAULT_MAX_URLS_PER_RECORD,
)
from enricher.models import HolderPath, LinkKind, LinkRef, Origin
from enricher.net.urls import Rejected, clean_url

PAGE, REACH, IMAGE = LinkKind.PAGE, LinkKind.REACH, LinkKind.IMAGE

#: Which fields hold URLs, and what each is for: the one table. ``name[]`` is a list of
#: mappings. ``provider.images`` and the root AMP fields occur in real records (SmartableAI
#: exports) beside the fields of ``related`` items, so they are checked the same way.
URL_FIELDS: tuple[tuple[str, LinkKind], ...] = (
    ("originalUrl", PAGE),
    ("webUrl", PAGE),
    ("ampWebUrl", REACH),
    ("cdnAmpWebUrl", REACH),
    ("images[].url", IMAGE),
    ("provider.images[].url", IMAGE),
    ("related[].webUrl", PAGE),
    ("related[].ampWebUrl", REACH),
    ("related[].cdnAmpWebUrl", REACH),
    ("related[].images[].url", IMAGE),
)


@dataclass(frozen=True, slots=True)
class _Holder:
    """A field whose value holds URL fields: a mapping, or a list of mappings."""

    is_list: bool
    fields: Mapping[str, LinkKind | _Holder]


def _compile(table: tuple[tuple[str, LinkKind], ...]) -> Mapping[str, LinkKind | _Holder]:
    """URL_FIELDS -> nested schema {key: kind or holder}, checked for contradictions."""
    root: dict[str, Any] = {}
    for path, kind in table:
        *steps, last = path.split(".")
        node = root
        for step in steps:
            name, is_list = step.removesuffix("[]"), step.endswith("[]")
            is_list_now, child = node.setdefault(name, (is_list, {}))
            if is_list_now != is_list:
                raise ValueError(f"URL_FIELDS: {name!r} is both a list and a mapping")
            node = child
        node[last] = kind

    def freeze(node: dict[str, Any]) -> Mapping[str, LinkKind | _Holder]:
        return {
            key: value if isinstance(value, LinkKind) else _Holder(value[0], freeze(value[1]))
            for key, value in node.items()
        }

    return freeze(root)


_SCHEMA = _compile(URL_FIELDS)

_RAW_CAP = 200  # characters of the short text shown for non-string values
_AMP_CACHE_DOMAIN = "cdn.ampproject.org"
_MAX_LABEL = 63

LineOf = Callable[[HolderPath, str | int], int | None]  # key, or index in a list


class ShapeProblem(NamedTuple):
    """A field whose shape is not what records use: one human line (naming the field and
    the fix) and the 1-based file line of the field when known."""

    message: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class LinkSlots:
    refs: tuple[LinkRef, ...]  # every URL slot, in document order
    problems: tuple[ShapeProblem, ...]  # record-level problems


# holder paths ("related", 3, "images", 0) repeat across records: one tuple each (bounded:
# paths beyond the cap are not kept)
_HOLDERS: dict[HolderPath, HolderPath] = {}
_HOLDERS_MAX = 4096


def _shared(holder: HolderPath) -> HolderPath:
    found = _HOLDERS.get(holder)
    if found is None:
        if len(_HOLDERS) >= _HOLDERS_MAX:
            return holder
        found = _HOLDERS[holder] = holder
    return found


class _Cap(Exception):
    """Raised inside the walk when the per-record URL cap is reached."""


def extract_links(
    data: Mapping[str, Any],
    file: str,
    line_of: LineOf | None = None,
    *,
    max_urls: int = DEFAULT_MAX_URLS_PER_RECORD,
    max_length: int = DEFAULT_MAX_URL_LENGTH,
    allowed_low_ports: frozenset[int] = DEFAULT_ALLOWED_LOW_PORTS,
) -> LinkSlots:
    """Every URL slot of one record's front matter, cleaned, in document order.

    Missing fields give no slot; present but unusable values (null, "", 42, "ftp://...") give
    a slot with ``url=None``. ``line_of(holder, key)`` returns the 1-based line of a value
    when the caller knows it (the records module does).
    """
    refs: list[LinkRef] = []
    problems: list[ShapeProblem] = []

    def where(holder: HolderPath, key: str | int) -> int | None:
        return line_of(holder, key) if line_of is not None else None

    def slot(holder: HolderPath, field: str, key: str, kind: LinkKind, value: object) -> None:
        if len(refs) >= max_urls:
            raise _Cap
        cleaned = clean_url(value, max_length=max_length, allowed_low_ports=allowed_low_ports)
        # field names repeat across records and a clean URL is often the text as written:
        # one string object each, which pickling to the main process keeps shared (memory)
        origin = Origin(file, intern(field), where(holder, key))
        raw = value if isinstance(value, str) else _short_repr(value)
        if isinstance(cleaned, Rejected):
            refs.append(
                LinkRef(origin, holder, key, kind, raw, None, cleaned.status, cleaned.reason)
            )
        else:
            url = cleaned.url
            refs.append(LinkRef(origin, _shared(holder), intern(key), kind,
                                url if raw == url else raw, url))

    def walk(
        holder: HolderPath, prefix: str, mapping: Mapping[Any, Any], fields: Mapping[str, Any]
    ) -> None:
        """``prefix`` is the field name of ``holder`` with a trailing dot ("related[3].")."""
        for key in mapping:  # document order; only keys we know are looked at
            spec = fields.get(key) if isinstance(key, str) else None
            if spec is None:
                continue
            value = mapping[key]
            if isinstance(spec, LinkKind):
                slot(holder, prefix + key, key, spec, value)
            elif value is None:
                continue  # "images:" with nothing under it: no slots, not a problem
            elif not spec.is_list:
                if isinstance(value, Mapping):
                    walk((*holder, key), f"{prefix}{key}.", value, spec.fields)
                else:
                    problems.append(ShapeProblem(
                        f"{prefix}{key} is not a mapping; write it as 'key: value' fields",
                        where(holder, key)))
            elif not _is_list(value):
                problems.append(ShapeProblem(
                    f"{prefix}{key} is not a list; write it as a list of '- ' items",
                    where(holder, key)))
            else:
                bad: list[int] = []
                bad_count = 0
                for index, item in enumerate(value):
                    if isinstance(item, Mapping):
                        walk((*holder, key, index), f"{prefix}{key}[{index}].", item, spec.fields)
                    else:
                        bad_count += 1
                        if len(bad) < 3:
                            bad.append(index)
                if bad_count:
                    problems.append(ShapeProblem(_not_mappings(prefix + key, bad, bad_count),
                                                 where((*holder, key), bad[0])))  # the first

    if not isinstance(data, Mapping):
        return LinkSlots((), (ShapeProblem("front matter is not a mapping"),))
    try:
        walk((), "", data, _SCHEMA)
    except _Cap:
        problems.append(ShapeProblem(
            f"more than {max_urls} URLs in one record; split the record"))
    finally:
        # ``walk`` refers to itself through its closure cell: a reference cycle that would
        # keep the record (through ``line_of``) and its whole YAML node tree alive until the
        # cyclic GC runs. Breaking it lets reference counting free a record at once.
        walk = None  # type: ignore[assignment]
    return LinkSlots(tuple(refs), tuple(problems))


def dedupe(refs: Iterable[LinkRef]) -> dict[str, list[LinkRef]]:
    """url -> every slot that holds it, in first-seen order. Slots without a url are left out."""
    by_url: dict[str, list[LinkRef]] = {}
    for ref in refs:
        if ref.url is not None:
            by_url.setdefault(ref.url, []).append(ref)
    return by_url


def amp_cache_url(amp_url: str) -> str | None:
    """The Google AMP cache URL of an AMP page URL, computed, not fetched; None if ``amp_url``
    is not a clean-able http(s) URL on the default port with a host name.

    ``https://www.techspot.com/amp/x`` -> ``https://www-techspot-com.cdn.ampproject.org/c/s/
    www.techspot.com/amp/x`` (``http:`` drops ``/s``). The subdomain follows the published
    algorithm (and amp-toolbox's test vectors): host to Unicode, ``-`` -> ``--``, ``.`` -> ``-``,
    ``0-``/``-0`` around a result with ``--`` at positions 3-4, back to punycode; a SHA-256
    base32 label when the host has no dot, is over 63 characters, mixes left-to-right and
    right-to-left scripts, or the label would be too long.
    """
    cleaned = clean_url(amp_url)
    if isinstance(cleaned, Rejected) or ":" in cleaned.host:
        return None
    scheme, _, rest = cleaned.url.partition("://")
    if cleaned.port != (443 if scheme == "https" else 80):
        return None
    host = cleaned.host
    path = rest[rest.index("/") :]
    secure = "s/" if scheme == "https" else ""
    cache = clean_url(
        f"https://{_curls_subdomain(host)}.{_AMP_CACHE_DOMAIN}/c/{secure}{host}{path}"
    )
    return None if isinstance(cache, Rejected) else cache.url  # comparable with cleaned URLs


def same_amp_cache_url(expected: str, found: str) -> bool:
    """Whether a record's ``cdnAmpWebUrl`` (cleaned, ``found``) is the cache URL ``expected``
    (``amp_cache_url``) as the cache reads them: percent-escapes of unreserved characters are
    those characters (``%7E`` is ``~``) and other escapes' hex case does not matter, the
    origin host in the path may be written in Unicode (``/c/s/點看.com/``), and a bare
    origin's path may lack its slash (``/c/s/www.example.com``, amp-toolbox's own form)."""
    return expected == found or _amp_key(expected) == _amp_key(found)


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_CACHE_ORIGIN = re.compile(r"(/c/(?:s/)?)([^/?#]+)(.*)", re.S)


def _amp_key(url: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = chr(int(match[1], 16))
        return char if char in _UNRESERVED else "%" + match[1].upper()

    head, _, path = url.partition(f".{_AMP_CACHE_DOMAIN}")
    origin = _CACHE_ORIGIN.fullmatch(_ESCAPE.sub(escape, path))
    if origin is None:
        return head + path
    prefix, host, rest = origin.groups()
    try:
        host = idna.encode(unquote(host), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        host = host.lower()
    return f"{head}{prefix}{host}{'' if rest == '/' else rest}"


# --- implementation ---------------------------------------------------------------------------


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def _not_mappings(name: str, first: list[int], count: int) -> str:
    shown = ", ".join(f"{name}[{i}]" for i in first)
    more = f" and {count - len(first)} more" if count > len(first) else ""
    verb = "is" if count == 1 else "are"
    return f"{shown}{more} {verb} not a mapping; write each item as 'key: value' fields"


def _s(items: Sized) -> str:
    return "" if len(items) == 1 else "s"


def _short_repr(value: object) -> str:
    """Text for a non-string value, without walking into it (it may be huge or recursive)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return f"<list of {len(value)} item{_s(value)}>"
    if isinstance(value, Mapping):
        return f"<mapping of {len(value)} key{_s(value)}>"
    if isinstance(value, (set, frozenset)):
        return f"<set of {len(value)} item{_s(value)}>"
    if isinstance(value, (bytes, bytearray)):
        return f"<binary, {len(value)} byte{_s(value)}>"
    if isinstance(value, (int, float)):
        try:
            text = repr(value)
        except ValueError:  # an int too long to print (sys.set_int_max_str_digits)
            return "<very large number>"
        return text[:_RAW_CAP]
    try:
        return str(value)[:_RAW_CAP]  # dates, datetimes
    except Exception:  # an unknown type must not stop the record
        return f"<{type(value).__name__}>"


def _to_unicode(host: str) -> str:
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            label = label[4:].encode("ascii").decode("punycode")
        labels.append(label)
    return ".".join(labels)


def _mixes_directions(text: str) -> bool:
    kinds = {unicodedata.bidirectional(ch) for ch in text}
    return "L" in kinds and bool(kinds & {"R", "AL"})


def _hashed_subdomain(host: str) -> str:
    digest = hashlib.sha256(host.encode("ascii")).digest()
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def _curls_subdomain(host: str) -> str:
    """The AMP cache subdomain of a punycode host (see ``amp_cache_url``)."""
    if "." not in host or len(host) > _MAX_LABEL:
        return _hashed_subdomain(host)
    try:
        unicode = _to_unicode(host)
    except UnicodeError:
        return _hashed_subdomain(host)
    if _mixes_directions(unicode):
        return _hashed_subdomain(host)
    label = unicode.replace("-", "--").replace(".", "-")
    if label[2:4] == "--":
        label = f"0-{label}-0"
    if not label.isascii():
        label = "xn--" + label.encode("punycode").decode("ascii")
    if len(label) > _MAX_LABEL:
        return _hashed_subdomain(host)
    return label
