"""``MoveItems`` edits: move block-sequence items' lines from one key of a mapping to another.

Each moved item's whole lines (with the comments inside it and the comment lines right above
its ``-``, and its own pending edits applied first) are cut out and appended, re-indented if
needed, to the target block sequence, which is created at the mapping's end when absent. A
flow-style, aliased or oddly laid out sequence is refused with an ``EditError``, never
re-dumped. Used by :func:`enricher.spans.plan` only; this module must not write YAML of
its own or touch files.
"""

from __future__ import annotations

import re
from typing import Any

from enricher.models import HolderPath
from enricher.spans import (
    STR_TAG,
    EditError,
    MoveItems,
    Op,
    _colon,
    _column,
    _content_end,
    _end,
    _line_start,
    _next_line,
    _start,
    _tight_end,
    ends_in_keep,
    entry_end,
    splice,
    where,
)

__all__ = ["move_ops"]

_DASH = re.compile(r"( *)-[ \t]+")  # what may precede a movable item on its first line
_INDENTED = re.compile(r"(?m)^(?=[^\r\n])")  # where to indent a line that is not empty


def _items(text: str, seq: Any, shared: frozenset[int], name: str, key_column: int = -1
           ) -> list[tuple[int, int, int]]:
    """``(start, end, dash column)`` of each item of the block sequence ``seq``: whole lines,
    with the comments inside the item, the comment lines right below it indented past its
    ``-`` (as its keys are), and the comment lines right above its ``-`` (above the first
    item, those indented at least as its ``-`` and deeper than the list's key at
    ``key_column``: one at the key's column is the key's, also when the dashes are there)."""
    is_list = seq.id == "sequence"  # a scalar (``deadRelated: none``) has no flow_style
    if not is_list or seq.flow_style or id(seq) in shared:
        how = ("not a list" if not is_list
               else "a flow-style list [...]; write it with one '- ' item a line"
               if seq.flow_style else "behind a YAML alias; move the items by hand")
        raise EditError(f"cannot move items of {name}: it is {how}", _start(seq))
    dashes = []
    for i, item in enumerate(seq.value):
        start, line = _start(item), _line_start(text, _start(item))
        dash = _DASH.fullmatch(text, line, start)
        if dash is None or id(item) in shared or line < _line_start(text, _start(seq)):
            msg = f"cannot move {name}[{i}]: put it on its '- ' line, unaliased; or move it by hand"
            raise EditError(msg, start)
        dashes.append((line, len(dash.group(1))))
    out: list[tuple[int, int, int]] = []
    for i, (item, (line, column)) in enumerate(zip(seq.value, dashes, strict=True)):
        limit = dashes[i + 1][0] if i + 1 < len(dashes) else _end(seq)
        end = _next_line(text, _content_end(text, _tight_end(item, text), limit))
        while (row := text[end:_next_line(text, end)]).lstrip(" ").startswith("#") and (
                len(row) - len(row.lstrip(" ")) > column):  # its own trailing comments
            end = _next_line(text, end)
        while line > (out[-1][1] if out else 0):  # the comment lines right above the dash
            above = _line_start(text, line - 1)  # (above the first item: indented as its
            row = text[above:line]  # dash at least; one at the key's column is the key's)
            indent = len(row) - len(row.lstrip(" "))
            if row.strip()[:1] != "#" or (not out and (indent < column or indent <= key_column)):
                break
            line = above
        out.append((line, end, column))
    return out


def move_ops(text: str, newline: str, node: Any, shared: frozenset[int], holder: HolderPath,
               key: str, move: MoveItems, by_holder: dict[HolderPath, list[Op]]) -> list[Op]:
    """Splice operations for one ``MoveItems`` of the block mapping ``node``. The moved items'
    own operations are taken out of ``by_holder`` and applied to their text before it moves."""
    pairs = {k.value: (k, v) for k, v in node.value if k.id == "scalar" and k.tag == STR_TAG}
    name = where((*holder, key))
    if key not in pairs:
        raise EditError(f"cannot move items of {name}: no such key")
    source = _items(text, pairs[key][1], shared, name, _start(pairs[key][0]) - _line_start(
        text, _start(pairs[key][0])))
    ops: list[Op] = []
    block, column = "", source[move.indexes[0]][2]
    moving = set(move.indexes)
    for i in move.indexes:
        start, end, _ = source[i]
        kept = i - 1
        while kept in moving:
            kept -= 1
        # the blank lines after a cut item would join a kept "|+" scalar's content above it
        cut = _past_blank_lines(text, end) if kept >= 0 and ends_in_keep(
            pairs[key][1].value[kept], text) else end
        paths = [p for p in by_holder if p[: len(holder) + 2] == (*holder, key, i)]
        local = [(a - start, b - start, c, new) for p in paths for a, b, c, new in by_holder.pop(p)]
        if any(not 0 <= a <= b <= end - start for a, b, _, _ in local):
            raise EditError(f"cannot move {name}[{i}]: an edit lies outside it", start)
        moved = splice(text[start:end], local)
        block += moved if moved.endswith("\n") else moved + newline
        ops.append((start, cut, 0, ""))
    if len(move.indexes) == len(source):  # emptied: "key:" would read as null
        at = _content_end(text, _colon(text, pairs[key][0]) + 1, source[0][0])
        ops.append((at, at, 0, " []"))
    if move.into not in pairs:
        at, pad = _next_line(text, entry_end(text, node, len(node.value) - 1)), _column(text, node)
        return [*ops, (at, at, pad, f"{' ' * pad}{move.into}:{newline}{block}")]
    into_key, into = pairs[move.into]
    if (into.id == "scalar" and into.tag == "tag:yaml.org,2002:null") or (
        into.id == "sequence" and into.flow_style and not into.value
    ):  # "deadRelated:", "~" or "[]": becomes a block sequence
        value_end = entry_end(text, node, [k for k, _ in node.value].index(into_key))
        at = _next_line(text, value_end)
        return [*ops, (_colon(text, into_key), value_end, 0, ":"), (at, at, column + 1, block)]
    target = _items(text, into, shared, where((*holder, move.into)))
    at, by = target[-1][1], target[0][2] - column  # re-indent to the items there; a line that
    # then reads differently (too little indentation to remove) fails the read-back check
    block = re.sub(f"(?m)^ {{1,{-by}}}", "", block) if by < 0 else _INDENTED.sub(" " * by, block)
    return [*ops, (at, at, target[0][2] + 1, block)]


def _past_blank_lines(text: str, at: int) -> int:
    """``at`` (a line start) moved past the lines of white space that follow."""
    while at < len(text):
        line_end = text.find("\n", at)
        if line_end < 0 or text[at:line_end].strip():
            return at
        at = line_end + 1
    return at
