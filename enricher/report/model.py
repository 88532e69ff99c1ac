"""The one result model every report renders: pure functions over a ``RunResult``.

Every renderer (summary, JSON, JSON Lines, Markdown, CSV, HTML, JUnit) counts, lists and
orders links only through the functions here, so all formats agree on every number.

What a "link" is, for counting:

* a fetched URL is one link: one ``LinkResult`` (already one per distinct URL), whatever the
  number of records and fields citing it;
* slots that were never fetched (``run.slot_results``: status ``invalid`` or ``skipped``) are
  per slot; they are grouped into one link per distinct (status, reason, text), where the
  text is the value as written (such slots keep no URL, policy skips included). So the
  same bad value written in 40 records is one ``invalid`` link with 40 sources, exactly like
  a good URL cited 40 times.

The change report of nightly runs (``Changes``) is computed by the history module and handed
to renderers as a value; nothing here reads history.

This module must not do I/O, import rich, or know about any output format.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from enricher.models import (
    BAD,
    Changes,
    LinkKind,
    LinkRef,
    LinkResult,
    LinkStatus,
    Origin,
    RunResult,
    StillDead,
    undecodable_byte,
)
from enricher.signals import lands_elsewhere
from enricher.textclean import hidden_characters

__all__ = ["Changes", "StillDead"]

#: Statuses that mean "the site or the network failed us" (top failing hosts): the bad ones.
FAILURE_STATUSES: frozenset[LinkStatus] = BAD
STATUS_ORDER: tuple[LinkStatus, ...] = tuple(LinkStatus)


@dataclass(frozen=True, slots=True)
class Entry:
    """One link as reports show it: a fetched URL, or a group of never-fetched slots.

    ``result`` is the fetch outcome (None for slots); ``raw`` is the value as written (None
    for fetched URLs, whose slots may spell the URL differently)."""

    url: str | None
    raw: str | None
    kind: LinkKind
    status: LinkStatus
    reason: str
    sources: Sequence[Origin]
    result: LinkResult | None = None
    host: str = ""  # lower-case host name of ``url``; "" without one

    @property
    def label(self) -> str:
        """What to show for this link: the URL, else the value as written."""
        return self.url if self.url is not None else (self.raw or "")


@dataclass(frozen=True, slots=True)
class HostFailures:
    host: str
    failing: int  # distinct failing URLs on this host
    total: int  # distinct URLs on this host
    by_status: tuple[tuple[LinkStatus, int], ...]  # failing statuses, most common first


@dataclass(frozen=True, slots=True)
class Totals:
    links: int  # sum of counts_by_status
    urls: int  # distinct fetched URLs
    sources: int  # record fields citing a link
    failing: int  # links whose status is in fail_on
    elapsed_s: float | None  # RunResult.elapsed, else finished_at - started_at; None: unknown
    requests: int
    bytes_read: int
    record_errors: int = 0  # records that could not be read or written


#: Change tags in display order; each names a field of ``Changes``.
CHANGE_KINDS: tuple[str, ...] = (
    "newly_dead",
    "recovered",
    "still_dead",
    "newly_redirected",
    "flapping",
)


def counted(n: int, noun: str) -> str:
    """``1 request``, ``2 requests``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _slot_entries(slots: Iterable[LinkRef]) -> list[Entry]:
    # one entry per URL; without one, per text as written and kind (an empty image url and
    # an empty webUrl are two entries: one kind each)
    groups: dict[tuple[LinkStatus, str, bool, str, str], list[LinkRef]] = {}
    for ref in slots:
        status = ref.status or LinkStatus.INVALID
        reason = ref.reason or status.value
        key = (status, reason, ref.url is not None, ref.url if ref.url is not None else ref.raw,
               "" if ref.url is not None else ref.kind.value)
        groups.setdefault(key, []).append(ref)
    entries = [
        Entry(
            url=refs[0].url,
            raw=refs[0].raw,
            kind=refs[0].kind,
            status=status,
            reason=reason,
            sources=tuple(r.origin for r in refs),
            host=host_of(refs[0].url) if refs[0].url else "",
        )
        for (status, reason, _, _, _), refs in groups.items()
    ]
    entries.sort(key=lambda e: (STATUS_ORDER.index(e.status), e.label, e.reason))
    return entries


