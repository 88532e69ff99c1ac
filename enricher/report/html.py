"""HTML report: one self-contained page (inline CSS and JS, no external assets).

Counts at the top (``#counts li[data-status][data-count]``, a total included), then a table
with one row per link (``tr[data-status][data-host][data-records]``; ``data-records`` is the
distinct citing files joined by spaces), sortable by clicking a
column header and filterable by status (select), host (text) and record (text). The filters
and the sort order can be preset from the URL fragment, e.g.
``report.html#status=dead&host=example.com&sort=-http`` (keys in ``_HEADERS``); rows
that do not match get the ``hidden`` attribute, so even a DOM dump shows the filter's effect.
Redirects worth updating, top failing hosts, record errors and changes (when given) follow.

Safety: every value is HTML-escaped (attributes quoted); control and bidi characters are shown
as escapes; only fetched http(s) URLs become links (``rel=noopener noreferrer``), never
those the address policy refused. A Content Security Policy allows nothing but this page's
own style and script (by hash): no network access, and injected markup could not run script
even if escaping failed.

This module renders only; every number and list comes from ``enricher.report.model``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html import escape
from typing import TextIO

from enricher.config import DEFAULT_FAIL_ON
from enricher.models import RunResult
from enricher.report.model import (
    CHANGE_KINDS,
    STATUS_ORDER,
    Changes,
    Entry,
    change_tags,
    change_urls,
    counts_by_status,
    entries,
    origin_text,
    printable,
    redirects_worth_updating,
    run_line,
    top_failing_hosts,
    totals,
)

SOURCES_SHOWN = 3  # more sources fold into a <details>

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.5em 0 .5em}
.meta{color:#555}.aborted{color:#a00;font-weight:bold}
#counts{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5em}
#counts li{border:1px solid #ccc;border-radius:4px;padding:.3em .7em}
#counts .n{font-weight:bold;font-size:1.2em;margin-right:.3em}
#filters{margin:1em 0;display:flex;gap:1em;flex-wrap:wrap;align-items:center}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}th button{font:inherit;font-weight:bold;background:none;border:0;
cursor:pointer;padding:0}th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
tr[hidden]{display:none}ul.src{margin:0;padding-left:1.1em}
.s-ok{color:#176117}.s-redirected{color:#0b5d8a}.s-dead{color:#b00;font-weight:bold}
.s-blocked,.s-timeout{color:#8a5a00}.s-error{color:#8a008a}.s-invalid,.s-skipped{color:#666}
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("links");
  var body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var fStatus = document.getElementById("f-status");
  var fHost = document.getElementById("f-host");
  var fRecord = document.getElementById("f-record");
  var shown = document.getElementById("shown");
  var sorted = "";
  function apply() {
    var st = fStatus.value, host = fHost.value.trim().toLowerCase();
    var rec = fRecord.value.trim().toLowerCase(), n = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var ok = (!st || row.dataset.status === st) &&
        (!host || row.dataset.host.toLowerCase().indexOf(host) !== -1) &&
        (!rec || row.dataset.records.toLowerCase().indexOf(rec) !== -1);
      row.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = String(n);
  }
  function toHash() {
    var p = new URLSearchParams();
    if (fStatus.value) { p.set("status", fStatus.value); }
    if (fHost.value) { p.set("host", fHost.value); }
    if (fRecord.value) { p.set("record", fRecord.value); }
    if (sorted) { p.set("sort", sorted); }
    try { history.replaceState(null, "", "#" + p.toString()); } catch (e) { /* file: */ }
  }
  function sortBy(th, dir) {
    var col = th.cellIndex, numeric = th.dataset.type === "number";
    heads.forEach(function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    sorted = (dir === 1 ? "" : "-") + th.dataset.key;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      if (numeric) { return dir * ((Number(x) || 0) - (Number(y) || 0)); }
      return dir * (x < y ? -1 : x > y ? 1 : 0);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function fromHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    var st = p.get("status") || "", sort = p.get("sort") || "";
    fStatus.value = Array.prototype.some.call(fStatus.options, function (o) {
      return o.value === st; }) ? st : "";
    fHost.value = p.get("host") || "";
    fRecord.value = p.get("record") || "";
    var desc = sort.charAt(0) === "-", key = desc ? sort.slice(1) : sort;
    heads.forEach(function (th) { if (key && th.dataset.key === key) {
      sortBy(th, desc ? -1 : 1); } });
    apply();
  }
  [fStatus, fHost, fRecord].forEach(function (el) {
    el.addEventListener("input", function () { apply(); toHash(); });
  });
  heads.forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      sortBy(th, th.getAttribute("aria-sort") === "ascending" ? -1 : 1);
      toHash();
    });
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
"""


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


