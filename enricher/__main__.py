"""``python -m enricher``: the same as the ``enricher`` console script."""

import sys

from enricher.cli import main

sys.exit(main())
