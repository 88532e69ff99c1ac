"""The comments a replaced value keeps: the one on its key's line, and the comment lines
between the key and a value written below it (``key:`` / ``# note`` / ``value``) or inside
an empty flow collection (``images: [`` / ``# to come`` / ``]``). A fix-up that fills or
replaces the value writes them back around the new value; they used to be lost.

Used by :func:`enricher.spans._mapping_ops` only; this module must not write YAML values or
touch files.
"""

from __future__ import annotations

import re
from typing import Any

from enricher.spans import _block_header, _end, _line_start, _start

__all__ = ["header_note", "notes_below"]

# what may stand before a node's own text: its anchor and tag, white space, comment lines
_BEFORE_TEXT = re.compile(r"(?:[&!][^\s]*|\s+|#[^\n]*)*")


def header_note(text: str, colon: int, value: Any) -> str:
    """The comment on a block scalar's header line (``excerpt: |  # teaser``) or on the key's
    line of a value below it (``linkCheck:  # note``), with the white space before it: kept
    on the key's line when the value is replaced."""
    header = _block_header(value, text)
    at = colon + 1 if header is None else header.end()
    line_end = len(text) if text.find("\n", at) < 0 else text.find("\n", at)
    if header is None and _start(value) <= line_end:  # the value (or an alias) is on it
        return ""
    rest = text[at:line_end].rstrip("\r")
    return rest if rest.lstrip(" \t").startswith("#") else ""


def notes_below(text: str, colon: int, value: Any, indent: str) -> list[str]:
    """The comment lines, without line ends, between the key's line and ``value`` when it
    starts on a later line, as written; and the comments inside an empty flow collection
    (``indent``, the new value's indentation, for one that shared a line with a bracket).
    Nothing for a block scalar, whose lines are its text."""
    key_end = text.find("\n", colon)
    if key_end < 0 or _block_header(value, text) is not None:
        return []
    notes = []
    found = _BEFORE_TEXT.match(text, _start(value))  # "&a" or "!!str" may stay on the key's
    start = found.end() if found else _start(value)  # line, with the value below them
    if key_end < start <= _end(value):  # (an empty value ends on the key's line: the comments
        # below it belong to what follows)
        for line in text[key_end + 1 : _line_start(text, start)].split("\n"):
            if line.lstrip(" \t").startswith("#"):
                notes.append(line.rstrip("\r"))
    if value.id != "scalar" and value.flow_style and not value.value:  # only comments inside
        for line in text[start : _end(value)].split("\n"):
            at = line.find("#")
            if at >= 0:
                full = not line[:at].strip(" \t")
                notes.append(line.rstrip("\r") if full else indent + line[at:].rstrip("\r"))
    return notes
