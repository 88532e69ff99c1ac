"""Find, read and write record files: Markdown with YAML front matter between ``---`` lines.

Reading parses the front matter once (``frontmatter.parse``: compose, vet, construct from
the same graph with safe-loader semantics). Every problem is a RecordError with file and
line, never an exception. The graph is kept for its marks.

Writing is surgical: ``apply_edits`` splices freshly dumped ``key: value`` text into the
original text at the offsets the marks give, so every other byte (quotes, order, comments,
blank lines, CRLF, BOM, the Markdown body) stays as it was; the result is re-parsed and
compared with the intended data before it is returned, so an unusual layout (``? `` complex
keys, say) gives an EditError, never a wrong file. Values are dumped by ``yamlout`` (safe
representer: block style, lists indented under their key, simple words plain, every other
string double-quoted, one line, no anchors). Files are replaced atomically.

Symlinks: a symlinked record file is followed and its *target* is rewritten (realpath).
Finding records (files, folders, globs, stdin) lives in ``enricher.finding``; its public
names are re-exported here.

Only this module (for node types), yamlout.py and frontmatter.py import yaml. It must not
re-dump YAML it does not own, touch the body, know about links or the network, or print.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from yaml.nodes import MappingNode, SequenceNode

from enricher import frontmatter, spans
from enricher.config import DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_YAML_NODES, STALE_TEMP_SECONDS
from enricher.finding import RECORD_SUFFIXES as RECORD_SUFFIXES
from enricher.finding import TEMP_PREFIX as TEMP_PREFIX
from enricher.finding import UsageError as UsageError
from enricher.finding import common_root as common_root
from enricher.finding import inputs_root as inputs_root
from enricher.finding import iter_record_paths as iter_record_paths
from enricher.finding import record_paths as record_paths
from enricher.finding import stdin_paths as stdin_paths
from enricher.models import HolderPath, RecordError
from enricher.spans import DELETE as DELETE
from enricher.spans import EditError as EditError
from enricher.spans import MoveItems as MoveItems
from enricher.yamlout import dump_lines


class _TooLarge(EditError):
    """The edited record would exceed max_record_bytes."""


class PartialEdit(EditError):
    """The ``MoveItems`` edits were refused (the message says why and where); ``new`` holds
    the record's bytes with every other edit applied, ready to be written."""

    def __init__(self, message: str, new: bytes, line: int | None = None) -> None:
        super().__init__(message, line=line)
        self.new = new


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One readable record: its exact bytes, its front-matter data, and the composed graph
    whose marks locate every value (for ``line_of`` and ``apply_edits``)."""

    path: Path
    display: str  # the path as shown to users
    raw: bytes
    data: dict[str, Any]
    _text: str = field(repr=False, compare=False)
    _fm: tuple[int, int] = field(repr=False, compare=False)  # front-matter text span
    _root: MappingNode = field(repr=False, compare=False)  # the composed front matter
    _shared: frozenset[int] = field(repr=False, compare=False)  # ids of aliased collections
    _newline: str = field(repr=False, compare=False)
    _paths: dict[HolderPath, list[Any] | None] = field(  # holder -> spans.find, per record
        default_factory=dict, repr=False, compare=False)
    _max_bytes: int = field(default=DEFAULT_MAX_RECORD_BYTES, repr=False, compare=False)
    _mark: list[int] = field(default_factory=lambda: [0, 1], repr=False, compare=False)

    def _line_at(self, at: int) -> int:
        """1-based line of text offset ``at``, counted on from the last offset asked when
        ``at`` lies after it (slots come in document order: linear in the record's size)."""
        mark = self._mark
        if at < mark[0]:
            mark[0], mark[1] = 0, 1
        mark[1] += self._text.count("\n", mark[0], at)
        mark[0] = at
        return mark[1]

    def line_of(self, holder: HolderPath, key: str | int) -> int | None:
        """1-based file line of the value of ``key`` in the mapping at ``holder`` (or of item
        ``key`` of the list there), or None."""
        if holder in self._paths:
            path = self._paths[holder]
        else:
            path = self._paths[holder] = spans.find(self._root, holder)
        if path is not None and isinstance(key, int) and isinstance(path[-1], SequenceNode):
            items = path[-1].value
            if not 0 <= key < len(items):
                return None
            at = items[key].start_mark.index  # an item starts after all before it ends; an
            if at < max([path[-1].start_mark.index, *(n.end_mark.index for n in items[:key])]):
                # alias's node is where its anchor is (before it): the list's key line instead
                found = _pair(path[-2], holder[-1]) if len(path) > 1 and isinstance(
                    path[-2], MappingNode) and isinstance(holder[-1], str) else None
                return self._line_at(self._fm[0] + found[0].start_mark.index) if found else None
            return self._line_at(self._fm[0] + at)
        if path is None or not isinstance(path[-1], MappingNode) or isinstance(key, int):
            return None
        found = _pair(path[-1], key)
        if found is None:
            return None
        k, v = found
        k_start, k_end, v_start = k.start_mark.index, k.end_mark.index, v.start_mark.index
        at = self._fm[0] + (v_start if v_start >= k_end else k_start)  # alias: key line
        # file lines count "\n" only (YAML marks also count U+2028 and friends)
        return self._line_at(at)


_MERGE_TAG: Final = "tag:yaml.org,2002:merge"

def _pair(node: MappingNode, key: str, depth: int = 0) -> tuple[Any, Any] | None:
    """The (key, value) nodes of ``key`` in ``node``: its own, else from what it merges
    (``<<: *base``, earlier mappings first, as YAML merges), where the value is written."""
    for k, v in node.value:
        if k.tag == spans.STR_TAG and k.value == key:
            return k, v
    for k, v in node.value if depth < 8 else ():
        if k.tag == _MERGE_TAG:
            for base in v.value if isinstance(v, SequenceNode) else (v,):
                if isinstance(base, MappingNode) and (found := _pair(base, key, depth + 1)):
                    return found
    return None


# what to do about a record that cannot be opened, by errno (else: its permissions)
_TOO_MANY = "too many open files: raise the open-files limit (ulimit -n)"
_READ_FIX = {errno.ENOENT: "it was moved or deleted; nothing to do if that was meant",
             errno.ELOOP: "it is a symlink loop; fix the link",
             errno.EMFILE: _TOO_MANY, errno.ENFILE: _TOO_MANY,
             errno.EINVAL: "it is no regular file (a FIFO, socket or device): remove it"}


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")`` of a regular file that never blocks: a FIFO put where a record
    was hung a run for ever (SIGTERM too: the open never returned, and the history's lock
    stayed held). A FIFO, socket or device is an OSError (EINVAL), a folder EISDIR."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_record(
    path: Path,
    display: str,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_nodes: int = DEFAULT_MAX_YAML_NODES) -> Record | RecordError:
    """Read and parse one record; every problem is a RecordError naming the file (and line)."""
    try:
        with open_regular(path) as fh:
            raw = fh.read(max_bytes + 1)
    except IsADirectoryError:  # a folder below an input that could not be listed
        return RecordError(display, "a folder that cannot be read, so its records are not "
                                    "checked; fix its permissions")
    except OSError as exc:
        fix = _READ_FIX.get(exc.errno or 0, "check its permissions")
        if exc.errno == errno.ENOENT and os.path.islink(path):
            fix = "it is a dangling symlink (its target is gone): fix or remove the link"
        return RecordError(display, f"cannot read the file: {exc.strerror or exc}; {fix}")
    if len(raw) > max_bytes:
        return RecordError(display, f"file is larger than {max_bytes} bytes; raise "
                                    "max_record_bytes to read it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        msg = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        return RecordError(display, msg, line)
    try:
        fm, root, shared, data = frontmatter.parse(text, max_nodes)
    except frontmatter.Problem as problem:
        return RecordError(display, problem.message, problem.line)
    newline = "\r\n" if text[fm[0] - 2 : fm[0]] == "\r\n" else "\n"
    return Record(path, display, raw, data, text, fm, root, shared, newline, _max_bytes=max_bytes)


# --- editing -------------------------------------------------------------------------------


def apply_edits(record: Record, edits: Mapping[HolderPath, Mapping[str, Any]]) -> bytes:
    """The record's new bytes with ``edits`` (holder -> {key: value, DELETE or MoveItems})
    applied.

    An existing key gets its value replaced in place, a new key goes at the end of its mapping
    with the mapping's indentation, DELETE removes a key with its value lines, MoveItems moves
    sequence items' text. A value equal to the current one is left alone, so applying edits
    twice changes nothing the second time. Raises EditError when a holder is missing, in flow
    style or behind an alias, when edits overlap, when the result would not read back as
    exactly the intended data, or when it would be larger than the record's max_record_bytes
    (it could not be read again). When only the MoveItems cannot be applied, raises
    PartialEdit carrying the bytes with all the other edits applied.
    """
    try:
        return _apply(record, edits)
    except EditError as exc:
        if isinstance(exc, _TooLarge) or not any(
            isinstance(v, MoveItems) for c in edits.values() for v in c.values()
        ):
            raise
        rest = {h: {k: v for k, v in c.items() if not isinstance(v, MoveItems)}
                for h, c in edits.items()}
        new = _apply(record, rest)  # raises when the problem was not the move
        raise PartialEdit(f"--prune-dead skipped: {exc}", new, exc.line) from None


def _apply(record: Record, edits: Mapping[HolderPath, Mapping[str, Any]]) -> bytes:
    (start, end), text = record._fm, record._text
    front = text[start:end]  # node marks are offsets into the front matter
    try:
        ops, expected = spans.plan(
            front, record._newline, record._root, record._shared, record.data, edits, dump_lines
        )
    except EditError as exc:
        if exc.index is None:
            raise
        line = text.count("\n", 0, start + exc.index) + 1
        raise EditError(str(exc), line=line) from None
    if not ops:
        return record.raw
    first = start + min(op[0] for op in ops)  # where the first edit goes, for the message
    text = text[:start] + spans.splice(front, ops) + text[end:]
    try:
        data = frontmatter.parse(text, None)[3]
    except frontmatter.Problem as problem:
        data = problem
    if not spans.same(data, expected):
        raise EditError("the edited front matter would not read back as intended (near this "
                        "line); edit it by hand", line=text.count("\n", 0, first) + 1)
    new = text.encode("utf-8")
    if len(new) > record._max_bytes:
        msg = (f"not written: enriched it would be {len(new)} bytes, over max_record_bytes "
               f"({record._max_bytes}) and unreadable next time; raise max_record_bytes")
        raise _TooLarge(msg)
    return new


# --- writing -------------------------------------------------------------------------------


STALE_TEMP_AGE: Final = STALE_TEMP_SECONDS  # a temp file this old belongs to a killed run


def is_record_temp(name: str) -> bool:
    """A ``write_atomic`` temp file's name."""
    return name.startswith(TEMP_PREFIX) and name.endswith(".tmp")


def sweep_stale_temps(folder: Path, now: float, age: float = STALE_TEMP_AGE,
                      is_temp: Callable[[str], bool] = is_record_temp) -> int:
    """Remove temp files (``is_temp`` names: ``write_atomic``'s by default) older than
    ``age`` from ``folder``, left behind by a run that was killed between writing and
    renaming (a live run's temp file lives for milliseconds). Returns how many were
    removed; never raises."""
    removed = 0
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not is_temp(entry.name):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and (
                    now - entry.stat(follow_symlinks=False).st_mtime > age
                ):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def write_atomic(
    path: Path, data: bytes, mode: int | None = None, expect: tuple[int, ...] | None = None
) -> None:
    """Replace ``path`` (its realpath target when it is a symlink) by ``data``, atomically.

    The temp file sits in the same folder, is named ``.enricher-tmp-*.tmp`` (never a record
    glob match), is fsynced, gets the original file's owner and group (best effort: not
    root, the group at least), mode (``mode`` or 0644 for a new file) and extended
    attributes (ACLs, SELinux labels; best effort), then replaces the file; the folder is
    fsynced (best effort). With ``expect`` (``stamp`` of the file as read), a file whose
    stamp differs, checked again just before the rename, is not replaced (OSError EBUSY). A
    read-only file (no write bit, or not writable by us) is refused with PermissionError; a
    read-only file system (EROFS) or folder gives an OSError whose strerror says which, and
    the fix. On any other error the temp file is removed and the error re-raised; the
    original is intact.
    """
    target = os.path.realpath(path)
    try:
        old: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        old = None
    if old and not (old.st_mode & 0o222 and os.access(target, os.W_OK)):
        raise unwritable(target, old)
    _check_stamp(target, old, expect)
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=folder)
    except OSError as exc:
        if exc.errno not in _DENIED:
            raise
        raise unwritable(target, old) from None
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old:
            _copy_owner(tmp, old)  # before chmod: a chown clears the set-id bits
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old else 0o644 if mode is None else mode)
        if old:
            _copy_xattrs(target, tmp)
        if expect is not None:  # the fsync took a while: changed since it was read?
            _check_stamp(target, _stat_or_none(target), expect)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


