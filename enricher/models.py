"""Values that cross module boundaries: links with their origins, fetch results, verdicts,
page and image metadata, per-URL results and the run result.

Everything here is a frozen, slotted dataclass or a ``str`` enum, so values serialise to
YAML/JSON as they are and can be shared between stages without defensive copies.
This module must not do I/O, import third-party libraries, or hold behaviour beyond
small derived properties.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

#: A path to a mapping inside a record's front matter: ``()`` is the root,
#: ``("related", 3)`` the fourth related item, ``("related", 3, "images", 0)`` its first image.
HolderPath = tuple[str | int, ...]


class LinkStatus(StrEnum):
    """The verdict of one URL. The only closed set of outcomes; reports count these."""

    OK = "ok"
    REDIRECTED = "redirected"
    DEAD = "dead"
    BLOCKED = "blocked"
    ERROR = "error"
    TIMEOUT = "timeout"
    INVALID = "invalid"
    SKIPPED = "skipped"


GOOD = frozenset({LinkStatus.OK, LinkStatus.REDIRECTED})  # the link works
BAD = frozenset({LinkStatus.DEAD, LinkStatus.ERROR, LinkStatus.TIMEOUT, LinkStatus.BLOCKED})


class LinkKind(StrEnum):
    """What a URL is needed for; decides how it is fetched."""

    PAGE = "page"  # article page we enrich: GET, read the head region, extract metadata
    REACH = "reach"  # reachability only (AMP URLs): HEAD, GET fallback
    IMAGE = "image"  # GET the first bytes; type and pixel size

    def serves(self, need: LinkKind) -> bool:
        """Does a result checked for this purpose answer ``need``? The same purpose does,
        and any for reachability; a page's metadata says nothing of an image, nor an
        image's size of a page (a URL stored as one and now cited as the other is fetched
        again, never revalidated or reused as what it was)."""
        return self is need or need is LinkKind.REACH


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a URL was written: record file (as displayed) and field path."""

    file: str
    field: str  # e.g. "webUrl", "images[0].url", "related[3].ampWebUrl"
    line: int | None = None  # 1-based line of the value in the file, when known