CSP = (
    f"default-src 'none'; style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)}; "
    "img-src 'none'; base-uri 'none'; form-action 'none'"
)


_HTML_SPECIAL = re.compile(r"[&<>\"']")


def h(text: str) -> str:
    """Visible text: controls shown as escapes, then HTML-escaped (quotes included)."""
    text = printable(text)
    return escape(text, quote=True) if _HTML_SPECIAL.search(text) else text


def attr(text: str) -> str:
    """An attribute value, like visible text: controls shown as escapes, HTML-escaped."""
    return h(text)


def _link(url: str | None) -> str:
    if not url:
        return ""
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{attr(url)}" rel="noopener noreferrer">{h(url)}</a>'
    return h(url)


def _refused(e: Entry) -> bool:
    """Never a link: a slot (a skipped URL may point at an internal address), or a URL the
    address policy refused (forbidden_address, forbidden_port, ...: itself or a redirect hop)."""
    return e.result is None or e.result.reason.startswith("forbidden_")


def _sources(e: Entry) -> str:
    items = [f"<li>{h(origin_text(o))}</li>" for o in e.sources]
    if len(items) <= SOURCES_SHOWN:
        return f'<ul class="src">{"".join(items)}</ul>'
    more = len(items) - SOURCES_SHOWN
    return (
        f'<ul class="src">{"".join(items[:SOURCES_SHOWN])}</ul>'
        f'<details><summary>{more} more</summary><ul class="src">'
        f"{''.join(items[SOURCES_SHOWN:])}</ul></details>"
    )


def _td(content: str, sort: str | int) -> str:
    return f'<td data-sort="{attr(str(sort))}">{content}</td>'


def _row(e: Entry, tags: tuple[str, ...]) -> str:
    r = e.result
    http = r.http_status if r is not None and r.http_status is not None else ""
    title = r.page.title if r is not None and r.page is not None and r.page.title else ""
    final = r.final_url if r is not None and r.final_url else ""
    records = " ".join(dict.fromkeys(o.file for o in e.sources))  # distinct, in order
    refused = _refused(e)
    label = f"<code>{h(e.label)}</code>" if refused else _link(e.url)
    final_cell = h(final) if refused else _link(final)
    change = f' data-change="{attr(" ".join(tags))}"' if tags else ""
    cells = (
        _td(
            f'<span class="s-{e.status.value}">{h(e.status.value)}</span>',
            STATUS_ORDER.index(e.status),
        ),
        _td(label, e.label),
        _td(h(e.reason), e.reason),
        _td(h(str(http)), http),
        _td(final_cell, final),
        _td(h(title), title),
        _td(_sources(e), records),
    )
    return (
        f'<tr data-status="{attr(e.status.value)}" data-host="{attr(e.host)}" '
        f'data-records="{attr(records)}"{change}>{"".join(cells)}</tr>'
    )


#: (header, sort key for ``#sort=<key>`` / ``#sort=-<key>``, sort type)
_HEADERS = (
    ("Status", "status", "number"),
    ("Link", "link", "text"),
    ("Reason", "reason", "text"),
    ("HTTP", "http", "number"),
    ("Final URL", "final", "text"),
    ("Title", "title", "text"),
    ("Cited by", "cited", "text"),
)


def _url_list(urls: tuple[str, ...] | list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_link(u)}</li>" for u in urls) + "</ul>"


