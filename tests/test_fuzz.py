"""Fuzzing of the three parsers of untrusted input, with hypothesis, bounded and derandomized
so the suite is the same on every run and all of it stays well under two minutes on 2 cores:

* the record reader/writer (``records.read_record`` / ``apply_edits``): any bytes give a
  one-line RecordError, or a Record whose rewrite with ``linkCheck``/``livePage`` reads back
  as the original mapping plus exactly our keys, with the body bytes unchanged (or a clean
  EditError for a layout the writer refuses);
* the HTML extractor (``extract.extract_with_signals``, ``decode.decode_html``): random,
  truncated and deeply nested HTML finishes under a deadline and never raises, not even
  behind the extractor's last safety net; found values are clean;
* the URL cleaner (``net.urls.clean_url``, ``resolve_url``): never raises; a clean URL's host
  is the host httpx (what the fetcher uses) connects to, its port the port, and cleaning
  is idempotent.

Hypothesis keeps no example database here (``database=None``): CI sees the same examples.
An atheris harness would go in ``bench/``; it is not part of the suite.
"""

from __future__ import annotations

import re
import string
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from enricher import extract as extract_module
from enricher import records
from enricher.config import DEFAULT_HTML_PARSE_BYTES, DEFAULT_TITLE_MAX_CHARS
from enricher.decode import decode_html
from enricher.extract import extract_with_signals
from enricher.fields import page_meta
from enricher.models import RecordError
from enricher.net.fetch import request_host
from enricher.net.urls import CleanURL, Rejected, clean_url, resolve_url

PARSE_DEADLINE = 2.0  # seconds one page may take (the measured worst case is ~0.1 s)


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    )


# === records =================================================================================