class Sources(Sequence[Origin]):
    """A URL's origins, packed: three unsigned ints per origin (file index, field index,
    line or 0 when unknown) over the run's tables of file names and field paths. A run
    keeps every origin of every URL until its reports are written; one ``Origin`` object
    each took about 70 bytes (100,000 slots: 7 MB), packed they take 12. Origins are built
    when asked for; the sequence compares equal to any sequence of the same origins."""

    __slots__ = ("_fields", "_files", "_packed")

    def __init__(self, packed: array[int], files: Sequence[str], fields: Sequence[str]) -> None:
        self._packed, self._files, self._fields = packed, files, fields

    def __len__(self) -> int:
        return len(self._packed) // 3

    @overload
    def __getitem__(self, index: int) -> Origin: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Origin, ...]: ...
    def __getitem__(self, index: int | slice) -> Origin | tuple[Origin, ...]:
        if isinstance(index, slice):
            return tuple(self._origin(i) for i in range(len(self))[index])
        return self._origin(range(len(self))[index])  # IndexError, negative indexes

    def __iter__(self) -> Iterator[Origin]:
        return (self._origin(i) for i in range(len(self)))

    def _origin(self, i: int) -> Origin:
        packed, at = self._packed, 3 * i
        return Origin(self._files[packed[at]], self._fields[packed[at + 1]],
                      packed[at + 2] or None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Sources({tuple(self)!r})"


@dataclass(frozen=True, slots=True)
class LinkRef:
    """One URL slot of one record, cleaned. ``url`` is None when the slot cannot be fetched;
    then ``status`` (invalid/skipped) and ``reason`` say why."""

    origin: Origin
    holder: HolderPath  # the mapping that holds the field
    key: str  # the field name inside ``holder`` ("webUrl", "url", ...)
    kind: LinkKind
    raw: str  # the value as written (repr-like text for non-strings), for reports
    url: str | None  # normalised URL to fetch; the dedupe key
    status: LinkStatus | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """One redirect response in a chain."""

    url: str
    status: int


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the network layer observed for one URL (after retries and redirects).

    ``failure`` is a reason token for transport-level failures (``dns``, ``dns_timeout``,
    ``dns_error``, ``tls``, ``connect``, ``reset``, ``timeout``, ``protocol``, ``proxy``,
    ``too_large``, ``decoding``, ``bad_encoding``, ``too_many_redirects``,
    ``redirect_loop``, ``bad_redirect``, ``forbidden_address``, ``forbidden_scheme``,
    ``forbidden_port``, ``invalid_url``, ``host_unreachable``, ``retry_after_too_long``);
    None when an HTTP response was received. ``enricher.net.client`` maps exceptions to
    these tokens in one function; ``enricher.classify`` turns them into verdicts.
    """

    url: str
    kind: LinkKind
    http_status: int | None = None
    final_url: str | None = None
    redirects: tuple[Hop, ...] = ()
    attempts: int = 1
    elapsed_ms: int = 0
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # selected, lower-case names
    body: bytes = b""  # capped prefix: the head region of pages, first bytes of images
    bytes_read: int = 0
    failure: str | None = None
    detail: str | None = None  # human-readable detail for failures
    not_modified: bool = False  # a conditional request got 304


@dataclass(frozen=True, slots=True)
class Verdict:
    status: LinkStatus
    reason: str
    http_status: int | None = None
    final_url: str | None = None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image: where it is (for page images) and what it is (when probed)."""

    url: str | None = None
    type: str | None = None  # "jpeg", "png", "gif", "webp", "avif", "svg", "ico", "bmp"
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class PageMeta:
    """What a live page says about itself. Fields not found are None."""

    title: str | None = None
    description: str | None = None
    site_name: str | None = None
    image: ImageInfo | None = None
    published_at: str | None = None  # ISO 8601
    canonical_url: str | None = None
    amp_url: str | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The outcome for one distinct URL, fanned out to every origin. The results
    JSON Lines contract is a rendering of this value."""

    url: str
    kind: LinkKind
    status: LinkStatus
    reason: str
    http_status: int | None = None
    final_url: str | None = None
    redirects: tuple[str, ...] = ()
    attempts: int = 0
    elapsed_ms: int = 0
    checked_at: str = ""  # ISO 8601 UTC
    content_type: str | None = None
    sources: Sequence[Origin] = ()  # a tuple, or packed (Sources) by the pipeline
    page: PageMeta | None = None
    image: ImageInfo | None = None
    reused: bool = False  # taken from history (--max-age) instead of fetched
    since: str | None = None  # when this status was first seen
    confirmed: bool | None = None  # dead in enough consecutive runs (history)
    bytes_read: int = 0
    detail: str | None = None  # what the failure said (a certificate expired...); failures only


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be read or written. ``line`` is 1-based when known."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        """One line always: when a character is unprintable (a newline or tab in a file name)
        each such character is escaped as ``repr`` would (``\\n``), an undecodable byte of
        a name as ``\\xff`` and a backslash as ``\\\\`` (like ``ls -b``)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return shown_name(f"{where}: {self.message}")

    @classmethod
    def not_checked(cls, file: str, message: str, line: int | None) -> RecordError:
        """A structurally bad record, which check, enrich and links all leave alone."""
        return cls(file, f"{message} (record not checked)", line)


# up to the last "@", whatever comes before it: httpx splits "user:pa@ss@host" at the last
# one, and a password holding "/", "?" or "#" is no URL at all, but still a password
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?.*@", re.DOTALL)


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, for messages and stored run
    options (a proxy URL may carry credentials)."""
    return _USERINFO.sub(lambda m: f"{m.group(1) or ''}***@", url, count=1)


MAX_PATHS_KEPT = 20  # paths a run's options keep (a shell glob gives thousands)


def run_options(options: Mapping[str, object]) -> dict[str, object]:
    """A run's options as reports and the history keep them: no credentials (a proxy URL's
    userinfo, the values of ``--header``), and the first ``MAX_PATHS_KEPT`` paths with a
    count of the others (``recs/*.md`` over 16,700 files made each run row 300 KB, and
    ``enricher report`` read 1,000 of them)."""
    out: dict[str, object] = {}
    for key, value in options.items():
        if key == "proxy" and isinstance(value, str):
            value = without_userinfo(value)
        elif key in ("header", "headers") and isinstance(value, list | tuple):
            value = [f"{str(h).split(':', 1)[0]}: ***" for h in value]
        elif key == "paths" and isinstance(value, list | tuple) and len(value) > MAX_PATHS_KEPT:
            value = [*value[:MAX_PATHS_KEPT], f"... and {len(value) - MAX_PATHS_KEPT} more"]
        out[key] = value
    return out


def undecodable_byte(c: str) -> str:
    """A file name's undecodable byte (``os.fsdecode`` makes it a lone surrogate, U+DC80 to
    U+DCFF) as ``ls -b`` shows it: ``\\xff``."""
    return f"\\x{ord(c) - 0xDC00:02x}"


def shown_name(name: str) -> str:
    """``name`` on one line, as ``ls -b`` shows it: unchanged when every character is
    printable, else each unprintable character escaped as ``repr`` would (``\\n``, ``\\t``,
    ``\\x1b``, ``\\u2028``), an undecodable byte as ``\\xff`` and a backslash as ``\\\\``."""
    if name.isprintable():
        return name
    return "".join(
        c if c.isprintable() and c != "\\"
        else undecodable_byte(c) if "\udc80" <= c <= "\udcff"
        else repr(c)[1:-1]
        for c in name
    )


@dataclass(frozen=True, slots=True)
class RecordCounts:
    read: int = 0
    failed: int = 0  # unreadable or unwritable records
    changed: int = 0  # written (or, with --dry-run, would be written)
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class StillDead:
    url: str
    since: str  # ISO 8601, first dead verdict
    days: float  # age of the dead state at the end of this run


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since the previous run (computed by history; lists of URLs)."""

    newly_dead: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()
    still_dead: tuple[StillDead, ...] = ()
    newly_redirected: tuple[str, ...] = ()
    flapping: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.newly_dead
            or self.recovered
            or self.still_dead
            or self.newly_redirected
            or self.flapping
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run, whole: what reports render. Every renderer counts from this value."""

    command: str
    started_at: str
    finished_at: str
    results: tuple[LinkResult, ...]
    slot_results: tuple[LinkRef, ...]  # invalid/skipped slots (no fetch)
    record_errors: tuple[RecordError, ...]
    records: RecordCounts
    requests: int = 0
    bytes_read: int = 0
    aborted: str | None = None  # reason when the run was aborted
    options: Mapping[str, object] = field(default_factory=dict)
    changes: Changes | None = None  # what changed since the previous run (with a history)
    elapsed: float | None = None  # seconds it took, measured; None: from the two timestamps
