"""``python -m enricher`` and the ``enricher`` console script: tune this process (see
``enricher.runtime``), then run :func:`enricher.cli.main`. Tests call ``main`` directly, so
the test process keeps its own settings."""

import sys

from enricher.cli import main
from enricher.runtime import tune_process


def console() -> int:
    tune_process()
    return main()


if __name__ == "__main__":  # guarded: worker processes (spawn) import this module again
    sys.exit(console())
