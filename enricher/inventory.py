"""``enricher links``: the URL inventory of a corpus, without any network.

Lists every URL slot with its origin (file, line, field path), the text as written and the
cleaned URL, then counts: records, slots, distinct URLs, hosts, per field and per host.
``--format jsonl`` writes one JSON object per slot for machines (counts then go to stderr).
This module must not fetch anything or write records.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console

from enricher import records
from enricher.config import Config
from enricher.finding import no_records
from enricher.models import LinkRef, RecordError, shown_name
from enricher.net.urls import host_key
from enricher.policy import LinkPolicy, record_slots
from enricher.report import stdout_text
from enricher.report.jsonl import dumps_line
from enricher.streams import say

_INDEX = re.compile(r"\[\d+\]")


def json_line(obj: object) -> str:
    """``obj`` as one line of JSON in UTF-8-safe text (see ``dumps_line``)."""
    return dumps_line(obj, (", ", ": "))


def field_pattern(field_path: str) -> str:
    """``related[3].images[0].url`` -> ``related[].images[].url`` (for per-field counts)."""
    return _INDEX.sub("[]", field_path)


@dataclass(slots=True)
class Inventory:
    records: int = 0
    errors: list[RecordError] = field(default_factory=list)
    slots: int = 0
    unfetchable: Counter[str] = field(default_factory=Counter)  # "status reason" -> slots
    per_field: Counter[str] = field(default_factory=Counter)
    per_host: Counter[str] = field(default_factory=Counter)  # distinct URLs per host
    urls: set[str] = field(default_factory=set)

    def add(self, ref: LinkRef) -> None:
        self.slots += 1
        self.per_field[field_pattern(ref.origin.field)] += 1
        if ref.url is None:
            status = ref.status.value if ref.status else "invalid"
            self.unfetchable[f"{status} {ref.reason}"] += 1
        elif ref.url not in self.urls:
            self.urls.add(ref.url)
            self.per_host[host_key(ref.url)] += 1

    def summary_lines(self, top: int = 10) -> list[str]:
        """The counts, one line each; an empty list reads "none", never a dangling colon."""
        lines = [
            f"records: {self.records} ({len(self.errors)} unreadable)",
            f"URL slots: {self.slots}  distinct URLs: {len(self.urls)}  "
            f"hosts: {len(self.per_host)}",
            "per field: " + _listed(sorted(self.per_field.items())),
        ]
        if self.unfetchable:
            lines.append("not fetchable: " + _listed(self.unfetchable.most_common()))
        lines.append("top hosts (distinct URLs): " + _listed(self.per_host.most_common(top)))
        return lines


def _listed(counts: Iterable[tuple[str, int]]) -> str:
    """``name count, name count``; ``none`` when there is nothing to list."""
    return ", ".join(f"{name} {n}" for name, n in counts) or "none"


def iter_slots(
    inputs: Sequence[str], config: Config, inventory: Inventory, stdin: TextIO | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> Iterable[LinkRef]:
    """Every slot of every readable record; unreadable records are noted in ``inventory``;
    ``on_skip`` hears of a path listed on stdin that is skipped (a FIFO, a device)."""
    policy = LinkPolicy.from_config(config)
    for path, display in records.iter_record_paths(list(inputs), stdin, on_skip=on_skip):
        inventory.records += 1
        record = records.read_record(path, display, config.max_record_bytes)
        if isinstance(record, RecordError):
            inventory.errors.append(record)
            continue
        slots = record_slots(record, config)
        if slots.problems:  # as check and enrich: a structurally bad record is not checked
            inventory.errors.extend(RecordError.not_checked(display, p.message, p.line)
                                    for p in slots.problems)
            continue
        yield from policy.apply(slots)
    if not inventory.records and on_skip is not None and (warning := no_records(inputs)):
        on_skip(warning)


def run_links(
    inputs: Sequence[str],
    config: Config,
    fmt: str,
    out: TextIO,
    err: Console,
    stdin: TextIO | None = None,
) -> int:
    if not inputs:
        err.print("enricher: give at least one PATH to links (a file, folder, glob or -)")
        return 2
    inventory = Inventory()
    out = stdout_text(out, fmt)  # JSON Lines are UTF-8 whatever the terminal's encoding
    write = out.write
    def skipped(message: str) -> None:
        say(err, f"enricher: {message}")

    for ref in iter_slots(inputs, config, inventory, stdin, skipped):
        inventory.add(ref)
        if fmt == "jsonl":
            write(
                json_line(
                    {
                        "file": ref.origin.file,
                        "line": ref.origin.line,
                        "field": ref.origin.field,
                        "kind": ref.kind.value,
                        "raw": ref.raw,
                        "url": ref.url,
                        "status": ref.status.value if ref.status else None,
                        "reason": ref.reason,
                    }
                )
                + "\n"
            )
        else:  # tab-separated: a tab or newline in a file name is escaped (shown_name)
            where = f"{shown_name(ref.origin.file)}:{ref.origin.line or ''}"
            target = (
                ref.url
                if ref.url
                else f"[{ref.status.value if ref.status else 'invalid'} {ref.reason}]"
            )
            shown = ref.raw if ref.raw == ref.url else f"{ref.raw!r} -> {target}"
            write(f"{where}\t{ref.origin.field}\t{shown}\n")
    for error in inventory.errors:
        err.print(str(error), markup=False, highlight=False, emoji=False)
    lines = inventory.summary_lines()
    if fmt == "jsonl":
        for line in lines:
            err.print(line, markup=False, highlight=False, emoji=False)
    else:
        write("\n" + "\n".join(lines) + "\n")
    out.flush()
    return 2 if inventory.errors else 0
