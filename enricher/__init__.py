"""enricher: check and enrich the links in news records.

The public API is deliberately small; everything else is internal.
"""

__version__ = "0.1.0"
