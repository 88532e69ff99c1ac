"""The write stage: each readable record whose bytes change is written, atomically, in
place or as a copy under ``--out`` (mirroring the folder the command line names, never one
found from the records read); ``--dry-run`` only counts and describes.

A cancellation lands between two files, never inside one. This module must not fetch, parse
YAML itself (``records`` does) or print (it hands lines to the Reporter).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from enricher import records
from enricher.config import Config
from enricher.enrich import EnrichOptions, build_edits, holder_mapping
from enricher.links import URL_FIELDS
from enricher.models import HolderPath, LinkRef, LinkResult, RecordError, shown_name
from enricher.policy import LinkPolicy, record_slots
from enricher.progress import Reporter
from enricher.spans import MoveItems, where

_OTHER_OUT = "choose another --out folder or use --in-place"
FILLED = ("title", "excerpt", "images")  # the keys --fill-missing writes (enrich._fill)
FieldName = tuple[HolderPath, str]  # a mapping's path and one of its keys
STALE_SHOWN = 3  # stale --out copies named in the log line (the rest are counted)


def out_root(inputs: Sequence[str], listed: Iterable[str], out_dir: str) -> Path:
    """The folder ``--out`` mirrors (``records.inputs_root``: from the command line, never
    from which records can be read), found before any record is read. UsageError (one
    line) when it is the output folder itself: every copy would overwrite its record."""
    root = records.inputs_root(inputs, listed)
    if os.path.realpath(out_dir) == os.path.realpath(root):
        raise records.UsageError(
            f"--out {shown_name(out_dir)} is the folder of the input records "
            f"({shown_name(str(root))}): the copies would overwrite them; "
            f"{_OTHER_OUT}"
        )
    return root


@dataclass(slots=True)
class WriteTally:
    """What the write phase has done so far: still right when it is interrupted."""

    changed: int = 0  # records whose bytes changed (written, unless a dry run)
    unchanged: int = 0
    errors: list[RecordError] = field(default_factory=list)
    partial: int = 0  # errors of records written all the same (--prune-dead refused)

    @property
    def failed(self) -> int:
        """Records not written because of an error."""
        return len(self.errors) - self.partial


async def write_phase(
    record_paths: Sequence[tuple[Path, str]],
    results: Mapping[str, LinkResult],
    config: Config,
    reporter: Reporter,
    now: str,
    diff_lines: list[str] | None = None,
    tally: WriteTally | None = None,
    root: Path | None = None,
) -> tuple[int, int, list[RecordError]]:
    """Write each readable record whose bytes change. Returns (changed, unchanged, errors),
    also kept in ``tally`` as it goes: a record counts as changed once written (a dry run:
    once its new bytes differ). A cancellation lands between two files, never inside one:
    every file is then old or new, and ``tally`` counts the new ones. ``--out`` mirrors
    ``root`` (``out_root``; by default the folder holding all ``record_paths``)."""
    tally = tally if tally is not None else WriteTally()
    errors = tally.errors
    options = EnrichOptions(
        now=now,
        fill_missing=config.fill_missing,
        history=bool(config.state_file),
        update_redirects=config.update_redirects,
        prune_dead=config.prune_dead,
    )
    policy = LinkPolicy.from_config(config)
    if root is None:
        root = records.common_root(p for p, _ in record_paths)
    out_dir = Path(config.out_dir)
    reporter.phase("comparing records (dry run)" if config.dry_run else "writing records",
                   total=len(record_paths))
    swept: set[Path] = set()
    for path, display in record_paths:
        await asyncio.sleep(0)  # let a signal handler cancel between files, never inside one
        record = records.read_record(path, display, config.max_record_bytes)
        if isinstance(record, RecordError):
            errors.append(record)
            reporter.log(str(record))
            continue
        refs = policy.apply(record_slots(record, config))
        dest = path if config.in_place else records.output_path(path, root, out_dir)
        earlier = None  # --out: the copy the last run wrote holds this record's last checks
        current: bytes | None = record.raw  # what dest holds now (None: nothing readable)
        if not config.in_place:
            current = None
            if dest.is_file():
                copy = records.read_record(dest, str(dest), config.max_record_bytes)
                if isinstance(copy, records.Record):
                    earlier, current = copy.data, copy.raw
        try:
            edits: Mapping[HolderPath, Mapping[str, Any]] = build_edits(
                record.data, refs, results, options, earlier)
            try:
                new = records.apply_edits(record, edits)
            except records.EditError as exc:
                if isinstance(exc, records.PartialEdit):  # the moves were refused: the rest
                    edits = {h: {k: v for k, v in keys.items() if not isinstance(v, MoveItems)}
                             for h, keys in edits.items()}  # is what --dry-run names
                    raise
                # a value a fix-up cannot change without changing another (an anchored
                # empty title, an anchored URL that an alias repeats): the record gets
                # every other edit (what --dry-run names), and the error says what was left
                new, what, line, edits = _settle(record, edits, partial(
                    _rebuild, record.data, refs, results, options, earlier), options, exc)
                raise records.PartialEdit(f"{what}: {exc}", new, line or exc.line) from None
        except records.PartialEdit as exc:  # --prune-dead refused; every other edit stands
            new = exc.new
            error = RecordError(display, str(exc), exc.line)
            errors.append(error)
            tally.partial += 1  # reported (exit 2), but the record is written: not failed
            reporter.log(str(error))
        except records.EditError as exc:
            error = RecordError(display, str(exc), exc.line)
            errors.append(error)
            reporter.log(str(error))
            continue
        except Exception as exc:  # a bug of ours in one record must not stop the others
            error = RecordError(display, f"left unchanged: enricher failed on this record "
                                f"({type(exc).__name__}: {exc}); please report it", 1)
            errors.append(error)
            reporter.log(str(error))
            continue
        changed = new != current  # in place: the record; --out: the copy the last run wrote
        if changed and diff_lines is not None:
            before = earlier if earlier is not None else record.data
            diff_lines.append(f"{shown_name(display)}: {_describe(edits, before)}")
        if config.dry_run:
            tally.changed += changed
            tally.unchanged += not changed
            continue
        folder = Path(os.path.realpath(dest)).parent
        if folder not in swept:  # once per folder: temp files of a run that was killed
            swept.add(folder)
            records.sweep_stale_temps(folder, time.time())
        why = None
        if changed and not config.in_place and records.same_file(dest, path):
            why = f"it is the record itself (a symlink or hard link?); {_OTHER_OUT}"
        elif changed and not config.in_place and _leads_away(dest, out_dir):
            why = (f"it leads to {os.path.realpath(dest)} (a symlink); a copy is only written "
                   "as a file inside --out: remove the link")
        elif changed:  # unchanged: nothing to write, even if the file changed since
            try:
                records.write_record(record, new, dest)
            except OSError as exc:
                why = exc.strerror or str(exc)
        if why is not None:
            error = RecordError(display, f"cannot write {dest}: {why}")
            errors.append(error)
            reporter.log(str(error))
            continue
        tally.changed += changed  # the write above ran without a pause: counted = written
        tally.unchanged += not changed
    if not config.in_place:
        _note_stale_copies(out_dir, root, reporter)
    return tally.changed, tally.unchanged, errors


def stale_copies(out_dir: Path, root: Path) -> list[str]:
    """Record files under ``out_dir`` whose record under ``root`` (the folder it mirrors) no
    longer exists: renamed or deleted since a run wrote them. Only looked for, never removed.
    A ``root`` inside ``out_dir`` is not searched (those are the records)."""
    if not out_dir.is_dir():
        return []
    inside = Path(os.path.realpath(root)).is_relative_to(os.path.realpath(out_dir))
    try:
        found = records.record_paths([str(out_dir)], skip_dir=str(root) if inside else None)
        return [path for path in found
                if not os.path.lexists(root / os.path.relpath(path, out_dir))]
    except (records.UsageError, OSError):  # an unreadable folder: nothing to say
        return []


def _note_stale_copies(out_dir: Path, root: Path, reporter: Reporter) -> None:
    stale = stale_copies(out_dir, root)
    if stale:
        shown = ", ".join(shown_name(path) for path in stale[:STALE_SHOWN])
        more = f" and {len(stale) - STALE_SHOWN} more" if len(stale) > STALE_SHOWN else ""
        reporter.log(f"enricher: {len(stale)} cop{'y' if len(stale) == 1 else 'ies'} under "
                     f"{shown_name(str(out_dir))} no longer ha{'s' if len(stale) == 1 else 've'}"
                     f" a record under {shown_name(str(root))} (renamed or deleted): {shown}"
                     f"{more}; enricher never deletes them, remove them if they should go")


def _rebuild(data: Mapping[str, Any], refs: Sequence[LinkRef], results: Mapping[str, LinkResult],
             options: EnrichOptions, earlier: Mapping[str, Any] | None, *, fill: bool = True,
             fix: bool = True, fix_only: frozenset[FieldName] | None = None
             ) -> Mapping[HolderPath, Mapping[str, Any]]:
    """The record's edits without the fills (``fill=False``) or URL fixes (``fix=False``),
    or with the URL fixes of ``fix_only`` alone."""
    off = replace(options, fill_missing=options.fill_missing and fill,
                  update_redirects=options.update_redirects and fix, fix_only=fix_only)
    return build_edits(data, refs, results, off, earlier)


def _settle(record: records.Record, edits: Mapping[HolderPath, Mapping[str, Any]],
            rebuild: Callable[..., Mapping[HolderPath, Mapping[str, Any]]],
            options: EnrichOptions, error: records.EditError
            ) -> tuple[bytes, str, int | None, Mapping[HolderPath, Mapping[str, Any]]]:
    """The record with the fix-ups its text cannot take left out, what was left, the line
    of the first value left, and the edits kept. Raises ``error`` when leaving fix-ups out
    does not help (the trouble is elsewhere: the record's edits without any fix-up do not
    fit either)."""
    kept, left = _fixups_that_fit(record, edits, rebuild, options)
    if not left:
        raise error
    what = "; ".join(f"{flag} left {', '.join(where((*h, k)) for h, k in names)} as "
                     f"{'it is' if len(names) == 1 else 'they are'}"
                     for flag, names in left.items())
    first = min((record.line_of(*name) or 0 for names in left.values() for name in names),
                default=0)
    return records.apply_edits(record, kept), what, first or None, kept  # (tried: it fits)


_URL_KEYS = frozenset(path.rpartition("[].")[2].rpartition(".")[2] for path, _ in URL_FIELDS)


def _fixups_that_fit(record: records.Record, edits: Mapping[HolderPath, Mapping[str, Any]],
                     rebuild: Callable[..., Mapping[HolderPath, Mapping[str, Any]]],
                     options: EnrichOptions
                     ) -> tuple[Mapping[HolderPath, Mapping[str, Any]], dict[str, list[FieldName]]]:
    """The edits without the fills and URL fixes the record's text cannot take (an anchored
    or aliased value: one URL an alias repeats no longer stops every other fix), each tried
    alone when they do not fit together, fills first (without any URL fix), then URL fixes
    (rebuilt, so that each ``linkCheck`` entry describes the URL the record keeps); and those
    left out, by flag."""
    left: dict[str, list[FieldName]] = {}

    def with_fills(found: Mapping[HolderPath, Mapping[str, Any]], chosen: set[FieldName]
                   ) -> dict[HolderPath, dict[str, Any]]:
        return {h: {k: v for k, v in keys.items() if k not in FILLED or (h, k) in chosen}
                for h, keys in found.items()}

    def fits(found: Mapping[HolderPath, Mapping[str, Any]]) -> bool:
        try:
            records.apply_edits(record, found)
        except records.EditError:
            return False
        return True

    if not fits(rebuild(fill=False, fix=False)):
        return {}, {}  # the trouble is elsewhere: no fix-up left out would help
    unfixed = rebuild(fix=False) if options.update_redirects else edits
    filled = _fitting([(h, k) for h, keys in unfixed.items() for k in keys
                       if options.fill_missing and k in FILLED],
                      lambda names: fits(with_fills(unfixed, names)),
                      left.setdefault("--fill-missing", []))
    fixed = _fitting([(h, k) for h, keys in edits.items() for k in keys
                      if options.update_redirects and k in _URL_KEYS],
                     lambda names: fits(with_fills(rebuild(fix_only=frozenset(names)), filled)),
                     left.setdefault("--update-redirects", []))
    left = {flag: names for flag, names in left.items() if names}
    final = rebuild(fix_only=frozenset(fixed)) if options.update_redirects else edits
    return with_fills(final, filled), left


def _fitting(candidates: list[FieldName], fits: Callable[[set[FieldName]], bool],
             left: list[FieldName], taken: frozenset[FieldName] = frozenset()
             ) -> set[FieldName]:
    """The candidates that fit together with ``taken`` (``fits``), the others appended to
    ``left``, found by halving: a few tries per value that does not fit, not one per
    candidate (a record's 2,000 URL fixes, each trial a rebuild, took minutes)."""
    if not candidates:
        return set(taken)
    if fits(set(taken) | set(candidates)):
        return set(taken) | set(candidates)
    if len(candidates) == 1:
        left.append(candidates[0])
        return set(taken)
    half = len(candidates) // 2
    first = _fitting(candidates[:half], fits, left, taken)
    return _fitting(candidates[half:], fits, left, frozenset(first))


def _leads_away(dest: Path, out_dir: Path) -> bool:
    """Would writing ``dest`` follow a symlink (the file, or a folder on its way below
    ``out_dir``)? The writer keeps a symlink and replaces its target: another record, or
    any file, would be overwritten by this record's copy."""
    folder = Path(os.path.realpath(dest.parent))
    return os.path.islink(dest) or not folder.is_relative_to(os.path.realpath(out_dir))


def _describe(edits: Mapping[tuple[str | int, ...], Mapping[str, Any]],
              before: Mapping[str, Any]) -> str:
    """The keys whose value the edits change (against ``before``: the record, or the copy
    the last run wrote); every edited key when none does (only their layout changes)."""
    parts, changed = [], []
    for holder, keys in edits.items():
        current = holder_mapping(before, holder)
        for key, value in keys.items():
            name = where((*holder, key))
            parts.append(name)
            if current is None or key not in current or current[key] != value:
                changed.append(name)
    return ", ".join(changed or parts)