def _extras(run: RunResult, changes: Changes | None) -> list[str]:
    out: list[str] = []
    redirects = redirects_worth_updating(run)
    out.append(f'<h2>Redirects worth updating ({len(redirects)})</h2><ul id="redirects">')
    for e in redirects:
        target = e.result.final_url if e.result is not None else None
        cited = f" ({len(e.sources)} cited)" if e.sources else ""  # none: from the history
        out.append(f"<li>{_link(e.url)} → {_link(target)}{cited}</li>")
    out.append("</ul>")
    hosts = top_failing_hosts(run)
    out.append(f'<h2>Top failing hosts ({len(hosts)})</h2><ul id="hosts">')
    for fh in hosts:
        by = ", ".join(f"{s.value} {n}" for s, n in fh.by_status)
        out.append(f"<li><code>{h(fh.host)}</code>: {fh.failing} of {fh.total} ({h(by)})</li>")
    out.append("</ul>")
    out.append(f'<h2>Record errors ({len(run.record_errors)})</h2><ul id="record-errors">')
    out += [f"<li>{h(str(err))}</li>" for err in run.record_errors]
    out.append("</ul>")
    if changes is not None:
        # a changed URL is a link only when this run fetched it and the policy let it through
        linkable = {e.url for e in entries(run) if e.url is not None and not _refused(e)}
        out.append('<section id="changes"><h2>Changes since the previous run</h2>')
        ages = {s.url: s for s in changes.still_dead}
        for kind in CHANGE_KINDS:
            urls = change_urls(changes, kind)
            out.append(
                f'<h3 data-change="{kind}" data-count="{len(urls)}">'
                f"{h(kind.replace('_', ' '))} ({len(urls)})</h3><ul>"
            )
            for u in urls:
                age = f" since {h(ages[u].since)} ({ages[u].days:.1f} days)" if u in ages else ""
                shown = _link(u) if u in linkable else f"<code>{h(u)}</code>"
                out.append(f"<li>{shown}{age}</li>")
            out.append("</ul>")
        out.append("</section>")
    return out


def render_html(
    run: RunResult,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> str:
    return "\n".join(_html_lines(run, fail_on, changes)) + "\n"


def _html_lines(run: RunResult, fail_on: frozenset[str], changes: Changes | None,
                ) -> Iterator[str]:
    """The page, line by line: a report with millions of citations is written as it is
    made, never held whole (a 50,000-record run's page took 600 MB)."""
    t = totals(run, fail_on)
    counts = counts_by_status(run)
    tags = change_tags(changes)
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{attr(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>enricher link report: {h(run.command)} {h(run.started_at)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<header><h1>Link report</h1>",
        f'<p class="meta">{h(run_line(run, t))}</p>',
    ]
    if run.aborted:
        out.append(f'<p class="aborted">Run aborted: {h(run.aborted)}</p>')
    out.append('<ul id="counts">')
    for s, n in counts.items():
        out.append(
            f'<li data-status="{s.value}" data-count="{n}" class="s-{s.value}">'
            f'<span class="n">{n}</span>{s.value}</li>'
        )
    out.append(
        f'<li data-status="total" data-count="{t.links}"><span class="n">{t.links}'
        "</span>total</li></ul></header>"
    )
    options = "".join(
        f'<option value="{s.value}">{s.value} ({counts[s]})</option>' for s in STATUS_ORDER
    )
    out.append(
        '<form id="filters" role="search">'
        f'<label>Status <select id="f-status"><option value="">all ({t.links})</option>'
        f"{options}</select></label>"
        '<label>Host <input id="f-host" type="search" placeholder="example.com"></label>'
        '<label>Record <input id="f-record" type="search" placeholder="file name"></label>'
        f'<span><output id="shown">{t.links}</output> shown</span></form>'
    )
    heads = "".join(
        f'<th data-key="{key}" data-type="{kind}"><button type="button">{h(name)}</button></th>'
        for name, key, kind in _HEADERS
    )
    out.append(f'<table id="links"><thead><tr>{heads}</tr></thead><tbody>')
    yield from out
    for e in entries(run):
        yield _row(e, tags.get(e.url or "", ()))
    yield "</tbody></table>"
    yield from _extras(run, changes)
    yield f"<script>{SCRIPT}</script></body></html>"


def write_html(
    run: RunResult,
    stream: TextIO,
    *,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
    changes: Changes | None = None,
) -> None:
    for line in _html_lines(run, fail_on, changes):
        stream.write(line + "\n")
