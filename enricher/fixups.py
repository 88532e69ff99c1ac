"""The fix-ups that change a record's own fields (pure), beside ``enrich.build_edits``.

- ``cdn_follows``: a ``cdnAmpWebUrl`` built from the ``ampWebUrl`` that a fix-up replaces is
  rebuilt from the new one (else the next run would find it mismatched).
- ``undo_target``: ``--update-redirects`` wrote a permanent redirect's target over a URL and
  kept the old one in ``linkCheck.<field>.previousUrl``; when that target is later confirmed
  dead (a site whose 301 was a mistake, reverted), the field goes back to the old URL, which
  the next run checks, rather than the item being pruned for a URL the record never had.
- ``prune_dead``: ``--prune-dead`` moves related items whose ``webUrl`` is confirmed dead to
  ``deadRelated`` (a ``spans.MoveItems`` edit: their text moves verbatim), except an item
  whose ``webUrl`` goes back to its old URL in this run.

This module must not do I/O, decide verdicts or touch ``linkCheck``/``livePage`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from enricher.links import amp_cache_url
from enricher.models import HolderPath, LinkRef, LinkResult, LinkStatus
from enricher.spans import MoveItems


def cdn_follows(slot: LinkRef, new: str, holder: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"cdnAmpWebUrl": ...}`` rebuilt for ``new`` when ``slot`` is the holder's
    ``ampWebUrl`` and its cache URL was built from the old one; else nothing."""
    cdn = holder.get("cdnAmpWebUrl") if holder is not None else None
    rebuilt = amp_cache_url(new)
    if slot.key == "ampWebUrl" and isinstance(cdn, str) and slot.url and rebuilt and \
            amp_cache_url(slot.url) == cdn.strip():
        return {"cdnAmpWebUrl": rebuilt}
    return {}


def undo_target(slot: LinkRef, result: LinkResult | None,
                entry: Mapping[str, Any]) -> str | None:
    """The URL ``--update-redirects`` replaced by ``slot``'s, when ``slot``'s is confirmed
    dead and its entry still names the old one; else None."""
    old = entry.get("previousUrl")
    if result is None or result.status is not LinkStatus.DEAD or not result.confirmed:
        return None
    return old if isinstance(old, str) and old.strip() and old != slot.raw else None


def prune_dead(
    data: Mapping[str, Any],
    slots: Sequence[LinkRef],
    results: Mapping[str, LinkResult],
    edits: dict[HolderPath, dict[str, Any]],
) -> None:
    """``--prune-dead``: move related items whose webUrl is confirmed dead into
    ``deadRelated`` (appended, with their linkCheck), keeping every other item in order. The
    move is one ``MoveItems`` edit: the items' text moves as it is, their own edits with it.
    An item whose webUrl this run sets back (``undo_target``) stays."""
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
            and result.confirmed
            and "webUrl" not in edits.get(slot.holder, {})
        ):
            dead.add(int(slot.holder[1]))
    if dead:
        edits.setdefault((), {})["related"] = MoveItems(tuple(sorted(dead)), "deadRelated")
