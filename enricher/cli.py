"""Command line: argv -> Settings -> run the pipeline -> print -> an exit code (the parser
itself is ``enricher.cli_parser``).

Presentation and exit codes only: no link, record or network logic lives here. Data goes to
files or stdout; progress, log lines and the summary go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import io
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, TextIO

from rich.console import Console

from enricher import config as defaults
from enricher.cli_parser import build_parser, parse_args
from enricher.models import RunResult, run_options
from enricher.preflight import check_inputs, check_network, check_outputs, warnings
from enricher.settings import KEYS, ConfigError, Settings, load_settings
from enricher.streams import is_tty, make_console, present, say, to_devnull


class ExitCode(IntEnum):
    """The documented exit statuses (README, "Exit codes")."""

    OK = 0
    LINKS_FAILED = 1  # some links have a status named by --fail-on
    USAGE = 2  # usage or config error, or unreadable records
    ABORTED = 3  # network outage guard, interrupted


def exit_code(run: RunResult, fail_on: frozenset[str]) -> ExitCode:
    """The one mapping from a finished run to the process status."""
    if run.aborted:
        return ExitCode.ABORTED
    if run.record_errors:
        return ExitCode.USAGE
    statuses = {r.status.value for r in run.results} | {
        s.status.value for s in run.slot_results if s.status}
    return ExitCode.LINKS_FAILED if statuses & fail_on else ExitCode.OK


@dataclass(slots=True)
class Env:
    """The process context (httpie style): streams and terminal facts, injectable in tests."""

    stdin: TextIO = field(default_factory=lambda: present(sys.stdin))
    stdout: TextIO = field(default_factory=lambda: present(sys.stdout))  # >&-: closed
    stderr: TextIO = field(default_factory=lambda: present(sys.stderr))  # >&-: closed
    force_terminal: bool | None = None  # None: decide from the stream
    environ: Mapping[str, str] | None = None  # ENRICHER_*, proxy and CA variables; None: os.environ
    find_config: bool = True  # look for enricher.toml / pyproject.toml from the working folder
    reading_worker: bool = True  # False from enricher.api (see Config.reading_worker)
    on_stop: Callable[[Callable[[], None]], None] | None = None  # gets a SIGINT-like stop


def _settings(args: argparse.Namespace, env: Env) -> Settings:
    # a flag's dest is its settings key (settings.flag_name); keys without a flag stay None
    flags = {name: getattr(args, name, None) for name in KEYS}
    if getattr(args, "no_state", False):
        flags["state"] = ""  # explicit: no history
    return load_settings(
        flags,
        config_file=getattr(args, "config", None),
        environ=env.environ,
        search=env.find_config,
    )


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: a closed terminal


def _restore_signal_handlers(handlers: Mapping[signal.Signals, Any]) -> None:
    """Put back the handlers from before the run (the console's start-up handlers: a signal
    while reports are written still exits 3), where Python can."""
    for sig, handler in handlers.items():
        if handler is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, handler)


#: the exit status of a process killed by SIGPIPE, as a shell reports it (``yes | head -1``)
BROKEN_PIPE = 128 + 13
_OUTPUT_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    env = env or Env()
    try:
        return _main(argv, env)
    except KeyboardInterrupt:  # Ctrl-C before the run's own signal handlers (start-up, links)
        with contextlib.suppress(OSError, ValueError):
            print("enricher: interrupted", file=env.stderr)
        return ExitCode.ABORTED
    except OSError as exc:  # stdout's reader went away (``links ... | head -1``): quietly, the
        # Unix way; stdout on a full disk: one line (it was a traceback and exit 1)
        if not isinstance(exc, BrokenPipeError) and exc.errno not in _OUTPUT_FULL:
            raise
        to_devnull(env.stdout)  # the final flush says nothing (a caller's own stdout: untouched)
        if isinstance(exc, BrokenPipeError):
            return BROKEN_PIPE
        with contextlib.suppress(OSError, ValueError):
            print(f"enricher: cannot write the output: {exc.strerror}; free space where stdout "
                  "goes, or send it to a file elsewhere (> FILE)", file=env.stderr)
        return ExitCode.USAGE


def _main(argv: Sequence[str] | None, env: Env) -> int:
    parser = build_parser()
    try:  # argparse writes its help, version and errors to sys.stdout/sys.stderr
        with contextlib.redirect_stdout(env.stdout), contextlib.redirect_stderr(env.stderr):
            args = parse_args(parser, sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0) and int(ExitCode.USAGE)
    if args.command is None:
        parser.print_help(env.stderr)
        return ExitCode.USAGE
    err = make_console(env.stderr, env.force_terminal, args.no_color)
    try:
        if args.command == "links":
            from enricher.inventory import run_links

            settings = _settings(args, env)
            stdin = _stdin_skipping_missing(env.stdin, err) if "-" in args.paths else env.stdin
            return run_links(args.paths, settings.config, args.links_format, env.stdout, err, stdin)
        if args.command == "report":
            return _run_report(args, _settings(args, env), err, env.stdout)
        if args.command == "demo":
            from enricher.demo import run_demo

            return run_demo(args.out, err, env=env, no_color=args.no_color)
        settings = _settings(args, env)
        for line in warnings(settings, args.command == "enrich", env.environ,
                             flag=bool(getattr(args, "allow_private", False))):
            say(err, f"enricher: warning: {line}")
        return _run_pipeline(args, settings, env, err)
    except Exception as exc:  # not "except _usage_errors()": an import while an interrupt
        if not isinstance(exc, _usage_errors()):  # propagates (start-up) replaced it
            raise
        say(err, f"enricher: {exc}")
        return ExitCode.USAGE


def _stdin_skipping_missing(stdin: TextIO, err: Console) -> TextIO:
    """Paths listed on stdin, minus those that do not exist (each named on stderr)."""
    from enricher.records import stdin_paths

    paths = stdin_paths(stdin, lambda message: err.print(f"enricher: {message}", markup=False))
    return io.StringIO("".join(f"{path}\n" for path in paths))


def _usage_errors() -> tuple[type[Exception], ...]:
    from enricher.records import UsageError
    from enricher.state import StateError

    return (ConfigError, UsageError, StateError)


def _write_reports(run: RunResult, reports: list[tuple[str, str]], fail_on: frozenset[str],
                   err: Console, stdout: TextIO) -> tuple[bool, OSError | None]:
    """Write every requested report; False when one could not be written (named on stderr).
    When stdout (``-``) fails, the others are written all the same, and its error returned
    for ``main`` to end with once the summary is out."""
    from enricher.report import ReportError, write_report

    ok, lost = True, None
    for path, fmt in reports:
        try:
            write_report(run, path, fmt, fail_on=fail_on, changes=run.changes, stdout=stdout)
        except ReportError as exc:
            say(err, f"enricher: {exc}")
            ok = False
        except OSError as exc:
            if path != "-":
                raise
            lost = lost or exc
    return ok, lost


def _report_formats(paths: Sequence[str], explicit: str | None) -> list[tuple[str, str]]:
    from enricher.report import format_for

    if explicit and not paths:  # "--format json > out.json" wrote nothing there
        raise ConfigError(f"--format {explicit} applies to --report FILE; add --report - to "
                          "print the report on stdout")
    try:
        return [(path, format_for(path, explicit)) for path in paths]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _run_report(args: argparse.Namespace, settings: Settings, err: Console, stdout: TextIO
                ) -> int:
    """``enricher report``: the latest state of every URL and the last run's changes."""
    from enricher.nightly import history_run
    from enricher.report.summary import print_summary

    config = settings.config
    reports = _report_formats(settings.reports, args.report_format)
    state = config.state_file or defaults.DEFAULT_STATE_FILE
    check_outputs([(settings.labels.get("report", "--report"), path) for path, _ in reports],
                  state=state)
    run, note = history_run(state, config.confirm_runs, config.confirm_days)
    if note is not None and not args.quiet:
        say(err, f"enricher: {note}")
    written, lost = _write_reports(run, reports, config.fail_on, err, stdout)
    if not args.quiet:
        print_summary(run, err, fail_on=config.fail_on, changes=run.changes)
    if lost is not None:
        raise lost
    code = exit_code(run, config.fail_on)
    return code if written else max(code, ExitCode.USAGE)


