"""Reports: choose a format, render a ``RunResult`` with it, write it atomically.

Every format is a thin renderer over ``enricher.report.model`` (so all agree on every count):

========  ===========================  ===============================================
format    extensions                   module
========  ===========================  ===============================================
json      .json                        ``json_report`` (whole run)
jsonl     .jsonl .ndjson               ``jsonl`` (the per-link results contract)
md        .md .markdown                ``markdown``
csv       .csv                         ``csv_report`` (one row per link and source)
html      .html .htm                   ``html`` (one self-contained page)
junit     .xml                         ``junit``
========  ===========================  ===============================================

``write_report`` writes to a temporary file next to the target and renames it over the target
(``os.replace``), so a report is never half-written; a report it replaces keeps its
permissions; ``-`` means standard output. Errors a user can cause (unknown format, unwritable
path) are one-line ``ValueError``/``ReportError`` messages for the CLI to print.
The end-of-run summary is ``summary.print_summary``.

Formats whose encoding is part of the format (JSON and JSON Lines: UTF-8 by RFC 8259; JUnit
XML and HTML: they declare UTF-8) reach a standard output whose encoding is not UTF-8
(``PYTHONIOENCODING=ascii``, a Latin-1 locale) as UTF-8 bytes on its binary buffer: the same
bytes as the report in a file, always valid for its reader, where the stream's own encoding
would give ``\\U0001f600`` (invalid JSON) or Latin-1 bytes under an XML declaration of UTF-8.
A stream without a buffer gets JSON with every non-ASCII character as a ``\\uXXXX`` escape
(still the same data); Markdown and CSV, text for the terminal, keep its encoding.

This package must not fetch, read records or decide verdicts; it only renders values.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TextIO, cast

from enricher.finding import special_file
from enricher.models import RunResult
from enricher.report.csv_report import write_csv
from enricher.report.html import write_html
from enricher.report.json_report import write_json
from enricher.report.jsonl import write_jsonl
from enricher.report.junit import write_junit
from enricher.report.markdown import write_markdown
from enricher.report.model import Changes

__all__ = ["FORMATS", "Changes", "ReportError", "format_for", "render", "write_report"]

FORMATS: tuple[str, ...] = ("json", "jsonl", "md", "csv", "html", "junit")

_EXTENSIONS: dict[str, str] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".md": "md",
    ".markdown": "md",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".xml": "junit",
}
_ALIASES: dict[str, str] = {"markdown": "md", "ndjson": "jsonl", "xml": "junit", "htm": "html"}

Writer = Callable[..., None]
_WRITERS: dict[str, Writer] = {
    "json": write_json,
    "jsonl": write_jsonl,
    "md": write_markdown,
    "csv": write_csv,
    "html": write_html,
    "junit": write_junit,
}


class ReportError(Exception):
    """A report could not be written; the message is one line naming the path and the fix."""


def format_for(path: str, explicit: str | None) -> str:
    """The report format: from the extension when it names one (so ``--report r.json
    --report r.md --format junit`` writes JSON and Markdown), else ``explicit``
    (``--format``), which must then be given (always for ``-``, standard output)."""
    listed = ", ".join(FORMATS)
    name: str | None = None
    if explicit is not None:
        name = _ALIASES.get(explicit.strip().lower(), explicit.strip().lower())
        if name not in FORMATS:
            raise ValueError(f"unknown report format {explicit!r}; use one of: {listed}")
    fmt = None if path == "-" else _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is not None:
        return fmt
    if name is not None:
        return name
    if path == "-":
        raise ValueError(f"a report to stdout ('-') needs --format, one of: {listed}")
    raise ValueError(
        f"cannot tell the report format of {path!r} from its extension; "
        f"use --format with one of: {listed}"
    )


def _writer(fmt: str) -> Writer:
    try:
        return _WRITERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}; use one of: {', '.join(FORMATS)}"
        ) from None


def render(
    run: RunResult, fmt: str, *, fail_on: frozenset[str], changes: Changes | None = None
) -> str:
    """The report as a string (tests, small runs)."""
    buf = io.StringIO()
    _writer(fmt)(run, buf, fail_on=fail_on, changes=changes)
    return buf.getvalue()


def _keep_mode(target: Path, fd: int) -> None:
    """Give the new file the permissions of the report it replaces (one a user made private
    stays private); a new report gets the umask's."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        os.fchmod(fd, stat.S_IMODE(mode))


