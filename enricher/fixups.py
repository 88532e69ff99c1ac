"""Two pieces of the fix-ups that change a record's own fields (pure), beside
``enrich.build_edits`` (where ``--update-redirects`` and ``--fill-missing`` decide).

- ``cdn_follows``: a ``cdnAmpWebUrl`` built from the ``ampWebUrl`` that a fix-up replaces is
  rebuilt from the new one (else the next run would find it mismatched); ``cache_url_kept``:
  a ``cdnAmpWebUrl``'s own redirect is written only to its ``ampWebUrl``'s cache URL.
- ``prune_dead``: ``--prune-dead`` moves related items whose ``webUrl`` is confirmed dead to
  ``deadRelated`` (a ``spans.MoveItems`` edit: their text moves verbatim).

This module must not do I/O, decide verdicts or touch ``linkCheck``/``livePage`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from enricher.links import amp_cache_url, same_amp_cache_url
from enricher.models import HolderPath, LinkRef, LinkResult, LinkStatus
from enricher.spans import MoveItems


def cdn_follows(slot: LinkRef, new: str, holder: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"cdnAmpWebUrl": ...}`` rebuilt for ``new`` when ``slot`` is the holder's
    ``ampWebUrl`` and its cache URL was built from the old one; else nothing."""
    cdn = holder.get("cdnAmpWebUrl") if holder is not None else None
    rebuilt = amp_cache_url(new)
    if slot.key == "ampWebUrl" and isinstance(cdn, str) and slot.url and rebuilt and \
            (old := amp_cache_url(slot.url)) and same_amp_cache_url(old, cdn.strip()):
        return {"cdnAmpWebUrl": rebuilt}
    return {}


def cache_url_kept(slot: LinkRef, new: str, holder: Mapping[str, Any] | None) -> bool:
    """May ``--update-redirects`` write ``new`` over ``slot``? Not over a ``cdnAmpWebUrl``
    unless ``new`` is the cache URL of the holder's ``ampWebUrl`` still: a cache that sends
    its URL on to the publisher's page made the field a non-cache URL, which the next run
    found mismatched (``amp_cache_mismatch``), losing the old URL's ``previousUrl``."""
    if slot.key != "cdnAmpWebUrl":
        return True
    amp = holder.get("ampWebUrl") if holder is not None else None
    built = amp_cache_url(amp.strip()) if isinstance(amp, str) else None
    return built is not None and same_amp_cache_url(built, new)


def prune_dead(
    data: Mapping[str, Any],
    slots: Sequence[LinkRef],
    results: Mapping[str, LinkResult],
    edits: dict[HolderPath, dict[str, Any]],
) -> None:
    """``--prune-dead``: move related items whose webUrl is confirmed dead into
    ``deadRelated`` (appended, with their linkCheck), keeping every other item in order. The
    move is one ``MoveItems`` edit: the items' text moves as it is, their own edits with it."""
    related = data.get("related")
    if not isinstance(related, list):
        return
    dead: set[int] = set()
    for slot in slots:
        result = results.get(slot.url) if slot.url else None
        if (
            len(slot.holder) == 2
            and slot.holder[0] == "related"
            and slot.key == "webUrl"
            and result is not None
            and result.status is LinkStatus.DEAD
            and result.confirmed  # by the history: a record's entry is not tied to its URL
        ):
            dead.add(int(slot.holder[1]))
    if dead:
        edits.setdefault((), {})["related"] = MoveItems(tuple(sorted(dead)), "deadRelated")
