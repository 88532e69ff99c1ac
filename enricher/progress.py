"""Progress of a run, as the user sees it while it works.

On a terminal: a rich live display (overall bar with done/total, rate and ETA, live counts per
status, the hosts in flight and the slowest request, the current phase). Not on a terminal
(cron, pipes, CI): no animation and no ANSI codes, a plain timestamped line per phase and,
as links finish, at most every ``interval`` seconds. ``quiet``: nothing but errors.
``verbose``: one line per URL.

The pipeline drives this object (``phase``, ``advance``, ``log``); the fetcher never does.
It must not decide anything about links or records, and it writes only to its console.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from enricher.models import LinkResult, LinkStatus

STATUS_STYLE = {
    LinkStatus.OK: "green",
    LinkStatus.REDIRECTED: "cyan",
    LinkStatus.DEAD: "bold red",
    LinkStatus.BLOCKED: "magenta",
    LinkStatus.ERROR: "red",
    LinkStatus.TIMEOUT: "yellow",
    LinkStatus.INVALID: "dim red",
    LinkStatus.SKIPPED: "dim",
}

#: in-flight requests: url -> monotonic start time (a snapshot the pipeline provides)
InFlight = Callable[[], Mapping[str, float]]


class Reporter(Protocol):
    def phase(self, name: str, total: int | None = None) -> None: ...
    def advance(self, result: LinkResult) -> None: ...
    def set_total(self, total: int) -> None: ...
    def log(self, message: str) -> None: ...
    def close(self) -> None: ...


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts_text(counts: Counter[LinkStatus], styled: bool) -> Text:
    text = Text()
    for status in LinkStatus:
        if counts[status]:
            if text:
                text.append("  ")
            text.append(f"{status.value} {counts[status]}", STATUS_STYLE[status] if styled else "")
    return text


class _Base:
    def __init__(self, console: Console, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        self.counts: Counter[LinkStatus] = Counter()
        self.done = 0
        self.total: int | None = None
        self.phase_name = ""

    def _verbose_line(self, result: LinkResult) -> None:
        if self.verbose:
            code = f" {result.http_status}" if result.http_status else ""
            self.console.print(
                Text.assemble(
                    (f"{result.status.value:<10}", STATUS_STYLE[result.status]),
                    f" {result.reason}{code} {result.url}",
                    f" ({result.detail})" if result.detail else "",
                ),
                soft_wrap=True,
                highlight=False,
            )


class QuietReporter(_Base):
    """Only ``log`` lines (record errors) reach the console."""

    def phase(self, name: str, total: int | None = None) -> None:
        self.phase_name, self.total, self.done = name, total, 0

    def set_total(self, total: int) -> None:
        """The total became known (all records read)."""
        self.total = total

    def advance(self, result: LinkResult) -> None:
        self.done += 1
        self.counts[result.status] += 1
        self._verbose_line(result)

    def log(self, message: str) -> None:
        self.console.print(message, soft_wrap=True, highlight=False, markup=False,
                           emoji=False)

    def close(self) -> None:
        return None


class PlainReporter(QuietReporter):
    """For cron and pipes: a timestamped line per phase and every ``interval`` seconds."""

    def __init__(
        self,
        console: Console,
        verbose: bool,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(console, verbose)
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.shown = 0  # done when the last line was printed

    def phase(self, name: str, total: int | None = None) -> None:
        self._last_word()  # the phase that ends: its counts, however short it was
        super().phase(name, total)
        self.started = self.last = self.clock()
        self.shown = 0
        suffix = f" ({total} to do)" if total is not None else ""
        self.log(f"{_utc_stamp()} {name}{suffix}")

    def advance(self, result: LinkResult) -> None:
        super().advance(result)
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self._line(now)

    def _line(self, now: float) -> None:
        self.shown = self.done
        rate = self.done / max(now - self.started, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        counts = _counts_text(self.counts, styled=False).plain
        self.log(f"{_utc_stamp()} {self.phase_name} {self.done}{of} ({rate:.1f}/s) {counts}")

    def close(self) -> None:
        self._last_word()

    def _last_word(self) -> None:
        if self.done and self.total is not None and self.shown != self.done:
            self._line(self.clock())


NARROW = 72  # columns below which the live display drops its bar, rate and elapsed time


class RichReporter(_Base):
    """The live display on a terminal."""

    def __init__(self, console: Console, verbose: bool, in_flight: InFlight | None) -> None:
        super().__init__(console, verbose)
        self.in_flight = in_flight
        wide = console.width >= NARROW  # a narrow terminal: what fits, readable
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            *([BarColumn()] if wide else []),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            *([TextColumn("{task.fields[rate]}"), TimeElapsedColumn()] if wide else []),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("starting", total=None, rate="")
        # Live re-renders ``self`` on its own refresh timer; advance() only counts.
        self.live = Live(self, console=console, refresh_per_second=4, transient=False)
        self.live.start()

    def __rich__(self) -> RenderableType:
        return self._render()

    def _render(self) -> RenderableType:
        parts: list[RenderableType] = [self.progress, _counts_text(self.counts, styled=True)]
        if self.in_flight is not None:
            flights = self.in_flight()
            if flights:
                now = time.monotonic()
                hosts = Counter(url.split("/")[2] for url in flights)
                slowest = sorted(flights.items(), key=lambda kv: kv[1])[:3]
                table = Table.grid(padding=(0, 2))
                table.add_row(
                    Text("in flight", "dim"),
                    Text(", ".join(f"{h} ×{n}" for h, n in hosts.most_common(5)),
                         overflow="ellipsis", no_wrap=True),
                )
                for url, start in slowest:
                    table.add_row(
                        Text("slowest", "dim"),
                        Text(f"{now - start:5.1f}s {url}", overflow="ellipsis", no_wrap=True),
                    )
                parts.append(table)
        return Group(*parts)

    def phase(self, name: str, total: int | None = None) -> None:
        self.phase_name, self.total, self.done = name, total, 0
        self.progress.reset(self.task, total=total, description=name, rate="")

    def set_total(self, total: int) -> None:
        self.total = total
        self.progress.update(self.task, total=total)

    def advance(self, result: LinkResult) -> None:
        self.done += 1
        self.counts[result.status] += 1
        self._verbose_line(result)
        task = self.progress.tasks[0]
        speed = task.speed
        self.progress.update(self.task, advance=1, rate=f"{speed:.0f}/s" if speed else "")

    def log(self, message: str) -> None:
        self.console.print(message, soft_wrap=True, highlight=False, markup=False,
                           emoji=False)

    def close(self) -> None:
        self.live.refresh()
        self.live.stop()


def make_reporter(
    console: Console,
    *,
    quiet: bool = False,
    verbose: bool = False,
    interval: float = 10.0,
    in_flight: InFlight | None = None,
    animate: bool | None = None,
) -> Reporter:
    """Decide once: quiet, a live display on a terminal, or plain lines. ``animate``: the
    stream is a terminal (None: as ``console`` says; rich says so of any stream when
    ``FORCE_COLOR`` is set)."""
    if quiet:
        return QuietReporter(console, verbose)
    live = console.is_terminal if animate is None else animate
    if live and console.is_terminal and not console.is_dumb_terminal:
        return RichReporter(console, verbose, in_flight)
    return PlainReporter(console, verbose, interval)
