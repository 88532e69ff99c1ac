"""Checks of a composed front matter, and surgical text edits of its block mappings (pure).

Works on a PyYAML node graph composed from the front-matter text, duck-typed (``id``,
``tag``, ``value``, ``start_mark.index``, ``end_mark.index``, ``style``, ``flow_style``); mark
indexes are character offsets into that text. ``check`` runs when a record is read (node cap
with aliases expanded, recursive aliases, duplicate keys), ``find`` follows a holder path,
``plan`` turns ``{key: value}`` changes into splice operations and ``splice`` applies them.
``MoveItems`` moves block-sequence items' lines (own comments and edits too) verbatim but for a
re-indent; a flow-style, aliased or oddly laid out sequence is refused, never re-dumped.

How an entry's extent is found: a block collection's end mark is the *next* token (after
blank lines and comments), so the end of ``key: value`` is the end of the latest-ending
scalar or flow collection inside the value, extended over any alias/dash tokens but not over
trailing comments. Replacing a value rewrites ``[end of key, end of entry)``; comments on the
same line, blank lines and everything else stay.

This module must not import yaml, do I/O, or decide what is written (the caller dumps values).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from enricher.models import HolderPath

STR_TAG: Final = "tag:yaml.org,2002:str"
MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_WS = " \t\r\n\x85\u2028\u2029"  # YAML white space and line breaks
_BLOCK_STYLES = ("|", ">")
_BLOCK_HEADER = re.compile(r"(?:[&!]\S*[ \t]+)*[|>]([-+0-9]*)")

#: one splice: replace ``text[start:end]`` by ``new``; ``column`` orders insertions at one place
Op = tuple[int, int, int, str]


class EditError(Exception):
    """Edits cannot be applied to this record safely (one line; ``index``: where in the front
    matter, if known; ``line``: the 1-based file line, set by the records module)."""

    def __init__(self, message: str, index: int | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.index, self.line = index, line


class GraphError(Exception):
    """The node graph is unusable (alias bomb, recursive alias, duplicate key). ``index`` is
    the offset of the problem, ``first`` that of the first occurrence of a duplicate key."""

    def __init__(self, message: str, index: int, first: int | None = None) -> None:
        super().__init__(message)
        self.message, self.index, self.first = message, index, first


class _Delete(enum.Enum):
    DELETE = "DELETE"


#: an edit value that removes the key and its value lines
DELETE: Final = _Delete.DELETE


@dataclass(frozen=True, slots=True)
class MoveItems:
    """An edit value for a key holding a block sequence: cut the items at ``indexes`` out of
    it (an emptied one becomes ``[]``) and append them, with their own edits, to the block
    sequence at key ``into`` of the same mapping (added at the mapping's end when absent)."""

    indexes: tuple[int, ...]
    into: str


def _kids(node: Any) -> list[Any]:
    return [n for pair in node.value for n in pair] if node.id == "mapping" else node.value


def check(root: Any, max_nodes: int) -> tuple[frozenset[int], frozenset[int]]:
    """Count the nodes of a composed graph with aliases expanded, without walking a shared
    subtree twice (its size is remembered, so an alias bomb is cut off at once); refuse
    recursive aliases and duplicate string keys. Returns the ids of the collections reached
    through an alias and of the mappings with non-string keys (whose duplicates only the
    constructor can see: ``1`` and ``01``). Depth is bounded by libyaml's nesting limit
    (1000); deeper graphs raise RecursionError."""
    sizes: dict[int, int] = {}
    shared: set[int] = set()
    mixed: set[int] = set()
    on_path: set[int] = set()
    total = 0

    def visit(node: Any) -> int:
        nonlocal total
        size = sizes.get(id(node))
        if size is not None:
            shared.add(id(node))
            total += size
        elif id(node) in on_path:
            msg = "recursive YAML alias: a node contains itself; remove the alias"
            raise GraphError(msg, node.start_mark.index)
        else:
            on_path.add(id(node))
            total += 1
            size = 1
            if node.id == "mapping":
                _unique_keys(node, mixed)
            for kid in _kids(node):
                if kid.id == "scalar":
                    size += 1
                    total += 1
                else:
                    size += visit(kid)
            on_path.discard(id(node))
            sizes[id(node)] = size
        if total > max_nodes:
            msg = (f"front matter expands to more than {max_nodes} YAML nodes (an alias "
                   "bomb, or a huge record); remove the aliases or split the record")
            raise GraphError(msg, node.start_mark.index)
        return size

    try:
        visit(root)
    finally:
        visit = None  # type: ignore[assignment]  # it refers to itself: break the cycle
    return frozenset(shared), frozenset(mixed)


def _unique_keys(node: Any, mixed: set[int]) -> None:
    seen: dict[str, Any] = {}
    for key, _ in node.value:
        if key.id == "scalar" and key.tag == STR_TAG:
            first = seen.setdefault(key.value, key)
            if first is not key:
                msg = f"duplicate key {key.value!r}"
                raise GraphError(msg, key.start_mark.index, first.start_mark.index)
        elif key.tag != MERGE_TAG:
            mixed.add(id(node))


def find(root: Any, holder: HolderPath) -> list[Any] | None:
    """The composed nodes along ``holder`` (root first, the holder last), or None."""
    path = [root]
    for step in holder:
        node = path[-1]
        if isinstance(step, str) and node.id == "mapping":
            hits = [
                v
                for k, v in node.value
                if k.id == "scalar" and k.tag == STR_TAG and k.value == step
            ]
            if not hits:
                return None
            path.append(hits[0])
        elif isinstance(step, int) and not isinstance(step, bool) and node.id == "sequence":
            if not 0 <= step < len(node.value):
                return None
            path.append(node.value[step])
        else:
            return None
    return path


def where(holder: HolderPath) -> str:
    """``related[3].images[0]`` style name of a holder path."""
    text = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in holder).lstrip(".")
    return text or "the front matter"


