"""``python -m enricher``: the same as the ``enricher`` console script."""

import sys

from enricher.cli import main

if __name__ == "__main__":  # guarded: worker processes (spawn) import this module again
    sys.exit(main())