def _run_pipeline(args: argparse.Namespace, settings: Settings, env: Env, err: Console) -> int:
    from enricher import app
    from enricher.net.fetch import Fetcher
    from enricher.progress import make_reporter
    from enricher.report.summary import print_summary

    if not args.paths:
        raise ConfigError(f"give at least one PATH to {args.command} (a file, folder, glob or -)")
    check_network(settings.config, env.environ, settings.labels)  # before reading, fetching
    config = replace(settings.config, reading_worker=env.reading_worker)
    write = args.command == "enrich"
    if write and getattr(args, "dry_run", False):
        config = replace(config, dry_run=True)
    reports = _report_formats(settings.reports, args.report_format)
    outputs = [(settings.labels.get("report", "--report"), path) for path, _ in reports]
    if settings.results:
        reports.insert(0, (settings.results, "jsonl"))
        outputs.insert(0, (settings.labels.get("results", "--results"), settings.results))
    check_outputs(outputs, state=config.state_file, inputs=args.paths, labels=settings.labels,
                  out=config.out_dir if write and not config.in_place else None)  # pre-fetch
    check_inputs(args.paths)  # a typo opens no history, prints no progress line
    fetchers: list[Fetcher] = []
    reporter = make_reporter(
        err,
        quiet=args.quiet,
        verbose=args.verbose,
        interval=config.progress_interval,
        in_flight=lambda: fetchers[0].in_flight() if fetchers else {},
        # FORCE_COLOR makes rich call any stream a terminal: colours, yes; animation, no
        animate=env.force_terminal if env.force_terminal is not None else is_tty(env.stderr),
    )
    diff_lines: list[str] = []
    signalled: list[int] = []

    async def go() -> RunResult:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None

        def stop(signum: int, frame: object) -> None:
            signalled.append(signum)
            with contextlib.suppress(RuntimeError):  # the loop has closed: the run is over
                loop.call_soon_threadsafe(task.cancel)

        # plain handlers, not loop.add_signal_handler: asyncio resets those to the defaults
        # when the loop closes, and a SIGTERM then killed the process (exit -15)
        if env.on_stop is not None:  # api.main's worker thread: its caller's Ctrl-C
            env.on_stop(lambda: stop(signal.SIGINT, None))
        with contextlib.suppress(ValueError):  # not the main thread
            for sig in _STOP_SIGNALS:  # a hang-up nohup ignores stays ignored
                if sig != signal.SIGHUP or handlers[sig] is not signal.SIG_IGN:
                    signal.signal(sig, stop)
        return await app.run(
            args.command,
            args.paths,
            config,
            reporter,
            write=write,
            stdin=env.stdin,
            diff_lines=diff_lines if config.dry_run else None,
            on_fetcher=fetchers.append,
            options=run_options({k: v for k, v in vars(args).items() if v not in (None, False)}),
            environ=env.environ,
            outputs=[path for _, path in outputs],
        )

    handlers = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}  # go() installs its own
    try:
        run = asyncio.run(go())
    finally:
        _restore_signal_handlers(handlers)
        reporter.close()
    written, lost = _write_reports(run, reports, config.fail_on, err, env.stdout)
    if config.dry_run and not args.quiet:
        for line in diff_lines:
            err.print(f"would change {line}", markup=False)
    if not args.quiet:
        print_summary(run, err, fail_on=config.fail_on, changes=run.changes)
    elif run.aborted:
        say(err, f"enricher: aborted: {run.aborted}")
    if signalled and not run.aborted:  # after the run's last step: the run, its reports and
        err.print("enricher: interrupted", markup=False)  # summary stand; the status is 3
    if lost is not None:  # stdout failed: ``main`` says so and ends as for any output
        raise lost
    code = ExitCode.ABORTED if signalled else exit_code(run, config.fail_on)
    return max(code, ExitCode.USAGE) if not written and code != ExitCode.ABORTED else code