#: The last run's entries. A ``RunResult`` is immutable, so identity is a safe key; renderers
#: ask for the entries several times per report and building them is the costly part.
_last: tuple[RunResult, tuple[Entry, ...]] | None = None


def entries(run: RunResult) -> tuple[Entry, ...]:
    """Every link of the run, in report order: fetched URLs by URL, then slot groups."""
    global _last
    cached = _last
    if cached is not None and cached[0] is run:
        return cached[1]
    built = _build_entries(run)
    _last = (run, built)
    return built


def _build_entries(run: RunResult) -> tuple[Entry, ...]:
    fetched = [
        Entry(
            url=r.url,
            raw=None,
            kind=r.kind,
            status=r.status,
            reason=r.reason,
            sources=r.sources,
            result=r,
            host=host_of(r.url),
        )
        for r in sorted(run.results, key=lambda r: r.url)
    ]
    return (*fetched, *_slot_entries(run.slot_results))


def counts_by_status(run: RunResult) -> dict[LinkStatus, int]:
    """Links per status, every status present (zeros included), in ``LinkStatus`` order."""
    counted = Counter(e.status for e in entries(run))
    return {s: counted.get(s, 0) for s in STATUS_ORDER}


def fail_statuses(fail_on: Iterable[str]) -> frozenset[LinkStatus]:
    """``--fail-on`` names as statuses; an unknown name is a one-line ValueError."""
    out = set()
    for name in fail_on:
        try:
            out.add(LinkStatus(name))
        except ValueError:
            valid = ", ".join(s.value for s in STATUS_ORDER)
            raise ValueError(f"unknown status {name!r} in fail-on; use some of: {valid}") from None
    return frozenset(out)


def links_with_status(run: RunResult, status: LinkStatus) -> tuple[Entry, ...]:
    return tuple(e for e in entries(run) if e.status is status)


