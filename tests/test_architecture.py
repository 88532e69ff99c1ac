"""The architecture stays visible: who may import whom (STYLE.md), and module docstrings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "enricher"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_module_has_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), (
        f"{_rel(path)} needs a docstring saying what it does and must not do"
    )


# third-party library -> the only places allowed to import it
OWNERS = {
    "yaml": ("enricher/records.py", "enricher/frontmatter.py", "enricher/yamlout.py"),
    "selectolax": ("enricher/extract.py",),
    "httpx": ("enricher/net/",),
    "httpcore": ("enricher/net/",),
    "h11": ("enricher/net/h1.py",),
    "tenacity": ("enricher/net/",),
    "rich": (
        "enricher/report/",
        "enricher/progress.py",
        "enricher/cli.py",
        "enricher/streams.py",  # the console on stderr
        "enricher/api.py",  # a quiet console for library runs
        "enricher/inventory.py",
        "enricher/demo/",
    ),
}


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_third_party_imports_stay_in_their_module(path: Path) -> None:
    rel = _rel(path)
    for name in _imports(path):
        top = name.split(".")[0]
        owners = OWNERS.get(top)
        if owners is not None:
            assert rel.startswith(owners), f"{rel} imports {top}; only {owners} may"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_nothing_imports_app_or_cli(path: Path) -> None:
    rel = _rel(path)
    # the entry points: the command line, the demo and the library (enricher.api)
    if rel in {"enricher/cli.py", "enricher/__main__.py", "enricher/demo/__init__.py",
               "enricher/api.py"}:
        return
    for name in _imports(path):
        assert name != "enricher.cli", f"{rel} imports the CLI"
        if rel != "enricher/cli.py":
            assert name != "enricher.app", f"{rel} imports the pipeline"


@pytest.mark.parametrize("path", [p for p in MODULES if "/net/" in p.as_posix()], ids=_rel)
def test_net_knows_nothing_of_records(path: Path) -> None:
    for name in _imports(path):
        assert name not in {"enricher.records", "enricher.links", "enricher.enrich", "enricher.app"}


def test_classify_knows_nothing_of_httpx() -> None:
    assert not any(
        n.split(".")[0] in {"httpx", "httpcore"} for n in _imports(PACKAGE / "classify.py")
    )


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_modules_stay_readable(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 500, f"{_rel(path)} has {lines} lines: it is doing two jobs"
