"""Parse a record's front matter: split it from the body, compose, vet, construct.

PyYAML composes the node graph (the C loader when present; a quoted scalar's tag and a short
plain scalar's tag are resolved without PyYAML's regex loop), ``spans.check`` vets it (node
cap with aliases expanded, recursive aliases, duplicate keys), and the data is constructed
from the same graph with safe-loader semantics: a plain tree by a direct walk, anything with
aliases, merge keys or non-string keys by PyYAML's generic constructor. Every problem is a
``Problem`` with a message and a file line, never another exception.

Only this module and records.py import yaml. It must not read or write files, know about
links, or print.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Hashable
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode

from enricher import spans

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

_OPEN = re.compile(r"\ufeff?---[ \t]*(?:\r?\n|\Z)")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)


class Problem(Exception):
    """What is wrong with a front matter (one line) and where (1-based file line)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


# plain scalar text -> its implicit tag: a pure function of the text, asked once per scalar
# by the composer (a third of reading time went to PyYAML's resolver loop); short values only
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_MAX = 8192
_PLAIN_TAG_LEN = 40


_MAP_TAG: Final = "tag:yaml.org,2002:map"
# plain scalars of these tags construct to immutable values, a pure function of the text:
# the direct walk keeps one value per (tag, text) instead of asking PyYAML's constructor
_SCALAR_TAGS: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp"))
_SCALARS: dict[tuple[str, str], Any] = {}
_SCALARS_MAX = 8192
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"


class _NotPlain(Exception):
    """The graph needs PyYAML's generic constructor (or, in the vetted walk, the check)."""


_UNVETTED: Final = object()  # Loader.vetted: check the graph, then build