_CHANGED: Final = "the file changed on disk since it was read; not overwritten, run again"
_VANISHED: Final = "it was moved or deleted since it was read; not written again"


def stamp(st: os.stat_result) -> tuple[int, ...]:
    """What tells a file's version from the next one: inode, size, mtime (ns)."""
    return st.st_ino, st.st_size, st.st_mtime_ns


def _stat_or_none(target: str) -> os.stat_result | None:
    try:
        return os.stat(target)
    except FileNotFoundError:
        return None


def _check_stamp(target: str, now: os.stat_result | None, expect: tuple[int, ...] | None) -> None:
    if expect is not None and (now is None or stamp(now) != expect):
        raise OSError(errno.EBUSY, _CHANGED, target)


def _copy_owner(tmp: str, old: os.stat_result) -> None:
    """Owner and group of ``old`` for ``tmp``, best effort. Only root can give a file away:
    then the group alone (a shared, group-writable record stays in its group)."""
    if (old.st_uid, old.st_gid) == (os.getuid(), os.getgid()):
        return
    try:
        os.chown(tmp, old.st_uid, old.st_gid)
    except PermissionError:
        with contextlib.suppress(OSError):
            os.chown(tmp, -1, old.st_gid)
    except OSError:
        pass


def _copy_xattrs(source: str, tmp: str) -> None:
    """Extended attributes (``user.*``, ACLs, SELinux labels) of ``source`` for ``tmp``,
    best effort: one that cannot be read or set is left out, never failing the write."""
    if not hasattr(os, "listxattr"):
        return
    with contextlib.suppress(OSError):
        for name in os.listxattr(source):
            with contextlib.suppress(OSError):
                os.setxattr(tmp, name, os.getxattr(source, name))


