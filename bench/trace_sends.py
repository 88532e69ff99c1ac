"""Run enricher with its own send times logged: the client side of the spacing check.

``python bench/trace_sends.py OUT.txt check RECORDS ...`` runs ``enricher check ...`` with
``hosts.Scheduler.sent`` (called once per request, just after its head was written) wrapped to
note ``time.monotonic()`` per host, and at exit writes to OUT.txt the number of sends, how many
followed the previous send to their host by less than ``--floor-ms`` (default 40), and the ten
smallest gaps. The simulated web dates arrivals on its side, where its own stalls and a late
wake-up of its process on a loaded machine show up as short gaps; this says what enricher did.
Use through ``bench/run.py --tool-cmd`` (see bench/README.md). Bench-only: it never ships.
"""

from __future__ import annotations

import atexit
import collections
import sys
import time
from itertools import pairwise

from enricher.__main__ import console
from enricher.net import hosts


def main() -> int:
    out, floor_ms = sys.argv[1], 40.0
    args = sys.argv[2:]
    if args[:1] == ["--floor-ms"]:
        floor_ms, args = float(args[1]), args[2:]
    sends: dict[str, list[float]] = collections.defaultdict(list)
    original = hosts.Scheduler.sent

    def sent(self: hosts.Scheduler[object], key: str, refused: bool = False) -> None:
        if not refused:  # refused by the address policy: nothing left
            sends[key].append(time.monotonic())
        original(self, key, refused)

    hosts.Scheduler.sent = sent  # type: ignore[method-assign,assignment]

    def report() -> None:
        gaps = sorted(((b - a) * 1000, key) for key, times in sends.items()
                      for a, b in pairwise(times))
        below = sum(1 for gap, _ in gaps if gap < floor_ms)
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(f"sends {sum(map(len, sends.values()))} gaps below {floor_ms:g} ms: "
                     f"{below}\n")
            fh.writelines(f"{gap:.2f} ms {key}\n" for gap, key in gaps[:10])

    atexit.register(report)
    sys.argv = ["enricher", *args]
    return console()


if __name__ == "__main__":
    sys.exit(main())
