"""enricher: check and enrich the links in news records.

The library's surface is ``enricher.api`` (check, enrich, links, extract_page, main) and the
types it returns; every other module is internal. This module must not import any of them:
``enricher --version`` and ``python -m enricher`` start without the network stack.
"""

__version__ = "0.1.0"
