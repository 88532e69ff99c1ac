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
