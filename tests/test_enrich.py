"""Record + results -> edits (pure): the linkCheck/livePage contract, stability, fill-missing."""

from __future__ import annotations

from typing import Any

import pytest

from enricher.enrich import EnrichOptions, build_edits, live_page
from enricher.models import ImageInfo, LinkKind, LinkRef, LinkResult, LinkStatus, Origin, PageMeta

NOW = "2026-11-27T03:00:00Z"


def _slot(
    holder: tuple[str | int, ...], key: str, kind: LinkKind, url: str | None, **kw: Any
) -> LinkRef:
    field = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in (*holder, key)).lstrip(".")
    return LinkRef(Origin("r.md", field), holder, key, kind, url or "", url, **kw)


def _result(url: str, status: LinkStatus, **kw: Any) -> LinkResult:
    defaults: dict[str, Any] = {
        "kind": LinkKind.PAGE,
        "reason": "ok" if status is LinkStatus.OK else "http_404",
        "http_status": 200,
    }
    defaults.update(kw)
    return LinkResult(url=url, status=status, **defaults)


DATA: dict[str, Any] = {
    "title": "City council approves bike lanes",
    "excerpt": "",
    "webUrl": "https://a.example/x",
    "related": [
        {
            "title": "Bike lanes approved",
            "webUrl": "https://b.example/y",
            "ampWebUrl": "https://b.example/amp/y",
            "images": [{"url": "https://b.example/i.png"}],
        }
    ],
}
SLOTS = [
    _slot((), "webUrl", LinkKind.PAGE, "https://a.example/x"),
    _slot(("related", 0), "webUrl", LinkKind.PAGE, "https://b.example/y"),
    _slot(("related", 0), "ampWebUrl", LinkKind.REACH, "https://b.example/amp/y"),
    _slot(("related", 0, "images", 0), "url", LinkKind.IMAGE, "https://b.example/i.png"),
]
PAGE = PageMeta(
    title="City Council Approves Bike Lanes",
    description="The vote was 7-2.",
    site_name="A News",
    image=ImageInfo(url="https://a.example/p.jpg", width=1200, height=630),
)
RESULTS = {
    "https://a.example/x": _result("https://a.example/x", LinkStatus.OK, page=PAGE),
    "https://b.example/y": _result(
        "https://b.example/y",
        LinkStatus.REDIRECTED,
        reason="moved_permanently",
        http_status=301,
        final_url="https://b.example/z",
        page=PageMeta(title="Completely different: celebrity gossip of the week"),
    ),
    "https://b.example/amp/y": _result("https://b.example/amp/y", LinkStatus.DEAD, http_status=404),
    "https://b.example/i.png": _result(
        "https://b.example/i.png",
        LinkStatus.OK,
        kind=LinkKind.IMAGE,
        image=ImageInfo(type="png", width=10, height=20),
    ),
}


def test_link_check_entries_follow_the_contract() -> None:
    edits = build_edits(DATA, SLOTS, RESULTS, EnrichOptions(now=NOW))
    assert edits[()]["linkCheck"] == {"webUrl": {"status": "ok", "httpStatus": 200, "since": NOW}}
    related = edits[("related", 0)]["linkCheck"]
    assert related["webUrl"]["status"] == "redirected"
    assert related["webUrl"]["finalUrl"] == "https://b.example/z"
    assert related["webUrl"]["titleDrift"] is True
    assert related["ampWebUrl"] == {
        "status": "dead",
        "httpStatus": 404,
        "reason": "http_404",
        "since": NOW,
    }
    image = edits[("related", 0, "images", 0)]["linkCheck"]["url"]
    assert (image["type"], image["width"], image["height"]) == ("png", 10, 20)


def test_live_page_only_what_was_found() -> None:
    edits = build_edits(DATA, SLOTS, RESULTS, EnrichOptions(now=NOW))
    assert edits[()]["livePage"] == {
        "title": "City Council Approves Bike Lanes",
        "description": "The vote was 7-2.",
        "siteName": "A News",
        "image": {"url": "https://a.example/p.jpg", "width": 1200, "height": 630},
    }
    assert live_page(PageMeta()) == {}


def test_since_is_carried_over_while_status_stays() -> None:
    data = dict(DATA, linkCheck={"webUrl": {"status": "ok", "since": "2026-01-01T00:00:00Z"}})
    edits = build_edits(data, SLOTS, RESULTS, EnrichOptions(now=NOW))
    assert edits[()]["linkCheck"]["webUrl"]["since"] == "2026-01-01T00:00:00Z"
    data = dict(DATA, linkCheck={"webUrl": {"status": "dead", "since": "2026-01-01T00:00:00Z"}})
    edits = build_edits(data, SLOTS, RESULTS, EnrichOptions(now=NOW))
    assert edits[()]["linkCheck"]["webUrl"]["since"] == NOW


