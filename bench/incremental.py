"""Incremental (nightly) runs and memory at scale: `enricher check --state` against bench/simweb.py.

``python bench/incremental.py`` (from the repository root) does two things:

1. **Incremental.** Generates records (default 2,000 distinct URLs over 50 hosts), then runs
   ``enricher check RECORDS --state STATE`` three times over the same, unchanged simulated web:
   run 1 fills the history; run 2 with ``--max-age 1h`` must send no request at all for the
   URLs that were ok in run 1; run 3 without ``--max-age`` revalidates with If-None-Match /
   If-Modified-Since, so every URL that was ok must cost exactly one request answered 304
   (simweb's counters: requests per URL and answers per status code, reset before each run).
2. **Scale.** Generates 100,000 records holding 20,000 distinct URLs over 1,000 hosts (about 9
   URL occurrences per record, as in the real records), runs ``enricher check --state`` as a
   child process, once as it is (``plain``) and once with ``--results FILE`` (``results``),
   each with a new history, and reports the peak RSS of each from ``os.wait4`` against the
   400 MB target.

Options: ``--only incremental|scale``, ``--urls/--hosts`` (part 1), ``--scale-records``,
``--scale-urls``, ``--scale-hosts``, ``--scale-variants``, ``--keep DIR`` (keep records, logs,
states and results).
A JSON summary goes to ``bench/out/incremental-*.json``. Exit status 1 when a target is
missed. Like ``bench/run.py`` this script must not import the enricher package: the tool is
measured from outside, as a child process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import gen_records  # noqa: E402
from run import SimWeb, read_results, run_child  # noqa: E402

RSS_TARGET_MB = 400.0
REAL_OCCURRENCES_PER_RECORD = 8.8  # URL occurrences per record in /work/shared/records


def check_cmd(records: str, state: Path, results: Path | None, *extra: str) -> list[str]:
    out = ["--results", str(results)] if results is not None else []
    return [sys.executable, "-m", "enricher", "check", records, "--state", str(state),
            "--allow-private", "--quiet", *out, "--max-concurrency", "128",
            "--host-concurrency", "10", "--host-request-interval", "1ms", "--timeout", "15s",
            *extra]


def one_run(web: SimWeb, name: str, cmd: list[str], work: Path, results: Path,
            ok_before: set[str]) -> dict[str, Any]:
    """Run ``cmd`` with simweb's counters reset; what it cost, overall and for ``ok_before``."""
    results.unlink(missing_ok=True)
    web.get("/__reset?gap_ms=0")
    m = run_child(cmd, work, work / f"{name}.log", timeout=1800)
    stats = web.get("/__stats")
    per_url: dict[str, int] = stats["urls"]
    verdicts = read_results(results)
    out = {
        "run": name, "wall_s": round(m["wall_s"], 2), "cpu_s": round(m["cpu_s"], 2),
        "peak_rss_mb": round(m["peak_rss_mb"], 1), "exit": m["exit"],
        "requests": stats["requests"], "answers": stats["status"],
        "requests_for_ok_urls": sum(per_url.get(u, 0) for u in ok_before),
        "ok_urls_asked_twice": sum(1 for u in ok_before if per_url.get(u, 0) > 1),
        "verdicts": len(verdicts), "ok": sum(1 for s in verdicts.values() if s == "ok"),
    }
    if m["exit"] not in (0, 1) or not verdicts:
        out["log_tail"] = m["log_tail"]
    return out