def top_failing_hosts(
    run: RunResult, n: int = 10, statuses: frozenset[LinkStatus] = FAILURE_STATUSES
) -> tuple[HostFailures, ...]:
    """The ``n`` hosts with most failing distinct URLs (ties: by host name)."""
    total: Counter[str] = Counter()
    failing: dict[str, Counter[LinkStatus]] = {}
    for e in entries(run):
        if e.url is None:
            continue
        total[e.host] += 1
        if e.status in statuses:
            failing.setdefault(e.host, Counter())[e.status] += 1
    ranked = sorted(failing.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return tuple(
        HostFailures(
            host=host,
            failing=sum(c.values()),
            total=total[host],
            by_status=tuple(sorted(c.items(), key=lambda kv: (-kv[1], STATUS_ORDER.index(kv[0])))),
        )
        for host, c in ranked[: max(n, 0)]
    )


def redirects_worth_updating(run: RunResult) -> tuple[Entry, ...]:
    """Permanent redirects to a different, working URL: the fields could cite the target.
    Not one to a page that is no article (a front page, a section, a listing, a gate:
    ``lands_elsewhere``), which ``--update-redirects`` refuses too."""
    return tuple(
        e
        for e in entries(run)
        if e.status is LinkStatus.REDIRECTED
        and e.result is not None
        and e.result.final_url
        and e.result.final_url != e.url
        and not lands_elsewhere(e.result.url, e.result.final_url)
    )


def elapsed_seconds(started_at: str, finished_at: str) -> float | None:
    try:
        start = datetime.fromisoformat(started_at)
        end = datetime.fromisoformat(finished_at)
        return max((end - start).total_seconds(), 0.0)
    except (ValueError, TypeError):
        return None


def totals(run: RunResult, fail_on: Iterable[str] = ()) -> Totals:
    all_entries = entries(run)
    failing = fail_statuses(fail_on)
    return Totals(
        links=len(all_entries),
        urls=len(run.results),
        sources=sum(len(e.sources) for e in all_entries),
        failing=sum(1 for e in all_entries if e.status in failing),
        elapsed_s=run.elapsed if run.elapsed is not None else elapsed_seconds(
            run.started_at, run.finished_at),
        requests=run.requests,
        bytes_read=run.bytes_read,
        record_errors=len(run.record_errors),
    )


def change_tags(changes: Changes | None) -> dict[str, tuple[str, ...]]:
    """URL -> the change kinds it appears under (for per-link columns and JSON lines)."""
    tags: dict[str, list[str]] = {}
    if changes is None:
        return {}
    for kind in CHANGE_KINDS:
        for url in change_urls(changes, kind):
            kinds = tags.setdefault(url, [])
            if kind not in kinds:
                kinds.append(kind)
    return {url: tuple(kinds) for url, kinds in tags.items()}


def change_urls(changes: Changes, kind: str) -> tuple[str, ...]:
    if kind == "still_dead":
        return tuple(s.url for s in changes.still_dead)
    value: tuple[str, ...] = getattr(changes, kind)
    return value


# --- small display helpers shared by the text renderers -------------------------------------

# controls, invisible and bidi formatting, line and paragraph separators, BOM, non-characters,
# lone surrogates; with textclean's INVISIBLE (tag characters...) and ZWNJ/ZWJ that join nothing
# (between emoji or letters of a script that needs them they stay)
_CONTROLS = ("\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069"
             "\ufeff\ufffe\uffff\ud800-\udfff")
_UNPRINTABLE = hidden_characters(f"\x00-\x1f{_CONTROLS}")
_UNPRINTABLE_KEEP_LINES = hidden_characters(f"\x00-\x08\x0b-\x1f{_CONTROLS}")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Text safe to show: control, bidi-override, invisible format (tag characters), BOM,
    non-characters and lone surrogates become visible escapes (``\\x1b``, ``\\u202e``,
    ``\\U000e0041``), and so does a ZWNJ/ZWJ that joins nothing; a flag emoji spelt with tag
    characters stays. With ``keep_newlines`` tabs and newlines stay. Also what XML 1.0 can
    carry."""
    pattern = _UNPRINTABLE_KEEP_LINES if keep_newlines else _UNPRINTABLE
    return pattern.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    if match[1]:  # a flag emoji spelt with tag characters
        return match[1]
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a file name's undecodable byte, shown as shown_name does
        return undecodable_byte(match.group())
    if code > 0xFFFF:
        return f"\\U{code:08x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def origin_text(origin: Origin) -> str:
    """``file:line field`` (line omitted when unknown)."""
    where = f"{origin.file}:{origin.line}" if origin.line else origin.file
    return f"{where} {origin.field}"


def run_line(run: RunResult, t: Totals, code: Callable[[str], str] = str,
             text: Callable[[str], str] = str) -> str:
    """The report's one line about the run (``code`` marks the command up, ``text`` escapes
    values). A report from the history (``enricher report``) shows the last finished run's
    times, not its requests or records, which the history does not keep (they showed as 0)."""
    head = (f"{code('enricher ' + run.command)} · started {text(run.started_at)} · finished "
            f"{text(run.finished_at)} · run time {human_seconds(t.elapsed_s)}")
    if run.command == "report":
        return f"{head} (the last finished run in {text(str(run.options.get('state')))})"
    return (f"{head} · {counted(t.requests, 'request')} · {human_bytes(t.bytes_read)} · "
            f"{counted(run.records.read, 'record')} read, {run.records.changed} changed, "
            f"{run.records.failed} failed")


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover - loop always returns


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {sec} s"
