"""Benchmark runner: one command generates records, starts the simulated web, runs the tools.

``python bench/run.py --scenario a|b|all [--repeat N]`` starts bench/simweb.py in its own
process, writes records with bench/gen_records.py, then runs ``enricher check`` (and ``lychee``
when it is on PATH) on them, each as a child process measured with ``os.wait4`` (wall, user+sys
CPU, peak RSS). After each run it reads simweb's counters and reports requests per distinct URL,
the per-host politeness bound (max over hosts of busy time / host concurrency + (requests - 1) x
interval), wall/bound, whether the per-host limits held, and verdicts against the behaviour each
URL was generated with. Medians over repeats go to stdout and a JSON summary to bench/out/.
``--tool-cmd`` replaces the enricher command (placeholders below); ``--simweb-rate`` measures the
simulated web alone with a plain httpx client. This module must not import the enricher package:
the tool is measured only from outside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import gen_records  # noqa: E402
import simweb  # noqa: E402

EXPECTED = {"n": "ok", "s": "ok", "r": "ok", "f": "dead", "e": "error", "h": "timeout",
            "p": "redirected"}
NO_RETRY = frozenset("nsfp")  # codes whose URLs need exactly one request
TARGET_BOUND = {"a": 1.3, "b": 1.5}
# the interval is a minimum (enricher adds jitter on top): the floor simweb checks
# simweb dates arrivals in its event loop: a stamp can be late by the time the OS kept its
# process off a core, which its "busy" doubt does not see. Measured at 83 s of scenario (a):
# enricher's sends (bench/trace_sends.py) never closer than 50.21 ms for a 50 ms interval,
# while simweb saw 7 gaps down to 46.2 ms, each "certain"; lychee showed 18 such
SPACING_SLACK_MS = 5.0
PLACEHOLDERS = ("python records urls results workdir max_concurrency host_concurrency "
                "interval_ms interval_s timeout_s")


def parse_duration(text: str) -> float:
    """'50ms', '0.05s', '1s', '0.05' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (use 50ms or 0.05s)")
    return float(m[1]) / (1000 if m[2] == "ms" else 1)


class SimWeb:
    """simweb.py as a child process; start-up waits for its JSON line, not for a sleep."""

    def __init__(self, hosts: int, seed: int, extra: list[str] | None = None) -> None:
        cmd = [sys.executable, str(BENCH / "simweb.py"), "--hosts", str(hosts), "--seed",
               str(seed), *(extra or [])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"simweb did not start (exit {self.proc.wait()})")
        self.port: int = json.loads(line)["port"]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
            return json.load(r)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def run_child(cmd: list[str], cwd: Path, log: Path, timeout: float) -> dict[str, Any]:
    """Run one tool; wall, CPU (user+sys) and peak RSS of that child from os.wait4."""
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_bytes()[-600:].decode("utf-8", "replace")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024, "exit": proc.returncode,
            "timed_out": wall >= timeout, "log_tail": tail}


def read_results(path: Path) -> dict[str, str]:
    """url -> status from enricher's JSON Lines (empty when absent or unreadable)."""
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                out[str(row["url"])] = str(row["status"])
            except (ValueError, KeyError, TypeError):
                continue
    return out


