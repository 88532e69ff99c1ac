"""Process-wide tuning for enricher's own processes: the CLI and its record-reading worker.

Only the garbage collector's thresholds, for now. enricher's data is acyclic (records,
slots, results are freed by reference counting the moment they are dropped), so the cyclic
collector mostly walks a large live heap for nothing: with the default thresholds
(700, 10, 10), bench scenario (a) spent 3.4 s in 917 collections, the longest full ones
250-500 ms each, which stalled the event loop and stretched the big host's request spacing.
With a first threshold of 50,000 the same run made 5 collections (at most 73 ms) and the
record reader got ~20% faster. The few cycles there are (asyncio transports, tracebacks) are
still collected, only less often: memory stays bounded.

Called from the console entry points, never on import: a program that uses enricher as a
library keeps its own settings. This module must not do anything else.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 10)  # gen0 allocations, gen1 and gen2 multipliers


def tune_process() -> None:
    """Apply :data:`GC_THRESHOLDS` to this process."""
    gc.set_threshold(*GC_THRESHOLDS)
