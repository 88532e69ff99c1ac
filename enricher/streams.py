"""The stderr stream enricher's console writes to: it goes quiet when its reader is gone.

``enricher ... 2>&1 | head -1`` or a terminal closed under a run: rich ends the process with
exit 1 from inside whatever callback was printing (a progress line in the middle of the
fetch), and a write error on a terminal that hung up is a traceback. Wrapped, the run goes
on and ends with its own status. ``to_devnull`` silences a stdout whose reader went away
or whose disk is full, once enricher has said so. ``make_console`` puts rich's console on
such a stream, ``say`` prints a message on it, and ``present`` stands in for a standard
stream that was closed before enricher started. This module must not do anything else.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from typing import Any, TextIO, cast

from rich.console import Console


class QuietOnError:
    """A text stream (stderr) that goes quiet when writing to it fails: its reader went away
    (``enricher ... 2>&1 | head -1``, a closed terminal). The run goes on and ends with its
    own status; rich would otherwise end the process with exit 1 from inside a callback.
    The stream's descriptor is pointed at /dev/null, so the interpreter's last flush is
    quiet too."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self.failed = stream, False

    def write(self, text: str) -> int:
        if not self.failed:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.failed:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._give_up()

    def _give_up(self) -> None:
        self.failed = True
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding ...: the stream's
        return getattr(self._stream, name)


def to_devnull(*streams: object) -> None:
    """Point each stream's file descriptor at /dev/null (once each): the interpreter's final
    flush of a stream whose reader went away, or whose disk is full, then says nothing."""
    for stream in {id(s): s for s in streams}.values():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
            os.close(devnull)


class ClosedStream(io.TextIOBase):
    """A standard stream closed before enricher started (``enricher ... >&-``: Python's
    ``sys.stdout`` is None). Writing to it fails as writing to a pipe whose reader went
    away does, and is handled so: no traceback; reading it reads nothing (``<&-``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "the stream is closed")

    def read(self, size: int | None = -1) -> str:
        return ""

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return ""


def present(stream: TextIO | None) -> TextIO:
    """``stream``, or a :class:`ClosedStream` when Python found it closed (None)."""
    return stream if stream is not None else cast(TextIO, ClosedStream())


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError, AttributeError):  # closed, or a stream without a file
        return False


def make_console(stream: TextIO, force_terminal: bool | None, no_color: bool) -> Console:
    """The console of enricher's messages on ``stream`` (stderr), quiet once it fails.
    Names are shown as they are: no emoji codes (a file named ``x:thumbs_up:.md`` stays so,
    even where markup is off) and no highlighting; enricher prints with markup=False."""
    if force_terminal is None and (no_color or os.environ.get("NO_COLOR")) and not is_tty(
            stream):  # FORCE_COLOR asks for colours, --no-color (or NO_COLOR) takes them
        force_terminal = False  # back: in a log, no ANSI code at all
    return Console(
        file=QuietOnError(stream),  # type: ignore[arg-type]  # a TextIO by delegation
        force_terminal=force_terminal,
        no_color=no_color or None,
        highlight=False,
        emoji=False,
        soft_wrap=True,  # one-line messages stay one line in logs
    )


def say(console: Console, text: str) -> None:
    """One message of enricher's, its control and bidi characters shown as escapes: a path
    or host name from a config file or a flag must not drive the terminal."""
    from enricher.report.model import printable

    console.print(printable(text), markup=False)
