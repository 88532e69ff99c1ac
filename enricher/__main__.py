"""``python -m enricher`` and the ``enricher`` console script: catch SIGTERM at once, tune
this process (see ``enricher.runtime``), then run :func:`enricher.cli.main`.

Importing the CLI takes a few hundred milliseconds. A SIGTERM or SIGINT in that time (or any
time before the run installs its own handlers) raises KeyboardInterrupt, which ends the
process with "enricher: interrupted" and exit 3, as a signal during the run does: nothing
has been written yet. So this module imports nothing heavy before :func:`console` has set
the handler, and sets nothing on import: spawned worker processes import it again. Tests
call ``main`` directly, so the test process keeps its own settings.
"""

import signal
import sys

ABORTED = 3  # enricher.cli.ExitCode.ABORTED, not imported yet when a signal comes this early


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # handled as Ctrl-C is: enricher.cli.main exits 3


def console() -> int:
    try:  # entered first: a signal right after the handler is set is caught here too
        signal.signal(signal.SIGTERM, _interrupted)  # SIGINT raises KeyboardInterrupt already
        from enricher.cli import main
        from enricher.runtime import tune_process

        tune_process()
        code = main()
        # the run is over and its status stands: a signal while the interpreter shuts down
        # (joining the reading worker) must not print a traceback or change the status
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return code
    except KeyboardInterrupt:  # the signal came while the CLI was being imported
        import contextlib

        with contextlib.suppress(OSError, ValueError):  # stderr closed
            print("enricher: interrupted", file=sys.stderr)
        return ABORTED


if __name__ == "__main__":  # guarded: worker processes (spawn) import this module again
    sys.exit(console())
