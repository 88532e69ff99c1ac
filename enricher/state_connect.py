"""How the run history (``enricher.state``) opens its SQLite file when it must not change it:
read-only (``enricher report``) and as a rehearsal (``--dry-run``: a private copy).

This module must not write the history or decide anything about its contents.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from urllib.parse import quote


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that creates and changes no file. ``mode=ro&readonly_shm=1`` when the
    ``-wal`` and ``-shm`` are there (a run going on, or a killed one): it reads the WAL and
    folds none of it in. Else ``immutable=1``, the file as it is (closed cleanly, or a
    ``-wal`` without its ``-shm``: the next run folds it in); also where ``mode=ro`` fails.
    A ``-shm``/``-wal`` made here would belong to whoever ran it and could keep the cron
    job's next run out (only a run closing between the check and the open still makes
    SQLite create an empty ``-wal``)."""
    base = f"file:{quote(str(path))}"
    if not all(path.with_name(f"{path.name}-{end}").exists() for end in ("wal", "shm")):
        return sqlite3.connect(f"{base}?immutable=1", uri=True, isolation_level=None)
    db = sqlite3.connect(f"{base}?mode=ro&readonly_shm=1", uri=True, isolation_level=None)
    try:
        db.execute("PRAGMA user_version").fetchone()  # the open is lazy: read now
        return db
    except sqlite3.OperationalError:
        db.close()
        return sqlite3.connect(f"{base}?immutable=1", uri=True, isolation_level=None)


def connect_rehearsal(path: Path) -> sqlite3.Connection:
    """A dry run's database: a private copy of the file (in memory up to its cache size)
    read through ``connect_read_only`` (read-write, the file would get a killed run's WAL
    folded in, and a ``-wal``/``-shm``). Empty when the file is."""
    copy = sqlite3.connect("", isolation_level=None)
    try:
        if path.is_file() and path.stat().st_size > 0:
            with contextlib.closing(connect_read_only(path)) as source:
                source.backup(copy)
    except BaseException:
        copy.close()
        raise
    return copy
