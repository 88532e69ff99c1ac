"""decode_html: BOM, HTTP charset, <meta charset>, XML declaration, UTF-8, cp1252 fallback."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enricher.decode import (
    LATE_META_SCAN_BYTES,
    META_SCAN_BYTES,
    charset_from_content_type,
    decode_html,
    lookup_label,
)

JAPANESE = "日本語のニュース記事"
GERMAN = "Grüße aus Köln – „Straße“"


def page(charset_meta: str, text: str) -> str:
    return f"<html><head>{charset_meta}<title>{text}</title></head><body>{text}</body></html>"


def test_empty_body() -> None:
    assert decode_html(b"", None) == ""
    assert decode_html(b"", "text/html; charset=utf-8") == ""


def test_plain_utf8_without_any_declaration() -> None:
    body = page("", GERMAN).encode("utf-8")
    assert decode_html(body, None) == page("", GERMAN)


def test_utf8_bom_wins_over_a_wrong_header_and_is_removed() -> None:
    body = codecs.BOM_UTF8 + page("", GERMAN).encode("utf-8")
    assert decode_html(body, "text/html; charset=windows-1252") == page("", GERMAN)


def test_utf16_boms() -> None:
    text = page("", JAPANESE)
    assert decode_html(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), None) == text
    assert decode_html(codecs.BOM_UTF16_BE + text.encode("utf-16-be"), None) == text


def test_header_charset_is_used() -> None:
    text = page("", "Привет, мир")
    assert decode_html(text.encode("koi8-r"), "text/html; charset=KOI8-R") == text


def test_quoted_header_charset() -> None:
    text = page("", GERMAN)
    assert decode_html(text.encode("cp1252"), 'text/html; charset="ISO-8859-1"') == text


def test_meta_charset_shift_jis() -> None:
    text = page('<meta charset="shift_jis">', JAPANESE)
    assert decode_html(text.encode("shift_jis"), None) == text


def test_meta_http_equiv_content_type() -> None:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=euc-jp">'
    text = page(meta, JAPANESE)
    assert decode_html(text.encode("euc_jp"), "text/html") == text


def test_wrong_header_charset_falls_through_to_the_meta() -> None:
    text = page('<meta charset="Shift_JIS">', JAPANESE)
    assert decode_html(text.encode("shift_jis"), "text/html; charset=utf-8") == text


def test_latin1_header_on_a_utf8_page_keeps_utf8() -> None:
    text = page('<meta charset="utf-8">', GERMAN)
    assert decode_html(text.encode("utf-8"), "text/html; charset=iso-8859-1") == text


def test_legacy_meta_on_a_transcoded_utf8_page_keeps_utf8() -> None:
    text = page('<meta charset="windows-1251">', "Привет")
    assert decode_html(text.encode("utf-8"), None) == text


def test_iso_8859_1_label_means_windows_1252() -> None:
    text = page('<meta charset="iso-8859-1">', "It’s “quoted” – €5")
    assert decode_html(text.encode("cp1252"), None) == text
    assert lookup_label("latin1") == lookup_label("US-ASCII") == "cp1252"


def test_undeclared_cp1252_falls_back_from_utf8() -> None:
    text = page("", "Café, crème brûlée – naïve résumé")
    assert decode_html(text.encode("cp1252"), None) == text


def test_cp1252_undefined_bytes_never_raise() -> None:
    assert decode_html(b"<title>\x81\x8d\x8f\x90\x9d</title>", "text/html; charset=latin1") \
        == "<title>\x81\x8d\x8f\x90\x9d</title>"


def test_invalid_utf8_is_replaced_not_raised() -> None:
    body = ("<title>" + "ok " * 50 + "</title>").encode() + b"\xff\xfe" + "é".encode() * 40
    text = decode_html(body, "text/html; charset=utf-8")
    assert text.startswith("<title>ok ok")
    assert "\ufffd" in text
    assert text.endswith("é" * 40)


def test_truncated_multibyte_sequence_at_the_cap_is_dropped() -> None:
    body = ("<title>" + JAPANESE).encode("utf-8") + "語".encode()[:2]  # cut inside it
    assert decode_html(body, None) == "<title>" + JAPANESE


def test_xml_declaration() -> None:
    text = '<?xml version="1.0" encoding="ISO-8859-2"?><html><title>Zażółć</title></html>'
    assert decode_html(text.encode("iso8859_2"), None) == text


def test_unknown_labels_are_ignored() -> None:
    text = page('<meta charset="no-such-charset">', GERMAN)
    assert decode_html(text.encode("utf-8"), "text/html; charset=x-bogus") == text
    assert lookup_label("x-bogus") is None
    assert charset_from_content_type("text/html") is None
    assert charset_from_content_type(None) is None


def test_meta_after_the_late_scan_window_is_not_used() -> None:
    filler = "<!--" + "x" * LATE_META_SCAN_BYTES + "-->"
    text = f"<html><head>{filler}<meta charset=koi8-r><title>тест</title></head></html>"
    decoded = decode_html(text.encode("koi8-r"), None)
    assert "тест" not in decoded  # not declared in time: decoded as windows-1252, no crash


@pytest.mark.parametrize(("label", "codec", "title"), [
    ("windows-1251", "cp1251", "Новости дня"),
    ("Shift_JIS", "shift_jis", JAPANESE),
    ("ISO-8859-2", "iso8859_2", "Zażółć gęślą jaźń"),
    ("koi8-r", "koi8_r", "Привет, мир"),
    ("euc-kr", "euc_kr", "한국어 뉴스"),
])
@pytest.mark.parametrize("declare", ['<meta charset="{}">',
                                     "<meta http-equiv='Content-Type' content='text/html; "
                                     "charset={}'>"])
@pytest.mark.parametrize("filler", [META_SCAN_BYTES, 30_000])
def test_a_late_meta_on_a_legacy_page_is_used(label: str, codec: str, title: str,
                                              declare: str, filler: int) -> None:
    """A legacy page whose meta comes after a long script or style (past the first
    META_SCAN_BYTES): its bytes are no UTF-8, so the meta is looked for further, as a
    browser re-decodes on it (they were windows-1252 mojibake: "Íîâîñòè äíÿ")."""
    text = (f"<html><head><script>{'x' * filler}</script>{declare.format(label)}"
            f"<title>{title}</title></head><body><p>{title}</p></body></html>")
    assert text.index("<meta") > META_SCAN_BYTES
    assert decode_html(text.encode(codec), "text/html") == text
    assert decode_html(text.encode(codec), None) == text


def test_a_late_meta_never_beats_utf8_the_header_or_a_comment() -> None:
    text = (f"<html><head><style>{'x' * 3000}</style><meta charset=windows-1251>"
            "<title>Новости</title></head></html>")
    assert decode_html(text.encode("utf-8"), None) == text  # valid UTF-8 wins, as before
    koi = text.encode("koi8-r")  # the HTTP header outranks any meta, early or late
    assert decode_html(koi, "text/html; charset=koi8-r") == text
    late_comment = text.replace("<meta charset=windows-1251>", "<!-- <meta charset=koi8-r> -->")
    assert "Новости" not in decode_html(late_comment.encode("koi8-r"), None)


def test_gb2312_label_decodes_as_gb18030() -> None:
    text = page('<meta charset="gb2312">', "中文新闻")
    assert decode_html(text.encode("gb18030"), None) == text


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=2048),
       content_type=st.none() | st.sampled_from(["text/html; charset=utf-8", "text/html",
                                                  "text/html; charset=shift_jis",
                                                  "text/html; charset=utf-16", "x; charset="]))
def test_never_raises(body: bytes, content_type: str | None) -> None:
    assert isinstance(decode_html(body, content_type), str)


def test_utf8_declared_legacy_bytes_fall_back_to_cp1252() -> None:
    # Every non-ASCII byte is invalid UTF-8: the page is really windows-1252.
    assert decode_html(b"<meta charset=utf-8><title>K\xf6ln</title>", None) == (
        "<meta charset=utf-8><title>K\u00f6ln</title>")


def test_one_bad_byte_in_real_utf8_keeps_its_replacement_character() -> None:
    body = "<meta charset=utf-8><title>K\u00f6ln caf\u00e9 \u00e0 \u00e9t\u00e9</title>"
    raw = body.encode().replace("\u00f6".encode(), b"\xf6")
    assert "K\ufffdln caf\u00e9" in decode_html(raw, None)


def test_declared_utf8_with_a_stray_latin1_footer_stays_utf8() -> None:
    """A browser follows a declared UTF-8: three curly quotes and three stray Latin-1
    bytes (a footer include) must not turn the page into windows-1252 mojibake."""
    body = ("<html><head><title>It\u2019s \u201chere\u201d</title></head><body>".encode()
            + b"\xa9 M\xfcller Caf\xe9</body></html>")
    for header, meta in (("text/html; charset=utf-8", b""), (None, b"<meta charset=utf-8>")):
        text = decode_html(meta + body, header)
        assert "It\u2019s \u201chere\u201d" in text and "\ufffd M\ufffdller" in text
    # undeclared, the same bytes are judged by the share of bad bytes (as before)
    assert "It\u2019s" not in decode_html(body, None)


@pytest.mark.parametrize("meta", [
    b'<meta name="keywords" content="charset=koi8-r">',
    b"<!-- <meta charset=koi8-r> -->",
    b'<meta property="og:description" content="text/html; charset=koi8-r">',
])
def test_only_a_real_meta_declaration_counts(meta: bytes) -> None:
    """A ``charset=`` in another meta's content, or a commented-out meta, declares nothing;
    ``<meta charset>`` and ``http-equiv="Content-Type"`` do."""
    body = meta + "<title>\u041c\u043e\u0441\u043a\u0432\u0430</title>".encode("koi8-r")
    assert "\u041c\u043e\u0441\u043a\u0432\u0430" not in decode_html(body, None)
    for real in (b"<meta charset=koi8-r>",
                 b"<meta http-equiv='Content-Type' content='text/html; charset=koi8-r'>"):
        assert "\u041c\u043e\u0441\u043a\u0432\u0430" in decode_html(meta + real + body, None)


def test_undefined_windows_1252_bytes_are_c1_controls_in_bulk() -> None:
    """The five bytes windows-1252 leaves undefined become C1 controls (a table, in C: a
    Python error handler called per byte took half a second for 512 KiB of them)."""
    body = b"\x81\x8d\x8f\x90\x9d" * 100_000
    assert decode_html(body, "text/html; charset=windows-1252") == "\x81\x8d\x8f\x90\x9d" * 100_000
