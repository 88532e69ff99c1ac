"""Process-wide tuning for enricher's own processes: the CLI and its record-reading worker.

The garbage collector's thresholds, and the open-files limit. enricher's data is acyclic (records,
slots, results are freed by reference counting the moment they are dropped), so the cyclic
collector mostly walks a large live heap for nothing: with the default thresholds
(700, 10, 10), bench scenario (a) spent 3.4 s in 917 collections, the longest full ones
250-500 ms each, which stalled the event loop and stretched the big host's request spacing.
With a first threshold of 50,000 the same run made 5 collections (at most 73 ms) and the
record reader got ~20% faster. The few cycles there are (asyncio transports, tracebacks) are
still collected, only less often: memory stays bounded.

``tune_process`` is called from the console entry points, never on import: a program that
uses enricher as a library keeps its own settings. ``raise_open_files_limit`` is called by
the Fetcher (a run keeps a connection per busy host). This module must not do anything else.
"""

from __future__ import annotations

import contextlib
import gc

from enricher.config import OPEN_FILES_WANTED

GC_THRESHOLDS = (50_000, 20, 10)  # gen0 allocations, gen1 and gen2 multipliers


def tune_process() -> None:
    """Apply :data:`GC_THRESHOLDS` to this process."""
    gc.set_threshold(*GC_THRESHOLDS)


def raise_open_files_limit(want: int = OPEN_FILES_WANTED) -> int | None:
    """Raise the soft limit on open files towards ``want`` (never above the hard limit):
    a run keeps a connection pool per busy host, and 1024 (a common default) is too few.
    Returns the soft limit now, None where the platform has no such limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a POSIX system
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        # on refusal keep what we have; connections then fail with a clear error
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
