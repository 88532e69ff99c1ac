"""Turn one record's link results into edits of that record (pure).

Input: the record's front-matter mapping, its URL slots and the results by URL. Output: a
mapping ``holder path -> {key: value}`` that ``records.apply_edits`` writes surgically.
enricher owns two keys, ``linkCheck`` and ``livePage`` (see the README's record contract);
the opt-in fix-ups (``--fill-missing``) may also fill empty ``title``, ``excerpt`` and
``images`` but never overwrite a value that is present; ``--prune-dead`` moves confirmed dead
``related`` items to ``deadRelated`` (a ``spans.MoveItems`` edit: their text moves verbatim).

Stability rule: a run whose results did not change must not change a byte: entries hold no
per-run details (check time, elapsed, attempts); ``since`` carries over while the status holds.

This module must not do I/O, import yaml, httpx or selectolax.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from enricher.fixups import cache_url_kept, cdn_follows, prune_dead
from enricher.livepage import LIVE_PAGE as LIVE_PAGE
from enricher.livepage import kept_image, live_page, page_image
from enricher.livepage import with_probe as with_probe  # app's
from enricher.models import (
    BAD,
    GOOD,
    HolderPath,
    LinkKind,
    LinkRef,
    LinkResult,
    LinkStatus,
    Origin,
    PageMeta,
)
from enricher.net.urls import fragment, reads_back
from enricher.signals import lands_elsewhere
from enricher.textsim import title_drift

LINK_CHECK = "linkCheck"
#: which slot of a holder describes the holder's own page, in order of preference
_PAGE_KEYS = ("webUrl", "originalUrl")


@dataclass(frozen=True, slots=True)
class EnrichOptions:
    now: str  # the run's start time, ISO 8601 UTC: ``since`` for statuses first seen now
    fill_missing: bool = False
    history: bool = False  # results carry confirmation: unconfirmed failures change nothing
    update_redirects: bool = False
    prune_dead: bool = False
    # --update-redirects on these URL fields only (holder, key); None: on every one (the
    # writer narrows it when a record's text cannot take one fix: an aliased URL)
    fix_only: frozenset[tuple[HolderPath, str]] | None = None


def holder_mapping(data: Mapping[str, Any], holder: HolderPath) -> Mapping[str, Any] | None:
    """The mapping at ``holder`` inside ``data``, or None when the path does not lead to one."""
    node: Any = data
    for step in holder:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, Mapping) else None


def _previous_entry(holder: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    if holder is None:
        return {}
    block = holder.get(LINK_CHECK)
    entry = block.get(key) if isinstance(block, Mapping) else None
    return entry if isinstance(entry, Mapping) else {}


def _later(moment: str, than: str) -> bool:
    """Whether ISO time ``moment`` is after ``than`` (False when either is not a time)."""
    try:
        a, b = (datetime.fromisoformat(t) for t in (moment, than))
    except ValueError:
        return False
    return a.replace(tzinfo=a.tzinfo or UTC) > b.replace(tzinfo=b.tzinfo or UTC)


def _since(previous: Mapping[str, Any], status: str, fallback: str, check: str = "") -> str:
    """The record's own ``since`` while its status holds, else ``fallback``; never later than
    ``check``, the time of the check that carries it (a clock set back after a run)."""
    old = previous.get("since")
    if isinstance(old, date):  # unquoted in the record (a hand edit): YAML read a timestamp
        old = (old.astimezone(UTC) if isinstance(old, datetime) and old.tzinfo else old
               ).strftime("%Y-%m-%dT%H:%M:%SZ" if isinstance(old, datetime) else "%Y-%m-%d")
    kept = old if previous.get("status") == status and isinstance(old, str) else ""
    for since in (kept, fallback):
        if since and not _later(since, check):
            return since
    return check


def _settled(result: LinkResult, previous: Mapping[str, Any]) -> bool:
    """With a history, one bad night never changes a record: a failure replaces a good
    entry only once it is a confirmed dead link, and a dead entry only when it is dead
    again, not less confirmed (a 503 night made a confirmed dead link error, and the next
    404 night unconfirmed, with a new ``since``; --prune-dead goes by the history all the
    same: an entry is not tied to its URL)."""
    before = previous.get("status")
    if result.status not in BAD or before not in ("ok", "redirected", "dead"):
        return True  # (a tuple: an odd stored status, a list or a mapping, is not hashable)
    if before == "dead":
        return result.status is LinkStatus.DEAD and (
            bool(result.confirmed) or previous.get("confirmed") is not True)
    return result.status is LinkStatus.DEAD and bool(result.confirmed)


def slot_entry(
    slot: LinkRef,
    result: LinkResult | None,
    previous: Mapping[str, Any],
    *,
    now: str,
    record_title: object = None,
    history: bool = False,
) -> dict[str, Any]:
    """The ``linkCheck`` entry of one URL slot. An image slot whose URL was fetched as a page
    (another slot cites it as one) is ``not_an_image`` when the page was text (HTML)."""
    if slot.kind is LinkKind.IMAGE and result is not None and result.kind is LinkKind.PAGE \
            and _text_type(result.content_type) and result.status in GOOD:
        result = replace(result, status=LinkStatus.ERROR, reason="not_an_image", page=None)
    if history and result is not None and not _settled(result, previous):
        return dict(previous)
    if result is None:  # not fetched (invalid, or --exclude): previousUrl stays all the same
        status = slot.status or LinkStatus.SKIPPED
        entry: dict[str, Any] = {"status": status.value, "reason": slot.reason or "not_checked"}
        entry["since"] = _since(previous, status.value, now)
        return _keep_previous_url(entry, previous, slot.url)
    entry = {"status": result.status.value}
    if result.http_status is not None:
        entry["httpStatus"] = result.http_status
    if result.status is not LinkStatus.OK:
        entry["reason"] = result.reason
    if result.status is not LinkStatus.OK and result.final_url not in (None, result.url):
        entry["finalUrl"] = result.final_url  # also where a redirect led to a 404, say
    if slot.kind is LinkKind.IMAGE and result.image is not None:
        for name in ("type", "width", "height"):
            value = getattr(result.image, name)
            if value is not None:
                entry[name] = value
    if slot.kind is LinkKind.PAGE and result.page is not None and isinstance(
            record_title, str) and (previous.get("titleDrift") is True if _detour(result)
                                    else title_drift(record_title, result.page.title)):
        entry["titleDrift"] = True  # (a detour tells nothing: what the last page told stays)
    if result.confirmed is not None and result.status is LinkStatus.DEAD:
        entry["confirmed"] = result.confirmed
    # the record's own since wins while its status holds: a failure it never showed (one bad
    # night) must not restart the streak it shows
    entry["since"] = _since(previous, result.status.value, result.since or now,
                            result.checked_at)
    return _keep_previous_url(entry, previous, slot.url)


def _keep_previous_url(entry: dict[str, Any], previous: Mapping[str, Any], url: str | None
                       ) -> dict[str, Any]:
    old_url = previous.get("previousUrl")
    if isinstance(old_url, str) and old_url != url:
        entry["previousUrl"] = old_url  # kept from an earlier --update-redirects
    return entry


def _detour(result: LinkResult) -> bool:
    """A temporary redirect to a gate, front page or listing (``lands_elsewhere``): tonight's
    page is not what the URL stands for, so its title says nothing about drift (a one-night
    consent wall flipped ``titleDrift`` on and off again): the entry's value stays."""
    return result.status is LinkStatus.OK and lands_elsewhere(result.url, result.final_url)