_DENIED: Final = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_ELSEWHERE: Final = "or write the records elsewhere (--out DIR)"


def unwritable(target: str, old: os.stat_result | None = None) -> OSError:
    """Why ``target`` (``old``: its stat, None when it does not exist) cannot be written,
    and the fix, in one line: the file system is read-only, the file is, or its folder."""
    folder = os.path.dirname(target) or os.curdir
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            why = f"the file system is read-only: remount it read-write {_ELSEWHERE}"
            return OSError(errno.EROFS, why, target)
    if old is not None and not old.st_mode & 0o222:
        mode = stat.S_IMODE(old.st_mode)
        why = f"the file is read-only (mode {mode:o}): not rewritten; make it writable (chmod u+w)"
    elif old is not None and not os.access(target, os.W_OK):
        why = "the file is not writable by this user: not rewritten; fix its owner or mode"
    else:
        why = f"the folder {folder} is not writable: make it writable (chmod u+w)"
    return PermissionError(errno.EACCES, f"{why} {_ELSEWHERE}", target)


def output_path(path: Path, inputs_root: Path, out_dir: Path) -> Path:
    """Where ``path`` goes under ``out_dir``, mirroring its place under ``inputs_root``
    (compared as given, then with symlinks resolved). ValueError when it is outside."""
    for resolve in (os.path.abspath, os.path.realpath):
        rel = os.path.relpath(resolve(path), resolve(inputs_root))
        if rel != os.curdir and rel.split(os.sep)[0] != os.pardir and not os.path.isabs(rel):
            return Path(out_dir) / rel
    raise ValueError(f"{path} is not inside {inputs_root}")