def test_an_unquoted_since_is_carried_over_too() -> None:
    """``since: 2026-01-01T00:00:00Z`` written without quotes (a hand edit) reads as a YAML
    timestamp: it was reset to now on the next run, losing when the status was first seen."""
    from datetime import UTC, date, datetime

    for since, kept in ((datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T00:00:00Z"),
                        (datetime(2026, 1, 1), "2026-01-01T00:00:00Z"),
                        (date(2026, 1, 1), "2026-01-01")):
        data = dict(DATA, linkCheck={"webUrl": {"status": "ok", "since": since}})
        edits = build_edits(data, SLOTS, RESULTS, EnrichOptions(now=NOW))
        assert edits[()]["linkCheck"]["webUrl"]["since"] == kept, since


def test_since_is_never_later_than_the_check_that_carries_it() -> None:
    """A record written while the clock was days ahead keeps no ``since`` from the future."""
    ahead = {"status": "ok", "since": "2026-11-30T03:00:00Z"}  # after the check below
    data = dict(DATA, linkCheck={"webUrl": ahead})
    x = "https://a.example/x"
    for history_since, expected in (("2026-11-26T03:00:00Z", "2026-11-26T03:00:00Z"),
                                    (None, NOW), ("2026-11-29T00:00:00Z", NOW)):
        result = _result(x, LinkStatus.OK, checked_at=NOW, since=history_since)
        edits = build_edits(data, SLOTS, {**RESULTS, x: result}, EnrichOptions(now=NOW))
        assert edits[()]["linkCheck"]["webUrl"]["since"] == expected, history_since
    # a since not later than the check stays, whatever its spelling or the check's
    kept = {"status": "ok", "since": "2026-11-26T03:00:00+00:00"}
    for checked_at in (NOW, "", "garbage"):
        result = _result(x, LinkStatus.OK, checked_at=checked_at)
        edits = build_edits(dict(DATA, linkCheck={"webUrl": kept}), SLOTS,
                            {**RESULTS, x: result}, EnrichOptions(now=NOW))
        assert edits[()]["linkCheck"]["webUrl"]["since"] == kept["since"]


def test_no_live_page_from_failed_fetch_and_no_drift_without_page() -> None:
    results = dict(RESULTS)
    results["https://a.example/x"] = _result(
        "https://a.example/x", LinkStatus.BLOCKED, reason="challenge", http_status=403
    )
    edits = build_edits(DATA, SLOTS, results, EnrichOptions(now=NOW))
    assert "livePage" not in edits[()]
    assert edits[()]["linkCheck"]["webUrl"]["status"] == "blocked"


def test_unfetchable_slot_gets_its_reason() -> None:
    slot = _slot((), "webUrl", LinkKind.PAGE, None, status=LinkStatus.INVALID, reason="bad_scheme")
    edits = build_edits({"webUrl": "javascript:x"}, [slot], {}, EnrichOptions(now=NOW))
    assert edits[()]["linkCheck"]["webUrl"] == {
        "status": "invalid",
        "reason": "bad_scheme",
        "since": NOW,
    }


def test_fill_missing_fills_only_empty_values() -> None:
    edits = build_edits(DATA, SLOTS, RESULTS, EnrichOptions(now=NOW, fill_missing=True))
    root = edits[()]
    assert root["excerpt"] == "The vote was 7-2."  # was empty
    assert "title" not in root  # present: never overwritten
    assert "images" not in root  # the page's image was never probed: not known to be one
    assert "title" not in edits[("related", 0)]
    edits = build_edits(DATA, SLOTS, RESULTS, EnrichOptions(now=NOW))
    assert "excerpt" not in edits[()]


def test_a_filled_image_probed_in_this_run_gets_its_link_check() -> None:
    results = dict(RESULTS)
    results["https://a.example/p.jpg"] = _result(
        "https://a.example/p.jpg", LinkStatus.OK, kind=LinkKind.IMAGE,
        image=ImageInfo(type="jpeg", width=1200, height=630),
    )
    edits = build_edits(DATA, SLOTS, results, EnrichOptions(now=NOW, fill_missing=True))
    assert edits[()]["images"] == [{
        "url": "https://a.example/p.jpg", "width": 1200, "height": 630,
        "linkCheck": {"url": {"status": "ok", "httpStatus": 200, "type": "jpeg",
                              "width": 1200, "height": 630, "since": NOW}},
    }]


def test_a_filled_image_must_have_been_probed_ok() -> None:
    for status in (LinkStatus.DEAD, LinkStatus.ERROR, LinkStatus.BLOCKED):
        results = dict(RESULTS)
        results["https://a.example/p.jpg"] = _result("https://a.example/p.jpg", status,
                                                     kind=LinkKind.IMAGE)
        edits = build_edits(DATA, SLOTS, results, EnrichOptions(now=NOW, fill_missing=True))
        assert "images" not in edits[()], status


def test_web_url_preferred_over_original_url_for_live_page() -> None:
    data = {"originalUrl": "https://o.example/", "webUrl": "https://a.example/x"}
    slots = [
        _slot((), "originalUrl", LinkKind.PAGE, "https://o.example/"),
        _slot((), "webUrl", LinkKind.PAGE, "https://a.example/x"),
    ]
    results = dict(RESULTS)
    results["https://o.example/"] = _result(
        "https://o.example/", LinkStatus.OK, page=PageMeta(title="Other")
    )
    edits = build_edits(data, slots, results, EnrichOptions(now=NOW))
    assert edits[()]["livePage"]["title"] == PAGE.title


def test_prune_dead_is_one_move_edit_and_leaves_item_edits_in_place() -> None:
    from enricher.spans import MoveItems

    data = {"related": [{"webUrl": f"https://r.example/{i}"} for i in range(3)]}
    slots = [_slot(("related", i), "webUrl", LinkKind.PAGE, f"https://r.example/{i}")
             for i in range(3)]
    results = {f"https://r.example/{i}": _result(f"https://r.example/{i}", LinkStatus.DEAD,
                                                 http_status=404, confirmed=i != 1)
               for i in range(3)}
    edits = build_edits(data, slots, results, EnrichOptions(now=NOW, prune_dead=True))
    assert edits[()] == {"related": MoveItems((0, 2), "deadRelated")}  # 1: not confirmed
    assert [edits[("related", i)]["linkCheck"]["webUrl"]["status"] for i in range(3)] == [
        "dead"] * 3
    assert edits[("related", 0)]["linkCheck"]["webUrl"]["confirmed"] is True
    assert () not in build_edits(data, slots, results, EnrichOptions(now=NOW))


def test_update_redirects_keeps_the_fragment_of_the_old_url() -> None:
    """A browser carries ``#part-2`` over a redirect whose target has none; so does the fix."""
    data = {"webUrl": "https://b.example/y#part-2", "originalUrl": "https://b.example/y"}
    slots = [
        LinkRef(Origin("r.md", "webUrl"), (), "webUrl", LinkKind.PAGE,
                "https://b.example/y#part-2", "https://b.example/y"),
        _slot((), "originalUrl", LinkKind.PAGE, "https://b.example/y"),
    ]
    edits = build_edits(data, slots, RESULTS, EnrichOptions(now=NOW, update_redirects=True))
    assert edits[()]["webUrl"] == "https://b.example/z#part-2"
    assert edits[()]["originalUrl"] == "https://b.example/z"
    assert edits[()]["linkCheck"]["webUrl"]["previousUrl"] == "https://b.example/y#part-2"


@pytest.mark.parametrize(("raw", "fixed"), [
    ("https://b.example/y?utm=1&#038;ref=home", "https://b.example/z"),  # an entity: no #
    ("https://b.example/y?a=1&#038;b=2#part-2", "https://b.example/z#part-2"),
    ("https://b.example/y#caf&#233;", "https://b.example/z#caf\u00e9"),
])
def test_update_redirects_reads_the_fragment_as_the_url_is_read(raw: str, fixed: str) -> None:
    """The ``#`` of ``&#038;`` (in real records' URLs) is no fragment: the fix was
    ``https://b.example/z#038;ref=home``."""
    slots = [LinkRef(Origin("r.md", "webUrl"), (), "webUrl", LinkKind.PAGE, raw,
                     "https://b.example/y")]
    edits = build_edits({"webUrl": raw}, slots, RESULTS,
                        EnrichOptions(now=NOW, update_redirects=True))
    assert edits[()]["webUrl"] == fixed


def test_drift_is_judged_against_the_title_fill_missing_writes() -> None:
    """An empty title filled from webUrl's page: originalUrl's unrelated page drifts from
    it in this run already, so the next run (title now filled) writes the same bytes."""
    data = {"title": "", "webUrl": "https://a.example/x", "originalUrl": "https://a.example/o"}
    slots = [_slot((), "webUrl", LinkKind.PAGE, "https://a.example/x"),
             _slot((), "originalUrl", LinkKind.PAGE, "https://a.example/o")]
    results = {
        "https://a.example/x": _result("https://a.example/x", LinkStatus.OK, page=PAGE),
        "https://a.example/o": _result("https://a.example/o", LinkStatus.OK,
                                       page=PageMeta(title="Zebra crossing repainted")),
    }
    options = EnrichOptions(now=NOW, fill_missing=True)
    first = build_edits(data, slots, results, options)[()]
    assert first["title"] == PAGE.title
    second = build_edits({**data, "title": first["title"]}, slots, results, options)[()]
    assert first["linkCheck"] == second["linkCheck"]
    assert second["linkCheck"]["originalUrl"]["titleDrift"] is True
    assert "titleDrift" not in second["linkCheck"]["webUrl"]


def test_an_odd_stored_status_is_no_crash() -> None:
    """A hand-edited ``status: [ok]`` or ``{a: 1}`` in linkCheck: with a history, a failure
    is compared with it (an unhashable value in a set lookup crashed the whole run)."""
    slots = [_slot((), "webUrl", LinkKind.PAGE, "https://a.example/x")]
    dead = {"https://a.example/x": _result("https://a.example/x", LinkStatus.DEAD,
                                           http_status=404)}
    for odd in (["ok"], {"a": 1}):
        data = {"webUrl": "https://a.example/x", "linkCheck": {"webUrl": {"status": odd}}}
        edits = build_edits(data, slots, dead, EnrichOptions(now=NOW, history=True))
        assert edits[()]["linkCheck"]["webUrl"]["status"] == "dead"


def test_an_out_copy_keeps_the_since_of_a_redirect_it_updated() -> None:
    """``--out --update-redirects``: the record keeps the old URL, so every night finds the
    same redirect; the copy, which already holds the new URL, keeps its ``since`` (it was
    set to each night's start: the copy was rewritten every night)."""
    old, new = "https://b.example/y", "https://b.example/z"
    data = {"webUrl": old}
    slots = [_slot((), "webUrl", LinkKind.PAGE, old)]
    results = {old: _result(old, LinkStatus.REDIRECTED, reason="http_301", final_url=new)}
    first = build_edits(data, slots, results, EnrichOptions(now=NOW, update_redirects=True))
    copy = {"webUrl": new, "linkCheck": first[()]["linkCheck"]}
    later = EnrichOptions(now="2026-11-28T03:00:00Z", update_redirects=True)
    second = build_edits(data, slots, results, later, copy)
    assert second[()] == first[()]
    assert second[()]["linkCheck"]["webUrl"]["since"] == NOW


def test_an_out_copy_after_a_prune_keeps_the_entries_of_shifted_and_moved_items() -> None:
    """``--out --prune-dead``: the copy holds a pruned item in ``deadRelated`` and the items
    after it one place up. Their entries and live pages still stand in for the record's:
    a moved item kept its livePage only on the first night, and one bad night of a
    shifted item replaced its good entry (and dropped its livePage)."""
    a, d, c = (f"https://r.example/{x}" for x in "adc")
    data = {"related": [{"webUrl": a}, {"webUrl": d}, {"webUrl": c}]}
    slots = [_slot(("related", i), "webUrl", LinkKind.PAGE, u) for i, u in enumerate((a, d, c))]
    good = {"status": "ok", "httpStatus": 200, "since": "2026-01-01T00:00:00Z"}
    copy = {
        "related": [{"webUrl": a, "linkCheck": {"webUrl": good}},
                    {"webUrl": c, "linkCheck": {"webUrl": good}, "livePage": {"title": "C"}}],
        "deadRelated": [{"webUrl": d, "linkCheck": {"webUrl": {"status": "dead"}},
                         "livePage": {"title": "D"}}],
    }
    results = {
        a: _result(a, LinkStatus.OK),
        d: _result(d, LinkStatus.DEAD, http_status=404, confirmed=True),
        c: _result(c, LinkStatus.TIMEOUT, reason="timeout", http_status=None),
    }
    options = EnrichOptions(now=NOW, history=True, prune_dead=True)
    edits = build_edits(data, slots, results, options, copy)
    assert edits[("related", 2)] == {"linkCheck": {"webUrl": good}, "livePage": {"title": "C"}}
    assert edits[("related", 1)]["livePage"] == {"title": "D"}
    assert edits[("related", 0)]["linkCheck"]["webUrl"]["since"] == good["since"]


def test_an_out_copy_of_an_updated_redirect_keeps_what_it_filled_in() -> None:
    """``--out --update-redirects --fill-missing``: the copy holds the new URL, the record
    the old one; the copy still stands for the record's item (a filled-in image kept its
    ``since`` on other items, but got each night's start on this one: rewritten nightly)."""
    old, new, img = "https://b.example/y", "https://b.example/z", "https://b.example/i.png"
    data: dict[str, Any] = {"webUrl": old, "title": "T"}
    slots = [_slot((), "webUrl", LinkKind.PAGE, old)]
    page = PageMeta(title="T", image=ImageInfo(url=img, type="png"))
    results = {
        old: _result(old, LinkStatus.REDIRECTED, reason="http_301", final_url=new, page=page),
        img: _result(img, LinkStatus.OK, kind=LinkKind.IMAGE, image=ImageInfo(type="png")),
    }
    options = EnrichOptions(now=NOW, update_redirects=True, fill_missing=True)
    first = build_edits(data, slots, results, options)[()]
    assert first["images"][0]["linkCheck"]["url"]["since"] == NOW
    copy = {**data, **first}
    later = EnrichOptions(now="2026-11-28T03:00:00Z", update_redirects=True, fill_missing=True)
    assert build_edits(data, slots, results, later, copy)[()] == first


def test_one_bad_night_of_the_old_url_leaves_an_out_copy_with_its_updated_redirect() -> None:
    """``--out --update-redirects`` with a history: the record keeps the old URL, so each
    night checks it. A failure of it that is not a confirmed dead link must not change the
    copy (it put the old URL back, with an error entry and a new ``since``)."""
    old, new = "https://b.example/y", "https://b.example/z"
    data = {"webUrl": old}
    slots = [_slot((), "webUrl", LinkKind.PAGE, old)]
    entry = {"status": "ok", "httpStatus": 200, "since": "2026-01-01T00:00:00Z",
             "previousUrl": old}
    copy = {"webUrl": new, "linkCheck": {"webUrl": entry}}
    options = EnrichOptions(now=NOW, update_redirects=True, history=True)
    bad = {old: _result(old, LinkStatus.ERROR, reason="http_500", http_status=500)}
    assert build_edits(data, slots, bad, options, copy)[()] == {
        "linkCheck": {"webUrl": entry}, "webUrl": new}
    dead = {old: _result(old, LinkStatus.DEAD, http_status=404, confirmed=True)}
    edits = build_edits(data, slots, dead, options, copy)[()]  # confirmed: the old URL, dead
    assert "webUrl" not in edits and edits["linkCheck"]["webUrl"]["status"] == "dead"


def test_one_bad_night_of_web_url_does_not_swap_in_the_original_url_page() -> None:
    """With a history, a blocked webUrl whose record entry stays ok keeps the record's
    livePage: originalUrl's page (another article) must not stand in for one night."""
    data = {"title": "Bike lanes", "originalUrl": "https://o.example/a", "webUrl": "https://a.example/x",
            "linkCheck": {"webUrl": {"status": "ok", "since": "2026-01-01T00:00:00Z"}}}
    slots = [_slot((), "originalUrl", LinkKind.PAGE, "https://o.example/a"),
             _slot((), "webUrl", LinkKind.PAGE, "https://a.example/x")]
    other = _result("https://o.example/a", LinkStatus.OK, page=PageMeta(title="Other story"))
    blocked = _result("https://a.example/x", LinkStatus.BLOCKED, reason="http_403",
                      http_status=403)
    results = {"https://o.example/a": other, "https://a.example/x": blocked}
    held = build_edits(data, slots, results, EnrichOptions(now=NOW, history=True))
    assert "livePage" not in held[()]  # the record's own livePage stays as it is
    assert held[()]["linkCheck"]["webUrl"]["status"] == "ok"
    # without a history, or once the failure stands (confirmed dead), originalUrl's page counts
    for options, result in ((EnrichOptions(now=NOW), blocked),
                            (EnrichOptions(now=NOW, history=True),
                             _result("https://a.example/x", LinkStatus.DEAD, confirmed=True))):
        edits = build_edits(data, slots, {**results, "https://a.example/x": result}, options)
        assert edits[()]["livePage"]["title"] == "Other story"


def test_fill_missing_never_fills_from_a_page_that_is_other_content() -> None:
    """A page whose title drifted from the record's, or a deep URL redirected to its site's
    front page or a section, is no source for an empty excerpt, title or images."""
    front = _result("https://a.example/x", LinkStatus.OK, final_url="https://a.example/",
                    page=PageMeta(title="A News - Front page", description="All the news"))
    section = _result("https://a.example/x", LinkStatus.OK, final_url="https://a.example/world/",
                      page=PageMeta(title="World", description="World news"))
    drifted = _result("https://a.example/x", LinkStatus.OK,
                      page=PageMeta(title="Recipe: chocolate cake", description="cake"))
    for result in (front, section, drifted):
        edits = build_edits(DATA, SLOTS, {**RESULTS, "https://a.example/x": result},
                            EnrichOptions(now=NOW, fill_missing=True))
        assert "excerpt" not in edits[()], result.final_url
        # what the URL shows now is reported, unless a redirect took it to a front page
        # (a 302 gate, say) or a page whose title is not the record's: no article there,
        # livePage stays as it was
        assert ("livePage" in edits[()]) == (result is drifted)
    moved = _result("https://a.example/x", LinkStatus.OK, final_url="https://a.example/x2",
                    page=PAGE)  # an article that moved: fills as before
    edits = build_edits(DATA, SLOTS, {**RESULTS, "https://a.example/x": moved},
                        EnrichOptions(now=NOW, fill_missing=True))
    assert edits[()]["excerpt"] == PAGE.description


def test_a_probed_page_image_gives_its_measured_size_type_and_the_amp_url() -> None:
    """og:image:width/height are what the page declares; a probe in the same run measures
    the image: the measured size wins in livePage and in a filled image."""
    page = PageMeta(title=PAGE.title, image=ImageInfo(url="https://a.example/p.png", width=1200,
                                                      height=630),
                    amp_url="https://a.example/amp/x")
    results = {**RESULTS, "https://a.example/x": _result("https://a.example/x", LinkStatus.OK,
                                                         page=page),
               "https://a.example/p.png": _result(
                   "https://a.example/p.png", LinkStatus.OK, kind=LinkKind.IMAGE,
                   image=ImageInfo(type="png", width=120, height=80))}
    edits = build_edits(DATA, SLOTS, results, EnrichOptions(now=NOW, fill_missing=True))
    live = edits[()]["livePage"]
    assert live["image"] == {"url": "https://a.example/p.png", "width": 120, "height": 80,
                             "type": "png"}
    assert live["ampUrl"] == "https://a.example/amp/x"
    filled = edits[()]["images"][0]
    assert (filled["width"], filled["height"]) == (120, 80)
    unprobed = build_edits(DATA, SLOTS, {**results, "https://a.example/p.png": _result(
        "https://a.example/p.png", LinkStatus.DEAD, kind=LinkKind.IMAGE)}, EnrichOptions(now=NOW))
    assert unprobed[()]["livePage"]["image"] == {"url": "https://a.example/p.png",
                                                 "width": 1200, "height": 630}


def test_update_redirects_of_an_amp_url_carries_its_cache_url_along() -> None:
    from enricher.links import amp_cache_url

    old, new = "https://b.example/amp/y", "https://b.example/amp/z"
    data = {"related": [{"webUrl": "https://b.example/y", "ampWebUrl": old,
                         "cdnAmpWebUrl": amp_cache_url(old)}]}
    slots = [_slot(("related", 0), "ampWebUrl", LinkKind.REACH, old),
             _slot(("related", 0), "cdnAmpWebUrl", LinkKind.REACH, amp_cache_url(old))]
    results = {old: _result(old, LinkStatus.REDIRECTED, kind=LinkKind.REACH, http_status=301,
                            final_url=new),
               amp_cache_url(old) or "": _result(amp_cache_url(old) or "", LinkStatus.OK,
                                                 kind=LinkKind.REACH)}
    edits = build_edits(data, slots, results, EnrichOptions(now=NOW, update_redirects=True))
    assert edits[("related", 0)]["ampWebUrl"] == new
    assert edits[("related", 0)]["cdnAmpWebUrl"] == amp_cache_url(new)
    # a cache URL that was not built from the AMP URL is not the run's to change
    data["related"][0]["cdnAmpWebUrl"] = "https://elsewhere.example/c/x"
    edits = build_edits(data, slots, results, EnrichOptions(now=NOW, update_redirects=True))
    assert "cdnAmpWebUrl" not in edits[("related", 0)]


def test_update_redirects_leaves_a_url_whose_target_is_other_content() -> None:
    """A deleted article 301'd to a category page: its title drifts from the record's, and
    rewriting the record to the category's URL would hide the lost article for good."""
    data = {"title": "City council approves bike lanes", "webUrl": "https://b.example/y"}
    slots = [_slot((), "webUrl", LinkKind.PAGE, "https://b.example/y")]
    edits = build_edits(data, slots, RESULTS, EnrichOptions(now=NOW, update_redirects=True))
    assert "webUrl" not in edits[()]
    entry = edits[()]["linkCheck"]["webUrl"]
    assert (entry["status"], entry["finalUrl"], entry["titleDrift"]) == (
        "redirected", "https://b.example/z", True)
    assert "previousUrl" not in entry


@pytest.mark.parametrize("kept", [None, {"title": "City council approves bike lanes"}])
def test_a_page_that_now_lands_on_the_front_page_leaves_live_page_as_it_was(
        kept: dict[str, Any] | None) -> None:
    """A 302 from the article to the site's front page (a geo or consent gate) is no soft
    404, but the front page's title and description are not the article's."""
    url = "https://a.example/2024/05/01/bike-lanes"
    data: dict[str, Any] = {"title": "City council approves bike lanes", "webUrl": url,
                            "originalUrl": "https://o.example/story"}
    if kept is not None:
        data["livePage"] = kept
    slots = [_slot((), "webUrl", LinkKind.PAGE, url),
             _slot((), "originalUrl", LinkKind.PAGE, "https://o.example/story")]
    results = {
        url: _result(url, LinkStatus.OK, final_url="https://a.example/", redirects=(url,),
                     page=PageMeta(title="Latest local news", site_name="City Gazette")),
        "https://o.example/story": _result("https://o.example/story", LinkStatus.OK,
                                           page=PageMeta(title="Bike lanes: the vote")),
    }
    edits = build_edits(data, slots, results, EnrichOptions(now=NOW, fill_missing=True))[()]
    assert "livePage" not in edits  # neither the front page's nor originalUrl's
    assert edits["linkCheck"]["webUrl"]["status"] == "ok"


@pytest.mark.parametrize(("final", "drift"), [
    ("https://a.example/consent?continue=/2024/05/01/bike-lanes", False),  # a gate
    ("https://a.example/", False),  # the front page
    ("https://a.example/users/sign_up", False),  # a sign-up wall
    ("https://a.example/2024/05/02/other-story", True),  # another article: drift it is
])
def test_a_temporary_detour_to_a_gate_sets_no_title_drift(final: str, drift: bool) -> None:
    """One night's 302 to a consent wall put ``titleDrift: true`` into linkCheck (and the next
    night took it out again): the wall's title says nothing about what the URL stands for.
    A 302 to another article's page still drifts."""
    url = "https://a.example/2024/05/01/bike-lanes"
    data: dict[str, Any] = {"title": "City council approves bike lanes", "webUrl": url}
    results = {url: _result(url, LinkStatus.OK, final_url=final, redirects=(url,),
                            page=PageMeta(title="Celebrity gossip of the week"))}
    slots = [_slot((), "webUrl", LinkKind.PAGE, url)]
    entry = build_edits(data, slots, results, EnrichOptions(now=NOW))[()]["linkCheck"]["webUrl"]
    assert entry["status"] == "ok"
    assert entry.get("titleDrift", False) is drift
    # a record that really drifted keeps saying so through a detour night (diff review)
    data["linkCheck"] = {"webUrl": {"status": "ok", "titleDrift": True, "since": NOW}}
    entry = build_edits(data, slots, results, EnrichOptions(now=NOW))[()]["linkCheck"]["webUrl"]
    assert entry.get("titleDrift") is True


@pytest.mark.parametrize(("url", "final"), [
    ("https://b.example/bike-lanes?amp=1", "https://b.example/"),  # no title: no drift
    ("https://b.example/index.php?option=com_content&id=42", "https://b.example/"),
    ("https://old.example/story", "https://new.example/"),
])
def test_update_redirects_never_writes_a_front_page_over_a_url(url: str, final: str) -> None:
    """A reachability URL has no title to drift, and a short or old-domain path is no
    "deep article": a permanent redirect to a front page still is no new home of it."""
    edits = _amp_redirected(url, final)
    assert "ampWebUrl" not in edits[()]
    assert edits[()]["linkCheck"]["ampWebUrl"]["status"] == "redirected"


def _amp_redirected(url: str, final: str) -> dict[Any, dict[str, Any]]:
    """The edits of a record whose ampWebUrl ``url`` 301s to ``final``, with
    --update-redirects."""
    slots = [_slot((), "ampWebUrl", LinkKind.REACH, url)]
    results = {url: _result(url, LinkStatus.REDIRECTED, kind=LinkKind.REACH, http_status=301,
                            reason="moved_permanently", final_url=final)}
    return build_edits({"ampWebUrl": url}, slots, results,
                       EnrichOptions(now=NOW, update_redirects=True))


def test_update_redirects_leaves_a_target_a_record_would_read_as_another_url() -> None:
    """A Location of ``/t?a=1&amp;b=2`` is fetched as written; written into a record it
    would be read (HTML-escaped) as ``&b=2``, a URL nobody checked: left unwritten."""
    url, final = "https://b.example/amp", "https://b.example/t?a=1&amp;b=2"
    edits = _amp_redirected(url, final)
    assert "ampWebUrl" not in edits[()]
    assert edits[()]["linkCheck"]["ampWebUrl"]["finalUrl"] == final
    edits = _amp_redirected(url, "https://b.example/t?a=1&b=2")
    assert edits[()]["ampWebUrl"] == "https://b.example/t?a=1&b=2"


def test_a_dead_link_reached_through_a_redirect_names_where_it_led() -> None:
    """The URL answers 301; the 404 is its target's: the entry says where it led (an ``ok``
    through a temporary redirect stays as it was: no key added to every such record)."""
    url = "https://b.example/old"
    slots = [_slot((), "webUrl", LinkKind.PAGE, url)]
    dead = {url: _result(url, LinkStatus.DEAD, http_status=404,
                         final_url="https://b.example/new", redirects=(url,))}
    entry = build_edits({"webUrl": url}, slots, dead, EnrichOptions(now=NOW))[()]["linkCheck"]
    assert entry["webUrl"]["finalUrl"] == "https://b.example/new"
    ok = {url: _result(url, LinkStatus.OK, final_url="https://b.example/new", redirects=(url,))}
    entry = build_edits({"webUrl": url}, slots, ok, EnrichOptions(now=NOW))[()]["linkCheck"]
    assert "finalUrl" not in entry["webUrl"]


def test_an_image_slot_given_a_page_result_is_not_an_image() -> None:
    """One URL cited as a page (webUrl) and as an image is fetched once, as a page: its
    image slot got ``ok`` for an HTML page; it says ``not_an_image`` unless the page was an
    image after all."""
    url = "https://b.example/story"
    data = {"webUrl": url, "images": [{"url": url}]}
    slots = [_slot((), "webUrl", LinkKind.PAGE, url),
             _slot(("images", 0), "url", LinkKind.IMAGE, url)]
    html = {url: _result(url, LinkStatus.OK, content_type="text/html",
                         page=PageMeta(title="Story"))}
    edits = build_edits(data, slots, html, EnrichOptions(now=NOW))
    assert edits[()]["linkCheck"]["webUrl"]["status"] == "ok"
    image = edits[("images", 0)]["linkCheck"]["url"]
    assert (image["status"], image["reason"]) == ("error", "not_an_image")
    for ctype in ("image/png", "Image/PNG", "application/octet-stream", None):  # S3: octet
        other = {url: _result(url, LinkStatus.OK, content_type=ctype)}
        edits = build_edits(data, slots, other, EnrichOptions(now=NOW))
        assert edits[("images", 0)]["linkCheck"]["url"]["status"] == "ok", ctype
    xhtml = {url: _result(url, LinkStatus.OK, content_type="Application/XHTML+XML")}
    edits = build_edits(data, slots, xhtml, EnrichOptions(now=NOW))
    assert edits[("images", 0)]["linkCheck"]["url"]["reason"] == "not_an_image"


def test_a_failed_image_probe_keeps_the_measured_image_the_record_holds() -> None:
    """The page answers, its og:image answers 503 once: livePage.image took the page's
    declared sizes, and the next good night measured ones again (two rewrites per outage of
    an image server). It keeps what the record holds for the same image URL."""
    url, img = "https://b.example/story", "https://cdn.example/a.jpg"
    held = {"url": img, "width": 712, "height": 304, "type": "jpeg"}
    data = {"webUrl": url, "livePage": {"title": "Story", "image": held}}
    slots = [_slot((), "webUrl", LinkKind.PAGE, url)]
    declared = PageMeta(title="Story", image=ImageInfo(img, None, 1100, 619))
    for probe in (_result(img, LinkStatus.ERROR, kind=LinkKind.IMAGE, http_status=503,
                          reason="http_503"), None):
        results = {url: _result(url, LinkStatus.OK, page=declared)}
        if probe is not None:
            results[img] = probe
        edits = build_edits(data, slots, results, EnrichOptions(now=NOW))
        assert edits[()]["livePage"]["image"] == held
    other = PageMeta(title="Story", image=ImageInfo("https://cdn.example/b.jpg", None, 1100, 619))
    edits = build_edits(data, slots, {url: _result(url, LinkStatus.OK, page=other)},
                        EnrichOptions(now=NOW))
    assert edits[()]["livePage"]["image"]["url"] == "https://cdn.example/b.jpg"  # another image
    measured = {url: _result(url, LinkStatus.OK, page=declared),
                img: _result(img, LinkStatus.OK, kind=LinkKind.IMAGE,
                             image=ImageInfo(img, "jpeg", 800, 400))}
    edits = build_edits(data, slots, measured, EnrichOptions(now=NOW))
    assert edits[()]["livePage"]["image"] == {"url": img, "width": 800, "height": 400,
                                              "type": "jpeg"}  # measured tonight: new facts


@pytest.mark.parametrize("final", [
    "https://a.example/en/", "https://a.example/news/", "https://a.example/tag/bike-lanes/",
    "https://a.example/category/city/", "https://a.example/?s=bike+lanes",
    "https://a.example/consent?continue=https://a.example/2021/05/council-bike-lanes",
    "https://sso.a.example/login?next=%2F2021%2F05%2Fcouncil-bike-lanes",
])
def test_a_redirect_to_a_listing_or_gate_never_stands_for_the_article(final: str) -> None:
    """A 302 to a consent gate, a language front page or a section (one night), or a 301 to
    a tag or search page: livePage was rewritten with that page's metadata (and back the
    next night), and --update-redirects wrote the tag or search URL over the article's.
    Titles that share a word with the record's ("Bike lanes - Tag") drift too little to
    tell; the target's shape does."""
    url = "https://a.example/2021/05/council-bike-lanes"
    data = {"title": "Council approves bike lanes", "webUrl": url,
            "livePage": {"title": "Council approves bike lanes"}}
    slots = [_slot((), "webUrl", LinkKind.PAGE, url)]
    for status, code in ((LinkStatus.OK, 200), (LinkStatus.REDIRECTED, 200)):
        results = {url: _result(url, status, http_status=code, final_url=final,
                                reason="http_301", page=PageMeta(title="Bike lanes - A News"))}
        edits = build_edits(data, slots, results,
                            EnrichOptions(now=NOW, update_redirects=True, fill_missing=True))
        assert "livePage" not in edits[()], final  # stays as it was
        assert "webUrl" not in edits[()], final  # never written over the article's URL


@pytest.mark.parametrize("status", [None, LinkStatus.INVALID])
def test_previous_url_survives_a_night_the_url_was_not_fetched(
        status: LinkStatus | None) -> None:
    """A slot skipped tonight (``--exclude``) or invalid: its entry is rewritten without a
    result, and the ``previousUrl`` an earlier ``--update-redirects`` kept was lost for good
    (README: "the old URL is in previousUrl for a person to put back")."""
    url, old = "https://b.example/z", "https://b.example/y"
    data = {"webUrl": url, "linkCheck": {"webUrl": {
        "status": "ok", "since": "2026-11-01T03:00:00Z", "previousUrl": old}}}
    slots = [_slot((), "webUrl", LinkKind.PAGE, url, status=status,
                   reason="bad_url" if status else None)]
    edits = build_edits(data, slots, {}, EnrichOptions(now=NOW))
    entry = edits[()]["linkCheck"]["webUrl"]
    assert entry["status"] == (status or LinkStatus.SKIPPED).value
    assert entry["previousUrl"] == old


def test_update_redirects_never_writes_a_non_cache_url_over_cdn_amp_web_url() -> None:
    """The AMP cache answered 301 to the publisher's AMP page: written over
    ``cdnAmpWebUrl``, the next run found the field mismatched (``amp_cache_mismatch``) and
    the cache URL was lost from the record. It stays, ``redirected`` with ``finalUrl``."""
    from enricher.links import amp_cache_url

    amp = "https://b.example/amp/y"
    cdn = amp_cache_url(amp) or ""
    data = {"related": [{"webUrl": "https://b.example/y", "ampWebUrl": amp,
                         "cdnAmpWebUrl": cdn}]}
    slots = [_slot(("related", 0), "ampWebUrl", LinkKind.REACH, amp),
             _slot(("related", 0), "cdnAmpWebUrl", LinkKind.REACH, cdn)]
    results = {amp: _result(amp, LinkStatus.OK, kind=LinkKind.REACH),
               cdn: _result(cdn, LinkStatus.REDIRECTED, kind=LinkKind.REACH, http_status=301,
                            final_url=amp)}
    edits = build_edits(data, slots, results, EnrichOptions(now=NOW, update_redirects=True))
    assert "cdnAmpWebUrl" not in edits[("related", 0)]
    entry = edits[("related", 0)]["linkCheck"]["cdnAmpWebUrl"]
    assert (entry["status"], entry["finalUrl"]) == ("redirected", amp)


def test_an_out_copy_keeps_the_values_it_filled_in_when_the_page_changes() -> None:
    """``--out --fill-missing``: the record's title stays empty, so each night could fill
    it again; the copy's filled title, excerpt and images are present values there, as in a
    record enriched in place, and tonight's changed page must not replace them."""
    url, img, img2 = "https://b.example/y", "https://b.example/i.png", "https://b.example/j.png"
    data: dict[str, Any] = {"webUrl": url, "title": "", "excerpt": None}
    slots = [_slot((), "webUrl", LinkKind.PAGE, url)]
    options = EnrichOptions(now=NOW, fill_missing=True)

    def night(title: str, image: str) -> dict[str, Any]:
        page = PageMeta(title=title, description=f"About {title}",
                        image=ImageInfo(url=image, type="png"))
        results = {url: _result(url, LinkStatus.OK, page=page),
                   image: _result(image, LinkStatus.OK, kind=LinkKind.IMAGE,
                                  image=ImageInfo(type="png"))}
        return results

    first = build_edits(data, slots, night("Bike lanes", img), options)[()]
    assert (first["title"], first["excerpt"]) == ("Bike lanes", "About Bike lanes")
    copy = {**data, **first}
    later = build_edits(data, slots, night("Bike lanes (updated)", img2), options, copy)[()]
    assert (later["title"], later["excerpt"]) == ("Bike lanes", "About Bike lanes")
    assert later["images"] == first["images"]
    assert later["livePage"]["title"] == "Bike lanes (updated)"  # the page's own: tonight's


@pytest.mark.parametrize(("tonight", "confirmed", "kept"), [
    (LinkStatus.ERROR, None, True),  # a 503 night: the dead entry stays
    (LinkStatus.TIMEOUT, None, True),
    (LinkStatus.BLOCKED, None, True),
    (LinkStatus.DEAD, False, True),  # dead again, the history counting anew: still confirmed
    (LinkStatus.OK, None, False),  # recovered: written
])
def test_one_bad_night_never_unconfirms_a_dead_entry(tonight: LinkStatus, confirmed: bool | None,
                                                     kept: bool) -> None:
    """A confirmed dead link, then a night of 503s: the record said error/http_503 with a new
    ``since``, and the next 404 night dead, confirmed: false, so --prune-dead waited three
    runs more (README: one bad night never changes a record)."""
    url = "https://a.example/x"
    entry = {"status": "dead", "httpStatus": 404, "reason": "http_404", "confirmed": True,
             "since": "2026-11-01T03:00:00Z"}
    data = {"webUrl": url, "linkCheck": {"webUrl": entry}}
    slots = [_slot((), "webUrl", LinkKind.PAGE, url)]
    code = {LinkStatus.DEAD: 404, LinkStatus.OK: 200, LinkStatus.ERROR: 503}.get(tonight)
    result = _result(url, tonight, http_status=code, confirmed=confirmed,
                     reason="http_404" if tonight is LinkStatus.DEAD else "x")
    got = build_edits(data, slots, {url: result}, EnrichOptions(now=NOW, history=True))
    assert (got[()]["linkCheck"]["webUrl"] == entry) is kept
    if tonight is LinkStatus.DEAD:
        assert got[()]["linkCheck"]["webUrl"]["since"] == "2026-11-01T03:00:00Z"


def test_a_dead_web_url_lets_the_original_urls_page_stand_in_on_a_bad_night() -> None:
    """While webUrl was dead, originalUrl's page stood in for livePage and --fill-missing; a
    night of timeouts (the dead entry kept) shut it out, for as long as the dead site kept
    failing otherwise (a review of the rule that keeps a dead entry)."""
    data = {"title": "", "originalUrl": "https://o.example/a", "webUrl": "https://a.example/x",
            "linkCheck": {"webUrl": {"status": "dead", "confirmed": True,
                                     "since": "2026-01-01T00:00:00Z"}}}
    slots = [_slot((), "originalUrl", LinkKind.PAGE, "https://o.example/a"),
             _slot((), "webUrl", LinkKind.PAGE, "https://a.example/x")]
    results = {"https://o.example/a": _result("https://o.example/a", LinkStatus.OK,
                                              page=PageMeta(title="Other story")),
               "https://a.example/x": _result("https://a.example/x", LinkStatus.TIMEOUT,
                                              reason="timeout")}
    edits = build_edits(data, slots, results,
                        EnrichOptions(now=NOW, history=True, fill_missing=True))[()]
    assert edits["linkCheck"]["webUrl"]["status"] == "dead"  # kept
    assert edits["livePage"]["title"] == "Other story" and edits["title"] == "Other story"


def test_prune_dead_follows_the_historys_confirmation_not_the_entrys() -> None:
    """A record's entry is not tied to its URL: an editor who puts an item back from
    deadRelated with a corrected URL leaves its old ``confirmed: true`` entry, and trusting it
    moved the item on the new URL's first 404 (a review). Only the history confirms."""
    from enricher.spans import MoveItems

    url = "https://r.example/0"
    data = {"related": [{"webUrl": url, "linkCheck": {"webUrl": {
        "status": "dead", "confirmed": True, "since": "2026-01-01T00:00:00Z"}}}]}
    slots = [_slot(("related", 0), "webUrl", LinkKind.PAGE, url)]
    options = EnrichOptions(now=NOW, history=True, prune_dead=True)
    for confirmed in (False, True):
        result = _result(url, LinkStatus.DEAD, http_status=404, confirmed=confirmed)
        edits = build_edits(data, slots, {url: result}, options)
        assert (edits.get(()) == {"related": MoveItems((0,), "deadRelated")}) is confirmed