_YAML_TOKENS = ["---", "...", "- ", ": ", "? ", "&a ", "*a", "!!str ", "!!python/name:os ",
                "<<: *a", "{", "}", "[", "]", ", ", "#", "'", '"', "|", ">", "\n", "\r\n", "  ",
                "\t", "key", "webUrl", "related", "linkCheck", "livePage", "title", "~", "null",
                "NO", "012", "1.10", "12:30", "2024-01-01", ".nan", "0x1f", "\\", "%", "@", "`",
                "é", "\ufeff", "\x00", "\x85", "\u2028"]
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.sampled_from(["yes", "NO", "012", "---", "...", "a: b", "# c"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10,
)


@st.composite
def record_bytes(draw: st.DrawFn) -> bytes:
    """Bytes that are records (mostly), nearly records, or nothing like records."""
    shape = draw(st.sampled_from(["dumped"] * 5 + ["tokens"] * 3 + ["binary"]))
    if shape == "binary":
        return draw(st.binary(max_size=400))
    nl = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    if shape == "dumped":
        data = draw(st.dictionaries(st.text(min_size=1, max_size=10), _values, min_size=1,
                                    max_size=5))
        flow = draw(st.sampled_from([False] * 4 + [None, True]))
        text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=draw(st.booleans()),
                              sort_keys=False)
        if draw(st.booleans()):  # comments and blank lines between entries
            text = text.replace("\n", draw(st.sampled_from(["\n\n", "  # c\n", "\n# c\n"])))
    else:
        text = "".join(draw(st.lists(st.sampled_from(_YAML_TOKENS) | st.text(max_size=5),
                                     max_size=40)))
    framed = shape == "dumped" and draw(st.booleans())  # half of these: a well-formed record
    opening = "---" if framed else draw(st.sampled_from(["---", "--- ", "\ufeff---", "---x", ""]))
    closing = "---" if framed else draw(st.sampled_from(["---", "...", "--- ", "", "----"]))
    body = draw(st.sampled_from(["", "Body.", "---", "---\nx: 1\n---", "\x00", "é\r\n"]))
    whole = nl.join([opening, text.replace("\n", nl).rstrip(nl), closing, body])
    raw = whole.encode("utf-8", "surrogatepass")
    mutation = None if framed else draw(st.sampled_from([None, "cut", "noise"]))
    if mutation is not None:
        at = draw(st.integers(0, len(raw)))
        noise = draw(st.binary(min_size=1, max_size=3)) if mutation == "noise" else None
        raw = raw[:at] if noise is None else raw[:at] + noise + raw[at:]
    return raw


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and types kept apart (1 is not True)."""
    return repr(a) == repr(b)


def _body(record: records.Record) -> str:
    return record._text[record._fm[1] :]


@fuzz(400)
@given(raw=record_bytes(), title=st.text(max_size=60), status=st.sampled_from(["ok", "dead"]))
@example(raw=b"---\ntitle: x\n---\n", title="Hello\n---\nadmin: true", status="ok")
@example(raw=b"---\r\nlinkCheck: 5\r\ntitle: 'q'  # c\r\n...\r\nbody", title="# x", status="ok")
@example(raw=b"\xef\xbb\xbf---\na: &a [1, *a]\n---\n", title="", status="ok")
@example(raw=b"---\nx: !!python/object/apply:os.system ['true']\n---\n", title="", status="ok")
@example(raw=b"---\n{a: 1}\n---\n", title="*", status="dead")
@example(raw=b"---\nurl: 1\nurl: 2\n---\n", title="", status="ok")
def test_any_bytes_give_a_record_error_or_a_faithful_rewrite(
    tmp_path_factory: Any, raw: bytes, title: str, status: str
) -> None:
    path = _scratch(tmp_path_factory) / "r.md"
    path.write_bytes(raw)
    record = records.read_record(path, "r.md")
    if isinstance(record, RecordError):
        event("record error")
        line = str(record)
        assert line.startswith("r.md") and "\n" not in line and "Traceback" not in line
        return
    ours = {
        "linkCheck": {"webUrl": {"status": status, "httpStatus": 200, "since":
                                 "2026-11-27T03:00:00Z"}},
        "livePage": {"title": title} if title else {},
    }
    try:
        new = records.apply_edits(record, {(): ours})
    except records.EditError as exc:  # a layout the writer refuses: a clean record error
        event("edit refused")
        assert "\n" not in str(exc)
        return
    event("rewritten")
    path.write_bytes(new)
    again = records.read_record(path, "r.md")
    assert not isinstance(again, RecordError), (str(again), new)
    expected = {**record.data, **ours}
    assert _same(again.data, expected), (record.data, again.data)
    assert _body(again) == _body(record)  # the body, after the front matter, untouched
    assert new.startswith(b"\xef\xbb\xbf") == raw.startswith(b"\xef\xbb\xbf")
    assert records.apply_edits(again, {(): ours}) == new  # a second run changes nothing


_SCRATCH: dict[str, Path] = {}


def _scratch(factory: Any) -> Path:
    if "dir" not in _SCRATCH:
        _SCRATCH["dir"] = factory.mktemp("fuzz_records")
    return _SCRATCH["dir"]


# === HTML ====================================================================================

_TAGS = ["<html>", "<head>", "</head>", "<body>", "</body>", "<title>", "</title>", "<div>",
         "</div>", "<h1>", "</h1>", "<svg><title>", "</svg>", "<p>", "<table>", "<td>",
         "<script>", "</script>", '<script type="application/ld+json">', "<style>", "</style>",
         "<!--", "-->", "<![CDATA[", "]]>", "<noscript>", "<template>", "<iframe>", "<base href=",
         "<meta property=og:title content=", "<meta name=description content=",
         "<meta property=og:image content=", '<link rel="canonical" href=',
         "<meta charset=shift_jis>", "<meta http-equiv=content-type content='text/html; charset=",
         "<time datetime=", '<meta itemprop="datePublished" content=', "<a href=", ">", "<", "/",
         '"', "'", "=", "&amp;", "&#0;", "&#x202e;", "&#xd800;", "&", ";", "\x00", "\u202e",
         "\ufffd", "javascript:alert(1)", "//evil.example/x.png", "http://127.0.0.1/x.png",
         '{"@type":"NewsArticle","headline":"H","datePublished":"2024-02-30"}', "{", "[", "\n",
         " ", "2024-01-01T12:00:00Z", "é", "日本"]


@st.composite
def html_docs(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["soup", "text", "nested", "page"]))
    if shape == "text":
        return draw(st.text(max_size=3000))
    if shape == "soup":
        return "".join(draw(st.lists(st.sampled_from(_TAGS) | st.text(max_size=8), max_size=200)))
    if shape == "nested":
        tag = draw(st.sampled_from(["div", "span", "a", "table", "b", "svg", "title", "script"]))
        depth = draw(st.integers(0, 30_000))
        head = draw(st.sampled_from(["", "<html><head><title>T</title>", "<head>", "<title>"]))
        tail = draw(st.sampled_from(["", "</head>", f"</{tag}>" * 10, "<h1>x</h1>"]))
        return head + f"<{tag}>" * depth + tail
    title = draw(st.text(max_size=80))
    doc = (f'<!doctype html><html lang="{draw(st.text(max_size=5))}"><head>'
           f"<title>{title}</title><meta property=og:title content=\"{title}\">"
           f"<meta property=og:image content=\"{draw(st.sampled_from(_TAGS))}\">"
           f"<link rel=canonical href=\"{draw(st.text(max_size=30))}\"></head>"
           f"<body><h1>{title}</h1><p>{draw(st.text(max_size=200))}</p></body></html>")
    return doc[: draw(st.integers(0, len(doc)))]  # truncated anywhere


_URL_FIELDS = ("canonical_url", "amp_url")


def _check_meta(meta: Any) -> None:
    for name in ("title", "description", "site_name"):
        value = getattr(meta, name)
        assert value is None or (isinstance(value, str) and value.strip() == value and value)
    if meta.title is not None:
        assert len(meta.title) <= DEFAULT_TITLE_MAX_CHARS
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", meta.title)
    for value in [*(getattr(meta, n) for n in _URL_FIELDS),
                  meta.image.url if meta.image is not None else None]:
        assert value is None or value.startswith(("http://", "https://")), value


@fuzz(250)
@given(doc=html_docs(), url=st.sampled_from(["https://news.example/a/b", "http://127.0.0.1/",
                                               "https://пример.рф/x?y#z"]))
@example(doc="<html><head><title>T</title>" + "<div>" * 140_000, url="https://n.example/")
@example(doc="<title>" + "x" * 5_000_000, url="https://n.example/")
@example(doc="<title>First\x00\u202eX</title><title>Second</title>", url="https://n.example/")
def test_extractor_finishes_in_time_and_never_raises(doc: str, url: str) -> None:
    started = time.monotonic()
    meta, signals = extract_with_signals(doc, url)
    # the same work without the extractor's last safety net: nothing is swallowed there
    page = extract_module._Doc(doc, url, None, DEFAULT_HTML_PARSE_BYTES)
    again = page_meta(page)
    list(page.h1s())
    page.doc_title()
    assert time.monotonic() - started < PARSE_DEADLINE
    assert again == meta
    _check_meta(meta)
    assert signals.title is None or len(signals.title) <= DEFAULT_TITLE_MAX_CHARS


_CHARSETS = ["utf-8", "shift_jis", "iso-8859-1", "windows-1252", "utf-16", "gb2312", "x-bogus",
             "utf-7", "", "replacement", "iso-2022-jp"]


@fuzz(300)
@given(body=st.binary(max_size=4000) | html_docs().map(lambda d: d.encode("utf-8", "replace")),
       charset=st.none() | st.sampled_from(_CHARSETS),
       meta=st.none() | st.sampled_from(_CHARSETS))
@example(body=b"\xff\xfe<\x00t\x00", charset="utf-8", meta=None)
@example(body=b"\x1b$B", charset=None, meta="iso-2022-jp")
def test_decoder_never_raises(body: bytes, charset: str | None, meta: str | None) -> None:
    if meta is not None:
        body = f'<meta charset="{meta}">'.encode() + body
    content_type = None if charset is None else f"text/html; charset={charset}"
    started = time.monotonic()
    text = decode_html(body, content_type)
    assert isinstance(text, str)
    assert time.monotonic() - started < PARSE_DEADLINE


# === URLs ====================================================================================

_NORMAL_LABELS = ["example", "com", "org", "news", "a", "www", "xn--e1afmkfd", "xn--p1ai",
                  "пример", "рф", "127", "0", "1", "localhost", "EXAMPLE", "sub-domain", "_dmarc",
                  "a" * 63]
_HOSTILE_LABELS = ["0x7f", "0177", "2130706433", "a" * 64, "-a", "a-", "%2e", "%00", "\u3002",
                   "\uff0e", "\uff61", "\u200b", "\u2460", "\uff11", "\u0130", "ß", "ﬀ", "ⓔ",
                   "[::1]", "[::ffff:127.0.0.1]", "[fe80::1%25eth0]", "[v1.x]", "[", "]", "@",
                   "#", "\\", "?", ":", "..", "."]
_SEPARATORS = ["."] * 10 + ["", "@", ":", "\u3002", "#@", "\\@", "%40", "%2523@"]
_PATH = st.text(alphabet=string.ascii_letters + string.digits + "/?#&=%@:;.,~+-_!$'()*[]\\ "
                "éß日\u202e", max_size=30)


@st.composite
def url_like(draw: st.DrawFn) -> str:
    if draw(st.booleans()):  # a URL as records hold them, with odd but legal parts
        labels = draw(st.lists(st.sampled_from(_NORMAL_LABELS), min_size=1, max_size=4))
        port = draw(st.sampled_from(["", "", ":8080", ":443", ":80", ":65535"]))
        scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
        return f"{scheme}://{'.'.join(labels)}{port}/{draw(_PATH)}"
    scheme = draw(st.sampled_from(["http"] * 4 + ["https"] * 3 + [
        "HTTP", "hTtPs", "ftp", "javascript", "data", "", " http"]))
    slashes = draw(st.sampled_from(["://"] * 6 + [":/", ":", ":\\\\", ":///", "//"]))
    userinfo = draw(st.sampled_from([""] * 8 + ["user@", "user:pass@", "a@b@", ":@", "%40@"]))
    labels = draw(st.lists(st.sampled_from(_NORMAL_LABELS * 3 + _HOSTILE_LABELS)
                           | st.text(max_size=4), min_size=1, max_size=5))
    seps = draw(st.lists(st.sampled_from(_SEPARATORS), min_size=len(labels),
                         max_size=len(labels)))
    host = "".join(label + sep for label, sep in zip(labels, seps, strict=True))[:-1] or "x"
    if draw(st.integers(0, 9)) == 0:
        host = draw(st.sampled_from(["[::1]", "[::ffff:127.0.0.1]", "[000:0:0000::01]",
                                     "[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "127.0.0.1",
                                     "0177.0.0.1", "127.1", "0", "[fe80::1%25eth0]"]))
    port = draw(st.sampled_from([""] * 5 + [":80", ":443", ":8080", ":0", ":65535", ":65536",
                                            ":-1", ":22", ":", ":08", ":1e3", ": 80"]))
    return f"{scheme}{slashes}{userinfo}{host}{port}/{draw(_PATH)}"


def _connects_to(url: str) -> tuple[str, int]:
    """Where the fetcher connects for a URL it is handed: httpx's host and port."""
    parsed = httpx.URL(url)
    return parsed.raw_host.decode("ascii").rstrip("."), parsed.port or (
        443 if parsed.scheme == "https" else 80)