# --- extents -------------------------------------------------------------------------------


def _start(node: Any) -> int:
    return node.start_mark.index  # type: ignore[no-any-return]


def _end(node: Any) -> int:
    return node.end_mark.index  # type: ignore[no-any-return]


def _last_leaf(node: Any) -> Any:
    """What ends the text of ``node``: descend into the latest-ending child that lies inside
    it (an alias child points elsewhere) until a scalar, a flow collection or an empty one."""
    while node.id != "scalar" and not node.flow_style:
        start, end = _start(node), _end(node)
        inside = [c for c in _kids(node) if _start(c) >= start and _end(c) <= end]
        if not inside:
            return node
        node = max(inside, key=_end)
    return node


def _block_header(node: Any, text: str) -> re.Match[str] | None:
    """The header (``|``, ``>-``, ``&a |+``) of a block scalar; None for any other node."""
    if node.id != "scalar" or node.style not in _BLOCK_STYLES:
        return None
    return _BLOCK_HEADER.match(text, _start(node))


def ends_in_keep(node: Any, text: str) -> bool:
    """Whether the text of ``node`` ends with a "keep" block scalar (``|+``, ``>+``), whose
    content takes the blank lines that follow it."""
    header = _block_header(_last_leaf(node), text)
    return header is not None and "+" in header.group(1)


def _tight_end(node: Any, text: str) -> int:
    """Where the text of ``node`` ends: at the end of its last leaf (``_last_leaf``)."""
    node = _last_leaf(node)
    if node.id == "scalar" and node.style in _BLOCK_STYLES:  # end includes blank lines
        start, end = _start(node), _end(node)
        header = _block_header(node, text)
        if header and "+" in header.group(1):  # "keep": trailing blank lines are content
            end = _line_start(text, end)
            return end - (2 if text[end - 2 : end] == "\r\n" else 1)
        return _block_content_end(text, start, end, header.group(1) if header else "")
    return _end(node) if node.id == "scalar" or node.flow_style else _start(node)


def _block_content_end(text: str, start: int, end: int, indicators: str) -> int:
    """The end of a clip or strip block scalar's last content line. Trailing lines of white
    space are not content, except one with more spaces than the scalar's indentation (found
    from its first line with text): YAML keeps those spaces, so an edit must go after it."""
    tight = end
    while tight > start and text[tight - 1] in _WS:
        tight -= 1
    body = text.find("\n", start, tight)
    first = _FIRST_TEXT_LINE.search(text, body + 1, tight) if body >= 0 else None
    if first is None or any(c.isdigit() for c in indicators):  # an explicit indentation
        return tight
    indent = len(first.group(1))
    line_end = text.find("\n", tight, end)
    while 0 <= line_end < end:
        line_start = line_end + 1
        line_end = text.find("\n", line_start, end)
        line = text[line_start : end if line_end < 0 else line_end].rstrip("\r")
        if len(line) > indent and not line.strip(" "):  # spaces past the indentation
            tight = line_start + len(line)
    return tight


_FIRST_TEXT_LINE = re.compile(r"(?m)^( *)[^ \r\n]")


def _content_end(text: str, i: int, limit: int) -> int:
    """The end of the last token in ``text[i:limit]``, skipping white space and comments
    (what can follow a value's last scalar: dashes, aliases, comments)."""
    last = i
    while i < limit:
        if text[i] in _WS:
            i += 1
        elif text[i] == "#":
            j = text.find("\n", i, limit)
            i = limit if j < 0 else j
        else:
            while i < limit and text[i] not in _WS:
                i += 1
            last = i
    return last