def _elsewhere(result: LinkResult, entry: Mapping[str, Any]) -> bool:
    """The page may be other content than the item's (never a source for --fill-missing):
    its title drifted from the record's, or a redirect took a deep URL to its site's front
    page or a section (a temporary one is no soft 404, but no article either)."""
    return bool(entry.get("titleDrift")) or lands_elsewhere(result.url, result.final_url)


def _text_type(content_type: str | None) -> bool:
    """Is it a type no image has (text, XHTML)? An unknown type or ``application/octet-stream``
    (images on S3) is no evidence either way."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind.startswith("text/") or kind == "application/xhtml+xml"


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _fill(holder: Mapping[str, Any], page: PageMeta,
          results: Mapping[str, LinkResult]) -> dict[str, Any]:
    """``--fill-missing``: values for empty title/excerpt/images; never overwrite. An image is
    filled in only when it is one: probed ok in this run, or typed by an earlier probe (a
    page reused from the history), never a dead, refused or non-image URL."""
    edits: dict[str, Any] = {}
    if _empty(holder.get("title")) and page.title:
        edits["title"] = page.title
    if _empty(holder.get("excerpt")) and page.description:
        edits["excerpt"] = page.description
    images = holder.get("images")
    found = page_image(page, results)
    probed = results.get(found.url) if found is not None and found.url else None
    if (images is None or images == []) and found is not None and found.url and (
            probed.status in GOOD if probed is not None else found.type is not None):
        image: dict[str, Any] = {"url": found.url}
        if found.width and found.height:
            image["width"] = found.width
            image["height"] = found.height
        edits["images"] = [image]
    return edits


def _check_filled_image(path: HolderPath, image: dict[str, Any],
                        results: Mapping[str, LinkResult], options: EnrichOptions,
                        then: Mapping[str, Any] | None) -> None:
    """A filled-in image was probed in this run (the page's chosen image): give it its
    ``linkCheck`` now, as every other image has, rather than on the next run. ``then``: the
    holder in the copy the last run wrote (``--out``), whose entry for the same image
    carries its ``since`` (and stands when the image was not probed again)."""
    before: Mapping[str, Any] = {}
    old = then.get("images") if then is not None else None
    if isinstance(old, list) and old and isinstance(old[0], Mapping) \
            and old[0].get("url") == image["url"]:
        before = _previous_entry(old[0], "url")
    probed = results.get(image["url"])
    if probed is None:
        if before:
            image[LINK_CHECK] = {"url": dict(before)}
        return
    slot = LinkRef(Origin("", "images[0].url"), (*path, "images", 0), "url", LinkKind.IMAGE,
                   image["url"], image["url"])
    entry = slot_entry(slot, probed, before, now=options.now, history=options.history)
    if entry:
        image[LINK_CHECK] = {"url": entry}


def _earlier(data: Mapping[str, Any], previous: Mapping[str, Any] | None,
             holder: HolderPath, keys: Sequence[str],
             places: Mapping[int, HolderPath] | None = None, fixed: bool = False,
             ) -> Mapping[str, Any] | None:
    """The holder of the last written copy (``--out``) when it still stands for the same
    links (``keys`` hold the same values as in the record, or with ``fixed`` the URLs
    --update-redirects wrote in their place), else None. ``places``: where the record's
    related items are in the copy (``_places``), when a prune moved them."""
    now = holder_mapping(data, holder)
    if previous is None or now is None:
        return None
    for at in (holder, _moved(holder, places)):
        then = holder_mapping(previous, at) if at is not None else None
        if then is not None and all(now.get(k) == then.get(k) or (fixed and now.get(k)
                                    and _previous_entry(then, k).get("previousUrl") == now.get(k))
                                    for k in keys):
            return then
    return None


def _fixed_entry(previous: Mapping[str, Any] | None, slot: LinkRef, fixed: str,
                 places: Mapping[int, HolderPath] | None) -> Mapping[str, Any]:
    """``--out --update-redirects``: the copy's entry for the slot when the copy holds
    ``fixed``, the URL a run wrote in place of the record's own; else empty."""
    for at in (slot.holder, _moved(slot.holder, places)):
        then = holder_mapping(previous, at) if previous is not None and at is not None else None
        if then is not None and then.get(slot.key) == fixed:
            return _previous_entry(then, slot.key)
    return {}


def _moved(holder: HolderPath, places: Mapping[int, HolderPath] | None) -> HolderPath | None:
    """``holder`` as it is in the copy the last run wrote, when ``places`` moves it."""
    step = holder[1] if len(holder) > 1 and holder[0] == "related" else None
    at = places.get(step) if places is not None and isinstance(step, int) else None
    return None if at is None else (*at, *holder[2:])


def _places(data: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[int, HolderPath]:
    """``--out --prune-dead``: where each of the record's ``related`` items is in the copy
    the last run wrote, whose ``related`` lacks the pruned items (one place up for those
    after them) and whose ``deadRelated`` holds them: matched in order by ``webUrl``."""
    def urls(key: str, where: Mapping[str, Any] | None) -> list[tuple[object, ...]]:
        """Each item's webUrl, and the URL --update-redirects replaced by it."""
        items = where.get(key) if where is not None else None
        if not isinstance(items, list):
            return []
        found = [(i.get("webUrl"), _previous_entry(i, "webUrl").get("previousUrl"))
                 if isinstance(i, Mapping) else (None, None) for i in items]
        return [(url, old) if isinstance(old, str) else (url,) for url, old in found]

    mine, kept, dead = urls("related", data), urls("related", previous), urls("deadRelated",
                                                                             previous)
    places: dict[int, HolderPath] = {}
    at, used = 0, set()
    for i, (url, *_) in enumerate(mine):
        if at < len(kept) and url in kept[at]:
            places[i], at = ("related", at), at + 1
            continue
        j = next((j for j, u in enumerate(dead) if j not in used and url in u), None)
        if j is not None:
            used.add(j)
            places[i] = ("deadRelated", j)
    return places


def _with_fragment(final_url: str, raw: str) -> str:
    """The redirect target, with the old URL's ``#fragment`` when the target has none (as
    browsers carry it over a redirect, RFC 9110 10.2.2)."""
    return final_url if "#" in final_url else final_url + fragment(raw)


def build_edits(
    data: Mapping[str, Any],
    slots: Sequence[LinkRef],
    results: Mapping[str, LinkResult],
    options: EnrichOptions,
    previous: Mapping[str, Any] | None = None,
) -> dict[HolderPath, dict[str, Any]]:
    """All edits of one record. Holders are visited in document order; entries within a
    ``linkCheck`` keep the order of the slots. ``previous``: the data of the copy the last
    run wrote (``--out``), whose ``linkCheck``, ``livePage`` and filled-in values stand in for
    the record's own: one bad night changes an output copy no more than a record in place."""
    checks: dict[HolderPath, dict[str, Any]] = {}
    fixes: dict[HolderPath, dict[str, Any]] = {}  # --update-redirects: new URL values
    places = _places(data, previous) if previous is not None else None

    def earlier_of(slot: LinkRef) -> Mapping[str, Any] | None:
        """The holder whose linkCheck entry for ``slot`` this run starts from."""
        if previous is None:
            return holder_mapping(data, slot.holder)
        return _earlier(data, previous, slot.holder, (slot.key,), places,
                        options.update_redirects)

    def drifted(slot: LinkRef, result: LinkResult) -> bool:
        """Reached through a redirect, with a title that is not the record's (a 302 to a
        gate or a listing page): it stands for the article in nothing."""
        holder = holder_mapping(data, slot.holder)
        title = holder.get("title") if holder is not None else None
        return result.final_url not in (None, result.url) and result.page is not None and \
            isinstance(title, str) and title_drift(title, result.page.title)

    def held(slot: LinkRef, result: LinkResult) -> bool:
        """One bad night of a good page: it holds its place (a dead one does not: the next
        page stands in, as it did while it was dead)."""
        before = _previous_entry(earlier_of(slot), slot.key)
        return options.history and before.get("status") in ("ok", "redirected") and not \
            _settled(result, before)

    pages = _best_pages(slots, results, held, drifted)
    for slot in slots:
        holder = holder_mapping(data, slot.holder)
        result = results.get(slot.url) if slot.url else None
        earlier = earlier_of(slot)
        title = holder.get("title") if holder is not None else None
        best = pages[slot.holder][1].page if slot.holder in pages else None
        if options.fill_missing and _empty(title) and best is not None and best.title:
            title = best.title  # as _fill will write it
        entry = slot_entry(
            slot,
            result,
            _previous_entry(earlier, slot.key),
            now=options.now,
            record_title=title,  # as filled in: drift is judged as the next run will
            history=options.history,
        )
        checks.setdefault(slot.holder, {})[slot.key] = entry
        if previous is not None and earlier is not None and entry.get("previousUrl") == \
                slot.raw != earlier.get(slot.key) and entry == _previous_entry(earlier, slot.key):
            # --out: the copy's entry for the URL a run wrote in place of the record's stands
            # (one bad night of the old one): so does that URL
            fixes.setdefault(slot.holder, {})[slot.key] = earlier.get(slot.key)
        if (
            options.update_redirects
            and (options.fix_only is None or (slot.holder, slot.key) in options.fix_only)
            and result is not None
            and result.status is LinkStatus.REDIRECTED
            and result.final_url
            and entry.get("status") == "redirected"
            and not _elsewhere(result, entry)  # not to a page of other content
            and reads_back(result.final_url)  # a record holding it means that URL
            and cache_url_kept(slot, result.final_url, holder)
        ):
            fixed = _with_fragment(result.final_url, slot.raw)
            fixes.setdefault(slot.holder, {})[slot.key] = fixed
            # the entry now describes the new URL, which answered ok (a redirect counts
            # only when its target does): no redirect left to report, a new streak (unless
            # the copy the last run wrote, --out, holds the new URL already: its streak)
            entry["status"] = LinkStatus.OK.value
            entry.pop("reason", None)
            entry.pop("finalUrl", None)
            before = _fixed_entry(previous, slot, fixed, places)
            entry["since"] = _since(before, LinkStatus.OK.value, options.now)
            entry["previousUrl"] = slot.raw
            fixes[slot.holder].update(cdn_follows(slot, fixed, holder))
    edits: dict[HolderPath, dict[str, Any]] = {}
    for path, entries in checks.items():
        edits[path] = {LINK_CHECK: entries}
    for path, (rank, result) in pages.items():
        assert result.page is not None
        page = live_page(result.page, results)
        kept_image(page, (holder_mapping(data, path) if previous is None else _earlier(
            data, previous, path, _PAGE_KEYS, places, True)), results)
        if page:
            edits.setdefault(path, {})[LIVE_PAGE] = page
        holder = holder_mapping(data, path)
        if options.fill_missing and holder is not None and not _elsewhere(
                result, checks.get(path, {}).get(_PAGE_KEYS[rank], {})):
            filled = _fill(holder, result.page, results)
            then = _earlier(data, previous, path, _PAGE_KEYS, places, True)
            for image in filled.get("images", ()):
                _check_filled_image(path, image, results, options, then)
            edits.setdefault(path, {}).update(filled)
    for path, values in fixes.items():
        edits.setdefault(path, {}).update(values)
    if previous is not None:
        _carry_over(data, previous, edits, options, places)
    if options.prune_dead:
        prune_dead(data, slots, results, edits)
    return edits


def _best_pages(slots: Sequence[LinkRef], results: Mapping[str, LinkResult],
                held: Callable[[LinkRef, LinkResult], bool],
                drifted: Callable[[LinkRef, LinkResult], bool],
                ) -> dict[HolderPath, tuple[int, LinkResult]]:
    """holder -> (preference, result) of the page its livePage (and --fill-missing) come
    from: the first good page among ``_PAGE_KEYS``, in their order. A preferred page whose
    failure tonight changes nothing (``held``: one bad night, with a history) holds its
    place: no page then (``originalUrl``'s page must not stand in for ``webUrl``'s). So
    does one a redirect took elsewhere (``lands_elsewhere``, or ``drifted``)."""
    pages: dict[HolderPath, tuple[int, LinkResult | None]] = {}
    kept: LinkResult | None
    for slot in slots:
        result = results.get(slot.url) if slot.url else None
        if result is None or slot.kind is not LinkKind.PAGE or slot.key not in _PAGE_KEYS:
            continue
        if result.status in GOOD and result.page is not None:
            # a deep URL now landing on its site's front page, a section, a listing or a
            # gate (a 302 is no soft 404) shows no article: it holds its place, and the
            # livePage stays as it was
            elsewhere = lands_elsewhere(result.url, result.final_url) or drifted(slot, result)
            kept = None if elsewhere else result
        elif held(slot, result):
            kept = None
        else:
            continue
        rank = _PAGE_KEYS.index(slot.key)
        if slot.holder not in pages or rank < pages[slot.holder][0]:
            pages[slot.holder] = (rank, kept)
    return {path: (rank, page) for path, (rank, page) in pages.items() if page is not None}


def _carry_over(data: Mapping[str, Any], previous: Mapping[str, Any],
                edits: dict[HolderPath, dict[str, Any]], options: EnrichOptions,
                places: Mapping[int, HolderPath] | None) -> None:
    """``--out``: what the last written copy holds and this run does not replace (the live
    page of a holder whose page failed tonight) is written again, and values filled in
    earlier stand, as they would in a record enriched in place (tonight's fill never
    replaces them)."""
    for path in list(edits):
        then = _earlier(data, previous, path, _PAGE_KEYS, places, True)
        if then is None:
            continue
        mine = edits[path]
        if LIVE_PAGE not in mine and isinstance(then.get(LIVE_PAGE), Mapping):
            mine[LIVE_PAGE] = then[LIVE_PAGE]
        holder = holder_mapping(data, path)
        if options.fill_missing and holder is not None:
            for key in ("title", "excerpt", "images"):
                empty = holder.get(key) in (None, []) or _empty(holder.get(key))
                if empty and not _empty(then.get(key)) and then.get(key) != []:
                    mine[key] = then[key]  # filled earlier: present, so never replaced
