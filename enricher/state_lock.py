"""The one-run-at-a-time lock of a state file, and the state file's errors.

``take_lock`` takes an exclusive ``flock`` on ``<state>.lock`` and writes "pid start-time" into
it; the kernel drops a flock when its process dies, so the lock is never stale and is never to
be removed by hand. A lock file replaced or removed while it is being taken is taken again by
its name, so the lock held is always the one the path names.

This module must not open the database or read the clock (the start time is given).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


class StateError(Exception):
    """The state file cannot be used; the message is one line naming the file and the fix."""


class StateLocked(StateError):
    """Another run holds the state file."""


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def take_lock(path: Path, started: str) -> int:
    """An exclusive flock on ``<path>.lock`` holding "pid start-time"; StateLocked if taken.
    A lock file replaced or removed while we took it is taken again by its name."""
    name = path.with_name(path.name + ".lock")
    for _ in range(5):
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # the lock file, not the history, is what cannot be used
            if exc.errno == errno.ENAMETOOLONG:
                raise StateError(f"cannot create the lock file {name} ({exc.strerror}); "
                                 "choose a shorter --state name") from None
            if not os.path.lexists(name):  # it could not be made: the folder is the trouble
                raise StateError(f"cannot create the lock file {name} ({exc.strerror or exc})"
                                 f"; the folder {name.parent} must be one enricher can write "
                                 "in: fix its permissions or choose another --state") from None
            raise StateError(f"cannot use the lock file {name} ({exc.strerror or exc}); "
                             "it must be a file enricher can write: fix its permissions "
                             "(if it is no file, remove it while no run is going)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            os.close(fd)
            pid, since = [*holder, "?", "?"][:2]
            raise StateLocked(  # a flock is never stale: the kernel drops it with its process
                f"another enricher run holds {path} (pid {pid}, started {since}); wait for it:"
                f" the lock is released when process {pid} ends") from None
        except OSError:
            os.close(fd)
            raise
        st = os.fstat(fd)
        if _inode(name) == (st.st_dev, st.st_ino):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {started}\n".encode(), 0)
            return fd
        os.close(fd)
    raise StateError(f"{name} keeps being replaced while enricher locks it; stop what does that")


def release_lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