def analyse(stats: dict[str, Any], plan: dict[str, str], conc: int, interval: float,
            wall: float, verdicts: dict[str, str]) -> dict[str, Any]:
    """Turn simweb counters (and verdicts, when known) into the reported metrics."""
    urls: dict[str, int] = stats["urls"]
    asked = sum(urls.get(u, 0) for u in plan)
    no_retry = [u for u, c in plan.items() if c in NO_RETRY]
    bound, worst = 0.0, stats["hosts"][0]
    for h in stats["hosts"]:
        if h["requests"]:
            t = h["busy_s"] / conc + (h["requests"] - 1) * interval
            if t > bound:
                bound, worst = t, h
    spacings = [h["min_spacing_ms"] for h in stats["hosts"] if h["min_spacing_ms"] is not None]
    min_spacing = min(spacings, default=None)
    max_conc = max((h["max_concurrent"] for h in stats["hosts"]), default=0)
    m: dict[str, Any] = {
        "requests": stats["requests"], "requests_per_url": asked / max(len(plan), 1),
        "requests_per_url_no_retry": sum(urls.get(u, 0) for u in no_retry) / max(len(no_retry), 1),
        "urls_not_requested": sum(1 for u in plan if u not in urls),
        "unplanned_requests": sum(c for u, c in urls.items() if u not in plan),
        "bound_s": bound, "bound_host": worst["addr"],
        "bound_host_first_s": worst["first_s"], "bound_host_last_s": worst["last_s"],
        "bound_host_max_concurrent": worst["max_concurrent"],
        "wall_over_bound": wall / bound if bound else None,
        "max_concurrent_per_host": max_conc, "concurrency_held": max_conc <= conc,
        "min_spacing_ms": min_spacing,
        "gaps_below_floor": sum(h["gaps_below"] for h in stats["hosts"]),
        "gaps_below_floor_raw": sum(h["gaps_below_raw"] for h in stats["hosts"]),
        "spacing_held": not any(h["gaps_below"] for h in stats["hosts"]),
        # (min gap ms, host, certain gaps below, first few: (request no. on the host, gap ms,
        # request no. on its connection, 0 = a new connection))
        "worst_spacing_hosts": sorted((h["min_spacing_ms"], h["addr"], h["gaps_below"],
                                       h.get("first_gaps_below", []))
                                      for h in stats["hosts"] if h["gaps_below"])[:5],
        "simweb_cpu_s": stats["cpu_s"], "simweb_cpu_share": stats["cpu_s"] / wall if wall else None,
        "simweb_late_ms_mean": stats["late_ms_mean"], "simweb_late_ms_max": stats["late_ms_max"],
        "simweb_late_over_10ms": stats["late_over_10ms"], "simweb_aborted": stats["aborted"],
        "load_avg_1m": os.getloadavg()[0],
        "connections": sum(h["connections"] for h in stats["hosts"]),
        "http_status": stats["status"],
    }
    if verdicts:
        wrong = {u: (verdicts.get(u), EXPECTED[c]) for u, c in plan.items()
                 if verdicts.get(u) != EXPECTED[c]}
        counts: dict[str, int] = {}
        for s in verdicts.values():
            counts[s] = counts.get(s, 0) + 1
        m |= {"verdicts": counts, "verdict_mismatches": len(wrong),
              "mismatch_examples": [f"{u} got {g} want {w}"
                                    for u, (g, w) in list(wrong.items())[:5]]}
    return m


def plan_bound(plan: dict[str, str], seed: int, latency_ms: tuple[float, float], conc: int,
               interval: float) -> float:
    """The bound an ideal tool would meet: one request per URL, the host's own latency."""
    busy: dict[int, float] = {}
    count: dict[int, int] = {}
    for url, code in plan.items():
        h = simweb.host_index(urlsplit(url).hostname or "") or 0
        parsed = simweb.parse_path(urlsplit(url).path)
        extra = simweb.slow_delay(parsed[2]) if parsed and code == "s" else 0.0
        busy[h] = busy.get(h, 0.0) + simweb.host_latency(seed, h, *latency_ms) + extra
        count[h] = count.get(h, 0) + 1
    return max((busy[h] / conc + (count[h] - 1) * interval for h in busy), default=0.0)