def entry_end(text: str, node: Any, i: int) -> int:
    """The end of the text of the i-th ``key: value`` entry of a block mapping."""
    pairs = node.value
    key, value = pairs[i]
    limit = _start(pairs[i + 1][0]) if i + 1 < len(pairs) else _end(node)
    inside = _start(value) >= _end(key) and _end(value) <= limit
    return _content_end(text, _tight_end(value, text) if inside else _end(key), limit)


def _colon(text: str, key: Any) -> int:
    """Where the ``:`` after a key is (on the next line for a ``? key``), else the key end."""
    i = _end(key)
    while i < len(text) and (text[i] in _WS or text[i] == "#"):
        i = text.find("\n", i) if text[i] == "#" else i + 1
        i = len(text) if i < 0 else i
    return i if text.startswith(":", i) else _end(key)


def _line_start(text: str, i: int) -> int:
    return text.rfind("\n", 0, i) + 1


def _next_line(text: str, i: int) -> int:
    j = text.find("\n", i)
    return len(text) if j < 0 else j + 1


# --- edits ---------------------------------------------------------------------------------


#: renders ``{key: value}`` as YAML lines relative to column 0, without line ends
Dump = Callable[[Any, Any], list[str]]


def plan(text: str, newline: str, root: Any, shared: frozenset[int], data: Mapping[Any, Any],
         edits: Mapping[HolderPath, Mapping[str, Any]], dump: Dump,
         ) -> tuple[list[Op], dict[Any, Any]]:
    """Splice operations for ``edits`` to the front matter ``text`` composed as ``root``
    (``shared``: ids of aliased collections) and the data the edited text must read as."""
    by_holder: dict[HolderPath, list[Op]] = {}
    moves: list[tuple[HolderPath, Any, str, MoveItems]] = []
    expected = dict(data)
    rewritten: set[HolderPath] = set()
    for holder, changes in edits.items():
        node = _target(root, shared, holder)
        current: Any = data
        for step in holder:
            current = current[step]
        try:
            target = _copy_path(expected, holder)
        except (LookupError, TypeError):  # an earlier edit replaced a container on the path
            raise EditError(f"cannot edit {where(holder)}: another edit rewrites it") from None
        moves += [(holder, node, k, v) for k, v in changes.items() if isinstance(v, MoveItems)]
        changes = {k: v for k, v in changes.items() if not isinstance(v, MoveItems)}
        by_holder[holder] = _mapping_ops(text, newline, node, changes, current, target, dump,
                                         rewritten, holder)
    for holder in edits:
        if any(holder[:n] in rewritten for n in range(1, len(holder) + 1)):
            raise EditError(f"cannot edit {where(holder)}: another edit rewrites it")
    extra: list[Op] = []
    for holder, node, key, move in moves:
        if {(*holder, key), (*holder, move.into)} & rewritten or move.into in edits[holder]:
            msg = f"cannot move items of {where((*holder, key))}: another edit rewrites it"
            raise EditError(msg)
        from enricher.spans_move import move_ops  # it builds on this module's helpers

        extra += move_ops(text, newline, node, shared, holder, key, move, by_holder)
        target = _copy_path(expected, holder)
        items, gone = list(target[key]), set(move.indexes)
        target[key] = [item for i, item in enumerate(items) if i not in gone]
        target[move.into] = [*(target.get(move.into) or ()), *(items[i] for i in move.indexes)]
    return [op for ops in by_holder.values() for op in ops] + extra, expected


def _target(root: Any, shared: frozenset[int], holder: HolderPath) -> Any:
    path, name = find(root, holder), where(holder)
    if path is None:
        raise EditError(f"cannot edit {name}: no such mapping in the front matter")
    at = _start(path[-1])
    if any(id(node) in shared for node in path):
        raise EditError(f"cannot edit {name}: it is (inside) a YAML alias; edit it by hand", at)
    if path[-1].id != "mapping":
        raise EditError(f"cannot edit {name}: it is not a mapping", at)
    if path[-1].flow_style:
        raise EditError(f"cannot edit {name}: it is in flow style {{...}}; use block style", at)
    return path[-1]


def _copy_path(root: dict[Any, Any], holder: HolderPath) -> dict[Any, Any]:
    """Copy the containers along ``holder`` so the record's own data stays untouched."""
    node: Any = root
    for step in holder:
        child = node[step]
        node[step] = child = dict(child) if isinstance(child, dict) else list(child)
        node = child
    return node  # type: ignore[no-any-return]