def write_record(record: Record, new: bytes, dest: Path) -> bool:
    """Write ``new`` to ``dest`` atomically unless it already holds exactly those bytes;
    return True when written. Creates parent folders (``--out``); a new file gets the
    record's mode, owner-writable. Raises OSError when writing fails, and (EBUSY, nothing
    written) when ``dest`` is the record itself and changed on disk since it was read
    (checked again just before the rename), or (ENOENT) was moved or deleted since."""
    try:
        with open_regular(dest) as fh:
            seen: os.stat_result | None = os.fstat(fh.fileno())
            current: bytes | None = fh.read()
    except FileNotFoundError:
        seen = current = None
    if current == new:
        return False
    mode = expect = None
    if seen is None and os.path.abspath(dest) == os.path.abspath(record.path):
        raise OSError(errno.ENOENT, _VANISHED, str(dest))  # in place: never recreated
    if seen is None:
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(record.path).st_mode) | stat.S_IWUSR  # updatable
    elif same_file(dest, record.path):
        if current != record.raw:
            raise OSError(errno.EBUSY, _CHANGED, str(dest))
        expect = stamp(seen)
    try:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a folder to create (exc.filename)
        if exc.errno not in _DENIED:
            raise
        raise unwritable(exc.filename) from None  # its folder could not hold it
    write_atomic(Path(dest), new, mode, expect)
    return True


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are the same file (False when either cannot be found)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
