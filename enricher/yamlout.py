"""The YAML text of the values enricher writes into records (``linkCheck``, ``livePage``,
filled-in values): ``dump_lines(key, value)`` gives ``key: value`` as lines relative to
column 0, for ``spans`` to indent into place. Simple strings are plain, all others
double-quoted; no anchors; block lists indented under their key, as real records write them.

This module must not read or write files, or decide where the lines go.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from enricher import spans
from enricher.spans import EditError

_SIMPLE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # strings dumped plain; all others double-quoted


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """safe_dump with simple strings plain, all other strings double-quoted, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = None if _SIMPLE.fullmatch(data) else '"'
    return dumper.represent_scalar(spans.STR_TAG, data, style=style)


_Dumper.add_representer(str, _represent_str)


class _ListDumper(yaml.SafeDumper):
    """``_Dumper`` with block lists indented under their key (``images:`` / ``  - url:``),
    as real records write them. The C emitter cannot indent them, so this pure-Python one
    dumps the few values that hold a list (images filled in)."""

    ignore_aliases = _Dumper.ignore_aliases

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_ListDumper.add_representer(str, _represent_str)


def _has_list(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value)
    return isinstance(value, dict) and any(_has_list(item) for item in value.values())


_DUMPED: dict[str, list[str]] = {}  # repr of plain (key, value) -> lines; statuses repeat a lot


def dump_lines(key: Any, value: Any) -> list[str]:
    """``key: value`` as YAML lines relative to column 0, without line ends."""
    memo = repr((key, value))  # values are plain data (spans.plain), so repr is faithful
    lines = _DUMPED.get(memo)
    if lines is None:
        try:
            text = yaml.dump(
                {key: value},
                Dumper=_ListDumper if _has_list(value) else _Dumper,
                default_flow_style=False,
                allow_unicode=True,
                sort_keys=False,
                width=1 << 30,
            )
        except (yaml.YAMLError, RecursionError, TypeError, ValueError) as exc:
            raise EditError(f"cannot write {key!r}: {exc}") from None
        if len(_DUMPED) >= 4096:
            _DUMPED.clear()
        lines = _DUMPED[memo] = text[:-1].split("\n")
    return list(lines)