def _mapping_ops(text: str, newline: str, node: Any, changes: Mapping[str, Any],
                 current: Mapping[Any, Any], target: dict[Any, Any], dump: Dump,
                 rewritten: set[HolderPath], holder: HolderPath) -> list[Op]:
    """Splice operations for ``changes`` to one block mapping. ``current`` is its data (a value
    equal to the current one is left alone), ``target`` receives the intended data, and the
    paths of rewritten or deleted values are added to ``rewritten``."""
    from enricher.spans_notes import header_note, notes_below  # built on this module
    keys = [k for k, _ in node.value]
    names = [k.value if k.id == "scalar" and k.tag == STR_TAG else None for k in keys]
    column = _column(text, node)
    pad = " " * column
    ops: list[Op] = []
    inserts: list[str] = []
    deleted: set[int] = set()
    for key, new in changes.items():
        i = names.index(key) if key in names else None
        if new is DELETE:
            if i is not None:
                deleted.add(i)
                target.pop(key, None)
                rewritten.add((*holder, key))
            continue
        try:
            value = plain(new)
        except RecursionError:
            raise EditError(f"cannot write {key!r}: the value contains itself") from None
        target[key] = value
        if i is None:
            inserts.extend(pad + line + newline for line in dump(key, value))
        elif key not in current or not same(current[key], value):
            lines = dump("k", value)  # "k: ..." -> keep the record's own key text
            end = entry_end(text, node, i)
            first, trail = lines[0][1:], ""
            line_end = _next_line(text, end)
            line_end -= len(text[end:line_end]) - len(text[end:line_end].rstrip("\r\n"))
            if len(lines) > 1 and text[end:line_end].lstrip(" \t").startswith("#"):
                trail, end = text[end:line_end], line_end  # "key: [] # note": on key line
            colon = _colon(text, keys[i])
            sep = text[colon + 1 : _start(node.value[i][1])]
            if first.startswith(": ") and sep and not sep.strip(" \t"):  # "key:\tvalue"
                first = ":" + sep + first[2:]  # keeps its own white space after the colon
            note = header_note(text, colon, node.value[i][1])
            notes = "".join(newline + n for n in notes_below(text, colon, node.value[i][1],
                                                            pad + "  "))
            if notes and len(lines) == 1:  # "key:" / "# note" / the new value, as it was
                body = f":{note}{notes}{newline}{pad}  {lines[0][3:]}"
            else:
                body = first + note + trail + notes + "".join(
                    newline + pad + line for line in lines[1:])
            ops.append((colon, end, 0, body))
            rewritten.add((*holder, key))
    if len(deleted) == len(keys):
        raise EditError(f"cannot edit {where(holder)}: refusing to delete every key of a mapping")
    for i in sorted(deleted):
        if i - 1 in deleted:
            continue  # part of the run that starts before it
        j = i
        while j + 1 in deleted:
            j += 1
        start = _start(keys[i])
        if text[_line_start(text, start) : start].rstrip().endswith("-"):  # after "- "
            ops.append((start, _start(keys[j + 1]), 0, ""))  # the next key moves up
        else:
            end = _next_line(text, entry_end(text, node, j))
            ops.append((_line_start(text, start), end, 0, ""))
    if inserts:
        at = _next_line(text, entry_end(text, node, len(keys) - 1))
        ops.append((at, at, column, "".join(inserts)))
    return ops


def _column(text: str, node: Any) -> int:
    """The column of the keys of a block mapping."""
    first = _start(node.value[0][0])
    prefix = text[_line_start(text, first) : first]  # "  - " or "? "
    return len(prefix.rstrip()) - 1 if prefix.rstrip().endswith("?") else len(prefix)


def splice(text: str, ops: list[Op]) -> str:
    """Apply ``ops`` (offsets into ``text``); insertions at one place go deepest first."""
    ops = sorted(ops, key=lambda op: (op[0], op[0] != op[1], -op[2]))
    parts, pos = [], 0
    for start, end, _, new in ops:
        if start < pos:
            raise EditError("cannot apply edits that overlap")
        parts += [text[pos:start], new]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# --- values --------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """The value as YAML reads it back: str/int/float subclasses (enums) become their base
    type, tuples lists, other mappings dicts."""
    if value is None or isinstance(value, bool | bytes | date):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equal as YAML data: same types (True is not 1), same key order, NaN equals NaN."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            if len(x) != len(y):
                return False
            for (kx, vx), (ky, vy) in zip(x.items(), y.items(), strict=True):
                if type(kx) is not type(ky) or kx != ky:
                    return False
                stack.append((vx, vy))
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif type(x) is not type(y) or not (x == y or (x != x and y != y)):
            return False
    return True