@fuzz(1500)
@given(raw=url_like() | st.text(max_size=80))
@example(raw="http://example.com\u3002evil.example/")
@example(raw="http://evil.example#@127.0.0.1/")
@example(raw="http://127.0.0.1:80\\@evil.example/")
@example(raw="http://[000:0:0000::01]/")
@example(raw="http://localhost./")
@example(raw="http://\u2460\u2461\u2466.\u24ea.\u24ea.\u2460/")
def test_clean_url_host_is_the_host_httpx_connects_to(raw: str) -> None:
    cleaned = clean_url(raw)
    if isinstance(cleaned, Rejected):
        event(f"rejected {cleaned.reason}")
        assert cleaned.reason and "\n" not in cleaned.detail
        return
    event("clean")
    url = cleaned.url
    assert url.isascii() and not re.search(r"[\x00-\x20\x7f]", url)
    assert url.startswith(("http://", "https://"))
    assert _connects_to(url) == (cleaned.host, cleaned.port)
    assert request_host(url) == cleaned.host  # what the scheduler and headers are keyed by
    assert clean_url(url) == cleaned  # idempotent: the dedupe key is stable


@fuzz(800)
@given(base=st.sampled_from(["https://news.example/a/b?c", "http://[::1]:8080/x/",
                             "http://xn--e1afmkfd.xn--p1ai/"]),
       ref=url_like() | st.text(max_size=40))
@example(base="https://news.example/a/", ref="//evil.example/x.png")
@example(base="https://news.example/a/", ref="http:///path")
def test_resolved_locations_keep_the_same_promise(base: str, ref: str) -> None:
    found = resolve_url(base, ref)
    event("clean" if isinstance(found, CleanURL) else "rejected")
    if isinstance(found, CleanURL):
        assert _connects_to(found.url) == (found.host, found.port)
        assert request_host(found.url) == found.host
        assert clean_url(found.url) == found


@fuzz(600)
@given(raw=url_like())
def test_any_url_handed_to_the_fetcher_is_keyed_by_its_real_host(raw: str) -> None:
    """Uncleaned URLs reach the fetcher too (a page's og:image): the per-host key must be the
    host httpx connects to, or one host's headers could go to another."""
    try:
        parsed = httpx.URL(raw)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, TypeError):
        event("httpx refuses")
        return
    event("parsed")
    assert request_host(raw) == host.rstrip(".")