def tool_commands(a: argparse.Namespace, work: Path, records: str, urls: Path,
                  timeout: float) -> dict[str, tuple[list[str], Path]]:
    """name -> (argv, results file) for enricher (or --tool-cmd) and lychee when present."""
    fill = {"python": sys.executable, "records": records, "urls": str(urls), "workdir": str(work),
            "max_concurrency": str(a.max_concurrency), "host_concurrency": str(a.host_concurrency),
            "interval_ms": f"{a.host_request_interval * 1000:g}",
            "interval_s": f"{a.host_request_interval:g}", "timeout_s": f"{timeout:g}"}
    tools: dict[str, tuple[list[str], Path]] = {}
    res = work / "enricher.jsonl"
    if a.tool_cmd:
        fill["results"] = str(res)
        try:
            tools["tool"] = ([t.format(**fill) for t in shlex.split(a.tool_cmd)], res)
        except (KeyError, IndexError, ValueError) as exc:
            msg = f"bench: bad --tool-cmd placeholder {exc}; use {PLACEHOLDERS}"
            raise SystemExit(msg) from None
    else:
        help_text = subprocess.run([sys.executable, "-m", "enricher", "check", "--help"],
                                   capture_output=True, text=True, cwd=work).stdout
        if "--results" not in help_text:
            raise SystemExit("bench: `python -m enricher check --help` has no --results yet; "
                             "use --tool-cmd to bench another command")
        cmd = [sys.executable, "-m", "enricher", "check", records, "--allow-private", "--quiet",
               "--results", str(res), "--max-concurrency", str(a.max_concurrency),
               "--host-concurrency", str(a.host_concurrency),
               "--host-request-interval", f"{a.host_request_interval * 1000:g}ms"]
        if "--timeout" in help_text:
            cmd += ["--timeout", f"{timeout:g}s"]
        tools["enricher"] = (cmd + shlex.split(a.tool_extra), res)
    lychee = shutil.which("lychee")
    if lychee and not a.no_lychee:
        lhelp = subprocess.run([lychee, "--help"], capture_output=True, text=True).stdout
        lres = work / "lychee.json"
        cmd = [lychee, str(urls), "--no-progress", "--format", "json", "--output", str(lres),
               "--max-concurrency", str(a.max_concurrency),
               "--timeout", str(max(1, round(timeout)))]
        if "--host-concurrency" in lhelp:
            cmd += ["--host-concurrency", str(a.host_concurrency)]
        if "--host-request-interval" in lhelp:
            cmd += ["--host-request-interval", f"{a.host_request_interval * 1000:g}ms"]
        tools["lychee"] = (cmd, lres)
    return tools


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key: median of numbers, all() of flags, the last run's value otherwise."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        values = [r.get(key) for r in runs]
        numbers = [float(v) for v in values if isinstance(v, int | float)]
        if isinstance(value, bool):
            out[key] = all(values)
        elif len(numbers) == len(values):
            out[key] = statistics.median(numbers)
        else:
            out[key] = runs[-1][key]
    return out


