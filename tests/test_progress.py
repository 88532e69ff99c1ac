"""The plain progress lines (cron, pipes, CI): one per phase, the counts of each phase."""

from __future__ import annotations

import io

from rich.console import Console

from enricher.models import LinkKind, LinkResult, LinkStatus
from enricher.progress import PlainReporter


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _result(n: int, status: LinkStatus = LinkStatus.OK) -> LinkResult:
    return LinkResult(url=f"https://a.example/{n}", kind=LinkKind.PAGE, status=status,
                      reason="ok")


def _lines(out: io.StringIO) -> list[str]:
    return [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]  # no time stamp


def test_a_short_phase_still_gets_its_counts_line_when_the_next_one_starts() -> None:
    """``enrich`` checks, then writes: a check phase shorter than the interval printed no
    counts at all, since the next phase reset them before ``close``."""
    out, ticks = io.StringIO(), Ticks()
    reporter = PlainReporter(Console(file=out, width=200), False, 10.0, clock=ticks)
    reporter.phase("checking links", 2)
    reporter.advance(_result(1))
    ticks.now = 1.0
    reporter.advance(_result(2, LinkStatus.DEAD))
    reporter.phase("writing records")
    reporter.close()
    assert _lines(out) == ["checking links (2 to do)", "checking links 2/2 (2.0/s) ok 1  dead 1",
                           "writing records"]


def test_counts_already_shown_are_not_repeated_at_the_end() -> None:
    out, ticks = io.StringIO(), Ticks()
    reporter = PlainReporter(Console(file=out, width=200), False, 10.0, clock=ticks)
    reporter.phase("checking links", 1)
    ticks.now = 10.0
    reporter.advance(_result(1))
    reporter.close()
    assert _lines(out) == ["checking links (1 to do)", "checking links 1/1 (0.1/s) ok 1"]


def test_a_verbose_line_says_what_the_failure_said() -> None:
    from enricher.progress import QuietReporter

    out = io.StringIO()
    reporter = QuietReporter(Console(file=out, width=300, color_system=None), True)
    reporter.advance(LinkResult("https://a.example/x", LinkKind.PAGE, LinkStatus.ERROR, "tls",
                                detail="certificate has expired"))
    reporter.advance(LinkResult("https://a.example/y", LinkKind.PAGE, LinkStatus.OK, "http_200",
                                http_status=200))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("tls https://a.example/x (certificate has expired)")
    assert lines[1].endswith("http_200 200 https://a.example/y")
