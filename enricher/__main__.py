"""``python -m enricher`` and the ``enricher`` console script: catch SIGTERM at once, tune
this process (see ``enricher.runtime``), then run :func:`enricher.cli.main`.

Importing the CLI takes a few hundred milliseconds. A SIGTERM, SIGHUP or SIGINT in that time
(or any time before the run installs its own handlers) raises KeyboardInterrupt, which ends
the process with "enricher: interrupted" and exit 3, as a signal during the run does (also
when Python wrapped it in another error): nothing has been written yet. So this module
imports nothing heavy before :func:`console` has set the handler, and sets nothing on
import: spawned worker processes import it again. Tests call ``main`` directly, so the test
process keeps its own settings.
"""

import signal
import sys

ABORTED = 3  # enricher.cli.ExitCode.ABORTED, not imported yet when a signal comes this early


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # handled as Ctrl-C is: enricher.cli.main exits 3


def _from_interrupt(exc: BaseException) -> bool:
    """An interrupt, or an error it caused: Python wraps one raised while a class is built
    (``RuntimeError: Error calling __set_name__``), an import it broke fails again later."""
    cause: BaseException | None = exc
    for _ in range(20):  # a chain, never a loop
        if cause is None or isinstance(cause, KeyboardInterrupt):
            return cause is not None
        cause = cause.__cause__ or cause.__context__
    return False


def console() -> int:
    try:  # entered first: a signal right after the handler is set is caught here too
        signal.signal(signal.SIGTERM, _interrupted)  # SIGINT raises KeyboardInterrupt already
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # (nohup: ignored stays)
            signal.signal(signal.SIGHUP, _interrupted)  # a terminal closed: as SIGTERM
        from enricher.cli import main
        from enricher.runtime import tune_process

        tune_process()
        code = main()
    except BaseException as exc:  # a signal while the CLI was being imported or set up
        if not _from_interrupt(exc):
            raise
        import contextlib

        if sys.stderr is not None:  # closed (2>&-): print would write to stdout
            with contextlib.suppress(OSError, ValueError):
                print("enricher: interrupted", file=sys.stderr)
        code = ABORTED
    # the run is over and its status stands: a signal while the interpreter shuts down
    # (joining the reading worker) must not print a traceback or change the status
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    return code


if __name__ == "__main__":  # guarded: worker processes (spawn) import this module again
    sys.exit(console())