def incremental(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    web = SimWeb(a.hosts, a.seed, ["--latency-ms", "2", "10"])
    try:
        spec = gen_records.GenSpec(web.port, a.urls, a.hosts, None, a.seed, "a")
        gen = gen_records.generate(spec, work)
        print(f"[incremental] {gen.records} records, {gen.distinct} distinct URLs, "
              f"{gen.occurrences} occurrences", flush=True)
        state, results = work / "state.sqlite", work / "results.jsonl"
        first = one_run(web, "1-first", check_cmd(gen.records_dir, state, results), work,
                        results, set())
        ok = {u for u, s in read_results(results).items() if s == "ok"}
        second = one_run(web, "2-max-age-1h", check_cmd(gen.records_dir, state, results,
                                                       "--max-age", "1h"), work, results, ok)
        third = one_run(web, "3-revalidate", check_cmd(gen.records_dir, state, results), work,
                        results, ok)
    finally:
        web.close()
    runs = [first, second, third]
    for r in runs:
        print(f"  run {r['run']:<14} wall {r['wall_s']:6.2f} s  requests {r['requests']:6d}  "
              f"answers {r['answers']}  requests for URLs ok in run 1: "
              f"{r['requests_for_ok_urls']}  exit {r['exit']}", flush=True)
    answers = third["answers"]
    passed = {
        "max_age_sends_no_request_for_ok_urls": second["requests_for_ok_urls"] == 0
        and second["verdicts"] == first["verdicts"],
        "revalidation_costs_only_304s": third["requests_for_ok_urls"] == len(ok)
        and third["ok_urls_asked_twice"] == 0 and answers.get("304", 0) == len(ok)
        and answers.get("200", 0) == 0,
    }
    print(f"  URLs ok in run 1: {len(ok)}; run 3: {answers.get('304', 0)} answered 304, "
          f"{answers.get('200', 0)} answered 200", flush=True)
    return {"records": gen.records, "distinct": gen.distinct, "occurrences": gen.occurrences,
            "ok_in_first_run": len(ok), "runs": runs, "passed": passed}


def scale(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    web = SimWeb(a.scale_hosts, a.seed, ["--latency-ms", "1", "5"])
    runs: dict[str, dict[str, Any]] = {}
    commands: dict[str, list[str]] = {}
    try:
        occurrences = a.scale_records * REAL_OCCURRENCES_PER_RECORD
        repeat = 1 - a.scale_urls / occurrences
        spec = gen_records.GenSpec(web.port, a.scale_urls, a.scale_hosts, a.scale_records,
                                   a.seed, "a", repeat_share=repeat, big_share=0.02)
        t0 = time.perf_counter()
        gen = gen_records.generate(spec, work)
        print(f"[scale] generated {gen.records} records, {gen.distinct} distinct URLs, "
              f"{gen.occurrences} occurrences ({time.perf_counter() - t0:.0f} s)", flush=True)
        for variant in a.scale_variants.split(","):
            state = work / f"state-{variant}.sqlite"  # each variant starts with no history
            results = work / "results.jsonl" if variant == "results" else None
            cmd = check_cmd(gen.records_dir, state, results)
            print(f"[scale] {variant}: " + " ".join(cmd), flush=True)
            run = one_run(web, f"scale-{variant}", cmd, work, results or work / "none", set())
            print(f"  wall {run['wall_s']:.1f} s, CPU {run['cpu_s']:.1f} s, peak RSS "
                  f"{run['peak_rss_mb']:.0f} MB (target < {RSS_TARGET_MB:.0f} MB), "
                  f"{run['requests']} requests, exit {run['exit']}", flush=True)
            runs[variant], commands[variant] = run, cmd
    finally:
        web.close()
    passed = {
        f"peak_rss_under_400mb_{v}": r["peak_rss_mb"] < RSS_TARGET_MB and r["exit"] in (0, 1)
        and r["requests"] == gen.distinct for v, r in runs.items()
    }
    return {"records": gen.records, "distinct": gen.distinct, "occurrences": gen.occurrences,
            "commands": commands, "runs": runs, "passed": passed}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--only", choices=("incremental", "scale"))
    p.add_argument("--urls", type=int, default=2_000, help="distinct URLs (incremental part)")
    p.add_argument("--hosts", type=int, default=50, help="hosts (incremental part)")
    p.add_argument("--scale-records", type=int, default=100_000)
    p.add_argument("--scale-urls", type=int, default=20_000)
    p.add_argument("--scale-hosts", type=int, default=1_000)
    p.add_argument("--scale-variants", default="plain,results",
                   help="comma-separated: plain (check --state), results (also --results FILE)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", type=Path, help="keep records, logs, states and results here")
    a = p.parse_args(argv)
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        root = a.keep or Path(tmp)
        for part, fn in (("incremental", incremental), ("scale", scale)):
            if a.only in (None, part):
                work = root / part
                work.mkdir(parents=True, exist_ok=True)
                summary[part] = fn(a, work)
    passed = {k: v for part in summary.values() for k, v in part["passed"].items()}
    print("targets: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in passed.items()))
    out = BENCH / "out" / f"incremental-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"summary: {out}")
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