def run_scenario(a: argparse.Namespace, scenario: str) -> dict[str, Any]:
    timeout = a.timeout if a.timeout is not None else (5.0 if scenario == "b" else 15.0)
    keep = Path(a.keep) / scenario if a.keep else None
    with tempfile.TemporaryDirectory(prefix=f"bench-{scenario}-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        web = SimWeb(a.hosts, a.seed, ["--latency-ms", *map(str, a.latency_ms)])
        try:
            spec = gen_records.GenSpec(web.port, a.urls, a.hosts, a.records, a.seed, scenario)
            t0 = time.perf_counter()
            gen = gen_records.generate(spec, work)
            print(f"[{scenario}] generated {gen.records} records, {gen.distinct} distinct URLs, "
                  f"{gen.occurrences} occurrences ({time.perf_counter() - t0:.1f} s)", flush=True)
            plan = {}
            for url in Path(gen.urls_file).read_text(encoding="utf-8").split():
                parsed = simweb.parse_path(urlsplit(url).path)
                plan[url] = parsed[0] if parsed else "n"
            tools = tool_commands(a, work, gen.records_dir, Path(gen.urls_file), timeout)
            gap_ms = a.host_request_interval * 1000 - SPACING_SLACK_MS
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
            for rep in range(a.repeat):
                for name, (cmd, res) in tools.items():
                    res.unlink(missing_ok=True)
                    web.get(f"/__reset?gap_ms={gap_ms}")
                    print(f"[{scenario}] run {rep + 1}/{a.repeat}: {name}", flush=True)
                    m = run_child(cmd, work, work / f"{name}.log", a.tool_timeout)
                    verdicts = read_results(res) if name != "lychee" else {}
                    stats = web.get("/__stats")
                    if keep:
                        (work / f"{name}-simweb-{rep + 1}.json").write_text(json.dumps(stats))
                    m |= analyse(stats, plan, a.host_concurrency, a.host_request_interval,
                                 m["wall_s"], verdicts)
                    m["cpu_ms_per_url"] = m["cpu_s"] * 1000 / max(len(plan), 1)
                    odd = m["exit"] not in (0, 1) or not m["requests"] or (
                        name != "lychee" and not verdicts) or m["timed_out"]
                    m["log_tail"] = m["log_tail"] if odd else ""
                    runs[name].append(m)
                    print(f"    wall {m['wall_s']:.1f} s, cpu {m['cpu_s']:.1f} s, exit {m['exit']}"
                          + (f"; NO RESULTS OR REQUESTS? log tail:\n{m['log_tail']}" if odd
                             else ""), flush=True)
        finally:
            web.close()
    params = {k: getattr(a, k) for k in ("urls", "hosts", "records", "seed", "latency_ms",
                                         "max_concurrency",
                                         "host_concurrency", "host_request_interval", "repeat")}
    return {"scenario": scenario, "params": params | {"timeout_s": timeout},
            "gen": {"records": gen.records, "distinct": gen.distinct,
                    "occurrences": gen.occurrences, "repeat_share": gen.repeat_share,
                    "behaviours": gen.behaviours, "biggest_host_urls": max(gen.host_urls)},
            "plan_bound_s": plan_bound(plan, a.seed, tuple(a.latency_ms), a.host_concurrency,
                                       a.host_request_interval),
            "commands": {n: c for n, (c, _) in tools.items()},
            "runs": runs, "median": {n: median(r) for n, r in runs.items()}}


ROWS = (
    ("wall s", "wall_s", ".1f"), ("CPU s", "cpu_s", ".1f"), ("CPU ms/URL", "cpu_ms_per_url", ".2f"),
    ("peak RSS MB", "peak_rss_mb", ".0f"), ("requests/URL", "requests_per_url", ".3f"),
    ("requests/URL (no-retry URLs)", "requests_per_url_no_retry", ".3f"),
    ("politeness bound s", "bound_s", ".1f"), ("wall/bound", "wall_over_bound", ".2f"),
    ("bound host: first request s", "bound_host_first_s", ".1f"),
    ("bound host: last answer s", "bound_host_last_s", ".1f"),
    ("bound host: max concurrent", "bound_host_max_concurrent", "d"),
    ("max concurrent/host", "max_concurrent_per_host", "d"),
    ("min spacing ms (observed)", "min_spacing_ms", ".1f"),
    ("gaps below floor (certain)", "gaps_below_floor", "d"),
    ("gaps below floor (observed)", "gaps_below_floor_raw", "d"),
    ("verdict mismatches", "verdict_mismatches", "d"),
    ("simweb CPU share", "simweb_cpu_share", ".0%"),
    ("simweb answers >10 ms late", "simweb_late_over_10ms", "d"),
    ("load average (1 min, after)", "load_avg_1m", ".1f"), ("exit code", "exit", "d"))


def fmt(value: Any, spec: str) -> str:
    if value is None or value == "":
        return "-"
    return format(round(value) if spec == "d" else value, spec)


def report(r: dict[str, Any]) -> list[str]:
    med, g, p = r["median"], r["gen"], r["params"]
    names = list(med)
    lines = [f"scenario {r['scenario']}: {g['distinct']} URLs over {p['hosts']} hosts, "
             f"{g['records']} records, {g['repeat_share']:.0%} repeats, biggest host "
             f"{g['biggest_host_urls']} URLs; H={p['host_concurrency']} "
             f"I={p['host_request_interval'] * 1000:g}ms, timeout {p['timeout_s']:g}s; "
             f"ideal bound {r['plan_bound_s']:.1f} s; medians of {p['repeat']}",
             f"{'':30}" + "".join(f"{n:>12}" for n in names)
             + ("       ratio" if "lychee" in med and len(names) > 1 else "")]
    for label, key, spec in ROWS:
        row = f"{label:30}" + "".join(f"{fmt(med[n].get(key), spec):>12}" for n in names)
        if key in ("wall_s", "cpu_s") and "lychee" in med and len(names) > 1:
            row += f"{med[names[0]][key] / max(med['lychee'][key], 1e-9):>12.2f}"
        lines.append(row)
    main = med[names[0]]
    checks = [(f"wall/bound <= {TARGET_BOUND[r['scenario']]}",
               (main["wall_over_bound"] or 99) <= TARGET_BOUND[r["scenario"]]),
              ("requests/URL (no-retry URLs) <= 1.05", main["requests_per_url_no_retry"] <= 1.05),
              ("peak RSS < 250 MB", main["peak_rss_mb"] < 250),
              ("per-host concurrency held", main["concurrency_held"]),
              ("per-host spacing held", main["spacing_held"])]
    if "verdict_mismatches" in main:
        checks.append(("verdicts as generated", main["verdict_mismatches"] == 0))
    if "lychee" in med and len(names) > 1:
        checks += [("CPU <= 2x lychee", main["cpu_s"] <= 2 * med["lychee"]["cpu_s"]),
                   ("wall < lychee", main["wall_s"] < med["lychee"]["wall_s"])]
    lines.append("targets: " + "; ".join(f"{n} {'PASS' if ok else 'FAIL'}" for n, ok in checks))
    lines += [f"  mismatch: {e}" for e in main.get("mismatch_examples", [])]
    r["targets"] = dict(checks)
    return lines


async def load(urls: list[str], connections: int) -> float:
    """A plain httpx client: ``connections`` workers, each with its own one-connection client,
    taking whole hosts in turn (so connections are reused, not churned)."""
    import httpx  # only this measurement needs it

    by_host: dict[str, list[str]] = {}
    for url in urls:
        by_host.setdefault(urlsplit(url).netloc, []).append(url)
    hosts = iter(by_host.values())

    async def worker() -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            for host_urls in hosts:
                for url in host_urls:
                    (await client.get(url)).raise_for_status()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - t0


def simweb_rate(a: argparse.Namespace) -> None:
    lat = a.rate_latency_ms
    web = SimWeb(a.hosts, a.seed, ["--latency-ms", str(lat), str(lat)])
    try:
        urls = [simweb.make_url(i % a.hosts, web.port, "n", ("news", "img")[i % 2], i)
                for i in range(a.rate_requests)]
        web.get("/__reset")
        cpu0 = time.process_time()
        wall = asyncio.run(load(urls, a.rate_connections))
        client_cpu = time.process_time() - cpu0
        stats = web.get("/__stats")
    finally:
        web.close()
    n = stats["requests"]
    print(json.dumps({"requests": n, "connections": a.rate_connections, "latency_ms": lat,
                      "wall_s": round(wall, 2), "client_req_per_s": round(n / wall),
                      "client_cpu_s": round(client_cpu, 1),
                      "simweb_cpu_s": round(stats["cpu_s"], 2),
                      "simweb_cpu_us_per_request": round(stats["cpu_s"] / n * 1e6, 1),
                      "simweb_capacity_req_per_s": round(n / stats["cpu_s"]),
                      "simweb_cpu_share": round(stats["cpu_s"] / wall, 2),
                      "simweb_late_ms_mean": round(stats["late_ms_mean"], 2),
                      "simweb_late_ms_max": round(stats["late_ms_max"], 1),
                      "load_avg_1m": os.getloadavg()[0]}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--scenario", choices=("a", "b", "all"), default="a")
    p.add_argument("--repeat", type=int, default=1, help="runs per tool; medians are reported")
    p.add_argument("--urls", type=int, default=10_000, help="distinct URLs")
    p.add_argument("--hosts", type=int, default=1_000)
    p.add_argument("--records", type=int, help="records (default: derived from --urls)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=float, nargs=2, default=(20.0, 150.0),
                   metavar=("LO", "HI"), help="per-host latency range of the simulated web")
    p.add_argument("--max-concurrency", type=int, default=128)
    p.add_argument("--host-concurrency", type=int, default=10)
    p.add_argument("--host-request-interval", type=parse_duration, default=0.05, metavar="DUR")
    p.add_argument("--timeout", type=parse_duration, help="client timeout (default 15s, b: 5s)")
    p.add_argument("--tool-cmd", help=f"command template instead of enricher; {{placeholders}}: "
                   f"{PLACEHOLDERS}")
    p.add_argument("--tool-extra", default="", help="extra arguments for enricher check")
    p.add_argument("--tool-timeout", type=float, default=1800.0, help="kill a tool after this")
    p.add_argument("--no-lychee", action="store_true", help="skip lychee even when on PATH")
    p.add_argument("--keep", help="work in this folder and keep records, logs and results")
    p.add_argument("--out", default=str(BENCH / "out"), help="folder for the JSON summary")
    p.add_argument("--simweb-rate", action="store_true", help="measure simweb alone and exit")
    p.add_argument("--rate-requests", type=int, default=20_000)
    p.add_argument("--rate-connections", type=int, default=64)
    p.add_argument("--rate-latency-ms", type=float, default=0.0)
    a = p.parse_args(argv)
    if a.simweb_rate:
        simweb_rate(a)
        return 0
    results = []
    for scenario in ("a", "b") if a.scenario == "all" else (a.scenario,):
        r = run_scenario(a, scenario)
        print("\n".join(report(r)), flush=True)
        results.append(r)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{a.scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print(f"summary: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
