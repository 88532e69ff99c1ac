"""Bytes of an HTML page -> text, the way browsers pick an encoding; never raises.

Order (WHATWG "determine the encoding", simplified):

1. a byte order mark (UTF-8, UTF-16 LE/BE) wins outright;
2. valid UTF-8 that contains non-ASCII bytes is decoded as UTF-8 whatever is declared:
   servers that send ``charset=iso-8859-1`` by default and pages saved after transcoding
   are common, while legacy text that happens to be valid UTF-8 is vanishingly rare.
   (Not done for 7-bit encodings such as ISO-2022-JP, or UTF-16.)
3. the declared encodings, in order: the HTTP ``Content-Type`` charset, a ``<meta charset>``
   or ``http-equiv`` content-type in the first :data:`META_SCAN_BYTES` bytes (scanned as
   ASCII on the raw bytes; when none is there and the bytes are not UTF-8, in the first
   :data:`LATE_META_SCAN_BYTES`, as browsers re-decode a page on a late one), then an XML
   declaration. The first one under which the bytes decode without error is used; a wrong
   multi-byte header charset therefore falls through to the page's own declaration (a
   single-byte one such as ``iso-8859-1`` decodes any bytes, so it wins, as it does in
   browsers). When none decodes cleanly, the declared encoding with the fewest replacement
   characters wins (ties: the earlier one);
4. otherwise UTF-8 with U+FFFD replacement, or windows-1252 when UTF-8 fails badly: with
   nothing declared, when most non-ASCII bytes are invalid (the page is really a legacy
   single-byte encoding); with UTF-8 declared, as browsers follow it, only when fewer
   characters decode than bytes fail (a UTF-8 page with a stray Latin-1 footer stays
   UTF-8: its curly quotes must not become "â€™").

A ``<meta>`` declares an encoding by its own ``charset`` attribute, or by the ``content`` of
an ``http-equiv="Content-Type"`` one; a ``charset=`` inside another meta's content (the
keywords) or in a comment declares nothing.

Labels are mapped as in the WHATWG Encoding Standard (``latin1``, ``iso-8859-1`` and
``us-ascii`` mean windows-1252, ``gb2312`` means GB18030, ``shift_jis`` means windows-31j...);
unknown labels are ignored. A multi-byte sequence cut off at the end of a capped body is
dropped, not counted as an error. This module must not do I/O or parse HTML beyond the
charset scan.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["LATE_META_SCAN_BYTES", "META_SCAN_BYTES", "charset_from_content_type", "decode_html",
           "lookup_label"]

#: How far into the body ``<meta charset>`` is looked for (WHATWG says 1024; real pages
#: often put it after long comments or inline styles).
META_SCAN_BYTES = 2048
#: How far it is looked for when none was found there and the bytes are not UTF-8 (a
#: legacy page with a long script or style first: browsers re-decode on a late meta).
LATE_META_SCAN_BYTES = 64 * 1024

# WHATWG label -> Python codec. Only labels that occur on the web in practice.
_GROUPS: dict[str, tuple[str, ...]] = {
    "utf-8": ("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8",
              "x-unicode20utf8"),
    "cp1252": ("ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819",
               "iso-8859-1", "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1",
               "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252", "x-cp1252"),
    "iso8859_2": ("csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592",
                  "iso_8859-2", "iso_8859-2:1987", "l2", "latin2"),
    "iso8859_3": ("csisolatin3", "iso-8859-3", "iso8859-3", "iso_8859-3", "l3", "latin3"),
    "iso8859_4": ("csisolatin4", "iso-8859-4", "iso8859-4", "iso_8859-4", "l4", "latin4"),
    "iso8859_5": ("csisolatincyrillic", "cyrillic", "iso-8859-5", "iso8859-5", "iso_8859-5"),
    "iso8859_6": ("arabic", "iso-8859-6", "iso8859-6", "iso_8859-6", "csisolatinarabic"),
    "iso8859_7": ("greek", "greek8", "iso-8859-7", "iso8859-7", "iso_8859-7", "csisolatingreek"),
    "iso8859_8": ("hebrew", "iso-8859-8", "iso8859-8", "iso_8859-8", "iso-8859-8-i",
                  "csisolatinhebrew", "visual", "logical"),
    "iso8859_10": ("iso-8859-10", "iso8859-10", "l6", "latin6", "csisolatin6"),
    "iso8859_13": ("iso-8859-13", "iso8859-13", "iso_8859-13"),
    "iso8859_14": ("iso-8859-14", "iso8859-14", "iso_8859-14"),
    "iso8859_15": ("iso-8859-15", "iso8859-15", "iso_8859-15", "l9", "csisolatin9"),
    "iso8859_16": ("iso-8859-16",),
    "cp1254": ("iso-8859-9", "iso8859-9", "iso_8859-9", "l5", "latin5", "windows-1254",
               "cp1254", "csisolatin5"),
    "cp874": ("iso-8859-11", "iso8859-11", "tis-620", "windows-874", "dos-874"),
    "cp1250": ("windows-1250", "cp1250", "x-cp1250"),
    "cp1251": ("windows-1251", "cp1251", "x-cp1251"),
    "cp1253": ("windows-1253", "cp1253", "x-cp1253"),
    "cp1255": ("windows-1255", "cp1255", "x-cp1255"),
    "cp1256": ("windows-1256", "cp1256", "x-cp1256"),
    "cp1257": ("windows-1257", "cp1257", "x-cp1257"),
    "cp1258": ("windows-1258", "cp1258", "x-cp1258"),
    "koi8_r": ("koi8-r", "koi8_r", "koi", "koi8", "cskoi8r"),
    "koi8_u": ("koi8-u", "koi8-ru"),
    "cp866": ("ibm866", "866", "cp866", "csibm866"),
    "mac_roman": ("macintosh", "mac", "x-mac-roman", "csmacintosh"),
    "mac_cyrillic": ("x-mac-cyrillic", "x-mac-ukrainian"),
    "gb18030": ("gb18030", "gbk", "gb2312", "chinese", "csgb2312", "csiso58gb231280",
                "iso-ir-58", "x-gbk", "gb_2312", "gb_2312-80"),
    "big5hkscs": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "euc_jp": ("euc-jp", "cseucpkdfmtjapanese", "x-euc-jp"),
    "iso2022_jp": ("iso-2022-jp", "csiso2022jp"),
    "cp932": ("shift_jis", "shift-jis", "sjis", "ms_kanji", "ms932", "csshiftjis",
              "windows-31j", "x-sjis"),
    "cp949": ("euc-kr", "cseuckr", "csksc56011987", "iso-ir-149", "korean", "ks_c_5601-1987",
              "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949"),
    "utf-16-le": ("utf-16", "utf-16le", "csunicode", "iso-10646-ucs-2", "ucs-2", "unicode",
                  "unicodefeff"),
    "utf-16-be": ("utf-16be", "unicodefffe"),
}
_LABELS: dict[str, str] = {label: codec for codec, labels in _GROUPS.items() for label in labels}
_SEVEN_BIT = frozenset({"iso2022_jp"})
_UTF16 = frozenset({"utf-16-le", "utf-16-be"})

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_:.+\-]{1,40})""", re.I)
_META = re.compile(rb"<meta\b([^>]{0,512})", re.I)
_ATTRIBUTE = re.compile(rb"""([A-Za-z_:-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_META_CHARSET = re.compile(rb"<meta\b[^>]{0,512}?charset\s*=", re.I)
_XML_DECL = re.compile(
    rb"""^\s{0,64}<\?xml\b[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_:.+\-]{1,40})""")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HIGH = bytes(range(0x80, 0x100))
# windows-1252 as browsers decode it: the five bytes it leaves undefined are C1 controls
_CP1252 = "".join(bytes([i]).decode("cp1252", "ignore") or chr(i) for i in range(256))


def lookup_label(label: str | None) -> str | None:
    """A WHATWG encoding label -> Python codec name; None for unknown labels."""
    if not label:
        return None
    return _LABELS.get(label.strip(" \t\r\n\f\"'").lower())


def charset_from_content_type(content_type: str | None) -> str | None:
    """The codec named by a ``Content-Type`` header value, or None."""
    if not content_type:
        return None
    m = _CHARSET_PARAM.search(content_type)
    return lookup_label(m.group(1)) if m else None


def _meta_charset(body: bytes, scan: int = META_SCAN_BYTES) -> str | None:
    for found in _META_CHARSET.finditer(body, 0, scan):  # a meta saying charset=
        start = found.start()
        if body.rfind(b"<!--", 0, start) > body.rfind(b"-->", 0, start):
            continue  # commented out
        tag = _META.match(body, start)
        attrs = {m[1].lower(): m[2] or m[3] or m[4] or b""
                 for m in _ATTRIBUTE.finditer(tag[1] if tag else b"")}
        label = attrs.get(b"charset")
        if label is None and attrs.get(b"http-equiv", b"").lower() == b"content-type":
            param = _CHARSET_PARAM.search(attrs.get(b"content", b"").decode("latin-1"))
            label = param[1].encode("latin-1") if param else None
        codec = lookup_label(label.decode("ascii", "replace")) if label else None
        if codec:
            return "utf-8" if codec in _UTF16 else codec  # a meta cannot declare UTF-16
    return None


def _xml_charset(body: bytes) -> str | None:
    m = _XML_DECL.match(body[:300])
    return lookup_label(m.group(1).decode("ascii", "replace")) if m else None


def _decode(body: bytes, codec: str) -> tuple[str, int]:
    """Decode with replacement; return the text and how many errors were replaced.
    A multi-byte sequence cut off at the end is dropped, not counted."""
    if codec == "cp1252":  # one table lookup per byte, in C
        return codecs.charmap_decode(body, "strict", _CP1252)[0], 0
    try:
        text = codecs.getincrementaldecoder(codec)("replace").decode(body, False)
    except (LookupError, UnicodeError):  # pragma: no cover - all codecs above exist
        return "", len(body) + 1
    legit = body.count(b"\xef\xbf\xbd") if codec == "utf-8" else 0
    return text, max(0, text.count("\ufffd") - legit)


def _strict_utf8(body: bytes) -> str | None:
    try:
        text, _ = codecs.utf_8_decode(body, "strict", False)
    except UnicodeDecodeError:
        return None
    return text


def _utf8_or_cp1252(body: bytes, declared: bool) -> str:
    text, errors = _decode(body, "utf-8")
    if errors == 0:
        return text
    ascii_bytes = len(body.translate(None, _HIGH))
    high = len(body) - ascii_bytes
    if declared:  # decoded characters (U+FFFD aside) against bytes that failed
        legacy = errors > len(text) - ascii_bytes - errors
    else:
        legacy = (errors >= 3 and errors * 4 >= high) or errors == high
    return _decode(body, "cp1252")[0] if legacy else text


def _declared(*found: str | None) -> list[str]:
    """The encodings declared, in order, each once."""
    return list(dict.fromkeys(codec for codec in found if codec))


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode a page body as a browser would (see the module docstring). Never raises."""
    if not body:
        return ""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _decode(body[len(bom):], codec)[0]
    header, meta = charset_from_content_type(content_type), _meta_charset(body)
    xml = _xml_charset(body)
    declared = _declared(header, meta, xml)
    if not (declared and declared[0] in _SEVEN_BIT | _UTF16) and not body.isascii():
        valid = _strict_utf8(body)
        if valid is not None:
            return valid
    if meta is None and len(body) > META_SCAN_BYTES and (not body.isascii() or b"\x1b" in body):
        late = _meta_charset(body, LATE_META_SCAN_BYTES)  # not UTF-8: worth a longer look
        if late is not None:
            declared = _declared(header, late, xml)
    if not declared or declared == ["utf-8"]:
        return _utf8_or_cp1252(body, bool(declared))
    best, best_errors = "", -1
    for codec in declared:
        text, errors = _decode(body, codec)
        if errors == 0:
            return text
        if best_errors < 0 or errors < best_errors:
            best, best_errors = text, errors
    return best
