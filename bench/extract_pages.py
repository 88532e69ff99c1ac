"""Run our page-metadata extraction over ../shared/pages and score it.

    .venv/bin/python bench/extract_pages.py [--corpus DIR] [--out bench/out/extract.jsonl]
        [--repeat N] [--misses FIELD[:N] ...]

For every folder with page.html and expected.json: decode the bytes (no HTTP header is
known, as for a saved page), extract with the page's URL, and write one prediction line
{"page", "title", "image", "description", "date", "publisher"}. Only decoding and
extraction are timed, with all HTML already in memory, in this one process. Then the
shared scorer is run on the predictions with --speed, which prints the scores and the
pages per second. Reads the corpus, writes bench/out/; touches nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from enricher.decode import decode_html  # noqa: E402
from enricher.extract import extract  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "pages"
SCORER = REPO.parent / "shared" / "tools" / "score_pages.py"
DEFAULT_OUT = REPO / "bench" / "out" / "extract.jsonl"


def _rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return _peak_rss_mb()


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _calibration_ms() -> float:
    """Milliseconds for a fixed pure-Python workload (string building, dict and list work,
    the kind extraction does). This VM has phases in which everything runs ~1.5x slower;
    printing this next to the pages per second tells a slow phase from slower code."""
    started = time.perf_counter()
    table: dict[str, int] = {}
    for i in range(60_000):
        key = f"k{i % 997}"
        table[key] = table.get(key, 0) + len(key.upper())
    sorted(table.items())
    return round((time.perf_counter() - started) * 1000, 2)


def load(corpus: Path) -> list[tuple[str, bytes, str]]:
    pages = []
    for folder in sorted(os.listdir(corpus)):
        html_path, exp_path = corpus / folder / "page.html", corpus / folder / "expected.json"
        if not (html_path.is_file() and exp_path.is_file()):
            continue
        url = json.loads(exp_path.read_text(encoding="utf-8")).get("url") or ""
        pages.append((folder, html_path.read_bytes(), url))
    return pages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes; the best one counts")
    ap.add_argument("--misses", action="append", default=[], metavar="FIELD[:N]",
                    help="also print wrong or missing predictions for FIELD")
    args = ap.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}: nothing to measure "
              "(pass --corpus DIR with <page>/page.html + expected.json folders)")
        return 2
    pages = load(args.corpus)
    if not pages:
        print(f"{args.corpus} holds no <page>/page.html + expected.json folders")
        return 2
    rss_after_load = _rss_mb()
    rows: list[dict[str, object]] = []
    best = best_cpu = float("inf")
    latencies: list[float] = []
    errors = 0
    calibration = []
    for _ in range(max(1, args.repeat)):
        calibration.append(_calibration_ms())
        rows, lat, errors = [], [], 0
        started, started_cpu = time.perf_counter(), time.process_time()
        for folder, body, url in pages:
            t0 = time.perf_counter()
            try:
                meta = extract(decode_html(body, None), url)
            except Exception as exc:  # extract must never raise; count it if it does
                errors += 1
                rows.append({"page": folder, "error": repr(exc)})
                continue
            lat.append(time.perf_counter() - t0)
            rows.append({"page": folder, "title": meta.title,
                         "image": meta.image.url if meta.image else None,
                         "description": meta.description, "date": meta.published_at,
                         "publisher": meta.site_name})
        elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        best_cpu = min(best_cpu, cpu)
        if elapsed < best:
            best, latencies = elapsed, lat
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    total_mb = sum(len(body) for _, body, _ in pages) / 1e6
    latencies.sort()
    stats = {
        "pages": len(pages), "seconds": round(best, 3),
        "pages_per_s": round(len(pages) / best, 1), "mb_per_s": round(total_mb / best, 1),
        "latency_ms_p50": round(1000 * statistics.median(latencies), 2) if latencies else None,
        "latency_ms_p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 2)
        if latencies else None,
        "latency_ms_max": round(1000 * latencies[-1], 2) if latencies else None,
        "rss_after_load_mb": rss_after_load, "peak_rss_mb": _peak_rss_mb(), "errors": errors,
        "cpu_seconds": round(best_cpu, 3), "pages_per_cpu_s": round(len(pages) / best_cpu, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "calibration_ms": calibration,
    }
    Path(str(args.out) + ".stats.json").write_text(json.dumps(stats, indent=1) + "\n",
                                                   encoding="utf-8")
    print(f"{len(pages)} pages in {best:.3f} s = {stats['pages_per_s']} pages/s wall, "
          f"{stats['pages_per_cpu_s']} pages per CPU second (best of {max(1, args.repeat)}; "
          f"load average {stats['load_average'][0]} on {os.cpu_count()} CPUs), "
          f"{errors} errors; predictions in {args.out}")
    print(f"machine speed: fixed calibration loop {min(calibration)} ms (best of "
          f"{len(calibration)}; compare runs only at similar values)")
    if not SCORER.is_file():
        print(f"scorer not found at {SCORER}; predictions written, not scored")
        return 0
    cmd = [sys.executable, str(SCORER), str(args.out), "--speed", "--corpus", str(args.corpus)]
    stem = args.out.name.rsplit(".jsonl", 1)[0]
    for spec in args.misses:
        cmd += ["--misses", f"{stem}:{spec}"]
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