class _Loader(_BaseLoader):
    """Safe loader that rejects duplicate non-string keys (``spans.check`` finds the others)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.mixed = frozenset[int]()  # mappings with non-string keys
        self.own: dict[int, tuple[MappingNode, list[Any]]] = {}  # "<<" mappings, unflattened
        self._left = 0  # nodes the vetted walk may still meet
        self._seen: set[int] | None = None  # collections the vetted walk has met

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """PyYAML's resolution, with its two hot cases short-cut: a quoted (non-plain)
        scalar is a string without any regex (as in ``BaseResolver.resolve``: no implicit
        resolvers, no path resolvers in a safe loader), and a short plain scalar's tag is
        remembered."""
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return spans.STR_TAG
            if isinstance(value, str) and len(value) <= _PLAIN_TAG_LEN:
                tag = _PLAIN_TAGS.get(value)
                if tag is None:
                    tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                    if len(_PLAIN_TAGS) < _PLAIN_TAGS_MAX:
                        _PLAIN_TAGS[value] = tag
                return tag
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def build(self, root: MappingNode, shared: frozenset[int]) -> Any:
        """The document's data. A plain tree (no aliased collections, merge keys or
        non-string keys: nearly every record) is built by a direct walk, string scalars
        as their text and other scalars by PyYAML's constructors; anything else, or any
        surprise on the way, by PyYAML's generic constructor alone. Same values either way."""
        if shared or self.mixed:
            return self.construct_document(root)
        try:
            return self._tree(root)
        except _NotPlain:
            return self.construct_document(root)

    def vetted(self, root: MappingNode, max_nodes: int) -> Any:
        """The data of a plain tree that ``spans.check`` would pass, built by the direct
        walk alone (one walk instead of two); :data:`_UNVETTED` when the graph has anything
        that check looks at (a node reached twice, a repeated key, a merge or non-string
        key, more than ``max_nodes`` nodes) or a value that cannot be constructed: the
        caller then checks and builds as before, so errors and their order are unchanged."""
        self._left, self._seen = max_nodes, set()
        try:
            return self._tree(root)
        except (_NotPlain, yaml.MarkedYAMLError):
            # a constructor that failed part-way leaves its bookkeeping behind
            self.constructed_objects, self.recursive_objects = {}, {}
            self.state_generators = []
            return _UNVETTED
        finally:
            self._seen = None

    def _tree(self, node: Node) -> Any:
        tag = node.tag
        if tag == spans.STR_TAG and isinstance(node, yaml.ScalarNode):
            return node.value
        seen = self._seen
        if seen is not None and not isinstance(node, yaml.ScalarNode):
            if id(node) in seen:
                raise _NotPlain  # an alias of a collection (or a recursive one)
            seen.add(id(node))
            self._left -= len(node.value) * (2 if isinstance(node, MappingNode) else 1)
            if self._left < 0:
                raise _NotPlain  # past the node cap: spans.check says where
        if tag == _MAP_TAG and isinstance(node, MappingNode):
            out: dict[str, Any] = {}
            for key, value in node.value:
                if key.tag != spans.STR_TAG or not isinstance(key, yaml.ScalarNode):
                    raise _NotPlain  # a merge key or a non-string key
                out[key.value] = self._tree(value)
            if len(out) < len(node.value):
                raise _NotPlain  # a repeated key
            return out
        if tag == _SEQ_TAG and isinstance(node, SequenceNode):
            return [self._tree(item) for item in node.value]
        if isinstance(node, yaml.ScalarNode):
            if tag not in _SCALAR_TAGS:
                return self.construct_object(node, deep=True)
            key = (tag, node.value)
            value = _SCALARS.get(key, _SCALARS)
            if value is _SCALARS:  # immutable values (int, date, None, ...): one per text
                value = self.yaml_constructors[tag](self, node)
                if len(_SCALARS) < _SCALARS_MAX:
                    _SCALARS[key] = value
            return value
        raise _NotPlain

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers in a safe loader: nothing to track (the composer calls this
        for every node)."""

    def ascend_resolver(self) -> None:
        """See :meth:`descend_resolver`."""

    def flatten_mapping(self, node: MappingNode) -> None:
        if id(node) not in self.own and any(k.tag == spans.MERGE_TAG for k, _ in node.value):
            self.own[id(node)] = (node, list(node.value))
        super().flatten_mapping(node)

    def restore(self) -> None:
        """Undo the in-place flattening of merge keys, so the graph matches the text."""
        for node, pairs in self.own.values():
            node.value = pairs

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if id(node) not in self.mixed:
            return super().construct_mapping(node, deep=deep)
        seen: dict[Any, Node] = {}
        pairs: list[Any] = self.own[id(node)][1] if id(node) in self.own else node.value
        for key_node, _ in pairs:
            if key_node.tag == spans.STR_TAG and isinstance(key_node.value, str):
                key = key_node.value
            elif key_node.tag != spans.MERGE_TAG:
                key = self.construct_object(key_node, deep=True)
            else:
                continue
            with contextlib.suppress(TypeError):  # unhashable: the base class reports it
                if seen.setdefault(key, key_node) is not key_node:
                    first, second = seen[key].start_mark.index, key_node.start_mark.index
                    raise spans.GraphError(f"duplicate key {key!r}", second, first)
        return super().construct_mapping(node, deep=deep)


def _with_position(tag: str) -> None:
    """Turn a scalar constructor's crash on a bad value (``2024-02-30``, a 5000-digit int,
    ``!!bool maybe``, ``!!timestamp x``) into a ConstructorError with a position."""
    construct = SafeConstructor.yaml_constructors[tag]

    def checked(loader: _Loader, node: Node) -> Any:
        try:
            return construct(loader, node)
        except _CONSTRUCT_ERRORS as exc:
            problem = f"{exc!s} ({node.tag.replace('tag:yaml.org,2002:', '!!')})"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from exc

    _Loader.add_constructor(tag, checked)


_CONSTRUCT_ERRORS = (ValueError, OverflowError, KeyError, AttributeError, TypeError, IndexError)
for _tag in ("null", "bool", "int", "float", "binary", "timestamp"):
    _with_position(f"tag:yaml.org,2002:{_tag}")


def opens_front_matter(text: str) -> bool:
    """Whether ``text`` starts with a front matter's opening ``---`` line."""
    return _OPEN.match(text) is not None


def _split(text: str) -> tuple[int, int]:
    """The front matter's text span: after the opening ``---`` line, before the closing one."""
    opening = _OPEN.match(text)
    if opening is None:
        raise Problem("no front matter: the file must start with a '---' line, fields, '---'", 1)
    closing = _CLOSE.search(text, opening.end())
    if closing is None:
        raise Problem("front matter is never closed: add a '---' line after the fields", 1)
    return opening.end(), closing.start()