def write_report(
    run: RunResult,
    path: str,
    fmt: str,
    *,
    fail_on: frozenset[str],
    changes: Changes | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Write the report atomically to ``path`` (``-``: ``stdout``, by default
    ``sys.stdout``). A symlink keeps pointing at the report; a FIFO or device
    (``/dev/stdout``) is written to, not replaced."""
    writer = _writer(fmt)
    if path == "-":
        out = stdout_text(sys.stdout if stdout is None else stdout, fmt)
        writer(run, out, fail_on=fail_on, changes=changes)
        out.flush()
        return
    if special_file(path):  # a FIFO, /dev/stdout, a device: written to, never replaced
        try:
            with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="") as out:
                writer(run, out, fail_on=fail_on, changes=changes)
        except OSError as exc:
            raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    # through a symlink: the file it points to gets the report, the link stays a link
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    # a short prefix of the name: the target's own may already be as long as a name can be
    prefix = f".{target.name[:32]}."
    tmp = target.with_name(f"{prefix}{secrets.token_hex(4)}.tmp")
    _sweep(target.parent, prefix)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise ReportError(
            f"cannot write {path}: {exc.strerror or exc}; "
            "check that its folder exists and is writable"
        ) from None
    try:
        _keep_mode(target, fd)
        with open(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as out:
            writer(run, out, fail_on=fail_on, changes=changes)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        raise ReportError(
            f"cannot write {path}: {exc.strerror or exc}; "
            "check the path (not a folder), free space and permissions"
        ) from None
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


#: Formats whose bytes are UTF-8 whatever the terminal's encoding (see the module docstring).
_UTF8_FORMATS = frozenset({"json", "jsonl", "junit", "html"})
_JSON_FORMATS = frozenset({"json", "jsonl"})
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _is_utf8(stream: TextIO) -> bool:
    """Whether ``stream`` takes text as UTF-8 (no encoding: an in-memory text stream)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _json_ascii(text: str) -> str:
    """JSON text with every non-ASCII character as a ``\\uXXXX`` escape (a surrogate pair
    beyond U+FFFF): the same JSON, in any ASCII-compatible encoding. Safe on any piece of a
    JSON document, since only strings can hold non-ASCII characters."""
    return _NON_ASCII.sub(lambda m: json.dumps(m[0]).strip('"'), text)


class _Sink(io.TextIOBase):
    """A write-only text stream that hands each write, converted, to ``write``."""

    def __init__(self, write: Callable[[str], object], flush: Callable[[], object]) -> None:
        super().__init__()
        self._write = write
        self._flush = flush

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._write(text)
        return len(text)

    def flush(self) -> None:
        self._flush()


def stdout_text(stream: TextIO, fmt: str) -> TextIO:
    """What format ``fmt`` writes to ``stream`` (standard output) through, and flushes at its
    end: for a UTF-8 format on a stream of another encoding, UTF-8 bytes on its buffer (without
    one, JSON as ASCII); else the stream itself, whose unencodable characters become
    backslash escapes (as in files: an odd name never raises)."""
    if fmt in _UTF8_FORMATS and not _is_utf8(stream):
        buffer = getattr(stream, "buffer", None)
        stream.flush()  # what was written before comes first
        if buffer is not None:
            return cast(TextIO, _Sink(lambda text: buffer.write(
                text.encode("utf-8", errors="backslashreplace")), buffer.flush))
        if fmt in _JSON_FORMATS:
            return cast(TextIO, _Sink(lambda text: stream.write(_json_ascii(text)),
                                      stream.flush))
    elif isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="backslashreplace")
    return stream


def _sweep(folder: Path, prefix: str) -> None:
    """Remove this report's temp files that a killed run left (older than an hour)."""
    from enricher.records import sweep_stale_temps  # PyYAML stays out of `report`'s start

    def is_temp(name: str) -> bool:
        hex_part = name[len(prefix):-4]
        return (name.startswith(prefix) and name.endswith(".tmp") and len(hex_part) == 8
                and not hex_part.strip("0123456789abcdef"))

    sweep_stale_temps(folder, time.time(), is_temp=is_temp)
