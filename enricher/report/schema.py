"""The JSON Schemas shipped in the package (``enricher/schema/*.schema.json``).

``results`` describes one line of the results JSON Lines contract; ``run`` the whole-run JSON
report (which embeds the same line schema under ``$defs/result``). This module only loads
them; validating is the consumer's business (jsonschema is not a runtime dependency).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

SCHEMAS: tuple[str, ...] = ("results", "run")


def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` ("results" or "run"; a file name such as
    "results.schema.json" works too) as a dict."""
    stem = name.removesuffix(".json").removesuffix(".schema")
    if stem not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r}; use one of: {', '.join(SCHEMAS)}")
    text = files("enricher").joinpath("schema", f"{stem}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