def parse(
    text: str, max_nodes: int | None
) -> tuple[tuple[int, int], MappingNode, frozenset[int], Any]:
    """Compose once, check the graph (node cap, recursive aliases), construct from it.
    With ``max_nodes`` None (re-reading our own edit) the check is skipped."""
    fm = _split(text)

    def line(index: int) -> int:  # offset in the front matter -> 1-based file line
        return text.count("\n", 0, fm[0] + index) + 1

    front = text[fm[0] : fm[1]]
    if max_nodes is not None and len(front) > max_nodes and (
            separators := front.count("\n") + front.count(",")) > 2 * max_nodes:
        # composing builds the whole node graph before the cap can count it: 150 bytes of
        # memory per byte of "[1,1,1,...]" (780 MB for a 5 MB record)
        raise Problem(f"front matter has {separators} lines and commas, too many for the "
                      f"{max_nodes} YAML nodes a record may hold; it is no news record", line(0))
    loader = _Loader(front)
    shared = frozenset[int]()
    try:
        node = loader.get_single_node()
        if node is None:
            raise Problem("front matter is empty: add 'key: value' fields", line(0))
        if not isinstance(node, MappingNode):
            found = "a list" if isinstance(node, SequenceNode) else "a single value"
            msg = f"front matter must be a mapping of 'key: value' fields, not {found}"
            raise Problem(msg, line(node.start_mark.index))
        data = _UNVETTED if max_nodes is None else loader.vetted(node, max_nodes - 1)
        if data is _UNVETTED:
            if max_nodes is not None:
                shared, loader.mixed = spans.check(node, max_nodes)
            data = loader.build(node, shared)
        loader.restore()
    except spans.GraphError as exc:
        msg = exc.message
        if exc.first is not None:
            msg += f" (first at line {line(exc.first)}); keep only one"
        raise Problem(msg, line(exc.index)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = _yaml_message(exc)
        if exc.context_mark and "end of stream" in str(exc.problem or ""):
            # an unclosed quote or bracket: the end is where it was noticed, the opening is
            # where to look
            mark = exc.context_mark
            what = re.sub(r"^while (?:scanning|parsing) ", "", " ".join(str(exc.context).split()))
            message = (f"front matter is not valid YAML: {what} starting here is never closed;"
                       " close it")
        raise Problem(message, line(mark.index) if mark else None) from None
    except yaml.reader.ReaderError as exc:
        pos = exc.position
        if yaml.__with_libyaml__:  # libyaml reports a byte offset
            pos = len(text[fm[0] : fm[1]].encode()[:pos].decode("utf-8", "ignore"))
        msg = f"front matter contains a forbidden character (0x{exc.character:02x}); remove it"
        raise Problem(msg, line(pos)) from None
    except RecursionError:
        raise Problem("front matter is nested too deeply; flatten it",
                      line(_deepest(text, fm[0], fm[1]))) from None
    except _CONSTRUCT_ERRORS as exc:  # PyYAML internals on odd input; no position known
        raise Problem(f"a front matter value cannot be read: {exc!s}") from None
    finally:
        loader.dispose()
    return fm, node, shared, data


def _deepest(text: str, start: int, end: int) -> int:
    """Where the front matter's brackets and indentation nest deepest (the error's line), as
    an offset in the front matter."""
    depth = indent = 0
    best, at, leading = -1, start, True
    for i in range(start, end):
        c = text[i]
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        if c == "\n":
            indent, leading = 0, True
        elif leading and c == " ":
            indent += 1
        else:
            leading = False
        if depth + indent > best:
            best, at = depth + indent, i
    return at - start


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    problem = " ".join(str(exc.problem or "").split())
    tag = re.match(r"could not determine a constructor for the tag '(.*)'", problem)
    if tag:
        name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
        return f"unsupported YAML tag '{name}': only plain values are allowed"
    if isinstance(exc, yaml.constructor.ConstructorError):
        return f"a front matter value cannot be read: {problem}; fix the value"
    context = " ".join(str(exc.context or "").split())
    where = f" ({context})" if context else ""
    return f"front matter is not valid YAML: {problem}{where}; fix the syntax"
