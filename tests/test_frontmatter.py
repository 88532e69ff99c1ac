"""frontmatter: the fast paths (tag resolution, direct tree walk) give PyYAML's own values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from enricher import frontmatter

CASES = [
    # plain tree: direct walk
    "title: Plain words\nn: 12\nf: 1.5\nyes: true\nnone: ~\nwhen: 2024-05-01T10:00:00Z\n",
    'q: "12"\ns: \'true\'\nlist:\n  - a\n  - 0x1f\n  - 1_000\n  - 2024-05-01\n',
    "related:\n  - webUrl: https://a.test/x?y=1&#038;z\n    images: []\n  - {a: 1, b: [1, 2]}\n",
    "sexagesimal: 1:30\noctal: 0o17\ninf: .inf\nempty:\nbool: No\n",
    # PyYAML's generic constructor: aliases, merge keys, non-string keys, tagged collections
    "base: &b {x: 1}\nuse: *b\n",
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",
    "1: one\n2: two\n",
    "s: !!set {a, b}\nwhen: !!timestamp 2024-01-01\n",
    "k: !!str 12\nv: !!int '7'\n",
]


def _expected(text: str) -> Any:
    return yaml.load(text, Loader=yaml.SafeLoader)  # the pure-Python reference


@pytest.mark.parametrize("body", CASES)
def test_values_equal_pyyaml_safe_load(body: str) -> None:
    text = f"---\n{body}---\nbody\n"
    data = frontmatter.parse(text, 10_000)[3]
    assert data == _expected(body)
    assert repr(data) == repr(_expected(body))  # same types (int vs str, datetime vs date)


def test_quoted_and_plain_scalars_keep_their_types() -> None:
    data = frontmatter.parse('---\na: "2024-05-01"\nb: 2024-05-01\nc: "1"\nd: 1\n---\n', 100)[3]
    assert data == {"a": "2024-05-01", "b": dt.date(2024, 5, 1), "c": "1", "d": 1}


def test_a_bad_value_is_a_problem_with_a_line() -> None:
    with pytest.raises(frontmatter.Problem) as info:
        frontmatter.parse("---\ntitle: x\nwhen: !!timestamp 2024-02-30\n---\n", 100)
    assert info.value.line == 3


def test_unknown_tags_are_refused_on_both_paths() -> None:
    for body in ("x: !custom 1\n", "x:\n  - !custom 1\n", "x: &a [1]\ny: *a\nz: !custom 2\n"):
        with pytest.raises(frontmatter.Problem) as info:
            frontmatter.parse(f"---\n{body}---\n", 100)
        assert "unsupported YAML tag" in info.value.message


VETTING = [
    *CASES,
    "a: 1\na: 2\n",  # a repeated key
    "when: !!timestamp 2024-02-30\nx: 1\nx: 2\n",  # a bad value before a repeated key
    "x: 1\nx: 2\nwhen: !!timestamp 2024-02-30\n",
    "a: &x [1, 2]\nb: *x\nb: 3\n",  # an alias and a repeated key
    "a: &x [*x]\n",  # a recursive alias
    "a: !custom 1\nb: {c: 1, c: 2}\n",  # an unknown tag before a repeated nested key
    "list:\n  - {k: 1, k: 1}\n",
    "n: 99999999999999999999999999\nf: -.Inf\nt: 2001-12-14 21:59:43.10 -5\n",
]


def _both_paths(text: str, max_nodes: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """parse() as it is, and with the vetted walk switched off (check, then build)."""
    def outcome() -> Any:
        try:
            return repr(frontmatter.parse(text, max_nodes)[3])
        except frontmatter.Problem as problem:
            return (problem.message, problem.line)

    fast = outcome()
    with monkeypatch.context() as patch:
        patch.setattr(frontmatter._Loader, "vetted", lambda *args: frontmatter._UNVETTED)
        slow = outcome()
    return fast, slow


@pytest.mark.parametrize("body", VETTING)
def test_the_vetted_walk_gives_what_check_then_build_gives(
        body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both_paths(f"---\n{body}---\n", 10_000, monkeypatch)
    assert fast == slow


def test_the_vetted_walk_keeps_the_node_cap_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    body = "a: 1\nb: [1, 2]\nc: {d: 1}\n"  # root + 3 keys + 1 + (1 + 2) + (1 + 2) = 11 nodes
    text = f"---\n{body}---\n"
    for cap in (9, 10, 11, 12):
        fast, slow = _both_paths(text, cap, monkeypatch)
        assert fast == slow
    assert isinstance(_both_paths(text, 11, monkeypatch)[0], str)  # 11 nodes pass a cap of 11
    assert "more than 10 YAML nodes" in _both_paths(text, 10, monkeypatch)[0][0]
