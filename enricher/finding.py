"""Find record files: the files, folders, globs and ``-`` (paths on stdin) named on the
command line become record paths, each file once (by realpath: a symlinked file is
followed), in sorted order. Folder walks and globs do not descend into symlinked folders (a
folder named on the command line is followed) nor into the run's output folder, and the run's
report files are never records; a folder below an input that cannot be listed is yielded
as a path (reading it gives a record error that names it, and the run goes on). A FIFO or
device listed on stdin is skipped (``on_skip``). Explicitly named files are taken whatever
their suffix; folders and globs yield only ``*.md`` and ``*.markdown`` files, dangling and
looping symlinks so named too (reading them gives a record error). ``check_inputs`` refuses
a plain input that is no file or folder before the run starts.
``inputs_root`` is the folder the inputs name (what ``--out`` mirrors), as given.
``enricher.records`` re-exports the public names.

It must not read or write records, or print (``on_skip`` callbacks report skipped paths).
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import glob
import itertools
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final, TextIO

from enricher.models import shown_name

RECORD_SUFFIXES: Final = frozenset({".md", ".markdown"})
TEMP_PREFIX: Final = ".enricher-tmp-"  # write_atomic's temp files; never a record suffix
_GLOB = re.compile(r"[*?[]")


class UsageError(Exception):
    """An input named on the command line does not exist (one-line message)."""


def iter_record_paths(
    inputs: Sequence[str],
    stdin: TextIO | None = None,
    *,
    on_skip: Callable[[str], None] | None = None,
    skip_dir: str | os.PathLike[str] | None = None,
) -> Iterator[tuple[Path, str]]:
    """Yield ``(path, display)`` for each record under ``inputs``, each file once, in order.

    An input is a file, a folder (walked recursively, sorted, not into symlinked folders), a
    glob (``**`` allowed) or ``-``: paths read from ``stdin`` one per line (taken literally).
    Files are deduplicated by their resolved path. All inputs are expanded before the first
    path is yielded, so a missing one raises UsageError before any record is read; a path
    listed on stdin that does not exist (``git diff --name-only`` lists deleted files) is
    skipped instead, and ``on_skip`` gets a one-line message naming it. Folder walks and globs
    never enter ``skip_dir`` (the run's output folder, which may sit inside the input tree).
    """
    found = list(record_paths(inputs, stdin, on_skip=on_skip, skip_dir=skip_dir))
    for path in found:  # held as str until now: 100,000 Path objects cost seconds of GC
        yield Path(path), path


def record_paths(
    inputs: Sequence[str],
    stdin: TextIO | None = None,
    *,
    on_skip: Callable[[str], None] | None = None,
    skip_dir: str | os.PathLike[str] | None = None,
    skip_files: Iterable[str] = (),
) -> Iterator[str]:
    """``iter_record_paths``' paths (path and display are the same text), lazily: an input
    is expanded when its turn comes (a missing one raises UsageError then) and a folder walk
    reads one folder per step, so a caller collecting every path before reading any record
    can pause between paths (to let Ctrl-C in). ``skip_files`` (the run's own report
    files: last night's Markdown report in the records folder is no record) are never
    yielded, however they are reached."""
    skip = os.path.realpath(skip_dir) if skip_dir is not None else None
    # realpaths: a file reached through a symlink counts once; the skipped count as seen
    seen: set[str] = {os.path.realpath(path) for path in skip_files if path != "-"}
    on_skip = on_skip or (lambda _: None)
    for item, literal in _inputs(inputs, stdin, on_skip):
        try:
            for path, real in _expand(item, literal, skip):
                if real not in seen:
                    seen.add(real)
                    yield path
        except UsageError as exc:
            if not literal:
                raise
            on_skip(f"skipped (listed on stdin): {exc}")  # a FIFO, a device: not a record


def _inputs(
    inputs: Sequence[str], stdin: TextIO | None, on_skip: Callable[[str], None]
) -> Iterator[tuple[str, bool]]:
    for item in inputs:
        if item != "-":
            yield item, False
            continue
        for name in stdin_paths(stdin if stdin is not None else sys.stdin, on_skip):
            yield name, True


def stdin_paths(stdin: Iterable[str], on_skip: Callable[[str], None]) -> Iterator[str]:
    """The paths listed one per line (blank lines ignored); a path that does not exist is
    skipped and named to ``on_skip`` (one line), so a deleted file does not stop a run."""
    for line in stdin:
        name = line.rstrip("\r\n")
        if not name.strip():
            continue
        if os.path.exists(name):
            yield name
        else:
            on_skip(f"skipped {shown_name(name)}: no such file (listed on stdin)")


def is_record_name(name: str) -> bool:
    """Whether a folder walk or glob takes a file of this name for a record."""
    return not name.startswith(TEMP_PREFIX) and os.path.splitext(name)[1].lower() in RECORD_SUFFIXES


def _expand(item: str, literal: bool, skip: str | None = None) -> Iterator[tuple[str, str]]:
    """``(path, realpath)`` of each record file ``item`` names."""
    if os.path.isdir(item):
        yield from _walk(item, os.path.realpath(item), skip)
    elif os.path.isfile(item):
        yield item, os.path.realpath(item)
    elif not literal and _GLOB.search(item) and (first := next(
            matches := _glob(item), None)) is not None:
        resolve = functools.cache(os.path.realpath)  # matches share folders
        inside = skip.rstrip(os.sep) + os.sep if skip is not None else None
        for match in itertools.chain((first,), matches):
            folder, name = os.path.split(match)
            try:
                mode = os.lstat(match).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode) or name in ("", os.curdir, os.pardir):
                real = os.path.realpath(match)
            else:  # only the folder part can hold symlinks: resolve each folder once
                real = os.path.join(resolve(folder or os.curdir), name)
            if inside is not None and (real + os.sep).startswith(inside):
                continue  # the output folder or inside it
            if stat.S_ISDIR(mode):
                yield from _walk(match, real, skip)
            elif is_record_name(name) and (os.path.isfile(match) or not os.path.exists(match)):
                yield match, real  # a dangling symlink too: reading it names it
    else:
        raise _unusable_input(item)


def check_inputs(inputs: Sequence[str]) -> None:
    """UsageError for the first input that is a plain path to no file or folder (a typo, a
    dangling symlink, a FIFO) or a glob that matches nothing, before the run opens its
    history or prints a line; globs (past their first match) and ``-`` are expanded in the
    run."""
    for item in inputs:
        if item == "-" or os.path.isdir(item) or os.path.isfile(item):
            continue
        if not _GLOB.search(item) or next(_glob(item), None) is None:
            raise _unusable_input(item)


def symlink_loop(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` cannot be followed because its symlinks loop."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def special_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (followed) is a FIFO, device or socket: an output written to as it
    is, never replaced by a file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def _unusable_input(item: str) -> UsageError:
    """Why ``item``, neither a file nor a folder, cannot be an input (one line, with the fix)."""
    shown = shown_name(item)
    if os.path.islink(item) and not os.path.exists(item):
        what = "a symlink loop" if symlink_loop(item) else "a dangling symlink"
        return UsageError(f"input is {what}: {shown}; fix or remove the link")
    if os.path.lexists(item):
        return UsageError(f"input is neither a file nor a folder: {shown}; "
                          "name record files or folders")
    return UsageError(f"input not found: {shown}; check the path")


def _glob(pattern: str) -> Iterator[str]:
    """What ``glob.glob(pattern, recursive=True)`` matches, lazily, in path-component order
    (as ``_walk``), except that no wildcard leads into a symlinked folder: ``**`` followed
    them, and a symlink loop made it walk for ever, growing, deaf to signals. Names starting
    with a dot match only a part that starts with one, and ``**`` skips such folders."""
    parts = [part for part in pattern.split(os.sep) if part]
    found = _glob_in(os.sep if pattern.startswith(os.sep) else "", parts)
    yield from filter(os.path.isdir, found) if pattern.endswith(os.sep) else found


def _glob_in(base: str, parts: list[str]) -> Iterator[str]:
    part, rest = parts[0], parts[1:]
    if not glob.has_magic(part):
        path = os.path.join(base, part)
        if rest and os.path.isdir(path):
            yield from _glob_in(path, rest)
        elif not rest and os.path.lexists(path):
            yield path
        return
    try:
        entries = _listing(base or os.curdir)
    except UsageError:
        return  # an unreadable folder matches nothing, as for glob.glob
    if part == "**":
        if rest:
            yield from _glob_in(base, rest)  # no folder at all
        else:
            yield base or os.curdir
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if _real_folder(entry):
                yield from _glob_in(os.path.join(base, entry.name), parts)
            elif not rest:  # a last "**" matches files too
                yield os.path.join(base, entry.name)
        return
    for entry in entries:
        if entry.name.startswith(".") and not part.startswith("."):
            continue
        if fnmatch.fnmatchcase(entry.name, part):
            if not rest:
                yield os.path.join(base, entry.name)
            elif _real_folder(entry):
                yield from _glob_in(os.path.join(base, entry.name), rest)


def _real_folder(entry: os.DirEntry[str]) -> bool:
    """A folder, not a symlink to one (False when it vanished meanwhile)."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _walk(top: str, real_top: str, skip: str | None = None) -> Iterator[tuple[str, str]]:
    """``(path, realpath)`` of the record files under ``top`` (realpath ``real_top``), sorted
    by path components, one folder listed per step; never into a symlinked folder or ``skip``
    (unless ``top`` is it: the user named it). No folder below ``top`` is a symlink: a file's
    realpath is its folder's plus its name, with no system call (scandir gives entry types)."""
    stack = [(iter(_listing(top)), real_top)]
    while stack:
        entries, real = stack[-1]
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if (sub := os.path.join(real, entry.name)) != skip:
                        try:
                            stack.append((iter(_listing(entry.path)), sub))
                        except UsageError:  # unreadable: yielded, so reading it names it
                            yield entry.path, sub  # as a record error; the run goes on
                            continue
                        break  # the subfolder's files sort before the next entry
                elif not is_record_name(entry.name):
                    continue
                elif entry.is_symlink():
                    # a symlinked file is followed, a folder is not; a dangling or looping
                    # link is yielded, so reading it names it as a record error (never silent)
                    if os.path.isfile(entry.path) or not os.path.exists(entry.path):
                        yield entry.path, os.path.realpath(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry.path, os.path.join(real, entry.name)
            except OSError:  # vanished or unreadable entry: not a record we can read
                continue
        else:
            stack.pop()


def common_root(
    paths: Iterable[str | os.PathLike[str]], folders: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """The deepest folder holding all ``paths`` (each by its folder) and ``folders`` (each
    itself), compared as given: symlinks are not resolved. The current folder when there
    are none."""
    parents = [os.path.dirname(os.path.abspath(p)) for p in paths]
    parents += [os.path.abspath(f) for f in folders]
    return Path(os.path.commonpath(parents)) if parents else Path.cwd()


def input_folder(item: str) -> str:
    """The folder an input names, as given: a folder itself, a file's folder, a glob's
    folder before its first wildcard (``news/**/*.md`` -> ``news``)."""
    if os.path.isdir(item):
        return item
    wildcard = _GLOB.search(item)
    head = item if wildcard is None or os.path.lexists(item) else item[: wildcard.start()]
    return os.path.dirname(head) or os.curdir


def inputs_root(inputs: Sequence[str], listed: Iterable[str] = ()) -> Path:
    """The folder ``--out`` mirrors: the deepest folder holding every input as given
    (``input_folder``) and, for ``-``, the ``listed`` paths. It depends on the command line
    only, never on which records can be read or where a symlinked record points."""
    folders = [input_folder(item) for item in inputs if item != "-"]
    return common_root(listed if "-" in inputs else (), folders)


def _listing(folder: str) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` sorted by name; UsageError (one line) when unreadable."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        raise UsageError(f"cannot read folder {shown_name(str(exc.filename))}: {exc.strerror}; "
                         "fix its permissions or leave it out") from None


def no_records(inputs: Sequence[str]) -> str | None:
    """The warning for inputs that hold no record (a moved or mistyped folder must not pass
    a nightly run in silence); None for stdin's list, which may rightly be empty."""
    if list(inputs) == ["-"]:
        return None
    return (f"warning: no records (*.md files) under {', '.join(shown_name(i) for i in inputs)}"
            "; check the paths")
