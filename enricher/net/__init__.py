"""Network layer: the only package that imports httpx/httpcore/tenacity.
Knows nothing of records."""
